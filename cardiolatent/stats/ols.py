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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, special

from cardiolatent.stats._inputs import (as_matrix, basis, binary_flags, blas_threads, covariate_block,
                                        covariate_rows, residualise, unique_columns)

__all__ = ["ols_scan", "STATUS_OK", "PreparedScan", "ScanGroup"]

STATUS_OK = "ok"
_STATUS = np.array(["ok", "too_few", "constant_trait", "collinear_trait", "constant_response"],
                   dtype=object)
_OK, _TOO_FEW, _CONST_X, _COLLIN_X, _CONST_Y = range(5)

#: x~'x~ below this fraction of the trait's centred sum of squares: trait collinear with covariates
_COLLINEAR_TOL = 1e-10


# --------------------------------------------------------------------------------------------
# the prepared scan (also used by the permutation test in multitest.py)
# --------------------------------------------------------------------------------------------


@dataclass
class ScanGroup:
    """One block of a :class:`PreparedScan`: the traits ``trt`` sharing a missingness pattern and
    the latents ``lat`` sharing another, fitted on the rows ``rows`` where both are observed (and
    every covariate). Read by the permutation test of :mod:`cardiolatent.stats.multitest`."""

    rows: np.ndarray        # original row indices (ascending)
    lat: np.ndarray         # latent (response) indices
    trt: np.ndarray         # trait indices
    Q: np.ndarray           # (nR, r) covariate basis on rows (None unless the scan caches Y)
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


