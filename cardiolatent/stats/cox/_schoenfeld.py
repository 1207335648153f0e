"""Proportional-hazards test: Grambsch-Therneau score test of the latent's coefficient against a
transform of time with scaled Schoenfeld residuals (:func:`ph_stats`), as lifelines'
``proportional_hazard_test`` computes it."""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats.cox._risksets import Covariates, RiskSets

__all__ = ["PH_TRANSFORMS", "ph_stats"]

PH_TRANSFORMS = ("rank", "km", "identity", "log")


def _km_at(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier survival S(t) (right-continuous) of (time, event), evaluated at ``at``."""
    ut, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event, minlength=len(ut))
    r = np.bincount(inv, minlength=len(ut)).astype(float)
    at_risk = r[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore"):
        S = np.exp(np.cumsum(np.log(at_risk - d) - np.log(at_risk)))
    return S[np.searchsorted(ut, at)]


def _time_transform(des: RiskSets, name: str) -> np.ndarray:
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


def ph_stats(des: RiskSets, cov: Covariates, Zs: np.ndarray, ex: dict, V: np.ndarray, transforms) -> dict:
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
        out[name] = (stat, chdtrc(1, stat))
    return out

