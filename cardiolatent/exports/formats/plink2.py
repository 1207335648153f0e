"""PLINK 2: ``#FID IID`` header (``#IID`` when the .psam has no FID), ``NA`` missing, binary 1/2,
dummy-coded covariates only; ``run_plink2.sh`` (``--glm`` plus ``--freq``); results
``<prefix>.<pheno>.glm.linear`` / ``.glm.logistic[.hybrid]`` / ``.glm.firth`` and the run's
``<prefix>.afreq`` (allele frequencies: ``eaf`` and the minor allele count for ``gwas-results``).

PLINK 2 reads the number -9 as missing by default: a real -9 value adds
``--no-input-missing-phenotype`` to every call (only ``NA`` is then missing).
"""

from __future__ import annotations

from cardiolatent.exports.formats import _script as S
from cardiolatent.exports.formats.base import ResultColumns, ToolFormat

RESULTS = ResultColumns(
    columns={"chrom": ("#CHROM", "CHROM"), "pos": ("POS",), "id": ("ID",), "ref": ("REF",),
             "alt": ("ALT", "ALT1"), "a1": ("A1",), "eaf": ("A1_FREQ",), "info": ("MACH_R2",),
             "n": ("OBS_CT",), "test": ("TEST",), "beta": ("BETA",), "or": ("OR",),
             "se": ("SE", "LOG(OR)_SE"), "p": ("P",), "mlog10p": ("LOG10_P", "NEG_LOG10_P")},
    suffixes=(".glm.linear", ".glm.logistic.hybrid", ".glm.logistic", ".glm.firth"),
    required_all=("POS",),
    required_any=("P", "LOG10_P", "NEG_LOG10_P"),
    name_sep=".",
    last_piece=True,
    freq_sidecars=(".afreq",),
    alleles_from_ref_alt=True,
)


def missing_rule(W, cells_equal_to, ids) -> None:
    """A real -9 value: pass ``--no-input-missing-phenotype`` (PLINK 2 reads -9 as missing by default)."""
    hits = cells_equal_to(-9.0)
    if hits:
        # --no-psam-pheno: with -9 no longer missing, plink2 would read the .fam's -9 phenotype column
        # as a constant phenotype and stop ("--glm quantitative phenotype 'PHENO1' is constant")
        W.extra_flags += ["--no-input-missing-phenotype", "--no-psam-pheno"]
        W.notes.append(f"column {hits[0][0]} has the value -9, which PLINK 2 reads as missing by default: "
                       "the script passes --no-input-missing-phenotype (only NA is missing) and --no-psam-pheno")


def render(tables, W) -> str:
    """``run_plink2.sh``: one ``--glm`` run per phenotype file, each with ``--freq``."""
    flag, path, sample = S.geno_defaults(tables, "plink2")
    L = S.plink_preamble(FORMAT, tables, "# Genotypes: --bfile PREFIX, --pfile PREFIX, or --bgen FILE.bgen with "
                                         "SAMPLE=FILE.sample", flag, path, sample)
    covar = ['--covar "$HERE/covar.txt" --covar-variance-standardize'] if "covar" in W.files else []
    glm = "--glm hide-covar" if covar else "--glm allow-no-covars"
    extra = S.flags(W)

    def run(label, pheno_file, out_name, glm_mods=""):
        return ([f"# {label}",
                 f"# allele frequencies: --freq writes $OUT/{out_name}.afreq (read by 'cardiolatent gwas-results' "
                 "for EAF and --min-mac)",
                 '"$PLINK2" "${ARGS[@]}" --keep "$HERE/keep.txt" \\',
                 f'  --pheno "$HERE/{pheno_file}" \\']
                + [f"  {c} \\" for c in covar + ([extra] if extra else [])]
                + ["  --freq \\",
                   f"  {glm}{glm_mods} $FILTERS --threads \"$THREADS\" \\",
                   f'  --out "$OUT/{out_name}"', ""])

    L += run("quantitative phenotypes: $OUT/quant.<name>.glm.linear", "pheno.txt", "quant")
    if "binary" in W.files:
        L += run("binary traits (1 = control, 2 = case): $OUT/binary.<name>.glm.logistic.hybrid",
                 "pheno_binary.txt", "binary", " firth-fallback")
    L.append('echo "PLINK 2 results in $OUT"')
    return "\n".join(L) + "\n"


def result_files(tables, W) -> list[tuple[str, str]]:
    """``$OUT/quant.<phenotype>.glm.linear``, ``$OUT/binary.<phenotype>.glm.logistic.hybrid``."""
    out = [(c, f"quant.{c}.glm.linear") for c in tables.pheno.columns]
    if "binary" in W.files:
        out += [(c, f"binary.{c}.glm.logistic.hybrid") for c in tables.binary.columns]
    return out


def example_result(rows) -> str:
    """A ``--glm`` file with the default columns (no frequency: that is in the ``.afreq``)."""
    head = ["#CHROM", "POS", "ID", "REF", "ALT", "A1", "TEST", "OBS_CT", "BETA", "SE", "T_STAT", "P", "ERRCODE"]
    return S.tsv(head, [[r.chrom, r.pos, r.id, r.other_allele, r.effect_allele, r.effect_allele, "ADD", int(r.n),
                         repr(r.beta), repr(r.se), repr(r.beta / r.se), repr(r.p), "."] for r in rows.itertuples()])


def sidecar_files(rows, prefix: str) -> dict[str, str]:
    """The run's ``<prefix>.afreq`` (``--freq``): ALT frequency per variant."""
    head = ["#CHROM", "ID", "REF", "ALT", "PROVISIONAL_REF?", "ALT_FREQS", "OBS_CT"]
    return {f"{prefix}.afreq": S.tsv(head, [[r.chrom, r.id, r.other_allele, r.effect_allele, "Y", repr(r.eaf),
                                             2 * int(r.n)] for r in rows.itertuples()])}


FORMAT = ToolFormat(
    name="plink2", tool="PLINK 2", hash_header=True, missing="NA", control="1", case="2",
    minus9_missing=True, raw_categorical=False, t2e=False, script="run_plink2.sh", render=render,
    executable=("PLINK2", "plink2"), missing_rule=missing_rule, iid_only_psam=True, results=RESULTS,
    result_files=result_files, example_result=example_result, sidecar_files=sidecar_files,
)
