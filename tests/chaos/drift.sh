#!/bin/sh
# Candidate sequences for the quiescent drift fgtest chaos found with seed 3
# (docs/chaos-findings.md): a fair tenant, no flips; after each sequence the
# tenant holds still and ledger and nvsim heap are compared.
#   scripts/vm-run tests/chaos/drift.sh
. /usr/lib/fakegpu/guest-lib.sh
F=/sys/kernel/fakegpu
heap() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
base=$(heap)
bad=0
try() {   # try NAME SCRIPT-LINES
    echo "dr gpus=0 mem=256M" >$F/create || fail create
    D=/dev/fakegpu/dr
    rm -f /tmp/dr.go /tmp/dr.out
    {
        printf 'open ctl %s/nvidiactl\nopen ctl2 %s/nvidiactl\nopen x %s/nvidiactl\nopen g %s/nvidia0\nopen gm %s/nvidia0\n' $D $D $D $D $D
        printf 'client c ctl\ndevice d ctl $c $c 0\nclient c2 ctl2\ndevice d2 ctl2 $c2 $c2 0\n'
        printf '%s\n' "$2"
        printf 'echo HOLD\nwait-file /tmp/dr.go\n'
    } >/tmp/dr.nvrm
    fgtest as-uid 65534 nvrm script /tmp/dr.nvrm >/tmp/dr.out 2>&1 &
    p=$!
    i=0; until grep -q HOLD /tmp/dr.out; do i=$((i+1)); [ $i -lt 300 ] || { cat /tmp/dr.out; fail "$1: script"; }; sleep 0.1; done
    sleep 2
    l=$(cat $F/contexts/dr/mem_used_bytes); h=$(( $(heap) - base ))
    v=ok; [ "$l" = "$h" ] || { v=DRIFT; bad=1; }
    echo "$1: ledger $l B, heap $h B: $v"
    [ $v = ok ] || grep -v '^HOLD' /tmp/dr.out | tail -20
    touch /tmp/dr.go; wait $p
    echo dr >$F/destroy
    i=0; while [ "$(heap)" != "$base" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
    [ "$(heap)" = "$base" ] || echo "$1: heap $(( $(heap) - base )) B after destroy"
}
try "R1 mapped, then freed" 'alloc m ctl $c $d 0x40 size=128Ki
map mc ctl $c $d $m 0 131072 gm
mmap mv gm 131072
free ctl $c $m'
try "R2 dup into another ctl file's client, original's ctl closed" 'alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl2 $c2 $d2 $c $m
close ctl'
try "R3 dup into another ctl file's client, original client freed" 'alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl2 $c2 $d2 $c $m
free ctl $c $c'
try "R4 dup into another client, original's device freed" 'alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl2 $c2 $d2 $c $m
free ctl $c $d'
try "R5 import into another ctl file's client, export fd and original's ctl closed" 'alloc m ctl $c $d 0x40 size=128Ki
export ctl $c $d $m x
import m2 ctl2 $c2 $d2 x
close x
close ctl'
try "R6 exported, handle freed, export fd kept" 'alloc m ctl $c $d 0x40 size=128Ki
export ctl $c $d $m x
free ctl $c $m'
try "R7 dup of a dup, both originals freed" 'alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl2 $c2 $d2 $c $m
dup m3 ctl $c $d $c2 $m2
free ctl $c $m
free ctl2 $c2 $m2'
try "R8 dup into the client of a ctl file then that ctl closed (dup side)" 'alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl2 $c2 $d2 $c $m
close ctl2
free ctl $c $m'
try "R9 mapped dup, then dup and original freed" 'alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl $c $d $c $m
map mc ctl $c $d $m2 0 131072 gm
mmap mv gm 131072
free ctl $c $m
free ctl $c $m2'
try "R10 export slot, ctl of the original closed" 'alloc m ctl $c $d 0x40 size=128Ki
export ctl $c $d $m x
close ctl'
try "R11 registered GPU file, dup in another ctl file's client, ctl then GPU file closed" 'register g ctl
alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl2 $c2 $d2 $c $m
close ctl
close g'
try "R12 registered GPU file, dup in another ctl file's client, ctl closed (GPU file kept)" 'register g ctl
alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl2 $c2 $d2 $c $m
close ctl'
try "R13 mapped through a GPU file, dup elsewhere, ctl closed, unmapped" 'alloc m ctl $c $d 0x40 size=128Ki
map mc ctl $c $d $m 0 131072 gm
mmap mv gm 131072
dup m2 ctl2 $c2 $d2 $c $m
close ctl
munmap mv
close gm'
try "R14 registered GPU file, export slot on another file, ctl then GPU file closed" 'register g ctl
alloc m ctl $c $d 0x40 size=128Ki
export ctl $c $d $m x
close ctl
close g'
try "R15 registered GPU file, import in another ctl file's client, ctl then GPU file closed" 'register g ctl
alloc m ctl $c $d 0x40 size=128Ki
export ctl $c $d $m x
import m2 ctl2 $c2 $d2 x
close x
close ctl
close g'
try "R16 registered, client freed after the ctl closed? (dup on ctl2; ctl2 registered, ctl2 closed)" 'register g ctl2
alloc m ctl $c $d 0x40 size=128Ki
dup m2 ctl2 $c2 $d2 $c $m
close ctl2
free ctl $c $m'
[ $bad = 0 ] && echo "drift: none" || echo "drift: found"
