"""PLINK 1.9: ``FID IID`` header, ``-9`` missing (moved to another code when a real value is -9,
with ``--missing-phenotype``), binary 1/2, dummy-coded covariates only; ``run_plink1.sh``
(``--linear`` / ``--logistic`` with ``--all-pheno``); results ``<prefix>.<pheno>.assoc.linear`` /
``.assoc.logistic`` (whitespace aligned; no frequency or standard-error column: SE is
``beta / STAT``)."""

from __future__ import annotations

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.formats import _script as S
from cardiolatent.exports.formats.base import ResultColumns, ToolFormat

#: missing codes tried, in order, when a real value equals the previous one
MISSING_CODES = ("-9", "-99999", "-999999999")

RESULTS = ResultColumns(
    columns={"chrom": ("CHR",), "pos": ("BP",), "id": ("SNP",), "effect_allele": ("A1",), "n": ("NMISS",),
             "test": ("TEST",), "beta": ("BETA",), "or": ("OR",), "se": ("SE",), "stat": ("STAT",), "p": ("P",)},
    suffixes=(".assoc.linear", ".assoc.logistic"),
    required_all=("CHR", "SNP", "BP", "P"),
    required_any=("NMISS", "TEST"),
    name_sep=".",
    last_piece=True,
)


def missing_rule(W, cells_equal_to, ids) -> None:
    """Pick the first code of :data:`MISSING_CODES` no written value equals; a moved code adds
    ``--missing-phenotype CODE`` to every call."""
    for code in MISSING_CODES:
        if not cells_equal_to(float(code)):
            W.missing = code
            break
    else:
        raise CardiolatentError("values equal every PLINK 1.9 missing code tried "
                                f"({', '.join(MISSING_CODES)}): export for plink2 instead")
    if W.missing != "-9":
        W.extra_flags += ["--missing-phenotype", W.missing]
        W.notes.append(f"a written value equals -9, which PLINK 1.9 reads as missing: missing values are "
                       f"written as {W.missing} and the script passes --missing-phenotype {W.missing}")


def render(tables, W) -> str:
    """``run_plink1.sh``: ``--linear`` on the phenotypes, ``--logistic`` on binary traits."""
    flag, path, _ = S.geno_defaults(tables, "plink1")
    if flag != "--bfile":
        flag, path = "--bfile", "/path/to/genotypes"
    L = S.plink_preamble(FORMAT, tables, "# Genotypes: PLINK 1 binary fileset prefix (.bed/.bim/.fam)", flag, path,
                         "")
    covar = ['--covar "$HERE/covar.txt"'] if "covar" in W.files else []
    extra = S.flags(W)

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


def result_files(tables, W) -> list[tuple[str, str]]:
    """``$OUT/quant.<phenotype>.assoc.linear``, ``$OUT/binary.<phenotype>.assoc.logistic``."""
    out = [(c, f"quant.{c}.assoc.linear") for c in tables.pheno.columns]
    if "binary" in W.files:
        out += [(c, f"binary.{c}.assoc.logistic") for c in tables.binary.columns]
    return out


def example_result(rows) -> str:
    """An ``.assoc.linear`` file as PLINK 1.9 writes it: columns right-aligned with runs of spaces."""
    head = ["CHR", "SNP", "BP", "A1", "TEST", "NMISS", "BETA", "STAT", "P"]
    body = [[r.chrom, r.id, r.pos, r.effect_allele, "ADD", int(r.n), repr(r.beta), repr(r.beta / r.se), repr(r.p)]
            for r in rows.itertuples()]
    width = [max(len(str(x)) for x in col) + 1 for col in zip(head, *body)]
    return "\n".join("".join(str(x).rjust(w) for x, w in zip(line, width)) + " " for line in [head] + body) + "\n"


FORMAT = ToolFormat(
    name="plink1", tool="PLINK 1.9", hash_header=False, missing="-9", control="1", case="2",
    minus9_missing=True, raw_categorical=False, t2e=False, script="run_plink1.sh", render=render,
    executable=("PLINK", "$(command -v plink1.9 || echo plink)"), missing_rule=missing_rule, results=RESULTS,
    result_files=result_files, example_result=example_result,
)
