"""Read and write UK Biobank main data in any naming style (see :mod:`cardiolatent.ukb.naming`).

:func:`read_main` returns :class:`MainData`, whose ``wide`` table is the canonical form of
``docs/design.md``: index ``eid`` (int64, unique), one column per (field, instance, array)
named ``"{field}-{instance}.{array}"``, sorted by (field, instance, array), dtypes by registry
type (integer/categorical -> ``Int64``, continuous -> ``float64``, date -> ``datetime64[ns]``,
text/icd10/icd9 -> ``string``), cleaned (negative ``na_codes`` and placeholder dates -> missing,
each change recorded in ``MainData.flags``).

Large files (500k rows x 20,000 columns, tens of GB): the header line is read alone first, then
only the requested columns are converted, by pyarrow's multithreaded CSV reader, as raw strings
(pandas' missing-value markers such as ``NA`` -> null); the same pass checks that every row has
as many fields as the header. Typing and cleaning then run on the selected columns only.
Whitespace-separated files, files with blank lines before the header, non-UTF-8 text and
quoted line breaks use pandas instead (same result).

Fields in no registry (and not given in ``types=``) are typed from their values: ``continuous``
(float64) when every non-missing value is a number (whole numbers too: an unknown field's codes
or counts are held exactly and no ``Int64`` checks apply), ``date`` when every value is an ISO
date (``YYYY-MM-DD``, optionally with a time), else ``text``. Each such field gets a note in
``MainData.notes`` and an inferred row in ``MainData.registry`` (a copy; the caller's registry
is never changed).

**Cache.** The raw text of the columns read from a comma- or tab-separated file is kept as
parquet in a column store, one per source file, in ``cache_root() / "main"`` (``$CARDIOLATENT_HOME/main``, else
``$XDG_CACHE_HOME/cardiolatent/main``, else ``~/.cache/cardiolatent/main``), keyed by the
file's resolved path, size and modification time: the next read of those columns takes well
under a second, and a read needing more columns reads only the missing ones from the file.
A changed file invalidates its store. ``read_main(..., cache=False)`` (command line
``--no-cache``) neither uses nor fills it. See :mod:`cardiolatent.ukb.cache`.

Input may also be a ``.parquet`` main-data file (RAP exports; any naming style, any column
types) or a column-store folder written by ``cardiolatent convert-main``.

:func:`write_main` (:mod:`cardiolatent.ukb.write`, re-exported here) is the inverse: it writes a canonical
wide table in a given style. :func:`cardiolatent.ukb.convert.convert_main` turns a whole file into a column store.
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
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pandas._libs.parsers import STR_NA_VALUES

from cardiolatent.errors import (
    CardiolatentError,
    DuplicateIdError,
    FieldValueError,
    MissingFieldError,
    NotATableError,
)
from cardiolatent.ukb import cache as _cache
from cardiolatent.ukb.naming import (
    ID_COLUMNS,
    STYLE_LABELS,
    canonical,
    check_style,
    detect_style,
    find_id_column,
    looked_for,
    parse_canonical,
    parse_column,
)
from cardiolatent.ukb.registry import FIELD_TYPES, FieldInfo, FieldRegistry
from cardiolatent.ukb.write import to_text, write_main

__all__ = ["MainData", "read_main", "write_main", "PLACEHOLDER_DATES", "to_text"]

#: dates UK Biobank uses to mark unknown or invalid dates; read as NaT and flagged
PLACEHOLDER_DATES = ("1900-01-01", "1901-01-01", "1902-02-02", "1903-03-03", "2037-07-07")
_PLACEHOLDER_TS = pd.DatetimeIndex(pd.to_datetime(list(PLACEHOLDER_DATES)))
_FLAG_COLUMNS = ("eid", "column", "raw", "reason")
_SEPARATORS = {",": "comma", "\t": "tab", r"\s+": "whitespace"}


# --------------------------------------------------------------------------------------------
# header sniffing
# --------------------------------------------------------------------------------------------
@dataclass
class _Header:
    path: Path
    columns: list[str]
    sep: str
    compression: str | None
    leading_blank: bool = False  # blank lines before the header (pyarrow's skip_rows would miscount)
    kind: str = "text"  # text | parquet (file or folder of parquet files) | store (column store)


def _first_line(path: Path) -> tuple[bytes, str | None, bool]:
    """The first non-blank line of ``path`` (bytes, without the newline), its compression and
    whether blank lines precede it."""
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
    return stripped.split(b"\n", 1)[0].rstrip(b"\r"), compression, len(stripped) != len(buf)


def _sniff(path: Path) -> _Header:
    """Header columns, delimiter and compression of a main-data file, reading the first line only."""
    raw, compression, leading = _first_line(path)
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotATableError(f"{path} is a binary file (its first line is not UTF-8 text)") from None
    if sum(ch < " " and ch != "\t" for ch in line) > 0:
        raise NotATableError(f"{path} is a binary file (control characters in its first line)")
    n_tab, n_comma = line.count("\t"), line.count(",")
    if n_tab == 0 and n_comma == 0:
        if line.strip().count(" ") > 0:
            return _Header(path, line.split(), r"\s+", compression, leading)
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
    return _Header(path, columns, sep, compression, leading)


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


_RAP_ARRAY = re.compile(r"_a\d+$")


def _style_and_id(header: _Header, style: str | None, path: Path) -> tuple[str, str]:
    """The naming style (detected when None) and the participant id column as written in the header."""
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
    return style, header.columns[stripped.index(id_name)]


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


# --------------------------------------------------------------------------------------------
# reading raw text columns: pyarrow (one multithreaded pass), pandas, parquet, column stores
# --------------------------------------------------------------------------------------------
#: the strings pandas reads as missing by default; the pyarrow reader uses the same set
_NULL_VALUES = sorted(STR_NA_VALUES)
#: smallest bytes per pyarrow CSV block: small blocks parse fastest (more parallel, cache-friendly)
_BLOCK_SIZE = 1 << 20


def _block_size(header: _Header) -> int:
    """Bytes per pyarrow CSV block: at least 1 MB and 32 header lengths (a row must fit in one
    block; rows are about as long as the header), at most 256 MB."""
    width = sum(len(c.encode("utf-8")) + 1 for c in header.columns)
    return int(min(max(_BLOCK_SIZE, 32 * width), 1 << 28))


class _UsePandas(Exception):
    """The pyarrow reader cannot read this file as pandas would (encoding, quoted line breaks)."""


def _csv_options(header: _Header, names: Sequence[str]) -> dict:
    """pyarrow CSV options: our header's names, columns ``names`` as strings, pandas' missing markers."""
    return dict(
        read_options=pacsv.ReadOptions(column_names=list(header.columns), skip_rows=1,
                                       block_size=_block_size(header), use_threads=True),
        parse_options=pacsv.ParseOptions(delimiter=header.sep, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            include_columns=list(names), column_types={n: pa.string() for n in names},
            null_values=_NULL_VALUES, strings_can_be_null=True, quoted_strings_can_be_null=True),
    )


def _arrow_read(header: _Header, names: Sequence[str]) -> pa.Table:
    """Columns ``names`` of a comma/tab-separated file as strings (missing -> null), one pass.

    Every row's width is checked against the header on the way (FieldValueError naming the first
    bad line). Raises :class:`_UsePandas` for anything else pyarrow refuses.
    """
    if header.leading_blank or len(set(header.columns)) != len(header.columns):
        raise _UsePandas("blank lines before the header or duplicate column names")
    opts = _csv_options(header, names)
    try:
        with pa.input_stream(str(header.path), compression=header.compression) as stream:
            return pacsv.read_csv(stream, **opts)
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "Expected" in msg and "columns" in msg:
            line, width = _first_ragged_line(header)
            if line:
                raise FieldValueError(f"{header.path.name}: line {line} has {width} fields where the header has "
                                      f"{len(header.columns)}; the file is damaged (rows are shifted)") from None
        raise _UsePandas(msg) from None
    except (OSError, EOFError) as exc:
        raise NotATableError(f"{header.path} cannot be read as a (gzip) text table: {exc}") from None


def _pandas_read(header: _Header, names: Sequence[str], chunksize: int | None) -> pa.Table:
    """The same as :func:`_arrow_read` by pandas (whitespace-separated files and the odd cases)."""
    if header.sep != r"\s+":
        _check_row_widths(header)
    kwargs = dict(sep=header.sep, usecols=list(names), dtype={n: str for n in names},
                  compression=header.compression, encoding="utf-8-sig", encoding_errors="replace")
    if chunksize:
        with pd.read_csv(header.path, chunksize=int(chunksize), **kwargs) as reader:
            chunks = list(reader)
        df = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=list(names))
    else:
        df = pd.read_csv(header.path, **kwargs)
    return pa.table({n: pa.array(df[n].to_numpy(dtype=object), type=pa.string(), from_pandas=True) for n in names})


def _read_source(header: _Header, names: Sequence[str], chunksize: int | None) -> pa.Table:
    """Raw text columns ``names`` (in that order) of a delimited main-data file."""
    if header.sep != r"\s+":
        try:
            return _arrow_read(header, names)
        except _UsePandas:
            pass
    return _pandas_read(header, names, chunksize)


def _as_strings(col: pa.ChunkedArray, name: str, path: Path) -> pa.ChunkedArray:
    """A parquet column of any type as strings (numbers in their shortest exact form, dates ISO)."""
    t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_dictionary(t):
        return _as_strings(pc.cast(col, t.value_type), name, path)
    if pa.types.is_nested(t):
        raise NotATableError(f"{path.name}: column {name} holds {t} values; main data columns must hold one "
                             "value per cell (export array fields as one column per array, or |-joined text)")
    if pa.types.is_boolean(t):
        col = pc.cast(col, pa.int8())
    if pa.types.is_timestamp(t):  # as a text export writes them: the date alone at midnight
        col = pc.cast(col, pa.timestamp("us", t.tz))
        day = pc.strftime(col, format="%Y-%m-%d")
        full = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
        midnight = pc.equal(pc.cast(pc.floor_temporal(col, unit="day"), pa.int64()), pc.cast(col, pa.int64()))
        return pc.if_else(midnight, day, full)
    try:
        return pc.cast(col, pa.string())
    except pa.ArrowException as exc:
        raise NotATableError(f"{path.name}: column {name} ({t}) cannot be read as text: {exc}") from None


def _parquet_header(path: Path) -> _Header:
    try:
        if path.is_dir():
            names = pads.dataset(str(path), format="parquet").schema.names
        else:
            names = pq.ParquetFile(path).schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise NotATableError(f"{path} is a binary (parquet) file that cannot be read as main data: {exc}") from None
    if len(names) < 2:
        raise NotATableError(f"{path} has {len(names)} column(s); expected eid and field columns")
    return _Header(path, list(names), "", None, kind="parquet")


def _parquet_read(header: _Header, names: Sequence[str]) -> pa.Table:
    try:
        table = pq.read_table(header.path, columns=list(names), use_threads=True)
    except (pa.ArrowException, OSError) as exc:
        raise NotATableError(f"{header.path} cannot be read as parquet main data: {exc}") from None
    return pa.table({n: _as_strings(table.column(n), n, header.path) for n in names})


def _store_header(path: Path) -> tuple[_Header, _cache.ColumnStore]:
    try:
        store = _cache.ColumnStore(path)
    except (ValueError, OSError) as exc:
        raise NotATableError(f"main data folder {path} is not a cardiolatent column store "
                             f"(made by 'cardiolatent convert-main'): {exc}") from None
    return _Header(path, store.columns, "", None, kind="store"), store


def _input_header(path: Path) -> tuple[_Header, "_cache.ColumnStore | None"]:
    """Header of the main data at ``path``: a delimited text file, a parquet file, a column-store
    folder (``manifest.json``) or a folder of parquet files."""
    if path.is_dir():
        if (path / _cache.MANIFEST).exists():
            return _store_header(path)
        if any(path.glob("*.parquet")):
            return _parquet_header(path), None
        raise NotATableError(f"main data file {path} is a folder, not a file (nor a column store made by "
                             "'cardiolatent convert-main', nor a folder of parquet files)")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except (FileNotFoundError, NotADirectoryError):
        raise NotATableError(f"main data file {path} does not exist") from None
    except OSError as exc:
        raise NotATableError(f"main data file {path} cannot be read: {exc}") from None
    if magic == b"PAR1":
        return _parquet_header(path), None
    return _sniff(path), None


def _raw_columns(header: _Header, store, names: Sequence[str], chunksize: int | None,
                 cache: bool) -> dict[str, pa.ChunkedArray]:
    """Raw text of columns ``names`` (string arrays, missing -> null, rows in file order).

    Delimited text files go through the column cache (see the module docstring) when ``cache``.
    """
    names = list(dict.fromkeys(names))
    if header.kind == "store":
        try:
            got = store.read(names)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise NotATableError(f"column store {header.path} cannot be read: {exc}") from None
        return {n: got[n] for n in names}
    if header.kind == "parquet":
        t = _parquet_read(header, names)
        return {n: t.column(n) for n in names}
    have: dict[str, pa.ChunkedArray] = {}
    entry = None
    stamp = None
    if cache and header.sep != r"\s+":
        entry = _cache.lookup(header.path, header.columns)
        try:
            stamp = _cache.source_stamp(header.path)
        except OSError:
            cache = False
        if entry is not None:
            try:
                have = entry.read(names)
            except (pa.ArrowException, OSError, ValueError):
                have = {}
    missing = [n for n in names if n not in have]
    if missing:
        table = _read_source(header, missing, chunksize)
        if have and table.num_rows != entry.n_rows:
            have = {}  # a store out of step with the file: read everything from the file
            missing = names
            table = _read_source(header, missing, chunksize)
        if cache and stamp is not None and header.sep != r"\s+":
            _cache.add_columns(header.path, header.columns, table, stamp)
        have.update({n: table.column(n) for n in missing})
    return {n: have[n] for n in names}


# --------------------------------------------------------------------------------------------
# arrow text -> pandas, and typing fields in no registry from their values
# --------------------------------------------------------------------------------------------
def _text_series(a: pa.ChunkedArray, idx: pd.Index) -> pd.Series:
    """Object Series of ``str`` (``None`` where missing), as pandas' ``dtype=str`` reader gives."""
    return pd.Series(a.to_numpy(zero_copy_only=False) if not isinstance(a, pd.Series) else a.to_numpy(object),
                     index=idx, dtype=object)


