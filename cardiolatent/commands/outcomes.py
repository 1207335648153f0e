"""``cardiolatent outcomes``: disease status and follow-up per participant."""

from __future__ import annotations

HELP = "per participant and disease: earliest event date and source, prevalent/incident, time to event (years)"
DESCRIPTION = (
    "For each participant and outcome (AF, MI, HF, HTN, T2D or any outcome of --definitions), relative "
    "to the imaging visit date (field 53 at --instance): the earliest event date over first-occurrence "
    "fields, algorithmically defined outcomes and hospital ICD-10/ICD-9 records, its source, prevalent vs "
    "incident status, the paper's cross-sectional case window [imaging year - 5, imaging year + 1], and "
    "time to event or censoring in years (days / 365.25), censored at death (40000), at --admin-date and "
    "at --max-followup."
)


def add_arguments(p) -> None:
    from cardiolatent.commands._common import add_max_followup_argument, add_ukb_argument

    add_ukb_argument(p)
    p.add_argument("--outcomes", default="AF,MI,HF,HTN,T2D", help="comma-separated outcome names, or the preset paper_diseases")
    p.add_argument("--definitions", default=None,
                   help="TOML file of outcome definitions overriding/extending the packaged one")
    p.add_argument("--instance", type=int, default=2, help="imaging instance whose visit date starts follow-up")
    p.add_argument("--admin-date", default="2023-10-31", help="administrative end of follow-up (YYYY-MM-DD)")
    add_max_followup_argument(p)
    p.add_argument("--case-window", default="-5,1",
                   help="cross-sectional case window in years relative to the imaging year (lo,hi)")
    p.add_argument("--wide", action="store_true", help="one row per participant (AF_event, AF_time_years, ...)")
    p.add_argument("--out", default=None, help="output table (.tsv, .csv or .parquet); default: print")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def outcome_fields(defs, names) -> list[int]:
    """The main-data fields needed to evaluate these outcomes (visit date and death included)."""
    fields = {53, 40000}
    for name in names:
        d = defs[name]
        fields.update(d.first_occurrence)
        fields.update(d.algorithmic)
        if d.icd10:
            fields.update((41270, 41280))
        if d.icd9:
            fields.update((41271, 41281))
    return sorted(fields)


def run(args) -> int:
    from cardiolatent.commands._common import (
        main_read_options,
        max_followup,
        registry_from_args,
        ukb_path,
        write_output,
    )
    from cardiolatent.analysis.design import expand_names
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.ukb.outcomes import load_definitions, outcome_table, wide_outcomes
    from cardiolatent.ukb.read import read_main

    defs = load_definitions(args.definitions)
    names = expand_names(args.outcomes)          # presets too (paper_diseases), as in assoc and cox
    unknown = [n for n in names if n not in defs]
    if unknown:
        raise CardiolatentError(f"unknown outcome(s) {', '.join(unknown)}; defined: {', '.join(defs)}")
    import datetime as _dt

    try:
        _dt.date.fromisoformat(args.admin_date)
    except ValueError:
        raise CardiolatentError(f"--admin-date {args.admin_date} is not a date (YYYY-MM-DD)") from None
    try:
        lo, hi = (int(x) for x in args.case_window.split(","))
    except ValueError:
        raise CardiolatentError(f"--case-window must be two integers 'lo,hi' (got {args.case_window!r})") from None
    main = read_main(ukb_path(args), fields=outcome_fields(defs, names), registry=registry_from_args(args),
                     required=[53], missing_ok=True, **main_read_options(args))
    res = outcome_table(main, names, instance=args.instance, admin_date=args.admin_date,
                        max_followup_years=max_followup(args), case_window=(lo, hi), definitions=defs)
    table = wide_outcomes(res).reset_index() if args.wide else res.table
    write_output(table, args.out)
    t = res.table
    summary = t.groupby("outcome", sort=False).agg(prevalent=("prevalent", "sum"), incident=("event", "sum"),
                                                   case_window=("case_window", "sum"))
    print(summary.astype(int).to_string())
    if len(res.excluded):
        reasons = res.excluded["reason"].value_counts().to_dict()
        print(f"excluded {len(res.excluded):,} participants: " + ", ".join(f"{k} {v:,}" for k, v in reasons.items()))
    if len(main.flags):
        counts = main.flags["reason"].value_counts().to_dict()
        print("cleaned values (never used as events): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    flagged = t["date_flag"][t["date_flag"] != ""].value_counts().to_dict()
    if flagged:
        print("event dates kept but never counted as incident: "
              + ", ".join(f"{k} {v:,}" for k, v in flagged.items()) + " (see the date_flag column)")
    return 0
