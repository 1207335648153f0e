"""Quality gate of the shipped demo weights (run by hand; figures go to RESULTS.md and the README).

    cardiolatent synth --n 3000 --seed 2026 --out /work/train/gate_cohort
    python benchmarks/demo_weights_gate.py --cohort /work/train/gate_cohort --out /work/train/gate

The gate cohort is a fresh synthetic cohort (a seed no demo model was trained on), so none of
its participants was used in training. Its 4-chamber cines are encoded from the DICOM zips by
``cardiolatent encode`` (the user's path: reading, the published preparation, resampling to
the demo input, every seed's encoder), resumable. Then, for each seed, a 5-fold
cross-validated ridge regression (penalty chosen inside each training fold) from that seed's
128 latents to each true parameter (:func:`cardiolatent.train.quality.latent_r2`), on all
cines and on nested random subsets (the R^2 of a 128-feature regression grows with n).

Gate (issue 3): LV end-diastolic volume R^2 >= 0.8 and LA volume R^2 >= 0.6 for every seed.
Writes OUT/latents.parquet, OUT/gate.tsv (seed, param, n, r2) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PARAMS = ("lvedv_ml", "lav_ml", "lvef_pct", "lvwt_mm", "rvedv_ml")
GATE = {"lvedv_ml": 0.8, "lav_ml": 0.6}


def main() -> None:
    from cardiolatent.io_utils import write_table_atomic
    from cardiolatent.train.quality import latent_r2

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cohort", required=True, help="fresh synthetic cohort (cardiolatent synth --seed S)")
    ap.add_argument("--out", required=True, help="folder for latents.parquet and gate.tsv")
    ap.add_argument("--weights", nargs="*", default=["demo"], help="weights to check (default: the shipped ones)")
    ap.add_argument("--subsets", default="500,1000", help="also score nested random subsets of these sizes")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    latents_path = out / "latents.parquet"
    subprocess.run([sys.executable, "-m", "cardiolatent", "encode", "--images", f"{args.cohort}/bulk",
                    "--weights", *args.weights, "--out", str(latents_path), "--quiet"], check=True)
    latents = pd.read_parquet(latents_path)
    truth = pd.read_csv(f"{args.cohort}/truth/participants.tsv", sep="\t")
    keys = latents[["eid", "instance"]].drop_duplicates().sort_values(["eid", "instance"])
    n_all = len(keys)
    rng = np.random.default_rng(2026)
    order = keys["eid"].drop_duplicates().to_numpy()[rng.permutation(keys["eid"].nunique())]
    tables = []
    for size in sorted({int(s) for s in args.subsets.split(",") if s} | {n_all}):
        eids = None if size >= n_all else order[:size]  # nested subsets of participants
        r = latent_r2(latents, truth, PARAMS, eids=eids)
        tables.append(r)
    res = pd.concat(tables, ignore_index=True)
    res["r2"] = res["r2"].round(4)
    write_table_atomic(res, out / "gate.tsv", index=False)
    full = res[res["n"] == res["n"].max()].pivot(index="seed", columns="param", values="r2")
    print(full.to_string())
    print(res.pivot_table(index=["param", "n"], values="r2", aggfunc=["min", "median", "max"]).to_string())
    passed = {p: bool((full[p] >= thr).all()) for p, thr in GATE.items()}
    print(json.dumps({"n_cines": int(res["n"].max()), "gate": GATE, "passed": passed}))


if __name__ == "__main__":
    main()
