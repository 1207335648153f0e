"""Multiple-testing corrections: Bonferroni, Benjamini-Hochberg, the M_eff threshold and the
Westfall-Young max-T permutation adjustment of an OLS association scan.

P values may have any shape; NaN P values stay NaN and are not counted as tests.

Westfall-Young single-step max-T (:func:`westfall_young_maxT`), exactly as implemented
-------------------------------------------------------------------------------------------
The family is every ``ok`` test of :func:`cardiolatent.stats.ols.ols_scan` (latent ``i`` x trait
``j``, model ``Y_i ~ 1 + X_j + C`` on the complete cases ``R`` of that pair). For every group of
tests sharing the same rows ``R`` (a missingness pattern):

1. the trait is residualised on the covariates within ``R``: ``x~ = M_R x`` with
   ``M_R = I - H_R`` the annihilator of ``[1, C_R]`` (the null model "trait ~ covariates");
2. replicate ``b`` draws ONE global permutation ``pi_b`` of all ``n`` rows
   (``numpy.random.default_rng(seed)``, ``pi_b = rng.permutation(n)`` for ``b = 0, 1, ...``; the
   array is also given by :func:`maxT_permutations`). Within ``R`` it acts as the induced
   permutation: list the rows of ``R`` in the order they appear in ``pi_b``
   (``R_pi = pi_b[isin(pi_b, R)]``) and give row ``R[k]`` (``R`` ascending) the residual of row
   ``R_pi[k]``. With no missing data this is simply ``x~[pi_b]``; traits with the same rows move
   together, so their correlation is kept;
3. the permuted residual is put back in the full model ``Y_i ~ 1 + x~_pi + C`` on ``R`` (i.e.
   residualised again, as the permuted residual is no longer orthogonal to the covariates) and its
   ``|t|`` computed; ``Y`` itself is never permuted.

This is Freedman & Lane's scheme with the trait in the role of the response: the ``t`` of ``x`` in
``y ~ x + C`` is a function of the partial correlation of ``x`` and ``y`` given ``C`` alone, which
is symmetric in ``x`` and ``y``, so permuting the covariate-residualised trait is permuting the
residuals of the reduced model. The replicate statistic is the maximum ``|t|`` over the whole
family, and the adjusted P value of a test with observed ``|t_obs|`` is
``(1 + #{b : max_b >= |t_obs|}) / (n_perm + 1)``.
"""

from __future__ import annotations

import numpy as np

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats._inputs import as_matrix, binary_flags, blas_threads, residualise
from cardiolatent.stats.ols import PreparedScan

__all__ = ["bonferroni", "benjamini_hochberg", "meff_threshold", "maxT_permutations",
           "westfall_young_maxT"]


def _pvalues(p) -> np.ndarray:
    arr = np.array(p, dtype=float, copy=True)
    fin = arr[~np.isnan(arr)]
    if fin.size and ((fin < 0).any() or (fin > 1).any()):
        raise CardiolatentError("P values must lie in [0, 1] (or be NaN)")
    return arr


