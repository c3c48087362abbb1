# fakegpufs (/sys/fs/fakegpu, src/nodefs.c): each context's proxy nodes as
# the vendor numbers them, for NVIDIA user space that checks the device
# number of /dev/nvidiactl (550: docs/abi-550.md).
# - stat shows the vendor's numbers: nvidiactl 195:255, nvidiaN 195:N in
#   the container's numbering, nvidia-uvm the vendor's nvidia-uvm;
# - opening one reaches the context's proxy (its cap, its open files);
# - each carries a number of fakegpufs's own (listed in `devices`, for the
#   device cgroup rule of a container spec) that opens nothing by number;
# - the tree is the module's: root can create, remove or rename nothing;
# - a node kept past its context's end (a container's bind mount) opens
#   with ENODEV, never into a later context, even one that reuses the
#   destroyed context's misc numbers; it holds the module until unmounted,
#   and its release frees the node (KASAN/kmemleak watch).
. /usr/lib/fakegpu/guest-lib.sh
F=/sys/kernel/fakegpu
N=$NODEFS
T=/tmp/nf
cleanup() {
    umount $T/ctl 2>/dev/null || true
    for c in na nb; do [ ! -d $F/contexts/$c ] || echo $c >$F/destroy; done
    grep -q "^fakegpu " /proc/modules || insmod $MODDIR/fakegpu.ko
    mount_nodefs || true
}
trap cleanup EXIT
rm -rf $T; mkdir -p $T
grep -q " $N fakegpu " /proc/mounts || fail "fakegpufs is not mounted at $N"
num() { printf '%d:%d' 0x$(stat -c %t "$1") 0x$(stat -c %T "$1"); }

echo "na gpus=1 mem=256Mi" >$F/create || fail "create na"
assert_eq "$(ls $N | tr '\n' ' ')" "na " "fakegpufs's contexts"
assert_eq "$(ls $N/na | tr '\n' ' ')" "devices nvidia-uvm nvidia0 nvidiactl " "na's nodes"
for n in nvidiactl nvidia0 nvidia-uvm; do
    [ -c $N/na/$n ] || fail "$N/na/$n is not a character device"
done
assert_eq "$(num $N/na/nvidiactl)" "$(num /dev/nvidiactl)" "nvidiactl's number (the vendor's)"
assert_eq "$(num $N/na/nvidiactl)" "195:255" "nvidiactl's number"
# Host GPU 1 is the container's GPU 0.
assert_eq "$(num $N/na/nvidia0)" "195:0" "nvidia0's number (the container's GPU 0)"
assert_eq "$(num $N/na/nvidia-uvm)" "$(num /dev/nvidia-uvm)" "nvidia-uvm's number (the vendor's)"
misc=$(num /dev/fakegpu/na/nvidiactl)
case $misc in 10:*) ;; *) fail "the misc node is not major 10: $misc" ;; esac
echo "na: misc nvidiactl $misc, fakegpufs shows $(num $N/na/nvidiactl); devices: $(tr '\n' ' ' <$N/na/devices)"
fgmajor=$(sed -n 's/^\([0-9]*\) fakegpufs$/\1/p' /proc/devices)
[ -n "$fgmajor" ] || fail "no fakegpufs major in /proc/devices"
assert_eq "$(cut -d' ' -f1 $N/na/devices | tr '\n' ' ')" "nvidiactl nvidia0 nvidia-uvm " "devices lists the nodes"
assert_eq "$(cut -d' ' -f2 $N/na/devices | cut -d: -f1 | sort -u)" "$fgmajor" "devices' major (fakegpufs's)"
assert_eq "$(cut -d' ' -f2 $N/na/devices | sort -u | wc -l)" 3 "one number per node"
ctlnum=$(sed -n 's/^nvidiactl //p' $N/na/devices)
mknod $T/byfsnum c ${ctlnum%:*} ${ctlnum#*:} || fail "mknod"
err=$(cat $T/byfsnum 2>&1) || true
case "$err" in *"No such device or address"*) ;; *) fail "a node made with fakegpufs's number for nvidiactl opened: '$err'" ;; esac

# Opening a fakegpufs node reaches na's proxy.
out=$(nvrm --dev $N/na info -o json 2>&1) || fail "nvrm through fakegpufs: $out"
echo "$out" | grep -q '"total":268435456,' || fail "the cap is not the total through fakegpufs: $out"
exec 3<$N/na/nvidiactl || fail "open through fakegpufs"
assert_eq "$(cat $F/contexts/na/open_files)" 1 "na's open files while fakegpufs's nvidiactl is open"
exec 3<&-

# Only the module changes the tree.
assert_fails mkdir $N/x
assert_fails mkdir $N/na/x
assert_fails touch $N/na/x
assert_fails mknod $N/na/y c 195 255
assert_fails rm -f $N/na/nvidiactl
assert_fails mv $N/na/nvidia0 $N/na/nvidia9
assert_fails rmdir $N/na
assert_fails sh -c "echo x >$N/na/devices"
assert_eq "$(ls $N/na | tr '\n' ' ')" "devices nvidia-uvm nvidia0 nvidiactl " "na's nodes after the attempts"

# A node kept by a bind mount past its context's end.
: >$T/ctl
mount --bind $N/na/nvidiactl $T/ctl || fail "bind mount"
mknod $T/misc c ${misc%:*} ${misc#*:} || fail "mknod"
echo na >$F/destroy || fail "destroy na"
assert_eq "$(ls $N | tr '\n' ' ')" "" "fakegpufs after na's end"
echo "nb gpus=0 mem=128Mi" >$F/create || fail "create nb"
err=$(cat $T/ctl 2>&1) || true
case "$err" in *"No such device"*) ;; *) fail "na's kept node did not open with ENODEV: '$err'" ;; esac
assert_eq "$(cat $F/contexts/nb/open_files)" 0 "nb's open files after opening na's kept node"
nbmisc=$(num /dev/fakegpu/nb/nvidiactl)
if [ "$nbmisc" = "$misc" ]; then
    # The hazard of the misc nodes (named by number), which fakegpufs nodes
    # and the container specs made with them do not have.
    exec 3<$T/misc && echo "note: a node made with na's misc number ($misc) opens nb's nvidiactl ($(cat $F/contexts/nb/open_files) open)"
    exec 3<&-
fi
[ "$(sed -n 's/^nvidiactl //p' $N/nb/devices)" = "$ctlnum" ] && fail "nb's nvidiactl got na's fakegpufs number while na's node is kept"
echo nb >$F/destroy || fail "destroy nb"
# The kept node holds the module (its file system) after fakegpufs's own
# mount is gone.
umount_nodefs || fail "umount fakegpufs"
assert_fails rmmod fakegpu
umount $T/ctl || fail "umount the kept node"
rmmod fakegpu || fail "rmmod fakegpu once nothing holds it"
insmod $MODDIR/fakegpu.ko || fail "insmod fakegpu"
mount_nodefs || fail "mount fakegpufs"
assert_eq "$(ls $N | tr '\n' ' ')" "" "fakegpufs after reload"
echo ok
