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

Sources and layers
------------------
Besides this TSV, :meth:`FieldRegistry.extend` reads UK Biobank's own data dictionaries, told
apart by their header row (:mod:`cardiolatent.ukb.dictionary` has the mappings):

- the Showcase ``Data_Dictionary_Showcase.tsv`` / ``.csv`` (FieldID, Field, ValueType, ...);
- the RAP ``dx extract_dataset --ddd`` ``<dataset>.data_dictionary.csv`` (entity, name, type, ...);
- a codings file (Showcase ``Codings.tsv``: Coding, Value, Meaning; RAP ``<dataset>.codings.csv``):
  negative codes meaning "Do not know", "Prefer not to answer", "Not applicable", "Unknown" become
  the ``na_codes`` of every field with that data-coding whose ``na_codes`` were not given in a
  registry TSV (see :data:`cardiolatent.ukb.dictionary.MISSING_MEANING`).

Layers are applied in order and a later layer wins per field; a dictionary (which has no short
names and no missing-value codes) keeps a lower layer's ``name`` and ``na_codes`` for the fields
that layer has. The command line layers: the packaged registry, then the files of the
environment variable ``CARDIOLATENT_FIELDS`` (paths separated by ``os.pathsep``, ``:`` on Linux),
then each ``--fields`` file in the order given (:meth:`FieldRegistry.configured`).

