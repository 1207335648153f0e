"""Survival summaries for the figures: quantile groups, group hazard ratios, Kaplan-Meier and
Nelson-Aalen curves as tidy tables (plotting lives elsewhere).

Conventions: ``time`` in years (any non-negative unit), ``event`` 0/1. Rows with a missing
time, event, group or ``by`` label are left out of the curves. The step tables follow
lifelines' ``KaplanMeierFitter`` / ``NelsonAalenFitter``: one row at time 0 and one per distinct
observed time of the subset, ``at_risk`` = number still followed just before that time.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats._inputs import check_time_event, survival_matrix
from cardiolatent.stats.cox import cox_fit

__all__ = ["quantile_groups", "group_hazard_ratios", "kaplan_meier", "nelson_aalen"]


# --------------------------------------------------------------------------------------------
# groups
# --------------------------------------------------------------------------------------------

def _default_labels(q: int) -> list[str]:
    return [f"T{k}" for k in range(1, 4)] if q == 3 else [f"Q{k}" for k in range(1, q + 1)]


def quantile_groups(score, q: int = 3, labels: Sequence[str] | None = None) -> pd.Categorical:
    """Equal-frequency groups of ``score`` (n,): tertiles by default (labels T1 < T2 < T3;
    otherwise Q1..Qq).

    The cut points are the sample quantiles k/q of the non-missing scores (linear interpolation,
    as ``numpy.quantile`` and ``pandas.qcut``); groups are right-closed intervals, the lowest
    including the minimum, so tied scores always share a group (groups can then be unequal in
    size). NaN scores get a missing group. Too many ties for q distinct cut points raise
    CardiolatentError. Returns an ordered ``pandas.Categorical``: ``pd.cut`` of the score at those
    cut points (``pd.qcut`` agrees except, through rounding, for a score lying exactly on a cut).
    """
    s = np.asarray(score.to_numpy() if hasattr(score, "to_numpy") else score, dtype=float).ravel()
    if not isinstance(q, (int, np.integer)) or q < 2:
        raise CardiolatentError(f"q must be an integer >= 2, got {q!r}")
    labels = list(labels) if labels is not None else _default_labels(int(q))
    if len(labels) != q:
        raise CardiolatentError(f"{len(labels)} labels given for q = {q} groups")
    ok = np.isfinite(s)
    if ok.sum() < q:
        raise CardiolatentError(f"{int(ok.sum())} non-missing scores: too few for {q} groups")
    edges = np.quantile(s[ok], np.linspace(0, 1, q + 1))
    if np.any(np.diff(edges) <= 0):
        raise CardiolatentError(
            f"the score has too many tied values for {q} quantile groups (cut points {np.round(edges, 6).tolist()}); "
            "use fewer groups")
    codes = np.full(len(s), -1, np.int64)
    codes[ok] = np.clip(np.searchsorted(edges[1:-1], s[ok], side="left"), 0, q - 1)
    return pd.Categorical.from_codes(codes, categories=labels, ordered=True)


def _levels(groups, n: int):
    """Group codes (-1 missing) and level names, in category order for categoricals."""
    if isinstance(groups, (pd.Categorical, pd.Series)) and isinstance(getattr(groups, "dtype", None),
                                                                       pd.CategoricalDtype):
        cat = pd.Categorical(groups)
        codes = np.asarray(cat.codes, np.int64)
        names = [str(c) for c in cat.categories]
    else:
        g = np.asarray(groups.to_numpy() if hasattr(groups, "to_numpy") else groups, dtype=object).ravel()
        codes, uniq = pd.factorize(pd.Series(g), sort=True)
        names = [str(u) for u in uniq]
    if len(codes) != n:
        raise CardiolatentError(f"groups has {len(codes)} rows but time has {n}")
    return codes, names


# --------------------------------------------------------------------------------------------
# hazard ratios between groups
# --------------------------------------------------------------------------------------------

def group_hazard_ratios(time, event, groups, C=None, strata=None, *, by=None, ties: str = "efron",
                        robust: bool = False, alpha: float = 0.05,
                        c_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Hazard ratios between groups (e.g. tertiles), with each group as the reference in turn.

    One Cox model per ``by`` level (or one in all): dummies of the groups (first level as the
    baseline) plus the covariates ``C`` (n, c), optional ``strata``. The hazard ratio of group g
    against reference r is exp(b_g - b_r) with Var(b_g - b_r) = V_gg + V_rr - 2 V_gr, identical
    to refitting the model with r as the baseline. Wald 95% CI (``alpha``) and P.

    Returns a tidy table: [by,] reference, group, hr, ci_low, ci_high, p, beta, se, n, n_events
    (of ``group``), n_ref, n_events_ref, status (``ok`` or the model's problem, e.g.
    ``separation`` when a group has no events).
    """
    t, e, ok = check_time_event(time, event)
    n = len(t)
    codes, names = _levels(groups, n)
    Cm, cn = survival_matrix(C, "C", n, c_names, "C")
    if by is None:
        by_codes, by_names = np.zeros(n, np.int64), [None]
    else:
        by_codes, by_names = _levels(by, n)
    st = None if strata is None else np.asarray(strata.to_numpy() if hasattr(strata, "to_numpy") else strata,
                                                dtype=object).ravel()
    zc = float(ndtri(1 - alpha / 2))
    rows = []
    for bi, bname in enumerate(by_names):
        use = ok & (codes >= 0) & (by_codes == bi) & np.isfinite(Cm).all(1)
        if st is not None:
            use &= ~pd.isna(pd.Series(st)).to_numpy()
        present = [k for k in range(len(names)) if (codes[use] == k).any()]
        if len(present) < 2:
            continue
        gc = codes[use]
        X = np.column_stack([(gc == k).astype(float) for k in present[1:]] + [Cm[use]])
        fit = cox_fit(t[use], e[use], X, strata=None if st is None else st[use], ties=ties, robust=robust,
                      names=[f"g{k}" for k in present[1:]] + cn)
        g = len(present)
        b = np.r_[0.0, fit.params["beta"].to_numpy()[: g - 1]]
        V = np.zeros((g, g))
        V[1:, 1:] = fit.cov[: g - 1, : g - 1]
        dv = fit.params["diverged"].to_numpy()
        div = np.r_[False, dv[: g - 1]]
        cov_div = bool(dv[g - 1:].any())
        ev = e[use]
        cnt = {k: (int((gc == k).sum()), int(ev[gc == k].sum())) for k in present}
        for ri, r in enumerate(present):
            for gi, k in enumerate(present):
                if k == r:
                    continue
                d = b[gi] - b[ri]
                se = np.sqrt(max(V[gi, gi] + V[ri, ri] - 2 * V[gi, ri], 0.0))
                zz = d / se if se > 0 else np.nan
                status = fit.status
                if status in ("separation", "covariate_separation"):  # which coefficient diverged?
                    status = "separation" if (div[gi] or div[ri]) else (
                        "covariate_separation" if cov_div else "ok")
                if status not in ("ok", "separation", "covariate_separation", "no_convergence"):
                    d = se = zz = np.nan
                with np.errstate(over="ignore"):
                    hr_, lo_, hi_ = np.exp(d), np.exp(d - zc * se), np.exp(d + zc * se)
                rows.append({
                    "by": bname, "reference": names[r], "group": names[k],
                    "hr": hr_, "ci_low": lo_, "ci_high": hi_,
                    "p": float(2 * ndtr(-abs(zz))) if np.isfinite(zz) else np.nan,
                    "beta": d, "se": se, "n": cnt[k][0], "n_events": cnt[k][1],
                    "n_ref": cnt[r][0], "n_events_ref": cnt[r][1], "status": status,
                })
    cols = ["by", "reference", "group", "hr", "ci_low", "ci_high", "p", "beta", "se", "n", "n_events", "n_ref",
            "n_events_ref", "status"]
    out = pd.DataFrame(rows, columns=cols)
    return out.drop(columns="by") if by is None else out


