#!/bin/sh
# In the VM: two contexts (A on GPU 0, B on GPU 1, 256 MiB each) and
# fgtest chaos with the given arguments after the two directories, e.g.
#   scripts/vm-run tests/chaos/run.sh 60 3 1 --flips none --ops alloc_vidmem,free,fork
# (to narrow a finding down to the kinds of calls that cause it).
. /usr/lib/fakegpu/guest-lib.sh
F=/sys/kernel/fakegpu
echo "chaosa gpus=0 mem=256M" >$F/create && echo "chaosb gpus=1 mem=256M" >$F/create || fail create
rc=0
fgtest chaos /dev/fakegpu/chaosa /dev/fakegpu/chaosb "$@" || rc=$?
echo chaosa >$F/destroy; echo chaosb >$F/destroy
echo "chaos run: exit $rc"
exit $rc
