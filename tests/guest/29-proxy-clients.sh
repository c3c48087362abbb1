# NVIDIA's own 550.163.01 clients (nvidia-smi, NVML; Debian's packages)
# through the proxy, in a capped context made as a user makes one
# (fakegpuctl), its nodes bind-mounted at the vendor's paths, run as an
# unprivileged user, on nvsim's 550 profile; the same clients against
# nvsim directly first, so a difference is the proxy's. Asserted: the
# container lists only its GPU (host GPU 1, with that GPU's UUID), total =
# the cap, used = the context's usage after a known allocation; and every
# call the clients made was routed by a stated rule (the context's
# `unrouted` stays empty: nothing refused for want of a rule).
. /usr/lib/fakegpu/guest-lib.sh
[ -x /usr/bin/nvidia-smi ] || { echo "no NVIDIA user space in the image"; exit 77; }
[ -f $MODDIR/nvsim.ko ] || { echo "nvsim not in the image"; exit 77; }
F=/sys/kernel/fakegpu
restore() {
    [ -n "${holder:-}" ] && kill $holder 2>/dev/null
    wait 2>/dev/null
    unload_modules >/dev/null 2>&1; load_modules
}
trap restore EXIT
unload_modules || fail "could not unload the modules"
insmod $MODDIR/nvsim.ko branch=1 || fail "insmod nvsim branch=1"
insmod $MODDIR/fakegpu.ko || fail "insmod fakegpu"
V=550.163.01
T=/tmp/pc
rm -rf $T; mkdir -p $T
heap() { sed -n "s/^$2 //p" /sys/kernel/debug/nvsim/gpu$1/heap; }
uuid1=$(sed -n 's/^GPU UUID: \t //p' /proc/driver/nvidia/gpus/0000:11:00.0/information)
case "$uuid1" in GPU-*) ;; *) fail "no UUID for host GPU 1: '$uuid1'" ;; esac

# Direct (no proxy), as root on the host: both GPUs, the card's memory.
nvidia-smi -L >$T/direct-L 2>&1 || fail "nvidia-smi -L direct: $(cat $T/direct-L)"
assert_eq "$(grep -c '^GPU [01]: NVIDIA H100 80GB HBM3 (UUID: GPU-' $T/direct-L)" 2 "direct: nvidia-smi -L lists both GPUs"

CAP_MIB=4096
CAP=$((CAP_MIB << 20))
fakegpuctl create cl --gpus 1 --mem ${CAP_MIB}Mi >$T/create 2>&1 || fail "fakegpuctl create: $(cat $T/create)"
C=$F/contexts/cl
assert_eq "$(cat $C/mem_limit_bytes)" $CAP "cap"

# A known allocation held in the context: 256 MiB.
HELD_MIB=256
in_container cl nvrm alloc ${HELD_MIB}Mi --hold 300 >$T/holder 2>&1 &
holder=$!
n=0
until [ "$(cat $C/mem_used_bytes)" -ge $((HELD_MIB << 20)) ]; do
    n=$((n + 1)); [ $n -lt 300 ] || fail "the holder did not allocate: $(cat $T/holder)"; sleep 0.1
done
USED=$(cat $C/mem_used_bytes)
USED_MIB=$((USED >> 20))
echo "context cl: cap $CAP B, used $USED B (the holder's ${HELD_MIB} MiB)"

run() {   # run NAME CMD...: CMD in the container, output in $T/NAME
    name=$1; shift
    rc=0
    in_container cl timeout 120 "$@" >$T/$name 2>&1 || rc=$?
    echo "== $name (rc $rc): $*"
    sed 's/^/   | /' $T/$name
    [ $rc = 0 ] || fail "$name exited $rc"
}

run L nvidia-smi -L
assert_eq "$(grep -c '^GPU ' $T/L)" 1 "nvidia-smi -L: one GPU"
grep -q "^GPU 0: NVIDIA H100 80GB HBM3 (UUID: $uuid1)\$" $T/L || fail "nvidia-smi -L: not host GPU 1 as GPU 0"

run csv nvidia-smi --query-gpu=name,uuid,memory.total,memory.used --format=csv,noheader,nounits
assert_eq "$(grep -c . $T/csv)" 1 "csv: one GPU"
assert_eq "$(cat $T/csv)" "NVIDIA H100 80GB HBM3, $uuid1, $CAP_MIB, $USED_MIB" "csv: name, uuid, total = cap, used = the context's"

run smi nvidia-smi
grep -q "Driver Version: $V" $T/smi || fail "nvidia-smi: driver version"
assert_eq "$(grep -c 'NVIDIA H100 80GB HBM3' $T/smi)" 1 "nvidia-smi: GPU rows"
grep -q " ${USED_MIB}MiB /  *${CAP_MIB}MiB " $T/smi || fail "nvidia-smi: memory is not used / cap"

run q nvidia-smi -q
grep -q "^Attached GPUs *: 1\$" $T/q || fail "nvidia-smi -q: attached GPUs"
grep -q "GPU UUID *: $uuid1\$" $T/q || fail "nvidia-smi -q: UUID"
awk '/FB Memory Usage/ { on = 1 } on && /Total/ { print; exit }' $T/q | grep -q ": $CAP_MIB MiB" ||
    fail "nvidia-smi -q: FB total is not the cap"

run nvml nvml-probe
get() { sed -n "s/^$1 //p" $T/nvml; }
assert_eq "$(get init)" 0 "nvmlInit_v2"
assert_eq "$(get driver)" "$V" "nvmlSystemGetDriverVersion"
assert_eq "$(get count)" 1 "nvmlDeviceGetCount_v2"
assert_eq "$(get 'gpu 0 uuid')" "$uuid1" "nvmlDeviceGetUUID"
for k in mem mem2; do
    assert_eq "$(get "gpu 0 $k.total")" $CAP "gpu 0 $k.total = the cap"
    assert_eq "$(get "gpu 0 $k.used")" $USED "gpu 0 $k.used = the context's usage"
    assert_eq "$(get "gpu 0 $k.free")" $((CAP - USED)) "gpu 0 $k.free = cap - used"
done

# Every call was routed by a rule.
assert_eq "$(cat $C/unrouted)" "" "calls the clients made that no rule routes"
echo "audit: $(cat $C/audit)"
kill $holder; wait $holder 2>/dev/null; holder=
fakegpuctl destroy cl >/dev/null || fail "destroy"
echo ok
