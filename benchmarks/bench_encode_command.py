"""Benchmark: the whole ``cardiolatent encode`` command on synthetic bulk zips (run by hand; RESULTS.md).

    python benchmarks/bench_encode_command.py --cohort /work/train/cohort --n 200 --weights demo
    python benchmarks/bench_encode_command.py --cohort /work/train/cohort --n 6 --weights published

Participants per second including image preparation (zip -> DICOM -> 50 frames -> mask, crop,
normalise -> resample), against the way the original pipeline works, in the same run: each zip
extracted to a temporary folder on disk, its DICOM files read and sorted one by one, the cine
prepared and encoded one participant at a time (batch 1, no parallel decoding), seed after seed.
Both use the same preparation and network code, so the ratio measures the pipeline (in-memory
zips, parallel preparation, batching), not the arithmetic.

``--weights demo``: the five shipped demo models. ``--weights published``: one published-preset
network with random weights (throughput does not depend on the values), written to a temporary
safetensors file.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np


def _zips(cohort: Path, n: int) -> list[Path]:
    z = sorted((cohort / "bulk" / "20208").glob("*_20208_2_0.zip"))
    if len(z) < n:
        raise SystemExit(f"{cohort} has only {len(z)} visit-2 zips")
    return z[:n]


def _weights(kind: str, tmp: Path) -> list[str]:
    if kind == "demo":
        from cardiolatent.model.pipeline import demo_weight_files

        return [str(p) for p in demo_weight_files()]
    import torch

    from cardiolatent.model.config import PRESETS
    from cardiolatent.model.network import DiffAENetwork
    from cardiolatent.model.weights import save_weights

    torch.manual_seed(0)
    cfg = PRESETS["published"].replace(seed=1701)
    path = tmp / "published_random.safetensors"
    save_weights(DiffAENetwork(cfg).eval(), path, cfg)
    return [str(path)]


def ours(zips: list[Path], weights: list[str], out: Path, workers: int, batch: int, device: str = "cpu",
         dtype: str = "fp32") -> float:
    lst = out.parent / "zips.txt"
    lst.write_text("\n".join(map(str, zips)) + "\n")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cardiolatent", "encode", "--images", str(lst), "--weights", *weights,
                    "--out", str(out), "--workers", str(workers), "--batch-size", str(batch), "--quiet",
                    "--no-resume", "--device", device, "--dtype", dtype], check=True)
    return time.perf_counter() - t0


def original_style(zips: list[Path], weights: list[str], tmp: Path, device: str = "cpu") -> tuple[float, np.ndarray]:
    """Extract to disk, read DICOMs one by one, prepare, encode with batch 1, one seed after another."""
    import pydicom
    import torch

    from cardiolatent.images.prepare import prepare, resample
    from cardiolatent.model.pipeline import load_model

    models = [load_model(w, device=device) for w in weights]
    t0 = time.perf_counter()
    Z = []
    for z in zips:
        d = tmp / z.stem
        with zipfile.ZipFile(z) as zf:
            zf.extractall(d)
        frames = []
        for f in sorted(d.glob("*.dcm")):
            ds = pydicom.dcmread(f)
            if "4CH" not in str(getattr(ds, "SeriesDescription", "")).upper():
                continue
            frames.append((int(ds.InstanceNumber), ds.pixel_array.astype(np.float32)))
        frames.sort(key=lambda x: x[0])
        vol = prepare(np.stack([f for _, f in frames]))
        for m in models:
            shape = tuple(m.config.input_shape)
            x = resample(vol, shape) if tuple(vol.shape) != shape else vol
            with torch.no_grad():
                Z.append(m.encode(torch.as_tensor(np.asarray(x))[None, None]).cpu().numpy())
    return time.perf_counter() - t0, np.concatenate(Z)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort", required=True, help="a 'cardiolatent synth' folder with bulk zips")
    ap.add_argument("--n", type=int, default=200, help="participants (visit-2 zips) to encode")
    ap.add_argument("--weights", choices=["demo", "published"], default="demo")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the original-style loop runs fp32 there too)")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="cardiolatent encode --dtype")
    args = ap.parse_args()
    import torch

    zips = _zips(Path(args.cohort), args.n)
    print(f"{platform.platform()}, torch {torch.__version__}, {args.n} participants, weights {args.weights}, "
          f"device {args.device}, {args.dtype}, {args.workers} workers")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        w = _weights(args.weights, tmp)
        (tmp / "out").mkdir()
        t_ours = ours(zips, w, tmp / "out" / "latents.parquet", args.workers, args.batch_size, args.device,
                      args.dtype)
        t_orig, _ = original_style(zips, w, tmp / "extract", args.device)
    print("| weights | participants | seeds | cardiolatent encode | original-style loop | ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.weights} | {args.n} | {len(w)} | {t_ours:.1f} s ({args.n / t_ours:.2f} participants/s) | "
          f"{t_orig:.1f} s ({args.n / t_orig:.2f} participants/s) | {t_orig / t_ours:.2f}x |")


if __name__ == "__main__":
    main()
