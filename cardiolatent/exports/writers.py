"""Format-specific phenotype/covariate files for REGENIE, PLINK 2, PLINK 1.9 and BOLT-LMM.

What each tool reads is declared by its module in :mod:`cardiolatent.exports.formats`:

============  ==============  =======  ==========  =============================================
format        header          missing  binary      notes
============  ==============  =======  ==========  =============================================
``regenie``   ``FID IID ...``  ``NA``    0/1         categorical raw labels -> ``--catCovarList``
``plink2``    ``#FID IID ...`` ``NA``    1/2         ``#IID`` when the .psam has no FID; -9 is read
                                                      as missing, so a real -9 value adds
                                                      ``--no-input-missing-phenotype``
``plink1``    ``FID IID ...``  ``-9``    1/2         a real -9 value moves the missing code
                                                      (``--missing-phenotype``)
``bolt``      ``FID IID ...``  ``NA``    0/1 (as     BOLT reads -9 as missing (no option): a real
                                         quantit.)   -9 is an error; raw labels -> ``--covarCol``
============  ==============  =======  ==========  =============================================

Every file: tab-separated, LF line endings, one header line, the same number of fields on every
line, numbers written without loss (integers as integers, other floats as Python ``repr``: the
shortest text that reads back to the same double). Besides the phenotype files (``pheno.txt``,
``pheno_binary.txt``, ``pheno_t2e.txt``) and ``covar.txt``: ``keep.txt`` (the written samples, no
header, for ``--keep``), ``excluded.tsv`` (every participant not written, with the reason), the run
script and ``manifest.json``.

:func:`plan_files` takes every decision (header, missing code, flags, notes) without writing;
:func:`write_planned` writes the data files into a folder. Saving a whole export as a unit is
:meth:`cardiolatent.exports.result.ExportResult.save`; :func:`export_files` and
:func:`write_export` are the older entry points, kept working.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd
import scipy

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.formats import FORMATS, FormatSpec, get_format
from cardiolatent.exports.naming import safe_name
from cardiolatent.io_utils import _UMASK, atomic_dir, atomic_path, write_table_atomic, write_text_atomic
from cardiolatent.results import Result, Summary, jsonable, read_record

__all__ = [
    "FormatSpec",
    "FORMATS",
    "WrittenFiles",
    "format_values",
    "write_table",
    "plan_files",
    "write_planned",
    "write_export",
    "export_files",
    "manifest",
    "package_versions",
    "ExportResult",
    "ExportSummary",
    "export_result",
]

#: rows formatted and written at a time
_CHUNK_ROWS = 4096


@dataclass
class WrittenFiles:
    """The files of one export for one format and the flags the tool needs for them.

    ``files``: role (``pheno``, ``binary``, ``t2e``, ``covar``, ``keep``, ``excluded``,
    ``script``, ``manifest``) -> path (a bare file name until written into ``out_dir``).
    ``id_columns``: the id header (``["#FID", "IID"]`` ...). ``missing``: the missing token.
    ``extra_flags``: flags every tool call needs for these files (e.g. ``--missing-phenotype``).
    ``categorical``: raw-coded categorical covariate columns; ``max_levels``: most levels among them.
    ``frames``: role -> the table written for it (binary codes and categorical labels applied).
    """

    fmt: str
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    id_columns: list[str] = field(default_factory=list)
    missing: str = "NA"
    extra_flags: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    max_levels: int = 0
    notes: list[str] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    id_values: list = field(default_factory=list, repr=False)

    def placed(self, folder: Path) -> None:
        """Point ``files`` at ``folder``."""
        self.out_dir = Path(folder)
        self.files = {role: self.out_dir / Path(p).name for role, p in self.files.items()}


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


def format_values(values, missing: str) -> np.ndarray:
    """(n,) values -> (n,) object array of text, ``missing`` where NaN/None.

    Floats: integers (|x| < 2**53) as ``"12"``, others as ``repr`` (shortest round-trip text,
    e.g. ``0.1``, ``-1.2345678901234567e-05``). Strings are written as they are.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        out = np.empty(len(arr), dtype=object)
        for i, v in enumerate(arr.tolist()):
            out[i] = missing if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)
        return out
    x = arr.astype(np.float64)
    miss = np.isnan(x)
    if np.isinf(x).any():
        raise CardiolatentError("an infinite value cannot be written to a phenotype/covariate file")
    out = np.empty(len(x), dtype=object)
    fin = x[~miss]
    if len(fin) and np.all(fin == np.round(fin)) and np.all(np.abs(fin) < 2.0**53):
        out[~miss] = fin.astype(np.int64).astype(str)
    else:
        out[~miss] = fin.astype(str)
    out[miss] = missing
    return out


