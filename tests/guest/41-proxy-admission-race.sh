# Admission is atomic: 64 threads, each with its own RM client, allocate
# 2 MiB at a time through one context's nodes, all starting together, until
# refused. They get exactly the cap (never a byte more), each is refused
# once with the vendor's NV_ERR_NO_MEMORY, and the ledger equals nvsim's
# heap while they hold and after they exit.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
MiB=1048576
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
base=$(heap_used)
echo "race gpus=0 mem=130M" >$F/create || fail create
# The workload holds until the test has looked (/tmp/race.done), however
# loaded the machine.
rm -f /tmp/race.done
trap 'touch /tmp/race.done' EXIT
fgtest as-uid $TENANT_UID fgtest alloc-race /dev/fakegpu/race 64 $((2*MiB)) /tmp/race.done >/tmp/race &
pid=$!
i=0; until grep -q granted /tmp/race; do i=$((i+1)); [ $i -lt 600 ] || fail "no result"; sleep 0.1; done
cat /tmp/race
assert_eq "$(sed -n 's/^granted=\([0-9]*\).*/\1/p' /tmp/race)" "65" "2 MiB grants under a 130 MiB cap"
grep -q "^refusal 64x: .*NO_MEMORY" /tmp/race || fail "every thread refused once with NV_ERR_NO_MEMORY"
assert_eq "$(cat $F/contexts/race/mem_used_bytes)" "$((130*MiB))"
assert_eq "$(( $(heap_used) - base ))" "$((130*MiB))" "nvsim heap vs ledger"
assert_eq "$(cat $F/contexts/race/alloc_refused)" "64"
touch /tmp/race.done
wait $pid || fail "fgtest alloc-race"
assert_eq "$(cat $F/contexts/race/mem_used_bytes)" "0"
assert_eq "$(heap_used)" "$base"
echo race >$F/destroy
