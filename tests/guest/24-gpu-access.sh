# The RM's GPU-access check (docs/real-driver.md): a device construct and
# UVM_REGISTER_GPU succeed only while the calling process holds an open
# GPU file of that GPU. tests/fidelity/gpu-access.nvrm, run on the H100
# and on the H200 (driver 580.159.04) as root and as uid 65534, answered
# tests/fidelity/h100-580.159.04/gpu-access-root.txt (the same as nobody,
# and the same on the H200: h200-580.159.04/).
# The same sequence must get the same status on every line from nvsim
# directly and through a proxy context, as root and as nobody: through the
# proxy the caller holds only proxy files, and the proxy lends the vendor's
# GPU file for the call's duration exactly when the caller holds one of
# the context's GPU files.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
FID=/usr/lib/fakegpu/fidelity
statuses() { grep -- ' -> ' "$1" | sed 's/\r$//'; }
statuses $FID/h100-gpu-access-root.txt >/tmp/ga.expected
[ "$(wc -l </tmp/ga.expected)" -ge 20 ] || fail "the H100 capture has too few lines"
statuses $FID/h200-gpu-access-root.txt | diff /tmp/ga.expected - || fail "the H100 and H200 captures differ"
grep -q '^device d0 ctl \$c \$c 0 -> NV_ERR_INSUFFICIENT_PERMISSIONS$' /tmp/ga.expected || fail "capture lacks the refusal"
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu$1/heap; }
base=$(heap_used 0)
echo "ga gpus=0 mem=1G" >$F/create || fail create
run_as() {   # run_as LABEL DIR UID
    sed "s#/dev/nvidia#$2/nvidia#g" $FID/gpu-access.nvrm >/tmp/ga.nvrm
    if [ -n "$3" ]; then { echo "drop-uid $3"; cat /tmp/ga.nvrm; } >/tmp/ga2.nvrm; mv /tmp/ga2.nvrm /tmp/ga.nvrm; fi
    nvrm script /tmp/ga.nvrm >/tmp/ga.out 2>&1 || { cat /tmp/ga.out; fail "$1: script failed"; }
    statuses /tmp/ga.out | sed "s#$2/nvidia#/dev/nvidia#g" >/tmp/ga.got
    if ! diff /tmp/ga.expected /tmp/ga.got; then
        fail "$1: statuses differ from the H100's (- H100, + here)"
    fi
    echo "$1: $(wc -l </tmp/ga.got) calls as on the H100 and H200"
}
run_as "nvsim, root" /dev ""
run_as "nvsim, nobody" /dev 65534
run_as "proxy, root" /dev/fakegpu/ga ""
run_as "proxy, nobody" /dev/fakegpu/ga 65534
dmesg | grep -q "lent GPU file" && fail "a lent file's number changed"
assert_eq "$(cat $F/contexts/ga/mem_used_bytes)" "0" "ledger after the runs"
assert_eq "$(cat $F/contexts/ga/open_files)" "0" "open files after the runs"
echo ga >$F/destroy
assert_eq "$(heap_used 0)" "$base" "nvsim heap after the runs"
