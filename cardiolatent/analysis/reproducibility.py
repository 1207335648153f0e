"""Reproducibility of the latents: ICC between imaging visits and between model seeds, and M_eff.

- :func:`icc_between_visits`: participants with latents at both imaging visits (instance 2 and 3)
  are the subjects, the two visits the raters, every latent column ``S{seed}_Z{k}`` one variable.
- :func:`icc_between_seeds`: each latent of a reference seed is one variable; the raters are that
  latent and its matched, sign-corrected partner in every other seed (one row per participant:
  visit 2, visit 3 only without visit 2).

Which ICC form: the paper does not say. Both functions compute the six Shrout-Fleiss forms and the
summary headlines :data:`REPORT_FORM` = ``ICC3`` = ICC(3,1) = ICC(C,1), two-way mixed,
consistency, single measurement: the raters (visit 2 / visit 3, or seeds) are fixed, not sampled,
and analyses use one measurement per participant; a shift common to all participants between visits
(ageing, scanner drift) or between seeds (arbitrary latent offset) does not change a standardised
latent's associations, so consistency rather than absolute agreement is what matters downstream.
ICC2 (absolute agreement) is in the table for readers who want the stricter form.

Both return a :class:`ReproducibilityResult`: a tidy table (``latent, type, icc, ci_low, ci_high,
f, df1, df2, p, n, k, description, reason`` plus extras) and a JSON-serialisable summary with the
counts, the median ICC per form and M_eff (Li & Ji and Cheverud/Nyholt) of the latents per seed and
of all of them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from cardiolatent.encode import ensemble as ens
from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import Latents, read_latents
from cardiolatent.results import Result, Summary
from cardiolatent.stats import intraclass as icc_mod
from cardiolatent.stats.independent_tests import (correlation, correlation_from_cross_products,
                                                  centred_cross_products, effective_tests)

#: the form the summary headlines (see module docstring)
REPORT_FORM = "ICC3"

#: column order of the result tables
COLUMNS = ["latent", "type", "icc", "ci_low", "ci_high", "f", "df1", "df2", "p", "n", "k",
           "description", "reason"]


@dataclass
class _ICCSummary(Summary):
    """Shared part of the ICC summaries: forms, medians per form (``icc``), M_eff (``meff``)."""

    between: str = ""
    seeds: list = field(default_factory=list)
    forms: list = field(default_factory=list)
    alpha: float = 0.05
    report_form: str = REPORT_FORM
    report_form_description: str = ""
    icc: dict = field(default_factory=dict)
    n_rows_not_ok: int = 0
    meff: dict = field(default_factory=dict)
    latents: str = ""


@dataclass
class VisitICCSummary(_ICCSummary):
    """:func:`icc_between_visits`: participants per visit, with both visits, excluded."""

    raters: list = field(default_factory=list)
    n_latents: int = 0
    n_participants_visit2: int = 0
    n_participants_visit3: int = 0
    n_participants_both_visits: int = 0
    n_participant_visits_excluded: int = 0


@dataclass
class SeedICCSummary(_ICCSummary):
    """:func:`icc_between_seeds`: reference seed, matching, latents kept."""

    reference: int = 0
    raters: list = field(default_factory=list)
    matching: str = "best"
    standardise: bool = False
    threshold: float | None = None
    n_reference_latents: int = 0
    n_latents_kept: int = 0
    n_participants: int = 0
    n_participants_excluded: int = 0


@dataclass
class ReproducibilityResult(Result):
    """``table``: one row per (latent, ICC form); ``excluded``: participant-visits left out (a seed
    missing); ``summary``: counts, medians per form, M_eff.

    ``matching`` (between seeds only): ``latent, seed, partner, r, sign`` for every reference latent
    and every other seed.
    """

    between: str = "visits"
    matching: pd.DataFrame | None = None

    kind: ClassVar[str] = "icc"
    summary_type: ClassVar[type] = _ICCSummary

    @classmethod
    def _from_saved(cls, table, excluded, summary, extras):
        between = summary.get("between", "visits")
        st = VisitICCSummary if between == "visits" else SeedICCSummary
        return cls(table=table, excluded=excluded, summary=st.from_dict(summary), between=between)

    def summary_lines(self) -> list[str]:
        s = self.summary
        if self.between == "visits":
            lines = [f"{s.n_participants_both_visits:,} participants with latents at both visits "
                     f"(visit 2: {s.n_participants_visit2:,}, visit 3: {s.n_participants_visit3:,}); "
                     f"{s.n_latents} latents"]
        else:
            lines = [f"{s.n_participants:,} participants; reference seed {s.reference}, raters = seeds "
                     f"{', '.join(map(str, s.raters))} ({s.matching} matching); "
                     f"{s.n_latents_kept} of {s.n_reference_latents} reference latents"]
        lines.append("median ICC per form (over latents): " + ", ".join(
            f"{f} {v['median']:.3f}" if v["median"] is not None else f"{f} n/a" for f, v in s.icc.items()))
        r = s.icc[s.report_form]
        if r["median"] is not None:
            lines.append(f"report form {s.report_form} ({s.report_form_description}): median {r['median']:.3f} "
                         f"[IQR {r['q25']:.3f}-{r['q75']:.3f}], {r['n_above_0.75']} of {r['n_latents']} "
                         "latents above 0.75")
        me = s.meff.get("all")
        if me:
            lines.append(f"M_eff of the {me['m']} latents: {me['meff_li_ji']:.1f} (Li & Ji), "
                         f"{me['meff_nyholt']:.1f} (Cheverud/Nyholt)")
        if s.n_rows_not_ok:
            lines.append(f"{s.n_rows_not_ok} rows have no ICC (see the reason column)")
        return lines


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def _excluded(w: Latents) -> pd.DataFrame:
    return ens.participants_excluded(w)[["eid", "instance", "reason"]]


def _meff_summary(table: pd.DataFrame, cols: dict[int, list[tuple[int, str]]]) -> dict:
    """M_eff of all latent columns and of each seed's, from one complete-rows correlation matrix."""
    allcols = [c for s in cols for _, c in cols[s]]
    x = table[allcols].to_numpy(dtype=np.float64)
    if np.isfinite(x).all(axis=1).sum() < 3:
        return {"note": "fewer than 3 complete rows: M_eff not computed"}
    r, n = correlation(x, "complete")
    return _meff_from_correlation(r, n, cols)


