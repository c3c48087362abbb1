#!/bin/bash
# Issue 16 section 4 on the H100: runs scripts/h100/cuda/managed_usage.cu
# and at each of its steps records nvidia-smi's per-process usage and the
# RM's GPU_GET_PID_INFO count for the process (root, nvrm from .fid/).
# Output: $OUT/managed.txt (committed under tests/fidelity/h100-580.159.04/).
set -u
out=${OUT:-./fidelity-out}
mkdir -p "$out"
NVRM=$(command -v nvrm || echo ./.fid/nvrm)
b=$(mktemp -d)
nvcc -O2 -arch=sm_90 -o "$b/mu" scripts/h100/cuda/managed_usage.cu || exit 1
sync=$b/sync
SYNC=$sync "$b/mu" 1024 >"$b/mu.out" 2>&1 &
mp=$!
{
last=""
while kill -0 $mp 2>/dev/null; do
    if [ -f "$sync" ] && [ "$(cat "$sync")" != "$last" ]; then
        last=$(cat "$sync")
        echo "== step $last"
        nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits | sed 's/^/smi /'
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | sed 's/^/smi-gpu-used-mib /'
        cat >"$b/p.nvrm" <<S
open ctl /dev/nvidiactl
open g0 /dev/nvidia0
client c ctl
device d ctl \$c \$c 0
subdevice s ctl \$c \$d
pidmem ctl \$c \$s $mp
free ctl \$c \$c
S
        "$NVRM" script "$b/p.nvrm" 2>&1 | grep pidmem
        touch "$sync.go"
    fi
    sleep 0.2
done
wait $mp; echo "workload rc $?"
echo "== workload output"; cat "$b/mu.out"
} >"$out/managed.txt" 2>&1
cat "$out/managed.txt"
