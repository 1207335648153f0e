"""The UK Biobank field registry: short names, types, units and missing-value codes per field.

The registry is a plain tab-separated file with a header row (the packaged one is
``cardiolatent/data/fields.tsv``); users add or correct fields with their own file of the same
format, whose rows override the packaged rows with the same ``field`` id.

Columns
-------
field        UK Biobank field id (int), e.g. ``21003``.
name         short snake_case name used on the command line, e.g. ``age_at_assessment``
             (unique within a registry).
type         one of ``integer``, ``continuous``, ``categorical``, ``date``, ``text``,
             ``icd10``, ``icd9``. The canonical dtypes follow from it: integer/categorical ->
             ``Int64``, continuous -> ``float64``, date -> ``datetime64[ns]``, the rest -> ``string``.
unit         measurement unit (``cm``, ``kg``, ``mmHg``, ``years``, ``kg/m2``) or empty.
coding       UK Biobank data-coding id, or empty.
na_codes     comma-separated negative codes meaning "missing" for this field (``-1,-3``);
             empty where negative values are real values (22000 genotyping batch, 22009 PCs,
             22021 kinship).
instances    comma-separated instance numbers the field is collected at (``0,1,2,3``).
arrays       maximum number of array entries (``1`` for scalar fields, ``2`` for 4080,
             ``40`` for 22009 whose arrays run 1..40, ``243`` for 41270).
description  free text.

Fields that are not in the registry can still be read: they are treated as ``text``
unless the caller gives a type.
"""

from __future__ import annotations

import difflib
import io
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Union

import pandas as pd

from cardiolatent.errors import CardiolatentError, UnknownFieldError

FIELD_TYPES = ("integer", "continuous", "categorical", "date", "text", "icd10", "icd9")
COLUMNS = ("field", "name", "type", "unit", "coding", "na_codes", "instances", "arrays", "description")
#: pandas dtype of the canonical wide table for each registry type
CANONICAL_DTYPE = {
    "integer": "Int64",
    "categorical": "Int64",
    "continuous": "float64",
    "date": "datetime64[ns]",
    "text": "string",
    "icd10": "string",
    "icd9": "string",
}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

FieldKey = Union[int, str]


@dataclass(frozen=True)
class FieldInfo:
    """One registry row. ``na_codes`` are ints; ``instances`` sorted ints; ``arrays`` >= 1."""

    field: int
    name: str
    type: str
    unit: str = ""
    coding: str = ""
    na_codes: frozenset[int] = frozenset()
    instances: tuple[int, ...] = (0,)
    arrays: int = 1
    description: str = ""

    @property
    def label(self) -> str:
        """``"21003 (age_at_assessment)"``: how messages name the field."""
        return f"{self.field} ({self.name})"

    @property
    def dtype(self) -> str:
        return CANONICAL_DTYPE[self.type]


