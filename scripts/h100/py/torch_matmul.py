# SPDX-License-Identifier: GPL-2.0-only
"""Capture 6: a short bf16 matmul loop."""
import time
import gt
import torch
a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
b = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
torch.cuda.synchronize()
gt.step("after_setup", requested=2 * 4096 * 4096 * 2, torch=torch)
gt.do("matmul_loop")
t0 = time.time()
for i in range(200):
    c = a @ b
    if i % 10 == 9:
        torch.cuda.synchronize()
torch.cuda.synchronize()
dt = time.time() - t0
gt.step("after_loop", torch=torch, seconds=dt, tflops=200 * 2 * 4096**3 / dt / 1e12)
print(f"200 matmuls in {dt:.3f}s")
