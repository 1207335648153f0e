"""Vectorised GWAS scan: OLS of every phenotype on every genotype dosage with covariates, with
PLINK 2 ``--glm``'s per-variant rules (its error codes, its collinearity checks, its sample sets).

:class:`DosageScanner` fits, for every phenotype ``i`` and variant ``j``,
``Y[:, i] ~ 1 + C + G[:, j]`` on the rows where ``Y[:, i]``, every covariate and ``G[:, j]`` are
observed, and reports the ``G[:, j]`` term (``beta, se, t, p``, the rows used and PLINK 2's
``ERRCODE``), as ``plink2 --glm hide-covar`` does for a quantitative phenotype.

How (Frisch-Waugh-Lovell): phenotypes are grouped by the rows ``R`` where they and every
covariate are observed (latents: usually one group). Per group, with ``Q`` an orthonormal basis of
``[1, C]`` on ``R``, the phenotypes and the centred dosages (a missing call set to the variant's
mean of the called rows) are residualised once, ``y~ = y - QQ'y``, ``x~ = x - QQ'x``, and
``x~'y~`` for all variants x phenotypes is one matrix product. A variant with missing calls ``M``
is fitted on ``R \\ M``, which is the same as fitting on ``R`` with one indicator column per
dropped row (each indicator absorbs its row). Residualising the indicators on ``Q`` gives the
exact low-rank downdate (Woodbury): with ``S = I - Q_M Q_M'`` (``|M| x |M|``),

    x~'x~  ->  x~'x~ - x~_M' S^-1 x~_M,   x~'y~  ->  x~'y~ - x~_M' S^-1 y~_M,
    y~'y~  ->  y~'y~ - y~_M' S^-1 y~_M,

batched over the variants with the same ``|M|`` (variants with more than ``direct_above`` missing
calls are refitted directly on their rows). Then ``beta = x~'y~ / x~'x~``,
``RSS = y~'y~ - beta x~'y~``, ``df = n - (k + 2)`` (intercept, ``k`` covariates, the dosage),
``se = sqrt(RSS / df / x~'x~)``, ``t = beta / se``, ``p = 2 P(T_df > |t|)``.

PLINK 2's rules (``plink2 --glm``, checked against PLINK v2.00a3.5), per variant and phenotype
group, in its order:

- ``SAMPLE_CT<=PREDICTOR_CT``: no more rows than predictors (``n <= k + 2``);
- ``CONST_OMITTED_ALLELE``: the dosage is constant on the rows used;
- ``CORR_TOO_HIGH``: two predictors (dosage and covariates, intercept excluded) correlate with
  ``|r| > max_corr`` (default 0.999) on the rows used;
- ``VIF_INFINITE``: their correlation matrix is singular; ``VIF_TOO_HIGH``: a variance inflation
  factor (a diagonal element of its inverse) above ``vif`` (default 50);
- ``INVALID_RESULT``: the fit gave a non-finite number (not expected).

A row with an error has NaN statistics (PLINK 2 writes ``NA``) and its ``n``. Covariates constant
on a group's rows are left out of that group's model (PLINK 2 excludes a constant covariate);
:attr:`DosageScanner.dropped` lists them. ``mlog10p`` is ``-log10 p``, computed in log space where
``p`` underflows (``|t|`` beyond about 38 at large ``df``), so the strongest signals keep their size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats._inputs import as_matrix, basis, blas_threads, covariate_rows, residualise, unique_columns

__all__ = ["DosageScanner", "DosageScan", "dosage_scan", "GLM_ERRCODES", "t_test_mlog10p"]

#: PLINK 2 --glm error codes, by the code stored in :attr:`DosageScan.err` ("" = none; PLINK 2 writes ".")
GLM_ERRCODES = ("", "SAMPLE_CT<=PREDICTOR_CT", "CONST_OMITTED_ALLELE", "CORR_TOO_HIGH", "VIF_INFINITE",
                "VIF_TOO_HIGH", "INVALID_RESULT")
_OK, _FEW, _CONST, _CORR, _VIF_INF, _VIF_HIGH, _INVALID = range(7)
_EPS = np.finfo(float).eps


# --------------------------------------------------------------------------------------------
# p-values in log space
# --------------------------------------------------------------------------------------------

def t_test_mlog10p(t, df) -> np.ndarray:
    """``-log10`` of the two-sided Student-t p-value ``2 P(T_df > |t|)``, without underflow.

    ``p = I_x(df/2, 1/2)`` (regularised incomplete beta) with ``x = df / (df + t^2)``; where ``p``
    would underflow (below 1e-300) it is evaluated in log space as
    ``x^a (1-x)^b / (a B(a, b))`` times the incomplete beta's continued fraction (modified Lentz;
    it converges fast there, since such an ``x`` is far below ``(a + 1) / (a + b + 2)``).
    NaN where ``t`` or ``df`` is NaN.
    """
    t = np.abs(np.asarray(t, dtype=float))
    df = np.broadcast_to(np.asarray(df, dtype=float), t.shape)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        p = 2.0 * special.stdtr(df, -t)
        out = -np.log10(p)
    tiny = np.isfinite(t) & (df > 0) & ~(p >= 1e-300)
    if tiny.any():
        tt, dd = t[tiny], df[tiny]
        a, b = dd / 2.0, 0.5
        u = 2.0 * np.log(tt) - np.log(dd)                    # log(t^2 / df), no overflow
        ln_x = -np.logaddexp(0.0, u)                         # log(df / (df + t^2))
        ln_1mx = -np.logaddexp(0.0, -u)                      # log(t^2 / (df + t^2))
        ln_p = a * ln_x + b * ln_1mx - np.log(a) - special.betaln(a, b) + np.log(_beta_cf(a, b, np.exp(ln_x)))
        out[tiny] = -ln_p / np.log(10.0)
    return out


def _beta_cf(a, b, x, max_iter: int = 100000) -> np.ndarray:
    """The continued fraction of the incomplete beta function (Numerical Recipes ``betacf``, modified
    Lentz), vectorised: ``I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * betacf``."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
            c = 1.0 + aa / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            step = d * c
            h = h * step
        if np.all(np.abs(step - 1.0) < 1e-16):
            break
    return h


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------

