"""A single Cox model with a full design (used for group hazard ratios): :func:`cox_fit`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats._inputs import blas_threads, check_time_event, strata_codes, survival_matrix
from cardiolatent.stats.cox._likelihood import evaluate
from cardiolatent.stats.cox._newton import ESTIMATED, newton
from cardiolatent.stats.cox._risksets import Covariates, RiskSets, standardise_cols
from cardiolatent.stats.cox._robust import score_meat

__all__ = ["CoxFit", "cox_fit"]


@dataclass
class CoxFit:
    """One Cox model: ``params`` (term, beta, se, z, p, hr, hr_ci_low, hr_ci_high), ``cov`` (p, p)
    variance matrix of beta (robust when asked), and fit summaries."""

    params: pd.DataFrame
    cov: np.ndarray
    loglik: float
    n: int
    n_events: int
    status: str
    converged: bool
    iterations: int


def cox_fit(time, event, X, *, strata=None, ties: str = "efron", robust: bool = False,
            names: Sequence[str] | None = None, max_iter: int = 50, tol: float = 1e-9,
            alpha: float = 0.05) -> CoxFit:
    """A single Cox PH model of ``time``/``event`` on X (n, p) (per-unit coefficients).

    Rows with NaN anywhere are dropped. Uses the same engine as :func:`cox_scan` (X[:, 0] is its
    "latent", the rest its covariates; nothing is standardised in the output).
    """
    t, e, ok = check_time_event(time, event)
    Xm, xnames = survival_matrix(X, "X", len(t), names, "x")
    if Xm.shape[1] == 0:
        raise CardiolatentError("cox_fit needs at least one column in X")
    with blas_threads(1):
        return _fit_one(t, e, Xm, xnames, strata, ties, robust, max_iter, tol, alpha)


def _fit_one(t, e, Xm, xnames, strata, ties, robust, max_iter, tol, alpha) -> CoxFit:
    n_all, p = Xm.shape
    st, st_ok = strata_codes(strata, n_all)
    rows = np.flatnonzero(np.isfinite(t) & np.isfinite(e) & st_ok & np.isfinite(Xm).all(1))
    nan_p = np.full(p, np.nan)
    n, d = len(rows), int(e[rows].sum()) if len(rows) else 0

    def empty(status):
        params = _params_table(xnames, nan_p, nan_p, alpha)
        params["diverged"] = False
        return CoxFit(params, np.full((p, p), np.nan), np.nan, n, d, status, False, 0)

    if n == 0:
        return empty("no_rows")
    if d == 0:
        return empty("zero_events")
    des = RiskSets(t[rows], e[rows], st[rows], ties)
    Xs = Xm[rows[des.order]]
    mean, sd, const = standardise_cols(Xs, ddof=0)
    if const.any():
        return empty("constant" if const[0] and not const[1:].any() else "singular")
    Xs = (Xs - mean) / sd
    cov = Covariates(des, Xs[:, 1:])
    fo = newton(des, cov, Xs[:, :1].copy(), max_iter=max_iter, tol=tol)
    status = str(fo.status[0])
    if status not in ESTIMATED:
        return empty(status)
    V = fo.V[0]
    if robust:
        _, _, _, ex = evaluate(des, cov, Xs[:, :1], fo.beta, extras=True)
        M = score_meat(des, cov, Xs[:, :1], ex)[0]
        V = V @ M @ V
    V = V / np.outer(sd, sd)
    b = fo.beta[0] / sd
    params = _params_table(xnames, b, np.sqrt(np.diag(V)), alpha)
    params["diverged"] = fo.diverged[0]
    return CoxFit(params, V, float(fo.ll[0]), n, d, status, bool(fo.converged[0]), int(fo.iterations[0]))


def _params_table(names, b, se, alpha) -> pd.DataFrame:
    zc = float(ndtri(1 - alpha / 2))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = b / se
        return pd.DataFrame({"term": list(names), "beta": b, "se": se, "z": z, "p": 2 * ndtr(-np.abs(z)),
                             "hr": np.exp(b), "hr_ci_low": np.exp(b - zc * se), "hr_ci_high": np.exp(b + zc * se)})
