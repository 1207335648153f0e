"""The public API of cardiolatent.stats: every name in ``__all__`` importable from the package and
giving one closed-form value on tiny data."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cardiolatent.stats as S
from cardiolatent.stats import (CoxFit, MeffResult, benjamini_hochberg, bonferroni, cox_fit, cox_scan,
                                effective_tests, group_hazard_ratios, harrell_c, icc, icc_table,
                                inverse_normal, kaplan_meier, logistic_scan, maxT_permutations, meff,
                                meff_threshold, nelson_aalen, ols_scan, quantile_groups, standardise,
                                westfall_young_maxT)

# three subjects, events at t = 1, 2, 3, z = 0, 1, 0: the partial likelihood
# 1/(2 + e^b) * e^b/(1 + e^b) is maximal at e^b = sqrt(2), i.e. b = log(2) / 2
T3, E3, Z3 = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]), np.array([0.0, 1.0, 0.0])
B3 = math.log(2.0) / 2


def test_all_names_are_exported():
    assert sorted(S.__all__) == sorted(set(S.__all__))
    for name in S.__all__:
        assert hasattr(S, name), name


def test_ols_scan_textbook_slope():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([2.0, 4.0, 5.0, 4.0, 5.0])  # least squares line 2.2 + 0.6 x
    r = ols_scan(y, x).iloc[0]
    assert r["beta"] == pytest.approx(0.6, abs=1e-12)
    assert (r["n"], r["df"], r["status"]) == (5, 3, "ok")
    # RSS = 2.4 on 3 df, Sxx = 10: se = sqrt(0.8 / 10)
    assert r["se"] == pytest.approx(math.sqrt(0.08), rel=1e-12)


def test_logistic_scan_two_by_two_odds_ratio():
    z = np.array([0, 0, 0, 0, 1, 1, 1, 1], float)
    d = np.array([1, 0, 0, 0, 1, 1, 1, 0], float)  # odds 1/3 vs 3/1: OR 9
    r = logistic_scan(d, z, tol=1e-12).iloc[0]
    assert r["status"] == "ok"
    assert r["beta"] == pytest.approx(math.log(9.0), rel=1e-8)
    assert r["se"] == pytest.approx(math.sqrt(1 + 1 / 3 + 1 / 3 + 1), rel=1e-8)


def test_cox_scan_and_cox_fit_closed_form():
    r = cox_scan(T3, E3, Z3[:, None], standardise_z=False, n_jobs=1).iloc[0]
    assert r["status"] == "ok"
    assert r["beta"] == pytest.approx(B3, abs=1e-8)
    fit = cox_fit(T3, E3, Z3[:, None])
    assert isinstance(fit, CoxFit)
    assert fit.params["beta"].iloc[0] == pytest.approx(B3, abs=1e-8)


def test_group_hazard_ratio_and_harrell_c():
    hr = group_hazard_ratios(T3, E3, np.array(["a", "b", "a"]))
    row = hr[(hr["reference"] == "a") & (hr["group"] == "b")].iloc[0]
    assert row["hr"] == pytest.approx(math.sqrt(2.0), rel=1e-7)
    assert harrell_c(T3, E3, np.array([3.0, 2.0, 1.0])) == pytest.approx(1.0)


def test_kaplan_meier_and_nelson_aalen_of_three_points():
    t, e = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0])
    km = kaplan_meier(t, e)
    np.testing.assert_allclose(km["survival"], [1.0, 2 / 3, 2 / 3, 0.0], atol=1e-15)
    na = nelson_aalen(t, e)
    np.testing.assert_allclose(na["cumulative_hazard"], [0.0, 1 / 3, 1 / 3, 4 / 3], atol=1e-15)


def test_quantile_groups_tertiles():
    g = quantile_groups(np.arange(1.0, 7.0))
    assert list(g) == ["T1", "T1", "T2", "T2", "T3", "T3"]


def test_icc_function_and_alias():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # rater 2 = rater 1 + 1
    tab = icc(x)
    by = dict(zip(tab["type"], tab["icc"]))
    # MSR = 8, MSW = 0.5, MSE = 0: ICC1 = 7.5 / 8.5, ICC3 = 1
    assert by["ICC1"] == pytest.approx(15 / 17, rel=1e-12)
    assert by["ICC3"] == pytest.approx(1.0, rel=1e-12)
    assert tab.equals(icc_table(x))


def test_meff_identity_and_all_ones():
    res = effective_tests(corr=np.eye(3))
    assert isinstance(res, MeffResult)
    assert (res.li_ji, res.nyholt) == pytest.approx((3.0, 3.0))
    assert meff(corr=np.ones((3, 3))) == pytest.approx(1.0)


def test_multiple_testing_known_values():
    np.testing.assert_allclose(bonferroni([0.01, 0.2, np.nan]), [0.02, 0.4, np.nan])
    np.testing.assert_allclose(benjamini_hochberg([0.01, 0.04, 0.03]), [0.03, 0.04, 0.04])
    assert meff_threshold(0.05, 5.0, n_families=2) == pytest.approx(0.005)
    perms = maxT_permutations(5, 2, seed=1)
    assert perms.shape == (2, 5) and all(sorted(p) == list(range(5)) for p in perms)


def test_westfall_young_with_given_permutations():
    x = np.arange(8.0)
    y = x + np.array([0.01, -0.02, 0.0, 0.02, -0.01, 0.01, 0.0, -0.01])  # |t| far above any permutation's
    perms = np.stack([np.roll(np.arange(8), s) for s in (1, 3, 5)])
    tab = westfall_young_maxT(y, x, permutations=perms)
    assert tab["p_maxT"].iloc[0] == pytest.approx(1 / 4)  # (1 + 0) / (3 + 1)


def test_transforms():
    np.testing.assert_allclose(standardise(np.array([1.0, 2.0, 3.0])), [-1.0, 0.0, 1.0])
    assert inverse_normal(np.array([1.0, 2.0, 3.0]))[1] == pytest.approx(0.0, abs=1e-15)


def test_icc_and_meff_are_functions_beside_their_modules():
    import cardiolatent.stats.independent_tests as meff_module
    import cardiolatent.stats.intraclass as icc_module
    from cardiolatent.stats import icc, meff

    assert callable(icc) and icc is icc_module.icc and meff is meff_module.meff
    assert meff(corr=np.eye(2)) == 2.0
