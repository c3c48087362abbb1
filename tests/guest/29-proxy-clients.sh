# NVIDIA's own 550.163.01 clients (nvidia-smi, NVML; Debian's packages)
# and nvrm (ours, speaking 550's sizes once its version check names the
# branch) through the proxy, in a capped context made as a user makes one
# (fakegpuctl), its nodes bind-mounted at the vendor's paths (with the
# container toolkit's ModifyDeviceFiles: 0: in_container, guest-lib.sh),
# run as an unprivileged user, on nvsim's 550 profile; the same NVIDIA
# clients against nvsim directly first.
#
# Asserted (docs/abi-550.md, "550 clients and device numbers"):
# - nvrm, nvidia-smi (-L, the table, --query-gpu, -q) and NVML through the
#   proxy list only the context's GPU (host GPU 1 as GPU 0, with that
#   GPU's UUID and bus id), total = the cap, used = the context's usage
#   after a known allocation, free = the difference. The nodes are
#   fakegpufs's (/sys/fs/fakegpu): 550's user space stats /dev/nvidiactl
#   and refuses anything but 195:255, which a misc node (10:N) is not;
# - the process list (nvidia-smi's table, NVML) holds the context's
#   holder with its memory, not a process outside the context that uses
#   the same GPU (which NVML run directly lists);
# - libcuda's cuInit, cuDeviceGetCount (1), cuDeviceGetName and
#   cuDeviceTotalMem (= the cap) succeed through the proxy; cuCtxCreate
#   fails as it does directly (nvsim models no further);
# - no call of any client was refused for want of a rule (`unrouted`
#   stays empty); the captures of the same NVIDIA clients against nvsim
#   route completely on the host (replay/tests/clients550.rs).
. /usr/lib/fakegpu/guest-lib.sh
[ -x /usr/bin/nvidia-smi ] || { echo "no NVIDIA user space in the image"; exit 77; }
[ -f $MODDIR/nvsim.ko ] || { echo "nvsim not in the image"; exit 77; }
F=/sys/kernel/fakegpu
# The context's processes (the holder runs under unshare and as-uid: its
# own pid is not $!).
stop_all() {
    for p in $(cat $T/sleep-* 2>/dev/null); do kill $p 2>/dev/null || true; done
    [ -d $F/contexts/cl ] || return 0
    for p in $(cat $F/contexts/cl/pids); do kill $p 2>/dev/null || true; done
    n=0
    while [ -n "$(cat $F/contexts/cl/pids)" ] && [ $n -lt 100 ]; do n=$((n + 1)); sleep 0.1; done
    wait 2>/dev/null || true
}
restore() {
    stop_all
    unload_modules >/dev/null 2>&1; load_modules
}
trap restore EXIT
unload_modules || fail "could not unload the modules"
insmod $MODDIR/nvsim.ko branch=1 || fail "insmod nvsim branch=1"
insmod $MODDIR/fakegpu.ko || fail "insmod fakegpu"
V=550.163.01
T=/tmp/pc
rm -rf $T; mkdir -p $T
uuid1=$(sed -n 's/^GPU UUID: \t //p' /proc/driver/nvidia/gpus/0000:11:00.0/information)
case "$uuid1" in GPU-*) ;; *) fail "no UUID for host GPU 1: '$uuid1'" ;; esac

# Direct (no proxy): both GPUs.
nvidia-smi -L >$T/direct-L 2>&1 || fail "nvidia-smi -L direct: $(cat $T/direct-L)"
assert_eq "$(grep -c '^GPU [01]: NVIDIA H100 80GB HBM3 (UUID: GPU-' $T/direct-L)" 2 "direct: nvidia-smi -L lists both GPUs"

CAP_MIB=4096
CAP=$((CAP_MIB << 20))
fakegpuctl create cl --gpus 1 --mem ${CAP_MIB}Mi >$T/create 2>&1 || fail "fakegpuctl create: $(cat $T/create)"
C=$F/contexts/cl
assert_eq "$(cat $C/mem_limit_bytes)" $CAP "cap"

