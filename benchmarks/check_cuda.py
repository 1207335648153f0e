"""CUDA paths checked on a GPU machine (run by hand where one is available; results in RESULTS.md).

    python benchmarks/check_cuda.py --work /tmp/cuda_check

CI has no GPU, so the CPU test suite cannot reach these paths. This script checks, on CUDA:

1. The published-preset encoder with the fixture weights reproduces the original
   implementation's latent (``tests/fixtures/published``), in fp32 and under bf16 autocast
   (difference reported against the fixture's scale).
2. DDIM inversion and decoding (demo_S1701, 50+50 steps) on CUDA against CPU.
3. ``cardiolatent encode --device cuda`` on synthetic bulk zips with the demo models: latents
   against the same command on CPU (max |difference|), bit-identical on a second CUDA run, and
   the bf16 run's difference.
4. ``cardiolatent train --device cuda --amp`` (bf16 autocast) for a few steps of the demo preset:
   finite loss, weights that load, and seconds per step against the same steps on CPU.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "published"


def cli(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cardiolatent", *args], check=True)
    return time.perf_counter() - t0


def check_fixture() -> None:
    from cardiolatent.model.pipeline import load_model

    x = torch.as_tensor(np.load(FIX / "published_input.npy"), dtype=torch.float32)
    ref = torch.as_tensor(np.load(FIX / "published_latent.npy"), dtype=torch.float32)
    model = load_model(FIX / "published_encoder.safetensors").to("cuda")
    with torch.no_grad():
        z32 = model.encode(x.cuda()).float().cpu()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            z16 = model.encode(x.cuda()).float().cpu()
    scale = ref.abs().max().item()
    print(f"[fixture] published encoder on CUDA fp32: max |z - original| = {(z32 - ref).abs().max().item():.2e} "
          f"(latent scale {scale:.3g}); bf16 autocast: {(z16 - ref).abs().max().item():.2e}", flush=True)


def check_diffusion() -> None:
    """DDIM inversion then decoding with demo_S1701 on CUDA, against the same on CPU."""
    from cardiolatent.images.prepare import prepare, resample
    from cardiolatent.model.pipeline import demo_weight_files, load_model
    from cardiolatent.synth.phantom import render_cine

    cine = render_cine(dict(lvedv_ml=150, lvef_pct=60, lvwt_mm=9, lav_ml=70, rvedv_ml=160),
                       rng=np.random.default_rng(100))
    out = {}
    for device in ("cpu", "cuda"):
        model = load_model(demo_weight_files()[0]).to(device)
        x = torch.as_tensor(np.asarray(resample(prepare(cine.pixels), model.input_shape)))[None, None].to(device)
        with torch.no_grad():
            z = model.encode(x)
            x_t = model.invert(x, z, 50)
            out[device] = (x.cpu(), model.decode(x_t, z, 50).float().cpu())
    x, cpu = out["cpu"]
    psnr = {d: 10 * np.log10(4.0 / float(((out[d][1] - x) ** 2).mean())) for d in out}
    print(f"[diffusion] 50+50 DDIM steps: PSNR cpu {psnr['cpu']:.2f} dB, cuda {psnr['cuda']:.2f} dB; "
          f"max |cuda - cpu| of the decoded image {(out['cuda'][1] - cpu).abs().max().item():.2e}", flush=True)


def check_encode(work: Path, n: int) -> None:
    cohort = work / "cohort"
    if not (cohort / "bulk").exists():
        cli("synth", "--n", str(n), "--seed", "7", "--out", str(cohort), "--quiet")
    runs = {"cpu": ["--device", "cpu"], "cuda": ["--device", "cuda"], "cuda2": ["--device", "cuda"],
            "bf16": ["--device", "cuda", "--dtype", "bf16"]}
    tables, secs = {}, {}
    for name, extra in runs.items():
        out = work / f"latents_{name}.parquet"
        out.unlink(missing_ok=True)
        secs[name] = cli("encode", "--images", str(cohort / "bulk"), "--weights", "demo", "--out", str(out),
                         "--quiet", *extra)
        tables[name] = pd.read_parquet(out).sort_values(["seed", "eid", "instance"]).reset_index(drop=True)
    zc = [c for c in tables["cpu"].columns if c.startswith("Z")]
    cpu = tables["cpu"][zc].to_numpy(np.float64)
    for name in ("cuda", "bf16"):
        t = tables[name]
        assert t[["eid", "instance", "seed"]].equals(tables["cpu"][["eid", "instance", "seed"]]), name
        d = np.abs(t[zc].to_numpy(np.float64) - cpu)
        print(f"[encode] {name} vs cpu: max |dZ| = {d.max():.2e}, latent SD {cpu.std():.3g}; "
              f"{len(t)} rows; {secs[name]:.1f} s (cpu {secs['cpu']:.1f} s)", flush=True)
    same = tables["cuda"][zc].equals(tables["cuda2"][zc])
    print(f"[encode] second CUDA run bit-identical: {same}", flush=True)


def check_train(work: Path, steps: int) -> None:
    from cardiolatent.model.pipeline import load_model

    common = ["train", "--images", str(work / "cohort" / "bulk"), "--cache", str(work / "cache"), "--preset", "demo",
              "--steps", str(steps), "--batch-size", "4", "--holdout-fraction", "0.1", "--quiet"]
    t_gpu = cli(*common, "--out", str(work / "train_cuda"), "--device", "cuda", "--amp")
    t_cpu = cli(*common, "--out", str(work / "train_cpu"), "--device", "cpu")
    for name in ("train_cuda", "train_cpu"):
        log = pd.read_csv(work / name / "loss.tsv", sep="\t")
        load_model(work / name / "model.safetensors")
        print(f"[train] {name}: {steps} steps, loss {log['loss'].iloc[0]:.4f} -> {log['loss'].iloc[-1]:.4f}, "
              f"finite {bool(np.isfinite(log['loss']).all())}, {log['seconds'].iloc[-1] / steps:.3f} s/step "
              f"(command {t_gpu if name == 'train_cuda' else t_cpu:.1f} s incl. start-up)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True, help="scratch folder")
    ap.add_argument("--n", type=int, default=60, help="participants of the synthetic cohort")
    ap.add_argument("--steps", type=int, default=40, help="training steps per device")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a GPU machine")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    check_fixture()
    check_diffusion()
    check_encode(work, args.n)
    check_train(work, args.steps)


if __name__ == "__main__":
    main()
