"""Vectorised logistic regression scan: every binary outcome against every predictor (latent).

:func:`logistic_scan` fits, for every outcome ``k`` and latent ``i``, the logistic model
``logit P(D[:, k] = 1) = 1 + Z[:, i] + C`` by maximum likelihood on the complete cases of that pair
and reports the ``Z[:, i]`` term (log odds ratio per unit of the latent, Wald SE from the observed
information at the maximum, normal-based P). It gives the numbers of one ``statsmodels.Logit`` fit
per model, but fits all latents of one outcome (and missingness pattern) together.

How: Newton-Raphson (= IRLS for the logit link), batched over latents. The covariates enter
through an orthonormal basis ``Q`` of ``[1, C]`` on the rows used (pivoted QR; collinear or constant
columns dropped as in :mod:`cardiolatent.stats.ols`), scaled to unit mean square; each latent is
residualised on ``Q`` and scaled to unit mean square. This reparametrisation leaves the latent's
coefficient (after undoing its scale) and its Wald SE unchanged, and keeps every model's
information matrix well conditioned. Each iteration builds all ``(m, p, p)`` information matrices
with matrix products (the ``Q'WQ`` blocks as one product of the weights with the ``p(p+1)/2``
distinct column products of ``Q``), solves them in one batched call, and continues only the models
not yet converged. All models start from the covariate-only fit with the latent's coefficient 0.

Convergence: every parameter changed by less than ``tol`` in the last step (in the scaled
parametrisation), as statsmodels' Newton (``tol=1e-8``). The estimate is the iterate after that
step and the SE comes from the information matrix at that estimate, as in statsmodels (one more
evaluation, skipped when the last step was below 1e-12). Steps longer than 10 (in units of the
scaled parameters) are shortened to 10, which only matters far from the optimum. ``iterations``
counts Newton steps.
The sums over participants are done in blocks of ``chunk_rows`` rows so the working arrays stay
in cache; the cost is dominated by one ``exp`` per participant, model and step.

Status per model:

- ``ok``: converged;
- ``separation``: the outcome has one level only among the rows used (0 cases or 0 controls), or
  the fit did not converge while fitted probabilities reached 0 or 1 (``|eta| > 23``) or the
  information matrix became singular: complete or quasi-complete separation, the maximum
  likelihood estimate does not exist;
- ``no_convergence``: not converged in ``max_iter`` steps for another reason;
- ``too_few_cases``: fewer complete cases than parameters (``n <= p``) or fewer than ``min_cases``
  cases (1s);
- ``constant_predictor``: the latent is constant (or collinear with the covariates) in the rows used.

Rows of a non-``ok`` model have NaN estimates; ``converged`` and ``iterations`` are still filled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats._inputs import (as_matrix, basis, blas_threads, covariate_block, covariate_rows,
                                        residualise, unique_columns)

__all__ = ["logistic_scan"]

_STATUS = np.array(["ok", "no_convergence", "separation", "too_few_cases", "constant_predictor"],
                   dtype=object)
_OK, _NOCONV, _SEP, _FEW, _CONST = range(5)
_MAX_STEP = 10.0
_ETA_EXTREME = 23.0  # |eta| beyond this: fitted probability within 1e-10 of 0 or 1
_QQ_BYTES = 256 * 2**20
_SE_EXACT = 1e-12  # last step below this: the information before it is the one at the estimate


def _null_fit(Qs: np.ndarray, y: np.ndarray, max_iter: int, tol: float):
    """Covariate-only logistic fit on the scaled basis ``Qs`` (n, r); returns (params, converged)."""
    r = Qs.shape[1]
    g = np.zeros(r)
    if r == 0:
        return g, True
    for _ in range(max_iter):
        mu = special.expit(Qs @ g)
        w = mu * (1.0 - mu)
        H = (Qs * w[:, None]).T @ Qs
        score = Qs.T @ (y - mu)
        try:
            step = np.linalg.solve(H, score)
        except np.linalg.LinAlgError:
            return np.zeros(r), False
        big = np.abs(step).max()
        if not np.isfinite(big):
            return np.zeros(r), False
        if big > _MAX_STEP:
            step *= _MAX_STEP / big
        g = g + step
        if big < tol:
            return g, True
    return g, False


class _QQ:
    """The ``r(r+1)/2`` distinct products of the columns of ``Qs``, for ``Q'WQ`` by one product."""

    def __init__(self, Qs: np.ndarray):
        n, r = Qs.shape
        self.Qs, self.r = Qs, r
        self.iu, self.ju = np.triu_indices(r)
        self.full = None
        if n * self.iu.size * 8 <= _QQ_BYTES:
            self.full = Qs[:, self.iu] * Qs[:, self.ju]

    def block(self, s: int, e: int) -> np.ndarray:
        if self.full is not None:
            return self.full[s:e]
        blk = self.Qs[s:e]
        return blk[:, self.iu] * blk[:, self.ju]

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        """(m, r(r+1)/2) -> (m, r, r) symmetric."""
        out = np.empty((packed.shape[0], self.r, self.r))
        out[:, self.iu, self.ju] = packed
        out[:, self.ju, self.iu] = packed
        return out