# --------------------------------------------------------------------------------------------
# curves
# --------------------------------------------------------------------------------------------

def _curve_inputs(time, event, groups, by):
    t = np.asarray(time.to_numpy() if hasattr(time, "to_numpy") else time, dtype=float).ravel()
    n = len(t)
    e = np.asarray(event.to_numpy() if hasattr(event, "to_numpy") else event, dtype=float).ravel()
    if len(e) != n:
        raise CardiolatentError(f"event has {len(e)} rows but time has {n}")
    ok = np.isfinite(t) & np.isfinite(e)
    if (ok & (t < 0)).any():
        i = int(np.flatnonzero(ok & (t < 0))[0])
        raise CardiolatentError(f"time must be >= 0 (row {i}: {t[i]:g})")
    if (ok & (e != 0) & (e != 1)).any():
        i = int(np.flatnonzero(ok & (e != 0) & (e != 1))[0])
        raise CardiolatentError(f"event must be 0 or 1 (row {i}: {e[i]:g})")
    if groups is None:
        gcodes, gnames = np.zeros(n, np.int64), ["all"]
    else:
        gcodes, gnames = _levels(groups, n)
    if by is None:
        bcodes, bnames = np.zeros(n, np.int64), [None]
    else:
        bcodes, bnames = _levels(by, n)
    ok &= (gcodes >= 0) & (bcodes >= 0)
    return t, e, ok, gcodes, gnames, bcodes, bnames


