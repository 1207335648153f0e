"""cox_scan / cox_fit / harrell_c against lifelines (Efron), statsmodels PHReg (Breslow) and
definitional reference computations. Small synthetic data; tolerances as stated per test."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

lifelines = pytest.importorskip("lifelines")
from lifelines import CoxPHFitter  # noqa: E402
from lifelines.statistics import proportional_hazard_test  # noqa: E402
from lifelines.utils import concordance_index  # noqa: E402

from cardiolatent.errors import CardiolatentError  # noqa: E402
from cardiolatent.stats.cox import _risksets, concordance  # noqa: E402
from cardiolatent.stats.cox import cox_fit, cox_scan, harrell_c  # noqa: E402

TIGHT = dict(precision=1e-30, r_precision=0.0)  # lifelines run to full convergence


def _data(seed=0, n=300, m=4, ties=True, strata=False):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, max(m, 2)))
    C = np.c_[rng.normal(size=n), rng.integers(0, 2, n)].astype(float)
    lp = 0.6 * Z[:, 0] - 0.3 * Z[:, 1] + 0.4 * C[:, 0] + 0.3 * C[:, 1]
    t = rng.exponential(np.exp(-lp))
    cens = rng.uniform(0.2, 2.5, n)
    e = (t < cens).astype(float)
    t = np.minimum(t, cens)
    if ties:  # coarse time grid: many tied event and censoring times
        t = np.ceil(t * 20) / 20
    s = rng.integers(0, 3, n) if strata else None
    return t, e, Z[:, :m], C, s


def _zstd(z):
    return (z - z.mean()) / z.std(ddof=1)


def _lifelines(t, e, cols: dict, strata=None, robust=False):
    df = pd.DataFrame({"T": t, "E": e, **cols})
    if strata is not None:
        df["s"] = strata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter(penalizer=0.0).fit(df, "T", "E", strata=["s"] if strata is not None else None,
                                             robust=robust, fit_options=TIGHT)
    return cph, df


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


@pytest.mark.parametrize("strata", [False, True])
def test_efron_matches_lifelines(strata):
    t, e, Z, C, s = _data(1, strata=strata)
    res, cov = cox_scan(t, e, Z, C, strata=s, c_names=["c0", "c1"], return_covariates=True)
    assert (res.status == "ok").all() and res.converged.all()
    for i in range(Z.shape[1]):
        cph, _ = _lifelines(t, e, {"z": _zstd(Z[:, i]), "c0": C[:, 0], "c1": C[:, 1]}, strata=s)
        assert _rel(res.beta[i], cph.params_["z"]) < 1e-6
        assert _rel(res.se[i], cph.standard_errors_["z"]) < 1e-6
        assert _rel(res.loglik[i], cph.log_likelihood_) < 1e-9
        assert res.c_index[i] == pytest.approx(cph.concordance_index_, abs=1e-12)
        assert res.p[i] == pytest.approx(cph.summary.loc["z", "p"], rel=1e-5, abs=1e-300)
        ci = cph.summary.loc["z", ["exp(coef) lower 95%", "exp(coef) upper 95%"]].to_numpy(float)
        assert _rel([res.hr_ci_low[i], res.hr_ci_high[i]], ci) < 1e-6
        cv = cov[cov.latent == f"Z{i}"].set_index("term")
        assert _rel(cv.loc[["c0", "c1"], "beta"], cph.params_[["c0", "c1"]]) < 1e-6
        assert _rel(cv.loc[["c0", "c1"], "se"], cph.standard_errors_[["c0", "c1"]]) < 1e-6
    assert res.n.eq(len(t)).all() and res.n_events.eq(int(e.sum())).all()


def test_standardisation_and_lr_test():
    t, e, Z, C, _ = _data(2)
    per_sd = cox_scan(t, e, Z, C)
    per_unit = cox_scan(t, e, Z, C, standardise_z=False)
    np.testing.assert_allclose(per_sd.z_sd, Z.std(0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(per_unit.beta * per_sd.z_sd, per_sd.beta, rtol=1e-9)
    cph, _ = _lifelines(t, e, {"z": Z[:, 1], "c0": C[:, 0], "c1": C[:, 1]})
    assert _rel(per_unit.beta[1], cph.params_["z"]) < 1e-6
    assert _rel(per_unit.se[1], cph.standard_errors_["z"]) < 1e-6
    # likelihood-ratio test against the covariates-only model on the same rows
    null, _ = _lifelines(t, e, {"c0": C[:, 0], "c1": C[:, 1]})
    assert per_sd.lr_chi2[1] == pytest.approx(2 * (cph.log_likelihood_ - null.log_likelihood_), rel=1e-6)


def test_breslow_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.duration.hazard_regression")
    t, e, Z, C, s = _data(3, strata=True)
    for strata in (None, s):
        res = cox_scan(t, e, Z, C, strata=strata, ties="breslow", robust=True)
        for i in range(Z.shape[1]):
            X = np.c_[_zstd(Z[:, i]), C]
            mod = sm.PHReg(t, X, status=e, ties="breslow", strata=strata)
            fit = mod.fit(groups=np.arange(len(t)), tol=1e-12)  # robust (sandwich) covariance
            assert _rel(res.beta[i], fit.params[0]) < 1e-6
            assert _rel(res.se[i], fit.bse[0]) < 1e-6  # tie-aware Breslow score residuals
            naive = mod.fit(tol=1e-12)
            assert _rel(res.se_model[i], naive.bse[0]) < 1e-6
            assert res.loglik[i] == pytest.approx(naive.llf, rel=1e-9)


@pytest.mark.parametrize("strata", [False, True])
def test_robust_without_ties_matches_lifelines(strata):
    t, e, Z, C, s = _data(4, ties=False, strata=strata)
    res = cox_scan(t, e, Z, C, strata=s, robust=True, c_index=False)
    for i in range(Z.shape[1]):
        cph, _ = _lifelines(t, e, {"z": _zstd(Z[:, i]), "c0": C[:, 0], "c1": C[:, 1]}, strata=s, robust=True)
        assert _rel(res.se[i], cph.standard_errors_["z"]) < 1e-6
        assert _rel(res.beta[i], cph.params_["z"]) < 1e-6


def _weighted_efron_score(t, e, X, beta, wts):
    """Score of the case-weighted Efron partial likelihood (R / lifelines weighting), naive loops."""
    r = wts * np.exp(X @ beta)
    score = np.zeros(X.shape[1])
    for tt in np.unique(t[e == 1]):
        risk = t >= tt
        dead = (t == tt) & (e == 1)
        d = int(dead.sum())
        s0, s1 = r[risk].sum(), r[risk] @ X[risk]
        s0d, s1d = r[dead].sum(), r[dead] @ X[dead]
        score += wts[dead] @ X[dead]
        meanw = wts[dead].sum() / d
        for k in range(d):
            c = k / d
            score -= meanw * (s1 - c * s1d) / (s0 - c * s0d)
    return score


def test_robust_efron_with_ties_is_weight_derivative_of_score():
    """Lin-Wei score residuals with ties = derivative of the case-weighted score (central differences)."""
    t, e, Z, C, _ = _data(5, n=80, m=1)
    res = cox_scan(t, e, Z, C, robust=True, c_index=False)
    X = np.c_[_zstd(Z[:, 0]), C]
    cph, _ = _lifelines(t, e, {"z": X[:, 0], "c0": C[:, 0], "c1": C[:, 1]})
    beta = cph.params_.to_numpy()
    h = 1e-6
    U = np.empty_like(X)
    for j in range(len(t)):
        wp, wm = np.ones(len(t)), np.ones(len(t))
        wp[j] += h
        wm[j] -= h
        U[j] = (_weighted_efron_score(t, e, X, beta, wp) - _weighted_efron_score(t, e, X, beta, wm)) / (2 * h)
    V = cph.variance_matrix_.to_numpy()
    se_ref = np.sqrt(np.diag(V @ (U.T @ U) @ V))
    assert _rel(res.se[0], se_ref[0]) < 1e-6
    fit = cox_fit(t, e, X, robust=True)
    assert _rel(fit.params["se"], se_ref) < 1e-6


@pytest.mark.parametrize("strata", [False, True])
def test_ph_test_matches_lifelines(strata):
    t, e, Z, C, s = _data(6, strata=strata)
    tr = ["rank", "km", "identity", "log"]
    res = cox_scan(t, e, Z, C, strata=s, ph_test=tr, c_index=False)
    for i in range(Z.shape[1]):
        cph, df = _lifelines(t, e, {"z": _zstd(Z[:, i]), "c0": C[:, 0], "c1": C[:, 1]}, strata=s)
        for name in tr:
            ref = proportional_hazard_test(cph, df, time_transform=name).summary.loc["z"]
            assert _rel(res[f"ph_chi2_{name}"][i], ref["test_statistic"]) < 1e-6, name
            assert _rel(res[f"ph_p_{name}"][i], ref["p"]) < 1e-6, name


def test_cox_fit_matches_lifelines_covariance():
    t, e, Z, C, s = _data(7, strata=True)
    X = np.c_[Z[:, :2], C]
    fit = cox_fit(t, e, X, strata=s, names=["a", "b", "c0", "c1"])
    cph, _ = _lifelines(t, e, {"a": X[:, 0], "b": X[:, 1], "c0": C[:, 0], "c1": C[:, 1]}, strata=s)
    assert fit.status == "ok" and fit.converged
    assert _rel(fit.params["beta"], cph.params_) < 1e-6
    assert _rel(fit.cov, cph.variance_matrix_.to_numpy()) < 1e-6
    assert fit.loglik == pytest.approx(cph.log_likelihood_, rel=1e-9)


# ------------------------------------------------------------------------------- concordance

def _lifelines_c(t, e, score, strata=None):
    """lifelines' C-index; stratified: counts summed over strata as CoxPHFitter.concordance_index_ does."""
    if strata is None:
        return concordance_index(t, -score, e)
    from lifelines.utils.concordance import _concordance_summary_statistics

    c = ti = pa = 0
    for s in np.unique(strata):
        k = strata == s
        if k.sum() < 2:
            continue
        a, b, d = _concordance_summary_statistics(t[k], -score[k], e[k])
        c, ti, pa = c + a, ti + b, pa + d
    return (c + ti / 2) / pa