def _batched_solve(H: np.ndarray, rhs: np.ndarray):
    """Solve ``H[k] x = rhs[k]`` for a stack; singular systems give NaN (and ok False)."""
    try:
        return np.linalg.solve(H, rhs), np.ones(H.shape[0], dtype=bool)
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        ok = np.zeros(H.shape[0], dtype=bool)
        for k in range(H.shape[0]):
            try:
                out[k] = np.linalg.solve(H[k], rhs[k])
                ok[k] = True
            except np.linalg.LinAlgError:
                pass
        return out, ok


def _evaluate(y, Qs, U, theta, active, qq: _QQ, block: int):
    """Score (ma, p), information (ma, p, p) and max |eta| (ma,) of the active models at ``theta``.

    Works through the rows in blocks of ``block`` so that the (block, ma) working arrays stay in
    cache: the cost is the ``exp`` of every linear predictor plus three small matrix products.
    """
    n, r = Qs.shape
    ma = active.size
    p = r + 1
    G = np.ascontiguousarray(theta[:, :r].T)
    b = theta[:, r]
    all_active = ma == U.shape[1]
    HQQ = np.zeros((ma, qq.iu.size))
    HQU = np.zeros((ma, r))
    HUU = np.zeros(ma)
    gQ = np.zeros((ma, r))
    gU = np.zeros(ma)
    etamax = np.zeros(ma)
    for s in range(0, n, block):
        e = min(n, s + block)
        Qb = Qs[s:e]
        Ub = U[s:e] if all_active else U[s:e, active]
        eta = Qb @ G if r else np.zeros((e - s, ma))
        eta += Ub * b
        np.maximum(etamax, np.abs(eta).max(axis=0), out=etamax)
        mu = special.expit(eta, out=eta)
        resid = y[s:e, None] - mu
        w = np.subtract(1.0, mu)
        w *= mu
        gU += np.einsum("ij,ij->j", resid, Ub)
        wu = w * Ub
        HUU += np.einsum("ij,ij->j", wu, Ub)
        if r:
            gQ += resid.T @ Qb
            HQU += wu.T @ Qb
            HQQ += w.T @ qq.block(s, e)
    H = np.empty((ma, p, p))
    if r:
        H[:, :r, :r] = qq.unpack(HQQ)
        H[:, :r, r] = HQU
        H[:, r, :r] = HQU
    H[:, r, r] = HUU
    score = np.empty((ma, p))
    score[:, :r] = gQ
    score[:, r] = gU
    return score, H, etamax


def _evaluate_start(y, Qs, U, gamma0, qq: _QQ):
    """:func:`_evaluate` at the common start ``(gamma0, b=0)``: every model has the same linear
    predictor there, so no per-model ``exp`` and one shared ``Q'WQ``."""
    n, r = Qs.shape
    m = U.shape[1]
    p = r + 1
    eta = Qs @ gamma0 if r else np.zeros(n)
    mu = special.expit(eta)
    w = mu * (1.0 - mu)
    resid = y - mu
    H = np.empty((m, p, p))
    if r:
        H[:, :r, :r] = (Qs * w[:, None]).T @ Qs
        HQU = U.T @ (Qs * w[:, None])
        H[:, :r, r] = HQU
        H[:, r, :r] = HQU
    H[:, r, r] = (w @ (U * U)) if n else 0.0
    score = np.empty((m, p))
    score[:, :r] = Qs.T @ resid if r else 0.0
    score[:, r] = resid @ U
    etamax = np.full(m, np.abs(eta).max() if n else 0.0)
    return score, H, etamax


