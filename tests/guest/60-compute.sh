# Compute time slices, end to end in "containers" (own mount namespace, the
# context's nodes bind-mounted at the vendor's paths), with nvsim's engine:
# a hard cap alone, live changes of it, weights between two busy contexts,
# priority, a context of two GPUs planned on each, the tenant's own
# scheduling controls filtered, kill -9 of a held submitter, and destroy
# while a submitter is held.
#
# Only what holds under any load of the host is asserted (this runs under
# TCG on a 2-core machine, maybe beside a CPU hog): a burner's engine share
# (its engine time per wall time, from the entries nvsim completed) never
# exceeds its cap by more than TOL, a 3:1 weighting and a high priority
# order the two contexts' engine time, and every burner makes progress.
# How close a share comes to its target (accuracy) depends on how much CPU
# the burners get and is reported by `make bench`, with its spread; here it
# is only printed.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
period=$(dmesg | sed -n 's/.*scheduler period \([0-9]*\) ms.*/\1/p' | tail -1)
duty() { sed -n 's/^held_us [0-9]* duty \([0-9.]*\)$/\1/p' "$1"; }
raw() { sed -n 's/.* share \([0-9.]*\)$/\1/p' "$1"; }
share() { awk -v s="$(raw "$1")" -v b="$base" 'BEGIN { printf "%.3f", s / b }'; }
# Queues are deep (16 x 500 us = 8 ms queued): a burner that waits for a
# vCPU on a loaded host must not run dry, or alone it stays under its cap
# whatever the scheduler does, and the cap check proves nothing (measured:
# at depth 2 beside a kernel build, the burner alone reached 0.31 of the
# engine, so a scheduler that ignored caps passed). The channels of a shut
# context are stopped, so a deep queue does not drain into its shut time.
burn() { c=$1; secs=$2; shift 2; in_container $c nvrm burn --gpu 0 --busy-us 500 --depth 16 --for $secs "$@"; }
# Deeper still for two busy contexts side by side (each one's share must
# follow the scheduler, not which burner got a vCPU).
burn_deep() { c=$1; secs=$2; shift 2; in_container $c nvrm burn --gpu 0 --busy-us 500 --depth 32 --for $secs "$@"; }
# Shallow, for a submitter that must ring (and be held) often.
burn_shallow() { c=$1; secs=$2; shift 2; in_container $c nvrm burn --gpu 0 --busy-us 500 --depth 2 --for $secs "$@"; }

echo "period ${period} ms"
# Defaults and validation.
echo "k1 gpus=0 compute=30" >$F/create || fail create
assert_eq "$(cat $F/contexts/k1/compute_limit_pct)" "30" "compute= at create"
assert_eq "$(cat $F/contexts/k1/compute_weight)" "1" "default weight"
assert_eq "$(cat $F/contexts/k1/priority)" "normal" "default priority"
for bad in 0 101 x ""; do
    echo "$bad" >$F/contexts/k1/compute_limit_pct 2>/dev/null && fail "compute_limit_pct accepted '$bad'"
done
echo 1001 >$F/contexts/k1/compute_weight 2>/dev/null && fail "weight 1001 accepted"
echo urgent >$F/contexts/k1/priority 2>/dev/null && fail "priority urgent accepted"
echo "kx gpus=0 compute=0" >$F/create 2>/dev/null && fail "compute=0 accepted at create"
[ -d $F/contexts/kx ] && fail "half-created kx"

# An engine share may pass its cap by TOL: the gate closes at the end of
# a window the scheduler's thread may wake up late for (a descheduled vCPU),
# and an entry in flight at the close completes; the overrun is charged
# against the next windows, so over a run of seconds it stays small.
TOL=0.05
# under_cap SHARE CAP_PCT WHAT
under_cap() { awk -v s="$1" -v c="$2" -v t=$TOL 'BEGIN { exit !(s <= c / 100 + t) }' || fail "$3: engine share $1 above the cap $2 % + $TOL"; }
# ran SHARE WHAT: the burner made progress.
ran() { awk -v s="$1" 'BEGIN { exit !(s > 0) }' || fail "$2: no engine time ($1)"; }

# The burner alone, uncapped: the reference, printed for the accuracy
# figures below.
echo "k0 gpus=0" >$F/create || fail create
burn k0 3 >/tmp/b0 || { cat /tmp/b0; fail "burn k0"; }
base=$(raw /tmp/b0)
echo "reference (alone, uncapped): engine share $base"
ran "$base" "the reference burner"
echo k0 >$F/destroy

