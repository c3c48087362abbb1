// SPDX-License-Identifier: GPL-2.0-only
/*
 * nvlever_preload.c - LD_PRELOAD experiment harness for the compute levers.
 *
 * Watches a CUDA process's own RM traffic to learn its channel groups (TSGs,
 * class 0xa06c), channels (0xc36f..0xca6f), subdevice (0x2080) and usermode
 * doorbell mappings (class 0xc661: RM_MAP_MEMORY with params.fd, then the mmap
 * of that fd), and applies controls on a plan given in environment variables.
 * Used only for measurements (docs/compute-levers.md); it is not part of the
 * product.
 *
 * Plan (all optional), applied when the workload calls nvlever_apply()
 * (looked up with dlsym) or NVLEVER_APPLY_AT_MS after the first TSG alloc:
 *   NVLEVER_TS_US=n          SET_TIMESLICE(n us) on every TSG, then GET back
 *   NVLEVER_GATE=P,X         duty-cycle gate: doorbell open X ms of every P ms
 *   NVLEVER_EVENTS=t:act;... one-shot actions t ms after apply; act is one of
 *       gate_close gate_open preempt preempt_nowait sched_off sched_on
 *       dis_ch en_ch dis_ch_sched en_ch_sched ch_sched_off ch_sched_on stop_ch
 *   NVLEVER_COST=1           time each control (us) and print a table
 *   NVLEVER_LOG=file         where log lines go (default stderr)
 * A store to a closed doorbell faults; the SIGSEGV handler waits until the
 * gate reopens and returns, so the store is retried (the in-kernel design
 * blocks the fault the same way).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAXOBJ 256

struct obj { int ctl_fd; uint32_t client, handle, parent; };

static struct obj tsgs[MAXOBJ], chans[MAXOBJ], subdevs[MAXOBJ], usermodes[MAXOBJ];
static int ntsg, nchan, nsub, nusr;
static struct { uint64_t addr, len; int prot; } bells[MAXOBJ];
static int nbell;
static unsigned char bell_fd[65536];
static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static FILE *logf;
static volatile int gate_closed;
static volatile long faults;
static volatile long long blocked_ns;
static int applied;

static uint64_t rt_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void lg(const char *fmt, ...)
{
	if (!logf) {
		const char *p = getenv("NVLEVER_LOG");
		logf = p && *p ? fopen(p, "a") : NULL;
		if (!logf)
			logf = stderr;
	}
	va_list ap;
	va_start(ap, fmt);
	fprintf(logf, "nvlever pid=%d t=%llu ", getpid(), (unsigned long long)rt_ns());
	vfprintf(logf, fmt, ap);
	fputc('\n', logf);
	fflush(logf);
	va_end(ap);
}

static void resolve(void)
{
	if (!real_ioctl)
		*(void **)&real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	if (!real_mmap)
		*(void **)&real_mmap = dlsym(RTLD_NEXT, "mmap");
}

static uint32_t rd32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int is_nv(int fd, int *is_ctl)
{
	char lp[64], t[256];
	snprintf(lp, sizeof lp, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(lp, t, sizeof t - 1);
	if (n <= 0)
		return 0;
	t[n] = 0;
	*is_ctl = !strcmp(t, "/dev/nvidiactl");
	return !strncmp(t, "/dev/nvidia", 11);
}

static int is_chan_class(uint32_t c)
{
	return c == 0xc36f || c == 0xc46f || c == 0xc56f || c == 0xc86f || c == 0xc96f || c == 0xca6f;
}

/* RM control through the client's own ctl fd. Returns the RM status (or 0xffffffff on ioctl error). */
static uint32_t rm_control(int ctl_fd, uint32_t client, uint32_t obj, uint32_t cmd, void *params, uint32_t size,
			   double *us)
{
	unsigned char p[32] = { 0 };
	memcpy(p + 0, &client, 4);
	memcpy(p + 4, &obj, 4);
	memcpy(p + 8, &cmd, 4);
	uint64_t ptr = (uint64_t)(uintptr_t)params;
	memcpy(p + 16, &ptr, 8);
	memcpy(p + 24, &size, 4);
	uint64_t t0 = mono_ns();
	int r = real_ioctl(ctl_fd, 0xc020462aUL, p);
	uint64_t t1 = mono_ns();
	if (us)
		*us = (t1 - t0) / 1000.0;
	return r < 0 ? 0xffffffffu : rd32(p + 28);
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	resolve();
	unsigned nr = cmd & 0xff;
	int ctl = 0;
	if ((cmd >> 8 & 0xff) != 0x46 || (nr != 0x2b && nr != 0x4e) || !is_nv(fd, &ctl))
		return real_ioctl(fd, cmd, arg);
	int r = real_ioctl(fd, cmd, arg);
	int e = errno;
	unsigned sz = (cmd >> 16) & 0x3fff;
	unsigned char *a = arg;
	if (r == 0 && nr == 0x2b && (sz == 32 || sz == 48)) {
		uint32_t status = sz == 32 ? rd32(a + 28) : rd32(a + 40);
		uint32_t cls = rd32(a + 12);
		struct obj o = { fd, rd32(a), rd32(a + 8), rd32(a + 4) };
		if (status == 0) {
			pthread_mutex_lock(&lk);
			if (cls == 0xa06c && ntsg < MAXOBJ)
				tsgs[ntsg++] = o;
			else if (is_chan_class(cls) && nchan < MAXOBJ)
				chans[nchan++] = o;
			else if (cls == 0x2080 && nsub < MAXOBJ)
				subdevs[nsub++] = o;
			else if (cls == 0xc661 && nusr < MAXOBJ)
				usermodes[nusr++] = o;
			pthread_mutex_unlock(&lk);
		}
	} else if (r == 0 && nr == 0x4e && sz == 56) {
		uint32_t hmem = rd32(a + 8), status = rd32(a + 40);
		int mfd = (int)rd32(a + 48);
		pthread_mutex_lock(&lk);
		for (int i = 0; i < nusr; i++)
			if (usermodes[i].handle == hmem && usermodes[i].client == rd32(a) && status == 0 && mfd >= 0 &&
			    mfd < 65536)
				bell_fd[mfd] = 1;
		pthread_mutex_unlock(&lk);
	}
	errno = e;
	return r;
}