def _fit_group(y, Qs, U, gamma0, max_iter, tol, qq: _QQ, block: int):
    """Batched Newton for ``logit P(y=1) = Qs g_k + U[:, k] b_k`` for every column ``k`` of ``U``.

    y: (n,) 0/1; Qs: (n, r) scaled covariate basis; U: (n, m) scaled residualised predictors.
    A model converges when its Newton step is below ``tol`` in every parameter; its estimate is
    the iterate after that step and its variance the inverse information at that estimate (one
    more evaluation, skipped when the last step was below 1e-12, where the information at the
    previous iterate is the same to that precision). At most ``max_iter`` steps.
    Returns b (m,), var_b (m,), converged (m,), steps (m,), extreme (m,), singular (m,).
    """
    n, r = Qs.shape
    m = U.shape[1]
    p = r + 1
    theta = np.zeros((m, p))
    theta[:, :r] = gamma0
    b = np.full(m, np.nan)
    var_b = np.full(m, np.nan)
    conv = np.zeros(m, dtype=bool)
    final = np.zeros(m, dtype=bool)     # converged, waiting for the information at the estimate
    iters = np.zeros(m, dtype=np.int64)
    extreme = np.zeros(m, dtype=bool)
    singular = np.zeros(m, dtype=bool)
    active = np.arange(m)
    rhs_e = np.zeros((p, 1))
    rhs_e[-1] = 1.0
    for it in range(max_iter + 1):
        if active.size == 0:
            break
        if it == 0:
            score, H, etamax = _evaluate_start(y, Qs, U, gamma0, qq)
        else:
            score, H, etamax = _evaluate(y, Qs, U, theta[active], active, qq, block)
        rhs = np.concatenate([score[:, :, None], np.broadcast_to(rhs_e, (active.size, p, 1))],
                             axis=2)
        sol, solved = _batched_solve(H, rhs)
        step, hinv_last = sol[:, :, 0], sol[:, -1, 1]
        var_ok = solved & np.isfinite(hinv_last) & (hinv_last > 0)
        fin = final[active]
        # converged models: the variance at the estimate (else keep the previous iterate's)
        upd = fin & var_ok
        var_b[active[upd]] = hinv_last[upd]
        # the others take a Newton step
        extreme[active[~fin]] = etamax[~fin] > _ETA_EXTREME
        bad = ~fin & (~solved | ~np.isfinite(step).all(axis=1))
        singular[active[bad]] = True
        good = ~fin & ~bad & (it < max_iter)
        big = np.full(active.size, np.inf)
        big[good] = np.abs(step[good]).max(axis=1)
        shrink = np.minimum(1.0, _MAX_STEP / np.maximum(big[good], 1e-300))
        ga = active[good]
        theta[ga] += step[good] * shrink[:, None]
        iters[ga] += 1
        done = good & (big < tol) & var_ok
        idx = active[done]
        b[idx] = theta[idx, r]
        var_b[idx] = hinv_last[done]
        conv[idx] = True
        again = done & (big > _SE_EXACT)
        final[active[again]] = True
        active = active[(good & ~done) | again]
    return b, var_b, conv, iters, extreme, singular


def logistic_scan(D, Z, C=None, *, d_names=None, z_names=None, c_names=None,
                  intercept: bool = True, max_iter: int = 50, tol: float = 1e-8,
                  min_cases: int = 1, chunk_latents: int = 128, chunk_rows: int = 2048,
                  rank_tol: float | None = None, threads: int | None = 1) -> pd.DataFrame:
    """Logistic regression of every binary outcome on every predictor with covariates, vectorised.

    Parameters
    ----------
    D : (n, d) binary outcomes: 0, 1 or NaN (missing). Arrays or DataFrames (column names used).
    Z : (n, m) predictors (the latents), NaN = missing.
    C : (n, c) covariates, numeric and dummy-coded, NaN = missing (row left out of every model).
    d_names, z_names, c_names : column names (default: DataFrame columns or ``D0.., Z0.., C0..``).
    intercept : add the constant term (default True).
    max_iter : Newton steps at most per model. tol : convergence tolerance on the parameter change.
    min_cases : fewer cases (1s) than this among the rows used gives ``too_few_cases``.
    chunk_latents, chunk_rows : latents fitted together and rows per block of the Newton sums
        (working memory ``n * chunk_latents`` floats plus ``chunk_rows * chunk_latents`` per block).
    rank_tol : rank tolerance for the covariates (see :func:`cardiolatent.stats.ols.ols_scan`).
    threads : BLAS threads during the call (default 1; None leaves the process setting; see
        :func:`cardiolatent.stats.ols.ols_scan`).

    Model, per outcome ``k`` and latent ``i``: ``logit P(D[:, k] = 1) ~ 1 + Z[:, i] + C`` on the
    rows where ``D[:, k]``, ``Z[:, i]`` and all of ``C`` are observed.

    Returns
    -------
    DataFrame, one row per (outcome, latent), outcome-major: ``outcome, latent, beta, se, z, p, n,
    n_cases, converged, iterations, status``. ``beta``: log odds ratio per unit of the latent
    (per SD if the latent is standardised); ``se``: Wald standard error; ``z = beta / se``;
    ``p``: two-sided normal P; ``n``: rows used; ``n_cases``: number of 1s among them.
    """
    Z, z_names = as_matrix(Z, "predictors (Z)", z_names, prefix="Z")
    n = Z.shape[0]
    D, d_names = as_matrix(D, "outcomes (D)", d_names, n=n, prefix="D")
    C, c_names = as_matrix(C, "covariates (C)", c_names, n=n, prefix="C", allow_none=True)
    bad = ~(np.isnan(D) | (D == 0) | (D == 1))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise CardiolatentError(f"outcome {d_names[c]} must be 0, 1 or missing; row {r} has "
                                f"{D[r, c]!r}")
    if max_iter < 1:
        raise CardiolatentError("max_iter must be at least 1")
    d, m = D.shape[1], Z.shape[1]
    cmask = covariate_rows(C, c_names, n)
    B = covariate_block(C, cmask, intercept)
    zpat, zinv = unique_columns(~np.isnan(Z))

    shape = (d, m)
    beta = np.full(shape, np.nan)
    se = np.full(shape, np.nan)
    n_used = np.zeros(shape, dtype=np.int64)
    n_cases = np.zeros(shape, dtype=np.int64)
    conv = np.zeros(shape, dtype=bool)
    iters = np.zeros(shape, dtype=np.int64)
    status = np.full(shape, _FEW, dtype=np.int8)

    with blas_threads(threads):
        _fit_all(D, Z, B, cmask, zpat, zinv, intercept, max_iter, tol, min_cases, chunk_latents,
                 chunk_rows, rank_tol, beta, se, n_used, n_cases, conv, iters, status)
    bad = status != _OK
    beta[bad] = np.nan
    se[bad] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        zval = beta / se
        p = 2.0 * special.ndtr(-np.abs(zval))
    return pd.DataFrame({
        "outcome": np.repeat(np.asarray(d_names, dtype=object), m),
        "latent": np.tile(np.asarray(z_names, dtype=object), d),
        "beta": beta.ravel(), "se": se.ravel(), "z": zval.ravel(), "p": p.ravel(),
        "n": n_used.ravel(), "n_cases": n_cases.ravel(),
        "converged": conv.ravel(), "iterations": iters.ravel(),
        "status": _STATUS[status.ravel()],
    })


