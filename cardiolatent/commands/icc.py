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
    from cardiolatent.commands._common import add_latents_argument

    add_latents_argument(p)
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
    p.add_argument("--standardize", action="store_true",
                   help="--between seeds: z-score every latent column first (seeds' latent scales "
                        "and offsets are arbitrary)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def summary_path(out):
    """``<folder>/<stem>.summary.json`` for an output table path (``icc.tsv`` -> ``icc.summary.json``)."""
    from pathlib import Path

    out = Path(out)
    name = out.name
    for ext in (".tsv.gz", ".csv.gz", ".parquet", ".tsv", ".csv", ".txt"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return out.with_name(name + ".summary.json")


def run(args) -> int:
    import json

    from cardiolatent.analysis import reproducibility as rep
    from cardiolatent.commands.ensemble import read_latents
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.io_utils import write_table_atomic, write_text_atomic
    from cardiolatent.stats.icc import normalise_forms

    say = (lambda *a: None) if getattr(args, "quiet", False) else print
    forms = normalise_forms(args.forms)
    if not 0 < args.alpha < 1:
        raise CardiolatentError(f"--alpha must be between 0 and 1, not {args.alpha}")
    report_form = normalise_forms([args.report_form])[0]
    if report_form not in forms:
        if args.report_form != "ICC3":  # named explicitly: say so
            raise CardiolatentError(f"--report-form {args.report_form} is not among --forms {' '.join(forms)}")
        report_form = forms[0]
    from cardiolatent.commands._common import latents_path

    lat = read_latents(latents_path(args))
    if args.between == "visits":
        for opt in ("reference", "threshold"):
            if getattr(args, opt) is not None:
                raise CardiolatentError(f"--{opt} applies to --between seeds only")
        res = rep.icc_between_visits(lat, seeds=args.seeds, forms=forms, alpha=args.alpha,
                                     report_form=report_form)
    else:
        res = rep.icc_between_seeds(lat, threshold=args.threshold, reference=args.reference, seeds=args.seeds,
                                    forms=forms, alpha=args.alpha, matching=args.matching,
                                    standardize=args.standardize, report_form=report_form)
    write_table_atomic(res.table, args.out, index=False)
    s = dict(res.summary)
    s["latents"] = str(args.latents)
    s["out"] = str(args.out)
    sp = summary_path(args.out)
    write_text_atomic(sp, json.dumps(s, indent=2) + "\n")

    if res.between == "visits":
        say(f"{s['n_participants_both_visits']:,} participants with latents at both visits "
            f"(visit 2: {s['n_participants_visit2']:,}, visit 3: {s['n_participants_visit3']:,}); "
            f"{s['n_latents']} latents")
    else:
        say(f"{s['n_participants']:,} participants; reference seed {s['reference']}, raters = seeds "
            f"{', '.join(map(str, s['raters']))} ({s['matching']} matching); "
            f"{s['n_latents_kept']} of {s['n_reference_latents']} reference latents")
    say("median ICC per form (over latents): " + ", ".join(
        f"{f} {v['median']:.3f}" if v["median"] is not None else f"{f} n/a" for f, v in s["icc"].items()))
    rf = s["report_form"]
    r = s["icc"][rf]
    if r["median"] is not None:
        say(f"report form {rf} ({s['report_form_description']}): median {r['median']:.3f} "
            f"[IQR {r['q25']:.3f}-{r['q75']:.3f}], {r['n_above_0.75']} of {r['n_latents']} latents above 0.75")
    me = s.get("meff", {}).get("all")
    if me:
        say(f"M_eff of the {me['m']} latents: {me['meff_li_ji']:.1f} (Li & Ji), "
            f"{me['meff_nyholt']:.1f} (Cheverud/Nyholt)")
    if s["n_rows_not_ok"]:
        say(f"{s['n_rows_not_ok']} rows have no ICC (see the reason column)")
    say(f"wrote {len(res.table):,} rows to {args.out} and {sp}")
    return 0
