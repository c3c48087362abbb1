#!/bin/sh
# Harness self-test: a clean run (the test-only module loaded with
# action=none, no splat) that prints its arguments and exits with the first
# one, to check that scripts/vm-run passes arguments, returns the status,
# and does not report splats that did not happen.
insmod /lib/modules/fakegpu/test/fakegpu_splat.ko action=none || exit 99
rmmod fakegpu_splat || exit 98
old_ifs=$IFS; IFS='|'; echo "args: $*"; IFS=$old_ifs
exit "$1"
