"""quantile groups, group hazard ratios and KM / Nelson-Aalen tables against pandas and lifelines."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

lifelines = pytest.importorskip("lifelines")
from lifelines import CoxPHFitter, KaplanMeierFitter, NelsonAalenFitter  # noqa: E402

from cardiolatent.errors import CardiolatentError  # noqa: E402
from cardiolatent.stats.survival import (  # noqa: E402
    group_hazard_ratios,
    kaplan_meier,
    nelson_aalen,
    quantile_groups,
)


def _data(seed=0, n=240):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    C = np.c_[rng.normal(size=n), rng.integers(0, 2, n)].astype(float)
    t = rng.exponential(np.exp(-0.7 * score - 0.3 * C[:, 0]))
    cens = rng.uniform(0.3, 2.0, n)
    e = (t < cens).astype(float)
    t = np.ceil(np.minimum(t, cens) * 20) / 20  # tied times
    sex = np.where(rng.uniform(size=n) < 0.5, "female", "male")
    return t, e, score, C, sex


def test_quantile_groups_definition_ties_and_nan():
    rng = np.random.default_rng(1)
    s = rng.normal(size=301)
    s[:4] = np.nan
    s[10:20] = 0.25  # a block of ties
    g = quantile_groups(s)
    assert list(g.categories) == ["T1", "T2", "T3"] and g.ordered
    assert (np.asarray(g.codes)[:4] == -1).all()
    edges = np.quantile(s[4:], [0, 1 / 3, 2 / 3, 1])
    ref = pd.cut(s, edges, labels=False, include_lowest=True)
    np.testing.assert_array_equal(np.asarray(g.codes)[4:], ref[4:])
    assert len(set(np.asarray(g.codes)[10:20])) == 1  # ties share a group
    assert np.mean(np.asarray(pd.qcut(s, 3, labels=False))[4:] == np.asarray(g.codes)[4:]) > 0.99
    q = quantile_groups(s, q=4, labels=list("abcd"))
    assert list(q.categories) == list("abcd")
    assert pd.Series(q).value_counts().min() >= 70
    with pytest.raises(CardiolatentError, match="tied"):
        quantile_groups(np.r_[np.zeros(50), np.arange(5.0)])
    with pytest.raises(CardiolatentError, match="labels"):
        quantile_groups(s, q=3, labels=["a", "b"])


def _cox(df, cols, strata=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter(penalizer=0.0).fit(df[["T", "E"] + cols + ([strata] if strata else [])], "T", "E",
                                              strata=[strata] if strata else None,
                                              fit_options=dict(precision=1e-30, r_precision=0.0))


@pytest.mark.parametrize("with_strata", [False, True])
def test_group_hazard_ratios_each_reference_matches_lifelines(with_strata):
    t, e, score, C, sex = _data(2)
    g = quantile_groups(score)
    st = (C[:, 1] if with_strata else None)
    cov = C[:, :1] if with_strata else C
    hr = group_hazard_ratios(t, e, g, C=cov, strata=st)
    assert len(hr) == 6 and (hr.status == "ok").all()
    labels = np.asarray(g.astype(str))
    df = pd.DataFrame({"T": t, "E": e, "c0": C[:, 0], "c1": C[:, 1]})
    covs = ["c0"] if with_strata else ["c0", "c1"]
    for ref in ["T1", "T2", "T3"]:
        others = [x for x in ["T1", "T2", "T3"] if x != ref]
        for o in others:
            df[o] = (labels == o).astype(float)
        cph = _cox(df, others + covs, strata="c1" if with_strata else None)
        for o in others:
            row = hr[(hr.reference == ref) & (hr.group == o)].iloc[0]
            assert row.beta == pytest.approx(cph.params_[o], rel=1e-6)
            assert row.se == pytest.approx(cph.standard_errors_[o], rel=1e-6)
            assert row.p == pytest.approx(cph.summary.loc[o, "p"], rel=1e-5)
            lo, hi = cph.summary.loc[o, ["exp(coef) lower 95%", "exp(coef) upper 95%"]]
            assert row.ci_low == pytest.approx(lo, rel=1e-6) and row.ci_high == pytest.approx(hi, rel=1e-6)
            assert row.n == (labels == o).sum() and row.n_events == e[labels == o].sum()
            assert row.n_ref == (labels == ref).sum()


def test_group_hazard_ratios_by_and_empty_group():
    t, e, score, C, sex = _data(3)
    g = quantile_groups(score)
    hr = group_hazard_ratios(t, e, g, C=C[:, :1], by=sex)
    assert set(hr["by"]) == {"female", "male"} and len(hr) == 12
    f = sex == "female"
    sub = group_hazard_ratios(t[f], e[f], g[f], C=C[f, :1])
    a = hr[hr["by"] == "female"].drop(columns="by").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, sub, rtol=1e-12)
    e2 = e.copy()
    e2[np.asarray(g == "T3")] = 0  # no events in T3: its hazard ratio diverges, reported as such
    bad = group_hazard_ratios(t, e2, g)
    assert (bad[(bad.group == "T3") | (bad.reference == "T3")].status == "separation").all()
    assert (bad[(bad.group != "T3") & (bad.reference != "T3")].status == "ok").all()


def _km_ref(t, e):
    f = KaplanMeierFitter().fit(t, e)
    return f


@pytest.mark.parametrize("by", [False, True])
def test_kaplan_meier_matches_lifelines(by):
    t, e, score, C, sex = _data(4)
    g = quantile_groups(score)
    km = kaplan_meier(t, e, g, by=sex if by else None)
    labels = np.asarray(g.astype(str))
    for b in (["female", "male"] if by else [None]):
        for lab in ["T1", "T2", "T3"]:
            k = (labels == lab) & ((sex == b) if b else True)
            f = _km_ref(t[k], e[k])
            sub = km[(km.group == lab) & ((km["by"] == b) if b else True)]
            np.testing.assert_array_equal(sub.time, f.survival_function_.index)
            np.testing.assert_allclose(sub.survival, f.survival_function_.iloc[:, 0], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(sub.ci_low, f.confidence_interval_.iloc[:, 0], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(sub.ci_high, f.confidence_interval_.iloc[:, 1], rtol=1e-10, atol=1e-14)
            et = f.event_table
            np.testing.assert_array_equal(sub.at_risk, et["at_risk"])
            np.testing.assert_array_equal(sub.events, et["observed"])
            np.testing.assert_array_equal(sub.censored, et["censored"])
    assert ("by" in km.columns) == by


def test_kaplan_meier_to_zero_and_all_rows():
    t = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    e = np.array([1, 0, 1, 1, 1.0])
    km = kaplan_meier(t, e)
    f = _km_ref(t, e)
    assert (km.group == "all").all() and km.survival.iloc[-1] == 0.0
    np.testing.assert_allclose(km.survival, f.survival_function_.iloc[:, 0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(km[["ci_low", "ci_high"]].to_numpy(), f.confidence_interval_.to_numpy(),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("smoothing", [True, False])
def test_nelson_aalen_matches_lifelines(smoothing):
    t, e, score, C, sex = _data(5)
    g = quantile_groups(score, q=4)
    na = nelson_aalen(t, e, g, by=sex, smoothing=smoothing)
    labels = np.asarray(g.astype(str))
    for b in ["female", "male"]:
        for lab in ["Q1", "Q2", "Q3", "Q4"]:
            k = (labels == lab) & (sex == b)
            f = NelsonAalenFitter(nelson_aalen_smoothing=smoothing).fit(t[k], e[k])
            sub = na[(na.group == lab) & (na["by"] == b)]
            np.testing.assert_array_equal(sub.time, f.cumulative_hazard_.index)
            np.testing.assert_allclose(sub.cumulative_hazard, f.cumulative_hazard_.iloc[:, 0], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(sub.ci_low, f.confidence_interval_.iloc[:, 0], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(sub.ci_high, f.confidence_interval_.iloc[:, 1], rtol=1e-10, atol=1e-14)


def test_curves_drop_missing_and_validate():
    t, e, score, C, sex = _data(6, n=60)
    s = score.copy()
    s[:3] = np.nan
    g = quantile_groups(s)
    km = kaplan_meier(t, e, g)
    assert km.groupby("group", observed=True).at_risk.first().sum() == 57
    with pytest.raises(CardiolatentError, match=">= 0"):
        kaplan_meier(np.r_[-1.0, t[1:]], e)
    with pytest.raises(CardiolatentError, match="0 or 1"):
        nelson_aalen(t, np.r_[3.0, e[1:]])
