# GPU health (issue 18, part 4): nvsim's debugfs knob makes the driver's
# Xid report (`NVRM: Xid (PCI:0000:11:00): 79, ...` in the kernel log, as
# nvidia.ko prints it); the DRA driver (fake API server), the device plugin
# (fake kubelet) and the exporter read /dev/kmsg. An application's Xid (13)
# changes nothing; a fatal one (79) on GPU 1 taints gpu-1 in the published
# ResourceSlice (gpu.fakegpu.io/xid=79:NoSchedule), makes GPU 1's devices
# Unhealthy in ListAndWatch, sets fakegpu_gpu_healthy{gpu="1"} to 0, and
# logs a Kubernetes-style event line in both plugins; GPU 0 stays as it
# was. nvsim's recover knob (Xid 154: recovery action to None) clears all
# four. Last, the exporter's pod labels (part 3) through the device
# plugin's fake kubelet's pod-resources server.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
[ -e /sys/kernel/debug/nvsim/gpu1/xid ] || { echo "nvsim without the xid knob (or one GPU)"; exit 77; }
command -v fakegpu-dra-driver >/dev/null || { echo "fakegpu-dra-driver not on the PATH"; exit 77; }
command -v fakegpu-device-plugin >/dev/null || { echo "fakegpu-device-plugin not on the PATH"; exit 77; }
[ -e /proc/net/unix ] || { echo "no unix sockets in this kernel (CONFIG_NET, CONFIG_UNIX)"; exit 77; }
[ -r /dev/kmsg ] || { echo "no /dev/kmsg"; exit 77; }
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null || { echo "cannot bring loopback up"; exit 77; }
DBG=/sys/kernel/debug/nvsim
W=/tmp/health
rm -rf $W; mkdir -p $W/cdi
REG=$W/plugins_registry PD=$W/plugins/gpu.fakegpu.io NODE=vm-node
SLICE=$W/received
D=$W/device-plugins S=$W/state P=$W/pod-resources/kubelet.sock
R0=fakegpu.io/vgpu-g0 R1=fakegpu.io/vgpu-g1
cat >$W/config.toml <<EOF
cdi_dir = "$W/cdi"

[[profile]]
name = "vgpu-g0"
gpu = 0
mem = "1Gi"
count = 1

[[profile]]
name = "vgpu-g1"
gpu = 1
mem = "1Gi"
count = 1
EOF

