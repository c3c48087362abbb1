// SPDX-License-Identifier: GPL-2.0-only
/*
 * cuda-probe: a tiny CUDA driver-API client for the guest tests
 * (tests/guest/27-*). Linked against NVIDIA's libcuda.so.1; its few
 * declarations are written here from the documented driver API (no NVIDIA
 * header is used). Runs the calls in order and stops at the first failure,
 * printing "<call> <CUresult> <name>": a test asserts how far it got.
 *   cuda-probe [ALLOC_MIB [HOLD_S]]   (default 64 MiB, no hold)
 * HOLD_S: sleep that long holding the allocation (another client can
 * then list this process). Each step is also marked in an nvtrace
 * capture (the recorder's marker ioctl; without the recorder the ioctl
 * on stdin fails harmlessly), so a trace splits into cuInit, cuCtxCreate...
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* nvtrace's marker command (userspace-tools/nvtrace/csrc). */
#define NVTRACE_MARKER_CMD 0x4E565452UL

static void mark(const char *what)
{
	char m[128];

	snprintf(m, sizeof(m), "step:%s", what);
	(void)ioctl(0, NVTRACE_MARKER_CMD, m);
}

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef unsigned long long CUdeviceptr;

CUresult cuInit(unsigned int);
CUresult cuDriverGetVersion(int *);
CUresult cuDeviceGetCount(int *);
CUresult cuDeviceGet(CUdevice *, int);
CUresult cuDeviceGetName(char *, int, CUdevice);
CUresult cuDeviceTotalMem_v2(size_t *, CUdevice);
CUresult cuCtxCreate_v2(CUcontext *, unsigned int, CUdevice);
CUresult cuMemGetInfo_v2(size_t *, size_t *);
CUresult cuMemAlloc_v2(CUdeviceptr *, size_t);
CUresult cuMemFree_v2(CUdeviceptr);
CUresult cuCtxDestroy_v2(CUcontext);
CUresult cuGetErrorName(CUresult, const char **);

static void report(const char *call, CUresult r)
{
	const char *name = "?";

	if (cuGetErrorName(r, &name) != 0)
		name = "?";
	mark(call);
	printf("%s %d %s\n", call, r, name);
	fflush(stdout);
}

#define STEP(call, expr) do { CUresult r_ = (expr); report(call, r_); if (r_) return 1; } while (0)

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 64;
	unsigned int hold = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 0) : 0;
	int v = 0, n = 0, i;
	char name[256];
	size_t total = 0, fr = 0, tot = 0;
	CUdevice d;
	CUcontext c;
	CUdeviceptr p;

	STEP("cuInit", cuInit(0));
	STEP("cuDriverGetVersion", cuDriverGetVersion(&v));
	printf("driver.version %d\n", v);
	STEP("cuDeviceGetCount", cuDeviceGetCount(&n));
	printf("count %d\n", n);
	for (i = 0; i < n; i++) {
		STEP("cuDeviceGet", cuDeviceGet(&d, i));
		STEP("cuDeviceGetName", cuDeviceGetName(name, sizeof(name), d));
		printf("gpu %d name %s\n", i, name);
		STEP("cuDeviceTotalMem", cuDeviceTotalMem_v2(&total, d));
		printf("gpu %d total %zu\n", i, total);
	}
	if (n == 0)
		return 1;
	STEP("cuDeviceGet", cuDeviceGet(&d, 0));
	STEP("cuCtxCreate", cuCtxCreate_v2(&c, 0, d));
	STEP("cuMemGetInfo", cuMemGetInfo_v2(&fr, &tot));
	printf("mem.free %zu\nmem.total %zu\n", fr, tot);
	STEP("cuMemAlloc", cuMemAlloc_v2(&p, mib << 20));
	STEP("cuMemGetInfo", cuMemGetInfo_v2(&fr, &tot));
	printf("mem.free.after %zu\n", fr);
	if (hold) {
		printf("holding %u s\n", hold);
		fflush(stdout);
		sleep(hold);
	}
	STEP("cuMemFree", cuMemFree_v2(p));
	STEP("cuCtxDestroy", cuCtxDestroy_v2(c));
	printf("done\n");
	return 0;
}
