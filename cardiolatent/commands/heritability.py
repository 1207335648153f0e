"""``cardiolatent heritability``: SNP heritability and genetic correlation (BOLT-REML and LD score regression)."""

from __future__ import annotations

HELP = "SNP heritability and genetic correlation of latents or phenotypes (BOLT-REML and/or LD score regression)"
DESCRIPTION = (
    "From individual-level data (--latents, or --pheno: any table of eid plus phenotype columns; with --ukb for "
    "the covariates and --genotypes, a PLINK 1 prefix): BOLT-REML (Debian's bolt-lmm) on the files `export "
    "--format bolt` writes, and/or LD score regression on a GWAS of the same phenotypes (cardiolatent's own "
    "OLS scan, the model of plink2 --glm) with LD scores computed in-sample from --genotypes. From summary "
    "statistics (--sumstats: the GWAS files `gwas-results` reads): LD score regression with --ld-scores (ldsc's "
    "files of a reference panel) or LD scores computed from --genotypes. h2 is on the scale left after the "
    "covariates. Writes OUT (h2 per phenotype and method: phenotype, method, h2, se, n, status and the method's "
    "extras), OUT.rg.tsv (genetic correlations with --rg), OUT.excluded.tsv, OUT.summary.json and BOLT's logs. "
    "Without --latents/--pheno/--sumstats: the built-in synthetic cohort's latents and genotypes."
)


def add_arguments(p) -> None:
    from cardiolatent.commands._common import add_latents_argument

    src = p.add_argument_group("what to analyse (one of)")
    add_latents_argument(src)
    src.add_argument("--pheno", default=None,
                     help="table of eid (optional instance) plus phenotype columns, instead of --latents")
    src.add_argument("--sumstats", nargs="+", default=None,
                     help="GWAS results (folders, files or globs `gwas-results` reads): LD score regression only")
    p.add_argument("--latent-columns", default=None,
                   help="phenotypes to analyse (comma-separated names or regular expressions); default: all")
    p.add_argument("--ukb", default=None, help="main data for the covariates (default: the built-in cohort's)")
    p.add_argument("--genotypes", default=None,
                   help="PLINK 1 prefix (.bed/.bim/.fam) for BOLT-REML and in-sample LD scores "
                        "(default: the built-in cohort's)")
    p.add_argument("--method", choices=["bolt-reml", "ldsc", "both"], default=None,
                   help="default: both with individual-level data, ldsc with --sumstats")
    p.add_argument("--covariates", default="gwas", help="covariates, as `export --covariates`")
    p.add_argument("--transform", default="int", help="phenotype transform, as `export --transform` (int, raw, ...)")
    p.add_argument("--rg", choices=["none", "pairs", "all"], default="none",
                   help="genetic correlations: none; pairs (BOLT: one two-trait REML per pair; LDSC: every pair); "
                        "all (BOLT: one multi-trait REML; LDSC: every pair)")
    p.add_argument("--ld-scores", default=None,
                   help="LD scores in ldsc's format (PREFIX.l2.ldscore.gz, per-chromosome PREFIX<chr>..., or @ "
                        "for the chromosome); default: computed from --genotypes")
    p.add_argument("--ld-window-kb", type=float, default=1000.0, help="window of LD scores computed here, kb")
    p.add_argument("--n", type=float, default=None, help="sample size for summary statistics without one (BOLT-LMM)")
    p.add_argument("--threads", type=int, default=1, help="BOLT's --numThreads per run")
    p.add_argument("--out", default="h2.tsv", help="the h2 table (.tsv); beside it .rg.tsv, .summary.json, logs")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")


