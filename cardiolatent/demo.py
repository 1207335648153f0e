"""``cardiolatent demo``: the main job end to end on a small synthetic cohort; the demo latents.

At this stage of the project the main job is: build the cohort, read the main data as a user's
extract is read, derive imaging covariates and outcomes, open one bulk DICOM zip, encode the
zips with the five demo models and compare everything with the planted truth. Later stages
(analyses, exports) extend it.

:func:`default_latents` gives the built-in cohort's latents under the demo models (what the
analysis commands use without data of the user's). It lives here, above ``synth`` and
``encode``, because it needs both.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cardiolatent.encode.ensemble import ensemble
from cardiolatent.encode.run import encode_inputs
from cardiolatent.images.readers import discover_inputs
from cardiolatent.io_utils import wait_lock, write_table_atomic, write_text_atomic
from cardiolatent.latents import read_latents
from cardiolatent.model.pipeline import demo_weight_files, load_model
from cardiolatent.synth import default as synth_default
from cardiolatent.synth.build import CohortPaths, make_cohort
from cardiolatent.synth.dicom import read_bulk_zip
from cardiolatent.synth.summary import print_summary
from cardiolatent.train.quality import cv_r2
from cardiolatent.ukb.covariates import imaging_covariates
from cardiolatent.ukb.outcomes import outcome_table
from cardiolatent.ukb.read import read_main


def run_demo(out: str | Path = "cardiolatent_demo", n: int = 200, seed: int = 20208, *,
             progress: bool = True) -> dict:
    """Build (or reuse) a synthetic cohort in ``out/cohort`` and run the main job on it.

    Returns a dict of the checks made (also printed), and writes ``out/covariates.tsv``,
    ``out/outcomes.tsv`` and ``out/demo.json``.
    """
    out = Path(out)
    cohort_dir = out / "cohort"
    info = CohortPaths(cohort_dir).info()
    reuse = info.get("n") == n and info.get("seed") == seed
    paths = CohortPaths(cohort_dir) if reuse else make_cohort(cohort_dir, n=n, seed=seed, progress=progress)
    print_summary(paths)

    print("\nreading the cohort back as a UK Biobank extract:")
    main = read_main(paths.main)
    flags = main.flags["reason"].value_counts().to_dict()
    print(f"  {paths.main.name}: {len(main):,} participants, {main.wide.shape[1]:,} field columns "
          f"({main.style} naming); cleaned: {flags}")
    cov = imaging_covariates(main, instance=2)
    write_table_atomic(cov.table.reset_index(), out / "covariates.tsv", index=False)
    res = outcome_table(main, ["AF", "MI", "HF"], instance=2)
    write_table_atomic(res.table, out / "outcomes.tsv", index=False)

    truth = pd.read_csv(paths.truth / "participants.tsv", sep="\t")
    t2 = truth[truth["instance"] == 2].set_index("eid").reindex(cov.table.index)
    bsa_err = float(np.nanmax(np.abs(cov.table["bsa"].to_numpy(float) - t2["bsa"].to_numpy(float))))
    age_err = float(np.nanmax(np.abs(cov.table["age"].to_numpy(float) - t2["age"].to_numpy(float))))
    tout = pd.read_csv(paths.truth / "outcomes.tsv", sep="\t", parse_dates=["event_date"])
    m = res.table.merge(tout, on=["eid", "outcome"], suffixes=("", "_truth"))
    events_match = bool((m["event"] == m["event_truth"]).all())
    time_err = float(np.nanmax(np.abs(m["time_years"] - m["time_years_truth"])))
    print(f"  imaging covariates: {len(cov.table):,} participants; max |BSA - truth| = {bsa_err:.1e} m2, "
          f"max |age - truth| = {age_err:.1e} years")
    print(f"  outcomes AF/MI/HF: incident events equal the truth: {events_match}; "
          f"max |time - truth| = {time_err:.1e} years")

    checks = {"bsa_max_abs_err": bsa_err, "age_max_abs_err": age_err, "events_match_truth": events_match,
              "time_max_abs_err": time_err}
    if paths.info().get("images"):
        z = sorted(paths.bulk.glob("*.zip"))[0]
        frames, zinfo = read_bulk_zip(z)
        print(f"  bulk zip {z.name}: 4-chamber series, {frames.shape[0]} frames of "
              f"{frames.shape[1]}x{frames.shape[2]} pixels in trigger order")
        checks["zip_frames"] = int(frames.shape[0])
    if paths.info().get("images"):
        checks.update(_encode_step(paths, out, progress))
    write_text_atomic(out / "demo.json", json.dumps(checks, indent=2) + "\n")
    print(f"\nwrote {out / 'covariates.tsv'}, {out / 'outcomes.tsv'} and {out / 'demo.json'}")
    return checks


def _encode_step(paths, out: Path, progress: bool) -> dict:
    """Encode every bulk zip with the five demo models, build the seed ensemble, compare with truth."""
    print("\nencoding the bulk zips with the five demo models (seeds 1701, 1993, 42, 1994, 2023):")
    models = [load_model(f) for f in demo_weight_files()]
    items = discover_inputs([paths.bulk])
    res = encode_inputs(items, models, out / "latents.parquet", workers=2, progress=progress)
    ens = ensemble(read_latents(res.latents))
    truth = pd.read_csv(paths.truth / "participants.tsv", sep="\t")
    m = ens.table.merge(truth, on=["eid", "instance"])
    Z = m[[c for c in ens.table.columns if c.startswith("E_Z")]].to_numpy(float)
    r2 = {p: round(cv_r2(Z, m[p].to_numpy(float), groups=m["eid"].to_numpy()), 3)
          for p in ("lvedv_ml", "lav_ml", "lvef_pct")}
    print(f"  {len(res.latents):,} latent rows -> {res.path}; excluded inputs: {len(res.qc)}")
    print(f"  5-fold cross-validated R^2 of the seed-ensemble latents for the true parameters: {r2}")
    return {"latent_rows": int(len(res.latents)), "ensemble_r2": r2}


def default_latents(*, progress: bool = True):
    """(cohort paths, latents file) of the default cohort with images, encoded by the five demo models.

    Encodes once (about half a minute on 2 cores, resumable) into ``latents_demo_<hash>.parquet``
    in the cohort's folder, so that the analysis commands run without any data of the user's.
    ``<hash>`` fingerprints the demo weight files, so new weights are never paired with latents
    of old ones.
    """
    # two processes (two commands, two test workers) may both ask at once: one builds, the other waits
    with wait_lock(synth_default.cache_dir() / ".builtin.lock",
                   "waiting for another cardiolatent run that is building the built-in cohort"):
        paths = synth_default.default_cohort(images=True, progress=progress)
        files = demo_weight_files()
        digest = hashlib.sha256()
        for f in files:
            digest.update(Path(f).read_bytes())
        out = paths.root / f"latents_demo_{digest.hexdigest()[:12]}.parquet"
        if not out.exists():
            items = discover_inputs([paths.bulk])
            models = [load_model(f) for f in files]
            encode_inputs(items, models, out, workers=2, progress=progress)
    return paths, out
