"""BOLT-LMM: ``FID IID`` header (never ``#FID``), ``NA`` missing, binary 0/1 (analysed as
quantitative), raw categorical covariates (``--covarCol``); BOLT reads -9 as missing with no option
to change that, so a real -9 value is an error; ``run_bolt.sh`` (one run per phenotype); results
``<prefix>.<pheno>.stats[.gz]`` (``--statsFile``), ``P_BOLT_LMM`` preferred over ``P_BOLT_LMM_INF``."""

from __future__ import annotations

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.formats import _script as S
from cardiolatent.exports.formats.base import ResultColumns, ToolFormat

RESULTS = ResultColumns(
    columns={"chrom": ("CHR",), "pos": ("BP",), "id": ("SNP",), "effect_allele": ("ALLELE1",),
             "other_allele": ("ALLELE0",), "eaf": ("A1FREQ",), "info": ("INFO",), "beta": ("BETA",),
             "se": ("SE",), "p": ("P_BOLT_LMM", "P_BOLT_LMM_INF")},
    suffixes=(".stats", ".bolt", ".bolt.stats"),
    required_all=("SNP", "BP"),
    required_any=("P_BOLT_LMM", "P_BOLT_LMM_INF"),
    name_sep=".",
    last_piece=True,
    generic_suffix=True,
)


def missing_rule(W, cells_equal_to, ids) -> None:
    """A real -9 value is an error (BOLT-LMM reads -9 as missing and has no option to change that)."""
    hits = cells_equal_to(-9.0)
    if hits:
        c, r = hits[0]
        raise CardiolatentError(f"column {c} is -9 for eid {int(ids['eid'].iloc[r])}; BOLT-LMM reads -9 as "
                                "missing and has no option to change that: transform or drop that column")


def render(tables, W) -> str:
    """``run_bolt.sh``: one BOLT-LMM run per phenotype (and per binary trait)."""
    flag, path, _ = S.geno_defaults(tables, "bolt")
    if flag != "--bfile":
        flag, path = "--bfile", "/path/to/genotypes"
    L = S.header(FORMAT, tables, 'mkdir -p "$OUT"')
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


def result_files(tables, W) -> list[tuple[str, str]]:
    """``$OUT/quant.<phenotype>.stats.gz`` (one run per phenotype, log ``quant.<phenotype>.log``)."""
    out = [(c, f"quant.{c}.stats.gz") for c in tables.pheno.columns]
    if "binary" in W.files:
        out += [(c, f"binary.{c}.stats.gz") for c in tables.binary.columns]
    return out


def example_result(rows) -> str:
    """A ``--statsFile`` table (tab separated)."""
    head = ["SNP", "CHR", "BP", "GENPOS", "ALLELE1", "ALLELE0", "A1FREQ", "F_MISS", "BETA", "SE", "P_BOLT_LMM_INF",
            "P_BOLT_LMM"]
    return S.tsv(head, [[r.id, r.chrom, r.pos, 0, r.effect_allele, r.other_allele, repr(r.eaf), 0, repr(r.beta),
                         repr(r.se), "0.5", repr(r.p)] for r in rows.itertuples()])


FORMAT = ToolFormat(
    name="bolt", tool="BOLT-LMM", hash_header=False, missing="NA", control="0", case="1",
    minus9_missing=True, raw_categorical=True, t2e=False, script="run_bolt.sh", render=render,
    executable=("BOLT", "bolt"), missing_rule=missing_rule, results=RESULTS, result_files=result_files,
    example_result=example_result,
)
