"""UK Biobank's own data dictionaries read as field registries.

:class:`cardiolatent.ukb.registry.FieldRegistry` reads four kinds of file and tells them apart by
their header row (tab- or comma-separated, whichever the header uses):

``registry``  cardiolatent's own TSV (``field, name, type, unit, coding, na_codes, instances,
              arrays, description``; :mod:`cardiolatent.ukb.registry`).
``showcase``  the Showcase ``Data_Dictionary_Showcase.tsv`` / ``.csv`` (columns ``Path, Category,
              FieldID, Field, Participants, Items, Stability, ValueType, Units, ItemType, Strata,
              Sexed, Instances, Array, Coding, Notes, Link``; ``FieldID``, ``Field`` and
              ``ValueType`` are required).
``rap``       the Research Analysis Platform's ``dx extract_dataset --ddd`` file
              ``<dataset>.data_dictionary.csv`` (columns ``entity, name, type, coding_name, title,
              units, ...``; ``entity``, ``name``, ``type`` and ``title`` are required).
``codings``   the Showcase ``Codings.tsv`` / ``Codings_Showcase.csv`` (``Coding, Value,
              Meaning``) or the RAP ``<dataset>.codings.csv`` (``coding_name, code, meaning``):
              missing-value codes of data-codings, see :func:`missing_codes`.

Types
-----
Showcase ``ValueType``: ``Integer`` -> integer, ``Continuous`` -> continuous, ``Categorical
single`` / ``Categorical multiple`` -> categorical (coding 19 -> icd10, coding 87 -> icd9),
``Date`` / ``Time`` -> date, ``Text`` / ``Compound`` -> text. Any other value is an error.

RAP ``type``: ``float`` -> continuous; ``integer`` -> categorical with a ``coding_name``, else
integer; ``string`` with ``data_coding_19`` -> icd10, with ``data_coding_87`` -> icd9, any other
``string`` -> text; ``date`` / ``datetime`` -> date. Rows of other entities than ``participant``
are skipped (counted in a note); ``eid`` is not a field.

Instances and arrays
--------------------
The Showcase gives *counts*: ``Instances = n`` -> instances ``0 .. n-1`` (a lower layer's list of
the same length is kept: imaging fields have instances 2 and 3); ``Array = n`` -> arrays
``0 .. n-1`` (registry ``arrays = n``). The RAP dictionary has one row per column (``p21003_i2``,
``p4080_i2_a1``); the rows of one field collapse into one registry row whose instances are the
instances seen in the names and whose ``arrays`` is the largest array index + 1. A field marked
``is_multi_select`` (one cell holding a ``|``-joined list, e.g. ``p41270``) is an array field:
``arrays`` is at least 2, or a lower layer's larger count (243 for 41270) is kept.

Names
-----
A dictionary names fields in prose; the registry name is that prose in snake_case
(:func:`snake_name`: ``"LV end diastolic volume"`` -> ``lv_end_diastolic_volume``; the RAP title's
``" | Instance 2"`` / ``" | Array 1"`` parts are dropped). A derived name used by two fields of the
dictionary, or by another field in a lower registry layer, gets the suffix ``_f<id>``
(``volume_f24100``). A field already in a lower layer keeps that layer's name and ``na_codes``
(dictionaries have neither): ``age_at_assessment`` stays ``age_at_assessment`` under a
dictionary; the rest of the row (type, unit, coding, instances, arrays, description) is the
dictionary's.

Errors are one line naming the file, the row (1 = header) and the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cardiolatent.errors import CardiolatentError

#: dictionary formats told apart by their header row
FORMATS = ("registry", "showcase", "rap", "codings")
FORMAT_LABELS = {
    "registry": "cardiolatent field registry",
    "showcase": "UK Biobank Showcase data dictionary",
    "rap": "RAP data dictionary",
    "codings": "UK Biobank codings file",
}

SHOWCASE_TYPES = {
    "integer": "integer",
    "continuous": "continuous",
    "categorical single": "categorical",
    "categorical multiple": "categorical",
    "date": "date",
    "time": "date",
    "text": "text",
    "compound": "text",
}
#: data-codings whose values are diagnosis codes
CODING_TYPES = {"19": "icd10", "87": "icd9"}
RAP_TYPES = ("integer", "float", "string", "date", "datetime")

#: a negative value of a data-coding is a missing-value code when its meaning matches this
#: (case-insensitive): "Do not know", "Don't know", "Prefer not to answer", "Prefer not to say",
#: "Not applicable", "Unknown", "Not known". "None of the above" (-7) and "Less than one" (-10)
#: are real answers (no condition, fewer than one) and are not missing.
MISSING_MEANING = re.compile(
    r"^\s*(?:do not know|don'?t know|prefer not to (?:answer|say)|not applicable|unknown|not known)\b",
    re.I,
)

_RAP_NAME = re.compile(r"^p(\d+)(?:_i(\d+))?(?:_a(\d+))?$")


@dataclass
class DictionaryRows:
    """Registry rows read from one dictionary file.

    ``rows``: field id -> dict with the registry columns (``name`` derived, see :func:`snake_name`;
    strings, ``instances`` a tuple of ints, ``arrays`` an int). ``derived_names``: True (names
    come from prose; a lower layer's name wins). ``notes``: what was skipped.
    """

    format: str
    rows: dict[int, dict] = field(default_factory=dict)
    derived_names: bool = True
    notes: list[str] = field(default_factory=list)


def _header(path: Path) -> tuple[list[str], str]:
    """The header row's column names and the separator (tab when the header has a tab)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            line = fh.readline()
    except OSError as e:
        raise CardiolatentError(f"field registry {path}: cannot be read ({e.strerror or e})") from None
    sep = "\t" if "\t" in line else ","
    cols = [c.strip().strip('"').strip() for c in line.rstrip("\r\n").split(sep)]
    return cols, sep


def detect_format(columns) -> str | None:
    """Which of :data:`FORMATS` a header row is, or None.

    ``field`` + ``name``/``type`` -> registry; ``FieldID``/``ValueType`` -> showcase (checked
    for its required columns when read); ``entity`` + ``name`` + ``type`` -> rap; ``Coding`` +
    ``Meaning`` or ``coding_name`` + ``meaning`` -> codings.
    """
    cols = {str(c).strip() for c in columns}
    low = {c.lower() for c in cols}
    if "field" in low and ("name" in low or "type" in low) and "fieldid" not in low:
        return "registry"
    if {"FieldID", "ValueType"} & cols or {"Field", "Stability", "ItemType"} <= cols:
        return "showcase"
    if {"entity", "name", "type"} <= low:
        return "rap"
    if ({"coding", "meaning"} <= low) or ({"coding_name", "meaning"} <= low):
        return "codings"
    return None


def file_format(path: str | Path) -> tuple[str, str]:
    """``(format, separator)`` of a registry/dictionary file from its header row.

    A header of no known format is an error naming the file and the columns expected.
    """
    path = Path(path)
    cols, sep = _header(path)
    fmt = detect_format(cols)
    if fmt is None:
        seen = ", ".join(cols[:6]) + (", ..." if len(cols) > 6 else "")
        raise CardiolatentError(
            f"field registry {path}: header ({seen}) is none of: a cardiolatent registry (field, name, type, ...), "
            "a Showcase Data_Dictionary_Showcase (FieldID, Field, ValueType, ...), a RAP data_dictionary.csv "
            "(entity, name, type, title, ...) or a codings file (Coding, Value, Meaning)"
        )
    return fmt, sep


def read_table(path: str | Path, sep: str) -> pd.DataFrame:
    """The file as strings (no NA conversion); header names stripped."""
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                         encoding_errors="replace")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise CardiolatentError(f"field registry {path}: cannot be parsed as a {'tab' if sep == chr(9) else 'comma'}"
                                f"-separated table ({str(e).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def snake_name(text: str, field_id: int) -> str:
    """Registry name from a dictionary's prose name: lower case, runs of other characters than
    a-z and 0-9 -> ``_`` (``"LV end diastolic volume"`` -> ``lv_end_diastolic_volume``;
    ``"Body mass index (BMI)"`` -> ``body_mass_index_bmi``). A name not starting with a letter
    gets ``f_`` in front; an empty one is ``f<id>``."""
    s = re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
    if not s:
        return f"f{field_id}"
    if not s[0].isalpha():
        s = "f_" + s
    return s


def _require(df: pd.DataFrame, cols, path, fmt: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise CardiolatentError(
            f"field registry {path} ({FORMAT_LABELS[fmt]}): lacks column {', '.join(missing)} (row 1, the header)")


def _count(text: str, where: str, column: str) -> int:
    text = (text or "").strip()
    if not text:
        return 1
    try:
        n = int(float(text))
    except ValueError:
        raise CardiolatentError(f"{where}, column {column}: must be a count (got {text!r})") from None
    return max(1, n)


def read_showcase(path: str | Path, sep: str) -> DictionaryRows:
    """Rows of a Showcase data dictionary (see the module docstring)."""
    df = read_table(path, sep)
    _require(df, ("FieldID", "Field", "ValueType"), path, "showcase")
    out = DictionaryRows("showcase")
    get = lambda rec, k: str(rec.get(k, "") or "").strip()  # noqa: E731
    for i, rec in enumerate(df.to_dict("records")):
        where = f"field registry {path} (Showcase), row {i + 2}"
        fid_text = get(rec, "FieldID")
        try:
            fid = int(fid_text)
        except ValueError:
            raise CardiolatentError(f"{where}, column FieldID: must be an integer field id (got {fid_text!r})") from None
        vt = get(rec, "ValueType")
        ftype = SHOWCASE_TYPES.get(vt.lower())
        if ftype is None:
            raise CardiolatentError(f"{where}, column ValueType: {vt!r} is not one of "
                                    f"{', '.join(k.capitalize() for k in SHOWCASE_TYPES)}")
        coding = get(rec, "Coding")
        if coding.endswith(".0"):
            coding = coding[:-2]
        if ftype == "categorical" and coding in CODING_TYPES:
            ftype = CODING_TYPES[coding]
        n_inst = _count(get(rec, "Instances"), where, "Instances")
        out.rows[fid] = dict(
            name=snake_name(get(rec, "Field"), fid), type=ftype, unit=get(rec, "Units"), coding=coding,
            instances=tuple(range(n_inst)), arrays=_count(get(rec, "Array"), where, "Array"),
            description=get(rec, "Field"), instances_counted=True)
    return out


def _rap_coding(name: str) -> str:
    name = (name or "").strip()
    m = re.fullmatch(r"(?:data_coding_)?(\d+)", name)
    return m.group(1) if m else name


def read_rap(path: str | Path, sep: str) -> DictionaryRows:
    """Rows of a RAP ``--ddd`` data dictionary: one registry row per field (see the module docstring)."""
    df = read_table(path, sep)
    _require(df, ("entity", "name", "type", "title"), path, "rap")
    out = DictionaryRows("rap")
    other = 0
    per_field: dict[int, dict] = {}
    cols = df.columns
    for i, rec in enumerate(df.to_dict("records")):
        where = f"field registry {path} (RAP data dictionary), row {i + 2}"
        if str(rec["entity"]).strip() != "participant":
            other += 1
            continue
        name = str(rec["name"]).strip()
        if name == "eid":
            continue
        m = _RAP_NAME.match(name)
        if m is None:
            raise CardiolatentError(f"{where}, column name: {name!r} is not a field column like p31, p21003_i2 "
                                    "or p4080_i2_a1")
        fid = int(m.group(1))
        inst = int(m.group(2)) if m.group(2) is not None else 0
        arr = int(m.group(3)) if m.group(3) is not None else 0
        rtype = str(rec["type"]).strip().lower()
        if rtype not in RAP_TYPES:
            raise CardiolatentError(f"{where}, column type: {rtype!r} is not one of {', '.join(RAP_TYPES)}")
        coding = _rap_coding(str(rec.get("coding_name", "") if "coding_name" in cols else ""))
        if rtype == "float":
            ftype = "continuous"
        elif rtype == "integer":
            ftype = "categorical" if coding else "integer"
        elif rtype == "string":
            ftype = CODING_TYPES.get(coding, "text")
        else:
            ftype = "date"
        title = str(rec["title"]).split(" | ")[0].strip()
        row = per_field.get(fid)
        if row is None:
            per_field[fid] = row = dict(
                name=snake_name(title, fid), type=ftype, coding=coding,
                unit=str(rec.get("units", "") if "units" in cols else "").strip(),
                instances=set(), arrays=1, description=title, _types={ftype})
        row["instances"].add(inst)
        row["arrays"] = max(row["arrays"], arr + 1)
        multi = str(rec.get("is_multi_select", "") if "is_multi_select" in cols else "").strip().lower()
        if multi in ("yes", "true", "1"):
            row["multi"] = True
        row["_types"].add(ftype)
    for fid, row in per_field.items():
        types = row.pop("_types")
        if len(types) > 1:  # e.g. integer in one instance, float in another: the widest wins
            for t in ("text", "continuous", "date", "integer", "categorical", "icd10", "icd9"):
                if t in types:
                    row["type"] = t
                    break
            out.notes.append(f"field {fid}: columns of types {', '.join(sorted(types))} in {path}; typed {row['type']}")
        row["instances"] = tuple(sorted(row["instances"])) or (0,)
        if row.get("multi"):  # one cell holds a list (p41270 = 'I10|E11'): an array field
            row["arrays"] = max(row["arrays"], 2)
        out.rows[fid] = row
    if other:
        out.notes.append(f"{other} row(s) of other entities than 'participant' skipped in {path}")
    return out


def missing_codes(path: str | Path, sep: str) -> dict[str, frozenset[int]]:
    """Data-coding id -> its missing-value codes, from a codings file.

    A code is a missing-value code when it is a negative integer and its meaning matches
    :data:`MISSING_MEANING` ("Do not know", "Prefer not to answer", "Not applicable", ...).
    Codings without such a code are left out.
    """
    df = read_table(path, sep)
    low = {c.lower(): c for c in df.columns}
    if "coding_name" in low:
        ccol, vcol, mcol = low["coding_name"], low.get("code"), low["meaning"]
        if vcol is None:
            raise CardiolatentError(f"field registry {path} (codings file): lacks column code (row 1, the header)")
    else:
        ccol, vcol, mcol = low["coding"], low.get("value"), low["meaning"]
        if vcol is None:
            raise CardiolatentError(f"field registry {path} (codings file): lacks column Value (row 1, the header)")
    out: dict[str, set[int]] = {}
    for coding, value, meaning in zip(df[ccol], df[vcol], df[mcol]):
        v = str(value).strip()
        if not re.fullmatch(r"-\d+", v) or not MISSING_MEANING.match(str(meaning)):
            continue
        out.setdefault(_rap_coding(str(coding)), set()).add(int(v))
    return {k: frozenset(v) for k, v in out.items()}


def read_dictionary(path: str | Path, fmt: str, sep: str) -> DictionaryRows:
    """Rows of a ``showcase`` or ``rap`` dictionary file."""
    if fmt == "showcase":
        return read_showcase(path, sep)
    if fmt == "rap":
        return read_rap(path, sep)
    raise ValueError(f"not a data dictionary format: {fmt}")


def unique_names(rows: dict[int, dict], taken: dict[str, int]) -> None:
    """Give derived names used by two fields (or by another field in ``taken``: name -> field id)
    the suffix ``_f<id>``, in place."""
    count: dict[str, int] = {}
    for fid, row in rows.items():
        count[row["name"]] = count.get(row["name"], 0) + 1
    for fid, row in rows.items():
        n = row["name"]
        if count[n] > 1 or taken.get(n, fid) != fid:
            row["name"] = f"{n}_f{fid}" if n != f"f{fid}" else n