def _meff_from_correlation(r: np.ndarray, n: int, cols: dict[int, list[tuple[int, str]]]) -> dict:
    """:func:`_meff_summary` from the complete-rows correlation matrix ``r`` of the columns of
    ``cols`` (seed by seed) over ``n`` rows."""
    allcols = [c for s in cols for _, c in cols[s]]
    out = {"rows": "complete rows", "n_rows": int(n)}
    res = effective_tests(corr=r)
    res.n_rows, res.missing = n, "complete"
    res.dropped = [allcols[i] for i in res.dropped]
    out["all"] = res.as_dict()
    per = {}
    at = 0
    for s, lst in cols.items():
        idx = np.arange(at, at + len(lst))
        at += len(lst)
        rs = effective_tests(corr=r[np.ix_(idx, idx)])
        rs.n_rows, rs.missing = n, "complete"
        rs.dropped = [lst[i][1] for i in rs.dropped]
        per[str(s)] = rs.as_dict()
    out["per_seed"] = per
    return out


def _common_summary(tab: pd.DataFrame, forms, alpha: float, rf: str) -> dict:
    """Summary entries shared by the visit and seed analyses."""
    return {
        "forms": list(forms),
        "alpha": float(alpha),
        "report_form": rf,
        "report_form_description": icc_mod.DESCRIPTIONS[rf],
        "icc": _form_summary(tab, forms),
        "n_rows_not_ok": int((tab["reason"] != icc_mod.OK).sum()),
    }


