"""``cardiolatent icc``: reproducibility of the latents between visits or between seeds (ICC, M_eff)."""

from __future__ import annotations

HELP = "reproducibility: intraclass correlations of the latents between visits 2/3 or between seeds, and M_eff"
DESCRIPTION = (
    "Intraclass correlations (all six Shrout-Fleiss forms: ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k, "
    "with F tests and confidence intervals) of every latent. --between visits: participants with "
    "latents at both imaging visits (instance 2 and 3) are the subjects and the visits the raters; "
    "every latent column S{seed}_Z{k} is one variable (one output row per form). --between seeds: "
    "each latent of the reference seed with its best-|r| partner in every other seed (sign-corrected; "
    "--matching hungarian for the one-to-one assignment) as raters, one row per participant (visit 2, "
    "visit 3 only without visit 2). A participant with a missing value in a latent is left out of that latent only (n per "
    "row). The paper does not say which ICC form it used; the printed summary headlines ICC3 = "
    "ICC(3,1) = ICC(C,1) (two-way mixed, consistency, single measurement: visits/seeds are fixed "
    "raters, analyses use one measurement, and a shift common to everyone does not affect "
    "associations of standardised latents); change it with --report-form. Writes a tidy table "
    "(latent, type, icc, ci_low, ci_high, f, df1, df2, p, n, k, description, reason; TSV, CSV or "
    "parquet by the extension of --out) and <stem>.summary.json next to it with the counts, the "
    "median ICC per form and the effective number of independent latents M_eff (Li & Ji; "
    "Cheverud/Nyholt) per seed and overall."
)


def add_arguments(p) -> None:
    from cardiolatent.commands._common import add_latents_argument, add_standardise_argument

    add_latents_argument(p, with_ukb=False)
    p.add_argument("--between", required=True, choices=["visits", "seeds"],
                   help="raters: the two imaging visits, or the seeds' models")
    p.add_argument("--out", required=True, help="output table (.tsv, .csv or .parquet)")
    p.add_argument("--forms", nargs="+", default="all",
                   help="ICC forms: any of ICC1 ICC2 ICC3 ICC1k ICC2k ICC3k (or ICC(3,1), ICC(C,1), ...), "
                        "or all")
    p.add_argument("--report-form", default="ICC3",
                   help="form headlined in the printed summary and summary.json (the paper does not "
                        "say which it used)")
    p.add_argument("--alpha", type=float, default=0.05, help="confidence intervals are 1 - alpha")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds to use, in order (default: those present, in the paper's order "
                        "1701 1993 42 1994 2023)")
    p.add_argument("--reference", type=int, default=None,
                   help="--between seeds: seed whose latents are the variables (default: first seed)")
    p.add_argument("--threshold", type=float, default=None,
                   help="--between seeds: keep only reference latents whose partners all have "
                        "|Pearson r| above this (the paper used 0.8); default keep all")
    p.add_argument("--matching", choices=["best", "hungarian"], default="best",
                   help="--between seeds: best-|r| partner per seed (the paper's) or the one-to-one "
                        "Hungarian assignment")
    add_standardise_argument(p, "--between seeds: use each seed's latents as they are (default: z-score every "
                                "latent column first, since each seed's latent scale and offset are arbitrary)",
                             default=True)
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from cardiolatent.analysis import reproducibility as rep
    from cardiolatent.commands._common import latents_path
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.stats.intraclass import normalise_forms
    from cardiolatent.commands._common import check_out_file

    check_out_file(args.out)

    forms = normalise_forms(args.forms)
    if not 0 < args.alpha < 1:
        raise CardiolatentError(f"--alpha must be between 0 and 1, not {args.alpha}")
    report_form = normalise_forms([args.report_form])[0]
    if report_form not in forms:
        if args.report_form != "ICC3":  # named explicitly: say so
            raise CardiolatentError(f"--report-form {args.report_form} is not among --forms {' '.join(forms)}")
        report_form = forms[0]
    lat = latents_path(args)
    if args.between == "visits":
        for opt in ("reference", "threshold"):
            if getattr(args, opt) is not None:
                raise CardiolatentError(f"--{opt} applies to --between seeds only")
        res = rep.icc_between_visits(lat, seeds=args.seeds, forms=forms, alpha=args.alpha,
                                     report_form=report_form)
    else:
        res = rep.icc_between_seeds(lat, threshold=args.threshold, reference=args.reference, seeds=args.seeds,
                                    forms=forms, alpha=args.alpha, matching=args.matching,
                                    standardise=args.standardise, report_form=report_form)
    paths = res.save(args.out)
    if not args.quiet:
        res.print_summary()
        print(f"wrote {len(res.table):,} rows to {args.out} and {paths['summary']}")
    return 0