def _numeric_raw(a, idx: pd.Index) -> pd.Series:
    """float64 Series when every value is a plain number (pyarrow's exact parser), else text
    (so :func:`_to_numeric` finds and names the bad value)."""
    if isinstance(a, pd.Series):
        return _text_series(a, idx)
    try:
        f = pc.cast(a, pa.float64())
    except pa.ArrowInvalid:
        return _text_series(a, idx)
    return pd.Series(f.to_numpy(zero_copy_only=False), index=idx, dtype="float64")


_PLAIN_DATE = r"^(?:1[7-9]|2[01])\d{2}-\d{2}-\d{2}$"


def _fast_dates(a, idx: pd.Index) -> pd.Series | None:
    """datetime64[ns] Series when every value is a plain ``YYYY-MM-DD`` date (years 1700-2199),
    parsed by pyarrow; None otherwise (the pandas ISO 8601 path then parses and reports)."""
    if isinstance(a, pd.Series):
        return None
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks() if a.num_chunks != 1 else a.chunk(0)
    if a.null_count == len(a) or not pc.all(pc.match_substring_regex(a, _PLAIN_DATE)).as_py():
        return None
    try:
        ts = pc.strptime(a, format="%Y-%m-%d", unit="ns", error_is_null=False)
    except pa.ArrowException:
        return None
    return pd.Series(ts.to_numpy(zero_copy_only=False), index=idx).astype("datetime64[ns]")