def _form_summary(table: pd.DataFrame, forms) -> dict:
    out = {}
    for f in forms:
        t = table[(table["type"] == f) & (table["reason"] == icc_mod.OK)]
        v = t["icc"].to_numpy(dtype=np.float64)
        out[f] = {
            "n_latents": int(len(v)),
            "median": float(np.median(v)) if len(v) else None,
            "q25": float(np.quantile(v, 0.25)) if len(v) else None,
            "q75": float(np.quantile(v, 0.75)) if len(v) else None,
            "n_above_0.75": int((v > 0.75).sum()),
            "n_above_0.9": int((v > 0.9).sum()),
        }
    return out


def _finish(tab: pd.DataFrame) -> pd.DataFrame:
    tab = tab.rename(columns={"variable": "latent"})
    tab["latent"] = tab["latent"].astype(str)
    return tab[COLUMNS + [c for c in tab.columns if c not in COLUMNS]]


def _check_report_form(report_form, forms):
    rf = icc_mod.normalise_forms([report_form])[0]
    if rf not in forms:
        raise CardiolatentError(f"report form {rf} is not among the forms computed ({', '.join(forms)})")
    return rf


# --------------------------------------------------------------------------------------------
# between visits
# --------------------------------------------------------------------------------------------


def icc_between_visits(latents, seeds=None, forms=icc_mod.FORMS, alpha: float = 0.05,
                       *, report_form: str = REPORT_FORM) -> ReproducibilityResult:
    """ICC of every latent column between imaging visits 2 and 3.

    ``latents``: a file, a DataFrame (long ``eid, instance, seed, Z0..`` or wide ``eid, instance,
    S{seed}_Z{k}``), read with :func:`cardiolatent.latents.read_latents` and ``visits="both"``; or
    a :class:`~cardiolatent.latents.Latents` read that way. A participant-visit lacking a seed (or with missing values for one) is left
    out entirely and counted in the summary. Subjects are the participants with rows at both visits
    (raters: visit 2, visit 3); a subject with a missing value in a latent is dropped for that latent
    only (``n`` per row). ``seeds``: seeds to use (default all, paper order).

    M_eff is computed from the visit-2 rows of *all* participants with visit 2 (complete rows).
    """
    forms = icc_mod.normalise_forms(forms)
    rf = _check_report_form(report_form, forms)
    w = read_latents(latents, visits="both", seeds=seeds)
    if w.visits != "both":
        raise CardiolatentError("icc between visits needs latents read with visits='both' (one row per visit)")
    cols = w.seed_columns(seeds)
    allcols = [c for s in cols for _, c in cols[s]]
    t = w.table
    v2 = t[t["instance"] == 2].set_index("eid")
    v3 = t[t["instance"] == 3].set_index("eid")
    both = v2.index.intersection(v3.index).sort_values()
    if len(both) < 2:
        raise CardiolatentError(f"only {len(both)} participant(s) have latents at both visits (instance 2 "
                                "and 3); at least 2 are needed for an ICC")
    x = np.stack([v2.loc[both, allcols].to_numpy(dtype=np.float64),
                  v3.loc[both, allcols].to_numpy(dtype=np.float64)], axis=1)  # (n, 2 visits, m)
    tab = icc_mod.icc(x, variables=allcols, forms=forms, alpha=alpha)
    seed_of = {c: s for s in cols for _, c in cols[s]}
    tab.insert(1, "seed", np.array([seed_of[c] for c in tab["variable"]], dtype=np.int64))
    tab = _finish(tab)
    excl = _excluded(w)
    summary = {
        "between": "visits",
        "raters": ["instance 2", "instance 3"],
        "seeds": [int(s) for s in cols],
        "n_latents": len(allcols),
        "n_participants_visit2": int(len(v2)),
        "n_participants_visit3": int(len(v3)),
        "n_participants_both_visits": int(len(both)),
        "n_participant_visits_excluded": int(len(excl)),
        **_common_summary(tab, forms, alpha, rf),
        "meff": _meff_summary(v2.reset_index(), cols) if len(v2) >= 3 else
        {"note": "fewer than 3 visit-2 rows: M_eff not computed"},
    }
    if "meff" in summary and "all" in summary["meff"]:
        summary["meff"]["rows"] = "visit-2 rows of all participants with visit 2 (complete rows)"
    summary["latents"] = w.source
    return ReproducibilityResult(table=tab, excluded=excl, summary=VisitICCSummary.from_dict(summary),
                                 between="visits")


