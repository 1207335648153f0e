"""``cardiolatent synth``: write the synthetic cohort with planted truth."""

from __future__ import annotations

HELP = "write a synthetic UK Biobank imaging cohort with planted truth (main data, DICOM zips, genotypes)"
DESCRIPTION = (
    "Write a synthetic cohort that looks like a UK Biobank imaging extract and carries known answers: "
    "main data (ukbconv csv or RAP naming), bulk cine MRI zips for field 20208 (4-, 2- and 3-chamber "
    "DICOM series, 50 frames), PLINK 1 genotypes with planted causal variants, and truth tables "
    "(true cardiac parameters, planted variant effects and hazard ratios, outcome dates, and every "
    "image nuisance value in truth/acquisition.tsv: the person's anatomy is shared by both imaging "
    "visits, the acquisition is drawn at each). "
    "Deterministic for a given --seed; an interrupted run resumes (existing zips are kept). "
    "--series 4ch writes only the 4-chamber series (the one encoders read: the same frames, a third "
    "of the size and time); --incidence-scale multiplies every outcome's baseline hazard (more "
    "incident events; planted hazard ratios unchanged); --polygenic-h2 adds a polygenic background (small "
    "effects on every other variant) so that each true cardiac parameter has a known SNP heritability "
    "(truth/heritability.tsv)."
)


def add_arguments(p) -> None:
    from cardiolatent.commands._common import add_workers_argument

    p.add_argument("--n", type=int, default=2000, help="number of participants")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=20208, help="random seed")
    p.add_argument("--naming", choices=["ukbconv_csv", "rap"], default="ukbconv_csv",
                   help="main data column naming: ukbconv csv (31-0.0) or Research Analysis Platform (p31)")
    p.add_argument("--no-images", action="store_true", help="write everything but the bulk image zips")
    p.add_argument("--series", choices=["all", "4ch"], default="all",
                   help="series in each bulk zip: all (4-, 2- and 3-chamber, ~4.1 MB per visit) or 4ch "
                        "(the 4-chamber series only, ~1.3 MB; encoders read the same frames)")
    p.add_argument("--incidence-scale", type=float, default=1.0,
                   help="factor on every outcome's baseline hazard of incident events (1 = the calibrated "
                        "10-year incidences; planted hazard ratios unchanged; recorded in cohort.json and "
                        "truth/hazards.tsv)")
    p.add_argument("--variant-r2", type=float, default=0.06,
                   help="fraction of its trait's variance (after age, sex, body size and blood pressure) that each "
                        "planted variant explains; the built-in cohort uses 0.15")
    p.add_argument("--polygenic-h2", default=None, metavar="H2 | TRAIT=H2,...",
                   help="polygenic background: the fraction of each true parameter's residual variance explained by "
                        "small effects on every non-planted variant (infinitesimal model), one number for all five "
                        "(lvedv_ml, lvwt_mm, lav_ml, lvef_pct, rvedv_ml) or TRAIT=H2 pairs separated by commas; "
                        "0 or absent: off. The total with the planted variants' r2 must stay below 1; the truth is "
                        "in truth/heritability.tsv")
    p.add_argument("--nifti", action="store_true", help="also write each 4-chamber cine as NIfTI (T x H x W)")
    p.add_argument("--h5", action="store_true", help="also write the 4-chamber cines into one HDF5 file (ImLatent layout)")
    add_workers_argument(p, "writing images")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from cardiolatent.commands._common import workers
    from cardiolatent.errors import CardiolatentError

    if args.n < 20:
        raise CardiolatentError(f"--n must be at least 20 participants (got {args.n})")
    if args.seed < 0:
        raise CardiolatentError(f"--seed must be 0 or more, not {args.seed}")
    if not (args.incidence_scale > 0 and args.incidence_scale < float("inf")):
        raise CardiolatentError(f"--incidence-scale must be a positive number, not {args.incidence_scale}")
    if not 0 < args.variant_r2 < 0.5:
        raise CardiolatentError(f"--variant-r2 must be above 0 and below 0.5, not {args.variant_r2}")
    from cardiolatent.synth.build import check_polygenic_h2, make_cohort
    from cardiolatent.synth.summary import print_summary

    polygenic_h2 = parse_polygenic_h2(args.polygenic_h2)
    try:
        polygenic_h2 = check_polygenic_h2(polygenic_h2, args.variant_r2)
    except CardiolatentError as exc:
        raise CardiolatentError(str(exc).replace("polygenic_h2", "--polygenic-h2", 1)) from None
    paths = make_cohort(args.out, n=args.n, seed=args.seed, images=not args.no_images, naming=args.naming,
                        nifti=args.nifti, h5=args.h5, workers=workers(args), progress=not args.quiet,
                        series=args.series, incidence_scale=args.incidence_scale, variant_r2=args.variant_r2,
                        polygenic_h2=polygenic_h2)
    print_summary(paths)
    return 0


def parse_polygenic_h2(text: str | None):
    """``--polygenic-h2``: ``None``, a number (every trait) or ``{trait: number}`` from ``TRAIT=H2,...``.

    Raises a one-line CardiolatentError naming the flag for text that is neither form or a value
    outside [0, 1).
    """
    from cardiolatent.errors import CardiolatentError

    if text is None or not str(text).strip():
        return None
    text = str(text).strip()

    def number(v: str, what: str) -> float:
        try:
            x = float(v)
        except ValueError:
            raise CardiolatentError(f"--polygenic-h2{what} must be a number in [0, 1), not {v!r}") from None
        if not (0.0 <= x < 1.0):
            raise CardiolatentError(f"--polygenic-h2{what} must be in [0, 1), not {v!r}")
        return x

    if "=" not in text:
        return number(text, "")
    out: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CardiolatentError(f"--polygenic-h2 takes one number or TRAIT=H2 pairs separated by commas, "
                                    f"not {text!r}")
        if key in out:
            raise CardiolatentError(f"--polygenic-h2 names {key} twice")
        out[key] = number(value.strip(), f" for {key}")
    return out
