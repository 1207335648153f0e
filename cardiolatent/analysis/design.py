"""Analysis inputs: a latents table aligned with UK Biobank traits, covariates and outcomes.

Every analysis command (``assoc``, ``cox``, ``export``) starts the same way: one row per
participant of the latents table (visit 2, or visit 3 where there is no visit 2), and for each
row the participant's variables *at that row's imaging visit* (age at that visit, BSA from that
visit's height and weight, the imaging centre and year of that visit, ...). This module does
that alignment and turns variables into numeric matrices:

- latents come as :class:`cardiolatent.latents.Latents` (:func:`cardiolatent.latents.read_latents`);
- :func:`participant_variables` -> :class:`Variables` (named traits/covariates/outcome case
  status, each a column aligned with the latent rows, with its kind);
- :func:`design_matrix` -> :class:`Design` (continuous columns as they are, categorical ones as
  0/1 dummies with the most frequent level as reference; rare levels merged; constant columns
  dropped; every such decision in ``notes``).

Names of variables (``--traits``, ``--covariates``):

1. imaging covariates (:func:`cardiolatent.ukb.covariates.imaging_covariates`): ``age`` (at
   the imaging visit), ``sex``, ``genetic_sex``, ``height``, ``weight``, ``bmi``, ``bsa``,
   ``sbp``, ``dbp``, ``waist``, ``centre``, ``imaging_year``, ``visit``, ``genotyping_batch``,
   ``genetic_ethnic_grouping``, ``pc1`` .. ``pc40``;
2. outcome definitions (``AF``, ``MI``, ``HF``, ``HTN``, ``T2D`` or a user file): binary case
   status in the paper's window (diagnosis year within [imaging year - 5, imaging year + 1]);
3. any field of the registry, by name (``townsend_index``) or id (``189``): the value at the
   row's imaging instance when the file has that instance, else the baseline (instance 0)
   value (noted).

Covariate presets (``--covariates paper_traits``): see :data:`COVARIATE_PRESETS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.ukb.covariates import as_wide, field_columns, imaging_covariates
from cardiolatent.ukb.outcomes import load_definitions, outcome_table
from cardiolatent.ukb.registry import FieldRegistry

#: The paper's covariate sets (analyses.md): continuous traits, diseases, and the GWAS.
COVARIATE_PRESETS: dict[str, tuple[str, ...]] = {
    "paper_traits": ("age", "sex", "bsa", "centre", "imaging_year"),
    "paper_disease": ("sex", "bsa", "age", "centre", "imaging_year", "height", "waist"),
    "gwas": ("genetic_sex", "age", "genotyping_batch", "bsa", "imaging_year", "centre", "visit"),
    "none": (),
}

#: imaging-covariate columns that are categorical (dummy-coded in a design matrix)
CATEGORICAL_COVARIATES = frozenset({"sex", "genetic_sex", "centre", "imaging_year", "visit",
                                    "genotyping_batch", "genetic_ethnic_grouping"})

_NOT_VARIABLES = {"visit_date", "bp_source", "bmi_computed"}

#: the exclusion reason of a latents row whose participant is not in the main data (every analysis)
NOT_IN_MAIN_DATA = "not_in_main_data"


# --------------------------------------------------------------------------------------------
# variables (traits, covariates, outcome case status)
# --------------------------------------------------------------------------------------------


@dataclass
class Variables:
    """Named variables aligned with the rows of a latents table.

    ``table``: one column per variable (float64; categorical variables keep their codes as
    floats), same row order as the ``keys`` it was built for. ``kinds``: ``continuous``,
    ``binary`` or ``categorical`` per column. ``notes``: what was decided on the way (a field
    read at baseline, an outcome window, ...). ``no_visit``: number of rows whose participant has
    no visit date at the row's instance (all their variables are missing).
    """

    table: pd.DataFrame
    kinds: dict[str, str]
    notes: list[str] = field(default_factory=list)
    no_visit: int = 0
    has_visit: np.ndarray | None = None


def expand_names(names: Iterable[str] | str | None) -> list[str]:
    """Comma lists and presets -> a flat list of names (``paper_traits,pc1`` -> age, sex, ..., pc1).

    ``pc1-pc10`` expands to ``pc1`` .. ``pc10``.
    """
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for item in names:
        for tok in str(item).split(","):
            tok = tok.strip()
            if not tok:
                continue
            m = re.fullmatch(r"pc(\d+)-pc(\d+)", tok, flags=re.I)
            if tok in COVARIATE_PRESETS:
                new = list(COVARIATE_PRESETS[tok])
            elif m:
                new = [f"pc{k}" for k in range(int(m.group(1)), int(m.group(2)) + 1)]
            else:
                new = [tok]
            out += [n for n in new if n not in out]
    return out


def fields_needed(names: Sequence[str], registry=None, definitions=None) -> list[int]:
    """Main-data fields to read for ``names`` (imaging covariates' fields always included)."""
    reg = registry or FieldRegistry.default()
    defs = definitions if definitions is not None else load_definitions()
    fields = {53, 31, 21003, 34, 52, 50, 21002, 21001, 48, 54, 4080, 4079, 93, 94, 22001, 22000, 22006, 22009}
    for n in names:
        key = _outcome_key(n, defs)
        if key is not None:
            d = defs[key]
            fields |= set(d.first_occurrence) | set(d.algorithmic)
            if d.icd10:
                fields |= {41270, 41280}
            if d.icd9:
                fields |= {41271, 41281}
            fields.add(40000)
        else:
            try:
                fields.add(reg.resolve(n))
            except Exception:  # noqa: BLE001 - covariate names like 'age' are not fields
                pass
    return sorted(fields)


def _outcome_key(name: str, defs) -> str | None:
    for k in defs:
        if k.lower() == str(name).lower():
            return k
    return None


def _imaging_covariates(main, instances: Sequence[int]):
    tables = {}
    for inst in instances:
        try:
            tables[inst] = imaging_covariates(main, int(inst)).table
        except CardiolatentError:
            if inst == 2:
                raise
            tables[inst] = None  # no field 53 at this instance in the file
    return tables


def _per_row(keys: pd.DataFrame, by_instance: dict[int, pd.Series | None]) -> np.ndarray:
    """Pick, for each (eid, instance) row, the value of that instance's series (NaN if absent)."""
    out = np.full(len(keys), np.nan)
    inst = keys["instance"].to_numpy()
    eids = keys["eid"].to_numpy()
    for i, s in by_instance.items():
        rows = np.flatnonzero(inst == i)
        if len(rows) == 0 or s is None:
            continue
        out[rows] = pd.to_numeric(s.reindex(eids[rows]), errors="coerce").to_numpy(np.float64)
    return out


def participant_variables(main: Any, keys: pd.DataFrame, names: Sequence[str], *,
                          definitions=None, case_window: tuple[int, int] = (-5, 1),
                          registry=None) -> Variables:
    """Variables ``names`` for each (eid, instance) row of ``keys``, at that row's imaging visit.

    ``main``: :class:`cardiolatent.ukb.read.MainData` (or its canonical wide table). Unknown
    names raise :class:`CardiolatentError` listing what is available.
    """
    wide = as_wide(main)
    reg = registry or getattr(main, "registry", None) or FieldRegistry.default()
    defs = definitions if definitions is not None else load_definitions()
    instances = sorted(set(int(i) for i in keys["instance"].unique())) or [2]
    covs = _imaging_covariates(wide, instances)
    cov_cols = [c for c in next(t for t in covs.values() if t is not None).columns if c not in _NOT_VARIABLES]
    table = pd.DataFrame(index=keys.index)
    kinds: dict[str, str] = {}
    notes: list[str] = []
    visit_known = _per_row(keys, {i: (t["visit"] if t is not None else None) for i, t in covs.items()})
    no_visit = int(np.isnan(visit_known).sum())
    if no_visit:
        notes.append(f"{no_visit} row(s) have no visit date (field 53) at their imaging instance in the main "
                     "data: all their variables are missing")
    unknown = []
    for name in names:
        if name in cov_cols:
            table[name] = _per_row(keys, {i: (t[name] if t is not None else None) for i, t in covs.items()})
            vals = table[name].dropna().unique()
            if name in CATEGORICAL_COVARIATES:
                kinds[name] = "binary" if name in ("sex", "genetic_sex") and set(vals) <= {0, 1} else "categorical"
            else:
                kinds[name] = "continuous"
            continue
        key = _outcome_key(name, defs)
        if key is not None:
            by = {}
            for inst in instances:
                if covs.get(inst) is None:
                    by[inst] = None
                    continue
                res = outcome_table(wide, [key], instance=inst, definitions=defs, case_window=case_window,
                                    allow_missing_death=True)
                t = res.table.set_index("eid")
                by[inst] = t["case_window"].astype(float)
            table[key] = _per_row(keys, by)
            kinds[key] = "binary"
            notes.append(f"{key}: case = diagnosis year within [imaging year {case_window[0]:+d}, imaging year "
                         f"{case_window[1]:+d}] ({defs[key].name}); controls = everyone else with a visit date")
            continue
        try:
            fid = reg.resolve(name)
        except Exception:  # noqa: BLE001
            unknown.append(name)
            continue
        ftype = reg.type(fid)
        if ftype not in ("continuous", "integer", "categorical"):
            raise CardiolatentError(f"field {fid} ({reg.name(fid)}) is of type {ftype}; traits and covariates "
                                    "must be continuous, integer or categorical")
        cols = field_columns(wide, fid)
        if not cols:
            raise CardiolatentError(f"field {fid} ({reg.name(fid)}) is not in the main data file "
                                    f"(asked for as {name!r})")
        by = {}
        used_baseline = False
        for inst in instances:
            col = cols.get((inst, 0))
            if col is None:
                col = cols.get((0, 0))
                used_baseline = col is not None
            by[inst] = pd.to_numeric(wide[col], errors="coerce").astype(float) if col is not None else None
        label = reg.name(fid) if name == str(fid) else name
        table[label] = _per_row(keys, by)
        if used_baseline:
            notes.append(f"{label} (field {fid}) has no column at the imaging instance; the baseline "
                         "(instance 0) value is used")
        vals = table[label].dropna().unique()
        if ftype == "categorical":
            kinds[label] = "binary" if set(vals) <= {0, 1} else "categorical"
        else:
            kinds[label] = "continuous"
    if unknown:
        covs_listed = ", ".join(c for c in sorted(cov_cols) if not re.fullmatch(r"pc\d+", c))
        raise CardiolatentError(
            f"unknown trait/covariate name(s): {', '.join(unknown)}. Use an imaging covariate "
            f"({covs_listed}, pc1..pc40), an outcome "
            f"({', '.join(sorted(defs.keys()))}), a preset ({', '.join(COVARIATE_PRESETS)}), "
            "or a field name/id from the registry ('cardiolatent fields')")
    return Variables(table, kinds, notes, no_visit, ~np.isnan(visit_known))


# --------------------------------------------------------------------------------------------
# design matrices
# --------------------------------------------------------------------------------------------


@dataclass
class Design:
    """Numeric covariate matrix. ``matrix`` (n, p) float64 with NaN for missing; ``names`` (p,)
    column names (dummies as ``centre=11025``); ``notes``: merged levels, dropped columns."""

    matrix: np.ndarray
    names: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> np.ndarray:
        """(n,) bool: rows with no missing covariate."""
        return ~np.isnan(self.matrix).any(axis=1) if self.matrix.shape[1] else np.ones(len(self.matrix), bool)


def _fmt_level(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def design_matrix(variables: Variables, names: Sequence[str], *, rows: np.ndarray | None = None,
                  min_level_count: int = 10) -> Design:
    """Covariates ``names`` of ``variables`` as a numeric matrix (no intercept column).

    Categorical variables become 0/1 dummies, the most frequent level (among rows with all
    covariates present) as reference; levels with fewer than ``min_level_count`` participants
    are merged into one ``other`` level (noted) so that tools and models never see a level of
    three people. A column constant over the complete rows is dropped (noted). ``rows``
    restricts the rows considered for reference levels and constancy (default all).
    """
    n = len(variables.table)
    sel = np.ones(n, bool) if rows is None else np.asarray(rows, bool)
    raw = variables.table[list(names)].to_numpy(np.float64) if names else np.empty((n, 0))
    complete = sel & ~np.isnan(raw).any(axis=1)
    cols, out_names, notes = [], [], []
    for j, name in enumerate(names):
        x = raw[:, j]
        kind = variables.kinds.get(name, "continuous")
        if kind == "categorical":
            levels, counts = np.unique(x[complete], return_counts=True)
            rare = levels[counts < min_level_count]
            if len(rare) and len(levels) - len(rare) >= 1:
                notes.append(f"{name}: {len(rare)} level(s) with < {min_level_count} participants "
                             f"({', '.join(_fmt_level(v) for v in rare[:8])}{' ...' if len(rare) > 8 else ''}) "
                             "merged into one level")
            common = levels[counts >= min_level_count]
            order = np.argsort(-counts[counts >= min_level_count], kind="stable")
            common = common[order]
            if len(common) == 0:
                notes.append(f"{name}: no level has {min_level_count} or more participants; dropped")
                continue
            ref = common[0]
            for lv in common[1:]:
                d = np.where(np.isnan(x), np.nan, (x == lv).astype(float))
                cols.append(d)
                out_names.append(f"{name}={_fmt_level(lv)}")
            if len(rare) and len(common) >= 1:
                d = np.where(np.isnan(x), np.nan, np.isin(x, rare).astype(float))
                cols.append(d)
                out_names.append(f"{name}=other")
            if len(common) == 1 and not len(rare):
                notes.append(f"{name}: a single level ({_fmt_level(ref)}); dropped")
        else:
            xs = x[complete]
            if len(xs) and np.nanmax(xs) == np.nanmin(xs):
                notes.append(f"{name}: constant ({_fmt_level(xs[0])}) over the participants analysed; dropped")
                continue
            cols.append(x)
            out_names.append(name)
    mat = np.column_stack(cols) if cols else np.empty((n, 0))
    # dummies constant over complete rows (e.g. a level present only among incomplete rows)
    keep = []
    for j, nm in enumerate(out_names):
        v = mat[complete, j]
        if "=" in nm and len(v) and v.min() == v.max():
            notes.append(f"{nm}: constant over the participants analysed; dropped")
            continue
        keep.append(j)
    return Design(mat[:, keep], [out_names[j] for j in keep], notes)
