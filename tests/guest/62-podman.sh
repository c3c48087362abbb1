# fakegpu-timeout: 1200 (podman under TCG: 280 s alone, 550 s on a loaded host)
# A real container runtime: podman and crun (Debian 13's, scripts/stage-podman)
# start containers from the CDI specs the DRA driver writes. The fake
# kubelet prepares two claims on gpu-0 (3 GiB and 5 GiB) through the
# driver (the setup of 56-dra-driver.sh); an image built offline from the
# guest's own static binaries (busybox, fgtest, nvrm; `podman import` of a
# tarball) runs as uid 1000 with `--device fakegpu.io/vgpu=<ctx>`:
# - each container sees exactly its claim's memory as the card (nvrm info:
#   total 3072 / 5120 MiB) and only its GPU (GPU 0; nvsim has two);
# - both run at the same time, each allocates until its cap refuses (3 and
#   5 GiB granted), and each one's ledger in sysfs is the other's business
#   only: A's does not move while B allocates, B's not while A holds;
# - B's exit (`--rm`) and `podman rm -f` of A (still holding its memory)
#   release everything: mem_used_bytes and open_files back to 0, then
#   Unprepare destroys both contexts and their CDI specs.
# podman runs with the explicit configuration of /etc/containers (cgroupfs,
# crun, vfs, events to a file, no pivot_root): no systemd, no dbus, and
# --network none. docs/podman.md.
. /usr/lib/fakegpu/guest-lib.sh
command -v podman >/dev/null || { echo "podman is not in this image (built with FAKEGPU_NO_PODMAN=1)"; exit 77; }
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
command -v fakegpu-dra-driver >/dev/null || { echo "fakegpu-dra-driver not on the PATH"; exit 77; }
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null || fail "cannot bring loopback up"
F=/sys/kernel/fakegpu
W=/tmp/podman-test
CDI=/var/run/cdi
rm -rf $W; mkdir -p $W/sync $CDI
REG=$W/plugins_registry PD=$W/plugins/gpu.fakegpu.io NODE=vm-node NS=team-a
EP=$PD/dra.sock
IMG=localhost/fakegpu-tools:test
CUID=1000

# cgroup v2, which podman and crun need on /sys/fs/cgroup (the VM's init
# mounts none); unmounted again at the end.
cg_mounted=
if ! grep -q '^[^ ]* /sys/fs/cgroup cgroup2 ' /proc/mounts; then
    mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
    cg_mounted=1
fi
# /dev/shm, as a distribution's init mounts it (the VM's does not).
shm_mounted=
if ! grep -q '^[^ ]* /dev/shm ' /proc/mounts; then
    mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 shm /dev/shm || fail "mount /dev/shm"
    shm_mounted=1
fi

api= driver= bpid=
logs() {
    for l in api driver; do echo "--- $l log"; cat $W/$l.log 2>/dev/null; done
    for f in $W/podman-*.out; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
    echo "--- podman ps -a"; podman ps -a 2>&1
    [ -f /run/libpod/events.log ] && { echo "--- podman events"; tail -40 /run/libpod/events.log; }
}
cleanup() {
    rc=$?
    set +e
    [ $rc -eq 0 ] || logs
    [ -n "$bpid" ] && kill $bpid 2>/dev/null
    # (each podman call costs seconds in the TCG VM: only after a failure)
    [ $rc -eq 0 ] || podman rm -af -t 0 >/dev/null 2>&1
    [ -n "$driver" ] && kill $driver 2>/dev/null
    [ -n "$api" ] && kill $api 2>/dev/null
    wait 2>/dev/null
    for c in $F/contexts/dra-*; do [ -d "$c" ] && echo "${c##*/}" >$F/destroy; done
    # What podman made in cgroupfs (libpod_parent/...), deepest first.
    [ -d /sys/fs/cgroup/libpod_parent ] && find /sys/fs/cgroup/libpod_parent -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -n "$cg_mounted" ] && umount /sys/fs/cgroup
    [ -n "$shm_mounted" ] && umount /dev/shm
    rm -rf /var/lib/containers/storage /run/containers /run/libpod /run/netns $CDI $W
    exit $rc
}
trap cleanup EXIT
until_ok() {
    n=$(( $1 * 10 )); shift
    while ! "$@" 2>/dev/null; do n=$((n-1)); [ $n -gt 0 ] || fail "timed out: $*"; sleep 0.1; done
}
T=120
fk() { fakegpu-dra-driver fake-kubelet "$@"; }
ctx() { echo "dra-$(echo "$1" | tr -d - | tail -c 29)"; }
used() { cat $F/contexts/$1/mem_used_bytes; }
files() { cat $F/contexts/$1/open_files; }
is_used() { [ "$(used $1)" = "$2" ]; }
is_files() { [ "$(files $1)" = "$2" ]; }
t_start=$(date +%s)
# step WHAT: prints WHAT with the seconds since the start (the VM is slow).
step() { echo "[+$(( $(date +%s) - t_start ))s] $*"; }
step "$(paste -sd' ' /usr/lib/fakegpu/podman-version)"

