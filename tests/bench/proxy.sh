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
# Usage: proxy.sh [ITERS (1000)] [SCHED_SECS (2)] [PARTS (all:
# calls,objects,contexts,sched)]. ITERS is calls per call type and side;
# the scaling rows take ITERS/10 (at least 100; at most 5 s a side each).
set -e
echo "proxy bench: kernel $(uname -r), iters ${1:-1000}, scheduler windows ${2:-2} s"
fgtest bench "${1:-1000}" "${2:-2}" ${3:+--parts "$3"}
