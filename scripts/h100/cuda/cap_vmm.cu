// SPDX-License-Identifier: GPL-2.0-only
// Capture 3: CUDA VMM (cuMemCreate / cuMemMap) of a known size.
#include "gt.h"
#include <cuda.h>
#define CU(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { fprintf(stderr, "%s failed %d\n", #x, r_); return 1; } } while (0)
int main(int argc, char **argv)
{
	gt_init();
	size_t want = (argc > 1 ? strtoull(argv[1], 0, 0) : 512ull) << 20; // MiB
	cudaFree(0);
	gt_step("after_init", 0, 1);
	CUdevice dev;
	CU(cuDeviceGet(&dev, 0));
	CUmemAllocationProp prop = {};
	prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
	prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	prop.location.id = dev;
	size_t gran = 0;
	CU(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
	size_t size = (want + gran - 1) / gran * gran;
	printf("granularity=%zu size=%zu\n", gran, size);
	CUmemGenericAllocationHandle h;
	gt_do("cuMemCreate");
	CU(cuMemCreate(&h, size, &prop, 0));
	gt_step("after_cuMemCreate", size, 1);
	CUdeviceptr va;
	gt_do("cuMemAddressReserve");
	CU(cuMemAddressReserve(&va, size, 0, 0, 0));
	gt_do("cuMemMap");
	CU(cuMemMap(va, size, 0, h, 0));
	CUmemAccessDesc acc = {};
	acc.location = prop.location;
	acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
	gt_do("cuMemSetAccess");
	CU(cuMemSetAccess(va, size, &acc, 1));
	CU(cuMemsetD8(va, 1, size));
	CU(cuCtxSynchronize());
	gt_step("after_map_and_touch", size, 1);
	gt_do("cuMemUnmap");
	CU(cuMemUnmap(va, size));
	gt_do("cuMemRelease");
	CU(cuMemRelease(h));
	gt_do("cuMemAddressFree");
	CU(cuMemAddressFree(va, size));
	gt_step("after_release", 0, 1);
	return 0;
}