# --- the DRA driver, as in 56-dra-driver.sh, writing CDI specs where
# podman looks for them (/var/run/cdi, containers.conf's cdi_spec_dirs).
fakegpu-dra-driver fake-apiserver --record $W/received --node $NODE --url-file $W/url >$W/api.log 2>&1 &
api=$!
until_ok 60 test -s $W/url
URL=$(cat $W/url)
fakegpu-dra-driver --node-name $NODE --apiserver "$URL" --registry-dir $REG --plugin-dir $PD \
    --state-dir $W/state --cdi-dir $CDI --publish-interval 0.5 >>$W/driver.log 2>&1 &
driver=$!
EP_GOT=$(fk register --registry-dir $REG --timeout 60) || fail "registration"
assert_eq "$EP_GOT" "$EP" "endpoint"
prepare() { # NAME MEMORY COMPUTE: allocates and prepares a claim on gpu-0; prints its UID
    u=$(fk allocate --apiserver "$URL" --namespace $NS --name $1 --node $NODE --device gpu-0 --memory $2 --compute $3) || fail "allocate $1"
    fk prepare --endpoint $EP --namespace $NS --name $1 --uid $u >$W/prep-$1 || fail "prepare $1: $(cat $W/prep-$1)"
    assert_eq "$(cat $W/prep-$1)" "device $NODE gpu-0 fakegpu.io/vgpu=$(ctx $u)" "prepare $1"
    echo $u
}
UA=$(prepare train-a 3Gi 25)
UB=$(prepare train-b 5Gi 25)
A=$(ctx $UA) B=$(ctx $UB)
assert_eq "$(cat $F/contexts/$A/mem_limit_bytes)" "$(( 3 << 30 ))" "A's cap"
assert_eq "$(cat $F/contexts/$B/mem_limit_bytes)" "$(( 5 << 30 ))" "B's cap"
assert_file $CDI/fakegpu.io-vgpu_$A.json
echo "--- the CDI spec of claim train-a ($CDI/fakegpu.io-vgpu_$A.json):"
cat $CDI/fakegpu.io-vgpu_$A.json; echo

# --- the image: a tarball of a tiny root of the guest's static binaries.
R=$W/rootfs
mkdir -p $R/bin $R/usr/bin $R/dev $R/proc $R/sys $R/tmp $R/etc $R/sync
cp /bin/busybox $R/bin/busybox
for t in sh cat ls grep id stat; do ln -s busybox $R/bin/$t; done
cp /usr/bin/fgtest /usr/bin/nvrm $R/usr/bin/
printf 'root:x:0:0:root:/:/bin/sh\ntenant:x:%s:%s:tenant:/tmp:/bin/sh\n' $CUID $CUID >$R/etc/passwd
printf 'root:x:0:\ntenant:x:%s:\n' $CUID >$R/etc/group
(cd $R && tar cf $W/rootfs.tar .) || fail "tar of the image root"
podman import --change 'ENV PATH=/usr/bin:/bin' $W/rootfs.tar $IMG >$W/podman-import.out 2>&1 || fail "podman import: $(cat $W/podman-import.out)"
step "imported $IMG ($(wc -c <$W/rootfs.tar) bytes of tarball)"

# What each container runs: its view of the GPUs, which nodes it has, who
# it is, then fgtest allocating 1 GiB at a time until the cap refuses,
# holding everything until the host creates /sync/go-NAME.
prog() {
    echo "id; ls /dev | grep nvidia; nvrm info && exec fgtest alloc-race /dev 1 1073741824 /sync/go-$1"
}
prun() { # NAME CTX extra-args...: podman run of the image on CTX's CDI device
    n=$1 c=$2; shift 2
    podman run --network none --device fakegpu.io/vgpu=$c --user $CUID -v $W/sync:/sync \
        --name fg-$n "$@" $IMG sh -c "$(prog $n)"
}

