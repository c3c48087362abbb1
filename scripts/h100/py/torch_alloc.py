# SPDX-License-Identifier: GPL-2.0-only
"""Capture 2: PyTorch allocating 1 MiB, 64 MiB, 1 GiB, 4 GiB, then free and empty_cache."""
import gt
gt.step("before_import")
import torch
gt.do("torch_cuda_init")
torch.cuda.init()
x = torch.zeros(1, device="cuda")
torch.cuda.synchronize()
gt.step("after_init", torch=torch)
MiB = 1 << 20
keep = {}
for name, size in [("1MiB", MiB), ("64MiB", 64 * MiB), ("1GiB", 1024 * MiB), ("4GiB", 4096 * MiB)]:
    gt.do("alloc_" + name)
    t = torch.empty(size, dtype=torch.uint8, device="cuda")
    t.fill_(1)
    torch.cuda.synchronize()
    keep[name] = t
    del t  # keep only the dict's reference, so that freeing below really frees
    gt.step("after_alloc_" + name, requested=size, torch=torch)
for name in list(keep):
    gt.do("free_" + name)
    del keep[name]
    torch.cuda.synchronize()
    gt.step("after_free_" + name, torch=torch)
gt.do("empty_cache")
torch.cuda.empty_cache()
torch.cuda.synchronize()
gt.step("after_empty_cache", torch=torch)
