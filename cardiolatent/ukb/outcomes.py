"""Disease outcome definitions and per-participant outcome tables (prevalent, incident, survival).

Definitions are data (``cardiolatent/data/outcomes.toml``, user-editable); see
:func:`load_definitions`. Dates come from four sources, all optional in the main data but at
least one must be present for each outcome:

- ``first_occurrence``: UK Biobank first-occurrence date fields (e.g. 131350 for I48);
- ``algorithmic``: algorithmically defined outcome dates (e.g. 42000 for MI);
- ``icd10``: hospital diagnoses 41270-0.k with their first dates 41280-0.k (aligned by k);
- ``icd9``: the same for 41271-0.k / 41281-0.k.

Self-reported codes (20002) are kept in the definition for reference but give no dates.

Inputs are canonical wide main-data frames (index ``eid``, columns ``"{field}-{i}.{a}"``,
dates as datetime64 with placeholder dates already NaT), or objects with ``.wide``.
All computations are vectorised over participants; loops run only over columns.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError, MissingFieldError
from cardiolatent.ukb.covariates import (
    DAYS_PER_YEAR,
    as_wide,
    column_name,
    field_columns,
    years_between,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "OutcomeDefinition",
    "OutcomeDefinitions",
    "OutcomeDefinitionError",
    "OutcomeResult",
    "load_definitions",
    "outcome_dates",
    "outcome_table",
    "wide_outcomes",
    "normalise_icd",
    "hospital_long",
    "DEFAULT_ADMIN_DATE",
]

DEFAULT_ADMIN_DATE = "2023-10-31"
HOSPITAL_FIELDS = {"icd10": (41270, 41280), "icd9": (41271, 41281)}
DEATH_FIELD = 40000
VISIT_FIELD = 53
TABLE_COLUMNS = [
    "eid", "outcome", "event_date", "source", "visit_date", "prevalent", "incident",
    "case_window", "end_date", "time_years", "event", "censor_reason", "date_flag",
]
_SOURCE_ORDER = ("first_occurrence", "algorithmic", "icd10", "icd9")
_KEYS = {"name", "first_occurrence", "algorithmic", "icd10", "icd9", "self_report"}


class OutcomeDefinitionError(CardiolatentError):
    """An outcome definition file cannot be read or has an invalid entry (message names both)."""


# --------------------------------------------------------------------------- definitions


def normalise_icd(code: str) -> str:
    """ICD code in UK Biobank's stored form: upper case, no dot, no spaces (``"I48.0"`` -> ``"I480"``)."""
    return str(code).strip().upper().replace(".", "").replace(" ", "")


@dataclass(frozen=True)
class OutcomeDefinition:
    """One outcome: where its dates come from.

    ``key`` is the short name (``"AF"``), ``name`` the long one. ``first_occurrence`` and
    ``algorithmic`` are date field ids; ``icd10`` / ``icd9`` are code prefixes in stored form
    (no dots); ``self_report`` are field-20002 codes (not used for dates).
    """

    key: str
    name: str
    first_occurrence: tuple[int, ...] = ()
    algorithmic: tuple[int, ...] = ()
    icd10: tuple[str, ...] = ()
    icd9: tuple[str, ...] = ()
    self_report: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_occurrence", tuple(int(f) for f in self.first_occurrence))
        object.__setattr__(self, "algorithmic", tuple(int(f) for f in self.algorithmic))
        object.__setattr__(self, "icd10", tuple(normalise_icd(c) for c in self.icd10))
        object.__setattr__(self, "icd9", tuple(normalise_icd(c) for c in self.icd9))
        object.__setattr__(self, "self_report", tuple(int(c) for c in self.self_report))


