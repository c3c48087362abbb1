// SPDX-License-Identifier: GPL-2.0-only
/*
 * nvtrace_preload.c - LD_PRELOAD recorder of ioctl/mmap traffic on /dev/nvidia*.
 *
 * Records raw bytes only; it knows just enough of the ABI to find the nested
 * parameter blocks (RM_ALLOC pAllocParms, RM_CONTROL params, IOCTL_XFER,
 * GET_EVENT_DATA) and the sizes of nvidia-uvm's plain-numbered ioctls.
 * Decoding is the job of `nvtrace show` (Rust).  The file format is documented
 * in ../src/format.rs; keep the two in step (FORMAT_VERSION).
 *
 * Environment:
 *   NVTRACE_OUT=dir        where to write nvtrace.<pid>.bin (default: /tmp)
 *   NVTRACE_DEV_PREFIX=p   path prefix that counts as an NVIDIA node
 *                          (default "/dev/nvidia"; tests use a temp dir)
 *   NVTRACE_ALL_MUNMAP=1   record every munmap, not only of traced ranges
 *
 * Markers: ioctl(any_fd, NVTRACE_MARKER_CMD, "text") is not forwarded; it
 * writes a MARKER record and returns 0.  `nvtrace_mark(const char *)` is
 * exported for ctypes/dlsym users.
 *
 * Every record is one write(2) under a mutex: nothing is buffered, so a crash
 * loses at most the record being built.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FORMAT_VERSION 1
#define NVTRACE_MARKER_CMD 0x4E565452UL /* 'NVTR' */

enum rec_type {
	REC_PROC = 1, REC_OPEN = 2, REC_FD_SEEN = 3, REC_CLOSE = 4, REC_IOCTL = 5,
	REC_MMAP = 6, REC_MUNMAP = 7, REC_MARKER = 8,
};
enum nest_kind { NEST_RM_ALLOC = 1, NEST_RM_CONTROL = 2, NEST_XFER = 3, NEST_EVENT_DATA = 4 };
enum node_kind { NODE_NONE = 0, NODE_CTL = 1, NODE_GPU = 2, NODE_UVM = 3, NODE_UVM_TOOLS = 4, NODE_OTHER = 5 };

/* ioctl record flags */
#define IF_BEFORE_FAULT 0x1
#define IF_AFTER_FAULT 0x2
#define IF_SIZE_UNKNOWN 0x4
#define IF_TRUNCATED 0x8
/* nested flags */
#define NF_BEFORE_FAULT 0x1
#define NF_AFTER_FAULT 0x2
#define NF_SIZE_FROM_PARAMSSIZE 0x4
#define NF_TRUNCATED 0x8

#define MAX_NESTED_LEN (1u << 20)
#define MAX_FD 65536
#define MAX_NESTED 4

/* fd state: 0 unknown, 1 not nvidia, else 2 + node_kind */
static unsigned char fd_state[MAX_FD];
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int out_fd = -1;
static int out_pid = -1;
static int disabled;
static char dev_prefix[256] = "/dev/nvidia";
static size_t dev_prefix_len = 11;
static int all_munmap;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mmap64)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

/* Traced mmap ranges, to know which munmaps to record. */
#define MAX_RANGES 8192
static struct { uint64_t addr, len; } ranges[MAX_RANGES];
static int nranges;
static pthread_mutex_t range_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t gettid_(void) { return (uint32_t)syscall(SYS_gettid); }

#define RESOLVE(var, name) do { if (!(var)) *(void **)&(var) = dlsym(RTLD_NEXT, name); } while (0)

static void resolve_all(void)
{
	RESOLVE(real_open, "open");
	RESOLVE(real_open64, "open64");
	RESOLVE(real_openat, "openat");
	RESOLVE(real_openat64, "openat64");
	RESOLVE(real_close, "close");
	RESOLVE(real_ioctl, "ioctl");
	RESOLVE(real_mmap, "mmap");
	RESOLVE(real_mmap64, "mmap64");
	RESOLVE(real_munmap, "munmap");
	RESOLVE(real_dup2, "dup2");
	RESOLVE(real_dup3, "dup3");
}

