"""Benchmark: ``cardiolatent gwas-results`` streaming summary vs a plain pandas read + the obvious computations.

A synthetic REGENIE step-2 file (``CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ INFO N TEST BETA SE CHISQ
LOG10P EXTRA``, space separated) with 10 million rows on 22 chromosomes is written once to /tmp:
null P values plus 30 planted association peaks. Each method runs in its own subprocess (peak
memory = that process's maximum resident set size):

- ours: :func:`cardiolatent.gwas.readers.discover_results` + :func:`cardiolatent.gwas.summary.summarise_results`
  (streamed pyarrow blocks of 2 MB with only the needed columns; exact lambda GC from float32
  -log10 P; distance clumping +-250 kb at P < 5e-8; loci; thinned Manhattan and QQ data);
- baseline (what a user would write): ``pandas.read_csv(sep=" ")`` of the whole file, ``P = 10**-LOG10P``,
  ``chi2 = scipy.stats.chi2.isf(P, 1)``, lambda = median / 0.4549364, distance clumping by a loop over
  the significant rows sorted by P dropping those within 250 kb, a full sort of P for the QQ plot and
  cumulative positions of all rows for the Manhattan plot.

Both must agree on lambda and on the lead variants (checked). Run:
``python benchmarks/bench_gwas_results.py [--rows 10000000] [--scaling 100000 1000000] [--gz] [--latents 4]``.
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

HEADER = "CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ INFO N TEST BETA SE CHISQ LOG10P EXTRA"


def write_regenie(path: Path, rows: int, seed: int = 1) -> None:
    """Write ``rows`` REGENIE rows (22 chromosomes, ~3 kb spacing, 30 peaks) in 1M-row blocks."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    per_chrom = np.full(22, rows // 22)
    per_chrom[: rows - per_chrom.sum()] += 1
    peaks = {(int(c), int(p)) for c, p in zip(rng.integers(1, 23, 30), rng.integers(1_000_000, 40_000_000, 30))}
    tmp = path.with_suffix(".part")
    alleles = np.array(list("ACGT"))
    with pa.OSFile(str(tmp), "wb") as sink:
        sink.write((HEADER + "\n").encode())
        rid = 0
        opts = pcsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
        for c in range(1, 23):
            n_c = int(per_chrom[c - 1])
            pos = np.cumsum(rng.integers(1, 6_000, n_c)) + 10_000
            for s in range(0, n_c, 1_000_000):
                k = min(1_000_000, n_c - s)
                p = pos[s:s + k]
                z = rng.standard_normal(k)
                for (pc, pp) in peaks:
                    if pc == c:
                        dist = np.abs(p - pp)
                        z += np.where(dist < 100_000, 12.0 * np.exp(-dist / 20_000), 0.0)
                from scipy.special import log_ndtr
                mlog = -(log_ndtr(-np.abs(z)) + np.log(2)) / np.log(10)
                a0 = rng.integers(0, 4, k)
                t = pa.table({
                    "CHROM": pa.array(np.full(k, c)), "GENPOS": pa.array(p),
                    "ID": pa.array(np.char.add("rs", np.arange(rid, rid + k).astype(str))),
                    "ALLELE0": pa.array(alleles[a0]), "ALLELE1": pa.array(alleles[(a0 + 1) % 4]),
                    "A1FREQ": pa.array(np.round(rng.uniform(0.01, 0.5, k), 5)), "INFO": pa.array(np.full(k, 1.0)),
                    "N": pa.array(np.full(k, 400_000)), "TEST": pa.array(np.full(k, "ADD")),
                    "BETA": pa.array(np.round(z * 0.002, 6)), "SE": pa.array(np.full(k, 0.002)),
                    "CHISQ": pa.array(np.round(z * z, 5)), "LOG10P": pa.array(np.round(mlog, 6)),
                    "EXTRA": pa.array(np.full(k, "NA")),
                })
                pcsv.write_csv(t, sink, write_options=opts)
                rid += k
    os.replace(tmp, path)


def ensure_gz(path: Path) -> Path:
    import pyarrow as pa

    gz = path.with_name(path.name + ".gz")
    if not gz.exists():
        tmp = gz.with_suffix(".part")
        with pa.OSFile(str(path)) as src, pa.CompressedOutputStream(str(tmp), "gzip") as dst:
            while True:
                buf = src.read(1 << 24)
                if not buf:
                    break
                dst.write(buf)
        os.replace(tmp, gz)
    return gz


def ensure_many(path: Path, k: int) -> Path:
    """A folder with ``k`` latents: symbolic links to the same file under REGENIE names."""
    d = Path(f"/tmp/bench_gwas_many_{k}")
    d.mkdir(exist_ok=True)
    for i in range(k):
        link = d / f"run_S1_Z{i}.regenie"
        if not link.exists():
            link.symlink_to(path)
    return d