def _fit_all(D, Z, B, cmask, zpat, zinv, intercept, max_iter, tol, min_cases, chunk_latents,
             chunk_rows, rank_tol, beta, se, n_used, n_cases, conv, iters, status):
    """Fill the (d, m) result arrays: every outcome x latent-missingness group, in latent chunks."""
    n = Z.shape[0]
    for k in range(D.shape[1]):
        rows_k = cmask & ~np.isnan(D[:, k])
        for q in range(zpat.shape[1]):
            lat = np.flatnonzero(zinv == q)
            rows = np.flatnonzero(rows_k & zpat[:, q])
            nr = rows.size
            y = D[rows, k]
            nc = int(y.sum())
            n_used[k, lat] = nr
            n_cases[k, lat] = nc
            Q, _, sel, _ = basis(B[rows], rank_tol)
            r = sel.size
            if nr <= r + 1:
                status[k, lat] = _FEW
                continue
            if nc == 0 or nc == nr:
                status[k, lat] = _SEP
                continue
            if nc < min_cases:
                status[k, lat] = _FEW
                continue
            Qs = Q * np.sqrt(nr)
            gamma0, _ = _null_fit(Qs, y, max_iter, tol)
            qq = _QQ(Qs)
            all_rows = nr == n
            for s in range(0, lat.size, chunk_latents):
                li = lat[s:s + chunk_latents]
                zg = Z[:, li] if all_rows else Z[np.ix_(rows, li)]
                if intercept:
                    mean = zg.mean(axis=0)
                    zg -= mean
                else:
                    mean = np.zeros(li.size)
                ref = np.sqrt(np.einsum("ij,ij->j", zg, zg) / nr)
                # any z - Q a has the same coefficient as z: one projection is enough here
                residualise(Q, zg, twice=False, out=zg)
                scale = np.sqrt(np.einsum("ij,ij->j", zg, zg) / nr)
                const = ~(scale > 1e-10 * ref) | ~(ref > 1e-10 * np.abs(mean))
                live = np.flatnonzero(~const)
                scale = np.where(const, 1.0, scale)
                zg /= scale
                U = zg if live.size == li.size else np.ascontiguousarray(zg[:, live])
                st = np.full(li.size, _CONST, dtype=np.int8)
                if live.size:
                    bu, vb, cv, itn, ext, sing = _fit_group(y, Qs, U,
                                                            gamma0, max_iter, tol, qq, chunk_rows)
                    sc = scale[live]
                    lk = li[live]
                    beta[k, lk] = bu / sc
                    se[k, lk] = np.sqrt(vb) / sc
                    conv[k, lk] = cv
                    iters[k, lk] = itn
                    stl = np.where(cv, _OK, np.where(ext | sing, _SEP, _NOCONV))
                    st[live] = stl
                status[k, li] = st
