// SPDX-License-Identifier: GPL-2.0-only
// Issue 16 section 4: what managed (cudaMallocManaged) and pageable (HMM)
// memory touched on the GPU does to the driver's own counts. Prints the
// device's managed/pageable attributes and cudaMemGetInfo's free bytes at
// each step; at each step it also writes "STEP" to $SYNC and waits for
// $SYNC.go so that scripts/h100/managed.sh can read nvidia-smi and
// GPU_GET_PID_INFO for this process meanwhile.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__global__ void touch(unsigned char *p, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		p[i] = (unsigned char)i;
}
static void step(const char *name)
{
	size_t fr = 0, tot = 0;
	cudaMemGetInfo(&fr, &tot);
	printf("step %s free %zu total %zu\n", name, fr, tot);
	fflush(stdout);
	const char *s = getenv("SYNC");
	if (!s)
		return;
	char go[512];
	snprintf(go, sizeof go, "%s.go", s);
	unlink(go);
	FILE *f = fopen(s, "w");
	if (f) { fprintf(f, "%s\n", name); fclose(f); }
	for (int i = 0; i < 300 && access(go, F_OK) != 0; i++)
		usleep(100000);
}
int main(int argc, char **argv)
{
	size_t size = (argc > 1 ? strtoull(argv[1], 0, 0) : 1024ull) << 20;
	int v;
	cudaFree(0);
	cudaDeviceGetAttribute(&v, cudaDevAttrConcurrentManagedAccess, 0);
	printf("attr concurrent_managed_access %d\n", v);
	cudaDeviceGetAttribute(&v, cudaDevAttrPageableMemoryAccess, 0);
	printf("attr pageable_memory_access %d\n", v);
	cudaDeviceGetAttribute(&v, cudaDevAttrPageableMemoryAccessUsesHostPageTables, 0);
	printf("attr pageable_uses_host_page_tables %d\n", v);
	printf("pid %d size %zu\n", getpid(), size);
	step("init");
	unsigned char *p;
	cudaError_t e = cudaMallocManaged(&p, size);
	printf("cudaMallocManaged %s\n", cudaGetErrorString(e));
	step("managed_allocated");
	touch<<<1024, 256>>>(p, size);
	e = cudaDeviceSynchronize();
	printf("managed touch %s\n", cudaGetErrorString(e));
	step("managed_touched");
	cudaFree(p);
	step("managed_freed");
	// Oversubscription: a managed range larger than the card.
	size_t big = 160ull << 30;
	e = cudaMallocManaged(&p, big);
	printf("cudaMallocManaged 160GiB %s\n", cudaGetErrorString(e));
	if (e == cudaSuccess) {
		touch<<<1024, 256>>>(p, 2ull << 30);
		e = cudaDeviceSynchronize();
		printf("managed 160GiB touch 2GiB %s\n", cudaGetErrorString(e));
		step("big_touched");
		cudaFree(p);
	}
	// Last: on a host without HMM the pageable touch faults and ends the context.
	unsigned char *q = (unsigned char *)malloc(size);
	memset(q, 1, size);
	touch<<<1024, 256>>>(q, size);
	e = cudaDeviceSynchronize();
	printf("pageable touch %s\n", cudaGetErrorString(e));
	step("pageable_touched");
	free(q);
	step("end");
	return 0;
}
