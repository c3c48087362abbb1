# Destroying a context while its containers are busy: 4 processes of 8
# threads allocate and free through the context's nodes, its limit is
# changed under load, then it is destroyed. A file opened before the
# destroy then fails every call with ENODEV, nothing splats (the harness
# checks the log), and once the processes are gone every byte is back in
# nvsim's heap.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
base=$(heap_used)

echo "dr gpus=0 mem=512M" >$F/create || fail create
pids=""
for i in 1 2 3 4; do
    fgtest as-uid $TENANT_UID nvrm --dev /dev/fakegpu/dr stress --threads 8 --iters 1000000 >/dev/null 2>&1 &
    pids="$pids $!"
done
# A probe: an RM session on the context's nodes, fed one line at a time.
mkfifo /tmp/probe.in
fgtest as-uid $TENANT_UID nvrm script - </tmp/probe.in >/tmp/probe.out 2>&1 &
probe=$!
exec 5>/tmp/probe.in
printf 'open ctl /dev/fakegpu/dr/nvidiactl\nversion ctl\nclient c ctl\nexpect NV_OK\n' >&5
sleep 2
for l in 64M 1G 16M 512M; do
    echo $l >$F/contexts/dr/mem_limit_bytes
    sleep 0.3
done
echo dr >$F/destroy || fail "destroy under load"
assert_no_file /dev/fakegpu/dr
printf 'client c2 ctl\nexpect ENODEV\necho probe-done\n' >&5
exec 5>&-
wait $probe || { cat /tmp/probe.out; fail "the probe's call after destroy did not fail with ENODEV"; }
grep -q probe-done /tmp/probe.out || { cat /tmp/probe.out; fail "probe did not finish"; }
kill -9 $pids 2>/dev/null
for p in $pids; do wait $p 2>/dev/null || true; done
i=0; until [ "$(heap_used)" = "$base" ]; do i=$((i+1)); [ $i -lt 300 ] || fail "nvsim heap $(heap_used), base $base"; sleep 0.1; done
