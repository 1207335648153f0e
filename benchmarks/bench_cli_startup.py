"""Start-up time of the command line: ``cardiolatent --help`` and every ``cardiolatent <command> --help``.

Runs each in a fresh interpreter (best and median of ``--repeat`` runs, wall clock) for this
checkout and, with ``--before PATH``, for another checkout of cardiolatent (e.g. a git worktree of
an older commit) in the same run, and reports which heavy modules (pandas, numpy, torch) the help
imports.

    python benchmarks/bench_cli_startup.py --before /tmp/before --repeat 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = ["demo", "synth", "fields", "covariates", "outcomes", "convert-main", "train", "encode", "ensemble", "icc",
            "assoc", "cox", "export", "gwas-results"]
PROBE = ("import sys\nimport cardiolatent\nassert cardiolatent.__file__.startswith({root!r}), cardiolatent.__file__\n"
         "from cardiolatent.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
         "print('HEAVY:' + ','.join(m for m in ('pandas', 'numpy', 'torch') if m in sys.modules))")


def timed(root: Path, argv: list[str], repeat: int) -> tuple[float, float, str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    times, heavy = [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, root=str(root))], env=env, cwd=root,
                           capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        heavy = r.stdout.rstrip("\n").splitlines()[-1].removeprefix("HEAVY:")
    return min(times), statistics.median(times), heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=None, help="another checkout to compare with (its repository root)")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    roots = {"now": Path(__file__).resolve().parents[1]}
    if args.before:
        roots["before"] = Path(args.before).resolve()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; best / median of {args.repeat} runs (s)")
    for label, argv in [("cardiolatent --help", ["--help"])] + [(f"{c} --help", [c, "--help"]) for c in COMMANDS]:
        cells = []
        for name, root in roots.items():
            best, med, heavy = timed(root, argv, args.repeat)
            cells.append(f"{name} {best:.3f} / {med:.3f} [{heavy or 'no pandas/numpy/torch'}]")
        print(f"{label:<24} " + " | ".join(cells))


if __name__ == "__main__":
    main()
