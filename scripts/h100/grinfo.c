// SPDX-License-Identifier: GPL-2.0-only
/*
 * grinfo: NV2080_CTRL_CMD_GR_GET_INFO for every index on GPU 0, through raw
 * RM ioctls (layouts from the open headers, written here), printed as
 * "grinfo INDEX VALUE". libcuda's cuInit asks for the whole list through an
 * embedded pointer, which a capture does not record; nvsim answers it with
 * these values (tests/nvsim). Run on the H100: scripts/h100/clients.sh.
 *   grinfo VERSION [COUNT]   (VERSION: the driver's, COUNT: 0x3a)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NVIOC(nr, size) (0xc0000000u | ((unsigned)(size) << 16) | ('F' << 8) | (nr))
struct nvos21 { uint32_t root, parent, new_, cls; uint64_t params; uint32_t size, status; };
struct nvos54 { uint32_t client, object, cmd, flags; uint64_t params; uint32_t size, status; };
struct version { uint32_t cmd, reply; char s[64]; };
struct grinfo { uint32_t n, pad; uint64_t list; uint32_t rflags, rpad; uint64_t route; };

static uint32_t alloc(int fd, uint32_t root, uint32_t parent, uint32_t cls, void *p, uint32_t n)
{
	struct nvos21 a = { root, parent, 0, cls, (uintptr_t)p, n, 0 };

	if (ioctl(fd, NVIOC(0x2b, sizeof(a)), &a) || a.status) {
		fprintf(stderr, "alloc 0x%x: status 0x%x\n", cls, a.status);
		exit(1);
	}
	return a.new_;
}

int main(int argc, char **argv)
{
	uint32_t count = argc > 2 ? strtoul(argv[2], NULL, 0) : 0x3a, i;
	int ctl = open("/dev/nvidiactl", O_RDWR), g0 = open("/dev/nvidia0", O_RDWR);
	struct version v = { 0 };
	uint32_t h = 0, dev[14] = { 0 }, sub = 0, c, d, s;
	uint32_t list[2 * 64] = { 0 };
	struct grinfo gi = { 0 };
	struct nvos54 k;

	if (ctl < 0 || g0 < 0 || argc < 2 || count > 64)
		return 2;
	strncpy(v.s, argv[1], sizeof(v.s) - 1);
	if (ioctl(ctl, NVIOC(0xd2, sizeof(v)), &v))
		return 3;
	c = alloc(ctl, 0, 0, 0x41, &h, 4);
	d = alloc(ctl, c, c, 0x80, dev, sizeof(dev));
	s = alloc(ctl, c, d, 0x2080, &sub, 4);
	for (i = 0; i < count; i++)
		list[2 * i] = i;
	gi.n = count;
	gi.list = (uintptr_t)list;
	k = (struct nvos54){ c, s, 0x20801201, 0, (uintptr_t)&gi, sizeof(gi), 0 };
	if (ioctl(ctl, NVIOC(0x2a, sizeof(k)), &k) || k.status) {
		fprintf(stderr, "GR_GET_INFO: status 0x%x\n", k.status);
		return 4;
	}
	for (i = 0; i < count; i++)
		printf("grinfo 0x%02x %u\n", list[2 * i], list[2 * i + 1]);
	return 0;
}
