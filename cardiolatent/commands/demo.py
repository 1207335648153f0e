"""``cardiolatent demo``: the whole study on the built-in synthetic cohort, ending in one HTML report."""

from __future__ import annotations

HELP = "the whole study on the built-in synthetic cohort, from images to one HTML report"
DESCRIPTION = (
    "Run the paper's study end to end on the built-in synthetic cohort (1,800 participants with planted "
    "truth; built and encoded once into the cache, see `cardiolatent cache`): synth -> encode (the five demo "
    "models) -> ICC between visits and between seeds -> seed ensemble -> associations with the cardiac "
    "phenotypes and the paper's diseases -> Cox models for incident AF and MI with tertile curves -> export "
    "-> GWAS of one seed's 128 latents (plink2 when installed, else cardiolatent's own OLS scan, labelled) -> "
    "gwas-results -> SNP heritability of 16 latents (BOLT-REML and LD score regression) -> manipulation along "
    "LV end-diastolic volume -> every figure -> OUT/report.html with the "
    "planted truth marked met or not met. Each step is the command line a user would type (listed in "
    "OUT/run.json and the report). Running again into the same OUT reuses every step whose inputs are "
    "unchanged; --force redoes them; --steps runs some. About 10 minutes on 2 cores the first time."
)

#: the steps in order (for --help and --steps)
STEP_NAMES = ["synth", "encode", "latents", "icc_visits", "icc_seeds", "ensemble", "assoc_traits", "assoc_diseases",
              "cox", "export", "gwas", "gwas_results", "heritability", "manipulation", "figures", "report"]


def add_arguments(p) -> None:
    p.add_argument("--out", default="cardiolatent_demo",
                   help="folder for the results, figures and report.html (the cohort itself stays in the cache)")
    p.add_argument("--steps", default=None,
                   help="run only these steps (comma-separated; the steps they read must be finished): "
                        + ", ".join(STEP_NAMES))
    p.add_argument("--force", action="store_true", help="redo the steps even where their inputs are unchanged")
    p.add_argument("--quiet", action="store_true", help="no progress lines or bars")


def run(args) -> int:
    from cardiolatent.commands._demo import run_demo

    steps = None
    if args.steps is not None:
        steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    run_demo(args.out, steps=steps, force=args.force, quiet=args.quiet)
    return 0
