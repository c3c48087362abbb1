# Memory that outlives the proxy's file (issue 16 §2): the vendor frees a
# ctl file's clients only when its own file is released, and a GPU file
# registered to it (REGISTER_FD) keeps it open after the tenant closed its
# ctl fd. So the charge must stay until the vendor has freed the clients:
# open ctl and nvidia0, REGISTER_FD, allocate the whole cap, close ctl,
# keep nvidia0, and do it again: the second allocation is refused at the
# cap, and nvsim's heap never holds more than the ledger charges. When the
# GPU file closes, both return to zero.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
MiB=1048576
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
used() { cat $F/contexts/ol/mem_used_bytes; }
settle() { i=0; a=$(heap_used); while sleep 0.3; b=$(heap_used); [ "$a" != "$b" ]; do a=$b; i=$((i+1)); [ $i -lt 30 ] || break; done; }
settle
base=$(heap_used)
echo "ol gpus=0 mem=256M" >$F/create || fail create
mkfifo /tmp/ol.feed
in_container ol nvrm script - </tmp/ol.feed >/tmp/ol.out 2>&1 &
pid=$!
exec 3>/tmp/ol.feed
cat >&3 <<'S'
open ctl1 /dev/nvidiactl
open g1 /dev/nvidia0
register g1 ctl1
client c1 ctl1
device d1 ctl1 $c1 $c1 0
alloc m1 ctl1 $c1 $d1 0x40 size=256Mi
expect NV_OK
close ctl1
open ctl2 /dev/nvidiactl
open g2 /dev/nvidia0
register g2 ctl2
client c2 ctl2
device d2 ctl2 $c2 $c2 0
alloc m2 ctl2 $c2 $d2 0x40 size=256Mi
echo ROUND2
S
i=0; until grep -q '^ROUND2' /tmp/ol.out; do i=$((i+1)); [ $i -lt 300 ] || { cat /tmp/ol.out; fail "tenant"; }; sleep 0.1; done
cat /tmp/ol.out
heap=$(( $(heap_used) - base )); led=$(used)
echo "ctl closed, GPU file kept, second cap-sized allocation: ledger $led B, nvsim heap $heap B"
grep -q "^alloc m2 .* -> NV_ERR_NO_MEMORY" /tmp/ol.out || fail "the second cap-sized allocation was not refused at the cap"
[ "$heap" -le "$led" ] || fail "nvsim holds $heap B, the ledger charges $led B"
assert_eq "$led" $((256 * MiB)) "the closed ctl file's memory still charged"
# The GPU file that held the closed ctl file goes: the vendor frees its client.
printf 'close g1\necho CLOSED\n' >&3
i=0; until grep -q '^CLOSED' /tmp/ol.out; do i=$((i+1)); [ $i -lt 100 ] || fail "close"; sleep 0.1; done
i=0; while [ "$(heap_used)" != "$base" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
assert_eq "$(heap_used)" "$base" "nvsim's heap back after the GPU file closed"
assert_eq "$(used)" 0 "ledger back after the vendor freed the client"
exec 3>&-
wait $pid || fail "tenant script: $(cat /tmp/ol.out)"
echo ol >$F/destroy || fail destroy
