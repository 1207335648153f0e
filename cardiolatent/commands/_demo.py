"""``cardiolatent demo``'s steps: the built-in cohort, its latents, the study's analyses, figures, report.

The cohort and its latents stay in the cache (one copy for the demo and every command's default);
the latents are copied into the demo folder so that its results, figures and report stand on their
own. Everything else is :func:`cardiolatent.commands._study.analysis_steps` plus ``figures`` and
``report``, run by :class:`cardiolatent.commands._study.Study` (fingerprinted, resumable).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from cardiolatent.commands._builtin_results import min_cases
from cardiolatent.commands._study import Step, Study, analysis_steps
from cardiolatent.demo import default_latents, default_latents_path
from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import atomic_path, file_digest, output_lock, write_text_atomic
from cardiolatent.synth import default as synth_default
from cardiolatent.synth.build import CohortPaths

#: what a user tries next on their own data (printed at the end)
NEXT = """next, on your own UK Biobank data (see README.md):
  cardiolatent encode --images /data/ukb/20208/ --out latents.parquet        # cines -> latents
  cardiolatent assoc --latents latents.parquet --ukb ukbXXXXX.csv --traits cardiac_idps --out assoc.tsv
  cardiolatent cox --latents latents.parquet --ukb ukbXXXXX.csv --outcomes AF,MI --out cox.tsv
  cardiolatent export --latents latents.parquet --ukb ukbXXXXX.csv --format regenie --out gwas_export
  cardiolatent report --results . --out report.html                           # this report, of your results"""


def _cohort_step(study: Study):
    """Build (or reuse) the built-in cohort with images; ``(notes, built)``."""
    n = synth_default.builtin_n()
    info = synth_default.cache_dir() / f"synth_n{n}_seed{synth_default.DEFAULT_SEED}" / "cohort.json"
    before = info.stat().st_mtime_ns if info.exists() else None
    paths = synth_default.default_cohort(images=True, progress=not study.quiet)
    study.cohort = paths
    built = before is None or info.stat().st_mtime_ns != before
    return [f"built-in cohort: {n:,} participants (seed {synth_default.DEFAULT_SEED}) in {paths.root}"], built


def _encode_step(study: Study):
    """Encode the cohort's zips with the five demo models (or reuse the cached latents)."""
    existed = default_latents_path(study.cohort).exists()
    _, lat = default_latents(progress=not study.quiet)
    study.source_latents = Path(lat)
    return [f"latents of the five demo models: {lat}"], not existed


def _copy_latents_step(study: Study):
    """Copy the cached latents (and their QC list) into the folder when they differ."""
    src = study.source_latents
    dest = study.root / "latents.parquet"
    if dest.exists() and file_digest(dest) == file_digest(src):
        return [], False
    for a, b in ((src, dest), (src.with_suffix(".qc.tsv"), study.root / "latents.qc.tsv")):
        if a.exists():
            with atomic_path(b) as tmp:
                shutil.copyfile(a, tmp)
    return [], True


#: the true parameters that carry planted variants and a polygenic background (truth/heritability.tsv)
TRUE_PARAMETERS = ("lvedv_ml", "lvwt_mm", "lav_ml", "lvef_pct", "rvedv_ml")
#: covariates of the heritability of the true parameters: the GWAS preset plus blood pressure, so that
#: the variance left is (nearly) the residual variance the planted h2 is a fraction of
TRUTH_H2_COVARIATES = "gwas,sbp"


def _true_parameters_step(study: Study):
    """Write the true parameters at the imaging visit (a perfect encoder's phenotypes) for their h2."""
    import pandas as pd

    t = pd.read_csv(study.cohort.truth / "participants.tsv", sep="\t")
    t = t.loc[t["instance"] == 2, ["eid", "instance", *TRUE_PARAMETERS]]
    with atomic_path(study.root / "true_parameters.tsv") as tmp:
        t.to_csv(tmp, sep="\t", index=False)
    return [f"{len(t):,} participants' true {', '.join(TRUE_PARAMETERS)}"]


