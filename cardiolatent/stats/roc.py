"""ROC AUC with DeLong's variance: one or several correlated AUCs on the same participants, and DeLong's
paired test of two (DeLong, DeLong & Clarke-Pearson 1988), computed with Sun & Xu's (2014) fast midrank
algorithm in O(n log n). Checked against a direct O(n^2) computation, a bootstrap and R's pROC
(tests/test_prs.py). Used by the polygenic-score evaluation (:mod:`cardiolatent.genetics.prs_eval`)."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, rankdata

from cardiolatent.errors import CardiolatentError

__all__ = ["check_binary_outcome", "delong_auc", "delong_test"]



def _delong_parts(y: np.ndarray, P: np.ndarray):
    """AUCs (k,) and the structural components V10 (k, m) and V01 (k, n) of Sun & Xu (2014)."""
    pos, neg = P[:, y == 1], P[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m == 0 or n == 0:
        raise CardiolatentError("DeLong's test needs both cases and controls")
    tx = rankdata(pos, axis=1)             # midranks within the cases
    ty = rankdata(neg, axis=1)             # within the controls
    tz = rankdata(np.hstack([pos, neg]), axis=1)  # within all
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return auc, v10, v01


def check_binary_outcome(y) -> np.ndarray:
    """``y`` as a 1-D int64 array of 0/1 (an error naming the problem otherwise: missing values, other codes)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or not np.isin(y, (0.0, 1.0)).all():
        raise CardiolatentError("the outcome must be a 1-D array of 0/1 values without missing values")
    return y.astype(np.int64)


def delong_auc(y, predictors) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of one or more predictors and their DeLong covariance matrix.

    ``y``: (n,) 0/1; ``predictors``: (n,) or (n, k) (higher = more likely a case). Returns
    ``(auc (k,), cov (k, k))``, ``cov = S10 / m + S01 / n`` with ``S10``, ``S01`` the sample
    covariances (ddof 1) of the structural components over the m cases and n controls.
    """
    y = check_binary_outcome(y)
    P = np.asarray(predictors, dtype=np.float64)
    P = P[:, None] if P.ndim == 1 else P
    if P.shape[0] != y.size or not np.isfinite(P).all():
        raise CardiolatentError("predictors must be finite, one row per outcome value")
    auc, v10, v01 = _delong_parts(y, P.T)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((P.shape[1],) * 2)
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((P.shape[1],) * 2)
    return auc, s10 / m + s01 / n


def delong_test(y, pred1, pred2) -> dict:
    """DeLong's test of two correlated AUCs on the same participants (paired).

    Returns ``auc1, auc2, se1, se2, cov, diff (auc2 - auc1), se_diff, z, p`` (two-sided).
    """
    auc, S = delong_auc(y, np.column_stack([np.asarray(pred1, float), np.asarray(pred2, float)]))
    var = S[0, 0] + S[1, 1] - 2 * S[0, 1]
    d = auc[1] - auc[0]
    se = float(np.sqrt(max(var, 0.0)))
    z = d / se if se > 0 else (0.0 if d == 0 else np.inf * np.sign(d))
    return {"auc1": float(auc[0]), "auc2": float(auc[1]), "se1": float(np.sqrt(S[0, 0])),
            "se2": float(np.sqrt(S[1, 1])), "cov": float(S[0, 1]), "diff": float(d), "se_diff": se,
            "z": float(z), "p": float(2 * norm.sf(abs(z)))}
