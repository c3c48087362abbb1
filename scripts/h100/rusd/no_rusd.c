// SPDX-License-Identifier: GPL-2.0-only
// LD_PRELOAD experiment: does NVML / CUDA need RM_USER_SHARED_DATA (class
// 0xde, the RM-updated page with PMA memory totals)? Every RM_ALLOC of class
// 0xde on /dev/nvidiactl is answered NV_ERR_NOT_SUPPORTED (0x56) without
// reaching the driver; everything else is forwarded. If nvidia-smi and
// cudaMemGetInfo still report memory, they fall back to the controls that
// the proxy rewrites, and the proxy may refuse 0xde in containers.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static int (*real_ioctl)(int, unsigned long, ...);
static int refused;

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!real_ioctl)
		real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	unsigned type = (req >> 8) & 0xff, nr = req & 0xff, size = (req >> 16) & 0x3fff;
	if (type == 'F' && nr == 0x2b && arg) {
		uint32_t cls = ((uint32_t *)arg)[3];
		if (cls == 0xde) {
			unsigned st = size >= 48 ? 40 : 28; // NVOS64 / NVOS21 status offset
			*(uint32_t *)((char *)arg + st) = 0x56; // NV_ERR_NOT_SUPPORTED
			if (!refused++ && getenv("NO_RUSD_VERBOSE"))
				fprintf(stderr, "no_rusd: refused RM_USER_SHARED_DATA alloc\n");
			return 0;
		}
	}
	return real_ioctl(fd, req, arg);
}

__attribute__((destructor)) static void done(void)
{
	if (getenv("NO_RUSD_VERBOSE"))
		fprintf(stderr, "no_rusd: %d RM_USER_SHARED_DATA allocs refused\n", refused);
}