api= driver= plugin= kubelet=
logs() { for l in api driver plugin kubelet; do echo "--- $l log"; cat $W/$l.log 2>/dev/null; done; }
cleanup() {
    rc=$?
    set +e
    # Leave the GPUs healthy for what runs next.
    echo 1 >$DBG/gpu1/recover 2>/dev/null
    for c in /sys/kernel/fakegpu/contexts/k8s-*; do [ -d "$c" ] && echo "${c##*/}" >/sys/kernel/fakegpu/destroy; done
    for p in $driver $plugin $kubelet $api; do kill $p 2>/dev/null; done
    wait 2>/dev/null
    [ $rc -eq 0 ] || logs
    exit $rc
}
trap cleanup EXIT
until_ok() {
    n=$(( $1 * 10 )); shift
    while ! "$@" 2>/dev/null; do n=$((n-1)); [ $n -gt 0 ] || fail "timed out: $*"; sleep 0.1; done
}
T=60
fk() { fakegpu-dra-driver fake-kubelet "$@"; }
kc() { fakegpu-device-plugin fake-kubelet "$@"; }
slice_file() { ls $SLICE/*-ResourceSlice-* 2>/dev/null | tail -1; }
# tainted DEV: whether the last slice received taints device DEV (only)
# with Xid 79 (keys in the API's order: name before taints, effect, key,
# value).
tainted() {
    s=$(slice_file); [ -n "$s" ] || return 1
    [ "$(grep -c '"taints"' "$s")" = 1 ] || return 1
    tr -d ' \n' <"$s" | grep -q "\"name\":\"$1\",\"taints\":\[{\"effect\":\"NoSchedule\",\"key\":\"gpu.fakegpu.io/xid\",\"value\":\"79\"}\]"
}
untainted() { s=$(slice_file); [ -n "$s" ] && ! grep -q '"taints"' "$s"; }
metric() { fakegpuctl metrics --once --pod-resources-socket "" --kmsg /dev/kmsg --hostname $NODE >$W/metrics; }
# metric_is NAME GPU VALUE: the exporter's NAME for GPU has VALUE now.
metric_is() {
    metric || return 1
    grep "^$1{gpu=\"$2\"," $W/metrics | grep -q " $3\$"
}

# The knob: the line as nvidia.ko prints it, for nvsim's GPU 1 (bus 0x11).
assert_eq "$(sed -n 1p $DBG/gpu1/xid)" "pci 0000:11:00" "knob's PCI location"
grep -q "^recovery_action 0x0 (None)$" $DBG/gpu1/xid || fail "fresh state: $(cat $DBG/gpu1/xid)"
assert_fails sh -c "echo nonsense >$DBG/gpu1/xid"

# The DRA driver (publish interval long: a taint must come from the health
# path, not the periodic check) and the device plugin, both reading
# /dev/kmsg, and their fakes.
fakegpu-dra-driver fake-apiserver --record $SLICE --node $NODE --url-file $W/url >$W/api.log 2>&1 &
api=$!
until_ok $T test -s $W/url
URL=$(cat $W/url)
fakegpu-dra-driver --node-name $NODE --apiserver "$URL" --registry-dir $REG --plugin-dir $PD \
    --state-dir $W/dra-state --cdi-dir $W/cdi --publish-interval 600 --kmsg /dev/kmsg >$W/driver.log 2>&1 &
driver=$!
fk register --registry-dir $REG --timeout $T >/dev/null || fail "registration"
until_ok $T slice_file
until_ok $T untainted
fakegpu-device-plugin --config $W/config.toml --kubelet-dir $D --pod-resources-socket $P \
    --health-interval 0.2 --watch-interval 0.2 --no-free --kmsg /dev/kmsg >$W/plugin.log 2>&1 &
plugin=$!
until_ok $T test -S $D/fakegpu-vgpu-g0.sock
fakegpu-device-plugin fake-kubelet serve --dir $D --state $S --pod-resources $P >$W/kubelet.log 2>&1 &
kubelet=$!
kc wait-registered --timeout $T --state $S --resource $R1 || fail "$R1 did not register"
kc wait-devices --timeout $T --state $S --resource $R0 --health Healthy
kc wait-devices --timeout $T --state $S --resource $R1 --health Healthy
metric_is fakegpu_gpu_healthy 1 1 || fail "GPU 1 not healthy at start: $(cat $W/metrics)"
grep -q '^DCGM_FI_DEV_FB_TOTAL{gpu="0",UUID="GPU-[0-9a-f-]*",pci_bus_id="00000000:10:00.0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="vm-node",namespace="",pod="",container=""} 16384$' $W/metrics \
    || fail "DCGM series for nvsim's GPU 0: $(grep DCGM_FI_DEV_FB_TOTAL $W/metrics)"
n_slices=$(ls $SLICE | grep -c ResourceSlice)

# An application's Xid: in the log, counted, nothing else.
echo 13 >$DBG/gpu1/xid
dmesg | grep -q "NVRM: Xid (PCI:0000:11:00): 13, pid='<unknown>', name=<unknown>, Graphics SM Warp Exception" \
    || fail "no Xid 13 line: $(dmesg | grep NVRM | tail -3)"
until_ok $T metric_is fakegpu_gpu_xid_total 1 1
sleep 1
metric_is fakegpu_gpu_healthy 1 1 || fail "Xid 13 made GPU 1 unhealthy: $(cat $W/metrics)"
assert_eq "$(kc devices --state $S --resource $R1 | tr '\n' ' ')" "vgpu-g1-0 Healthy " "devices after Xid 13"
assert_eq "$(ls $SLICE | grep -c ResourceSlice)" "$n_slices" "slice re-published after an application Xid"
untainted || fail "tainted after Xid 13: $(cat $(slice_file))"

# GPU 1 falls off the bus.
echo 79 >$DBG/gpu1/xid
dmesg | grep NVRM | tail -4 >$W/dmesg79
echo "--- the kernel log:"; cat $W/dmesg79
grep -q "NVRM: Xid (PCI:0000:11:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.$" $W/dmesg79 || fail "no Xid 79 line"
grep -q "NVRM: GPU 0000:11:00.0: GPU has fallen off the bus.$" $W/dmesg79 || fail "no fallen-off line"
grep -q "NVRM: Xid (PCI:0000:11:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)$" $W/dmesg79 || fail "no Xid 154 line"
grep -q "^recovery_action 0x1 (GPU Reset Required)$" $DBG/gpu1/xid || fail "knob state: $(cat $DBG/gpu1/xid)"
# 1. The taint, on gpu-1 only.
until_ok $T tainted gpu-1
echo "--- the ResourceSlice with the taint:"; cat $(slice_file)
# 2. ListAndWatch: GPU 1's device Unhealthy, GPU 0's Healthy.
kc wait-devices --timeout $T --state $S --resource $R1 --health Unhealthy
assert_eq "$(kc devices --state $S --resource $R0 | tr '\n' ' ')" "vgpu-g0-0 Healthy " "GPU 0's devices"
# 3. The metric.
metric_is fakegpu_gpu_healthy 1 0 || fail "metric: $(grep -i 'healthy\|xid' $W/metrics)"
metric_is fakegpu_gpu_healthy 0 1 || fail "GPU 0's metric: $(grep healthy $W/metrics)"
grep -q '^fakegpu_gpu_xid_total{gpu="1",UUID="GPU-[0-9a-f-]*",pci_bus_id="00000000:11:00.0",xid="79"} 1$' $W/metrics || fail "xid counter: $(grep xid_total $W/metrics)"
grep -q '^DCGM_FI_DEV_XID_ERRORS{gpu="1",.*} 154$' $W/metrics || fail "DCGM last Xid: $(grep XID_ERRORS $W/metrics)"
echo "--- the exporter's health series:"; grep 'healthy\|xid\|XID' $W/metrics
# 4. The event lines.
until_ok $T grep -q 'event type=Warning reason=XidCriticalError object=resourceslice/vm-node-gpu-fakegpu-io message="GPU at PCI 0000:11:00 is unhealthy: Xid 79' $W/driver.log
until_ok $T grep -q 'event type=Warning reason=XidCriticalError object=gpu/1 message="GPU at PCI 0000:11:00 is unhealthy: Xid 79' $W/plugin.log
grep 'event type=' $W/driver.log $W/plugin.log

# Recovery clears all four.
echo 1 >$DBG/gpu1/recover
dmesg | grep -q "NVRM: Xid (PCI:0000:11:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)$" || fail "no recovery line"
until_ok $T untainted
kc wait-devices --timeout $T --state $S --resource $R1 --health Healthy
metric_is fakegpu_gpu_healthy 1 1 || fail "metric after recovery: $(grep healthy $W/metrics)"
until_ok $T grep -q 'event type=Normal reason=GPURecovered object=resourceslice/vm-node-gpu-fakegpu-io' $W/driver.log
until_ok $T grep -q 'event type=Normal reason=GPURecovered object=gpu/1' $W/plugin.log

# A driver started after the fact reads the whole log: healthy (79 then
# the recovery), so a restart does not forget or invent a fault.
fakegpu-dra-driver print-slice --node-name $NODE --kmsg /dev/kmsg >$W/print.yaml || fail "print-slice"
grep -q taints $W/print.yaml && fail "print-slice after recovery has a taint: $(cat $W/print.yaml)"
echo 79 >$DBG/gpu1/xid
fakegpu-dra-driver print-slice --node-name $NODE --kmsg /dev/kmsg >$W/print.yaml || fail "print-slice"
grep -q "key: gpu.fakegpu.io/xid" $W/print.yaml || fail "print-slice misses the taint: $(cat $W/print.yaml)"
echo 1 >$DBG/gpu1/recover

# Pod labels (part 3) end to end: the device plugin allocates GPU 0's
# device for pod p1 through the fake kubelet, whose pod-resources server
# (the plugin's own subset of the proto) answers the exporter's List (the
# full podresources/v1 proto): the context's series and GPU 0's DCGM series
# carry the pod; the unused GPU 1's do not.
kc allocate --dir $D --state $S --resource $R0 --pod p1 vgpu-g0-0 >$W/alloc || fail "Allocate: $(cat $W/alloc)"
fakegpuctl metrics --once --pod-resources-socket $P --kmsg "" --hostname $NODE >$W/metrics 2>$W/metrics.err || fail "scrape: $(cat $W/metrics.err)"
grep -q '^fakegpu_pod_resources_up 1$' $W/metrics || fail "pod-resources not up: $(cat $W/metrics.err)"
grep -q '^fakegpu_vgpu_memory_limit_bytes{vgpu="k8s-vgpu-g0-0",gpu="0",UUID="GPU-[0-9a-f-]*",namespace="default",pod="p1",container="c0"} 1073741824$' $W/metrics \
    || fail "context series without its pod: $(grep k8s-vgpu-g0-0 $W/metrics)"
grep -q '^DCGM_FI_DEV_FB_USED{gpu="0",.*,Hostname="vm-node",namespace="default",pod="p1",container="c0"} [0-9]*$' $W/metrics || fail "GPU 0's DCGM series: $(grep FB_USED $W/metrics)"
grep -q '^DCGM_FI_DEV_FB_USED{gpu="1",.*,namespace="",pod="",container=""} [0-9]*$' $W/metrics || fail "GPU 1's DCGM series: $(grep FB_USED $W/metrics)"
echo "--- the exporter with pod labels:"; grep 'k8s-vgpu-g0-0\|^DCGM_FI_DEV_FB' $W/metrics
echo "ok"