@pytest.mark.parametrize("levels", [(32, 512, 8192), (4, 16, 64), (2, 8)])
def test_harrell_c_matches_lifelines_with_ties(monkeypatch, levels):
    monkeypatch.setattr(concordance, "_LEVELS", levels)
    rng = np.random.default_rng(8)
    worst = 0.0
    for rep in range(25):
        n = int(rng.integers(2, 400))
        t = rng.integers(1, 12, n).astype(float)  # tied times
        e = rng.integers(0, 2, n).astype(float)
        S = np.c_[rng.integers(0, 5, n), rng.normal(size=n)].astype(float)  # tied / distinct scores
        st = rng.integers(0, 2, n) if rep % 2 else None
        try:
            ref = [_lifelines_c(t, e, S[:, j], st) for j in range(2)]
        except ZeroDivisionError:
            continue
        got = harrell_c(t, e, S, strata=st)
        worst = max(worst, float(np.max(np.abs(got - ref))))
    assert worst < 1e-12


def test_harrell_c_no_pairs_is_nan():
    assert np.isnan(harrell_c([1.0, 2.0], [0, 0], [0.3, 0.1]))


# -------------------------------------------------------------------------------- edge cases

def test_edge_cases_reported_not_raised():
    t, e, Z, C, _ = _data(9, n=200, m=1, ties=False)
    order = np.argsort(t)
    sep = np.empty(len(t))
    sep[order] = -np.arange(len(t), dtype=float)  # earlier time <=> larger value: perfect ordering
    with_nan = np.where(np.arange(len(t)) % 7 == 0, np.nan, Z[:, 0] + 0.5 * C[:, 0])
    Zx = np.c_[Z[:, 0], np.full(len(t), 2.5), sep, with_nan, np.full(len(t), np.nan)]
    res = cox_scan(t, e, Zx, C, z_names=["ok", "const", "sep", "nan", "allnan"])
    st = dict(zip(res.latent, res.status))
    assert st["ok"] == "ok" and st["const"] == "constant" and st["sep"] == "separation"
    assert st["allnan"] == "no_rows" and res.n[4] == 0
    assert np.isnan(res.beta[1]) and abs(res.beta[2]) > 20 and not res.converged[2]
    # the latent with missing values: its own rows only, same as lifelines on the complete rows
    keep = np.isfinite(Zx[:, 3])
    cph, _ = _lifelines(t[keep], e[keep], {"z": _zstd(Zx[keep, 3]), "c0": C[keep, 0], "c1": C[keep, 1]})
    assert res.n[3] == keep.sum() and res.n_events[3] == e[keep].sum()
    assert _rel(res.beta[3], cph.params_["z"]) < 1e-6
    assert _rel(res.se[3], cph.standard_errors_["z"]) < 1e-6
    # the first latent is unaffected by its neighbours
    alone = cox_scan(t, e, Zx[:, :1], C)
    assert alone.beta[0] == pytest.approx(res.beta[0], rel=1e-12)


