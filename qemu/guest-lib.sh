# shellcheck shell=sh
# Helpers shared by the guest's init and tests (busybox sh).

MODDIR=/lib/modules/fakegpu

# Modules loaded at boot, in order. nvsim (the simulated NVIDIA driver) is
# loaded first when the image carries it.
# fakegpu.nvsim_branch=N on the kernel command line loads nvsim speaking
# driver branch N (1: 550.163.01; default 0: 580.159.04).
nvsim_branch() {
    for arg in $(cat /proc/cmdline); do
        case "$arg" in fakegpu.nvsim_branch=*) echo "${arg#fakegpu.nvsim_branch=}"; return ;; esac
    done
    echo 0
}
load_modules() {
    for m in nvsim fakegpu; do
        [ -f $MODDIR/$m.ko ] || continue
        args=""
        [ $m = nvsim ] && args="branch=$(nvsim_branch)"
        insmod $MODDIR/$m.ko $args || { echo "FATAL: insmod $m $args failed"; return 1; }
    done
    mount_nodefs
}

# fakegpufs (the proxy nodes as the vendor numbers them), mounted where
# fakegpuctl mounts it. A mount holds the module: unmount before rmmod.
NODEFS=/sys/fs/fakegpu
mount_nodefs() {
    [ -d $NODEFS ] || return 0
    grep -q " $NODEFS fakegpu " /proc/mounts || mount -t fakegpu fakegpu $NODEFS
}
umount_nodefs() {
    while grep -q " $NODEFS fakegpu " /proc/mounts; do
        umount $NODEFS || { echo "FAIL: umount $NODEFS"; return 1; }
    done
}

unload_modules() {
    ok=0
    # Contexts a failed test left behind would hold the module.
    for c in /sys/kernel/fakegpu/contexts/*; do
        [ -d "$c" ] || continue
        echo "note: destroying leftover context ${c##*/}"
        echo "${c##*/}" >/sys/kernel/fakegpu/destroy || ok=1
    done
    umount_nodefs || ok=1
    for m in fakegpu nvsim; do
        grep -q "^$m " /proc/modules || continue
        rmmod $m || { echo "FAIL: rmmod $m"; ok=1; }
    done
    return $ok
}

# Reports objects kmemleak finds unreferenced since the boot-time `clear`.
check_kmemleak() {
    k=/sys/kernel/debug/kmemleak
    [ -w $k ] || return 0
    # kmemleak reports only objects older than 5 s.
    sleep 6
    echo scan >$k; echo scan >$k
    # debugfs files have no size: read the report out first.
    cat $k >/tmp/kmemleak.txt
    if [ -s /tmp/kmemleak.txt ]; then
        echo "kmemleak: unreferenced objects found:"
        cat /tmp/kmemleak.txt
        return 1
    fi
    return 0
}

# --- assertions for guest tests -------------------------------------------
fail() { echo "assertion failed: $*" >&2; exit 1; }
assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: got '$1', want '$2'"; }
assert_file() { [ -e "$1" ] || fail "missing $1"; }
assert_no_file() { [ ! -e "$1" ] || fail "unexpected $1"; }
# Runs a command that must fail.
assert_fails() { if "$@" 2>/dev/null; then fail "succeeded but should fail: $*"; fi; }

# cdi_check_nodes SPEC CTX NODE...: the CDI spec SPEC maps context CTX's
# nodes. With fakegpufs (fakegpuctl mounts it): a bind mount of
# /sys/fs/fakegpu/CTX/NODE at /dev/NODE, and a device node (the device
# cgroup's rule) at /dev/fakegpu/CTX/NODE with fakegpufs's own number from
# its `devices` file. Without: a device node at /dev/NODE with the misc
# node's number.
cdi_check_nodes() {
    _spec=$1; _c=$2; shift 2
    for _n in "$@"; do
        if [ -e $NODEFS/$_c/nvidiactl ]; then
            _num=$(sed -n "s/^$_n //p" $NODEFS/$_c/devices)
            [ -n "$_num" ] || fail "fakegpufs's devices lacks $_n"
            grep -A5 "\"path\": \"/dev/fakegpu/$_c/$_n\"" $_spec >/tmp/node || fail "CDI: no device node for $_n: $(cat $_spec)"
            grep -q "\"hostPath\": \"$NODEFS/$_c/$_n\"" /tmp/node || fail "CDI: hostPath of $_n: $(cat /tmp/node)"
            grep -q "\"major\": ${_num%:*}," /tmp/node || fail "CDI: major of $_n (want ${_num%:*}): $(cat /tmp/node)"
            grep -q "\"minor\": ${_num#*:}," /tmp/node || fail "CDI: minor of $_n (want ${_num#*:}): $(cat /tmp/node)"
            grep -A1 "\"hostPath\": \"$NODEFS/$_c/$_n\"" $_spec | grep -q "\"containerPath\": \"/dev/$_n\"" ||
                fail "CDI: no bind mount of fakegpufs's $_n at /dev/$_n: $(cat $_spec)"
        else
            grep -A5 "\"path\": \"/dev/$_n\"" $_spec >/tmp/node || fail "CDI: no /dev/$_n in the spec: $(cat $_spec)"
            grep -q "\"hostPath\": \"/dev/fakegpu/$_c/$_n\"" /tmp/node || fail "CDI: hostPath of $_n: $(cat /tmp/node)"
            set -- $(stat -L -c '%t %T' /dev/fakegpu/$_c/$_n)
            grep -q "\"major\": $(printf %d 0x$1)," /tmp/node || fail "CDI: major of $_n: $(cat /tmp/node)"
            grep -q "\"minor\": $(printf %d 0x$2)," /tmp/node || fail "CDI: minor of $_n: $(cat /tmp/node)"
        fi
    done
}