# --------------------------------------------------------------------------------------------
# between seeds
# --------------------------------------------------------------------------------------------


def _partners_best(r: np.ndarray, cols, ref) -> pd.DataFrame:
    """Best-|r| partner in every other seed of each reference latent, from the correlation matrix
    ``r`` of all columns (seed by seed, as ``cols``): what
    :func:`cardiolatent.encode.ensemble.cross_seed_matching` gives for the reference seed (a
    constant column correlates 0 with everything)."""
    span, at = {}, 0
    for s, lst in cols.items():
        span[s] = slice(at, at + len(lst))
        at += len(lst)
    ki = np.array([k for k, _ in cols[ref]], dtype=np.int64)
    frames = []
    for sj in cols:
        if sj == ref:
            continue
        rr = np.nan_to_num(r[span[ref], span[sj]], nan=0.0)
        best = np.argmax(np.abs(rr), axis=1)
        kj = np.array([k for k, _ in cols[sj]], dtype=np.int64)
        frames.append(pd.DataFrame({"latent": ki, "seed": np.int64(sj), "partner": kj[best],
                                    "r": rr[np.arange(rr.shape[0]), best]}))
    return pd.concat(frames, ignore_index=True)


def _partners_hungarian(w, cols, ref) -> pd.DataFrame:
    e = ens.ensemble(w, reference=ref, seeds=list(cols))
    m = e.matching.dropna(subset=["matched_to"])
    return pd.DataFrame({"latent": m["matched_to"].to_numpy(np.int64), "seed": m["seed"].to_numpy(np.int64),
                         "partner": m["latent"].to_numpy(np.int64), "r": m["r"].to_numpy(np.float64)})


