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

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError

__all__ = [
    "FILTERS",
    "TRANSFORMS",
    "SampleQC",
    "ExportTables",
    "prepare_export",
    "safe_name",
    "residualise",
]

#: sample-QC filters in the order applied: (reason code, meaning)
FILTERS: tuple[tuple[str, str], ...] = (
    ("latents_missing", "no value for any chosen latent (long tables: a seed missing at the imaging visit)"),
    ("withdrawn", "listed in the withdrawals file"),
    ("not_in_main_data", "eid not in the main data file"),
    ("no_visit_date", "no date of attending (field 53) at the latents' imaging visit"),
    ("imaging_qc", "the visit's images failed QC (the encoder's QC table)"),
    ("not_in_genotypes", "not in the genotype sample list (.fam/.psam/.sample)"),
    ("genetic_ethnic_grouping", "genetic ethnic grouping (22006) not 1 (Caucasian) or missing"),
    ("sex_mismatch", "reported sex (31) differs from genetic sex (22001)"),
    ("missing_covariate", "a covariate is missing"),
    ("related", "removed for relatedness (removal list, or kinship above the threshold)"),
)

#: phenotype transforms: name -> description (for the manifest)
TRANSFORMS: dict[str, str] = {
    "int": "rank-based inverse normal transform, Phi^-1((rank - 3/8) / (n + 1/4)) (Blom), ties averaged, "
           "over the written participants with a value",
    "raw": "none (latent values as encoded)",
    "resid": "residuals of OLS of each latent on an intercept and the written covariates (dummy coded)",
    "resid-int": "residuals of OLS on an intercept and the written covariates (dummy coded), then the "
                 "rank-based inverse normal transform (Blom)",
}

_ID_COLS = ("eid", "instance")


@dataclass
class SampleQC:
    """Sample-QC options (each None/False = off). Files are paths; see :mod:`cardiolatent.exports.samples`.

    ``samples``: genotype sample list (path or :class:`~cardiolatent.exports.samples.SampleList`);
    ``withdrawals``: eids to drop; ``imaging_qc``: the encoder's QC table (path or DataFrame);
    ``white_british``: keep 22006 == 1; ``sex_mismatch``: drop 31 != 22001;
    ``king``: kinship table (path or DataFrame ``id1, id2, kinship``) with ``kinship_threshold``
    (default 0.0884: second-degree relatives or closer); ``remove_related``: eids to remove.
    """

    samples: Any = None
    withdrawals: Any = None
    imaging_qc: Any = None
    white_british: bool = False
    sex_mismatch: bool = False
    king: Any = None
    kinship_threshold: float = 0.0884
    remove_related: Any = None


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


def safe_name(name: str) -> str:
    """A column name every tool accepts: ``[A-Za-z0-9_.]`` only (``centre=11025`` -> ``centre_11025``,
    ``genotyping_batch=-9`` -> ``genotyping_batch_m9``); never empty, never starting with ``#``."""
    s = str(name).strip()
    s = re.sub(r"=-", "_m", s)
    s = s.replace("=", "_")
    s = re.sub(r"(?<=[_A-Za-z])-(?=\d)", "m", s)
    s = re.sub(r"[^A-Za-z0-9_.]", "_", s)
    if not s:
        s = "x"
    if s.upper() in ("FID", "IID", "PAT", "MAT", "SEX"):
        s = s + "_"
    return s


def _unique_names(names: Sequence[str], what: str) -> list[str]:
    out = [safe_name(n) for n in names]
    seen: dict[str, str] = {}
    for orig, new in zip(names, out):
        if new in seen and seen[new] != orig:
            raise CardiolatentError(f"{what} {seen[new]!r} and {orig!r} both become {new!r} in the files "
                                    "(only letters, digits, '_' and '.' are written): rename one")
        seen[new] = orig
    return out


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


def _read_path_or_frame(obj, reader):
    if obj is None:
        return None
    if isinstance(obj, pd.DataFrame):
        return obj
    return reader(obj)


# --------------------------------------------------------------------------------------------
# the work
# --------------------------------------------------------------------------------------------