# cdi_binds SPEC: what a CDI runtime puts at the vendor's paths, one
# "HOSTPATH CONTAINERPATH" per line: the spec's bind mounts where it has
# them (fakegpufs's nodes), else its device nodes' host paths at
# /dev/<name> (the misc nodes).
cdi_binds() {
    awk -F'"' '
        /"hostPath":/ { h = $4; next }
        /"containerPath":/ { print h, $4; m = 1; h = ""; next }
        /"path":/ { p = $4 }
        /"permissions":/ { if (h != "") d = d h " " p "\n"; h = "" }
        END { if (!m) printf "%s", d }' "$1"
}

# --- tenants ---------------------------------------------------------------
# A container's processes run unprivileged: every client the tests start
# through the proxy runs as TENANT_UID (default 65534, nobody), as an
# unmodified workload in a container would. TENANT_UID=0 runs it as root
# (the strongest in-container attacker short of CAP_SYS_ADMIN on the host).
TENANT_UID=${TENANT_UID:-65534}
# tenant CMD...: runs CMD as TENANT_UID. (Started in the background, a
# function runs in a subshell and $! is the subshell's; a test that kills
# the client itself writes `fgtest as-uid $TENANT_UID CMD... &` instead:
# fgtest execs CMD, so $! is CMD's pid. As uid 0 it changes nothing.)
tenant() { fgtest as-uid "$TENANT_UID" "$@"; }

# --- "containers" ----------------------------------------------------------
# in_container CTX CMD...: runs CMD in its own mount namespace with CTX's
# nodes bind-mounted at the vendor's paths (/dev/nvidiactl, /dev/nvidiaN
# for each of its GPUs, /dev/nvidia-uvm) and the host's other GPU nodes
# hidden, as a container runtime does, and CMD runs as TENANT_UID (see
# tenant). As the NVIDIA container toolkit's disable-device-node-
# modification hook does, the container's /proc/driver/nvidia/params says
# ModifyDeviceFiles: 0, so NVIDIA's libraries open the nodes they are given
# instead of checking them against major 195 (ours are misc devices) and
# trying to recreate them. Exits 90 if a bind mount fails.
in_container() {
    _c=$1; shift
    unshare -m sh -c '
        c=$1; u=$2; shift 2
        # The nodes as the vendor numbers them when fakegpufs has them
        # (FAKEGPU_MISC_NODES=1: the misc nodes, /dev/fakegpu/CTX/*).
        src=/dev/fakegpu/$c
        [ -z "$FAKEGPU_MISC_NODES" ] && [ -e /sys/fs/fakegpu/$c/nvidiactl ] && src=/sys/fs/fakegpu/$c
        for n in nvidiactl nvidia-uvm; do mount --bind $src/$n /dev/$n || exit 90; done
        if [ -f /proc/driver/nvidia/params ]; then
            p=/tmp/.params-$$
            sed "s/^ModifyDeviceFiles: .*/ModifyDeviceFiles: 0/" /proc/driver/nvidia/params >$p &&
                mount --bind $p /proc/driver/nvidia/params || exit 90
        fi
        for d in /dev/nvidia[0-9]*; do
            n=${d#/dev/}
            if [ -e $src/$n ]; then
                mount --bind $src/$n $d || exit 90
            else
                mount --bind /dev/null $d
            fi
        done
        exec fgtest as-uid "$u" "$@"' sh "$_c" "$TENANT_UID" "$@"
}
