"""Phenotype and covariate matrices for a GWAS, after sample QC that accounts for everyone.

:func:`prepare_export` takes a latents table (long encoder output, a wide table, or the
consensus/ensemble tables of ``cardiolatent ensemble``) and the UK Biobank main data and returns
:class:`ExportTables`: one row per written participant (visit 2, else visit 3), the transformed
latents, binary traits, time-to-event pairs and covariates, plus every participant not written
with the reason.

Sample QC, in this order (a participant is counted under the *first* filter they fail, so
``written + sum(excluded) == participants in the latents table``; see :data:`FILTERS`):

1. ``latents_missing``: no value for any chosen latent (a long table: a seed missing at the visit);
2. ``withdrawn``: in the withdrawals file;
3. ``not_in_main_data``: eid absent from the main data;
4. ``no_visit_date``: no date of attending (field 53) at the latents' imaging visit;
5. ``imaging_qc``: the visit is in the encoder's QC table (failed images);
6. ``not_in_genotypes``: not in the genotype sample list (``.fam``/``.psam``/``.sample``);
7. ``genetic_ethnic_grouping``: 22006 is not 1 (Caucasian, White British subset) or missing;
8. ``sex_mismatch``: reported sex (31) differs from genetic sex (22001), both known;
9. ``missing_covariate``: a covariate is missing (REGENIE, PLINK and BOLT drop such people);
10. ``related``: listed for removal, or removed so that no pair above the kinship threshold is left.

Then, over the written participants only: covariates coded (dummies, or raw codes for
REGENIE/BOLT), rare levels merged, constant and all-missing covariates dropped (noted);
latents constant over everyone dropped (noted); the transform applied (rank-based inverse normal
by default, the paper's; ``raw``; ``resid``: residuals of OLS on the covariates; ``resid-int``:
those residuals inverse-normal transformed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from cardiolatent.analysis.design import expand_names, participant_variables
from cardiolatent.analysis.design import Variables
from cardiolatent.analysis.survival import survival_data
from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.covariates import code_covariates
from cardiolatent.exports.naming import safe_name, unique_names
from cardiolatent.exports.options import TRANSFORMS
from cardiolatent.exports.qc import FILTERS, QCTracker, SampleQC, apply_sample_qc
from cardiolatent.latents import read_latents
from cardiolatent.stats.transforms import inverse_normal
from cardiolatent.ukb.covariates import field_columns
from cardiolatent.ukb.covariates import as_wide
from cardiolatent.ukb.outcomes import load_definitions

__all__ = [
    "FILTERS",
    "TRANSFORMS",
    "SampleQC",
    "ExportTables",
    "prepare_export",
    "safe_name",
    "residualise",
]

#: compatible private names (moved to :mod:`cardiolatent.exports.qc` / :mod:`~cardiolatent.exports.naming`)
_Tracker = QCTracker
_unique_names = unique_names


@dataclass
class ExportTables:
    """Everything a format writer needs, for the ``n`` written participants (same row order everywhere).

    ``ids``: ``eid``, ``instance``, ``FID``, ``IID`` (strings as the genotype files spell them).
    ``pheno``: (n, m) float64 transformed latents (NaN = missing). ``binary``: (n, b) 0/1 float
    (NaN missing). ``t2e``: time (years) and event (0/1) column pairs ``{o}_time``, ``{o}_event``.
    ``covar``: covariate columns; float64, except raw-coded categorical columns (``categorical``),
    which hold level labels as strings. ``excluded``: ``eid, instance, reason, detail`` for every
    participant of the latents table not written. ``counts``: one dict per filter (``reason``,
    ``excluded``, ``remaining``, ``description``). ``notes``: decisions taken (dropped columns,
    merged levels). ``info``: details for the manifest.
    """

    ids: pd.DataFrame
    pheno: pd.DataFrame
    binary: pd.DataFrame
    t2e: pd.DataFrame
    covar: pd.DataFrame
    categorical: list[str]
    excluded: pd.DataFrame
    counts: list[dict]
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_input(self) -> int:
        """Participants in the latents table (written + excluded)."""
        return int(self.info.get("n_participants_input", self.n + len(self.excluded)))


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def residualise(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Residuals of OLS of each column of ``y`` (n, m) on an intercept and ``x`` (n, p).

    NaN in a column of ``y`` leaves that entry NaN; each missingness pattern is fitted on its own
    observed rows (usually one pattern: all latents observed). ``x`` must be complete.
    Rank-deficient ``x`` (nested dummies) is fine: the projection is unique.
    """
    y = np.asarray(y, np.float64)
    n = y.shape[0]
    design = np.column_stack([np.ones(n), np.asarray(x, np.float64).reshape(n, -1)])
    out = np.full_like(y, np.nan)
    obs = ~np.isnan(y)
    patterns: dict[bytes, list[int]] = {}
    for j in range(y.shape[1]):
        patterns.setdefault(np.packbits(obs[:, j]).tobytes(), []).append(j)
    for cols in patterns.values():
        rows = obs[:, cols[0]]
        if rows.sum() == 0:
            continue
        xs = design[rows]
        q, r = np.linalg.qr(xs)
        # drop numerically null directions (nested dummies): keep columns of q with |r_jj| > tol
        d = np.abs(np.diag(r))
        keep = d > d.max() * max(xs.shape) * np.finfo(float).eps if len(d) else np.zeros(0, bool)
        q = q[:, keep]
        ys = y[np.ix_(rows, cols)]
        out[np.ix_(rows, cols)] = ys - q @ (q.T @ ys)
    return out


