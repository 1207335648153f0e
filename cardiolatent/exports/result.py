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

from cardiolatent.exports.writers import ExportResult, ExportSummary, export_result

__all__ = ["ExportResult", "ExportSummary", "export_result"]
