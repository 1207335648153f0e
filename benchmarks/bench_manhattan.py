"""Benchmark: the paper-scale Manhattan plot (182 latents x 10 million variants) with
:func:`cardiolatent.plotting.gwas.manhattan` vs a plain matplotlib scatter of the same rows.

The input is what ``gwas-results`` keeps for 182 latents of 10 million variants each, built once in
/tmp with gwas-results' own code (:func:`cardiolatent.gwas.plotdata.manhattan_table`,
:func:`~cardiolatent.gwas.plotdata.thin_hash`, :func:`~cardiolatent.gwas.inflation.qq_points` /
``lambda_gc``, :func:`~cardiolatent.gwas.coords.chrom_offsets`, the locus merging) and saved with
:meth:`GwasSummary.save`: per latent every variant with P < 1e-3 (Binomial(10M, 1e-3), ~10,000
under the null, uniform on the genome) plus the hits, and the 10,000 background variants of smallest
position hash (the ones gwas-results keeps; largely the same variants in every latent); 60 loci,
each touching 3-15 random latents with a peak of -log10 P from 8 to 400 (P = 1e-400 included);
the QQ table per latent from a 10-million null with the latent's own top values. About 3.6 million
Manhattan rows.

Each method runs in its own subprocess, from reading the saved folder to writing PNG + PDF (wall
seconds from the parent, peak RSS = the process's ru_maxrss), as a user would run it:

- ours: ``fig = manhattan(folder)``; ``save_figure(fig, stem)`` (thinned background, broken y axis,
  locus labels, rasterised points);
- baseline (what a user would otherwise write): ``pandas.read_parquet`` of manhattan.parquet, one
  ``ax.scatter(cum_pos, mlog10p, c=<alternating colours>, s=2)`` of every row, threshold lines,
  chromosome ticks, ``savefig`` PNG (300 dpi) and PDF -- once as written (vector PDF) and once with
  ``rasterized=True``.

Run: ``python benchmarks/bench_manhattan.py [--latents 182] [--variants 10000000] [--timeout 900]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path("/tmp/cardiolatent_bench_manhattan")
#: GRCh37 autosome lengths (bp)
LENGTHS = [249250621, 243199373, 198022430, 191154276, 180915260, 171115067, 159138663, 146364022, 141213431,
           135534747, 135006516, 133851895, 115169878, 107349540, 102531392, 90354753, 81195210, 78077248,
           59128983, 63025520, 48129895, 51304566]


def build(folder: Path, n_latents: int, n_variants: int, background: int = 10_000, seed: int = 2026) -> None:
    """Write a gwas-results folder of ``n_latents`` x ``n_variants`` as gwas-results would keep it."""
    import pandas as pd

    from cardiolatent.gwas import summary as S
    from cardiolatent.gwas.coords import chrom_offsets
    from cardiolatent.gwas.inflation import CHI2_MEDIAN_1DF, lambda_gc, qq_points
    from cardiolatent.gwas.plotdata import manhattan_table, qq_table, thin_hash
    from cardiolatent.results import empty_excluded

    t0 = time.time()
    rng = np.random.default_rng(seed)
    lengths = np.asarray(LENGTHS, dtype=np.float64)
    per = np.floor(n_variants * lengths / lengths.sum()).astype(np.int64)
    per[: n_variants - per.sum()] += 1
    code = np.repeat(np.arange(1, 23, dtype=np.int16), per)
    pos = np.empty(n_variants, dtype=np.int64)
    s = 0
    for c, n_c in enumerate(per):
        gaps = rng.integers(1, max(2, int(1.9 * LENGTHS[c] / n_c)), n_c)  # mean 0.95 x the spacing
        pos[s:s + n_c] = np.cumsum(gaps) + 10_000
        s += n_c
    u = thin_hash(code, pos)
    cand = np.argpartition(u, background + 2000)[: background + 2000]
    cand = cand[np.argsort(u[cand], kind="stable")]
    # the null's sorted -log10 P below 3, shared by the QQ tables
    null_low = np.sort(-np.log10(1e-3 + rng.random(n_variants) * (1 - 1e-3))).astype(np.float32)

    # 60 loci: position, height, latents
    latents = [f"S{seed_}_Z{k}" for seed_ in (1701, 1993, 42, 1994, 2023) for k in range(64)][:n_latents]
    if len(latents) < n_latents:
        latents += [f"Z{k}" for k in range(len(latents), n_latents)]
    loci = []
    for _ in range(60):
        i = int(rng.integers(0, n_variants))
        height = float(np.exp(rng.uniform(np.log(8), np.log(400))))
        touched = rng.choice(n_latents, min(n_latents, int(rng.integers(3, 16))), replace=False)
        loci.append((i, height, touched))
    loci[0] = (loci[0][0], 400.0, loci[0][2])

    man_parts, qq_parts, per_rows, lead_rows = [], [], [], []
    for li, lat in enumerate(latents):
        k = int(rng.binomial(n_variants, 1e-3))
        top_idx = np.unique(rng.integers(0, n_variants, k))
        top_m = (3.0 - np.log10(rng.random(top_idx.size))).astype(np.float32)
        extra_i, extra_m = [], []
        for (i, height, touched) in loci:
            if li not in touched:
                continue
            idx = np.arange(max(0, i - 800), min(n_variants, i + 800))  # ~ +-250 kb at 10M variants
            idx = idx[code[idx] == code[i]]
            d = np.abs(pos[idx] - pos[i]).astype(np.float64)
            m = height * rng.uniform(0.6, 1.0) * np.exp(-d / 30_000.0) * rng.uniform(0.7, 1.0, idx.size)
            m[idx == i] = height * rng.uniform(0.6, 1.0)
            keep = m > 3
            extra_i.append(idx[keep])
            extra_m.append(m[keep].astype(np.float32))
            j = int(np.argmax(m))
            if m[j] > -np.log10(5e-8):
                lead_rows.append({"latent": lat, "chrom": str(int(code[idx[j]])), "pos": int(pos[idx[j]]),
                                  "id": f"rs{int(code[idx[j]])}_{int(pos[idx[j]])}", "effect_allele": "G",
                                  "other_allele": "A", "eaf": 0.3, "info": 1.0, "n": 40000.0, "beta": 0.05,
                                  "se": 0.005, "mlog10p": float(m[j]), "n_clumped": int(keep.sum()),
                                  "clump_start": int(pos[idx[keep]].min()), "clump_end": int(pos[idx[keep]].max()),
                                  "method": "distance"})
        if extra_i:
            all_i = np.concatenate([top_idx, *extra_i])
            all_m = np.concatenate([top_m, *extra_m])
            order = np.lexsort((-all_m, all_i))
            all_i, all_m = all_i[order], all_m[order]
            first = np.ones(all_i.size, bool)
            first[1:] = all_i[1:] != all_i[:-1]
            top_idx, top_m = all_i[first], all_m[first]
        bg = cand[~np.isin(cand, top_idx)][:background]
        bg_m = (-np.log10(1e-3 + rng.random(bg.size) * (1 - 1e-3))).astype(np.float32)
        idx = np.concatenate([top_idx, bg])
        man_parts.append((lat, code[idx], pos[idx], np.concatenate([top_m, bg_m])))
        asc = np.concatenate([null_low[: n_variants - top_idx.size], np.sort(top_m)])
        q = qq_points(asc, keep_above=3.0, n_points=1000, presorted=True)
        q.insert(0, "latent", lat)
        qq_parts.append(q)
        lam = lambda_gc(asc, presorted=True)
        per_rows.append({"latent": lat, "format": "regenie", "n_files": 1, "n_rows": n_variants,
                         "n_variants": n_variants, "n_missing_p": 0, "n_filtered": 0, "lambda_gc": lam,
                         "median_chi2": lam * CHI2_MEDIAN_1DF, "max_mlog10p": float(asc[-1]),
                         "n_significant": int((top_m > -np.log10(5e-8)).sum()),
                         "n_leads": sum(r["latent"] == lat for r in lead_rows), "status": "ok"})
    max_pos = {c + 1: int(pos[code == c + 1].max()) for c in range(22)}
    chroms = chrom_offsets(max_pos)
    manhattan = manhattan_table(man_parts, latents, chroms)
    qq = qq_table(qq_parts, latents)
    leads_df = pd.DataFrame(lead_rows)
    leads, loci_df = S._leads_and_loci([leads_df] if len(leads_df) else [], 250.0, "greedy")
    summary = S.GwasResultsSummary(
        threshold={"p": 5e-8, "mlog10p": float(-np.log10(5e-8)), "how": "P < 5e-08"}, n_latents=n_latents,
        n_files=n_latents, p_threshold=5e-8, clumping={"method": "distance", "window_kb": 250.0},
        loci={"merge_kb": 250.0, "method": "greedy"},
        manhattan={"p_all_kept": 1e-3, "background_per_latent": background},
        qq={"n_log_spaced_points": 1000, "band": 0.95, "expected": "-log10(rank / (n + 1))"},
        filters={"test": "ADD", "min_mac": None, "min_info": None},
        notes=[f"synthetic benchmark input ({n_latents} latents x {n_variants:,} variants)"])
    res = S.GwasSummary(table=pd.DataFrame(per_rows, columns=S.PER_LATENT_COLUMNS), excluded=empty_excluded(),
                        summary=summary, leads=leads, loci=loci_df, manhattan=manhattan, qq=qq, chromosomes=chroms)
    S._fill_counts(res)
    res.save(folder)
    print(f"built {folder}: {len(manhattan):,} Manhattan rows, {len(qq):,} QQ rows, {len(leads)} leads, "
          f"{len(loci_df)} loci in {time.time() - t0:.0f} s", file=sys.stderr)


def run_ours(folder: str, stem: str) -> dict:
    from cardiolatent.plotting.gwas import manhattan
    from cardiolatent.plotting.style import save_figure

    fig = manhattan(folder)
    drawn = sum(len(ln.get_xdata()) for ln in fig.axes[0].lines if ln.get_gid() == "manhattan-points")
    paths = save_figure(fig, stem, close=True)
    return {"drawn": int(drawn), **{k: os.path.getsize(v) for k, v in paths.items()}}


def run_plain(folder: str, stem: str, rasterized: bool) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.read_parquet(Path(folder) / "manhattan.parquet")
    summ = json.loads((Path(folder) / "summary.json").read_text())
    ch = pd.DataFrame(summ["chromosomes"])
    fig, ax = plt.subplots(figsize=(183 / 25.4, 70 / 25.4))
    colours = np.where(df["chrom"].cat.codes.to_numpy() % 2 == 0, "#0072B2", "#56B4E9")
    ax.scatter(df["cum_pos"], df["mlog10p"], c=colours, s=2, linewidths=0, rasterized=rasterized)
    for p in (5e-8, 2.3e-9):
        ax.axhline(-np.log10(p), ls="--", color="grey", lw=0.6)
    ax.set_xticks(ch["center"])
    ax.set_xticklabels(ch["chrom"])
    ax.set_xlabel("chromosome")
    ax.set_ylabel("-log10 P")
    fig.savefig(f"{stem}.png", dpi=300)
    fig.savefig(f"{stem}.pdf")
    return {"drawn": int(len(df)), "png": os.path.getsize(f"{stem}.png"), "pdf": os.path.getsize(f"{stem}.pdf")}


def worker(kind: str, folder: str, stem: str) -> None:
    out = run_ours(folder, stem) if kind == "ours" else run_plain(folder, stem, rasterized=kind == "plain_raster")
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(kind: str, folder: Path, timeout: float) -> dict:
    stem = str(ROOT / f"fig_{kind}")
    t = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, __file__, "--worker", kind, str(folder), stem], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "seconds": float("inf"), "timed_out": True}
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out.update(kind=kind, seconds=time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latents", type=int, default=182)
    ap.add_argument("--variants", type=int, default=10_000_000)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per method before it is given up")
    ap.add_argument("--skip-vector", action="store_true", help="leave out the plain scatter with a vector PDF")
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "FOLDER", "STEM"))
    a = ap.parse_args()
    if a.worker:
        worker(*a.worker)
        return
    folder = ROOT / f"gwas_{a.latents}x{a.variants}"
    if not (folder / "summary.json").exists():
        ROOT.mkdir(parents=True, exist_ok=True)
        build(folder, a.latents, a.variants)
    rows = json.loads((folder / "summary.json").read_text())["counts"]["manhattan_rows"]
    kinds = ["ours", "plain_raster"] + ([] if a.skip_vector else ["plain_vector"])
    res = {k: measure(k, folder, a.timeout) for k in kinds}
    o = res["ours"]
    lines = [f"input: {a.latents} latents x {a.variants:,} variants -> manhattan.parquet {rows:,} rows "
             f"({(folder / 'manhattan.parquet').stat().st_size / 1e6:.0f} MB); machine: {os.cpu_count()} cores",
             "| method | points drawn | wall s | peak RSS MB | PNG MB | PDF MB | time vs ours |",
             "|---|---|---|---|---|---|---|"]
    for k, r in res.items():
        if r.get("timed_out"):
            lines.append(f"| {k} | - | > {a.timeout:.0f} (stopped) | - | - | - | > {a.timeout / o['seconds']:.0f}x |")
            continue
        lines.append(f"| {k} | {r['drawn']:,} | {r['seconds']:.1f} | {r['max_rss_mb']:.0f} | {r['png'] / 1e6:.1f} | "
                     f"{r['pdf'] / 1e6:.1f} | {r['seconds'] / o['seconds']:.1f}x |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
