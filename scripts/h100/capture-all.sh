#!/bin/bash
# Capture real CUDA / PyTorch / nvidia-smi ioctl traffic on the H100 with the
# nvtrace preload. Run from the repository root on the device machine:
#     bash scripts/h100/capture-all.sh [BINDIR]
# Writes $OUT/traces.tar.xz: traces/<name>/{nvtrace.<pid>.bin, ground-truth.jsonl,
# stdout.txt} plus traces/env.txt. Unpack here with scripts/h100/import-traces.py TARBALL MACHINE.
set -u
OUT=${OUT:-/tmp/fakegpu-out}
W=${W:-/tmp/fgw}
B=${1:-$W/bin}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$W/traces"
[ -x "$B/cap_init" ] || bash scripts/h100/build.sh "$B" || exit 1
T=$W/traces
PY=scripts/h100/py

{
	echo "== date"; date -u +%FT%TZ
	echo "== uname"; uname -a
	echo "== driver"; cat /proc/driver/nvidia/version
	echo "== params"; cat /proc/driver/nvidia/params 2>/dev/null | head -50
	echo "== devices"; ls -l /dev/nvidia* /dev/nvidia-caps 2>&1
	echo "== /proc/devices"; grep -i nvidia /proc/devices
	echo "== nvidia-smi"; nvidia-smi
	echo "== compute-policy"; nvidia-smi compute-policy -l 2>&1 | head -20
	echo "== torch"; python3 -c 'import torch; print(torch.__version__, torch.version.cuda)'
	echo "== nvcc"; nvcc --version | tail -2
} > "$T/env.txt" 2>&1

# cap NAME CMD... : run CMD under the recorder, traces in $T/NAME
# CAPTURES="02-torch-alloc ..." limits the run to those captures.
cap() {
	local name=$1; shift
	if [ -n "${CAPTURES:-}" ] && [[ " $CAPTURES " != *" $name "* ]]; then return 0; fi
	mkdir -p "$T/$name"
	local t0=$(date +%s.%N)
	NVTRACE_OUT=$T/$name GT_FILE=$T/$name/ground-truth.jsonl LD_PRELOAD=$B/nvtrace.so "$@" \
		>"$T/$name/stdout.txt" 2>&1
	local rc=$?
	echo "capture $name rc=$rc seconds=$(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo ?)" | tee -a "$T/captures.log"
}

cap 01-cuda-init "$B/cap_init"
cap 02-torch-alloc python3 $PY/torch_alloc.py
cap 03-cuda-vmm "$B/cap_vmm" 512
cap 04-managed "$B/cap_managed" 256
cap 05-nvidia-smi bash -c 'nvidia-smi; echo ===; nvidia-smi -q -d MEMORY; echo ===; nvidia-smi pmon -c 1 -s um'
cap 06-torch-matmul python3 $PY/torch_matmul.py
cap 07-two-procs bash -c "$B/cap_alloc 512 1500 & $B/cap_alloc 1024 1500 & wait"
cap 08-ipc-legacy "$B/cap_ipc" legacy 64
cap 09-ipc-vmm "$B/cap_ipc" vmm 64
cap 10-jax-matmul python3 $PY/jax_matmul.py
cap 11-cupy-pools python3 $PY/cupy_pools.py
cap 12-torch-train-nccl python3 $PY/torch_train_nccl.py

du -sh "$T"/* | tee -a "$T/captures.log"
python3 - "$W" "$OUT/traces.tar.xz" <<'PY'
import sys, tarfile
w, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w:xz", preset=6) as t:
    t.add(w + "/traces", arcname="traces")
PY
ls -l "$OUT"
