"""logistic_scan against statsmodels Logit, and its per-model status flags."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import cardiolatent.stats.logistic as lg
from cardiolatent.errors import CardiolatentError
from cardiolatent.stats.logistic import logistic_scan

REL = 1e-6


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def _data(seed=0, n=700):
    rng = np.random.default_rng(seed)
    age = rng.normal(64, 8, n)
    sex = rng.integers(0, 2, n).astype(float)
    centre = rng.integers(0, 4, n)
    cd = np.eye(4)[centre][:, 1:]
    C = np.column_stack([age, sex, cd])
    C[rng.random(n) < 0.05, 0] = np.nan
    m = 7
    Z = rng.normal(size=(n, m)) * [1, 2, 0.1, 1, 1, 1, 30] + [0, 0, 0, 10, 0, 0, 500]
    Z[rng.random(n) < 0.1, 5] = np.nan
    eta = -1.2 + 0.9 * Z[:, 0] + 0.04 * (age - 64) + 0.3 * sex
    D = np.column_stack([
        rng.random(n) < 1 / (1 + np.exp(-eta)),      # strong effect of Z0
        rng.random(n) < 0.06,                         # rare outcome
        rng.random(n) < 0.3,
    ]).astype(float)
    D[rng.random(n) < 0.1, 1] = np.nan
    D[centre == 2, 2] = np.nan      # centre 2 absent among this outcome's complete cases
    return D, Z, C


def _reference(D, Z, C, k, i):
    """statsmodels Logit on the complete cases, dropping covariate columns constant there."""
    ok = ~np.isnan(D[:, k]) & ~np.isnan(Z[:, i]) & ~np.isnan(C).any(axis=1)
    Cs = C[ok]
    keep = [q for q in range(Cs.shape[1]) if np.ptp(Cs[:, q]) > 0]
    design = np.column_stack([np.ones(ok.sum()), Z[ok, i], Cs[:, keep]])
    fit = sm.Logit(D[ok, k], design).fit(disp=0)
    return fit, int(ok.sum()), int(D[ok, k].sum())


def test_logistic_scan_equals_statsmodels():
    D, Z, C = _data()
    res = logistic_scan(D, Z, C)
    d, m = D.shape[1], Z.shape[1]
    assert len(res) == d * m
    assert list(res.columns) == ["outcome", "latent", "beta", "se", "z", "p", "n", "n_cases",
                                 "converged", "iterations", "status"]
    worst = 0.0
    for k in range(d):
        for i in range(m):
            row = res.iloc[k * m + i]
            assert row.outcome == f"D{k}" and row.latent == f"Z{i}"
            fit, n, nc = _reference(D, Z, C, k, i)
            assert fit.mle_retvals["converged"]
            assert row.status == "ok" and row.converged and 0 < row.iterations < 50
            assert row.n == n and row.n_cases == nc
            for ours, ref in ((row.beta, fit.params[1]), (row.se, fit.bse[1]),
                              (row.z, fit.tvalues[1]), (row.p, fit.pvalues[1])):
                worst = max(worst, _rel(ours, ref))
                assert _rel(ours, ref) < REL, (k, i, ours, ref)
    assert res.p.iloc[0] < 1e-12     # the planted effect
    assert worst < REL


def test_blocked_information_and_latent_chunks_give_the_same_fit(monkeypatch):
    D, Z, C = _data(seed=4, n=300)
    a = logistic_scan(D, Z, C)
    monkeypatch.setattr(lg, "_QQ_BYTES", 0)           # Q'WQ by row blocks
    b = logistic_scan(D, Z, C, chunk_latents=2, chunk_rows=37)
    num = ["beta", "se", "z", "p"]
    np.testing.assert_allclose(a[num].to_numpy(), b[num].to_numpy(), rtol=1e-9)
    assert (a.status == b.status).all()


def test_separation_is_flagged_not_raised():
    rng = np.random.default_rng(5)
    n = 300
    y = (rng.random(n) < 0.4).astype(float)
    complete = np.where(y == 1, rng.uniform(0.5, 2, n), rng.uniform(-2, -0.5, n))
    quasi = np.where(y == 1, rng.uniform(0, 2, n), rng.uniform(-2, 0, n))
    quasi[:20] = 0.0                       # both outcomes at the boundary value
    null = rng.normal(size=n)
    C = rng.normal(size=(n, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # no overflow / convergence warnings leak out
        res = logistic_scan(y, np.column_stack([complete, quasi, null]), C)
    assert list(res.status) == ["separation", "separation", "ok"]
    assert not res.converged.iloc[0] and not res.converged.iloc[1]
    assert res.iloc[:2][["beta", "se", "z", "p"]].isna().all().all()
    # statsmodels does not converge on these either
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = sm.Logit(y, np.column_stack([np.ones(n), quasi, C])).fit(disp=0)
            assert not fit.mle_retvals["converged"] or abs(fit.params[1]) > 20
        except Exception:   # PerfectSeparationError in older statsmodels
            pass


def test_outcome_level_absent_too_few_and_constant_predictor():
    rng = np.random.default_rng(8)
    n = 80
    Z = rng.normal(size=(n, 3))
    Z[:, 2] = 1.5                                     # constant latent
    C = rng.normal(size=(n, 2))
    D = np.column_stack([
        np.zeros(n),                                  # no cases: outcome level absent
        np.ones(n),                                   # no controls
        np.where(np.arange(n) < 3, (np.arange(n) % 2).astype(float), np.nan),  # 3 rows
        (rng.random(n) < 0.5).astype(float),
        (np.arange(n) < 2).astype(float),             # 2 cases
    ])
    res = logistic_scan(D, Z, C, min_cases=5).set_index(["outcome", "latent"])
    assert (res.loc["D0"].status == "separation").all()
    assert (res.loc["D1"].status == "separation").all()
    assert (res.loc["D2"].status == "too_few_cases").all()
    assert res.loc[("D3", "Z0"), "status"] == "ok"
    assert res.loc[("D3", "Z2"), "status"] == "constant_predictor"
    assert (res.loc["D4"].status == "too_few_cases").all()
    assert res.loc["D4"].n_cases.eq(2).all()
    assert res[res.status != "ok"][["beta", "se"]].isna().all().all()


def test_bad_outcome_values_and_names():
    rng = np.random.default_rng(1)
    Z = pd.DataFrame(rng.normal(size=(20, 2)), columns=["S42_Z1", "S42_Z2"])
    D = pd.DataFrame({"af": (rng.random(20) < 0.5).astype(float), "mi": 0.0})
    D.loc[3, "mi"] = 2.0
    with pytest.raises(CardiolatentError, match="mi"):
        logistic_scan(D, Z)
    D.loc[3, "mi"] = 1.0
    D.loc[5, "mi"] = 1.0
    res = logistic_scan(D, Z)
    assert list(res.outcome.unique()) == ["af", "mi"] and res.latent.iloc[1] == "S42_Z2"
    with pytest.raises(CardiolatentError, match="rows"):
        logistic_scan(D.iloc[:10], Z)


def test_very_strong_effect_tiny_p_relative_agreement():
    rng = np.random.default_rng(12)
    n = 4000
    z = rng.normal(size=n)
    C = rng.normal(size=(n, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 + 1.6 * z + 0.2 * C[:, 0])))).astype(float)
    res = logistic_scan(y, z, C)
    fit = sm.Logit(y, np.column_stack([np.ones(n), z, C])).fit(disp=0)
    assert res.p.iloc[0] < 1e-100
    assert _rel(res.p.iloc[0], fit.pvalues[1]) < REL
    assert _rel(res.beta.iloc[0], fit.params[1]) < REL and _rel(res.se.iloc[0], fit.bse[1]) < REL
