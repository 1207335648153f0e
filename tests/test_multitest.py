"""Multiple-testing corrections against statsmodels, and the Westfall-Young max-T permutation test
against a slow loop of statsmodels fits using the same permutations."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats.multitest import (benjamini_hochberg, bonferroni, maxT_permutations,
                                          meff_threshold, westfall_young_maxT)


def _pvals(seed=0, shape=(30, 7)):
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=shape) ** 3
    p.flat[::11] = p.flat[1]          # ties
    p.flat[::13] = np.nan
    p.flat[5] = 0.0
    p.flat[6] = 1.0
    return p


def test_benjamini_hochberg_equals_statsmodels_and_keeps_nan():
    p = _pvals()
    q = benjamini_hochberg(p)
    assert q.shape == p.shape
    ok = ~np.isnan(p)
    assert np.array_equal(np.isnan(q), ~ok)
    ref = multipletests(p[ok], method="fdr_bh")[1]
    np.testing.assert_allclose(q[ok], ref, rtol=1e-12, atol=1e-15)
    assert (q[ok] >= p[ok]).all()
    assert np.isnan(benjamini_hochberg([np.nan, np.nan])).all()


def test_bonferroni_equals_statsmodels_and_n_tests():
    p = _pvals(1)
    ok = ~np.isnan(p)
    np.testing.assert_allclose(bonferroni(p)[ok], multipletests(p[ok], method="bonferroni")[1],
                               rtol=1e-14)
    assert np.isnan(bonferroni(p)[~ok]).all()
    np.testing.assert_allclose(bonferroni([0.001, 0.2], n_tests=100), [0.1, 1.0])
    with pytest.raises(CardiolatentError):
        bonferroni([0.5, 1.5])


def test_meff_threshold():
    # the paper's style: 0.05 / (number of diseases x M_eff)
    assert meff_threshold(0.05, 22.0, n_families=10) == pytest.approx(0.05 / 220)
    assert meff_threshold(5e-8, 21.7) == pytest.approx(2.304e-9, rel=1e-3)
    with pytest.raises(CardiolatentError):
        meff_threshold(0.05, 0)


# --------------------------------------------------------------------------------------------
# Westfall-Young
# --------------------------------------------------------------------------------------------


def _tiny(seed=3, n=45, effect=0.0, missing_y=False):
    rng = np.random.default_rng(seed)
    C = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), rng.integers(0, 2, n)])
    X = rng.normal(size=(n, 3))
    X[:25, 1] = np.nan                # mostly missing
    X[4:12, 2] = np.nan
    X[:, 2] += 0.7 * C[:, 0]
    Y = rng.normal(size=(n, 3))
    Y[:, 0] += effect * X[:, 0]
    if missing_y:
        Y[-5:, 2] = np.nan            # a latent with its own missingness pattern
    return Y, X, C


def _reference_null(Y, X, C, perms):
    """Slow, obvious max-T: per permutation, per trait and latent, statsmodels fits."""
    n = Y.shape[0]
    out = []
    for perm in perms:
        mx = 0.0
        for j in range(X.shape[1]):
            for i in range(Y.shape[1]):
                rows = np.flatnonzero(~np.isnan(X[:, j]) & ~np.isnan(C).any(axis=1)
                                      & ~np.isnan(Y[:, i]))
                B = np.column_stack([np.ones(rows.size), C[rows]])
                xres = sm.OLS(X[rows, j], B).fit().resid         # trait ~ covariates
                order = perm[np.isin(perm, rows)]                # rows in the permutation's order
                where = np.full(n, -1)
                where[rows] = np.arange(rows.size)
                xperm = xres[where[order]]
                fit = sm.OLS(Y[rows, i], np.column_stack([np.ones(rows.size), xperm, C[rows]])).fit()
                mx = max(mx, abs(fit.tvalues[1]))
        out.append(mx)
    return np.array(out)


def test_maxT_equals_slow_statsmodels_reference_with_same_permutations():
    Y, X, C = _tiny(effect=0.5, missing_y=True)
    perms = maxT_permutations(Y.shape[0], 25, seed=11)
    res, null = westfall_young_maxT(Y, X, C, permutations=perms, return_null=True)
    ref_null = _reference_null(Y, X, C, perms)
    np.testing.assert_allclose(null, ref_null, rtol=1e-10)
    tobs = np.abs(res.t.to_numpy())
    ref_p = (1 + (ref_null[None, :] >= tobs[:, None]).sum(axis=1)) / (len(perms) + 1)
    np.testing.assert_allclose(res.p_maxT.to_numpy(), ref_p, rtol=1e-12, atol=0)
    # the seeded path draws exactly these permutations
    res2, null2 = westfall_young_maxT(Y, X, C, n_perm=25, seed=11, return_null=True)
    assert np.array_equal(null2, null)
    assert np.array_equal(res2.p_maxT.to_numpy(), res.p_maxT.to_numpy())


def test_maxT_reproducible_and_seed_dependent():
    Y, X, C = _tiny(seed=4)
    a = westfall_young_maxT(Y, X, C, n_perm=60, seed=1, return_null=True)
    a2 = westfall_young_maxT(Y, X, C, n_perm=60, seed=1, return_null=True)
    b = westfall_young_maxT(Y, X, C, n_perm=60, seed=1, return_null=True, batch_columns=1)
    c = westfall_young_maxT(Y, X, C, n_perm=60, seed=2, return_null=True)
    assert np.array_equal(a[1], a2[1]) and a[0].p_maxT.equals(a2[0].p_maxT)
    # another batch size: same permutations, products summed in another order
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)
    np.testing.assert_array_equal(a[0].p_maxT, b[0].p_maxT)
    assert not np.allclose(a[1], c[1])


def test_maxT_null_data_adjusted_p_at_least_raw_and_controls_fwer():
    hits = 0
    runs = 30
    for s in range(runs):
        rng = np.random.default_rng(100 + s)
        n = 60
        Y = rng.normal(size=(n, 3))
        X = rng.normal(size=(n, 4))
        C = rng.normal(size=(n, 1))
        res = westfall_young_maxT(Y, X, C, n_perm=99, seed=s)
        assert (res.p_maxT >= res.p - 1e-12).all()
        assert ((res.p_maxT > 0) & (res.p_maxT <= 1)).all()
        hits += res.p_maxT.min() <= 0.2
    # family-wise error rate near 0.2 (binomial sd 0.073 for 30 runs)
    assert 0.0 < hits / runs <= 0.2 + 3 * 0.073


def test_maxT_planted_effect_stays_significant():
    Y, X, C = _tiny(seed=5, n=80, effect=1.5)
    res = westfall_young_maxT(Y, X, C, n_perm=199, seed=0)
    top = res[(res.latent == "Y0") & (res.trait == "X0")].iloc[0]
    assert top.p_maxT == pytest.approx(1 / 200)
    others = res.drop(index=top.name)
    assert (others.p_maxT > 0.01).all()


def test_maxT_bad_permutations_and_degenerate_tests():
    Y, X, C = _tiny()
    with pytest.raises(CardiolatentError):
        westfall_young_maxT(Y, X, C, permutations=np.zeros((3, 5), dtype=int))
    with pytest.raises(CardiolatentError):
        westfall_young_maxT(Y, X, C, n_perm=0)
    X2 = X.copy()
    X2[:, 1] = 2.0                        # constant trait: not ok -> no adjusted P, not in max
    res = westfall_young_maxT(Y, X2, C, n_perm=20)
    assert res.loc[res.trait == "X1", "p_maxT"].isna().all()
    assert res.loc[res.trait != "X1", "p_maxT"].notna().all()
