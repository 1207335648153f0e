"""Cox models of the latents for incident outcomes (AF and MI by default), and tertile curves.

:func:`cox_latents` aligns a latents table with the outcome logic of
:func:`cardiolatent.ukb.outcomes.outcome_table` (time from the imaging visit of the row, in
years = days / 365.25; censoring at death, the administrative date 2023-10-31 and
``max_followup_years``, 10 by default as in the paper) and fits one Cox model per latent and
outcome with :func:`cardiolatent.stats.cox.cox_scan` (all latents together: batched
Newton-Raphson, Efron ties). ``beta`` is the log hazard ratio per SD of the latent.

On a cluster: ``chunk_map`` (for example :func:`cardiolatent.scale.dask.chunk_mapper` of a Dask
client) fits contiguous chunks of latents on the workers, every outcome's follow-up and covariates
sent once; the table is identical to the one-process scan (the chunks are whole multiples of
:func:`~cardiolatent.stats.cox.cox_scan`'s own batches of latents, see :func:`_cox_chunks`).

Who is in a model: rows with a visit date, no event on or before the visit (prevalent cases are
excluded, reason ``prevalent``), positive follow-up and complete covariates. Every row of the
latents table left out of an outcome's models is counted with its reason in
``excluded`` (``eid, instance, outcome, reason``).

:func:`group_curves` gives the figure data of the paper's tertile analysis for a latent or any
score: hazard ratios with each group as reference, Kaplan-Meier and Nelson-Aalen curves, overall
and by sex.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pandas as pd

from cardiolatent.analysis.design import (
    NOT_IN_MAIN_DATA,
    design_matrix,
    expand_names,
    participant_variables,
    variable_label,
)
from cardiolatent.analysis.model_notes import gather_chunks, model_notes, status_counts
from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import Latents, read_latents
from cardiolatent.results import Result, Summary
from cardiolatent.stats import survival as sv
from cardiolatent.stats.cox import cox_scan
from cardiolatent.stats.cox.scan import _available_cpus, _chunk_size
from cardiolatent.ukb.covariates import as_wide
from cardiolatent.ukb.outcomes import DEFAULT_ADMIN_DATE, load_definitions, outcome_table

#: the tables of the tertile analysis (:func:`group_curves`), saved as ``<stem>.<score>.<name>.tsv``
GROUP_TABLES = ("hazard_ratios", "kaplan_meier", "nelson_aalen")


@dataclass
class CoxSummary(Summary):
    """Counts per outcome (``outcomes``: n_rows, n_used, n_events, excluded by reason), the model."""

    model: str = ""
    outcomes: dict = field(default_factory=dict)
    covariates: list = field(default_factory=list)
    strata: str | None = None
    robust_se: bool = False
    max_followup_years: float | None = 10.0
    n_latents: int = 0
    latent_rows_excluded: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    groups: str | None = None
    quantiles: int | None = None
    follow_from: str = "imaging visit"  # where follow-up starts: "imaging visit" or "baseline assessment"


#: what ``CoxSummary.follow_from`` says for rows at each instance (0: baseline assessment)
FOLLOW_FROM = {0: "baseline assessment", 2: "imaging visit", 3: "imaging visit"}


@dataclass
class CoxResult(Result):
    """``table``: one row per latent x outcome; ``excluded``: ``eid, instance, outcome, reason``;
    ``summary``: counts per outcome and reason, covariates, notes. ``groups``: with a tertile
    analysis, ``{"hazard_ratios", "kaplan_meier", "nelson_aalen"}`` tables of the score named
    ``summary.groups`` (every outcome stacked)."""

    groups: dict = field(default_factory=dict)

    kind: ClassVar[str] = "cox"
    summary_type: ClassVar[type] = CoxSummary

    def extra_tables(self) -> dict[str, pd.DataFrame]:
        label = self.summary.groups
        return {f"{label}.{k}.tsv": v for k, v in self.groups.items()} if label else {}

    @classmethod
    def _from_saved(cls, table, excluded, summary, extras):
        s = CoxSummary.from_dict(summary)
        groups = {k: extras[f"{s.groups}.{k}.tsv"] for k in GROUP_TABLES if f"{s.groups}.{k}.tsv" in extras}
        return cls(table=table, excluded=excluded, summary=s, groups=groups)

    def summary_lines(self) -> list[str]:
        lines = []
        for o, c in self.summary.outcomes.items():
            ex = ", ".join(f"{n} {r}" for r, n in c["excluded"].items()) or "none"
            lines.append(f"{o}: {c['n_used']:,} participants, {c['n_events']:,} incident events; excluded: {ex}")
        lines += [f"  note: {n}" for n in self.summary.notes]
        return lines


@dataclass
class SurvivalData:
    """Follow-up of each latents row for one outcome: ``time`` (years, NaN where not usable),
    ``event`` (0/1), ``reason`` (None for usable rows, else why not)."""

    outcome: str
    time: np.ndarray
    event: np.ndarray
    reason: np.ndarray


def survival_data(main: Any, keys: pd.DataFrame, outcome: str, *, max_followup_years: float | None = 10.0,
                  admin_date=None, definitions=None) -> SurvivalData:
    """Time to ``outcome`` from each row's imaging visit (incident events only)."""
    wide = as_wide(main)
    defs = definitions if definitions is not None else load_definitions()
    key = next((k for k in defs if k.lower() == str(outcome).lower()), None)
    if key is None:
        raise CardiolatentError(f"unknown outcome {outcome!r}; defined: {', '.join(sorted(defs))} "
                                "(add your own in a definitions file: definitions=load_definitions(path))")
    n = len(keys)
    time = np.full(n, np.nan)
    event = np.zeros(n, dtype=np.int64)
    reason = np.full(n, "no_visit_date", dtype=object)
    inst = keys["instance"].to_numpy()
    eids = keys["eid"].to_numpy()
    for i in sorted(set(inst.tolist())):
        rows = np.flatnonzero(inst == i)
        try:
            res = outcome_table(wide, [key], instance=int(i), definitions=defs,
                                admin_date=admin_date or DEFAULT_ADMIN_DATE,
                                max_followup_years=max_followup_years, allow_missing_death=True)
        except CardiolatentError:
            if i == 2:
                raise
            continue  # no visit dates for this instance in the file: rows keep no_visit_date
        t = res.table.set_index("eid").reindex(eids[rows])
        ex = res.excluded.set_index("eid")["reason"] if len(res.excluded) else pd.Series(dtype=object)
        tt = t["time_years"].to_numpy(float)
        ev = pd.to_numeric(t["event"], errors="coerce").fillna(0).to_numpy().astype(np.int64)
        prev = t["prevalent"].astype("boolean").fillna(False).to_numpy(bool)
        exr = ex.reindex(eids[rows]).to_numpy(object) if len(ex) else np.full(len(rows), None, dtype=object)
        r = np.full(len(rows), None, dtype=object)
        r[~(tt > 0)] = "no_follow_up"
        r[prev] = "prevalent"
        has = pd.notna(exr)
        r[has] = exr[has]
        ok = pd.isna(r)
        time[rows] = np.where(ok, tt, np.nan)
        event[rows] = np.where(ok, ev, 0)
        reason[rows] = r
    reason[~np.isin(eids, wide.index.to_numpy())] = NOT_IN_MAIN_DATA
    return SurvivalData(key, time, event, reason)


