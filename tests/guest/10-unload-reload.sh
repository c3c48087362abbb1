# The module unloads cleanly (its sysfs directory goes away) and loads again.
. /usr/lib/fakegpu/guest-lib.sh
rmmod fakegpu || fail "rmmod fakegpu"
assert_no_file /sys/kernel/fakegpu
dmesg | grep -q 'fakegpu 0.1.0 unloaded' || fail "no unload line"
insmod /lib/modules/fakegpu/fakegpu.ko || fail "insmod after rmmod"
assert_eq "$(cat /sys/kernel/fakegpu/version)" "0.1.0"
# Bad input to a read-only attribute is refused by sysfs.
assert_fails sh -c 'echo 1 > /sys/kernel/fakegpu/version'
