# The module unloads cleanly (its sysfs directory goes away) and loads again.
. /usr/lib/fakegpu/guest-lib.sh
# A mount of fakegpufs holds the module (its file-system type).
grep -q " $NODEFS fakegpu " /proc/mounts || fail "fakegpufs is not mounted at $NODEFS"
assert_fails rmmod fakegpu
umount_nodefs || fail "umount fakegpufs"
rmmod fakegpu || fail "rmmod fakegpu"
assert_no_file /sys/kernel/fakegpu
assert_no_file $NODEFS
grep -q fakegpu /proc/filesystems && fail "fakegpufs is still registered"
dmesg | grep -q 'fakegpu 0.1.0 unloaded' || fail "no unload line"
insmod /lib/modules/fakegpu/fakegpu.ko || fail "insmod after rmmod"
mount_nodefs || fail "mount fakegpufs after reload"
assert_eq "$(cat /sys/kernel/fakegpu/version)" "0.1.0"
# Bad input to a read-only attribute is refused by sysfs.
assert_fails sh -c 'echo 1 > /sys/kernel/fakegpu/version'
