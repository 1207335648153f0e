"""Cox proportional-hazards scans: one model per latent, all latents fitted together.

:func:`cox_scan` fits, for every column ``z_i`` of ``Z`` (the latents), the model

    h(t | z_i, C) = h0_s(t) exp(beta_i * z_i + C gamma_i)

(``h0_s``: one baseline hazard per stratum when ``strata`` is given) by Newton-Raphson on the
partial likelihood with Efron (default) or Breslow handling of tied event times. The models are
not looped over: the rows are sorted once by (stratum, time), risk-set sums are reverse
cumulative sums over the segments between event times, and the gradients ``(m, p)`` and
information matrices ``(m, p, p)`` of a chunk of models are built with matrix products and
solved together (``p = 1 + c``). A model whose log partial likelihood decreases after a step has
that step halved; models leave the batch as they converge.

Units and conventions

* ``time``: years (any positive unit) from the start of follow-up; ``event``: 1 event, 0 censored.
* ``beta`` is the log hazard ratio per SD of the latent when ``standardise_z=True`` (the
  default): each latent is z-scored on the rows of its model with the *sample* SD (``ddof=1``,
  as R's ``scale()`` and pandas ``.std()``); ``z_sd`` in the output is that SD, so the log
  hazard ratio per original unit is ``beta / z_sd``.
* Standard errors from the observed information (``robust=False``) or the Lin-Wei sandwich
  ``V (sum_j U_j U_j') V`` with per-subject score residuals ``U_j`` (``robust=True``; no clusters).
  With tied event times the residuals follow the tie method: each ``U_j`` is the derivative of
  the case-weighted score with respect to subject j's weight (Efron: as R's survival package
  defines them; Breslow: equal to statsmodels PHReg's). lifelines' residuals ignore ties, so
  robust SEs equal lifelines' only when no event times are tied.
* Convergence: the predicted gain of the next Newton step, g' I^-1 g / 2, below ``tol``; that
  last step is taken, and when it moves no coefficient by more than 1e-6 (per SD) the
  information is not re-evaluated (the SEs are then those of a point within 1e-6 of beta).
* ``c_index``: Harrell's concordance of the fitted linear predictor (latent and covariates) of
  each model, counted as lifelines' ``concordance_index`` does (pairs tied in time are comparable
  only when one is an event and the other censored; tied predictions count 1/2), summed over
  strata when stratified. For every event the comparable rows are a suffix of the time-sorted
  rows; counts in suffixes use block-sorted copies of each model's predictor
  (O(n log n + D log^2 n) per model, D events) instead of the O(n^2) pair loop.
* ``ph_test``: Grambsch-Therneau score test of the latent's coefficient against a transform of
  time using scaled Schoenfeld residuals, the statistic lifelines' ``proportional_hazard_test``
  computes (``"rank"``, ``"km"``, ``"identity"``, ``"log"``). The denominator always uses the
  model-based variance (lifelines uses the robust one when ``robust=True``).

Per-model problems never raise; they are reported in ``status``:
``ok``, ``no_rows``, ``zero_events``, ``too_few_events`` (fewer than ``min_events``),
``constant`` (the latent does not vary), ``singular`` (information matrix not positive definite at
the start: the latent is collinear with the covariates or strata), ``separation`` (monotone
likelihood: the latent's coefficient diverges, e.g. a latent that perfectly orders the events),
``covariate_separation`` (a covariate's coefficient diverges), ``no_convergence``.
Estimates are reported for ``ok``, ``separation``, ``covariate_separation`` and
``no_convergence`` (for the last three treat them with suspicion); NaN otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.linalg.blas import dgemm
from scipy.special import ndtri
from scipy.stats import chi2, norm

from cardiolatent.errors import CardiolatentError

__all__ = ["cox_scan", "cox_fit", "CoxFit", "harrell_c", "PH_TRANSFORMS"]

PH_TRANSFORMS = ("rank", "km", "identity", "log")
#: statuses for which beta/se are reported
_ESTIMATED = ("ok", "separation", "covariate_separation", "no_convergence")
_MEM_BUDGET = 400e6  # bytes of (rows x models) work arrays per chunk
_CC_KEEP = 8e6  # covariate cross-products (c(c+1)/2 x n) are kept up to this many values


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------

def _vector(x, name: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)
    if a.ndim == 2 and 1 in a.shape:
        a = a.ravel()
    if a.ndim != 1:
        raise CardiolatentError(f"{name} must be one-dimensional (one value per participant), got shape {a.shape}")
    if n is not None and len(a) != n:
        raise CardiolatentError(f"{name} has {len(a)} rows but time has {n}")
    return a


def _float_vector(x, name: str, n: int | None = None) -> np.ndarray:
    a = _vector(x, name, n)
    try:
        return a.astype(float)
    except (TypeError, ValueError):
        raise CardiolatentError(f"{name} must be numeric") from None


def _matrix(x, name: str, n: int, names: Sequence[str] | None, prefix: str):
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
            a = np.asarray(a, dtype=float)  # no copy when already float64
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
    if not np.isfinite(a.sum()) and np.isinf(a).any():  # cheap test first
        j = int(np.flatnonzero(np.isinf(a).any(0))[0])
        i = int(np.flatnonzero(np.isinf(a[:, j]))[0])
        raise CardiolatentError(f"{name} column {names[j]!r} has an infinite value (row {i})")
    return a, names


def _check_time_event(time, event):
    t = _float_vector(time, "time")
    n = len(t)
    e = _float_vector(event, "event", n)
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


def _strata_codes(strata, n):
    """Integer codes (sorted label order, as pandas sorts) and a validity mask (NaN label -> dropped)."""
    if strata is None:
        return np.zeros(n, np.int64), np.ones(n, bool)
    s = _vector(strata, "strata", n)
    codes, _ = pd.factorize(pd.Series(s), sort=True)
    return codes.astype(np.int64), codes >= 0


# --------------------------------------------------------------------------------------------
# sorted survival structure of one row set
# --------------------------------------------------------------------------------------------

class _Design:
    """Rows sorted by (stratum, time, deaths first); event groups and risk-set segments.

    n rows, D deaths ("slots"), K event groups (distinct (stratum, event time)), S segments.
    """

    def __init__(self, time: np.ndarray, event: np.ndarray, strata: np.ndarray, ties: str):
        self.order = np.lexsort((1 - event, time, strata))  # stable: ties keep input order
        t = self.time = time[self.order]
        e = self.event = event[self.order].astype(np.int8)
        s = self.strata = strata[self.order]
        n = self.n = len(t)
        newst = np.r_[True, s[1:] != s[:-1]] if n else np.zeros(0, bool)
        self.s_start = np.flatnonzero(newst)
        self.s_end = np.r_[self.s_start[1:], n].astype(np.int64)
        dr = self.death_rows = np.flatnonzero(e == 1)
        D = self.D = len(dr)
        if D == 0:
            self.K = 0
            return
        sd, td = s[dr], t[dr]
        newg = np.r_[True, (sd[1:] != sd[:-1]) | (td[1:] != td[:-1])]
        self.slot_first = np.flatnonzero(newg)
        self.K = len(self.slot_first)
        self.slot_group = np.cumsum(newg) - 1
        self.d_k = np.diff(np.r_[self.slot_first, D])
        slot_l = np.arange(D) - self.slot_first[self.slot_group]
        if ties == "efron":
            self.slot_c = slot_l / self.d_k[self.slot_group]
        else:
            self.slot_c = np.zeros(D)
        self.g_start = dr[self.slot_first]  # first row of the tied block = start of the risk set
        stratum_of_row = np.cumsum(newst) - 1
        g_st = stratum_of_row[self.g_start]
        self.g_end = self.s_end[g_st]
        self.bounds = np.unique(np.r_[self.g_start, self.s_start])
        self.S = len(self.bounds)
        self.seg_len = np.diff(np.r_[self.bounds, n])
        self.seg_of_row = np.repeat(np.arange(self.S), self.seg_len)
        self.Sg = sparse.csr_matrix((np.ones(n), (self.seg_of_row, np.arange(n))), shape=(self.S, n))
        self.seg_start = np.searchsorted(self.bounds, self.g_start)
        self.seg_end = np.searchsorted(self.bounds, self.g_end)  # == S for the last stratum
        self._multi = bool((self.seg_end < self.S).any())
        # Efron: slots after the first of a tied group, and the groups with ties
        self.tied = np.flatnonzero(self.slot_c > 0)
        tied_groups = np.flatnonzero(self.d_k > 1)
        tg_rows = np.isin(self.slot_group, tied_groups) if ties == "efron" else np.zeros(D, bool)
        self.tg_slots = np.flatnonzero(tg_rows)  # slots (deaths) of tied groups
        self.tg_first = np.flatnonzero(np.r_[True, np.diff(self.slot_group[self.tg_slots]) != 0]) \
            if len(self.tg_slots) else np.zeros(0, np.int64)
        self.tg_index = np.full(self.K, -1, np.int64)  # group -> row of the tied-group sums
        self.tg_index[self.slot_group[self.tg_slots[self.tg_first]]] = np.arange(len(self.tg_first))
        newgs = np.r_[True, g_st[1:] != g_st[:-1]]
        self.g_first = np.maximum.accumulate(np.where(newgs, np.arange(self.K), 0))
        # last event group with t_k <= t_j in the same stratum (-1: none)
        rg = np.full(n, -1, np.int64)
        for st in np.unique(g_st):
            ks = np.flatnonzero(g_st == st)
            r0, r1 = self.s_start[st], self.s_end[st]
            idx = np.searchsorted(t[self.g_start[ks]], t[r0:r1], side="right") - 1
            rg[r0:r1] = np.where(idx >= 0, ks[0] + idx, -1)
        self.row_group = rg
        self.seg_group = rg[self.bounds]  # rows of a segment share their last event group

    # risk-set sums --------------------------------------------------------------------------
    def _from_segments(self, SS: np.ndarray) -> np.ndarray:
        """(S, ...) segment sums -> (K, ...) risk-set sums (segments from the group's start to the
        end of its stratum), by reverse cumulative sums."""
        rc = np.cumsum(SS[::-1], axis=0)  # rc[i] = sum of the last i + 1 segments
        out = rc[self.S - 1 - self.seg_start]
        if self._multi:
            inner = self.seg_end < self.S
            out[inner] -= rc[self.S - 1 - self.seg_end[inner]]
        return out

    def group_sum(self, X: np.ndarray) -> np.ndarray:
        """(D, ...) per-death values -> (K, ...) sums over each tied group."""
        return np.add.reduceat(X, self.slot_first, axis=0)

    def cum_groups(self, X: np.ndarray) -> np.ndarray:
        """(K, ...) -> cumulative sums over the event groups of each stratum."""
        cs = np.concatenate([np.zeros((1,) + X.shape[1:]), np.cumsum(X, axis=0)])
        return cs[1:] - cs[self.g_first]

    def to_segments(self, Xk: np.ndarray) -> np.ndarray:
        """(K, ...) cumulative group values -> (S, ...) per segment (0 before the first event)."""
        ext = np.concatenate([Xk, np.zeros((1,) + Xk.shape[1:])])
        return ext[self.seg_group]

    def to_rows(self, Xk: np.ndarray, rows=slice(None)) -> np.ndarray:
        """(K, ...) cumulative group values -> (rows, ...) at each row's last event group (0 if none)."""
        ext = np.concatenate([Xk, np.zeros((1,) + Xk.shape[1:])])
        return ext[self.row_group[rows]]


