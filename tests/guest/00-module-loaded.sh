# The module is loaded, shows its sysfs directory, logged its load line, and
# its in-kernel KUnit tests of the pure core passed.
. /usr/lib/fakegpu/guest-lib.sh
grep -q '^fakegpu ' /proc/modules || fail "fakegpu not in /proc/modules"
assert_file /sys/kernel/fakegpu/version
assert_eq "$(cat /sys/kernel/fakegpu/version)" "0.1.0" "module version"
assert_eq "$(stat -c %a /sys/kernel/fakegpu/version)" "444" "version mode"
dmesg | grep -q 'fakegpu 0.1.0 loaded' || fail "no load line in dmesg"
# KUnit: the suite ran at load time and every case passed.
dmesg | grep -Eq '^\[[ 0-9.]+\] +ok [0-9]+ fakegpu_core$' || { dmesg | grep -i kunit -A3 | tail -20; fail "KUnit suite fakegpu_core did not pass"; }
dmesg | grep -q 'not ok' && fail "a KUnit case failed"
# The guest tool talks to the module through sysfs.
fakegpuctl version >/tmp/v || fail "fakegpuctl version failed"
grep -qx 'module 0.1.0' /tmp/v || fail "fakegpuctl did not report the module version"