class PreparedScan:
    """Everything about a (Y, X, C) OLS scan that does not depend on which X values are tested.

    Building it computes the groups (:class:`ScanGroup`: trait pattern x latent pattern), their
    covariate bases, the residualised traits and, in one pass over the rows of ``Y``, every
    ``x~'y`` (``XY``, latents x stacked trait columns), ``y'y`` and ``B'y`` needed.
    :func:`ols_scan` turns it into its table (:meth:`table`); the Westfall-Young permutation test
    (:func:`cardiolatent.stats.multitest.westfall_young_maxT`) builds it with ``cache_y=True``
    (keeps each group's basis ``Q`` and the centred rows of ``Y``, ``Yc``) and recomputes ``x~'y``
    for permuted traits. Inputs are the coerced float arrays (``Y`` (n, m), ``X`` (n, t), ``C``
    (n, c) or None) of :func:`ols_scan`.
    """

    def __init__(self, Y, X, C, *, intercept=True, rank_tol=None, chunk_rows=4096,
                 cache_y=False, c_names=None):
        n, m = Y.shape
        t = X.shape[1]
        self.n, self.m, self.t = n, m, t
        self.intercept = intercept
        cmask = covariate_rows(C, c_names or [], n)
        y_nan = self._centres(Y, X)
        B = covariate_block(C, cmask, intercept)
        self.k = B.shape[1]
        xpat, ypat = self._make_groups(Y, X, B, cmask, y_nan, rank_tol, cache_y)
        del y_nan
        self._index_rows(cmask, xpat, ypat)
        BX = self._stacked_traits(B)
        self._pass_y(Y, BX, chunk_rows, cache_y)

    # ------------------------------------------------------------------
    def _centres(self, Y, X):
        """Set ``ymean``, ``xmean`` (zero without intercept) and ``y_has_nan``; returns the NaN
        mask of ``Y`` (None when complete). Centring: the intercept absorbs it, and it keeps
        ``y'y - ||Q'y||^2`` free of cancellation."""
        m, t = Y.shape[1], X.shape[1]
        with np.errstate(over="ignore", invalid="ignore"):
            self.y_has_nan = not np.isfinite(Y.sum(axis=0, dtype=np.float64)).all()  # cheap test first
        y_nan = np.isnan(Y) if self.y_has_nan else None
        self.y_has_nan = y_nan is not None and bool(y_nan.any())
        if self.intercept:
            if self.y_has_nan:
                self.ymean = np.nansum(Y, axis=0, dtype=np.float64) / np.maximum((~y_nan).sum(axis=0), 1)
            else:
                self.ymean = Y.mean(axis=0, dtype=np.float64)
            xn = (~np.isnan(X)).sum(0)
            self.xmean = np.where(xn > 0, np.nansum(X, 0) / np.maximum(xn, 1), 0.0)
        else:
            self.ymean = np.zeros(m)
            self.xmean = np.zeros(t)
        return y_nan if self.y_has_nan else None

    def _make_groups(self, Y, X, B, cmask, y_nan, rank_tol, cache_y):
        """``groups`` (trait pattern x latent pattern) and ``T`` (stacked trait columns); returns
        the trait and latent patterns (boolean (n, P) and (n, Q))."""
        n, m = Y.shape
        xok = ~np.isnan(X) & cmask[:, None]
        xpat, xinv = unique_columns(xok)
        if y_nan is not None:
            ypat, yinv = unique_columns(~y_nan)
        else:
            ypat, yinv = np.ones((n, 1), dtype=bool), np.zeros(m, dtype=np.intp)
        groups: list[ScanGroup] = []
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
        return xpat, ypat

    def _index_rows(self, cmask, xpat, ypat):
        """U = rows with complete covariates, in their original order; each group's positions in
        U; per trait pattern its rows within U (summed directly or as U minus the others)."""
        n = cmask.size
        self.order = np.flatnonzero(cmask)
        self.nU = self.order.size
        posU = np.full(n, -1, dtype=np.intp)
        posU[self.order] = np.arange(self.nU)
        for g in self.groups:
            g.posU = posU[g.rows]
        self.pat_in = [xpat[self.order, p] for p in range(xpat.shape[1])]
        self.group_pat = np.repeat(np.arange(xpat.shape[1]), ypat.shape[1])

    def _stacked_traits(self, B):
        """(nU, k + T): covariates and stacked residualised traits (zero outside each group's rows)."""
        BX = np.zeros((self.nU, self.k + self.T))
        BX[:, :self.k] = B[self.order]
        for g in self.groups:
            if g.trt.size and g.n:
                BX[np.ix_(g.posU, self.k + np.arange(g.col0, g.col0 + g.trt.size))] = g.xt
        return BX

    # ------------------------------------------------------------------
    def _make_group(self, rows, lat, trt, B, X, rank_tol) -> ScanGroup:
        nR = rows.size
        Q, R, sel, scale = basis(B[rows], rank_tol)
        r = sel.size
        df = nR - r - 1
        J = trt.size
        xstatus = np.full(J, _OK, dtype=np.int8)
        xg = X[np.ix_(rows, trt)] if J else np.zeros((nR, 0))
        n_cases = xg.sum(axis=0) if nR else np.zeros(J)
        if df <= 0 or nR == 0:
            xstatus[:] = _TOO_FEW
            return ScanGroup(rows, lat, trt, Q, R, sel, scale, df, np.zeros((nR, J)), np.ones(J),
                          xstatus, n_cases)
        const = np.ptp(xg, axis=0) == 0
        xc = xg - self.xmean[trt]
        if self.intercept:
            dev = xc - xc.mean(0)
            ref = np.einsum("ij,ij->j", dev, dev)
            del dev
        else:
            ref = np.einsum("ij,ij->j", xc, xc)
        xt = residualise(Q, xc, out=xc)
        xtx = np.einsum("ij,ij->j", xt, xt)
        collin = ~(xtx > _COLLINEAR_TOL * ref)
        xstatus[collin] = _COLLIN_X
        xstatus[const] = _CONST_X
        bad = xstatus != _OK
        xt[:, bad] = 0.0
        xtx = np.where(bad, 1.0, xtx)
        return ScanGroup(rows, lat, trt, Q, R, sel, scale, df, xt, xtx, xstatus, n_cases)

    # ------------------------------------------------------------------
    def _y_rows(self, Y, idx):
        yc = np.take(Y, idx, axis=0)
        if yc.dtype != np.float64:  # float32 responses: converted by chunk of rows (exactly)
            yc = yc.astype(np.float64)
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
    def stats(self, g: ScanGroup, xty: np.ndarray, xtx: np.ndarray):
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

    def group_xty(self, g: ScanGroup) -> np.ndarray:
        """``x~'y`` of group ``g``, ``(|lat|, J)``, from the pass over ``Y``."""
        return self.XY[np.ix_(g.lat, np.arange(g.col0, g.col0 + g.trt.size))]

    def ok_tests(self, g: ScanGroup) -> np.ndarray:
        """Boolean ``(|lat|, J)``: the tests of group ``g`` with status ``ok``."""
        return self.stats(g, self.group_xty(g), g.xtx)[4] == _OK

    def table(self, y_names, x_names, binary) -> pd.DataFrame:
        """The :func:`ols_scan` table (one row per latent x trait, latent-major)."""
        m, t = self.m, self.t
        beta = np.full((m, t), np.nan)
        se, tv, p = beta.copy(), beta.copy(), beta.copy()
        n_used = np.zeros((m, t), dtype=np.int64)
        df = np.zeros((m, t), dtype=np.int64)
        ncase = np.full((m, t), np.nan)
        status = np.full((m, t), _TOO_FEW, dtype=np.int8)
        for g in self.groups:
            if not (g.lat.size and g.trt.size):
                continue
            ix = np.ix_(g.lat, g.trt)
            b, s, tt, pp, st = self.stats(g, self.group_xty(g), g.xtx)
            beta[ix], se[ix], tv[ix], p[ix], status[ix] = b, s, tt, pp, st
            n_used[ix] = g.n
            df[ix] = g.df
            ncase[ix] = np.where(binary[g.trt], g.n_cases, np.nan)
        return pd.DataFrame({
            "latent": np.repeat(np.asarray(y_names, dtype=object), t),
            "trait": np.tile(np.asarray(x_names, dtype=object), m),
            "beta": beta.ravel(), "se": se.ravel(), "t": tv.ravel(), "p": p.ravel(),
            "n": n_used.ravel(), "df": df.ravel(),
            "n_cases": pd.array(np.round(ncase.ravel()), dtype="Float64").astype("Int64"),
            "status": _STATUS[status.ravel()],
        })




def ols_scan(Y, X, C=None, *, y_names=None, x_names=None, c_names=None, intercept: bool = True,
             binary_x=None, rank_tol: float | None = None, chunk_rows: int = 4096,
             threads: int | None = 1) -> pd.DataFrame:
    """OLS of every response on every tested variable with covariates, vectorised.

    Parameters
    ----------
    Y : (n, m) responses (the latents), float, NaN = missing. Arrays or DataFrames (their column
        names are used as names). A float32 array is used as it is (each chunk of rows is
        converted to float64, exactly; no float64 copy of the whole matrix).
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
    Y, y_names = as_matrix(Y, "responses (Y)", y_names, prefix="Y", keep_float32=True)
    n = Y.shape[0]
    X, x_names = as_matrix(X, "traits (X)", x_names, n=n, prefix="X")
    C, c_names = as_matrix(C, "covariates (C)", c_names, n=n, prefix="C", allow_none=True)
    binary = binary_flags(X, binary_x)
    with blas_threads(threads):
        scan = PreparedScan(Y, X, C, intercept=intercept, rank_tol=rank_tol, chunk_rows=chunk_rows,
                            c_names=c_names)
    return scan.table(y_names, x_names, binary)

