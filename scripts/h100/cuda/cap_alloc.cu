// SPDX-License-Identifier: GPL-2.0-only
// Capture 7: one of two concurrent processes: cudaMalloc N MiB, touch, hold, free.
#include "gt.h"
int main(int argc, char **argv)
{
	gt_init();
	size_t size = (argc > 1 ? strtoull(argv[1], 0, 0) : 512ull) << 20;
	int hold_ms = argc > 2 ? atoi(argv[2]) : 1000;
	cudaFree(0);
	gt_step("after_init", 0, 1);
	void *p;
	gt_do("cudaMalloc");
	if (cudaMalloc(&p, size) != cudaSuccess)
		return 1;
	cudaMemset(p, 1, size);
	cudaDeviceSynchronize();
	gt_step("after_cudaMalloc", size, 1);
	usleep(hold_ms * 1000);
	gt_step("holding", size, 1);
	gt_do("cudaFree");
	cudaFree(p);
	gt_step("after_free", 0, 1);
	return 0;
}