class _Cov:
    """Standardised covariates of one design (sorted rows) and their derived matrices."""

    def __init__(self, des: _Design, Cs: np.ndarray):
        self.C = np.ascontiguousarray(Cs)
        n, c = Cs.shape
        self.c = c
        if des.D == 0:
            return
        # segment sums of w * [1, C]: one sparse (S (1 + c), n) matrix
        X1 = np.c_[np.ones(n), self.C]
        rows = (des.seg_of_row[:, None] * (c + 1) + np.arange(c + 1)[None, :]).ravel()
        self.SgX = sparse.csr_matrix((X1.ravel(), (rows, np.repeat(np.arange(n), c + 1))), shape=(des.S * (c + 1), n))
        if c == 0:
            return
        self.Cd = self.C[des.death_rows]
        self.Cd_sum = self.Cd.sum(0)
        iu = np.triu_indices(c)
        self.iu = iu
        # products C_i C_k of each row, (c(c+1)/2, n): kept when small, else formed per row block
        self.CCt = np.ascontiguousarray((self.C[:, iu[0]] * self.C[:, iu[1]]).T) if len(iu[0]) * n <= _CC_KEEP else None
        # Efron: sums of w C over the deaths of each tied group, as one sparse (groups c, D) matrix
        ng = len(des.tg_first)
        grp = np.repeat(np.arange(ng), np.diff(np.r_[des.tg_first, len(des.tg_slots)]))
        rows = (grp[:, None] * c + np.arange(c)[None, :]).ravel()
        self.TgC = sparse.csr_matrix((self.Cd[des.tg_slots].ravel(), (rows, np.repeat(des.tg_slots, c))),
                                     shape=(ng * c, des.D))

    def cc_dot(self, v: np.ndarray, block: int = 32768) -> np.ndarray:
        """sum_j C_ji C_jk v_ja for i <= k: (c(c+1)/2, a)."""
        if self.CCt is not None:
            return self.CCt @ v
        i, k = self.iu
        out = np.zeros((len(i), v.shape[1]))
        for r0 in range(0, v.shape[0], block):
            Cb = self.C[r0:r0 + block]
            out += (Cb[:, i] * Cb[:, k]).T @ v[r0:r0 + block]
        return out

    def seg_sums(self, des: _Design, w: np.ndarray) -> np.ndarray:
        """(n, a) weights -> (S, 1 + c, a) segment sums of w * [1, C]."""
        return (self.SgX @ w).reshape(des.S, self.c + 1, w.shape[1])


