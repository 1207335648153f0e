"""Read and write UK Biobank main data in any naming style (see :mod:`cardiolatent.ukb.naming`).

:func:`read_main` returns :class:`MainData`, whose ``wide`` table is the canonical form of
``docs/design.md``: index ``eid`` (int64, unique), one column per (field, instance, array)
named ``"{field}-{instance}.{array}"``, sorted by (field, instance, array), dtypes by registry
type (integer/categorical -> ``Int64``, continuous -> ``float64``, date -> ``datetime64[ns]``,
text/icd10/icd9 -> ``string``), cleaned (negative ``na_codes`` and placeholder dates -> missing,
each change recorded in ``MainData.flags``).

Large files (500k rows x thousands of columns) are handled by reading the header line alone
first, then only the requested columns (``usecols``) with explicit dtypes.

:func:`write_main` is the inverse: it writes a canonical wide table in a given style.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from cardiolatent.errors import (
    CardiolatentError,
    DuplicateIdError,
    FieldValueError,
    MissingFieldError,
    NotATableError,
)
from cardiolatent.io_utils import atomic_path
from cardiolatent.ukb.naming import (
    ID_COLUMNS,
    STYLE_LABELS,
    canonical,
    check_style,
    detect_style,
    find_id_column,
    format_column,
    looked_for,
    parse_canonical,
    parse_column,
)
from cardiolatent.ukb.registry import FIELD_TYPES, FieldInfo, FieldRegistry

__all__ = ["MainData", "read_main", "write_main", "PLACEHOLDER_DATES", "to_text"]

#: dates UK Biobank uses to mark unknown or invalid dates; read as NaT and flagged
PLACEHOLDER_DATES = ("1900-01-01", "1901-01-01", "1902-02-02", "1903-03-03", "2037-07-07")
_PLACEHOLDER_TS = pd.DatetimeIndex(pd.to_datetime(list(PLACEHOLDER_DATES)))
_TEXT_TYPES = ("date", "text", "icd10", "icd9")
_FLAG_COLUMNS = ("eid", "column", "raw", "reason")
_SEPARATORS = {",": "comma", "\t": "tab", r"\s+": "whitespace"}
#: separator used by write_main per style
_WRITE_SEP = {"ukbconv_csv": ",", "rap": ",", "ukbconv_r": "\t", "r_mangled": "\t", "phesant": "\t"}


# --------------------------------------------------------------------------------------------
# formatting values as text (shared by write_main and MainData.long)
# --------------------------------------------------------------------------------------------
def to_text(s: pd.Series) -> np.ndarray:
    """Values of ``s`` as an object array of strings, ``""`` where missing.

    Dates -> ``YYYY-MM-DD``; integers (and Int64) without ``.0``; floats with the shortest
    repr that round-trips exactly; everything else ``str``.
    """
    dtype = s.dtype
    missing = s.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        vals = s.dt.tz_convert(None) if getattr(s.dt, "tz", None) is not None else s
        out = np.datetime_as_string(vals.to_numpy(dtype="datetime64[ns]"), unit="D").astype(object)
    elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        out = s.to_numpy(dtype="int64", na_value=0).astype(str).astype(object)
    elif pd.api.types.is_float_dtype(dtype):
        out = s.to_numpy(dtype="float64", na_value=np.nan).astype(str).astype(object)
    elif isinstance(dtype, pd.StringDtype):
        out = s.to_numpy(dtype=object, na_value="")
    else:
        out = s.astype("string").to_numpy(dtype=object, na_value="")
    out[missing] = ""
    return out


def _integral_floats_as_int(s: pd.Series) -> pd.Series:
    """A float column holding only whole numbers as Int64 (so it is written without ``.0``)."""
    if not pd.api.types.is_float_dtype(s.dtype):
        return s
    vals = s.to_numpy(dtype="float64", na_value=np.nan)
    finite = vals[~np.isnan(vals)]
    if finite.size and (np.any(~np.isfinite(finite)) or np.any(finite != np.round(finite))):
        return s
    return s.astype("Int64")


# --------------------------------------------------------------------------------------------
# write_main
# --------------------------------------------------------------------------------------------
def _canonical_frame(wide_df: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[int, int, int]]]:
    """``wide_df`` with an ``eid`` index and its column keys sorted by (field, instance, array)."""
    df = wide_df
    if df.index.name != "eid":
        if "eid" in df.columns:
            df = df.set_index("eid")
        else:
            raise CardiolatentError("write_main: the table needs an 'eid' index or column")
    keys, bad = {}, []
    for name in df.columns:
        key = parse_canonical(str(name))
        if key is None:
            bad.append(str(name))
        else:
            keys[key] = name
    if bad:
        raise CardiolatentError(
            f"write_main: columns must be canonical names like '21003-2.0'; got {', '.join(map(repr, bad[:5]))}"
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        )
    order = sorted(keys)
    df = df[[keys[k] for k in order]]
    df.columns = [canonical(*k) for k in order]
    return df, order


def write_main(
    wide_df: pd.DataFrame,
    path: str | os.PathLike,
    style: str = "ukbconv_csv",
    *,
    rap_arrays: str = "columns",
    registry: FieldRegistry | None = None,
) -> Path:
    """Write a canonical wide table (index or column ``eid``) as a main-data file in ``style``.

    Comma-separated for ``ukbconv_csv`` and ``rap``; tab-separated for ``ukbconv_r``,
    ``r_mangled`` and ``phesant``. Dates as ``YYYY-MM-DD``, missing as empty, integers without
    ``.0`` (also float columns of integer/categorical fields holding whole numbers), floats with
    round-trip precision. RAP with ``rap_arrays="joined"``: the arrays of an array field
    (arrays starting at 0) become one ``|``-joined cell per instance (``p41270``, ``p4080_i2``);
    fields whose arrays start at 1 (22009) stay ``_a`` columns as on the RAP. Written atomically.
    Returns the path.
    """
    style = check_style(style)
    if rap_arrays not in ("columns", "joined"):
        raise ValueError(f"rap_arrays must be 'columns' or 'joined' (got {rap_arrays!r})")
    reg = registry if registry is not None else FieldRegistry.default()
    df, keys = _canonical_frame(wide_df)

    eids = pd.Series(df.index, dtype="Int64")
    if eids.isna().any():
        raise CardiolatentError("write_main: eid has missing values")
    out: dict[str, np.ndarray] = {ID_COLUMNS[style][0]: eids.astype("string").to_numpy(dtype=object)}

    by_field: dict[int, list[tuple[int, int]]] = {}
    for f, i, a in keys:
        by_field.setdefault(f, []).append((i, a))

    def column_text(f: int, name: str) -> np.ndarray:
        s = df[name]
        if reg.type(f) in ("integer", "categorical"):
            s = _integral_floats_as_int(s)
        return to_text(s)

    for f in sorted(by_field):
        ia = by_field[f]
        instanced = reg.is_instanced(f) or any(i != 0 for i, _ in ia)
        arrayed = reg.is_array(f) or any(a != 0 for _, a in ia)
        instances = sorted({i for i, _ in ia})
        for inst in instances:
            arrays = sorted(a for i, a in ia if i == inst)
            join = style == "rap" and rap_arrays == "joined" and arrayed and arrays[0] == 0
            if join:
                name = format_column(f, inst, None, "rap", instanced=instanced)
                out[name] = _join_arrays([column_text(f, canonical(f, inst, a)) for a in arrays], arrays)
                continue
            for a in arrays:
                name = format_column(f, inst, a, style, instanced=instanced, arrayed=arrayed)
                out[name] = column_text(f, canonical(f, inst, a))

    table = pd.DataFrame(out, copy=False)
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep=_WRITE_SEP[style], index=False, lineterminator="\n", na_rep="")
    return path


def _join_arrays(texts: list[np.ndarray], arrays: list[int]) -> np.ndarray:
    """One ``|``-joined string per row; a gap in ``arrays`` becomes an empty piece; trailing
    empty pieces are dropped (a row with no values -> ``""``)."""
    n = len(texts[0])
    by_array = dict(zip(arrays, texts))
    empty = np.full(n, "", dtype=object)
    joined = pd.Series(by_array.get(0, empty), dtype=object)
    for a in range(1, arrays[-1] + 1):
        joined = joined + "|" + pd.Series(by_array.get(a, empty), dtype=object)
    return joined.str.rstrip("|").to_numpy(dtype=object)


# --------------------------------------------------------------------------------------------
# header sniffing
# --------------------------------------------------------------------------------------------
@dataclass
class _Header:
    path: Path
    columns: list[str]
    sep: str
    compression: str | None


def _first_line(path: Path) -> tuple[bytes, str | None]:
    """The first non-blank line of ``path`` (bytes, without the newline) and its compression."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except FileNotFoundError:
        raise NotATableError(f"main data file {path} does not exist") from None
    except IsADirectoryError:
        raise NotATableError(f"main data file {path} is a folder, not a file") from None
    if magic.startswith(b"PAR1"):
        raise NotATableError(f"{path} is a binary (parquet) file, not a delimited text table")
    if magic.startswith(b"PK\x03\x04"):
        raise NotATableError(f"{path} is a binary (zip) file, not a delimited text table; unzip it first")
    compression = "gzip" if magic.startswith(b"\x1f\x8b") else None
    opener = gzip.open if compression else open
    buf = b""
    try:
        with opener(path, "rb") as fh:
            while True:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                if not buf and b"\x00" in chunk[:8192]:
                    raise NotATableError(f"{path} is a binary file, not a delimited text table")
                buf += chunk
                if b"\n" in buf.lstrip(b"\r\n\t ,"):
                    break
    except (OSError, EOFError) as exc:
        raise NotATableError(f"{path} cannot be read as a (gzip) text table: {exc}") from None
    stripped = buf.lstrip(b"\r\n")
    if not stripped.strip():
        raise NotATableError(f"{path} is empty: no header line and no rows")
    return stripped.split(b"\n", 1)[0].rstrip(b"\r"), compression


