"""Imaging-visit covariates from UK Biobank main data.

Input is the canonical wide main-data frame (see ``docs/design.md``): index ``eid`` (int64),
columns ``"{field}-{instance}.{array}"``, dates already ``datetime64`` with placeholder dates
already ``NaT`` and negative "do not know" codes already missing. Any object with a ``.wide``
attribute holding such a frame (e.g. ``MainData``) is accepted too.

Every function here is vectorised over participants (no per-participant Python loops); the
only Python loops run over a handful of columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError, MissingFieldError

__all__ = [
    "CovariateTable",
    "imaging_covariates",
    "imaging_covariates_all",
    "as_wide",
    "column_name",
    "field_columns",
    "du_bois_bsa",
    "birth_date",
]

#: Short descriptions used in error messages.
FIELD_LABELS: dict[int, str] = {
    31: "sex",
    34: "year of birth",
    48: "waist circumference",
    50: "standing height",
    52: "month of birth",
    53: "date of attending assessment centre",
    54: "assessment centre",
    93: "systolic blood pressure, manual reading",
    94: "diastolic blood pressure, manual reading",
    4079: "diastolic blood pressure, automated reading",
    4080: "systolic blood pressure, automated reading",
    21001: "body mass index",
    21002: "weight",
    21003: "age when attended assessment centre",
    22000: "genotype measurement batch",
    22001: "genetic sex",
    22006: "genetic ethnic grouping",
    22009: "genetic principal components",
    40000: "date of death",
}

#: Day of the month assumed for birth dates (UK Biobank releases only year (34) and month (52)).
BIRTH_DAY_OF_MONTH = 15

#: Days per year used for every age and follow-up time in years.
DAYS_PER_YEAR = 365.25

EXCLUDED_COLUMNS = ["eid", "reason"]

#: Fields read by :func:`imaging_covariates` (only these columns are copied).
_COVARIATE_FIELDS = (31, 34, 48, 50, 52, 53, 54, 93, 94, 4079, 4080, 21001, 21002, 21003, 22000, 22001, 22006, 22009)


# --------------------------------------------------------------------------- helpers


def as_wide(main: Any) -> pd.DataFrame:
    """Return the canonical wide DataFrame from ``main`` (a DataFrame or an object with ``.wide``)."""
    wide = getattr(main, "wide", main)
    if not isinstance(wide, pd.DataFrame):
        raise CardiolatentError(
            f"expected a main-data DataFrame or an object with a .wide DataFrame, got {type(main).__name__}"
        )
    return wide


def column_name(field: int, instance: int = 0, array: int = 0) -> str:
    """Canonical column name ``"{field}-{instance}.{array}"``."""
    return f"{int(field)}-{int(instance)}.{int(array)}"


def field_columns(wide: pd.DataFrame, field: int, instance: int | None = None) -> dict[tuple[int, int], str]:
    """Columns of one field as ``{(instance, array): column}``, sorted; ``instance=None`` for all."""
    prefix = f"{int(field)}-"
    out: dict[tuple[int, int], str] = {}
    for col in wide.columns:
        if not isinstance(col, str) or not col.startswith(prefix):
            continue
        rest = col[len(prefix):]
        inst, dot, arr = rest.partition(".")
        if not dot or not inst.isdigit() or not arr.isdigit():
            continue
        if instance is not None and int(inst) != int(instance):
            continue
        out[(int(inst), int(arr))] = col
    return dict(sorted(out.items()))


def _label(field: int) -> str:
    label = FIELD_LABELS.get(int(field))
    return f"field {field} ({label})" if label else f"field {field}"


def _require(wide: pd.DataFrame, field: int, instance: int, array: int, purpose: str) -> str:
    col = column_name(field, instance, array)
    if col not in wide.columns:
        raise MissingFieldError(
            f"{_label(field)} instance {instance} is required for {purpose} "
            f"(column {col!r} not found in the main data)"
        )
    return col


def _float(wide: pd.DataFrame, col: str) -> pd.Series:
    """Column as float64 with NaN for missing (all-NaN if the column is absent)."""
    if col not in wide.columns:
        return pd.Series(np.nan, index=wide.index, dtype="float64")
    s = wide[col]
    return pd.Series(pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan), index=wide.index)


def _int(wide: pd.DataFrame, col: str) -> pd.Series:
    """Column as nullable Int64 (all-missing if absent); non-integral values raise."""
    if col not in wide.columns:
        return pd.Series(pd.NA, index=wide.index, dtype="Int64")
    s = pd.to_numeric(wide[col], errors="coerce")
    return s.astype("Int64")


def _date(wide: pd.DataFrame, col: str) -> pd.Series:
    """Column as datetime64[ns] (all-NaT if absent)."""
    if col not in wide.columns:
        return pd.Series(pd.NaT, index=wide.index, dtype="datetime64[ns]")
    s = wide[col]
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = pd.to_datetime(s, errors="coerce")
    return s.astype("datetime64[ns]")


def _row_mean(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Mean over the available (non-NaN) values of each row and the number of values used."""
    n = frame.notna().sum(axis=1)
    mean = frame.sum(axis=1, min_count=1) / n.where(n > 0)
    return mean.astype("float64"), n


