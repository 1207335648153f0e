"""REGENIE: ``FID IID`` header, ``NA`` missing, binary 0/1, raw categorical covariates
(``--catCovarList``), time-to-event pairs (``--t2e``); ``run_regenie.sh`` (steps 1 and 2); results
``<prefix>_<pheno>.regenie[.gz]`` with ``LOG10P`` (never P)."""

from __future__ import annotations

import math

from cardiolatent.exports.formats import _script as S
from cardiolatent.exports.formats.base import ResultColumns, ToolFormat

RESULTS = ResultColumns(
    columns={"chrom": ("CHROM",), "pos": ("GENPOS",), "id": ("ID",), "effect_allele": ("ALLELE1",),
             "other_allele": ("ALLELE0",), "eaf": ("A1FREQ",), "info": ("INFO",), "n": ("N",),
             "test": ("TEST",), "beta": ("BETA",), "se": ("SE",), "mlog10p": ("LOG10P",)},
    suffixes=(".regenie",),
    required_all=("GENPOS",),
    required_any=("LOG10P",),
    name_sep="_",
    last_piece=False,
)


def render(tables, W) -> str:
    """``run_regenie.sh``: step 1 and step 2 per phenotype file (quantitative, binary, time to event)."""
    flag, path, sample = S.geno_defaults(tables, "regenie")
    if flag == "--bgen":  # a BGEN .sample was given: imputed data for step 2, the array data for step 1
        step1 = S.geno_block("STEP1_", "--bed", "/path/to/genotyped_array", "", "regenie")
        step2 = S.geno_block("STEP2_", flag, path, sample, "regenie")
    else:
        step1 = S.geno_block("STEP1_", flag, path, sample, "regenie")
        step2 = S.geno_block("STEP2_", flag, path, sample, "regenie", default_from="STEP1_")
    L = S.header(FORMAT, tables, 'mkdir -p "$OUT"')
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
    extra = S.flags(W)
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


def result_files(tables, W) -> list[tuple[str, str]]:
    """Step 2 writes ``$OUT/step2_<run>_<phenotype>.regenie`` (and ``step2_<run>.log``)."""
    out = [(c, f"step2_quant_{c}.regenie") for c in tables.pheno.columns]
    if "binary" in W.files:
        out += [(c, f"step2_binary_{c}.regenie") for c in tables.binary.columns]
    return out


def example_result(rows) -> str:
    """A REGENIE step-2 file: space separated, ``LOG10P`` instead of P."""
    head = ["CHROM", "GENPOS", "ID", "ALLELE0", "ALLELE1", "A1FREQ", "N", "TEST", "BETA", "SE", "CHISQ", "LOG10P",
            "EXTRA"]
    lines = [" ".join(head)]
    for r in rows.itertuples():
        lines.append(" ".join(map(str, [r.chrom, r.pos, r.id, r.other_allele, r.effect_allele, repr(r.eaf),
                                        int(r.n), "ADD", repr(r.beta), repr(r.se), "1.0",
                                        repr(-math.log10(r.p)), "NA"])))
    return "\n".join(lines) + "\n"


FORMAT = ToolFormat(
    name="regenie", tool="REGENIE", hash_header=False, missing="NA", control="0", case="1",
    minus9_missing=False, raw_categorical=True, t2e=True, script="run_regenie.sh", render=render,
    executable=("REGENIE", "regenie"), results=RESULTS, result_files=result_files, example_result=example_result,
)
