"""Column transforms used before association tests: z-scores and the rank-based inverse normal transform.

Both work column by column on a 2-D array ``(n_rows, n_columns)`` (or along ``axis``), ignore
missing values (NaN stays NaN) and never warn: a column with fewer than two observed values or no
spread becomes all-NaN (there is nothing to standardise).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = ["standardise", "inverse_normal"]


def _as_float(a) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 0:
        raise ValueError("expected an array with at least one dimension, got a scalar")
    return arr


def standardise(a, axis: int = 0) -> np.ndarray:
    """NaN-aware z-scores: ``(a - mean) / sd`` along ``axis`` (default: per column).

    ``mean`` and ``sd`` use the observed (non-NaN) values only; ``sd`` is the *sample* standard
    deviation (``ddof=1``), as in R's ``scale()`` and pandas' ``std()``. Missing values stay NaN.
    A constant column (sd 0) or one with fewer than two observed values becomes all-NaN, without a
    RuntimeWarning. Returns a new float array of the same shape; units: standard deviations.
    """
    x = _as_float(a)
    ok = ~np.isnan(x)
    n = ok.sum(axis=axis, keepdims=True)
    filled = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=axis, keepdims=True) / n
        dev = np.where(ok, x - mean, 0.0)
        var = (dev * dev).sum(axis=axis, keepdims=True) / (n - 1)
        sd = np.sqrt(var)
        # relative test for "constant": rounding leaves var ~ eps^2 * mean^2 for a constant column
        scale = np.maximum(np.abs(mean), 1.0)
        bad = (n < 2) | ~(sd > 64 * np.finfo(float).eps * scale)
        sd = np.where(bad, np.nan, sd)
        out = np.where(ok, dev / sd, np.nan)
    return out


def inverse_normal(a, c: float = 3.0 / 8.0, axis: int = 0) -> np.ndarray:
    """Rank-based inverse normal transform along ``axis`` (default: per column), NaN-aware.

    For the ``n`` observed values of a column with ranks ``r`` (1..n; ties get the average rank)
    the result is ``Phi^-1((r - c) / (n - 2c + 1))``: Blom's offset ``c = 3/8`` by default
    (``c = 0.5`` gives the rankit, ``c = 0`` van der Waerden). Missing values stay NaN; a column with
    no observed value stays all-NaN. Output is unitless (approximately standard normal).
    """
    x = _as_float(a)
    if not 0.0 <= c < 1.0:
        raise ValueError(f"offset c must be in [0, 1), got {c}")
    if x.shape[axis] == 0:
        return x.copy()
    ranks = stats.rankdata(x, method="average", axis=axis, nan_policy="omit")
    n = (~np.isnan(x)).sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return special.ndtri((ranks - c) / (n - 2.0 * c + 1.0))
