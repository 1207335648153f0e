"""Benchmark: vectorised association scans vs the statsmodels loop a user would write.

Run by hand:  python benchmarks/bench_assoc.py [--md out.md] [--quick]

- headline: ``ols_scan`` with 640 latents x 50 traits, N = 71,021, 15 covariate columns (age, sex,
  BSA, 3 imaging-centre dummies for UK Biobank's 4 imaging centres, 9 imaging-year dummies for
  2014-2023) and 8 trait missingness patterns (plus sporadic missing BSA); also with 31 covariate
  columns (20 centre + 8 year dummies), and with 50 independent patterns (every trait missing its
  own random 3%). Baseline: ``statsmodels.OLS(y, design).fit()`` per
  (latent, trait) on the complete cases, timed on a sample of fits and extrapolated to all
  32,000 (per-trait design building timed separately and counted once per trait);
- ``logistic_scan`` with 640 latents x 2 outcomes (prevalence 4% and 2.5%) at N = 71,021 vs
  ``statsmodels.Logit(...).fit()`` per model (sample, extrapolated);
- ``westfall_young_maxT`` cost per permutation at the headline size (extrapolated to 1,000);
- scaling over N = 10,000 .. 500,000 (128 latents instead of 640 at N = 500,000);
- every measurement in a fresh subprocess: time (best of ``--repeat``), tracemalloc peak of the
  call (numpy allocations; inputs excluded) and the process's maximum RSS (inputs included).

BLAS threads: each measurement runs with ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` set to
``--threads`` (default 1) for the statsmodels baselines, and our functions get the same number as
their ``threads`` argument; the headline is also run with 2 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

N_UKB = 71_021


def make_cohort(n: int, m: int, t: int, *, n_centres: int = 4, n_years: int = 10, seed: int = 0,
                independent: bool = False):
    """Synthetic latents (n, m), traits (n, t) with 8 missingness groups, covariates (n, c).

    ``independent``: instead, every trait misses its own random 3% (t distinct patterns).
    """
    rng = np.random.default_rng(seed)
    age = rng.normal(64, 8, n)
    sex = rng.integers(0, 2, n).astype(float)
    bsa = rng.normal(1.9, 0.2, n)
    bsa[rng.random(n) < 0.005] = np.nan
    cp = rng.dirichlet(np.full(n_centres, 5.0))
    centre = rng.choice(n_centres, size=n, p=cp)
    year = rng.integers(0, n_years, n)
    C = np.column_stack([age, sex, bsa, np.eye(n_centres)[centre][:, 1:],
                         np.eye(n_years)[year][:, 1:]])
    X = rng.standard_normal((n, t))
    X[:, :5] = (X[:, :5] > 1.0).astype(float)               # five binary traits
    X[:, 5:10] = X[:, 5:10] * 30 + 150 + 0.5 * age[:, None]
    sizes = np.array([12, 8, 8, 6, 6, 4, 4, 2], dtype=float)
    sizes = np.maximum(1, np.round(sizes * t / sizes.sum())).astype(int)
    rates = [0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5]
    if independent:
        X[rng.random((n, t)) < 0.03] = np.nan
    else:
        start = 0
        for size, rate in zip(sizes, rates):
            if rate and start < t:
                X[rng.random(n) < rate, start:start + size] = np.nan
            start += size
    Y = np.empty((n, m))
    step = max(1, 2**22 // max(m, 1))
    for a in range(0, n, step):
        b = min(n, a + step)
        Y[a:b] = rng.standard_normal((b - a, m))
    Y[:, : min(m, 8)] += 0.05 * np.nan_to_num(X[:, [5]])
    return Y, X, C


def make_outcomes(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.random(n) < 0.04, rng.random(n) < 0.025]).astype(float)


def _mem_run(fn):
    import tracemalloc

    tracemalloc.start()
    out = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, peak / 2**20


def _child(spec: dict) -> dict:
    import resource
    import warnings

    warnings.simplefilter("ignore")
    kind = spec["kind"]
    n, m, t = spec["n"], spec["m"], spec["t"]
    Y, X, C = make_cohort(n, m, t, n_centres=spec.get("centres", 4), n_years=spec.get("years", 10),
                          independent=spec.get("independent", False))
    out = {"input_mb": (Y.nbytes + X.nbytes + C.nbytes) / 2**20, "n_cov": C.shape[1]}
    if kind in ("ols", "wy", "logit"):
        from cardiolatent.stats.logistic import logistic_scan
        from cardiolatent.stats.multitest import westfall_young_maxT
        from cardiolatent.stats.ols import ols_scan

        th = spec.get("threads", 1)
        ols_scan(Y[:200, :3], X[:200, :3], C[:200])  # warm-up (imports)
        if kind == "ols":
            fn = lambda: ols_scan(Y, X, C, threads=th)  # noqa: E731
        elif kind == "wy":
            fn = lambda: westfall_young_maxT(Y, X, C, n_perm=spec["n_perm"], seed=0,  # noqa: E731
                                             threads=th)
        else:
            D = make_outcomes(n)
            out["input_mb"] += D.nbytes / 2**20
            fn = lambda: logistic_scan(D, Y, C, threads=th)  # noqa: E731
        times = []
        for _ in range(spec.get("repeat", 2)):
            t0 = time.perf_counter()
            res = fn()
            times.append(time.perf_counter() - t0)
        out["time_s"] = min(times)
        if spec.get("memory", True):
            _, out["peak_call_mb"] = _mem_run(fn)
        out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["status"] = res["status"].value_counts().to_dict()
        if kind == "ols":
            out["patterns"] = int(len({tuple(np.flatnonzero(np.isnan(X[:, j]) | np.isnan(C).any(1)))
                                       for j in range(t)}))
        if kind == "logit":
            out["iterations_mean"] = float(res["iterations"].mean())
            out["iterations_max"] = int(res["iterations"].max())
        return out
    if kind == "sm_ols":
        import statsmodels.api as sm

        rng = np.random.default_rng(5)
        traits = rng.choice(t, size=min(t, spec.get("traits", 4)), replace=False)
        lats = rng.choice(m, size=min(m, spec.get("lats", 10)), replace=False)
        cok = ~np.isnan(C).any(axis=1)
        setup, fits = [], []
        for j in traits:
            t0 = time.perf_counter()
            ok = cok & ~np.isnan(X[:, j])
            design = np.column_stack([np.ones(ok.sum()), X[ok, j], C[ok]])
            setup.append(time.perf_counter() - t0)
            for i in lats:
                t0 = time.perf_counter()
                r = sm.OLS(Y[ok, i], design).fit()
                _ = (r.params[1], r.bse[1], r.pvalues[1])
                fits.append(time.perf_counter() - t0)
        out["setup_s"] = float(np.mean(setup))
        out["fit_s"] = float(np.mean(fits))
        out["n_fits"] = len(fits)
        out["extrapolated_s"] = t * out["setup_s"] + m * t * out["fit_s"]
        return out
    if kind == "sm_logit":
        import statsmodels.api as sm

        D = make_outcomes(n)
        rng = np.random.default_rng(6)
        lats = rng.choice(m, size=min(m, spec.get("lats", 5)), replace=False)
        cok = ~np.isnan(C).any(axis=1)
        fits = []
        for k in range(D.shape[1]):
            for i in lats:
                t0 = time.perf_counter()
                design = np.column_stack([np.ones(cok.sum()), Y[cok, i], C[cok]])
                r = sm.Logit(D[cok, k], design).fit(disp=0)
                _ = (r.params[1], r.bse[1], r.pvalues[1])
                fits.append(time.perf_counter() - t0)
        out["fit_s"] = float(np.mean(fits))
        out["n_fits"] = len(fits)
        out["extrapolated_s"] = D.shape[1] * m * out["fit_s"]
        return out
    raise ValueError(kind)


def run(spec: dict, threads: int) -> dict:
    """Run ``spec`` in a fresh process; BLAS threads ``threads`` for the baselines and our call."""
    spec = dict(spec, threads=threads)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    p = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"child {spec} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _fmt_s(s):
    return f"{s:,.2f} s" if s < 100 else f"{s:,.0f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--md", default=None, help="also write the markdown report here")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test of the script)")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0

    th = args.threads
    N = 5_000 if args.quick else N_UKB
    M, T = (64, 10) if args.quick else (640, 50)
    lines = []
    say = lambda s="": (print(s, flush=True), lines.append(s))  # noqa: E731
    say("# Association scans benchmark (`benchmarks/bench_assoc.py`)")
    say()
    say(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}; BLAS threads {th} unless stated; "
        f"load average at start {os.getloadavg()[0]:.1f}.")
    say()

    # ---- headline OLS
    say(f"## ols_scan: {M} latents x {T} traits, N = {N:,}")
    say()
    say("| covariate columns | BLAS threads | ols_scan | statsmodels loop (extrapolated) | ratio "
        "| peak memory of the call | max RSS (inputs incl.) | patterns |")
    say("|---|---|---|---|---|---|---|---|")
    for cen, yrs, thr, ind in [(4, 10, th, False), (4, 10, 2 if th == 1 else 1, False),
                               (21, 9, th, False), (4, 10, th, True)]:
        spec = dict(kind="ols", n=N, m=M, t=T, centres=cen, years=yrs, repeat=args.repeat,
                    independent=ind)
        r = run(spec, thr)
        b = run(dict(spec, kind="sm_ols"), thr)
        say(f"| {r['n_cov']} | {thr} | {_fmt_s(r['time_s'])} | {_fmt_s(b['extrapolated_s'])} "
            f"({b['n_fits']} fits: {b['fit_s'] * 1e3:.1f} ms/fit + {b['setup_s'] * 1e3:.0f} ms/trait) "
            f"| {b['extrapolated_s'] / r['time_s']:,.0f}x | {r['peak_call_mb']:,.0f} MB "
            f"| {r['maxrss_mb']:,.0f} MB | {r['patterns']} |")
    say()

    # ---- logistic
    say(f"## logistic_scan: {M} latents x 2 outcomes (prevalence 4%, 2.5%), N = {N:,}, 15 covariates")
    say()
    r = run(dict(kind="logit", n=N, m=M, t=T, repeat=1), th)
    b = run(dict(kind="sm_logit", n=N, m=M, t=T), th)
    say("| logistic_scan | Newton steps mean / max | statsmodels Logit loop (extrapolated) | ratio "
        "| peak memory of the call | max RSS |")
    say("|---|---|---|---|---|---|")
    say(f"| {_fmt_s(r['time_s'])} | {r['iterations_mean']:.1f} / {r['iterations_max']} | "
        f"{_fmt_s(b['extrapolated_s'])} ({b['n_fits']} fits, {b['fit_s'] * 1e3:.0f} ms/fit) | "
        f"{b['extrapolated_s'] / r['time_s']:,.0f}x | {r['peak_call_mb']:,.0f} MB | "
        f"{r['maxrss_mb']:,.0f} MB |")
    say(f"\nstatus counts: {r['status']}")
    say()

    # ---- Westfall-Young
    p1, p2 = (5, 25) if not args.quick else (2, 6)
    w1 = run(dict(kind="wy", n=N, m=M, t=T, n_perm=p1, repeat=1, memory=False), th)
    w2 = run(dict(kind="wy", n=N, m=M, t=T, n_perm=p2, repeat=1), th)
    per = (w2["time_s"] - w1["time_s"]) / (p2 - p1)
    fixed = w1["time_s"] - p1 * per
    say(f"## westfall_young_maxT: {M} latents x {T} traits, N = {N:,}")
    say()
    say(f"{p1} permutations {_fmt_s(w1['time_s'])}, {p2} permutations {_fmt_s(w2['time_s'])}: "
        f"{per:.3f} s per permutation + {max(fixed, 0):.1f} s fixed -> about "
        f"{_fmt_s(fixed + 1000 * per)} for 1,000 permutations (peak memory of the call "
        f"{w2['peak_call_mb']:,.0f} MB).")
    say()

    # ---- scaling
    say(f"## ols_scan scaling over N ({T} traits, 15 covariate columns)")
    say()
    say("| N | latents | ols_scan | per latent x trait | statsmodels ms/fit | ratio (extrapolated) "
        "| peak memory of the call | max RSS |")
    say("|---|---|---|---|---|---|---|---|")
    sizes = [(2_000, 64), (5_000, 64)] if args.quick else [
        (10_000, 640), (30_000, 640), (N_UKB, 640), (200_000, 640), (500_000, 128)]
    for n, m in sizes:
        r = run(dict(kind="ols", n=n, m=m, t=T, repeat=args.repeat), th)
        b = run(dict(kind="sm_ols", n=n, m=m, t=T, traits=2, lats=4), th)
        say(f"| {n:,} | {m} | {_fmt_s(r['time_s'])} | {r['time_s'] / (m * T) * 1e6:.1f} us | "
            f"{b['fit_s'] * 1e3:.1f} | {b['extrapolated_s'] / r['time_s']:,.0f}x | "
            f"{r['peak_call_mb']:,.0f} MB | {r['maxrss_mb']:,.0f} MB |")
    say()
    if args.md:
        with open(args.md, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
