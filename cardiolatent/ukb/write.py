"""Write UK Biobank main data in any naming style (the inverse of :func:`cardiolatent.ukb.read.read_main`).

:func:`write_main` writes a canonical wide table (index or column ``eid``, columns
``"{field}-{instance}.{array}"``) as a main-data file; :func:`to_text` is the value formatting it
shares with ``MainData.long``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import atomic_path
from cardiolatent.ukb.naming import ID_COLUMNS, canonical, check_style, format_column, parse_canonical
from cardiolatent.ukb.registry import FieldRegistry

__all__ = ["write_main", "to_text"]

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
