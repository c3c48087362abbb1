#!/bin/bash
# Does NVML / CUDA work without RM_USER_SHARED_DATA? Runs nvidia-smi and a
# cudaMemGetInfo probe with and without the no_rusd preload, and prints
# what each reports. Run from the repository root on the device machine.
set -u
OUT=${OUT:-/tmp/fakegpu-out}; W=/tmp/rusd; mkdir -p $W $OUT
gcc -O2 -Wall -shared -fPIC -o $W/no_rusd.so scripts/h100/rusd/no_rusd.c -ldl
cat >$W/meminfo.cu <<'CU'
#include <cstdio>
#include <cuda_runtime.h>
int main() {
  size_t f = 0, t = 0; cudaError_t e = cudaMemGetInfo(&f, &t);
  void *p = 0; cudaError_t a = cudaMalloc(&p, 1 << 30);
  size_t f2 = 0, t2 = 0; cudaMemGetInfo(&f2, &t2);
  printf("cudaMemGetInfo %s free %zu total %zu; after 1 GiB cudaMalloc (%s) free %zu\n", cudaGetErrorString(e), f, t, cudaGetErrorString(a), f2);
  return e != cudaSuccess || a != cudaSuccess;
}
CU
nvcc -O2 -o $W/meminfo $W/meminfo.cu
{
for mode in plain no_rusd; do
  echo "=== $mode"
  pre=""; [ $mode = no_rusd ] && pre=$W/no_rusd.so
  LD_PRELOAD=$pre NO_RUSD_VERBOSE=1 nvidia-smi --query-gpu=memory.total,memory.used,memory.free --format=csv; echo "rc $?"
  LD_PRELOAD=$pre NO_RUSD_VERBOSE=1 nvidia-smi -q -d MEMORY | sed -n '/FB Memory Usage/,/BAR1/p'; echo "rc $?"
  LD_PRELOAD=$pre NO_RUSD_VERBOSE=1 $W/meminfo; echo "rc $?"
  LD_PRELOAD=$pre NO_RUSD_VERBOSE=1 python3 -c 'import torch; f,t=torch.cuda.mem_get_info(); x=torch.ones(1<<28, device="cuda"); print("torch mem_get_info", f, t, "sum", float(x.sum()))'; echo "rc $?"
done
} 2>&1 | tee $OUT/rusd.txt
