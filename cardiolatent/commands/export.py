"""``cardiolatent export``: phenotype/covariate files for REGENIE, PLINK 2, PLINK 1.9 or BOLT-LMM."""

from __future__ import annotations

HELP = "GWAS hand-off: phenotype/covariate files, run script and manifest for REGENIE, PLINK 2/1.9, BOLT-LMM"
DESCRIPTION = (
    "Write the latents as GWAS phenotypes for --format regenie|plink2|plink1|bolt into --out: pheno.txt "
    "(one row per participant: visit 2, else visit 3; FID/IID as in the genotype sample list, else FID = "
    "IID = eid; rank-based inverse normal transformed by default), covar.txt (the paper's GWAS covariates: "
    "genetic sex, age at imaging, genotyping batch, BSA, imaging year, imaging centre, visit; --pcs adds "
    "genetic PCs; categorical ones as 0/1 dummies with the most frequent level as reference, rare levels "
    "merged, constant columns dropped), optional pheno_binary.txt (--outcomes) and pheno_t2e.txt "
    "(--t2e, REGENIE), keep.txt, excluded.tsv (every participant not written, with the reason), "
    "run_<format>.sh (the command lines for these files; edit the genotype paths) and manifest.json "
    "(counts at every filter, transform, parameters, versions). Sample QC, applied in this order, each "
    "participant counted under the first filter failed: latents missing, --withdrawals, not in the main "
    "data, no imaging visit date, --imaging-qc, not in --samples, --white-british (22006), --sex-mismatch "
    "(31 vs 22001), a missing covariate, relatedness (--remove-related, --king)."
)


