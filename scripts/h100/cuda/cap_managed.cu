// SPDX-License-Identifier: GPL-2.0-only
// Capture 4: cudaMallocManaged touched on the GPU (small: 256 MiB).
#include "gt.h"
__global__ void touch(unsigned char *p, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		p[i] = (unsigned char)i;
}
int main(int argc, char **argv)
{
	gt_init();
	size_t size = (argc > 1 ? strtoull(argv[1], 0, 0) : 256ull) << 20;
	cudaFree(0);
	gt_step("after_init", 0, 1);
	unsigned char *p;
	gt_do("cudaMallocManaged");
	if (cudaMallocManaged(&p, size) != cudaSuccess)
		return 1;
	gt_step("after_cudaMallocManaged", size, 1);
	gt_do("touch_on_gpu");
	touch<<<1024, 256>>>(p, size);
	cudaDeviceSynchronize();
	gt_step("after_gpu_touch", size, 1);
	gt_do("cudaFree");
	cudaFree(p);
	gt_step("after_free", 0, 1);
	return 0;
}
