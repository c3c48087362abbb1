# Export fds through the proxy (CUDA IPC / cuMemExportToShareableHandle
# with a POSIX fd): the NV0000 OS_UNIX export/import controls carry a ctl
# fd inside the control's parameter block, which the proxy translates to
# its vendor file (nvsim checks it is its own ctl file, in the caller's fd
# table, as nvidia.ko does). Inside one container, process 1 allocates,
# exports to an fd and passes it over a unix socket to process 2, which
# imports the same memory: nvsim's heap and the context's ledger count it
# once, freeing in either order and kill -9 leave both equal and back to
# the start. An export fd of another context is refused (NV_ERR_INVALID_PARAMETER,
# what the vendor answers to an fd that is not its ctl file) and nothing
# leaks; a non-nvidia fd gets the vendor's own answer. As root and as nobody.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
used() { cat $F/contexts/$1/mem_used_bytes; }
base=$(heap_used 0)
MI=1048576
echo "ex gpus=0 mem=1G" >$F/create && echo "ey gpus=0 mem=1G" >$F/create || fail create
chmod 666 /dev/fakegpu/ex/* /dev/fakegpu/ey/*
D=/tmp/ex; rm -rf $D; mkdir -p $D; chmod 777 $D

# Waits (up to 5 s: the vendor's release runs after the proxy's) until
# nvsim's heap is base + $1 bytes and context $2's ledger is $1.
settle() {
    i=0
    while [ $i -lt 100 ]; do
        [ "$(heap_used)" = "$((base + $1))" ] && [ "$(used $2)" = "$1" ] && return 0
        sleep 0.05; i=$((i + 1))
    done
    fail "$3: heap $(heap_used) (want $((base + $1))), ledger $(used $2) (want $1)"
}
wait_for() { i=0; while [ ! -e "$1" ]; do sleep 0.05; i=$((i + 1)); [ $i -lt 600 ] || fail "timed out waiting for $1"; done; }

# --- one process: the controls' answers, through the proxy ---------------
cat >$D/one.nvrm <<SCRIPT
open ctl /dev/nvidiactl
open x /dev/nvidiactl
open y /dev/nvidiactl
open n /dev/null
version ctl
client c ctl
open gpuheld /dev/nvidia0
device d ctl \$c \$c 0
expect NV_OK
alloc m ctl \$c \$d 0x40 size=4Mi
expect NV_OK
alloc m2 ctl \$c \$d 0x40 size=2Mi
expect NV_OK
export ctl \$c \$d \$m n
expect NV_ERR_INVALID_PARAMETER
export ctl \$c \$d \$m -1
expect NV_ERR_INVALID_PARAMETER
export-info ctl \$c x
expect NV_ERR_INVALID_PARAMETER
export ctl \$c \$d 0x1234 x
expect NV_ERR_OBJECT_NOT_FOUND
export ctl \$c \$d \$m x
expect NV_OK
export ctl \$c \$d \$m x
expect NV_ERR_STATE_IN_USE
export-info ctl \$c x
expect NV_OK
exports ctl \$c \$d y 4 0 \$m 0 \$m2
expect NV_OK
exports ctl \$c \$d y 4 3 \$m \$m
expect NV_ERR_OUT_OF_RANGE
imports p ctl \$c \$d y 0 4
expect NV_OK
import h ctl \$c \$d y
expect NV_ERR_INVALID_PARAMETER
import h ctl \$c \$d x
expect NV_OK
import h2 ctl \$c \$d n
expect NV_ERR_INVALID_PARAMETER
free ctl \$c \$m
free ctl \$c \$m2
free ctl \$c \$p0
free ctl \$c \$p2
free ctl \$c \$h
expect NV_OK
touch $D/one.freed
wait-file $D/one.go
close x
touch $D/one.closed-x
wait-file $D/one.go2
echo one-done
SCRIPT
rm -f $D/one.freed $D/one.go $D/one.closed-x $D/one.go2
in_container ex nvrm script $D/one.nvrm >$D/one.out 2>&1 &
p=$!
wait_for $D/one.freed
# Every handle is freed, but the slots of x (4 MiB) and y (4 + 2 MiB) hold the memory.
settle $((6 * MI)) ex "handles freed, slots hold"
touch $D/one.go; wait_for $D/one.closed-x
settle $((6 * MI)) ex "x closed, y still holds both"
touch $D/one.go2
wait $p || { cat $D/one.out; fail "one-process script"; }
grep -q one-done $D/one.out || { cat $D/one.out; fail "one-process script did not finish"; }
settle 0 ex "all closed"

# --- two processes of one container, the fd passed over a unix socket ----
# The start of an exporter's script: (after DROP, a line or nothing) a
# client and device, 4 MiB allocated and exported to fd x, which is sent
# over $D/s.sock.
exporter_start() {
    cat <<SCRIPT
$1
open ctl /dev/nvidiactl
open x /dev/nvidiactl
version ctl
client c ctl
open gpuheld /dev/nvidia0
device d ctl \$c \$c 0
alloc m ctl \$c \$d 0x40 size=4Mi
expect NV_OK
export ctl \$c \$d \$m x
expect NV_OK
send-fd $D/s.sock x
expect NV_OK
SCRIPT
}
# The start of an importer's: a client and device, the export fd received as x.
importer_start() {
    cat <<SCRIPT
$1
open ctl /dev/nvidiactl
version ctl
client c ctl
open gpuheld /dev/nvidia0
device d ctl \$c \$c 0
recv-fd x $D/s.sock
expect NV_OK
SCRIPT
}
# run_pair WHO ORDER: ORDER is "exporter-first", "importer-first" or "kill".
run_pair() {
    who=$1; order=$2
    rm -f $D/s.sock $D/p.*
    # The root run starts its tenants as root (TENANT_UID=0), the nobody
    # run as nobody, dropping again in the script (a no-op if already).
    drop="drop-uid 65534"; tu=$TENANT_UID
    [ "$who" = root ] && { drop=""; TENANT_UID=0; }
    # In the kill run the importer keeps the export fd (its slot holds the memory).
    keep=""; [ "$order" = kill ] || keep="close x"
    exporter_start "$drop" >$D/p1.nvrm
    cat >>$D/p1.nvrm <<SCRIPT
close x
write-pid $D/p.pid1
touch $D/p.exported
wait-file $D/p.free1
free ctl \$c \$m
expect NV_OK
touch $D/p.freed1
wait-file $D/p.exit
echo p1-done
SCRIPT
    importer_start "$drop" >$D/p2.nvrm
    cat >>$D/p2.nvrm <<SCRIPT
export-info ctl \$c x
expect NV_OK
import h ctl \$c \$d x
expect NV_OK
$keep
write-pid $D/p.pid2
touch $D/p.imported
wait-file $D/p.free2
free ctl \$c \$h
expect NV_OK
touch $D/p.freed2
wait-file $D/p.exit
echo p2-done
SCRIPT
    in_container ex nvrm script $D/p1.nvrm >$D/p1.out 2>&1 &
    p1=$!
    in_container ex nvrm script $D/p2.nvrm >$D/p2.out 2>&1 &
    p2=$!
    TENANT_UID=$tu
    wait_for $D/p.exported; wait_for $D/p.imported
    settle $((4 * MI)) ex "$who $order: imported (counted once)"
    case $order in
    exporter-first)
        touch $D/p.free1; wait_for $D/p.freed1
        settle $((4 * MI)) ex "$who: exporter freed, importer holds"
        touch $D/p.free2; wait_for $D/p.freed2
        settle 0 ex "$who: both freed" ;;
    importer-first)
        touch $D/p.free2; wait_for $D/p.freed2
        settle $((4 * MI)) ex "$who: importer freed, exporter holds"
        touch $D/p.free1; wait_for $D/p.freed1
        settle 0 ex "$who: both freed" ;;
    kill)
        kill -9 "$(cat $D/p.pid1)" || fail "no exporter to kill"
        settle $((4 * MI)) ex "$who: exporter killed, importer holds"
        touch $D/p.free2; wait_for $D/p.freed2
        settle $((4 * MI)) ex "$who: importer freed its handle, the export fd's slot holds"
        kill -9 "$(cat $D/p.pid2)" || fail "no importer to kill"
        settle 0 ex "$who: importer killed" ;;
    esac
    touch $D/p.exit
    wait $p1 $p2 2>/dev/null || true
    if [ "$order" != kill ]; then
        grep -q p1-done $D/p1.out || { cat $D/p1.out; fail "$who $order: exporter"; }
        grep -q p2-done $D/p2.out || { cat $D/p2.out; fail "$who $order: importer"; }
    fi
    settle 0 ex "$who $order: after exit"
    assert_eq "$(cat $F/contexts/ex/open_files)" "0" "$who $order: open files"
}
for who in root nobody; do
    for order in exporter-first importer-first kill; do
        run_pair $who $order
    done
done

# --- another context's export fd is refused; nothing leaks ---------------
rm -f $D/s.sock $D/p.*
exporter_start "drop-uid 65534" >$D/q1.nvrm
cat >>$D/q1.nvrm <<SCRIPT
wait-file $D/p.exit
echo q1-done
SCRIPT
importer_start "drop-uid 65534" >$D/q2.nvrm
cat >>$D/q2.nvrm <<SCRIPT
import h ctl \$c \$d x
expect NV_ERR_INVALID_PARAMETER
export-info ctl \$c x
expect NV_ERR_INVALID_PARAMETER
alloc m ctl \$c \$d 0x40 size=2Mi
expect NV_OK
exports ctl \$c \$d x 1 0 \$m
expect NV_ERR_INVALID_PARAMETER
echo q2-done
SCRIPT
refusals() { dmesg | grep -c "refused a call naming another context's file" || true; }
n0=$(refusals)
in_container ex nvrm script $D/q1.nvrm >$D/q1.out 2>&1 &
q1=$!
in_container ey nvrm script $D/q2.nvrm >$D/q2.out 2>&1 || { cat $D/q2.out; fail "cross-context importer"; }
grep -q q2-done $D/q2.out || { cat $D/q2.out; fail "cross-context importer did not finish"; }
[ "$(refusals)" -gt "$n0" ] || fail "no log line for the cross-context export fd"
settle $((4 * MI)) ex "cross-context: the exporter's memory only"
assert_eq "$(used ey)" "0" "cross-context: nothing charged to the importer's context"
touch $D/p.exit
wait $q1 || { cat $D/q1.out; fail "cross-context exporter"; }
settle 0 ex "cross-context: after exit"
dmesg | grep -q "escaped" && fail "a false escape report"
echo ex >$F/destroy && echo ey >$F/destroy
assert_eq "$(heap_used)" "$base" "nvsim heap at the end"
rm -rf $D