def _has_pipe(a) -> bool:
    if isinstance(a, pd.Series):
        return bool(a.astype("string").str.contains("|", regex=False).fillna(False).any())
    return bool(pc.any(pc.match_substring(a, "|")).as_py() or False)


_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"


def _nonempty_trimmed(pieces: list) -> list[pa.Array]:
    out = []
    for p in pieces:
        if isinstance(p, pd.Series):
            p = pa.array(p.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        elif isinstance(p, pa.ChunkedArray):
            p = p.combine_chunks() if p.num_chunks != 1 else p.chunk(0)
        t = pc.utf8_trim_whitespace(p.drop_null())
        out.append(t.filter(pc.not_equal(t, "")))
    return out


def _infer_type(pieces: list) -> str:
    """``continuous``, ``date`` or ``text`` for the values of a field in no registry (see the
    module docstring); a field without values is ``text``."""
    vals = [v for v in _nonempty_trimmed(pieces) if len(v)]
    if not vals:
        return "text"
    numeric = True
    for v in vals:
        try:
            pc.cast(v, pa.float64())
        except pa.ArrowInvalid:
            nums = pd.to_numeric(pd.Series(v.to_numpy(zero_copy_only=False), dtype=object), errors="coerce")
            if nums.isna().any():
                numeric = False
                break
    if numeric:
        return "continuous"
    for v in vals:
        if not pc.all(pc.match_substring_regex(v, _ISO_DATE)).as_py():
            return "text"
        parsed = pd.to_datetime(pd.Series(v.to_numpy(zero_copy_only=False), dtype=object), format="ISO8601",
                                errors="coerce")
        if parsed.isna().any():
            return "text"
    return "date"


def _with_rows(reg: FieldRegistry, rows: list[FieldInfo]) -> FieldRegistry:
    """A copy of ``reg`` with ``rows`` added or replacing rows of the same field (``reg`` unchanged)."""
    fields = {f: reg.get(f) for f in reg.fields}
    fields.update({r.field: r for r in rows})
    return type(reg)(fields) if type(reg) is FieldRegistry else FieldRegistry(fields)


def _fast_eids(a: pa.ChunkedArray) -> pd.Index | None:
    """The ids as an int64 Index named ``eid`` when every one is plain digits and they are
    unique; None otherwise (:func:`_eid_index` then checks and reports)."""
    try:
        if a.null_count:
            return None
        ids = pc.cast(a, pa.int64()).to_numpy(zero_copy_only=False)
    except pa.ArrowException:
        return None
    idx = pd.Index(ids, name="eid")
    return idx if idx.is_unique else None


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


def _fmt_codes(arr: np.ndarray) -> np.ndarray:
    """:func:`_fmt_code` of every value (object array), vectorised for whole numbers."""
    arr = np.asarray(arr, dtype="float64")
    out = np.empty(arr.shape, dtype=object)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0**53)
    out[whole] = arr[whole].astype(np.int64).astype(str).astype(object)
    rest = np.flatnonzero(~whole)
    out[rest] = [_fmt_code(x) for x in arr[rest]]
    return out


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
            ctx.flag(vals.index[mask], canon, _fmt_codes(vals[mask].to_numpy(dtype="float64")), "negative_code")
            vals = vals.mask(mask)
    vals = _drop_impossible(vals, col.field, canon, ctx)
    if info.type in ("integer", "categorical"):
        arr = vals.to_numpy()
        notna = ~np.isnan(arr)
        bad = notna & ~(np.isfinite(arr) & (arr == np.round(arr)))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ctx.bad_value(col.name, canon, "an integer", vals.index[pos], _fmt_code(arr[pos]) if np.isfinite(arr[pos]) else str(arr[pos]))
        arr = vals.to_numpy(dtype="float64")
        missing = np.isnan(arr)
        ints = pd.arrays.IntegerArray(np.where(missing, 0, arr).astype(np.int64), missing)
        return pd.Series(ints, index=vals.index, name=vals.name)  # = vals.astype("Int64"), faster
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
            ctx.flag(vals.index[out], canon, _fmt_codes(arr[out]), "implausible_value")
        bad |= out
    return vals.mask(bad) if bad.any() else vals


