"""Lin-Wei robust (sandwich) variance: the "meat" sum_j U_j U_j' of the per-subject score
residuals of a batch of Cox models (:func:`score_meat`)."""

from __future__ import annotations

import numpy as np

from cardiolatent.stats.cox._risksets import Covariates, RiskSets

__all__ = ["score_meat"]


def score_meat(des: RiskSets, cov: Covariates, Zs: np.ndarray, ex: dict, block: int = 8192) -> np.ndarray:
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

