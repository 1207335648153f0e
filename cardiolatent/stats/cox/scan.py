"""The batched scan: one Cox model per latent, all latents fitted together (:func:`cox_scan`)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import chdtrc, ndtr, ndtri

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats._inputs import blas_threads, check_time_event, strata_codes, survival_matrix
from cardiolatent.stats.cox._likelihood import evaluate, solve
from cardiolatent.stats.cox._newton import ESTIMATED, newton, null_loglik
from cardiolatent.stats.cox._risksets import Covariates, RiskSets, standardise_cols
from cardiolatent.stats.cox._robust import score_meat
from cardiolatent.stats.cox._schoenfeld import PH_TRANSFORMS, ph_stats
from cardiolatent.stats.cox.concordance import c_index as concordance

__all__ = ["cox_scan"]

_MEM_BUDGET = 400e6  # bytes of (rows x models) work arrays per chunk


def _chunk_size(n: int, requested: int | None, n_jobs: int = 1) -> int:
    """Models per batch: about ten (rows x models) float64 work arrays within the memory budget."""
    if requested:
        return max(1, int(requested))
    per_model = 8 * n * 10
    # about 32 models per batch keeps the work arrays near the CPU caches at N ~ 70,000
    return int(max(4, min(32, _MEM_BUDGET / max(1, n_jobs) // max(per_model, 1))))


def _available_cpus() -> int:
    try:
        k = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        k = os.cpu_count() or 1
    return max(1, min(8, k))


def _run_threads(fn, chunks, n_jobs: int):
    """fn over chunks in threads (numpy releases the GIL), BLAS limited to one thread each."""
    with blas_threads(1), ThreadPoolExecutor(max_workers=n_jobs) as ex:
        return list(ex.map(fn, chunks))


def cox_scan(time, event, Z, C=None, *, strata=None, ties: str = "efron", robust: bool = False,
             standardise_z: bool = True, z_names: Sequence[str] | None = None,
             c_names: Sequence[str] | None = None, max_iter: int = 50, tol: float = 1e-9,
             c_index: bool = True, ph_test: bool | str | Sequence[str] = False, min_events: int = 1,
             return_covariates: bool = False, chunk_size: int | None = None, alpha: float = 0.05,
             n_jobs: int | None = None):
    """One Cox PH model per latent (column of ``Z``), all fitted together.

    Parameters
    ----------
    time : (n,) float, years (> 0) from the start of follow-up to event or censoring.
    event : (n,) 0/1 (1 = incident event).
    Z : (n, m) tested predictors (the latents); array or DataFrame (column names are used).
    C : (n, c) covariates, numeric and dummy-coded (no intercept column, one level dropped), or None.
    strata : (n,) labels giving each stratum its own baseline hazard, or None.
    ties : "efron" (default, as lifelines and R) or "breslow".
    robust : Lin-Wei sandwich standard errors (no clusters); ``se_model`` keeps the model-based one.
    standardise_z : z-score each latent on its model's rows (sample SD, ddof=1): beta per SD.
    max_iter, tol : Newton iterations (step halvings included); a model has converged when the
        predicted gain of its next step, g' I^-1 g / 2, is below ``tol`` (that step is still taken).
    c_index : Harrell's C of each fitted model (lifelines' counting); adds about half the fit's time.
    ph_test : True (= "rank") or transform name(s) from ``PH_TRANSFORMS``: scaled Schoenfeld test
        of the latent's coefficient; adds ``ph_chi2_<name>`` and ``ph_p_<name>``.
    min_events : models with fewer events get status ``too_few_events`` (not fitted).
    return_covariates : also return the covariate coefficients of every model (long table).
    chunk_size : models per batch (default: at most 32, within a ~400 MB working-memory budget).
    n_jobs : batches fitted in parallel threads (numpy releases the GIL; BLAS is kept to one
        thread each); None = the CPUs available to the process (at most 8), 1 = serial.
    alpha : 1 - confidence level of the hazard-ratio interval.

    Rows with NaN in time, event, strata or any covariate are dropped from every model; rows with
    NaN in a latent only from that latent's model (latents sharing a missingness pattern are
    fitted together). Raises CardiolatentError for input that no model can use: time <= 0, event
    not 0/1, infinite values, mismatched lengths, a covariate constant on the usable rows or
    collinear covariates (the message names the columns).

    Returns
    -------
    DataFrame, one row per latent (input order): latent, beta (log HR per SD), se, z, p, hr,
    hr_ci_low, hr_ci_high, n, n_events, loglik (Efron/Breslow log partial likelihood at the
    estimate), lr_chi2 and lr_p (likelihood-ratio test of the latent against the covariates-only
    model on the same rows), c_index, converged, iterations, status, z_mean, z_sd
    [, se_model][, ph_chi2_<t>, ph_p_<t> ...]. With ``return_covariates=True`` a tuple
    (that table, covariate table: latent, term, beta, se, z, p, hr, hr_ci_low, hr_ci_high).
    """
    if n_jobs is None:
        n_jobs = _available_cpus()
    with blas_threads(1):
        return _cox_scan(time, event, Z, C, strata=strata, ties=ties, robust=robust, standardise_z=standardise_z,
                         z_names=z_names, c_names=c_names, max_iter=max_iter, tol=tol, c_index=c_index,
                         ph_test=ph_test, min_events=min_events, return_covariates=return_covariates,
                         chunk_size=chunk_size, alpha=alpha, n_jobs=n_jobs)


def _cox_scan(time, event, Z, C, *, strata, ties, robust, standardise_z, z_names, c_names, max_iter, tol,
              c_index, ph_test, min_events, return_covariates, chunk_size, alpha, n_jobs):
    if ties not in ("efron", "breslow"):
        raise CardiolatentError(f"ties must be 'efron' or 'breslow', not {ties!r}")
    opt = _Options(ties=ties, robust=robust, standardise_z=standardise_z, max_iter=max_iter, tol=tol,
                   c_index=c_index, transforms=_ph_transforms(ph_test), min_events=min_events,
                   return_covariates=return_covariates)
    t, e, ok = check_time_event(time, event)
    n_all = len(t)
    Zm, znames = survival_matrix(Z, "Z", n_all, z_names, "Z", keep_float32=True)  # float64 per chunk
    Cm, cnames = survival_matrix(C, "C", n_all, c_names, "C")
    st, st_ok = strata_codes(strata, n_all)
    base = ok & st_ok & np.isfinite(Cm).all(1)
    if Cm.shape[1] and base.sum() > 1:
        _check_covariates(Cm[base], cnames)
    out = _Results(Zm.shape[1], opt.transforms)
    for cols in _missingness_groups(Zm, base):
        _fit_pattern(cols, t, e, st, Zm, Cm, base, opt, out, chunk_size, n_jobs)
    zcrit = float(ndtri(1.0 - alpha / 2))
    table = _scan_table(out, znames, zcrit, opt)
    if not return_covariates:
        return table
    return table, _covariate_table(out.cov_rows, znames, cnames, zcrit)


# --------------------------------------------------------------------------------------------
# steps of the scan
# --------------------------------------------------------------------------------------------

@dataclass
class _Options:
    ties: str
    robust: bool
    standardise_z: bool
    max_iter: int
    tol: float
    c_index: bool
    transforms: list
    min_events: int
    return_covariates: bool


class _Results:
    """Per-latent result arrays; each chunk of models writes only its own columns (threads)."""

    def __init__(self, m: int, transforms):
        self.res = {k: np.full(m, np.nan) for k in ("beta", "se", "se_model", "loglik", "lr_chi2", "c_index",
                                                    "z_mean", "z_sd")}
        self.nrow = np.zeros(m, np.int64)
        self.nev = np.zeros(m, np.int64)
        self.conv = np.zeros(m, bool)
        self.iters = np.zeros(m, np.int64)
        self.status = np.array(["ok"] * m, dtype=object)
        self.ph = {tn: (np.full(m, np.nan), np.full(m, np.nan)) for tn in transforms}
        self.cov_rows: list = []


@dataclass
class _Pattern:
    """One latent missingness pattern: its sorted rows and what all its models share."""

    des: RiskSets
    cov: Covariates
    srt: np.ndarray       # rows of the pattern in (stratum, time) order
    c_sd: np.ndarray      # covariate SDs (ddof 0) on those rows
    ll_null: float        # covariates-only log partial likelihood on those rows


def _ph_transforms(ph_test) -> list:
    """``ph_test`` (bool, name or names) -> list of transform names, checked."""
    if ph_test is True:
        return ["rank"]
    if not ph_test:
        return []
    transforms = [ph_test] if isinstance(ph_test, str) else list(ph_test)
    for tname in transforms:
        if tname not in PH_TRANSFORMS:
            raise CardiolatentError(f"unknown ph_test transform {tname!r}; choose from {', '.join(PH_TRANSFORMS)}")
    return transforms


def _missingness_groups(Zm: np.ndarray, base: np.ndarray) -> list[np.ndarray]:
    """Latent columns grouped by their missingness pattern on the usable rows."""
    m = Zm.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        any_nan = not np.isfinite(Zm.sum(axis=0, dtype=np.float64)).all()  # infinite values were rejected
    nanZ = np.isnan(Zm) if any_nan else None  # (n, m) bool
    nanZ = nanZ[base] if nanZ is not None and nanZ.any() else None
    if nanZ is not None and nanZ.any():
        packed = np.packbits(nanZ, axis=0)
        _, pat = np.unique(packed.T, axis=0, return_inverse=True)
        pat = np.asarray(pat).ravel()
    else:
        pat = np.zeros(m, np.int64)
    return [np.flatnonzero(pat == gi) for gi in np.unique(pat)]


def _fit_pattern(cols, t, e, st, Zm, Cm, base, opt: _Options, out: _Results, chunk_size, n_jobs) -> None:
    """All latents ``cols`` of one missingness pattern: row counts, statuses, fits in chunks."""
    base_idx = np.flatnonzero(base)
    rows = base_idx[np.isfinite(Zm[base_idx, cols[0]])]
    out.nrow[cols] = len(rows)
    out.nev[cols] = int(e[rows].sum())
    if len(rows) == 0:
        out.status[cols] = "no_rows"
        return
    if out.nev[cols[0]] == 0:
        out.status[cols] = "zero_events"
        return
    if out.nev[cols[0]] < opt.min_events:
        out.status[cols] = "too_few_events"
        return
    des = RiskSets(t[rows], e[rows], st[rows], opt.ties)
    srt = rows[des.order]
    Cg = Cm[srt]
    c = Cm.shape[1]
    c_mean, c_sd, c_const = standardise_cols(Cg, ddof=0)
    if c and c_const.any():
        out.status[cols] = "singular"  # a covariate is constant on these rows
        return
    cov = Covariates(des, (Cg - c_mean) / c_sd if c else Cg)
    # covariates-only model on these rows, for the likelihood-ratio test
    ll_null = null_loglik(des, cov, max_iter=opt.max_iter, tol=opt.tol)
    pat = _Pattern(des, cov, srt, c_sd, ll_null)
    step = _chunk_size(des.n, chunk_size, n_jobs)

    def work(cc):
        return _fit_chunk(cc, pat, Zm, opt, out)

    chunks = [cols[k0:k0 + step] for k0 in range(0, len(cols), step)]
    if n_jobs > 1 and len(chunks) > 1:
        for crow in _run_threads(work, chunks, n_jobs):
            out.cov_rows += crow
    else:
        for cc in chunks:
            out.cov_rows += work(cc)


def _fit_chunk(cc, pat: _Pattern, Zm, opt: _Options, out: _Results) -> list:
    """Fit the latents ``cc`` together and store their results; returns covariate rows
    ``(latent column, covariate index, beta, se)`` when asked for."""
    des, cov = pat.des, pat.cov
    c = cov.c
    Zg = Zm[np.ix_(pat.srt, cc)].astype(np.float64, copy=False)
    z_mean, z_sd, z_const = standardise_cols(Zg, ddof=1)
    out.res["z_mean"][cc], out.res["z_sd"][cc] = z_mean, z_sd
    out.status[cc[z_const]] = "constant"
    fit_cols = np.flatnonzero(~z_const)
    if len(fit_cols) == 0:
        return []
    cf = cc[fit_cols]
    Zs = (Zg[:, fit_cols] - z_mean[fit_cols]) / z_sd[fit_cols]
    del Zg
    fo = newton(des, cov, Zs, max_iter=opt.max_iter, tol=opt.tol)
    out.status[cf] = fo.status
    out.iters[cf] = fo.iterations
    out.conv[cf] = fo.converged
    est = np.isin(fo.status, ESTIMATED)
    sel = np.flatnonzero(est)
    # back to reported units: z per SD (or per unit), covariates per unit
    zs = np.ones(len(cf)) if opt.standardise_z else z_sd[fit_cols]
    scale = np.concatenate([zs[:, None], np.broadcast_to(pat.c_sd, (len(cf), c))], 1)
    b = fo.beta / scale
    ex = None
    if (opt.robust or opt.transforms) and len(sel):
        ex = _refresh_information(des, cov, Zs[:, sel], fo, sel)
    se_model = _se(fo.V, scale)
    se = se_model
    if opt.robust:
        se = _robust_se(des, cov, Zs[:, sel], fo, sel, ex, scale, se_model.shape)
    if opt.transforms and ex is not None:
        phs = ph_stats(des, cov, Zs[:, sel], ex, fo.V[sel], opt.transforms)
        for tn, (sv, pv) in phs.items():
            out.ph[tn][0][cf[sel]] = sv
            out.ph[tn][1][cf[sel]] = pv
    del ex
    b[~est] = np.nan
    se[~est] = np.nan
    se_model[~est] = np.nan
    out.res["beta"][cf] = b[:, 0]
    out.res["se"][cf] = se[:, 0]
    out.res["se_model"][cf] = se_model[:, 0]
    out.res["loglik"][cf] = np.where(est, fo.ll, np.nan)
    out.res["lr_chi2"][cf] = np.where(est, 2 * (fo.ll - pat.ll_null), np.nan)
    if opt.c_index and len(sel):
        eta = Zs[:, sel] * fo.beta[sel, 0]
        if c:
            eta += cov.C @ fo.beta[sel, 1:].T
        out.res["c_index"][cf[sel]] = concordance(des, eta)
    crow = []
    if opt.return_covariates and c:
        for j, col in enumerate(cf):
            for q in range(c):
                crow.append((col, q, b[j, q + 1], se[j, q + 1]))
    return crow


def _se(V: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Standard errors in reported units from internal-scale variance matrices (a, p, p)."""
    Vm = V / (scale[:, :, None] * scale[:, None, :])
    return np.sqrt(np.diagonal(Vm, axis1=1, axis2=2))


