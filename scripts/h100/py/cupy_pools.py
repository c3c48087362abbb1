# SPDX-License-Identifier: GPL-2.0-only
"""Capture 11: CuPy's memory pools (default pool, free_all_blocks, the
stream-ordered cudaMallocAsync pool), a cuBLAS matmul and an
ElementwiseKernel compiled by NVRTC."""
import gt
gt.do("import_cupy")
import cupy as cp
a = cp.ones((64, 1024, 1024), dtype=cp.float32)
cp.cuda.runtime.deviceSynchronize()
gt.step("after_alloc_256MiB", requested=256 << 20)
del a
gt.step("after_del_pooled")
cp.get_default_memory_pool().free_all_blocks()
gt.step("after_free_all_blocks")
m = cp.random.rand(2048, 2048, dtype=cp.float32)
p = m @ m
dbl = cp.ElementwiseKernel("float32 x", "float32 y", "y = x * 2", "dbl")
q = dbl(p)
cp.cuda.runtime.deviceSynchronize()
gt.step("after_matmul_kernel", value=float(q[0, 0]))
pool = cp.cuda.MemoryAsyncPool()
cp.cuda.set_allocator(pool.malloc)
b = cp.zeros(64 << 20, dtype=cp.uint8)
b += 1
cp.cuda.runtime.deviceSynchronize()
gt.step("after_async_alloc_64MiB", requested=64 << 20, value=int(b.sum()))
del b
pool.free_all_blocks()
cp.cuda.runtime.deviceSynchronize()
gt.step("after_async_free")
print("cupy ok")