/* ---- output ------------------------------------------------------------ */

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = syscall(SYS_write, fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Open the per-process file and write the header + PROC record. Caller holds out_lock. */
static void open_output_locked(void)
{
	int pid = getpid();
	if (out_fd >= 0 && out_pid == pid)
		return;
	if (out_fd >= 0)
		syscall(SYS_close, out_fd); /* inherited across fork */
	out_fd = -1;
	out_pid = pid;
	const char *dir = getenv("NVTRACE_OUT");
	if (!dir || !*dir)
		dir = "/tmp";
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/nvtrace.%d.bin", dir, pid);
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		disabled = 1;
		return;
	}
	out_fd = fd;
	/* header: magic[8] version u16 hdrlen u16 pid u32 ppid u32 flags u32 real_ns u64 mono_ns u64 */
	unsigned char h[40];
	memcpy(h, "NVTRACE\0", 8);
	put_le(h + 8, FORMAT_VERSION, 2);
	put_le(h + 10, sizeof(h), 2);
	put_le(h + 12, (uint32_t)pid, 4);
	put_le(h + 16, (uint32_t)getppid(), 4);
	put_le(h + 20, 0, 4);
	put_le(h + 24, now_ns(CLOCK_REALTIME), 8);
	put_le(h + 32, now_ns(CLOCK_MONOTONIC), 8);
	write_all(fd, h, sizeof(h));

	/* PROC record: cmdline */
	unsigned char buf[24 + 4096];
	int cfd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;
	if (cfd >= 0) {
		n = syscall(SYS_read, cfd, buf + 24, 4096);
		if (n < 0)
			n = 0;
		syscall(SYS_close, cfd);
	}
	put_le(buf, 24 + (uint64_t)n, 4);
	put_le(buf + 4, REC_PROC, 2);
	put_le(buf + 6, 0, 2);
	put_le(buf + 8, now_ns(CLOCK_MONOTONIC), 8);
	put_le(buf + 16, gettid_(), 4);
	put_le(buf + 20, (uint32_t)-1, 4);
	write_all(fd, buf, 24 + (size_t)n);
}

static void emit(const void *rec, size_t len)
{
	if (disabled)
		return;
	pthread_mutex_lock(&out_lock);
	open_output_locked();
	if (out_fd >= 0)
		write_all(out_fd, rec, len);
	pthread_mutex_unlock(&out_lock);
}

/* Record builder */
struct rb {
	unsigned char *p;
	size_t len, cap;
};

static int rb_reserve(struct rb *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + extra)
		ncap *= 2;
	unsigned char *np = realloc(b->p, ncap);
	if (!np)
		return -1;
	b->p = np;
	b->cap = ncap;
	return 0;
}

static unsigned char *rb_add(struct rb *b, size_t n)
{
	if (rb_reserve(b, n))
		return NULL;
	unsigned char *r = b->p + b->len;
	memset(r, 0, n);
	b->len += n;
	return r;
}

static int rb_begin(struct rb *b, int type, uint64_t t, int fd)
{
	b->len = 0;
	unsigned char *h = rb_add(b, 24);
	if (!h)
		return -1;
	put_le(h + 4, (uint64_t)type, 2);
	put_le(h + 8, t, 8);
	put_le(h + 16, gettid_(), 4);
	put_le(h + 20, (uint32_t)fd, 4);
	return 0;
}

static void rb_finish(struct rb *b, uint16_t flags)
{
	put_le(b->p, b->len, 4);
	put_le(b->p + 6, flags, 2);
	emit(b->p, b->len);
	free(b->p);
	b->p = NULL;
	b->cap = b->len = 0;
}

/*
 * Copy user memory without faulting through a pipe: write(2) from an
 * unmapped address fails with EFAULT instead of a signal. For kernels built
 * without CONFIG_CROSS_MEMORY_ATTACH (the QEMU test kernel), where
 * process_vm_readv is ENOSYS.
 */
