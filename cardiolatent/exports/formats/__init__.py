"""The GWAS tool formats, one module each, registered in one table: :data:`FORMATS`.

========== =========================================== ==========================================
name       module                                      result files read back by gwas-results
========== =========================================== ==========================================
regenie    :mod:`cardiolatent.exports.formats.regenie` ``<prefix>_<pheno>.regenie[.gz]``
plink2     :mod:`cardiolatent.exports.formats.plink2`  ``<prefix>.<pheno>.glm.*`` + ``<prefix>.afreq``
plink1     :mod:`cardiolatent.exports.formats.plink1`  ``<prefix>.<pheno>.assoc.linear|logistic``
bolt       :mod:`cardiolatent.exports.formats.bolt`    ``<prefix>.<pheno>.stats[.gz]``
========== =========================================== ==========================================

Each module defines ``FORMAT`` (a :class:`~cardiolatent.exports.formats.base.ToolFormat`): the
file rules ``cardiolatent export`` writes by, the run-script renderer, and the result columns
``cardiolatent gwas-results`` reads (:class:`~cardiolatent.exports.formats.base.ResultColumns`).
A new tool: a new module with its ``FORMAT`` and one line below; ``tests/test_export_format_contract.py``
checks it unchanged.

Layering: this package imports only :mod:`cardiolatent.errors` and the standard library at import
time (numpy/pandas inside functions); :mod:`cardiolatent.gwas.readers` imports it, and nothing in
:mod:`cardiolatent.exports` imports :mod:`cardiolatent.gwas`, so there is no cycle.
"""

from __future__ import annotations

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.formats import bolt, plink1, plink2, regenie
from cardiolatent.exports.formats.base import CANONICAL_COLUMNS, FormatSpec, ResultColumns, ToolFormat

#: every format, by ``--format`` name (the order is the order of ``--format`` choices and of detection)
FORMATS: dict[str, ToolFormat] = {m.FORMAT.name: m.FORMAT for m in (regenie, plink2, plink1, bolt)}


def get_format(name: str) -> ToolFormat:
    """The registered format ``name``; an error lists the others."""
    try:
        return FORMATS[name]
    except KeyError:
        raise CardiolatentError(f"format must be one of {', '.join(FORMATS)} (got {name!r})") from None


def result_formats() -> dict[str, ResultColumns]:
    """Formats whose results ``gwas-results`` reads: name -> :class:`ResultColumns`."""
    return {n: f.results for n, f in FORMATS.items() if f.results is not None}


__all__ = ["CANONICAL_COLUMNS", "FORMATS", "FormatSpec", "ResultColumns", "ToolFormat", "get_format",
           "result_formats"]
