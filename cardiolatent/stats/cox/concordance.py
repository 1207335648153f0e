"""Harrell's concordance (C-index) counted as lifelines does, in O(n log n + D log^2 n) per
predictor: :func:`harrell_c` (public) and :func:`c_index` (of fitted models on a :class:`RiskSets`)."""

from __future__ import annotations

import numpy as np

from cardiolatent.stats._inputs import float_vector, strata_codes
from cardiolatent.stats.cox._risksets import RiskSets

__all__ = ["harrell_c", "c_index"]


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
    """#{i >= q_j : X[m, i] < A[m, j]} for every model m and query j, and the tied queries.

    X (a, n_pad) values in time order padded with +inf (n_pad a multiple of the top block);
    q (D,) suffix starts; A (a, D) query values. Returns (lt (a, D), tied (a, D) bool or None):
    ``tied`` marks the queries whose value occurs more than once among the rows (None: none does).
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
    for m in range(aa):
        for b in range(nb):
            lt_top[m, b, order[m]] = np.searchsorted(top[m, b], A_s[m], "left")
    # a query value repeated among the rows: it sits at the first position >= it in two blocks, or
    # at that position and the next in one block (top blocks are sorted; padding is +inf)
    L = top.shape[2]
    first = np.take_along_axis(top, np.minimum(lt_top[:, :nb], L - 1), axis=2) == A[:, None, :]
    second = np.take_along_axis(top, np.minimum(lt_top[:, :nb] + 1, L - 1), axis=2) == A[:, None, :]
    second &= first & (lt_top[:, :nb] + 1 < L)
    tied_q = (first.sum(1) + second.sum(1)) > 1
    del first, second

    def counts(right: bool) -> np.ndarray:
        T = lt_top
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
    return lt, (tied_q if tied_q.any() else None)


def _tied_counts(E: np.ndarray, q: np.ndarray, A: np.ndarray, tied_q: np.ndarray) -> np.ndarray:
    """#{i >= q_j : E[i] == A_j} summed over the queries ``tied_q`` (the others have no equal row
    but themselves, which lies before q_j): only the rows holding one of those values are looked
    at. E (n,) values in time order, q (D,), A (D,), tied_q (D,) bool."""
    qs = np.flatnonzero(tied_q)
    vals = np.unique(A[qs])
    rows = np.flatnonzero(np.isin(E, vals))
    gid = np.searchsorted(vals, E[rows])          # value group of each such row
    n1 = len(E) + 1
    keys = np.sort(gid * n1 + rows)                # rows grouped by value, ascending within a group
    g = np.searchsorted(vals, A[qs])
    after = np.searchsorted(keys, (g + 1) * n1)   # end of the query's value group
    start = np.searchsorted(keys, g * n1 + q[qs])  # first row of the group at or after q_j
    return float((after - start).sum())


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
        A = X[:, dr]
        lt, tied_q = _suffix_counts(X, q, A)
        correct[s0:s0 + aa] = lt.sum(1)
        if tied_q is not None:
            for m in range(aa):
                if tied_q[m].any():
                    tied[s0 + m] = _tied_counts(E[:, m], q, A[m], tied_q[m])
    return correct, tied, pairs


def harrell_c(time, event, scores, strata=None) -> np.ndarray:
    """Harrell's C of each column of ``scores`` (n, a) (higher score = higher risk).

    Same counting as ``lifelines.utils.concordance_index(time, -scores, event)``; with ``strata``
    the counts are summed within strata (as lifelines' ``CoxPHFitter.concordance_index_``).
    Returns (a,) values; NaN when there is no comparable pair.
    """
    t = float_vector(time, "time")
    e = float_vector(event, "event", len(t))
    S = np.asarray(scores, float)
    one = S.ndim == 1
    if one:
        S = S[:, None]
    st, ok = strata_codes(strata, len(t))
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


def c_index(des: RiskSets, eta: np.ndarray) -> np.ndarray:
    num = np.zeros(eta.shape[1])
    pairs = 0
    for s0, s1 in zip(des.s_start, des.s_end):
        cr, ti, pa = _harrell_counts(des.time[s0:s1], des.event[s0:s1], eta[s0:s1])
        num += cr + ti / 2
        pairs += pa
    return num / pairs if pairs else np.full(eta.shape[1], np.nan)