def _pcs_available(wide: pd.DataFrame) -> list[int]:
    return sorted(a for (i, a) in field_columns(wide, 22009) if i == 0)


# --------------------------------------------------------------------------------------------
# the steps of prepare_export
# --------------------------------------------------------------------------------------------


@dataclass
class _LatentsStep:
    """The latents read with the visit rule: one row per participant, and who was lost on the way."""

    latents: Any          # cardiolatent.latents.Latents
    values: np.ndarray    # (n_rows, n_latents) float64
    pre_excluded: pd.DataFrame
    all_eids: np.ndarray  # every eid of the input, in order of first appearance
    rows_not_used: dict


def _read_export_latents(latents: Any, latent_columns) -> _LatentsStep:
    """Latents (visit 2, else 3) and the ``latents_missing`` exclusions of participants with no usable row."""
    L = read_latents(latents, visits="prefer2", columns=latent_columns)
    keys = L.keys
    if keys["eid"].duplicated().any():  # cannot happen with prefer2; guard the invariant
        ex = keys.loc[keys["eid"].duplicated(), "eid"].head(5).tolist()
        raise CardiolatentError(f"{L.source}: several rows for eid {', '.join(map(str, ex))}")
    values = L.as_float64()
    if np.isinf(values).any():
        r, c = np.argwhere(np.isinf(values))[0]
        raise CardiolatentError(f"latent {L.columns[c]} is infinite for eid {int(keys['eid'].iloc[r])}: "
                                "fix the latents table")
    ex_rows = L.excluded
    rows_not_used = {str(k): int(v) for k, v in ex_rows["reason"].value_counts().items()} if len(ex_rows) else {}
    lost = ex_rows.loc[~ex_rows["eid"].isin(keys["eid"])].drop_duplicates("eid") if len(ex_rows) else ex_rows
    pre_excluded = pd.DataFrame({
        "eid": lost["eid"].astype(np.int64).to_numpy() if len(lost) else np.array([], np.int64),
        "instance": lost["instance"].to_numpy() if len(lost) else np.array([], np.int64),
        "reason": "latents_missing",
        "detail": lost["reason"].astype(str).to_numpy() if len(lost) else np.array([], object),
    })
    all_eids = pd.unique(np.concatenate([keys["eid"].to_numpy(np.int64),
                                         ex_rows["eid"].to_numpy(np.int64) if len(ex_rows) else
                                         np.array([], np.int64)]))
    return _LatentsStep(L, values, pre_excluded, np.sort(all_eids), rows_not_used)