@dataclass
class DosageScan:
    """Arrays ``(variants, phenotypes)`` of a :class:`DosageScanner` scan (variant-major).

    ``n``: rows used (PLINK 2's ``OBS_CT``); ``beta, se, t, p, mlog10p``: the dosage term (NaN where
    ``err`` is not 0); ``err``: index into :data:`GLM_ERRCODES`.
    """

    n: np.ndarray
    beta: np.ndarray
    se: np.ndarray
    t: np.ndarray
    p: np.ndarray
    mlog10p: np.ndarray
    err: np.ndarray

    def errcode(self) -> np.ndarray:
        """PLINK 2's ``ERRCODE`` text per cell (``.`` for none)."""
        names = np.array(["."] + list(GLM_ERRCODES[1:]), dtype=object)
        return names[self.err]

    def table(self, y_names=None, x_names=None) -> pd.DataFrame:
        """Tidy table, one row per (phenotype, variant), phenotype-major:
        ``phenotype, variant, n, beta, se, t, p, mlog10p, errcode``."""
        V, P = self.n.shape
        y_names = [f"Y{i}" for i in range(P)] if y_names is None else list(y_names)
        x_names = [f"G{j}" for j in range(V)] if x_names is None else list(x_names)
        return pd.DataFrame({
            "phenotype": np.repeat(np.asarray(y_names, dtype=object), V),
            "variant": np.tile(np.asarray(x_names, dtype=object), P),
            "n": self.n.T.ravel(), "beta": self.beta.T.ravel(), "se": self.se.T.ravel(),
            "t": self.t.T.ravel(), "p": self.p.T.ravel(), "mlog10p": self.mlog10p.T.ravel(),
            "errcode": self.errcode().T.ravel(),
        })


@dataclass
class _Group:
    """Phenotypes observed on the same rows (with every covariate)."""

    rows: np.ndarray      # row indices (ascending)
    cols: np.ndarray      # phenotype indices
    Z: np.ndarray         # (nR, k) kept covariates, centred and scaled on rows
    B: np.ndarray         # (nR, 1 + k) [1, Z]
    Q: np.ndarray         # (nR, r) orthonormal basis of B
    Yt: np.ndarray        # (nR, P_g) residualised phenotypes
    yy: np.ndarray        # (P_g,) y~'y~
    ZtZ: np.ndarray       # (k, k)
    zsum: np.ndarray      # (k,) column sums of Z (zero up to rounding)
    kept: np.ndarray      # indices of the covariates in the model
    Ainv: np.ndarray      # (k, k) inverse of ZtZ (None when the covariates are collinear)
    rho_max: float        # largest |correlation| between two covariates on rows
    base_err: int         # an error every variant has (covariates correlated / collinear), else 0


