"""The cross-seed step: long latents -> wide table, cross-seed matching, consensus, ensemble.

The paper trained the model with five seeds (1701, 1993, 42, 1994, 2023) and encoded every
participant with each, giving ``5 x 128 = 640`` latents named ``S{seed}_Z{k}``. It did not average
them: for each latent of seed *i* it took the best ``|Pearson r|`` partner in each *later* seed
*j > i* and kept both columns when ``|r| > 0.8`` (182 of 640 kept, explaining R^2 = 0.98 of all 640).
This module implements

- :func:`to_wide`: long encoder output (``eid, instance, seed, Z0..``) -> one row per participant
  (visit 2 preferred, visit 3 only for participants with no visit-2 latents) with
  ``S{seed}_Z{k}`` columns; participants lacking a seed are reported in ``WideLatents.excluded``;
- :func:`cross_seed_matching`: best partner of every latent in every other seed;
- :func:`consensus`: the paper's selection plus the multivariate R^2 of all latents on the selected;
- :func:`ensemble`: an alternative to the consensus: each seed's latents aligned to a reference seed
  by maximum-weight matching on ``|r|`` (Hungarian algorithm), sign-corrected and averaged.

Missing values: correlations and regressions use complete rows only (rows with a missing value in
any latent column used are dropped; the number used is reported as ``n_rows``). :func:`to_wide`
never produces such rows, so this only matters for wide tables supplied by the user.

All correlations are Pearson correlations computed from standardised columns (population SD) by
one matrix product over all seeds' columns (each seed pair is a block of it; one BLAS call is faster
than one per pair). A constant column has correlation 0 with everything.

With ``visits="both"`` a participant with two visits contributes two rows to the correlations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError

#: the paper's seed order (the consensus looks at "later" seeds in this order)
PAPER_SEEDS: tuple[int, ...] = (1701, 1993, 42, 1994, 2023)

_ZCOL = re.compile(r"^Z(\d+)$")
_SCOL = re.compile(r"^S(\d+)_Z(\d+)$")
_ID_COLS = ("eid", "instance")


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass
class WideLatents:
    """One row per participant (or participant-visit) with ``S{seed}_Z{k}`` columns.

    ``table``: columns ``eid``, ``instance``, then ``S{seed}_Z{k}`` in seed order and latent order.
    ``excluded``: ``eid, instance, reason, seeds`` for participant-visits left out; ``reason`` is
    ``missing_seeds`` (no row for some seed) or ``nan_latents`` (a seed's row has missing values);
    ``seeds`` lists the seeds concerned (comma-separated).
    ``counts``: numbers for the summary (rows, excluded, visit-3 rows used / not used).
    """

    table: pd.DataFrame
    excluded: pd.DataFrame
    seeds: tuple[int, ...]
    visits: str
    counts: dict = field(default_factory=dict)


@dataclass
class ConsensusResult:
    """The paper's consensus selection.

    ``selected``: selected column names (seed order, then latent order).
    ``pairs``: one row per (latent of seed i, later seed j): ``seed, latent, other_seed,
    best_partner, r, abs_r, kept, column, partner_column``.
    ``r2``: variance-weighted R^2 of all columns on the selected ones (1 - sum RSS / sum TSS of the
    standardised columns; constant columns are left out).
    ``r2_per_column``: ``column, seed, latent, selected, r2``.
    """

    selected: list[str]
    pairs: pd.DataFrame
    r2: float
    r2_per_column: pd.DataFrame
    threshold: float
    seeds: tuple[int, ...]
    n_rows: int


@dataclass
class EnsembleResult:
    """Latents aligned to a reference seed and averaged.

    ``table``: ``eid, instance, E_Z0..`` (``E_Z{k}`` belongs to the reference seed's latent k).
    ``matching``: ``seed, latent, matched_to, r, sign`` for every latent of every non-reference seed
    (``matched_to`` is the reference latent, <NA> if the seed has more latents than the reference).
    ``agreement``: ``column, latent, n_seeds, mean_abs_r, min_abs_r`` per ensemble column, over the
    matched partners in the other seeds (``n_seeds`` counts the seeds averaged, reference included).
    """

    table: pd.DataFrame
    matching: pd.DataFrame
    agreement: pd.DataFrame
    reference: int
    seeds: tuple[int, ...]
    n_rows: int
    standardize: bool = False


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def default_seed_order(seeds) -> tuple[int, ...]:
    """The paper's order for its seeds, followed by any other seeds in ascending order."""
    present = {int(s) for s in seeds}
    return tuple(s for s in PAPER_SEEDS if s in present) + tuple(sorted(present - set(PAPER_SEEDS)))


def latent_columns(df: pd.DataFrame) -> list[str]:
    """``Z{k}`` columns of a long latents table, sorted by k."""
    cols = [c for c in df.columns if isinstance(c, str) and _ZCOL.match(c)]
    return sorted(cols, key=lambda c: int(_ZCOL.match(c).group(1)))


def is_wide_table(df: pd.DataFrame) -> bool:
    """True for a table with ``S{seed}_Z{k}`` columns and no ``seed`` column."""
    return "seed" not in df.columns and any(isinstance(c, str) and _SCOL.match(c) for c in df.columns)


def seed_columns(wide: pd.DataFrame | WideLatents, seeds=None) -> dict[int, list[tuple[int, str]]]:
    """``{seed: [(k, "S{seed}_Z{k}"), ...]}`` (k ascending), seeds in the given or default order."""
    table = wide.table if isinstance(wide, WideLatents) else wide
    found: dict[int, list[tuple[int, str]]] = {}
    for c in table.columns:
        m = _SCOL.match(c) if isinstance(c, str) else None
        if m:
            found.setdefault(int(m.group(1)), []).append((int(m.group(2)), c))
    if not found:
        raise CardiolatentError("no latent columns named S{seed}_Z{k} in the wide table")
    if seeds is None:
        if isinstance(wide, WideLatents):
            order = tuple(s for s in wide.seeds if s in found)
        else:
            order = default_seed_order(found)
    else:
        order = tuple(int(s) for s in seeds)
        missing = [s for s in order if s not in found]
        if missing:
            raise CardiolatentError(
                f"seed(s) {', '.join(map(str, missing))} not in the table (it has "
                f"{', '.join(map(str, sorted(found)))})")
        if len(set(order)) != len(order):
            raise CardiolatentError(f"seeds listed twice: {list(order)}")
    return {s: sorted(found[s]) for s in order}


def _table(wide) -> pd.DataFrame:
    return wide.table if isinstance(wide, WideLatents) else wide


def _standardise(x: np.ndarray) -> np.ndarray:
    """Columns to mean 0, population SD 1; constant columns become 0."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 0, sd, np.inf)
    return (x - mu) / sd


def _complete_matrix(table: pd.DataFrame, cols: list[str], *, min_rows: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(values of the complete rows as float64, boolean mask of the rows used)."""
    x = table[cols].to_numpy(dtype=np.float64)
    ok = np.isfinite(x).all(axis=1)
    if ok.sum() < min_rows:
        raise CardiolatentError(
            f"only {int(ok.sum())} rows have all {len(cols)} latent columns; at least {min_rows} needed")
    return x[ok], ok


def _corr(za: np.ndarray, zb: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix (a columns x b columns) of standardised matrices."""
    return np.clip(za.T @ zb / za.shape[0], -1.0, 1.0)


def _ids(table: pd.DataFrame, mask: np.ndarray | None = None) -> pd.DataFrame:
    cols = [c for c in _ID_COLS if c in table.columns]
    out = table[cols] if mask is None else table.loc[mask, cols]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# long -> wide
# --------------------------------------------------------------------------------------------


def to_wide(latents: pd.DataFrame, *, visits: str = "prefer2", seeds=None) -> WideLatents:
    """Long latents (``eid, instance, seed, Z0..``) -> one row per participant with ``S{seed}_Z{k}``.

    ``visits="prefer2"``: the visit-2 (first imaging visit) latents; visit-3 latents only for
    participants with no visit-2 row at all (as in the paper). A participant whose chosen visit lacks
    a seed, or has missing values for a seed, is excluded and listed in ``excluded`` (we do not fall
    back to visit 3 in that case: that would mix visits for reasons of encoding failure).
    ``visits="both"``: one row per (eid, instance).

    ``seeds``: the seeds expected (and their order); default every seed in the table in the paper's
    order. Rows of other seeds are ignored.
    """
    if visits not in ("prefer2", "both"):
        raise CardiolatentError(f"visits must be 'prefer2' or 'both', not {visits!r}")
    need = ["eid", "instance", "seed"]
    missing = [c for c in need if c not in latents.columns]
    if missing:
        raise CardiolatentError(f"latents table lacks column(s) {', '.join(missing)} "
                                f"(expected eid, instance, seed, Z0..Z127)")
    zcols = latent_columns(latents)
    if not zcols:
        raise CardiolatentError("latents table has no latent columns Z0, Z1, ...")
    df = latents[need + zcols].copy()
    for c in need:
        if df[c].isna().any():
            raise CardiolatentError(f"latents table has missing values in column {c!r}")
        df[c] = df[c].astype(np.int64)
    bad = sorted(set(df["instance"].unique()) - {2, 3})
    if bad:
        raise CardiolatentError(f"latents table has instance(s) {bad}; imaging instances are 2 and 3")
    if seeds is None:
        order = default_seed_order(df["seed"].unique())
    else:
        order = tuple(int(s) for s in seeds)
        df = df[df["seed"].isin(order)]
    if not order:
        raise CardiolatentError("latents table has no rows")
    dup = df.duplicated(["eid", "instance", "seed"], keep=False)
    if dup.any():
        ex = df.loc[dup, ["eid", "instance", "seed"]].drop_duplicates().head(5)
        raise CardiolatentError("latents table has several rows for the same eid/instance/seed, e.g. "
                                + "; ".join(f"eid {r.eid} instance {r.instance} seed {r.seed}"
                                            for r in ex.itertuples()))

    counts: dict = {}
    if visits == "prefer2":
        has2 = set(df.loc[df["instance"] == 2, "eid"])
        drop3 = (df["instance"] == 3) & df["eid"].isin(has2)
        counts["visit3_rows_not_used"] = int(df.loc[drop3, "eid"].nunique())
        df = df[~drop3]

    nan_row = df[zcols].isna().any(axis=1).to_numpy()
    want = frozenset(order)
    n_ok = df.loc[~nan_row].groupby(["eid", "instance"]).size()
    keys = df[["eid", "instance"]].drop_duplicates().sort_values(["eid", "instance"])
    key_idx = pd.MultiIndex.from_frame(keys)
    n_ok = n_ok.reindex(key_idx, fill_value=0)
    is_complete = (n_ok == len(want)).to_numpy()  # duplicates were rejected, seeds restricted to order
    complete = list(key_idx[is_complete])

    excl = []
    if not is_complete.all():
        bad_idx = key_idx[~is_complete]
        part = df.set_index(["eid", "instance"])
        part = part[part.index.isin(bad_idx)]
        part_nan = part[zcols].isna().any(axis=1).to_numpy()
        have = part.loc[~part_nan].groupby(level=[0, 1])["seed"].agg(frozenset).to_dict()
        for key in bad_idx:
            ok_seeds = have.get(key, frozenset())
            seen = frozenset(part.loc[[key], "seed"])
            reason = "missing_seeds" if want - seen else "nan_latents"
            lacking = [s for s in order if s not in ok_seeds]
            excl.append((key[0], key[1], reason, ",".join(map(str, lacking))))
    excluded = pd.DataFrame(excl, columns=["eid", "instance", "reason", "seeds"]).astype(
        {"eid": np.int64, "instance": np.int64})

    good = pd.MultiIndex.from_tuples(complete, names=["eid", "instance"]) if complete else None
    sub = df.loc[~nan_row].set_index(["eid", "instance"])
    if good is not None:
        sub = sub[sub.index.isin(good)]
        wide = sub.set_index("seed", append=True)[zcols].unstack("seed")
        wide = wide.reindex(good)
        names = {}
        ordered = []
        for s in order:
            for z in zcols:
                ordered.append((z, s))
                names[(z, s)] = f"S{s}_{z}"
        wide = wide[ordered]
        wide.columns = [names[c] for c in ordered]
        wide = wide.reset_index()
    else:
        wide = pd.DataFrame({"eid": pd.Series(dtype=np.int64), "instance": pd.Series(dtype=np.int64)})
        for s in order:
            for z in zcols:
                wide[f"S{s}_{z}"] = pd.Series(dtype=np.float32)
    counts.update(
        rows=int(len(wide)),
        participants=int(wide["eid"].nunique()),
        visit3_rows_used=int((wide["instance"] == 3).sum()),
        excluded=int(len(excluded)),
    )
    return WideLatents(table=wide, excluded=excluded, seeds=order, visits=visits, counts=counts)


def from_wide_table(table: pd.DataFrame, seeds=None) -> WideLatents:
    """Wrap an existing ``S{seed}_Z{k}`` table (e.g. the paper's public form) as :class:`WideLatents`.

    ``eid`` is required; ``instance`` is added as missing if absent. Nothing is excluded.
    """
    if "eid" not in table.columns:
        raise CardiolatentError("wide latents table lacks an 'eid' column")
    cols = seed_columns(table, seeds)
    t = table.copy()
    if "instance" not in t.columns:
        t["instance"] = pd.array([pd.NA] * len(t), dtype="Int64")
    keep = ["eid", "instance"] + [c for s in cols for _, c in cols[s]]
    excluded = pd.DataFrame({"eid": pd.Series(dtype=np.int64), "instance": pd.Series(dtype=np.int64),
                             "reason": pd.Series(dtype=object), "seeds": pd.Series(dtype=object)})
    return WideLatents(table=t[keep].reset_index(drop=True), excluded=excluded, seeds=tuple(cols),
                       visits="given", counts={"rows": int(len(t)), "participants": int(t["eid"].nunique()),
                                               "excluded": 0})


# --------------------------------------------------------------------------------------------
# cross-seed matching and consensus
# --------------------------------------------------------------------------------------------


@dataclass
class _Blocks:
    """Standardised complete rows of every seed's columns and their full correlation matrix."""

    cols: dict[int, list[tuple[int, str]]]
    z: np.ndarray            # rows x all columns (seed order)
    corr: np.ndarray         # all columns x all columns
    span: dict[int, slice]   # seed -> its columns in z / corr
    ok: np.ndarray           # rows of the table used
    n: int

    def r(self, a: int, b: int) -> np.ndarray:
        return self.corr[self.span[a], self.span[b]]


def _blocks(wide, seeds) -> _Blocks:
    table = _table(wide)
    cols = seed_columns(wide, seeds)
    if len(cols) < 2:
        raise CardiolatentError("at least two seeds are needed for the cross-seed step")
    allcols = [c for s in cols for _, c in cols[s]]
    x, ok = _complete_matrix(table, allcols)
    z = _standardise(x)
    span, at = {}, 0
    for s, lst in cols.items():
        span[s] = slice(at, at + len(lst))
        at += len(lst)
    # one matrix product for all seed pairs (faster than one per pair: contiguous, one BLAS call)
    return _Blocks(cols=cols, z=z, corr=_corr(z, z), span=span, ok=ok, n=x.shape[0])


def _best_partners(b: _Blocks, pairs) -> pd.DataFrame:
    frames = []
    for si, sj in pairs:
        r = b.r(si, sj)
        best = np.argmax(np.abs(r), axis=1)
        rb = r[np.arange(r.shape[0]), best]
        ki = np.array([k for k, _ in b.cols[si]], dtype=np.int64)
        kj = np.array([k for k, _ in b.cols[sj]], dtype=np.int64)
        frames.append(pd.DataFrame({
            "seed": np.int64(si), "latent": ki, "other_seed": np.int64(sj),
            "best_partner": kj[best], "r": rb,
        }))
    return pd.concat(frames, ignore_index=True)


def cross_seed_matching(wide, seeds=None) -> pd.DataFrame:
    """For every latent of every seed and every other seed: the best ``|r|`` partner.

    Returns a long table ``seed, latent, other_seed, best_partner, r`` (``r`` signed Pearson r of
    the best partner). Complete rows only (see module docstring).
    """
    b = _blocks(wide, seeds)
    order = list(b.cols)
    return _best_partners(b, [(i, j) for i in order for j in order if i != j])


def consensus(wide, threshold: float = 0.8, seeds=None) -> ConsensusResult:
    """The paper's consensus latents and the R^2 of all latents explained by them.

    For each latent of seed i and each later seed j > i (in ``seeds`` order, default the paper's
    1701, 1993, 42, 1994, 2023), take the best ``|r|`` partner in j; when ``|r| > threshold`` keep
    both columns. R^2: OLS with intercept of every standardised column on the selected columns.
    """
    if not 0 <= threshold <= 1:
        raise CardiolatentError(f"threshold must be between 0 and 1, not {threshold}")
    b = _blocks(wide, seeds)
    cols, n = b.cols, b.n
    order = list(cols)
    pairs = _best_partners(b, [(order[a], order[b]) for a in range(len(order))
                                          for b in range(a + 1, len(order))])
    pairs["abs_r"] = pairs["r"].abs()
    pairs["kept"] = pairs["abs_r"] > threshold
    pairs["column"] = "S" + pairs["seed"].astype(str) + "_Z" + pairs["latent"].astype(str)
    pairs["partner_column"] = "S" + pairs["other_seed"].astype(str) + "_Z" + pairs["best_partner"].astype(str)

    kept = set(pairs.loc[pairs["kept"], "column"]) | set(pairs.loc[pairs["kept"], "partner_column"])
    allcols = [c for s in order for _, c in cols[s]]
    selected = [c for c in allcols if c in kept]

    z = b.z
    r2_col = multivariate_r2(z, z[:, [allcols.index(c) for c in selected]], standardised=True)
    tss = (z ** 2).sum(axis=0)
    rss = (1 - r2_col) * tss
    use = tss > 0
    r2 = float(1 - rss[use].sum() / tss[use].sum()) if use.any() else float("nan")
    per = pd.DataFrame({
        "column": allcols,
        "seed": [s for s in order for _ in cols[s]],
        "latent": [k for s in order for k, _ in cols[s]],
        "selected": [c in kept for c in allcols],
        "r2": r2_col,
    })
    return ConsensusResult(selected=selected, pairs=pairs, r2=r2, r2_per_column=per,
                           threshold=float(threshold), seeds=tuple(order), n_rows=n)


def multivariate_r2(y: np.ndarray, x: np.ndarray, *, standardised: bool = False) -> np.ndarray:
    """Per-column R^2 of OLS (with intercept) of each column of ``y`` on all columns of ``x``.

    Columns of ``y`` with zero variance get NaN. Solved with ``numpy.linalg.lstsq`` (minimum-norm
    solution when ``x`` is rank-deficient; the fitted values, hence R^2, are unique).
    """
    y = np.asarray(y, dtype=np.float64)
    yc = y if standardised else y - y.mean(axis=0)
    tss = (yc ** 2).sum(axis=0)
    if x.shape[1] == 0:
        rss = tss.copy()
    else:
        xc = np.asarray(x, dtype=np.float64)
        xc = xc - xc.mean(axis=0)  # centring both sides == fitting an intercept
        beta, *_ = np.linalg.lstsq(xc, yc - yc.mean(axis=0), rcond=None)
        resid = (yc - yc.mean(axis=0)) - xc @ beta
        rss = (resid ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(tss > 0, 1 - rss / np.where(tss > 0, tss, 1), np.nan)
    return np.clip(r2, -np.inf, 1.0)


def consensus_table(wide, result: ConsensusResult) -> pd.DataFrame:
    """``eid, instance`` and the selected ``S{seed}_Z{k}`` columns (all rows of the wide table)."""
    table = _table(wide)
    return pd.concat([_ids(table), table[result.selected].reset_index(drop=True)], axis=1)


# --------------------------------------------------------------------------------------------
# Hungarian-aligned ensemble
# --------------------------------------------------------------------------------------------


def ensemble(wide, reference: int | None = None, seeds=None, *, standardize: bool = False) -> EnsembleResult:
    """Align every seed's latents to a reference seed and average them into ``E_Z{k}``.

    For each other seed, the one-to-one assignment of its latents to the reference latents that
    maximises the summed ``|r|`` (``scipy.optimize.linear_sum_assignment`` on ``-|r|``); each matched
    latent is multiplied by the sign of its r and ``E_Z{k}`` is the mean over seeds of the aligned
    latents matched to reference latent k (the reference's own latent included). Correlations use
    complete rows; the averages are computed for every row (missing where an input is missing).

    ``standardize``: average standardised latents (z-scores over the complete rows) instead of the
    raw values, which weighs seeds equally when their latent scales differ.
    """
    from scipy.optimize import linear_sum_assignment

    table = _table(wide)
    blk = _blocks(wide, seeds)
    cols, n, ok = blk.cols, blk.n, blk.ok
    order = list(cols)
    ref = order[0] if reference is None else int(reference)
    if ref not in cols:
        raise CardiolatentError(f"reference seed {ref} not among the seeds {order}")
    ref_k = [k for k, _ in cols[ref]]
    p = len(ref_k)

    def values(s):
        x = table[[c for _, c in cols[s]]].to_numpy(dtype=np.float64)
        if standardize:
            mu = x[ok].mean(axis=0)
            sd = x[ok].std(axis=0)
            x = (x - mu) / np.where(sd > 0, sd, np.inf)
        return x

    stack = [values(ref)]
    match_rows = []
    absr = np.full((len(order) - 1, p), np.nan)
    others = [s for s in order if s != ref]
    for i, s in enumerate(others):
        r = blk.r(ref, s)  # p_ref x p_s
        rows, colsel = linear_sum_assignment(-np.abs(r))
        rv = r[rows, colsel]
        sign = np.where(rv < 0, -1.0, 1.0)
        xs = values(s)
        aligned = np.full((len(table), p), np.nan)
        aligned[:, rows] = xs[:, colsel] * sign
        stack.append(aligned)
        absr[i, rows] = np.abs(rv)
        sk = [k for k, _ in cols[s]]
        to = np.full(len(sk), -1, dtype=np.int64)
        to[colsel] = np.asarray(ref_k, dtype=np.int64)[rows]
        rr = np.full(len(sk), np.nan)
        rr[colsel] = rv
        sg = np.zeros(len(sk), dtype=np.int64)
        sg[colsel] = sign.astype(np.int64)
        unmatched = to < 0
        matched_to = pd.array(np.where(unmatched, 0, to), dtype="Int64")
        matched_to[unmatched] = pd.NA
        sg = pd.array(sg, dtype="Int64")
        sg[unmatched] = pd.NA
        match_rows.append(pd.DataFrame({"seed": np.int64(s), "latent": np.array(sk, dtype=np.int64),
                                        "matched_to": matched_to, "r": rr, "sign": sg}))
    arr = np.stack(stack)  # seeds x rows x p
    # mean over the seeds matched to each reference latent (all seeds when latent counts agree);
    # a missing input value in a matched slot makes the average missing
    matched = np.concatenate([np.ones((1, p), bool), ~np.isnan(absr)], axis=0)
    e = np.where(matched[:, None, :], arr, 0.0).sum(axis=0) / matched.sum(axis=0)
    names = [f"E_Z{k}" for k in ref_k]
    out = pd.concat([_ids(table), pd.DataFrame(e.astype(np.float32), columns=names)], axis=1)

    with np.errstate(invalid="ignore"):
        if len(others):
            mean_abs = np.nanmean(absr, axis=0)
            min_abs = np.nanmin(absr, axis=0)
        else:
            mean_abs = min_abs = np.full(p, np.nan)
    agreement = pd.DataFrame({"column": names, "latent": np.array(ref_k, dtype=np.int64),
                              "n_seeds": matched.sum(axis=0).astype(np.int64),
                              "mean_abs_r": mean_abs, "min_abs_r": min_abs})
    matching = (pd.concat(match_rows, ignore_index=True) if match_rows else
                pd.DataFrame(columns=["seed", "latent", "matched_to", "r", "sign"]))
    return EnsembleResult(table=out, matching=matching, agreement=agreement, reference=ref,
                          seeds=tuple(order), n_rows=n, standardize=standardize)


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------


def summary(wide: WideLatents, cons: ConsensusResult | None = None, ens: EnsembleResult | None = None) -> dict:
    """Counts and headline numbers as a JSON-serialisable dict."""
    cols = seed_columns(wide)
    out: dict = {
        "visits": wide.visits,
        "seeds": [int(s) for s in wide.seeds],
        "latents_per_seed": {str(s): len(v) for s, v in cols.items()},
        "n_columns": int(sum(len(v) for v in cols.values())),
        **{k: int(v) for k, v in wide.counts.items()},
    }
    if len(wide.excluded):
        out["excluded_by_reason"] = {str(k): int(v) for k, v in wide.excluded["reason"].value_counts().items()}
    if cons is not None:
        out["consensus"] = {
            "threshold": cons.threshold,
            "seed_order": [int(s) for s in cons.seeds],
            "n_selected": len(cons.selected),
            "n_pairs_kept": int(cons.pairs["kept"].sum()),
            "selected_per_seed": {str(s): int(((cons.r2_per_column["seed"] == s)
                                              & cons.r2_per_column["selected"]).sum()) for s in cons.seeds},
            "r2_all_on_selected": _finite(cons.r2),
            "n_rows_used": cons.n_rows,
        }
    if ens is not None:
        out["ensemble"] = {
            "reference": int(ens.reference),
            "n_columns": int(ens.table.shape[1] - 2),
            "standardize": bool(ens.standardize),
            "median_mean_abs_r": _finite(float(ens.agreement["mean_abs_r"].median())),
            "n_columns_min_abs_r_above_0.8": int((ens.agreement["min_abs_r"] > 0.8).sum()),
            "n_rows_used": ens.n_rows,
        }
    return out


def _finite(v: float):
    return None if v is None or not np.isfinite(v) else float(v)
