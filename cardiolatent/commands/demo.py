"""``cardiolatent demo``: the main job end to end on the built-in synthetic cohort."""

from __future__ import annotations

HELP = "run the main job on the built-in synthetic cohort and print what it finds"
DESCRIPTION = (
    "Build (or reuse) a small synthetic cohort with planted truth, read it back the way a user's "
    "UK Biobank extract is read (main data, imaging covariates, outcomes, one bulk DICOM zip) and "
    "print a summary next to the planted truth."
)


def add_arguments(p) -> None:
    p.add_argument("--out", default="cardiolatent_demo", help="folder for the demo cohort and outputs")
    p.add_argument("--n", type=int, default=200, help="number of synthetic participants")
    p.add_argument("--seed", type=int, default=20208, help="random seed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from cardiolatent.demo import run_demo

    run_demo(args.out, n=args.n, seed=args.seed, progress=not args.quiet)
    return 0
