"""A short text summary of a synthetic cohort folder (what ``synth`` and ``demo`` print)."""

from __future__ import annotations

import pandas as pd


def cohort_summary(paths) -> dict:
    """Counts and planted truths of a cohort written by :func:`cardiolatent.synth.build.make_cohort`."""
    info = paths.info()
    parts = pd.read_csv(paths.truth / "participants.tsv", sep="\t")
    outcomes = pd.read_csv(paths.truth / "outcomes.tsv", sep="\t")
    variants = pd.read_csv(paths.truth / "variants.tsv", sep="\t")
    hazards = pd.read_csv(paths.truth / "hazards.tsv", sep="\t")
    v2 = parts[parts["instance"] == 2]
    events = (
        outcomes.groupby("outcome")
        .agg(prevalent=("prevalent", "sum"), incident=("event", "sum"), case_window=("case_window", "sum"))
        .astype(int)
    )
    return {
        "info": info,
        "n_participants": int(v2["eid"].nunique()),
        "n_repeat": int((parts["instance"] == 3).sum()),
        "age_range": (float(v2["age"].min()), float(v2["age"].max())),
        "male_fraction": float(v2["sex"].mean()),
        "params": v2[[c for c in ("lvedv_ml", "lvef_pct", "lvwt_mm", "lav_ml", "rvedv_ml") if c in v2]]
        .describe()
        .loc[["mean", "std", "min", "max"]],
        "events": events,
        "variants": variants,
        "hazards": hazards,
    }


def print_summary(paths) -> None:
    s = cohort_summary(paths)
    info = s["info"]
    print(f"synthetic cohort at {paths.root} (seed {info.get('seed')})")
    print(f"  participants: {s['n_participants']:,} imaged at instance 2, {s['n_repeat']:,} also at instance 3")
    print(f"  age at imaging: {s['age_range'][0]:.0f}-{s['age_range'][1]:.0f} years; male: {s['male_fraction']:.1%}")
    print(f"  main data: {paths.main.name} ({info.get('naming')} naming)")
    if info.get("images"):
        mb = (info.get("bulk_bytes") or 0) / 1e6
        print(f"  bulk cine zips: {info.get('n_imaging_visits'):,} in {paths.bulk} ({mb:,.0f} MB)")
    print(f"  genotypes: {info.get('n_variants'):,} variants, {info.get('n_planted_variants')} planted, "
          f"{paths.genotypes}.bed/.bim/.fam")
    print("  true cardiac parameters at instance 2:")
    print("    " + s["params"].round(1).to_string().replace("\n", "\n    "))
    print("  outcomes (participants): prevalent before imaging, incident after, paper's case window")
    print("    " + s["events"].to_string().replace("\n", "\n    "))
    v = s["variants"]
    cols = [c for c in ("id", "chrom", "pos", "trait", "beta", "unit", "eaf", "r2") if c in v]
    print("  planted variants:")
    print("    " + v[cols].to_string(index=False).replace("\n", "\n    "))
    h = s["hazards"][[c for c in ("outcome", "term", "unit", "hr") if c in s["hazards"]]]
    print("  planted hazard ratios:")
    print("    " + h.to_string(index=False).replace("\n", "\n    "))
