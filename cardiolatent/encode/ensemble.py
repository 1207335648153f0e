"""The cross-seed step: long latents -> wide table, cross-seed matching, consensus, ensemble.

The paper trained the model with five seeds (1701, 1993, 42, 1994, 2023) and encoded every
participant with each, giving ``5 x 128 = 640`` latents named ``S{seed}_Z{k}``. It did not average
them: for each latent of seed *i* it took the best ``|Pearson r|`` partner in each *later* seed
*j > i* and kept both columns when ``|r| > 0.8`` (182 of 640 kept, explaining R^2 = 0.98 of all 640).
This module works on :class:`cardiolatent.latents.Latents` (long encoder output is made wide,
``S{seed}_Z{k}``, by :func:`cardiolatent.latents.read_latents`) and implements

- :func:`cross_seed_matching`: best partner of every latent in every other seed;
- :func:`consensus`: the paper's selection plus the multivariate R^2 of all latents on the selected;
- :func:`ensemble`: an alternative to the consensus: each seed's latents aligned to a reference seed
  by maximum-weight matching on ``|r|`` (Hungarian algorithm), sign-corrected and averaged.

Missing values: correlations and regressions use complete rows only (rows with a missing value in
any latent column used are dropped; the number used is reported as ``n_rows``). :func:`~cardiolatent.latents.read_latents`
never produces such rows from long input, so this only matters for wide tables supplied by the user.

All correlations are Pearson correlations computed from standardised columns (population SD) by
one matrix product over all seeds' columns (each seed pair is a block of it; one BLAS call is faster
than one per pair). A constant column has correlation 0 with everything.

With ``visits="both"`` a participant with two visits contributes two rows to the correlations.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import PAPER_SEEDS, Latents, default_seed_order, latent_z_columns, read_latents
from cardiolatent.results import Result, Summary

__all__ = ["PAPER_SEEDS", "default_seed_order", "cross_seed_matching", "consensus", "ensemble",
           "consensus_table", "multivariate_r2", "summary", "ConsensusResult", "EnsembleResult", "cross_seed",
           "CrossSeedResult", "participants_excluded"]


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
    standardise: bool = False


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


_ID_COLS = ("eid", "instance")


def latent_columns(df: pd.DataFrame) -> list[str]:
    """``Z{k}`` columns of a long latents table, sorted by k."""
    return latent_z_columns(df)


def _as_latents(latents, seeds=None) -> Latents:
    return latents if isinstance(latents, Latents) else read_latents(latents, seeds=seeds)


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
    wide = _as_latents(wide)
    table = wide.table
    cols = wide.seed_columns(seeds)
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
    table = _as_latents(wide).table
    return pd.concat([_ids(table), table[result.selected].reset_index(drop=True)], axis=1)


# --------------------------------------------------------------------------------------------
# Hungarian-aligned ensemble
# --------------------------------------------------------------------------------------------


def ensemble(wide, reference: int | None = None, seeds=None, *, standardise: bool = False) -> EnsembleResult:
    """Align every seed's latents to a reference seed and average them into ``E_Z{k}``.

    For each other seed, the one-to-one assignment of its latents to the reference latents that
    maximises the summed ``|r|`` (``scipy.optimize.linear_sum_assignment`` on ``-|r|``); each matched
    latent is multiplied by the sign of its r and ``E_Z{k}`` is the mean over seeds of the aligned
    latents matched to reference latent k (the reference's own latent included). Correlations use
    complete rows; the averages are computed for every row (missing where an input is missing).

    ``standardise``: average standardised latents (z-scores over the complete rows) instead of the
    raw values, which weighs seeds equally when their latent scales differ.
    """
    wide = _as_latents(wide)
    table = wide.table
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
        if standardise:
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
                          seeds=tuple(order), n_rows=n, standardise=standardise)


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------


def summary(wide: Latents, cons: ConsensusResult | None = None, ens: EnsembleResult | None = None) -> dict:
    """Counts and headline numbers as a JSON-serialisable dict."""
    cols = wide.seed_columns()
    out: dict = {
        "visits": wide.visits,
        "seeds": [int(s) for s in wide.seeds],
        "latents_per_seed": {str(s): len(v) for s, v in cols.items()},
        "n_columns": int(sum(len(v) for v in cols.values())),
        **{k: int(v) for k, v in wide.counts.items()},
    }
    excluded = participants_excluded(wide)
    if len(excluded):
        out["excluded_by_reason"] = {str(k): int(v) for k, v in excluded["reason"].value_counts().items()}
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
            "standardise": bool(ens.standardise),
            "median_mean_abs_r": _finite(float(ens.agreement["mean_abs_r"].median())),
            "n_columns_min_abs_r_above_0.8": int((ens.agreement["min_abs_r"] > 0.8).sum()),
            "n_rows_used": ens.n_rows,
        }
    return out


def _finite(v: float):
    return None if v is None or not np.isfinite(v) else float(v)


def participants_excluded(wide: Latents) -> pd.DataFrame:
    """Participant-visits left out of the cross-seed step (a seed missing, missing values).

    A repeat visit not used (``repeat_visit_not_used``) is not listed: that participant is in,
    at visit 2 (counted as ``visit3_rows_not_used`` in the summary).
    """
    ex = wide.excluded
    return ex[ex["reason"] != "repeat_visit_not_used"].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# the cross-seed step as one result
# --------------------------------------------------------------------------------------------


@dataclass
class CrossSeedSummary(Summary):
    """Counts and headline numbers of :func:`cross_seed` (``summary.json``)."""

    visits: str = "prefer2"
    seeds: list = dc_field(default_factory=list)
    latents_per_seed: dict = dc_field(default_factory=dict)
    n_columns: int = 0
    visit3_rows_not_used: int = 0
    rows: int = 0
    participants: int = 0
    visit3_rows_used: int = 0
    excluded: int = 0
    excluded_by_reason: dict = dc_field(default_factory=dict)
    consensus: dict = dc_field(default_factory=dict)
    ensemble: dict = dc_field(default_factory=dict)
    latents: str = ""


@dataclass
class CrossSeedResult(Result):
    """The consensus latents and the aligned ensemble of several seeds (one output folder).

    ``table``: ``eid, instance`` and the consensus columns (``consensus_wide.parquet``);
    ``excluded``: participant-visits lacking a seed; ``ensemble_wide``, ``matching``, ``pairs``,
    ``r2_per_column``, ``agreement``: the other tables (see :class:`ConsensusResult`,
    :class:`EnsembleResult`).
    """

    ensemble_wide: pd.DataFrame = None
    matching: pd.DataFrame = None
    pairs: pd.DataFrame = None
    r2_per_column: pd.DataFrame = None
    agreement: pd.DataFrame = None

    kind: ClassVar[str] = "ensemble"
    layout: ClassVar[str] = "folder"
    table_name: ClassVar[str] = "consensus_wide.parquet"
    summary_type: ClassVar[type] = CrossSeedSummary
    _EXTRAS: ClassVar[dict] = {"ensemble_wide.parquet": "ensemble_wide", "matching.tsv": "matching",
                               "consensus_pairs.tsv": "pairs", "consensus_r2.tsv": "r2_per_column",
                               "agreement.tsv": "agreement"}

    def extra_tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, attr) for name, attr in self._EXTRAS.items()}

    @classmethod
    def _from_saved(cls, table, excluded, summary, extras):
        kw = {attr: extras.get(name) for name, attr in cls._EXTRAS.items()}
        return cls(table=table, excluded=excluded, summary=CrossSeedSummary.from_dict(summary), **kw)

    def summary_lines(self) -> list[str]:
        s = self.summary
        c, e = s.consensus, s.ensemble
        r2 = c.get("r2_all_on_selected")
        return [f"{s.rows:,} rows x {len(s.seeds)} seeds ({', '.join(map(str, s.seeds))}); "
                f"{s.excluded:,} excluded",
                f"consensus: {c.get('n_selected')} of {s.n_columns} latents (|r| > {c.get('threshold')}), "
                f"R^2 of all on them = {'n/a' if r2 is None else f'{r2:.3f}'}; "
                f"ensemble: {e.get('n_columns')} columns aligned to seed {e.get('reference')}"]


def cross_seed(latents, *, threshold: float = 0.8, reference: int | None = None, seeds=None,
               standardise: bool = False, visits: str = "prefer2") -> CrossSeedResult:
    """The whole cross-seed step: the paper's consensus selection and a Hungarian-aligned ensemble.

    ``latents``: a :class:`~cardiolatent.latents.Latents`, a file or a DataFrame (long or wide).
    """
    wide = latents if isinstance(latents, Latents) else read_latents(latents, visits=visits, seeds=seeds)
    if wide.n_rows == 0:
        raise CardiolatentError(f"{wide.source}: no participant has latents for every seed "
                                f"({len(participants_excluded(wide))} excluded)")
    order = tuple(wide.seed_columns(seeds))
    cons = consensus(wide, threshold=threshold, seeds=order)
    ensr = ensemble(wide, reference=reference, seeds=order, standardise=standardise)
    summ = summary(wide, cons, ensr)
    summ["latents"] = wide.source
    return CrossSeedResult(table=consensus_table(wide, cons), excluded=participants_excluded(wide),
                           summary=CrossSeedSummary.from_dict(summ), ensemble_wide=ensr.table,
                           matching=ensr.matching, pairs=cons.pairs, r2_per_column=cons.r2_per_column,
                           agreement=ensr.agreement)