def _variables(wide, keys, *, covariates, pcs, binary_traits, t2e, qc: SampleQC, defs, registry, notes):
    """Participant variables at each row's visit; the covariate, binary-trait and t2e names resolved."""
    cov_names = expand_names(covariates)
    if pcs:
        avail = _pcs_available(wide)
        if not avail or max(avail) < pcs or any(k not in avail for k in range(1, pcs + 1)):
            have = f"arrays {min(avail)}..{max(avail)}" if avail else "no array"
            raise CardiolatentError(f"pcs={pcs}: the main data has genetic principal components (field 22009) "
                                    f"{have}; ask for fewer PCs or add 22009-0.1 .. 22009-0.{pcs}")
        cov_names += [f"pc{k}" for k in range(1, pcs + 1) if f"pc{k}" not in cov_names]
    bin_names = expand_names(binary_traits)
    t2e_names = expand_names(t2e)
    qc_names = (["genetic_ethnic_grouping"] if qc.white_british else []) + \
        (["sex", "genetic_sex"] if qc.sex_mismatch else [])
    need = list(dict.fromkeys(cov_names + bin_names + qc_names))
    V = participant_variables(wide, keys, need, definitions=defs, registry=registry)
    # each name gives one column, in order; outcomes come back with the definitions' spelling
    # (af -> AF), field ids with the registry's name (189 -> townsend_index)
    if len(V.table.columns) == len(need):
        colmap = dict(zip(need, V.table.columns))
    else:
        colmap = {n: next((c for c in V.table.columns if c.lower() == n.lower()), n) for n in need}
    cov_names = list(dict.fromkeys(colmap[n] for n in cov_names))
    bin_names = list(dict.fromkeys(colmap[n] for n in bin_names))
    notes += [n for n in V.notes if "visit date" not in n]
    return V, cov_names, bin_names, t2e_names


