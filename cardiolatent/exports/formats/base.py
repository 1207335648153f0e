"""What one GWAS tool format is: its file rules, its run script and the result columns it writes back.

A format module (``regenie.py``, ``plink2.py``, ...) defines one :class:`ToolFormat` named ``FORMAT``
and is listed once in :data:`cardiolatent.exports.formats.FORMATS`. Everything the package does with
a tool is read from that object:

- ``cardiolatent export`` (:mod:`cardiolatent.exports.writers`): the header (``hash_header``), the
  missing-value token (``missing``, adjusted by ``missing_rule``), the binary coding (``control``,
  ``case``), which options the tool can take (``raw_categorical``, ``t2e``), and the run script
  (``render``, written as ``script``);
- ``cardiolatent gwas-results`` (:mod:`cardiolatent.gwas.readers`): the result files' endings, how
  a file is recognised from its header, and which header names give each canonical column
  (:class:`ResultColumns`).

A new tool is one new module and one line in the registry; the contract test
(``tests/test_export_format_contract.py``) runs every registered format through the same checks.
This module imports nothing heavy: :mod:`cardiolatent.gwas.readers` imports the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

#: canonical result columns a reader may fill (see :mod:`cardiolatent.gwas.readers`)
CANONICAL_COLUMNS = ("chrom", "pos", "id", "effect_allele", "other_allele", "ref", "alt", "a1", "eaf", "info",
                     "n", "test", "beta", "or", "se", "stat", "p", "mlog10p")


@dataclass(frozen=True)
class ResultColumns:
    """How a tool's association results are read back.

    ``columns``: canonical column -> header names tried in order (first present wins; canonical
    names in :data:`CANONICAL_COLUMNS`; ``chrom``, ``pos``, ``id`` and ``p`` or ``mlog10p`` are
    required). ``suffixes``: result file endings (``.gz`` / ``.zst`` variants are accepted too).
    ``required_any``: the header must hold every name of ``required_all`` and at least one of
    ``required_any`` to be recognised as this format. ``name_sep``: the separator between the run's
    ``--out`` prefix and the phenotype name in a result file name (``None``: the whole stem is the
    phenotype). ``last_piece``: without a ``<prefix>.log`` beside the file, the phenotype is the last
    ``name_sep``-separated piece (else everything after the first). ``freq_sidecars``: endings of a
    per-run allele-frequency file written beside the results (PLINK 2 ``--freq``: ``.afreq``), read
    for ``eaf`` and the minor allele count when the results lack a frequency column.
    ``generic_suffix``: the endings are common words (``.stats``): files found by scanning a folder
    that are not this format are skipped, not an error.
    """

    columns: dict[str, tuple[str, ...]]
    suffixes: tuple[str, ...]
    required_all: tuple[str, ...]
    required_any: tuple[str, ...]
    name_sep: str | None = "."
    last_piece: bool = True
    freq_sidecars: tuple[str, ...] = ()
    generic_suffix: bool = False
    #: effect allele is ``a1`` (falling back on ``alt``), other allele the remaining one of ref/alt
    alleles_from_ref_alt: bool = False

    def recognises(self, header: Sequence[str]) -> bool:
        have = set(header)
        return all(h in have for h in self.required_all) and any(h in have for h in self.required_any)


@dataclass(frozen=True)
class ToolFormat:
    """One GWAS tool: the files ``cardiolatent export`` writes for it and the results it writes back.

    ``name``: the ``--format`` value; ``tool``: its name in messages. ``hash_header``: the id header
    starts with ``#FID``. ``missing``: token for a missing value. ``control``/``case``: binary codes.
    ``minus9_missing``: the tool reads the number -9 as missing. ``raw_categorical``: categorical
    covariates may be written as level labels. ``t2e``: time-to-event pairs supported.
    ``script``: file name of the run script; ``render(tables, written) -> str`` its text.
    ``executable``: (environment variable, default command) of the tool in the script.
    ``missing_rule(written, cells_equal_to, ids)``: (``cells_equal_to(value)``: the (column, row) of
    written numeric cells equal to ``value``, first per column) adjusts ``written.missing`` / ``written.extra_flags`` /
    ``written.notes`` for values that equal the tool's missing code, or raises (None: nothing to do).
    ``iid_only_psam``: a ``.psam`` without FID gives an ``#IID`` header. ``results``: how
    ``gwas-results`` reads the tool's output (None: not read back). ``result_files(tables, written)``:
    ``(phenotype, file name relative to the script's $OUT)`` of every result file the script writes.
    ``example_result(rows)``: a small result file of this tool as text (rows: a DataFrame with
    ``chrom, pos, id, effect_allele, other_allele, eaf, n, beta, se, p``), for the contract test.
    """

    name: str
    tool: str
    hash_header: bool
    missing: str
    control: str
    case: str
    minus9_missing: bool
    raw_categorical: bool
    t2e: bool
    script: str
    render: Callable = field(repr=False, compare=False, default=None)
    executable: tuple[str, str] = ("TOOL", "tool")
    missing_rule: Callable | None = field(repr=False, compare=False, default=None)
    iid_only_psam: bool = False
    results: ResultColumns | None = None
    result_files: Callable | None = field(repr=False, compare=False, default=None)
    example_result: Callable | None = field(repr=False, compare=False, default=None)
    sidecar_files: Callable | None = field(repr=False, compare=False, default=None)


#: compatible name of :class:`ToolFormat` (``cardiolatent.exports.writers.FormatSpec``)
FormatSpec = ToolFormat

__all__ = ["CANONICAL_COLUMNS", "FormatSpec", "ResultColumns", "ToolFormat"]
