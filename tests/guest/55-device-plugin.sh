# The Kubernetes device plugin against the real module and nvsim, driven by
# a fake kubelet (`fakegpu-device-plugin fake-kubelet`): registration of
# one resource per profile, the device list and its health following the
# module (unloaded: Unhealthy), Allocate creating the context with the
# profile's limits and its CDI spec and answering CDI names and device
# specs (a "container" built from the device specs sees its cap), a kubelet
# restart answered by registering again, and freeing through the
# pod-resources API (a context no pod holds is destroyed once its files are
# closed, its CDI spec removed).
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
command -v fakegpu-device-plugin >/dev/null || { echo "fakegpu-device-plugin not on the PATH"; exit 77; }
# gRPC runs over unix sockets (the kernel needs CONFIG_UNIX).
[ -e /proc/net/unix ] || { echo "no unix sockets in this kernel (CONFIG_NET, CONFIG_UNIX)"; exit 77; }
F=/sys/kernel/fakegpu
W=/tmp/device-plugin
rm -rf $W; mkdir -p $W/cdi
D=$W/device-plugins S=$W/state P=$W/pod-resources/kubelet.sock
R1=fakegpu.io/vgpu-1gi R2=fakegpu.io/vgpu-512mi
cat >$W/config.toml <<EOF
cdi_dir = "$W/cdi"

[[profile]]
name = "vgpu-1gi"
gpu = 0
mem = "1Gi"
count = 2

[[profile]]
name = "vgpu-512mi"
gpu = 1
mem = "512Mi"
count = 1
EOF

plugin= kubelet=
logs() { for l in plugin kubelet; do echo "--- $l log"; cat $W/$l.log 2>/dev/null; done; }
cleanup() {
    rc=$?
    [ -n "$plugin" ] && kill $plugin 2>/dev/null
    [ -n "$kubelet" ] && kill $kubelet 2>/dev/null
    wait 2>/dev/null
    [ $rc -eq 0 ] || logs
    for c in $F/contexts/k8s-*; do [ -d "$c" ] && echo "${c##*/}" >$F/destroy; done
    exit $rc
}
trap cleanup EXIT
# until SECONDS CMD...: waits for CMD to succeed.
until_ok() {
    n=$(( $1 * 10 )); shift
    while ! "$@" 2>/dev/null; do n=$((n-1)); [ $n -gt 0 ] || fail "timed out: $*"; sleep 0.1; done
}
start_kubelet() {
    fakegpu-device-plugin fake-kubelet serve --dir $D --state $S --pod-resources $P >>$W/kubelet.log 2>&1 &
    kubelet=$!
}
kc() { fakegpu-device-plugin fake-kubelet "$@"; }
fk() { kc "$@" --dir $D --state $S; }
# (the TCG guest can be slow when the host is busy: generous time limits)
T=60
no_dir() { [ ! -d "$1" ]; }

# The configuration check.
fakegpu-device-plugin --config $W/config.toml --check-config >$W/check
grep -q "^$R1 gpu=0 mem=1073741824 compute=- devices=2 contexts=k8s-vgpu-1gi-0..k8s-vgpu-1gi-1$" $W/check || fail "check-config: $(cat $W/check)"
printf '[[profile]]\nname = "x"\nmem = "lots"\ncount = 1\n' >$W/bad.toml
assert_fails fakegpu-device-plugin --config $W/bad.toml --check-config

# Plugin first, then the kubelet: it registers once the kubelet is there.
fakegpu-device-plugin --config $W/config.toml --kubelet-dir $D --pod-resources-socket $P \
    --health-interval 0.2 --watch-interval 0.2 --reconcile-interval 0.5 --free-grace 2 >$W/plugin.log 2>&1 &
plugin=$!
until_ok $T test -S $D/fakegpu-vgpu-1gi.sock
start_kubelet
kc wait-registered --timeout $T --state $S --resource $R1 || fail "$R1 did not register"
kc wait-registered --timeout $T --state $S --resource $R2 || fail "$R2 did not register"
assert_eq "$(grep -c . $S/registrations)" "2" "registrations"
kc wait-devices --timeout $T --state $S --resource $R1 --health Healthy
assert_eq "$(kc devices --state $S --resource $R1 | tr '\n' ' ')" "vgpu-1gi-0 Healthy vgpu-1gi-1 Healthy " "device list"
assert_eq "$(kc devices --state $S --resource $R2 | tr '\n' ' ')" "vgpu-512mi-0 Healthy " "device list"
assert_eq "$(kc options --state $S --resource $R1)" "pre_start_required=false get_preferred_allocation_available=true"

# Health: the module unloaded makes every device Unhealthy, loaded again
# Healthy (only while no context holds the module).
if [ -z "$(ls $F/contexts)" ] && umount_nodefs && rmmod fakegpu; then
    kc wait-devices --timeout $T --state $S --resource $R1 --health Unhealthy
    kc wait-devices --timeout $T --state $S --resource $R2 --health Unhealthy
    insmod $MODDIR/fakegpu.ko && mount_nodefs
    kc wait-devices --timeout $T --state $S --resource $R1 --health Healthy
    kc wait-devices --timeout $T --state $S --resource $R2 --health Healthy
else
    echo "note: contexts exist, module unload not tried"
