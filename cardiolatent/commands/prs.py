"""``cardiolatent prs``: polygenic scores of the latents, scored in a target cohort and followed into disease."""

from __future__ import annotations

HELP = "polygenic scores of latents from a discovery GWAS, scored in a target cohort, with incident AF/MI"
DESCRIPTION = (
    "Weights by clumping and thresholding of each latent's discovery GWAS (--gwas: a `gwas-results` folder or "
    "the tools' results files; one score per latent and P threshold), scored on the target cohort's genotypes "
    "by the real plink2 --score (or cardiolatent's scorer, which gives the same numbers) and evaluated there, as "
    "the paper did in participants outside its imaging GWAS: Cox hazard ratio per SD of every score for each "
    "outcome with the covariates, followed from the baseline assessment or the imaging visit (--follow-from); "
    "participants of the discovery GWAS and their relatives are left out with --discovery-samples / --kinship; "
    "for the scores at --primary-threshold (one per latent) hazard ratios by "
    "tertile and Nelson-Aalen curves, prevalence in the bottom 5/10/20 % and top 20/10/5 % overall and by "
    "sex, and the out-of-fold AUC of the covariates alone, with the best score and with all scores in an "
    "L1-penalised logistic model (DeLong's test). Writes the folder --out (cox.tsv, tertiles.tsv, "
    "cumulative_hazard.tsv, prevalence.tsv, auc.tsv, weights.tsv, score.txt, scores.parquet, summary.json) "
    "and its figures with `cardiolatent figures`. Without --target-genotypes/--target-ukb: the built-in target "
    "cohort (20,000 new people from the built-in cohort's population: same variants, planted effects and "
    "hazards; no images), built on first use."
)


