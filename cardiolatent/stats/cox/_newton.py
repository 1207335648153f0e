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
    p = 1 + cov.c
    Zs2 = Zs * Zs
    work = WorkBuffers(n)
    beta = np.zeros((m, p))
    ll, g, I = evaluate(des, cov, Zs, beta, Zs2=Zs2, work=work)
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
            st, _, ok = solve(I[act], g[act])
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
            ll_n, g_n, I_n = evaluate(des, cov, Zs, nb, Zs2=Zs2, work=work)
        else:
            ll_n, g_n, I_n = evaluate(des, cov, Zs[:, prop], nb, Zs2=Zs2[:, prop], work=work)
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
    st, V, ok = solve(I, g)
    # R's check for infinite coefficients: the pending Newton step is not negligible at "convergence"
    est = np.isin(status, ("ok", "no_convergence"))
    big = np.abs(st) > np.sqrt(tol) * np.maximum(1.0, np.abs(beta))
    sep_z = est & converged & big[:, 0]
    sep_c = est & converged & ~big[:, 0] & big[:, 1:].any(1)
    status[sep_z] = "separation"
    status[sep_c] = "covariate_separation"
    V[~ok] = np.nan
    return FitOut(beta, V, ll, status, iters, converged, big & (est & converged)[:, None])



def null_loglik(des: RiskSets, cov: Covariates, *, max_iter: int, tol: float) -> float:
    """Log partial likelihood of the covariates-only model (beta = 0 when there are none)."""
    if cov.c == 0:
        ll, _, _ = evaluate(des, cov, np.zeros((des.n, 1)), np.zeros((1, 1)))
        return float(ll[0])
    sub = Covariates(des, cov.C[:, 1:])
    fo = newton(des, sub, cov.C[:, :1].copy(), max_iter=max_iter, tol=tol)
    return float(fo.ll[0]) if fo.status[0] in ESTIMATED else np.nan