# A compute process holding a known allocation (256 MiB) in the context:
# a channel with a compute object, as CUDA makes (NVML's process list is
# GET_PIDS of HOPPER_COMPUTE_A). nvrm runs the script as it arrives, so it
# holds everything until its input ends. With its channel's USERD and ring
# (16 KiB, 64 KiB as the RM rounds it) the context holds 256 MiB + 64 KiB,
# which nvidia-smi shows rounded up (USED_MIB).
HELD_MIB=256
holder_script() { # GPU ALLOC_MIB
    cat <<S
open ctl /dev/nvidiactl
open g /dev/nvidia$1
client c ctl
device d ctl \$c \$c $1
subdevice s ctl \$c \$d
alloc m ctl \$c \$d 0x40 size=$2Mi
tsg t ctl \$c \$d
alloc u ctl \$c \$d 0x40 size=16Ki
channel ch ctl \$c \$t \$u
alloc k ctl \$c \$ch 0xcbc0
echo holding
S
    # Its input ends when this sleep is killed (stop_all): nvrm then exits.
    sleep 120 &
    echo $! >$T/sleep-$1
    wait $!
}
holder_script 0 $HELD_MIB | in_container cl nvrm script - >$T/holder 2>&1 &
n=0
until grep -q '^holding' $T/holder; do
    n=$((n + 1)); [ $n -lt 300 ] || fail "the holder did not allocate: $(cat $T/holder)"; sleep 0.1
done
USED=$(cat $C/mem_used_bytes)
echo "context cl: cap $CAP B, used $USED B (the holder's ${HELD_MIB} MiB)"
HOLDER=$(cat $C/pids)
USED_MIB=$(((USED + (1 << 20) - 1) >> 20))
# A process outside the context with memory on the same GPU (host GPU 1):
# the host sees it, the container must not.
holder_script 1 128 | nvrm script - >$T/outsider 2>&1 &
OUTSIDER=$!
n=0
until grep -q '^holding' $T/outsider; do
    n=$((n + 1)); [ $n -lt 300 ] || fail "the outsider did not allocate: $(cat $T/outsider)"; sleep 0.1
done

# nvrm through the proxy: the context's one GPU, the cap, its usage.
in_container cl nvrm info -o json >$T/nvrm 2>&1 || fail "nvrm info in the container: $(cat $T/nvrm)"
echo "nvrm info: $(cat $T/nvrm)"
grep -q "\"driver_version\":\"$V\"" $T/nvrm || fail "nvrm: driver version"
assert_eq "$(grep -o '"index":' $T/nvrm | wc -l)" 1 "nvrm: one GPU"
grep -q "\"uuid\":\"$uuid1\"" $T/nvrm || fail "nvrm: not host GPU 1's UUID"
grep -q "\"total\":$CAP,\"used\":$USED," $T/nvrm || fail "nvrm: total is not the cap or used not the context's usage"

# NVIDIA's 550 clients through the proxy, on fakegpufs's nodes (stat shows
# the vendor's numbers, which 550's user space checks; fakegpuctl create
# mounted it): the context's one GPU, total = the cap, used = its usage.
grep -q " /sys/fs/fakegpu fakegpu " /proc/mounts || fail "fakegpuctl create did not mount fakegpufs"
opens=$(cat $C/open_files)
CAP_ROW=" ${USED_MIB}MiB /   ${CAP_MIB}MiB "
in_container cl nvidia-smi -L >$T/L 2>&1 || fail "nvidia-smi -L in the container: $(cat $T/L)"
echo "nvidia-smi -L in the container: $(cat $T/L)"
assert_eq "$(cat $T/L)" "GPU 0: NVIDIA H100 80GB HBM3 (UUID: $uuid1)" "nvidia-smi -L through the proxy"
in_container cl nvidia-smi >$T/smi 2>&1 || fail "nvidia-smi in the container: $(cat $T/smi)"
cat $T/smi
grep -q "Driver Version: $V" $T/smi || fail "nvidia-smi: driver version"
assert_eq "$(grep -c 'NVIDIA H100 80GB HBM3' $T/smi)" 1 "nvidia-smi: GPU rows (the context's one)"
grep -q "00000000:11:00.0" $T/smi || fail "nvidia-smi: not host GPU 1's bus id"
# The process table: the holder only (its pid, "C"), not the outsider.
grep -q " $HOLDER  *C  " $T/smi || fail "nvidia-smi: the holder is not in the process list"
grep -q " $OUTSIDER  *C  " $T/smi && fail "nvidia-smi in the container lists a process outside the context"
assert_eq "$(grep -c "$CAP_ROW" $T/smi)" 1 "nvidia-smi: memory used / total = the context's usage / the cap"
in_container cl nvidia-smi --query-gpu=name,uuid,memory.total,memory.used --format=csv,noheader >$T/q 2>&1 ||
    fail "nvidia-smi --query-gpu: $(cat $T/q)"
