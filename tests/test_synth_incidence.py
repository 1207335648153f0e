"""``incidence_scale``: more incident events from the same cohort, planted hazard ratios unchanged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cardiolatent.errors import CardiolatentError
from cardiolatent.synth.build import make_cohort, simulate_tables


@pytest.fixture(scope="module")
def scaled():
    """The same 1,500 participants at incidence scale 1 and 3."""
    return {s: simulate_tables(1500, 23, incidence_scale=s) for s in (1.0, 3.0)}


def test_the_default_is_the_unscaled_cohort(scaled):
    geno, cohort = simulate_tables(1500, 23)
    one = scaled[1.0][1]
    pd.testing.assert_frame_equal(cohort.main_raw, one.main_raw)
    pd.testing.assert_frame_equal(cohort.outcomes, one.outcomes)
    pd.testing.assert_frame_equal(cohort.hazards, one.hazards)
    assert "incidence_scale" not in one.hazards      # the truth table of scale 1 is the one of before


def test_only_the_baseline_hazards_scale(scaled):
    one, three = scaled[1.0][1], scaled[3.0][1]
    pd.testing.assert_frame_equal(one.participants, three.participants)   # people, traits: unchanged
    pd.testing.assert_frame_equal(one.variants, three.variants)
    keep = ["outcome", "term", "unit", "center", "scale", "hr", "log_hr"]
    pd.testing.assert_frame_equal(one.hazards[keep], three.hazards[keep])  # planted HRs unchanged
    np.testing.assert_allclose(three.hazards["baseline_hazard_per_year"],
                               3.0 * one.hazards["baseline_hazard_per_year"], rtol=1e-12)
    assert set(three.hazards["incidence_scale"]) == {3.0}


def test_incident_events_grow_with_the_scale(scaled):
    def events(c):
        o = c.outcomes
        return o[(o["event"] == 1) & (o["time_years"] <= 10)].groupby("outcome").size()

    one, three = events(scaled[1.0][1]), events(scaled[3.0][1])
    for outcome in ("AF", "MI", "HF", "T2D", "CHD", "AVD"):
        assert three[outcome] > 1.8 * one[outcome], outcome
    # events per person-year within 10 years: about three times (cumulative incidence saturates a little)
    def rate(c):
        o = c.outcomes[c.outcomes["outcome"] == "AF"]
        t = np.minimum(o["time_years"], 10)
        return ((o["event"] == 1) & (o["time_years"] <= 10)).sum() / t.sum()

    assert 2.3 < rate(scaled[3.0][1]) / rate(scaled[1.0][1]) < 3.7


def test_make_cohort_records_the_scale(tmp_path):
    paths = make_cohort(tmp_path / "c", n=30, seed=2, images=False, incidence_scale=2.0, progress=False)
    info = json.loads((paths.root / "cohort.json").read_text())
    assert info["incidence_scale"] == 2.0 and info["series"] == "all"
    assert set(pd.read_csv(paths.truth / "hazards.tsv", sep="\t")["incidence_scale"]) == {2.0}
    with pytest.raises(CardiolatentError, match="incidence_scale must be a positive number"):
        make_cohort(tmp_path / "d", n=30, seed=2, images=False, incidence_scale=-1.0, progress=False)
    with pytest.raises(CardiolatentError, match="series must be one of"):
        make_cohort(tmp_path / "e", n=30, seed=2, series="2ch", progress=False)