def ensure_file(rows: int) -> Path:
    path = Path(f"/tmp/bench_gwas_{rows}_S1_Z0.regenie")
    if not path.exists():
        t = time.perf_counter()
        write_regenie(path, rows)
        print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return path


# ---------------------------------------------------------------------------------------------
def run_ours(path: str) -> dict:
    from cardiolatent.gwas.readers import discover_results
    from cardiolatent.gwas.summary import summarise_results

    t = time.perf_counter()
    files = discover_results([path], name_regex=r"(S\d+_Z\d+)")  # a file or a folder of latents
    res = summarise_results(files)
    dt = time.perf_counter() - t
    return {"seconds": dt, "lambda": float(res.per_latent["lambda_gc"].iloc[0]), "n_latents": len(res.per_latent),
            "leads": sorted(res.leads["id"].tolist()), "n_loci": int(len(res.loci)),
            "manhattan_rows": int(len(res.manhattan)), "qq_rows": int(len(res.qq))}


def run_pandas(path: str) -> dict:
    import pandas as pd
    from scipy import stats

    t = time.perf_counter()
    df = pd.read_csv(path, sep=" ")
    df = df[df["TEST"] == "ADD"]
    df["P"] = 10.0 ** -df["LOG10P"]
    chi2 = stats.chi2.isf(df["P"].to_numpy(), 1)
    lam = float(np.median(chi2) / 0.4549364)
    # distance clumping the obvious way
    sig = df[df["P"] < 5e-8].sort_values("P")
    leads = []
    while len(sig):
        top = sig.iloc[0]
        leads.append(top["ID"])
        sig = sig[~((sig["CHROM"] == top["CHROM"]) & ((sig["GENPOS"] - top["GENPOS"]).abs() <= 250_000))]
    # QQ: all P sorted; Manhattan: cumulative positions of all rows
    observed = -np.log10(np.sort(df["P"].to_numpy()))
    expected = -np.log10(np.arange(1, len(df) + 1) / (len(df) + 1))
    offs = df.groupby("CHROM")["GENPOS"].max().cumsum().shift(fill_value=0)
    cum = df["GENPOS"] + df["CHROM"].map(offs)
    dt = time.perf_counter() - t
    return {"seconds": dt, "lambda": lam, "leads": sorted(leads), "qq_rows": int(observed.size + 0 * expected.size),
            "manhattan_rows": int(cum.size)}


def worker(kind: str, path: str) -> None:
    out = run_ours(path) if kind == "ours" else run_pandas(path)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(kind: str, path: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, __file__, "--worker", kind, str(path)], capture_output=True, text=True,
                       env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--scaling", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--gz", action="store_true", help="also time ours on a gzip copy of the largest file")
    ap.add_argument("--latents", type=int, default=1, help="also time ours on this many latents (links to the "
                    "largest file)")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"))
    a = ap.parse_args()
    if a.worker:
        worker(*a.worker)
        return
    rows_list = sorted(set(a.scaling + [a.rows]))
    lines = ["| rows | file GB | ours s | ours peak RSS MB | pandas s | pandas peak RSS MB | speed-up | "
             "lambda ours / pandas | leads equal |", "|---|---|---|---|---|---|---|---|---|"]
    for rows in rows_list:
        path = ensure_file(rows)
        o = measure("ours", path)
        b = measure("pandas", path)
        same = o["leads"] == b["leads"]
        lines.append(f"| {rows:,} | {path.stat().st_size / 1e9:.2f} | {o['seconds']:.1f} | {o['max_rss_mb']:.0f} | "
                     f"{b['seconds']:.1f} | {b['max_rss_mb']:.0f} | {b['seconds'] / o['seconds']:.1f}x | "
                     f"{o['lambda']:.6f} / {b['lambda']:.6f} | {same} ({len(o['leads'])} leads) |")
        print(lines[-1], file=sys.stderr)
        extra = (f"rows {rows:,}: ours keeps {o['manhattan_rows']:,} Manhattan rows and {o['qq_rows']:,} QQ rows "
                 f"(pandas baseline: {b['manhattan_rows']:,} / {b['qq_rows']:,}); {o['n_loci']} loci")
        print(extra, file=sys.stderr)
    print("\n".join(lines))
    big = ensure_file(a.rows)
    if a.gz:
        o = measure("ours", ensure_gz(big))
        print(f"\nours on the gzip-compressed {a.rows:,}-row file ({ensure_gz(big).stat().st_size / 1e9:.2f} GB): "
              f"{o['seconds']:.1f} s, peak RSS {o['max_rss_mb']:.0f} MB, lambda {o['lambda']:.6f}, "
              f"{len(o['leads'])} leads")
    if a.latents > 1:
        o = measure("ours", ensure_many(big, a.latents))
        print(f"\nours on {o['n_latents']} latents x {a.rows:,} rows: {o['seconds']:.1f} s "
              f"({o['seconds'] / o['n_latents']:.1f} s per latent), peak RSS {o['max_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
