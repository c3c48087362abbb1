#!/bin/sh
# Harness self-test (run by scripts/test through scripts/vm-run): loads the
# test-only module that misbehaves as asked (warn or uaf). The run must fail.
insmod /lib/modules/fakegpu/test/fakegpu_splat.ko action="$1"
rmmod fakegpu_splat
