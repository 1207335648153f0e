"""Sorted survival structure of one row set: risk sets and event groups (:class:`RiskSets`),
standardised covariates and their derived matrices (:class:`Covariates`), column standardisation."""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["RiskSets", "Covariates", "standardise_cols"]

_CC_KEEP = 8e6  # covariate cross-products (c(c+1)/2 x n) are kept up to this many values


class RiskSets:
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
    def from_segments(self, SS: np.ndarray) -> np.ndarray:
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


class Covariates:
    """Standardised covariates of one design (sorted rows) and their derived matrices."""

    def __init__(self, des: RiskSets, Cs: np.ndarray):
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

    def seg_sums(self, des: RiskSets, w: np.ndarray) -> np.ndarray:
        """(n, a) weights -> (S, 1 + c, a) segment sums of w * [1, C]."""
        return (self.SgX @ w).reshape(des.S, self.c + 1, w.shape[1])


def standardise_cols(X: np.ndarray, ddof: int = 1):
    mean = X.mean(0)
    sd = X.std(0, ddof=ddof) if X.shape[0] > ddof else np.full(X.shape[1], np.nan)
    const = ~(X.max(0) > X.min(0)) if X.shape[0] else np.ones(X.shape[1], bool)
    return mean, sd, const