# --------------------------------------------------------------------------------------------
# the scanner
# --------------------------------------------------------------------------------------------

class DosageScanner:
    """Phenotypes and covariates prepared once; :meth:`scan` takes the dosages a block at a time.

    Parameters
    ----------
    Y : (n, P) phenotypes, NaN = missing (arrays or DataFrames).
    C : (n, k) numeric covariates (dummy-coded), NaN = missing; a row with a missing covariate is
        used for no phenotype. ``None``: no covariates (intercept only).
    max_corr, vif : PLINK 2's ``--max-corr`` (0.999) and ``--vif`` (50) thresholds.
    direct_above : variants with more missing calls than this (in a group's rows) are refitted
        directly on their rows instead of by the low-rank downdate.
    threads : BLAS threads during :meth:`scan` (``None``: unchanged; see ``stats.ols_scan``).
    """

    def __init__(self, Y, C=None, *, y_names=None, c_names=None, max_corr: float = 0.999,
                 vif: float = 50.0, direct_above: int = 64, threads: int | None = 1):
        Y, self.y_names = as_matrix(Y, "phenotypes (Y)", y_names, prefix="Y")
        n = Y.shape[0]
        C, self.c_names = as_matrix(C, "covariates (C)", c_names, n=n, prefix="C", allow_none=True)
        if not 0 < max_corr <= 1:
            raise CardiolatentError(f"max_corr must be in (0, 1], got {max_corr}")
        if not vif > 1:
            raise CardiolatentError(f"vif must be above 1, got {vif}")
        self.n, self.P = n, Y.shape[1]
        self.max_corr, self.vif = float(max_corr), float(vif)
        self.direct_above = max(0, int(direct_above))
        self.threads = threads
        cmask = covariate_rows(C, self.c_names, n)
        ok = ~np.isnan(Y) & cmask[:, None]
        pats, inv = unique_columns(ok)
        #: covariate names left out of a group's model because they are constant on its rows
        self.dropped: dict[str, list[str]] = {}
        self.groups: list[_Group] = []
        with blas_threads(threads):
            for g in range(pats.shape[1]):
                self.groups.append(self._group(Y, C, np.flatnonzero(pats[:, g]), np.flatnonzero(inv == g)))
        #: per phenotype: the rows with it and every covariate (before a variant's missing calls)
        self.n_rows = {self.y_names[i]: int(g.rows.size) for g in self.groups for i in g.cols}
        #: per phenotype whose covariates alone fail PLINK 2's check on its rows: the error every variant gets
        self.covariate_errors = {self.y_names[i]: GLM_ERRCODES[g.base_err] for g in self.groups for i in g.cols
                                 if g.base_err}

    def _group(self, Y, C, rows, cols) -> _Group:
        nR = rows.size
        if C is None or C.shape[1] == 0:
            Z = np.zeros((nR, 0))
            kept = np.zeros(0, dtype=np.intp)
        else:
            Cg = C[rows]
            const = np.ptp(Cg, axis=0) == 0 if nR else np.ones(C.shape[1], dtype=bool)
            kept = np.flatnonzero(~const)
            if const.any():
                for i in cols:
                    self.dropped[self.y_names[i]] = [self.c_names[c] for c in np.flatnonzero(const)]
            Z = Cg[:, kept]
            if nR:
                Z = Z - Z.mean(axis=0)
                sd = np.sqrt(np.einsum("ij,ij->j", Z, Z) / max(nR - 1, 1))
                Z = Z / np.where(sd > 0, sd, 1.0)
        B = np.hstack([np.ones((nR, 1)), Z])
        Q, _, _, _ = basis(B)
        Yg = Y[np.ix_(rows, cols)]
        if nR:
            Yg = Yg - Yg.mean(axis=0)
        Yt = residualise(Q, Yg, out=Yg)
        ZtZ = Z.T @ Z
        k = Z.shape[1]
        rho_max, base_err, Ainv = 0.0, _OK, None
        if k:
            d = np.sqrt(np.diag(ZtZ))
            rho = ZtZ / np.outer(d, d)
            off = np.abs(rho - np.diag(np.diag(rho)))
            rho_max = float(off.max())
            lam = np.linalg.eigvalsh(rho)
            if rho_max > self.max_corr:
                base_err = _CORR
            elif not lam[0] > (k + 1) * 64 * _EPS * lam[-1]:
                base_err = _VIF_INF
            else:
                Ainv = np.linalg.inv(ZtZ)
        return _Group(rows=rows, cols=cols, Z=Z, B=B, Q=Q, Yt=Yt, yy=np.einsum("ij,ij->j", Yt, Yt),
                      ZtZ=ZtZ, zsum=Z.sum(axis=0), kept=kept, Ainv=Ainv, rho_max=rho_max, base_err=base_err)

    # ------------------------------------------------------------------
    def scan(self, G) -> DosageScan:
        """Fit every phenotype on every column of ``G`` ((n, V) dosages: float with NaN missing, or
        integer with negative = missing, e.g. PLINK 1 A1 counts with -1)."""
        G = np.asarray(G)
        if G.ndim != 2 or G.shape[0] != self.n:
            raise CardiolatentError(f"dosages (G): expected shape ({self.n}, variants), got {G.shape}")
        V, P = G.shape[1], self.P
        out = DosageScan(n=np.zeros((V, P), dtype=np.int64), beta=np.full((V, P), np.nan),
                         se=np.full((V, P), np.nan), t=np.full((V, P), np.nan), p=np.full((V, P), np.nan),
                         mlog10p=np.full((V, P), np.nan), err=np.zeros((V, P), dtype=np.int8))
        with blas_threads(self.threads):
            for grp in self.groups:
                self._scan_group(grp, G, out)
        return out

    def _scan_group(self, grp: _Group, G, out: DosageScan) -> None:
        rows, cols = grp.rows, grp.cols
        nR, k = rows.size, grp.Z.shape[1]
        V = G.shape[1]
        Gr = G[rows]
        if np.issubdtype(Gr.dtype, np.integer):
            miss = Gr < 0
            X = Gr.astype(np.float64)
        else:
            X = np.array(Gr, dtype=np.float64)
            miss = np.isnan(X)
        m = miss.sum(axis=0)
        ncall = nR - m
        X[miss] = 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = X.sum(axis=0) / np.maximum(ncall, 1)
            hi = np.where(miss, -np.inf, X).max(axis=0) if nR else np.zeros(V)
            lo = np.where(miss, np.inf, X).min(axis=0) if nR else np.zeros(V)
        X -= mean
        X[miss] = 0.0                                   # centred on the called rows, 0 where missing
        npred = k + 2
        err = np.zeros(V, dtype=np.int8)
        err[ncall <= npred] = _FEW
        err[(err == _OK) & ~(hi > lo)] = _CONST
        # -- PLINK 2's correlation / VIF checks on the rows used --------------------------------
        cand = np.flatnonzero(err == _OK)
        if cand.size and k:
            err[cand] = self._collinearity(grp, X[:, cand], miss[:, cand], ncall[cand])
        # -- the fits ----------------------------------------------------------------------------
        Xt = residualise(grp.Q, X)
        xx = np.einsum("ij,ij->j", Xt, Xt)
        xy = Xt.T @ grp.Yt                              # (V, P_g)
        yy = np.broadcast_to(grp.yy, xy.shape).copy()
        fit = err == _OK
        self._downdate(grp, Xt, miss, m, fit, xx, xy, yy)
        direct = np.flatnonzero(fit & (m > self.direct_above))
        for j in direct:
            xx[j], xy[j], yy[j] = self._direct(grp, X[:, j], miss[:, j])
        df = (ncall - npred).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = xy / xx[:, None]
            rss = np.maximum(yy - beta * xy, 0.0)
            se = np.sqrt(rss / df[:, None] / xx[:, None])
            tval = beta / se
            p = 2.0 * special.stdtr(df[:, None], -np.abs(tval))
        mlp = t_test_mlog10p(tval, df[:, None])
        errs = np.broadcast_to(err[:, None], beta.shape).copy()
        bad_num = (errs == _OK) & ~(np.isfinite(beta) & np.isfinite(se) & np.isfinite(p))
        errs[bad_num] = _INVALID
        bad = errs != _OK
        for a in (beta, se, tval, p, mlp):
            a[bad] = np.nan
        out.n[:, cols] = ncall[:, None]
        out.beta[:, cols], out.se[:, cols], out.t[:, cols] = beta, se, tval
        out.p[:, cols], out.mlog10p[:, cols], out.err[:, cols] = p, mlp, errs

    # ------------------------------------------------------------------
    def _collinearity(self, grp: _Group, X, miss, ncall) -> np.ndarray:
        """PLINK 2's CheckMaxCorrAndVif on ``[dosage, covariates]`` over each variant's rows.

        With ``A = Z'Z`` (covariates' scatter on the group's rows) inverted once, a variant's
        scatter on its own rows is ``A - U'U`` (``U``: its missing rows and the shift of the mean,
        ``|M| + 1`` rows), inverted by Woodbury; the dosage enters as a bordered row
        (``VIF_dosage = v / (v - s'S^-1 s)``, ``VIF_c = S_cc ((S^-1)_cc + w_c^2 / (v - s'S^-1 s))``
        with ``w = S^-1 s``). Covariate pairs are re-checked on a variant's rows only when a bound
        on how much its dropped rows can move their correlation says they might pass ``max_corr``.
        """
        V = X.shape[1]
        err = np.zeros(V, dtype=np.int8)
        if grp.base_err in (_CORR, _VIF_INF):
            err[:] = grp.base_err
            return err
        Z, Ainv = grp.Z, grp.Ainv
        diagA, diagAinv = np.diag(grp.ZtZ), np.diag(Ainv)
        m = miss.sum(axis=0)
        v = np.einsum("ij,ij->j", X, X)
        sig = X.T @ Z                                   # (V, k): missing rows of X are 0
        sA = sig @ Ainv
        j0 = np.flatnonzero(m == 0)
        if j0.size:
            err[j0] = self._vif_codes(v[j0], sig[j0], np.broadcast_to(diagA, (j0.size, diagA.size)), sA[j0],
                                      np.broadcast_to(diagAinv, (j0.size, diagA.size)),
                                      np.zeros(j0.size, dtype=bool), np.zeros(j0.size, dtype=bool))
        low = (m > 0) & (m <= self.direct_above)
        for mm in np.unique(m[low]):
            for J in np.array_split(np.flatnonzero(low & (m == mm)), max(1, int(np.sum(low & (m == mm)) // 512))):
                err[J] = self._woodbury_codes(grp, X, miss, ncall, J, int(mm), v, sig, sA, diagA, diagAinv)
        for j in np.flatnonzero(m > self.direct_above):
            err[j] = self._full_codes(grp, X[:, j], miss[:, j], ncall[j])
        return err

    def _vif_codes(self, v, sig, diagS, w, diagSinv, sing, pair_corr) -> np.ndarray:
        """Error codes from the bordered inverse: ``v`` dosage scatter, ``sig`` its scatter with the
        covariates, ``diagS`` / ``diagSinv`` the covariates' scatter / inverse-scatter diagonals,
        ``w = S^-1 sig``, ``sing`` covariates singular, ``pair_corr`` a covariate pair above max_corr."""
        err = np.zeros(v.size, dtype=np.int8)
        with np.errstate(invalid="ignore", divide="ignore"):
            flat = ~(diagS > 0).all(axis=1)
            corr_g = np.abs(sig) / np.sqrt(v[:, None] * np.where(diagS > 0, diagS, np.nan))
            q = np.einsum("ij,ij->i", sig, w)
            resid = v - q
            vif_g = v / resid
            vif_c = diagS * (diagSinv + w * w / resid[:, None])
        err[(np.nan_to_num(corr_g) > self.max_corr).any(axis=1) | pair_corr] = _CORR
        inf = flat | sing | ~(resid > 1e-9 * v)
        err[(err == _OK) & inf] = _VIF_INF
        high = (vif_g > self.vif) | (vif_c > self.vif).any(axis=1)
        err[(err == _OK) & high] = _VIF_HIGH
        return err

    def _woodbury_codes(self, grp: _Group, X, miss, ncall, J, mm, v, sig, sA, diagA, diagAinv) -> np.ndarray:
        Z, Ainv, k = grp.Z, grp.Ainv, grp.Z.shape[1]
        _, ri = np.nonzero(miss[:, J].T)
        ZM = Z[ri.reshape(J.size, mm)]                  # (J, mm, k)
        s = grp.zsum - ZM.sum(axis=1)                   # covariate sums over the variant's rows
        U = np.concatenate([ZM, (s / np.sqrt(ncall[J].astype(float))[:, None])[:, None, :]], axis=1)   # (J, mm+1, k)
        H = U @ Ainv                                    # rows of U A^-1
        K = np.eye(mm + 1) - H @ U.transpose(0, 2, 1)
        lam = np.linalg.eigvalsh(K)
        sing = ~(lam[:, 0] > 1e-9)
        Kinv = np.zeros_like(K)
        if (~sing).any():
            Kinv[~sing] = np.linalg.inv(K[~sing])
        D = np.einsum("jak,jak->jk", U, U)              # the dropped part of each covariate's scatter
        diagS = diagA - D
        diagSinv = diagAinv + np.einsum("jak,jab,jbk->jk", H, Kinv, H)
        Hs = np.einsum("jak,jk->ja", H, sig[J])
        w = sA[J] + np.einsum("jak,jab,jb->jk", H, Kinv, Hs)
        # covariate pairs: |r_j| <= (r_max + f_max) / (1 - f_max), f = dropped share of a scatter
        with np.errstate(invalid="ignore", divide="ignore"):
            fmax = (D / diagA).max(axis=1) if k else np.zeros(J.size)
            bound = (grp.rho_max + fmax) / (1.0 - fmax)
        pair = np.zeros(J.size, dtype=bool)
        idx = np.arange(k)
        for i in np.flatnonzero(~(bound <= self.max_corr) & (fmax < 1)):
            S = grp.ZtZ - U[i].T @ U[i]
            d = np.sqrt(np.maximum(np.diag(S), 0.0))
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.abs(S / np.outer(d, d))
            r[idx, idx] = 0.0
            pair[i] = bool((np.nan_to_num(r) > self.max_corr).any())
        return self._vif_codes(v[J], sig[J], diagS, w, diagSinv, sing, pair)

    def _full_codes(self, grp: _Group, x, miss_j, n_j) -> int:
        """The check on one variant's rows directly (many missing calls)."""
        use = ~miss_j
        P = np.hstack([x[use][:, None], grp.Z[use]])
        P = P - P.mean(axis=0)
        S = P.T @ P
        d = np.diag(S)
        if not (d > 0).all():
            return _VIF_INF
        r = S / np.sqrt(np.outer(d, d))
        off = np.abs(r - np.diag(np.diag(r)))
        if (off > self.max_corr).any():
            return _CORR
        lam = np.linalg.eigvalsh(r)
        if not lam[0] > (r.shape[0]) * 64 * _EPS * lam[-1]:
            return _VIF_INF
        return _VIF_HIGH if (np.diag(np.linalg.inv(r)) > self.vif).any() else _OK

    def _downdate(self, grp: _Group, Xt, miss, m, fit, xx, xy, yy) -> None:
        """Low-rank (Woodbury) downdate of ``x~'x~, x~'y~, y~'y~`` for the dropped rows, batched
        over the variants with the same number of missing calls."""
        Q, Yt = grp.Q, grp.Yt
        todo = fit & (m > 0) & (m <= self.direct_above)
        for mm in np.unique(m[todo]):
            J = np.flatnonzero(todo & (m == mm))
            vi, ri = np.nonzero(miss[:, J].T)
            R = ri.reshape(J.size, mm)                  # the missing rows of each variant, ascending
            QM = Q[R]                                   # (J, mm, r)
            S = np.eye(mm) - QM @ QM.transpose(0, 2, 1)
            XM = Xt[R, J[:, None]]                      # (J, mm)
            YM = Yt[R]                                  # (J, mm, P_g)
            rhs = np.concatenate([XM[:, :, None], YM], axis=2)
            try:
                sol = np.linalg.solve(S, rhs)
            except np.linalg.LinAlgError:
                sol = np.stack([np.linalg.lstsq(S[i], rhs[i], rcond=None)[0] for i in range(J.size)])
            xx[J] -= np.einsum("jm,jm->j", XM, sol[:, :, 0])
            xy[J] -= np.einsum("jm,jmp->jp", XM, sol[:, :, 1:])
            yy[J] -= np.einsum("jmp,jmp->jp", YM, sol[:, :, 1:])

    def _direct(self, grp: _Group, x, miss_j):
        """``x~'x~, x~'y~, y~'y~`` of one variant refitted on its called rows."""
        use = ~miss_j
        Qj, _, _, _ = basis(grp.B[use])
        Yj = grp.Yt[use]                                # y~ differs from y by a combination of B: the
        Yj = residualise(Qj, Yj)                        # residual on B[use] is the same
        xj = residualise(Qj, x[use][:, None])[:, 0]
        return xj @ xj, xj @ Yj, np.einsum("ij,ij->j", Yj, Yj)


def dosage_scan(Y, G, C=None, **kwargs) -> DosageScan:
    """One call: ``DosageScanner(Y, C, **kwargs).scan(G)`` (see :class:`DosageScanner`)."""
    return DosageScanner(Y, C, **kwargs).scan(G)
