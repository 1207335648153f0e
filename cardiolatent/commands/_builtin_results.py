"""The built-in synthetic cohort's results, made once by the commands themselves and cached beside it.

``cardiolatent figures`` without ``--results`` draws these. Each step is a command line of the
README run with ``--quiet``; a step whose output exists is not run again, so an interrupted run
resumes. The GWAS needs plink2 on PATH; without it that step is left out (the figures command
lists the Manhattan and QQ as not drawn).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cardiolatent.io_utils import wait_lock
from cardiolatent.synth.default import DEFAULT_MIN_CASES, DEFAULT_N, builtin_n

def min_cases() -> int:
    """Smallest number of cases for a disease scan of the built-in cohort: DEFAULT_MIN_CASES (20) at
    its default 1,800 participants (24-86 cases per disease in the case window; the paper: 200 of
    ~40,000), in proportion for another ``$CARDIOLATENT_BUILTIN_N``, at least 5."""
    return max(5, round(DEFAULT_MIN_CASES * builtin_n() / DEFAULT_N))


def steps() -> list[tuple[str, list[str]]]:
    """(output under the results folder, the command's arguments), in order."""
    return [
        ("icc_visits.tsv", ["icc", "--between", "visits"]),
        ("icc_seeds.tsv", ["icc", "--between", "seeds"]),
        ("ensemble", ["ensemble"]),
        ("assoc_traits.tsv", ["assoc", "--traits", "cardiac_idps", "--covariates", "paper_traits"]),
        ("assoc_diseases.tsv", ["assoc", "--outcomes", "paper_diseases", "--covariates", "paper_disease",
                                "--min-cases", str(min_cases())]),
        ("cox.tsv", ["cox", "--outcomes", "AF,MI", "--covariates", "age,sex", "--groups", "S1701_Z3"]),
        ("manipulation", ["manipulate", "--trait", "lvedv", "--n-participants", "2"]),
    ]


def recipe_digest() -> str:
    """8 hex digits of the steps and the GWAS settings: results of another recipe are not reused."""
    text = json.dumps([steps(), GWAS_LATENTS, GWAS_FILTERS], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
#: latents sent to the GWAS (one seed's 128) and plink2's variant filter
GWAS_LATENTS = "S1701_Z.*"
GWAS_FILTERS = "--mac 20"


def _cli(argv: list[str]) -> None:
    from cardiolatent.cli import main

    rc = main(argv)
    if rc:
        from cardiolatent.errors import CardiolatentError

        raise CardiolatentError(f"built-in results: 'cardiolatent {' '.join(argv)}' failed (exit {rc})")


def builtin_results(*, quiet: bool = False) -> Path:
    """The folder of the built-in cohort's results (made or completed now); returns its path."""
    from cardiolatent.demo import default_latents

    paths, lat = default_latents(progress=not quiet)
    root = Path(lat).parent / f"results_{Path(lat).stem}_{recipe_digest()}"
    root.mkdir(parents=True, exist_ok=True)
    with wait_lock(root.parent / f".{root.name}.lock", "waiting for another cardiolatent run that is computing "
                                                       "the built-in cohort's results"):
        _complete(root, paths, lat, quiet)
    return root


def _complete(root: Path, paths, lat: Path, quiet: bool) -> None:
    """Run the steps whose outputs are missing."""
    common = ["--latents", str(lat), "--ukb", str(paths.main), "--quiet"]
    todo = [(out, args) for out, args in steps() if not (root / out).exists()]
    if todo and not quiet:
        print(f"computing the built-in cohort's results once ({len(todo)} step(s)) into {root}")
    for out, args in todo:
        ukb = ["--ukb", str(paths.main)] if args[0] in ("assoc", "cox", "manipulate") else []
        _cli([*args, "--latents", str(lat), *ukb, "--quiet", "--out", str(root / out)])
    if not (root / "gwas").exists() and shutil.which("plink2"):
        exp = root / "gwas_export"
        if not (exp / "results").exists():
            _cli(["export", *common, "--format", "plink2", "--latent-columns", GWAS_LATENTS, "--out", str(exp)])
            env = dict(os.environ, GENO=str(paths.genotypes), FILTERS=GWAS_FILTERS, THREADS="2")
            r = subprocess.run(["bash", str(exp / "run_plink2.sh")], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                shutil.rmtree(exp / "results", ignore_errors=True)
                sys.stderr.write(r.stderr[-2000:])
                from cardiolatent.errors import CardiolatentError

                raise CardiolatentError(f"built-in results: plink2 failed on {exp / 'run_plink2.sh'}")
        _cli(["gwas-results", "--results", str(exp / "results"), "--out", str(root / "gwas"), "--quiet"])