def write_table(path: Path, header: Sequence[str], columns: Sequence[np.ndarray], *, write_header: bool = True) -> None:
    """Write text columns (each (n,) object array) tab-separated with LF endings, atomically."""
    n = len(columns[0]) if columns else 0
    for c in columns:
        if len(c) != n:
            raise CardiolatentError(f"internal error: ragged columns for {path.name}")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            if write_header:
                fh.write("\t".join(header) + "\n")
            for start in range(0, n, _CHUNK_ROWS):
                block = np.column_stack([c[start:start + _CHUNK_ROWS] for c in columns])
                fh.write("\n".join("\t".join(row) for row in block.tolist()))
                fh.write("\n")


# --------------------------------------------------------------------------------------------
# the files of one export: decisions, then writing
# --------------------------------------------------------------------------------------------


def _id_columns(tables, spec, W: WrittenFiles) -> None:
    """The id header and values: ``#IID`` alone for a .psam without FID where the tool allows it."""
    ids = tables.ids
    sl = tables.info.get("sample_list") or {}
    if spec.iid_only_psam and sl.get("kind") == "psam" and not sl.get("has_fid", True):
        W.id_columns = ["#IID"]
        W.id_values = [ids["IID"].astype(str).to_numpy(object)]
        W.notes.append("the .psam has no FID column: files are written with an #IID header (PLINK 2 matches IIDs)")
    else:
        W.id_columns = (["#FID", "IID"] if spec.hash_header else ["FID", "IID"])
        W.id_values = [ids["FID"].astype(str).to_numpy(object), ids["IID"].astype(str).to_numpy(object)]


def _check_options(tables, spec) -> None:
    if tables.t2e.shape[1] and not spec.t2e:
        raise CardiolatentError(f"time-to-event pairs (t2e) are a REGENIE feature; {spec.tool} has no "
                                "survival model: export for regenie or drop the t2e outcomes")
    if tables.categorical and not spec.raw_categorical:
        raise CardiolatentError(f"raw categorical codes (categorical='raw') are read as numbers by {spec.tool}: "
                                "use the default dummy coding, or export for regenie / bolt")


def plan_files(tables, fmt: str) -> WrittenFiles:
    """Every decision for the files of ``tables`` in format ``fmt``, without writing anything."""
    spec = get_format(fmt)
    W = WrittenFiles(fmt, Path("."))
    _id_columns(tables, spec, W)
    _check_options(tables, spec)
    covar = tables.covar.copy()
    binary = tables.binary.copy()
    for c in binary.columns:  # the tool's binary codes
        x = binary[c].to_numpy(np.float64)
        binary[c] = np.where(np.isnan(x), None, np.where(x == 1, spec.case, spec.control)).astype(object)
    W.missing = spec.missing
    if spec.missing_rule is not None:
        frames = [tables.pheno, tables.t2e, covar.drop(columns=tables.categorical)]
        spec.missing_rule(W, lambda value: [h for f in frames for h in numeric_equal(f, value)], tables.ids)
    for c in tables.categorical:
        labels = covar[c].astype(object)
        if spec.minus9_missing and (labels == "-9").any():
            covar[c] = labels.where(labels != "-9", "m9")
            W.notes.append(f"covariate {c}: level -9 written as 'm9' ({spec.tool} reads -9 as missing)")
        W.max_levels = max(W.max_levels, int(covar[c].nunique()))
    W.categorical = list(tables.categorical)
    for role, name, frame in (("pheno", "pheno.txt", tables.pheno), ("binary", "pheno_binary.txt", binary),
                              ("t2e", "pheno_t2e.txt", tables.t2e), ("covar", "covar.txt", covar)):
        if role == "pheno" or frame.shape[1]:
            W.frames[role] = frame
            W.files[role] = Path(name)
    W.files["keep"] = Path("keep.txt")
    W.files["excluded"] = Path("excluded.tsv")
    W.files["script"] = Path(spec.script)
    W.files["manifest"] = Path("manifest.json")
    return W


