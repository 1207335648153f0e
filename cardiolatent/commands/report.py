"""``cardiolatent report``: one self-contained HTML page from a results folder."""

from __future__ import annotations

HELP = "one self-contained HTML report of a results folder (tables, figures, notes; planted truth with --truth)"
DESCRIPTION = (
    "Read every saved result under --results (the output folder of the other commands: X.tsv with "
    "X.summary.json, folders with summary.json; DIR/run.json when a demo wrote one) and write one HTML file "
    "that needs nothing else: what was run (parameters, versions, weights fingerprints, dates), the "
    "participant flow with the exclusion reasons, reproducibility (ICC, consensus selection), associations "
    "(top hits, volcano plots), survival (hazard ratios, forest plots, curves), GWAS (Manhattan, QQ, lambda, "
    "leads, loci), heritability, manipulation (grids and animated cines) and every note and warning. Images "
    "are embedded; the page requests no other file or host. With --truth COHORT (a `cardiolatent synth` "
    "folder): a planted-truth section marking each planted variant, hazard ratio, test-retest ICC and latent "
    "R^2 as met or not met."
)


def add_arguments(p) -> None:
    p.add_argument("--results", required=True,
                   help="results folder (searched recursively), one result, or a TOML file naming result files")
    p.add_argument("--out", default="report.html", help="the HTML file to write (replaced atomically)")
    p.add_argument("--truth", default=None,
                   help="synthetic cohort folder (from `cardiolatent synth`) whose truth/ tables the results are "
                        "compared with")
    p.add_argument("--latents", default=None,
                   help="latents file for the planted-truth R^2 (default: the path the results' summaries record)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")


def run(args) -> int:
    from pathlib import Path

    from cardiolatent.errors import CardiolatentError
    from cardiolatent.io_utils import check_output_file, write_text_atomic
    from cardiolatent.report import build_report

    out = Path(args.out)
    if out.is_dir():
        raise CardiolatentError(f"--out {out} is an existing folder; give a file name (e.g. {out / 'report.html'})")
    check_output_file(out)
    if not Path(args.results).exists():
        raise CardiolatentError(f"--results {args.results} does not exist")
    if args.truth is not None and not (Path(args.truth) / "truth").is_dir():
        raise CardiolatentError(f"--truth {args.truth}: no truth/ folder (give a `cardiolatent synth` cohort folder)")
    if args.latents is not None and not Path(args.latents).exists():
        raise CardiolatentError(f"--latents {args.latents} does not exist")
    rep, html = build_report(args.results, truth=args.truth, latents=args.latents)
    write_text_atomic(out, html)
    if not args.quiet:
        empty = [s.title for s in rep.sections.values() if not s.filled]
        print(f"wrote {out} ({len(html) / 1e6:.1f} MB; {len(rep.results)} result(s); "
              f"{len(rep.notes)} note(s)" + (f"; empty: {', '.join(empty)}" if empty else "") + ")")
    return 0
