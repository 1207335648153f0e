"""Efron/Breslow log partial likelihood, gradient and information of a batch of Cox models
(:func:`evaluate`), and the batched solve of the Newton systems (:func:`solve`)."""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dgemm

from cardiolatent.stats.cox._risksets import Covariates, RiskSets

__all__ = ["WorkBuffers", "evaluate", "solve"]


class WorkBuffers:
    """Reusable (n, a) float64 buffers (fresh large arrays cost page faults at every evaluation)."""

    def __init__(self, n: int):
        self.n = n
        self.bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, a: int) -> np.ndarray:
        b = self.bufs.get(name)
        if b is None or b.size < self.n * a:
            b = self.bufs[name] = np.empty(self.n * a)
        return b[: self.n * a].reshape(self.n, a)


def evaluate(des: RiskSets, cov: Covariates, Zs: np.ndarray, beta: np.ndarray, extras: bool = False,
              Zs2: np.ndarray | None = None, work: WorkBuffers | None = None):
    """Efron/Breslow log partial likelihood, gradient and information of ``a`` models.

    Zs (n, a): the tested column of each model (sorted rows); beta (a, p), p = 1 + c;
    Zs2: Zs**2 if already at hand; work: reusable buffers. Returns ll (a,), g (a, p),
    I (a, p, p) [, dict of intermediate arrays]. Sums over rows weighted by v_j = w_j H_j
    (H_j: cumulative 1/denominator up to t_j) are taken over the segments between event times,
    where H is constant.
    """
    n, a = Zs.shape
    c = cov.c
    p = 1 + c
    work = work if work is not None and not extras else WorkBuffers(n)
    dr, sg, cf = des.death_rows, des.slot_group, des.slot_c[:, None]
    eta = np.multiply(Zs, beta[:, 0], out=work.get("eta", a))
    if c:  # eta += C gamma' in place (eta.T is Fortran-ordered)
        r = dgemm(1.0, np.ascontiguousarray(beta[:, 1:]), cov.C.T, beta=1.0, c=eta.T, overwrite_c=True)
        if not np.shares_memory(r, eta):  # pragma: no cover - eta is C-ordered, so eta.T is used in place
            eta[...] = r.T
    eta_d = eta[dr]
    shift = eta.max(axis=0)
    eta -= shift
    with np.errstate(over="ignore", under="ignore"):
        w = np.exp(eta, out=eta)
    wz = np.multiply(w, Zs, out=work.get("wz", a))
    SSX = cov.seg_sums(des, w)  # (S, 1 + c, a): w, w C
    SSXz = cov.seg_sums(des, wz)  # w z, w z C
    SSwz = SSXz[:, 0]
    RX = des._from_segments(SSX)  # (K, 1 + c, a) risk-set sums: S0, S1C
    S0 = RX[:, 0]
    S1z = des._from_segments(SSwz)
    wd, zd = w[dr], Zs[dr]
    S0D = des.group_sum(wd)
    S1zD = des.group_sum(wd * zd)
    ts = des.tied
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        den = S0[sg]
        den[ts] -= cf[ts] * S0D[sg[ts]]  # (D, a) Efron denominators
        ll = eta_d.sum(0) - np.log(den).sum(0) - des.D * shift
        inv = 1.0 / den
        h = des.group_sum(inv)
        gk = des.group_sum(cf * inv)
        Hs = des.to_segments(des.cum_groups(h))  # (S, a)
        corr = wd * gk[sg]  # v_j = w_j H_j - corr_j at the deaths
        az = S1z[sg]
        az[ts] -= cf[ts] * S1zD[sg[ts]]
        az *= inv
        g = np.empty((a, p))
        I = np.empty((a, p, p))
        g[:, 0] = zd.sum(0) - np.einsum("sa,sa->a", Hs, SSwz) + np.einsum("da,da->a", corr, zd)
        aC = v = None
        if c or extras:
            v = np.take(Hs, des.seg_of_row, axis=0, out=work.get("v", a))
            if extras:
                Hrow = v.copy()
            v *= w
            v[dr] -= corr
            I[:, 0, 0] = np.einsum("na,na->a", v, Zs2 if Zs2 is not None else Zs * Zs)
        else:
            SSwzz = des.Sg @ (wz * Zs)
            I[:, 0, 0] = np.einsum("sa,sa->a", Hs, SSwzz) - np.einsum("da,da->a", corr, zd * zd)
        I[:, 0, 0] -= np.einsum("da,da->a", az, az)
        if c:
            SSwC, SSwzC = SSX[:, 1:], SSXz[:, 1:]
            aC = RX[sg, 1:]  # (D, c, a) risk-set sums of w C at each death
            if len(ts):  # Efron: subtract the tied deaths' share
                S1CD = (cov.TgC @ wd).reshape(-1, c, a)  # (tied groups, c, a)
                aC[ts] -= cf[ts][:, :, None] * S1CD[des.tg_index[sg[ts]]]
            aC *= inv[:, None, :]
            At = np.ascontiguousarray(aC.transpose(2, 0, 1))  # (a, D, c)
            g[:, 1:] = (cov.Cd_sum[:, None] - np.einsum("sca,sa->ca", SSwC, Hs) + cov.Cd.T @ corr).T
            IzC = (np.einsum("sca,sa->ac", SSwzC, Hs) - (corr * zd).T @ cov.Cd
                   - np.matmul(az.T[:, None, :], At)[:, 0, :])
            I[:, 0, 1:] = IzC
            I[:, 1:, 0] = IzC
            packed = cov.cc_dot(v)  # (c(c+1)/2, a)
            ICC = np.empty((a, c, c))
            ICC[:, cov.iu[0], cov.iu[1]] = packed.T
            ICC[:, cov.iu[1], cov.iu[0]] = packed.T
            ICC -= np.matmul(At.transpose(0, 2, 1), At)
            I[:, 1:, 1:] = ICC
    if not extras:
        return ll, g, I
    ex = dict(w=w, Hrow=Hrow, gk=gk, inv=inv, az=az, aC=aC)
    return ll, g, I, ex


def solve(I: np.ndarray, g: np.ndarray, rcond: float = 1e-11):
    """Batched I^-1 g and I^-1 through eigen-decomposition; ok = positive definite."""
    a, p, _ = I.shape
    finite = np.isfinite(I).all(axis=(1, 2)) & np.isfinite(g).all(1)
    I = np.where(finite[:, None, None], I, np.eye(p))
    lam, Q = np.linalg.eigh(I)
    ok = finite & (lam[:, 0] > rcond * np.maximum(lam[:, -1], 0)) & (lam[:, -1] > 0)
    lam_safe = np.where(ok[:, None], lam, 1.0)
    step = np.einsum("apk,ak->ap", Q, np.einsum("apk,ap->ak", Q, g) / lam_safe)
    Vinv = np.einsum("apk,aqk->apq", Q / lam_safe[:, None, :], Q)
    return step, Vinv, ok

