"""Batched Newton-Raphson with per-model step halving (:func:`newton`), and the log partial
likelihood of the covariates-only model (:func:`null_loglik`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardiolatent.stats.cox._likelihood import WorkBuffers, evaluate, solve
from cardiolatent.stats.cox._risksets import Covariates, RiskSets

__all__ = ["ESTIMATED", "FitOut", "newton", "null_loglik"]

#: statuses for which beta/se are reported
ESTIMATED = ("ok", "separation", "covariate_separation", "no_convergence")


@dataclass
class FitOut:
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


def newton(des: RiskSets, cov: Covariates, Zs: np.ndarray, *, max_iter: int, tol: float) -> FitOut:
    """Batched Newton-Raphson from beta = 0 with per-model step halving.

    A model has converged when the predicted gain of its next step, g' I^-1 g / 2, is below
    ``tol``; that step is still taken (and the point re-evaluated unless the step is below
    ``_SKIP_STEP``).
    """
    n, m = Zs.shape
    Zs2 = Zs * Zs
    work = WorkBuffers(n)
    s = _NewtonState(m, 1 + cov.c)
    s.ll, s.g, s.I = evaluate(des, cov, Zs, s.beta, Zs2=Zs2, work=work)
    while True:
        _new_steps(s, tol)
        if not _try_steps(s, des, cov, Zs, Zs2, work, max_iter):
            break
    return _finish(s, tol)


class _NewtonState:
    """Per-model arrays of a batched Newton run (m models, p parameters)."""

    def __init__(self, m: int, p: int):
        self.m = m
        self.beta = np.zeros((m, p))
        self.ll = self.g = self.I = None
        self.status = np.array(["ok"] * m, dtype=object)
        self.iters = np.zeros(m, np.int64)
        self.converged = np.zeros(m, bool)
        self.done = np.zeros(m, bool)
        self.last = np.zeros(m, bool)  # the step being taken is the final (decrement < tol) one
        self.halvings = np.zeros(m, np.int64)
        self.step = np.zeros((m, p))
        self.need_step = np.ones(m, bool)
        self.first = np.ones(m, bool)


def _new_steps(s: _NewtonState, tol: float) -> None:
    """Newton steps for the models that need one; a singular information ends a model
    (``singular`` at the start, ``separation`` later); a final step below ``_SKIP_STEP`` is
    applied without re-evaluating."""
    act = np.flatnonzero(~s.done & s.need_step)
    if not len(act):
        return
    st, _, ok = solve(s.I[act], s.g[act])
    bad = act[~ok]
    s.status[bad] = np.where(s.first[bad], "singular", "separation")
    s.done[bad] = True
    good = act[ok]
    st = st[ok]
    s.step[good] = st
    dec = np.einsum("ap,ap->a", s.g[good], st) / 2
    s.last[good] = dec < tol
    s.need_step[good] = False
    s.halvings[good] = 0
    tiny = s.last[good] & (np.abs(st).max(1) <= _SKIP_STEP)
    fin = good[tiny]  # converged: apply the (tiny) final step without re-evaluating
    s.beta[fin] += s.step[fin]
    s.ll[fin] += dec[tiny]
    s.converged[fin] = True
    s.done[fin] = True


def _try_steps(s: _NewtonState, des, cov, Zs, Zs2, work, max_iter: int) -> bool:
    """Evaluate the proposed points; accept those that do not decrease the log likelihood,
    halve the others' steps. Returns False when no model had a step to try."""
    prop = np.flatnonzero(~s.done & ~s.need_step)
    over = prop[s.iters[prop] >= max_iter]
    s.status[over] = "no_convergence"
    s.done[over] = True
    prop = prop[s.iters[prop] < max_iter]
    if len(prop) == 0:
        return False
    nb = s.beta[prop] + s.step[prop]
    if len(prop) == s.m:
        ll_n, g_n, I_n = evaluate(des, cov, Zs, nb, Zs2=Zs2, work=work)
    else:
        ll_n, g_n, I_n = evaluate(des, cov, Zs[:, prop], nb, Zs2=Zs2[:, prop], work=work)
    s.iters[prop] += 1
    s.first[prop] = False
    slack = 1e-10 * np.maximum(1.0, np.abs(s.ll[prop]))
    acc = np.isfinite(ll_n) & (ll_n >= s.ll[prop] - slack)
    A = prop[acc]
    s.beta[A], s.ll[A], s.g[A], s.I[A] = nb[acc], ll_n[acc], g_n[acc], I_n[acc]
    fin = A[s.last[A]]
    s.converged[fin] = True
    s.done[fin] = True
    s.need_step[A[~s.last[A]]] = True
    R = prop[~acc]  # halve the step
    s.step[R] /= 2
    s.last[R] = False
    s.halvings[R] += 1
    stuck = R[s.halvings[R] > 40]
    s.status[stuck] = "no_convergence"
    s.done[stuck] = True
    return True


def _finish(s: _NewtonState, tol: float) -> FitOut:
    """Variance at the last point, and R's check for infinite coefficients: the pending Newton
    step is not negligible at "convergence" (``separation`` for the latent, else
    ``covariate_separation``)."""
    st, V, ok = solve(s.I, s.g)
    est = np.isin(s.status, ("ok", "no_convergence"))
    big = np.abs(st) > np.sqrt(tol) * np.maximum(1.0, np.abs(s.beta))
    sep_z = est & s.converged & big[:, 0]
    sep_c = est & s.converged & ~big[:, 0] & big[:, 1:].any(1)
    s.status[sep_z] = "separation"
    s.status[sep_c] = "covariate_separation"
    V[~ok] = np.nan
    return FitOut(s.beta, V, s.ll, s.status, s.iters, s.converged, big & (est & s.converged)[:, None])


def null_loglik(des: RiskSets, cov: Covariates, *, max_iter: int, tol: float) -> float:
    """Log partial likelihood of the covariates-only model (beta = 0 when there are none)."""
    if cov.c == 0:
        ll, _, _ = evaluate(des, cov, np.zeros((des.n, 1)), np.zeros((1, 1)))
        return float(ll[0])
    sub = Covariates(des, cov.C[:, 1:])
    fo = newton(des, sub, cov.C[:, :1].copy(), max_iter=max_iter, tol=tol)
    return float(fo.ll[0]) if fo.status[0] in ESTIMATED else np.nan

