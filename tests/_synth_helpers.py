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
