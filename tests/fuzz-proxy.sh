#!/bin/sh
# In the VM (scripts/vm-run, `make fuzz-proxy`): the stateful fuzzer's
# guest test (tests/guest/53-proxy-chaos.sh) for SECS seconds.
#   fuzz-proxy.sh [SECS [SEED [PROCS [FLIPS [OPS]]]]]
# FLIPS: all, none or CASE,CASE (fgtest chaos --flips; default all);
# OPS: all, KIND,KIND or -KIND,KIND (fgtest chaos --ops; default all).
export CHAOS_SECS=${1:-600} CHAOS_SEED=${2:-$(date +%s)} CHAOS_PROCS=${3:-3} CHAOS_FLIPS=${4:-all} CHAOS_OPS=${5:-all}
sh -e /usr/lib/fakegpu/tests/53-proxy-chaos.sh
rc=$?
echo "fuzz-proxy: ${CHAOS_SECS} s, seed ${CHAOS_SEED}, flips ${CHAOS_FLIPS}: $([ $rc = 0 ] && echo PASS || echo "FAIL (rc $rc)")"
exit $rc
