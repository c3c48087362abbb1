# NVIDIA's own clients of driver branch 550 (nvidia-smi, NVML, libcuda from
# Debian's 550.163.01 packages, scripts/fetch-nvidia-userspace) directly
# against nvsim's 550 profile (module parameter branch=1), no proxy, with
# their ioctl traffic recorded by nvtrace (LD_PRELOAD). Asserts what works:
# - what nvidia.ko shows user space: /proc/driver/nvidia/{version,params},
#   gpus/<bus>/information, /sys/module/nvidia/initstate, /proc/devices;
# - nvidia-smi (and -q) lists nvsim's two GPUs with nvsim's name and memory total;
# - NVML: count, name, UUID (= /proc's), GetMemoryInfo and _v2 = nvsim's
#   heap (debugfs), driver version;
# - libcuda: cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGetName
#   and cuDeviceTotalMem (= nvsim's heap) succeed; cuCtxCreate is reached
#   (how far it gets: tests/fidelity/nvsim-550-clients/README.md);
# - a 550 client on the 580 profile gets the driver's refusal (the version
#   handshake), not a half-working connection.
# The traces are printed (base64 of gzip) between BEGIN-TRACE/END-TRACE
# lines when FAKEGPU_NV_TRACES=1 is on the kernel command line.
. /usr/lib/fakegpu/guest-lib.sh
[ -x /usr/bin/nvidia-smi ] || { echo "no NVIDIA user space in the image"; exit 77; }
[ -f $MODDIR/nvsim.ko ] || { echo "nvsim not in the image"; exit 77; }
restore() { unload_modules >/dev/null 2>&1; load_modules; }
trap restore EXIT
unload_modules || fail "could not unload the modules"
insmod $MODDIR/nvsim.ko branch=1 || fail "insmod nvsim branch=1"
V=550.163.01
assert_eq "$(cat /sys/module/nvsim/version)" "$V" "module version"

# What the real driver creates for user space.
grep -q "^NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  $V " /proc/driver/nvidia/version ||
    fail "/proc/driver/nvidia/version: $(cat /proc/driver/nvidia/version)"
grep -q '^ModifyDeviceFiles: 1$' /proc/driver/nvidia/params || fail "params lacks ModifyDeviceFiles"
grep -q '^TCEBypassMode: 0$' /proc/driver/nvidia/params || fail "550's params table lacks TCEBypassMode"
grep -q '^ExcludedGpus: ""$' /proc/driver/nvidia/params || fail "params lacks ExcludedGpus"
assert_eq "$(cat /sys/module/nvidia/initstate)" "live" "/sys/module/nvidia/initstate"
for b in 10 11; do
    f=/proc/driver/nvidia/gpus/0000:$b:00.0/information
    assert_file $f
    grep -q "^Model: 		 NVIDIA H100 80GB HBM3$" $f || fail "$f: model"
    grep -q "^Bus Location: 	 0000:$b:00.0$" $f || fail "$f: bus location"
done
uuid0=$(sed -n 's/^GPU UUID: \t //p' /proc/driver/nvidia/gpus/0000:10:00.0/information)
case "$uuid0" in GPU-*) ;; *) fail "no UUID in information: '$uuid0'" ;; esac
grep -q '^195 nvidiactl$' /proc/devices || fail "/proc/devices lacks nvidiactl"
grep -q '^195 nvidia$' /proc/devices || fail "/proc/devices lacks nvidia"