static int pipe_read(void *dst, uint64_t src, size_t len)
{
	int p[2];
	size_t done = 0;

	if (syscall(SYS_pipe2, p, O_CLOEXEC))
		return -1;
	while (done < len) {
		size_t k = len - done > 4096 ? 4096 : len - done;
		ssize_t w = syscall(SYS_write, p[1], (const void *)(uintptr_t)(src + done), k);
		if (w <= 0)
			break;
		ssize_t r = syscall(SYS_read, p[0], (char *)dst + done, (size_t)w);
		if (r != w)
			break;
		done += (size_t)w;
	}
	syscall(SYS_close, p[0]);
	syscall(SYS_close, p[1]);
	return done == len ? 0 : -1;
}

/* Copy user memory without faulting: process_vm_readv on ourselves. */
static int safe_read(void *dst, uint64_t src, size_t len)
{
	static int no_cma;

	if (!len)
		return 0;
	if (!src)
		return -1;
	if (!__atomic_load_n(&no_cma, __ATOMIC_RELAXED)) {
		struct iovec l = { dst, len }, r = { (void *)(uintptr_t)src, len };
		ssize_t n = syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 0);
		if (n == (ssize_t)len)
			return 0;
		if (n < 0 && errno == ENOSYS)
			__atomic_store_n(&no_cma, 1, __ATOMIC_RELAXED);
		else {
			memset(dst, 0, len);
			return -1;
		}
	}
	if (pipe_read(dst, src, len)) {
		memset(dst, 0, len);
		return -1;
	}
	return 0;
}

/* ---- fd classification ------------------------------------------------- */

static int kind_of_path(const char *path)
{
	if (strncmp(path, dev_prefix, dev_prefix_len) != 0)
		return NODE_NONE;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!strcmp(base, "nvidiactl"))
		return NODE_CTL;
	if (!strcmp(base, "nvidia-uvm"))
		return NODE_UVM;
	if (!strcmp(base, "nvidia-uvm-tools"))
		return NODE_UVM_TOOLS;
	if (!strncmp(base, "nvidia", 6) && base[6] >= '0' && base[6] <= '9')
		return NODE_GPU;
	return NODE_OTHER;
}

static void emit_path_rec(int type, int fd, uint32_t oflags, int err, const char *path)
{
	struct rb b = { 0 };
	size_t pl = strlen(path);
	if (rb_begin(&b, type, now_ns(CLOCK_MONOTONIC), fd))
		return;
	unsigned char *body = rb_add(&b, 8 + pl);
	if (!body) {
		free(b.p);
		return;
	}
	put_le(body, oflags, 4);
	put_le(body + 4, (uint32_t)err, 4);
	memcpy(body + 8, path, pl);
	rb_finish(&b, 0);
}

/* Kind of fd (lazy readlink), NODE_NONE when not ours. */
static int fd_kind(int fd)
{
	if (fd < 0)
		return NODE_NONE;
	if (fd < MAX_FD && fd_state[fd]) {
		unsigned char s = __atomic_load_n(&fd_state[fd], __ATOMIC_RELAXED);
		if (s)
			return s == 1 ? NODE_NONE : s - 2;
	}
	char lp[64], target[PATH_MAX];
	snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(lp, target, sizeof(target) - 1);
	if (n <= 0)
		return NODE_NONE;
	target[n] = 0;
	int k = kind_of_path(target);
	if (fd < MAX_FD)
		__atomic_store_n(&fd_state[fd], (unsigned char)(k ? k + 2 : 1), __ATOMIC_RELAXED);
	if (k)
		emit_path_rec(REC_FD_SEEN, fd, 0, 0, target);
	return k;
}

static void note_open(int fd, int oflags, int err, int dirfd, const char *path)
{
	if (!path)
		return;
	if (fd >= 0 && fd < MAX_FD)
		__atomic_store_n(&fd_state[fd], 0, __ATOMIC_RELAXED);
	char abs[PATH_MAX];
	const char *p = path;
	if (path[0] != '/' && fd >= 0) {
		/* resolve via the new fd */
		char lp[64];
		snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(lp, abs, sizeof(abs) - 1);
		if (n > 0) {
			abs[n] = 0;
			p = abs;
		}
	}
	(void)dirfd;
	int k = kind_of_path(p);
	if (!k)
		return;
	if (fd >= 0 && fd < MAX_FD)
		__atomic_store_n(&fd_state[fd], (unsigned char)(k + 2), __ATOMIC_RELAXED);
	emit_path_rec(REC_OPEN, fd, (uint32_t)oflags, err, p);
}