def bonferroni(p, n_tests: int | None = None) -> np.ndarray:
    """Bonferroni-adjusted P values ``min(1, p * n_tests)``, same shape as ``p``.

    ``n_tests`` defaults to the number of non-NaN P values; NaN stays NaN.
    """
    arr = _pvalues(p)
    if n_tests is None:
        n_tests = int((~np.isnan(arr)).sum())
    elif n_tests < 1:
        raise CardiolatentError(f"n_tests must be at least 1, got {n_tests}")
    return np.minimum(arr * n_tests, 1.0)


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini-Hochberg q values (step-up FDR adjusted P values), same shape as ``p``.

    For the ``M`` non-NaN P values sorted ascending, ``q_(i) = min(1, min_{j >= i} p_(j) M / j)``;
    NaN stays NaN and does not count in ``M``.
    """
    arr = _pvalues(p)
    flat = arr.reshape(-1)
    ok = np.flatnonzero(~np.isnan(flat))
    if ok.size == 0:
        return arr
    pv = flat[ok]
    order = np.argsort(pv, kind="mergesort")
    M = pv.size
    raw = pv[order] * M / np.arange(1, M + 1)
    q = np.minimum.accumulate(raw[::-1])[::-1]
    out = np.empty(M)
    out[order] = np.minimum(q, 1.0)
    flat[ok] = out
    return arr


def meff_threshold(alpha: float, m_eff: float, n_families: int = 1) -> float:
    """Per-test significance threshold ``alpha / (n_families * m_eff)``.

    The paper's disease threshold: ``0.05 / (number of diseases x M_eff)``, i.e.
    ``meff_threshold(0.05, m_eff, n_families=n_diseases)``.
    """
    if not 0 < alpha < 1:
        raise CardiolatentError(f"alpha must be in (0, 1), got {alpha}")
    if not m_eff > 0:
        raise CardiolatentError(f"m_eff (the effective number of tests) must be positive, got {m_eff}")
    if n_families < 1:
        raise CardiolatentError(f"n_families must be at least 1, got {n_families}")
    return float(alpha) / (n_families * float(m_eff))


def maxT_permutations(n: int, n_perm: int, seed: int = 0) -> np.ndarray:
    """The ``(n_perm, n)`` row permutations :func:`westfall_young_maxT` uses for this ``seed``."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n) for _ in range(n_perm)]) if n_perm else np.zeros((0, n), int)


