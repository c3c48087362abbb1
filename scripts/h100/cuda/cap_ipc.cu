// SPDX-License-Identifier: GPL-2.0-only
// Capture 8: memory shared between two processes, the two ways CUDA offers:
//   legacy  cudaIpcGetMemHandle in the parent, the 64-byte handle sent over
//           a socket, cudaIpcOpenMemHandle in the child;
//   vmm     cuMemCreate with POSIX fd handles, cuMemExportToShareableHandle
//           in the parent, the fd sent with SCM_RIGHTS, cuMemImport-
//           FromShareableHandle + map in the child.
// The child is forked before CUDA starts in either process. Each process
// lists its fds (readlink /proc/self/fd/N) at each step, so the trace's fd
// numbers can be told apart (nvidiactl, nvidia0, nvidia-uvm, other).
// usage: cap_ipc legacy|vmm [MiB]
#include "gt.h"
#include <cuda.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/wait.h>
#define CU(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { fprintf(stderr, "%s failed %d\n", #x, r_); return 1; } } while (0)
#define RT(x) do { cudaError_t r_ = (x); if (r_ != cudaSuccess) { fprintf(stderr, "%s failed %s\n", #x, cudaGetErrorString(r_)); return 1; } } while (0)

static void list_fds(const char *step)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char p[64], t[256];
	printf("fds pid %d at %s:", getpid(), step);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(p, t, sizeof t - 1);
		t[n < 0 ? 0 : n] = 0;
		printf(" %s=%s", e->d_name, t);
	}
	printf("\n");
	fflush(stdout);
	if (d)
		closedir(d);
}

static int send_fd(int s, int fd, const void *buf, size_t len)
{
	struct msghdr m = {};
	struct iovec io = { (void *)buf, len };
	char c[CMSG_SPACE(sizeof(int))] = {};
	m.msg_iov = &io;
	m.msg_iovlen = 1;
	if (fd >= 0) {
		m.msg_control = c;
		m.msg_controllen = sizeof c;
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
	}
	return sendmsg(s, &m, 0) == (ssize_t)len ? 0 : -1;
}

static int recv_fd(int s, int *fd, void *buf, size_t len)
{
	struct msghdr m = {};
	struct iovec io = { buf, len };
	char c[CMSG_SPACE(sizeof(int))] = {};
	m.msg_iov = &io;
	m.msg_iovlen = 1;
	m.msg_control = c;
	m.msg_controllen = sizeof c;
	if (recvmsg(s, &m, 0) != (ssize_t)len)
		return -1;
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	*fd = -1;
	if (h && h->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(h), sizeof *fd);
	return 0;
}

static int child(int s, int vmm, size_t size)
{
	char msg[64];
	int fd = -1;
	if (recv_fd(s, &fd, msg, sizeof msg))
		return 2;
	cudaFree(0);
	gt_step("child_after_init", 0, 1);
	list_fds("child_after_init");
	unsigned char first = 0;
	if (!vmm) {
		cudaIpcMemHandle_t h;
		memcpy(&h, msg, sizeof h);
		void *p = 0;
		gt_do("cudaIpcOpenMemHandle");
		RT(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess));
		gt_step("child_after_open", 0, 1);
		list_fds("child_after_open");
		RT(cudaMemcpy(&first, p, 1, cudaMemcpyDeviceToHost));
		gt_do("cudaIpcCloseMemHandle");
		RT(cudaIpcCloseMemHandle(p));
	} else {
		printf("child got fd %d\n", fd);
		list_fds("child_got_fd");
		CUmemGenericAllocationHandle h;
		gt_do("cuMemImportFromShareableHandle");
		CU(cuMemImportFromShareableHandle(&h, (void *)(uintptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
		gt_step("child_after_import", 0, 1);
		list_fds("child_after_import");
		CUdeviceptr va;
		CU(cuMemAddressReserve(&va, size, 0, 0, 0));
		CU(cuMemMap(va, size, 0, h, 0));
		CUmemAccessDesc acc = {};
		acc.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		acc.location.id = 0;
		acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
		CU(cuMemSetAccess(va, size, &acc, 1));
		CU(cuMemcpyDtoH(&first, va, 1));
		gt_do("child_unmap_release");
		CU(cuMemUnmap(va, size));
		CU(cuMemRelease(h));
		CU(cuMemAddressFree(va, size));
		close(fd);
	}
	printf("child read 0x%02x\n", first);
	gt_step("child_done", 0, 1);
	send_fd(s, -1, "ok", 2);
	return first == 0x5a ? 0 : 3;
}

int main(int argc, char **argv)
{
	gt_init();
	int vmm = argc > 1 && !strcmp(argv[1], "vmm");
	size_t size = (argc > 2 ? strtoull(argv[2], 0, 0) : 64ull) << 20;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv))
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		_exit(child(sv[1], vmm, size));
	}
	close(sv[1]);
	cudaFree(0);
	gt_step("parent_after_init", 0, 1);
	list_fds("parent_after_init");
	char msg[64] = {};
	int fd = -1;
	CUdeviceptr va = 0;
	CUmemGenericAllocationHandle h = 0;
	void *p = 0;
	if (!vmm) {
		gt_do("cudaMalloc");
		RT(cudaMalloc(&p, size));
		RT(cudaMemset(p, 0x5a, size));
		RT(cudaDeviceSynchronize());
		cudaIpcMemHandle_t ih;
		gt_do("cudaIpcGetMemHandle");
		RT(cudaIpcGetMemHandle(&ih, p));
		memcpy(msg, &ih, sizeof ih);
	} else {
		CUmemAllocationProp prop = {};
		prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
		prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		prop.location.id = 0;
		prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
		size_t gran = 0;
		CU(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
		size = (size + gran - 1) / gran * gran;
		gt_do("cuMemCreate");
		CU(cuMemCreate(&h, size, &prop, 0));
		CU(cuMemAddressReserve(&va, size, 0, 0, 0));
		CU(cuMemMap(va, size, 0, h, 0));
		CUmemAccessDesc acc = {};
		acc.location = prop.location;
		acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
		CU(cuMemSetAccess(va, size, &acc, 1));
		CU(cuMemsetD8(va, 0x5a, size));
		CU(cuCtxSynchronize());
		gt_do("cuMemExportToShareableHandle");
		CU(cuMemExportToShareableHandle(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
		printf("parent exported fd %d\n", fd);
	}
	gt_step("parent_after_export", size, 1);
	list_fds("parent_after_export");
	send_fd(sv[0], fd, msg, sizeof msg);
	char ok[2];
	int dummy;
	recv_fd(sv[0], &dummy, ok, 2);
	int st = 0;
	waitpid(pid, &st, 0);
	printf("child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	gt_do("parent_free");
	if (!vmm) {
		RT(cudaFree(p));
	} else {
		close(fd);
		CU(cuMemUnmap(va, size));
		CU(cuMemRelease(h));
		CU(cuMemAddressFree(va, size));
	}
	gt_step("parent_done", 0, 1);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 4;
}
