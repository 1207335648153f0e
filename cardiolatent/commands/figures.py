"""``cardiolatent figures``: every figure a results folder can give, as PNG and PDF, in one command."""

from __future__ import annotations

HELP = "draw every figure of a results folder (volcano, Manhattan, QQ, reproducibility, survival, manipulation)"
DESCRIPTION = (
    "Find the saved results under --results (the output folder of the other commands: every X.tsv with its "
    "X.summary.json, every folder with a summary.json; or a TOML file whose values name result files) and "
    "draw each one's figures in the house style (Okabe-Ito colours, 89 / 183 mm journal widths, 7 pt fonts, "
    "PNG at 300 dpi and PDF with embedded TrueType fonts): assoc -> volcano plot; gwas-results -> Manhattan "
    "across latents and QQ; icc and ensemble -> ICC distributions and the cross-seed |r| heat map; cox -> "
    "hazard-ratio forest plot and, with --groups, Kaplan-Meier / Nelson-Aalen curves by tertile with numbers "
    "at risk; manipulate -> the decoded grids. Writes OUT/<result>.<figure>.png and .pdf, OUT/figures.tsv "
    "(what was drawn from what) and OUT/skipped.tsv (each result or figure not drawn, with the reason); the "
    "folder is replaced as a unit. Without --results: the built-in synthetic cohort's results (computed "
    "once by the other commands with their defaults and cached beside the cohort, and printed; the GWAS only "
    "when plink2 is installed)."
)


def add_arguments(p) -> None:
    p.add_argument("--results", default=None,
                   help="results folder (searched recursively), one result file or folder, or a TOML file naming "
                        "result files (paths relative to it); default: the built-in cohort's results")
    p.add_argument("--out", default="figures", help="folder the figures are written to (replaced as a unit)")
    p.add_argument("--per-latent", default=None,
                   help="also a Manhattan and a QQ plot of each of these latents (comma-separated, or 'all') for "
                        "every gwas-results folder")
    p.add_argument("--genes", default=None,
                   help="gene file (TSV or BED: chrom, start, end, name) to label Manhattan loci by their nearest "
                        "gene; nothing is downloaded")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args) -> int:
    from pathlib import Path

    from cardiolatent.commands._common import check_out_folder
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.plotting.batch import MARKER, draw_figures, find_results

    check_out_folder(args.out, MARKER)
    gwas = {}
    if args.genes:
        if not Path(args.genes).is_file():
            raise CardiolatentError(f"--genes {args.genes}: no such file")
        gwas["genes"] = args.genes
    if args.per_latent:
        names = [x.strip() for x in args.per_latent.split(",") if x.strip()]
        if not names:
            raise CardiolatentError("--per-latent: give latent names (comma-separated) or 'all'")
        gwas["per_latent"] = True if names == ["all"] else names
    if args.results:
        root = Path(args.results)
        sources = find_results(root)
    else:
        from cardiolatent.commands._builtin_results import builtin_results

        root = builtin_results(quiet=args.quiet)
        if not args.quiet:
            print(f"the built-in cohort's results: {root}")
        sources = find_results(root)
    if not sources:
        raise CardiolatentError(f"--results {root}: no saved cardiolatent result found (files X.tsv with "
                                f"X.summary.json, or folders with summary.json)")
    run_ = draw_figures(sources, args.out, root=root if root.is_dir() else None, options={"GwasSummary": gwas},
                        progress=not args.quiet)
    if not args.quiet:
        for line in run_.summary_lines():
            print(line)
        print(f"wrote {len(run_.drawn)} figure(s) (PNG + PDF) to {args.out}; list in {Path(args.out) / 'figures.tsv'}")
    if run_.drawn.empty:
        raise CardiolatentError(f"--results {root}: no figure could be drawn ({len(run_.skipped)} skipped; "
                                f"see the lines above)")
    return 0
