#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Unpacks the device machine's capture tarball (scripts/h100/capture-all.sh's
$OUT/traces.tar.xz) into tests/traces/: per capture the traces compressed
with zstd (nvtrace.<pid>.bin.zst) and ground-truth.json (the steps, the
workload's stdout and what the capture is).
usage: scripts/h100/import-traces.py TARBALL MACHINE [CAPTURE...]"""
import json, os, subprocess, sys, tarfile, tempfile

DESCRIPTIONS = {
    "10-jax-matmul": ("JAX with its defaults (the client preallocates 75 % of the free memory), a bf16 4096x4096 matmul, a jitted loop of 50", "scripts/h100/py/jax_matmul.py"),
    "11-cupy-pools": ("CuPy: 256 MiB in the default pool, del, free_all_blocks; cuBLAS matmul; an ElementwiseKernel (NVRTC); 64 MiB through the cudaMallocAsync pool and its release", "scripts/h100/py/cupy_pools.py"),
    "12-torch-train-nccl": ("PyTorch: 5 training steps (conv + linear, autocast bf16, AdamW), a CUDA graph captured and replayed 3 times, a one-rank NCCL process group (all_reduce, broadcast of 64 MiB)", "scripts/h100/py/torch_train_nccl.py"),
}

def main():
    tarball, machine, *names = sys.argv[1:]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/traces")
    with tempfile.TemporaryDirectory() as tmp:
        tarfile.open(tarball).extractall(tmp)
        src = os.path.join(tmp, "traces")
        for name in names or sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d))):
            d, out = os.path.join(src, name), os.path.join(root, name)
            os.makedirs(out, exist_ok=True)
            for f in sorted(os.listdir(d)):
                if f.endswith(".bin"):
                    subprocess.run(["zstd", "-q", "-19", "-f", os.path.join(d, f), "-o", os.path.join(out, f + ".zst")], check=True)
            steps = [json.loads(l) for l in open(os.path.join(d, "ground-truth.jsonl")) if l.strip()]
            desc, cmd = DESCRIPTIONS.get(name, ("", ""))
            gt = {
                "capture": name, "description": desc, "command": cmd, "machine": machine,
                "markers": "each step writes a MARKER record 'gt:<step>' (ground truth taken right after) and 'do:<action>' before an action; mono_ns is CLOCK_MONOTONIC, the trace's clock",
                "fields": {"requested_bytes": "bytes the step asked for", "smi_used_mib": "nvidia-smi --query-gpu=memory.used (MiB), run without the preload",
                           "cuda_free/cuda_total": "torch.cuda.mem_get_info (PyTorch captures only)", "torch_allocated/torch_reserved": "PyTorch caching allocator counters"},
                "steps": steps,
                "stdout": open(os.path.join(d, "stdout.txt")).read(),
            }
            with open(os.path.join(out, "ground-truth.json"), "w") as f:
                json.dump(gt, f, indent=1)
                f.write("\n")
            print(name, sorted(os.listdir(out)))

main()
