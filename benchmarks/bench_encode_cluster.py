"""Benchmark: the whole ``cardiolatent encode`` command on a local Dask cluster (run by hand; RESULTS.md).

    python benchmarks/bench_encode_cluster.py --n 96            # the built-in cohort's zips
    python benchmarks/bench_encode_cluster.py --quick           # 24 participants
    python benchmarks/bench_encode_cluster.py --cohort DIR      # a `cardiolatent synth` folder

The same inputs (``--n`` visit-2 bulk zips) and the five demo models, four ways, each a fresh
``python -m cardiolatent encode`` process (start-up, model loading, discovery, preparation,
encoding, writing; for the cluster also starting the LocalCluster, loading the models in every
worker, each shard's tail and check encodings, and the merge):

- ``single, --workers 0``: one process reads, prepares and encodes (the reference table);
- ``single, --workers W``: the ordinary command (W reading processes, encoding in the main one);
- ``--cluster local:1`` and ``--cluster local:2`` (``--workers 0``: each Dask worker reads and
  prepares in its own process; 2 shards per worker).

Reported: wall seconds, participants per second, the cluster's overhead against the single
process (wall difference), and whether each table is bit-identical to the reference. The machine
may be shared: the load average before and after each run is printed with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def _zips(cohort: Path, n: int) -> list[Path]:
    z = sorted((cohort / "bulk" / "20208").glob("*_20208_2_0.zip"))
    if len(z) < n:
        raise SystemExit(f"{cohort} has only {len(z)} visit-2 zips")
    return z[:n]


def _load() -> float:
    return os.getloadavg()[0]


def run_command(listing: Path, out: Path, extra: list[str], batch: int) -> tuple[float, float, float]:
    """(wall seconds, load before, load after) of one encode command in a fresh process."""
    argv = [sys.executable, "-m", "cardiolatent", "encode", "--images", str(listing), "--weights", "demo",
            "--batch-size", str(batch), "--quiet", "--out", str(out), *extra]
    before = _load()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return wall, before, _load()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, default=None,
                    help="a `cardiolatent synth` folder with bulk zips (default: the built-in cohort, built if needed)")
    ap.add_argument("--n", type=int, default=96, help="participants (visit-2 zips)")
    ap.add_argument("--quick", action="store_true", help="24 participants")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="reading processes of the ordinary single-process command")
    args = ap.parse_args()
    n = 24 if args.quick else args.n
    if args.cohort is None:
        from cardiolatent.synth.default import default_cohort

        args.cohort = default_cohort(images=True).root
    zips = _zips(args.cohort, n)
    print(f"# encode on a local Dask cluster: {n} participants x 5 demo seeds, batch {args.batch_size}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    runs = [("single process, --workers 0", ["--workers", "0"]),
            (f"single process, --workers {args.workers}", ["--workers", str(args.workers)]),
            ("--cluster local:1 (2 shards)", ["--cluster", "local:1", "--workers", "0"]),
            ("--cluster local:2 (4 shards)", ["--cluster", "local:2", "--workers", "0"])]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        listing = tmp / "zips.txt"
        listing.write_text("".join(f"{z}\n" for z in zips))
        # warm the page cache and the imports once (not timed)
        run_command(listing, tmp / "warm.parquet", ["--workers", "0"], args.batch_size)
        ref = None
        base = None
        print("| command | wall (s) | participants/s | overhead vs single --workers 0 (s) | bit-identical | "
              "load (1 min) before / after |")
        print("|---|---:|---:|---:|---|---|")
        for i, (label, extra) in enumerate(runs):
            out = tmp / f"run{i}.parquet"
            wall, before, after = run_command(listing, out, extra, args.batch_size)
            table = pd.read_parquet(out)
            if ref is None:
                ref, base = table, wall
            same = table.equals(ref) and all(
                (table[c].to_numpy().view("u4") == ref[c].to_numpy().view("u4")).all()
                for c in ref.columns if c.startswith("Z"))
            print(f"| {label} | {wall:.1f} | {n / wall:.2f} | {wall - base:+.1f} | {'yes' if same else 'NO'} | "
                  f"{before:.2f} / {after:.2f} |", flush=True)


if __name__ == "__main__":
    main()
