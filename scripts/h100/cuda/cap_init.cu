// SPDX-License-Identifier: GPL-2.0-only
// Capture 1: CUDA init and cudaMemGetInfo.
#include "gt.h"
int main()
{
	gt_init();
	gt_step("before_init", 0, 0);
	gt_do("cudaFree0_init");
	cudaFree(0);
	gt_step("after_init", 0, 1);
	gt_do("cudaMemGetInfo");
	size_t f, t;
	cudaMemGetInfo(&f, &t);
	printf("free=%zu total=%zu\n", f, t);
	gt_step("end", 0, 1);
	return 0;
}