/* ---- parameter sizes --------------------------------------------------- */

/* RM alloc param sizes by class (the RM copies sizeof(class params)). 0 = unknown. */
static uint32_t class_param_size(uint32_t cls)
{
	switch (cls) {
	case 0x0: case 0x1: case 0x41: return 120;           /* NV0000_ALLOC_PARAMETERS (580) */
	case 0x80: return 56;                                 /* NV0080_ALLOC_PARAMETERS */
	case 0x2080: return 4;                                /* NV2080_ALLOC_PARAMETERS */
	case 0x3e: case 0x40: case 0x42: case 0x50a0: return 128; /* NV_MEMORY_ALLOCATION_PARAMS */
	case 0x90f1: return 56;                               /* NV_VASPACE_ALLOCATION_PARAMETERS */
	case 0xa06c: return 20;                               /* NV_CHANNEL_GROUP_ALLOCATION_PARAMETERS */
	case 0x9067: return 12;                               /* NV_CTXSHARE_ALLOCATION_PARAMETERS */
	case 0xc36f: case 0xc46f: case 0xc56f: case 0xc86f: case 0xc96f: case 0xca6f:
		return 368;                                   /* NV_CHANNEL_ALLOC_PARAMS */
	case 0xc3c0: case 0xc5c0: case 0xc6c0: case 0xc7c0: case 0xcbc0: case 0xcdc0:
		return 16;                                    /* NV_GR_ALLOCATION_PARAMETERS */
	case 0xc661: return 2;                                /* NV_HOPPER_USERMODE_A_PARAMS */
	case 0xc3b5: case 0xc5b5: case 0xc6b5: case 0xc7b5: case 0xc8b5: case 0xc9b5:
		return 8;                                     /* NVB0B5_ALLOCATION_PARAMETERS */
	case 0x78: case 0x79: case 0x7e: return 24;           /* NV0005_ALLOC_PARAMETERS */
	case 0xf8: return 48;                                 /* NV00F8_ALLOCATION_PARAMETERS */
	default: return 0;
	}
}

/* nvidia-uvm parameter sizes (plain command numbers). 0 = unknown. */
static uint32_t uvm_param_size(unsigned long cmd)
{
	switch (cmd) {
	case 0x30000001: return 16; case 0x30000002: return 0;
	case 23: case 24: return 16; case 25: return 32; case 26: return 20;
	case 27: return 56; case 28: return 28; case 29: case 30: return 36;
	case 31: return 32; case 33: return 9264; case 34: return 24;
	case 37: return 40; case 38: return 20; case 39: return 8;
	case 40: case 41: return 272; case 42: return 40; case 43: return 24;
	case 44: case 45: return 24; case 46: case 47: return 40; case 51: return 80;
	case 53: return 32; case 54: case 55: return 20; case 62: case 63: return 40;
	case 64: case 77: return 16; case 65: return 40; case 66: return 40;
	case 67: return 4; case 68: return 9248; case 69: return 4; case 70: return 24;
	case 71: return 24; case 72: return 24; case 73: return 24; case 74: return 40;
	case 75: return 8; case 78: return 56; case 79: return 4; case 80: return 32;
	default: return 0;
	}
}

static uint32_t uvm_tools_param_size(unsigned long cmd)
{
	switch (cmd) {
	case 56: case 76: return 56;
	default: return 0;
	}
}

static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

struct nested {
	uint16_t kind, flags;
	uint32_t len;
	uint64_t ptr;
	unsigned char *before;
};

