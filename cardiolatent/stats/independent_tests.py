"""Effective number of independent tests (M_eff) from the eigenvalues of a correlation matrix.

For ``M`` correlated variables (latents) with correlation matrix eigenvalues ``lambda_1..lambda_M``
(they sum to ``M``):

- Li & Ji (2005), the default: ``M_eff = sum_i f(|lambda_i|)`` with
  ``f(x) = I(x >= 1) + (x - floor(x))``. Identity -> ``M``; all-ones matrix -> ``1``.
- Cheverud (2001) / Nyholt (2004): ``M_eff = 1 + (M - 1) (1 - Var(lambda) / M)`` with the sample
  variance (denominator ``M - 1``) of the eigenvalues, as in Nyholt's paper. Identity -> ``M``;
  all-ones matrix -> ``1``.

A per-test threshold keeping a family-wise level ``a`` is then ``a / M_eff`` (the paper's
genome-wide ``P < 2.3e-9`` is ``5e-8 / ~22``).

Li & Ji's ``f`` jumps at integers >= 2 (``f(2 - e) ~ 2`` but ``f(2) = 1``), so eigenvalues within
``1e-9 * M`` of an integer are snapped to it first: otherwise rounding error decides between the
two branches (e.g. an all-ones matrix's top eigenvalue computed as ``M - 1e-14``).

Missing values in a data matrix: ``missing="complete"`` (default) uses the rows with every column
observed, which keeps the matrix positive semi-definite; ``missing="pairwise"`` uses, for every
pair of columns, the rows where both are observed (more data, but the matrix may have small
negative eigenvalues; Li & Ji take absolute values, Nyholt's variance uses them as they are).
Constant columns (and columns with fewer than 3 observations) have no correlation: they are
dropped and listed in :attr:`MeffResult.dropped`.

``from cardiolatent.stats import meff; meff(x)`` gives the Li & Ji number directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cardiolatent.errors import CardiolatentError

__all__ = ["meff", "effective_tests", "MeffResult", "li_ji", "nyholt", "correlation", "centred_cross_products",
           "correlation_from_cross_products", "METHODS"]

METHODS = ("li_ji", "nyholt")
_SNAP = 1e-9


@dataclass
class MeffResult:
    """M_eff of a set of columns.

    ``m``: columns used (after dropping constant ones); ``li_ji``, ``nyholt``: M_eff by each method;
    ``eigenvalues``: of the correlation matrix, descending (shape ``(m,)``); ``n_rows``: complete rows
    used (``missing="complete"``) or the smallest pairwise count (``"pairwise"``), None for a
    correlation-matrix input; ``dropped``: names (or indices) of dropped columns.
    """

    m: int
    li_ji: float
    nyholt: float
    eigenvalues: np.ndarray
    n_rows: int | None = None
    missing: str | None = None
    dropped: list = field(default_factory=list)

    def threshold(self, alpha: float = 5e-8, method: str = "li_ji") -> float:
        """Per-test threshold ``alpha / M_eff`` (``alpha`` family-wise)."""
        me = self.li_ji if method == "li_ji" else self.nyholt
        return float(alpha / me) if me > 0 else float("nan")

    def as_dict(self) -> dict:
        """JSON-serialisable summary (no eigenvalues)."""
        return {"m": int(self.m), "meff_li_ji": _f(self.li_ji), "meff_nyholt": _f(self.nyholt),
                "threshold_5e-8_li_ji": _f(self.threshold(5e-8, "li_ji")),
                "n_rows": None if self.n_rows is None else int(self.n_rows),
                "missing": self.missing, "dropped": [str(d) for d in self.dropped]}


def _f(v):
    return None if v is None or not np.isfinite(v) else float(v)


def _snap(lam: np.ndarray, m: int) -> np.ndarray:
    r = np.round(lam)
    return np.where(np.abs(lam - r) <= _SNAP * max(m, 1), r, lam)


def li_ji(eigenvalues) -> float:
    """Li & Ji (2005): ``sum I(|l| >= 1) + (|l| - floor(|l|))`` over the eigenvalues ``(M,)``."""
    lam = np.abs(np.asarray(eigenvalues, dtype=np.float64))
    lam = _snap(lam, lam.size)
    return float(np.sum((lam >= 1).astype(np.float64) + (lam - np.floor(lam))))


def nyholt(eigenvalues) -> float:
    """Cheverud/Nyholt (2004): ``1 + (M - 1) (1 - Var(l) / M)``, sample variance (ddof 1) of ``(M,)``."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    m = lam.size
    if m == 0:
        return 0.0
    if m == 1:
        return 1.0
    return float(1 + (m - 1) * (1 - np.var(lam, ddof=1) / m))


