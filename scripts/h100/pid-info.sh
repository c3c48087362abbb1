#!/bin/sh
# GPU_GET_PID_INFO on the real driver (issue 16 §1): runs
# tests/fidelity/pid-info.nvrm as uid 65534 (a tenant's privilege) and
# records it under $OUT (or ./fidelity-out) as pid-info.txt.
#   on the H100 host:  scripts/h100/pid-info.sh   (nvrm on the PATH or in .fid/)
# The H100 run's output is committed under tests/fidelity/h100-580.159.04/.
set -u
out=${OUT:-./fidelity-out}
mkdir -p "$out"
NVRM=$(command -v nvrm || echo ./.fid/nvrm)
seq=tests/fidelity/pid-info.nvrm
tmp=$(mktemp)
{ echo "drop-uid 65534"; cat "$seq"; } >"$tmp"
chmod 644 "$tmp"
"$NVRM" script "$tmp" >"$out/pid-info.txt" 2>&1; echo "rc $?" >>"$out/pid-info.txt"
rm -f "$tmp"
cat "$out/pid-info.txt"