def test_zero_one_and_few_events():
    t, e, Z, C, _ = _data(10, n=60, m=2, ties=False)
    none = cox_scan(t, np.zeros_like(e), Z, C)
    assert (none.status == "zero_events").all() and none.beta.isna().all() and (none.n_events == 0).all()
    e1 = np.zeros_like(e)
    e1[np.argsort(t)[10]] = 1  # one event, early: a finite estimate may or may not exist
    one = cox_scan(t, e1, Z)
    assert (one.n_events == 1).all()
    assert set(one.status) <= {"ok", "separation"}
    ok = one.status == "ok"
    for i in np.flatnonzero(ok):
        cph, _ = _lifelines(t, e1, {"z": _zstd(Z[:, i])})
        assert _rel(one.beta[i], cph.params_["z"]) < 1e-6
    few = cox_scan(t, e, Z, C, min_events=int(e.sum()) + 1)
    assert (few.status == "too_few_events").all()


def test_missing_rows_in_time_and_covariates_are_dropped():
    t, e, Z, C, _ = _data(11, n=150, m=2)
    t2, C2 = t.copy(), C.copy()
    t2[3] = np.nan
    C2[5, 0] = np.nan
    res = cox_scan(t2, e, Z, C2)
    keep = np.ones(len(t), bool)
    keep[[3, 5]] = False
    ref = cox_scan(t[keep], e[keep], Z[keep], C[keep])
    assert (res.n == keep.sum()).all()
    np.testing.assert_allclose(res.beta, ref.beta, rtol=1e-12)


