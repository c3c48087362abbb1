#!/bin/bash
# Build the preload libraries and the CUDA workloads on the device machine.
# usage: scripts/h100/build.sh BINDIR      (run from the repository root)
set -eu
B=${1:?bindir}
mkdir -p "$B"
S=userspace-tools/nvtrace/csrc
gcc -O2 -Wall -shared -fPIC -o "$B/nvtrace.so" $S/nvtrace_preload.c -ldl -lpthread
gcc -O2 -Wall -shared -fPIC -o "$B/nvlever.so" $S/nvlever_preload.c -ldl -lpthread
C=scripts/h100/cuda
pids=()
for w in leverwork cap_init cap_vmm cap_managed cap_alloc cap_ipc; do
	extra=""
	case $w in cap_vmm|cap_ipc) extra="-lcuda";; esac
	nvcc -O2 -arch=sm_90 -o "$B/$w" $C/$w.cu $extra -ldl &
	pids+=($!)
done
for p in "${pids[@]}"; do wait $p; done
ls -l "$B"
