/*
 * Cross-client FIFO_DISABLE_CHANNELS on the real driver: does the RM stop
 * channels of ANOTHER process's client when a control names them from a
 * client of our own? (fakegpu's kernel RM client does exactly that; the
 * device machine cannot load modules, so this user-space client stands in
 * for it: a kernel client has more privilege, not less.)
 *
 * usage: xdisable VERSION HANDLES_FILE DELAY_MS HOLD_MS
 *   HANDLES_FILE: lines "chan CLIENT HANDLE" (written by nvlever.so, NVLEVER_DUMP)
 * Opens /dev/nvidiactl, makes its own client, device 0 and subdevice, waits
 * DELAY_MS, disables the listed channels for HOLD_MS, re-enables them, and
 * prints each step with CLOCK_REALTIME ns and the RM status. Also asks with
 * a client handle that does not exist (the RM's answer, for the record).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static uint64_t rt_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static void put32(unsigned char *b, int off, uint32_t v) { memcpy(b + off, &v, 4); }
static uint32_t get32(const unsigned char *b, int off) { uint32_t v; memcpy(&v, b + off, 4); return v; }

/* NVOS21 (NV_ESC_RM_ALLOC) and NVOS54 (NV_ESC_RM_CONTROL) share a shape:
 * four handles/words, the parameters' pointer at 16, their size at 24, the
 * RM status at 28 (32 bytes). Returns the status (0xffffffff on an ioctl
 * error); `w` gets the words back. */
static uint32_t rm_call(int fd, unsigned long cmd, uint32_t w[4], void *p, uint32_t sz)
{
	unsigned char a[32] = { 0 };
	for (int i = 0; i < 4; i++)
		put32(a, 4 * i, w[i]);
	uint64_t ptr = (uint64_t)(uintptr_t)p;
	memcpy(a + 16, &ptr, 8);
	put32(a, 24, sz);
	if (ioctl(fd, cmd, a) < 0)
		return 0xffffffffu;
	for (int i = 0; i < 4; i++)
		w[i] = get32(a, 4 * i);
	return get32(a, 28);
}

/* RM_ALLOC of class `cls` under `parent`; *h the new handle (0: the RM picks). */
static uint32_t rm_alloc(int fd, uint32_t root, uint32_t parent, uint32_t *h, uint32_t cls, void *p, uint32_t sz)
{
	uint32_t w[4] = { root, parent, *h, cls };
	uint32_t st = rm_call(fd, 0xc020462bUL, w, p, sz);
	*h = w[2];
	return st;
}

/* RM_CONTROL `cmd` on `obj`. */
static uint32_t rm_control(int fd, uint32_t client, uint32_t obj, uint32_t cmd, void *p, uint32_t sz)
{
	uint32_t w[4] = { client, obj, cmd, 0 };
	return rm_call(fd, 0xc020462aUL, w, p, sz);
}

static uint32_t clients[64], handles[64];
static int n;

/* NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS (536 bytes). */
static uint32_t disable(int fd, uint32_t c, uint32_t sub, int dis, const uint32_t *cl)
{
	unsigned char p[536] = { 0 };
	p[0] = (unsigned char)dis;
	put32(p, 4, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		put32(p, 24 + 4 * i, cl[i]);
		put32(p, 280 + 4 * i, handles[i]);
	}
	return rm_control(fd, c, sub, 0x2080110b, p, sizeof p);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: xdisable VERSION HANDLES_FILE DELAY_MS HOLD_MS\n");
		return 2;
	}
	FILE *f = fopen(argv[2], "r");
	if (!f) {
		perror(argv[2]);
		return 2;
	}
	char kind[16];
	while (n < 64 && fscanf(f, "%15s %x %x", kind, &clients[n], &handles[n]) == 3)
		if (!strcmp(kind, "chan"))
			n++;
	fclose(f);
	printf("channels %d", n);
	for (int i = 0; i < n; i++)
		printf(" 0x%x/0x%x", clients[i], handles[i]);
	printf("\n");
	int fd = open("/dev/nvidiactl", O_RDWR);
	if (fd < 0) {
		perror("/dev/nvidiactl");
		return 1;
	}
	unsigned char v[72] = { 0 };
	snprintf((char *)v + 8, 64, "%s", argv[1]);
	int r = ioctl(fd, 0xc04846d2UL, v); /* NV_ESC_CHECK_VERSION_STR, strict */
	printf("version %s rc %d reply %u\n", argv[1], r, get32(v, 4));
	uint32_t client = 0, dev = 0xcaf00001, sub = 0xcaf00002;
	uint32_t st = rm_alloc(fd, 0, 0, &client, 0x41, NULL, 0);
	printf("client 0x%x status 0x%x\n", client, st);
	/* As CUDA does before its device: GPU_GET_PROBED_IDS, GPU_ATTACH_IDS,
	 * then /dev/nvidia0 opened and registered with the ctl fd (REGISTER_FD:
	 * the RM's check that the process may use that GPU). */
	unsigned char ids[384];
	memset(ids, 0xff, sizeof ids);
	st = rm_control(fd, client, client, 0x214, ids, sizeof ids);
	uint32_t gpu = get32(ids, 0);
	unsigned char att[128];
	memset(att, 0xff, sizeof att);
	put32(att, 0, gpu);
	uint32_t st2 = rm_control(fd, client, client, 0x215, att, sizeof att);
	int gfd = open("/dev/nvidia0", O_RDWR);
	int ctlfd = fd;
	r = gfd < 0 ? -1 : ioctl(gfd, 0xc00446c9UL, &ctlfd);
	printf("probed gpu 0x%x status 0x%x; attach status 0x%x; nvidia0 fd %d register rc %d\n", gpu, st, st2, gfd, r);
	unsigned char dp[56] = { 0 };
	st = rm_alloc(fd, client, client, &dev, 0x80, dp, sizeof dp);
	printf("device status 0x%x\n", st);
	unsigned char sp[4] = { 0 };
	st = rm_alloc(fd, client, dev, &sub, 0x2080, sp, sizeof sp);
	printf("subdevice status 0x%x\n", st);
	if (st)
		return 1;
	uint32_t bogus[64];
	for (int i = 0; i < 64; i++)
		bogus[i] = 0xbad0000u + (uint32_t)i;
	usleep((useconds_t)atoi(argv[3]) * 1000);
	uint64_t t = rt_ns();
	st = disable(fd, client, sub, 1, bogus);
	printf("disable_unknown_client t %llu status 0x%x\n", (unsigned long long)t, st);
	t = rt_ns();
	st = disable(fd, client, sub, 1, clients);
	printf("disable t %llu status 0x%x us %.1f\n", (unsigned long long)t, st, (rt_ns() - t) / 1e3);
	usleep((useconds_t)atoi(argv[4]) * 1000);
	t = rt_ns();
	st = disable(fd, client, sub, 0, clients);
	printf("enable t %llu status 0x%x us %.1f\n", (unsigned long long)t, st, (rt_ns() - t) / 1e3);
	close(fd);
	return 0;
}
