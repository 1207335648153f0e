"""Benchmark: cox_scan (all latents together) vs a loop of lifelines CoxPHFitter fits.

The issue's setting: 640 latents x 2 outcomes (AF ~3%, MI ~2% incidence), N = 71,021,
10 covariate columns (age, sex, BSA, SBP, BMI, imaging year, visit, 3 centre dummies),
follow-up in days / 365.25 up to ~9.5 years (tied event times). The lifelines loop is timed on
a sample of fits per outcome and extrapolated to 1,280 fits. Every configuration runs in its own
subprocess so that its peak memory (ru_maxrss) is its own. Wall and CPU seconds are both
reported: on a shared machine the wall time depends on the other jobs, the CPU time much less.

    python benchmarks/bench_cox.py                 # full run, prints markdown
    python benchmarks/bench_cox.py --quick         # small smoke run
    python benchmarks/bench_cox.py --out /work/notes/cox_bench.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

N_FULL = 71_021
M_FULL = 640
COVS = ["age", "sex", "bsa", "sbp", "bmi", "year", "visit", "centre_b", "centre_c", "centre_d"]


def make_data(n: int, m: int, seed: int = 0):
    """Synthetic cohort: latents (n, m) from 5 correlated 'seeds', covariates, AF and MI outcomes."""
    rng = np.random.default_rng(seed)
    k = max(1, m // 5)
    base = rng.normal(size=(n, k))
    Z = np.empty((n, m))  # filled block by block: no large temporaries (peak memory = data)
    for s0 in range(0, m, k):
        w = min(k, m - s0)
        Z[:, s0:s0 + w] = base[:, :w] + 0.5 * rng.normal(size=(n, w))
    del base
    age = rng.normal(64, 7.5, n)
    sex = rng.integers(0, 2, n).astype(float)
    bsa = rng.normal(1.9, 0.2, n) + 0.15 * sex
    sbp = rng.normal(138, 18, n)
    bmi = rng.normal(26.5, 4.2, n)
    year = rng.integers(2014, 2021, n).astype(float)
    visit = (rng.uniform(size=n) < 0.05).astype(float)
    centre = rng.integers(0, 4, n)
    C = np.c_[age, sex, bsa, sbp, bmi, year, visit, centre == 1, centre == 2, centre == 3].astype(float)
    followup = (2023.83 - year - rng.uniform(0, 1, n)).clip(0.5, 9.5)  # administrative censoring
    out = {}
    for name, rate, eff in (("AF", 0.0035, 0.25), ("MI", 0.0023, 0.15)):
        lp = 0.07 * (age - 64) + 0.4 * sex + eff * Z[:, 0] - 0.1 * Z[:, 1]
        t_ev = rng.exponential(1.0 / (rate * np.exp(lp)))
        death = rng.exponential(80.0, n)
        t = np.minimum(np.minimum(t_ev, followup), death)
        e = (t_ev <= np.minimum(followup, death)).astype(float)
        t = np.maximum(np.ceil(t * 365.25), 1) / 365.25  # days -> years (ties)
        out[name] = (t, e)
    return Z, C, out


def _limits():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def child(cfg: dict) -> dict:
    import pandas  # noqa: F401  (imports before the baseline memory reading)
    import scipy.sparse  # noqa: F401

    if cfg["kind"] == "lifelines":
        import lifelines  # noqa: F401
    else:
        import cardiolatent.stats.cox  # noqa: F401
    n, m = cfg["n"], cfg["m"]
    Z, C, outcomes = make_data(n, m)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = {"n": n, "m": m, "rss_data_mb": rss0 / 1024}
    if cfg["kind"] == "lifelines":
        import warnings

        import pandas as pd
        from lifelines import CoxPHFitter

        warnings.simplefilter("ignore")
        k = cfg["sample"]
        wall = cpu = 0.0
        fits = 0
        with _limits():
            for name, (t, e) in outcomes.items():
                df = pd.DataFrame(C, columns=COVS)
                df["T"], df["E"] = t, e
                for i in range(k):
                    df["z"] = (Z[:, i] - Z[:, i].mean()) / Z[:, i].std(ddof=1)
                    w0, c0 = time.perf_counter(), time.process_time()
                    cph = CoxPHFitter().fit(df, "T", "E")
                    _ = cph.summary.loc["z"], cph.concordance_index_
                    wall += time.perf_counter() - w0
                    cpu += time.process_time() - c0
                    fits += 1
        res.update(per_fit_wall=wall / fits, per_fit_cpu=cpu / fits, fits=fits)
    else:
        from cardiolatent.stats.cox import cox_scan

        w0, c0 = time.perf_counter(), time.process_time()
        events = {}
        for name, (t, e) in outcomes.items():
            r = cox_scan(t, e, Z, C, c_names=COVS, c_index=cfg["c_index"], n_jobs=cfg["n_jobs"])
            events[name] = int(e.sum())
            assert (r.status == "ok").all(), r.status.value_counts()
        res.update(wall=time.perf_counter() - w0, cpu=time.process_time() - c0, events=events,
                   iterations=int(r.iterations.max()))
        import tracemalloc  # numpy reports its buffers to tracemalloc: peak bytes held by one call

        t, e = outcomes["AF"]
        tracemalloc.start()
        cox_scan(t, e, Z, C, c_names=COVS, c_index=cfg["c_index"], n_jobs=cfg["n_jobs"])
        res["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        if cfg.get("check"):
            res["check"] = check_against_lifelines(Z, C, outcomes, r, cfg["check"])
    res["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def check_against_lifelines(Z, C, outcomes, r, k):
    """Max relative difference of beta / se and abs. difference of C against lifelines (MI, k latents)."""
    import warnings

    import pandas as pd
    from lifelines import CoxPHFitter

    warnings.simplefilter("ignore")
    t, e = outcomes["MI"]
    df = pd.DataFrame(C, columns=COVS)
    df["T"], df["E"] = t, e
    db = ds = dc = 0.0
    for i in range(k):
        df["z"] = (Z[:, i] - Z[:, i].mean()) / Z[:, i].std(ddof=1)
        cph = CoxPHFitter().fit(df, "T", "E", fit_options=dict(precision=1e-30, r_precision=0.0))
        db = max(db, abs(r.beta[i] / cph.params_["z"] - 1))
        ds = max(ds, abs(r.se[i] / cph.standard_errors_["z"] - 1))
        dc = max(dc, abs(r.c_index[i] - cph.concordance_index_) if "c_index" in r else 0.0)
    return {"beta_rel": db, "se_rel": ds, "c_abs": dc}


def run(cfg: dict) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True,
                       env=env, check=False)
    if p.returncode:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sample", type=int, default=4, help="lifelines fits timed per outcome")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(json.loads(a.child))))
        return
    n, m = (10_000, 64) if a.quick else (N_FULL, M_FULL)
    lines = []
    say = lambda s="": (print(s, flush=True), lines.append(s))  # noqa: E731
    load = os.getloadavg()
    say(f"## cox_scan benchmark: {m} latents x 2 outcomes, N = {n:,}, {len(COVS)} covariates")
    say()
    say(f"Machine: {os.cpu_count()} CPU cores; load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(other jobs share the machine: wall times vary with them, CPU times much less).")
    say()
    base = run({"kind": "lifelines", "n": n, "m": m, "sample": a.sample})
    fits = 2 * m
    lw, lc = base["per_fit_wall"] * fits, base["per_fit_cpu"] * fits
    rows = [("lifelines CoxPHFitter loop (fit + summary + concordance_index_), extrapolated from "
             f"{base['fits']} fits", lw, lc, base["rss_peak_mb"])]
    configs = [("cox_scan, c_index=False, n_jobs=1", dict(c_index=False, n_jobs=1)),
               ("cox_scan, c_index=True, n_jobs=1", dict(c_index=True, n_jobs=1)),
               ("cox_scan, c_index=True, n_jobs=2", dict(c_index=True, n_jobs=2, check=3))]
    results = {}
    for label, kw in configs:
        r = run({"kind": "scan", "n": n, "m": m, **kw})
        results[label] = r
        rows.append((label, r["wall"], r["cpu"], r["rss_peak_mb"]))
    ev = next(iter(results.values()))["events"]
    say(f"Events: AF {ev['AF']:,} ({ev['AF'] / n:.1%}), MI {ev['MI']:,} ({ev['MI'] / n:.1%}); "
        f"lifelines: {base['per_fit_wall']:.2f} s wall / {base['per_fit_cpu']:.2f} s CPU per fit.")
    say()
    say("| method | wall s | CPU s | ms per model (wall) | speed-up wall | speed-up CPU | peak RSS MB | "
        "peak allocated by the call MB |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows[0] = rows[0] + (float("nan"),)
    for i, (label, kw) in enumerate(configs):
        rows[i + 1] = rows[i + 1] + (results[label]["traced_peak_mb"],)
    for label, w, c, rss, tr in rows:
        trs = "" if tr != tr else f"{tr:,.0f}"
        say(f"| {label} | {w:,.1f} | {c:,.1f} | {1000 * w / fits:.1f} | {lw / w:,.0f}x | {lc / c:,.0f}x | {rss:,.0f} | "
            f"{trs} |")
    say()
    say(f"Peak RSS: the whole process (Python, libraries, data: latents {n * m * 8 / 2**20:,.0f} MB as float64, "
        "covariates, outcomes). Peak allocated: tracemalloc's peak over one cox_scan call (one outcome), i.e. the "
        "memory the call needs on top of its inputs.")
    chk = results[configs[-1][0]].get("check")
    if chk:
        say(f"Agreement with lifelines (MI, 3 latents, lifelines run to full convergence): max rel. diff beta "
            f"{chk['beta_rel']:.1e}, se {chk['se_rel']:.1e}; C-index abs. diff {chk['c_abs']:.1e}.")
    say()
    say("### Scaling with N (one process per row; c_index=True, n_jobs=1; both outcomes)")
    say()
    say("| N | latents | events AF / MI | wall s | CPU s | CPU ms per model | peak RSS MB | peak allocated MB |")
    say("|---:|---:|---|---:|---:|---:|---:|---:|")
    grid = [(10_000, 64), (30_000, 64), (71_021, 64), (200_000, 64), (500_000, 32)]
    if a.quick:
        grid = [(5_000, 16), (20_000, 16)]
    for nn, mm in grid:
        r = run({"kind": "scan", "n": nn, "m": mm, "c_index": True, "n_jobs": 1})
        say(f"| {nn:,} | {mm} | {r['events']['AF']:,} / {r['events']['MI']:,} | {r['wall']:.1f} | {r['cpu']:.1f} | "
            f"{1000 * r['cpu'] / (2 * mm):.1f} | {r['rss_peak_mb']:,.0f} | {r['traced_peak_mb']:,.0f} |")
    say()
    say(f"(fewer latents at N = 500,000; load average at end {os.getloadavg()[0]:.1f})")
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