def run(args) -> int:
    import tempfile
    from pathlib import Path

    from cardiolatent.cli import main as cli
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.genetics.ldsc import ldsc
    from cardiolatent.genetics.ldscores import compute_ld_scores, read_ld_scores
    from cardiolatent.genetics.reml import bolt_reml
    from cardiolatent.genetics.result import HeritabilityResult, HeritabilitySummary
    from cardiolatent.gwas.scan import linear_scan
    from cardiolatent.io_utils import check_table_output

    check_table_output(args.out, "--out")
    given = [x for x in ("latents", "pheno", "sumstats") if getattr(args, x)]
    if len(given) > 1:
        raise CardiolatentError(f"give one of --latents, --pheno, --sumstats (got --{' and --'.join(given)})")
    method = args.method or ("ldsc" if args.sumstats else "both")
    if args.sumstats and method != "ldsc":
        raise CardiolatentError(f"--method {method} needs individual-level data (--latents or --pheno); summary "
                                "statistics (--sumstats) give LD score regression only")
    if args.ld_window_kb <= 0:
        raise CardiolatentError(f"--ld-window-kb must be positive, not {args.ld_window_kb:g}")
    if args.threads < 1:
        raise CardiolatentError(f"--threads must be at least 1, not {args.threads}")
    for what, path in (("--pheno", args.pheno), ("--latents", args.latents), ("--ukb", args.ukb)):
        if path is not None and not Path(path).exists():
            raise CardiolatentError(f"{what} {path} does not exist")
    if args.genotypes is not None and not Path(str(_prefix(args.genotypes)) + ".bed").exists():
        raise CardiolatentError(f"--genotypes {args.genotypes}: no {_prefix(args.genotypes)}.bed (give the PLINK 1 "
                                "prefix)")
    quiet = args.quiet
    table, ukb, geno = args.pheno or args.latents, args.ukb, args.genotypes
    if not args.sumstats and (table is None or ukb is None or geno is None):
        from cardiolatent.demo import default_latents

        paths, lat = default_latents(progress=not quiet)
        table, ukb, geno = table or str(lat), ukb or str(paths.main), geno or str(paths.genotypes)
        if not quiet:
            print(f"the built-in synthetic cohort: {paths.root}")
    rg = args.rg != "none"
    parts = []

    def ld_scores():
        if args.ld_scores:
            return read_ld_scores(args.ld_scores)
        if geno is None:
            raise CardiolatentError("LD score regression needs --ld-scores or --genotypes (to compute them)")
        return compute_ld_scores(geno, window_kb=args.ld_window_kb)

    def export(fmt: str, folder: Path) -> None:
        argv = ["export", "--format", fmt, "--latents", str(table), "--ukb", str(ukb), "--covariates",
                args.covariates, "--transform", args.transform, "--samples", f"{_prefix(geno)}.fam", "--out",
                str(folder), "--quiet"]
        if args.latent_columns:
            argv += ["--latent-columns", args.latent_columns]
        rc = cli(argv)
        if rc:
            raise CardiolatentError(f"the export for {fmt} failed (its message is above)")

    with tempfile.TemporaryDirectory(prefix="cardiolatent_h2_") as tmp:
        tmp = Path(tmp)
        if args.sumstats:
            r = ldsc(args.sumstats, ld_scores(), rg=rg, n=args.n)
            parts.append(HeritabilityResult.from_tables(
                r.h2, r.rg, summary=HeritabilitySummary(methods=["ldsc"], source=", ".join(args.sumstats),
                                                        genotypes=str(r.summary.get("ld_scores", "")))))
        else:
            if method in ("bolt-reml", "both"):
                export("bolt", tmp / "bolt")
                parts.append(bolt_reml(tmp / "bolt", geno, joint={"none": "none", "pairs": "pairs", "all": "all"}[
                    args.rg], threads=args.threads, progress=not quiet))
            if method in ("ldsc", "both"):
                export("plink2", tmp / "plink2")
                linear_scan(tmp / "plink2", geno, tmp / "plink2" / "results", progress=not quiet)
                r = ldsc(tmp / "plink2" / "results", ld_scores(), rg=rg)
                parts.append(HeritabilityResult.from_tables(
                    r.h2, r.rg, summary=HeritabilitySummary(
                        methods=["ldsc"], source=f"{table} (GWAS by cardiolatent's own OLS scan)",
                        genotypes=str(r.summary.get("ld_scores", geno)))))
        res = parts[0] if len(parts) == 1 else HeritabilityResult.combine(parts)
        res.save(args.out)
    if not quiet:
        res.print_summary()
        print(f"wrote {args.out}")
    return 0


def _prefix(genotypes) -> str:
    """The PLINK 1 prefix of ``genotypes`` (a prefix, or a path ending in .bed/.bim/.fam; a prefix with
    other dots, such as ``ukb.chr1-22``, stays whole)."""
    text = str(genotypes)
    return text[:-4] if text.endswith((".bed", ".bim", ".fam")) else text
