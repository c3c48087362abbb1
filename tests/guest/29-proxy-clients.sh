# NVIDIA's own 550.163.01 clients (nvidia-smi, NVML; Debian's packages)
# and nvrm (ours, speaking 550's sizes once its version check names the
# branch) through the proxy, in a capped context made as a user makes one
# (fakegpuctl), its nodes bind-mounted at the vendor's paths (with the
# container toolkit's ModifyDeviceFiles: 0: in_container, guest-lib.sh),
# run as an unprivileged user, on nvsim's 550 profile; the same NVIDIA
# clients against nvsim directly first.
#
# What holds today (docs/abi-550.md, "550 clients and device numbers"):
# - nvrm through the proxy lists only the context's GPU (host GPU 1 as GPU
#   0, with that GPU's UUID), total = the cap, used = the context's usage
#   after a known allocation;
# - NVIDIA's 550 user-space driver refuses the proxy's nodes before its
#   first ioctl: it stats /dev/nvidiactl, finds our misc device (10:N), not
#   195:255, and, unable to fix the node (ModifyDeviceFiles: 0, no
#   nvidia-modprobe, no nvidia-caps), fails with NVML_ERROR_OPERATING_SYSTEM
#   ("GPU access blocked by the operating system"). The test asserts that
#   exact refusal and that nothing reached the vendor, so the change that
#   presents vendor device numbers to containers (the next step) has to
#   turn it into the cap assertions nvrm passes below;
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
    [ -d $F/contexts/cl ] || return 0
    kill $(cat $F/contexts/cl/pids) 2>/dev/null
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

# A known allocation held in the context: 256 MiB.
HELD_MIB=256
in_container cl nvrm alloc ${HELD_MIB}Mi --hold 300 >$T/holder 2>&1 &
n=0
until [ "$(cat $C/mem_used_bytes)" -ge $((HELD_MIB << 20)) ]; do
    n=$((n + 1)); [ $n -lt 300 ] || fail "the holder did not allocate: $(cat $T/holder)"; sleep 0.1
done
USED=$(cat $C/mem_used_bytes)
echo "context cl: cap $CAP B, used $USED B (the holder's ${HELD_MIB} MiB)"

# nvrm through the proxy: the context's one GPU, the cap, its usage.
in_container cl nvrm info -o json >$T/nvrm 2>&1 || fail "nvrm info in the container: $(cat $T/nvrm)"
echo "nvrm info: $(cat $T/nvrm)"
grep -q "\"driver_version\":\"$V\"" $T/nvrm || fail "nvrm: driver version"
assert_eq "$(grep -o '"index":' $T/nvrm | wc -l)" 1 "nvrm: one GPU"
grep -q "\"uuid\":\"$uuid1\"" $T/nvrm || fail "nvrm: not host GPU 1's UUID"
grep -q "\"total\":$CAP,\"used\":$USED," $T/nvrm || fail "nvrm: total is not the cap or used not the context's usage"

# NVIDIA's 550 clients through the proxy: refused by their own device check.
opens=$(cat $C/open_files)
rc=0
in_container cl nvidia-smi -L >$T/L 2>&1 || rc=$?
echo "nvidia-smi -L in the container (rc $rc): $(cat $T/L)"
assert_eq "$(cat $T/L)" "Failed to initialize NVML: GPU access blocked by the operating system" "nvidia-smi through the proxy"
in_container cl nvml-probe >$T/nvml 2>&1 || true
echo "nvml-probe in the container: $(head -2 $T/nvml | tr '\n' ' ')"
assert_eq "$(sed -n 's/^init //p' $T/nvml)" 17 "nvmlInit_v2 through the proxy (NVML_ERROR_OPERATING_SYSTEM)"
assert_eq "$(cat $C/open_files)" "$opens" "files the refused clients left open"
assert_eq "$(cat $C/mem_used_bytes)" "$USED" "usage after the refused clients"

# Every call was routed by a rule.
assert_eq "$(cat $C/unrouted)" "" "calls the clients made that no rule routes"
stop_all
assert_eq "$(cat $C/mem_used_bytes)" 0 "usage after the holder exited"
fakegpuctl delete cl >/dev/null || fail "delete"
echo ok
