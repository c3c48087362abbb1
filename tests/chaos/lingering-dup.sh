#!/bin/sh
# Reproducer for docs/chaos-findings.md F2 (found by fgtest chaos, seed 3,
# no flips; narrowed down with tests/chaos/drift.sh R16): a dup that lives
# in a client of a closed ctl file kept open by the vendor (a GPU file
# REGISTER_FD'd to it) is not counted when its original is freed: the proxy
# uncharges the memory while the vendor still holds it. No race, no
# privileges.
#   scripts/vm-run tests/chaos/lingering-dup.sh
. /usr/lib/fakegpu/guest-lib.sh
F=/sys/kernel/fakegpu
heap() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
audit() { awk -v k="$1" '$1 == k {print $2}' $F/contexts/lg/audit; }
base=$(heap)
show() { echo "$1: ledger $(cat $F/contexts/lg/mem_used_bytes) B, heap $(( $(heap) - base )) B, audit divergences $(audit divergences) compromised $(audit compromised)"; }
run() {   # run NAME SCRIPT
    echo "lg gpus=0 mem=256M" >$F/create || fail create
    rm -f /tmp/lg.go /tmp/lg.out
    printf '%s\necho HOLD\nwait-file /tmp/lg.go\n' "$2" | sed "s|@|/dev/fakegpu/lg/|g" >/tmp/lg.nvrm
    fgtest as-uid 65534 nvrm script /tmp/lg.nvrm >/tmp/lg.out 2>&1 &
    p=$!
    i=0; until grep -q HOLD /tmp/lg.out || ! kill -0 $p 2>/dev/null; do i=$((i+1)); [ $i -lt 600 ] || fail "$1: script"; sleep 0.1; done
    sleep 1
    show "$1"
    grep -q HOLD /tmp/lg.out || { echo "$1: the script did not finish:"; tail -5 /tmp/lg.out; }
    touch /tmp/lg.go; wait $p
    echo lg >$F/destroy
    i=0; while [ "$(heap)" != "$base" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
}
pre='open ctl @nvidiactl
open g @nvidia0
client c ctl
device d ctl $c $c 0'
# One dup in the closed file's client: the smallest sequence.
run "one dup, original freed" "$pre
open ctl2 @nvidiactl
open g2 @nvidia0
register g2 ctl2
client c2 ctl2
device d2 ctl2 \$c2 \$c2 0
alloc m ctl \$c \$d 0x40 size=64Mi
dup m2 ctl2 \$c2 \$d2 \$c \$m
close ctl2
free ctl \$c \$m
expect NV_OK"
# The same, then a fair allocation: the audit now sees the vendor hold
# more than the ledger and kills the (fair) tenant.
run "one dup, original freed, then an allocation" "$pre
open ctl2 @nvidiactl
open g2 @nvidia0
register g2 ctl2
client c2 ctl2
device d2 ctl2 \$c2 \$c2 0
alloc m ctl \$c \$d 0x40 size=64Mi
dup m2 ctl2 \$c2 \$d2 \$c \$m
close ctl2
free ctl \$c \$m
alloc n ctl \$c \$d 0x40 size=1Mi"
# Two dups (memSharedDuped: counted for no process, docs/chaos-findings.md
# F1), four times 64 MiB, then the whole cap allocated and charged.
loop=""
for k in 1 2 3 4; do
    loop="$loop
open ctl$k @nvidiactl
open g$k @nvidia0
register g$k ctl$k
client c$k ctl$k
device d$k ctl$k \$c$k \$c$k 0
alloc m$k ctl \$c \$d 0x40 size=64Mi
dup a$k ctl$k \$c$k \$d$k \$c \$m$k
dup b$k ctl$k \$c$k \$d$k \$c \$m$k
close ctl$k
free ctl \$c \$m$k"
done
run "4 x 64 MiB in two dups each, then the cap" "$pre
$loop
alloc f1 ctl \$c \$d 0x40 size=64Mi
alloc f2 ctl \$c \$d 0x40 size=64Mi
alloc f3 ctl \$c \$d 0x40 size=64Mi
alloc f4 ctl \$c \$d 0x40 size=64Mi
expect NV_OK"
