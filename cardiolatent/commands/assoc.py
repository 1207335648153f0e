"""``cardiolatent assoc``: latents against traits and diseases (OLS, or logistic for diseases)."""

from __future__ import annotations

HELP = "association scan: every latent against traits/diseases with covariates (OLS / logistic)"
DESCRIPTION = (
    "For every latent and trait: OLS latent ~ trait + covariates (the paper's model), reporting the "
    "trait term; with --direction outcome, logistic disease ~ latent + covariates for binary traits. "
    "Traits and covariates are the registry's names or field ids, imaging covariates (age = age at the "
    "imaging visit, sex, bsa, height, bmi, waist, centre, imaging_year, visit, genotyping_batch, pc1..pc40) "
    "and outcomes from the definitions file (AF, MI, HF, HTN, T2D: case = diagnosis year within "
    "[imaging year - 5, imaging year + 1]). Covariate presets: paper_traits (age, sex, bsa, centre, "
    "imaging_year), paper_disease (+ height, waist), gwas, none. Categorical covariates (centre, year, "
    "batch, visit) become dummies; complete cases per trait. Output: one row per latent x trait with "
    "beta, se, t (z for logistic), p, n, n_cases, Bonferroni / Benjamini-Hochberg / M_eff significance "
    "and optional Westfall-Young max-T P values; a .summary.json beside it lists skipped traits, "
    "excluded participants and notes."
)


def add_arguments(p) -> None:
    import argparse

    from cardiolatent.commands._common import add_analysis_arguments, add_cluster_arguments

    add_analysis_arguments(p)
    p.add_argument("--traits", default=None, help="comma-separated traits: registry names, field ids, main-data columns in any naming "
                        "(30000-2.0, p30000_i2: that instance for every row), outcomes, or trait presets "
                        "(cardiac_idps, ...); results are labelled by registry name")
    p.add_argument("--outcomes", default=None,
                   help="comma-separated outcomes from the definitions file (AF, MI, HF, HTN, T2D, ...), tested as "
                        "binary traits (case = diagnosis year within [imaging year - 5, imaging year + 1])")
    p.add_argument("--covariates", default="paper_traits",
                   help="comma-separated covariate names, field names/ids/columns and/or presets (paper_traits, "
                        "paper_disease, gwas, none)")
    p.add_argument("--out", default=None, help="output table (.tsv, .csv or .parquet); default: print")
    p.add_argument("--direction", choices=["latent", "outcome"], default="latent",
                   help="latent: OLS latent ~ trait + covariates; outcome: logistic disease ~ latent + covariates")
    p.add_argument("--no-standardise", dest="standardise", action="store_false",
                   help="keep latents and continuous traits in their units (default: z-scored, the paper)")
    p.add_argument("--no-standardize", dest="standardise", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--inverse-normal", action="store_true",
                   help="rank-based inverse normal transform of latents and continuous traits first")
    p.add_argument("--min-cases", type=int, default=200, help="binary traits with fewer cases are not tested")
    p.add_argument("--min-nonmissing", type=float, default=0.3,
                   help="traits with a smaller non-missing fraction are not tested")
    p.add_argument("--permutations", type=int, default=0,
                   help="Westfall-Young max-T permutations (the paper: 1000); 0 = off")
    p.add_argument("--seed", type=int, default=0, help="permutation seed")
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise significance level")
    p.add_argument("--meff", type=float, default=None,
                   help="effective number of latents for the M_eff threshold (default: Li & Ji from the data)")
    add_cluster_arguments(p, what="fit chunks of latents on Dask workers (the design matrix and outcomes sent to "
                             "each worker once)", where=CLUSTER_WHERE)


#: where a cluster pays, said in every --cluster help of the scans
CLUSTER_WHERE = ("On one machine the scans take seconds to minutes and need no cluster; it is for 500,000 "
                 "participants x thousands of phenotypes x many outcomes. Results are identical to the "
                 "one-process scan")


def run(args) -> int:
    from cardiolatent.analysis.association import association_scan
    from cardiolatent.analysis.design import expand_names
    from cardiolatent.commands._common import analysis_inputs, latents_path, save_and_report
    from cardiolatent.latents import read_latents
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.commands._common import (check_out_file, chunk_map_for, cluster_context,
                                               cluster_from_args)

    check_out_file(args.out)
    if args.permutations < 0:
        raise CardiolatentError(f"--permutations must be 0 (off) or more, not {args.permutations}")
    if args.min_cases < 1:
        raise CardiolatentError(f"--min-cases must be at least 1, not {args.min_cases}")
    if not 0 <= args.min_nonmissing <= 1:
        raise CardiolatentError(f"--min-nonmissing is a fraction between 0 and 1, not {args.min_nonmissing}")

    if args.meff is not None and not args.meff > 0:
        raise CardiolatentError(f"--meff must be a positive number of independent latents, not {args.meff}")
    if not 0 < args.alpha < 1:
        raise CardiolatentError(f"--alpha must be between 0 and 1, not {args.alpha}")
    traits = ",".join(t for t in (args.traits, args.outcomes) if t)
    if not traits:
        raise CardiolatentError("give --traits and/or --outcomes")
    spec = cluster_from_args(args)
    # the latents first: their large arrays are allocated before the main-data parse fragments the
    # heap (later large allocations then page-fault much more slowly)
    lat = read_latents(latents_path(args), visits=args.visits, columns=args.latent_columns)
    main, defs = analysis_inputs(args, expand_names([traits, args.covariates]))
    with cluster_context(spec, args.quiet) as client:
        res = association_scan(lat, main, traits, args.covariates, direction=args.direction,
                               standardise=args.standardise, inverse_normal=args.inverse_normal,
                               min_cases=args.min_cases, min_nonmissing=args.min_nonmissing,
                               permutations=args.permutations, seed=args.seed, alpha=args.alpha, meff=args.meff,
                               definitions=defs, visits=args.visits, latent_columns=args.latent_columns,
                               chunk_map=chunk_map_for(client))
    save_and_report(res, args)
    return 0
