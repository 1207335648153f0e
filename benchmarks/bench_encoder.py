"""Benchmark: published-preset encoder throughput on this machine (run by hand; RESULTS.md).

    python benchmarks/bench_encoder.py --batches 1 2 4 [--device cuda --dtype bf16]

Volumes per second and peak memory of ``net.encode`` for the published configuration
(50x128x128 input), with our memory-efficient attention (SDPA) against the plain formula the
original implementation uses (einsum + softmax), in the same run, as a ratio.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(device: str) -> str:
    """Peak memory so far: process RSS on CPU; on CUDA the peak allocated by torch since the last reset."""
    if device.startswith("cuda"):
        return f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    return f"peak RSS so far {peak_rss_mb():.0f} MB"


def run(impl: str, batch: int, device: str, dtype, repeats: int, tf32: bool = False) -> float:
    import contextlib

    from cardiolatent.model.config import PRESETS
    from cardiolatent.model.network import DiffAENetwork
    from cardiolatent.model.precision import full_float32

    net = DiffAENetwork(PRESETS["published"].replace(seed=0), attention_impl=impl).eval().to(device)
    x = torch.randn(batch, 1, 50, 128, 128, device=device)
    precision = contextlib.nullcontext() if (tf32 or dtype is not None) else full_float32()
    with torch.no_grad(), precision, torch.autocast(device_type=torch.device(device).type,
                                                    dtype=dtype or torch.float32, enabled=dtype is not None):
        net.encode(x)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeats):
            net.encode(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return batch * repeats / (time.perf_counter() - t0)


def flops_per_volume() -> float:
    """FLOPs of one published-preset encoder pass (torch's FLOP counter: convolutions, matmuls, SDPA)."""
    from torch.utils.flop_counter import FlopCounterMode

    from cardiolatent.model.config import PRESETS
    from cardiolatent.model.network import DiffAENetwork

    net = DiffAENetwork(PRESETS["published"].replace(seed=0)).eval()
    x = torch.randn(1, 1, 50, 128, 128)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net.encode(x)
    return float(fc.get_total_flops())


def matmul_peak(device: str, dtype, n: int = 4096, repeats: int = 5) -> float:
    """Achieved FLOP/s of a large square matmul: the practical peak of this device and dtype."""
    dt = dtype or torch.float32
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-plain", action="store_true", help="skip the plain-formula comparison")
    ap.add_argument("--tf32", action="store_true",
                    help="fp32 on CUDA: let cuDNN/cuBLAS use TF32 (cardiolatent's fp32 path switches it off)")
    args = ap.parse_args()
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    print(f"{platform.platform()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {args.device}, {args.dtype}{' (TF32 allowed)' if args.tf32 else ''}")
    flops = flops_per_volume()
    peak = matmul_peak(args.device, dtype, n=8192 if args.device.startswith("cuda") else 4096)
    print(f"encoder FLOPs per volume: {flops / 1e9:.1f} GFLOP; large-matmul peak here: {peak / 1e9:.1f} GFLOP/s")
    for b in args.batches:
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        sdpa = run("sdpa", b, args.device, dtype, args.repeats, args.tf32)
        line = (f"batch {b}: SDPA {sdpa:.3f} vol/s = {sdpa * flops / 1e9:.1f} GFLOP/s "
                f"({100 * sdpa * flops / peak:.0f}% of the matmul peak; {peak_memory(args.device)})")
        if not args.no_plain:
            try:
                plain = run("math", b, args.device, dtype, args.repeats, args.tf32)
                line += f"; plain formula {plain:.3f} vol/s; ratio {sdpa / plain:.2f}x"
            except torch.OutOfMemoryError:
                line += "; plain formula: out of memory"
                torch.cuda.empty_cache()
        print(line, flush=True)


if __name__ == "__main__":
    main()
