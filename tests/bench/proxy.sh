#!/bin/sh
# `make bench` part 1: the proxy's own cost, measured on nvsim in one run
# (fgtest bench; userspace-tools/fgtest/src/bench.rs says how): per call
# type, direct on the vendor's nodes vs through a context's nodes (median,
# p99, difference); the same with 10, 1000 and 60 000 objects live in the
# context and with 1, 100 and 1000 contexts open; the scheduler thread's
# CPU time per second with 0-100 idle capped contexts and one busy burner.
# Prints a table and a JSON document between BENCH-JSON-BEGIN and
# BENCH-JSON-END; scripts/bench-report turns a saved run into bench/.
#
# Usage: proxy.sh [ITERS (5000)] [SCHED_SECS (5)] [PARTS (all:
# calls,objects,contexts,sched)]. ITERS is calls per call type and side;
# the scaling rows take ITERS/5 (at most 8 s a side each). About 4 min in
# the TCG VM on the KASAN test kernel at the defaults.
set -e
echo "proxy bench: $(uname -r), iters ${1:-5000}, scheduler windows ${2:-5} s"
fgtest bench "${1:-5000}" "${2:-5}" ${3:+--parts "$3"}