def _sniff(path: Path) -> _Header:
    """Header columns, delimiter and compression of a main-data file, reading the first line only."""
    raw, compression = _first_line(path)
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotATableError(f"{path} is a binary file (its first line is not UTF-8 text)") from None
    if sum(ch < " " and ch != "\t" for ch in line) > 0:
        raise NotATableError(f"{path} is a binary file (control characters in its first line)")
    n_tab, n_comma = line.count("\t"), line.count(",")
    if n_tab == 0 and n_comma == 0:
        if line.strip().count(" ") > 0:
            return _Header(path, line.split(), r"\s+", compression)
        other = next((c for c in ";|:" if c in line), None)
        hint = f"; it looks {'semicolon' if other == ';' else repr(other)}-separated, which is not supported" if other else ""
        raise NotATableError(
            f"{path} has one column / no recognisable delimiter (tried comma, tab, whitespace){hint}; "
            "main data must be comma- or tab-separated with an eid column"
        )
    sep = "\t" if n_tab >= n_comma else ","
    columns = next(csv.reader([line], delimiter=sep))
    if len(columns) < 2:
        raise NotATableError(f"{path} has only one column ({columns[0]!r}); expected eid and field columns")
    return _Header(path, columns, sep, compression)


# --------------------------------------------------------------------------------------------
# column planning
# --------------------------------------------------------------------------------------------
@dataclass
class _Col:
    name: str  # as in the file
    field: int
    instance: int
    array: int | None  # None = |-joined cell (RAP)
    maybe_joined: bool = False  # RAP bare column of a field unknown to the registry
    ftype: str = "text"

    @property
    def read_as_text(self) -> bool:
        return self.array is None or self.maybe_joined or self.ftype in _TEXT_TYPES