def _to_date(raw: pd.Series, col: _Col, canon: str, info: FieldInfo, ctx: _Ctx) -> pd.Series:
    """datetime64[ns] Series from ISO dates or timestamps; placeholder dates -> NaT (flagged).

    ``raw`` may already be datetime64[ns] (plain ``YYYY-MM-DD`` text parsed by :func:`_fast_dates`).
    """
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        parsed = raw
        text = None
    else:
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
        shown = (parsed[mask].dt.strftime("%Y-%m-%d") if text is None else text[mask]).astype(object)
        ctx.flag(parsed.index[mask], canon, shown, "placeholder_date")
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


# --------------------------------------------------------------------------------------------
# MainData
# --------------------------------------------------------------------------------------------
@dataclass
class MainData:
    """Canonical main data (``wide``, see the module docstring) plus the cleaning record.

    ``flags``: one row per value set to missing by cleaning, columns ``eid`` (int64),
    ``column`` (canonical name), ``raw`` (the value as written in the file), ``reason``
    (``negative_code``, ``placeholder_date``, ``not_finite`` or ``implausible_value``).

    ``registry``: the registry the values were typed by: the caller's, or a copy of it holding
    an inferred row for each field in no registry and the ``types=`` overrides.
    ``notes``: one line per field typed from its values (``"field 30000 is in no field registry;
    typed continuous from its values"``).
    """

    wide: pd.DataFrame
    flags: pd.DataFrame
    source: Path | None = None
    style: str = "ukbconv_csv"
    registry: FieldRegistry = dc_field(default_factory=FieldRegistry.default)
    notes: list[str] = dc_field(default_factory=list)

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
    cache: bool = True,
) -> MainData:
    """Read a UK Biobank main-data file into the canonical wide form (see the module docstring).

    Parameters
    ----------
    path : csv / tab / whitespace-separated file (optionally gzip), a ``.parquet`` file, a folder
        of parquet files, or a column store written by ``cardiolatent convert-main``; any naming style.
    fields : registry names or field ids to read (None = every field column in the file).
    registry : field registry (default: the packaged one); gives types and ``na_codes``.
    instances : keep only these instances (e.g. ``[2, 3]`` for the imaging visits).
    style : naming style; detected from the header when None.
    chunksize : rows per chunk for the pandas reader (whitespace-separated files); the pyarrow
        reader works in blocks anyway (1 MB or 32 header lengths, see ``_block_size``).
    required : fields that must be present (default: every field in ``fields``, unless
        ``missing_ok``); absent ones raise MissingFieldError naming the column names tried.
    types : registry type per field for fields not in (or to override) the registry; fields in
        neither are typed from their values (continuous, date or text; see ``MainData.notes``).
    cache : use and fill the column cache of delimited text files (see the module docstring);
        False reads the file and leaves no cache.

    Only the header line is read first; then only the selected columns are converted.
    """
    path = Path(path)
    reg = registry if registry is not None else FieldRegistry.default()
    header, store = _input_header(path)
    style, id_col = _style_and_id(header, style, path)

    cols = _plan_columns(header.columns, style, id_col, reg)
    cols = _select(cols, header, style, reg, fields, instances, required, missing_ok)
    overrides = {reg.resolve(k): v.lower() for k, v in (types or {}).items()}
    for v in overrides.values():
        if v not in FIELD_TYPES:
            raise CardiolatentError(f"type {v!r} is not one of {', '.join(FIELD_TYPES)}")

    raw = _raw_columns(header, store, [id_col] + [c.name for c in cols], chunksize, cache)
    n_rows = len(raw[id_col])
    idx = _fast_eids(raw[id_col])
    if idx is None:
        idx = _eid_index(_text_series(raw[id_col], pd.RangeIndex(n_rows)), header, id_col)

    # split |-joined cells; then (column, array, raw piece) per canonical column
    planned: list[tuple[_Col, int, object]] = []
    for c in cols:
        a = raw[c.name]
        joined = c.array is None or (c.maybe_joined and _has_pipe(a))
        pieces = _explode(_text_series(a, idx)) if joined else [a]
        for k, piece in enumerate(pieces):
            array = k if (c.array is None or len(pieces) > 1 or c.maybe_joined) else c.array
            planned.append((c, array, piece))

    infos: dict[int, FieldInfo] = {}
    new_rows: list[FieldInfo] = []
    notes: list[str] = []
    for f in sorted({c.field for c in cols}):
        known = reg.get(f)
        if f in overrides:
            base = known if known is not None else _unknown_info(f, planned)
            infos[f] = FieldInfo(**{**base.__dict__, "type": overrides[f]})
            new_rows.append(infos[f])
        elif known is not None:
            infos[f] = known
        else:
            ftype = _infer_type([p for c, _, p in planned if c.field == f])
            infos[f] = FieldInfo(**{**_unknown_info(f, planned).__dict__, "type": ftype})
            new_rows.append(infos[f])
            notes.append(f"field {f} is in no field registry; typed {ftype} from its values")
    for c in cols:
        c.ftype = infos[c.field].type

    ctx = _Ctx(path)
    out: dict[str, pd.Series] = {}
    for c, array, piece in planned:
        info = infos[c.field]
        if info.type in ("integer", "categorical", "continuous"):
            s = _numeric_raw(piece, idx)
        elif info.type == "date":
            s = _fast_dates(piece, idx)
            s = _text_series(piece, idx) if s is None else s
        else:
            s = _text_series(piece, idx)
        canon, conv = _convert(s, c, array, info, ctx)
        out.setdefault(canon, conv)

    order = sorted(out, key=lambda n: parse_canonical(n))
    wide = pd.concat([out[n] for n in order], axis=1) if order else pd.DataFrame(index=idx)
    wide.index = idx
    wide.columns = order
    flags = pd.concat(ctx.flags, ignore_index=True) if ctx.flags else _empty_flags()
    out_reg = _with_rows(reg, new_rows) if new_rows else reg
    return MainData(wide=wide, flags=flags, source=path, style=style, registry=out_reg, notes=notes)


def _unknown_info(field: int, planned: list) -> FieldInfo:
    """A registry row for a field in no registry, its instances and arrays as present in the file."""
    instances = tuple(sorted({c.instance for c, _, _ in planned if c.field == field})) or (0,)
    arrays = max([a + 1 for c, a, _ in planned if c.field == field] + [1])
    return FieldInfo(field=field, name=f"f{field}", type="text", instances=instances, arrays=arrays,
                     description="not in the field registry; typed from its values")