# A hard cap, changed live both ways: 70 %, then 30 % (the change down is
# the one that shows: at 70 % the burner would exceed a 30 % cap).
echo 70 >$F/contexts/k1/compute_limit_pct
burn k1 3 >/tmp/b1 || fail "burn k1 at 70"
echo "cap 70 % (live change): duty $(duty /tmp/b1), engine share $(raw /tmp/b1), vs alone $(share /tmp/b1)"
under_cap "$(raw /tmp/b1)" 70 "k1 alone at 70 % (live change)"
ran "$(raw /tmp/b1)" "k1 at 70 %"
echo 30 >$F/contexts/k1/compute_limit_pct
used0=$(cat $F/contexts/k1/compute_used_us)
burn k1 4 >/tmp/b1 || { cat /tmp/b1; fail "burn k1"; }
cat /tmp/b1
echo "cap 30 % (live change): duty $(duty /tmp/b1), engine share $(raw /tmp/b1), vs alone $(share /tmp/b1)"
under_cap "$(raw /tmp/b1)" 30 "k1 alone at 30 %"
ran "$(raw /tmp/b1)" "k1 at 30 %"
[ "$(cat $F/contexts/k1/throttled_us)" -gt 0 ] || fail "no throttled time at 30 %"
used=$(( $(cat $F/contexts/k1/compute_used_us) - used0 ))
[ "$used" -gt 0 ] || fail "k1 was granted no time at 30 %"
# A tenant whose other thread keeps its mm's lock busy (mmap + munmap
# without pause) is capped all the same: the scheduler never waits for that
# lock, so a doorbell zap can come late (a zap that finds the lock
# contended is retried every 0.5 ms), but the channels of a shut context
# are stopped, so its engine time stays at the cap. (The duty, the time its
# doorbell was open, can be higher: it is printed, not checked.)
burn k1 3 --mmap-storm >/tmp/b1s || { cat /tmp/b1s; fail "burn k1 --mmap-storm"; }
echo "cap 30 % beside an mmap storm: duty $(duty /tmp/b1s), engine share $(raw /tmp/b1s), vs alone $(share /tmp/b1s), $(grep mmap_storm /tmp/b1s)"
under_cap "$(raw /tmp/b1s)" 30 "k1 at 30 % beside an mmap storm"
ran "$(raw /tmp/b1s)" "k1 at 30 % beside an mmap storm"
# Every mapping of a doorbell is gated, not only the first (issue 16 §3).
# A gated mapping faults at the shut gate, which sysfs counts in
# throttled_us; an ungated one never does. gated_through FLAG WHAT: the
# burner rings only through the mapping FLAG makes, at k1's 30 % cap.
gated_through() {
    t0=$(cat $F/contexts/k1/throttled_us)
    burn_shallow k1 3 "$1" >/tmp/b1m || { cat /tmp/b1m; fail "burn k1 $1"; }
    t1=$(cat $F/contexts/k1/throttled_us)
    echo "cap 30 %, ringing through $2: duty $(duty /tmp/b1m), engine share $(raw /tmp/b1m), throttled_us $t0 -> $t1"
    [ "$t1" -gt "$t0" ] || fail "$2 is not gated: throttled_us stayed at $t0"
    under_cap "$(raw /tmp/b1m)" 30 "k1 at 30 % through $2"
}
# A second mmap of the doorbell's GPU file (the vendor keeps the file's
# mapping context, so it maps the doorbell too), the first one dropped.
gated_through --second-mmap "a second mmap of the doorbell"
# A mapping of a dup of the usermode object (RM_DUP_OBJECT): the dup of a
# doorbell is a doorbell.
gated_through --dup-doorbell "a mapping of a dup of the doorbell"
echo 100 >$F/contexts/k1/compute_limit_pct

# Weights 1:3 between two busy contexts.
echo "k2 gpus=0 weight=3" >$F/create || fail create k2
u1=$(cat $F/contexts/k1/compute_used_us)
burn_deep k1 4 >/tmp/w1 & p1=$!
burn_deep k2 4 >/tmp/w2 & p2=$!
wait $p1 || fail "burn k1 (weights)"; wait $p2 || fail "burn k2 (weights)"
g1=$(( $(cat $F/contexts/k1/compute_used_us) - u1 )); g2=$(cat $F/contexts/k2/compute_used_us)
echo "weights 1:3: granted $g1 : $g2 us, duty $(duty /tmp/w1) : $(duty /tmp/w2), engine share $(raw /tmp/w1) : $(raw /tmp/w2)"
echo "weights 1:3: k2's part of the engine time $(awk -v a="$(raw /tmp/w1)" -v b="$(raw /tmp/w2)" 'BEGIN { printf "%.3f", b / (a + b) }') (target 0.75)"
ran "$(raw /tmp/w1)" "k1 (weight 1)"
awk -v a="$(raw /tmp/w1)" -v b="$(raw /tmp/w2)" 'BEGIN { exit !(b > a) }' || fail "weight 3 got no more engine time than weight 1: $(raw /tmp/w2) vs $(raw /tmp/w1)"
[ "$g2" -gt "$g1" ] || fail "weight 3 was granted no more time than weight 1: $g2 vs $g1 us"

