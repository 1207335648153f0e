"""``cardiolatent report``: one self-contained HTML page from a results folder.

:func:`build_report` (``collect`` -> optional ``truth`` -> ``render``) reads every saved result under
the folder (what :func:`cardiolatent.plotting.batch.find_results` finds), draws their figures in
memory, embeds them as data URIs and fills the sections: what was run, participant flow,
reproducibility, associations, survival, GWAS, heritability, manipulation, notes and warnings and,
with a synthetic cohort's folder, the planted truth (:mod:`cardiolatent.report.truth`). The page
requests nothing from any other file or host (its Content-Security-Policy forbids it).

``DIR/run.json`` (optional; written by ``cardiolatent demo``; the report shows it when present)::

    {
      "steps": [                                  # required: the steps in the order they ran
        {"name": "encode",                        # required: a short step name
         "command": "cardiolatent encode ...",    # the command line (text)
         "seconds": 412.5,                        # wall time (number)
         "status": "done",                        # optional: done | reused | failed | skipped
         "outputs": ["latents.parquet"],          # optional: paths relative to DIR
         "notes": ["..."]},                       # optional: shown with the report's notes
        ...
      ],
      "versions": {"cardiolatent": "0.1.0", "python": "3.11.9", "plink2": "v2.00a5"}  # optional
    }

Other keys are ignored. A run.json that is not this shape is listed as a warning; the rest of the
report is still made.
"""

from __future__ import annotations

import os

from cardiolatent.report.collect import SECTIONS, Report, collect
from cardiolatent.report.render import render
from cardiolatent.report.truth import truth_section


def build_report(results: str | os.PathLike, *, truth: str | os.PathLike | None = None,
                 latents: str | os.PathLike | None = None, progress=None) -> tuple[Report, str]:
    """The report of the results under ``results`` and its HTML text.

    ``truth``: a synthetic cohort folder (adds the planted-truth section); ``latents``: the latents
    file for the latent-vs-true-parameter R^2 (default: the path the results' summaries record).
    """
    rep = collect(results, progress=progress)
    if truth is not None:
        rep.sections["truth"] = truth_section(truth, rep.results, latents=latents)
    else:
        rep.sections["truth"].empty = ("Only for a synthetic cohort: give --truth COHORT_DIR (a `cardiolatent "
                                       "synth` folder) to compare the results with what it planted.")
    return rep, render(rep)


__all__ = ["SECTIONS", "Report", "build_report", "collect", "render"]
