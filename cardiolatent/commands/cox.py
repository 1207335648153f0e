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
    from cardiolatent.commands._common import add_analysis_arguments

    add_analysis_arguments(p)
    p.add_argument("--outcome", "--outcomes", dest="outcomes", default="AF,MI",
                   help="comma-separated outcome names from the definitions file")
    p.add_argument("--covariates", default="age,sex", help="comma-separated covariate names and/or presets")
    p.add_argument("--out", default=None, help="output table (.tsv, .csv or .parquet); default: print")
    p.add_argument("--strata", default=None, help="variable giving separate baseline hazards (e.g. sex)")
    p.add_argument("--robust", action="store_true", help="robust (sandwich) standard errors")
    p.add_argument("--ph-test", action="store_true",
                   help="proportional-hazards check: scaled Schoenfeld residual test of each latent (rank time)")
    p.add_argument("--max-followup", type=float, default=10.0,
                   help="years of follow-up after the imaging visit (the paper: 10); 0 = up to the admin date")
    p.add_argument("--groups", default=None,
                   help="a latent column (or 'score' with --score) for the tertile analysis and curves")
    p.add_argument("--score", default=None, help="table with eid (and optionally instance) and a 'score' column")
    p.add_argument("--quantiles", type=int, default=3, help="number of groups for --groups (3 = tertiles)")


def run(args) -> int:
    from pathlib import Path

    from cardiolatent.analysis.design import expand_names, load_latents
    from cardiolatent.analysis.survival import cox_latents, group_curves
    from cardiolatent.commands._common import analysis_inputs, write_output, write_summary
    from cardiolatent.errors import CardiolatentError

    say = (lambda *a: None) if args.quiet else print
    outcomes = expand_names(args.outcomes)
    names = expand_names([args.covariates] + ([args.strata] if args.strata else []) + outcomes + ["sex"])
    main, defs = analysis_inputs(args, names)
    L = load_latents(args.latents, visits=args.visits, columns=args.latent_columns)
    follow = args.max_followup if args.max_followup and args.max_followup > 0 else None
    res = cox_latents(L, main, outcomes, args.covariates, strata=args.strata, robust=args.robust,
                      ph_test=args.ph_test, max_followup_years=follow, definitions=defs)
    for o, c in res.summary["outcomes"].items():
        ex = ", ".join(f"{n} {r}" for r, n in c["excluded"].items()) or "none"
        say(f"{o}: {c['n_used']:,} participants, {c['n_events']:,} incident events; excluded: {ex}")
    for note in res.summary["notes"]:
        say(f"  note: {note}")
    write_output(res.table, args.out)
    out = Path(args.out) if args.out else None
    stem = out.name.split(".")[0] if out else None
    if out:
        write_summary(args.out, res.summary)
        write_output(res.excluded, str(out.with_name(stem + ".excluded.tsv")))
    if args.groups:
        if args.groups == "score":
            if not args.score:
                raise CardiolatentError("--groups score needs --score FILE (columns eid[, instance], score)")
            from cardiolatent.analysis.design import read_table

            sc = read_table(args.score)
            if "eid" not in sc.columns or "score" not in sc.columns:
                raise CardiolatentError(f"{args.score} needs columns 'eid' and 'score'")
            on = ["eid", "instance"] if "instance" in sc.columns else ["eid"]
            score = L.keys.merge(sc[on + ["score"]], on=on, how="left")["score"].to_numpy(float)
        else:
            if args.groups not in L.columns:
                raise CardiolatentError(f"--groups {args.groups!r} is not a latent column (e.g. {L.columns[0]})")
            score = L.table[args.groups].to_numpy(float)
        tables = {}
        for o in outcomes:
            g = group_curves(score, main, L.keys, o, q=args.quantiles, max_followup_years=follow, definitions=defs,
                             covariates=args.covariates)
            for k, v in g.items():
                tables.setdefault(k, []).append(v)
        import pandas as pd

        for k, parts in tables.items():
            df = pd.concat(parts, ignore_index=True)
            if out:
                write_output(df, str(out.with_name(f"{stem}.{args.groups}.{k}.tsv")))
            else:
                say(f"== {k} ==")
                write_output(df, None)
    return 0
