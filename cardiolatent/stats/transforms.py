"""Column transforms used before association tests: z-scores and the rank-based inverse normal transform.

Both work column by column on a 2-D array ``(n_rows, n_columns)`` (or along ``axis``), ignore
missing values (NaN stays NaN) and never warn: a column with fewer than two observed values or no
spread becomes all-NaN (there is nothing to standardise).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["standardise", "inverse_normal", "column_sd", "average_ranks"]


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
    RuntimeWarning. Returns a new float64 array of the same shape; units: standard deviations.

    A 2-D input without NaN (per column, ``axis=0``) is done in blocks of columns, converted to
    float64 block by block (a float32 matrix is never copied whole); same arithmetic, same numbers.
    """
    if axis == 0 and getattr(a, "ndim", 0) == 2 and a.dtype in (np.float32, np.float64) and a.shape[0] >= 2:
        with np.errstate(over="ignore", invalid="ignore"):
            complete = bool(np.isfinite(a.sum(axis=0)).all())  # no NaN (and no inf) anywhere: cheap test
        if complete:
            return _standardise_complete(a)
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


def _standardise_complete(a: np.ndarray, block: int = 64, out: np.ndarray | None = None):
    """:func:`standardise` of a complete (n >= 2, m) float matrix, ``block`` columns at a time.
    ``out=False``: only the (mean, sd) rows (1, m) that :func:`standardise` would use."""
    n, m = a.shape
    stats_only = out is False
    out = None if stats_only else np.empty((n, m))
    means, sds = np.empty((1, m)), np.empty((1, m))
    for j0 in range(0, m, block):
        j1 = min(m, j0 + block)
        dev = np.array(a[:, j0:j1], dtype=np.float64, order="C")
        mean = dev.sum(axis=0, keepdims=True) / n
        dev -= mean
        var = (dev * dev).sum(axis=0, keepdims=True) / (n - 1)
        sd = np.sqrt(var)
        scale = np.maximum(np.abs(mean), 1.0)
        bad = ~(sd > 64 * np.finfo(float).eps * scale)
        sd = np.where(bad, np.nan, sd)
        means[:, j0:j1], sds[:, j0:j1] = mean, sd
        if not stats_only:
            with np.errstate(invalid="ignore", divide="ignore"):
                np.divide(dev, sd, out=out[:, j0:j1])
    return (means, sds) if stats_only else out


def column_sd(a) -> np.ndarray | None:
    """The sample SD (``ddof=1``) per column that :func:`standardise` divides by, same arithmetic,
    for a complete 2-D float matrix (NaN for a constant column); None when ``a`` has missing or
    infinite values or fewer than two rows (use :func:`standardise`)."""
    if getattr(a, "ndim", 0) != 2 or a.dtype not in (np.float32, np.float64) or a.shape[0] < 2:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(a.sum(axis=0)).all():
            return None
    return _standardise_complete(a, out=False)[1][0]


def average_ranks(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Ranks 1..n of the observed values along ``axis`` (ties get the average rank; NaN stays NaN):
    ``scipy.stats.rankdata(x, "average", axis=axis, nan_policy="omit")`` without importing scipy.stats."""
    x = np.moveaxis(np.asarray(x, dtype=float), axis, 0)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    order = np.argsort(flat, axis=0, kind="stable")  # NaN last
    srt = np.take_along_axis(flat, order, axis=0)
    idx = np.arange(n, dtype=float)[:, None]
    new = np.ones(srt.shape, bool)
    new[1:] = srt[1:] != srt[:-1]
    last = np.ones(srt.shape, bool)
    last[:-1] = new[1:]
    first_i = np.maximum.accumulate(np.where(new, idx, 0.0), axis=0)
    last_i = np.minimum.accumulate(np.where(last, idx, np.inf)[::-1], axis=0)[::-1]
    avg = (first_i + last_i) / 2 + 1
    avg[np.isnan(srt)] = np.nan
    ranks = np.empty_like(avg)
    np.put_along_axis(ranks, order, avg, axis=0)
    return np.moveaxis(ranks.reshape(x.shape), 0, axis)


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
    ranks = average_ranks(x, axis=axis)
    n = (~np.isnan(x)).sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return special.ndtri((ranks - c) / (n - 2.0 * c + 1.0))