def _refresh_information(des, cov, Zs_sel, fo, sel) -> dict:
    """One evaluation at the estimates of the models ``sel``: the information there replaces the
    variance of the last iterate (where solvable); returns the residual pieces for the robust
    variance and the PH test."""
    _, g_f, I_f, ex = evaluate(des, cov, Zs_sel, fo.beta[sel], extras=True)
    _, V_f, ok_f = solve(I_f, g_f)
    fo.V[sel[ok_f]] = V_f[ok_f]
    return ex


def _robust_se(des, cov, Zs_sel, fo, sel, ex, scale, shape) -> np.ndarray:
    """Lin-Wei sandwich standard errors ``V M V`` of the models ``sel`` (NaN elsewhere)."""
    se = np.full(shape, np.nan)
    if ex is not None:
        M = score_meat(des, cov, Zs_sel, ex)
        Vr = fo.V[sel] @ M @ fo.V[sel]
        Vr = Vr / (scale[sel][:, :, None] * scale[sel][:, None, :])
        se[sel] = np.sqrt(np.diagonal(Vr, axis1=1, axis2=2))
    return se


def _scan_table(out: _Results, znames, zcrit: float, opt: _Options) -> pd.DataFrame:
    res = out.res
    beta, se = res["beta"], res["se"]
    with np.errstate(invalid="ignore", divide="ignore"):
        zstat = beta / se
    table = pd.DataFrame({
        "latent": znames,
        "beta": beta,
        "se": se,
        "z": zstat,
        "p": 2 * ndtr(-np.abs(zstat)),
        "hr": np.exp(beta),
        "hr_ci_low": np.exp(beta - zcrit * se),
        "hr_ci_high": np.exp(beta + zcrit * se),
        "n": out.nrow,
        "n_events": out.nev,
        "loglik": res["loglik"],
        "lr_chi2": res["lr_chi2"],
        "lr_p": chdtrc(1, np.maximum(res["lr_chi2"], 0)),
        "c_index": res["c_index"] if opt.c_index else np.nan,
        "converged": out.conv,
        "iterations": out.iters,
        "status": out.status.astype(str),
        "z_mean": res["z_mean"],
        "z_sd": res["z_sd"],
    })
    if opt.robust:
        table.insert(3, "se_model", res["se_model"])
    if not opt.c_index:
        table = table.drop(columns="c_index")
    for tn in opt.transforms:
        table[f"ph_chi2_{tn}"] = out.ph[tn][0]
        table[f"ph_p_{tn}"] = out.ph[tn][1]
    return table