# Priority: k2 high holds k1 back while it has work.
echo high >$F/contexts/k2/priority
burn_deep k1 4 >/tmp/w1 & p1=$!
burn_deep k2 4 >/tmp/w2 & p2=$!
wait $p1 || fail "burn k1 (priority)"; wait $p2 || fail "burn k2 (priority)"
echo "normal vs high: duty $(duty /tmp/w1) : $(duty /tmp/w2), engine share $(raw /tmp/w1) : $(raw /tmp/w2), vs alone $(share /tmp/w1) : $(share /tmp/w2)"
ran "$(raw /tmp/w2)" "high-priority k2"
# (A normal context runs when the high one's queue runs dry, which a
# starved burner's can: only the order is certain.)
awk -v a="$(raw /tmp/w1)" -v b="$(raw /tmp/w2)" 'BEGIN { exit !(b > a) }' || fail "high priority got no more engine time than normal: $(raw /tmp/w2) vs $(raw /tmp/w1)"
echo normal >$F/contexts/k2/priority

# A context of two GPUs is scheduled on each: on its second GPU it is
# capped (30 %) beside a context of that GPU alone.
echo "mg gpus=0,1 compute=30" >$F/create || fail "create mg"
echo "o1 gpus=1" >$F/create || fail "create o1"
in_container mg nvrm burn --gpu 1 --busy-us 500 --depth 16 --for 4 >/tmp/mg & pm=$!
in_container o1 nvrm burn --gpu 0 --busy-us 500 --depth 16 --for 4 >/tmp/o1 & po=$!
wait $pm || { cat /tmp/mg; fail "burn mg on its second GPU"; }
wait $po || { cat /tmp/o1; fail "burn o1"; }
echo "second GPU: mg (cap 30 %) engine share $(raw /tmp/mg), o1 $(raw /tmp/o1), mg's part $(awk -v a="$(raw /tmp/mg)" -v b="$(raw /tmp/o1)" 'BEGIN { printf "%.3f", a / (a + b) }')"
under_cap "$(raw /tmp/mg)" 30 "mg on its second GPU"
ran "$(raw /tmp/mg)" "mg on its second GPU"
ran "$(raw /tmp/o1)" "o1"
echo mg >$F/destroy; echo o1 >$F/destroy

# The tenant's own timeslice is answered, not applied.
burn k1 1 --timeslice-us 123 >/tmp/t1 || { cat /tmp/t1; fail "burn with its own timeslice"; }
grep -q "timeslice_us 123 " /tmp/t1 && fail "the tenant's SET_TIMESLICE reached nvsim"
grep -q " 123 " /sys/kernel/debug/nvsim/gpu0/tsgs && fail "a TSG with the tenant's timeslice exists"

# kill -9 of a held submitter: it dies, everything is released.
echo 5 >$F/contexts/k1/compute_limit_pct
burn_shallow k1 60 >/dev/null 2>&1 & pk=$!
i=0; while [ "$(cat $F/contexts/k1/throttled_us)" -lt 2000000 ]; do i=$((i+1)); [ $i -lt 100 ] || fail "k1 never held"; sleep 0.1; done
# (The nvrm process itself: $pk is the shell that started it.)
kill -9 $(cat $F/contexts/k1/pids) $pk; wait $pk 2>/dev/null || true
i=0; while [ "$(cat $F/contexts/k1/open_files)" != 0 ]; do i=$((i+1)); [ $i -lt 100 ] || fail "files of the killed submitter stay open"; sleep 0.1; done
assert_eq "$(cat $F/contexts/k1/mem_used_bytes)" "0" "k1 ledger after kill -9"

# Destroy while a submitter is held: it gets an error and exits.
burn_shallow k1 60 >/tmp/d1 2>&1 & pd=$!
sleep 1
echo k1 >$F/destroy || fail "destroy k1"
i=0; while kill -0 $pd 2>/dev/null; do i=$((i+1)); [ $i -lt 100 ] || fail "held submitter not released by destroy"; sleep 0.1; done
wait $pd && fail "the held submitter of a destroyed context exited 0"
# No burner is left: every file of the module is closed, so it could unload.
i=0; while ps -o comm | grep -q '^nvrm'; do i=$((i+1)); [ $i -lt 100 ] || fail "a burner survived"; sleep 0.1; done
echo k2 >$F/destroy
echo "compute ok"