def correlation(x, missing: str = "complete") -> tuple[np.ndarray, int]:
    """Pearson correlation matrix ``(m, m)`` of a data matrix ``(n, m)`` and the rows used.

    Non-finite values are missing (see module docstring for ``missing``). Columns that are constant
    (or have < 3 observations) get NaN rows/columns. The second value is the number of complete
    rows (``complete``) or the smallest pairwise count (``pairwise``).
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.ndim != 2:
        raise CardiolatentError(f"M_eff data must be a matrix (rows, columns), not shape {x.shape}")
    if missing not in ("complete", "pairwise"):
        raise CardiolatentError(f"missing must be 'complete' or 'pairwise', not {missing!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        all_finite = bool(np.isfinite(x.sum(axis=0, dtype=np.float64)).all())  # cheap test first
    obs = None if all_finite else np.isfinite(x)
    if missing == "complete" or all_finite or obs.all():
        if all_finite:
            return _complete_correlation(x)
        rows = obs.all(axis=1)
        n = int(rows.sum())
        if n < 3:
            raise CardiolatentError(f"only {n} rows have all {x.shape[1]} columns; at least 3 needed for M_eff")
        return _complete_correlation(x[rows])
    x = x.astype(np.float64, copy=False)
    # pairwise complete: masked sums by matrix products (centre first for precision)
    w = obs.astype(np.float64)
    cnt = w.sum(axis=0)
    mu = np.where(cnt > 0, np.where(obs, x, 0.0).sum(axis=0) / np.maximum(cnt, 1), 0.0)
    x0 = np.where(obs, x - mu, 0.0)
    npair = w.T @ w
    sx = x0.T @ w                   # sx[a, b]: sum of x_a over rows with a and b observed
    sxx = (x0 * x0).T @ w
    sxy = x0.T @ x0
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / npair
        va = sxx - sx * sx / npair
        vb = va.T
        r = cov / np.sqrt(va * vb)
    scale = np.where(obs, np.abs(x), 0.0).max(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    const = (np.diag(va) <= (1e-13 * np.maximum(scale, 1e-300)) ** 2 * cnt) | (cnt < 3)
    r[const, :] = np.nan
    r[:, const] = np.nan
    r[(npair < 3) & ~np.eye(len(cnt), dtype=bool)] = np.nan
    np.fill_diagonal(r, np.where(const, np.nan, 1.0))
    ok = ~const
    nmin = int(npair[np.ix_(ok, ok)].min()) if ok.any() else 0
    return np.clip(r, -1.0, 1.0), nmin


def _complete_correlation(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Correlation matrix of a complete (n, m) float matrix (float32 or float64) and n."""
    G, _, scale = centred_cross_products(x)
    return correlation_from_cross_products(G, x.shape[0], scale), x.shape[0]


def centred_cross_products(x, block: int = 8192) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(G (m, m), mean (m,), scale (m,))`` of a complete (n, m) float matrix (float32 or float64):
    ``G = (x - mean)'(x - mean)`` centred on the float64 column means and accumulated over row
    blocks in float64 (one symmetric BLAS product per block; no (n, m) float64 copy), and each
    column's largest absolute value (``scale``, for recognising constant columns)."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    n, m = x.shape
    if n < 3:
        raise CardiolatentError(f"only {n} rows have all {m} columns; at least 3 needed for M_eff")
    mean = x.sum(axis=0, dtype=np.float64) / n
    scale = np.maximum(x.max(axis=0), -x.min(axis=0)).astype(np.float64)
    G = np.zeros((m, m))
    for s in range(0, n, block):
        xb = x[s:s + block].astype(np.float64)
        xb -= mean
        G += xb.T @ xb
    return G, mean, scale


def correlation_from_cross_products(G: np.ndarray, n: int, scale: np.ndarray) -> np.ndarray:
    """Correlation matrix from centred cross-products ``G`` over ``n`` rows; a constant column
    (its sum of squares is rounding noise against its raw magnitude ``scale``) gets NaN."""
    ss = np.diag(G).copy()
    const = ss <= (1e-13 * np.maximum(scale, 1e-300)) ** 2 * n
    sd = np.sqrt(np.where(const, np.nan, ss))
    r = G / np.outer(sd, sd)
    np.fill_diagonal(r, np.where(const, np.nan, 1.0))
    return np.clip(r, -1.0, 1.0)


def effective_tests(x=None, *, corr=None, missing: str = "complete", columns=None) -> MeffResult:
    """M_eff (both methods) of a data matrix ``x`` ``(n, m)`` or of a correlation matrix ``corr`` ``(m, m)``.

    ``x`` may be a DataFrame (column names are used for :attr:`MeffResult.dropped`). Columns whose
    correlations are NaN (constant columns; in ``corr`` a NaN diagonal) are dropped. In pairwise
    mode a pair with fewer than 3 common rows is an error (the matrix would have holes).
    """
    if (x is None) == (corr is None):
        raise CardiolatentError("give either a data matrix or a correlation matrix")
    if x is not None:
        if hasattr(x, "columns"):
            columns = list(x.columns) if columns is None else columns
            x = x.to_numpy(dtype=np.float64)
        r, n = correlation(x, missing)
    else:
        r = np.asarray(corr, dtype=np.float64)
        if r.ndim != 2 or r.shape[0] != r.shape[1]:
            raise CardiolatentError(f"correlation matrix must be square, not shape {r.shape}")
        n, missing = None, None
    m_all = r.shape[0]
    names = list(range(m_all)) if columns is None else list(columns)
    keep = np.isfinite(np.diag(r)) if m_all else np.zeros(0, bool)
    dropped = [names[i] for i in np.flatnonzero(~keep)]
    rk = r[np.ix_(keep, keep)]
    if not np.isfinite(rk).all():
        raise CardiolatentError("correlation matrix has missing entries (pairs of columns with fewer than "
                                "3 common rows); use missing='complete'")
    if rk.shape[0] == 0:
        return MeffResult(m=0, li_ji=0.0, nyholt=0.0, eigenvalues=np.zeros(0), n_rows=n,
                          missing=missing, dropped=dropped)
    lam = np.linalg.eigvalsh((rk + rk.T) / 2)[::-1]
    return MeffResult(m=int(rk.shape[0]), li_ji=li_ji(lam), nyholt=nyholt(lam), eigenvalues=lam,
                      n_rows=n, missing=missing, dropped=dropped)


def meff(x=None, *, corr=None, method: str = "li_ji", missing: str = "complete") -> float:
    """M_eff of a data matrix ``(n, m)`` or a correlation matrix ``(m, m)`` by ``li_ji`` or ``nyholt``."""
    if method not in METHODS:
        raise CardiolatentError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    res = effective_tests(x, corr=corr, missing=missing)
    return res.li_ji if method == "li_ji" else res.nyholt