assert_eq "$(cat $T/q)" "NVIDIA H100 80GB HBM3, $uuid1, $CAP_MIB MiB, $USED_MIB MiB" "nvidia-smi --query-gpu"
in_container cl nvidia-smi -q >$T/qq 2>&1 || fail "nvidia-smi -q: $(cat $T/qq)"
assert_eq "$(grep -c '^GPU 00000000:' $T/qq)" 1 "nvidia-smi -q: GPUs"
fb=$(sed -n '/FB Memory Usage/,/Free/p' $T/qq | tr -s ' ' | tr '\n' '|')
echo "nvidia-smi -q FB memory: $fb"
case "$fb" in *"Total : $CAP_MIB MiB"*"Used : $USED_MIB MiB"*) ;; *) fail "nvidia-smi -q: FB memory is not the cap and the usage: $fb" ;; esac
in_container cl nvml-probe >$T/nvml 2>&1 || fail "nvml-probe in the container: $(cat $T/nvml)"
cat $T/nvml
get() { sed -n "s/^$1 //p" $T/nvml; }
assert_eq "$(get init)" 0 "nvmlInit_v2 through the proxy"
assert_eq "$(get driver)" "$V" "nvmlSystemGetDriverVersion"
assert_eq "$(get count)" 1 "nvmlDeviceGetCount_v2: the context's GPUs"
assert_eq "$(get 'gpu 0 uuid')" "$uuid1" "nvmlDeviceGetUUID: host GPU 1's"
# Processes: NVML lists the context's one (the holder, with the memory the
# RM counts for it), not the outsider the host sees on the same GPU.
assert_eq "$(get 'gpu 0 procs')" 1 "nvmlDeviceGetComputeRunningProcesses_v3: the context's processes"
assert_eq "$(get 'gpu 0 proc' | cut -d' ' -f1)" "$HOLDER" "the process listed is the holder"
assert_eq "$(get 'gpu 0 proc' | cut -d' ' -f2)" $USED "the holder's memory (what the context is charged)"
nvml-probe >$T/nvml-direct 2>&1 || fail "nvml-probe directly: $(cat $T/nvml-direct)"
assert_eq "$(sed -n 's/^gpu 1 procs //p' $T/nvml-direct)" 2 "directly, host GPU 1 has the holder and the outsider"
for k in mem mem2; do
    assert_eq "$(get "gpu 0 $k.total")" $CAP "$k.total = the cap"
    assert_eq "$(get "gpu 0 $k.used")" $USED "$k.used = the context's usage"
    assert_eq "$(get "gpu 0 $k.free")" $((CAP - USED)) "$k.free = cap - usage"
done
# libcuda through the proxy: cuInit and the device queries succeed, on the
# context's one GPU, whose memory is the cap; cuCtxCreate then stops where
# it stops directly (nvsim models no further: 27).
in_container cl cuda-probe >$T/cuda 2>&1 || true
cuda-probe >$T/cuda-direct 2>&1 || true
cat $T/cuda
cget() { sed -n "s/^$1 //p" $T/cuda; }
for c in cuInit cuDriverGetVersion cuDeviceGetCount cuDeviceGetName cuDeviceTotalMem; do
    assert_eq "$(cget $c)" "0 CUDA_SUCCESS" "libcuda through the proxy: $c"
done
assert_eq "$(cget count)" 1 "cuDeviceGetCount: the context's GPUs"
assert_eq "$(cget 'gpu 0 name')" "NVIDIA H100 80GB HBM3" "cuDeviceGetName"
assert_eq "$(cget 'gpu 0 total')" $CAP "cuDeviceTotalMem = the cap"
assert_eq "$(grep '^cuCtxCreate ' $T/cuda)" "$(grep '^cuCtxCreate ' $T/cuda-direct)" "cuCtxCreate through the proxy = directly"
# On the misc nodes (10:N) the same NVML stops at its own device check,
# before any ioctl.
FAKEGPU_MISC_NODES=1 in_container cl nvml-probe >$T/nvml-misc 2>&1 || true
assert_eq "$(sed -n 's/^init //p' $T/nvml-misc)" 17 "nvmlInit_v2 on the misc nodes (NVML_ERROR_OPERATING_SYSTEM)"
assert_eq "$(cat $C/open_files)" "$opens" "files the clients left open"
assert_eq "$(cat $C/mem_used_bytes)" "$USED" "usage after the clients"

# Every call was routed by a rule.
assert_eq "$(cat $C/unrouted)" "" "calls the clients made that no rule routes"
stop_all
assert_eq "$(cat $C/mem_used_bytes)" 0 "usage after the holder exited"
fakegpuctl delete cl >/dev/null || fail "delete"
echo ok
