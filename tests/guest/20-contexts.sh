# Contexts: create/destroy through sysfs, their nodes and attributes, bad
# input refused with nothing half-created, live limit changes, open-file and
# pid accounting, unload refused while a context exists, destroy with files
# open.
. /usr/lib/fakegpu/guest-lib.sh
F=/sys/kernel/fakegpu
# Without nvsim, stand-in vendor nodes (plain character devices) let the
# management side be tested on its own.
if [ ! -e /dev/nvidiactl ]; then
    mknod /dev/nvidiactl c 1 3; mknod /dev/nvidia0 c 1 5; mknod /dev/nvidia-uvm c 1 3
fi

echo "t1 gpus=0 mem=1G" >$F/create || fail "create t1"
for n in nvidiactl nvidia0 nvidia-uvm; do
    assert_file /dev/fakegpu/t1/$n
    assert_eq "$(stat -c %A /dev/fakegpu/t1/$n)" "crw-rw-rw-" "mode of $n"
done
assert_no_file /dev/fakegpu/t1/nvidia1
C=$F/contexts/t1
assert_eq "$(cat $C/gpus)" "0"
assert_eq "$(cat $C/mem_limit_bytes)" "1073741824"
assert_eq "$(cat $C/mem_used_bytes)" "0"
assert_eq "$(cat $C/mem_peak_bytes)" "0"
assert_eq "$(cat $C/alloc_refused)" "0"
assert_eq "$(cat $C/open_files)" "0"
assert_eq "$(cat $C/pids)" ""
assert_eq "$(cat $C/unrouted)" ""
for a in gpus mem_used_bytes mem_peak_bytes alloc_refused open_files pids unrouted; do
    assert_eq "$(stat -c %a $C/$a)" "444" "mode of $a"
done
assert_eq "$(stat -c %a $C/mem_limit_bytes)" "644"
assert_eq "$(stat -c %a $F/create)" "200"

# Bad input: the errno, a log line, and nothing created.
try() { sh -c "echo '$1' > $F/create" 2>&1; }
expect_refused() {   # expect_refused LINE ERRNO-TEXT LOG-TEXT
    out=$(try "$1") && fail "create '$1' succeeded"
    echo "$out" | grep -q "$2" || fail "create '$1': want '$2', got '$out'"
    dmesg | tail -5 | grep -q "$3" || fail "create '$1': no log line '$3'"
}
expect_refused "t1 gpus=0" "exists" "exists"
expect_refused "t2 color=red" "Invalid argument" "unknown key"
expect_refused "t2 mem=lots" "Invalid argument" "invalid quantity"
expect_refused "t2 mem=1G mem=2G" "Invalid argument" "key given twice"
expect_refused "../x" "Invalid argument" "invalid context name"
expect_refused "t2 gpus=7" "No such device" "GPU 7 does not exist"
assert_no_file $F/contexts/t2
assert_no_file /dev/fakegpu/t2
assert_eq "$(ls $F/contexts)" "t1"

# Live limit changes.
echo 2G >$C/mem_limit_bytes
assert_eq "$(cat $C/mem_limit_bytes)" "2147483648"
echo 4096 >$C/mem_limit_bytes
assert_eq "$(cat $C/mem_limit_bytes)" "4096"
assert_fails sh -c "echo nonsense > $C/mem_limit_bytes"
assert_eq "$(cat $C/mem_limit_bytes)" "4096"

# Open files and pids.
exec 3</dev/fakegpu/t1/nvidiactl
exec 4</dev/fakegpu/t1/nvidia0
assert_eq "$(cat $C/open_files)" "2"
assert_eq "$(cat $C/pids)" "$$"
exec 4<&-
assert_eq "$(cat $C/open_files)" "1"

# The module stays while a context exists.
assert_fails rmmod fakegpu
grep -q '^fakegpu ' /proc/modules || fail "module gone"

# Destroy with a file open: the nodes and directory go at once, new opens
# fail, the open file stays harmless until closed.
echo t1 >$F/destroy || fail "destroy t1"
assert_no_file $C
assert_no_file /dev/fakegpu/t1/nvidiactl
assert_fails sh -c "echo t1 > $F/destroy"
exec 3<&-

# Names are reusable, several contexts coexist.
echo "t1 mem=1M" >$F/create && echo "t3 gpus=0" >$F/create || fail "recreate"
assert_eq "$(cat $F/contexts/t3/mem_limit_bytes)" "18446744073709551615"
echo t1 >$F/destroy && echo t3 >$F/destroy || fail "destroy both"
assert_eq "$(ls $F/contexts)" ""