/* Find nested blocks of an nvidia.ko escape `nr` whose params are `a` (len). */
static int find_nested(unsigned nr, const unsigned char *a, uint32_t len, struct nested *out, int max, int depth)
{
	int n = 0;
	if (max <= 0)
		return 0;
	switch (nr) {
	case 0x2b: /* RM_ALLOC: NVOS21 (32) or NVOS64 (48) */
		if (len == 32 || len == 48) {
			uint32_t cls = rd32(a + 12);
			uint64_t ptr = rd64(a + 16);
			uint32_t psz = len == 32 ? rd32(a + 24) : rd32(a + 32);
			uint32_t sz = class_param_size(cls);
			uint16_t fl = 0;
			if (!sz) {
				sz = psz;
				fl |= NF_SIZE_FROM_PARAMSSIZE;
			}
			if (sz > MAX_NESTED_LEN) {
				sz = MAX_NESTED_LEN;
				fl |= NF_TRUNCATED;
			}
			if (ptr && sz)
				out[n++] = (struct nested){ NEST_RM_ALLOC, fl, sz, ptr, NULL };
		}
		break;
	case 0x2a: /* RM_CONTROL: NVOS54 (32) */
		if (len == 32) {
			uint64_t ptr = rd64(a + 16);
			uint32_t sz = rd32(a + 24);
			uint16_t fl = NF_SIZE_FROM_PARAMSSIZE;
			if (sz > MAX_NESTED_LEN) {
				sz = MAX_NESTED_LEN;
				fl |= NF_TRUNCATED;
			}
			if (ptr && sz)
				out[n++] = (struct nested){ NEST_RM_CONTROL, fl, sz, ptr, NULL };
		}
		break;
	case 0x52: /* RM_GET_EVENT_DATA: NVOS41 pEvent @0 -> 16 bytes */
		if (len == 16 && rd64(a))
			out[n++] = (struct nested){ NEST_EVENT_DATA, 0, 16, rd64(a), NULL };
		break;
	case 0xd3: /* IOCTL_XFER_CMD: {cmd u32, size u32, ptr u64} */
		if (len == 16 && depth == 0) {
			uint32_t icmd = rd32(a), isz = rd32(a + 4);
			uint64_t ptr = rd64(a + 8);
			uint16_t fl = 0;
			if (isz > MAX_NESTED_LEN) {
				isz = MAX_NESTED_LEN;
				fl |= NF_TRUNCATED;
			}
			if (ptr && isz) {
				unsigned char *inner = malloc(isz);
				if (!inner)
					break;
				if (safe_read(inner, ptr, isz))
					fl |= NF_BEFORE_FAULT;
				out[n++] = (struct nested){ NEST_XFER, fl, isz, ptr, inner };
				n += find_nested(icmd & 0xff, inner, isz, out + n, max - n, depth + 1);
			}
		}
		break;
	}
	return n;
}

/* ---- ioctl ------------------------------------------------------------- */

static void record_marker(const char *text)
{
	struct rb b = { 0 };
	char tmp[1024];
	size_t l = 0;
	if (text) {
		/* copy safely, bounded */
		while (l < sizeof(tmp) - 1) {
			if (safe_read(&tmp[l], (uint64_t)(uintptr_t)(text + l), 1))
				break;
			if (!tmp[l])
				break;
			l++;
		}
	}
	if (rb_begin(&b, REC_MARKER, now_ns(CLOCK_MONOTONIC), -1))
		return;
	unsigned char *body = rb_add(&b, l);
	if (body && l)
		memcpy(body, tmp, l);
	rb_finish(&b, 0);
}