def _induced(perm: np.ndarray, in_rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Positions (within the ascending rows R) of the rows of R listed in the order of ``perm``."""
    return pos[perm[in_rows[perm]]]


def westfall_young_maxT(Y, X, C=None, *, n_perm: int = 1000, seed: int = 0, y_names=None,
                        x_names=None, c_names=None, intercept: bool = True, binary_x=None,
                        permutations=None, batch_columns: int = 256, rank_tol=None,
                        chunk_rows: int = 4096, return_null: bool = False,
                        threads: int | None = 1):
    """Westfall-Young single-step max-T adjusted P values for a whole :func:`ols_scan` family.

    Parameters
    ----------
    Y, X, C, y_names, x_names, c_names, intercept, binary_x, rank_tol, chunk_rows : as
        :func:`cardiolatent.stats.ols.ols_scan` (``Y`` (n, m) latents, ``X`` (n, t) traits,
        ``C`` (n, c) covariates).
    n_perm : number of permutation replicates (the paper: 1,000).
    seed : seed of ``numpy.random.default_rng``; the same seed gives the same result.
    permutations : optional ``(n_perm, n)`` integer array of row permutations to use instead of
        drawing them (for checks against another implementation).
    batch_columns : permuted trait columns per matrix product (memory: ``n * batch_columns``).
    return_null : also return the ``(n_perm,)`` replicate maxima of ``|t|``.
    threads : BLAS threads during the call (default 1; None leaves the process setting). The
        per-replicate product is large, so more threads help on an idle many-core machine.

    Returns
    -------
    The :func:`ols_scan` table with an extra column ``p_maxT`` (NaN where ``status != ok``); with
    ``return_null`` a tuple ``(table, null_max_abs_t)``. The permutation scheme is described in
    the module docstring. Work: one product ``(n, m) x (n, t)`` per replicate.
    """
    Y, y_names = as_matrix(Y, "responses (Y)", y_names, prefix="Y")
    n = Y.shape[0]
    X, x_names = as_matrix(X, "traits (X)", x_names, n=n, prefix="X")
    C, c_names = as_matrix(C, "covariates (C)", c_names, n=n, prefix="C", allow_none=True)
    perms = None
    if permutations is not None:
        perms = np.asarray(permutations)
        if perms.ndim != 2 or perms.shape[1] != n or not np.issubdtype(perms.dtype, np.integer):
            raise CardiolatentError(f"permutations must be an integer array (n_perm, {n})")
        if perms.size and (perms.min() < 0 or perms.max() >= n):
            raise CardiolatentError("permutations contain row numbers outside 0..n-1")
        n_perm = perms.shape[0]
    if int(n_perm) < 1:
        raise CardiolatentError(f"n_perm must be at least 1, got {n_perm}")
    n_perm = int(n_perm)
    binary = binary_flags(X, binary_x)
    with blas_threads(threads):
        table, scan, null = _maxT(Y, X, C, intercept, rank_tol, chunk_rows, c_names, y_names,
                                  x_names, binary, n, n_perm, seed, permutations, perms,
                                  batch_columns)
    tobs = np.abs(table["t"].to_numpy())
    srt = np.sort(null)
    count = n_perm - np.searchsorted(srt, tobs, side="left")
    padj = (1.0 + count) / (n_perm + 1.0)
    padj[~(table["status"].to_numpy() == "ok")] = np.nan
    table["p_maxT"] = padj
    return (table, null) if return_null else table


def _maxT(Y, X, C, intercept, rank_tol, chunk_rows, c_names, y_names, x_names, binary, n, n_perm,
          seed, permutations, perms, batch_columns):
    """The scan, its table and the ``(n_perm,)`` replicate maxima of ``|t|``."""
    scan = PreparedScan(Y, X, C, intercept=intercept, rank_tol=rank_tol, chunk_rows=chunk_rows,
                        cache_y=True, c_names=c_names)
    table = scan.table(y_names, x_names, binary)

    # groups with at least one ok test, and their ok masks (|lat| x J)
    live = []
    for g in scan.groups:
        if not (g.lat.size and g.trt.size):
            continue
        okm = scan.ok_tests(g)
        if okm.any():
            in_rows = np.zeros(n, dtype=bool)
            in_rows[g.rows] = True
            pos = np.full(n, -1, dtype=np.intp)
            pos[g.rows] = np.arange(g.n)
            live.append((g, okm, in_rows, pos))

    T = scan.T
    nb = max(1, int(batch_columns) // max(T, 1))
    null = np.zeros(n_perm)
    rng = np.random.default_rng(seed) if permutations is None else None
    # buffer columns, group-major: group g owns nb * J_g columns (replicate-major inside); rows
    # outside a group's rows stay zero for its columns, so one product serves every group
    offs = np.cumsum([0] + [nb * g.trt.size for g, *_ in live])
    buf = np.zeros((scan.nU, int(offs[-1]))) if live else None
    for b0 in range(0, n_perm if live else 0, nb):
        bs = min(nb, n_perm - b0)
        pb = [perms[b0 + k] if permutations is not None else rng.permutation(n) for k in range(bs)]
        xtx_all = []
        for (g, okm, in_rows, pos), off in zip(live, offs):
            J = g.trt.size
            xp = np.empty((g.n, bs * J))
            for k, perm in enumerate(pb):
                xp[:, k * J:(k + 1) * J] = g.xt[_induced(perm, in_rows, pos)]
            residualise(g.Q, xp, twice=False, out=xp)
            xtx_all.append(np.einsum("ij,ij->j", xp, xp).reshape(bs, J))
            buf[g.posU, off:off + bs * J] = xp
        prod = scan.Yc.T @ buf  # (m, all columns)
        mx = np.zeros(bs)
        for (g, okm, in_rows, pos), off, xtx in zip(live, offs, xtx_all):
            J = g.trt.size
            xty = prod[g.lat, off:off + bs * J].reshape(g.lat.size, bs, J)
            with np.errstate(invalid="ignore", divide="ignore"):
                rss = np.maximum(g.rss0[:, None, None] - xty * xty / xtx, 0.0)
                tabs = np.abs(xty) / np.sqrt(rss * xtx / g.df)
            tabs = np.where(okm[:, None, :] & np.isfinite(tabs), tabs, 0.0)
            np.maximum(mx, tabs.max(axis=(0, 2)), out=mx)
        null[b0:b0 + bs] = mx

    return table, scan, null
