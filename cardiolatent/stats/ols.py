"""Vectorised OLS association scan: every response (latent) against every tested variable (trait).

:func:`ols_scan` fits, for every latent ``i`` and trait ``j``, the ordinary least squares model
``Y[:, i] ~ 1 + X[:, j] + C`` on the complete cases of that pair (``Y[:, i]``, ``X[:, j]`` and every
covariate observed) and reports the ``X[:, j]`` term. It gives the same numbers as one
``statsmodels.OLS`` fit per model (with the redundant covariate columns of that subset dropped), but
does all ``m x t`` fits with a few matrix products.

How (Frisch-Waugh-Lovell): within a set of rows ``R`` with covariate basis ``Q`` (orthonormal,
from a pivoted QR of ``[1, C]`` restricted to ``R``), the trait coefficient is
``beta = x~'y / x~'x~`` with ``x~ = x - Q Q'x``; the residual sum of squares is
``RSS = y'y - ||Q'y||^2 - beta * x~'y``; ``df = |R| - rank([1, C]_R) - 1``; ``se = sqrt(RSS / df /
x~'x~)``; ``t = beta / se``; ``p = 2 P(T_df > |t|)``.

Missing values: traits (and latents) are grouped by their missingness pattern; each group
(a row set ``R``, its traits and its latents) needs one QR of ``[1, C]_R`` and one residualisation
of its traits. The latents enter only through ``x~'y`` (one matrix product of all latents with all
residualised traits, zero outside their rows) and ``y'y``, ``B'y`` over ``R`` (``B = [1, C]``),
all accumulated in one pass over the rows: per trait pattern the sums run over its rows, or, when
it covers most rows, over all rows minus the rows it lacks (so many sparse patterns cost little).
``Q'y`` is then ``R^-T B'y`` (semi-normal equations, on centred and column-scaled covariates).
Rows with a missing covariate are dropped for every model. Latents with missing values are
grouped by their own missingness pattern (a missing latent value counts as 0 in the sums, which
excludes it); latents are usually complete (one pattern). The work grows with the number of
(trait pattern x latent pattern) groups, so latents with many different missingness patterns
are slow (correct, but one QR per group).

Rank deficiency: covariate columns that are constant or collinear within ``R`` (a centre dummy with
no participant in the subset, duplicated columns) are found by a pivoted QR of the
unit-norm-scaled columns (``|R_kk| <= rank_tol * |R_00|``, default ``max(|R|, k) * eps``) and
dropped; ``df`` counts only the kept columns (as statsmodels' pinv fit does through its rank).

Per-model problems give a NaN row with a status instead of an error: ``too_few`` (``n <= p``,
no residual degrees of freedom), ``constant_trait`` (the trait takes one value in the rows used),
``collinear_trait`` (the trait is a linear combination of the covariates there),
``constant_response`` (the latent is fully explained by the covariates there, e.g. constant).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, special

from cardiolatent.errors import CardiolatentError

__all__ = ["ols_scan", "STATUS_OK"]

STATUS_OK = "ok"
_STATUS = np.array(["ok", "too_few", "constant_trait", "collinear_trait", "constant_response"],
                   dtype=object)
_OK, _TOO_FEW, _CONST_X, _COLLIN_X, _CONST_Y = range(5)

#: x~'x~ below this fraction of the trait's centred sum of squares: trait collinear with covariates
_COLLINEAR_TOL = 1e-10
_EPS = np.finfo(float).eps


# --------------------------------------------------------------------------------------------
# input handling (shared with logistic.py and multitest.py)
# --------------------------------------------------------------------------------------------


def _as_matrix(a, what: str, names=None, n: int | None = None, prefix: str = "V",
               allow_none: bool = False):
    """``a`` (array, DataFrame, Series; 1-D = one column) -> (float array (n, k), list of names)."""
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
            arr = np.asarray(a, dtype=float)
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
        finite_sums = np.isfinite(arr.sum(axis=0)).all()   # no temporary (n, k) array
    inf = np.isinf(arr) if not finite_sums else None
    if inf is not None and inf.any():
        r, c = np.argwhere(inf)[0]
        raise CardiolatentError(f"{what}: column {names[c]} has an infinite value (row {r})")
    return arr, names


def _blas_threads(threads: int | None):
    """Context limiting BLAS threads to ``threads`` (threadpoolctl) for the call; None: unchanged."""
    if threads is None:
        return contextlib.nullcontext()
    if int(threads) < 1:
        raise CardiolatentError(f"threads must be at least 1, got {threads}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


def _covariate_rows(C: np.ndarray | None, c_names: list[str], n: int) -> np.ndarray:
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


def _unique_columns(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (n, k) -> (distinct columns (n, P), inverse (k,)): column j equals distinct[:, inv[j]]."""
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


