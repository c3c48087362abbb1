// SPDX-License-Identifier: GPL-2.0-only
/*
 * nvml-probe: a tiny NVML client for the guest tests (tests/guest/27-*).
 * Linked against NVIDIA's libnvidia-ml.so.1; the few declarations it needs
 * are written here from NVML's documented API (no NVIDIA header is used).
 * Prints one "key value" line per fact, so a shell test can assert on them:
 *   init 0 / count N / gpu I name|uuid|mem.total|mem.free|mem.used|
 *   mem2.total|mem2.reserved|mem2.free|mem2.used|procs|util.gpu|util.mem
 * An NVML call that fails prints "<call> err <code> <string>" and the
 * probe goes on with what does not depend on it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
	unsigned int version;
	unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
const char *nvmlErrorString(nvmlReturn_t);
nvmlReturn_t nvmlSystemGetDriverVersion(char *, unsigned int);
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int, nvmlDevice_t *);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t, char *, unsigned int);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t, char *, unsigned int);
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t, nvmlMemory_t *);
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t, nvmlMemory_v2_t *);
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *);
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t, nvmlUtilization_t *);

#define NVML_MEMORY_V2 ((unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)))

/* nvtrace's marker command (userspace-tools/nvtrace/csrc): each call is
 * marked in a capture; without the recorder the ioctl fails harmlessly. */
#define NVTRACE_MARKER_CMD 0x4E565452UL

static int failed(const char *what, nvmlReturn_t r)
{
	char m[128];

	snprintf(m, sizeof(m), "step:%s", what);
	(void)ioctl(0, NVTRACE_MARKER_CMD, m);
	if (r == 0)
		return 0;
	printf("%s err %d %s\n", what, r, nvmlErrorString(r));
	return 1;
}

int main(void)
{
	char buf[256];
	unsigned int n = 0, i;
	nvmlReturn_t r = nvmlInit_v2();

	printf("init %d\n", r);
	if (failed("nvmlInit_v2", r))
		return 1;
	if (!failed("nvmlSystemGetDriverVersion", nvmlSystemGetDriverVersion(buf, sizeof(buf))))
		printf("driver %s\n", buf);
	if (failed("nvmlDeviceGetCount_v2", nvmlDeviceGetCount_v2(&n)))
		return 1;
	printf("count %u\n", n);
	for (i = 0; i < n; i++) {
		nvmlDevice_t d;
		nvmlMemory_t m;
		nvmlMemory_v2_t m2;
		nvmlUtilization_t u;
		nvmlProcessInfo_t p[64];
		unsigned int np = 64;

		if (failed("nvmlDeviceGetHandleByIndex_v2", nvmlDeviceGetHandleByIndex_v2(i, &d)))
			continue;
		if (!failed("nvmlDeviceGetName", nvmlDeviceGetName(d, buf, sizeof(buf))))
			printf("gpu %u name %s\n", i, buf);
		if (!failed("nvmlDeviceGetUUID", nvmlDeviceGetUUID(d, buf, sizeof(buf))))
			printf("gpu %u uuid %s\n", i, buf);
		if (!failed("nvmlDeviceGetMemoryInfo", nvmlDeviceGetMemoryInfo(d, &m)))
			printf("gpu %u mem.total %llu\ngpu %u mem.free %llu\ngpu %u mem.used %llu\n",
			       i, m.total, i, m.free, i, m.used);
		memset(&m2, 0, sizeof(m2));
		m2.version = NVML_MEMORY_V2;
		if (!failed("nvmlDeviceGetMemoryInfo_v2", nvmlDeviceGetMemoryInfo_v2(d, &m2)))
			printf("gpu %u mem2.total %llu\ngpu %u mem2.reserved %llu\n"
			       "gpu %u mem2.free %llu\ngpu %u mem2.used %llu\n",
			       i, m2.total, i, m2.reserved, i, m2.free, i, m2.used);
		if (!failed("nvmlDeviceGetComputeRunningProcesses_v3",
			    nvmlDeviceGetComputeRunningProcesses_v3(d, &np, p))) {
			unsigned int k;

			printf("gpu %u procs %u\n", i, np);
			for (k = 0; k < np; k++)
				printf("gpu %u proc %u %llu\n", i, p[k].pid, p[k].usedGpuMemory);
		}
		if (!failed("nvmlDeviceGetUtilizationRates", nvmlDeviceGetUtilizationRates(d, &u)))
			printf("gpu %u util.gpu %u\ngpu %u util.mem %u\n", i, u.gpu, i, u.memory);
	}
	printf("shutdown %d\n", nvmlShutdown());
	return 0;
}