def _excluded_table(T: QCTracker, keys: pd.DataFrame, pre_excluded: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Every participant not written (``eid, instance, reason, detail``) and the per-filter counts."""
    dead = ~T.alive
    excluded = pd.concat([pre_excluded, pd.DataFrame({
        "eid": keys["eid"].to_numpy(np.int64)[dead], "instance": keys["instance"].to_numpy()[dead],
        "reason": T.reason[dead], "detail": T.detail[dead]})], ignore_index=True)
    excluded["instance"] = excluded["instance"].astype("Int64")
    counts = T.counts
    counts[0] = dict(counts[0], excluded=counts[0]["excluded"] + len(pre_excluded))
    return excluded, counts


def _phenotypes(Y: np.ndarray, columns: list[str], transform: str, resid_x, notes: list[str]):
    """Latents constant or missing over the written rows dropped (noted), then transformed."""
    n_out = Y.shape[0]
    keep_cols, dropped = [], []
    for j, c in enumerate(columns):
        y = Y[:, j]
        ok = ~np.isnan(y)
        if not ok.any():
            dropped.append({"latent": c, "reason": "missing for every written participant"})
        elif np.nanmax(y) == np.nanmin(y):
            dropped.append({"latent": c, "reason": f"constant ({float(y[ok][0])!r}) over the written participants"})
        else:
            keep_cols.append(j)
    for d in dropped:
        notes.append(f"latent {d['latent']}: {d['reason']}; dropped (not written)")
    if not keep_cols:
        raise CardiolatentError(f"no latent to write: every chosen latent is constant or missing over the "
                                f"{n_out} written participants ({', '.join(d['latent'] for d in dropped[:6])})")
    Y = Y[:, keep_cols]
    if transform in ("resid", "resid-int"):
        Y = residualise(Y, resid_x if resid_x is not None else np.empty((n_out, 0)))
    if transform in ("int", "resid-int"):
        Y = inverse_normal(Y)
    sources = [columns[j] for j in keep_cols]
    pnames = unique_names(sources, "latent")
    return pd.DataFrame({nm: Y[:, j] for j, nm in enumerate(pnames)}), dict(zip(pnames, sources)), dropped


def _binary_traits(V, alive: np.ndarray, names: list[str], notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """0/1 traits of the written rows; traits without both cases and controls are not written (noted)."""
    binary = pd.DataFrame(index=range(int(alive.sum())))
    info = {}
    for b in names:
        x = V.table[b].to_numpy(np.float64)[alive]
        vals = set(np.unique(x[~np.isnan(x)]).tolist())
        if not vals <= {0.0, 1.0}:
            shown = ", ".join(map(str, sorted(vals)[:6]))
            raise CardiolatentError(f"binary trait {b} has values other than 0/1 ({shown}): give a disease "
                                    "outcome (AF, MI, ...) or a 0/1 field")
        cases, controls = int((x == 1).sum()), int((x == 0).sum())
        info[b] = {"cases": cases, "controls": controls, "missing": int(np.isnan(x).sum())}
        if cases == 0 or controls == 0:
            notes.append(f"binary trait {b}: {cases} cases and {controls} controls among the written participants; "
                         "not written")
            info[b]["written"] = False
            continue
        info[b]["written"] = True
        binary[safe_name(b)] = x
    return binary, info


def _time_to_event(wide, keys_written: pd.DataFrame, names: list[str], max_years, defs,
                   notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Time (years from the visit) and event pairs of the written rows; prevalent cases set missing."""
    t2e_df = pd.DataFrame(index=range(len(keys_written)))
    info = {}
    if not names:
        return t2e_df, info

    for o in names:
        S = survival_data(wide, keys_written, o, max_followup_years=max_years, definitions=defs)
        usable = pd.isna(S.reason)
        tt = np.where(usable, S.time, np.nan)
        ev = np.where(usable, S.event.astype(float), np.nan)
        nm = safe_name(S.outcome)
        reasons = pd.Series(S.reason[~usable]).value_counts().to_dict()
        info[S.outcome] = {"time_column": f"{nm}_time", "event_column": f"{nm}_event",
                           "events": int(np.nansum(ev)), "usable": int(usable.sum()),
                           "set_missing": {str(k): int(v) for k, v in reasons.items()},
                           "max_followup_years": max_years}
        if int(np.nansum(ev)) == 0:
            notes.append(f"time to {S.outcome}: no incident event among the written participants")
        t2e_df[f"{nm}_time"] = tt
        t2e_df[f"{nm}_event"] = ev
    return t2e_df, info


def _written_ids(keys: pd.DataFrame, alive: np.ndarray, sample_list) -> pd.DataFrame:
    """``eid, instance, FID, IID`` of the written rows (FID/IID as the sample list spells them)."""
    ew = keys["eid"].to_numpy(np.int64)[alive]
    iid = ew.astype(str).astype(object)
    if sample_list is not None:
        fmap = sample_list.fid_of()
        fid = np.array([fmap[e] for e in ew.tolist()], dtype=object)
        iid_map = dict(zip(sample_list.eid.tolist(), sample_list.iid.tolist()))
        iid = np.array([iid_map[e] for e in ew.tolist()], dtype=object)
    else:
        fid = iid.copy()
    return pd.DataFrame({"eid": ew, "instance": keys["instance"].to_numpy()[alive], "FID": fid, "IID": iid})


def _check_column_names(pheno, binary, t2e_df, covar) -> None:
    all_cols = list(pheno.columns) + list(binary.columns) + list(t2e_df.columns)
    clash = sorted(set(all_cols) & set(covar.columns))
    dup = sorted({c for c in all_cols if all_cols.count(c) > 1})
    if clash or dup:
        raise CardiolatentError(f"column name(s) used twice across phenotypes and covariates: "
                                f"{', '.join(clash + dup)}; rename the latent or drop the covariate")


def _sample_list_info(sample_list, eids: np.ndarray, all_eids: np.ndarray) -> dict | None:
    if sample_list is None:
        return None
    return {"path": str(Path(sample_list.path).resolve()), "kind": sample_list.kind, "n_samples": sample_list.n,
            "has_fid": sample_list.has_fid,
            "n_non_integer_ids": sample_list.n_non_integer,
            "n_latents_participants_not_in_list": int((~np.isin(eids, sample_list.eid)).sum()),
            "n_list_samples_not_in_latents": int((~np.isin(sample_list.eid, all_eids)).sum())}


# --------------------------------------------------------------------------------------------
# the work
# --------------------------------------------------------------------------------------------


def _check_options(transform: str, categorical: str, pcs: int) -> None:
    if transform not in TRANSFORMS:
        raise CardiolatentError(f"transform must be one of {', '.join(TRANSFORMS)} (got {transform!r})")
    if categorical not in ("dummies", "raw"):
        raise CardiolatentError(f"categorical must be 'dummies' or 'raw' (got {categorical!r})")
    if pcs < 0:
        raise CardiolatentError(f"pcs must be 0 or more (got {pcs})")


def prepare_export(
    latents: Any,
    main: Any,
    *,
    latent_columns: Sequence[str] | str | None = None,
    transform: str = "int",
    covariates: Sequence[str] | str | None = "gwas",
    pcs: int = 0,
    categorical: str = "dummies",
    min_level_count: int = 10,
    binary_traits: Sequence[str] | str | None = None,
    t2e: Sequence[str] | str | None = None,
    t2e_max_years: float | None = 10.0,
    definitions=None,
    registry=None,
    qc: SampleQC | None = None,
) -> ExportTables:
    """Sample QC, covariates and transformed phenotypes for a GWAS (see the module docstring).

    ``latents``: path, DataFrame (long ``eid, instance, seed, Z..`` or wide ``eid[, instance],
    columns``) or :class:`~cardiolatent.latents.Latents`; ``main``:
    :class:`~cardiolatent.ukb.read.MainData` holding at least the fields of
    :func:`cardiolatent.analysis.design.fields_needed`. ``covariates``: names and presets
    (default ``gwas``: genetic sex, age, genotyping batch, BSA, imaging year, centre, visit);
    ``pcs``: add genetic PCs 1..pcs (field 22009). ``categorical``: ``dummies`` (0/1 columns,
    most frequent level as reference) or ``raw`` (level labels, for REGENIE ``--catCovarList`` /
    BOLT ``--covarCol``). ``binary_traits``: outcome names or binary fields written as case status
    (the case window of :func:`~cardiolatent.analysis.design.participant_variables`); ``t2e``:
    outcomes written as time (years from the imaging visit, capped at ``t2e_max_years``) and event.
    """
    _check_options(transform, categorical, pcs)
    qc = qc or SampleQC()
    defs = definitions if definitions is not None else load_definitions()
    wide = as_wide(main)
    notes: list[str] = []

    lat = _read_export_latents(latents, latent_columns)
    L, values = lat.latents, lat.values
    keys = L.keys.reset_index(drop=True)
    eids = keys["eid"].to_numpy(np.int64)
    V, cov_names, bin_names, t2e_names = _variables(
        wide, keys, covariates=covariates, pcs=pcs, binary_traits=binary_traits, t2e=t2e, qc=qc, defs=defs,
        registry=registry, notes=notes)

    T = QCTracker(keys)
    T.apply("latents_missing", np.isnan(values).all(axis=1), "all chosen latents missing")
    found = apply_sample_qc(T, keys, wide, V, qc, cov_names, notes)
    alive = T.alive
    n_out = int(alive.sum())
    if n_out == 0:
        steps = "; ".join(f"{c['reason']}: {c['excluded']}" for c in T.counts if c["excluded"])
        raise CardiolatentError(f"no participant left to write after sample QC ({steps})")
    excluded, counts = _excluded_table(T, keys, lat.pre_excluded)

    Vw = Variables(V.table.loc[alive].reset_index(drop=True), V.kinds)
    covar, cat_cols, resid_x = code_covariates(Vw, found.covariates_kept, categorical=categorical,
                                               min_level_count=min_level_count, transform=transform, notes=notes)
    pheno, pheno_sources, dropped = _phenotypes(values[alive], list(L.columns), transform, resid_x, notes)
    binary, bin_info = _binary_traits(V, alive, bin_names, notes)
    t2e_df, t2e_info = _time_to_event(wide, keys.loc[alive].reset_index(drop=True), t2e_names, t2e_max_years,
                                      defs, notes)
    ids = _written_ids(keys, alive, found.sample_list)
    _check_column_names(pheno, binary, t2e_df, covar)

    info = {
        "n_participants_input": int(len(lat.all_eids)),
        "latents_rows_not_used": lat.rows_not_used,
        "latent_columns_chosen": list(L.columns),
        "phenotypes_written": list(pheno.columns),
        "phenotype_names": pheno_sources,
        "phenotypes_dropped": dropped,
        "transform": transform,
        "transform_description": TRANSFORMS[transform],
        "covariates_requested": cov_names,
        "covariates_used": found.covariates_kept,
        "covariate_columns": list(covar.columns),
        "categorical_coding": categorical,
        "categorical_columns": cat_cols,
        "min_level_count": min_level_count,
        "binary_traits": bin_info,
        "t2e": t2e_info,
        "kinship": found.kin_info,
        "sample_list": _sample_list_info(found.sample_list, eids, lat.all_eids),
    }
    if found.sample_list is None:
        notes.append("no genotype sample list given (--samples): FID = IID = eid is assumed; check that your "
                     "genotype files use the eids of this application")
    return ExportTables(ids, pheno, binary, t2e_df, covar, cat_cols, excluded, counts, notes, info)
