"""Benchmark: scoring 50,000 people on 182 polygenic scores, ``score_bed`` (ours) vs ``plink2 --score``.

Run by hand:  python benchmarks/bench_prs_score.py [--quick] [--md out.md]

Inputs (seeded, written once to ``--work``): genotypes from
:func:`cardiolatent.synth.genotypes.simulate_genotypes` (``--people`` x 1,500 variants per
chromosome on ``--chromosomes`` chromosomes: 50,000 x 6,000 by default, missing calls at 0.2%)
written with ``Genotypes.write_plink``; a PLINK 2 ``score.txt`` (``ID A1`` and ``--scores``
weight columns, ``%.12g`` as ``PrsWeights.save`` writes them) where score k uses a random
200-3,000 of the variants (weight 0 elsewhere, as ``PrsWeights.plink2_table``), the named allele
ALT for half of the variants and REF for the other half.

Timed, each in a fresh subprocess (best of ``--repeat``; peak RSS of that process and its children):

- ours: :func:`cardiolatent.genetics.prs.score_bed` ``(bfile, "score.txt", threads=T)``, the whole
  call (reads the score file and the .bed, returns the ``.sscore``-layout DataFrame), with the
  default ``chunk_variants=1024`` and with 256 (a 1024-variant block of 50,000 people is a fresh
  400 MB float64 array per block, whose first-touch page faults cost more than the product);
- :func:`cardiolatent.genetics.prs.plink2_score` ``(bfile, "score.txt", threads=T)``, the whole call
  (reads and rewrites the score file, runs Debian's plink2, reads the ``.sscore`` back);
- the bare command a user would run, ``plink2 --bfile G --score score.txt 1 2 header-read
  cols=+scoresums --score-col-nums 3-<2+k> --threads T`` (what ``PrsWeights.plink2_command`` prints).

T = 1 and T = 2 (``--threads``). The results must be equal: ``ALLELE_CT`` exactly and every
``_SUM`` / ``_AVG`` to plink2's printed 6 significant digits (half a unit in the 6th digit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make_inputs(work: Path, people: int, chromosomes: int, scores: int, seed: int = 2024) -> dict:
    import pandas as pd

    from cardiolatent.synth.genotypes import simulate_genotypes

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    eids = np.arange(1_000_001, 1_000_001 + people)
    g = simulate_genotypes(eids, rng, chromosomes=tuple(range(22 - chromosomes + 1, 23)), causal={})
    prefix = g.write_plink(work / "geno")
    t_geno = time.perf_counter() - t0
    v = g.variants
    m = len(v)
    lo, hi = min(200, m), min(3_000, m)
    on_alt = rng.random(m) < 0.5
    W = pd.DataFrame({"ID": v["id"].to_numpy(), "A1": np.where(on_alt, v["a1"], v["a2"])})
    sizes = rng.integers(lo, hi + 1, scores)
    cols = {}
    for k in range(scores):
        w = np.zeros(m)
        sel = rng.choice(m, sizes[k], replace=False)
        w[sel] = rng.normal(0, 0.05, sizes[k])
        cols[f"Z{k}_p1e-04"] = w
    W = pd.concat([W, pd.DataFrame(cols)], axis=1)
    score = work / "score.txt"
    W.to_csv(score, sep="\t", index=False, float_format="%.12g", lineterminator="\n")
    return dict(prefix=str(prefix), score=str(score), people=people, variants=m, scores=scores,
                variants_per_score=(int(sizes.min()), int(np.median(sizes)), int(sizes.max())),
                nonzero=int((W.iloc[:, 2:].to_numpy() != 0).sum()), t_geno=t_geno,
                missing=float(v["missing"].sum() / (m * people)))


def child(cfg: dict) -> dict:
    """One timed run; writes the result table to cfg['save'] (pickle)."""
    from cardiolatent.genetics.prs import plink2_score, score_bed

    what, T = cfg["what"], cfg["threads"]
    t0 = time.perf_counter()
    if what == "ours":
        out = score_bed(cfg["prefix"], cfg["score"], threads=T)
    elif what == "ours_chunk256":
        out = score_bed(cfg["prefix"], cfg["score"], threads=T, chunk_variants=256)
    elif what == "plink2_score":
        out = plink2_score(cfg["prefix"], cfg["score"], threads=T)
    else:
        k = cfg["scores"]
        cmd = ["plink2", "--bfile", cfg["prefix"], "--score", cfg["score"], "1", "2", "header-read",
               "cols=+scoresums", "--score-col-nums", f"3-{2 + k}", "--threads", str(T), "--memory", "2000",
               "--out", cfg["out"]]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(p.stdout + p.stderr)
        out = None
    wall = time.perf_counter() - t0
    if out is not None and cfg.get("save"):
        out.to_pickle(cfg["save"])
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return dict(wall=wall, rss_gb=rss / 2**20)


def run_child(cfg: dict, env: dict) -> dict:
    p = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit(f"child failed: {cfg}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.split("RESULT ", 1)[1])


def printed_equal(ours, printed) -> np.ndarray:
    """True where ``ours`` rounds to plink2's printed value (6 significant digits)."""
    p = np.asarray(printed, float)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log10(np.abs(p)))
    half_unit = np.where(p == 0, 5e-7, 0.5 * 10.0 ** (e - 5)) * (1 + 1e-9)
    return np.abs(np.asarray(ours, float) - p) <= half_unit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5,000 people x 3,000 variants")
    ap.add_argument("--people", type=int, default=None, help="default 50,000 (quick 5,000)")
    ap.add_argument("--chromosomes", type=int, default=None, help="x 1,500 variants; default 4 (quick 2)")
    ap.add_argument("--scores", type=int, default=182)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=None, help="best of (default 2, quick 1)")
    ap.add_argument("--work", default="/tmp/bench_prs_score")
    ap.add_argument("--md", default=None, help="also write the Markdown block here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))))
        return 0
    if shutil.which("plink2") is None:
        raise SystemExit("plink2 is not on PATH (Debian: apt-get install plink2)")
    import pandas as pd

    q = args.quick
    people = args.people or (5_000 if q else 50_000)
    chroms = args.chromosomes or (2 if q else 4)
    repeat = args.repeat or (1 if q else 2)
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    inp = make_inputs(work, people, chroms, args.scores)
    version = subprocess.run(["plink2", "--version"], capture_output=True, text=True).stdout.strip()
    lines: list[str] = []
    say = lambda s="": (print(s, flush=True), lines.append(s))  # noqa: E731
    say(f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, numpy {np.__version__}, {version}")
    res: dict = {}
    for T in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(T), OMP_NUM_THREADS=str(T), MKL_NUM_THREADS=str(T))
        for what in ("ours", "ours_chunk256", "plink2_score", "plink2"):
            runs = []
            for r in range(repeat):
                cfg = dict(inp, what=what, threads=T, out=str(work / f"raw_t{T}"),
                           save=str(work / f"{what}_t{T}.pkl") if r == 0 else None)
                runs.append(run_child(cfg, env))
            res[(what, T)] = min(runs, key=lambda x: x["wall"])
    # equality (threads 1 and 2 of each, against plink2's own file)
    theirs = pd.read_csv(work / f"raw_t{args.threads[0]}.sscore", sep="\t")
    names = [c[:-4] for c in theirs.columns if c.endswith("_AVG")]
    checks = []
    for what in ("ours", "ours_chunk256", "plink2_score"):
        for T in args.threads:
            o = pd.read_pickle(work / f"{what}_t{T}.pkl")
            same_ids = o["IID"].astype(str).tolist() == theirs["IID"].astype(str).tolist()
            ct = np.array_equal(o["ALLELE_CT"].to_numpy(), theirs["ALLELE_CT"].to_numpy()) and \
                bool(printed_equal(o["NAMED_ALLELE_DOSAGE_SUM"], theirs["NAMED_ALLELE_DOSAGE_SUM"]).all())
            bad = sum(int((~printed_equal(o[n + s], theirs[n + s])).sum()) for n in names for s in ("_SUM", "_AVG"))
            rel = max(float(np.max(np.abs(o[n + "_SUM"].to_numpy() - theirs[n + "_SUM"].to_numpy())
                                   / np.maximum(np.abs(theirs[n + "_SUM"].to_numpy()), 1e-12))) for n in names)
            checks.append((what, T, same_ids and ct and bad == 0, bad, rel))
    n_vals = 2 * len(names) * len(theirs)
    say()
    say("```")
    vs = inp["variants_per_score"]
    say(f"{inp['people']:,} people x {inp['variants']:,} variants ({inp['missing'] * 100:.2f}% missing calls; "
        f"simulated and written in {inp['t_geno']:.0f} s), {inp['scores']} scores over {vs[0]}-{vs[2]} variants "
        f"each (median {vs[1]}; {inp['nonzero']:,} non-zero weights); best of {repeat}, wall s (peak RSS GB)")
    for T in args.threads:
        o, ps, raw = res[("ours", T)], res[("plink2_score", T)], res[("plink2", T)]
        o2 = res[("ours_chunk256", T)]
        say(f"threads {T}: ours score_bed {o['wall']:6.2f} ({o['rss_gb']:.2f}), with chunk_variants=256 "
            f"{o2['wall']:6.2f} ({o2['rss_gb']:.2f}) | plink2_score {ps['wall']:6.2f} "
            f"({ps['rss_gb']:.2f}) | bare plink2 --score {raw['wall']:6.2f} ({raw['rss_gb']:.2f}) | "
            f"plink2_score / ours {ps['wall'] / o['wall']:.2f}x, bare plink2 / ours {raw['wall'] / o['wall']:.2f}x")
    for what, T, ok, bad, rel in checks:
        say(f"{what} (threads {T}) vs plink2's .sscore: {'equal' if ok else 'DIFFERENT'} "
            f"({n_vals:,} _SUM/_AVG values to 6 significant digits, {bad} off; ALLELE_CT exact, "
            f"NAMED_ALLELE_DOSAGE_SUM equal; max relative "
            f"difference of _SUM {rel:.1e})")
    say("```")
    if args.md:
        Path(args.md).write_text("\n".join(lines) + "\n")
    return 0 if all(c[2] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
