# NVIDIA's own clients of driver branch 550 (nvidia-smi, NVML, libcuda from
# Debian's 550.163.01 packages; scripts/fetch-nvidia-userspace) directly
# against nvsim's 550 profile (no proxy), with their ioctl traffic recorded
# by nvtrace. EXPLORATORY.
. /usr/lib/fakegpu/guest-lib.sh
[ -x /usr/bin/nvidia-smi ] || { echo "no NVIDIA user space in the image"; exit 77; }
[ -f $MODDIR/nvsim.ko ] || { echo "nvsim not in the image"; exit 77; }
restore() { unload_modules >/dev/null 2>&1; load_modules; }
trap restore EXIT
unload_modules || fail "could not unload the modules"
insmod $MODDIR/nvsim.ko branch=1 || fail "insmod nvsim branch=1"
dmesg | tail -3
echo "== /sys/module/nvsim/version: $(cat /sys/module/nvsim/version)"
for f in /proc/driver/nvidia/version /proc/driver/nvidia/params /proc/driver/nvidia/gpus/*/information /sys/module/nvidia/initstate; do
    echo "== $f"; cat $f
done
grep -E 'nvidia' /proc/devices
ls -la /dev/nvidia*
T=/tmp/tr; mkdir -p $T
run() {
    name=$1; shift
    mkdir -p $T/$name
    echo "== $name: $*"
    rc=0
    NVTRACE_OUT=$T/$name LD_PRELOAD=/usr/lib/fakegpu/libnvtrace.so timeout 120 "$@" >$T/$name.out 2>&1 || rc=$?
    echo "rc $rc"
    cat $T/$name.out
    for b in $T/$name/*.bin; do
        [ -f "$b" ] || continue
        echo "-- nvtrace show $b"
        nvtrace show --hex "$b" 2>&1 | head -2000
    done
}
run smi nvidia-smi
run nvml nvml-probe
run cuda cuda-probe
dmesg | tail -30
for n in smi smiq nvml cuda; do
    for b in $T/$n/*.bin; do
        [ -f "$b" ] || continue
        echo "BEGIN-TRACE $n $(basename $b)"
        gzip -c "$b" | base64
        echo "END-TRACE"
    done
done
fail "exploratory: show the output"
