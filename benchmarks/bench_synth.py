"""Benchmark: time and disk of ``cardiolatent synth`` (run by hand; results in RESULTS.md).

    python benchmarks/bench_synth.py --n 2000 --out /tmp/bench_synth
    python benchmarks/bench_synth.py --n 1800 --seed 20208 --series 4ch --incidence-scale 3   # the built-in cohort

Prints wall time per stage, bytes on disk per part and per participant. There is no other tool
that writes this cohort, so this is a size/speed record rather than a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--out", default="/tmp/bench_synth")
    ap.add_argument("--no-images", action="store_true")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=20208)
    ap.add_argument("--series", choices=["all", "4ch"], default="all")
    ap.add_argument("--incidence-scale", type=float, default=1.0)
    args = ap.parse_args()
    from cardiolatent.synth.build import make_cohort

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    paths = make_cohort(out, n=args.n, seed=args.seed, images=not args.no_images, workers=args.workers,
                        progress=False, series=args.series, incidence_scale=args.incidence_scale)
    wall = time.perf_counter() - t0
    info = paths.info()
    parts = {p.name: du(p) if p.is_dir() else p.stat().st_size for p in out.iterdir()}
    total = du(out)
    res = {
        "n": args.n, "seed": args.seed, "series": args.series, "incidence_scale": args.incidence_scale,
        "images": not args.no_images, "wall_s": round(wall, 1),
        "tables_s": info["seconds_tables"], "imaging_visits": info["n_imaging_visits"],
        "total_bytes": total, "bytes_per_participant": round(total / args.n),
        "bulk_bytes_per_visit": round((info.get("bulk_bytes") or 0) / info["n_imaging_visits"]),
        "parts_bytes": parts, "cpus": os.cpu_count(), "machine": platform.platform(),
        "python": platform.python_version(),
    }
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
