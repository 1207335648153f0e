"""UK Biobank main-data column naming styles <-> ``(field, instance, array)``.

Styles (id column first, then a data column for field 31 instance 0 array 0):

``ukbconv_csv``  ``eid``, ``31-0.0``, ``21003-2.0``, ``41270-0.12``
``ukbconv_r``    ``f.eid``, ``f.31.0.0``
``r_mangled``    ``eid`` (or ``X.eid``), ``X31.0.0`` (ukbconv csv read by R's ``read.csv``)
``phesant``      ``userId`` (or ``eid``), ``x31_0_0``
``rap``          ``eid`` (or ``participant.eid``), ``p31`` (instance 0, array 0 implied),
                 ``p21003_i2``, ``p4080_i2_a1``, ``p41270_a3``; array fields may instead come as one
                 ``|``-joined cell per instance, ``p41270`` / ``p4080_i2``, parsed with array ``None``.

The canonical name used inside cardiolatent is the ukbconv csv one, ``"{field}-{instance}.{array}"``.
"""

from __future__ import annotations

import functools
from typing import Collection, Iterable, Optional, Tuple

from cardiolatent.errors import UnknownNamingError
from cardiolatent.ukb.column_patterns import PATTERNS
from cardiolatent.ukb.registry import FieldRegistry

STYLES = ("ukbconv_csv", "ukbconv_r", "r_mangled", "phesant", "rap")
#: human labels used in messages
STYLE_LABELS = {
    "ukbconv_csv": "ukbconv csv",
    "ukbconv_r": "ukbconv r/tab",
    "r_mangled": "R-mangled",
    "phesant": "PHESANT",
    "rap": "RAP",
}
_EXAMPLES = {
    "ukbconv_csv": "31-0.0",
    "ukbconv_r": "f.31.0.0",
    "r_mangled": "X31.0.0",
    "phesant": "x31_0_0",
    "rap": "p31, p21003_i2, p41270_a3",
}
_PATTERNS = PATTERNS
#: participant id column names accepted per style; the first is what the writer uses
ID_COLUMNS = {
    "ukbconv_csv": ("eid",),
    "ukbconv_r": ("f.eid", "eid"),
    "r_mangled": ("eid", "X.eid", "f.eid"),
    "phesant": ("userId", "eid", "userID", "userid"),
    "rap": ("eid", "participant.eid"),
}
ALL_ID_COLUMNS = tuple(dict.fromkeys(n for names in ID_COLUMNS.values() for n in names))

Key = Tuple[int, int, Optional[int]]


def check_style(style: str) -> str:
    """Return ``style`` if it is a known naming style, else raise ``UnknownNamingError``."""
    if style not in STYLES:
        raise UnknownNamingError(f"unknown naming style {style!r}; choose one of {', '.join(STYLES)}")
    return style


def id_column(style: str) -> str:
    """Participant id column name the writer uses for ``style`` (``eid``, ``f.eid``, ``userId``)."""
    return ID_COLUMNS[check_style(style)][0]


def find_id_column(columns: Iterable[str], style: str | None = None) -> str | None:
    """The participant id column among ``columns``: the style's names first, then any known name."""
    cols = list(columns)
    present = set(cols)
    candidates = (ID_COLUMNS[style] if style else ()) + ALL_ID_COLUMNS
    for name in candidates:
        if name in present:
            return name
    return None


@functools.lru_cache(maxsize=1)
def _default_array_fields() -> frozenset[int]:
    return frozenset(FieldRegistry.default().array_fields())


def _parse_one(name: str, style: str, array_fields: Collection[int] | None) -> Key | None:
    m = _PATTERNS[style].match(name)
    if m is None:
        return None
    if style != "rap":
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    field = int(m.group(1))
    instance = int(m.group(2)) if m.group(2) is not None else 0
    if m.group(3) is not None:
        return field, instance, int(m.group(3))
    if array_fields is None:
        array_fields = _default_array_fields()
    return field, instance, (None if field in array_fields else 0)