__attribute__((visibility("default"))) void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	resolve();
	void *r = real_mmap(addr, len, prot, flags, fd, off);
	if (r != MAP_FAILED && fd >= 0 && fd < 65536 && bell_fd[fd]) {
		pthread_mutex_lock(&lk);
		if (nbell < MAXOBJ) {
			bells[nbell].addr = (uint64_t)(uintptr_t)r;
			bells[nbell].len = len;
			bells[nbell].prot = prot;
			nbell++;
		}
		bell_fd[fd] = 0;
		pthread_mutex_unlock(&lk);
	}
	return r;
}

__attribute__((visibility("default"))) void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

/* ---- gate ---- */

static struct sigaction old_segv;

static void segv(int sig, siginfo_t *si, void *uc)
{
	uint64_t a = (uint64_t)(uintptr_t)si->si_addr;
	for (int i = 0; i < nbell; i++) {
		if (a >= bells[i].addr && a < bells[i].addr + bells[i].len) {
			struct timespec t0, t1, d = { 0, 20000 };
			clock_gettime(CLOCK_MONOTONIC, &t0);
			__sync_fetch_and_add(&faults, 1);
			while (gate_closed)
				nanosleep(&d, NULL);
			/* the gate thread restores PROT before clearing the flag */
			clock_gettime(CLOCK_MONOTONIC, &t1);
			__sync_fetch_and_add(&blocked_ns,
					     (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
			return;
		}
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	(void)sig;
	(void)uc;
}

static void gate_close(void)
{
	gate_closed = 1;
	for (int i = 0; i < nbell; i++)
		mprotect((void *)(uintptr_t)bells[i].addr, bells[i].len, PROT_NONE);
}

static void gate_open(void)
{
	for (int i = 0; i < nbell; i++)
		mprotect((void *)(uintptr_t)bells[i].addr, bells[i].len, bells[i].prot);
	gate_closed = 0;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int gate_p_ms, gate_x_ms;
static volatile int stop_threads;

static void *gate_thread(void *unused)
{
	(void)unused;
	uint64_t p = (uint64_t)gate_p_ms * 1000000ull, x = (uint64_t)gate_x_ms * 1000000ull;
	uint64_t t = mono_ns();
	long cycles = 0;
	while (!stop_threads) {
		gate_open();
		sleep_until(t + x);
		if (x < p)
			gate_close();
		sleep_until(t + p);
		t += p;
		cycles++;
	}
	gate_open();
	lg("gate_done cycles=%ld faults=%ld blocked_ms=%.1f", cycles, faults, blocked_ns / 1e6);
	return NULL;
}

/* ---- controls ---- */

static void tsg_ctl_all(const char *name, uint32_t cmd, void *p, uint32_t sz)
{
	for (int i = 0; i < ntsg; i++) {
		double us;
		uint64_t t = rt_ns();
		uint32_t st = rm_control(tsgs[i].ctl_fd, tsgs[i].client, tsgs[i].handle, cmd, p, sz, &us);
		lg("ctl %s tsg=0x%x t0=%llu status=0x%x us=%.1f", name, tsgs[i].handle, (unsigned long long)t, st, us);
	}
}

static void chan_ctl_all(const char *name, uint32_t cmd, void *p, uint32_t sz)
{
	for (int i = 0; i < nchan; i++) {
		double us;
		uint64_t t = rt_ns();
		uint32_t st = rm_control(chans[i].ctl_fd, chans[i].client, chans[i].handle, cmd, p, sz, &us);
		lg("ctl %s ch=0x%x t0=%llu status=0x%x us=%.1f", name, chans[i].handle, (unsigned long long)t, st, us);
	}
}

static void disable_channels(int disable, int only_sched)
{
	if (!nsub)
		return;
	unsigned char p[536] = { 0 };
	p[0] = (unsigned char)disable;
	uint32_t n = nchan > 64 ? 64 : (uint32_t)nchan;
	memcpy(p + 4, &n, 4);
	p[8] = (unsigned char)only_sched;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(p + 24 + 4 * i, &chans[i].client, 4);
		memcpy(p + 280 + 4 * i, &chans[i].handle, 4);
	}
	double us;
	uint64_t t = rt_ns();
	uint32_t st = rm_control(subdevs[0].ctl_fd, subdevs[0].client, subdevs[0].handle, 0x2080110b, p, sizeof p, &us);
	lg("ctl disable_channels bDisable=%d onlySched=%d n=%u t0=%llu status=0x%x us=%.1f", disable, only_sched, n,
	   (unsigned long long)t, st, us);
}

static void do_action(const char *act)
{
	unsigned char b3[3] = { 0 }, p8[8] = { 0 };
	uint64_t t = rt_ns();
	if (!strcmp(act, "gate_close")) {
		gate_close();
		lg("event gate_close t0=%llu", (unsigned long long)t);
	} else if (!strcmp(act, "gate_open")) {
		gate_open();
		lg("event gate_open t0=%llu faults=%ld", (unsigned long long)t, faults);
	} else if (!strcmp(act, "preempt") || !strcmp(act, "preempt_nowait")) {
		p8[0] = act[7] == 0; /* bWait */
		tsg_ctl_all(act, 0xa06c0105, p8, 8);
	} else if (!strcmp(act, "sched_off") || !strcmp(act, "sched_on")) {
		b3[0] = !strcmp(act, "sched_on");
		tsg_ctl_all(act, 0xa06c0101, b3, 3);
	} else if (!strcmp(act, "ch_sched_off") || !strcmp(act, "ch_sched_on")) {
		b3[0] = !strcmp(act, "ch_sched_on");
		chan_ctl_all(act, 0xa06f0103, b3, 3);
	} else if (!strcmp(act, "dis_ch")) {
		disable_channels(1, 0);
	} else if (!strcmp(act, "en_ch")) {
		disable_channels(0, 0);
	} else if (!strcmp(act, "dis_ch_sched")) {
		disable_channels(1, 1);
	} else if (!strcmp(act, "en_ch_sched")) {
		disable_channels(0, 1);
	} else if (!strcmp(act, "stop_ch")) {
		unsigned char z[1] = { 0 }; /* NVA06F_CTRL_STOP_CHANNEL_PARAMS { NvBool bImmediate; } */
		chan_ctl_all(act, 0xa06f0112, z, 1);
	} else {
		lg("event unknown %s", act);
	}
}

static char events_buf[1024];
static uint64_t apply_mono;

static void *events_thread(void *unused)
{
	(void)unused;
	char *save = NULL;
	for (char *tok = strtok_r(events_buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *c = strchr(tok, ':');
		if (!c)
			continue;
		*c = 0;
		sleep_until(apply_mono + (uint64_t)(atof(tok) * 1e6));
		do_action(c + 1);
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void cost_one(const char *name, int ctl_fd, uint32_t client, uint32_t obj, uint32_t cmd, void *p, uint32_t sz,
		     int n)
{
	double v[64];
	uint32_t st = 0;
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++)
		st = rm_control(ctl_fd, client, obj, cmd, p, sz, &v[i]);
	qsort(v, n, sizeof(double), cmp_d);
	lg("cost %s cmd=0x%08x n=%d status=0x%x min_us=%.1f median_us=%.1f p90_us=%.1f max_us=%.1f", name, cmd, n, st,
	   v[0], v[n / 2], v[(n * 9) / 10], v[n - 1]);
}

static void measure_costs(void)
{
	if (!ntsg)
		return;
	struct obj *t = &tsgs[0];
	unsigned char p8[8] = { 0 }, b3[3] = { 1, 0, 0 };
	cost_one("get_timeslice", t->ctl_fd, t->client, t->handle, 0xa06c0104, p8, 8, 32);
	uint64_t ts;
	memcpy(&ts, p8, 8);
	cost_one("set_timeslice(same)", t->ctl_fd, t->client, t->handle, 0xa06c0103, p8, 8, 32);
	cost_one("get_info", t->ctl_fd, t->client, t->handle, 0xa06c0106, p8, 4, 32);
	memset(p8, 0, 8);
	p8[0] = 1;
	cost_one("preempt(bWait=1)", t->ctl_fd, t->client, t->handle, 0xa06c0105, p8, 8, 32);
	p8[0] = 0;
	cost_one("preempt(bWait=0)", t->ctl_fd, t->client, t->handle, 0xa06c0105, p8, 8, 32);
	cost_one("gpfifo_schedule(enable)", t->ctl_fd, t->client, t->handle, 0xa06c0101, b3, 3, 32);
	if (nchan)
		cost_one("ch_gpfifo_schedule(enable)", chans[0].ctl_fd, chans[0].client, chans[0].handle, 0xa06f0103,
			 b3, 3, 32);
	if (nsub && nchan) {
		unsigned char p[536] = { 0 };
		uint32_t n = 1;
		memcpy(p + 4, &n, 4);
		memcpy(p + 24, &chans[0].client, 4);
		memcpy(p + 280, &chans[0].handle, 4);
		cost_one("disable_channels(bDisable=0)", subdevs[0].ctl_fd, subdevs[0].client, subdevs[0].handle,
			 0x2080110b, p, sizeof p, 32);
	}
	/* mprotect pair on all doorbells */
	double v[64];
	for (int i = 0; i < 64; i++) {
		uint64_t t0 = mono_ns();
		gate_close();
		gate_open();
		v[i] = (mono_ns() - t0) / 1000.0;
	}
	qsort(v, 64, sizeof(double), cmp_d);
	lg("cost mprotect_close+open nbell=%d n=64 min_us=%.1f median_us=%.1f p90_us=%.1f max_us=%.1f", nbell, v[0],
	   v[32], v[57], v[63]);
}

__attribute__((visibility("default"))) void nvlever_apply(void)
{
	resolve();
	if (__sync_lock_test_and_set(&applied, 1))
		return;
	apply_mono = mono_ns();
	lg("apply tsgs=%d chans=%d subdevs=%d usermodes=%d bells=%d", ntsg, nchan, nsub, nusr, nbell);
	for (int i = 0; i < nbell; i++)
		lg("bell addr=0x%llx len=%llu prot=%d", (unsigned long long)bells[i].addr,
		   (unsigned long long)bells[i].len, bells[i].prot);
	/* NVLEVER_DUMP=FILE: the channels' (client, handle) pairs, for a control
	 * from another process (scripts/h100/xclient). Written whole, then renamed. */
	const char *dump = getenv("NVLEVER_DUMP");
	if (dump && *dump) {
		char tmp[512];
		snprintf(tmp, sizeof tmp, "%s.tmp", dump);
		FILE *f = fopen(tmp, "w");
		if (f) {
			for (int i = 0; i < nchan; i++)
				fprintf(f, "chan %x %x\n", chans[i].client, chans[i].handle);
			fclose(f);
			rename(tmp, dump);
		}
	}
	struct sigaction sa = { 0 };
	sa.sa_sigaction = segv;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGSEGV, &sa, &old_segv);

	if (getenv("NVLEVER_COST"))
		measure_costs();
	const char *ts = getenv("NVLEVER_TS_US");
	if (ts && *ts) {
		uint64_t v = strtoull(ts, NULL, 0);
		unsigned char p8[8];
		memcpy(p8, &v, 8);
		tsg_ctl_all("set_timeslice", 0xa06c0103, p8, 8);
		for (int i = 0; i < ntsg; i++) {
			memset(p8, 0, 8);
			uint32_t st = rm_control(tsgs[i].ctl_fd, tsgs[i].client, tsgs[i].handle, 0xa06c0104, p8, 8, NULL);
			lg("get_timeslice tsg=0x%x status=0x%x us=%llu", tsgs[i].handle, st,
			   (unsigned long long)rd64(p8));
		}
	}
	const char *g = getenv("NVLEVER_GATE");
	if (g && sscanf(g, "%d,%d", &gate_p_ms, &gate_x_ms) == 2 && gate_p_ms > 0) {
		pthread_t th;
		pthread_create(&th, NULL, gate_thread, NULL);
		pthread_detach(th);
	}
	const char *ev = getenv("NVLEVER_EVENTS");
	if (ev && *ev) {
		snprintf(events_buf, sizeof events_buf, "%s", ev);
		pthread_t th;
		pthread_create(&th, NULL, events_thread, NULL);
		pthread_detach(th);
	}
}

__attribute__((visibility("default"))) void nvlever_stop(void)
{
	stop_threads = 1;
	if (gate_closed)
		gate_open();
	lg("stop faults=%ld blocked_ms=%.1f", faults, blocked_ns / 1e6);
}

static void *delayed_apply(void *arg)
{
	long ms = (long)(intptr_t)arg;
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&d, NULL);
	nvlever_apply();
	return NULL;
}

__attribute__((constructor)) static void nvlever_init(void)
{
	resolve();
	const char *d = getenv("NVLEVER_APPLY_AT_MS");
	if (d && *d) {
		pthread_t th;
		pthread_create(&th, NULL, delayed_apply, (void *)(intptr_t)atol(d));
		pthread_detach(th);
	}
}