__attribute__((visibility("default"))) void nvtrace_mark(const char *text)
{
	record_marker(text);
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	resolve_all();
	if ((cmd & 0xffffffffUL) == NVTRACE_MARKER_CMD) {
		record_marker(arg);
		return 0;
	}
	int k = disabled ? NODE_NONE : fd_kind(fd);
	if (!k)
		return real_ioctl(fd, cmd, arg);

	uint32_t len = 0;
	uint16_t rflags = 0;
	if (k == NODE_UVM) {
		len = uvm_param_size(cmd);
		if (!len && cmd != 0x30000002)
			rflags |= IF_SIZE_UNKNOWN;
	} else if (k == NODE_UVM_TOOLS) {
		len = uvm_tools_param_size(cmd);
		if (!len)
			rflags |= IF_SIZE_UNKNOWN;
	} else {
		len = (uint32_t)((cmd >> 16) & 0x3fff); /* _IOC_SIZE */
	}
	unsigned char *before = NULL;
	struct nested nest[MAX_NESTED];
	int nn = 0;
	if (len) {
		before = malloc(len);
		if (before && safe_read(before, (uint64_t)(uintptr_t)arg, len))
			rflags |= IF_BEFORE_FAULT;
	}
	if (before && !(rflags & IF_BEFORE_FAULT) && (k == NODE_CTL || k == NODE_GPU))
		nn = find_nested(cmd & 0xff, before, len, nest, MAX_NESTED, 0);
	for (int i = 0; i < nn; i++) {
		if (nest[i].before)
			continue;
		nest[i].before = malloc(nest[i].len);
		if (nest[i].before && safe_read(nest[i].before, nest[i].ptr, nest[i].len))
			nest[i].flags |= NF_BEFORE_FAULT;
	}

	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	int ret = real_ioctl(fd, cmd, arg);
	int saved_errno = errno;
	int err = ret < 0 ? saved_errno : 0;
	uint64_t t1 = now_ns(CLOCK_MONOTONIC);

	struct rb b = { 0 };
	if (rb_begin(&b, REC_IOCTL, t0, fd) == 0) {
		/* body: t_end u64, cmd u32, ret i32, errno i32, arg_len u32, arg_ptr u64,
		 * n_nested u16, node u8, pad u8, pad u32  (40 bytes) */
		unsigned char *h = rb_add(&b, 40);
		if (h) {
			put_le(h, t1, 8);
			put_le(h + 8, (uint32_t)cmd, 4);
			put_le(h + 12, (uint32_t)ret, 4);
			put_le(h + 16, (uint32_t)err, 4);
			put_le(h + 20, len, 4);
			put_le(h + 24, (uint64_t)(uintptr_t)arg, 8);
			put_le(h + 32, (uint64_t)nn, 2);
			h[34] = (unsigned char)k;
		}
		if (len) {
			unsigned char *bb = rb_add(&b, len);
			if (bb && before)
				memcpy(bb, before, len);
			unsigned char *ab = rb_add(&b, len);
			if (ab && safe_read(ab, (uint64_t)(uintptr_t)arg, len))
				rflags |= IF_AFTER_FAULT;
		}
		for (int i = 0; i < nn; i++) {
			unsigned char *nh = rb_add(&b, 16);
			if (!nh)
				break;
			unsigned char *nb = rb_add(&b, nest[i].len);
			if (nb && nest[i].before)
				memcpy(nb, nest[i].before, nest[i].len);
			unsigned char *na = rb_add(&b, nest[i].len);
			if (na && safe_read(na, nest[i].ptr, nest[i].len))
				nest[i].flags |= NF_AFTER_FAULT;
			/* rb_add may have moved the buffer: recompute nh */
			nh = b.p + (b.len - 2 * (size_t)nest[i].len - 16);
			put_le(nh, nest[i].kind, 2);
			put_le(nh + 2, nest[i].flags, 2);
			put_le(nh + 4, nest[i].len, 4);
			put_le(nh + 8, nest[i].ptr, 8);
		}
		rb_finish(&b, rflags);
	}
	free(before);
	for (int i = 0; i < nn; i++)
		free(nest[i].before);
	errno = saved_errno;
	return ret;
}

/* ---- open / close / dup ------------------------------------------------ */

static int open_common(int (*fn)(const char *, int, ...), const char *path, int flags, mode_t mode)
{
	int fd = fn(path, flags, mode);
	int e = errno;
	if (!disabled)
		note_open(fd, flags, fd < 0 ? e : 0, AT_FDCWD, path);
	errno = e;
	return fd;
}