_RAP_ARRAY = re.compile(r"_a\d+$")


def _plan_columns(columns: Sequence[str], style: str, id_col: str, reg: FieldRegistry) -> list[_Col]:
    array_fields = reg.array_fields()
    out: list[_Col] = []
    for name in columns:
        if name == id_col:
            continue
        key = parse_column(name.strip(), style, array_fields=array_fields)
        if key is None:
            continue
        f, i, a = key
        maybe = style == "rap" and a == 0 and f not in reg and not _RAP_ARRAY.search(name.strip())
        out.append(_Col(name, f, i, a, maybe))
    return out


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (str, int, np.integer)):
        return [x]
    return list(x)


def _select(
    cols: list[_Col],
    header: _Header,
    style: str,
    reg: FieldRegistry,
    fields,
    instances,
    required,
    missing_ok: bool,
) -> list[_Col]:
    """The columns to read; raises MissingFieldError for absent required fields."""
    wanted = None if fields is None else {reg.resolve(f) for f in _as_list(fields)}
    if required is None:
        req = [] if (missing_ok or wanted is None) else sorted(wanted)
    else:
        req = list(dict.fromkeys(reg.resolve(f) for f in _as_list(required)))
        if wanted is not None:
            wanted |= set(req)
    inst = None if instances is None else {int(i) for i in _as_list(instances)}

    keep = [c for c in cols if (wanted is None or c.field in wanted) and (inst is None or c.instance in inst)]
    present = {c.field for c in keep}
    for f in req:
        if f in present:
            continue
        label = reg.label(f)
        others = sorted({c.instance for c in cols if c.field == f})
        if others:
            raise MissingFieldError(
                f"field {label} has no instance {', '.join(map(str, sorted(inst or [])))} in {header.path.name} "
                f"(instances present: {', '.join(map(str, others))})"
            )
        raise MissingFieldError(
            f"field {label} not found in {header.path.name}: looked for {looked_for(f, style)}"
        )
    seen: set[tuple] = set()
    unique = []
    for c in keep:
        key = (c.field, c.instance, c.array)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _read_raw(header: _Header, id_col: str, cols: list[_Col], chunksize: int | None, all_text: bool) -> pd.DataFrame:
    names = [id_col] + [c.name for c in cols]
    dtype = {id_col: str}
    for c in cols:
        dtype[c.name] = str if (all_text or c.read_as_text) else "float64"
    kwargs = dict(
        sep=header.sep,
        usecols=names,
        dtype=dtype,
        compression=header.compression,
        encoding="utf-8-sig",
        encoding_errors="replace",
        float_precision="round_trip",  # the default C converter can be 1 ulp off
    )
    if chunksize:
        with pd.read_csv(header.path, chunksize=int(chunksize), **kwargs) as reader:
            chunks = list(reader)
        df = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=names)
    else:
        df = pd.read_csv(header.path, **kwargs)
    return df[names]


