# `make bench` part 2: accuracy of the compute scheduler, in the VM, with
# nvsim's engine. Usage: sched.sh [SECS (10)] [QUEUE_DEPTH (32)]. Prints
# configured vs achieved per context:
#   - hard caps alone (10, 30, 50, 70 %): the duty cycle (fraction of the
#     run the burner's doorbell writes were not held at a shut gate, as the
#     workload sees it) and the engine share: the context's engine time
#     per wall time over a SECS window, from nvsim's per-client engine time
#     (a cap is of the GPU, so it is not scaled by what the burner reaches
#     alone, which the reference line reports);
#   - weights 1:1, 1:3, 1:1:2:4 between busy contexts: each one's part of
#     the engine time over a common SECS window, from nvsim's per-client
#     engine time (every burner runs until stopped; the window starts once
#     all of them run);
#   - absorption: of two 1:1 contexts one stops; how long until the other
#     runs alone (in periods);
#   - priority: submission latency of a high-priority context while two
#     normal ones saturate the engine (p50/p99);
#   - overhead: total engine time of a 2-context mix through the scheduler
#     vs the same mix directly on nvsim, over a common window.
# The default queue depth (32 x 500 us = 16 ms) keeps each context busy:
# in the TCG VM a burner process can wait several ms for a vCPU (with four
# burners, nvsim's engine and the scheduler on two), and a shallower queue
# runs dry in its window, which reads as the scheduler's error (at depth
# 16 the weight-4 context of 1:1:2:4, alone for 10 ms of each period, got
# 0.458 instead of 0.5; at 32, 0.486). The channels of a shut context are
# stopped, so a deep queue does not drain into the others' time.
. /usr/lib/fakegpu/guest-lib.sh
F=/sys/kernel/fakegpu
SECS=${1:-10}
BUSY=500
DEPTH=${2:-32}
period=$(dmesg | sed -n 's/.*scheduler period \([0-9]*\) ms.*/\1/p' | tail -1)
raw() { sed -n 's/.* share \([0-9.]*\)$/\1/p' "$1"; }
duty() { sed -n 's/^held_us [0-9]* duty \([0-9.]*\)$/\1/p' "$1"; }
burn() { c=$1; secs=$2; shift 2; in_container $c nvrm burn --gpu 0 --busy-us $BUSY --depth $DEPTH --for $secs "$@"; }
row() { printf '%-24s %-10s %7s %7s %8s %8s %8s\n' "$@"; }
pp() { awk -v a="$1" -v t="$2" 'BEGIN { printf "%+.1f", (a - t) * 100 }'; }

echo "compute scheduler accuracy: period ${period} ms, entries ${BUSY} us, queue depth ${DEPTH}, ${SECS} s windows"
echo "ref gpus=0" >$F/create
burn ref $SECS >/tmp/ref || fail "reference burn"
base=$(raw /tmp/ref)
echo ref >$F/destroy
echo "reference: the burner alone, uncapped, keeps nvsim's engine $(awk -v b=$base 'BEGIN { printf "%.1f", b * 100 }') % busy"
echo "caps: duty = fraction of the run the burner's doorbell was open; share = its engine time per wall time over a ${SECS} s window (nvsim's per-client engine time)"
echo "weights: share = its part of the engine time the busy group got over a common ${SECS} s window (nvsim's per-client engine time)"
row "scenario" "context" "target" "duty" "err(pp)" "share" "err(pp)"