class _Tracker:
    """Applies filters in order; remembers each row's first failing filter."""

    def __init__(self, keys: pd.DataFrame):
        self.keys = keys
        self.alive = np.ones(len(keys), bool)
        self.reason = np.full(len(keys), None, dtype=object)
        self.detail = np.full(len(keys), "", dtype=object)
        self.counts: list[dict] = []

    def apply(self, reason: str, fail: np.ndarray, detail: np.ndarray | str | None = None, *,
              active: bool = True) -> None:
        fail = np.asarray(fail, bool) & self.alive if active else np.zeros(len(self.alive), bool)
        self.reason[fail] = reason
        if detail is not None:
            d = np.asarray(detail, dtype=object) if not isinstance(detail, str) else np.full(len(fail), detail, object)
            self.detail[fail] = d[fail]
        self.alive &= ~fail
        desc = dict(FILTERS)[reason]
        self.counts.append({"reason": reason, "description": desc, "applied": bool(active),
                            "excluded": int(fail.sum()), "remaining": int(self.alive.sum())})


def _pcs_available(wide: pd.DataFrame) -> list[int]:
    from cardiolatent.ukb.covariates import field_columns

    return sorted(a for (i, a) in field_columns(wide, 22009) if i == 0)


def _drop_all_missing_covariates(V, names: list[str], alive: np.ndarray, notes: list[str]) -> list[str]:
    kept = []
    for nm in names:
        x = V.table[nm].to_numpy(np.float64)[alive]
        if len(x) and np.isnan(x).all():
            notes.append(f"covariate {nm}: missing for all {alive.sum()} participants left; dropped "
                         "(not written, nobody excluded for it)")
            continue
        kept.append(nm)
    return kept


def _dummy_covariates(V, names: list[str], min_level_count: int, notes: list[str]):
    """Dummy-coded covariates over the written rows (``V`` restricted to them): (matrix, names)."""
    from cardiolatent.analysis.design import design_matrix

    D = design_matrix(V, names, min_level_count=min_level_count)
    notes += [f"covariate {n}" for n in D.notes]
    mat, out_names = D.matrix, list(D.names)
    # an "other" dummy that is itself rare (e.g. one level of 3 people) is folded into the reference
    keep = []
    for j, nm in enumerate(out_names):
        if nm.endswith("=other"):
            k = int(np.nansum(mat[:, j]))
            if k < min_level_count:
                notes.append(f"covariate {nm.split('=')[0]}: the merged rare levels have {k} participant(s) "
                             f"(< {min_level_count}); counted with the reference level instead")
                continue
        keep.append(j)
    return mat[:, keep], [out_names[j] for j in keep]


