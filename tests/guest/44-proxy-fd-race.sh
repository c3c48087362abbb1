# The fd-translation window, attacked: while a "container" process makes
# fd-carrying calls (REGISTER_FD) and device allocations (for the RM's
# GPU-access check the proxy lends the thread the vendor's GPU file) in a
# loop, its other threads fstat and dup
# every fd number, open every /proc/self/{,task/*/}fd entry, pass every fd
# over a unix socket (SCM_RIGHTS) and pidfd_getfd the caller thread. None
# of them may ever hold the vendor's (nvsim's, major 195) file; every call
# must succeed; the context must not be marked compromised; and the ledger
# and nvsim's heap must be unchanged. Other threads also make, on every
# character-device fd number they find, each call the real driver accepts
# on a GPU file (I2C, NUMA, interrupt queries, 64 MiB of video memory by
# NVOS02, dma-buf export, mmap): nvsim must never receive the ones the
# proxy refuses. A forked child and an exec'd image (exec-race: exec from
# one thread while another is inside a device allocation with the lent
# file) must hold no vendor file. Run as root (the strongest in-container
# attacker without CAP_SYS_ADMIN over the host) and as nobody.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
major=$(stat -c %t /dev/nvidiactl); major=$((0x$major))
assert_eq "$major" "195" "nvsim's major"
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu$1/heap; }
base=$(heap_used 0)
# nvsim's count of escape NR received (on ctl and GPU files; 0 if never).
escapes_seen() { awk -v nr="$1" '$2 == nr {n += $3} END {print n + 0}' /sys/kernel/debug/nvsim/escapes; }
# What the attackers send that the proxy must never forward: I2C_ACCESS,
# SET_NUMA_STATUS, and ALLOC_MEMORY (NVOS02) of video memory (this test
# makes no other NVOS02 call). NUMA_INFO and QUERY_DEVICE_INTR are
# forwarded queries; the export names no memory of another context.
refused="0x39 0xd8 0x27"
for nr in $refused; do eval "before_$nr=\$(escapes_seen $nr)"; done
echo "race gpus=0 mem=1G" >$F/create || fail create
chmod 666 /dev/fakegpu/race/* 2>/dev/null || true
# One user per test (each has its own time limit under a loaded host):
# nobody here, root in 47-proxy-fd-race-root (FD_RACE_USERS=root).
users=${FD_RACE_USERS:-nobody}
for who in $users; do
    if [ $who = root ]; then TENANT_UID=0; else TENANT_UID=65534; fi
    # Its own session: a detected escape kills the caller's process group.
    in_container race setsid fgtest fd-race /dev 8 195 >/tmp/race.out 2>&1 || { cat /tmp/race.out; fail "fd race as $who"; }
    cat /tmp/race.out
    grep -q "escapes 0" /tmp/race.out || fail "escape as $who"
    calls=$(sed -n 's/^fd-race: \([0-9]*\) fd-carrying calls.*/\1/p' /tmp/race.out)
    # The tool runs at least 8 s and at least 100 calls (a loaded host
    # lengthens the race rather than weakening it).
    [ "${calls:-0}" -ge 100 ] || fail "too few calls raced as $who ($calls)"
    # Each round also allocated a device with the GPU file held (the RM's
    # GPU-access check, for which the proxy lends the vendor's GPU file).
    lent=$(sed -n 's/^fd-race: .* \([0-9]*\) device allocations.*/\1/p' /tmp/race.out)
    assert_eq "$lent" "$calls" "device allocations raced as $who"
    uvm=$(sed -n 's/^fd-race: .* \([0-9]*\) UVM GPU registrations.*/\1/p' /tmp/race.out)
    assert_eq "$uvm" "$calls" "UVM GPU registrations raced as $who"
    gcalls=$(sed -n 's/.* \([0-9]*\) GPU-file calls.*/\1/p' /tmp/race.out)
    [ "${gcalls:-0}" -gt 0 ] || fail "no GPU-file calls made as $who"
    forks=$(sed -n 's/.* \([0-9]*\) forks.*/\1/p' /tmp/race.out)
    [ "${forks:-0}" -gt 0 ] || fail "no forks made as $who"
    in_container race setsid fgtest exec-race /dev 4 195 >/tmp/exec.out 2>&1 || { cat /tmp/exec.out; fail "exec race as $who"; }
    cat /tmp/exec.out
    for nr in $refused; do
        eval "b=\$before_$nr"
        assert_eq "$(escapes_seen $nr)" "$b" "escape $nr reached nvsim (as $who)"
    done
done
TENANT_UID=65534
# The counters count: the race's REGISTER_FD calls (at least 101 per user) did
# reach nvsim.
[ "$(escapes_seen 0xc9)" -ge $((100 * $(echo $users | wc -w))) ] || fail "nvsim's escape counters saw too few REGISTER_FD calls"
dmesg | grep -q "escaped during fd translation" && fail "the proxy reported an escape"
# Not compromised: a new open still works; nothing charged, nothing leaked.
tenant nvrm --dev /dev/fakegpu/race info >/dev/null || fail "context refuses opens after the race"
assert_eq "$(cat $F/contexts/race/mem_used_bytes)" "0" "ledger after the race"
assert_eq "$(cat $F/contexts/race/open_files)" "0" "open files after the race"
echo race >$F/destroy
assert_eq "$(heap_used 0)" "$base" "nvsim heap after the race"
