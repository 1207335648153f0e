"""``cardiolatent demo`` as a new user runs it: from an empty cache, then again (every step reused),
and its GWAS step by plink2 against cardiolatent's own OLS scan (the fallback without plink2).

    python benchmarks/bench_demo.py [--work /tmp/bench_demo] [--keep]

Prints a Markdown table for benchmarks/RESULTS.md: each step's wall time (from the demo's run.json),
the whole command's wall time and peak memory (``/usr/bin/time -v``: the largest of the process and
its children), the disk used by the cache and by the demo folder, the rerun's time, and the GWAS step
both ways (``--steps gwas --force``, with and without plink2 on PATH). Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def timed(cmd: list[str], env: dict) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MB, output) of ``cmd`` under /usr/bin/time -v."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) // 1024
    return wall, rss, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=None, help="scratch folder (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_demo_"))
    shutil.rmtree(work, ignore_errors=True)
    home, out = work / "home", work / "demo"
    home.mkdir(parents=True)
    exe = shutil.which("cardiolatent")
    env = dict(os.environ, CARDIOLATENT_HOME=str(home))
    env.pop("CARDIOLATENT_BUILTIN_N", None)

    wall, rss, _ = timed([exe, "demo", "--out", str(out), "--quiet"], env)
    run = json.loads((out / "run.json").read_text())
    again, _, _ = timed([exe, "demo", "--out", str(out), "--quiet"], env)

    plink_wall, _, _ = timed([exe, "demo", "--out", str(out), "--steps", "gwas", "--force", "--quiet"], env)
    # the same step without plink2 on PATH: a folder of links to everything else the step needs
    nop = work / "bin"
    nop.mkdir()
    for tool in ("bash", "python3", "python"):
        if shutil.which(tool):
            os.symlink(shutil.which(tool), nop / tool)
    os.symlink(exe, nop / "cardiolatent")
    own_wall, _, _ = timed([exe, "demo", "--out", str(out), "--steps", "gwas", "--force", "--quiet"],
                           dict(env, PATH=str(nop)))
    own = {s["name"]: s for s in json.loads((out / "run.json").read_text())["steps"]}["gwas"]
    assert "own OLS scan" in own["notes"][0], own

    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| step | seconds | command |\n|---|---:|---|")
    for s in run["steps"]:
        print(f"| {s['name']} | {s['seconds']:.1f} | `{s['command'][:90]}` |")
    print(f"\nwhole command from an empty cache: {wall:.0f} s ({wall / 60:.1f} min), peak memory {rss / 1024:.2f} GB; "
          f"cache {du(home) / 1e9:.2f} GB, demo folder {du(out) / 1e6:.0f} MB")
    print(f"again into the same folder (every step reused): {again:.1f} s")
    print(f"GWAS step alone (`--steps gwas --force`, whole command): plink2 {plink_wall:.1f} s, own OLS scan "
          f"{own_wall:.1f} s ({plink_wall / own_wall:.1f}x)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
