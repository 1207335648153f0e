"""The export as one result: the files for a GWAS tool, written into a folder as a unit.

:func:`export_result` turns :class:`~cardiolatent.exports.phenotypes.ExportTables` into an
:class:`ExportResult` for one format (every decision taken, nothing written); ``.save(out)`` writes
the whole folder: ``pheno.txt`` [``pheno_binary.txt``, ``pheno_t2e.txt``] [``covar.txt``],
``keep.txt``, ``excluded.tsv``, ``run_<tool>.sh``, ``manifest.json`` (for users: counts at every
filter, transform, files, parameters, versions) and ``summary.json`` (the same record, for
:meth:`ExportResult.load`). Everything goes to a temporary sibling folder that replaces ``out``
only when complete (:func:`cardiolatent.io_utils.atomic_dir`): a killed run leaves the previous
export whole, a re-run leaves no stale file, and a folder that is not an earlier cardiolatent
output is refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.formats import get_format
from cardiolatent.exports.writers import WrittenFiles, manifest, plan_files, write_planned
from cardiolatent.io_utils import _UMASK, atomic_dir, write_text_atomic
from cardiolatent.results import Result, Summary, jsonable

__all__ = ["ExportResult", "ExportSummary", "export_result"]


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
        if not path.exists():
            raise CardiolatentError(f"{out} is not a cardiolatent export (no manifest.json)")
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CardiolatentError(f"{path} is not valid JSON: {exc}") from exc
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