def _event_table(t: np.ndarray, e: np.ndarray):
    """Distinct times (0 first) with at-risk, event and censored counts, as lifelines' event table."""
    ut, inv = np.unique(np.r_[0.0, t], return_inverse=True)
    inv = inv[1:]
    d = np.bincount(inv, weights=e, minlength=len(ut))
    removed = np.bincount(inv, minlength=len(ut)).astype(float)
    at_risk = len(t) - np.r_[0.0, np.cumsum(removed)[:-1]]
    return ut, at_risk, d, removed - d


def _curves(time, event, groups, by, kind: str, alpha: float, smoothing: bool = True) -> pd.DataFrame:
    t, e, ok, gcodes, gnames, bcodes, bnames = _curve_inputs(time, event, groups, by)
    z = float(ndtri(1 - alpha / 2))
    parts = []
    for bi, bname in enumerate(bnames):
        for gi, gname in enumerate(gnames):
            sel = ok & (gcodes == gi) & (bcodes == bi)
            if not sel.any():
                continue
            ut, nr, d, cens = _event_table(t[sel], e[sel])
            part = {"group": gname, "time": ut, "at_risk": nr.astype(np.int64), "events": d.astype(np.int64),
                    "censored": cens.astype(np.int64)}
            if by is not None:
                part = {"by": bname, **part}
            with np.errstate(divide="ignore", invalid="ignore"):
                if kind == "km":
                    S = np.exp(np.cumsum(np.log(nr - d) - np.log(nr)))
                    gw = d / (nr * (nr - d))
                    V = np.cumsum(np.where(np.isinf(gw), 0.0, np.nan_to_num(gw)))
                    v = np.log(S)
                    lo = np.exp(-np.exp(np.log(-v) - z * np.sqrt(V) / v))
                    hi = np.exp(-np.exp(np.log(-v) + z * np.sqrt(V) / v))
                    part.update(survival=S, ci_low=np.where(np.isnan(lo), 1.0, lo),
                                ci_high=np.where(np.isnan(hi), 1.0, hi))
                else:
                    inc, vinc = _na_increments(nr, d, smoothing)
                    H = np.cumsum(inc)
                    V = np.cumsum(vinc)
                    den = np.where(H == 0, 1.0, H)
                    part.update(cumulative_hazard=H, ci_low=H * np.exp(-z * np.sqrt(V) / den),
                                ci_high=H * np.exp(z * np.sqrt(V) / den))
            parts.append(pd.DataFrame(part))
    if not parts:
        cols = (["by"] if by is not None else []) + ["group", "time", "at_risk", "events", "censored"]
        cols += ["survival", "ci_low", "ci_high"] if kind == "km" else ["cumulative_hazard", "ci_low", "ci_high"]
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)


def _na_increments(nr: np.ndarray, d: np.ndarray, smoothing: bool):
    """Nelson-Aalen increments and variance increments per distinct time.

    smoothing (lifelines' default ``nelson_aalen_smoothing=True``): tied events counted one at a
    time, sum_{i<d} 1/(n-i) and sum_{i<d} 1/(n-i)^2; otherwise d/n and (1-d/n)(d/n)/n.
    """
    if not smoothing:
        with np.errstate(divide="ignore", invalid="ignore"):
            inc = np.where(nr > 0, d / nr, 0.0)
            var = np.where(nr > 0, (1 - d / nr) * (d / nr) / nr, 0.0)
        return inc, var
    di = d.astype(np.int64)
    tot = int(di.sum())
    inc = np.zeros(len(d))
    var = np.zeros(len(d))
    if tot:
        k = np.repeat(np.arange(len(d)), di)
        i = np.arange(tot) - np.repeat(np.cumsum(di) - di, di)
        r = 1.0 / (nr[k] - i)
        inc = np.bincount(k, weights=r, minlength=len(d))
        var = np.bincount(k, weights=r * r, minlength=len(d))
    return inc, var


def kaplan_meier(time, event, groups=None, by=None, *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier curves per group (and per ``by`` level, e.g. sex): tidy step table.

    Columns: [by,] group ("all" without groups), time, at_risk, events, censored, survival,
    ci_low, ci_high. The interval is lifelines' default: exponential Greenwood (log-log)
    with Var = sum d / (n (n - d)); where S = 1 it is (1, 1).
    """
    return _curves(time, event, groups, by, "km", alpha)


def nelson_aalen(time, event, groups=None, by=None, *, alpha: float = 0.05, smoothing: bool = True) -> pd.DataFrame:
    """Nelson-Aalen cumulative hazard per group (and per ``by`` level): tidy step table.

    Columns: [by,] group, time, at_risk, events, censored, cumulative_hazard, ci_low, ci_high.
    ``smoothing`` as lifelines' ``NelsonAalenFitter(nelson_aalen_smoothing=True)`` (the default);
    interval H exp(+-z sqrt(Var) / H), as lifelines.
    """
    return _curves(time, event, groups, by, "na", alpha, smoothing)
