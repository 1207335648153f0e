"""Early stopping for the demo weights: pick each seed's training step on a validation cohort.

    cardiolatent synth --n 1500 --seed 2024 --out /work/train/cohort      # validation cohort
    python benchmarks/select_demo_snapshot.py --cohort /work/train/cohort --cache /work/train/cache \\
        --runs /work/train/demo/S1701 ... --copy-to cardiolatent/data/weights

Each run folder comes from ``cardiolatent train ... --keep-snapshots`` (EMA weights every
``--checkpoint-every`` steps in RUN/snapshots/). The rule, fixed before the gate is run: among
the snapshots at step >= ``--min-step`` (default: half the run, so that the denoiser is trained
enough to decode), take the one whose latents predict the true LV end-diastolic volume best
(5-fold cross-validated ridge, folds by participant, :func:`cardiolatent.train.quality.cv_r2`),
the later step on a tie. The validation cohort is its own synthetic seed: none of its
participants is in the training cohort or in the gate cohort (demo_weights_gate.py), so the gate
stays an out-of-sample check of the chosen files.

Writes OUT (default RUN/../selection.tsv): run, seed, step, n, r2 of LV EDV, LA volume and LVEF
for every snapshot scored, and ``chosen``; with ``--copy-to`` the chosen file of each run is
copied (atomically) to COPY_TO/demo_S{seed}.safetensors.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

PARAMS = ("lvedv_ml", "lav_ml", "lvef_pct")
CRITERION = "lvedv_ml"


def snapshots(run: Path) -> dict[int, Path]:
    """{step: file} of RUN/snapshots/model_stepNNNNNN.safetensors."""
    found = {}
    for p in sorted((run / "snapshots").glob("model_step*.safetensors")):
        m = re.fullmatch(r"model_step(\d+)\.safetensors", p.name)
        if m:
            found[int(m.group(1))] = p
    if not found:
        raise SystemExit(f"{run}: no snapshots (train with --keep-snapshots)")
    return found


def encode_all(path: Path, data, batch: int = 128) -> np.ndarray:
    import torch

    from cardiolatent.model.pipeline import load_model

    model = load_model(path)
    with torch.no_grad():
        return np.concatenate([model.encode(torch.as_tensor(np.array(data[i:i + batch]))[:, None]).numpy()
                               for i in range(0, len(data), batch)])


def main() -> None:
    from cardiolatent.images.readers import discover_inputs
    from cardiolatent.io_utils import atomic_path, write_table_atomic
    from cardiolatent.model.weights import config_from_file
    from cardiolatent.train.data import prepared_dataset
    from cardiolatent.train.quality import cv_r2

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cohort", required=True, help="validation cohort (cardiolatent synth; truth/participants.tsv)")
    ap.add_argument("--cache", required=True, help="folder for its prepared cines (reused when present)")
    ap.add_argument("--runs", nargs="+", required=True, help="training output folders with snapshots/")
    ap.add_argument("--min-step", type=int, default=None, help="earliest step considered (default: half the run)")
    ap.add_argument("--out", default=None, help="selection table (default: next to the first run)")
    ap.add_argument("--copy-to", default=None, help="copy each chosen file to COPY_TO/demo_S{seed}.safetensors")
    args = ap.parse_args()

    runs = [Path(r) for r in args.runs]
    snaps = {r: snapshots(r) for r in runs}
    shape = tuple(config_from_file(next(iter(snaps[runs[0]].values()))).input_shape)
    items = discover_inputs(f"{args.cohort}/bulk")
    data, index, qc = prepared_dataset(items, shape, args.cache)
    if len(qc):
        print(f"validation cohort: {len(qc)} cines excluded (see {args.cache}/data_qc.tsv)")
    truth = pd.read_csv(f"{args.cohort}/truth/participants.tsv", sep="\t")
    merged = index[["eid", "instance"]].merge(truth, on=["eid", "instance"], how="left", validate="1:1")
    if merged[list(PARAMS)].isna().any().any():
        raise SystemExit(f"{args.cohort}: truth/participants.tsv lacks some prepared cines")
    groups = merged["eid"].to_numpy()

    rows = []
    for run in runs:
        steps = sorted(snaps[run])
        min_step = args.min_step if args.min_step is not None else max(steps) // 2
        for step in [s for s in steps if s >= min_step]:
            cfg = config_from_file(snaps[run][step])
            Z = encode_all(snaps[run][step], data)
            row = {"run": str(run), "seed": cfg.seed, "step": step, "n": len(Z)}
            row.update({p: round(cv_r2(Z, merged[p].to_numpy(float), groups=groups), 4) for p in PARAMS})
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    table = pd.DataFrame(rows)
    # best criterion; on a tie the later step (idxmax of the reversed order)
    chosen = table.iloc[::-1].groupby("run", sort=False)[CRITERION].idxmax()
    table["chosen"] = table.index.isin(chosen.to_numpy())
    out = Path(args.out) if args.out else runs[0].parent / "selection.tsv"
    write_table_atomic(table, out, index=False)
    print(f"wrote {out}")
    for _, r in table[table["chosen"]].iterrows():
        src = snaps[Path(r["run"])][int(r["step"])]
        print(f"seed {r['seed']}: step {r['step']} (LV EDV R^2 {r[CRITERION]:.3f}, LA {r['lav_ml']:.3f}) <- {src}")
        if args.copy_to:
            dest = Path(args.copy_to) / f"demo_S{r['seed']}.safetensors"
            with atomic_path(dest, suffix=".safetensors") as tmp:
                shutil.copyfile(src, tmp)


if __name__ == "__main__":
    main()