def test_collinear_latent_is_singular_and_bad_input_raises():
    t, e, Z, C, _ = _data(12, n=120, m=1)
    res = cox_scan(t, e, np.c_[Z[:, 0], 2 * C[:, 0] + 1], C)
    assert res.status.tolist() == ["ok", "singular"]
    with pytest.raises(CardiolatentError, match="collinear"):
        cox_scan(t, e, Z, np.c_[C, C[:, 0] * 3], c_names=["a", "b", "a3"])
    with pytest.raises(CardiolatentError, match="constant"):
        cox_scan(t, e, Z, np.c_[C, np.ones(len(t))], c_names=["a", "b", "one"])
    bad = t.copy()
    bad[0] = 0.0
    with pytest.raises(CardiolatentError, match="time must be > 0"):
        cox_scan(bad, e, Z)
    with pytest.raises(CardiolatentError, match="0 or 1"):
        cox_scan(t, np.where(e > 0, 2.0, 0.0), Z)
    with pytest.raises(CardiolatentError, match="rows"):
        cox_scan(t, e, Z[:-1])


def test_threads_chunks_and_blockwise_products_give_identical_results(monkeypatch):
    t, e, Z, C, s = _data(13, n=200, m=9, strata=True)
    a, ca = cox_scan(t, e, Z, C, strata=s, robust=True, ph_test=True, return_covariates=True, n_jobs=1)
    monkeypatch.setattr(_risksets, "_CC_KEEP", 0)  # the large-N path: covariate products per row block
    b, cb = cox_scan(t, e, Z, C, strata=s, robust=True, ph_test=True, return_covariates=True,
                     chunk_size=2, n_jobs=2)
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    pd.testing.assert_frame_equal(ca, cb, rtol=1e-12)


def test_dataframe_inputs_names_and_covariate_separation():
    t, e, Z, C, _ = _data(14, n=150, m=2, ties=False)
    Zdf = pd.DataFrame(Z, columns=["S0_Z0", "S0_Z1"])
    Cdf = pd.DataFrame(C, columns=["age", "sex"])
    res, cov = cox_scan(pd.Series(t), pd.Series(e), Zdf, Cdf, return_covariates=True)
    assert res.latent.tolist() == ["S0_Z0", "S0_Z1"]
    assert cov.term.tolist() == ["age", "sex"] * 2 and cov.latent.tolist() == ["S0_Z0"] * 2 + ["S0_Z1"] * 2
    ref = cox_scan(t, e, Z, C)
    np.testing.assert_allclose(res.beta, ref.beta, rtol=1e-12)
    # a covariate level without events: its coefficient diverges, every model says so
    e2 = np.where(C[:, 1] == 1, 0.0, e)
    sep = cox_scan(t, e2, Z, Cdf)
    assert (sep.status == "covariate_separation").all()
    fit = cox_fit(t, e2, np.c_[Z[:, 0], C], names=["z", "age", "sex"])
    assert fit.status == "covariate_separation" and fit.params.set_index("term").diverged.to_dict() == {
        "z": False, "age": False, "sex": True}