def add_arguments(p) -> None:
    from cardiolatent.commands._common import add_max_followup_argument
    from cardiolatent.genetics.prs_run import DEFAULT_PRIMARY_THRESHOLD, PRS_THRESHOLDS
    from cardiolatent.genetics.prs_target import DISCOVERY_KINSHIP, FOLLOW_FROM

    p.add_argument("--gwas", required=True, nargs="+",
                   help="the discovery GWAS of the latents: a `cardiolatent gwas-results` folder, or the tools' "
                        "results files / folders / globs")
    p.add_argument("--latent-columns", default=None,
                   help="latents to score (comma-separated names or regular expressions); default: all of the GWAS")
    p.add_argument("--target-genotypes", default=None,
                   help="PLINK 1 prefix of the target cohort (people outside the discovery GWAS)")
    p.add_argument("--target-ukb", default=None, help="the target cohort's main data (visit dates, outcomes, sex)")
    p.add_argument("--target-keep", default=None,
                   help="keep file (FID IID) or .fam of the target participants to score (e.g. from a "
                        "discovery / target split)")
    p.add_argument("--discovery-samples", default=None,
                   help="the discovery GWAS's participants (.fam / .psam / .sample, a keep file, or the exported "
                        "phenotype file): target participants listed there are left out before scoring")
    p.add_argument("--kinship", default=None,
                   help="kinship table (UK Biobank's relatedness file, KING / plink2 .kin0): target participants "
                        "related to anyone of --discovery-samples above --kinship-threshold are left out")
    p.add_argument("--kinship-threshold", type=float, default=DISCOVERY_KINSHIP,
                   help="kinship above which a target participant is related to the discovery sample "
                        "(default %(default)s, the paper's)")
    p.add_argument("--follow-from", choices=list(FOLLOW_FROM), default="auto",
                   help="where follow-up starts: baseline (the assessment visit, instance 0: people outside the "
                        "imaging study), imaging (the first imaging visit, instance 2), or auto (default): imaging "
                        "when every target participant has an imaging visit, else baseline")
    p.add_argument("--thresholds", default=",".join(f"{t:g}" for t in PRS_THRESHOLDS),
                   help="comma-separated P thresholds, one score per latent and threshold")
    p.add_argument("--primary-threshold", type=float, default=DEFAULT_PRIMARY_THRESHOLD,
                   help="threshold of the scores evaluated by tertile, percentile and AUC (one of --thresholds)")
    p.add_argument("--outcomes", default="AF,MI", help="comma-separated outcome names from the definitions file")
    p.add_argument("--covariates", default="age,sex", help="covariates of the Cox and AUC models")
    add_max_followup_argument(p)
    p.add_argument("--definitions", default=None, help="outcome definitions TOML (default: packaged)")
    p.add_argument("--scorer", choices=["auto", "plink2", "cardiolatent"], default="auto",
                   help="auto: plink2 --score when plink2 is installed, else cardiolatent's scorer")
    p.add_argument("--no-auc", action="store_true", help="skip the AUC models (the slowest part with many scores)")
    p.add_argument("--threads", type=int, default=1, help="threads for scoring")
    p.add_argument("--out", default="prs", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress output or summary")


def _thresholds(text: str) -> list[float]:
    from cardiolatent.errors import CardiolatentError

    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            t = float(part)
        except ValueError:
            raise CardiolatentError(f"--thresholds: {part!r} is not a number") from None
        if not 0 < t <= 1:
            raise CardiolatentError(f"--thresholds: {part} is not a P value in (0, 1]")
        out.append(t)
    if not out:
        raise CardiolatentError("--thresholds: give at least one P threshold")
    return out


def run(args) -> int:
    import time
    from pathlib import Path

    from cardiolatent.analysis.design import expand_names, fields_needed
    from cardiolatent.commands._common import check_out_folder, max_followup, registry_from_args
    from cardiolatent.commands.heritability import _prefix
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.genetics.prs_run import run_prs
    from cardiolatent.ukb.outcomes import load_definitions
    from cardiolatent.ukb.read import read_main

    check_out_folder(args.out)
    thresholds = _thresholds(args.thresholds)
    if args.primary_threshold not in thresholds:
        raise CardiolatentError(f"--primary-threshold {args.primary_threshold:g} is not one of --thresholds "
                                f"{args.thresholds}")
    if args.threads < 1:
        raise CardiolatentError(f"--threads must be at least 1, not {args.threads}")
    if bool(args.target_genotypes) != bool(args.target_ukb):
        raise CardiolatentError("give --target-genotypes and --target-ukb together (or neither, for the built-in "
                                "target cohort)")
    for g in args.gwas:
        if not any(ch in str(g) for ch in "*?[") and not Path(g).exists():
            raise CardiolatentError(f"--gwas {g} does not exist")
    if args.kinship and not args.discovery_samples:
        raise CardiolatentError("--kinship needs --discovery-samples (whom the target must be unrelated to)")
    if not 0 <= args.kinship_threshold < 0.5:
        raise CardiolatentError(f"--kinship-threshold must be a kinship coefficient in [0, 0.5), not "
                                f"{args.kinship_threshold:g}")
    for what, path in (("--target-ukb", args.target_ukb), ("--target-keep", args.target_keep),
                       ("--discovery-samples", args.discovery_samples), ("--kinship", args.kinship)):
        if path is not None and not Path(path).exists():
            raise CardiolatentError(f"{what} {path} does not exist")
    follow = max_followup(args)
    quiet = args.quiet
    target_label = {}
    if args.target_genotypes:
        geno, ukb = _prefix(args.target_genotypes), args.target_ukb
        if not Path(geno + ".bed").exists():
            raise CardiolatentError(f"--target-genotypes {args.target_genotypes}: no {geno}.bed (give the PLINK 1 "
                                    "prefix)")
        target_label = {"main": str(ukb)}
    else:
        from cardiolatent.synth.default import default_target_cohort

        paths = default_target_cohort(progress=not quiet)
        geno, ukb = str(paths.genotypes), str(paths.main)
        target_label = {"main": ukb, "built_in": True, "root": str(paths.root)}
        if not quiet:
            print(f"the built-in target cohort: {paths.root}")
    defs = load_definitions(args.definitions) if args.definitions else load_definitions()
    outcomes = expand_names(args.outcomes)
    unknown = [o for o in outcomes if not any(o.lower() == k.lower() for k in defs)]
    if unknown:
        raise CardiolatentError(f"--outcomes: unknown outcome {unknown[0]!r} (defined: {', '.join(sorted(defs))})")
    names = expand_names([args.covariates] + outcomes + ["sex"])
    reg = registry_from_args(args)
    main = read_main(ukb, fields_needed(names, reg, defs), registry=reg, missing_ok=True)
    t0 = time.perf_counter()

    def say(text: str) -> None:
        if not quiet:
            print(f"  [{time.perf_counter() - t0:5.0f} s] {text}", flush=True)

    res = run_prs(args.gwas if len(args.gwas) > 1 else args.gwas[0], geno, main, latents=args.latent_columns,
                  thresholds=thresholds, primary_threshold=args.primary_threshold, outcomes=outcomes,
                  covariates=args.covariates, scorer=args.scorer, keep=args.target_keep, max_followup_years=follow,
                  definitions=defs, auc=not args.no_auc, threads=args.threads, target_label=target_label,
                  follow_from=args.follow_from, discovery_samples=args.discovery_samples, kinship=args.kinship,
                  kinship_threshold=args.kinship_threshold, progress=say)
    res.save(args.out)
    if not quiet:
        res.print_summary()
        print(f"wrote {args.out}/ (cox.tsv, tertiles.tsv, prevalence.tsv, auc.tsv, weights.tsv, scores.parquet); "
              f"figures: cardiolatent figures --results {args.out}")
    return 0