def _check_row_widths(header: _Header) -> None:
    """Every row has as many fields as the header; else one error naming the line.

    pandas fills a short row with missing values and drops the extra fields of a long one when it
    reads only some columns, so a damaged file would silently give shifted values. pyarrow's CSV
    parser checks every row's width (quotes respected, in parallel, reading one column); the line
    is then located by a plain scan, on the error path only.
    """
    opts = dict(read_options=pacsv.ReadOptions(skip_rows=1, autogenerate_column_names=True, block_size=1 << 24),
                parse_options=pacsv.ParseOptions(delimiter=header.sep, newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.string()}))
    try:
        with pa.input_stream(str(header.path), compression=header.compression) as stream:
            reader = pacsv.open_csv(stream, **opts)
            for _ in reader:
                pass
    except pa.ArrowInvalid as exc:
        if "Expected" not in str(exc) or "columns" not in str(exc):
            return  # not a width problem: the pandas read reports it
        line, width = _first_ragged_line(header)
        raise FieldValueError(f"{header.path.name}: line {line} has {width} fields where the header has "
                              f"{len(header.columns)}; the file is damaged (rows are shifted)") from None


def _first_ragged_line(header: _Header) -> tuple[int, int]:
    """(line number, number of fields) of the first row whose width differs from the header's."""
    opener = gzip.open if header.compression == "gzip" else open
    with opener(header.path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
        for k, row in enumerate(csv.reader(fh, delimiter=header.sep), start=1):
            if k > 1 and row and len(row) != len(header.columns):
                return k, len(row)
    return 0, 0


def _eid_index(raw: pd.Series, header: _Header, id_col: str) -> pd.Index:
    """Participant ids as an int64 Index named ``eid``; bad or duplicate ids raise."""
    text = raw.astype("string").str.strip()
    vals = pd.to_numeric(text, errors="coerce")
    bad = vals.isna() | (vals != np.floor(vals))
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        shown = text.iloc[pos]
        raise FieldValueError(
            f"{header.path.name}: participant id column {id_col!r} row {pos + 2} has "
            f"{'no value' if pd.isna(shown) else repr(shown)}; ids must be integers"
        )
    idx = pd.Index(vals.to_numpy(dtype="int64"), name="eid")
    if not idx.is_unique:
        counts = idx.value_counts()
        dup = counts[counts > 1]
        shown = ", ".join(f"{e} (x{n})" for e, n in dup.head(5).items())
        more = f" and {len(dup) - 5} more" if len(dup) > 5 else ""
        raise DuplicateIdError(
            f"{header.path.name}: {len(dup)} participant id(s) occur more than once in column {id_col!r}: {shown}{more}"
        )
    return idx


@dataclass
class _Ctx:
    path: Path
    flags: list[pd.DataFrame] = dc_field(default_factory=list)

    def flag(self, eids: pd.Index, column: str, raw: Iterable[str], reason: str) -> None:
        raw = list(raw)
        if raw:
            self.flags.append(
                pd.DataFrame({"eid": np.asarray(eids, dtype="int64"), "column": column, "raw": raw, "reason": reason})
            )

    def bad_value(self, col_name: str, canon: str, ftype: str, eid, value) -> FieldValueError:
        where = col_name if col_name == canon else f"{col_name} ({canon})"
        return FieldValueError(
            f"{self.path.name}: column {where} has a value that is not {ftype}: eid {eid} has {value!r}"
        )


def _fmt_code(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _to_numeric(raw: pd.Series, col: _Col, canon: str, info: FieldInfo, ctx: _Ctx) -> pd.Series:
    """float64 or Int64 Series; na_codes -> NaN (flagged); integer types must be whole numbers."""
    if pd.api.types.is_float_dtype(raw.dtype):
        vals = raw.astype("float64")
    else:
        text = raw.astype("string").str.strip()
        text = text.mask(text == "")
        vals = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = vals.isna() & text.notna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise ctx.bad_value(col.name, canon, info.type, raw.index[pos], text.iloc[pos])
    if info.na_codes:
        mask = vals.isin(list(info.na_codes))
        if mask.any():
            ctx.flag(vals.index[mask], canon, (_fmt_code(v) for v in vals[mask]), "negative_code")
            vals = vals.mask(mask)
    vals = _drop_impossible(vals, col.field, canon, ctx)
    if info.type in ("integer", "categorical"):
        arr = vals.to_numpy()
        notna = ~np.isnan(arr)
        bad = notna & ~(np.isfinite(arr) & (arr == np.round(arr)))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ctx.bad_value(col.name, canon, "an integer", vals.index[pos], _fmt_code(arr[pos]) if np.isfinite(arr[pos]) else str(arr[pos]))
        return vals.astype("Int64")
    return vals


#: physiologically possible values of the body measures the covariates use (field -> (low, high));
#: outside them a value is a data-entry or export error and becomes missing (flagged
#: ``implausible_value``). Wide on purpose: they catch 1e308 and a height of -170, not outliers.
PLAUSIBLE_RANGES: dict[int, tuple[float, float]] = {
    50: (50.0, 260.0),      # standing height, cm
    12144: (50.0, 260.0),   # height at the imaging visit, cm
    21002: (15.0, 400.0),   # weight, kg
    48: (20.0, 300.0),      # waist circumference, cm
    4080: (40.0, 350.0),    # systolic blood pressure, automated, mmHg
    93: (40.0, 350.0),      # systolic blood pressure, manual, mmHg
    4079: (10.0, 250.0),    # diastolic blood pressure, automated, mmHg
    94: (10.0, 250.0),      # diastolic blood pressure, manual, mmHg
}


def _drop_impossible(vals: pd.Series, field: int, canon: str, ctx: _Ctx) -> pd.Series:
    """Infinite values (any numeric field) and values outside :data:`PLAUSIBLE_RANGES` -> NaN,
    each flagged (``not_finite``, ``implausible_value``) so the count reaches the user."""
    arr = vals.to_numpy(dtype=np.float64)
    inf = np.isinf(arr)
    if inf.any():
        ctx.flag(vals.index[inf], canon, (str(v) for v in arr[inf]), "not_finite")
    bad = inf.copy()
    lim = PLAUSIBLE_RANGES.get(int(field))
    if lim is not None:
        with np.errstate(invalid="ignore"):
            out = np.isfinite(arr) & ((arr < lim[0]) | (arr > lim[1]))
        if out.any():
            ctx.flag(vals.index[out], canon, (_fmt_code(v) for v in arr[out]), "implausible_value")
        bad |= out
    return vals.mask(bad) if bad.any() else vals


def _to_date(raw: pd.Series, col: _Col, canon: str, info: FieldInfo, ctx: _Ctx) -> pd.Series:
    """datetime64[ns] Series from ISO dates or timestamps; placeholder dates -> NaT (flagged)."""
    text = raw.astype("string").str.strip()
    text = text.mask(text == "")
    parsed = pd.to_datetime(text.astype(object), format="ISO8601", errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    parsed = parsed.astype("datetime64[ns]")
    bad = parsed.isna() & text.notna()
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ctx.bad_value(col.name, canon, "a date (YYYY-MM-DD)", raw.index[pos], text.iloc[pos])
    mask = parsed.dt.normalize().isin(_PLACEHOLDER_TS) & parsed.notna()
    if mask.any():
        ctx.flag(parsed.index[mask], canon, text[mask].astype(object), "placeholder_date")
        parsed = parsed.mask(mask)
    return parsed


def _to_string(raw: pd.Series, col: _Col, canon: str, info: FieldInfo, ctx: _Ctx) -> pd.Series:
    s = raw.astype("string")
    if info.na_codes:
        mask = s.str.strip().isin([str(c) for c in info.na_codes]).fillna(False).astype(bool)
        if mask.any():
            ctx.flag(s.index[mask], canon, s[mask].astype(object), "negative_code")
            s = s.mask(mask)
    return s


def _convert(raw: pd.Series, col: _Col, array: int, info: FieldInfo, ctx: _Ctx) -> tuple[str, pd.Series]:
    canon = canonical(col.field, col.instance, array)
    if info.type == "date":
        out = _to_date(raw, col, canon, info, ctx)
    elif info.type in ("integer", "categorical", "continuous"):
        out = _to_numeric(raw, col, canon, info, ctx)
    else:
        out = _to_string(raw, col, canon, info, ctx)
    out.name = canon
    return canon, out


def _explode(raw: pd.Series) -> list[pd.Series]:
    """Split ``|``-joined cells into one Series per array position (empty pieces -> missing)."""
    text = raw.astype(object)
    parts = text.str.split("|", expand=True) if text.notna().any() else pd.DataFrame({0: text})
    if parts.shape[1] == 0:
        parts = pd.DataFrame({0: text})
    out = []
    for k in parts.columns:
        piece = parts[k].astype("string").str.strip()
        out.append(piece.mask(piece == "").astype(object))
    return out


def _is_joined(raw: pd.Series, col: _Col) -> bool:
    if col.array is None:
        return True
    if not col.maybe_joined:
        return False
    return bool(raw.astype("string").str.contains("|", regex=False).fillna(False).any())


# --------------------------------------------------------------------------------------------
# MainData
# --------------------------------------------------------------------------------------------
@dataclass
class MainData:
    """Canonical main data (``wide``, see the module docstring) plus the cleaning record.

    ``flags``: one row per value set to missing by cleaning, columns ``eid`` (int64),
    ``column`` (canonical name), ``raw`` (the value as written in the file), ``reason``
    (``negative_code`` or ``placeholder_date``).
    """

    wide: pd.DataFrame
    flags: pd.DataFrame
    source: Path | None = None
    style: str = "ukbconv_csv"
    registry: FieldRegistry = dc_field(default_factory=FieldRegistry.default)

    def _keys(self) -> list[tuple[tuple[int, int, int], str]]:
        out = []
        for name in self.wide.columns:
            key = parse_canonical(str(name))
            if key is not None:
                out.append((key, name))
        return out

    def _cols(self, field: int, instance: int | None = None, array: int | None = None) -> list[str]:
        return [
            name
            for (f, i, a), name in self._keys()
            if f == field and (instance is None or i == instance) and (array is None or a == array)
        ]

    def __len__(self) -> int:
        return len(self.wide)

    @property
    def eids(self) -> pd.Index:
        return self.wide.index

    def instances_of(self, field: int | str) -> list[int]:
        """Instances present for a field (sorted; empty if absent)."""
        fid = self.registry.resolve(field)
        return sorted({i for (f, i, _), _ in self._keys() if f == fid})

    def arrays_of(self, field: int | str, instance: int = 0) -> list[int]:
        """Array indices present for a field at an instance (sorted)."""
        fid = self.registry.resolve(field)
        return sorted({a for (f, i, a), _ in self._keys() if f == fid and i == instance})

    def has(self, field: int | str, instance: int | None = None) -> bool:
        """True when the field (at ``instance``, if given) has at least one column."""
        return bool(self._cols(self.registry.resolve(field), instance))

    def get(self, field: int | str, instance: int | None = None, array: int | None = None):
        """Values of a field (registry name or id), indexed by eid.

        Returns a Series when one column is meant: ``instance`` given (or the field has a
        single instance in the registry and the data) and ``array`` given (or the field is not
        an array field). Otherwise a DataFrame of the matching columns (all instances and/or
        all arrays), canonical names as columns. Raises MissingFieldError when nothing matches.
        """
        fid = self.registry.resolve(field)
        info = self.registry.info(fid)
        cols = self._cols(fid, instance, array)
        one_instance = instance is not None or (len(info.instances) <= 1 and len(self.instances_of(fid)) <= 1)
        one_array = array is not None or (info.arrays <= 1 and all(a == 0 for a in self._arrays_all(fid)))
        if not cols:
            what = self.registry.label(fid)
            at = "" if instance is None else f" instance {instance}"
            at += "" if array is None else f" array {array}"
            src = f" in {Path(self.source).name}" if self.source else ""
            raise MissingFieldError(f"field {what}{at} is not in the main data{src}")
        if one_instance and one_array and len(cols) == 1:
            return self.wide[cols[0]]
        return self.wide[cols]

    def _arrays_all(self, fid: int) -> set[int]:
        return {a for (f, _, a), _ in self._keys() if f == fid}

    def long(self) -> pd.DataFrame:
        """Long form: columns ``eid, field, instance, array, value`` (value as text,
        dates ``YYYY-MM-DD``), one row per non-missing value, sorted by eid, field, instance, array."""
        pieces = []
        eids = self.wide.index.to_numpy(dtype="int64")
        for (f, i, a), name in self._keys():
            s = self.wide[name]
            mask = s.notna().to_numpy()
            if not mask.any():
                continue
            pieces.append(
                pd.DataFrame({"eid": eids[mask], "field": f, "instance": i, "array": a, "value": to_text(s)[mask]})
            )
        if not pieces:
            return pd.DataFrame(
                {
                    "eid": pd.Series(dtype="int64"),
                    "field": pd.Series(dtype="int64"),
                    "instance": pd.Series(dtype="int64"),
                    "array": pd.Series(dtype="int64"),
                    "value": pd.Series(dtype=object),
                }
            )
        out = pd.concat(pieces, ignore_index=True)
        out = out.astype({"eid": "int64", "field": "int64", "instance": "int64", "array": "int64"})
        return out.sort_values(["eid", "field", "instance", "array"], kind="stable", ignore_index=True)


def _empty_flags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "eid": pd.Series(dtype="int64"),
            "column": pd.Series(dtype=object),
            "raw": pd.Series(dtype=object),
            "reason": pd.Series(dtype=object),
        }
    )


# --------------------------------------------------------------------------------------------
# read_main
# --------------------------------------------------------------------------------------------
def read_main(
    path: str | os.PathLike,
    fields: Iterable[int | str] | int | str | None = None,
    *,
    registry: FieldRegistry | None = None,
    instances: Iterable[int] | int | None = None,
    style: str | None = None,
    chunksize: int | None = None,
    required: Iterable[int | str] | None = None,
    missing_ok: bool = False,
    types: Mapping[int | str, str] | None = None,
) -> MainData:
    """Read a UK Biobank main-data file into the canonical wide form (see the module docstring).

    Parameters
    ----------
    path : csv / tab / whitespace-separated file (optionally gzip), any naming style.
    fields : registry names or field ids to read (None = every field column in the file).
    registry : field registry (default: the packaged one); gives types and ``na_codes``.
    instances : keep only these instances (e.g. ``[2, 3]`` for the imaging visits).
    style : naming style; detected from the header when None.
    chunksize : read this many rows at a time (lower peak memory on huge files).
    required : fields that must be present (default: every field in ``fields``, unless
        ``missing_ok``); absent ones raise MissingFieldError naming the column names tried.
    types : registry type per field for fields not in (or to override) the registry;
        unknown fields default to ``text``.

    Only the header line is read first; then only the selected columns are parsed.
    """
    path = Path(path)
    reg = registry if registry is not None else FieldRegistry.default()
    header = _sniff(path)
    if style is None:
        style = detect_style(header.columns, source=path.name)
    else:
        check_style(style)
    stripped = [c.strip() for c in header.columns]
    id_name = find_id_column(stripped, style)
    if id_name is None:
        raise MissingFieldError(
            f"no participant id column in {path.name}: looked for {', '.join(ID_COLUMNS[style])} "
            f"({STYLE_LABELS[style]} naming); saw {', '.join(map(repr, header.columns[:5]))}"
        )
    id_col = header.columns[stripped.index(id_name)]

    cols = _plan_columns(header.columns, style, id_col, reg)
    cols = _select(cols, header, style, reg, fields, instances, required, missing_ok)
    overrides = {reg.resolve(k): v.lower() for k, v in (types or {}).items()}
    for v in overrides.values():
        if v not in FIELD_TYPES:
            raise CardiolatentError(f"type {v!r} is not one of {', '.join(FIELD_TYPES)}")
    infos: dict[int, FieldInfo] = {}
    for c in cols:
        if c.field not in infos:
            info = reg.info(c.field)
            if c.field in overrides:
                info = FieldInfo(**{**info.__dict__, "type": overrides[c.field]})
            infos[c.field] = info
        c.ftype = infos[c.field].type

    if header.sep != r"\s+":
        _check_row_widths(header)
    try:
        raw = _read_raw(header, id_col, cols, chunksize, all_text=False)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, CardiolatentError):
            raise
        raw = _read_raw(header, id_col, cols, chunksize, all_text=True)  # locate the bad value below
    idx = _eid_index(raw[id_col], header, id_col)
    raw = raw.drop(columns=[id_col])
    raw.index = idx

    ctx = _Ctx(path)
    out: dict[str, pd.Series] = {}
    for c in cols:
        s = raw[c.name]
        pieces = _explode(s) if _is_joined(s, c) else [s]
        for k, piece in enumerate(pieces):
            array = k if (c.array is None or len(pieces) > 1 or c.maybe_joined) else c.array
            piece.index = idx
            canon, conv = _convert(piece, c, array, infos[c.field], ctx)
            out.setdefault(canon, conv)

    order = sorted(out, key=lambda n: parse_canonical(n))
    wide = pd.concat([out[n] for n in order], axis=1) if order else pd.DataFrame(index=idx)
    wide.index = idx
    wide.columns = order
    flags = pd.concat(ctx.flags, ignore_index=True) if ctx.flags else _empty_flags()
    return MainData(wide=wide, flags=flags, source=path, style=style, registry=reg)