def numeric_equal(frame: pd.DataFrame, value: float, skip: Sequence[str] = ()) -> list[tuple[str, int]]:
    """(column, row) of numeric cells of ``frame`` exactly equal to ``value`` (first per column)."""
    hits = []
    for c in frame.columns:
        if c in skip:
            continue
        x = pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
        w = np.flatnonzero(x == value)
        if len(w):
            hits.append((c, int(w[0])))
    return hits


def excluded_sorted(excluded: pd.DataFrame) -> pd.DataFrame:
    """``excluded.tsv`` as written: instance as nullable integer, sorted by reason then eid."""
    ex = excluded.copy()
    ex["instance"] = ex["instance"].astype("Int64")
    return ex.sort_values(["reason", "eid"], kind="stable")


def write_planned(tables, W: WrittenFiles, folder: str | os.PathLike) -> None:
    """Write the data files of plan ``W`` (phenotypes, covariates, keep, excluded) into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for role, frame in W.frames.items():
        cols = [format_values(frame[c].to_numpy(), W.missing) for c in frame.columns]
        write_table(out / W.files[role].name, W.id_columns + [str(c) for c in frame.columns], W.id_values + cols)
    write_table(out / "keep.txt", [], W.id_values, write_header=False)
    write_table_atomic(excluded_sorted(tables.excluded), out / "excluded.tsv", index=False)


def write_export(tables, fmt: str, out_dir: str | os.PathLike) -> WrittenFiles:
    """Write the data files of :class:`~cardiolatent.exports.phenotypes.ExportTables` for ``fmt``
    into ``out_dir`` (no script, no manifest; the whole export as a unit: :func:`export_files`)."""
    W = plan_files(tables, fmt)
    write_planned(tables, W, out_dir)
    W.placed(Path(out_dir))
    for role in ("script", "manifest"):
        W.files.pop(role)
    return W


# --------------------------------------------------------------------------------------------
# manifest
# --------------------------------------------------------------------------------------------


def package_versions() -> dict[str, str]:
    """Versions of Python, cardiolatent and the numerical packages used."""
    return {"cardiolatent": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "pandas": pd.__version__, "scipy": scipy.__version__, "platform": platform.platform()}


def manifest(tables, written: WrittenFiles, parameters: dict) -> dict:
    """The manifest (a JSON-ready dict): counts at every filter, transform, files, parameters, versions."""
    spec = FORMATS[written.fmt]
    excluded_total = sum(c["excluded"] for c in tables.counts)
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": written.fmt,
        "tool": spec.tool,
        "participants": {
            "in_latents_table": tables.n_input,
            "written": tables.n,
            "excluded": excluded_total,
            "adds_up": tables.n + excluded_total == tables.n_input,
        },
        "filters": tables.counts,
        "latents_rows_not_used": tables.info.get("latents_rows_not_used", {}),
        "transform": {"name": tables.info["transform"], "description": tables.info["transform_description"],
                      "n": tables.n},
        "phenotypes": {"written": list(tables.pheno.columns), "dropped": tables.info["phenotypes_dropped"],
                       "source_columns": tables.info["phenotype_names"]},
        "binary_traits": tables.info.get("binary_traits", {}),
        "time_to_event": tables.info.get("t2e", {}),
        "covariates": {"requested": tables.info["covariates_requested"],
                       "columns": list(tables.covar.columns),
                       "dropped": [c for c in tables.info["covariates_requested"]
                                   if not any(k == safe_name(c) or k.startswith(safe_name(c) + "_")
                                              for k in tables.covar.columns)],
                       "coding": tables.info["categorical_coding"],
                       "categorical_columns": tables.info["categorical_columns"],
                       "min_level_count": tables.info["min_level_count"]},
        "kinship": tables.info.get("kinship", {}),
        "sample_list": tables.info.get("sample_list"),
        "files": {k: Path(p).name for k, p in written.files.items()},
        "file_format": {"id_columns": written.id_columns, "missing": written.missing, "separator": "tab",
                        "line_ending": "LF", "binary_coding": {"control": spec.control, "case": spec.case},
                        "extra_flags": written.extra_flags},
        "notes": list(tables.notes) + list(written.notes),
        "parameters": parameters,
        "versions": package_versions(),
    }


def export_files(tables, fmt: str, out_dir: str | os.PathLike, parameters: dict | None = None) -> WrittenFiles:
    """Write data files, the run script and ``manifest.json`` for ``fmt`` into ``out_dir`` as a unit
    (:meth:`cardiolatent.exports.result.ExportResult.save`); returns the written files."""
    res = export_result(tables, fmt, parameters)
    res.save(out_dir)
    return res.written


# --------------------------------------------------------------------------------------------
# the export as a result (see cardiolatent.exports.result)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ExportSummary(Summary):
    """What ``manifest.json`` holds (one field per top-level key, in the file's order)."""

    created: str = ""                     # UTC time the export was prepared (ISO 8601)
    format: str = ""                      # regenie | plink2 | plink1 | bolt
    tool: str = ""                        # the tool's name
    participants: dict = dataclasses.field(default_factory=dict)   # in_latents_table, written, excluded, adds_up
    filters: list = dataclasses.field(default_factory=list)        # one dict per sample-QC filter, in order
    latents_rows_not_used: dict = dataclasses.field(default_factory=dict)
    transform: dict = dataclasses.field(default_factory=dict)      # name, description, n
    phenotypes: dict = dataclasses.field(default_factory=dict)     # written, dropped, source_columns
    binary_traits: dict = dataclasses.field(default_factory=dict)
    time_to_event: dict = dataclasses.field(default_factory=dict)
    covariates: dict = dataclasses.field(default_factory=dict)
    kinship: dict = dataclasses.field(default_factory=dict)
    sample_list: Any = None
    files: dict = dataclasses.field(default_factory=dict)          # role -> file name
    file_format: dict = dataclasses.field(default_factory=dict)    # id columns, missing token, coding, flags
    notes: list = dataclasses.field(default_factory=list)
    parameters: dict = dataclasses.field(default_factory=dict)
    versions: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ExportResult(Result):
    """The export of one latents table for one GWAS tool.

    ``table``: the phenotypes as written (id columns without ``#``, then one column per
    phenotype, NaN = missing); ``excluded``: ``eid, instance, reason, detail`` of every participant
    not written; ``summary``: :class:`ExportSummary` (the manifest). ``tables`` (the
    :class:`~cardiolatent.exports.phenotypes.ExportTables`) and ``written`` (the plan:
    :class:`~cardiolatent.exports.writers.WrittenFiles`) are there for a result built in this
    session, None for one loaded back. ``folder``: where it was saved / loaded from.
    """

    tables: Any = None
    written: WrittenFiles | None = None
    folder: Path | None = None

    kind: ClassVar[str] = "export"
    layout: ClassVar[str] = "folder"
    table_name: ClassVar[str] = "pheno.txt"
    summary_type: ClassVar[type] = ExportSummary

    # ------------------------------------------------------------------ saving
    def files(self, out: str | os.PathLike) -> dict[str, Path]:
        out = Path(out)
        return {role: out / name for role, name in self.summary.files.items()} | {"summary": out / "summary.json"}

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write the export folder as a unit (module docstring); returns role -> path."""
        if self.tables is None or self.written is None:
            raise CardiolatentError("a loaded export cannot be saved again: export the latents anew")
        out = Path(out)
        _adopt_earlier_export(out)
        W = self.written
        spec = get_format(W.fmt)
        paths = self.files(out)
        rec = self.summary_record(paths)
        with atomic_dir(out) as tmp:
            write_planned(self.tables, W, tmp)
            script = tmp / spec.script
            write_text_atomic(script, spec.render(self.tables, W))
            os.chmod(script, 0o755 & ~_UMASK)
            man = {"cardiolatent_version": rec["cardiolatent_version"], **self.summary.to_dict()}
            write_text_atomic(tmp / "manifest.json", json.dumps(man, indent=2) + "\n")
            write_text_atomic(tmp / "summary.json", json.dumps(rec, indent=2) + "\n")
        W.placed(out)
        self.folder = out
        return paths

    @classmethod
    def load(cls, out: str | os.PathLike) -> "ExportResult":
        """Read a saved export back: the phenotypes of ``pheno.txt``, ``excluded.tsv`` and the manifest."""
        out = Path(out)
        path = out / "summary.json"
        if not path.exists():
            path = out / "manifest.json"
        rec = read_record(path, f"{out} is not a cardiolatent export (no manifest.json)")
        summary = ExportSummary.from_dict(rec)
        missing = summary.file_format.get("missing", "NA")
        table = pd.read_csv(out / summary.files.get("pheno", "pheno.txt"), sep="\t", dtype=str, keep_default_na=False)
        table.columns = [c.lstrip("#") for c in table.columns]
        for c in table.columns[len(summary.file_format.get("id_columns", ["FID", "IID"])):]:
            table[c] = pd.to_numeric(table[c].replace(missing, np.nan))
        excluded = pd.read_csv(out / "excluded.tsv", sep="\t", dtype={"instance": "Int64"})
        return cls(table=table, excluded=excluded, summary=summary, folder=out)

    # ------------------------------------------------------------------ printing
    def summary_lines(self) -> list[str]:
        """What ``cardiolatent export`` prints: counts at each filter, phenotypes, notes, files."""
        s = self.summary
        part = s.participants
        lines = [f"{part.get('in_latents_table', 0):,} participants in the latents table; "
                 f"{part.get('written', 0):,} written for {s.tool}"]
        for c in s.filters:
            if c["applied"] or c["excluded"]:
                lines.append(f"  {c['reason']:<24} -{c['excluded']:>7,}  -> {c['remaining']:,}")
        lines.append(f"  {len(s.phenotypes.get('written', []))} phenotype(s) ({s.transform.get('name')}), "
                     f"{len(s.covariates.get('columns', []))} covariate column(s)")
        lines += [f"  note: {note}" for note in s.notes]
        if self.folder is not None:
            lines.append(f"wrote {', '.join(s.files.values())} to {self.folder}")
        return lines


def _adopt_earlier_export(out: Path) -> None:
    """An export folder written before exports were results has a ``manifest.json`` without
    ``cardiolatent_version``: mark it (add ``summary.json``) so that it may be replaced like any
    earlier cardiolatent output."""
    man, summ = out / "manifest.json", out / "summary.json"
    if not out.is_dir() or summ.exists() or not man.is_file():
        return
    try:
        rec = json.loads(man.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(rec, dict) and "cardiolatent" in (rec.get("versions") or {}) and "filters" in rec:
        write_text_atomic(summ, json.dumps({"cardiolatent_version": rec["versions"]["cardiolatent"],
                                            "result": "cardiolatent.exports.result.ExportResult",
                                            "files": sorted(p.name for p in out.iterdir())}) + "\n")


def export_result(tables, fmt: str, parameters: dict | None = None) -> ExportResult:
    """The export of ``tables`` for format ``fmt`` (see :mod:`cardiolatent.exports.formats`), with
    every decision taken (missing code, flags, notes) and nothing written yet: ``.save(out)``."""
    W = plan_files(tables, fmt)
    summary = ExportSummary.from_dict(jsonable(manifest(tables, W, parameters or {})))
    table = pd.concat([pd.DataFrame({c.lstrip("#"): v for c, v in zip(W.id_columns, W.id_values)}),
                       tables.pheno.reset_index(drop=True)], axis=1)
    return ExportResult(table=table, excluded=tables.excluded, summary=summary, tables=tables, written=W)