def cox_latents(
    latents: Any,
    main: Any,
    outcomes: Sequence[str] | str = ("AF", "MI"),
    covariates: Sequence[str] | str = ("age", "sex"),
    *,
    strata: str | None = None,
    robust: bool = False,
    ph_test: bool = False,
    max_followup_years: float | None = 10.0,
    admin_date=None,
    definitions=None,
    visits: str = "prefer2",
    latent_columns: Sequence[str] | str | None = None,
    min_level_count: int = 10,
    c_index: bool = True,
    groups: str | pd.DataFrame | None = None,
    quantiles: int = 3,
    chunk_map: Callable | None = None,
    chunk_parts: int = 16,
) -> CoxResult:
    """Per-SD hazard ratio of every latent for every outcome, with covariates (see module docstring).

    ``latents``: a :class:`~cardiolatent.latents.Latents`, a file or a DataFrame.
    ``strata``: a variable name (e.g. ``sex``) whose levels get their own baseline hazard (it is
    then not also used as a covariate). ``groups``: a latent column, or a score table (``eid``
    [, ``instance``], ``score``), for the paper's tertile analysis (``quantiles`` groups) with the
    same covariates: :func:`group_curves` per outcome, in ``result.groups``.
    ``chunk_map``: ``chunk_map(fn, chunks, shared) -> [fn(chunk, shared) for chunk in chunks]`` run
    elsewhere (a Dask cluster: :func:`cardiolatent.scale.dask.chunk_mapper`); the latents are cut
    into about ``chunk_parts`` chunks (see :func:`_cox_chunks`), the result is identical. The
    tertile analysis runs in this process.
    """
    L = read_latents(latents, visits=visits, columns=latent_columns)
    group = _group_score(L, groups) if groups is not None else None  # checked before any model is fitted
    outcomes = expand_names(outcomes)
    if strata:  # a stratum named by field id or column (31, 31-0.0) is the variable labelled sex
        strata = variable_label(strata, getattr(main, "registry", None), definitions)
    covs = [c for c in expand_names(covariates) if c != strata]
    need = list(dict.fromkeys(covs + ([strata] if strata else [])))
    V = participant_variables(main, L.keys, need, definitions=definitions) if need else None
    Z = L.values  # float32 stays float32: cox_scan converts each batch of latents (exactly)
    parts, excl, counts = [], [], {}
    notes = list(V.notes) if V is not None else []
    fits = []  # per outcome: what cox_scan is given besides the latents
    for o in outcomes:
        S = survival_data(main, L.keys, o, max_followup_years=max_followup_years, admin_date=admin_date,
                          definitions=definitions)
        usable = pd.isna(S.reason)
        if V is not None:
            D = design_matrix(V, covs, rows=usable, min_level_count=min_level_count)
            dnotes = [f"{S.outcome}: {n}" for n in D.notes]
            miss_cov = usable & ~D.complete
            C, cnames = D.matrix, D.names
            st = None
            if strata:
                sv = V.table[strata].to_numpy(float)
                miss_cov |= usable & np.isnan(sv)
                st = sv
        else:
            miss_cov = np.zeros(len(Z), bool)
            C, cnames, st, dnotes = None, [], None, []
        reason = S.reason.copy()
        reason[miss_cov] = "missing_covariate"
        use = pd.isna(reason)
        kw = dict(c_names=cnames, robust=robust)
        if ph_test:
            kw["ph_test"] = True
        if not c_index:
            kw["c_index"] = False
        if st is None:
            # every row, the unused ones with no time (cox_scan leaves them out): no copy of the
            # latents per outcome; the rows used, and their order, are those of the slice
            args = dict(time=np.where(use, S.time, np.nan), event=S.event.astype(float), C=C, rows=None)
        else:  # strata codes are numbered over the rows given: give exactly the rows used
            args = dict(time=S.time[use], event=S.event[use].astype(float), C=None if C is None else C[use],
                        strata=st[use], rows=use)
        fits.append((S, reason, use, cnames, dnotes, {**args, **kw}))
    if chunk_map is None:
        scans = []
        for *_, a in fits:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)  # numpy's warnings become notes, never raw output
                res = _cox_fit(Z, L.columns, a)
            scans.append((res, caught))
    else:
        scans = _cox_chunked(Z, L.columns, [f[-1] for f in fits], chunk_map, chunk_parts)
    for (S, reason, use, cnames, dnotes, _), (res, caught) in zip(fits, scans):
        notes += dnotes
        res.insert(1, "outcome", S.outcome)
        parts.append(res)
        r = pd.Series(reason[~use]).value_counts().to_dict()
        counts[S.outcome] = {"n_rows": int(len(Z)), "n_used": int(use.sum()),
                             "n_events": int(S.event[use].sum()), "excluded": {k: int(v) for k, v in r.items()},
                             "status": status_counts(res)}
        notes += model_notes(S.outcome, res, caught, n_events=int(S.event[use].sum()), n_params=1 + len(cnames),
                             unit="events")
        ex = L.keys[~use].copy()
        ex["outcome"] = S.outcome
        ex["reason"] = reason[~use]
        excl.append(ex)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    excluded = pd.concat([L.excluded[["eid", "instance", "reason"]].assign(outcome="all")] + excl,
                         ignore_index=True)
    summary = {
        "model": "Cox proportional hazards, Efron ties; latent standardised (beta = log HR per SD)",
        "outcomes": counts,
        "covariates": covs,
        "strata": strata,
        "robust_se": bool(robust),
        "max_followup_years": max_followup_years,
        "n_latents": len(L.columns),
        "latent_rows_excluded": {k: int(v) for k, v in L.excluded["reason"].value_counts().items()}
        if len(L.excluded) else {},
        "notes": notes,
        "follow_from": FOLLOW_FROM[0] if len(L.keys) and (L.keys["instance"] == 0).all() else FOLLOW_FROM[2],
    }
    group_tables = {}
    if group is not None:
        label, score = group
        summary.update(groups=label, quantiles=int(quantiles))
        for o in outcomes:
            g = group_curves(score, main, L.keys, o, q=quantiles, max_followup_years=max_followup_years,
                             definitions=definitions, covariates=covariates)
            for k, v in g.items():
                group_tables.setdefault(k, []).append(v)
        group_tables = {k: pd.concat(v, ignore_index=True) for k, v in group_tables.items()}
    return CoxResult(table, excluded, CoxSummary.from_dict(summary), groups=group_tables)