# --- container A: long-running (detached), 3 GiB.
t0=$(date +%s)
prun a $A -d >$W/podman-a.out 2>&1 || fail "podman run A: $(cat $W/podman-a.out)"
until_ok $T is_used $A $(( 3 << 30 ))
step "container A started and holding its cap in $(( $(date +%s) - t0 )) s"
is_used $B 0 || fail "B's ledger moved while A allocated: $(used $B)"
a_logged() { podman logs fg-a >$W/podman-a.log 2>&1; grep -q '^granted=' $W/podman-a.log; }
until_ok 60 a_logged
echo "--- inside container A (claim train-a, 3 GiB):"; cat $W/podman-a.log
grep -q "uid=$CUID" $W/podman-a.log || fail "A does not run as $CUID: $(cat $W/podman-a.log)"
grep -q "total 3072 MiB" $W/podman-a.log || fail "A does not see its 3 GiB: $(cat $W/podman-a.log)"
assert_eq "$(grep -c '^GPU ' $W/podman-a.log)" "1" "GPUs A sees"
grep -q '^GPU 0:' $W/podman-a.log || fail "A does not see GPU 0: $(cat $W/podman-a.log)"
assert_eq "$(grep nvidia $W/podman-a.log | grep -v 'ctl\|uvm' | tr -d ' ')" "nvidia0" "A's GPU nodes"
grep -q '^granted=3 ' $W/podman-a.log || fail "A's allocations: $(cat $W/podman-a.log)"

# --- container B, at the same time: 5 GiB, in the foreground (--rm).
t0=$(date +%s)
prun b $B --rm >$W/podman-b.out 2>&1 &
bpid=$!
until_ok $T is_used $B $(( 5 << 30 ))
step "container B started and holding its cap in $(( $(date +%s) - t0 )) s"
assert_eq "$(used $A)" "$(( 3 << 30 ))" "A's ledger while B allocates"
assert_eq "$(podman ps --format '{{.Names}}' | sort | tr '\n' ' ')" "fg-a fg-b " "running containers"
touch $W/sync/go-b
wait $bpid || fail "podman run B failed: $(cat $W/podman-b.out)"
bpid=
step "container B exited"
echo "--- inside container B (claim train-b, 5 GiB):"; cat $W/podman-b.out
grep -q "total 5120 MiB" $W/podman-b.out || fail "B does not see its 5 GiB: $(cat $W/podman-b.out)"
assert_eq "$(grep -c '^GPU ' $W/podman-b.out)" "1" "GPUs B sees"
grep -q '^granted=5 ' $W/podman-b.out || fail "B's allocations: $(cat $W/podman-b.out)"
grep -q 'refusal 1x: .*NO_MEMORY' $W/podman-b.out || fail "B's refusal: $(cat $W/podman-b.out)"
# B's exit released everything; A is untouched.
until_ok 30 is_used $B 0
until_ok 30 is_files $B 0
assert_eq "$(podman ps -a --format '{{.Names}}')" "fg-a" "containers after B's exit (--rm)"
assert_eq "$(used $A)" "$(( 3 << 30 ))" "A's ledger after B's exit"

# --- podman rm -f of A, still holding its 3 GiB.
[ "$(files $A)" -gt 0 ] || fail "A holds no files before rm -f"
podman rm -f -t 0 fg-a >$W/podman-rm.out 2>&1 || fail "podman rm -f: $(cat $W/podman-rm.out)"
step "podman rm -f of A done"
until_ok 30 is_used $A 0
until_ok 30 is_files $A 0
assert_eq "$(podman ps -a --format '{{.Names}}')" "" "containers after rm -f"
echo "--- after B's exit and rm -f of A:"
for c in $A $B; do echo "$c: mem_used_bytes $(used $c) open_files $(files $c) peak $(cat $F/contexts/$c/mem_peak_bytes 2>/dev/null)"; done

# --- Unprepare: both contexts and their CDI specs go.
for nu in a:$UA b:$UB; do
    n=${nu%%:*} u=${nu#*:}
    fk unprepare --endpoint $EP --namespace $NS --name train-$n --uid $u >$W/unprep-$n || fail "unprepare train-$n: $(cat $W/unprep-$n)"
    assert_eq "$(cat $W/unprep-$n)" "ok" "unprepare train-$n"
done
assert_no_file $F/contexts/$A
assert_no_file $F/contexts/$B
assert_no_file $CDI/fakegpu.io-vgpu_$A.json
assert_no_file $CDI/fakegpu.io-vgpu_$B.json
assert_eq "$(ls $F/contexts | grep -c '^dra-')" "0" "contexts left"
step "podman: two claims' containers (3 and 5 GiB, uid $CUID, --network none), concurrent and isolated, released on exit and rm -f, unprepared ok"
