"""Benchmark: the whole ``cardiolatent manipulate`` command for many participants at once (run by hand;
RESULTS.md).

    python benchmarks/bench_manipulate.py --n 50 --steps 20 --out /tmp/bench_manip

On the built-in cohort with the demo model of seed 1701 (LV end-diastolic volume direction, five
magnitudes), three ways, in the same run, each a whole command as a user would type it:

- ``batched``: one command for ``--n`` participants with ``--batch-size B`` (inversions of B cines at
  once, then B decodings at once);
- ``batch 1``: the same command with ``--batch-size 1`` (one volume per network call);
- ``one command per participant``: ``--participants EID`` run ``--per-participant`` times (the loop
  a user would otherwise write), time scaled to ``--n``.

``--steps`` sets both DDIM step counts (fewer than the demo default of 100 + 100 to keep the run
short; every network call is the same size, so the ratios carry over). Writes nothing but the
command outputs under ``--out``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd


def _run(args: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "cardiolatent", "manipulate", *args, "--quiet"],
                       capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"manipulate failed: {r.stderr.strip()[-500:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--per-participant", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_manip"))
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    a.out.mkdir(parents=True)
    common = ["--trait", "lvedv", "--inversion-steps", str(a.steps), "--decoding-steps", str(a.steps)]

    rows = []
    t = _run([*common, "--n-participants", str(a.n), "--batch-size", str(a.batch_size), "--out", str(a.out / "b")])
    table = pd.read_csv(a.out / "b" / "lvedv" / "table.tsv", sep="\t")
    eids = table.drop_duplicates(["eid", "instance"])
    n_done = len(eids)
    rows.append(("batched", a.batch_size, n_done, t))
    t1 = _run([*common, "--n-participants", str(a.n), "--batch-size", "1", "--out", str(a.out / "b1")])
    rows.append(("batch 1", 1, n_done, t1))
    loop = 0.0
    for i, r in enumerate(eids.head(a.per_participant).itertuples()):
        loop += _run([*common, "--participants", f"{r.eid}_{r.instance}", "--batch-size", str(a.batch_size),
                      "--out", str(a.out / f"p{i}")])
    rows.append(("one command per participant", a.batch_size, n_done, loop / a.per_participant * n_done))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"python {platform.python_version()}; {time.strftime('%Y-%m-%d')}")
    print(f"{n_done} participant-visits x 5 magnitudes, {a.steps} + {a.steps} DDIM steps, demo model S1701, CPU\n")
    print("| how | batch | participants | wall s | s / participant | ratio to batched |")
    print("|---|---|---|---|---|---|")
    for how, b, n, s in rows:
        print(f"| {how} | {b} | {n} | {s:.1f} | {s / n:.2f} | {s / rows[0][3]:.2f} |")
    summ = json.loads((a.out / "b" / "lvedv" / "summary.json").read_text())
    print(f"\nbatched run's summary: {summ.get('n_participants', n_done)} participants, "
          f"excluded {summ.get('n_excluded', 0)}")


if __name__ == "__main__":
    main()
