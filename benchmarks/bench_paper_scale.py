"""Benchmark: the whole ``assoc``, ``cox`` and ``icc --between seeds`` commands at the paper's scale.

Run by hand (not a test)::

    python benchmarks/bench_paper_scale.py [--dir DIR] [--rebuild] [--only assoc,cox,icc]
                                           [--json out.json] [--md out.md] [--baseline-fits 40]

Input (built once, cached in ``DIR``, default ``$TMPDIR/cardiolatent_bench_paper``):

- ``latents.parquet``: the encoder's long format (``eid, instance, seed, Z0..Z127``; int64 ids,
  float32 latents, sorted by eid, instance, seed): 71,021 participants at visit 2 plus 3,000 repeat
  visits (instance 3) x 5 seeds (1701, 1993, 42, 1994, 2023) = 370,105 rows. Each seed's latents
  are a signed permutation of shared factors plus noise (so the cross-seed matching finds partners);
- ``ukb_main.csv`` (``cardiolatent.ukb.read.write_main``, ukbconv csv naming): visit dates
  53-0.0/2.0/3.0, age 21003-2.0/3.0, sex 31-0.0, year of birth 34-0.0, height 50, weight 21002,
  BMI 21001, centre 54 (instance 2), 50 continuous trait fields 30000..30049 (instance 2, 8
  missingness groups from 0% to 50%, registered by ``fields.tsv``), first-occurrence dates 131350
  (AF) and 131298 (MI) (incident ~4% / ~3% within follow-up, prevalent ~1.5% / ~1%) and date of
  death 40000;
- ``fields.tsv``: the registry rows of the 50 trait fields (``--fields``).

Each command runs in a fresh subprocess (``python bench_paper_scale.py --child ...`` which calls
``cardiolatent.cli.main``) with explicit timers wrapped around its steps (reading the main data,
reading the latents, variables, standardising, the scan, M_eff, saving ...); the parent records
the wall time and the child's peak RSS (``os.wait4``). Baselines in the same run, timed on a
subset of fits and extrapolated (stated in the table): ``statsmodels.OLS`` per (latent, trait),
``lifelines.CoxPHFitter`` per (latent, outcome) with its concordance, ``pingouin.intraclass_corr``
per matched latent (plus numpy correlations for the matching). Prints a compact table and writes
a JSON of everything (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_PART = 71_021
N_REPEAT = 3_000
SEEDS = (1701, 1993, 42, 1994, 2023)
D = 128
N_TRAITS = 50
TRAIT0 = 30000
ADMIN = "2023-10-31"
VERSION = "1"

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------

def build(folder: Path, rebuild: bool = False, seed: int = 0) -> dict:
    """Write the paper-scale inputs into ``folder`` once (a stamp file marks a complete build)."""
    stamp = folder / "BUILT"
    paths = {"latents": folder / "latents.parquet", "ukb": folder / "ukb_main.csv",
             "fields": folder / "fields.tsv"}
    if stamp.exists() and stamp.read_text().strip() == VERSION and not rebuild:
        return paths
    import numpy as np
    import pandas as pd

    from cardiolatent.ukb.read import write_main
    from cardiolatent.ukb.registry import FieldRegistry

    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n = N_PART
    eids = np.sort(rng.choice(np.arange(1_000_000, 6_100_000), n, replace=False)).astype(np.int64)
    day = np.timedelta64(1, "D")
    d2 = np.datetime64("2014-05-01") + rng.integers(0, int((np.datetime64("2023-06-30")
                                                             - np.datetime64("2014-05-01")) / day), n) * day
    d0 = np.datetime64("2006-03-01") + rng.integers(0, 4 * 365, n) * day
    age2 = rng.integers(45, 83, n)
    sex = rng.integers(0, 2, n)
    rep = np.sort(rng.choice(n, N_REPEAT, replace=False))  # participants with a repeat imaging visit
    d3 = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    d3[rep] = np.minimum(d2[rep] + rng.integers(2 * 365, 4 * 365, N_REPEAT) * day, np.datetime64("2023-09-30"))
    age3 = np.full(n, np.nan)
    age3[rep] = age2[rep] + 3
    height = rng.normal(170, 9, n) + 8 * sex
    weight = rng.normal(76, 14, n) + 8 * sex
    centre = rng.choice([11025, 11026, 11027, 11028], n, p=[0.4, 0.3, 0.2, 0.1])

    # latents: shared factors F (rows = participant-visits), each seed a signed permutation + noise
    nrow = n + N_REPEAT
    row_p = np.r_[np.arange(n), rep]
    F = rng.standard_normal((nrow, D)).astype(np.float32)
    F[:, 0] += (0.02 * (age2[row_p] - 64)).astype(np.float32)
    F[:, 1] += (0.3 * sex[row_p]).astype(np.float32)

    # traits at visit 2, some related to factors
    X = rng.standard_normal((n, N_TRAITS))
    X[:, :10] += 0.1 * F[:n, :10]
    X = X * rng.uniform(1, 50, N_TRAITS) + rng.uniform(0, 200, N_TRAITS)
    sizes = np.array([12, 8, 8, 6, 6, 4, 4, 2])
    rates = [0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5]
    start = 0
    for size, rate in zip(sizes, rates):
        if rate:
            X[rng.random(n) < rate, start:start + size] = np.nan
        start += size

    def first_dates(rate_10y, beta_lat, prev_frac):
        lin = beta_lat * F[:n, 2] + 0.04 * (age2 - 64) + 0.3 * sex
        rate = -np.log(1 - rate_10y) / 10 * np.exp(lin - lin.mean())
        t_years = rng.exponential(1 / rate)
        when = d2 + np.round(t_years * 365.25).astype(np.int64) * day
        out = np.where(when <= np.datetime64(ADMIN), when, np.datetime64("NaT"))
        prev = rng.random(n) < prev_frac
        out[prev] = d0[prev] + rng.integers(0, 3 * 365, prev.sum()) * day
        return out.astype("datetime64[D]")

    af = first_dates(0.08, 0.35, 0.015)
    mi = first_dates(0.06, 0.25, 0.01)
    death_t = rng.exponential(1 / 0.006, n)
    death = d2 + np.round(death_t * 365.25).astype(np.int64) * day
    death = np.where(death <= np.datetime64(ADMIN), death, np.datetime64("NaT")).astype("datetime64[D]")

    wide = {"53-0.0": d0, "53-2.0": d2, "53-3.0": d3, "21003-2.0": age2.astype(float), "21003-3.0": age3,
            "31-0.0": sex.astype(float), "34-0.0": (d2.astype("datetime64[Y]").astype(int) + 1970 - age2).astype(float),
            "50-2.0": np.round(height, 1), "21002-2.0": np.round(weight, 1),
            "21001-2.0": np.round(weight / (height / 100) ** 2, 4), "54-2.0": centre.astype(float),
            "131350-0.0": af, "131298-0.0": mi, "40000-0.0": death}
    for j in range(N_TRAITS):
        wide[f"{TRAIT0 + j}-2.0"] = np.round(X[:, j], 5)
    wdf = pd.DataFrame(wide, index=pd.Index(eids, name="eid"))
    for c in ("53-0.0", "53-2.0", "53-3.0", "131350-0.0", "131298-0.0", "40000-0.0"):
        wdf[c] = pd.to_datetime(wdf[c])
    freg = pd.DataFrame({"field": [TRAIT0 + j for j in range(N_TRAITS)],
                         "name": [f"trait_{TRAIT0 + j}" for j in range(N_TRAITS)],
                         "type": "continuous", "unit": "", "coding": "", "na_codes": "", "instances": "2",
                         "arrays": "1", "description": [f"benchmark trait {j}" for j in range(N_TRAITS)]})
    freg.to_csv(paths["fields"], sep="\t", index=False)
    reg = FieldRegistry.default().extend(paths["fields"])
    write_main(wdf, paths["ukb"], registry=reg)

    # long latents table, sorted by eid, instance, seed
    inst = np.r_[np.full(n, 2), np.full(N_REPEAT, 3)].astype(np.int64)
    row_eid = eids[row_p]
    order = np.lexsort((inst, row_eid))
    parts = []
    for s in SEEDS:
        r = np.random.default_rng(s)
        perm = r.permutation(D)
        sign = r.choice([-1.0, 1.0], D).astype(np.float32)
        Z = F[:, perm] * sign * r.uniform(0.5, 2, D).astype(np.float32) + r.uniform(-1, 1, D).astype(np.float32)
        Z += 0.4 * r.standard_normal((nrow, D)).astype(np.float32)
        parts.append(Z[order])
    lat = np.stack(parts, axis=1).reshape(nrow * len(SEEDS), D)  # (row, seed) order
    cols = {"eid": np.repeat(row_eid[order], len(SEEDS)), "instance": np.repeat(inst[order], len(SEEDS)),
            "seed": np.tile(np.array(SEEDS, np.int64), nrow)}
    import pyarrow as pa
    import pyarrow.parquet as pq
    arrays = [pa.array(v) for v in cols.values()] + [pa.array(lat[:, k]) for k in range(D)]
    pq.write_table(pa.Table.from_arrays(arrays, names=list(cols) + [f"Z{k}" for k in range(D)]), paths["latents"])
    stamp.write_text(VERSION)
    print(f"built the paper-scale input in {folder} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return paths


# --------------------------------------------------------------------------------------------
# the commands, in fresh processes with step timers
# --------------------------------------------------------------------------------------------

#: (module, attribute) wrapped with a timer in the child; the step's label
STEPS = [
    ("cardiolatent.commands._common", "analysis_inputs", "read main data (+ definitions)"),
    ("cardiolatent.latents", "read_latents", "read latents (long -> wide)"),
    ("cardiolatent.analysis.association", "read_latents", "read latents (long -> wide)"),
    ("cardiolatent.analysis.survival", "read_latents", "read latents (long -> wide)"),
    ("cardiolatent.analysis.reproducibility", "read_latents", "read latents (long -> wide)"),
    ("cardiolatent.analysis.association", "participant_variables", "variables at the visit"),
    ("cardiolatent.analysis.survival", "participant_variables", "variables at the visit"),
    ("cardiolatent.analysis.association", "_latent_matrix", "standardise latents"),
    ("cardiolatent.analysis.association", "_trait_columns", "trait matrix"),
    ("cardiolatent.analysis.association", "_model_specs", "design matrices"),
    ("cardiolatent.analysis.association", "_scan", "OLS scan"),
    ("cardiolatent.analysis.association", "_mark_constant_latents", "constant-latent check"),
    ("cardiolatent.analysis.association", "_meff", "M_eff (correlation + eigenvalues)"),
    ("cardiolatent.analysis.survival", "survival_data", "outcome logic (time, event)"),
    ("cardiolatent.analysis.survival", "cox_scan", "Cox scan (+ C-index)"),
    ("cardiolatent.analysis.reproducibility", "correlation", "correlation matrix (640 x 640)"),
    ("cardiolatent.analysis.reproducibility", "centred_cross_products", "cross-products (640 x 640)"),
    ("cardiolatent.stats.intraclass", "table_from_mean_squares", "ICC table from mean squares"),
    ("cardiolatent.analysis.reproducibility", "_gram_mean_squares", "ICC mean squares (from cross-products)"),
    ("cardiolatent.analysis.reproducibility", "_partners_best", "cross-seed matching"),
    ("cardiolatent.analysis.reproducibility", "_rater_array", "rater array"),
    ("cardiolatent.analysis.reproducibility", "icc_mod.icc", "ICC (six forms)"),
    ("cardiolatent.analysis.reproducibility", "_meff_summary", "M_eff (correlation + eigenvalues)"),
    ("cardiolatent.analysis.reproducibility", "_meff_from_correlation", "M_eff (eigenvalues)"),
    ("cardiolatent.results", "Result.save", "save outputs"),
]


def child(argv: list[str], timings_path: str) -> int:
    """Run ``cardiolatent <argv>`` in this process with timers around its steps."""
    t_start = time.perf_counter()
    import importlib

    import resource

    times: dict[str, float] = {}
    user: dict[str, float] = {}
    system: dict[str, float] = {}
    calls: dict[str, int] = {}
    active = [0]

    def wrap(fn, label):
        def timed(*a, **k):
            if active[0]:  # a step inside another step is counted in the outer one
                return fn(*a, **k)
            active[0] += 1
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                times[label] = times.get(label, 0.0) + time.perf_counter() - t
                user[label] = user.get(label, 0.0) + r1.ru_utime - r0.ru_utime
                system[label] = system.get(label, 0.0) + r1.ru_stime - r0.ru_stime
                calls[label] = calls.get(label, 0) + 1
                active[0] -= 1
        return timed

    from cardiolatent import cli
    t_imp0 = time.perf_counter()
    for mod, attr, label in STEPS:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        owner = m
        *path, name = attr.split(".")
        for p in path:
            owner = getattr(owner, p, None)
        if owner is None or not hasattr(owner, name):
            continue
        setattr(owner, name, wrap(getattr(owner, name), label))
    t_imp = time.perf_counter() - t_imp0
    t0 = time.perf_counter()
    rc = cli.main(argv)
    t_run = time.perf_counter() - t0
    Path(timings_path).write_text(json.dumps({
        "steps": times, "user": user, "sys": system, "calls": calls, "run": t_run, "imports_at_start": t_imp,
        "in_process": time.perf_counter() - t_start}))
    return int(rc or 0)


def warm(paths) -> None:
    """Read the input files once so that they are in the page cache (the timings are of the work,
    not of the disk)."""
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(1 << 24):
                pass


def run_command(name: str, argv: list[str], env: dict, workdir: Path) -> dict:
    """One command in a fresh child process: wall time, peak RSS (MB), per-step times."""
    warm([a for a in argv if a.endswith((".parquet", ".csv", ".tsv")) and Path(a).is_file()])
    tp = workdir / f"{name}.timings.json"
    tp.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(tp), "--"] + argv
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{out.decode(errors='replace')[-4000:]}")
    tim = json.loads(tp.read_text())
    steps = tim["steps"]
    rest = wall - sum(steps.values())
    return {"wall_s": wall, "peak_rss_mb": ru.ru_maxrss / 1024, "cpu_s": ru.ru_utime + ru.ru_stime,
            "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "steps": steps, "steps_user": tim["user"],
            "steps_sys": tim["sys"], "calls": tim["calls"],
            "imports_and_rest_s": rest, "argv": argv, "stdout_tail": out.decode(errors="replace")[-1500:]}


# --------------------------------------------------------------------------------------------
# baselines (a subset of fits, extrapolated)
# --------------------------------------------------------------------------------------------

def _analysis_frame(paths: dict, covariates=("age", "sex"), traits=()):
    from cardiolatent.analysis.design import participant_variables
    from cardiolatent.latents import read_latents
    from cardiolatent.ukb.read import read_main
    from cardiolatent.ukb.registry import FieldRegistry

    reg = FieldRegistry.default().extend(paths["fields"])
    main = read_main(paths["ukb"], registry=reg, missing_ok=True)
    L = read_latents(paths["latents"])
    V = participant_variables(main, L.keys, list(traits) + list(covariates), registry=reg)
    return main, L, V


def baseline_ols(paths: dict, out_table: Path | None, n_fits: int) -> dict:
    """statsmodels OLS ``latent ~ trait + age + sex`` on complete cases, standardised as the command."""
    import numpy as np
    import pandas as pd
    import statsmodels.api as sm

    traits = [f"trait_{TRAIT0 + j}" for j in range(N_TRAITS)]
    main, L, V = _analysis_frame(paths, traits=traits)
    rng = np.random.default_rng(1)
    pick_t = rng.choice(N_TRAITS, max(1, n_fits // 8), replace=False)
    fits = [(int(rng.integers(L.n_latents)), int(t)) for t in pick_t for _ in range(8)][:n_fits]
    Y = L.as_float64()
    Y = (Y - Y.mean(0)) / Y.std(0, ddof=1)
    t_design, t_fit, rows = 0.0, 0.0, []
    for j in sorted({t for _, t in fits}):
        t0 = time.perf_counter()
        x = V.table[traits[j]].to_numpy(float)
        age, sex = V.table["age"].to_numpy(float), V.table["sex"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(age) & np.isfinite(sex)
        xs = (x - np.nanmean(x)) / np.nanstd(x, ddof=1)
        design = sm.add_constant(np.column_stack([xs[ok], age[ok], sex[ok]]))
        t_design += time.perf_counter() - t0
        for i, tj in fits:
            if tj != j:
                continue
            t0 = time.perf_counter()
            r = sm.OLS(Y[ok, i], design).fit()
            t_fit += time.perf_counter() - t0
            rows.append((L.columns[i], traits[j], r.params[1], r.bse[1], r.pvalues[1]))
    per_fit = t_fit / len(fits)
    per_design = t_design / len({t for _, t in fits})
    total = per_fit * L.n_latents * N_TRAITS + per_design * N_TRAITS
    check = None
    if out_table is not None and out_table.exists():
        got = pd.read_csv(out_table, sep="\t").set_index(["latent", "trait"])
        dev = [max(abs(b - got.loc[(lat, tr), "beta"]) / max(abs(b), 1e-12),
                   abs(s - got.loc[(lat, tr), "se"]) / s) for lat, tr, b, s, _ in rows]
        check = float(np.max(dev))
    return {"fits_timed": len(fits), "per_fit_s": per_fit, "per_trait_design_s": per_design,
            "extrapolated_s": total, "n_models": L.n_latents * N_TRAITS,
            "max_rel_dev_beta_se_vs_command": check}


def baseline_cox(paths: dict, out_table: Path | None, n_fits: int) -> dict:
    """lifelines CoxPHFitter per latent (Efron, age + sex, latent standardised) with concordance."""
    import numpy as np
    import pandas as pd
    from lifelines import CoxPHFitter

    from cardiolatent.analysis.survival import survival_data

    main, L, V = _analysis_frame(paths)
    rng = np.random.default_rng(2)
    t_fit, n_done, rows = 0.0, 0, []
    for outcome in ("AF", "MI"):
        S = survival_data(main, L.keys, outcome)
        use = pd.isna(S.reason) & np.isfinite(V.table["age"].to_numpy()) & np.isfinite(V.table["sex"].to_numpy())
        for i in rng.choice(L.n_latents, max(1, n_fits // 2), replace=False):
            z = L.values[use, i].astype(float)
            df = pd.DataFrame({"T": S.time[use], "E": S.event[use], "z": (z - z.mean()) / z.std(ddof=1),
                               "age": V.table["age"].to_numpy()[use], "sex": V.table["sex"].to_numpy()[use]})
            t0 = time.perf_counter()
            cph = CoxPHFitter().fit(df, "T", "E")
            c = cph.concordance_index_
            t_fit += time.perf_counter() - t0
            n_done += 1
            rows.append((L.columns[i], outcome, cph.params_["z"], cph.standard_errors_["z"], c))
    per_fit = t_fit / n_done
    check = None
    if out_table is not None and out_table.exists():
        got = pd.read_csv(out_table, sep="\t").set_index(["latent", "outcome"])
        dev = [max(abs(b - got.loc[(lat, o), "beta"]) / max(abs(b), 1e-12),
                   abs(s - got.loc[(lat, o), "se"]) / s, abs(c - got.loc[(lat, o), "c_index"]))
               for lat, o, b, s, c in rows]
        check = float(np.max(dev))
    return {"fits_timed": n_done, "per_fit_s": per_fit, "n_models": 2 * L.n_latents,
            "extrapolated_s": per_fit * 2 * L.n_latents, "max_rel_dev_beta_se_abs_c_vs_command": check}


def baseline_icc(paths: dict, n_fits: int) -> dict:
    """The naive way: numpy correlations for the matching, pingouin.intraclass_corr per latent."""
    import numpy as np
    import pandas as pd
    import pingouin as pg

    from cardiolatent.latents import read_latents

    L = read_latents(paths["latents"])
    X = L.as_float64()
    X = (X - X.mean(0)) / X.std(0)
    t0 = time.perf_counter()
    ref = X[:, :D]
    partners = []
    for s in range(1, len(SEEDS)):
        r = np.corrcoef(ref.T, X[:, s * D:(s + 1) * D].T)[:D, D:]
        best = np.abs(r).argmax(1)
        partners.append((best, np.sign(r[np.arange(D), best])))
    t_match = time.perf_counter() - t0
    n = len(X)
    t_icc = 0.0
    for k in range(n_fits):
        cols = [ref[:, k]] + [sg[k] * X[:, (s + 1) * D + b[k]] for s, (b, sg) in enumerate(partners)]
        long = pd.DataFrame({"subject": np.tile(np.arange(n), len(cols)),
                             "rater": np.repeat(np.arange(len(cols)), n), "value": np.concatenate(cols)})
        t0 = time.perf_counter()
        pg.intraclass_corr(long, targets="subject", raters="rater", ratings="value")
        t_icc += time.perf_counter() - t0
    per = t_icc / n_fits
    return {"fits_timed": n_fits, "per_latent_icc_s": per, "matching_s": t_match,
            "extrapolated_s": t_match + per * D, "n_models": D}


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

def report(res: dict) -> str:
    lines = [f"machine: {res['machine']}; {res['date']}; load average at start {res['load_start']}",
             "", "| command | wall s (best) | all runs s | peak RSS MB | user / sys CPU s | baseline (extrapolated) s "
             "| ratio |", "|---|---:|---|---:|---:|---:|---:|"]
    for name, r in res["commands"].items():
        b = res["baselines"].get(name, {})
        ext = b.get("extrapolated_s")
        runs = ", ".join(f"{w:.1f}" for w in r.get("all_wall_s", [r["wall_s"]]))
        lines.append(f"| {name} | {r['wall_s']:.2f} | {runs} | {max(r.get('all_peak_rss_mb', [r['peak_rss_mb']])):.0f} | "
                     f"{r['user_s']:.1f} / {r['sys_s']:.1f} | "
                     + (f"{ext:.0f} | {ext / r['wall_s']:.0f}x |" if ext else "- | - |"))
    for name, r in res["commands"].items():
        lines += ["", f"{name}: `cardiolatent {' '.join(Path(a).name if os.sep in a else a for a in r['argv'])}`",
                  "", "| step | wall s | user s | sys s | calls |", "|---|---:|---:|---:|---:|"]
        for k, v in sorted(r["steps"].items(), key=lambda kv: -kv[1]):
            lines.append(f"| {k} | {v:.2f} | {r['steps_user'].get(k, 0):.2f} | {r['steps_sys'].get(k, 0):.2f} | "
                         f"{r['calls'].get(k, '')} |")
        lines.append(f"| imports, start-up and the rest | {r['imports_and_rest_s']:.2f} | | | |")
    lines.append("")
    for name, b in res["baselines"].items():
        lines.append(f"- baseline {name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                      for k, v in b.items()))
    return "\n".join(lines)


def main() -> int:
    if "--child" in sys.argv:
        i = sys.argv.index("--child")
        tp = sys.argv[i + 1]
        argv = sys.argv[sys.argv.index("--") + 1:]
        return child(argv, tp)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "cardiolatent_bench_paper"))
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--only", default="assoc,cox,icc")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--baseline-fits", type=int, default=40, help="OLS fits timed (Cox: a tenth, ICC: 4)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each command (fresh processes); the fastest is reported, all are in the JSON")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP/OPENBLAS threads of the children (default: unchanged)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    args = ap.parse_args()
    folder = Path(args.dir)
    paths = build(folder, args.rebuild)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent) + os.pathsep + env.get("PYTHONPATH", "")
    if args.threads:
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[k] = str(args.threads)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    traits = ",".join(str(TRAIT0 + j) for j in range(N_TRAITS))
    common = ["--latents", str(paths["latents"]), "--ukb", str(paths["ukb"]), "--fields", str(paths["fields"])]
    cmds = {
        "assoc": ["assoc"] + common + ["--traits", traits, "--covariates", "age,sex", "--out",
                                       str(out / "assoc.tsv")],
        "cox": ["cox"] + common + ["--outcomes", "AF,MI", "--covariates", "age,sex", "--out", str(out / "cox.tsv")],
        "icc": ["icc", "--latents", str(paths["latents"]), "--between", "seeds", "--out", str(out / "icc.tsv")],
    }
    only = [c for c in args.only.split(",") if c]
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "load_start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
           "input": {"participants": N_PART, "repeat_visits": N_REPEAT, "seeds": list(SEEDS), "latents": D * len(SEEDS),
                     "traits": N_TRAITS}, "commands": {}, "baselines": {}}
    for name in only:
        runs = []
        for k in range(max(1, args.repeat)):
            print(f"running {name} ({k + 1}/{args.repeat}) ...", flush=True)
            runs.append(run_command(name, cmds[name], env, folder))
            print(f"  {runs[-1]['wall_s']:.2f} s, {runs[-1]['peak_rss_mb']:.0f} MB", flush=True)
        best = dict(min(runs, key=lambda r: r["wall_s"]))
        best["all_wall_s"] = [r["wall_s"] for r in runs]
        best["all_peak_rss_mb"] = [r["peak_rss_mb"] for r in runs]
        res["commands"][name] = best
    if not args.no_baselines:
        if "assoc" in only:
            print("baseline: statsmodels OLS ...", flush=True)
            res["baselines"]["assoc"] = baseline_ols(paths, out / "assoc.tsv", args.baseline_fits)
        if "cox" in only:
            print("baseline: lifelines CoxPHFitter ...", flush=True)
            res["baselines"]["cox"] = baseline_cox(paths, out / "cox.tsv", max(2, args.baseline_fits // 10))
        if "icc" in only:
            print("baseline: pingouin ICC ...", flush=True)
            res["baselines"]["icc"] = baseline_icc(paths, 3)
    res["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(res)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    if args.md:
        Path(args.md).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
