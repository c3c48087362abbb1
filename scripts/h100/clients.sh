#!/bin/bash
# NVIDIA's clients on the real driver, for issue 17 (what nvsim must answer
# for libcuda and NVML): captures with nvtrace, under $OUT (or ./clients-out):
#  - cuda.bin: cuda-probe (userspace-tools/nvclients) with a step marker
#    after each call, so cuInit's traffic is told apart from cuCtxCreate's;
#  - nvml.bin, smi.bin, apps.bin: nvml-probe, `nvidia-smi` (the table) and
#    `nvidia-smi --query-compute-apps`, run while another cuda-probe holds a
#    context and 256 MiB (the process list and the utilization queries);
#  - grinfo.out: GR_GET_INFO for every index (scripts/h100/grinfo.c): the
#    list libcuda asks for through an embedded pointer, not in a capture;
#  - *.out: what each printed.
#   on the H100 host:  scripts/h100/clients.sh   (from the repository root)
set -u
out=${OUT:-./clients-out}
B=$(mktemp -d)
mkdir -p "$out"
gcc -O2 -Wall -shared -fPIC -o "$B/nvtrace.so" userspace-tools/nvtrace/csrc/nvtrace_preload.c -ldl -lpthread
gcc -O2 -Wall -o "$B/cuda-probe" userspace-tools/nvclients/cuda-probe.c -lcuda
gcc -O2 -Wall -o "$B/nvml-probe" userspace-tools/nvclients/nvml-probe.c -lnvidia-ml
gcc -O2 -Wall -o "$B/grinfo" scripts/h100/grinfo.c
ver=$(grep -o ' [0-9]*\.[0-9]*\.[0-9]* ' /proc/driver/nvidia/version | head -1 | tr -d ' ')
"$B/grinfo" "$ver" 0x3a >"$out/grinfo.out" 2>&1
echo "grinfo (driver $ver) rc $?" >>"$out/grinfo.out"
cat "$out/grinfo.out"
cap() {
	name=$1
	shift
	mkdir -p "$B/t-$name"
	NVTRACE_OUT="$B/t-$name" LD_PRELOAD="$B/nvtrace.so" timeout 120 "$@" >"$out/$name.out" 2>&1
	echo "rc $?" >>"$out/$name.out"
	# One process per capture here; keep the largest file.
	f=$(ls -S "$B/t-$name"/*.bin 2>/dev/null | head -1)
	[ -n "$f" ] && cp "$f" "$B/$name.bin"
	echo "== $name: $*"
	cat "$out/$name.out"
}
cap cuda "$B/cuda-probe" 64
"$B/cuda-probe" 256 40 >"$out/holder.out" 2>&1 &
holder=$!
for i in $(seq 1 100); do grep -q '^holding' "$out/holder.out" && break; sleep 0.2; done
echo "holder pid $holder: $(cat "$out/holder.out" | tr '\n' ' ')"
cap nvml "$B/nvml-probe"
cap smi nvidia-smi
cap apps nvidia-smi --query-compute-apps=pid,used_memory --format=csv
kill $holder 2>/dev/null
wait
tar -C "$B" -cf - cuda.bin nvml.bin smi.bin apps.bin | zstd -19 -q -o "$out/clients-traces.tar.zst" ||
	tar -C "$B" -czf "$out/clients-traces.tar.gz" cuda.bin nvml.bin smi.bin apps.bin
ls -l "$out"