def _int_list(text: str, what: str, where: str) -> list[int]:
    text = (text or "").strip()
    if not text:
        return []
    try:
        return [int(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise CardiolatentError(f"{where}: {what} must be comma-separated integers (got {text!r})") from None


def _rows_from_table(df: pd.DataFrame, source: str) -> dict[int, FieldInfo]:
    """Validate a registry table (all columns strings) and return its rows keyed by field id."""
    missing = [c for c in ("field", "name", "type") if c not in df.columns]
    if missing:
        raise CardiolatentError(
            f"field registry {source} lacks column(s) {', '.join(missing)}; expected a header row "
            f"with {', '.join(COLUMNS)} (tab-separated)"
        )
    out: dict[int, FieldInfo] = {}
    for i, rec in enumerate(df.to_dict("records")):
        where = f"field registry {source}, row {i + 2}"
        get = lambda k: ("" if pd.isna(rec.get(k, "")) else str(rec.get(k, ""))).strip()  # noqa: E731
        try:
            field = int(float(get("field")))
        except ValueError:
            raise CardiolatentError(f"{where}: field must be an integer id (got {get('field')!r})") from None
        name = get("name") or f"f{field}"
        if not _NAME_RE.match(name):
            raise CardiolatentError(f"{where}: name {name!r} must be snake_case (a-z, 0-9, _)")
        ftype = get("type").lower() or "text"
        if ftype not in FIELD_TYPES:
            raise CardiolatentError(f"{where}: type {ftype!r} is not one of {', '.join(FIELD_TYPES)}")
        instances = tuple(sorted(set(_int_list(get("instances"), "instances", where)))) or (0,)
        arrays_text = get("arrays") or "1"
        try:
            arrays = max(1, int(float(arrays_text)))
        except ValueError:
            raise CardiolatentError(f"{where}: arrays must be an integer (got {arrays_text!r})") from None
        coding = get("coding")
        if coding.endswith(".0"):
            coding = coding[:-2]
        out[field] = FieldInfo(
            field=field,
            name=name,
            type=ftype,
            unit=get("unit"),
            coding=coding,
            na_codes=frozenset(_int_list(get("na_codes"), "na_codes", where)),
            instances=instances,
            arrays=arrays,
            description=get("description"),
        )
    return out


def _read_table(path_or_text: str | os.PathLike | io.StringIO) -> pd.DataFrame:
    return pd.read_csv(path_or_text, sep="\t", dtype=str, keep_default_na=False, comment=None)


_DEFAULT_ROWS: dict[int, FieldInfo] | None = None


def _default_rows() -> dict[int, FieldInfo]:
    global _DEFAULT_ROWS
    if _DEFAULT_ROWS is None:
        text = resources.files("cardiolatent").joinpath("data/fields.tsv").read_text(encoding="utf-8")
        _DEFAULT_ROWS = _rows_from_table(_read_table(io.StringIO(text)), "cardiolatent/data/fields.tsv")
    return _DEFAULT_ROWS


class FieldRegistry:
    """Field id <-> name, type, unit and missing-value codes (see the module docstring)."""

    def __init__(self, rows: dict[int, FieldInfo] | Iterable[FieldInfo] | None = None) -> None:
        self._rows: dict[int, FieldInfo] = {}
        self._by_name: dict[str, int] = {}
        if rows is not None:
            self._merge(dict(rows) if isinstance(rows, dict) else {r.field: r for r in rows})

    # construction -------------------------------------------------------------------------
    @classmethod
    def default(cls) -> "FieldRegistry":
        """A fresh registry holding the packaged ``cardiolatent/data/fields.tsv``."""
        return cls(_default_rows())

    @classmethod
    def from_files(cls, *paths: str | os.PathLike, base: bool = True) -> "FieldRegistry":
        """The packaged registry (unless ``base=False``) extended by each TSV in ``paths`` in order."""
        reg = cls.default() if base else cls()
        for p in paths:
            reg.extend(p)
        return reg

    def extend(self, path_or_df: str | os.PathLike | pd.DataFrame) -> "FieldRegistry":
        """Add rows from a registry TSV path or DataFrame; rows override by field id. Returns ``self``."""
        if isinstance(path_or_df, pd.DataFrame):
            df = path_or_df.reset_index(drop=path_or_df.index.name != "field").astype(str)
            df = df.replace({"nan": "", "<NA>": "", "None": ""})
            source = "(DataFrame)"
        else:
            path = Path(path_or_df)
            if not path.is_file():
                raise CardiolatentError(f"field registry {path} does not exist")
            df = _read_table(path)
            source = str(path)
        self._merge(_rows_from_table(df, source))
        return self

    def _merge(self, rows: dict[int, FieldInfo]) -> None:
        self._rows.update(rows)
        self._by_name = {}
        for fid, info in self._rows.items():
            other = self._by_name.get(info.name)
            if other is not None and other != fid:
                raise CardiolatentError(
                    f"field registry: name {info.name!r} is used by fields {other} and {fid}; names must be unique"
                )
            self._by_name[info.name] = fid

    # lookups ------------------------------------------------------------------------------
    def __contains__(self, key: object) -> bool:
        try:
            return self.resolve(key) in self._rows  # type: ignore[arg-type]
        except (UnknownFieldError, TypeError):
            return False

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self):
        return iter(sorted(self._rows))

    @property
    def fields(self) -> list[int]:
        return sorted(self._rows)

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def resolve(self, name_or_id: FieldKey) -> int:
        """Field id for a registry name (``"age_at_assessment"``), an int, or a digit string.

        Ids need not be in the registry (unknown fields are readable). Unknown names raise
        :class:`UnknownFieldError` listing close names.
        """
        if isinstance(name_or_id, bool):
            raise TypeError(f"field must be a name or an id, not {name_or_id!r}")
        if isinstance(name_or_id, int):
            return int(name_or_id)
        if hasattr(name_or_id, "__index__"):  # numpy integers
            return int(name_or_id)  # type: ignore[arg-type]
        if not isinstance(name_or_id, str):
            raise TypeError(f"field must be a name or an id, not {name_or_id!r}")
        key = name_or_id.strip()
        if key.isdigit():
            return int(key)
        norm = key.lower().replace("-", "_").replace(" ", "_")
        if norm in self._by_name:
            return self._by_name[norm]
        close = difflib.get_close_matches(norm, list(self._by_name), n=5, cutoff=0.5)
        close += [n for n in self._by_name if norm in n and n not in close][: 5 - len(close)]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownFieldError(
            f"unknown field {name_or_id!r}: not a field id and not a name in the field registry{hint} "
            "(give the numeric field id, or add the field to a registry file)"
        )

    def get(self, field: FieldKey) -> FieldInfo | None:
        """The registry row for a field, or None if the field is not registered."""
        return self._rows.get(self.resolve(field))

    def info(self, field: FieldKey) -> FieldInfo:
        """The registry row; unknown ids get a stand-in row (type ``text``, name ``f<id>``)."""
        fid = self.resolve(field)
        row = self._rows.get(fid)
        return row if row is not None else FieldInfo(field=fid, name=f"f{fid}", type="text")

    def type(self, field: FieldKey) -> str:
        """Registry type of the field (``text`` for unknown fields)."""
        return self.info(field).type

    def na_codes(self, field: FieldKey) -> set[int]:
        """Negative codes meaning missing for this field (empty for unknown fields)."""
        return set(self.info(field).na_codes)

    def name(self, field: FieldKey) -> str:
        return self.info(field).name

    def label(self, field: FieldKey) -> str:
        """``"21003 (age_at_assessment)"`` or ``"99999"`` for unknown fields."""
        fid = self.resolve(field)
        row = self._rows.get(fid)
        return row.label if row is not None else str(fid)

    def is_array(self, field: FieldKey) -> bool:
        """True for fields with more than one array entry in the registry (4080, 22009, 41270)."""
        return self.info(field).arrays > 1

    def array_fields(self) -> set[int]:
        return {f for f, r in self._rows.items() if r.arrays > 1}

    def is_instanced(self, field: FieldKey) -> bool:
        """True when the registry lists more than one instance for the field."""
        return len(self.info(field).instances) > 1

    def to_frame(self) -> pd.DataFrame:
        """The registry as a DataFrame in the TSV's column order (one row per field, sorted)."""
        recs = []
        for fid in self.fields:
            r = self._rows[fid]
            recs.append(
                {
                    "field": r.field,
                    "name": r.name,
                    "type": r.type,
                    "unit": r.unit,
                    "coding": r.coding,
                    "na_codes": ",".join(str(c) for c in sorted(r.na_codes)),
                    "instances": ",".join(str(i) for i in r.instances),
                    "arrays": r.arrays,
                    "description": r.description,
                }
            )
        return pd.DataFrame(recs, columns=list(COLUMNS))

    def __repr__(self) -> str:
        return f"FieldRegistry({len(self)} fields)"