def add_arguments(p) -> None:
    import argparse

    from cardiolatent.commands._common import add_latents_argument, add_max_followup_argument, add_ukb_argument
    from cardiolatent.exports.options import TRANSFORMS
    from cardiolatent.exports.formats import FORMATS

    add_latents_argument(p)
    add_ukb_argument(p)
    p.add_argument("--format", required=True, choices=list(FORMATS), help="the GWAS tool the files are for")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--samples", default=None,
                   help="sample list of the genotype data (.fam, .psam or BGEN .sample): only participants "
                        "present there are written (FID/IID as spelled there); the others are counted")
    p.add_argument("--latent-columns", default=None,
                   help="comma-separated latent columns or regular expressions (e.g. 'S1701_Z.*'); default all")
    p.add_argument("--transform", choices=list(TRANSFORMS), default="int",
                   help="int: rank-based inverse normal (the paper); raw; resid: residuals on the covariates; "
                        "resid-int: those residuals inverse-normal transformed")
    p.add_argument("--covariates", default="gwas",
                   help="comma-separated covariate names, field names/ids and presets (gwas = the paper's: "
                        "genetic_sex, age, genotyping_batch, bsa, imaging_year, centre, visit; none)")
    p.add_argument("--pcs", type=int, default=0, help="add the first K genetic principal components (field 22009)")
    p.add_argument("--categorical", choices=["dummies", "raw"], default="dummies",
                   help="dummies: 0/1 columns (works with a plain --covar/--covarFile); raw: level codes listed in "
                        "REGENIE's --catCovarList or BOLT's --covarCol (regenie and bolt only)")
    p.add_argument("--min-level-count", type=int, default=10,
                   help="categorical levels with fewer written participants are merged")
    p.add_argument("--outcomes", dest="binary_traits", default=None,
                   help="comma-separated outcomes (AF, MI, ...) or 0/1 fields written as binary phenotypes "
                        "(case = diagnosis within [imaging year - 5, imaging year + 1])")
    p.add_argument("--binary-traits", dest="binary_traits", help=argparse.SUPPRESS)
    p.add_argument("--t2e", default=None,
                   help="comma-separated outcomes written as REGENIE --t2e time (years from the imaging visit) / "
                        "event pairs (incident events; prevalent cases set missing)")
    add_max_followup_argument(p)
    p.add_argument("--t2e-max-years", dest="max_followup", help=argparse.SUPPRESS)
    p.add_argument("--definitions", default=None, help="outcome definitions TOML (default: packaged)")
    qc = p.add_argument_group("sample QC")
    qc.add_argument("--withdrawals", default=None, help="withdrawals file (one eid per line)")
    qc.add_argument("--imaging-qc", default=None,
                    help="imaging QC exclusions: the encoder's QC table (<latents>.qc.tsv: eid, instance, reason)")
    qc.add_argument("--white-british", action="store_true",
                    help="keep only genetic ethnic grouping 22006 == 1 (Caucasian)")
    qc.add_argument("--sex-mismatch", action="store_true",
                    help="drop participants whose reported sex (31) differs from genetic sex (22001)")
    qc.add_argument("--king", default=None,
                    help="kinship table (PLINK 2 .kin0, KING .kin0, or UK Biobank's ID1 ID2 ... Kinship file): "
                         "one of each related pair is removed")
    qc.add_argument("--kinship-threshold", type=float, default=0.0884,
                    help="--king: pairs with kinship above this are related (0.0884: second degree or closer; "
                         "0.0442: third degree)")
    qc.add_argument("--remove-related", default=None,
                    help="list of related participants to remove (one eid, or FID IID, per line)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _parameters(args, ukb) -> dict:
    """The command line as recorded in the manifest."""
    import sys

    params = {k: (str(v) if v is not None and not isinstance(v, (int, float, bool, str)) else v)
              for k, v in vars(args).items() if k not in ("func", "command") and not k.startswith("_")}
    params["ukb_file"] = str(ukb) if args.ukb else f"built-in synthetic cohort ({ukb})"
    params["argv"] = sys.argv[1:]
    return params


def _qc_hint(args) -> str | None:
    """A hint when the encoder's QC table lies beside the latents but was not used."""
    if args.imaging_qc is not None:
        return None
    from pathlib import Path

    from cardiolatent.encode.run import qc_path_for

    try:
        beside = qc_path_for(Path(args.latents))
    except Exception:  # noqa: BLE001 - an unusual file name: no hint
        return None
    if beside is not None and beside.exists():
        return (f"  hint: {beside} (the encoder's QC table) was not used; pass --imaging-qc {beside} to "
                "exclude visits whose images failed")
    return None


def run(args) -> int:
    from cardiolatent.analysis.design import expand_names, fields_needed
    from cardiolatent.commands._common import (
        latents_path,
        main_read_options,
        max_followup,
        registry_from_args,
        ukb_path,
    )
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.exports.formats import get_format
    from cardiolatent.exports.phenotypes import SampleQC, prepare_export
    from cardiolatent.exports.result import export_result
    from cardiolatent.ukb.outcomes import load_definitions
    from cardiolatent.ukb.read import read_main
    from cardiolatent.commands._common import check_out_folder

    check_out_folder(args.out, "manifest.json")
    if not 0 < args.kinship_threshold <= 0.5:
        raise CardiolatentError(f"--kinship-threshold is a kinship coefficient in (0, 0.5], not {args.kinship_threshold}")

    spec = get_format(args.format)
    # fail fast on options the format cannot take
    if args.t2e and not spec.t2e:
        raise CardiolatentError(f"--t2e writes REGENIE time-to-event pairs; {spec.tool} has no survival model "
                                "(use --format regenie)")
    if args.categorical == "raw" and not spec.raw_categorical:
        raise CardiolatentError(f"--categorical raw is for REGENIE (--catCovarList) and BOLT-LMM (--covarCol); "
                                f"{spec.tool} reads codes as numbers: use the default dummies")
    if args.pcs < 0:
        raise CardiolatentError(f"--pcs must be 0 or more (got {args.pcs})")
    reg = registry_from_args(args)
    defs = load_definitions(args.definitions) if args.definitions else load_definitions()
    names = expand_names([args.covariates, args.binary_traits or "", args.t2e or ""])
    latents_path(args)  # the default latents decide the default --ukb
    ukb = ukb_path(args)
    main = read_main(ukb, fields_needed(names, reg, defs), registry=reg, missing_ok=True,
                     **main_read_options(args))
    qc = SampleQC(samples=args.samples, withdrawals=args.withdrawals, imaging_qc=args.imaging_qc,
                  white_british=args.white_british, sex_mismatch=args.sex_mismatch, king=args.king,
                  kinship_threshold=args.kinship_threshold, remove_related=args.remove_related)
    tables = prepare_export(args.latents, main, latent_columns=args.latent_columns, transform=args.transform,
                            covariates=args.covariates, pcs=args.pcs, categorical=args.categorical,
                            min_level_count=args.min_level_count, binary_traits=args.binary_traits,
                            t2e=args.t2e, t2e_max_years=max_followup(args), definitions=defs,
                            registry=reg, qc=qc)
    result = export_result(tables, args.format, _parameters(args, ukb))
    result.save(args.out)
    if not args.quiet:
        result.print_summary()
        hint = _qc_hint(args)
        if hint:
            print(hint)
    return 0
