"""Input coercion and small shared helpers of the scans in :mod:`cardiolatent.stats` (private module).

The module is private to the package, its names are not: ``ols``, ``logistic``, ``multitest``,
``cox`` and ``survival`` import them from here (and only from here), so no stats module reaches
into another one's underscore names.

- matrices and vectors: :func:`as_matrix` (the regression scans: NaN allowed, names from
  DataFrame columns), :func:`survival_matrix`, :func:`vector`, :func:`float_vector`,
  :func:`check_time_event`, :func:`strata_codes` (the survival code: rows aligned with ``time``);
- missingness: :func:`covariate_rows` (rows with every covariate observed),
  :func:`unique_columns` (distinct missingness patterns of columns), :func:`binary_flags`;
- covariate bases: :func:`covariate_block` (``[1, C]`` centred on the usable rows),
  :func:`basis` (pivoted-QR orthonormal basis, collinear columns dropped), :func:`residualise`
  (``x - Q Q'x`` in row blocks);
- :func:`blas_threads`: limit the BLAS thread pool for the duration of a call (threadpoolctl).
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import linalg
from threadpoolctl import threadpool_limits

from cardiolatent.errors import CardiolatentError

__all__ = ["as_matrix", "survival_matrix", "vector", "float_vector", "check_time_event",
           "strata_codes", "covariate_rows", "unique_columns", "auto_binary", "binary_flags",
           "covariate_block", "basis", "residualise", "blas_threads"]

_EPS = np.finfo(float).eps


# --------------------------------------------------------------------------------------------
# BLAS threads
# --------------------------------------------------------------------------------------------

def blas_threads(threads: int | None):
    """Context limiting BLAS threads to ``threads`` (threadpoolctl) for the call; None: unchanged.

    The scans are many medium-sized matrix products; multithreaded OpenBLAS busy-waits badly on
    those when the cores are shared, so the callers default to one thread.
    """
    if threads is None:
        return contextlib.nullcontext()
    if int(threads) < 1:
        raise CardiolatentError(f"threads must be at least 1, got {threads}")
    return threadpool_limits(limits=int(threads), user_api="blas")


# --------------------------------------------------------------------------------------------
# regression scans: responses, traits, covariates
# --------------------------------------------------------------------------------------------

def as_matrix(a, what: str, names=None, n: int | None = None, prefix: str = "V",
              allow_none: bool = False, keep_float32: bool = False):
    """``a`` (array, DataFrame, Series; 1-D = one column) -> (float array (n, k), list of names).

    ``keep_float32``: a float32 array stays float32 (no float64 copy; the caller converts what it
    reads, exactly).

    NaN is kept (missing); an infinite value, a non-numeric column, a row count other than ``n``
    or a wrong number of ``names`` raises CardiolatentError naming ``what``. ``None`` is an
    error unless ``allow_none`` (then ``(None, [])``).
    """
    if a is None:
        if allow_none:
            return None, []
        raise CardiolatentError(f"{what}: no data given")
    if isinstance(a, pd.Series):
        a = a.to_frame()
    if isinstance(a, pd.DataFrame):
        if names is None:
            names = [str(c) for c in a.columns]
        bad = [str(c) for c in a.columns
               if not (pd.api.types.is_numeric_dtype(a[c]) or pd.api.types.is_bool_dtype(a[c]))]
        if bad:
            raise CardiolatentError(
                f"{what}: column(s) {', '.join(bad[:5])} are not numeric (dummy-code categorical "
                "columns first)")
        arr = a.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            f32 = keep_float32 and getattr(a, "dtype", None) == np.float32
            arr = np.asarray(a, dtype=np.float32 if f32 else float)
        except (TypeError, ValueError) as e:
            raise CardiolatentError(f"{what}: values are not numeric ({e})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise CardiolatentError(f"{what}: expected a 2-D array (rows = participants), got shape "
                                f"{arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise CardiolatentError(f"{what}: has {arr.shape[0]} rows but the responses have {n} "
                                "(all inputs must be aligned on the same participants)")
    if names is None:
        names = [f"{prefix}{k}" for k in range(arr.shape[1])]
    names = [str(x) for x in names]
    if len(names) != arr.shape[1]:
        raise CardiolatentError(f"{what}: {len(names)} names given for {arr.shape[1]} columns")
    with np.errstate(over="ignore", invalid="ignore"):
        finite_sums = np.isfinite(arr.sum(axis=0, dtype=np.float64)).all()   # no temporary (n, k) array
    inf = np.isinf(arr) if not finite_sums else None
    if inf is not None and inf.any():
        r, c = np.argwhere(inf)[0]
        raise CardiolatentError(f"{what}: column {names[c]} has an infinite value (row {r})")
    return arr, names


def covariate_rows(C: np.ndarray | None, c_names: list[str], n: int) -> np.ndarray:
    """Rows with every covariate observed; an all-missing covariate column is an error."""
    if C is None or C.shape[1] == 0:
        return np.ones(n, dtype=bool)
    nan = np.isnan(C)
    allnan = nan.all(axis=0)
    if n and allnan.any():
        cols = [c_names[k] for k in np.flatnonzero(allnan)]
        raise CardiolatentError(f"covariate column(s) {', '.join(cols[:5])} have no observed value; "
                                "drop them before the scan")
    return ~nan.any(axis=1)


def unique_columns(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (n, k) -> (distinct columns (n, P), inverse (k,)): column j equals distinct[:, inv[j]].

    Used for missingness patterns: columns observed on the same rows share one pattern.
    """
    n, k = mask.shape
    if k == 0:
        return np.zeros((n, 0), dtype=bool), np.zeros(0, dtype=np.intp)
    full = mask.all(axis=0)
    if full.all():
        return np.ones((n, 1), dtype=bool), np.zeros(k, dtype=np.intp)
    packed = np.packbits(np.ascontiguousarray(mask.T), axis=1)  # (k, ceil(n/8)) bytes
    seen: dict[bytes, int] = {}
    inv = np.empty(k, dtype=np.intp)
    first = []
    for j in range(k):
        key = packed[j].tobytes()
        code = seen.get(key)
        if code is None:
            code = seen[key] = len(first)
            first.append(j)
        inv[j] = code
    return mask[:, first], inv