def icc_between_seeds(latents, threshold: float | None = None, reference: int | None = None,
                      *, seeds=None, forms=icc_mod.FORMS, alpha: float = 0.05, matching: str = "best",
                      standardise: bool = True, report_form: str = REPORT_FORM) -> ReproducibilityResult:
    """ICC of each reference-seed latent with its matched partners in the other seeds (raters = seeds).

    Rows: one per participant (:func:`cardiolatent.latents.read_latents`, ``visits="prefer2"``).
    Matching (``matching``):

    - ``"best"`` (default, the paper's definition of a reproduced latent):
      :func:`cardiolatent.encode.ensemble.cross_seed_matching`: for reference latent k, its best
      ``|Pearson r|`` partner in each other seed. Not one-to-one: two reference latents may share a
      partner, so each reference latent is judged on its own.
    - ``"hungarian"``: the one-to-one maximum-total-``|r|`` assignment of
      :func:`cardiolatent.encode.ensemble.ensemble`.

    Each partner is multiplied by the sign of its r (sign-corrected) so that the k = number of seeds
    raters measure the same thing with the same orientation. ``standardise`` (default): z-score
    every column first (the seeds' latents have arbitrary scales and offsets; ICC2/ICC1 penalise them, ICC3 only
    the scale). ``threshold``: keep only reference latents whose partners all have ``|r| >
    threshold`` (the paper used 0.8); None keeps all. ``reference``: default the first seed.
    """
    if matching not in ("best", "hungarian"):
        raise CardiolatentError(f"matching must be 'best' or 'hungarian', not {matching!r}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise CardiolatentError(f"threshold must be between 0 and 1, not {threshold}")
    forms = icc_mod.normalise_forms(forms)
    rf = _check_report_form(report_form, forms)
    w = read_latents(latents, visits="prefer2", seeds=seeds)
    cols = w.seed_columns(seeds)
    if len(cols) < 2:
        raise CardiolatentError("at least two seeds are needed for an ICC between seeds")
    order = list(cols)
    ref = order[0] if reference is None else int(reference)
    if ref not in cols:
        raise CardiolatentError(f"reference seed {ref} not among the seeds {order}")
    others = [s for s in order if s != ref]
    allcols = [c for s in order for _, c in cols[s]]
    where = {c: j for j, c in enumerate(w.columns)}
    X = w.values[:, [where[c] for c in allcols]] if allcols != w.columns else w.values
    # one matrix of centred cross-products of every column (complete rows): the correlations for
    # the matching and M_eff and, for complete data, the ICC mean squares
    with np.errstate(over="ignore", invalid="ignore"):
        finite = bool(np.isfinite(X.sum(axis=0, dtype=np.float64)).all())
    rows_ok = None if finite else np.isfinite(X).all(axis=1)
    n_complete = len(X) if finite else int(rows_ok.sum())
    if n_complete < 3:
        raise CardiolatentError(f"only {n_complete} rows have all {len(allcols)} latent columns; "
                                "at least 3 needed")
    G, cmean, cscale = centred_cross_products(X if finite else X[rows_ok])
    r_all = correlation_from_cross_products(G, n_complete, cscale)
    if matching == "best":
        pairs = _partners_best(r_all, cols, ref)
    else:
        pairs = _partners_hungarian(w, cols, ref)
    pairs["sign"] = np.where(pairs["r"] < 0, -1, 1).astype(np.int64)
    ref_k = [k for k, _ in cols[ref]]
    col_of = {s: dict(cols[s]) for s in order}
    cidx, sign, absr, partner_txt = _rater_columns(pairs, ref, others, ref_k, col_of,
                                                   {c: j for j, c in enumerate(allcols)})
    p = len(ref_k)
    n = w.n_rows
    min_abs = absr.min(axis=0)  # NaN where a seed has no partner (hungarian, fewer latents)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice
        mean_abs = np.nanmean(absr, axis=0)
    keep = np.ones(p, bool) if threshold is None else (min_abs > threshold)
    names = [col_of[ref][k] for k in ref_k]
    kept_names = [names[i] for i in np.flatnonzero(keep)]
    if finite:
        # complete data: the mean squares follow from the cross-products (no ratings array)
        lo, hi = X.min(axis=0), X.max(axis=0)
        ms = _gram_mean_squares(G, cmean, lo == hi, lo, n_complete, cidx[:, keep], sign[:, keep], standardise)
        tab = icc_mod.table_from_mean_squares(ms, kept_names, forms=forms, alpha=alpha)
    else:
        x = _rater_array(w, [where[c] for c in allcols], cidx[:, keep], sign[:, keep], standardise)
        tab = icc_mod.icc(x, variables=kept_names, forms=forms, alpha=alpha)
    del X
    nf = len(forms)
    kept = np.flatnonzero(keep)
    tab = _finish(tab)
    tab["partners"] = np.repeat(np.array([",".join(partner_txt[i]) for i in kept], dtype=object), nf)
    tab["min_abs_r"] = np.repeat(min_abs[kept], nf)
    tab["mean_abs_r"] = np.repeat(mean_abs[kept], nf)

    match_tab = pairs.assign(latent=[col_of[ref][k] for k in pairs["latent"]],
                             partner=[col_of[s][c] for s, c in zip(pairs["seed"], pairs["partner"])])
    summary = {
        "between": "seeds",
        "reference": int(ref),
        "seeds": [int(s) for s in order],
        "raters": [int(ref)] + [int(s) for s in others],
        "matching": matching,
        "standardise": bool(standardise),
        "threshold": threshold,
        "n_reference_latents": int(p),
        "n_latents_kept": int(keep.sum()),
        "n_participants": int(n),
        "n_participants_excluded": int(len(_excluded(w))),
        **_common_summary(tab, forms, alpha, rf),
        "meff": _meff_from_correlation(r_all, n_complete, cols),
        "latents": w.source,
    }
    return ReproducibilityResult(table=tab, excluded=_excluded(w), summary=SeedICCSummary.from_dict(summary),
                                 between="seeds", matching=match_tab)


def _column_values(w: Latents, j: int, standardise: bool) -> np.ndarray:
    """Latent column ``j`` of ``w`` as float64, z-scored over its observed rows when ``standardise``."""
    v = w.values[:, j].astype(np.float64)
    if standardise:
        ok = np.isfinite(v)
        sd = v[ok].std() if ok.any() else 0.0
        v = (v - (v[ok].mean() if ok.any() else 0.0)) / (sd if sd > 0 else np.inf)
    return v


def _rater_columns(pairs, ref, others, ref_k, col_of, pos):
    """Raters of every reference latent: ``cidx`` (1 + others, latents) positions in ``pos`` of
    the reference column and its partners (-1 without a partner), their ``sign`` (+-1), the |r| of
    each partner (others x latents; NaN without one) and the partners' names per reference latent."""
    p = len(ref_k)
    cidx = np.full((1 + len(others), p), -1, dtype=np.int64)
    sign = np.ones((1 + len(others), p))
    cidx[0] = [pos[col_of[ref][k]] for k in ref_k]
    lookup = {(int(a), int(b)): (int(c), float(r), int(sg)) for a, b, c, r, sg in
              pairs[["latent", "seed", "partner", "r", "sign"]].itertuples(index=False)}
    absr = np.full((len(others), p), np.nan)
    partner_txt = [[] for _ in range(p)]
    for j, s in enumerate(others):
        for v, k in enumerate(ref_k):
            hit = lookup.get((k, s))
            if hit is None:
                partner_txt[v].append(f"S{s}:none")
                continue
            c, r, sg = hit
            cidx[1 + j, v] = pos[col_of[s][c]]
            sign[1 + j, v] = sg
            absr[j, v] = abs(r)
            partner_txt[v].append(f"{'-' if sg < 0 else '+'}{col_of[s][c]}")
    return cidx, sign, absr, partner_txt


def _rater_array(w: Latents, wcol, cidx, sign, standardise):
    """(n, raters, latents) array of the sign-corrected raters (NaN without a partner); ``wcol``
    maps the positions in ``cidx`` to columns of ``w``."""
    k, p = cidx.shape
    x = np.full((w.n_rows, k, p), np.nan)
    cache = {}
    for a in range(k):
        for v in range(p):
            c = int(cidx[a, v])
            if c < 0:
                continue
            if c not in cache:
                cache[c] = _column_values(w, wcol[c], standardise)
            x[:, a, v] = sign[a, v] * cache[c]
    return x


def _gram_mean_squares(G, mean, const_col, value, n, cidx, sign, standardise):
    """ICC mean squares of the raters ``cidx`` / ``sign`` (raters, latents) of complete data from
    the centred cross-products ``G`` of all columns (:func:`mean_squares_from_gram`).

    Each rater column is sign-corrected and, with ``standardise``, z-scored (population SD; a
    constant column, ``const_col``, becomes 0, as :func:`_column_values` makes it); ``value``: a
    column's value where it is constant."""
    k, p = cidx.shape
    missing = (cidx < 0).any(axis=0)
    ci = np.where(cidx < 0, 0, cidx)
    g = G
    colmean = sign * mean[ci]                                   # (k, p)
    if standardise:
        ss = np.diag(G)
        sd = np.sqrt(ss / n)
        inv = np.where(const_col | ~(sd > 0), 0.0, 1.0 / np.where(sd > 0, sd, 1.0))
        g = G * inv[:, None] * inv[None, :]
        colmean = np.zeros((k, p))
    C = g[ci.T[:, :, None], ci.T[:, None, :]]                   # (p, k, k)
    C *= sign.T[:, :, None] * sign.T[:, None, :]
    # every rating equal: every rater constant and (raw) at the same value
    const_v = const_col[ci].all(axis=0)
    if not standardise:
        vals = sign * value[ci]
        const_v &= (vals == vals[:1]).all(axis=0)
    const_v &= ~missing
    C[missing] = np.nan
    colmean = colmean.T.copy()
    colmean[missing] = np.nan
    nv = np.where(missing, 0, n)
    return icc_mod.mean_squares_from_gram(C, colmean, nv, constant=const_v)
