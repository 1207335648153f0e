"""Pieces every run script shares: the header, the genotype block, quoting.

Each script holds the exact command lines for the files written next to it. The genotype paths are
variables at the top that the user edits (or sets in the environment); where a genotype sample list
was given to ``cardiolatent export`` they default to that fileset. ``OUT`` (results folder, default
``results/`` beside the script), ``THREADS`` and the tool's executable (``REGENIE``, ``PLINK2``,
``PLINK``, ``BOLT``) can be set the same way. Scripts stop on the first error
(``set -euo pipefail``) and check that the genotype files exist before running.
"""

from __future__ import annotations

import shlex
from datetime import date

from cardiolatent import __version__


def q(s: str) -> str:
    """Quote one word for bash."""
    return shlex.quote(str(s))


def dq(text: str) -> str:
    """Escape text for use inside a double-quoted bash string."""
    return "".join("\\" + ch if ch in '\\$"`' else ch for ch in str(text))


def header(spec, tables, tool_line: str) -> list[str]:
    """The first lines of a script: shebang, what it runs on, strict mode, OUT / THREADS / executable."""
    var, default = spec.executable
    return [
        "#!/usr/bin/env bash",
        f"# {spec.tool} on the files that 'cardiolatent export' (version {__version__}, {date.today().isoformat()})",
        f"# wrote to this folder: {tables.n} participants, {tables.pheno.shape[1]} phenotype(s) "
        f"({tables.info['transform']} transform), {tables.covar.shape[1]} covariate column(s).",
        "# Edit the genotype paths below (or set them in the environment), then run:  bash " + spec.script,
        "set -euo pipefail",
        'HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"',
        'OUT="${OUT:-$HERE/results}"',
        'THREADS="${THREADS:-4}"',
        f'{var}="${{{var}:-{default}}}"',
        tool_line,
    ]


def geno_defaults(tables, fmt: str) -> tuple[str, str, str]:
    """(flag, path, sample) defaults from the sample list given to the export."""
    sl = tables.info.get("sample_list") or {}
    path, kind = sl.get("path"), sl.get("kind")
    bed_flag = "--bed" if fmt == "regenie" else "--bfile"
    placeholder = (bed_flag, "/path/to/genotypes", "")
    if not path:
        return placeholder
    if kind == "fam":
        return bed_flag, dq(path[: -len(".fam")] if path.endswith(".fam") else path), ""
    if kind == "psam" and fmt in ("regenie", "plink2"):
        return ("--pgen" if fmt == "regenie" else "--pfile"), dq(path[: -len(".psam")] if path.endswith(".psam")
                                                                else path), ""
    if kind == "sample" and fmt in ("regenie", "plink2"):
        return "--bgen", "/path/to/genotypes.bgen", dq(path)
    return placeholder


def geno_block(prefix: str, flag: str, path: str, sample: str, fmt: str, *,
               default_from: str | None = None) -> list[str]:
    """Variables ``{prefix}FLAG``, ``{prefix}GENO``, ``{prefix}SAMPLE`` and the array ``{prefix}ARGS``."""
    if default_from:
        lines = [f'{prefix}FLAG="${{{prefix}FLAG:-${default_from}FLAG}}"',
                 f'{prefix}GENO="${{{prefix}GENO:-${default_from}GENO}}"',
                 f'{prefix}SAMPLE="${{{prefix}SAMPLE:-${default_from}SAMPLE}}"']
    else:
        lines = [f'{prefix}FLAG="${{{prefix}FLAG:-{flag}}}"',
                 f'{prefix}GENO="${{{prefix}GENO:-{path}}}"',
                 f'{prefix}SAMPLE="${{{prefix}SAMPLE:-{sample}}}"']
    bgen_extra = " ref-first" if fmt == "plink2" else ""
    lines += [
        f'case "${prefix}FLAG" in',
        f'  --bgen) {prefix}ARGS=(--bgen "${prefix}GENO"{bgen_extra})',
        f'          if [ -n "${prefix}SAMPLE" ]; then {prefix}ARGS+=(--sample "${prefix}SAMPLE"); fi ;;',
        f'  *) {prefix}ARGS=("${prefix}FLAG" "${prefix}GENO") ;;',
        "esac",
        f'if [ ! -e "${prefix}GENO" ] && [ ! -e "${prefix}GENO.bed" ] && [ ! -e "${prefix}GENO.pgen" ]; then',
        f'  echo "genotype data not found: ${prefix}GENO (edit {prefix}GENO in $0)" >&2; exit 1',
        "fi",
    ]
    return lines


def plink_preamble(spec, tables, comment: str, flag: str, path: str, sample: str) -> list[str]:
    """Script header, genotype block and the paper's variant filter shared by the PLINK scripts."""
    return [*header(spec, tables, 'mkdir -p "$OUT"'), "", comment, *geno_block("", flag, path, sample, spec.name),
            "# variant filter of the paper: minor allele count >= 100",
            'FILTERS="${FILTERS---mac 100}"',
            ""]


def flags(written) -> str:
    """The extra flags every call needs for these files, quoted."""
    return " ".join(q(f) for f in written.extra_flags)


def tsv(header_names, rows) -> str:
    """Tab-separated text of ``rows`` (sequences of values) under ``header_names``."""
    return "\n".join(["\t".join(map(str, header_names))] + ["\t".join(map(str, r)) for r in rows]) + "\n"