def auto_binary(X: np.ndarray) -> np.ndarray:
    """Columns whose observed values are all 0 or 1 (and that have at least one)."""
    obs = ~np.isnan(X)
    return (((X == 0) | (X == 1)) | ~obs).all(axis=0) & obs.any(axis=0)


def binary_flags(X: np.ndarray, binary_x) -> np.ndarray:
    """``binary_x`` (bool per column of ``X``) checked, or detected by :func:`auto_binary` when None."""
    if binary_x is None:
        return auto_binary(X)
    binary = np.asarray(binary_x, dtype=bool).reshape(-1)
    if binary.size != X.shape[1]:
        raise CardiolatentError(f"binary_x has {binary.size} entries for {X.shape[1]} traits")
    return binary


# --------------------------------------------------------------------------------------------
# covariate bases
# --------------------------------------------------------------------------------------------

def covariate_block(C: np.ndarray | None, cmask: np.ndarray, intercept: bool) -> np.ndarray:
    """(n, k) basis of the nuisance part: intercept column (if any) and the covariates, centred on
    the rows where all covariates are present (``cmask``) and zero elsewhere (those rows are never used)."""
    n = len(cmask)
    ones = np.ones((n, 1)) if intercept else np.zeros((n, 0))
    if C is None or C.shape[1] == 0:
        return ones
    Cz = np.where(cmask[:, None], C, 0.0)
    if intercept and cmask.any():
        Cz = Cz - Cz[cmask].mean(axis=0)
        Cz[~cmask] = 0.0
    return np.hstack([ones, Cz])


def basis(B: np.ndarray, rank_tol: float | None = None):
    """Orthonormal basis of the column space of ``B`` (n, k) by a pivoted QR of unit-norm columns.

    Returns ``(Q (n, r), R (r, r) upper, sel (r,), scale (r,))`` with
    ``B[:, sel] / scale = Q @ R``; columns that are zero, constant-with-the-intercept or collinear
    (``|R_kk| <= tol * |R_00|``, default ``tol = max(n, k) * eps``) are left out of ``sel``.
    """
    n, k = B.shape
    if k == 0 or n == 0:
        return (np.zeros((n, 0)), np.zeros((0, 0)), np.zeros(0, dtype=np.intp), np.zeros(0))
    norms = np.sqrt(np.einsum("ij,ij->j", B, B))
    idx = np.flatnonzero(norms > 0)
    if idx.size == 0:
        return (np.zeros((n, 0)), np.zeros((0, 0)), np.zeros(0, dtype=np.intp), np.zeros(0))
    Bs = B[:, idx] / norms[idx]
    Q, R, piv = linalg.qr(Bs, mode="economic", pivoting=True, check_finite=False)
    d = np.abs(np.diag(R))
    tol = (max(n, k) * _EPS) if rank_tol is None else rank_tol
    below = d <= tol * d[0]
    r = int(np.argmax(below)) if below.any() else d.size
    sel = idx[piv[:r]]
    return Q[:, :r], R[:r, :r], sel, norms[sel]


def residualise(Q: np.ndarray, x: np.ndarray, twice: bool = True, block: int = 4096,
                out: np.ndarray | None = None) -> np.ndarray:
    """``x - Q Q'x`` (``Q`` (n, r) orthonormal columns, ``x`` (n, j)); ``twice``: repeated once
    for orthogonality to rounding. Row blocks keep every product small: multithreaded OpenBLAS
    is very slow on whole tall-and-skinny products when the cores are busy. ``out`` may be ``x``."""
    r = np.array(x, dtype=float, copy=True) if out is None else out
    if out is not None and out is not x:
        r[...] = x
    n, k = Q.shape
    if k == 0 or r.shape[1] == 0:
        return r
    for _ in range(2 if twice else 1):
        c = np.zeros((r.shape[1], k))
        for s in range(0, n, block):
            c += r[s:s + block].T @ Q[s:s + block]
        ct = np.ascontiguousarray(c.T)
        for s in range(0, n, block):
            r[s:s + block] -= Q[s:s + block] @ ct
    return r


