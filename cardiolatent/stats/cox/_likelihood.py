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
    eta_d, shift, w = _weights(des, cov, Zs, beta, work)
    wz = np.multiply(w, Zs, out=work.get("wz", a))
    sums = _risk_set_sums(des, cov, Zs, w, wz)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ll = _death_terms(des, sums, eta_d, shift)
        g = np.empty((a, p))
        I = np.empty((a, p, p))
        s = sums
        g[:, 0] = s.zd.sum(0) - np.einsum("sa,sa->a", s.Hs, s.SSwz) + np.einsum("da,da->a", s.corr, s.zd)
        v, Hrow = _latent_information(des, Zs, Zs2, w, wz, sums, I, work, need_v=bool(c or extras),
                                      keep_h=extras)
        I[:, 0, 0] -= np.einsum("da,da->a", s.az, s.az)
        aC = _covariate_terms(des, cov, sums, v, g, I) if c else None
    if not extras:
        return ll, g, I
    ex = dict(w=w, Hrow=Hrow, gk=s.gk, inv=s.inv, az=s.az, aC=aC)
    return ll, g, I, ex


class _Sums:
    """Risk-set and death-row sums of one evaluation (filled by :func:`_risk_set_sums` and
    :func:`_death_terms`)."""


def _weights(des: RiskSets, cov: Covariates, Zs, beta, work: WorkBuffers):
    """Linear predictor at the deaths, its per-model maximum (``shift``) and the weights
    ``w = exp(eta - shift)`` (n, a), computed in the work buffer ``eta``."""
    a = Zs.shape[1]
    c = cov.c
    eta = np.multiply(Zs, beta[:, 0], out=work.get("eta", a))
    if c:  # eta += C gamma' in place (eta.T is Fortran-ordered)
        r = dgemm(1.0, np.ascontiguousarray(beta[:, 1:]), cov.C.T, beta=1.0, c=eta.T, overwrite_c=True)
        if not np.shares_memory(r, eta):  # pragma: no cover - eta is C-ordered, so eta.T is used in place
            eta[...] = r.T
    eta_d = eta[des.death_rows]
    shift = eta.max(axis=0)
    eta -= shift
    with np.errstate(over="ignore", under="ignore"):
        w = np.exp(eta, out=eta)
    return eta_d, shift, w


def _risk_set_sums(des: RiskSets, cov: Covariates, Zs, w, wz) -> _Sums:
    """Segment sums of w [1, C] and w z [1, C], risk-set sums S0, S1C, S1z, and the death-row
    values and tied-group sums."""
    s = _Sums()
    dr = des.death_rows
    s.SSX = cov.seg_sums(des, w)  # (S, 1 + c, a): w, w C
    s.SSXz = cov.seg_sums(des, wz)  # w z, w z C
    s.SSwz = s.SSXz[:, 0]
    s.RX = des.from_segments(s.SSX)  # (K, 1 + c, a) risk-set sums: S0, S1C
    s.S0 = s.RX[:, 0]
    s.S1z = des.from_segments(s.SSwz)
    s.wd, s.zd = w[dr], Zs[dr]
    s.S0D = des.group_sum(s.wd)
    s.S1zD = des.group_sum(s.wd * s.zd)
    return s


def _death_terms(des: RiskSets, s: _Sums, eta_d, shift) -> np.ndarray:
    """Efron denominators at each death and what follows from them: ``inv`` (1/den), ``gk``,
    ``Hs`` (cumulative hazard increments per segment), ``corr``, ``az`` (Efron-weighted mean of z
    at each death). Returns the log partial likelihood (a,)."""
    sg, cf, ts = des.slot_group, des.slot_c[:, None], des.tied
    den = s.S0[sg]
    den[ts] -= cf[ts] * s.S0D[sg[ts]]  # (D, a) Efron denominators
    ll = eta_d.sum(0) - np.log(den).sum(0) - des.D * shift
    s.inv = inv = 1.0 / den
    h = des.group_sum(inv)
    s.gk = des.group_sum(cf * inv)
    s.Hs = des.to_segments(des.cum_groups(h))  # (S, a)
    s.corr = s.wd * s.gk[sg]  # v_j = w_j H_j - corr_j at the deaths
    az = s.S1z[sg]
    az[ts] -= cf[ts] * s.S1zD[sg[ts]]
    az *= inv
    s.az = az
    return ll


def _latent_information(des: RiskSets, Zs, Zs2, w, wz, s: _Sums, I, work: WorkBuffers, *, need_v: bool,
                        keep_h: bool):
    """First part of the latent's information ``I[:, 0, 0]`` (before the ``az'az`` term). With
    covariates (or extras) through the row weights ``v = w H - corr`` (returned, with a copy of
    the per-row H when ``keep_h``); otherwise by segment sums. Returns (v or None, Hrow or None)."""
    v = Hrow = None
    if need_v:
        v = np.take(s.Hs, des.seg_of_row, axis=0, out=work.get("v", Zs.shape[1]))
        if keep_h:
            Hrow = v.copy()
        v *= w
        v[des.death_rows] -= s.corr
        I[:, 0, 0] = np.einsum("na,na->a", v, Zs2 if Zs2 is not None else Zs * Zs)
    else:
        SSwzz = des.Sg @ (wz * Zs)
        I[:, 0, 0] = np.einsum("sa,sa->a", s.Hs, SSwzz) - np.einsum("da,da->a", s.corr, s.zd * s.zd)
    return v, Hrow


def _covariate_terms(des: RiskSets, cov: Covariates, s: _Sums, v, g, I) -> np.ndarray:
    """Covariate parts of the gradient ``g[:, 1:]`` and information ``I[:, 0, 1:]``, ``I[:, 1:, :]``;
    returns ``aC`` (D, c, a), the Efron-weighted covariate means at each death."""
    a = g.shape[0]
    c = cov.c
    sg, cf, ts = des.slot_group, des.slot_c[:, None], des.tied
    SSwC, SSwzC = s.SSX[:, 1:], s.SSXz[:, 1:]
    aC = s.RX[sg, 1:]  # (D, c, a) risk-set sums of w C at each death
    if len(ts):  # Efron: subtract the tied deaths' share
        S1CD = (cov.TgC @ s.wd).reshape(-1, c, a)  # (tied groups, c, a)
        aC[ts] -= cf[ts][:, :, None] * S1CD[des.tg_index[sg[ts]]]
    aC *= s.inv[:, None, :]
    At = np.ascontiguousarray(aC.transpose(2, 0, 1))  # (a, D, c)
    g[:, 1:] = (cov.Cd_sum[:, None] - np.einsum("sca,sa->ca", SSwC, s.Hs) + cov.Cd.T @ s.corr).T
    IzC = (np.einsum("sca,sa->ac", SSwzC, s.Hs) - (s.corr * s.zd).T @ cov.Cd
           - np.matmul(s.az.T[:, None, :], At)[:, 0, :])
    I[:, 0, 1:] = IzC
    I[:, 1:, 0] = IzC
    packed = cov.cc_dot(v)  # (c(c+1)/2, a)
    ICC = np.empty((a, c, c))
    ICC[:, cov.iu[0], cov.iu[1]] = packed.T
    ICC[:, cov.iu[1], cov.iu[0]] = packed.T
    ICC -= np.matmul(At.transpose(0, 2, 1), At)
    I[:, 1:, 1:] = ICC
    return aC


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