#define OPEN_MODE(flags, mode) \
	mode_t mode = 0; \
	if ((flags) & (O_CREAT | __O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }

__attribute__((visibility("default"))) int open(const char *path, int flags, ...)
{
	OPEN_MODE(flags, mode);
	resolve_all();
	return open_common(real_open, path, flags, mode);
}

__attribute__((visibility("default"))) int open64(const char *path, int flags, ...)
{
	OPEN_MODE(flags, mode);
	resolve_all();
	return open_common(real_open64 ? real_open64 : real_open, path, flags, mode);
}

__attribute__((visibility("default"))) int __open_2(const char *path, int flags)
{
	resolve_all();
	return open_common(real_open, path, flags, 0);
}

__attribute__((visibility("default"))) int __open64_2(const char *path, int flags)
{
	resolve_all();
	return open_common(real_open64 ? real_open64 : real_open, path, flags, 0);
}

static int openat_common(int (*fn)(int, const char *, int, ...), int dirfd, const char *path, int flags, mode_t mode)
{
	int fd = fn(dirfd, path, flags, mode);
	int e = errno;
	if (!disabled)
		note_open(fd, flags, fd < 0 ? e : 0, dirfd, path);
	errno = e;
	return fd;
}

__attribute__((visibility("default"))) int openat(int dirfd, const char *path, int flags, ...)
{
	OPEN_MODE(flags, mode);
	resolve_all();
	return openat_common(real_openat, dirfd, path, flags, mode);
}

__attribute__((visibility("default"))) int openat64(int dirfd, const char *path, int flags, ...)
{
	OPEN_MODE(flags, mode);
	resolve_all();
	return openat_common(real_openat64 ? real_openat64 : real_openat, dirfd, path, flags, mode);
}

__attribute__((visibility("default"))) int __openat_2(int dirfd, const char *path, int flags)
{
	resolve_all();
	return openat_common(real_openat, dirfd, path, flags, 0);
}

__attribute__((visibility("default"))) int __openat64_2(int dirfd, const char *path, int flags)
{
	resolve_all();
	return openat_common(real_openat64 ? real_openat64 : real_openat, dirfd, path, flags, 0);
}

__attribute__((visibility("default"))) int close(int fd)
{
	resolve_all();
	int k = (fd >= 0 && fd < MAX_FD && fd_state[fd] >= 2) ? fd_state[fd] - 2 : NODE_NONE;
	if (fd >= 0 && fd < MAX_FD)
		__atomic_store_n(&fd_state[fd], 0, __ATOMIC_RELAXED);
	if (fd == out_fd && out_fd >= 0) {
		/* never let the application close our output file */
		errno = EBADF;
		return -1;
	}
	int ret = real_close(fd);
	int e = errno;
	if (k && !disabled) {
		struct rb b = { 0 };
		if (rb_begin(&b, REC_CLOSE, now_ns(CLOCK_MONOTONIC), fd) == 0) {
			unsigned char *body = rb_add(&b, 8);
			if (body) {
				put_le(body, (uint32_t)ret, 4);
				put_le(body + 4, (uint32_t)(ret < 0 ? e : 0), 4);
			}
			rb_finish(&b, 0);
		}
	}
	errno = e;
	return ret;
}

__attribute__((visibility("default"))) int dup2(int oldfd, int newfd)
{
	resolve_all();
	int r = real_dup2(oldfd, newfd);
	if (r >= 0 && r < MAX_FD)
		__atomic_store_n(&fd_state[r], 0, __ATOMIC_RELAXED);
	return r;
}

__attribute__((visibility("default"))) int dup3(int oldfd, int newfd, int flags)
{
	resolve_all();
	int r = real_dup3(oldfd, newfd, flags);
	if (r >= 0 && r < MAX_FD)
		__atomic_store_n(&fd_state[r], 0, __ATOMIC_RELAXED);
	return r;
}

/* ---- mmap / munmap ----------------------------------------------------- */

static void *mmap_common(void *(*fn)(void *, size_t, int, int, int, off_t), void *addr, size_t len, int prot,
			 int flags, int fd, off_t off)
{
	int k = (disabled || (flags & MAP_ANONYMOUS)) ? NODE_NONE : fd_kind(fd);
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	void *r = fn(addr, len, prot, flags, fd, off);
	int e = errno;
	if (k) {
		struct rb b = { 0 };
		if (rb_begin(&b, REC_MMAP, t0, fd) == 0) {
			/* body: addr u64, len u64, prot i32, flags i32, off i64, ret u64, errno i32, node u8, pad[3] */
			unsigned char *body = rb_add(&b, 48);
			if (body) {
				put_le(body, (uint64_t)(uintptr_t)addr, 8);
				put_le(body + 8, len, 8);
				put_le(body + 16, (uint32_t)prot, 4);
				put_le(body + 20, (uint32_t)flags, 4);
				put_le(body + 24, (uint64_t)off, 8);
				put_le(body + 32, (uint64_t)(uintptr_t)r, 8);
				put_le(body + 40, (uint32_t)(r == MAP_FAILED ? e : 0), 4);
				body[44] = (unsigned char)k;
			}
			rb_finish(&b, 0);
		}
		if (r != MAP_FAILED) {
			pthread_mutex_lock(&range_lock);
			if (nranges < MAX_RANGES)
				ranges[nranges++].addr = (uint64_t)(uintptr_t)r, ranges[nranges - 1].len = len;
			pthread_mutex_unlock(&range_lock);
		}
	}
	errno = e;
	return r;
}

__attribute__((visibility("default"))) void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	resolve_all();
	return mmap_common(real_mmap, addr, len, prot, flags, fd, off);
}