fi

# Allocate: the context with the profile's limits, its CDI spec, the answer.
fk allocate --resource $R1 --pod p1 vgpu-1gi-1 >$W/alloc1 || fail "Allocate vgpu-1gi-1"
C=$F/contexts/k8s-vgpu-1gi-1
assert_file $C
assert_eq "$(cat $C/mem_limit_bytes)" "1073741824" "mem limit"
assert_eq "$(cat $C/gpus)" "0" "gpus"
grep -qx "cdi fakegpu.io/vgpu=k8s-vgpu-1gi-1" $W/alloc1 || fail "no CDI name: $(cat $W/alloc1)"
for n in nvidiactl nvidia0 nvidia-uvm; do
    grep -qx "device /dev/$n /dev/fakegpu/k8s-vgpu-1gi-1/$n rw" $W/alloc1 || fail "no device spec for $n: $(cat $W/alloc1)"
    [ -c /dev/fakegpu/k8s-vgpu-1gi-1/$n ] || fail "host node $n missing"
done
grep -qx "env FAKEGPU_CONTEXT=k8s-vgpu-1gi-1" $W/alloc1 || fail "no env: $(cat $W/alloc1)"
spec=$W/cdi/fakegpu.io-vgpu_k8s-vgpu-1gi-1.json
assert_file $spec
grep -q '"kind": *"fakegpu.io/vgpu"' $spec || fail "CDI kind: $(cat $spec)"
cdi_check_nodes $spec k8s-vgpu-1gi-1 nvidiactl nvidia0 nvidia-uvm

# A "container" made from the device specs (what a runtime without CDI
# does) sees its cap as the card.
unshare -m sh -c '
    while read kind cpath hpath perm; do
        [ "$kind" = device ] && { mount --bind "$hpath" "$cpath" || exit 90; }
    done <'$W/alloc1'
    [ -e /dev/nvidia1 ] && mount --bind /dev/null /dev/nvidia1
    exec fgtest as-uid '$TENANT_UID' nvrm info' >$W/info || fail "nvrm in the container: $(cat $W/info)"
grep -q "total 1024 MiB" $W/info || fail "container does not see its cap: $(cat $W/info)"

# The second profile: GPU 1, 512 MiB; allocated for a pod the kubelet
# never records (so no pod holds it).
fk allocate --resource $R2 vgpu-512mi-0 >$W/alloc2 || fail "Allocate vgpu-512mi-0"
assert_eq "$(cat $F/contexts/k8s-vgpu-512mi-0/mem_limit_bytes)" "536870912"
assert_eq "$(cat $F/contexts/k8s-vgpu-512mi-0/gpus)" "1"
# Refused: two devices for one container, an unknown ID.
assert_fails fk allocate --resource $R1 vgpu-1gi-0 vgpu-1gi-1
assert_fails fk allocate --resource $R1 vgpu-9
assert_no_file $F/contexts/k8s-vgpu-1gi-0

# The kubelet restarts (it removes every socket in its directory): the
# plugin serves again and registers again; the contexts stay.
kill $kubelet; wait $kubelet || true
start_kubelet
kc wait-registered --timeout $T --state $S --resource $R1 --count 2 || fail "$R1 did not register again"
kc wait-registered --timeout $T --state $S --resource $R2 --count 2 || fail "$R2 did not register again"
test -S $D/fakegpu-vgpu-1gi.sock || fail "plugin socket missing after the restart"
assert_file $C
grep -q "removed (kubelet restart)" $W/plugin.log || fail "the plugin did not notice the restart"

# Freeing: vgpu-512mi-0 is held by no pod: destroyed after the grace time,
# its CDI spec removed. vgpu-1gi-1 is held by p1: kept.
until_ok $T no_dir $F/contexts/k8s-vgpu-512mi-0
assert_no_file $W/cdi/fakegpu.io-vgpu_k8s-vgpu-512mi-0.json
assert_file $C
# p1 goes while a process still has the context open: kept until it closes.
exec 3</dev/fakegpu/k8s-vgpu-1gi-1/nvidiactl
fk delete-pod p1
sleep 3
assert_file $C
assert_eq "$(cat $C/open_files)" "1"
exec 3<&-
until_ok $T no_dir $C
assert_no_file $spec
grep -q "freed context k8s-vgpu-1gi-1" $W/plugin.log || fail "no log line for the freeing"

# A re-allocation of a device ID (the kubelet deems it free) replaces the
# context with a fresh one.
fk allocate --resource $R1 --pod p2 vgpu-1gi-0 >/dev/null
echo 2G >$F/contexts/k8s-vgpu-1gi-0/mem_limit_bytes
fk allocate --resource $R1 --pod p3 vgpu-1gi-0 >/dev/null
assert_eq "$(cat $F/contexts/k8s-vgpu-1gi-0/mem_limit_bytes)" "1073741824" "fresh context"

# The plugin stops: its sockets go, the contexts stay with their pods.
kill $plugin; wait $plugin || true; plugin=
assert_no_file $D/fakegpu-vgpu-1gi.sock
assert_file $F/contexts/k8s-vgpu-1gi-0
echo k8s-vgpu-1gi-0 >$F/destroy
echo "device plugin: registration, health, allocate, restart, freeing ok"
