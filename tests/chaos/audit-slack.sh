#!/bin/sh
# Reproducer for docs/chaos-findings.md F1 (found by fgtest chaos, seed 2):
# the audit (docs/isolation.md §5) compares the ledger with the vendor's
# per-process count (GPU_GET_PID_INFO: memPrivate + memSharedOwned), but the
# ledger also charges memory that count does not attribute to anyone:
# memory held only by two or more dups (or imports) after its allocation
# was freed (each is memSharedDuped), or only by an export fd's slot. That
# difference is slack the tenant can fill with video memory the proxy
# never charged (the class flip of §1), without a divergence: the card
# then holds up to the cap plus the slack for the context, indefinitely.
#   scripts/vm-run tests/chaos/audit-slack.sh [FLIP_SECS [CASES]]   (default 4 s, status)
# Each case: a 256 MiB context; a holder process makes the slack (or, as a
# control, holds 192 MiB plainly); fgtest flip CASE runs beside it.
. /usr/lib/fakegpu/guest-lib.sh
F=/sys/kernel/fakegpu
SECS=${1:-4}
CASES=${2:-status}
heap() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
audit() { awk -v k="$1" '$1 == k {print $2}' $F/contexts/slack/audit; }
base=$(heap)
run() {   # run NAME SLACK-SCRIPT-LINES CASE
    name="$1 / flip $3"
    echo "slack gpus=0 mem=256M" >$F/create || fail create
    D=/dev/fakegpu/slack
    rm -f /tmp/slack.feed /tmp/slack.out /tmp/flip.done; mkfifo /tmp/slack.feed
    fgtest as-uid 65534 nvrm script - </tmp/slack.feed >/tmp/slack.out 2>&1 &
    holder=$!
    exec 3>/tmp/slack.feed
    printf 'open ctl %s/nvidiactl\nopen x %s/nvidiactl\nclient c ctl\nopen g %s/nvidia0\ndevice d ctl $c $c 0\n%s\necho READY\n' $D $D $D "$2" >&3
    i=0; until grep -q READY /tmp/slack.out; do i=$((i+1)); [ $i -lt 300 ] || { cat /tmp/slack.out; fail "holder"; }; sleep 0.1; done
    echo "$name: before the flip: ledger $(cat $F/contexts/slack/mem_used_bytes) B, heap $(( $(heap) - base )) B"
    fgtest as-uid 65534 fgtest flip $D $3 $SECS /tmp/flip.done >/tmp/flip.out 2>&1 &
    flip=$!
    i=0; while ! grep -q '^flip\|fgtest:' /tmp/flip.out && kill -0 $flip 2>/dev/null; do i=$((i+1)); [ $i -lt 1200 ] || fail "no flip result"; sleep 0.1; done
    cat /tmp/flip.out
    sleep 1
    l=$(cat $F/contexts/slack/mem_used_bytes); h=$(( $(heap) - base ))
    echo "$name: after the flip: ledger $l B, heap $h B (cap 268435456 B), heap - ledger $((h - l)) B, audit checks $(audit checks) divergences $(audit divergences) compromised $(audit compromised)"
    touch /tmp/flip.done; wait $flip; echo "$name: flip exit $?"
    exec 3>&-; wait $holder
    echo slack >$F/destroy
    i=0; while [ "$(heap)" != "$base" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
}
for case in $CASES; do
run "no slack" "alloc m ctl \$c \$d 0x40 size=192Mi" $case
run "two dups, original freed" "alloc m ctl \$c \$d 0x40 size=192Mi
dup m2 ctl \$c \$d \$c \$m
dup m3 ctl \$c \$d \$c \$m
free ctl \$c \$m" $case
run "export slot, handle freed" "alloc m ctl \$c \$d 0x40 size=192Mi
export ctl \$c \$d \$m x
free ctl \$c \$m" $case
done
