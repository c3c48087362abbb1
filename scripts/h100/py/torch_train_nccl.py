# SPDX-License-Identifier: GPL-2.0-only
"""Capture 12: a PyTorch training step (conv + linear, cuDNN, autocast bf16,
AdamW, a CUDA graph replay) and NCCL (one-rank process group: all_reduce,
broadcast)."""
import os
import gt
import torch
import torch.distributed as dist
import torch.nn as nn
torch.cuda.init()
gt.step("after_init", torch=torch)
model = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(8),
                      nn.Flatten(), nn.Linear(64 * 64, 1000)).cuda()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
x = torch.randn(64, 3, 128, 128, device="cuda")
t = torch.randint(0, 1000, (64,), device="cuda")
gt.do("train")
for _ in range(5):
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = nn.functional.cross_entropy(model(x), t)
    opt.zero_grad()
    loss.backward()
    opt.step()
torch.cuda.synchronize()
gt.step("after_train", torch=torch, loss=float(loss))
g = torch.cuda.CUDAGraph()
s = torch.cuda.Stream()
s.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(s):
    y = model(x)
torch.cuda.current_stream().wait_stream(s)
with torch.cuda.graph(g):
    y = model(x)
for _ in range(3):
    g.replay()
torch.cuda.synchronize()
gt.step("after_graph", torch=torch)
os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", "29533")
gt.do("nccl")
dist.init_process_group("nccl", rank=0, world_size=1, device_id=torch.device("cuda:0"))
v = torch.ones(16 << 20, device="cuda")
dist.all_reduce(v)
dist.broadcast(v, 0)
torch.cuda.synchronize()
gt.step("after_nccl", torch=torch, value=float(v[0]))
dist.destroy_process_group()
print("train+nccl ok", float(loss), float(v[0]))