A field is named by its registry name, its id (``21003``) or a main-data column in any naming
style (``21003-2.0``, ``p21003_i2``, ``f.21003.2.0``, ``X21003.2.0``, ``x21003_2_0``):
:meth:`FieldRegistry.reference` says which instance/array a column name pins.
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
from cardiolatent.ukb import dictionary as _dictionary
from cardiolatent.ukb.column_patterns import match_column

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
#: environment variable: registry/dictionary files layered over the packaged registry (os.pathsep-separated)
ENV_VAR = "CARDIOLATENT_FIELDS"

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
        #: fields whose na_codes were given (non-empty) by a registry TSV: codings files leave them
        self._explicit_na: set[int] = set()
        #: data-coding id -> missing-value codes, from codings files
        self._coding_na: dict[str, frozenset[int]] = {}
        #: what the layers read so far decided (skipped rows, mixed types)
        self.notes: list[str] = []
        #: the files layered in, in order
        self.sources: list[str] = []
        if rows is not None:
            self._merge(dict(rows) if isinstance(rows, dict) else {r.field: r for r in rows})

    # construction -------------------------------------------------------------------------
    @classmethod
    def default(cls) -> "FieldRegistry":
        """A fresh registry holding the packaged ``cardiolatent/data/fields.tsv``."""
        return cls(_default_rows())

    @classmethod
    def from_files(cls, *paths: str | os.PathLike, base: bool = True) -> "FieldRegistry":
        """The packaged registry (unless ``base=False``) extended by each file in ``paths`` in
        order (registry TSVs, Showcase or RAP dictionaries, codings files; later ones win)."""
        reg = cls.default() if base else cls()
        for p in paths:
            reg.extend(p)
        return reg

    @classmethod
    def configured(cls, paths: Iterable[str | os.PathLike] | str | None = (), *,
                   environ: dict | None = None) -> "FieldRegistry":
        """What the command line uses: the packaged registry, then the files of the environment
        variable ``CARDIOLATENT_FIELDS`` (``os.pathsep``-separated), then ``paths`` in order."""
        if paths is None:
            paths = []
        elif isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        reg = cls.default()
        for p in env_files(environ):
            if not Path(p).is_file():
                raise CardiolatentError(f"field registry {p} (from the environment variable {ENV_VAR}) does not exist")
            reg.extend(p)
        for p in paths:
            reg.extend(p)
        return reg

    def copy(self) -> "FieldRegistry":
        """An independent copy (same rows, codings and notes)."""
        new = FieldRegistry()
        new._rows = dict(self._rows)
        new._by_name = dict(self._by_name)
        new._explicit_na = set(self._explicit_na)
        new._coding_na = dict(self._coding_na)
        new.notes = list(self.notes)
        new.sources = list(self.sources)
        return new

    def extend(self, path_or_df: str | os.PathLike | pd.DataFrame) -> "FieldRegistry":
        """Add a layer: a registry TSV / DataFrame (rows override by field id), a Showcase or RAP
        data dictionary (a lower layer's names and na_codes kept), or a codings file (missing-value
        codes per data-coding). The format is told from the header row. Returns ``self``."""
        if isinstance(path_or_df, pd.DataFrame):
            df = path_or_df.reset_index(drop=path_or_df.index.name != "field").astype(str)
            df = df.replace({"nan": "", "<NA>": "", "None": ""})
            self._merge(_rows_from_table(df, "(DataFrame)"), explicit=True)
            return self
        path = Path(path_or_df)
        if not path.is_file():
            raise CardiolatentError(f"field registry {path} is a folder, not a file" if path.is_dir()
                                    else f"field registry {path} does not exist")
        fmt, sep = _dictionary.file_format(path)
        self.sources.append(str(path))
        if fmt == "registry":
            self._merge(_rows_from_table(_dictionary.read_table(path, sep), str(path)), explicit=True)
        elif fmt == "codings":
            self._coding_na.update(_dictionary.missing_codes(path, sep))
            self._apply_codings()
        else:
            got = _dictionary.read_dictionary(path, fmt, sep)
            self.notes += got.notes
            self._merge_dictionary(got.rows)
        return self

    def _merge_dictionary(self, rows: dict[int, dict]) -> None:
        """Dictionary rows: fields already here keep name and na_codes; new names made unique."""
        new = {fid: r for fid, r in rows.items() if fid not in self._rows}
        _dictionary.unique_names(new, self._by_name)
        out: dict[int, FieldInfo] = {}
        for fid, r in rows.items():
            old = self._rows.get(fid)
            out[fid] = FieldInfo(
                field=fid, name=old.name if old is not None else r["name"], type=r["type"], unit=r["unit"],
                coding=r["coding"], na_codes=old.na_codes if old is not None else frozenset(),
                instances=(old.instances if (r.get("instances_counted") and old is not None
                                             and len(old.instances) == len(r["instances"])) else tuple(r["instances"])),
                arrays=max(int(r["arrays"]), old.arrays) if (r.get("multi") and old is not None) else int(r["arrays"]),
                description=r["description"])
        self._merge(out, explicit=False)

    def _apply_codings(self) -> None:
        if not self._coding_na:
            return
        for fid, info in self._rows.items():
            if fid in self._explicit_na or not info.coding:
                continue
            codes = self._coding_na.get(info.coding)
            if codes is not None and codes != info.na_codes:
                self._rows[fid] = FieldInfo(**{**info.__dict__, "na_codes": codes})

    def _merge(self, rows: dict[int, FieldInfo], explicit: bool = True) -> None:
        if explicit:
            for fid, info in rows.items():
                if info.na_codes:
                    self._explicit_na.add(fid)
                else:
                    self._explicit_na.discard(fid)
        self._rows.update(rows)
        self._by_name = {}
        for fid, info in self._rows.items():
            other = self._by_name.get(info.name)
            if other is not None and other != fid:
                raise CardiolatentError(
                    f"field registry: name {info.name!r} is used by fields {other} and {fid}; names must be unique"
                )
            self._by_name[info.name] = fid
        self._apply_codings()

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
        return self.reference(name_or_id)[0]

    def reference(self, name_or_id: FieldKey) -> tuple[int, int | None, int | None]:
        """``(field, instance, array)`` named by a registry name, a field id or a main-data column.

        A name, an id or ``f<id>`` (the label of an unregistered field) leaves instance and array
        open (None); a column name in any naming style
        pins them (``30000-2.0`` -> ``(30000, 2, 0)``, ``p30000_i2`` -> ``(30000, 2, 0)``, ``p31``
        -> ``(31, 0, 0)``). Registry names are tried before column patterns.
        """
        if not isinstance(name_or_id, str):
            return self.resolve(name_or_id), None, None
        key = name_or_id.strip()
        if key.isdigit():
            return int(key), None, None
        norm = key.lower().replace("-", "_").replace(" ", "_")
        if norm in self._by_name:
            return self._by_name[norm], None, None
        m = re.fullmatch(r"f(\d+)", key)
        if m is not None:  # the stand-in name of an unregistered field (how results label it)
            return int(m.group(1)), None, None
        col = match_column(key)
        if col is not None:
            _, fid, inst, arr = col
            return fid, (inst if inst is not None else 0), (arr if arr is not None else 0)
        close = difflib.get_close_matches(norm, list(self._by_name), n=5, cutoff=0.5)
        close += [n for n in self._by_name if norm in n and n not in close][: 5 - len(close)]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownFieldError(
            f"unknown field {name_or_id!r}: not a field id and not a name in the field registry{hint} "
            "(give the numeric field id or a column name like 30000-2.0, or add the field to a registry file)"
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

    def near(self, text: str, n: int = 5) -> list[str]:
        """Registry names close to ``text`` (for "did you mean" messages)."""
        norm = str(text).strip().lower().replace("-", "_").replace(" ", "_")
        close = difflib.get_close_matches(norm, list(self._by_name), n=n, cutoff=0.6)
        return close + [m for m in self._by_name if len(norm) >= 3 and norm in m and m not in close][: n - len(close)]

    def __repr__(self) -> str:
        return f"FieldRegistry({len(self)} fields)"


def env_files(environ: dict | None = None) -> list[str]:
    """The files named by ``CARDIOLATENT_FIELDS`` (``os.pathsep``-separated; empty parts ignored)."""
    env = os.environ if environ is None else environ
    return [p for p in str(env.get(ENV_VAR, "") or "").split(os.pathsep) if p.strip()]
