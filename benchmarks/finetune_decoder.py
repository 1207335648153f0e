"""Decoder-only fine-tuning of the demo weights, so that latent manipulation has a decoder that uses z.

Issue 15 found that the shipped demo decoders hardly use the semantic latents (decoder z-sensitivity
ratio 0.0006-0.003; ``cardiolatent.train.quality.decoder_z_sensitivity``): moving z along a trait
direction left the decoded heart unchanged. The sensitivity grows with training, so this script
fine-tunes the denoising network only (``TrainConfig.freeze_encoder``): the encoder tensors of the
written files are the shipped ones bit for bit, so every latent, ICC and association result of the
demo weights is unchanged, while the decoder learns to use them.

Three sub-commands (run by ``benchmarks/finetune_decoders_gpu.sh`` on a lent GPU):

``pack``     the prepared training cines (a ``cardiolatent train`` cache: data.npy + split.tsv) as a
             compressed uint8 pack (dequantisation error <= 1/255), small enough to carry to a GPU
``train``    fine-tune one seed's decoder from its shipped weights (EMA snapshots every checkpoint)
``collect``  the newest snapshot step common to every seed's run, copied out; with ``--evaluate``
             also the z-sensitivity and the reconstruction PSNR of held-out cines per file
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np


def load_volumes(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(volumes (N, T, H, W) float32 in [-1, 1], holdout (N,) bool) from a pack or a train cache folder."""
    p = Path(path)
    if p.suffix == ".npz":
        with np.load(p) as z:
            q, hold = z["volumes"], z["holdout"].astype(bool)
        return (q.astype(np.float32) / np.float32(127.5) - np.float32(1.0)), hold
    import pandas as pd

    data = np.load(p / "data.npy", mmap_mode="r")
    split = pd.read_csv(p / "split.tsv", sep="\t")
    return np.asarray(data, dtype=np.float32), (split["split"] == "holdout").to_numpy()


def cmd_pack(a) -> None:
    import pandas as pd

    data = np.load(Path(a.cache) / "data.npy", mmap_mode="r")
    split = pd.read_csv(a.split, sep="\t")
    if len(split) != len(data):
        raise SystemExit(f"{a.split} has {len(split)} rows, the cache {len(data)} volumes")
    q = np.clip(np.rint((np.asarray(data) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    np.savez_compressed(a.out, volumes=q, holdout=(split["split"] == "holdout").to_numpy())
    print(f"wrote {a.out}: {q.shape}, {Path(a.out).stat().st_size / 1e6:.1f} MB")


def cmd_train(a) -> None:
    from cardiolatent.model.weights import config_from_file
    from cardiolatent.train.loop import TrainConfig, train

    vols, hold = load_volumes(a.data)
    cfg_model = config_from_file(a.init)
    cfg = TrainConfig(seed=a.seed, steps=a.steps, batch_size=a.batch_size, lr=a.lr, ema_decay=a.ema_decay,
                      ema_warmup=True, flip_p=0.0, checkpoint_every=a.checkpoint_every, log_every=50,
                      device=a.device, threads=a.threads, weights_dtype="float16", keep_snapshots=True,
                      freeze_encoder=True, loss_weighting=a.weighting,
                      cond_lr_scale=a.cond_lr_scale, standardise_conditioning=a.standardise_conditioning)
    t0 = time.perf_counter()
    train(vols[~hold], cfg_model, a.out, cfg, init_weights=a.init, progress=False)
    print(f"seed {a.seed}: {a.steps} steps in {time.perf_counter() - t0:.0f} s")


def _snapshot_steps(run: Path) -> set[int]:
    return {int(re.search(r"(\d+)", p.stem).group(1)) for p in (run / "snapshots").glob("model_step*.safetensors")}


def cmd_collect(a) -> None:
    runs = [Path(r) for r in a.runs]
    common = set.intersection(*[_snapshot_steps(r) for r in runs]) if runs else set()
    if not common:
        print("no common snapshot yet")
        return
    step = max(common)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in runs:
        src = r / "snapshots" / f"model_step{step:06d}.safetensors"
        dst = out / f"{r.name}.safetensors"
        tmp = dst.with_suffix(".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
        rows.append((r.name, dst))
    logs = []
    for r in runs:
        if (r / "loss.tsv").exists():
            for ln in (r / "loss.tsv").read_text().splitlines()[1:]:
                logs.append(f"{r.name}\t{ln}")
    (out / "loss.tsv").write_text("run\tstep\tloss\tseconds\n" + "\n".join(logs) + "\n")
    print(f"collected step {step} of {len(runs)} runs")
    if not a.evaluate:
        return
    import torch

    from cardiolatent.model.pipeline import load_model
    from cardiolatent.train.quality import decoder_z_sensitivity

    vols, hold = load_volumes(a.data)
    held = vols[hold][: a.n_eval]
    lines = ["file\tstep\tz_ratio\tz_decoded_difference\timage_difference\tpsnr_db\tinit_z_ratio\tinit_psnr_db"]
    for name, path in rows:
        res = []
        for w in (path, Path(a.init_dir) / f"demo_{name}.safetensors" if a.init_dir else None):
            if w is None or not Path(w).exists():
                res += [float("nan")] * 4
                continue
            model = load_model(w, device=a.device)
            with torch.no_grad():
                sens = decoder_z_sensitivity(model, held[:, None], steps=20)
                x = model.fit_input(held[: a.n_psnr, None])
                z = model.encode(x)
                rec = model.decode(model.invert(x, z, steps=50), z, steps=50)
                mse = ((rec.float() - x.float()) ** 2).flatten(1).mean(1).cpu().numpy()
            res += [sens["ratio"], sens["decoded_difference"], sens["image_difference"],
                    float(np.mean(10 * np.log10(4.0 / mse)))]
        lines.append(f"{name}\t{step}\t{res[0]:.5f}\t{res[1]:.5f}\t{res[2]:.5f}\t{res[3]:.2f}\t{res[4]:.5f}\t{res[7]:.2f}")
        print(lines[-1])
    (out / "eval.tsv").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--cache", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("train")
    p.add_argument("--data", required=True)
    p.add_argument("--init", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--cond-lr-scale", type=float, default=1.0,
                   help="learning-rate multiplier of the latent-conditioning layers")
    p.add_argument("--standardise-conditioning", action="store_true")
    p.add_argument("--weighting", default="uniform", help="loss weighting over diffusion steps: uniform or p2")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("collect")
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--evaluate", action="store_true")
    p.add_argument("--data", default=None)
    p.add_argument("--init-dir", default=None, help="the starting weights (demo_S{seed}.safetensors) to compare")
    p.add_argument("--n-eval", type=int, default=16)
    p.add_argument("--n-psnr", type=int, default=8)
    p.add_argument("--device", default="cpu")
    a = ap.parse_args()
    {"pack": cmd_pack, "train": cmd_train, "collect": cmd_collect}[a.cmd](a)


if __name__ == "__main__":
    main()
