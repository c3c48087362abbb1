# The double fetch (issue 16 §1, docs/isolation.md): a tenant thread
# allocates (or frees) through a 256 MiB context while a second thread
# rewrites one field of the very parameter block in a loop: the class
# (system <-> video memory), the nested size, the nested-block pointer,
# the handle freed, the status the vendor wrote back, the source client of
# a dup, the client list of FIFO_DISABLE_CHANNELS, the device instance of
# an NV01_DEVICE_0 (between the context's GPU and host GPU 1, which it
# does not have: no byte may land on GPU 1) (and, read rather than
# rewritten, FB_GET_INFO_V2's reply), the memory object a GPU file maps
# (video memory or the doorbell). Whatever the vendor
# read, the video memory it holds for the tenant must never exceed what
# the ledger charges (the audit after every allocating call asks the
# vendor, GPU_GET_PID_INFO, and answers a divergence by killing the
# tenant), the ledger never passes the cap, and after the tenant is gone
# ledger and heap are back where they were.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
MiB=1048576
CAP=$((256*MiB))
SECS=${FLIP_SECS:-10}
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu${1:-0}/heap; }
audit() { awk -v k="$1" '$1 == k {print $2}' $F/contexts/flip/audit; }
bad=
base=$(heap_used)
base1=$(heap_used 1)
[ -n "$base1" ] || fail "nvsim has no GPU 1"
echo "flip gpus=0 mem=256M" >$F/create || fail create
for case in class size pointer status free device; do
    out=/tmp/flip-$case; rm -f /tmp/flip.done
    fgtest as-uid $TENANT_UID fgtest flip /dev/fakegpu/flip $case $SECS /tmp/flip.done >$out 2>&1 &
    pid=$!
    # Until the tool holds what it got, or is gone (killed by the audit).
    i=0; while ! grep -q '^flip\|fgtest:' $out && kill -0 $pid 2>/dev/null; do
        i=$((i+1)); [ $i -lt 1200 ] || fail "$case: no result"; sleep 0.1
    done
    cat $out
    if grep -q '^flip' $out; then
        used=$(cat $F/contexts/flip/mem_used_bytes)
        heap=$(( $(heap_used) - base ))
        echo "flip $case held: ledger $used B, nvsim heap $heap B (cap $CAP B)"
        [ "$used" -le "$CAP" ] || bad="$bad $case:ledger-past-cap"
        [ "$heap" -le "$used" ] || bad="$bad $case:heap-past-ledger"
        gpu1=$(( $(heap_used 1) - base1 ))
        [ "$gpu1" = 0 ] || { echo "flip $case: $gpu1 B on GPU 1, outside the context"; bad="$bad $case:other-gpu"; }
        touch /tmp/flip.done
    fi
    rc=0; wait $pid || rc=$?
    div=$(audit divergences); checks=$(audit checks)
    echo "flip $case: exit $rc, audit checks $checks, divergences $div"
    [ "$checks" -gt 0 ] || bad="$bad $case:no-audit"
    if [ "$rc" != 0 ]; then
        # Only the audit's answer may end the tool: SIGKILL, with a divergence counted.
        [ "$rc" = 137 ] || fail "fgtest flip $case: exit $rc: $(cat $out)"
        [ "$div" -gt 0 ] || bad="$bad $case:killed-without-divergence"
        [ "$(audit compromised)" = 1 ] || bad="$bad $case:not-compromised"
    fi
    i=0; while [ "$(heap_used)" != "$base" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
    echo "flip $case after exit: ledger $(cat $F/contexts/flip/mem_used_bytes) B, nvsim heap $(( $(heap_used) - base )) B"
    [ "$(cat $F/contexts/flip/mem_used_bytes)" = 0 ] || bad="$bad $case:ledger-after-exit"
    [ "$(heap_used)" = "$base" ] || bad="$bad $case:heap-after-exit"
    # Start the next case clean whatever this one left.
    echo flip >$F/destroy; echo "flip gpus=0 mem=256M" >$F/create || fail create
    base=$(heap_used)
done
echo flip >$F/destroy

# RM_DUP_OBJECT with hClientSrc flipped between the tenant's own client
# and another context's, whose 16 MiB are shared with every client (as
# CUDA IPC shares them): the proxy checks its copy (its own client), so
# only a vendor that reads the block again can dup the other context's
# memory. Every NV_OK would be such a dup.
echo "fvictim gpus=0 mem=64M" >$F/create && echo "flip gpus=0 mem=256M" >$F/create || fail create
mkfifo /tmp/flip.feed
in_container fvictim nvrm script - </tmp/flip.feed >/tmp/flip.victim 2>&1 &
victim=$!
exec 3>/tmp/flip.feed
cat >&3 <<'S'
open ctl /dev/nvidiactl
client c ctl
open gpuheld /dev/nvidia0
device d ctl $c $c 0
alloc m ctl $c $d 0x40 size=16Mi
share ctl $c $m
expect NV_OK
tsg t ctl $c $d
alloc u ctl $c $d 0x40 size=16Ki
channel ch ctl $c $t $u
expect NV_OK
echo HANDLES $c $m $ch
S
i=0; until grep -q '^HANDLES' /tmp/flip.victim; do i=$((i+1)); [ $i -lt 100 ] || { cat /tmp/flip.victim; fail "victim"; }; sleep 0.1; done
set -- $(sed -n 's/^HANDLES //p' /tmp/flip.victim)
out=/tmp/flip-dup
FLIP_SRC=$(printf '%x:%x' "$1" "$2") fgtest as-uid $TENANT_UID fgtest flip /dev/fakegpu/flip dup $SECS 0 >$out 2>&1 || fail "fgtest flip dup: $(cat $out)"
cat $out
grep -q "^flip dup: [0-9]* calls, 0 foreign dups" $out || bad="$bad dup:foreign-dup"
# FIFO_DISABLE_CHANNELS with hClientList[0] flipped between the tenant's
# own client and the other context's: its channel must never stop.
vc=$(printf '%#x' "$1")
out=/tmp/flip-disable
FLIP_SRC=$(printf '%x:%x' "$1" "$3") fgtest as-uid $TENANT_UID fgtest flip /dev/fakegpu/flip disable $SECS 0 >$out 2>&1 || fail "fgtest flip disable: $(cat $out)"
cat $out
cat /sys/kernel/debug/nvsim/gpu0/channels
awk -v c="$vc" '$3 == c && $6 != 0 {found=1} END {exit !found}' /sys/kernel/debug/nvsim/gpu0/channels && bad="$bad disable:foreign-channel-stopped"
awk -v c="$vc" '$3 == c {found=1} END {exit !found}' /sys/kernel/debug/nvsim/gpu0/channels || fail "the victim's channel is not in nvsim's table"
# FB_GET_INFO_V2, FB_GET_INFO (v1, its list at a pointer) and
# VID_HEAP_CONTROL's INFO (in the ioctl block) while a
# second thread reads the reply: the card's own size (16 GiB on nvsim)
# must never show through, only the cap.
for case in meminfo meminfo1 heapinfo; do
    out=/tmp/flip-$case
    fgtest as-uid $TENANT_UID fgtest flip /dev/fakegpu/flip $case $SECS 0 >$out 2>&1 || fail "fgtest flip $case: $(cat $out)"
    cat $out
    seen=$(sed -n 's/.*largest seen \([0-9]*\) KiB.*/\1/p' $out)
    [ -n "$seen" ] || fail "$case: no result"
    [ "$seen" -le $((CAP / 1024)) ] || bad="$bad $case:card-size-seen($seen-KiB)"
    grep -q "answer $((CAP / 1024)) KiB" $out || bad="$bad $case:answer-not-the-cap"
done
# GPU_GET_ATTACHED_IDS while a second thread reads the reply: the host's
# other GPU must never show through, only the context's one.
out=/tmp/flip-gpuids
fgtest as-uid $TENANT_UID fgtest flip /dev/fakegpu/flip gpuids $SECS 0 >$out 2>&1 || fail "fgtest flip gpuids: $(cat $out)"
cat $out
grep -q " 1 GPUs listed;" $out || bad="$bad gpuids:not-one-gpu"
grep -q " 0 showed another GPU" $out || bad="$bad gpuids:host-gpu-seen"
# RM_MAP_MEMORY with hMemory flipped between video memory and the
# usermode (doorbell) object, then an mmap: every doorbell the vendor maps
# must be gated, whichever object the proxy read (issue 16 §3).
out=/tmp/flip-mapmem
fgtest as-uid $TENANT_UID fgtest flip /dev/fakegpu/flip mapmem $SECS 0 >$out 2>&1 || fail "fgtest flip mapmem: $(cat $out)"
cat $out
grep -q " 0 ungated doorbells" $out || bad="$bad mapmem:ungated-doorbell"
exec 3>&-
wait $victim
[ "$(cat $F/contexts/flip/mem_used_bytes)" = 0 ] || bad="$bad dup:ledger-after-exit"
echo flip >$F/destroy; echo fvictim >$F/destroy
[ -z "$bad" ] || fail "the vendor acted on other bytes than the proxy decided on:$bad"
