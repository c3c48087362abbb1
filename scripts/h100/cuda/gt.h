// SPDX-License-Identifier: GPL-2.0-only
// Ground-truth helper for the capture workloads: a step marker in the nvtrace
// file (the marker ioctl, not forwarded to any driver) plus a JSON line in
// $GT_FILE with what the driver reports: nvidia-smi memory.used (run without
// the preload) and, once CUDA is up, cudaMemGetInfo.
#pragma once
#include <cuda_runtime.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static int gt_nullfd = -1;

static unsigned long long gt_clock(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void gt_mark(const char *text)
{
	if (gt_nullfd < 0)
		gt_nullfd = open("/dev/null", O_RDONLY);
	ioctl(gt_nullfd, 0x4E565452UL, text);
}

static void gt_init(void)
{
	unsetenv("LD_PRELOAD"); // children (nvidia-smi) are not traced
}

static long gt_smi_used_mib(void)
{
	FILE *p = popen("nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits", "r");
	long v = -1;
	if (p) {
		if (fscanf(p, "%ld", &v) != 1)
			v = -1;
		pclose(p);
	}
	return v;
}

// step: a name; requested: bytes requested by the step (0 if none); cuda: whether to call cudaMemGetInfo
static void gt_step(const char *step, unsigned long long requested, int cuda)
{
	char m[256];
	snprintf(m, sizeof m, "gt:%s", step);
	gt_mark(m);
	unsigned long long mono = gt_clock(CLOCK_MONOTONIC), real = gt_clock(CLOCK_REALTIME);
	size_t fr = 0, tot = 0;
	if (cuda)
		cudaMemGetInfo(&fr, &tot);
	long used = gt_smi_used_mib();
	const char *path = getenv("GT_FILE");
	FILE *f = path ? fopen(path, "a") : stderr;
	fprintf(f,
		"{\"pid\":%d,\"step\":\"%s\",\"requested_bytes\":%llu,\"mono_ns\":%llu,\"real_ns\":%llu,"
		"\"smi_used_mib\":%ld,\"cuda_free\":%zu,\"cuda_total\":%zu}\n",
		getpid(), step, requested, mono, real, used, fr, tot);
	if (f != stderr)
		fclose(f);
}

static void gt_do(const char *action)
{
	char m[256];
	snprintf(m, sizeof m, "do:%s", action);
	gt_mark(m);
}