# --------------------------------------------------------------------------------------------
# log partial likelihood, gradient and information of a batch of models
# --------------------------------------------------------------------------------------------

class _Work:
    """Reusable (n, a) float64 buffers (fresh large arrays cost page faults at every evaluation)."""

    def __init__(self, n: int):
        self.n = n
        self.bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, a: int) -> np.ndarray:
        b = self.bufs.get(name)
        if b is None or b.size < self.n * a:
            b = self.bufs[name] = np.empty(self.n * a)
        return b[: self.n * a].reshape(self.n, a)


def _evaluate(des: _Design, cov: _Cov, Zs: np.ndarray, beta: np.ndarray, extras: bool = False,
              Zs2: np.ndarray | None = None, work: _Work | None = None):
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
    work = work if work is not None and not extras else _Work(n)
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


def _solve(I: np.ndarray, g: np.ndarray, rcond: float = 1e-11):
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


@dataclass
class _FitOut:
    beta: np.ndarray  # (m, p) internal scale
    V: np.ndarray  # (m, p, p) inverse information, internal scale
    ll: np.ndarray
    status: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray  # (m, p) coefficient flagged as infinite (monotone likelihood)


#: a converged model's last Newton step is applied without re-evaluating the information when
#: no coefficient moves by more than this (per SD); the SEs are then those of a point at most
#: this far from the estimate
_SKIP_STEP = 1e-6


def _newton(des: _Design, cov: _Cov, Zs: np.ndarray, *, max_iter: int, tol: float) -> _FitOut:
    """Batched Newton-Raphson from beta = 0 with per-model step halving.

    A model has converged when the predicted gain of its next step, g' I^-1 g / 2, is below
    ``tol``; that step is still taken (and the point re-evaluated unless the step is below
    ``_SKIP_STEP``).
    """
    n, m = Zs.shape
    p = 1 + cov.c
    Zs2 = Zs * Zs
    work = _Work(n)
    beta = np.zeros((m, p))
    ll, g, I = _evaluate(des, cov, Zs, beta, Zs2=Zs2, work=work)
    status = np.array(["ok"] * m, dtype=object)
    iters = np.zeros(m, np.int64)
    converged = np.zeros(m, bool)
    done = np.zeros(m, bool)
    last = np.zeros(m, bool)  # the step being taken is the final (decrement < tol) one
    halvings = np.zeros(m, np.int64)
    step = np.zeros((m, p))
    need_step = np.ones(m, bool)
    first = np.ones(m, bool)
    while True:
        act = np.flatnonzero(~done & need_step)
        if len(act):
            st, _, ok = _solve(I[act], g[act])
            bad = act[~ok]
            status[bad] = np.where(first[bad], "singular", "separation")
            done[bad] = True
            good = act[ok]
            st = st[ok]
            step[good] = st
            dec = np.einsum("ap,ap->a", g[good], st) / 2
            last[good] = dec < tol
            need_step[good] = False
            halvings[good] = 0
            tiny = last[good] & (np.abs(st).max(1) <= _SKIP_STEP)
            fin = good[tiny]  # converged: apply the (tiny) final step without re-evaluating
            beta[fin] += step[fin]
            ll[fin] += dec[tiny]
            converged[fin] = True
            done[fin] = True
        prop = np.flatnonzero(~done & ~need_step)
        over = prop[iters[prop] >= max_iter]
        status[over] = "no_convergence"
        done[over] = True
        prop = prop[iters[prop] < max_iter]
        if len(prop) == 0:
            break
        nb = beta[prop] + step[prop]
        if len(prop) == m:
            ll_n, g_n, I_n = _evaluate(des, cov, Zs, nb, Zs2=Zs2, work=work)
        else:
            ll_n, g_n, I_n = _evaluate(des, cov, Zs[:, prop], nb, Zs2=Zs2[:, prop], work=work)
        iters[prop] += 1
        first[prop] = False
        slack = 1e-10 * np.maximum(1.0, np.abs(ll[prop]))
        acc = np.isfinite(ll_n) & (ll_n >= ll[prop] - slack)
        A = prop[acc]
        beta[A], ll[A], g[A], I[A] = nb[acc], ll_n[acc], g_n[acc], I_n[acc]
        fin = A[last[A]]
        converged[fin] = True
        done[fin] = True
        need_step[A[~last[A]]] = True
        R = prop[~acc]  # halve the step
        step[R] /= 2
        last[R] = False
        halvings[R] += 1
        stuck = R[halvings[R] > 40]
        status[stuck] = "no_convergence"
        done[stuck] = True
    st, V, ok = _solve(I, g)
    # R's check for infinite coefficients: the pending Newton step is not negligible at "convergence"
    est = np.isin(status, ("ok", "no_convergence"))
    big = np.abs(st) > np.sqrt(tol) * np.maximum(1.0, np.abs(beta))
    sep_z = est & converged & big[:, 0]
    sep_c = est & converged & ~big[:, 0] & big[:, 1:].any(1)
    status[sep_z] = "separation"
    status[sep_c] = "covariate_separation"
    V[~ok] = np.nan
    return _FitOut(beta, V, ll, status, iters, converged, big & (est & converged)[:, None])


# --------------------------------------------------------------------------------------------
# concordance
# --------------------------------------------------------------------------------------------

#: block sizes (powers of two, increasing) of the block-sorted levels used for suffix counts;
#: the last level's blocks are counted with np.searchsorted, the others by binary search
_LEVELS = (32, 512, 8192)


