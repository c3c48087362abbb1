# A dup in a client of a closed ctl file that the vendor keeps (a GPU file
# REGISTER_FD'd to it) still holds its memory's charge when the original is
# freed (issue 16 §2; found by fgtest chaos, docs/chaos-findings.md F2).
# Before, the proxy dropped a closed file's objects from its table at once,
# so freeing the original returned the charge while the vendor still held
# the dup's memory: 64 MiB on the card with a ledger of 0, and the next fair
# allocation was audited as an attack (tenant killed); with two dups per
# block (counted for no process by the vendor), four blocks and then the
# whole cap, the card held twice the cap. Now the objects of a closed file
# stay until the vendor has freed its clients. As nobody, 256 MiB context.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
MiB=1048576
heap() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
audit() { awk -v k="$1" '$1 == k {print $2}' $F/contexts/lg/audit; }
base=$(heap)
# run NAME LINES: one tenant script in context lg, held open at its end;
# prints ledger and heap there, then lets it exit.
run() {
    echo "lg gpus=0 mem=256M" >$F/create || fail create
    rm -f /tmp/lg.feed /tmp/lg.out; mkfifo /tmp/lg.feed
    in_container lg nvrm script - </tmp/lg.feed >/tmp/lg.out 2>&1 &
    exec 3>/tmp/lg.feed
    printf '%s\necho HOLD\n' "$2" >&3
    i=0; until grep -q '^HOLD' /tmp/lg.out; do
        i=$((i+1)); [ $i -lt 600 ] || { cat /tmp/lg.out; fail "$1: the script did not finish"; }
        sleep 0.1
    done
    sleep 0.5
    led=$(cat $F/contexts/lg/mem_used_bytes); h=$(( $(heap) - base ))
    echo "$1: ledger $led B, nvsim heap $h B, audit divergences $(audit divergences), compromised $(audit compromised)"
    if grep -q 'expected' /tmp/lg.out; then cat /tmp/lg.out; fail "$1: a call failed"; fi
    assert_eq "$(audit divergences) $(audit compromised)" "0 0" "$1: a fair tenant was taken for an attacker"
    [ "$h" -le "$led" ] || { cat /tmp/lg.out; fail "$1: nvsim holds $h B, the ledger charges $led B"; }
    exec 3>&-
    i=0; while [ -n "$(cat $F/contexts/lg/pids)" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
    echo lg >$F/destroy || fail destroy
    i=0; while [ "$(heap)" != "$base" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
    assert_eq "$(heap)" "$base" "$1: nvsim heap back"
}
pre='open ctl /dev/nvidiactl
open g /dev/nvidia0
client c ctl
expect NV_OK
device d ctl $c $c 0
expect NV_OK'
lingering() {  # lingering K: client cK in ctlK, kept by gK's registration
    printf 'open ctl%s /dev/nvidiactl\nopen g%s /dev/nvidia0\nregister g%s ctl%s\nclient c%s ctl%s\nexpect NV_OK\ndevice d%s ctl%s $c%s $c%s 0\nexpect NV_OK\n' \
        $1 $1 $1 $1 $1 $1 $1 $1 $1 $1
}
run "one dup, original freed" "$pre
$(lingering 1)
alloc m ctl \$c \$d 0x40 size=64Mi
expect NV_OK
dup m2 ctl1 \$c1 \$d1 \$c \$m
expect NV_OK
close ctl1
free ctl \$c \$m
expect NV_OK"
assert_eq "$led" $((64 * MiB)) "the dup's memory still charged"
run "one dup, original freed, then a fair allocation" "$pre
$(lingering 1)
alloc m ctl \$c \$d 0x40 size=64Mi
expect NV_OK
dup m2 ctl1 \$c1 \$d1 \$c \$m
expect NV_OK
close ctl1
free ctl \$c \$m
expect NV_OK
alloc n ctl \$c \$d 0x40 size=1Mi
expect NV_OK"
assert_eq "$led" $((65 * MiB)) "dup and the new block charged"
loop=""
for k in 1 2 3 4; do
    loop="$loop
$(lingering $k)
alloc m$k ctl \$c \$d 0x40 size=64Mi
expect NV_OK
dup a$k ctl$k \$c$k \$d$k \$c \$m$k
expect NV_OK
dup b$k ctl$k \$c$k \$d$k \$c \$m$k
expect NV_OK
close ctl$k
free ctl \$c \$m$k
expect NV_OK"
done
run "four 64 MiB blocks in two lingering dups each, then the cap" "$pre
$loop
alloc f1 ctl \$c \$d 0x40 size=64Mi
echo F1"
grep -q '^alloc f1 .* -> NV_ERR_NO_MEMORY' /tmp/lg.out || fail "a block past the cap was allocated"
assert_eq "$led" $((256 * MiB)) "the four blocks held by lingering dups fill the cap"
