#!/bin/sh
# Harness self-test, one boot (run by scripts/test through scripts/vm-run
# with the arguments 37 hello "two words"). The kernel log is cut into
# cases by "FAKEGPU-CASE NAME" lines written to /dev/kmsg; scripts/test
# checks each case's part of the log with the same splat pattern
# scripts/qemu-run fails a run on:
#   control  the test-only module loaded with action=none: no splat;
#   warn     a WARN() with a backtrace;
#   uaf      a slab use-after-free (KASAN);
#   leak     an unreferenced allocation, reported by the kmemleak check
#            the VM runs after every script.
# The script prints its arguments and exits with the first one, so the
# host also checks that vm-run passes arguments and returns the status.
mod=/lib/modules/fakegpu/test/fakegpu_splat.ko
case_() { echo "FAKEGPU-CASE $1" >/dev/kmsg; }
case_ control
insmod $mod action=none || exit 99
rmmod fakegpu_splat || exit 98
old_ifs=$IFS; IFS='|'; echo "args: $*"; IFS=$old_ifs
for a in warn uaf leak; do
    case_ $a
    insmod $mod action=$a || exit 97
    rmmod fakegpu_splat || exit 96
done
# The leak is reported by the VM's own kmemleak check after this script
# (qemu/init), so the leak case's part runs to the end of the log.
exit "$1"
