# The fd-translation window, attacked: while a "container" process makes
# fd-carrying calls (REGISTER_FD) and device allocations (for the RM's
# GPU-access check the proxy lends the thread the vendor's GPU file) in a
# loop, its other threads fstat and dup
# every fd number, open every /proc/self/{,task/*/}fd entry, pass every fd
# over a unix socket (SCM_RIGHTS) and pidfd_getfd the caller thread. None
# of them may ever hold the vendor's (nvsim's, major 195) file; every call
# must succeed; the context must not be marked compromised; and the ledger
# and nvsim's heap must be unchanged. Run as root (the strongest in-container
# attacker without CAP_SYS_ADMIN over the host) and as nobody.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
major=$(stat -c %t /dev/nvidiactl); major=$((0x$major))
assert_eq "$major" "195" "nvsim's major"
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu$1/heap; }
base=$(heap_used 0)
echo "race gpus=0 mem=1G" >$F/create || fail create
chmod 666 /dev/fakegpu/race/* 2>/dev/null || true
for who in root nobody; do
    if [ $who = root ]; then uid=""; else uid=65534; fi
    # Its own session: a detected escape kills the caller's process group.
    in_container race setsid fgtest fd-race /dev 8 195 $uid >/tmp/race.out 2>&1 || { cat /tmp/race.out; fail "fd race as $who"; }
    cat /tmp/race.out
    grep -q "escapes 0" /tmp/race.out || fail "escape as $who"
    calls=$(sed -n 's/^fd-race: \([0-9]*\) fd-carrying calls.*/\1/p' /tmp/race.out)
    # The tool runs at least 8 s and at least 200 calls (a loaded host
    # lengthens the race rather than weakening it).
    [ "${calls:-0}" -ge 200 ] || fail "too few calls raced as $who ($calls)"
    # Each round also allocated a device with the GPU file held (the RM's
    # GPU-access check, for which the proxy lends the vendor's GPU file).
    lent=$(sed -n 's/^fd-race: .* \([0-9]*\) device allocations.*/\1/p' /tmp/race.out)
    assert_eq "$lent" "$calls" "device allocations raced as $who"
done
dmesg | grep -q "escaped during fd translation" && fail "the proxy reported an escape"
# Not compromised: a new open still works; nothing charged, nothing leaked.
nvrm --dev /dev/fakegpu/race info >/dev/null || fail "context refuses opens after the race"
assert_eq "$(cat $F/contexts/race/mem_used_bytes)" "0" "ledger after the race"
assert_eq "$(cat $F/contexts/race/open_files)" "0" "open files after the race"
echo race >$F/destroy
assert_eq "$(heap_used 0)" "$base" "nvsim heap after the race"