def _basis(B: np.ndarray, rank_tol: float | None = None):
    """Orthonormal basis of the column space of ``B`` (n, k) by a pivoted QR of unit-norm columns.

    Returns ``(Q (n, r), R (r, r) upper, sel (r,), scale (r,))`` with
    ``B[:, sel] / scale = Q @ R``; columns that are zero, constant-with-the-intercept or collinear
    (``|R_kk| <= tol * |R_00|``) are left out of ``sel``.
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


def _residualise(Q: np.ndarray, x: np.ndarray, twice: bool = True, block: int = 4096,
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
# the prepared scan (also used by the permutation test in multitest.py)
# --------------------------------------------------------------------------------------------


@dataclass
class _Group:
    rows: np.ndarray        # original row indices (ascending)
    lat: np.ndarray         # latent (response) indices
    trt: np.ndarray         # trait indices
    Q: np.ndarray           # (nR, r) covariate basis on rows
    R: np.ndarray           # (r, r)
    sel: np.ndarray         # kept covariate columns of B
    scale: np.ndarray
    df: int                 # nR - r - 1
    xt: np.ndarray          # (nR, J) residualised centred traits (zero columns where status != ok)
    xtx: np.ndarray         # (J,)
    xstatus: np.ndarray     # (J,) status code per trait
    n_cases: np.ndarray     # (J,) sum of trait values (meaningful for binary traits)
    col0: int = 0           # first column of this group's traits in the stacked trait matrix
    posU: np.ndarray = field(default=None)   # positions of rows among the rows used (U)
    rss0: np.ndarray = field(default=None)   # (|lat|,) covariate-only residual sum of squares
    ss: np.ndarray = field(default=None)     # (|lat|,) centred sum of squares over rows

    @property
    def n(self) -> int:
        return int(self.rows.size)


class _Scan:
    """Everything about a (Y, X, C) scan that does not depend on which X values are tested.

    Building it computes the groups, their covariate bases, the residualised traits and, in one
    pass over the rows of ``Y``, every ``x~'y``, ``y'y`` and ``B'y`` needed.
    """

    def __init__(self, Y, X, C, *, intercept=True, rank_tol=None, chunk_rows=4096,
                 cache_y=False, c_names=None):
        n, m = Y.shape
        t = X.shape[1]
        self.n, self.m, self.t = n, m, t
        self.intercept = intercept
        cmask = _covariate_rows(C, c_names or [], n)
        with np.errstate(over="ignore", invalid="ignore"):
            self.y_has_nan = not np.isfinite(Y.sum(axis=0)).all()  # cheap test first
        y_nan = np.isnan(Y) if self.y_has_nan else None
        self.y_has_nan = y_nan is not None and bool(y_nan.any())
        # centring: the intercept absorbs it; it keeps y'y - ||Q'y||^2 free of cancellation
        if intercept:
            if self.y_has_nan:
                self.ymean = np.nansum(Y, axis=0) / np.maximum((~y_nan).sum(axis=0), 1)
            else:
                self.ymean = Y.mean(axis=0)
            xn = (~np.isnan(X)).sum(0)
            self.xmean = np.where(xn > 0, np.nansum(X, 0) / np.maximum(xn, 1), 0.0)
        else:
            self.ymean = np.zeros(m)
            self.xmean = np.zeros(t)
        B = covariate_block(C, cmask, intercept)
        self.k = B.shape[1]

        # ---- groups: (trait pattern) x (latent pattern)
        xok = ~np.isnan(X) & cmask[:, None]
        xpat, xinv = _unique_columns(xok)
        if self.y_has_nan:
            ypat, yinv = _unique_columns(~y_nan)
            del y_nan
        else:
            ypat, yinv = np.ones((n, 1), dtype=bool), np.zeros(m, dtype=np.intp)
        groups: list[_Group] = []
        col = 0
        for p in range(xpat.shape[1]):
            trt = np.flatnonzero(xinv == p)
            for q in range(ypat.shape[1]):
                lat = np.flatnonzero(yinv == q)
                rows = np.flatnonzero(xpat[:, p] & ypat[:, q])
                g = self._make_group(rows, lat, trt, B, X, rank_tol)
                if not cache_y:  # the basis is only needed again by the permutation test
                    g.Q = None
                g.col0 = col
                col += trt.size
                groups.append(g)
        self.groups = groups
        self.T = col

        # ---- rows: U = rows with complete covariates, in their original order
        self.order = np.flatnonzero(cmask)
        self.nU = self.order.size
        posU = np.full(n, -1, dtype=np.intp)
        posU[self.order] = np.arange(self.nU)
        for g in groups:
            g.posU = posU[g.rows]
        # per trait pattern: its rows within U, summed directly or as U minus the others
        self.pat_in = [xpat[self.order, p] for p in range(xpat.shape[1])]
        self.group_pat = np.repeat(np.arange(xpat.shape[1]), ypat.shape[1])

        # ---- covariates and stacked residualised traits (zero outside each group's rows)
        BX = np.zeros((self.nU, self.k + self.T))
        BX[:, :self.k] = B[self.order]
        for g in groups:
            if g.trt.size and g.n:
                BX[np.ix_(g.posU, self.k + np.arange(g.col0, g.col0 + g.trt.size))] = g.xt

        # ---- one pass over Y
        self._pass_y(Y, BX, chunk_rows, cache_y)

    # ------------------------------------------------------------------
    def _make_group(self, rows, lat, trt, B, X, rank_tol) -> _Group:
        nR = rows.size
        Q, R, sel, scale = _basis(B[rows], rank_tol)
        r = sel.size
        df = nR - r - 1
        J = trt.size
        xstatus = np.full(J, _OK, dtype=np.int8)
        xg = X[np.ix_(rows, trt)] if J else np.zeros((nR, 0))
        n_cases = xg.sum(axis=0) if nR else np.zeros(J)
        if df <= 0 or nR == 0:
            xstatus[:] = _TOO_FEW
            return _Group(rows, lat, trt, Q, R, sel, scale, df, np.zeros((nR, J)), np.ones(J),
                          xstatus, n_cases)
        const = np.ptp(xg, axis=0) == 0
        xc = xg - self.xmean[trt]
        if self.intercept:
            dev = xc - xc.mean(0)
            ref = np.einsum("ij,ij->j", dev, dev)
            del dev
        else:
            ref = np.einsum("ij,ij->j", xc, xc)
        xt = _residualise(Q, xc, out=xc)
        xtx = np.einsum("ij,ij->j", xt, xt)
        collin = ~(xtx > _COLLINEAR_TOL * ref)
        xstatus[collin] = _COLLIN_X
        xstatus[const] = _CONST_X
        bad = xstatus != _OK
        xt[:, bad] = 0.0
        xtx = np.where(bad, 1.0, xtx)
        return _Group(rows, lat, trt, Q, R, sel, scale, df, xt, xtx, xstatus, n_cases)

    # ------------------------------------------------------------------
    def _y_rows(self, Y, idx):
        yc = np.take(Y, idx, axis=0)
        yc -= self.ymean
        if self.y_has_nan:
            np.nan_to_num(yc, copy=False, nan=0.0)
        return yc

    def _pass_y(self, Y, BX, chunk_rows, cache_y):
        """One pass over the rows of ``Y`` in U: ``x~'y`` for every trait column, and per trait
        pattern ``B'y`` and ``y'y`` over its rows (missing latent values count as 0, which is
        their exclusion). A pattern covering most of U is summed as U minus its missing rows."""
        m, k, P = self.m, self.k, len(self.pat_in)
        nU = self.nU
        mode = []  # per pattern: "all", "in" (sum its rows) or "out" (U minus the others)
        for inp in self.pat_in:
            cnt = int(inp.sum())
            mode.append("all" if cnt == nU else ("in" if 2 * cnt <= nU else "out"))
        SBt = np.zeros((m, k))
        SSt = np.zeros(m)
        SBp = [np.zeros((m, k)) for _ in range(P)]
        SSp = [np.zeros(m) for _ in range(P)]
        XY = np.zeros((m, self.T))
        self.Yc = np.empty((nU, m)) if cache_y else None
        for s in range(0, nU, chunk_rows):
            e = min(s + chunk_rows, nU)
            yc = self._y_rows(Y, self.order[s:e])
            if cache_y:
                self.Yc[s:e] = yc
            prod = yc.T @ BX[s:e]
            SBt += prod[:, :k]
            XY += prod[:, k:]
            SSt += np.einsum("ij,ij->j", yc, yc)
            for p in range(P):
                if mode[p] == "all":
                    continue
                part = self.pat_in[p][s:e]
                idx = np.flatnonzero(part if mode[p] == "in" else ~part)
                if idx.size:
                    ys = yc[idx]
                    SBp[p] += ys.T @ BX[s + idx, :k]
                    SSp[p] += np.einsum("ij,ij->j", ys, ys)
        self.XY = XY
        for p in range(P):
            if mode[p] == "all":
                SBp[p], SSp[p] = SBt, SSt
            elif mode[p] == "out":
                SBp[p], SSp[p] = SBt - SBp[p], SSt - SSp[p]
        for g, p in zip(self.groups, self.group_pat):
            full = g.lat.size == m
            sb = SBp[p] if full else SBp[p][g.lat]
            ss = SSp[p] if full else SSp[p][g.lat]
            if g.sel.size and g.lat.size:
                qty = linalg.solve_triangular(g.R, (sb[:, g.sel] / g.scale).T, trans="T",
                                              lower=False, check_finite=False)
                rss0 = ss - np.einsum("ij,ij->j", qty, qty)
            else:
                rss0 = ss.copy()
            g.ss = ss
            g.rss0 = np.maximum(rss0, 0.0)

    # ------------------------------------------------------------------
    def stats(self, g: _Group, xty: np.ndarray, xtx: np.ndarray):
        """beta, se, t, p, status codes ``(|lat|, J)`` of group ``g`` given ``x~'y`` and ``x~'x~``."""
        J = g.trt.size
        L = g.lat.size
        status = np.broadcast_to(g.xstatus, (L, J)).copy()
        const_y = ~(g.rss0 > 1e-12 * g.ss) | (g.ss <= 0)
        status[(status == _OK) & const_y[:, None]] = _CONST_Y
        df = max(g.df, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = xty / xtx
            rss = np.maximum(g.rss0[:, None] - xty * beta, 0.0)
            se = np.sqrt(rss / df / xtx)
            tval = beta / se
            p = 2.0 * special.stdtr(df, -np.abs(tval))
        bad = status != _OK
        for a in (beta, se, tval, p):
            a[bad] = np.nan
        return beta, se, tval, p, status


def _auto_binary(X: np.ndarray) -> np.ndarray:
    """Traits whose observed values are all 0 or 1."""
    obs = ~np.isnan(X)
    return (((X == 0) | (X == 1)) | ~obs).all(axis=0) & obs.any(axis=0)


def ols_scan(Y, X, C=None, *, y_names=None, x_names=None, c_names=None, intercept: bool = True,
             binary_x=None, rank_tol: float | None = None, chunk_rows: int = 4096,
             threads: int | None = 1) -> pd.DataFrame:
    """OLS of every response on every tested variable with covariates, vectorised.

    Parameters
    ----------
    Y : (n, m) responses (the latents), float, NaN = missing. Arrays or DataFrames (their column
        names are used as names).
    X : (n, t) tested variables (traits): continuous or 0/1, NaN = missing.
    C : (n, c) covariates, already numeric and dummy-coded (no intercept column needed), NaN =
        missing; a row with any missing covariate is left out of every model. ``None``: none.
    y_names, x_names, c_names : names for the columns (default: DataFrame columns or
        ``Y0.., X0.., C0..``).
    intercept : add the constant term (default True).
    binary_x : bool per trait, or None to detect traits whose observed values are all 0/1; for
        binary traits ``n_cases`` counts the 1s in the rows used.
    rank_tol : relative tolerance of the pivoted-QR rank decision on unit-norm covariate columns
        (default ``max(n, k) * machine eps``).
    chunk_rows : rows of ``Y`` processed at once (memory: ``chunk_rows * m`` floats).
    threads : BLAS threads during the call (threadpoolctl; restored afterwards); ``None`` leaves
        the process setting. Default 1: the scan is many medium-sized matrix products, and
        multithreaded OpenBLAS can be several times slower on those when the cores are shared
        with other work; on an idle machine 2+ threads help somewhat (see
        ``benchmarks/bench_assoc.py``).

    Model, per latent ``i`` and trait ``j``: ``Y[:, i] ~ 1 + X[:, j] + C`` on the rows where
    ``Y[:, i]``, ``X[:, j]`` and all of ``C`` are observed.

    Returns
    -------
    DataFrame with one row per (latent, trait), latent-major (all traits of latent 0 first):
    ``latent, trait, beta, se, t, p, n, df, n_cases, status``. ``beta`` is the change in the
    response per unit of the trait (per SD if both were standardised), ``se`` its standard error,
    ``t = beta / se``, ``p`` two-sided from Student's t with ``df = n - rank([1, C]) - 1`` residual
    degrees of freedom, ``n`` the rows used, ``n_cases`` the number of 1s for binary traits (NA
    otherwise), ``status`` ``ok`` or why the row is NaN (see the module docstring).
    """
    Y, y_names = _as_matrix(Y, "responses (Y)", y_names, prefix="Y")
    n = Y.shape[0]
    X, x_names = _as_matrix(X, "traits (X)", x_names, n=n, prefix="X")
    C, c_names = _as_matrix(C, "covariates (C)", c_names, n=n, prefix="C", allow_none=True)
    m, t = Y.shape[1], X.shape[1]
    if binary_x is None:
        binary = _auto_binary(X)
    else:
        binary = np.asarray(binary_x, dtype=bool).reshape(-1)
        if binary.size != t:
            raise CardiolatentError(f"binary_x has {binary.size} entries for {t} traits")
    with _blas_threads(threads):
        scan = _Scan(Y, X, C, intercept=intercept, rank_tol=rank_tol, chunk_rows=chunk_rows,
                     c_names=c_names)
    return _table(scan, y_names, x_names, binary)


def _table(scan: _Scan, y_names, x_names, binary) -> pd.DataFrame:
    m, t = scan.m, scan.t
    beta = np.full((m, t), np.nan)
    se, tv, p = beta.copy(), beta.copy(), beta.copy()
    n_used = np.zeros((m, t), dtype=np.int64)
    df = np.zeros((m, t), dtype=np.int64)
    ncase = np.full((m, t), np.nan)
    status = np.full((m, t), _TOO_FEW, dtype=np.int8)
    for g in scan.groups:
        if not (g.lat.size and g.trt.size):
            continue
        ix = np.ix_(g.lat, g.trt)
        xty = scan.XY[np.ix_(g.lat, np.arange(g.col0, g.col0 + g.trt.size))]
        b, s, tt, pp, st = scan.stats(g, xty, g.xtx)
        beta[ix], se[ix], tv[ix], p[ix], status[ix] = b, s, tt, pp, st
        n_used[ix] = g.n
        df[ix] = g.df
        ncase[ix] = np.where(binary[g.trt], g.n_cases, np.nan)
    out = pd.DataFrame({
        "latent": np.repeat(np.asarray(y_names, dtype=object), t),
        "trait": np.tile(np.asarray(x_names, dtype=object), m),
        "beta": beta.ravel(), "se": se.ravel(), "t": tv.ravel(), "p": p.ravel(),
        "n": n_used.ravel(), "df": df.ravel(),
        "n_cases": pd.array(np.round(ncase.ravel()), dtype="Float64").astype("Int64"),
        "status": _STATUS[status.ravel()],
    })
    return out
