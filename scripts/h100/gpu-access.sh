#!/bin/sh
# The RM's GPU-access check on the real driver (issue 15): runs
# tests/fidelity/gpu-access.nvrm as root and again as uid 65534 (nobody) and
# records both under $OUT (or ./fidelity-out): root.txt, nobody.txt.
#   on the H100 host:  scripts/h100/gpu-access.sh   (nvrm on the PATH or in .fid/)
#   against nvsim:     scripts/vm-run scripts/h100/gpu-access.sh
# The H100 run's output is committed under tests/fidelity/h100-580.159.04/.
set -u
out=${OUT:-./fidelity-out}
mkdir -p "$out"
NVRM=$(command -v nvrm || echo ./.fid/nvrm)
seq=tests/fidelity/gpu-access.nvrm
[ -f "$seq" ] || seq=/vm/gpu-access.nvrm
"$NVRM" script "$seq" >"$out/gpu-access-root.txt" 2>&1; echo "rc $?" >>"$out/gpu-access-root.txt"
tmp=$(mktemp)
{ echo "drop-uid 65534"; cat "$seq"; } >"$tmp"
chmod 644 "$tmp"
"$NVRM" script "$tmp" >"$out/gpu-access-nobody.txt" 2>&1; echo "rc $?" >>"$out/gpu-access-nobody.txt"
rm -f "$tmp"
ls -l /dev/nvidia* >"$out/gpu-access-nodes.txt" 2>&1
cat "$out"/gpu-access-root.txt "$out"/gpu-access-nobody.txt