class OutcomeDefinitions(Mapping[str, OutcomeDefinition]):
    """Read-only mapping of outcome key -> definition with case-insensitive lookup."""

    def __init__(self, items: Iterable[OutcomeDefinition] = ()) -> None:
        self._by_fold: dict[str, OutcomeDefinition] = {}
        for d in items:
            self._by_fold[d.key.casefold()] = d

    def __getitem__(self, key: str) -> OutcomeDefinition:
        try:
            return self._by_fold[str(key).casefold()]
        except KeyError:
            known = ", ".join(d.key for d in self._by_fold.values())
            raise KeyError(f"unknown outcome {key!r}; defined outcomes: {known}") from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.casefold() in self._by_fold

    def __iter__(self) -> Iterator[str]:
        return (d.key for d in self._by_fold.values())

    def __len__(self) -> int:
        return len(self._by_fold)

    def __repr__(self) -> str:
        return f"OutcomeDefinitions({list(self)})"


def _read_toml(source: Any, label: str) -> dict:
    try:
        with source.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise OutcomeDefinitionError(f"outcome definition file {label} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise OutcomeDefinitionError(f"outcome definition file {label} is not valid TOML: {exc}") from None


def _as_list(value: Any, kind: type, key: str, outcome: str, label: str) -> list:
    if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        what = "integers" if kind is int else "strings"
        raise OutcomeDefinitionError(
            f"outcome definition file {label}, outcome [{outcome}]: {key} must be a list of {what}, got {value!r}"
        )
    return value


def _parse_definitions(doc: dict, label: str) -> list[OutcomeDefinition]:
    out: list[OutcomeDefinition] = []
    seen: dict[str, str] = {}
    for key, table in doc.items():
        if not isinstance(table, dict):
            raise OutcomeDefinitionError(
                f"outcome definition file {label}: {key!r} must be a table ([{key}]), got {table!r}"
            )
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise OutcomeDefinitionError(
                f"outcome definition file {label}, outcome [{key}]: unknown key(s) {', '.join(unknown)} "
                f"(allowed: {', '.join(sorted(_KEYS))})"
            )
        if key.casefold() in seen:
            raise OutcomeDefinitionError(
                f"outcome definition file {label}: outcomes [{seen[key.casefold()]}] and [{key}] differ only by case"
            )
        seen[key.casefold()] = key
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise OutcomeDefinitionError(f"outcome definition file {label}, outcome [{key}]: 'name' (a string) is required")
        lists = {
            k: _as_list(table.get(k, []), int if k in ("first_occurrence", "algorithmic", "self_report") else str,
                        k, key, label)
            for k in ("first_occurrence", "algorithmic", "icd10", "icd9", "self_report")
        }
        if not any(lists[k] for k in _SOURCE_ORDER):
            raise OutcomeDefinitionError(
                f"outcome definition file {label}, outcome [{key}]: no dated source "
                "(first_occurrence, algorithmic, icd10 or icd9 must be non-empty)"
            )
        if any(not normalise_icd(c) for c in lists["icd10"] + lists["icd9"]):
            raise OutcomeDefinitionError(f"outcome definition file {label}, outcome [{key}]: empty ICD prefix")
        out.append(OutcomeDefinition(key=key, name=name, **lists))
    return out


def load_definitions(path: str | Path | None = None) -> OutcomeDefinitions:
    """Outcome definitions: the packaged ``outcomes.toml``, overridden/extended by ``path``.

    A user file's outcomes replace packaged outcomes of the same (case-insensitive) name and
    add new ones. Errors (missing file, invalid TOML, unknown key, wrong type) raise
    :class:`OutcomeDefinitionError` naming the file and the outcome.
    """
    packaged = resources.files("cardiolatent") / "data" / "outcomes.toml"
    defs = {d.key.casefold(): d for d in _parse_definitions(_read_toml(packaged, "(packaged) outcomes.toml"), "(packaged) outcomes.toml")}
    if path is not None:
        p = Path(path)
        for d in _parse_definitions(_read_toml(p, str(p)), str(p)):
            defs[d.key.casefold()] = d
    return OutcomeDefinitions(defs.values())


def _resolve(definition: OutcomeDefinition | str, definitions: Mapping[str, OutcomeDefinition] | None) -> OutcomeDefinition:
    if isinstance(definition, OutcomeDefinition):
        return definition
    defs = definitions if definitions is not None else load_definitions()
    if not isinstance(defs, OutcomeDefinitions):
        defs = OutcomeDefinitions(defs.values())
    try:
        return defs[definition]
    except KeyError as exc:
        raise CardiolatentError(exc.args[0]) from None


# --------------------------------------------------------------------------- dates


def _date_frame(wide: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    frame = wide[list(cols)]
    return frame.apply(
        lambda s: s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce")
    ).astype("datetime64[ns]")


def _earliest_in_fields(wide: pd.DataFrame, fields: Sequence[int], kind: str) -> tuple[list[pd.DataFrame], list[str]]:
    """Candidates (eid, date, source) from date fields (min over each field's columns)."""
    found, missing = [], []
    for f in fields:
        cols = list(field_columns(wide, f).values())
        if not cols:
            missing.append(f"{kind}:{f}")
            continue
        d = _date_frame(wide, cols).min(axis=1)
        d = d[d.notna()]
        found.append(pd.DataFrame({"eid": d.index.to_numpy(), "date": d.to_numpy(), "source": f"{kind}:{f}"}))
    return found, missing


def hospital_long(wide: pd.DataFrame, kind: str) -> pd.DataFrame | None:
    """All dated hospital diagnoses of one kind as a long table ``eid, code, date``.

    ``kind`` is ``"icd10"`` (codes 41270-0.k, dates 41280-0.k) or ``"icd9"`` (41271 / 41281);
    code and date are aligned by the array index k. Cells without a code or without a date
    are dropped. Rows: one per (participant, diagnosis). Returns None if the code field is
    absent; raises :class:`MissingFieldError` if the codes are there but their dates are not.
    The loop runs over the (up to 243) array columns, each step vectorised over participants.
    """
    code_field, date_field = HOSPITAL_FIELDS[kind]
    codes = field_columns(wide, code_field, 0)
    if not codes:
        return None
    dates = field_columns(wide, date_field, 0)
    if not dates:
        raise MissingFieldError(
            f"field {date_field} (first dates of field {code_field} {kind.upper()} diagnoses) is required "
            f"with field {code_field}: no column {date_field}-0.* in the main data"
        )
    eids = wide.index.to_numpy()
    parts_e, parts_c, parts_d = [], [], []
    for key, ccol in codes.items():
        dcol = dates.get(key)
        if dcol is None:
            continue
        c = wide[ccol]
        present = c.notna().to_numpy()
        if not present.any():
            continue
        rows = np.flatnonzero(present)
        d = _date_frame(wide, [dcol]).iloc[:, 0].to_numpy()[rows]
        ok = ~np.isnat(d)
        rows = rows[ok]
        parts_e.append(eids[rows])
        parts_c.append(c.to_numpy(dtype=object)[rows])
        parts_d.append(d[ok])
    if not parts_e:
        return pd.DataFrame({"eid": np.array([], dtype="int64"), "code": np.array([], dtype=object),
                             "date": np.array([], dtype="datetime64[ns]")})
    return pd.DataFrame({
        "eid": np.concatenate(parts_e),
        "code": np.concatenate(parts_c),
        "date": np.concatenate(parts_d).astype("datetime64[ns]"),
    })


def _hospital_matches(long: pd.DataFrame, kind: str, prefixes: Sequence[str]) -> pd.DataFrame:
    """Rows of a :func:`hospital_long` table whose code starts with a prefix: ``eid, date, source``.

    Codes are compared in stored form (no dot, upper case), so ``I48.1`` and ``I481`` both
    match ``I48``. Each distinct code is tested once, then rows are selected by hash lookup.
    """
    prefix_t = tuple(normalise_icd(p) for p in prefixes)
    uniq = pd.unique(long["code"].to_numpy())
    hit = [u for u in uniq if normalise_icd(u).startswith(prefix_t)]
    sel = long[long["code"].isin(hit)] if hit else long.iloc[:0]
    return pd.DataFrame({
        "eid": sel["eid"].to_numpy(),
        "date": sel["date"].to_numpy(),
        "source": (kind + ":") + sel["code"].astype(str).to_numpy(dtype=object),
    })


class _Sources:
    """Per-call cache of the long hospital tables, shared across outcomes."""

    def __init__(self, wide: pd.DataFrame) -> None:
        self.wide = wide
        self._long: dict[str, pd.DataFrame | None] = {}

    def hospital(self, kind: str) -> pd.DataFrame | None:
        if kind not in self._long:
            self._long[kind] = hospital_long(self.wide, kind)
        return self._long[kind]


def outcome_dates(
    main: Any,
    definition: OutcomeDefinition | str,
    *,
    definitions: Mapping[str, OutcomeDefinition] | None = None,
    _sources: _Sources | None = None,
) -> pd.DataFrame:
    """Earliest recorded date of one outcome per participant.

    Parameters
    ----------
    main:
        Canonical wide main data (index ``eid``) or an object with ``.wide``.
    definition:
        An :class:`OutcomeDefinition` or an outcome name (case-insensitive) looked up in
        ``definitions`` (default: :func:`load_definitions`).

    Returns
    -------
    DataFrame indexed by ``eid`` (every participant of ``main``, same order) with columns
    ``event_date`` (datetime64[ns], NaT when never recorded) and ``source`` (string, <NA> when
    none): ``first_occurrence:<field>``, ``algorithmic:<field>``, ``icd10:<code as stored>`` or
    ``icd9:<code as stored>``. Ties on the date go to the first of first_occurrence,
    algorithmic, icd10, icd9 (then the smaller field / code). Sources whose fields are absent
    from ``main`` are skipped and listed in ``.attrs["missing_sources"]``; if every dated
    source is absent, :class:`MissingFieldError` is raised.
    """
    wide = as_wide(main)
    d = _resolve(definition, definitions)
    sources = _sources if _sources is not None and _sources.wide is wide else _Sources(wide)
    candidates: list[pd.DataFrame] = []
    missing: list[str] = []
    for kind, fields in (("first_occurrence", d.first_occurrence), ("algorithmic", d.algorithmic)):
        found, miss = _earliest_in_fields(wide, fields, kind)
        candidates += found
        missing += miss
    for kind, prefixes in (("icd10", d.icd10), ("icd9", d.icd9)):
        if not prefixes:
            continue
        long = sources.hospital(kind)
        if long is None:
            missing.append(f"{kind}:{HOSPITAL_FIELDS[kind][0]}")
        else:
            candidates.append(_hospital_matches(long, kind, prefixes))
    n_sources = len(d.first_occurrence) + len(d.algorithmic) + bool(d.icd10) + bool(d.icd9)
    if len(missing) == n_sources:
        raise MissingFieldError(
            f"outcome {d.key} ({d.name}): none of its date fields is in the main data "
            f"(looked for {', '.join(missing)})"
        )
    out = pd.DataFrame(index=wide.index.copy())
    out.index.name = "eid"
    if candidates:
        long = pd.concat(candidates, ignore_index=True)
        long["rank"] = long["source"].str.split(":").str[0].map({k: i for i, k in enumerate(_SOURCE_ORDER)})
        long = long.sort_values(["eid", "date", "rank", "source"], kind="stable")
        first = long.drop_duplicates("eid", keep="first").set_index("eid")
        out["event_date"] = first["date"].reindex(out.index).astype("datetime64[ns]")
        out["source"] = first["source"].reindex(out.index).astype("string")
    else:
        out["event_date"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
        out["source"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.attrs["missing_sources"] = missing
    return out


# --------------------------------------------------------------------------- outcome table


@dataclass
class OutcomeResult:
    """Outcome table and the participants left out of it.

    ``table``: long, one row per (eid, outcome), columns ``TABLE_COLUMNS`` (see
    :func:`outcome_table`). ``excluded``: columns ``eid, reason`` (one row per participant;
    reasons ``no_visit_date``, ``visit_after_admin_date``, ``died_before_visit``).
    """

    table: pd.DataFrame
    excluded: pd.DataFrame


def _death_dates(wide: pd.DataFrame, allow_missing_death: bool) -> pd.Series:
    cols = list(field_columns(wide, DEATH_FIELD).values())
    if not cols:
        if allow_missing_death:
            return pd.Series(pd.NaT, index=wide.index, dtype="datetime64[ns]")
        raise MissingFieldError(
            "field 40000 (date of death) is required to censor follow-up at death "
            "(no column 40000-*.* in the main data); pass allow_missing_death=True to treat "
            "everyone as alive"
        )
    return _date_frame(wide, cols).min(axis=1).astype("datetime64[ns]")


def _first_min_column(frame: pd.DataFrame) -> pd.Series:
    """Per row, the label of the column holding the earliest date (NaT ignored; the first column
    wins ties; NaN where the row is all NaT): ``frame.idxmin(axis=1)`` without its per-row loop."""
    ns = frame.to_numpy(dtype="datetime64[ns]").view("int64")
    nat = ns == np.iinfo(np.int64).min
    pos = np.where(nat, np.iinfo(np.int64).max, ns).argmin(axis=1)
    labels = np.asarray(frame.columns, dtype=object)[pos]
    labels[nat.all(axis=1)] = np.nan
    return pd.Series(labels, index=frame.index, dtype=object)


def outcome_table(
    main: Any,
    outcomes: Sequence[str | OutcomeDefinition] = ("AF", "MI"),
    *,
    instance: int = 2,
    admin_date: str | pd.Timestamp = DEFAULT_ADMIN_DATE,
    max_followup_years: float | None = None,
    case_window: tuple[int, int] = (-5, 1),
    definitions: Mapping[str, OutcomeDefinition] | None = None,
    allow_missing_death: bool = False,
) -> OutcomeResult:
    """Prevalent / incident / cross-sectional case status and follow-up time per participant.

    Parameters
    ----------
    main:
        Canonical wide main data or an object with ``.wide``.
    outcomes:
        Outcome names (case-insensitive, looked up in ``definitions``, default: packaged
        file) or :class:`OutcomeDefinition` objects.
    instance:
        Visit whose date (field 53) starts follow-up (2 = first imaging visit).
    admin_date:
        End of follow-up (the paper: 2023-10-31). Records after it are not events.
    max_followup_years:
        Optional cap on follow-up: ``visit_date + max_followup_years * 365.25 days`` (exact,
        so a censored participant has ``time_years == max_followup_years``; the end date then
        carries a time of day when the product is not a whole number of days, e.g. 06:00 for
        5 years = 1826.25 days). An event on or before that instant is incident.
    case_window:
        ``(lo, hi)`` years: the paper's cross-sectional case has an event whose calendar
        year is within ``[visit year + lo, visit year + hi]`` inclusive (and on or before
        ``admin_date``).

    Returns
    -------
    OutcomeResult
        ``table`` (long, one row per (eid, outcome), sorted by eid then the order of
        ``outcomes``) with columns:

        - ``eid`` (int64), ``outcome`` (the definition key, e.g. ``AF``)
        - ``event_date`` / ``source``: earliest record from any source (raw, may be after the
          admin date or after death), see :func:`outcome_dates`
        - ``visit_date``: field 53 at ``instance``
        - ``prevalent`` (bool): event on or before the visit date
        - ``incident`` (bool): event after the visit and on or before the end of follow-up
          (the earliest of death, admin date and the max follow-up date; an event on the day
          of death counts)
        - ``case_window`` (bool): see ``case_window`` above
        - ``end_date``: the event date for incident events, else the end of follow-up; NaT
          for prevalent cases
        - ``time_years`` (float64): ``(end_date - visit_date)`` in days / 365.25; NaN for
          prevalent cases (so they cannot enter a survival model by accident)
        - ``event`` (int64): 1 for an incident event at ``end_date``, else 0
        - ``censor_reason``: ``event``, ``death``, ``max_followup``, ``administrative`` or
          ``prevalent`` (ties: death before max_followup before administrative)
        - ``date_flag``: ``after_death`` (a record dated after the participant's death) or
          ``after_admin_date`` (after the end of follow-up), else empty: such a date is kept in
          ``event_date`` but never counts as an incident event

        ``excluded``: participants without a visit date at the instance
        (``no_visit_date``), whose visit is after ``admin_date`` (``visit_after_admin_date``)
        or whose death date precedes the visit (``died_before_visit``).
    """
    wide = as_wide(main)
    if admin_date is None:
        raise CardiolatentError("admin_date (end of follow-up) is required, e.g. '2023-10-31'")
    admin = pd.Timestamp(admin_date)
    lo, hi = (int(v) for v in case_window)
    if lo > hi:
        raise CardiolatentError(f"case_window must be (lo, hi) with lo <= hi, got {case_window!r}")
    defs = [_resolve(o, definitions) for o in outcomes]
    keys = [d.key for d in defs]
    if len({k.casefold() for k in keys}) != len(keys):
        raise CardiolatentError(f"outcomes listed more than once: {keys}")

    vcol = column_name(VISIT_FIELD, instance, 0)
    if vcol not in wide.columns:
        raise MissingFieldError(
            f"field 53 (date of attending assessment centre) instance {instance} is required "
            f"for outcome follow-up (column {vcol!r} not found in the main data)"
        )
    visit = _date_frame(wide, [vcol]).iloc[:, 0]
    death = _death_dates(wide, allow_missing_death)

    reason = pd.Series(pd.NA, index=wide.index, dtype="string")
    reason[visit.isna()] = "no_visit_date"
    reason[reason.isna() & (visit > admin)] = "visit_after_admin_date"
    reason[reason.isna() & (death < visit)] = "died_before_visit"
    keep = reason.isna().to_numpy()
    excluded = pd.DataFrame({"eid": wide.index[~keep].to_numpy(), "reason": reason[~keep].to_numpy()})
    excluded = excluded.astype({"eid": "int64", "reason": "string"})

    w = wide.iloc[np.flatnonzero(keep)][_needed_columns(wide, defs)]
    visit, death = visit[keep], death[keep]
    # end of follow-up without an event, and why
    stop = pd.DataFrame({
        "death": death,
        "max_followup": (visit + pd.to_timedelta(float(max_followup_years) * DAYS_PER_YEAR, unit="D"))
        if max_followup_years is not None else pd.Series(pd.NaT, index=visit.index, dtype="datetime64[ns]"),
        "administrative": pd.Series(admin, index=visit.index, dtype="datetime64[ns]"),
    }).astype("datetime64[ns]")
    censor_end = stop.min(axis=1)
    censor_why = _first_min_column(stop)  # first column wins ties: death, max_followup, administrative

    sources = _Sources(w)
    frames = [
        _one_outcome(w, d, visit, censor_end, censor_why, admin, lo, hi, sources) for d in defs
    ]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLE_COLUMNS)
    order = {k: i for i, k in enumerate(keys)}
    table = (
        table.assign(_o=table["outcome"].map(order))
        .sort_values(["eid", "_o"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
    table["outcome"] = table["outcome"].astype("string")
    table["date_flag"] = _date_flags(table, death, admin)
    return OutcomeResult(table[TABLE_COLUMNS], excluded.reset_index(drop=True))


def _date_flags(table: pd.DataFrame, death: pd.Series, admin: pd.Timestamp) -> pd.Series:
    """``after_death`` / ``after_admin_date`` where a recorded event date is impossible in follow-up
    terms (a record after the participant's death, or after the end of the data), else empty."""
    ev = pd.to_datetime(table["event_date"])
    died = pd.to_datetime(table["eid"].map(death))
    flag = pd.Series("", index=table.index, dtype="string")
    flag[(ev > admin).fillna(False).to_numpy(bool)] = "after_admin_date"
    flag[(ev > died).fillna(False).to_numpy(bool)] = "after_death"
    return flag


def _needed_columns(wide: pd.DataFrame, defs: Sequence[OutcomeDefinition]) -> list[str]:
    """Main-data columns the outcome definitions read (avoid copying thousands of other columns)."""
    fields = {f for d in defs for f in d.first_occurrence + d.algorithmic}
    if any(d.icd10 for d in defs):
        fields |= set(HOSPITAL_FIELDS["icd10"])
    if any(d.icd9 for d in defs):
        fields |= set(HOSPITAL_FIELDS["icd9"])
    return [c for f in sorted(fields) for c in field_columns(wide, f).values()]


def _one_outcome(
    w: pd.DataFrame,
    d: OutcomeDefinition,
    visit: pd.Series,
    censor_end: pd.Series,
    censor_why: pd.Series,
    admin: pd.Timestamp,
    lo: int,
    hi: int,
    sources: _Sources,
) -> pd.DataFrame:
    dates = outcome_dates(w, d, _sources=sources)
    ev, src = dates["event_date"], dates["source"]
    has = ev.notna()
    prevalent = has & (ev <= visit)
    incident = has & (ev > visit) & (ev <= censor_end)
    year = ev.dt.year
    vyear = visit.dt.year
    window = has & (ev <= admin) & (year >= vyear + lo) & (year <= vyear + hi)
    end = censor_end.where(~incident, ev).where(~prevalent)
    why = pd.Series(censor_why.to_numpy(dtype=object, copy=True), index=w.index)
    why[incident] = "event"
    why[prevalent] = "prevalent"
    return pd.DataFrame({
        "eid": w.index.to_numpy(dtype="int64"),
        "outcome": d.key,
        "event_date": ev.to_numpy(),
        "source": src.to_numpy(),
        "visit_date": visit.to_numpy(),
        "prevalent": prevalent.to_numpy(dtype=bool),
        "incident": incident.to_numpy(dtype=bool),
        "case_window": window.to_numpy(dtype=bool),
        "end_date": end.astype("datetime64[ns]").to_numpy(),
        "time_years": years_between(visit, end).to_numpy(dtype="float64"),
        "event": incident.to_numpy(dtype="int64"),
        "censor_reason": pd.array(why.to_numpy(dtype=object), dtype="string"),
    }).astype({"source": "string"})


def wide_outcomes(
    result: OutcomeResult | pd.DataFrame,
    columns: Sequence[str] = ("event", "time_years"),
) -> pd.DataFrame:
    """One row per eid with ``{outcome}_{column}`` columns (e.g. ``AF_event``, ``AF_time_years``).

    ``result`` is an :class:`OutcomeResult` or its long ``table``. Columns are ordered by
    outcome (first appearance) then by ``columns``; dtypes are kept.
    """
    table = result.table if isinstance(result, OutcomeResult) else result
    unknown = [c for c in columns if c not in table.columns]
    if unknown:
        raise CardiolatentError(f"unknown outcome table column(s) {unknown}; available: {list(table.columns)}")
    outcomes = list(dict.fromkeys(table["outcome"].tolist()))
    eids = pd.Index(pd.unique(table["eid"]), name="eid")
    out = pd.DataFrame(index=eids)
    for o in outcomes:
        sub = table[table["outcome"] == o].set_index("eid")
        for c in columns:
            out[f"{o}_{c}"] = sub[c].reindex(eids)
    return out
