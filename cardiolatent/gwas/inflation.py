"""Genomic inflation and QQ-plot data from ``-log10 P`` (no underflow).

``lambda_GC = median(chi2) / 0.4549364`` with ``chi2`` the 1-df chi-square of each P value. ``chi2``
is a decreasing function of P, so the median chi2 is the chi2 of the median P (the mean of the two
middle ones for an even count): computed exactly from the stored ``-log10 P`` of every variant,
through ``chi2 = z^2, z = -ndtri_exp(ln(P / 2))``, which has no underflow. QQ data per latent: all
points with observed ``P < 1e-3`` plus log-spaced ranks, with the pointwise 95% band of the uniform
order statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaincinv, ndtri_exp

__all__ = ["CHI2_MEDIAN_1DF", "chi2_from_mlog10p", "lambda_gc", "qq_points"]

#: median of the 1-df chi-square distribution, scipy.stats.chi2.ppf(0.5, 1)
CHI2_MEDIAN_1DF = 0.45493642311957283
_LN10 = float(np.log(10.0))
_LN2 = float(np.log(2.0))


def chi2_from_mlog10p(mlog10p) -> np.ndarray:
    """1-df chi-square statistic of two-sided P values given as ``-log10 P`` (any size, no underflow).

    ``chi2 = z^2`` with ``z = Phi^-1(1 - P/2) = -ndtri_exp(ln P - ln 2)``; equals
    ``scipy.stats.chi2.isf(P, 1)`` where P is representable. Shape in = shape out.
    """
    m = np.asarray(mlog10p, dtype=np.float64)
    z = -ndtri_exp(-m * _LN10 - _LN2)
    return z * z


def lambda_gc(mlog10p, *, presorted: bool = False) -> float:
    """Genomic inflation ``median(chi2) / 0.4549364`` of the P values ``10^-mlog10p`` ((k,) array;
    NaN ignored). Exact: the median is taken on ``-log10 P`` and transformed (for an even count the
    two middle chi2 values are averaged, as ``np.median`` of the chi2 values would). With
    ``presorted`` the array is ascending without NaN and is read in place. NaN if empty."""
    m = np.asarray(mlog10p)
    if not presorted and np.isnan(m).any():
        m = m[~np.isnan(m)]
    k = m.size
    if k == 0:
        return float("nan")
    mids = [(k - 1) // 2, k // 2]
    mid = m[mids] if presorted else np.partition(m, mids)[mids]
    return float(chi2_from_mlog10p(mid.astype(np.float64)).mean() / CHI2_MEDIAN_1DF)


def qq_points(mlog10p, *, keep_above: float = 3.0, n_points: int = 1000, level: float = 0.95,
              presorted: bool = False) -> pd.DataFrame:
    """Thinned QQ-plot data of one latent.

    Parameters
    ----------
    mlog10p : (k,) ``-log10 P`` of every variant (NaN dropped); with ``presorted`` already sorted
        in ascending order without NaN (no copy is made).
    keep_above : every point with observed ``-log10 P`` above this is kept (3 = P < 1e-3).
    n_points : the other points: ranks on a log-spaced grid from 1 to k (about this many).
    level : coverage of the pointwise band.

    Returns
    -------
    DataFrame with ``rank`` (1 = smallest P), ``expected = -log10(rank / (k + 1))`` (the mean of
    the rank-th uniform order statistic), ``observed``, ``ci_low`` and ``ci_high`` (the
    ``(1 -+ level) / 2`` quantiles of Beta(rank, k - rank + 1), as ``-log10``), all in ``-log10 P``.
    """
    asc = np.asarray(mlog10p)
    if not presorted:
        asc = np.sort(asc[~np.isnan(asc)])
    k = asc.size
    if k == 0:
        return pd.DataFrame(columns=["rank", "expected", "observed", "ci_low", "ci_high"])
    n_top = int(k - np.searchsorted(asc, keep_above, side="right"))  # observed > keep_above
    grid = np.unique(np.round(np.geomspace(1, k, max(2, int(n_points)))).astype(np.int64))
    ranks = np.union1d(np.arange(1, n_top + 1, dtype=np.int64), grid)
    a = ranks.astype(np.float64)
    b = k - a + 1.0
    alpha = (1.0 - level) / 2.0
    return pd.DataFrame({
        "rank": ranks,
        "expected": -np.log10(a / (k + 1.0)),
        "observed": asc[k - ranks].astype(np.float64),
        "ci_low": -np.log10(betaincinv(a, b, 1.0 - alpha)),
        "ci_high": -np.log10(betaincinv(a, b, alpha)),
    })
