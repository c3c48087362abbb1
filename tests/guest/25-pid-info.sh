# The RM's per-process video memory count (NV2080_CTRL_CMD_GPU_GET_PID_INFO),
# which the proxy's audit (docs/isolation.md §1) compares with its ledger.
# tests/fidelity/pid-info.nvrm, run on the H100 (580.159.04) as uid 65534
# and as root, answered tests/fidelity/h100-580.159.04/pid-info-*.txt (the
# two are the same): sizes rounded as the heap rounds them (1 B -> 64 KiB,
# 2 MiB + 1 -> 4 MiB), system memory not counted, a dup held by the same
# process moves the block from private to shared-owned, a dup that
# outlives the original makes it private again. nvsim must answer every
# line as the H100 did, as root and as nobody.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
FID=/usr/lib/fakegpu/fidelity
lines() { grep -E -- ' -> |^pidmem result' "$1" | sed 's/\r$//'; }
lines $FID/h100-pid-info-nobody.txt >/tmp/pi.expected
[ "$(grep -c '^pidmem result' /tmp/pi.expected)" -ge 10 ] || fail "the H100 capture has too few counts"
grep -q '^pidmem result 0x0 private 5308416 shared_owned 0 shared_duped 0$' /tmp/pi.expected ||
    fail "the capture lacks the rounded count"
for who in "" 65534; do
    if [ -n "$who" ]; then { echo "drop-uid $who"; cat $FID/pid-info.nvrm; } >/tmp/pi.nvrm
    else cp $FID/pid-info.nvrm /tmp/pi.nvrm; fi
    nvrm script /tmp/pi.nvrm >/tmp/pi.out 2>&1 || { cat /tmp/pi.out; fail "uid ${who:-0}: script failed"; }
    lines /tmp/pi.out >/tmp/pi.got
    diff /tmp/pi.expected /tmp/pi.got || fail "uid ${who:-0}: nvsim's counts differ from the H100's (- H100, + nvsim)"
    echo "uid ${who:-0}: $(grep -c '^pidmem' /tmp/pi.got) counts as on the H100"
done
