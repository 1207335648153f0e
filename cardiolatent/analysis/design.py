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
3. any field, by registry name (``townsend_index``) or id (``189``): the value at the row's
   imaging instance when the file has that instance, else the baseline (instance 0) value
   (noted); or by a main-data column in any naming style (``189-0.0``, ``p189``, ``p30000_i2``,
   ``f.30000.2.0``, ``X30000.2.0``, ``x30000_2_0``), which pins the instance and array for every
   row (noted). Every naming of one field gives one column labelled with the field's registry
   name (``f<id>`` for a field in no registry), so results are the same rows whichever naming
   was used. Two different namings of one variable in one list are an error (one line naming
   both); the same name twice is used once.

A field's type comes from the main data's registry (:class:`cardiolatent.ukb.read.MainData`
``.registry``, which holds types the reader inferred for unregistered fields), else the registry
given. A field typed ``text`` whose values are all numbers is used as continuous (noted): a
numeric column is never refused as text.

Presets: covariate presets (``--covariates paper_traits``, :data:`COVARIATE_PRESETS`) and the
trait presets of ``cardiolatent/data/presets.toml`` (``--traits cardiac_idps``,
:func:`cardiolatent.ukb.presets.trait_presets`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.ukb.covariates import as_wide, field_columns, imaging_covariates
from cardiolatent.ukb.outcomes import load_definitions, outcome_table
from cardiolatent.ukb.presets import trait_presets
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
    no visit date at the row's instance (all their variables are missing). ``aliases``: each name
    asked for -> the column holding it (``30000-0.0`` -> ``white_blood_cell_count``, ``af`` ->
    ``AF``); :meth:`column` looks names up through it.
    """

    table: pd.DataFrame
    kinds: dict[str, str]
    notes: list[str] = field(default_factory=list)
    no_visit: int = 0
    has_visit: np.ndarray | None = None
    aliases: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> str:
        """The column of :attr:`table` holding the variable asked for as ``name``."""
        if name in self.table.columns:
            return name
        if name in self.aliases:
            return self.aliases[name]
        raise CardiolatentError(f"variable {name!r} was not built from the main data "
                                f"(variables: {', '.join(map(str, self.table.columns[:8]))})")


def expand_names(names: Iterable[str] | str | None) -> list[str]:
    """Comma lists and presets -> a flat list of names (``paper_traits,pc1`` -> age, sex, ..., pc1).

    Presets: :data:`COVARIATE_PRESETS` and the trait presets of
    :func:`cardiolatent.ukb.presets.trait_presets` (``cardiac_idps``, ...). ``pc1-pc10`` expands
    to ``pc1`` .. ``pc10``. A name given twice is kept once (first place).
    """
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    presets = trait_presets()
    out: list[str] = []
    for item in names:
        for tok in str(item).split(","):
            tok = tok.strip()
            if not tok:
                continue
            m = re.fullmatch(r"pc(\d+)-pc(\d+)", tok, flags=re.I)
            if tok in COVARIATE_PRESETS:
                new = list(COVARIATE_PRESETS[tok])
            elif tok in presets:
                new = list(presets[tok])
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
                fields.add(reg.resolve(n))  # a registry name, a field id or a column in any naming
            except (CardiolatentError, TypeError):  # covariate names like 'age' are not fields
                pass
    return sorted(fields)


def variable_label(name: str, registry=None, definitions=None) -> str:
    """The column label :func:`participant_variables` gives ``name``: an outcome's definition key
    (``af`` -> ``AF``), a field's registry name for a field id or column (``50`` -> ``height``,
    ``98765-0.0`` -> ``f98765``), else ``name`` itself (covariates, registry names, unknown names).
    """
    defs = definitions if definitions is not None else load_definitions()
    key = _outcome_key(name, defs)
    if key is not None:
        return key
    reg = registry or FieldRegistry.default()
    try:
        return reg.name(reg.resolve(name))
    except (CardiolatentError, TypeError):
        return name


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


def _is_numeric_text(values: pd.Series) -> bool:
    """True when every non-missing, non-empty value parses as a number (none present: True)."""
    if pd.api.types.is_numeric_dtype(values):
        return True
    text = values.astype("string").str.strip()
    present = text.notna() & (text != "")
    num = pd.to_numeric(text.where(present), errors="coerce")
    return bool(num[present].notna().all())


def _unknown_names_message(unknown: Sequence[str], cov_cols: Sequence[str], defs, regs) -> str:
    """One line: each unknown name with its near matches, then what names may be."""
    pool: dict[str, None] = {}
    for c in cov_cols:
        if not re.fullmatch(r"pc\d+", c):
            pool[c] = None
    pool.update({k: None for k in defs})
    pool.update({k: None for k in COVARIATE_PRESETS})
    pool.update({k: None for k in trait_presets()})
    for reg in regs:
        pool.update({k: None for k in reg.names})
    lower = {k.lower(): k for k in pool}
    parts = []
    for name in unknown:
        key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
        close = [lower[c] for c in difflib.get_close_matches(key, list(lower), n=5, cutoff=0.6)]
        if len(key) >= 3:
            close += [v for k, v in lower.items() if key in k and v not in close][: 5 - len(close)]
        parts.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else " (no close name)"))
    covs_listed = ", ".join(c for c in sorted(cov_cols) if not re.fullmatch(r"pc\d+", c))
    return (f"unknown trait/covariate name(s): {'; '.join(parts)}. Use an imaging covariate ({covs_listed}, "
            f"pc1..pc40), an outcome ({', '.join(sorted(defs.keys()))}), a preset "
            f"({', '.join(list(COVARIATE_PRESETS) + list(trait_presets()))}), a field name or id from the registry "
            "('cardiolatent fields'; --fields adds a registry or UK Biobank data dictionary) or a main-data column "
            "such as 30000-2.0 or p30000_i2")


def participant_variables(main: Any, keys: pd.DataFrame, names: Sequence[str], *,
                          definitions=None, case_window: tuple[int, int] = (-5, 1),
                          registry=None) -> Variables:
    """Variables ``names`` for each (eid, instance) row of ``keys``, at that row's imaging visit.

    ``main``: :class:`cardiolatent.ukb.read.MainData` (or its canonical wide table). ``names``:
    see the module docstring (covariates, outcomes, field names/ids, main-data columns). The
    table has one column per distinct variable, in the order asked, labelled as the module
    docstring says; :attr:`Variables.aliases` maps each name to its column. Unknown names raise
    :class:`CardiolatentError` listing near matches; two namings of one variable raise too.
    """
    wide = as_wide(main)
    is_main = not isinstance(main, pd.DataFrame)
    main_reg = getattr(main, "registry", None) if is_main else None
    reg = registry or main_reg or FieldRegistry.default()
    regs = [r for r in (reg, main_reg) if r is not None]
    if main_reg is reg:
        regs = [reg]
    defs = definitions if definitions is not None else load_definitions()
    instances = sorted(set(int(i) for i in keys["instance"].unique())) or [2]
    covs = _imaging_covariates(wide, instances)
    present = [t for t in covs.values() if t is not None]
    if not present:
        raise CardiolatentError(
            f"the main data has no visit date (field 53) at instance(s) {', '.join(map(str, instances))}, the "
            f"imaging visit(s) of the latents rows; every variable is taken at the row's visit: add the columns "
            f"53-{instances[0]}.0 ... to the extract")
    cov_cols = [c for c in present[0].columns if c not in _NOT_VARIABLES]
    table = pd.DataFrame(index=keys.index)
    kinds: dict[str, str] = {}
    notes: list[str] = [str(n) for n in (getattr(main, "notes", None) or [])] if is_main else []
    aliases: dict[str, str] = {}
    asked_as: dict[str, str] = {}  # column -> the first name that built it
    visit_known = _per_row(keys, {i: (t["visit"] if t is not None else None) for i, t in covs.items()})
    no_visit = int(np.isnan(visit_known).sum())
    if no_visit:
        notes.append(f"{no_visit} row(s) have no visit date (field 53) at their imaging instance in the main "
                     "data: all their variables are missing")
    unknown = []

    def claim(label: str, name: str) -> bool:
        """Record ``name`` -> ``label``; False when the column is already built (same name twice)."""
        prev = asked_as.get(label)
        if prev is not None and prev != name:
            raise CardiolatentError(f"{prev!r} and {name!r} name the same variable ({label}); name it once")
        aliases[name] = label
        if prev is not None:
            return False
        asked_as[label] = name
        return True

    def lookup(fid: int, first, second):
        for r in (first, second):
            info = r.get(fid) if r is not None else None
            if info is not None:
                return info
        return None

    for name in names:
        if name in cov_cols:
            if not claim(name, name):
                continue
            table[name] = _per_row(keys, {i: (t[name] if t is not None else None) for i, t in covs.items()})
            vals = table[name].dropna().unique()
            if name in CATEGORICAL_COVARIATES:
                kinds[name] = "binary" if name in ("sex", "genetic_sex") and set(vals) <= {0, 1} else "categorical"
            else:
                kinds[name] = "continuous"
            continue
        key = _outcome_key(name, defs)
        if key is not None:
            if not claim(key, name):
                continue
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
        ref = None
        for r in regs:
            try:
                ref = r.reference(name)
                break
            except (CardiolatentError, TypeError):
                continue
        if ref is None:
            unknown.append(name)
            continue
        fid, pin_inst, pin_arr = ref
        named = lookup(fid, reg, main_reg)
        typed = lookup(fid, main_reg, reg)  # the reader's registry holds the types it inferred
        label = named.name if named is not None else f"f{fid}"
        ftype = typed.type if typed is not None else "text"
        if not claim(label, name):
            continue
        cols = field_columns(wide, fid)
        if not cols:
            raise CardiolatentError(f"field {fid} ({label}) is not in the main data file (asked for as {name!r})")
        by_col: dict[int, str | None] = {}
        used_baseline = False
        if pin_inst is not None:
            col = cols.get((pin_inst, pin_arr or 0))
            if col is None:
                have = ", ".join(sorted(str(c) for c in cols.values())[:6])
                raise CardiolatentError(f"{name!r}: the main data has no column for field {fid} instance {pin_inst} "
                                        f"array {pin_arr or 0} (it has {have})")
            by_col = {inst: col for inst in instances}
            notes.append(f"{label} (field {fid}) is read from column {col} for every row (the instance named by "
                         f"{name!r}), whatever the row's imaging visit")
        else:
            for inst in instances:
                col = cols.get((inst, 0))
                if col is None:
                    col = cols.get((0, 0))
                    used_baseline = used_baseline or col is not None
                by_col[inst] = col
        if ftype not in ("continuous", "integer", "categorical"):
            used = [c for c in dict.fromkeys(by_col.values()) if c is not None]
            if ftype == "text" and all(_is_numeric_text(wide[c]) for c in used):
                ftype = "continuous"
                notes.append(f"field {fid} is in no registry; typed continuous from its values" if typed is None
                             else f"field {fid} ({label}) is registered as text but its values are all numbers; "
                                  "used as continuous")
            else:
                raise CardiolatentError(f"field {fid} ({label}) is of type {ftype}; traits and covariates "
                                        "must be continuous, integer or categorical (asked for as "
                                        f"{name!r})")
        by = {inst: (pd.to_numeric(wide[c], errors="coerce").astype(float) if c is not None else None)
              for inst, c in by_col.items()}
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
        raise CardiolatentError(_unknown_names_message(unknown, cov_cols, defs, regs))
    return Variables(table, kinds, notes, no_visit, ~np.isnan(visit_known), aliases)


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
    three people. A column constant over the complete rows is dropped (noted). ``names`` may be
    any naming of the variables (:meth:`Variables.column`); the matrix is labelled by column. ``rows``
    restricts the rows considered for reference levels and constancy (default all).
    """
    n = len(variables.table)
    sel = np.ones(n, bool) if rows is None else np.asarray(rows, bool)
    names = list(dict.fromkeys(variables.column(nm) for nm in names))  # any naming -> its column
    raw = variables.table[names].to_numpy(np.float64) if names else np.empty((n, 0))
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
