"""Shared checks on the synthetic cohort's planted truth."""

from __future__ import annotations

import pandas as pd


def planted_cox_fit(cohort, outcome: str):
    """lifelines Cox of incident ``outcome`` on its planted terms, from the truth tables of ``cohort``
    (a :class:`cardiolatent.synth.cohort.SynthCohort`), each term centred and scaled as planted.

    Returns ``(hazards rows of the outcome, fitted CoxPHFitter)``.
    """
    from lifelines import CoxPHFitter

    hz = cohort.hazards[cohort.hazards["outcome"] == outcome]
    o = cohort.outcomes
    sub = o[(o["outcome"] == outcome) & ~o["prevalent"]].set_index("eid")
    parts = cohort.participants
    p = parts[parts["instance"] == 2].set_index("eid").loc[sub.index]
    df = pd.DataFrame({"T": sub["time_years"], "E": sub["event"]})
    for r in hz.itertuples():
        df[r.term] = (p[r.term].astype(float) - r.center) / r.scale
    return hz, CoxPHFitter().fit(df, "T", "E")


def true_traits_as_latents(paths, out) -> list[str]:
    """Write the true parameters that carry planted variants (``truth/variants.tsv`` ``trait_column``)
    as a wide latents table ``eid, instance, Z0..`` to ``out`` (TSV), a perfect encoder's latents;
    returns the trait columns in latent order (``Z{k}`` is trait ``k``)."""
    parts = pd.read_csv(paths.truth / "participants.tsv", sep="\t")
    variants = pd.read_csv(paths.truth / "variants.tsv", sep="\t")
    traits = list(dict.fromkeys(variants["trait_column"]))
    lat = parts[["eid", "instance"]].copy()
    for k, col in enumerate(traits):
        lat[f"Z{k}"] = parts[col]
    lat.to_csv(out, sep="\t", index=False)
    return traits