def demo_steps(root: Path, cohort_root: Path) -> list[Step]:
    """Every step of the demo into ``root``, on the built-in cohort in ``cohort_root``."""
    n = synth_default.builtin_n()
    cohort = f"<CACHE>/{cohort_root.name}"
    cached_latents = default_latents_path(CohortPaths(cohort_root))
    steps = [
        Step("synth", "the built-in synthetic cohort", str(cohort_root), action=_cohort_step,
             command=f"cardiolatent synth --n {n} --seed {synth_default.DEFAULT_SEED} --series "
                     f"{synth_default.DEFAULT_SERIES} --incidence-scale {synth_default.DEFAULT_INCIDENCE_SCALE:g} "
                     f"--out {cohort}", cached=True),
        Step("encode", "encoding with the five demo models", str(cached_latents), action=_encode_step,
             command=f"cardiolatent encode --images {cohort}/bulk --weights demo --out {cohort}/{cached_latents.name}",
             cached=True, deps=("synth",)),
        Step("latents", "the latents into the demo folder", "latents.parquet", action=_copy_latents_step,
             command=f"cp {cohort}/{cached_latents.name} latents.parquet", cached=True, deps=("encode",)),
    ]
    cohort_paths = CohortPaths(cohort_root)
    analyses = analysis_steps(root, str(root / "latents.parquet"), str(cohort_paths.main), min_cases=min_cases(),
                              latents_step="latents", genotypes=str(cohort_paths.genotypes))
    steps += analyses
    method = "both" if shutil.which("bolt") else "ldsc"
    steps += [
        Step("true_parameters", "the true cardiac parameters (planted truth) as phenotypes", "true_parameters.tsv",
             action=_true_parameters_step, command=f"copy {', '.join(TRUE_PARAMETERS)} of {cohort}/truth/"
                                                   "participants.tsv (visit 2) into true_parameters.tsv",
             deps=("synth",)),
        Step("heritability_truth", "SNP heritability of the true parameters (the planted h2 to recover)",
             "h2_truth.tsv", ["heritability", "--pheno", str(root / "true_parameters.tsv"), "--ukb",
                              str(cohort_paths.main), "--genotypes", str(cohort_paths.genotypes), "--method", method,
                              "--covariates", TRUTH_H2_COVARIATES, "--quiet", "--out", str(root / "h2_truth.tsv")],
             deps=("true_parameters",)),
        Step("prs", "polygenic scores of the latents in the built-in target cohort (20,000 people)", "prs",
             ["prs", "--gwas", str(root / "gwas"), "--discovery-samples", str(root / "gwas_export" / "keep.txt"),
              "--quiet", "--out", str(root / "prs")], deps=("gwas_results",)),
    ]
    names = tuple(s.name for s in steps[3:])
    steps += [
        Step("figures", "every figure (PNG + PDF)", "figures",
             ["figures", "--results", str(root), "--out", str(root / "figures"), "--quiet"], deps=names),
        Step("report", "the HTML report", "report.html", ["report", "--results", str(root), "--truth", str(cohort_root),
                                                         "--latents", str(root / "latents.parquet"), "--out",
                                                         str(root / "report.html"), "--quiet"], deps=names),
    ]
    return steps


def run_demo(out: str | Path = "cardiolatent_demo", *, steps: list[str] | None = None, force: bool = False,
             quiet: bool = False) -> Path:
    """Run (or resume) the demo into ``out``; returns the report's path."""
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise CardiolatentError(f"--out {root} is a file; give a folder")
    if root.is_dir() and any(root.iterdir()) and not (root / ".steps.json").exists():
        raise CardiolatentError(f"--out {root} is a folder of something else (no .steps.json of an earlier demo "
                                f"in it); give a new or empty folder")
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    cohort_root = synth_default.cache_dir() / f"synth_n{synth_default.builtin_n()}_seed{synth_default.DEFAULT_SEED}"
    all_steps = demo_steps(root, cohort_root)
    known = [s.name for s in all_steps]
    if steps is not None:
        bad = [s for s in steps if s not in known]
        if bad or not steps:
            raise CardiolatentError(f"--steps {','.join(steps)}: unknown step {', '.join(bad) or '(none given)'}; "
                                    f"the steps are {', '.join(known)}")
    # the cohort is known before its step runs, so that fingerprints checked before any step runs (--steps)
    # are those recorded after it ran
    study = Study(root, all_steps, cohort=CohortPaths(cohort_root), latents=root / "latents.parquet", quiet=quiet)
    t0 = time.perf_counter()

    def write_run_json(s: Study) -> None:
        write_text_atomic(root / "run.json", json.dumps(s.run_json(), indent=1) + "\n")

    with output_lock(root / "run.json"):
        chosen = steps
        if steps is not None:
            # the cohort and latents steps are cheap when cached and give the later steps their paths
            chosen = [n for n in known if n in steps or n in ("synth", "encode", "latents")]
        study.run(only=chosen, force=force, on_record=write_run_json)
    report = root / "report.html"
    if not quiet:
        minutes, seconds = divmod(time.perf_counter() - t0, 60)
        print(f"\ndemo finished in {int(minutes)} min {seconds:.0f} s; every command it ran is in {root / 'run.json'}")
        if report.exists():
            print(f"report: {report}  (open it in a browser; one file, nothing else needed)")
        print(f"figures: {root / 'figures'}\n")
        print(NEXT)
    return report
