"""Run scripts beside the exported files: ``run_regenie.sh``, ``run_plink2.sh``, ``run_plink1.sh``, ``run_bolt.sh``.

Each script holds the exact command lines for the files written next to it. The genotype
paths are variables at the top that the user edits (or sets in the environment); where a
genotype sample list was given to ``cardiolatent export`` they default to that fileset.
``OUT`` (results folder, default ``results/`` beside the script), ``THREADS`` and the tool's
executable (``REGENIE``, ``PLINK2``, ``PLINK``, ``BOLT``) can be set the same way. Scripts stop on
the first error (``set -euo pipefail``) and check that the genotype files exist before running.
"""

from __future__ import annotations

import shlex
from datetime import date

__all__ = ["render_script", "TOOLS"]

#: executables (environment variable, default)
TOOLS = {"regenie": ("REGENIE", "regenie"), "plink2": ("PLINK2", "plink2"),
         "plink1": ("PLINK", "$(command -v plink1.9 || echo plink)"), "bolt": ("BOLT", "bolt")}


def _q(s: str) -> str:
    return shlex.quote(str(s))


def _header(tables, written, tool_line: str) -> list[str]:
    from cardiolatent import __version__
    from cardiolatent.exports.writers import FORMATS

    spec = FORMATS[written.fmt]
    var, default = TOOLS[written.fmt]
    lines = [
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
    return [ln for ln in lines if ln is not None]


def _dq(text: str) -> str:
    """Escape text for use inside a double-quoted bash string."""
    return "".join("\\" + ch if ch in '\\$"`' else ch for ch in str(text))


def _geno_defaults(tables, fmt: str) -> tuple[str, str, str]:
    """(flag, path, sample) defaults from the sample list given to the export."""
    sl = tables.info.get("sample_list") or {}
    path, kind = sl.get("path"), sl.get("kind")
    bed_flag = "--bed" if fmt == "regenie" else "--bfile"
    placeholder = (bed_flag, "/path/to/genotypes", "")
    if not path:
        return placeholder
    if kind == "fam":
        return bed_flag, _dq(path[: -len(".fam")] if path.endswith(".fam") else path), ""
    if kind == "psam" and fmt in ("regenie", "plink2"):
        return ("--pgen" if fmt == "regenie" else "--pfile"), _dq(path[: -len(".psam")] if path.endswith(".psam")
                                                                 else path), ""
    if kind == "sample" and fmt in ("regenie", "plink2"):
        return "--bgen", "/path/to/genotypes.bgen", _dq(path)
    return placeholder


def _geno_block(prefix: str, flag: str, path: str, sample: str, fmt: str, *,
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


def _flags(written) -> str:
    return " ".join(_q(f) for f in written.extra_flags)


def _regenie(tables, W) -> str:
    flag, path, sample = _geno_defaults(tables, "regenie")
    if flag == "--bgen":  # a BGEN .sample was given: imputed data for step 2, the array data for step 1
        step1 = _geno_block("STEP1_", "--bed", "/path/to/genotyped_array", "", "regenie")
        step2 = _geno_block("STEP2_", flag, path, sample, "regenie")
    else:
        step1 = _geno_block("STEP1_", flag, path, sample, "regenie")
        step2 = _geno_block("STEP2_", flag, path, sample, "regenie", default_from="STEP1_")
    L = _header(tables, W, 'mkdir -p "$OUT"')
    L += ["",
          "# Step 1 (whole-genome ridge regression): genotyped array variants. Syntax: --bed PREFIX,",
          "# --pgen PREFIX, or --bgen FILE.bgen with STEP1_SAMPLE=FILE.sample.",
          *step1,
          "# Step 2 (association tests), e.g. the imputed BGEN files (same syntax).",
          *step2,
          "# variant filters of the paper for step 2: MAC >= 100, INFO >= 0.3",
          'STEP2_FILTERS="${STEP2_FILTERS---minMAC 100 --minINFO 0.3}"',
          ""]
    covar = []
    if "covar" in W.files:
        covar = ['--covarFile "$HERE/covar.txt"']
        if W.categorical:
            covar.append(f"--catCovarList {','.join(W.categorical)}")
            if W.max_levels > 10:
                covar.append(f"--maxCatLevels {W.max_levels}")
    common = ['--keep "$HERE/keep.txt"'] + covar
    extra = _flags(W)
    if extra:
        common.append(extra)

    def run(label: str, pheno_file: str, out_name: str, step1: list[str], step2: list[str]) -> list[str]:
        s1 = (['"$REGENIE" --step 1 "${STEP1_ARGS[@]}" \\', f'  --phenoFile "$HERE/{pheno_file}" \\']
              + [f"  {c} \\" for c in common + step1]
              + [f'  --bsize 1000 --lowmem --lowmem-prefix "$OUT/tmp_{out_name}" --threads "$THREADS" \\',
                 f'  --out "$OUT/step1_{out_name}"'])
        s2 = (['"$REGENIE" --step 2 "${STEP2_ARGS[@]}" \\', f'  --phenoFile "$HERE/{pheno_file}" \\']
              + [f"  {c} \\" for c in common + step2]
              + [f'  --pred "$OUT/step1_{out_name}_pred.list" \\',
                 '  --bsize 400 $STEP2_FILTERS --threads "$THREADS" \\',
                 f'  --out "$OUT/step2_{out_name}"'])
        return [f"# {label}", *s1, *s2, ""]

    L += run(f"{tables.pheno.shape[1]} quantitative phenotype(s) ({tables.info['transform']}): one result file "
             "per phenotype, $OUT/step2_quant_<name>.regenie", "pheno.txt", "quant", [], [])
    if "binary" in W.files:
        L += run(f"binary traits (0 = control, 1 = case): {', '.join(tables.binary.columns)}", "pheno_binary.txt",
                 "binary", ["--bt"], ["--bt", "--firth --approx --pThresh 0.01"])
    if "t2e" in W.files:
        times = [c for c in tables.t2e.columns if c.endswith("_time")]
        events = [c[: -len("_time")] + "_event" for c in times]
        t2e = [f"--t2e --phenoColList {','.join(times)} --eventColList {','.join(events)}"]
        L += run("time to event (REGENIE v4+ --t2e): years from the imaging visit, event 0/1", "pheno_t2e.txt",
                 "t2e", t2e, t2e)
    L.append('echo "REGENIE results in $OUT"')
    return "\n".join(L) + "\n"


def _plink_preamble(tables, W, comment: str, flag: str, path: str, sample: str, tool: str) -> list[str]:
    """Script header, genotype block and the paper's variant filter shared by the PLINK scripts."""
    return [*_header(tables, W, 'mkdir -p "$OUT"'), "", comment, *_geno_block("", flag, path, sample, tool),
            "# variant filter of the paper: minor allele count >= 100",
            'FILTERS="${FILTERS---mac 100}"',
            ""]


def _plink2(tables, W) -> str:
    flag, path, sample = _geno_defaults(tables, "plink2")
    L = _plink_preamble(tables, W, "# Genotypes: --bfile PREFIX, --pfile PREFIX, or --bgen FILE.bgen with "
                                   "SAMPLE=FILE.sample", flag, path, sample, "plink2")
    covar = ['--covar "$HERE/covar.txt" --covar-variance-standardize'] if "covar" in W.files else []
    glm = "--glm hide-covar" if covar else "--glm allow-no-covars"
    extra = _flags(W)

    def run(label, pheno_file, out_name, glm_mods=""):
        return ([f"# {label}",
                 '"$PLINK2" "${ARGS[@]}" --keep "$HERE/keep.txt" \\',
                 f'  --pheno "$HERE/{pheno_file}" \\']
                + [f"  {c} \\" for c in covar + ([extra] if extra else [])]
                + [f"  {glm}{glm_mods} $FILTERS --threads \"$THREADS\" \\",
                   f'  --out "$OUT/{out_name}"', ""])

    L += run("quantitative phenotypes: $OUT/quant.<name>.glm.linear", "pheno.txt", "quant")
    if "binary" in W.files:
        L += run("binary traits (1 = control, 2 = case): $OUT/binary.<name>.glm.logistic.hybrid",
                 "pheno_binary.txt", "binary", " firth-fallback")
    L.append('echo "PLINK 2 results in $OUT"')
    return "\n".join(L) + "\n"


def _plink1(tables, W) -> str:
    flag, path, _ = _geno_defaults(tables, "plink1")
    if flag != "--bfile":
        flag, path = "--bfile", "/path/to/genotypes"
    L = _plink_preamble(tables, W, "# Genotypes: PLINK 1 binary fileset prefix (.bed/.bim/.fam)", flag, path, "",
                        "plink1")
    covar = ['--covar "$HERE/covar.txt"'] if "covar" in W.files else []
    extra = _flags(W)

    def run(label, pheno_file, out_name, test):
        return ([f"# {label}",
                 '"$PLINK" "${ARGS[@]}" --keep "$HERE/keep.txt" \\',
                 f'  --pheno "$HERE/{pheno_file}" --all-pheno \\']
                + [f"  {c} \\" for c in covar + ([extra] if extra else [])]
                + [f'  {test} hide-covar --allow-no-sex $FILTERS --threads "$THREADS" \\',
                   f'  --out "$OUT/{out_name}"', ""])

    L += run(f"quantitative phenotypes (missing = {W.missing}): $OUT/quant.<name>.assoc.linear", "pheno.txt",
             "quant", "--linear")
    if "binary" in W.files:
        L += run("binary traits (1 = control, 2 = case): $OUT/binary.<name>.assoc.logistic", "pheno_binary.txt",
                 "binary", "--logistic")
    L.append('echo "PLINK 1.9 results in $OUT"')
    return "\n".join(L) + "\n"


def _bolt(tables, W) -> str:
    flag, path, _ = _geno_defaults(tables, "bolt")
    if flag != "--bfile":
        flag, path = "--bfile", "/path/to/genotypes"
    L = _header(tables, W, 'mkdir -p "$OUT"')
    L += ["",
          "# Genotypes: PLINK 1 binary fileset prefix (.bed/.bim/.fam)",
          f'GENO="${{GENO:-{path}}}"',
          'if [ ! -e "$GENO.bed" ]; then echo "genotype data not found: $GENO.bed (edit GENO in $0)" >&2; exit 1; fi',
          "# LD scores for the calibration of the mixed model (e.g. BOLT-LMM_v2.4/tables/LDSCORE.1000G_EUR.tab.gz);",
          "# empty: LD scores estimated among the genotyped variants (--LDscoresUseChip)",
          'LDSCORES="${LDSCORES:-}"',
          "# genetic map (e.g. tables/genetic_map_hg19_withX.txt.gz); empty: the cM column of the .bim",
          'GENETIC_MAP="${GENETIC_MAP:-}"',
          "# model: --lmm (default), --lmmInfOnly, or --reml (variance components only)",
          'MODEL="${MODEL:---lmm}"',
          "# more BOLT-LMM options for every run, e.g. --modelSnps=FILE --remove=FILE --maxModelSnps=N",
          'EXTRA="${EXTRA:-}"',
          "LD_ARGS=(--LDscoresUseChip)",
          'if [ -n "$LDSCORES" ]; then LD_ARGS=(--LDscoresFile="$LDSCORES"); fi',
          "MAP_ARGS=()",
          'if [ -n "$GENETIC_MAP" ]; then MAP_ARGS=(--geneticMapFile="$GENETIC_MAP"); fi',
          ""]
    cov = []
    if "covar" in W.files:
        cov.append('--covarFile="$HERE/covar.txt"')
        for c in tables.covar.columns:
            cov.append(f"--covarCol={c}" if c in W.categorical else f"--qCovarCol={c}")
        if W.categorical and W.max_levels + 1 > 10:
            # BOLT counts the missing value of samples in the .fam but not in covar.txt as a level
            cov.append(f"--covarMaxLevels={W.max_levels + 1}")
    L.append("# covariates: --qCovarCol quantitative (dummies included), --covarCol categorical labels")
    L += ["COVARS=("] + [f"  {c}" for c in cov] + [")"]

    def loop(label, pheno_file, names, out_name):
        arr = f"{out_name.upper()}_PHENOS"
        return ([f"# {label}",
                 f"{arr}=(" + " ".join(names) + ")",
                 f'for PHENO in "${{{arr}[@]}}"; do',
                 '  "$BOLT" --bfile="$GENO" \\',
                 f'    --phenoFile="$HERE/{pheno_file}" --phenoCol="$PHENO" \\',
                 '    ${COVARS[@]+"${COVARS[@]}"} \\',
                 '    $MODEL "${LD_ARGS[@]}" ${MAP_ARGS[@]+"${MAP_ARGS[@]}"} $EXTRA \\',
                 '    --numThreads="$THREADS" \\',
                 f'    --statsFile="$OUT/{out_name}.$PHENO.stats.gz" > "$OUT/{out_name}.$PHENO.log"',
                 "done", ""])

    L += loop("quantitative phenotypes, one BOLT-LMM run each: $OUT/quant.<name>.stats.gz", "pheno.txt",
              list(tables.pheno.columns), "quant")
    if "binary" in W.files:
        L += loop("binary traits (0/1): BOLT-LMM analyses them as quantitative (a linear mixed model; effects are "
                  "on the observed 0/1 scale)", "pheno_binary.txt", list(tables.binary.columns), "binary")
    L.append('echo "BOLT-LMM results in $OUT"')
    return "\n".join(L) + "\n"


def render_script(tables, written) -> str:
    """The text of the run script for ``written.fmt`` (see the module docstring)."""
    return {"regenie": _regenie, "plink2": _plink2, "plink1": _plink1, "bolt": _bolt}[written.fmt](tables, written)
