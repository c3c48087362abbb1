#!/bin/sh
# `make bench`: the proxy's cost per call, measured in one run on nvsim:
# direct on the vendor's nodes vs through a context's nodes.
set -e
echo "bench gpus=0" >/sys/kernel/fakegpu/create
fgtest bench /dev /dev/fakegpu/bench ${1:-11}
echo bench >/sys/kernel/fakegpu/destroy
