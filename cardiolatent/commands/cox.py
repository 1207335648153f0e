"""``cardiolatent cox``: Cox models of the latents for incident outcomes (AF, MI, ...)."""

from __future__ import annotations

HELP = "Cox models: hazard ratio per SD of every latent for incident AF, MI or any defined outcome"
DESCRIPTION = (
    "One Cox proportional-hazards model per latent and outcome (all latents fitted together: batched "
    "Newton-Raphson, Efron ties): hazard ratio per SD of the latent with covariates, 95% CI, P and "
    "Harrell's C-index. Incident events only: time from the imaging visit of each participant's row "
    "(visit 2, else visit 3) to the first record of the outcome, in years (days / 365.25), censored at "
    "death, the administrative date (2023-10-31) and --max-followup years; participants with the "
    "outcome on or before the visit (prevalent) are excluded and counted. --groups LATENT adds the "
    "paper's tertile analysis of that latent (or of --score FILE): hazard ratios with each group as "
    "reference and Kaplan-Meier / Nelson-Aalen curves overall and by sex, written beside --out."
)


def add_arguments(p) -> None:
    import argparse

    from cardiolatent.commands._common import add_analysis_arguments, add_max_followup_argument

    add_analysis_arguments(p)
    p.add_argument("--outcomes", dest="outcomes", default="AF,MI",
                   help="comma-separated outcome names from the definitions file")
    p.add_argument("--outcome", dest="outcomes", help=argparse.SUPPRESS)
    p.add_argument("--covariates", default="age,sex", help="comma-separated covariate names, field names/ids/columns (30000-2.0) and/or presets")
    p.add_argument("--out", default=None, help="output table (.tsv, .csv or .parquet); default: print")
    p.add_argument("--strata", default=None, help="variable giving separate baseline hazards (e.g. sex)")
    p.add_argument("--robust", action="store_true", help="robust (sandwich) standard errors")
    p.add_argument("--ph-test", action="store_true",
                   help="proportional-hazards check: scaled Schoenfeld residual test of each latent (rank time)")
    add_max_followup_argument(p)
    p.add_argument("--groups", default=None,
                   help="a latent column (or 'score' with --score) for the tertile analysis and curves")
    p.add_argument("--score", default=None, help="table with eid (and optionally instance) and a 'score' column")
    p.add_argument("--quantiles", type=int, default=3, help="number of groups for --groups (3 = tertiles)")
    from cardiolatent.commands._common import add_cluster_arguments
    from cardiolatent.commands.assoc import CLUSTER_WHERE

    add_cluster_arguments(p, what="fit chunks of latents on Dask workers (the design matrix and outcomes sent to "
                             "each worker once)", where=CLUSTER_WHERE)


def run(args) -> int:
    from cardiolatent.analysis.design import expand_names
    from cardiolatent.analysis.survival import cox_latents
    from cardiolatent.commands._common import (analysis_inputs, latents_path, max_followup, save_and_report,
                                               write_output)
    from cardiolatent.latents import read_latents
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.io_utils import read_table
    import numpy as np
    import pandas as pd
    from cardiolatent.commands._common import check_out_file

    check_out_file(args.out)
    from cardiolatent.commands._common import chunk_map_for, cluster_context, cluster_from_args

    if args.groups and args.quantiles < 2:
        raise CardiolatentError(f"--quantiles must be 2 or more groups, not {args.quantiles}")
    spec = cluster_from_args(args)

    outcomes = expand_names(args.outcomes)
    names = expand_names([args.covariates] + ([args.strata] if args.strata else []) + outcomes + ["sex"])
    groups = args.groups
    if groups == "score":
        if not args.score:
            raise CardiolatentError("--groups score needs --score FILE (columns eid[, instance], score)")
        groups = read_table(args.score, what="score table")
        if "eid" not in groups.columns or "score" not in groups.columns:
            raise CardiolatentError(f"{args.score} needs columns 'eid' and 'score'")
        num = pd.to_numeric(groups["score"], errors="coerce")
        bad = num.isna() & groups["score"].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise CardiolatentError(f"{args.score}: column 'score' holds {groups['score'].iloc[i]!r} for eid "
                                    f"{groups['eid'].iloc[i]}, not a number ({int(bad.sum())} such value(s))")
        groups = groups.assign(score=num)
    # the latents first: their large arrays are allocated before the main-data parse fragments the
    # heap (later large allocations then page-fault much more slowly)
    lat = read_latents(latents_path(args), visits=args.visits, columns=args.latent_columns)
    main, defs = analysis_inputs(args, names)
    follow = max_followup(args)
    with cluster_context(spec, args.quiet) as client:
        res = cox_latents(lat, main, outcomes, args.covariates, strata=args.strata or None, robust=args.robust,
                          ph_test=args.ph_test, max_followup_years=follow, definitions=defs, visits=args.visits,
                          latent_columns=args.latent_columns, groups=groups, quantiles=args.quantiles,
                          chunk_map=chunk_map_for(client))
    save_and_report(res, args)
    if args.out:
        return 0
    for k, df in res.groups.items():
        print(f"== {k} ==")
        write_output(df, None)
    return 0