# --------------------------------------------------------------------------------------------
# survival inputs: time, event, strata, matrices aligned with time
# --------------------------------------------------------------------------------------------

def vector(x, name: str, n: int | None = None) -> np.ndarray:
    """One value per participant: a 1-D array (an (n, 1) or (1, n) input is flattened)."""
    a = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)
    if a.ndim == 2 and 1 in a.shape:
        a = a.ravel()
    if a.ndim != 1:
        raise CardiolatentError(f"{name} must be one-dimensional (one value per participant), got shape {a.shape}")
    if n is not None and len(a) != n:
        raise CardiolatentError(f"{name} has {len(a)} rows but time has {n}")
    return a


def float_vector(x, name: str, n: int | None = None) -> np.ndarray:
    """:func:`vector` as float."""
    a = vector(x, name, n)
    try:
        return a.astype(float)
    except (TypeError, ValueError):
        raise CardiolatentError(f"{name} must be numeric") from None


def survival_matrix(x, name: str, n: int, names: Sequence[str] | None, prefix: str, *,
                    keep_float32: bool = False):
    """(n, k) float matrix aligned with ``time`` and its column names; ``None`` -> (n, 0).

    NaN is kept (the caller drops those rows); infinite values and non-numeric columns raise.
    ``keep_float32``: a float32 array stays float32 (no float64 copy; the caller converts the parts
    it uses, exactly).
    """
    if x is None:
        return np.zeros((n, 0)), []
    cols = None
    if isinstance(x, pd.DataFrame):
        cols = [str(c) for c in x.columns]
        try:
            a = x.to_numpy(dtype=float)
        except (TypeError, ValueError):
            bad = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
            raise CardiolatentError(
                f"{name} columns must be numeric (dummy-code categories first): {bad[:5]}") from None
    else:
        a = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)
        if a.ndim == 1:
            a = a[:, None]
        try:
            f32 = keep_float32 and getattr(a, "dtype", None) == np.float32
            a = np.asarray(a, dtype=np.float32 if f32 else float)  # no copy when already float64
        except (TypeError, ValueError):
            raise CardiolatentError(f"{name} must be numeric (dummy-code categories first)") from None
    if a.ndim != 2:
        raise CardiolatentError(f"{name} must be a 2-D (participants x columns) array, got shape {a.shape}")
    if a.shape[0] != n:
        raise CardiolatentError(f"{name} has {a.shape[0]} rows but time has {n}")
    if names is not None:
        names = [str(s) for s in names]
        if len(names) != a.shape[1]:
            raise CardiolatentError(f"{len(names)} names given for {a.shape[1]} columns of {name}")
    else:
        names = cols if cols is not None else [f"{prefix}{j}" for j in range(a.shape[1])]
    with np.errstate(over="ignore", invalid="ignore"):
        finite_sum = np.isfinite(a.sum(axis=0, dtype=np.float64)).all()
    if not finite_sum and np.isinf(a).any():  # cheap test first
        j = int(np.flatnonzero(np.isinf(a).any(0))[0])
        i = int(np.flatnonzero(np.isinf(a[:, j]))[0])
        raise CardiolatentError(f"{name} column {names[j]!r} has an infinite value (row {i})")
    return a, names


def check_time_event(time, event):
    """``time`` (> 0) and ``event`` (0/1) as float vectors and the mask of rows where both are
    observed; raises for time <= 0, events other than 0/1 and infinite times."""
    t = float_vector(time, "time")
    n = len(t)
    e = float_vector(event, "event", n)
    ok = np.isfinite(t) & np.isfinite(e)
    bad_t = ok & (t <= 0)
    if bad_t.any():
        i = np.flatnonzero(bad_t)
        raise CardiolatentError(
            f"time must be > 0 (incident events only): {len(i)} rows have time <= 0, e.g. row {int(i[0])} "
            f"(time {t[i[0]]:g}); drop prevalent cases first")
    bad_e = ok & (e != 0) & (e != 1)
    if bad_e.any():
        i = np.flatnonzero(bad_e)
        raise CardiolatentError(
            f"event must be 0 or 1: {len(i)} rows are not, e.g. row {int(i[0])} (value {e[i[0]]:g})")
    if np.isinf(t).any():
        raise CardiolatentError(f"time has infinite values (row {int(np.flatnonzero(np.isinf(t))[0])})")
    return t, e, ok


def strata_codes(strata, n):
    """Integer codes (sorted label order, as pandas sorts) and a validity mask (NaN label -> dropped)."""
    if strata is None:
        return np.zeros(n, np.int64), np.ones(n, bool)
    s = vector(strata, "strata", n)
    codes, _ = pd.factorize(pd.Series(s), sort=True)
    return codes.astype(np.int64), codes >= 0