def du_bois_bsa(weight_kg: Any, height_cm: Any) -> Any:
    """Body surface area in m^2 (Du Bois): ``0.20247 * weight_kg**0.425 * (height_cm/100)**0.725``."""
    return 0.20247 * np.power(weight_kg, 0.425) * np.power(height_cm / 100.0, 0.725)


def birth_date(year: pd.Series, month: pd.Series) -> pd.Series:
    """Approximate birth dates (datetime64[ns]): the 15th of ``month`` (1-12) of ``year``.

    UK Biobank gives only year (field 34) and month (field 52) of birth; the 15th is the middle
    of the month, so the error in age is at most about half a month. Missing or out-of-range
    values give ``NaT``.
    """
    y = pd.to_numeric(year, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    m = pd.to_numeric(month, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    ok = np.isfinite(y) & np.isfinite(m) & (m >= 1) & (m <= 12)
    months = np.where(ok, (y - 1970) * 12 + (m - 1), 0).astype("int64")
    dates = months.astype("datetime64[M]").astype("datetime64[ns]") + np.timedelta64(BIRTH_DAY_OF_MONTH - 1, "D")
    dates = np.where(ok, dates, np.datetime64("NaT", "ns"))
    return pd.Series(dates, index=year.index, dtype="datetime64[ns]")


def years_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """``(end - start)`` in years of 365.25 days (float64; NaN where either is missing)."""
    delta = end - start
    return delta.dt.total_seconds() / 86400.0 / DAYS_PER_YEAR


# --------------------------------------------------------------------------- public API


@dataclass
class CovariateTable:
    """Covariates of the participants who attended an imaging visit, and those left out.

    Attributes
    ----------
    table:
        One row per participant (``imaging_covariates``: index ``eid``) or per participant and
        visit (``imaging_covariates_all``: MultiIndex ``(eid, instance)``); columns are listed
        in :func:`imaging_covariates`.
    excluded:
        Participants not in ``table`` with the reason: columns ``eid, reason`` (plus ``instance``
        from ``imaging_covariates_all``). Reasons: ``no_visit_date`` (field 53 missing at the
        instance: did not attend), ``visit_after_admin_date``.
    missing_fields:
        Columns of the main data that were absent, so the covariates built from them are
        all-missing (e.g. ``["48-2.0"]``).
    """

    table: pd.DataFrame
    excluded: pd.DataFrame
    missing_fields: list[str] = dc_field(default_factory=list)


def _blood_pressure(wide: pd.DataFrame, instance: int) -> pd.DataFrame:
    """``sbp``, ``dbp`` (mmHg) and ``bp_source`` for every row of ``wide``.

    Automated readings (4080 systolic / 4079 diastolic, arrays 0 and 1) are averaged over those
    available. A participant with no automated reading at all (neither systolic nor diastolic)
    falls back to the mean of the manual readings (93 / 94, arrays 0 and 1). ``bp_source`` is
    ``automated``, ``manual`` or ``none``.
    """
    def readings(field: int) -> pd.DataFrame:
        return pd.DataFrame({a: _float(wide, column_name(field, instance, a)) for a in (0, 1)})

    sbp_a, n_sa = _row_mean(readings(4080))
    dbp_a, n_da = _row_mean(readings(4079))
    sbp_m, n_sm = _row_mean(readings(93))
    dbp_m, n_dm = _row_mean(readings(94))
    automated = (n_sa + n_da) > 0
    manual = ~automated & ((n_sm + n_dm) > 0)
    source = np.where(automated, "automated", np.where(manual, "manual", "none"))
    return pd.DataFrame(
        {
            "sbp": sbp_a.where(automated, sbp_m),
            "dbp": dbp_a.where(automated, dbp_m),
            "bp_source": pd.Series(source, index=wide.index, dtype="string"),
        },
        index=wide.index,
    )


def _age(wide: pd.DataFrame, instance: int, visit: pd.Series, age_from: str) -> pd.Series:
    if age_from == "21003":
        col = _require(wide, 21003, instance, 0, "age at the imaging visit (age_from='21003')")
        return _float(wide, col)
    if age_from == "birth":
        ycol = _require(wide, 34, 0, 0, "age from birth date (age_from='birth')")
        mcol = _require(wide, 52, 0, 0, "age from birth date (age_from='birth')")
        born = birth_date(wide[ycol], wide[mcol])
        return years_between(born, visit)
    raise CardiolatentError(f"age_from must be '21003' or 'birth', got {age_from!r}")


def imaging_covariates(
    main: Any,
    instance: int = 2,
    *,
    age_from: str = "21003",
    admin_date: str | pd.Timestamp | None = None,
    require: Iterable[str] = (),
) -> CovariateTable:
    """Covariates at one assessment visit (instance 2 = first imaging visit, 3 = repeat imaging).

    Parameters
    ----------
    main:
        Canonical wide main data (index ``eid``) or an object with ``.wide``.
    instance:
        Visit instance whose date (field 53) defines attendance.
    age_from:
        ``"21003"``: age in whole years from field 21003 at the instance (UK Biobank floors it).
        ``"birth"``: ``(visit date - birth date).days / 365.25`` where the birth date is the
        15th of month 52-0.0 of year 34-0.0 (UK Biobank gives only year and month of birth).
    admin_date:
        Optional cut-off: visits after it are excluded (reason ``visit_after_admin_date``).
    require:
        Main-data columns (e.g. ``"50-2.0"``) or field ids (``50``) that must be present;
        absent ones raise :class:`MissingFieldError`. Field 53 at the instance and the age
        source are always required; other absent fields give all-missing covariates and are
        listed in ``missing_fields``.

    Returns
    -------
    CovariateTable
        ``table`` indexed by ``eid`` (one row per participant with a visit date at the
        instance, in input order) with columns:

        ``age`` (years, float64), ``sex`` (31-0.0: 0 female, 1 male; Int64),
        ``genetic_sex`` (22001-0.0, Int64), ``height`` (cm, 50), ``weight`` (kg, 21002),
        ``bmi`` (kg/m^2, 21001; computed as weight/(height/100)^2 when missing and both are
        present), ``bmi_computed`` (bool), ``bsa`` (m^2, Du Bois), ``sbp`` / ``dbp`` (mmHg,
        mean of the available automated readings 4080/4079 arrays 0-1, else of the manual
        readings 93/94), ``bp_source`` (``automated`` / ``manual`` / ``none``), ``waist``
        (cm, 48), ``centre`` (54, Int64), ``visit_date`` (53, datetime64[ns]),
        ``imaging_year`` (int64), ``visit`` (the instance, int64), ``genotyping_batch``
        (22000-0.0, Int64; negative values are UK BiLEVE batches and are kept),
        ``genetic_ethnic_grouping`` (22006-0.0, Int64), ``pc1`` .. ``pc40`` (22009-0.1 ..
        22009-0.40, float64, only the arrays present). Instance-specific fields (50, 21002,
        21001, 48, 54, 4080, 4079, 93, 94, 21003) are read at ``instance``.
    """
    wide = as_wide(main)
    instance = int(instance)
    vcol = _require(wide, 53, instance, 0, "imaging covariates")
    _check_required(wide, instance, require)

    visit_all = _date(wide, vcol)
    keep = visit_all.notna()
    reasons = pd.Series(pd.NA, index=wide.index, dtype="string")
    reasons[~keep] = "no_visit_date"
    if admin_date is not None:
        late = keep & (visit_all > pd.Timestamp(admin_date))
        reasons[late] = "visit_after_admin_date"
        keep &= ~late
    excluded = pd.DataFrame({"eid": wide.index[~keep].to_numpy(), "reason": reasons[~keep].to_numpy()})
    excluded = excluded.astype({"eid": "int64", "reason": "string"})

    cols = [c for f in _COVARIATE_FIELDS for c in field_columns(wide, f).values()]
    w = wide.loc[keep.to_numpy(), cols]
    visit = visit_all[keep]
    missing: list[str] = []

    def col(field: int, inst: int, arr: int = 0) -> str:
        name = column_name(field, inst, arr)
        if name not in w.columns:
            missing.append(name)
        return name

    height = _float(w, col(50, instance))
    weight = _float(w, col(21002, instance))
    bmi = _float(w, col(21001, instance))
    bmi_calc = weight / (height / 100.0) ** 2
    bmi_computed = bmi.isna() & bmi_calc.notna()
    for f in (4080, 4079):
        for a in (0, 1):
            col(f, instance, a)

    out = pd.DataFrame(index=w.index)
    out["age"] = _age(w, instance, visit, age_from).astype("float64")
    out["sex"] = _int(w, col(31, 0))
    out["genetic_sex"] = _int(w, col(22001, 0))
    out["height"] = height
    out["weight"] = weight
    out["bmi"] = bmi.where(~bmi_computed, bmi_calc)
    out["bmi_computed"] = bmi_computed.astype(bool)
    out["bsa"] = du_bois_bsa(weight, height)
    out = out.join(_blood_pressure(w, instance))
    out["waist"] = _float(w, col(48, instance))
    out["centre"] = _int(w, col(54, instance))
    out["visit_date"] = visit
    out["imaging_year"] = visit.dt.year.astype("int64")
    out["visit"] = np.int64(instance)
    out["genotyping_batch"] = _int(w, col(22000, 0))
    out["genetic_ethnic_grouping"] = _int(w, col(22006, 0))
    pcs = field_columns(w, 22009, 0)
    for k in range(1, 41):
        if (0, k) in pcs:
            out[f"pc{k}"] = _float(w, pcs[(0, k)])
    if not pcs:
        missing.append("22009-0.*")
    out.index.name = "eid"
    return CovariateTable(out, excluded.reset_index(drop=True), sorted(set(missing), key=_col_sort_key))


def _col_sort_key(name: str) -> tuple:
    field, _, rest = name.partition("-")
    inst, _, arr = rest.partition(".")
    return (int(field), int(inst), int(arr) if arr.isdigit() else -1)


def _check_required(wide: pd.DataFrame, instance: int, require: Iterable[str]) -> None:
    for item in require:
        text = str(item)
        if "-" in text:
            if text not in wide.columns:
                field = int(text.split("-")[0])
                raise MissingFieldError(
                    f"{_label(field)} column {text!r} is required (asked for with require=) "
                    "but is not in the main data"
                )
        elif not field_columns(wide, int(text)):
            raise MissingFieldError(
                f"{_label(int(text))} is required (asked for with require=) but no column of it "
                f"is in the main data (instance {instance} expected for visit-specific fields)"
            )


def imaging_covariates_all(
    main: Any,
    instances: Sequence[int] = (2, 3),
    **kwargs: Any,
) -> CovariateTable:
    """Covariates at several visits stacked: one row per participant and attended visit.

    ``table`` has a MultiIndex ``(eid, instance)`` (sorted) and the columns of
    :func:`imaging_covariates` (``visit`` repeats the instance as a column, handy as a
    categorical covariate). ``excluded`` has columns ``eid, instance, reason``. Keyword
    arguments go to :func:`imaging_covariates`; field 53 must exist at every instance asked for.
    """
    tables, excluded, missing = [], [], []
    for inst in instances:
        res = imaging_covariates(main, int(inst), **kwargs)
        t = res.table.copy()
        t["instance"] = np.int64(inst)
        tables.append(t.reset_index().set_index(["eid", "instance"]))
        ex = res.excluded.copy()
        ex.insert(1, "instance", np.int64(inst))
        excluded.append(ex)
        missing += res.missing_fields
    table = pd.concat(tables).sort_index()
    ex_all = pd.concat(excluded, ignore_index=True).sort_values(["eid", "instance"], kind="stable")
    return CovariateTable(table, ex_all.reset_index(drop=True), sorted(set(missing), key=_col_sort_key))
