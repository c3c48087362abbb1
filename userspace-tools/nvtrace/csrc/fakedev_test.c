// SPDX-License-Identifier: GPL-2.0-only
// Test driver for the recorder: talks to fake NVIDIA nodes (regular files under
// argv[1], matched through NVTRACE_DEV_PREFIX). ioctls on regular files fail
// with ENOTTY, which the recorder must record like any other result.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <pthread.h>

static void *thread_main(void *arg)
{
	int fd = *(int *)arg;
	unsigned char p[16] = { 0 };
	ioctl(fd, 0xc0104629UL, p); /* RM_FREE from another thread */
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	char path[512];
	snprintf(path, sizeof path, "%s/nvidiactl", argv[1]);
	int ctl = open(path, O_RDWR | O_CREAT, 0644);
	if (ctl < 0 || ftruncate(ctl, 65536))
		return 3;
	snprintf(path, sizeof path, "%s/nvidia-uvm", argv[1]);
	int uvm = openat(AT_FDCWD, path, O_RDWR | O_CREAT, 0644);
	snprintf(path, sizeof path, "%s/other", argv[1]);
	int other = open(path, O_RDWR | O_CREAT, 0644);

	ioctl(ctl, 0x4E565452UL, "hello marker");

	/* RM_ALLOC (NVOS21) of class 0x40 with a 128-byte param block, size 0x123000 @64 */
	unsigned char mem[128] = { 0 };
	uint64_t sz = 0x123000;
	memcpy(mem + 64, &sz, 8);
	unsigned char a21[32] = { 0 };
	uint32_t h[4] = { 0xc1d00001, 0xcaf00001, 0xcaf00100, 0x40 };
	memcpy(a21, h, 16);
	uint64_t ptr = (uint64_t)(uintptr_t)mem;
	memcpy(a21 + 16, &ptr, 8);
	uint32_t psz = 128;
	memcpy(a21 + 24, &psz, 4);
	ioctl(ctl, 0xc020462bUL, a21);

	/* RM_CONTROL FB_GET_INFO_V2 (1028 bytes) on a subdevice */
	static unsigned char fb[1028];
	uint32_t one = 1, idx = 0x16;
	memcpy(fb, &one, 4);
	memcpy(fb + 4, &idx, 4);
	unsigned char c54[32] = { 0 };
	uint32_t ch[3] = { 0xc1d00001, 0xcaf00002, 0x20801303 };
	memcpy(c54, ch, 12);
	ptr = (uint64_t)(uintptr_t)fb;
	memcpy(c54 + 16, &ptr, 8);
	psz = sizeof fb;
	memcpy(c54 + 24, &psz, 4);
	ioctl(ctl, 0xc020462aUL, c54);

	/* bad pointer in a control: must be recorded as a fault, not crash */
	ptr = 8;
	memcpy(c54 + 16, &ptr, 8);
	ioctl(ctl, 0xc020462aUL, c54);

	/* UVM_INITIALIZE (plain number, 16 bytes) and an unknown uvm command */
	unsigned char ui[16] = { 0 };
	ioctl(uvm, 0x30000001UL, ui);
	ioctl(uvm, 12345UL, ui);

	/* not traced */
	ioctl(other, 0xc020462aUL, c54);

	pthread_t th;
	pthread_create(&th, NULL, thread_main, &ctl);
	pthread_join(th, NULL);

	void *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, ctl, 0);
	if (m != MAP_FAILED)
		munmap(m, 65536);
	int d = dup(ctl); /* lazily discovered */
	unsigned char fr[16] = { 0 };
	ioctl(d, 0xc0104629UL, fr);
	close(d);
	close(uvm);
	close(ctl);
	close(other);
	return 0;
}
