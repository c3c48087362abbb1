# The proxy against nvsim, through "containers" (a shell in its own mount
# namespace with the context's nodes bind-mounted at the vendor's paths):
# the container sees its cap as the card, allocations past the cap get the
# vendor's NV_ERR_NO_MEMORY, the ledger matches nvsim's own heap counters
# after every scenario (hold, free, kill -9, live resize, destroy with
# files open), and two contexts on one GPU are isolated.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
MiB=1048576
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu$1/heap; }
used() { cat $F/contexts/$1/mem_used_bytes; }
wait_for() {   # wait_for CMD-THAT-SUCCEEDS (30 s)
    i=0; while ! eval "$1"; do i=$((i+1)); [ $i -lt 300 ] || fail "timed out: $1 (m1 used $(used m1 2>/dev/null), nvsim gpu0 $(heap_used 0), base $base0)"; sleep 0.1; done
}

base0=$(heap_used 0); base1=$(heap_used 1)
echo "m1 gpus=0 mem=1G" >$F/create && echo "m2 gpus=1 mem=512M" >$F/create && echo "m3 gpus=0 mem=256Mi" >$F/create || fail create

# The container's view: its cap is the card; one GPU only.
in_container m1 nvrm info >/tmp/info || fail "nvrm info in m1"
grep -q "total 1024 MiB, used 0 MiB, free 1024 MiB" /tmp/info || { cat /tmp/info; fail "m1 does not see its cap"; }
assert_eq "$(grep -c '^GPU' /tmp/info)" "1" "GPUs visible in m1"
in_container m3 nvrm info | grep -q "total 256 MiB" || fail "m3 does not see its cap"

# Allocations up to the cap; past it the vendor's own status.
in_container m1 nvrm alloc 256Mi 512Mi 512Mi >/tmp/a && fail "over-cap alloc succeeded"
grep -q "536870912 -> NV_ERR_NO_MEMORY" /tmp/a || { cat /tmp/a; fail "no NV_ERR_NO_MEMORY"; }
assert_eq "$(cat $F/contexts/m1/alloc_refused)" "1"
assert_eq "$(cat $F/contexts/m1/mem_peak_bytes)" "$((768*MiB))"
assert_eq "$(used m1)" "0" "m1 after its process exited"
assert_eq "$(heap_used 0)" "$base0" "nvsim heap after m1's process exited"

# Held memory shows in the ledger exactly as in nvsim's heap; info agrees.
in_container m1 nvrm alloc 300Mi --hold 30 >/dev/null &
holder=$!
wait_for '[ "$(used m1)" = "$((300*MiB))" ]'
assert_eq "$(( $(heap_used 0) - base0 ))" "$((300*MiB))" "nvsim heap vs ledger"
in_container m1 nvrm info | grep -q "used 300 MiB, free 724 MiB" || fail "info while holding"

# Isolation: m3 shares GPU 0 but sees and is charged only its own.
in_container m3 nvrm info | grep -q "total 256 MiB, used 0 MiB, free 256 MiB" || fail "m3 sees m1's memory"
in_container m3 nvrm alloc 200Mi >/dev/null || fail "m3 alloc within its cap"
assert_eq "$(used m3)" "0"
assert_eq "$(used m1)" "$((300*MiB))"

# Live resize: lowering below usage refuses new allocations, kills nothing.
echo 200M >$F/contexts/m1/mem_limit_bytes
in_container m1 nvrm alloc 1Mi >/dev/null && fail "alloc after lowering below usage"
kill -0 $holder || fail "lowering the cap killed the holder"
# Memory info has total and free only (tools derive used = total - free):
# over the cap, the card looks full.
in_container m1 nvrm info | grep -q "total 200 MiB, used 200 MiB, free 0 MiB" || { in_container m1 nvrm info; fail "info after lowering"; }
echo 1G >$F/contexts/m1/mem_limit_bytes
in_container m1 nvrm alloc 700Mi >/dev/null || fail "alloc after raising"

# kill -9 returns every byte.
kill -9 $holder; wait $holder 2>/dev/null || true   # 137: killed, as intended
wait_for '[ "$(used m1)" = 0 ]'
assert_eq "$(heap_used 0)" "$base0" "nvsim heap after kill -9"

# The routing table (core::policy::route): a control no rule names is
# refused as the vendor refuses an unknown one, counted per number in the
# context's `unrouted` file and logged once; a lever over the whole GPU is
# refused; nothing is charged.
assert_eq "$(cat $F/contexts/m1/unrouted)" "" "unrouted before"
cat >/tmp/route.nvrm <<'EOS'
open ctl /dev/nvidiactl
open g0 /dev/nvidia0
client c ctl
device d ctl $c $c 0
subdevice s ctl $c $d
control ctl $c $s 0x2080ffff 8
expect NV_ERR_NOT_SUPPORTED
control ctl $c $s 0x2080ffff 8
expect NV_ERR_NOT_SUPPORTED
control ctl $c $s 0x20801117 4
expect NV_ERR_INSUFFICIENT_PERMISSIONS
control ctl $c $s 0x20800110 132
expect NV_OK
free ctl $c $c
EOS
in_container m1 nvrm script /tmp/route.nvrm >/tmp/route.out 2>&1 || { cat /tmp/route.out; fail "routing script in m1"; }
assert_eq "$(cat $F/contexts/m1/unrouted)" "control 0x2080ffff 2" "m1's unrouted calls"
assert_eq "$(dmesg | grep -c 'context m1: control 0x2080ffff is not routed')" "1" "log lines for 0x2080ffff"
assert_eq "$(used m1)" "0" "m1 after the routing script"

# Destroy with files open: calls fail, memory is freed when they close.
in_container m2 nvrm alloc 100Mi --hold 4 >/tmp/h2 2>&1 &
holder=$!
wait_for '[ "$(used m2)" = "$((100*MiB))" ]'
echo m2 >$F/destroy || fail "destroy m2"
assert_no_file /dev/fakegpu/m2
wait $holder 2>/dev/null || true
wait_for '[ "$(heap_used 1)" = "$base1" ]'

echo m1 >$F/destroy && echo m3 >$F/destroy || fail destroy
assert_eq "$(heap_used 0)" "$base0"
