"""The built-in synthetic cohort's results, made once by the commands themselves and cached beside it.

``cardiolatent figures`` without ``--results`` draws these. The steps are the study's analyses
(:func:`cardiolatent.commands._study.analysis_steps`: the README's command lines run with
``--quiet``); a finished step is not run again, so an interrupted run resumes. The GWAS runs plink2
when it is installed and the project's own OLS scan otherwise.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cardiolatent.commands._study import GWAS_FILTERS, GWAS_LATENTS, Study, analysis_steps
from cardiolatent.io_utils import wait_lock
from cardiolatent.synth.default import DEFAULT_MIN_CASES, DEFAULT_N, builtin_n


def min_cases() -> int:
    """Smallest number of cases for a disease scan of the built-in cohort: DEFAULT_MIN_CASES (20) at
    its default 1,800 participants (25-88 cases per disease in the case window; the paper: 200 of
    ~40,000), in proportion for another ``$CARDIOLATENT_BUILTIN_N``, at least 5."""
    return max(5, round(DEFAULT_MIN_CASES * builtin_n() / DEFAULT_N))


def recipe_digest() -> str:
    """8 hex digits of the steps' command lines: results of another recipe are kept apart."""
    steps = analysis_steps(Path("<DIR>"), "<LATENTS>", "<UKB>", min_cases=min_cases())
    text = json.dumps([[s.name, s.text()] for s in steps] + [GWAS_LATENTS, GWAS_FILTERS], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def builtin_results(*, quiet: bool = False) -> Path:
    """The folder of the built-in cohort's results (made or completed now); returns its path."""
    from cardiolatent.demo import default_latents

    paths, lat = default_latents(progress=not quiet)
    root = Path(lat).parent / f"results_{Path(lat).stem}_{recipe_digest()}"
    root.mkdir(parents=True, exist_ok=True)
    with wait_lock(root.parent / f".{root.name}.lock", "waiting for another cardiolatent run that is computing "
                                                       "the built-in cohort's results"):
        study = Study(root, analysis_steps(root, str(lat), str(paths.main), min_cases=min_cases()),
                      cohort=paths, latents=Path(lat), quiet=True)
        study.load_state()
        todo = [s for s in study.steps if not study.done(s)]
        if todo and not quiet:
            print(f"computing the built-in cohort's results once ({len(todo)} step(s)) into {root}")
        study.run()
    return root
