"""Quality gate of the shipped demo weights (run by hand; figures go to RESULTS.md and the README).

    python benchmarks/demo_weights_gate.py --cohort /work/train/cohort --cache /work/train/cache \
        --split /work/train/S1701/split.tsv

For each seed's demo model: encode the held-out participants' cines (prepared once by
``cardiolatent train`` into the cache), then a 5-fold cross-validated ridge regression from the
128 latents to each true parameter; prints out-of-fold R^2 per seed and parameter.
Gate: LV end-diastolic volume R^2 >= 0.8 and LA volume R^2 >= 0.6.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import torch

PARAMS = ("lvedv_ml", "lav_ml", "lvef_pct", "lvwt_mm", "rvedv_ml")


def main() -> None:
    from cardiolatent.model.pipeline import DEMO_SEEDS, demo_weight_files, load_model
    from cardiolatent.train.quality import cv_r2

    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--weights", nargs="*", default=None)
    args = ap.parse_args()
    data = np.load(f"{args.cache}/data.npy", mmap_mode="r")
    split = pd.read_csv(args.split, sep="\t")
    truth = pd.read_csv(f"{args.cohort}/truth/participants.tsv", sep="\t")
    hold = np.flatnonzero(split["split"].to_numpy() == "holdout")
    keys = split.iloc[hold][["eid", "instance"]].reset_index(drop=True)
    y = keys.merge(truth, on=["eid", "instance"], how="left")
    files = args.weights or demo_weight_files()
    rows = []
    for f in files:
        model = load_model(f)
        Z = np.concatenate([model.encode(torch.as_tensor(np.asarray(data[hold[i:i + 64]]))[:, None]).numpy()
                            for i in range(0, len(hold), 64)])
        for p in PARAMS:
            rows.append({"seed": model.seed, "param": p, "r2": round(cv_r2(Z, y[p].to_numpy(float)), 3),
                         "n_holdout": len(hold)})
    res = pd.DataFrame(rows).pivot(index="seed", columns="param", values="r2")
    print(res.to_string())
    print(json.dumps({"n_holdout_cines": int(len(hold)), "seeds": [int(s) for s in res.index]}))


if __name__ == "__main__":
    main()
