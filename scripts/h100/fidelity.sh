#!/bin/sh
# Fidelity check of nvsim against the real driver: runs nvrm read-only
# calls and small allocation sequences (tests/fidelity/sequence.nvrm) on
# the nodes at /dev and records everything under $OUT (or ./fidelity-out).
#
#   on the H100 host:  scripts/h100/fidelity.sh          (nvrm on the PATH or in .fid/)
#   against nvsim:     scripts/vm-run scripts/h100/fidelity.sh
#
# The H100 run's output is committed under tests/fidelity/h100-580.159.04/
# and the nvsim run's under tests/fidelity/nvsim/; the host test
# userspace-tools/nvrm/tests/fidelity.rs compares their statuses and sizes.
set -u
out=${OUT:-./fidelity-out}
mkdir -p "$out"
NVRM=$(command -v nvrm || echo ./.fid/nvrm)
seq=tests/fidelity/sequence.nvrm
[ -f "$seq" ] || seq=/vm/sequence.nvrm
{
    echo "== uname"; uname -a
    echo "== driver"; cat /proc/driver/nvidia/version 2>/dev/null || echo "(no /proc/driver/nvidia)"
    echo "== nodes"; ls -l /dev/nvidia* 2>&1
    echo "== /proc/devices"; grep -i nvidia /proc/devices
} >"$out/env.txt" 2>&1
"$NVRM" info >"$out/info.txt" 2>&1; echo "rc $?" >>"$out/info.txt"
"$NVRM" info -o json >"$out/info.json" 2>&1
"$NVRM" script "$seq" >"$out/sequence.txt" 2>&1; echo "rc $?" >>"$out/sequence.txt"
"$NVRM" alloc 1Mi 1Gi 100Ti >"$out/alloc.txt" 2>&1; echo "rc $?" >>"$out/alloc.txt"
cat "$out"/env.txt "$out"/info.txt "$out"/sequence.txt "$out"/alloc.txt
