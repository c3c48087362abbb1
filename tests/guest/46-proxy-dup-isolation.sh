# RM_DUP_OBJECT across processes, as legacy CUDA IPC does it (capture
# 08-ipc-legacy: the importer dups the exporter's memory by its client and
# handle). Inside one context it works and the memory is charged once; from
# another context it is refused with the status the RM gives a client that
# does not exist, even though the RM itself would allow it, and nothing is
# charged or leaked either way.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
MiB=1048576
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
used() { cat $F/contexts/$1/mem_used_bytes; }
# Files of earlier tests may still be closing (the vendor's files are
# released asynchronously): wait for nvsim's heap to hold still.
settle() { i=0; a=$(heap_used); while sleep 0.3; b=$(heap_used); [ "$a" != "$b" ]; do a=$b; i=$((i+1)); [ $i -lt 30 ] || break; done; }
settle
base=$(heap_used)
echo "da gpus=0 mem=1G" >$F/create && echo "db gpus=0 mem=1G" >$F/create || fail create

# The exporter: a client holding 64 MiB, alive while its script is fed.
mkfifo /tmp/feed
in_container da nvrm script - </tmp/feed >/tmp/exp 2>&1 &
exp=$!
exec 3>/tmp/feed
cat >&3 <<'S'
open ctl /dev/nvidiactl
client c ctl
open gpuheld /dev/nvidia0
device d ctl $c $c 0
alloc m ctl $c $d 0x40 size=64Mi
expect NV_OK
echo HANDLES $c $m
S
i=0; until grep -q '^HANDLES' /tmp/exp; do i=$((i+1)); [ $i -lt 100 ] || { cat /tmp/exp; fail "exporter"; }; sleep 0.1; done
set -- $(sed -n 's/^HANDLES //p' /tmp/exp)
hc=$1; hm=$2
echo "exporter client $hc memory $hm"
assert_eq "$(used da)" $((64 * MiB)) "exporter charged"

importer() {   # importer CTX: dups the exporter's memory and frees it again
    in_container $1 nvrm script - <<S
open ctl /dev/nvidiactl
client c2 ctl
open gpuheld /dev/nvidia0
device d2 ctl \$c2 \$c2 0
dup m2 ctl \$c2 \$d2 $hc $hm
echo DUP
expect $2
S
}
# Not shared yet: the RM's own share policy (same process only) answers.
importer da NV_ERR_INSUFFICIENT_PERMISSIONS >/tmp/imp 2>&1 || { cat /tmp/imp; fail "an unshared object was dupped from another process"; }
# cudaIpcGetMemHandle shares the memory with every client (RM_SHARE).
printf 'share ctl $c $m\nexpect NV_OK\necho SHARED\n' >&3
i=0; until grep -q '^SHARED' /tmp/exp; do i=$((i+1)); [ $i -lt 100 ] || { cat /tmp/exp; fail "share"; }; sleep 0.1; done
# Another context: refused before the RM sees it, shared or not.
importer db NV_ERR_INVALID_CLIENT >/tmp/imp 2>&1 || { cat /tmp/imp; fail "the dup from another context was not refused as an unknown client"; }
dmesg | grep -q "context db: refused a dup from a client outside the context" || fail "no log line for the refused dup"
assert_eq "$(used db)" 0 "db charged nothing"
# The same context (another process, like a CUDA IPC importer): works, and
# the memory is charged once.
importer da NV_OK >/tmp/imp 2>&1 || { cat /tmp/imp; fail "the dup within the context failed"; }
assert_eq "$(used da)" $((64 * MiB)) "a dup within the context is not charged again"
assert_eq "$(( $(heap_used) - base ))" $((64 * MiB)) "nvsim holds the memory once"

# The exporter frees: nothing is left.
printf 'free ctl $c $m\nexpect NV_OK\n' >&3
exec 3>&-
wait $exp || { cat /tmp/exp; fail "exporter failed"; }
assert_eq "$(used da)" 0 "freed"
assert_eq "$(heap_used)" "$base" "nvsim heap back to its base"
echo da >$F/destroy && echo db >$F/destroy || fail destroy
