#!/bin/bash
# Cross-client FIFO_DISABLE_CHANNELS on the device machine (see xdisable.c).
# From the repository root:  bash scripts/h100/xclient/run.sh
# A CUDA process (leverwork, 1 ms kernels, 8 queued) runs 4 s; another
# process, with an RM client of its own, disables the first one's channels
# from 1.0 s to 2.0 s (runs 1-2 as root, run 3 as uid 65534). Writes $OUT/xclient.txt: both logs and the analysis.
set -u
OUT=${OUT:-/tmp/fakegpu-out}
W=/tmp/fgx
B=$W/bin
mkdir -p "$OUT" "$B"
gcc -O2 -Wall -shared -fPIC -o $B/nvlever.so userspace-tools/nvtrace/csrc/nvlever_preload.c -ldl -lpthread || exit 1
gcc -O2 -Wall -o $B/xdisable scripts/h100/xclient/xdisable.c || exit 1
[ -x $B/leverwork ] || nvcc -O2 -arch=sm_90 -o $B/leverwork scripts/h100/cuda/leverwork.cu -ldl || exit 1
VER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
IT=$($B/leverwork --calibrate 1000 2>/dev/null | tail -1)
R=$OUT/xclient.txt
{
echo "driver $VER; $(nvidia-smi --query-gpu=name --format=csv,noheader); kernel iters for 1 ms: $IT"
for run in 1 2 3 4 5; do
	# Run 3: the other process is not root (uid 65534): what the RM lets an
	# unprivileged tenant do to another's channels. Runs 4 and 5: while its
	# channels are disabled, the CUDA process itself asks GPFIFO_SCHEDULE
	# bEnable=1 on its channels (4) or its channel groups (5) at 1.5 s:
	# does that undo the disable (a tenant's way around a stop)?
	as=""; [ $run = 3 ] && as="setpriv --reuid=65534 --regid=65534 --clear-groups"
	ev=""; [ $run = 4 ] && ev="1500:ch_sched_on"; [ $run = 5 ] && ev="1500:sched_on"
	chmod 755 $W $B; chmod 644 $W/h 2>/dev/null
	rm -f $W/h $W/p.txt
	rm -f $W/lever.log
	LD_PRELOAD=$B/nvlever.so NVLEVER_LOG=$W/lever.log NVLEVER_DUMP=$W/h NVLEVER_EVENTS="$ev" \
		$B/leverwork --now --iters "$IT" --depth 8 --duration-ms 4000 --out $W/p.txt --tag x$run >$W/a.txt 2>&1 &
	A=$!
	n=0; until [ -f $W/h ] || [ $n -gt 3000 ]; do sleep 0.01; n=$((n+1)); done
	chmod 644 $W/h
	echo "xdisable as: ${as:-root}"
	$as $B/xdisable "$VER" $W/h 1000 1000 >$W/x.txt 2>&1
	wait $A
	echo "=== run $run ${ev:+(the CUDA process: $ev)}"
	cat $W/a.txt $W/x.txt
	grep -h "ctl \|event" $W/lever.log 2>/dev/null | head -3
	python3 - $W/p.txt $W/x.txt <<'PY'
import sys
hdr = open(sys.argv[1]).readline()
start = int(hdr.split("start=")[1].split()[0])
ends = sorted(int(l.split()[1]) / 1e6 for l in open(sys.argv[1]) if not l.startswith("#"))
ev = {}
for l in open(sys.argv[2]):
    w = l.split()
    if len(w) > 2 and w[1] == "t":
        ev[w[0]] = (int(w[2]) - start) / 1e6
d, e = ev["disable"], ev["enable"]
def rate(a, b):
    return sum(1 for x in ends if a <= x < b) / ((b - a) / 1000)
gaps = sorted(((b - a, a, b) for a, b in zip(ends, ends[1:])), reverse=True)[:3]
print(f"disable at {d:.1f} ms, enable at {e:.1f} ms (relative to the workload's start)")
print(f"kernels per s: before [200, {d:.0f}) {rate(200, d):.0f}; while disabled [{d+20:.0f}, {e:.0f}) {rate(d + 20, e):.0f} ([{d+20:.0f}, 1500) {rate(d + 20, 1500):.0f}, [1520, {e:.0f}) {rate(1520, e):.0f}); after [{e+20:.0f}, 3800) {rate(e + 20, 3800):.0f}")
print("longest gaps between completions (ms, from, to): " + "; ".join(f"{g:.1f} {a:.1f} {b:.1f}" for g, a, b in gaps))
PY
done
} 2>&1 | tee $R