def _covariate_table(cov_rows: list, znames, cnames, zcrit: float) -> pd.DataFrame:
    cov_rows.sort(key=lambda r: (r[0], r[1]))
    ct = pd.DataFrame([(znames[i], cnames[q], bb, ss) for i, q, bb, ss in cov_rows],
                      columns=["latent", "term", "beta", "se"])
    with np.errstate(invalid="ignore", divide="ignore"):
        ct["z"] = ct["beta"] / ct["se"]
    ct["p"] = 2 * ndtr(-np.abs(ct["z"].to_numpy(float)))
    ct["hr"] = np.exp(ct["beta"])
    ct["hr_ci_low"] = np.exp(ct["beta"] - zcrit * ct["se"])
    ct["hr_ci_high"] = np.exp(ct["beta"] + zcrit * ct["se"])
    return ct


def _check_covariates(Cb: np.ndarray, names: list[str]) -> None:
    """Raise for a covariate that is constant, or covariates that are collinear, on the usable rows."""
    const = ~(Cb.max(0) > Cb.min(0))
    if const.any():
        bad = [names[j] for j in np.flatnonzero(const)]
        raise CardiolatentError(
            f"covariate(s) constant on the {len(Cb)} usable rows (drop them): {', '.join(bad[:10])}")
    X = (Cb - Cb.mean(0)) / Cb.std(0)
    _, sv, Vt = np.linalg.svd(X, full_matrices=False)
    if sv[-1] <= 1e-9 * sv[0]:
        v = Vt[-1]
        bad = [names[j] for j in np.flatnonzero(np.abs(v) > 1e-6 * np.abs(v).max())]
        raise CardiolatentError(
            "covariates are collinear (for a categorical variable drop one dummy level; Cox models have no "
            f"intercept): {', '.join(bad[:10])}")

