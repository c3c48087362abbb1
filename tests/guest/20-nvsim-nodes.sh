# nvsim registers the nvidia nodes as the real driver does: character
# devices 195:0..N-1 and 195:255, nvidia-uvm on a dynamic major, created
# by devtmpfs with mode 0666; its debugfs is there; it refuses to unload
# while a node is open and unloads cleanly otherwise.
. /usr/lib/fakegpu/guest-lib.sh
grep -q '^nvsim ' /proc/modules || exit 77
for n in nvidiactl nvidia0 nvidia1 nvidia-uvm; do assert_file /dev/$n; done
assert_eq "$(stat -c '%t:%T %a' /dev/nvidiactl)" "c3:ff 666" "nvidiactl number and mode"
assert_eq "$(stat -c '%t:%T' /dev/nvidia0)" "c3:0" "nvidia0"
assert_eq "$(stat -c '%t:%T' /dev/nvidia1)" "c3:1" "nvidia1"
uvm_major=$(awk '$2 == "nvidia-uvm" {print $1}' /proc/devices)
[ -n "$uvm_major" ] || fail "nvidia-uvm not in /proc/devices"
assert_eq "$(printf '%d' 0x$(stat -c %t /dev/nvidia-uvm))" "$uvm_major" "uvm major"
grep -q '^195 nvidia$' /proc/devices || fail "no 195 nvidia in /proc/devices"
grep -q '^195 nvidiactl$' /proc/devices || fail "no 195 nvidiactl"
assert_eq "$(head -1 /sys/kernel/debug/nvsim/gpu0/heap)" "total_bytes 17179869184" "gpu0 heap"
grep -q 'h100-580.159.04' /sys/kernel/debug/nvsim/profile || fail "profile"
dmesg | grep -q 'nvsim 580.159.04 loaded: 2 GPU' || fail "no load line"
# The exported kernel RM API (nvidia_get_rm_ops) passed its load-time self-test.
dmesg | grep -q 'nvsim: kernel RM API self-test passed' || fail "kernel RM API self-test"
grep -q ' nvidia_get_rm_ops' /proc/kallsyms || fail "nvidia_get_rm_ops not exported"
# Unload refused while a node is open (fops.owner pins the module).
umount_nodefs; rmmod fakegpu 2>/dev/null
exec 3</dev/nvidiactl
assert_fails rmmod nvsim
exec 3<&-
rmmod nvsim || fail "rmmod nvsim after close"
assert_no_file /dev/nvidiactl
insmod /lib/modules/fakegpu/nvsim.ko num_gpus=3 vram_mib=1024 || fail "reload with params"
assert_file /dev/nvidia2
assert_eq "$(head -1 /sys/kernel/debug/nvsim/gpu2/heap)" "total_bytes 1073741824"
rmmod nvsim && insmod /lib/modules/fakegpu/nvsim.ko || fail "reload defaults"
insmod /lib/modules/fakegpu/fakegpu.ko && mount_nodefs || fail "reload fakegpu"