__attribute__((visibility("default"))) void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	resolve_all();
	return mmap_common(real_mmap64 ? real_mmap64 : real_mmap, addr, len, prot, flags, fd, off);
}

__attribute__((visibility("default"))) int munmap(void *addr, size_t len)
{
	resolve_all();
	int traced = all_munmap;
	uint64_t a = (uint64_t)(uintptr_t)addr;
	if (!traced && nranges) {
		pthread_mutex_lock(&range_lock);
		for (int i = 0; i < nranges; i++) {
			if (a < ranges[i].addr + ranges[i].len && ranges[i].addr < a + len) {
				traced = 1;
				if (a <= ranges[i].addr && a + len >= ranges[i].addr + ranges[i].len)
					ranges[i] = ranges[--nranges];
				break;
			}
		}
		pthread_mutex_unlock(&range_lock);
	}
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	int r = real_munmap(addr, len);
	int e = errno;
	if (traced && !disabled) {
		struct rb b = { 0 };
		if (rb_begin(&b, REC_MUNMAP, t0, -1) == 0) {
			unsigned char *body = rb_add(&b, 24);
			if (body) {
				put_le(body, a, 8);
				put_le(body + 8, len, 8);
				put_le(body + 16, (uint32_t)r, 4);
				put_le(body + 20, (uint32_t)(r < 0 ? e : 0), 4);
			}
			rb_finish(&b, 0);
		}
	}
	errno = e;
	return r;
}

/* ---- init / fork / exit ------------------------------------------------ */

static void atfork_child(void)
{
	/* new pid: the next record opens a new file */
	pthread_mutex_init(&out_lock, NULL);
	pthread_mutex_init(&range_lock, NULL);
}

__attribute__((constructor)) static void nvtrace_init(void)
{
	resolve_all();
	const char *p = getenv("NVTRACE_DEV_PREFIX");
	if (p && *p && strlen(p) < sizeof(dev_prefix)) {
		strcpy(dev_prefix, p);
		dev_prefix_len = strlen(p);
	}
	const char *m = getenv("NVTRACE_ALL_MUNMAP");
	all_munmap = m && *m == '1';
	pthread_atfork(NULL, NULL, atfork_child);
	/* The file is opened lazily by the first record, so processes that never
	 * touch an NVIDIA node leave no file behind. */
}

__attribute__((destructor)) static void nvtrace_fini(void)
{
	/* Every record was written with write(2) already; just sync the file. */
	pthread_mutex_lock(&out_lock);
	if (out_fd >= 0 && out_pid == getpid())
		syscall(SYS_fdatasync, out_fd);
	pthread_mutex_unlock(&out_lock);
}