T=/tmp/tr
rm -rf $T; mkdir -p $T
run() {
    name=$1; shift
    mkdir -p $T/$name
    rc=0
    NVTRACE_OUT=$T/$name LD_PRELOAD=/usr/lib/fakegpu/libnvtrace.so timeout 120 "$@" >$T/$name.out 2>&1 || rc=$?
    echo "== $name (rc $rc): $*"
    cat $T/$name.out
    for b in $T/$name/*.bin; do
        [ -f "$b" ] || continue
        nvtrace show "$b" >$T/$name.show 2>&1 || true
        echo "   $(grep -c ' IOCTL ' $T/$name.show) ioctls, $(grep -c 'unknown control' $T/$name.show) with an undecoded control"
    done
    return 0
}
heap() { sed -n "s/^$2 //p" /sys/kernel/debug/nvsim/gpu$1/heap; }

run smi nvidia-smi
[ -s $T/smi.out ] || fail "nvidia-smi printed nothing"
grep -q "Driver Version: $V" $T/smi.out || fail "nvidia-smi: driver version"
assert_eq "$(grep -c 'NVIDIA H100 80GB HBM3' $T/smi.out)" 2 "nvidia-smi GPU rows"
total_mib=$(( $(heap 0 total_bytes) >> 20 ))
assert_eq "$(grep -c " 0MiB /  ${total_mib}MiB " $T/smi.out)" 2 "nvidia-smi memory (used / total = nvsim's heap)"
grep -q 'No running processes found' $T/smi.out || fail "nvidia-smi: process list"

run smiq nvidia-smi -q
assert_eq "$(grep -c '^GPU 00000000:1[01]:00.0$' $T/smiq.out)" 2 "nvidia-smi -q: GPUs"
assert_eq "$(sed -n '/FB Memory Usage/,/Total/p' $T/smiq.out | grep -c "Total *: ${total_mib} MiB")" 2 "nvidia-smi -q: FB total = nvsim's heap"

run nvml nvml-probe
get() { sed -n "s/^$1 //p" $T/nvml.out; }
assert_eq "$(get init)" 0 "nvmlInit_v2"
assert_eq "$(get driver)" "$V" "nvmlSystemGetDriverVersion"
assert_eq "$(get count)" 2 "nvmlDeviceGetCount_v2"
assert_eq "$(get 'gpu 0 uuid')" "$uuid0" "nvmlDeviceGetUUID = /proc's UUID"
for i in 0 1; do
    assert_eq "$(get "gpu $i name")" "NVIDIA H100 80GB HBM3" "gpu $i name"
    for k in mem mem2; do
        assert_eq "$(get "gpu $i $k.total")" "$(heap $i total_bytes)" "gpu $i $k.total = nvsim heap total"
        assert_eq "$(get "gpu $i $k.used")" "$(heap $i used_bytes)" "gpu $i $k.used = nvsim heap used"
        assert_eq "$(get "gpu $i $k.free")" "$(heap $i free_bytes)" "gpu $i $k.free = nvsim heap free"
    done
done

run cuda cuda-probe
cget() { sed -n "s/^$1 //p" $T/cuda.out; }
for c in cuInit cuDriverGetVersion cuDeviceGetCount; do
    assert_eq "$(cget $c)" "0 CUDA_SUCCESS" "libcuda: $c"
done
assert_eq "$(cget driver.version)" 12040 "cuDriverGetVersion: CUDA 12.4 (550)"
assert_eq "$(cget count)" 2 "cuDeviceGetCount: nvsim's GPUs"
for i in 0 1; do
    assert_eq "$(cget "gpu $i name")" "NVIDIA H100 80GB HBM3" "cuDeviceGetName $i"
    assert_eq "$(cget "gpu $i total")" "$(heap $i total_bytes)" "cuDeviceTotalMem $i = nvsim's heap"
done
# cuCtxCreate goes further than nvsim models (tests/fidelity/nvsim-550-
# clients/README.md says where it stops); it must fail cleanly, not hang.
grep -q '^cuCtxCreate ' $T/cuda.out || fail "cuda-probe did not reach cuCtxCreate"

# The version handshake across branches: a 550 client on the 580 driver.
rmmod nvsim || fail "rmmod nvsim"
insmod $MODDIR/nvsim.ko branch=0 || fail "insmod nvsim branch=0"
dmesg -c >/dev/null 2>&1 || true
run mismatch nvidia-smi
dmesg | grep -q 'API mismatch: the client has the version 550.163.01, but this kernel module has the version 580.159.04' ||
    fail "no API mismatch in the kernel log"
grep -q 'NVIDIA H100' $T/mismatch.out && fail "nvidia-smi 550 listed GPUs of the 580 driver"

if grep -q 'FAKEGPU_NV_TRACES=1' /proc/cmdline; then
    for n in smi smiq nvml cuda mismatch; do
        for b in $T/$n/*.bin; do
            [ -f "$b" ] || continue
            echo "BEGIN-TRACE $n"
            gzip -c "$b" | base64
            echo "END-TRACE"
        done
    done
    fail "traces printed (FAKEGPU_NV_TRACES=1)"
fi