# Engine time per context over a common window. Every burner runs until
# stopped; the window starts once all of them are running and ends before
# any is stopped (a burner that starts or ends late on a loaded host would
# otherwise run alone for a while and skew the split). The figures are
# nvsim's own per-client engine time (debugfs), read once per snapshot.
clients=/sys/kernel/debug/nvsim/gpu0/clients
snap() {   # snap PIDLIST... (each a comma-separated list) -> engine us per list
    cat $clients >/tmp/clients.snap
    for l in "$@"; do
        awk -v l="$l" 'BEGIN { n = split(l, a, ","); for (i = 1; i <= n; i++) want[a[i]] = 1 }
                       ($2 in want) { t += $3 } END { printf "%d ", t }' /tmp/clients.snap
    done
    echo
}
pids_of() { tr '\n' ',' <$F/contexts/$1/pids | sed 's/,$//'; }
uptime_us() { awk '{ printf "%d", $1 * 1000000 }' /proc/uptime; }
# window SECS PIDLIST... -> "elapsed_us busy_1 busy_2 ..."
window() {
    w=$1; shift
    wn=0
    until snap "$@" | awk '{ for (i = 1; i <= NF; i++) if ($i == 0) exit 1 }' && [ $# -gt 0 ]; do
        wn=$((wn+1)); [ $wn -lt 300 ] || fail "burners did not start"; sleep 0.1
    done
    sleep 1
    t0=$(uptime_us); a=$(snap "$@")
    sleep $w
    t1=$(uptime_us); b=$(snap "$@")
    echo "$((t1 - t0)) $(awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf "%d ", y[i] - x[i] }')"
}
ctx_pids_wait() {   # ctx_pids_wait CTX: waits until the context's burner has its nodes open
    pn=0; until [ -n "$(cat $F/contexts/$1/pids)" ]; do pn=$((pn+1)); [ $pn -lt 300 ] || fail "no process in $1"; sleep 0.1; done
}
stop_ctx() { for c in "$@"; do kill $(cat $F/contexts/$c/pids) 2>/dev/null || true; done; }

# Hard caps alone: the burner runs until stopped; over a SECS window, its
# engine time (nvsim's per-client figure) per wall time is the achieved
# share of the GPU; the duty cycle comes from the burner itself (the
# fraction of its run its doorbell writes were not held).
for pct in 10 30 50 70; do
    echo "cap gpus=0 compute=$pct" >$F/create
    burn cap $((SECS + 5)) >/tmp/b 2>&1 & bp=$!
    ctx_pids_wait cap
    set -- $(window $SECS $(pids_of cap))
    wait $bp || fail "burn cap $pct"
    d=$(duty /tmp/b); a=$(awk -v e=$1 -v b=$2 'BEGIN { printf "%.3f", b / e }'); t=$(awk -v p=$pct 'BEGIN { printf "%.3f", p / 100 }')
    row "cap $pct% alone" cap "$t" "${d:-?}" "$([ -n "$d" ] && pp "$d" "$t")" "$a" "$(pp "$a" "$t")"
    echo cap >$F/destroy
done

# Weights.
weights() {   # weights W1 W2 ...: the split of the engine time the group got
    n=0; sum=0
    for w in "$@"; do n=$((n+1)); sum=$((sum+w)); echo "w$n gpus=0 weight=$w" >$F/create; done
    i=0; for w in "$@"; do i=$((i+1)); burn w$i 600 >/dev/null 2>&1 & done
    lists=""; i=0; for w in "$@"; do i=$((i+1)); ctx_pids_wait w$i; lists="$lists $(pids_of w$i)"; done
    set -- $(window $SECS $lists) "$@"
    el=$1; shift
    # Now: busy_1..busy_n, then the weights.
    busy=""; for k in $(seq $n); do busy="$busy $1"; shift; done
    i=0; for w in "$@"; do i=$((i+1)); stop_ctx w$i; done
    wait
    tot=$(echo $busy | awk '{ for (i = 1; i <= NF; i++) t += $i; print t }')
    i=0; for w in "$@"; do
        i=$((i+1)); b=$(echo $busy | cut -d' ' -f$i)
        t=$(awk -v w=$w -v s=$sum 'BEGIN { printf "%.3f", w / s }')
        a=$(awk -v r=$b -v t=$tot 'BEGIN { printf "%.3f", r / t }')
        row "weights $(echo "$@" | tr ' ' ':')" "w$i (w=$w)" "$t" "" "" "$a" "$(pp "$a" "$t")"
    done
    echo "   (engine busy in all: $(awk -v t=$tot -v e=$el 'BEGIN { printf "%.1f", t / e * 100 }') % of the ${SECS} s window)"
    i=0; for w in "$@"; do i=$((i+1)); echo w$i >$F/destroy; done
}
weights 1 1
weights 1 3
weights 1 1 2 4

# Absorption: a and b at 1:1; a stops after half the run. Sample b's
# granted time every period; count periods from a's stop until b is
# granted (nearly) a whole period.
echo "a gpus=0" >$F/create; echo "b gpus=0" >$F/create
burn b 6 >/tmp/ab & pb=$!
burn a 3 >/tmp/aa & pa=$!
wait $pa; stop=$(cut -d' ' -f1 /proc/uptime)
last=$(cat $F/contexts/b/compute_used_us); periods=0; absorbed=""
while [ $periods -lt 40 ]; do
    sleep "$(awk -v p=$period 'BEGIN { print p / 1000 }')"
    now=$(cat $F/contexts/b/compute_used_us); periods=$((periods+1))
    d=$((now - last)); last=$now
    if [ $d -ge $((period * 900)) ]; then absorbed=$periods; break; fi
done
wait $pb
echo "absorption: after a stops, b is granted a whole period after ${absorbed:-more than 40} period(s) (target: within 2)"
echo a >$F/destroy; echo b >$F/destroy

# Priority latency.
echo "n1 gpus=0" >$F/create; echo "n2 gpus=0" >$F/create; echo "hi gpus=0 priority=high" >$F/create
burn n1 600 >/dev/null 2>&1 &
burn n2 600 >/dev/null 2>&1 &
ctx_pids_wait n1; ctx_pids_wait n2
sleep 1
in_container hi nvrm latency --gpu 0 --busy-us $BUSY --count 40 --gap-ms 200 >/tmp/lat || fail latency
stop_ctx n1 n2; wait
echo "priority: high-priority submission while 2 normal contexts saturate (drain ${DEPTH} x ${BUSY} us): $(cat /tmp/lat)"
for c in n1 n2 hi; do echo $c >$F/destroy; done

# Overhead: the same 2-context 1:1 mix directly on nvsim and through the
# scheduler; total engine time over a common window.
nvrm burn --gpu 0 --busy-us $BUSY --depth $DEPTH --for 600 >/dev/null & r1=$!
nvrm burn --gpu 0 --busy-us $BUSY --depth $DEPTH --for 600 >/dev/null & r2=$!
set -- $(window $SECS $r1 $r2)
kill $r1 $r2; wait
direct=$(awk -v e=$1 -v a=$2 -v b=$3 'BEGIN { print (a + b) / e }')
echo "o1 gpus=0" >$F/create; echo "o2 gpus=0" >$F/create
burn o1 600 >/dev/null 2>&1 &
burn o2 600 >/dev/null 2>&1 &
ctx_pids_wait o1; ctx_pids_wait o2
set -- $(window $SECS $(pids_of o1) $(pids_of o2))
stop_ctx o1 o2; wait
sched=$(awk -v e=$1 -v a=$2 -v b=$3 'BEGIN { print (a + b) / e }')
echo o1 >$F/destroy; echo o2 >$F/destroy
echo "overhead: engine busy direct $direct, through the scheduler $sched, loss $(awk -v d=$direct -v s=$sched 'BEGIN { printf "%.1f", (d - s) / d * 100 }') %"