def _cox_fit(Z, names, a: dict, *, chunk_size=None, n_jobs=None) -> pd.DataFrame:
    """:func:`cox_scan` of the latents ``Z`` (every row; ``a["rows"]`` selects the rows given when
    strata are used) with one outcome's follow-up and covariates ``a``."""
    kw = {k: v for k, v in a.items() if k not in ("time", "event", "C", "rows")}
    Zr = Z if a["rows"] is None else Z[a["rows"]]
    return cox_scan(a["time"], a["event"], Zr, a["C"], z_names=list(names), chunk_size=chunk_size,
                    n_jobs=n_jobs, **kw)


def _cox_chunk(chunk, shared) -> list:
    """Worker side of a chunked Cox scan: every outcome for the latents of ``chunk``
    (``(Z columns (n, w), names)``); returns per outcome ``(table, [(warning class, message)])``."""
    Zc, names = chunk
    out = []
    for a, chunk_size in zip(shared["outcomes"], shared["chunk_size"]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            res = _cox_fit(Zc, names, a, chunk_size=chunk_size, n_jobs=shared["n_jobs"])
        out.append((res, [(w.category, str(w.message)) for w in caught]))
    return out


def _cox_chunks(Z, outcome_args: list[dict], parts: int) -> tuple[list[tuple[int, int]], list, int]:
    """``(column ranges, chunk_size per outcome, n_jobs)`` for a chunked Cox scan whose numbers are
    exactly the one-process scan's.

    :func:`cox_scan` fits the latents of one missingness pattern in batches of ``_chunk_size(rows,
    None, n_jobs)`` models (n_jobs = this machine's CPUs, at most 8), and a batch's Newton
    arithmetic depends on which models are in it. With complete latents (one pattern; an outcome's
    rows are those with a time, covariates and strata) the chunks are whole multiples of every
    outcome's batch, and each worker is told the outcome's batch (``chunk_size``, one thread).
    Latents with a missing value, or batches whose common multiple is not below the number of
    latents: one chunk, fitted with this machine's ``n_jobs`` (so the same batches)."""
    m = Z.shape[1]
    n_jobs = _available_cpus()
    with np.errstate(over="ignore", invalid="ignore"):
        complete = bool(np.isfinite(Z.sum(axis=0, dtype=np.float64)).all())
    steps = []
    for a in outcome_args:
        base = np.isfinite(a["time"]) & np.isfinite(a["event"])
        if a["C"] is not None and a["C"].shape[1]:
            base &= np.isfinite(a["C"]).all(1)
        if a.get("strata") is not None:
            base &= pd.notna(a["strata"])
        steps.append(_chunk_size(int(base.sum()), None, n_jobs))
    align = math.lcm(*steps) if steps else m
    if not complete or align >= m:
        return [(0, m)], [None] * len(outcome_args), n_jobs
    w = max(align, math.ceil(math.ceil(m / max(int(parts), 1)) / align) * align)
    bounds = list(range(0, m, w)) + [m]
    return list(zip(bounds[:-1], bounds[1:])), steps, 1


def _cox_chunked(Z, names, outcome_args: list[dict], chunk_map, parts: int) -> list:
    """Per outcome: (table, caught warnings) from ``chunk_map`` over latent chunks (every outcome
    of a chunk fitted on one worker: the chunk is sent once)."""
    spans, steps, n_jobs = _cox_chunks(Z, outcome_args, parts)
    names = list(names)
    chunks = [(Z if (a, b) == (0, Z.shape[1]) else np.ascontiguousarray(Z[:, a:b]), names[a:b]) for a, b in spans]
    shared = {"outcomes": outcome_args, "chunk_size": steps, "n_jobs": n_jobs}
    results = chunk_map(_cox_chunk, chunks, shared)
    return gather_chunks(results, len(outcome_args))


def _group_score(L: Latents, groups) -> tuple[str, np.ndarray]:
    """(label, one score per latents row) from a latent column name or a score table."""
    if isinstance(groups, pd.DataFrame):
        if "eid" not in groups.columns or "score" not in groups.columns:
            raise CardiolatentError("the score table needs columns 'eid' and 'score'")
        on = ["eid", "instance"] if "instance" in groups.columns else ["eid"]
        score = L.keys.merge(groups[on + ["score"]], on=on, how="left")["score"].to_numpy(float)
        return "score", score
    if groups not in L.columns:
        raise CardiolatentError(f"groups {groups!r} is not a latent column (e.g. {L.columns[0]})")
    return str(groups), L.table[groups].to_numpy(float)


@dataclass
class GroupInputs:
    """What the tertile analysis of any score needs for one outcome, read once (:func:`group_inputs`):
    follow-up ``S``, the covariate matrix ``C`` ((n, k) or None) with ``complete`` rows, and ``sex``
    labels (``female`` / ``male`` / ``unknown``, or None)."""

    S: SurvivalData
    C: np.ndarray | None
    complete: np.ndarray
    sex: np.ndarray | None


def group_inputs(main: Any, keys: pd.DataFrame, outcome: str, *, covariates: Sequence[str] | str = (),
                 by_sex: bool = True, max_followup_years: float | None = 10.0, definitions=None) -> GroupInputs:
    """Read the follow-up, covariates and sex of ``keys`` once for :func:`group_curves` of many scores."""
    S = survival_data(main, keys, outcome, max_followup_years=max_followup_years, definitions=definitions)
    covs = expand_names(covariates)
    need = list(dict.fromkeys(covs + (["sex"] if by_sex else [])))
    V = participant_variables(main, keys, need, definitions=definitions) if need else None
    base = pd.isna(S.reason)
    C, complete = None, np.ones(len(keys), dtype=bool)
    if covs:
        D = design_matrix(V, covs, rows=base)
        C, complete = D.matrix, np.asarray(D.complete, dtype=bool)
    sex = None
    if by_sex:
        sx = V.table["sex"].to_numpy(float)
        sex = np.where(sx == 1, "male", np.where(sx == 0, "female", "unknown"))
    return GroupInputs(S=S, C=C, complete=complete, sex=sex)


def group_curves(score: np.ndarray, main: Any, keys: pd.DataFrame, outcome: str, *, q: int = 3,
                 covariates: Sequence[str] | str = (), by_sex: bool = True,
                 max_followup_years: float | None = 10.0, definitions=None,
                 inputs: GroupInputs | None = None) -> dict[str, pd.DataFrame]:
    """Quantile groups (tertiles by default) of ``score`` (one value per row of ``keys``): hazard
    ratios with each group as reference, Kaplan-Meier and Nelson-Aalen curves (overall and by sex).

    ``inputs``: :func:`group_inputs` of the same rows, outcome and covariates, read once for many
    scores (``main``, ``covariates``, ``by_sex``, ``max_followup_years``, ``definitions`` are then not
    read). Returns ``{"hazard_ratios", "kaplan_meier", "nelson_aalen"}`` tidy tables.
    """
    if inputs is None:
        inputs = group_inputs(main, keys, outcome, covariates=covariates, by_sex=by_sex,
                              max_followup_years=max_followup_years, definitions=definitions)
    S = inputs.S
    use = pd.isna(S.reason) & np.isfinite(np.asarray(score, float)) & inputs.complete
    C = inputs.C[use] if inputs.C is not None else None
    groups = sv.quantile_groups(np.asarray(score, float)[use], q=q)
    hr = sv.group_hazard_ratios(S.time[use], S.event[use], groups, C=C)
    km = sv.kaplan_meier(S.time[use], S.event[use], groups=groups)
    na = sv.nelson_aalen(S.time[use], S.event[use], groups=groups)
    out = {"hazard_ratios": hr.assign(outcome=S.outcome), "kaplan_meier": km.assign(outcome=S.outcome, by="all"),
           "nelson_aalen": na.assign(outcome=S.outcome, by="all")}
    if inputs.sex is not None:
        lab = inputs.sex[use]
        km2 = sv.kaplan_meier(S.time[use], S.event[use], groups=groups, by=lab).assign(outcome=S.outcome)
        na2 = sv.nelson_aalen(S.time[use], S.event[use], groups=groups, by=lab).assign(outcome=S.outcome)
        out["kaplan_meier"] = pd.concat([out["kaplan_meier"], km2], ignore_index=True)
        out["nelson_aalen"] = pd.concat([out["nelson_aalen"], na2], ignore_index=True)
    return out
