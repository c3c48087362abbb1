# fakegpu — top-level entry points.
#
#   make            build fakegpu.ko (against KDIR, default: the cached test kernel)
#   make test       build everything and run every test (host, QEMU guest, harness)
#   make demo       boot the demo VM: two containers share GPU 0 (fakegpuctl,
#                   top, a refused over-cap allocation), then power off;
#                   make demo SHELL_AFTER=1 leaves a shell in the VM afterwards
#   make vm-run SCRIPT=path [ARGS="..."]   run a script inside the test VM
#   make fuzz       run the core decoder's fuzz target for longer
#   make fuzz-proxy [FUZZ_PROXY_SECS=600] [FUZZ_PROXY_SEED=N] [FUZZ_PROXY_PROCS=3] [FUZZ_PROXY_FLIPS=all] [FUZZ_PROXY_OPS=all]
#                   the stateful proxy fuzzer (fgtest chaos) in the test VM, as long as asked
#   make bench      on the bench kernel (no KASAN/lockdep/kmemleak/Rust debug assertions):
#                   the proxy's own cost per call (direct vs proxied, on nvsim, in the VM;
#                   writes bench/results.json and bench/results.md) and the compute
#                   scheduler's accuracy (caps, weights, priority, overhead);
#                   make bench BENCH_KERNEL=test runs the same on the test kernel
#   make deb        build/deb/fakegpu-dkms_VERSION-1_all.deb (the module's source for
#                   DKMS, udev rule, modprobe.d) and fakegpu-tools_VERSION-1_amd64.deb
#                   (static fakegpuctl, fakegpu-dra-driver, fakegpu-device-plugin)
#   make clean      remove build outputs (the cache in ~/.cache/fakegpu stays)
#
# KDIR: a Rust-enabled, built kernel tree to build the module against, e.g.
#   make KDIR=/lib/modules/$(uname -r)/build
# Without KDIR the module is built in the cached Debian 13 build root against
# the cached test kernel (both made on first use; needs root for debootstrap).

.PHONY: all modules test demo vm-run fuzz fuzz-proxy bench deb clean kernel toolchain guest

all: modules

modules:
	@scripts/build-modules

toolchain:
	@scripts/bootstrap-toolchain

kernel:
	@scripts/build-kernel

guest:
	@scripts/build-modules --tests && scripts/build-guest

test:
	@scripts/test

demo:
	@SHELL_AFTER=$(SHELL_AFTER) scripts/demo

vm-run:
	@test -n "$(SCRIPT)" || { echo "usage: make vm-run SCRIPT=path [ARGS=...]"; exit 2; }
	@scripts/vm-run $(SCRIPT) $(ARGS)

fuzz:
	@scripts/fuzz $(FUZZ_SECONDS)

FUZZ_PROXY_SECS ?= 600
fuzz-proxy:
	@scripts/fuzz-proxy $(FUZZ_PROXY_SECS) $(or $(FUZZ_PROXY_SEED),$(shell date +%s)) $(or $(FUZZ_PROXY_PROCS),3) $(or $(FUZZ_PROXY_FLIPS),all) $(or $(FUZZ_PROXY_OPS),all)

BENCH_KERNEL ?= bench
bench:
	@FAKEGPU_KERNEL=$(BENCH_KERNEL) scripts/bench $(BENCH_ITERS) $(BENCH_SECS)

deb:
	@scripts/build-deb

clean:
	rm -rf build userspace-tools/target src/core/target src/core/fuzz/target
	for d in src tests/kmod/splat tests/nvsim; do \
	  [ -d $$d ] && (cd $$d && rm -f *.o *.ko *.mod *.mod.c .*.cmd modules.order Module.symvers *.rmeta .*.d); \
	done; true
