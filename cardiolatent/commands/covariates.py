"""``cardiolatent covariates``: imaging-visit covariates from a UK Biobank main data file."""

from __future__ import annotations

HELP = "imaging-visit covariates: age, sex, BSA, blood pressure, centre, year, batch, genetic PCs"
DESCRIPTION = (
    "Derive the covariates of an imaging visit from a UK Biobank main data file: age at the visit "
    "(years; field 21003, floored, or exact from year/month of birth with --age-from birth, birth day "
    "taken as the 15th), sex (31), genetic sex (22001), height (cm), weight (kg), BMI (kg/m2), body "
    "surface area (m2, Du Bois), SBP/DBP (mmHg, mean of the automated readings, manual if none), waist "
    "(cm), imaging centre (54), imaging year, visit number, genotyping batch (22000) and genetic PCs "
    "(22009). Participants without a visit date at the instance are listed with the reason."
)

COVARIATE_FIELDS = (31, 22001, 34, 52, 21003, 53, 54, 21001, 50, 21002, 48, 4080, 4079, 93, 94,
                    22000, 22006, 22009)


def add_arguments(p) -> None:
    from cardiolatent.commands._common import add_ukb_argument

    add_ukb_argument(p)
    p.add_argument("--instance", type=int, nargs="+", default=[2],
                   help="imaging instance(s): 2 = first imaging visit, 3 = repeat imaging visit")
    p.add_argument("--age-from", choices=["21003", "birth"], default="21003",
                   help="age at the visit from field 21003 (whole years) or from year/month of birth (exact)")
    p.add_argument("--out", default=None, help="output table (.tsv, .csv or .parquet); default: print")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from cardiolatent.commands._common import main_read_options, registry_from_args, ukb_path, write_output
    from cardiolatent.ukb.covariates import imaging_covariates, imaging_covariates_all
    from cardiolatent.ukb.read import read_main

    main = read_main(ukb_path(args), fields=list(COVARIATE_FIELDS), registry=registry_from_args(args),
                     required=[53], missing_ok=True, **main_read_options(args))
    if len(args.instance) == 1:
        res = imaging_covariates(main, instance=args.instance[0], age_from=args.age_from)
    else:
        res = imaging_covariates_all(main, instances=tuple(args.instance), age_from=args.age_from)
    table = res.table.reset_index()
    write_output(table, args.out)
    _report(res, main)
    return 0


def _report(res, main) -> None:
    n_ex = len(res.excluded)
    if n_ex:
        reasons = res.excluded["reason"].value_counts().to_dict()
        print(f"excluded {n_ex:,} participant-visits: " + ", ".join(f"{k} {v:,}" for k, v in reasons.items()))
    if getattr(res, "missing_fields", None):
        print("fields absent from the file (their covariates are missing): "
              + ", ".join(str(f) for f in res.missing_fields))
    if len(main.flags):
        counts = main.flags["reason"].value_counts().to_dict()
        print("cleaned values: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
