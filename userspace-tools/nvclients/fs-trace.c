/* fs-trace: an LD_PRELOAD shim that logs the file-system calls (open, fopen,
 * stat and friends, access) and ioctls of a process to stderr, with the
 * device numbers stat reports. Used to find what NVIDIA's 550 user space
 * checks before its first ioctl (tests/fidelity/nvsim-550-clients/
 * device-check.txt). Build: gcc -shared -fPIC -O1 -o fs-trace.so fs-trace.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <errno.h>
#include <string.h>
static void lg(const char *what, const char *p, int r) { int e = errno; fprintf(stderr, "SHIM %s %s -> %d (%s)\n", what, p ? p : "(null)", r, r < 0 ? strerror(e) : ""); errno = e; }
int open(const char *p, int f, ...) { va_list a; va_start(a, f); int m = va_arg(a, int); va_end(a); static int (*o)(const char*, int, ...); if(!o) o = dlsym(RTLD_NEXT, "open"); int r = o(p, f, m); lg("open", p, r); return r; }
int open64(const char *p, int f, ...) { va_list a; va_start(a, f); int m = va_arg(a, int); va_end(a); static int (*o)(const char*, int, ...); if(!o) o = dlsym(RTLD_NEXT, "open64"); int r = o(p, f, m); lg("open64", p, r); return r; }
int openat(int d, const char *p, int f, ...) { va_list a; va_start(a, f); int m = va_arg(a, int); va_end(a); static int (*o)(int, const char*, int, ...); if(!o) o = dlsym(RTLD_NEXT, "openat"); int r = o(d, p, f, m); lg("openat", p, r); return r; }
int stat(const char *p, struct stat *s) { static int (*o)(const char*, struct stat*); if(!o) o = dlsym(RTLD_NEXT, "stat"); int r = o(p, s); lg("stat", p, r); if (r == 0) fprintf(stderr, "SHIM   mode %o rdev %u:%u\n", s->st_mode, major(s->st_rdev), minor(s->st_rdev)); return r; }
int stat64(const char *p, struct stat64 *s) { static int (*o)(const char*, struct stat64*); if(!o) o = dlsym(RTLD_NEXT, "stat64"); int r = o(p, s); lg("stat64", p, r); if (r == 0) fprintf(stderr, "SHIM   mode %o rdev %u:%u\n", s->st_mode, major(s->st_rdev), minor(s->st_rdev)); return r; }
int lstat(const char *p, struct stat *s) { static int (*o)(const char*, struct stat*); if(!o) o = dlsym(RTLD_NEXT, "lstat"); int r = o(p, s); lg("lstat", p, r); return r; }
int access(const char *p, int m) { static int (*o)(const char*, int); if(!o) o = dlsym(RTLD_NEXT, "access"); int r = o(p, m); lg("access", p, r); return r; }
int fstatat(int d, const char *p, struct stat *s, int f) { static int (*o)(int, const char*, struct stat*, int); if(!o) o = dlsym(RTLD_NEXT, "fstatat"); int r = o(d, p, s, f); lg("fstatat", p, r); if (r == 0) fprintf(stderr, "SHIM   mode %o rdev %u:%u\n", s->st_mode, major(s->st_rdev), minor(s->st_rdev)); return r; }
int statx(int d, const char *p, int f, unsigned m, struct statx *s) { static int (*o)(int, const char*, int, unsigned, struct statx*); if(!o) o = dlsym(RTLD_NEXT, "statx"); int r = o(d, p, f, m, s); lg("statx", p, r); if (r == 0) fprintf(stderr, "SHIM   rdev %u:%u\n", s->stx_rdev_major, s->stx_rdev_minor); return r; }
FILE *fopen(const char *p, const char *m) { static FILE *(*o)(const char*, const char*); if(!o) o = dlsym(RTLD_NEXT, "fopen"); FILE *r = o(p, m); lg("fopen", p, r ? 0 : -1); return r; }
FILE *fopen64(const char *p, const char *m) { static FILE *(*o)(const char*, const char*); if(!o) o = dlsym(RTLD_NEXT, "fopen64"); FILE *r = o(p, m); lg("fopen64", p, r ? 0 : -1); return r; }
int __open_2(const char *p, int f) { static int (*o)(const char*, int); if(!o) o = dlsym(RTLD_NEXT, "__open_2"); int r = o(p, f); lg("__open_2", p, r); return r; }
int __open64_2(const char *p, int f) { static int (*o)(const char*, int); if(!o) o = dlsym(RTLD_NEXT, "__open64_2"); int r = o(p, f); lg("__open64_2", p, r); return r; }
int __xstat(int v, const char *p, struct stat *s) { static int (*o)(int, const char*, struct stat*); if(!o) o = dlsym(RTLD_NEXT, "__xstat"); int r = o(v, p, s); lg("__xstat", p, r); if (r == 0) fprintf(stderr, "SHIM   mode %o rdev %u:%u\n", s->st_mode, major(s->st_rdev), minor(s->st_rdev)); return r; }
int __xstat64(int v, const char *p, struct stat64 *s) { static int (*o)(int, const char*, struct stat64*); if(!o) o = dlsym(RTLD_NEXT, "__xstat64"); int r = o(v, p, s); lg("__xstat64", p, r); if (r == 0) fprintf(stderr, "SHIM   mode %o rdev %u:%u\n", s->st_mode, major(s->st_rdev), minor(s->st_rdev)); return r; }
int fstat(int d, struct stat *s) { static int (*o)(int, struct stat*); if(!o) o = dlsym(RTLD_NEXT, "fstat"); int r = o(d, s); fprintf(stderr, "SHIM fstat %d -> %d mode %o rdev %u:%u\n", d, r, s->st_mode, major(s->st_rdev), minor(s->st_rdev)); return r; }
int ioctl(int d, unsigned long req, void *a) { static int (*o)(int, unsigned long, void*); if(!o) o = dlsym(RTLD_NEXT, "ioctl"); int r = o(d, req, a); int e = errno; fprintf(stderr, "SHIM ioctl %d %#lx -> %d (%s)\n", d, req, r, r < 0 ? strerror(e) : ""); errno = e; return r; }