def _lower_bound(flat: np.ndarray, off: np.ndarray, L: int, a: np.ndarray, right: bool) -> np.ndarray:
    """Counts of values < a (<= a if right) in the sorted runs flat[off:off+L] (L a power of two);
    off and a broadcast together. Branch-free binary search, vectorised."""
    pos = np.zeros(np.broadcast(off, a).shape, np.int64)
    half = L // 2
    while half >= 1:
        v = flat[off + pos + (half - 1)]
        pos += half * ((v <= a) if right else (v < a))
        half //= 2
    v = flat[off + pos]
    pos += (v <= a) if right else (v < a)
    return pos


def _suffix_counts(X: np.ndarray, q: np.ndarray, A: np.ndarray):
    """#{i >= q_j : X[m, i] < A[m, j]} for every model m and query j, plus a tie flag.

    X (a, n_pad) values in time order padded with +inf (n_pad a multiple of the top block);
    q (D,) suffix starts; A (a, D) query values. Returns (lt (a, D), le or None): ``le`` (<=
    counts) is computed only when some query value occurs more than once among the rows.
    """
    aa, n_pad = X.shape
    D = len(q)
    Ls = _LEVELS
    sorted_lv = [np.sort(X.reshape(aa, -1, L), axis=2) for L in Ls]
    top = sorted_lv[-1]
    nb = top.shape[1]
    bt = q // Ls[-1]
    order = np.argsort(A, axis=1, kind="stable")
    A_s = np.take_along_axis(A, order, 1)
    jj = np.arange(D)
    lt_top = np.zeros((aa, nb + 1, D), np.int64)
    le_top = np.zeros((aa, nb + 1, D), np.int64)
    for m in range(aa):
        for b in range(nb):
            lt_top[m, b, order[m]] = np.searchsorted(top[m, b], A_s[m], "left")
            le_top[m, b, order[m]] = np.searchsorted(top[m, b], A_s[m], "right")
    ties = bool(((le_top - lt_top).sum(1) > 1).any())  # a query value repeated among the rows

    def counts(right: bool) -> np.ndarray:
        T = le_top if right else lt_top
        R = np.cumsum(T[:, ::-1], axis=1)[:, ::-1]  # R[:, b] = blocks >= b
        out = R[:, bt + 1, jj].copy()
        # whole blocks of each finer level after q's block, inside q's block of the next level
        # ("parent"): searched directly, or as the parent's count minus the blocks up to q's
        # block, whichever needs fewer searches; only the (query, block) pairs that exist
        for lv in range(len(Ls) - 2, -1, -1):
            L, Lup = Ls[lv], Ls[lv + 1]
            r = Lup // L
            S = sorted_lv[lv]
            nbl = S.shape[1]
            P, bl = q // Lup, q // L
            nv = (P + 1) * r - bl - 1  # blocks after bl inside the parent
            parent_known = lv + 1 == len(Ls) - 1  # the parent count is a top-level count
            suf = nv <= (r - nv) + (0 if parent_known else 1)
            nblk = np.where(suf, nv, r - nv)
            start = np.where(suf, bl + 1, P * r)
            tot = int(nblk.sum())
            if tot:
                qi = np.repeat(jj, nblk)
                blk = start[qi] + (np.arange(tot) - np.repeat(np.cumsum(nblk) - nblk, nblk))
                off = (np.arange(aa)[:, None] * nbl + blk[None, :]) * L
                cnt = _lower_bound(S.ravel(), off, L, A[:, qi], right) * np.where(suf[qi], 1, -1)
                out += np.stack([np.bincount(qi, weights=cnt[m], minlength=D) for m in range(aa)]).astype(np.int64)
            pj = jj[~suf]
            if len(pj):
                if parent_known:
                    out[:, pj] += T[:, P[pj], pj]
                else:
                    Su = sorted_lv[lv + 1]
                    off = (np.arange(aa)[:, None] * Su.shape[1] + P[pj][None, :]) * Lup
                    out[:, pj] += _lower_bound(Su.ravel(), off, Lup, A[:, pj], right)
        # single rows from q to the end of q's finest block
        L = Ls[0]
        t = np.arange(L)
        idx = q[:, None] + t[None, :]
        ok = idx < (q // L + 1)[:, None] * L
        v = X[:, np.where(ok, idx, 0)]  # (a, D, L)
        hit = (v <= A[:, :, None]) if right else (v < A[:, :, None])
        out += (hit & ok[None]).sum(2)
        return out

    lt = counts(False)
    return lt, (counts(True) if ties else None)


def _harrell_counts(t: np.ndarray, e: np.ndarray, eta: np.ndarray, sub: int = 4):
    """Concordant and tied-prediction counts and comparable pairs of ``a`` predictors, one stratum.

    t (n,) sorted ascending with events before censored rows at equal times, e (n,) 0/1,
    eta (n, a) risk scores (higher = earlier event expected). A pair (j, i) is comparable when j is
    an event and t_j < t_i, or t_j == t_i with i censored (lifelines' definition); it is concordant
    when eta_j > eta_i and tied when equal. For every event j the comparable rows form a suffix of
    the sorted rows (after its tied events); counts in suffixes come from block-sorted levels,
    O(n log n + D log^2 n) per predictor.
    """
    n, a = eta.shape
    dr = np.flatnonzero(e > 0)
    D = len(dr)
    if D == 0 or n < 2:
        return np.zeros(a), np.zeros(a), 0
    _, inv, cnt = np.unique(t[dr], return_inverse=True, return_counts=True)
    q = dr[np.cumsum(cnt) - 1][inv.ravel()] + 1  # first row after the last event tied with j
    pairs = int((n - q).sum())
    if pairs == 0:
        return np.zeros(a), np.zeros(a), 0
    top = _LEVELS[-1]
    n_pad = (n // top + 1) * top  # > n: every suffix start q <= n lies inside the padded rows
    correct = np.zeros(a)
    tied = np.zeros(a)
    for s0 in range(0, a, sub):
        E = eta[:, s0:s0 + sub]
        aa = E.shape[1]
        X = np.full((aa, n_pad), np.inf)
        X[:, :n] = E.T
        lt, le = _suffix_counts(X, q, X[:, dr])
        correct[s0:s0 + aa] = lt.sum(1)
        if le is not None:
            tied[s0:s0 + aa] = (le - lt).sum(1)
    return correct, tied, pairs


def harrell_c(time, event, scores, strata=None) -> np.ndarray:
    """Harrell's C of each column of ``scores`` (n, a) (higher score = higher risk).

    Same counting as ``lifelines.utils.concordance_index(time, -scores, event)``; with ``strata``
    the counts are summed within strata (as lifelines' ``CoxPHFitter.concordance_index_``).
    Returns (a,) values; NaN when there is no comparable pair.
    """
    t = _float_vector(time, "time")
    e = _float_vector(event, "event", len(t))
    S = np.asarray(scores, float)
    one = S.ndim == 1
    if one:
        S = S[:, None]
    st, ok = _strata_codes(strata, len(t))
    ok &= np.isfinite(t) & np.isfinite(e) & np.isfinite(S).all(1)
    order = np.lexsort((1 - e[ok], t[ok], st[ok]))
    t, e, st, S = t[ok][order], e[ok][order], st[ok][order], S[ok][order]
    num = np.zeros(S.shape[1])
    pairs = 0
    for s in np.unique(st):
        r = np.flatnonzero(st == s)
        cr, ti, pa = _harrell_counts(t[r], e[r], S[r])
        num += cr + ti / 2
        pairs += pa
    out = num / pairs if pairs else np.full(S.shape[1], np.nan)
    return out[0] if one else out


def _c_index(des: _Design, eta: np.ndarray) -> np.ndarray:
    num = np.zeros(eta.shape[1])
    pairs = 0
    for s0, s1 in zip(des.s_start, des.s_end):
        cr, ti, pa = _harrell_counts(des.time[s0:s1], des.event[s0:s1], eta[s0:s1])
        num += cr + ti / 2
        pairs += pa
    return num / pairs if pairs else np.full(eta.shape[1], np.nan)


# --------------------------------------------------------------------------------------------
# robust variance and proportional-hazards test
# --------------------------------------------------------------------------------------------

def _score_meat(des: _Design, cov: _Cov, Zs: np.ndarray, ex: dict, block: int = 8192) -> np.ndarray:
    """sum_j U_j U_j' of the per-subject score residuals, (a, p, p), internal scale.

    U_j = x_j (d_j - w_j H_j + d_j w_j g_k) - d_j abar_k + w_j Q_j - d_j w_j P_k  (Efron-weighted;
    Breslow when all Efron fractions are 0). H, Q: cumulative over the event groups up to t_j.
    """
    n, a = Zs.shape
    c = cov.c
    p = 1 + c
    sg, cf, inv, w = des.slot_group, des.slot_c[:, None], ex["inv"], ex["w"]
    d_k = des.d_k[:, None]
    az, aC = ex["az"], ex["aC"]
    abar_z = des.group_sum(az) / d_k
    Qz = des.cum_groups(des.group_sum(az * inv))
    Pz = des.group_sum(az * cf * inv)
    if c:
        abar_C = des.group_sum(aC) / d_k[:, :, None]
        QC = des.cum_groups(des.group_sum(aC * inv[:, None, :]))
        PC = des.group_sum(aC * (cf * inv)[:, None, :])
    # death-row corrections, (n, a) and (n, c, a) only at death rows
    dgk = np.zeros((n, a))
    dgk[des.death_rows] = ex["gk"][sg]
    ev = des.event.astype(float)[:, None]
    alpha = ev - w * ex["Hrow"] + ev * w * dgk
    M = np.zeros((a, p, p))
    dpos = np.full(n, -1, np.int64)
    dpos[des.death_rows] = sg
    for r0 in range(0, n, block):
        rs = slice(r0, min(n, r0 + block))
        nb = rs.stop - rs.start
        U = np.empty((a, nb, p))
        wb = w[rs]
        kk = dpos[rs]
        isd = kk >= 0
        Uz = Zs[rs] * alpha[rs] + wb * des.to_rows(Qz, rs)
        Uz[isd] -= abar_z[kk[isd]] + wb[isd] * Pz[kk[isd]]
        U[:, :, 0] = Uz.T
        if c:
            UC = cov.C[rs][:, :, None] * alpha[rs][:, None, :] + wb[:, None, :] * des.to_rows(QC, rs)
            UC[isd] -= abar_C[kk[isd]] + wb[isd][:, None, :] * PC[kk[isd]]
            U[:, :, 1:] = UC.transpose(2, 0, 1)
        M += np.matmul(U.transpose(0, 2, 1), U)
    return M


def _km_at(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier survival S(t) (right-continuous) of (time, event), evaluated at ``at``."""
    ut, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event, minlength=len(ut))
    r = np.bincount(inv, minlength=len(ut)).astype(float)
    at_risk = r[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore"):
        S = np.exp(np.cumsum(np.log(at_risk - d) - np.log(at_risk)))
    return S[np.searchsorted(ut, at)]


def _time_transform(des: _Design, name: str) -> np.ndarray:
    td = des.time[des.death_rows]
    if name == "rank":
        return np.arange(1, des.D + 1, dtype=float)
    if name == "identity":
        return td.copy()
    if name == "log":
        return np.log(td)
    if name == "km":
        return 1.0 - _km_at(des.time, des.event.astype(float), td)
    raise CardiolatentError(f"unknown time transform {name!r}; choose from {', '.join(PH_TRANSFORMS)}")


def _ph_stats(des: _Design, cov: _Cov, Zs: np.ndarray, ex: dict, V: np.ndarray, transforms) -> dict:
    """Scaled-Schoenfeld test of the latent term against each time transform: {name: (chi2, p)}."""
    az, aC = ex["az"], ex["aC"]
    d_k = des.d_k[:, None]
    abar_z = des.group_sum(az) / d_k  # (K, a)
    zd = Zs[des.death_rows]
    out = {}
    for name in transforms:
        gt = _time_transform(des, name)
        gt = gt - gt.mean()
        Gk = des.group_sum(gt)  # (K,)
        u = np.empty((Zs.shape[1], 1 + cov.c))
        u[:, 0] = gt @ zd - Gk @ abar_z
        if cov.c:
            abar_C = des.group_sum(aC) / d_k[:, :, None]
            u[:, 1:] = (gt @ cov.Cd)[None, :] - np.einsum("k,kca->ac", Gk, abar_C)
        num = np.einsum("ap,ap->a", u, V[:, :, 0])
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = des.D * num**2 / (V[:, 0, 0] * (gt**2).sum())
        out[name] = (stat, chi2.sf(stat, 1))
    return out


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------

def _standardise_cols(X: np.ndarray, ddof: int = 1):
    mean = X.mean(0)
    sd = X.std(0, ddof=ddof) if X.shape[0] > ddof else np.full(X.shape[1], np.nan)
    const = ~(X.max(0) > X.min(0)) if X.shape[0] else np.ones(X.shape[1], bool)
    return mean, sd, const


def _chunk_size(n: int, requested: int | None, n_jobs: int = 1) -> int:
    """Models per batch: about ten (rows x models) float64 work arrays within the memory budget."""
    if requested:
        return max(1, int(requested))
    per_model = 8 * n * 10
    # about 32 models per batch keeps the work arrays near the CPU caches at N ~ 70,000
    return int(max(4, min(32, _MEM_BUDGET / max(1, n_jobs) // max(per_model, 1))))


def _available_cpus() -> int:
    try:
        k = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        k = os.cpu_count() or 1
    return max(1, min(8, k))


def _run_threads(fn, chunks, n_jobs: int):
    """fn over chunks in threads (numpy releases the GIL), BLAS limited to one thread each."""
    from concurrent.futures import ThreadPoolExecutor

    with _blas_single_thread(), ThreadPoolExecutor(max_workers=n_jobs) as ex:
        return list(ex.map(fn, chunks))


def _blas_single_thread():
    """Context limiting BLAS to one thread: the products here are small, and several BLAS threads
    busy-wait badly on a loaded machine (threads of our own are used instead, ``n_jobs``)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def cox_scan(time, event, Z, C=None, *, strata=None, ties: str = "efron", robust: bool = False,
             standardise_z: bool = True, z_names: Sequence[str] | None = None,
             c_names: Sequence[str] | None = None, max_iter: int = 50, tol: float = 1e-9,
             c_index: bool = True, ph_test: bool | str | Sequence[str] = False, min_events: int = 1,
             return_covariates: bool = False, chunk_size: int | None = None, alpha: float = 0.05,
             n_jobs: int | None = None):
    """One Cox PH model per latent (column of ``Z``), all fitted together.

    Parameters
    ----------
    time : (n,) float, years (> 0) from the start of follow-up to event or censoring.
    event : (n,) 0/1 (1 = incident event).
    Z : (n, m) tested predictors (the latents); array or DataFrame (column names are used).
    C : (n, c) covariates, numeric and dummy-coded (no intercept column, one level dropped), or None.
    strata : (n,) labels giving each stratum its own baseline hazard, or None.
    ties : "efron" (default, as lifelines and R) or "breslow".
    robust : Lin-Wei sandwich standard errors (no clusters); ``se_model`` keeps the model-based one.
    standardise_z : z-score each latent on its model's rows (sample SD, ddof=1): beta per SD.
    max_iter, tol : Newton iterations (step halvings included); a model has converged when the
        predicted gain of its next step, g' I^-1 g / 2, is below ``tol`` (that step is still taken).
    c_index : Harrell's C of each fitted model (lifelines' counting); adds about half the fit's time.
    ph_test : True (= "rank") or transform name(s) from ``PH_TRANSFORMS``: scaled Schoenfeld test
        of the latent's coefficient; adds ``ph_chi2_<name>`` and ``ph_p_<name>``.
    min_events : models with fewer events get status ``too_few_events`` (not fitted).
    return_covariates : also return the covariate coefficients of every model (long table).
    chunk_size : models per batch (default: at most 32, within a ~400 MB working-memory budget).
    n_jobs : batches fitted in parallel threads (numpy releases the GIL; BLAS is kept to one
        thread each); None = the CPUs available to the process (at most 8), 1 = serial.
    alpha : 1 - confidence level of the hazard-ratio interval.

    Rows with NaN in time, event, strata or any covariate are dropped from every model; rows with
    NaN in a latent only from that latent's model (latents sharing a missingness pattern are
    fitted together). Raises CardiolatentError for input that no model can use: time <= 0, event
    not 0/1, infinite values, mismatched lengths, a covariate constant on the usable rows or
    collinear covariates (the message names the columns).

    Returns
    -------
    DataFrame, one row per latent (input order): latent, beta (log HR per SD), se, z, p, hr,
    hr_ci_low, hr_ci_high, n, n_events, loglik (Efron/Breslow log partial likelihood at the
    estimate), lr_chi2 and lr_p (likelihood-ratio test of the latent against the covariates-only
    model on the same rows), c_index, converged, iterations, status, z_mean, z_sd
    [, se_model][, ph_chi2_<t>, ph_p_<t> ...]. With ``return_covariates=True`` a tuple
    (that table, covariate table: latent, term, beta, se, z, p, hr, hr_ci_low, hr_ci_high).
    """
    if n_jobs is None:
        n_jobs = _available_cpus()
    with _blas_single_thread():
        return _cox_scan(time, event, Z, C, strata=strata, ties=ties, robust=robust, standardise_z=standardise_z,
                         z_names=z_names, c_names=c_names, max_iter=max_iter, tol=tol, c_index=c_index,
                         ph_test=ph_test, min_events=min_events, return_covariates=return_covariates,
                         chunk_size=chunk_size, alpha=alpha, n_jobs=n_jobs)


def _cox_scan(time, event, Z, C, *, strata, ties, robust, standardise_z, z_names, c_names, max_iter, tol,
              c_index, ph_test, min_events, return_covariates, chunk_size, alpha, n_jobs):
    if ties not in ("efron", "breslow"):
        raise CardiolatentError(f"ties must be 'efron' or 'breslow', not {ties!r}")
    if ph_test is True:
        transforms = ["rank"]
    elif not ph_test:
        transforms = []
    else:
        transforms = [ph_test] if isinstance(ph_test, str) else list(ph_test)
        for tname in transforms:
            if tname not in PH_TRANSFORMS:
                raise CardiolatentError(f"unknown ph_test transform {tname!r}; choose from {', '.join(PH_TRANSFORMS)}")
    t, e, ok = _check_time_event(time, event)
    n_all = len(t)
    Zm, znames = _matrix(Z, "Z", n_all, z_names, "Z")
    Cm, cnames = _matrix(C, "C", n_all, c_names, "C")
    m, c = Zm.shape[1], Cm.shape[1]
    st, st_ok = _strata_codes(strata, n_all)
    base = ok & st_ok & np.isfinite(Cm).all(1)
    if c and base.sum() > 1:
        _check_covariates(Cm[base], cnames)
    zq = 1.0 - alpha / 2
    zcrit = float(ndtri(zq))

    res = {k: np.full(m, np.nan) for k in ("beta", "se", "se_model", "loglik", "lr_chi2", "c_index",
                                          "z_mean", "z_sd")}
    nrow = np.zeros(m, np.int64)
    nev = np.zeros(m, np.int64)
    conv = np.zeros(m, bool)
    iters = np.zeros(m, np.int64)
    status = np.array(["ok"] * m, dtype=object)
    ph = {tn: (np.full(m, np.nan), np.full(m, np.nan)) for tn in transforms}
    cov_rows = []

    nanZ = np.isnan(Zm)  # (n, m) bool; infinite values were rejected
    nanZ = nanZ[base] if nanZ.any() else None
    if nanZ is not None and nanZ.any():
        packed = np.packbits(nanZ, axis=0)
        _, pat = np.unique(packed.T, axis=0, return_inverse=True)
        pat = np.asarray(pat).ravel()
    else:
        pat = np.zeros(m, np.int64)
    base_idx = np.flatnonzero(base)
    for gi in np.unique(pat):
        cols = np.flatnonzero(pat == gi)
        rows = base_idx[np.isfinite(Zm[base_idx, cols[0]])]
        nrow[cols] = len(rows)
        nev[cols] = int(e[rows].sum())
        if len(rows) == 0:
            status[cols] = "no_rows"
            continue
        if nev[cols[0]] == 0:
            status[cols] = "zero_events"
            continue
        if nev[cols[0]] < min_events:
            status[cols] = "too_few_events"
            continue
        des = _Design(t[rows], e[rows], st[rows], ties)
        srt = rows[des.order]
        Cg = Cm[srt]
        c_mean, c_sd, c_const = _standardise_cols(Cg, ddof=0)
        if c and c_const.any():
            status[cols] = "singular"  # a covariate is constant on these rows
            continue
        cov = _Cov(des, (Cg - c_mean) / c_sd if c else Cg)
        # covariates-only model on these rows, for the likelihood-ratio test
        ll_null = _null_loglik(des, cov, max_iter=max_iter, tol=tol)
        step = _chunk_size(des.n, chunk_size, n_jobs)

        def work(cc, des=des, cov=cov, srt=srt, c_sd=c_sd, ll_null=ll_null):
            Zg = Zm[np.ix_(srt, cc)]
            z_mean, z_sd, z_const = _standardise_cols(Zg, ddof=1)
            res["z_mean"][cc], res["z_sd"][cc] = z_mean, z_sd
            status[cc[z_const]] = "constant"
            fit_cols = np.flatnonzero(~z_const)
            if len(fit_cols) == 0:
                return []
            cf = cc[fit_cols]
            Zs = (Zg[:, fit_cols] - z_mean[fit_cols]) / z_sd[fit_cols]
            del Zg
            fo = _newton(des, cov, Zs, max_iter=max_iter, tol=tol)
            status[cf] = fo.status
            iters[cf] = fo.iterations
            conv[cf] = fo.converged
            est = np.isin(fo.status, _ESTIMATED)
            sel = np.flatnonzero(est)
            # back to reported units: z per SD (or per unit), covariates per unit
            zs = np.ones(len(cf)) if standardise_z else z_sd[fit_cols]
            scale = np.concatenate([zs[:, None], np.broadcast_to(c_sd, (len(cf), c))], 1)
            b = fo.beta / scale
            Vm = fo.V / (scale[:, :, None] * scale[:, None, :])
            se_model = np.sqrt(np.diagonal(Vm, axis1=1, axis2=2))
            se = se_model
            ex = None
            if (robust or transforms) and len(sel):
                # one evaluation at the estimates: residual pieces, and the information there
                _, g_f, I_f, ex = _evaluate(des, cov, Zs[:, sel], fo.beta[sel], extras=True)
                _, V_f, ok_f = _solve(I_f, g_f)
                fo.V[sel[ok_f]] = V_f[ok_f]
                Vm = fo.V / (scale[:, :, None] * scale[:, None, :])
                se_model = np.sqrt(np.diagonal(Vm, axis1=1, axis2=2))
                se = se_model
            if robust:
                se = np.full_like(se_model, np.nan)
                if ex is not None:
                    M = _score_meat(des, cov, Zs[:, sel], ex)
                    Vr = fo.V[sel] @ M @ fo.V[sel]
                    Vr = Vr / (scale[sel][:, :, None] * scale[sel][:, None, :])
                    se[sel] = np.sqrt(np.diagonal(Vr, axis1=1, axis2=2))
            if transforms and ex is not None:
                phs = _ph_stats(des, cov, Zs[:, sel], ex, fo.V[sel], transforms)
                for tn, (sv, pv) in phs.items():
                    ph[tn][0][cf[sel]] = sv
                    ph[tn][1][cf[sel]] = pv
            del ex
            b[~est] = np.nan
            se[~est] = np.nan
            se_model[~est] = np.nan
            res["beta"][cf] = b[:, 0]
            res["se"][cf] = se[:, 0]
            res["se_model"][cf] = se_model[:, 0]
            res["loglik"][cf] = np.where(est, fo.ll, np.nan)
            res["lr_chi2"][cf] = np.where(est, 2 * (fo.ll - ll_null), np.nan)
            if c_index and len(sel):
                eta = Zs[:, sel] * fo.beta[sel, 0]
                if c:
                    eta += cov.C @ fo.beta[sel, 1:].T
                res["c_index"][cf[sel]] = _c_index(des, eta)
            rows = []
            if return_covariates and c:
                for j, col in enumerate(cf):
                    for q in range(c):
                        rows.append((col, q, b[j, q + 1], se[j, q + 1]))
            return rows

        chunks = [cols[k0:k0 + step] for k0 in range(0, len(cols), step)]
        if n_jobs > 1 and len(chunks) > 1:
            for rows in _run_threads(work, chunks, n_jobs):
                cov_rows += rows
        else:
            for cc in chunks:
                cov_rows += work(cc)

    beta, se = res["beta"], res["se"]
    with np.errstate(invalid="ignore", divide="ignore"):
        zstat = beta / se
    out = pd.DataFrame({
        "latent": znames,
        "beta": beta,
        "se": se,
        "z": zstat,
        "p": 2 * norm.sf(np.abs(zstat)),
        "hr": np.exp(beta),
        "hr_ci_low": np.exp(beta - zcrit * se),
        "hr_ci_high": np.exp(beta + zcrit * se),
        "n": nrow,
        "n_events": nev,
        "loglik": res["loglik"],
        "lr_chi2": res["lr_chi2"],
        "lr_p": chi2.sf(np.maximum(res["lr_chi2"], 0), 1),
        "c_index": res["c_index"] if c_index else np.nan,
        "converged": conv,
        "iterations": iters,
        "status": status.astype(str),
        "z_mean": res["z_mean"],
        "z_sd": res["z_sd"],
    })
    if robust:
        out.insert(3, "se_model", res["se_model"])
    if not c_index:
        out = out.drop(columns="c_index")
    for tn in transforms:
        out[f"ph_chi2_{tn}"] = ph[tn][0]
        out[f"ph_p_{tn}"] = ph[tn][1]
    if not return_covariates:
        return out
    cov_rows.sort(key=lambda r: (r[0], r[1]))
    ct = pd.DataFrame([(znames[i], cnames[q], bb, ss) for i, q, bb, ss in cov_rows],
                      columns=["latent", "term", "beta", "se"])
    with np.errstate(invalid="ignore", divide="ignore"):
        ct["z"] = ct["beta"] / ct["se"]
    ct["p"] = 2 * norm.sf(np.abs(ct["z"]))
    ct["hr"] = np.exp(ct["beta"])
    ct["hr_ci_low"] = np.exp(ct["beta"] - zcrit * ct["se"])
    ct["hr_ci_high"] = np.exp(ct["beta"] + zcrit * ct["se"])
    return out, ct


def _check_covariates(Cb: np.ndarray, names: list[str]) -> None:
    """Raise for a covariate that is constant, or covariates that are collinear, on the usable rows."""
    const = ~(Cb.max(0) > Cb.min(0))
    if const.any():
        bad = [names[j] for j in np.flatnonzero(const)]
        raise CardiolatentError(
            f"covariate(s) constant on the {len(Cb)} usable rows (drop them): {', '.join(bad[:10])}")
    X = (Cb - Cb.mean(0)) / Cb.std(0)
    _, sv, Vt = np.linalg.svd(X, full_matrices=False)
    if sv[-1] <= 1e-9 * sv[0]:
        v = Vt[-1]
        bad = [names[j] for j in np.flatnonzero(np.abs(v) > 1e-6 * np.abs(v).max())]
        raise CardiolatentError(
            "covariates are collinear (for a categorical variable drop one dummy level; Cox models have no "
            f"intercept): {', '.join(bad[:10])}")


def _null_loglik(des: _Design, cov: _Cov, *, max_iter: int, tol: float) -> float:
    """Log partial likelihood of the covariates-only model (beta = 0 when there are none)."""
    if cov.c == 0:
        ll, _, _ = _evaluate(des, cov, np.zeros((des.n, 1)), np.zeros((1, 1)))
        return float(ll[0])
    sub = _Cov(des, cov.C[:, 1:])
    fo = _newton(des, sub, cov.C[:, :1].copy(), max_iter=max_iter, tol=tol)
    return float(fo.ll[0]) if fo.status[0] in _ESTIMATED else np.nan


# --------------------------------------------------------------------------------------------
# one model with a full design (used for group hazard ratios)
# --------------------------------------------------------------------------------------------

@dataclass
class CoxFit:
    """One Cox model: ``params`` (term, beta, se, z, p, hr, hr_ci_low, hr_ci_high), ``cov`` (p, p)
    variance matrix of beta (robust when asked), and fit summaries."""

    params: pd.DataFrame
    cov: np.ndarray
    loglik: float
    n: int
    n_events: int
    status: str
    converged: bool
    iterations: int


def cox_fit(time, event, X, *, strata=None, ties: str = "efron", robust: bool = False,
            names: Sequence[str] | None = None, max_iter: int = 50, tol: float = 1e-9,
            alpha: float = 0.05) -> CoxFit:
    """A single Cox PH model of ``time``/``event`` on X (n, p) (per-unit coefficients).

    Rows with NaN anywhere are dropped. Uses the same engine as :func:`cox_scan` (X[:, 0] is its
    "latent", the rest its covariates; nothing is standardised in the output).
    """
    t, e, ok = _check_time_event(time, event)
    Xm, xnames = _matrix(X, "X", len(t), names, "x")
    if Xm.shape[1] == 0:
        raise CardiolatentError("cox_fit needs at least one column in X")
    with _blas_single_thread():
        return _fit_one(t, e, Xm, xnames, strata, ties, robust, max_iter, tol, alpha)


def _fit_one(t, e, Xm, xnames, strata, ties, robust, max_iter, tol, alpha) -> CoxFit:
    n_all, p = Xm.shape
    st, st_ok = _strata_codes(strata, n_all)
    rows = np.flatnonzero(np.isfinite(t) & np.isfinite(e) & st_ok & np.isfinite(Xm).all(1))
    nan_p = np.full(p, np.nan)
    n, d = len(rows), int(e[rows].sum()) if len(rows) else 0

    def empty(status):
        params = _params_table(xnames, nan_p, nan_p, alpha)
        params["diverged"] = False
        return CoxFit(params, np.full((p, p), np.nan), np.nan, n, d, status, False, 0)

    if n == 0:
        return empty("no_rows")
    if d == 0:
        return empty("zero_events")
    des = _Design(t[rows], e[rows], st[rows], ties)
    Xs = Xm[rows[des.order]]
    mean, sd, const = _standardise_cols(Xs, ddof=0)
    if const.any():
        return empty("constant" if const[0] and not const[1:].any() else "singular")
    Xs = (Xs - mean) / sd
    cov = _Cov(des, Xs[:, 1:])
    fo = _newton(des, cov, Xs[:, :1].copy(), max_iter=max_iter, tol=tol)
    status = str(fo.status[0])
    if status not in _ESTIMATED:
        return empty(status)
    V = fo.V[0]
    if robust:
        _, _, _, ex = _evaluate(des, cov, Xs[:, :1], fo.beta, extras=True)
        M = _score_meat(des, cov, Xs[:, :1], ex)[0]
        V = V @ M @ V
    V = V / np.outer(sd, sd)
    b = fo.beta[0] / sd
    params = _params_table(xnames, b, np.sqrt(np.diag(V)), alpha)
    params["diverged"] = fo.diverged[0]
    return CoxFit(params, V, float(fo.ll[0]), n, d, status, bool(fo.converged[0]), int(fo.iterations[0]))


def _params_table(names, b, se, alpha) -> pd.DataFrame:
    zc = float(ndtri(1 - alpha / 2))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = b / se
        return pd.DataFrame({"term": list(names), "beta": b, "se": se, "z": z, "p": 2 * norm.sf(np.abs(z)),
                             "hr": np.exp(b), "hr_ci_low": np.exp(b - zc * se), "hr_ci_high": np.exp(b + zc * se)})