def parse_column(
    name: str, style: str | None = None, *, array_fields: Collection[int] | None = None
) -> Key | None:
    """``(field, instance, array)`` for a column name, or None if it is not a field column.

    With ``style=None`` every style is tried. In the RAP style a column without ``_a`` is a
    ``|``-joined cell (array ``None``) when its field is an array field (``array_fields``,
    default: the packaged registry's fields with more than one array), else array 0.
    """
    name = name.strip()
    styles = (check_style(style),) if style else STYLES
    for st in styles:
        key = _parse_one(name, st, array_fields)
        if key is not None:
            return key
    return None


def format_column(
    field: int,
    instance: int,
    array: int | None,
    style: str,
    *,
    instanced: bool | None = None,
    arrayed: bool | None = None,
) -> str:
    """Column name for ``(field, instance, array)`` in ``style``.

    RAP only: ``instanced`` / ``arrayed`` say whether the ``_i`` / ``_a`` parts are written
    (default: only when instance / array is non-zero); ``array=None`` names a ``|``-joined cell.
    """
    check_style(style)
    if array is None and style != "rap":
        raise ValueError(f"array=None (a |-joined cell) exists only in the rap style, not {style}")
    if style == "ukbconv_csv":
        return f"{field}-{instance}.{array}"
    if style == "ukbconv_r":
        return f"f.{field}.{instance}.{array}"
    if style == "r_mangled":
        return f"X{field}.{instance}.{array}"
    if style == "phesant":
        return f"x{field}_{instance}_{array}"
    if instanced is None:
        instanced = instance != 0
    if arrayed is None:
        arrayed = array is not None and array != 0
    name = f"p{field}"
    if instanced or instance != 0:
        name += f"_i{instance}"
    if array is not None and (arrayed or array != 0):
        name += f"_a{array}"
    return name


def canonical(field: int, instance: int, array: int) -> str:
    """Canonical column name ``"{field}-{instance}.{array}"`` (e.g. ``"21003-2.0"``)."""
    return f"{int(field)}-{int(instance)}.{int(array)}"


def parse_canonical(name: str) -> tuple[int, int, int] | None:
    """Inverse of :func:`canonical`; None for other names."""
    key = _parse_one(str(name), "ukbconv_csv", ())
    return key  # type: ignore[return-value]


def canonical_sort_key(name: str) -> tuple[int, int, int]:
    """Sort key for canonical names: numeric (field, instance, array)."""
    key = parse_canonical(name)
    if key is None:
        raise ValueError(f"{name!r} is not a canonical column name like '21003-2.0'")
    return key


def field_pattern(field: int, style: str) -> str:
    """How a field's columns look in ``style``, for messages (``21003-*.*``, ``p21003*``)."""
    return {
        "ukbconv_csv": f"{field}-*.*",
        "ukbconv_r": f"f.{field}.*.*",
        "r_mangled": f"X{field}.*.*",
        "phesant": f"x{field}_*_*",
        "rap": f"p{field}*",
    }[check_style(style)]


def looked_for(field: int, style: str | None) -> str:
    """``"21003-*.* (ukbconv csv), f.21003.*.*, X21003.*.*, x21003_*_*, p21003*"``: the detected
    style first, labelled, then the others."""
    order = ([style] if style else []) + [s for s in STYLES if s != style]
    parts = [field_pattern(field, s) for s in order]
    if style:
        parts[0] += f" ({STYLE_LABELS[style]})"
    return ", ".join(parts)


def detect_style(columns: Iterable[str], *, source: str | None = None) -> str:
    """The naming style most columns follow (id columns and unrecognised names are ignored).

    Raises :class:`UnknownNamingError` naming a few of the columns seen and the styles tried.
    """
    cols = [str(c).strip() for c in columns]
    data_cols = [c for c in cols if c not in ALL_ID_COLUMNS]
    counts = {st: sum(1 for c in data_cols if _PATTERNS[st].match(c)) for st in STYLES}
    best = max(STYLES, key=lambda st: counts[st])
    if counts[best] == 0:
        seen = ", ".join(repr(c) for c in cols[:6]) + (", ..." if len(cols) > 6 else "")
        tried = "; ".join(f"{st} ({_EXAMPLES[st]})" for st in STYLES)
        where = f" in {source}" if source else ""
        raise UnknownNamingError(
            f"column names{where} follow none of the UK Biobank naming styles: saw {seen} "
            f"({len(cols)} columns); tried {tried}"
        )
    return best
