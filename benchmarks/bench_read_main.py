"""Reading 30 fields of a wide main data file: pandas ``usecols`` vs ``read_main`` (first and cached read).

Writes a synthetic ukbconv-csv main file once (default 100,000 rows x 2,000 columns, ~1 GB: integer,
continuous, categorical with negative codes, date and empty cells, realistic widths) to ``--dir``
(reused when present), then reads 30 registered fields three ways, each in a fresh interpreter:

(a) ``pandas.read_csv(path, usecols=[eid + 30 columns])``, as a user would;
(b) ``read_main(path, fields)`` with an empty cache (parse + fill the column cache);
(c) ``read_main(path, fields)`` again (from the cache).

Reports the call's wall time (imports excluded), the whole process's wall time, and the peak RSS of the
process (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in the child at its end; the ``import`` row is the interpreter
with pandas, pyarrow and cardiolatent imported and nothing read). Goals: (b) at least 3x faster than
(a); (c) under 2 s.

    python benchmarks/bench_read_main.py                      # 100,000 x 2,000 in $TMPDIR/cl_bench_main
    python benchmarks/bench_read_main.py --rows 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the 30 columns read: (field, instance, array, kind); kinds: int, cont, cat, date
READ = ([(31, 0, 0, "cat"), (34, 0, 0, "int"), (52, 0, 0, "int"), (21003, 0, 0, "int"), (21003, 2, 0, "int"),
         (53, 0, 0, "date"), (53, 2, 0, "date"), (54, 2, 0, "cat"), (21001, 2, 0, "cont"), (50, 2, 0, "cont"),
         (21002, 2, 0, "cont"), (4080, 2, 0, "int"), (4080, 2, 1, "int"), (4079, 2, 0, "int"), (4079, 2, 1, "int"),
         (22000, 0, 0, "cat"), (20116, 0, 0, "cat"), (21000, 0, 0, "cat"), (40000, 0, 0, "date"), (48, 2, 0, "cont")]
        + [(22009, 0, a, "cont") for a in range(1, 11)])
FIELDS = sorted({f for f, _, _, _ in READ})
#: mean, SD of the continuous fields read (height cm, weight kg, waist cm, BMI, genetic PCs)
CONT = {50: (170.0, 10.0), 21002: (78.0, 15.0), 48: (90.0, 13.0), 21001: (27.0, 4.0), 22009: (0.0, 5.0)}

CHILD = r"""
import os, sys, time
t0 = time.perf_counter()
import pandas as pd, pyarrow
from cardiolatent.ukb.read import read_main
t1 = time.perf_counter()
mode, path, cols, fields = sys.argv[1], sys.argv[2], sys.argv[3].split(","), [int(x) for x in sys.argv[4].split(",")]
if mode == "pandas":
    df = pd.read_csv(path, usecols=cols)
    shape = df.shape
elif mode == "import":
    shape = (0, 0)
else:
    md = read_main(path, fields)
    shape = md.wide.shape
t2 = time.perf_counter()
import resource
print(f"RESULT {t2 - t1:.3f} {shape[0]} {shape[1]} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""


def write_file(path: Path, rows: int, cols: int, seed: int = 1) -> None:
    """The synthetic main file: eid, the 30 read columns spread among filler columns, in blocks of rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    n_fill = cols - 1 - len(READ)
    kinds = ["int", "cont", "cat", "date", "empty", "cont", "int", "cat"]
    fill = [(100_001 + k // 4, k % 4, 0, kinds[int(rng.integers(0, len(kinds)))]) for k in range(n_fill)]
    layout = list(fill)
    for pos, col in zip(np.sort(rng.choice(len(layout) + len(READ), len(READ), replace=False)), READ):
        layout.insert(int(pos), col)
    names = ["eid"] + [f"{f}-{i}.{a}" for f, i, a, _ in layout]
    base = np.datetime64("1990-01-01")
    block = 5000
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write((",".join(names) + "\n").encode())
        for start in range(0, rows, block):
            n = min(block, rows - start)
            arrays = [pa.array(np.arange(1_000_001 + start, 1_000_001 + start + n))]
            for f, _, _, kind in layout:
                miss = rng.random(n) < 0.15
                if kind == "int":
                    a = pa.array(rng.integers(40, 180, n), mask=miss)
                elif kind == "cont":
                    mean, sd = CONT.get(f, (27.0, 8.0))
                    a = pa.array(np.round(rng.normal(mean, sd, n), 4), mask=miss)
                elif kind == "cat":
                    a = pa.array(rng.choice([1, 2, 3, 1001, 3001, -1, -3], n), mask=miss)
                elif kind == "date":
                    d = base + rng.integers(0, 12_000, n).astype("timedelta64[D]")
                    a = pa.array(d.astype("datetime64[D]"), type=pa.date32(), mask=miss)
                else:
                    a = pa.nulls(n, pa.string())
                arrays.append(a)
            table = pa.table(arrays, names=names)
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    os.replace(tmp, path)


def run(mode: str, path: Path, env: dict) -> tuple[float, float, str, str]:
    """(call s, process wall s, peak RSS MB, shape) of one fresh interpreter."""
    cols = ["eid"] + [f"{f}-{i}.{a}" for f, i, a, _ in READ]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), ",".join(cols), ",".join(map(str, FIELDS))],
                       env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"{mode} failed:\n{r.stderr}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")][-1].split()
    peak_note = f"{int(line[4]) / 1024:.0f}"  # the child's own peak RSS (KB on Linux)
    return float(line[1]), wall, peak_note, f"{line[2]}x{line[3]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "cl_bench_main"))
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--cols", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (the cache is emptied before each (b))")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"main_{args.rows}x{args.cols}.csv"
    if not path.exists():
        t = time.perf_counter()
        write_file(path, args.rows, args.cols)
        print(f"wrote {path} in {time.perf_counter() - t:.0f} s")
    cache = folder / "cache"
    env = {**os.environ, "CARDIOLATENT_MAIN_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    print(f"{path.name}: {path.stat().st_size / 1e9:.2f} GB; python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"{'run':<28} {'call s':>8} {'process s':>10} {'peak RSS MB':>12}  shape")
    shutil.rmtree(cache, ignore_errors=True)
    res = {}
    for k in range(args.repeat):
        res.setdefault("import", []).append(run("import", path, env))
    for k in range(args.repeat):
        shutil.rmtree(cache, ignore_errors=True)
        res.setdefault("(b) read_main, no cache", []).append(run("ours", path, env))
        res.setdefault("(c) read_main, cached", []).append(run("ours", path, env))
    for k in range(args.repeat):
        res.setdefault("(a) pandas usecols", []).append(run("pandas", path, env))
    for label in ["import", "(c) read_main, cached", "(b) read_main, no cache", "(a) pandas usecols"]:
        for call, wall, peak, shape in res[label]:
            print(f"{label:<28} {call:>8.2f} {wall:>10.2f} {peak:>12}  {shape}")
    best = {k: min(c for c, _, _, _ in v) for k, v in res.items()}
    print(f"(a)/(b) = {best['(a) pandas usecols'] / best['(b) read_main, no cache']:.1f}x (goal >= 3x); "
          f"(c) = {best['(c) read_main, cached']:.2f} s (goal < 2 s)")


if __name__ == "__main__":
    main()
