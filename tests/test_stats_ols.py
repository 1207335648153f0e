"""ols_scan and the transforms against independent references (statsmodels OLS, scipy, pandas)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats.ols import ols_scan
from cardiolatent.stats.transforms import inverse_normal, standardise

REL = 1e-8


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


# --------------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------------


def test_standardise_matches_pandas_sample_sd_and_keeps_nan():
    rng = np.random.default_rng(0)
    a = rng.normal(5, 3, size=(50, 4))
    a[rng.random((50, 4)) < 0.2] = np.nan
    df = pd.DataFrame(a)
    ref = ((df - df.mean()) / df.std(ddof=1)).to_numpy()
    out = standardise(a)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    assert np.array_equal(np.isnan(out), np.isnan(a))
    # along rows
    np.testing.assert_allclose(standardise(a.T, axis=1), ref.T, rtol=1e-12, atol=1e-12)


def test_standardise_constant_and_short_columns_are_nan_without_warning():
    a = np.column_stack([np.full(6, 2.5), [np.nan] * 5 + [1.0], np.arange(6.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = standardise(a)
    assert np.isnan(out[:, 0]).all() and np.isnan(out[:, 1]).all()
    assert np.isclose(np.nanstd(out[:, 2], ddof=1), 1.0)


@pytest.mark.parametrize("c", [3 / 8, 0.5, 0.0])
def test_inverse_normal_closed_form_with_ties_and_nan(c):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 12, size=(40, 3)).astype(float)  # many ties
    a[rng.random((40, 3)) < 0.15] = np.nan
    out = inverse_normal(a, c=c)
    for j in range(3):
        ok = ~np.isnan(a[:, j])
        r = stats.rankdata(a[ok, j], method="average")
        n = ok.sum()
        ref = stats.norm.ppf((r - c) / (n - 2 * c + 1))
        np.testing.assert_allclose(out[ok, j], ref, rtol=1e-12, atol=1e-14)
        assert np.isnan(out[~ok, j]).all()
        # ties get the same value
        vals = a[ok, j]
        for v in np.unique(vals):
            assert np.ptp(out[ok, j][vals == v]) == 0


# --------------------------------------------------------------------------------------------
# ols_scan vs statsmodels
# --------------------------------------------------------------------------------------------


def _cohort(seed=0, n=420):
    """Latents, traits and covariates with the awkward cases of the real data."""
    rng = np.random.default_rng(seed)
    age = rng.normal(64, 8, n)
    sex = rng.integers(0, 2, n).astype(float)
    bsa = rng.normal(1.9, 0.2, n)
    centre = rng.integers(0, 4, n)
    year = rng.integers(0, 3, n)
    cd = np.eye(4)[centre][:, 1:]          # reference level 0 dropped
    yd = np.eye(3)[year][:, 1:]
    dup = cd[:, [0]] * 1.0                 # an exact duplicate: rank-deficient covariates
    C = np.hstack([age[:, None], sex[:, None], bsa[:, None], cd, yd, dup])
    C[rng.random(n) < 0.04, 0] = np.nan    # missing covariate
    m, t = 6, 7
    X = rng.normal(size=(n, t))
    X[:, 1] = (rng.random(n) < 0.3).astype(float)                   # binary trait
    X[:, 2] = X[:, 2] * 40 + 1200                                   # badly scaled trait
    X[rng.random(n) < 0.25, 3] = np.nan
    X[centre == 3, 4] = np.nan             # in this subset centre 3 is absent -> dummy all zero
    X[:260, 5] = np.nan                     # mostly missing (sums over its own rows)
    X[rng.random(n) < 0.1, 6] = np.nan
    X[:, 6] += 0.5 * age / 8               # trait correlated with a covariate
    Y = rng.normal(size=(n, m))
    Y[:, 0] += 0.9 * X[:, 0]               # strong effect: tiny P
    Y[:, 1] += 0.02 * age + 0.3 * sex
    Y[:, 2] = Y[:, 2] * 50 + 1000          # badly scaled response
    Y[rng.random(n) < 0.08, 3] = np.nan    # missing response values
    names = ["age", "sex", "bsa", "c1", "c2", "c3", "y1", "y2", "c1dup"]
    return Y, X, C, names


def _reference(Y, X, C, i, j, intercept=True):
    """statsmodels OLS of Y_i on X_j + covariates, with the reduced (full-rank) design."""
    ok = ~np.isnan(Y[:, i]) & ~np.isnan(X[:, j]) & ~np.isnan(C).any(axis=1)
    Cs = C[ok]
    keep = []
    for k in range(Cs.shape[1]):  # drop constant columns (absent dummy) and exact duplicates
        col = Cs[:, k]
        if intercept and np.ptp(col) == 0:
            continue
        if any(np.array_equal(col, Cs[:, q]) for q in keep):
            continue
        keep.append(k)
    parts = ([np.ones(ok.sum())] if intercept else []) + [X[ok, j]] + [Cs[:, k] for k in keep]
    design = np.column_stack(parts)
    fit = sm.OLS(Y[ok, i], design).fit()
    pos = 1 if intercept else 0
    return fit, pos, int(ok.sum())


def test_ols_scan_equals_statsmodels_per_model():
    Y, X, C, cn = _cohort()
    res = ols_scan(Y, X, C, c_names=cn)
    m, t = Y.shape[1], X.shape[1]
    assert len(res) == m * t
    assert list(res.columns) == ["latent", "trait", "beta", "se", "t", "p", "n", "df", "n_cases",
                                 "status"]
    worst = 0.0
    for i in range(m):
        for j in range(t):
            row = res.iloc[i * t + j]
            assert row.latent == f"Y{i}" and row.trait == f"X{j}"
            fit, k, n = _reference(Y, X, C, i, j)
            assert row.status == "ok"
            assert row.n == n and row.df == fit.df_resid
            for ours, ref in ((row.beta, fit.params[k]), (row.se, fit.bse[k]),
                              (row.t, fit.tvalues[k]), (row.p, fit.pvalues[k])):
                worst = max(worst, _rel(ours, ref))
                assert _rel(ours, ref) < REL, (i, j, ours, ref)
    assert res.p.min() < 1e-40          # the planted effect, compared relatively above
    assert worst < REL


def test_rank_deficient_full_design_df_matches_statsmodels_pinv_rank():
    Y, X, C, _ = _cohort(seed=3)
    res = ols_scan(Y[:, :2], X[:, [4]], C)
    ok = ~np.isnan(X[:, 4]) & ~np.isnan(C).any(axis=1)
    design = np.column_stack([np.ones(ok.sum()), X[ok, 4], C[ok]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.OLS(Y[ok, 0], design).fit()          # pinv fit of the rank-deficient design
    assert res.df.iloc[0] == fit.df_resid
    assert _rel(res.beta.iloc[0], fit.params[1]) < 1e-7
    assert _rel(res.se.iloc[0], fit.bse[1]) < 1e-7


def test_binary_traits_n_cases_and_names_from_dataframes():
    Y, X, C, cn = _cohort(seed=5)
    Yd = pd.DataFrame(Y, columns=[f"S1701_Z{k}" for k in range(Y.shape[1])])
    Xd = pd.DataFrame(X, columns=[f"trait{k}" for k in range(X.shape[1])])
    Cd = pd.DataFrame(C, columns=cn)
    res = ols_scan(Yd, Xd, Cd)
    assert res.latent.iloc[0] == "S1701_Z0" and res.trait.iloc[1] == "trait1"
    row = res[(res.latent == "S1701_Z0") & (res.trait == "trait1")].iloc[0]
    ok = ~np.isnan(C).any(axis=1)
    assert row.n_cases == int(X[ok, 1].sum())
    assert res[res.trait == "trait0"].n_cases.isna().all()
    forced = ols_scan(Y, X, C, binary_x=[False] * X.shape[1])
    assert forced.n_cases.isna().all()


def test_no_intercept_matches_statsmodels():
    Y, X, C, _ = _cohort(seed=7)
    C = C[:, :3]
    res = ols_scan(Y[:, :2], X[:, [0, 2, 3]], C, intercept=False)
    for i in range(2):
        for jj, j in enumerate([0, 2, 3]):
            fit, k, n = _reference(Y, X, C, i, j, intercept=False)
            row = res.iloc[i * 3 + jj]
            assert row.df == fit.df_resid
            assert _rel(row.beta, fit.params[k]) < REL and _rel(row.se, fit.bse[k]) < REL
            assert _rel(row.p, fit.pvalues[k]) < REL


def test_chunking_and_covariate_free_scan():
    Y, X, C, _ = _cohort(seed=9)
    a = ols_scan(Y, X, C)
    b = ols_scan(Y, X, C, chunk_rows=7, threads=None)
    num = ["beta", "se", "t", "p"]
    np.testing.assert_allclose(a[num].to_numpy(), b[num].to_numpy(), rtol=1e-10)
    with pytest.raises(CardiolatentError, match="threads"):
        ols_scan(Y, X, C, threads=0)
    res = ols_scan(Y[:, :2], X[:, :2])           # no covariates: simple regression
    ok = ~np.isnan(Y[:, 0])
    fit = sm.OLS(Y[ok, 0], sm.add_constant(X[ok, 0])).fit()
    assert _rel(res.beta.iloc[0], fit.params[1]) < REL and _rel(res.p.iloc[0], fit.pvalues[1]) < REL


def test_degenerate_models_get_status_not_errors():
    rng = np.random.default_rng(11)
    n = 40
    C = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)])
    X = rng.normal(size=(n, 5))
    X[:, 0] = 3.0                                     # constant trait
    X[:, 1] = 2 * C[:, 0] - 1                         # collinear with a covariate
    X[3:, 2] = np.nan                                 # 3 complete cases < parameters
    X[rng.random(n) < 0.5, 3] = np.nan
    X[:, 3][~np.isnan(X[:, 3])] = 1.0                 # constant within its complete cases
    Y = rng.normal(size=(n, 3))
    Y[:, 2] = 7.0                                     # constant latent
    res = ols_scan(Y, X, C)
    st = res.set_index(["latent", "trait"]).status
    assert st["Y0", "X0"] == "constant_trait"
    assert st["Y0", "X1"] == "collinear_trait"
    assert st["Y0", "X2"] == "too_few"
    assert st["Y0", "X3"] == "constant_trait"
    assert st["Y0", "X4"] == "ok"
    assert st["Y2", "X4"] == "constant_response"
    bad = res.status != "ok"
    assert res.loc[bad, ["beta", "se", "t", "p"]].isna().all().all()
    assert res.loc[~bad, ["beta", "se", "t", "p"]].notna().all().all()


def test_bad_input_raises_clear_errors():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(10, 2))
    X = rng.normal(size=(10, 2))
    with pytest.raises(CardiolatentError, match="rows"):
        ols_scan(Y, X[:9])
    Xi = X.copy()
    Xi[4, 1] = np.inf
    with pytest.raises(CardiolatentError, match="X1"):
        ols_scan(Y, Xi)
    C = np.column_stack([rng.normal(size=10), np.full(10, np.nan)])
    with pytest.raises(CardiolatentError, match="bmi"):
        ols_scan(Y, X, C, c_names=["age", "bmi"])
    with pytest.raises(CardiolatentError, match="not numeric"):
        ols_scan(Y, X, pd.DataFrame({"centre": ["a"] * 10}))