def _fmt_level(v: float) -> str:
    """A level code as text: ``11025``, ``-9``, ``1.5``."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _raw_covariates(V, names: list[str], min_level_count: int, notes: list[str]):
    """Covariates with categorical ones as level labels (strings); rare levels -> ``other``."""
    cols: dict[str, np.ndarray] = {}
    categorical: list[str] = []
    for nm in names:
        x = V.table[nm].to_numpy(np.float64)
        kind = V.kinds.get(nm, "continuous")
        if kind == "categorical":
            levels, counts = np.unique(x, return_counts=True)
            rare = levels[counts < min_level_count]
            common = levels[counts >= min_level_count]
            labels = np.array([_fmt_level(v) for v in x], dtype=object)
            if len(rare):
                n_rare = int(counts[counts < min_level_count].sum())
                if len(common) and n_rare < min_level_count:
                    ref = common[np.argmax(counts[counts >= min_level_count])]
                    labels[np.isin(x, rare)] = _fmt_level(ref)
                    notes.append(f"covariate {nm}: {len(rare)} level(s) with < {min_level_count} participants "
                                 f"({', '.join(_fmt_level(v) for v in rare[:8])}; {n_rare} in all) counted "
                                 f"with the most frequent level {_fmt_level(ref)}")
                else:
                    labels[np.isin(x, rare)] = "other"
                    notes.append(f"covariate {nm}: {len(rare)} level(s) with < {min_level_count} participants "
                                 f"({', '.join(_fmt_level(v) for v in rare[:8])}) merged into level 'other'")
            n_levels = len(set(labels.tolist()))
            if n_levels < 2:
                notes.append(f"covariate {nm}: a single level over the written participants; dropped")
                continue
            cols[nm] = labels
            categorical.append(nm)
        else:
            if len(x) and np.nanmax(x) == np.nanmin(x):
                notes.append(f"covariate {nm}: constant ({_fmt_level(x[0])}) over the written participants; dropped")
                continue
            cols[nm] = x
    return cols, categorical


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

    ``latents``: path or DataFrame (long ``eid, instance, seed, Z..`` or wide ``eid[, instance],
    columns``); ``main``: :class:`~cardiolatent.ukb.read.MainData` holding at least the fields of
    :func:`cardiolatent.analysis.design.fields_needed`. ``covariates``: names and presets
    (default ``gwas``: genetic sex, age, genotyping batch, BSA, imaging year, centre, visit);
    ``pcs``: add genetic PCs 1..pcs (field 22009). ``categorical``: ``dummies`` (0/1 columns,
    most frequent level as reference) or ``raw`` (level labels, for REGENIE ``--catCovarList`` /
    BOLT ``--covarCol``). ``binary_traits``: outcome names or binary fields written as case status
    (the case window of :func:`~cardiolatent.analysis.design.participant_variables`); ``t2e``:
    outcomes written as time (years from the imaging visit, capped at ``t2e_max_years``) and event.
    """
    from cardiolatent.analysis.design import expand_names, load_latents, participant_variables, read_table
    from cardiolatent.exports import samples as smp
    from cardiolatent.stats.transforms import inverse_normal
    from cardiolatent.ukb.covariates import as_wide
    from cardiolatent.ukb.outcomes import load_definitions

    if transform not in TRANSFORMS:
        raise CardiolatentError(f"transform must be one of {', '.join(TRANSFORMS)} (got {transform!r})")
    if categorical not in ("dummies", "raw"):
        raise CardiolatentError(f"categorical must be 'dummies' or 'raw' (got {categorical!r})")
    if pcs < 0:
        raise CardiolatentError(f"--pcs must be 0 or more (got {pcs})")
    qc = qc or SampleQC()
    defs = definitions if definitions is not None else load_definitions()
    wide = as_wide(main)
    notes: list[str] = []

    # ---- latents ------------------------------------------------------------------------
    raw = latents if isinstance(latents, pd.DataFrame) else read_table(latents)
    label = "the latents table" if isinstance(latents, pd.DataFrame) else str(latents)
    if "eid" not in raw.columns:
        raise CardiolatentError(f"{label} has no 'eid' column (columns: {', '.join(map(str, raw.columns[:6]))} ...)")
    if raw["eid"].isna().any():
        raise CardiolatentError(f"{label} has {int(raw['eid'].isna().sum())} row(s) without an eid")
    L = load_latents(raw, visits="prefer2", columns=latent_columns)
    table = L.table
    if table["eid"].duplicated().any():  # cannot happen with prefer2; guard the invariant
        ex = table.loc[table["eid"].duplicated(), "eid"].head(5).tolist()
        raise CardiolatentError(f"{label}: several rows for eid {', '.join(map(str, ex))}")
    all_eids = pd.unique(raw["eid"].astype(np.int64))
    n_input = len(all_eids)
    values = L.values
    if np.isinf(values).any():
        r, c = np.argwhere(np.isinf(values))[0]
        raise CardiolatentError(f"latent {L.columns[c]} is infinite for eid {int(table['eid'].iloc[r])}: "
                                "fix the latents table")
    ex_rows = L.excluded
    rows_not_used = {str(k): int(v) for k, v in ex_rows["reason"].value_counts().items()} if len(ex_rows) else {}
    lost = ex_rows.loc[~ex_rows["eid"].isin(table["eid"])].drop_duplicates("eid") if len(ex_rows) else ex_rows
    pre_excluded = pd.DataFrame({
        "eid": lost["eid"].astype(np.int64).to_numpy() if len(lost) else np.array([], np.int64),
        "instance": lost["instance"].to_numpy() if len(lost) else np.array([], np.int64),
        "reason": "latents_missing",
        "detail": lost["reason"].astype(str).to_numpy() if len(lost) else np.array([], object),
    })
    # participants with no row at all in the wide table (defensive: every eid should be accounted for)
    accounted = set(table["eid"].tolist()) | set(pre_excluded["eid"].tolist())
    missing_eids = [e for e in all_eids.tolist() if e not in accounted]
    if missing_eids:
        pre_excluded = pd.concat([pre_excluded, pd.DataFrame({
            "eid": np.array(missing_eids, np.int64), "instance": pd.NA, "reason": "latents_missing",
            "detail": "no usable row"})], ignore_index=True)
    keys = L.keys.reset_index(drop=True)
    eids = keys["eid"].to_numpy(np.int64)

    # ---- variables -----------------------------------------------------------------------
    cov_names = expand_names(covariates)
    if pcs:
        avail = _pcs_available(wide)
        if not avail or max(avail) < pcs or any(k not in avail for k in range(1, pcs + 1)):
            have = f"arrays {min(avail)}..{max(avail)}" if avail else "no array"
            raise CardiolatentError(f"--pcs {pcs}: the main data has genetic principal components (field 22009) "
                                    f"{have}; ask for fewer PCs or add 22009-0.1 .. 22009-0.{pcs}")
        cov_names += [f"pc{k}" for k in range(1, pcs + 1) if f"pc{k}" not in cov_names]
    bin_names = expand_names(binary_traits)
    t2e_names = expand_names(t2e)
    qc_names = []
    if qc.white_british:
        qc_names.append("genetic_ethnic_grouping")
    if qc.sex_mismatch:
        qc_names += ["sex", "genetic_sex"]
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

    # ---- sample QC -----------------------------------------------------------------------
    T = _Tracker(keys)
    T.apply("latents_missing", np.isnan(values).all(axis=1), "all chosen latents missing")
    if qc.withdrawals is not None:
        w = smp.read_id_list(qc.withdrawals, "withdrawals file")
        T.apply("withdrawn", np.isin(eids, w))
    else:
        T.apply("withdrawn", np.zeros(len(eids), bool), active=False)
    T.apply("not_in_main_data", ~np.isin(eids, wide.index.to_numpy()))
    has_visit = V.has_visit if V.has_visit is not None else np.ones(len(eids), bool)
    T.apply("no_visit_date", ~has_visit, "no field 53 at instance " + keys["instance"].astype(str).to_numpy())
    if qc.imaging_qc is not None:
        q = _read_path_or_frame(qc.imaging_qc, smp.read_imaging_qc)
        inst = keys["instance"].to_numpy(np.int64)
        any_visit = set(q.loc[q["instance"].isna(), "eid"].astype(np.int64).tolist())
        by_visit = set(zip(q.loc[q["instance"].notna(), "eid"].astype(np.int64).tolist(),
                           q.loc[q["instance"].notna(), "instance"].astype(np.int64).tolist()))
        fail = np.array([(e in any_visit) or ((e, i) in by_visit) for e, i in zip(eids.tolist(), inst.tolist())],
                        dtype=bool)
        why = q.groupby("eid")["reason"].first().reindex(eids).fillna("").astype(str).to_numpy(object)
        T.apply("imaging_qc", fail, why)
    else:
        T.apply("imaging_qc", np.zeros(len(eids), bool), active=False)
    sample_list = None
    if qc.samples is not None:
        sample_list = qc.samples if isinstance(qc.samples, smp.SampleList) else smp.read_sample_list(qc.samples)
        if not np.isin(eids, sample_list.eid).any():
            raise CardiolatentError(
                f"none of the {len(eids)} participants of the latents table is in {sample_list.path} "
                f"({sample_list.n} samples, IIDs e.g. {', '.join(map(str, sample_list.iid[:3]))}): the genotype "
                "files must use the eids of this application (pass the .fam/.psam/.sample of those files)")
        T.apply("not_in_genotypes", ~np.isin(eids, sample_list.eid),
                f"not in {sample_list.path.name}")
    else:
        T.apply("not_in_genotypes", np.zeros(len(eids), bool), active=False)
    if qc.white_british:
        g = V.table["genetic_ethnic_grouping"].to_numpy(np.float64)
        T.apply("genetic_ethnic_grouping", ~(g == 1),
                np.where(np.isnan(g), "22006 missing", "22006 = " + pd.Series(g).astype(str).to_numpy()))
    else:
        T.apply("genetic_ethnic_grouping", np.zeros(len(eids), bool), active=False)
    if qc.sex_mismatch:
        s, gs = V.table["sex"].to_numpy(np.float64), V.table["genetic_sex"].to_numpy(np.float64)
        T.apply("sex_mismatch", ~np.isnan(s) & ~np.isnan(gs) & (s != gs))
    else:
        T.apply("sex_mismatch", np.zeros(len(eids), bool), active=False)
    cov_kept = _drop_all_missing_covariates(V, cov_names, T.alive, notes)
    if cov_kept:
        cm = np.isnan(V.table[cov_kept].to_numpy(np.float64))
        which = np.array([",".join(np.array(cov_kept)[row]) for row in cm], dtype=object)
        T.apply("missing_covariate", cm.any(axis=1), which)
    else:
        T.apply("missing_covariate", np.zeros(len(eids), bool))
    related_active = qc.remove_related is not None or qc.king is not None
    fail = np.zeros(len(eids), bool)
    detail = np.full(len(eids), "", dtype=object)
    kin_info: dict = {}
    if qc.remove_related is not None:
        rm = smp.read_id_list(qc.remove_related, "relatedness removal list")
        hit = np.isin(eids, rm) & T.alive
        fail |= hit
        detail[hit] = "in the removal list"
    if qc.king is not None:
        pairs = _read_path_or_frame(qc.king, smp.read_king)
        cand = eids[T.alive & ~fail]
        rm2 = smp.related_to_remove(pairs, cand, qc.kinship_threshold)
        hit = np.isin(eids, rm2) & T.alive & ~fail
        fail |= hit
        detail[hit] = f"kinship > {qc.kinship_threshold:g} with another participant"
        n_pairs = int(((pairs["kinship"] > qc.kinship_threshold) & pairs["id1"].isin(cand)
                       & pairs["id2"].isin(cand)).sum())
        kin_info = {"pairs_in_table": int(len(pairs)), "pairs_above_threshold_among_candidates": n_pairs,
                    "threshold": float(qc.kinship_threshold)}
    T.apply("related", fail, detail, active=related_active)

    alive = T.alive
    n_out = int(alive.sum())
    if n_out == 0:
        steps = "; ".join(f"{c['reason']}: {c['excluded']}" for c in T.counts if c["excluded"])
        raise CardiolatentError(f"no participant left to write after sample QC ({steps})")

    # ---- excluded table ------------------------------------------------------------------
    dead = ~alive
    excluded = pd.concat([pre_excluded, pd.DataFrame({
        "eid": eids[dead], "instance": keys["instance"].to_numpy()[dead],
        "reason": T.reason[dead], "detail": T.detail[dead]})], ignore_index=True)
    excluded["instance"] = excluded["instance"].astype("Int64")
    counts = T.counts
    counts[0] = dict(counts[0], excluded=counts[0]["excluded"] + len(pre_excluded))

    # ---- covariates over the written rows ------------------------------------------------
    from cardiolatent.analysis.design import Variables

    Vw = Variables(V.table.loc[alive].reset_index(drop=True), V.kinds)
    if categorical == "dummies":
        mat, dnames = _dummy_covariates(Vw, cov_kept, min_level_count, notes)
        names = _unique_names(dnames, "covariate")
        covar = pd.DataFrame({nm: mat[:, j] for j, nm in enumerate(names)})
        cat_cols: list[str] = []
        resid_x = mat
    else:
        cols, cats = _raw_covariates(Vw, cov_kept, min_level_count, notes)
        names = _unique_names(list(cols), "covariate")
        covar = pd.DataFrame({new: cols[old] for old, new in zip(cols, names)})
        cat_cols = [new for old, new in zip(cols, names) if old in cats]
        resid_x = None
        if transform in ("resid", "resid-int"):
            resid_x, _ = _dummy_covariates(Vw, cov_kept, min_level_count, [])

    # ---- phenotypes ----------------------------------------------------------------------
    Y = values[alive]
    keep_cols, dropped = [], []
    for j, c in enumerate(L.columns):
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
    pnames = _unique_names([L.columns[j] for j in keep_cols], "latent")
    pheno = pd.DataFrame({nm: Y[:, j] for j, nm in enumerate(pnames)})

    # ---- binary traits -------------------------------------------------------------------
    binary = pd.DataFrame(index=range(n_out))
    bin_info = {}
    for b in bin_names:
        x = V.table[b].to_numpy(np.float64)[alive]
        vals = set(np.unique(x[~np.isnan(x)]).tolist())
        if not vals <= {0.0, 1.0}:
            shown = ", ".join(map(str, sorted(vals)[:6]))
            raise CardiolatentError(f"binary trait {b} has values other than 0/1 ({shown}): give a disease "
                                    "outcome (AF, MI, ...) or a 0/1 field")
        cases, controls = int((x == 1).sum()), int((x == 0).sum())
        bin_info[b] = {"cases": cases, "controls": controls, "missing": int(np.isnan(x).sum())}
        if cases == 0 or controls == 0:
            notes.append(f"binary trait {b}: {cases} cases and {controls} controls among the written participants; "
                         "not written")
            bin_info[b]["written"] = False
            continue
        bin_info[b]["written"] = True
        binary[safe_name(b)] = x

    # ---- time to event -------------------------------------------------------------------
    t2e_df = pd.DataFrame(index=range(n_out))
    t2e_info = {}
    if t2e_names:
        from cardiolatent.analysis.survival import survival_data

        kw = keys.loc[alive].reset_index(drop=True)
        for o in t2e_names:
            S = survival_data(wide, kw, o, max_followup_years=t2e_max_years, definitions=defs)
            usable = pd.isna(S.reason)
            tt = np.where(usable, S.time, np.nan)
            ev = np.where(usable, S.event.astype(float), np.nan)
            nm = safe_name(S.outcome)
            reasons = pd.Series(S.reason[~usable]).value_counts().to_dict()
            t2e_info[S.outcome] = {"time_column": f"{nm}_time", "event_column": f"{nm}_event",
                                   "events": int(np.nansum(ev)), "usable": int(usable.sum()),
                                   "set_missing": {str(k): int(v) for k, v in reasons.items()},
                                   "max_followup_years": t2e_max_years}
            if int(np.nansum(ev)) == 0:
                notes.append(f"time to {S.outcome}: no incident event among the written participants")
            t2e_df[f"{nm}_time"] = tt
            t2e_df[f"{nm}_event"] = ev

    # ---- ids -----------------------------------------------------------------------------
    ew = eids[alive]
    iid = ew.astype(str).astype(object)
    if sample_list is not None:
        fmap = sample_list.fid_of()
        fid = np.array([fmap[e] for e in ew.tolist()], dtype=object)
        iid_map = dict(zip(sample_list.eid.tolist(), sample_list.iid.tolist()))
        iid = np.array([iid_map[e] for e in ew.tolist()], dtype=object)
    else:
        fid = iid.copy()
    ids = pd.DataFrame({"eid": ew, "instance": keys["instance"].to_numpy()[alive], "FID": fid, "IID": iid})

    all_cols = list(pheno.columns) + list(binary.columns) + list(t2e_df.columns)
    clash = sorted(set(all_cols) & set(covar.columns))
    dup = sorted({c for c in all_cols if all_cols.count(c) > 1})
    if clash or dup:
        raise CardiolatentError(f"column name(s) used twice across phenotypes and covariates: "
                                f"{', '.join(clash + dup)}; rename the latent or drop the covariate")

    info = {
        "n_participants_input": n_input,
        "latents_rows_not_used": rows_not_used,
        "latent_columns_chosen": list(L.columns),
        "phenotypes_written": list(pheno.columns),
        "phenotype_names": dict(zip(pnames, [L.columns[j] for j in keep_cols])),
        "phenotypes_dropped": dropped,
        "transform": transform,
        "transform_description": TRANSFORMS[transform],
        "covariates_requested": cov_names,
        "covariates_used": cov_kept,
        "covariate_columns": list(covar.columns),
        "categorical_coding": categorical,
        "categorical_columns": cat_cols,
        "min_level_count": min_level_count,
        "binary_traits": bin_info,
        "t2e": t2e_info,
        "kinship": kin_info,
        "sample_list": None if sample_list is None else {
            "path": str(Path(sample_list.path).resolve()), "kind": sample_list.kind, "n_samples": sample_list.n,
            "has_fid": sample_list.has_fid,
            "n_non_integer_ids": sample_list.n_non_integer,
            "n_latents_participants_not_in_list": int((~np.isin(eids, sample_list.eid)).sum()),
            "n_list_samples_not_in_latents": int((~np.isin(sample_list.eid, all_eids)).sum()),
        },
    }
    if sample_list is None:
        notes.append("no genotype sample list given (--samples): FID = IID = eid is assumed; check that your "
                     "genotype files use the eids of this application")
    return ExportTables(ids, pheno, binary, t2e_df, covar, cat_cols, excluded, counts, notes, info)
