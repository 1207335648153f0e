"""What the demo latents encode, and how reproducible they are between two scans of one heart (issue 20).

    python benchmarks/retest_nuisance.py --cohort GATE_COHORT --latents GATE/latents.parquet --out DIR

``--cohort`` is a synthetic cohort with ``truth/acquisition.tsv`` (``cardiolatent synth``, tables
version 3 or later) and ``--latents`` its 4-chamber cines encoded by ``cardiolatent encode``
(long table ``eid, instance, seed, Z0..``; e.g. the gate's ``latents.parquet``). Writes, in DIR:

- ``retest.tsv``: per seed, test-retest ICC3 (visit 2 vs visit 3) of LV EDV and LA volume
  predicted from that seed's 128 latents (5-fold cross-validated ridge, folds by participant:
  out-of-fold predictions, so no participant predicts itself), beside the ICC3 of the truth;
- ``latent_icc.tsv``: ICC3 of every latent between visits, with ``consensus`` (the paper's
  selection, |r| > 0.8, on the visit-2 rows);
- ``nuisance_pcs.tsv``: for each seed's top 5 principal components of its standardised latents
  (all cines): share of variance, ICC3 between visits, and R^2 of the PC on each acquisition
  value and each true parameter (one at a time; angles as their sine and cosine);
- ``nuisance_latents.tsv``: per seed, the median over its latents of the R^2 of each latent on
  all visit-level acquisition values jointly, on all person-level nuisance values jointly, and
  on the true parameters jointly (linear, in-sample: a description, not a prediction);
- ``summary.json``: the headline numbers, with the consensus selection (count, the R^2 of all
  latents on the selected ones in sample, and fitted on half of the participants and measured on
  the other half).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

PARAMS = ("lvedv_ml", "lav_ml", "lvef_pct", "lvwt_mm", "rvedv_ml", "heart_rate_bpm")
VISIT = ("pixel_spacing_mm", "planning_deg", "rotation_deg", "centre_row_frac", "centre_col_frac", "rows", "cols",
         "intensity_scale", "bias_strength", "bias_angle_deg", "noise_rel", "trigger_delay_ms")
PERSON = ("heart_axis_deg", "base_pixel_spacing_mm", "fat_mm", "fat_signal", "subcut_fat_mm", "muscle_mm",
          "body_semi_axis_x_mm", "body_semi_axis_y_mm", "body_offset_x_mm", "body_offset_y_mm", "aorta_angle_deg")
ANGLES = {"bias_angle_deg"}


def icc3(a: np.ndarray, b: np.ndarray):
    """ICC(3,1) between two ratings per subject (:func:`cardiolatent.stats.intraclass.icc`):
    a float for (n,) inputs, an array for (n, m) inputs (one per column)."""
    from cardiolatent.stats.intraclass import icc

    tab = icc(np.stack([a, b], axis=1).astype(float), forms=["ICC3"])
    return float(tab["icc"].iloc[0]) if np.ndim(a) == 1 else tab["icc"].to_numpy(float)


def design(df: pd.DataFrame, cols) -> np.ndarray:
    parts = []
    for c in cols:
        v = df[c].to_numpy(float)
        if c in ANGLES:
            parts += [np.sin(np.deg2rad(v)), np.cos(np.deg2rad(v))]
        else:
            parts.append(v)
    return np.column_stack(parts)


def r2_on(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """In-sample R^2 of OLS (with intercept) of each column of y on X."""
    from cardiolatent.encode.ensemble import multivariate_r2

    return multivariate_r2(y, X)


def heldout_r2(table: pd.DataFrame, allcols: list[str], selected: list[str], seed: int = 0) -> float:
    """Variance-weighted R^2 of every column on the selected ones, fitted on half of the
    participants and measured on the other half (so it cannot be 1 by having as many columns as rows)."""
    eids = table["eid"].unique()
    rng = np.random.default_rng(seed)
    half = set(rng.choice(eids, size=len(eids) // 2, replace=False).tolist())
    a = table["eid"].isin(half).to_numpy()
    Y = table[allcols].to_numpy(float)
    mu, sd = Y[a].mean(0), Y[a].std(0)
    sd = np.where(sd > 0, sd, 1)
    Y = (Y - mu) / sd
    X = np.column_stack([np.ones(len(Y)), Y[:, [allcols.index(c) for c in selected]]])
    beta, *_ = np.linalg.lstsq(X[a], Y[a], rcond=None)
    res = Y[~a] - X[~a] @ beta
    yc = Y[~a] - Y[~a].mean(0)
    return float(1 - (res ** 2).sum() / (yc ** 2).sum())


def components_for(table: pd.DataFrame, share: float) -> int:
    """Principal components of all standardised latent columns needed for ``share`` of their variance."""
    Y = table[[c for c in table.columns if c.startswith("S")]].to_numpy(float)
    Y = (Y - Y.mean(0)) / np.where(Y.std(0) > 0, Y.std(0), 1)
    sv = np.linalg.svd(Y, compute_uv=False)
    return int(np.searchsorted(np.cumsum(sv ** 2) / (sv ** 2).sum(), share) + 1)


def main() -> None:
    from cardiolatent.encode.ensemble import consensus
    from cardiolatent.io_utils import write_table_atomic
    from cardiolatent.latents import read_latents
    from cardiolatent.train.quality import cv_predictions

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cohort", required=True)
    ap.add_argument("--latents", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lat = pd.read_parquet(args.latents)
    zc = [c for c in lat.columns if c.startswith("Z")]
    truth = pd.read_csv(Path(args.cohort) / "truth" / "participants.tsv", sep="\t")
    acq = pd.read_csv(Path(args.cohort) / "truth" / "acquisition.tsv", sep="\t")
    acq = acq[acq["view"] == "4Ch"].drop(columns="view")
    seeds = sorted(lat["seed"].unique())
    summary: dict = {"n_cines": int(lat[["eid", "instance"]].drop_duplicates().shape[0])}

    retest, pcs, nuis, icc_rows = [], [], [], []
    for s in seeds:
        m = (lat[lat["seed"] == s].merge(truth, on=["eid", "instance"]).merge(acq, on=["eid", "instance"])
             .sort_values(["eid", "instance"]).reset_index(drop=True))
        X = m[zc].to_numpy(float)
        both = m.groupby("eid")["instance"].transform("nunique") == 2
        v2 = (m["instance"] == 2) & both
        v3 = (m["instance"] == 3) & both
        summary["n_repeat_pairs"] = int(v2.sum())
        for p in ("lvedv_ml", "lav_ml"):
            pred = cv_predictions(X, m[p].to_numpy(float), groups=m["eid"].to_numpy())
            retest.append({"seed": int(s), "param": p, "n_pairs": int(v2.sum()),
                           "icc3_predicted": icc3(pred[v2], pred[v3]),
                           "icc3_truth": icc3(m.loc[v2, p].to_numpy(float), m.loc[v3, p].to_numpy(float))})
        per_latent = icc3(X[v2.to_numpy()], X[v3.to_numpy()])
        icc_rows += [{"seed": int(s), "latent": j, "column": f"S{s}_{c}", "icc3": float(per_latent[j])}
                     for j, c in enumerate(zc)]
        Z = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
        u, sv, vt = np.linalg.svd(Z - Z.mean(0), full_matrices=False)
        share = sv ** 2 / (sv ** 2).sum()
        for k in range(5):
            pc = u[:, k] * sv[k]
            row = {"seed": int(s), "pc": k + 1, "variance_share": share[k],
                   "icc3": icc3(pc[v2.to_numpy()], pc[v3.to_numpy()])}
            for c in VISIT + PERSON + PARAMS:
                row[c] = float(r2_on(pc[:, None], design(m, [c]))[0])
            pcs.append(row)
        nuis.append({"seed": int(s),
                     "median_r2_visit_level": float(np.median(r2_on(Z, design(m, VISIT)))),
                     "median_r2_person_level": float(np.median(r2_on(Z, design(m, PERSON)))),
                     "median_r2_true_parameters": float(np.median(r2_on(Z, design(m, PARAMS)))),
                     "median_r2_all": float(np.median(r2_on(Z, design(m, VISIT + PERSON + PARAMS))))})
    retest, pcs, nuis, icc_tab = map(pd.DataFrame, (retest, pcs, nuis, icc_rows))

    wide = read_latents(lat, visits="prefer2")
    cons = consensus(wide, threshold=0.8)
    icc_tab["consensus"] = icc_tab["column"].isin(set(cons.selected))
    summary.update({
        "latent_icc3_median_all": float(icc_tab["icc3"].median()),
        "latent_icc3_quantiles_all": {q: float(icc_tab["icc3"].quantile(q)) for q in (0.1, 0.25, 0.75, 0.9)},
        "latents_icc3_above_0.75": int((icc_tab["icc3"] > 0.75).sum()),
        "n_latents": int(len(icc_tab)),
        "consensus_n": len(cons.selected),
        "consensus_r2": cons.r2,
        "consensus_rows": cons.n_rows,
        "components_for_99pct_of_640": components_for(wide.table, 0.99),
        "consensus_r2_heldout_half": heldout_r2(wide.table, [c for c in wide.table.columns if c.startswith("S")],
                                                cons.selected),
        "latent_icc3_median_consensus": float(icc_tab.loc[icc_tab["consensus"], "icc3"].median()),
        "lvedv_predicted_icc3": {int(r.seed): round(r.icc3_predicted, 4)
                                 for r in retest[retest.param == "lvedv_ml"].itertuples()},
        "lav_predicted_icc3": {int(r.seed): round(r.icc3_predicted, 4)
                               for r in retest[retest.param == "lav_ml"].itertuples()},
    })
    for name, tab in (("retest", retest), ("latent_icc", icc_tab), ("nuisance_pcs", pcs),
                      ("nuisance_latents", nuis)):
        write_table_atomic(tab.round(4), out / f"{name}.tsv", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    pd.set_option("display.width", 250)
    print(retest.round(3).to_string(index=False))
    print(nuis.round(3).to_string(index=False))
    show = ["seed", "pc", "variance_share", "icc3"]
    top = pcs[pcs["seed"] == seeds[0]]
    cols = [c for c in VISIT + PERSON + PARAMS if top[c].max() > 0.05]
    print(top[show + cols].round(2).to_string(index=False))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
