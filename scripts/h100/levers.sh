#!/bin/bash
# Compute-lever study on the device machine. From the repository root:
#     bash scripts/h100/levers.sh PHASE...   (phases: see levers.py)
# Writes $OUT/levers-<first phase>.tar.xz with levers/<run>/... and results.jsonl.
set -u
OUT=${OUT:-/tmp/fakegpu-out}
W=${W:-/tmp/fgw}
B=$W/bin
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$W/levers"
[ -x "$B/leverwork" ] || bash scripts/h100/build.sh "$B" || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,compute_mode \
	--format=csv >"$W/levers/gpu-state-$1.txt" 2>&1
nvidia-smi compute-policy -l >>"$W/levers/gpu-state-$1.txt" 2>&1
python3 scripts/h100/levers.py "$B" "$W/levers" "$@" 2>&1 | tee -a "$W/levers/console-$1.txt"
python3 - "$W" "$OUT/levers-$1.tar.xz" <<'PY'
import sys, tarfile
w, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w:xz", preset=6) as t:
    t.add(w + "/levers", arcname="levers")
PY
ls -l "$OUT"
