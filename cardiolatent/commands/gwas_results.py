"""``cardiolatent gwas-results``: REGENIE / PLINK 2 / BOLT-LMM results back in: lambda GC, leads, loci, plot data."""

from __future__ import annotations

HELP = ("GWAS results back in: lambda GC, lead variants (distance or PLINK 1.9 LD clumping), loci across latents, "
        "Manhattan/QQ data")
DESCRIPTION = (
    "Read the GWAS results of many latents (REGENIE .regenie/.regenie.gz, PLINK 2 .glm.linear/.glm.logistic"
    "[.hybrid]/.glm.firth, BOLT-LMM .stats; the format is detected from the header) in streamed chunks with "
    "only the needed columns, so files of ~10 million rows each take little memory. The latent name comes "
    "from the file name (REGENIE <prefix>_<pheno>.regenie, PLINK 2 <prefix>.<pheno>.glm.linear; the prefix "
    "is found from the tool's <prefix>.log beside the files; or --name-regex); files with the same latent "
    "(e.g. one per chromosome) are read together. -log10 P is used throughout, so P < 1e-308 keeps its "
    "size. Per latent: genomic inflation lambda_GC = median chi2 / 0.4549 (exact, from every variant's P); "
    "lead variants with P < --p-threshold (default 5e-8; 'paper' = 2.3e-9; --meff M gives 5e-8 / M) by "
    "distance clumping (+-250 kb), or by PLINK 1.9 --clump against --ld-ref (the paper's --clump-p2 1e-4 "
    "--clump-r2 0.5 --clump-kb 250). Leads of all latents within +-250 kb are merged into loci. Writes to "
    "--out: lambda.tsv (one row per latent), leads.tsv, loci.tsv (with the latents each locus touches), "
    "manhattan.parquet (all latents: chrom, pos, cum_pos, mlog10p, latent; every variant with P < 1e-3 and "
    "a deterministic subsample of the rest), qq.parquet (per latent: expected vs observed -log10 P with the "
    "95% band, thinned) and summary.json (inputs, thresholds, counts, chromosome offsets for the plot axis)."
)


def add_arguments(p) -> None:
    p.add_argument("--results", nargs="+", required=True, metavar="DIR_OR_FILES",
                   help="results files, globs or folders (searched recursively for *.regenie[.gz], *.glm.linear, "
                        "*.glm.logistic[.hybrid], *.glm.firth, *.stats)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", choices=["auto", "regenie", "plink2", "bolt"], default="auto",
                   help="results format (auto: detected from each file's header)")
    p.add_argument("--name-regex", default=None,
                   help="regular expression on the file name giving the latent name (named group 'latent' or the "
                        "first group), e.g. 'step2_(.+)\\.regenie'")
    p.add_argument("--test", default="ADD",
                   help="TEST value to keep in REGENIE / PLINK 2 files ('all' keeps every row)")
    p.add_argument("--p-threshold", default="5e-8",
                   help="genome-wide threshold for lead variants: a number, or 'paper' for the paper's 2.3e-9")
    p.add_argument("--meff", default=None,
                   help="effective number of independent latents M_eff (a number, or the summary.json written by "
                        "'cardiolatent icc'): the threshold becomes --p-threshold / M_eff")
    p.add_argument("--window-kb", type=float, default=250.0, help="distance clumping window: +- kb around a lead")
    p.add_argument("--merge-kb", type=float, default=250.0, help="leads of all latents within +- this many kb "
                   "form one locus")
    p.add_argument("--merge", choices=["greedy", "linkage"], default="greedy",
                   help="greedy: the strongest lead takes all leads within the window, repeat; linkage: chain "
                        "leads whose gaps are at most --merge-kb")
    p.add_argument("--ld-ref", default=None,
                   help="PLINK 1 fileset prefix (.bed/.bim/.fam) of an LD reference: LD clumping with PLINK 1.9 "
                        "--clump instead of distance clumping")
    p.add_argument("--clump-p2", type=float, default=1e-4, help="--ld-ref: PLINK --clump-p2")
    p.add_argument("--clump-r2", type=float, default=0.5, help="--ld-ref: PLINK --clump-r2")
    p.add_argument("--clump-kb", type=float, default=None, help="--ld-ref: PLINK --clump-kb (default --window-kb)")
    p.add_argument("--ld-match", choices=["id", "position"], default="id",
                   help="--ld-ref: find result variants in the reference by ID, or by chromosome and position")
    p.add_argument("--plink1", default=None, help="PLINK 1.9 executable (default plink1.9 or plink on PATH)")
    p.add_argument("--threads", type=int, default=1, help="threads for PLINK 1.9")
    p.add_argument("--min-mac", type=float, default=None,
                   help="drop variants with minor allele count 2*N*min(f,1-f) below this (needs frequency and N "
                        "columns; the paper filtered MAC >= 100 in REGENIE)")
    p.add_argument("--min-info", type=float, default=None,
                   help="drop variants with INFO (REGENIE) / MACH_R2 (PLINK 2) below this (the paper: 0.3)")
    p.add_argument("--manhattan-p", type=float, default=1e-3,
                   help="Manhattan and QQ data keep every variant with P below this")
    p.add_argument("--manhattan-background", type=int, default=10_000,
                   help="Manhattan data: other variants kept per latent (a deterministic subsample)")
    p.add_argument("--qq-points", type=int, default=1000, help="QQ data: log-spaced points per latent besides "
                   "those with P < --manhattan-p")
    p.add_argument("--table-format", choices=["parquet", "tsv"], default="parquet",
                   help="file format of the Manhattan and QQ tables")
    p.add_argument("--chunk-mb", type=float, default=2.0,
                   help="text per streamed block (MB); pyarrow reads ahead ~40 blocks, so memory grows with it")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _threshold(args) -> tuple[float, str]:
    """The P threshold and a sentence saying where it came from."""
    import json
    from pathlib import Path

    from cardiolatent.errors import CardiolatentError
    from cardiolatent.gwas.summary import PAPER_P

    raw = str(args.p_threshold).strip().lower()
    if raw == "paper":
        base, how = PAPER_P, "the paper's 2.3e-9 (5e-8 / ~22 effective latents)"
        if args.meff is not None:
            raise CardiolatentError("--p-threshold paper already divides 5e-8 by the paper's M_eff; drop --meff "
                                    "or give --p-threshold 5e-8")
    else:
        try:
            base = float(raw)
        except ValueError:
            raise CardiolatentError(f"--p-threshold must be a number or 'paper', not {args.p_threshold!r}") from None
        how = f"P < {base:g}"
    if not 0 < base < 1:
        raise CardiolatentError(f"--p-threshold must be between 0 and 1, not {base}")
    if args.meff is None:
        return base, how
    src = str(args.meff)
    try:
        meff = float(src)
        where = ""
    except ValueError:
        path = Path(src)
        if not path.exists():
            raise CardiolatentError(f"--meff: not a number and no such file: {src}") from None
        try:
            js = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CardiolatentError(f"--meff {src}: not a JSON file ({exc})") from exc
        node = js.get("meff", js)
        node = node.get("all", node) if isinstance(node, dict) else node
        meff = node.get("li_ji") if isinstance(node, dict) else node
        if not isinstance(meff, (int, float)):
            raise CardiolatentError(f"--meff {src}: no M_eff found (expected meff.all.li_ji, as written by "
                                    "'cardiolatent icc')")
        meff = float(meff)
        where = f" (Li & Ji, from {src})"
    if not meff >= 1:
        raise CardiolatentError(f"--meff must be at least 1, not {meff}")
    return base / meff, f"{base:g} / M_eff {meff:.4g}{where} = {base / meff:.3g}"


def _jsonable(x):
    import math

    import numpy as np

    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def run(args) -> int:
    import json
    from pathlib import Path

    import numpy as np
    from tqdm.auto import tqdm

    from cardiolatent import __version__
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.gwas.readers import discover_results
    from cardiolatent.gwas.summary import summarise_results
    from cardiolatent.io_utils import write_table_atomic, write_text_atomic

    quiet = getattr(args, "quiet", False)
    say = (lambda *a: None) if quiet else print
    threshold, how = _threshold(args)
    for opt in ("manhattan_background", "qq_points"):
        if getattr(args, opt) < 0:
            raise CardiolatentError(f"--{opt.replace('_', '-')} must be >= 0")
    if args.chunk_mb <= 0:
        raise CardiolatentError("--chunk-mb must be positive")
    skipped: list = []
    files = discover_results(args.results, name_regex=args.name_regex,
                             format=None if args.format == "auto" else args.format, skipped=skipped)
    for f in skipped:
        say(f"note: skipped {f} (not a REGENIE, PLINK 2 or BOLT-LMM results file)")
    if not files:
        raise CardiolatentError(f"no GWAS results files in {' '.join(map(str, args.results))}")
    latents = list(dict.fromkeys(f.latent for f in files))
    method = (f"LD clumping with PLINK 1.9 against {args.ld_ref}" if args.ld_ref
              else f"distance clumping +-{args.window_kb:g} kb")
    say(f"{len(files)} results file(s), {len(latents)} latent(s); lead variants at {how}; {method}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    bar = tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True, desc="reading results",
               disable=quiet, leave=False)
    try:
        res = summarise_results(
            files, p_threshold=threshold, window_kb=args.window_kb, merge_kb=args.merge_kb,
            merge_method=args.merge, ld_ref=args.ld_ref, clump_p2=args.clump_p2, clump_r2=args.clump_r2,
            clump_kb=args.clump_kb, ld_match=args.ld_match, plink=args.plink1, plink_threads=args.threads,
            test=None if str(args.test).lower() == "all" else args.test, min_mac=args.min_mac,
            min_info=args.min_info, manhattan_p=args.manhattan_p, manhattan_background=args.manhattan_background,
            qq_n_points=args.qq_points, chunk_bytes=int(args.chunk_mb * (1 << 20)),
            progress=bar.update, on_latent=lambda name: bar.set_postfix_str(name, refresh=False))
    finally:
        bar.close()

    ext = ".parquet" if args.table_format == "parquet" else ".tsv"
    write_table_atomic(res.per_latent, out / "lambda.tsv", index=False)
    # 12 significant digits: P = 10^-mlog10p would otherwise print as 1.7879100000000064e-17
    write_table_atomic(res.leads, out / "leads.tsv", index=False, float_format="%.12g")
    write_table_atomic(res.loci, out / "loci.tsv", index=False, float_format="%.12g")
    write_table_atomic(res.manhattan, out / f"manhattan{ext}", index=False)
    write_table_atomic(res.qq, out / f"qq{ext}", index=False)

    lam = res.per_latent["lambda_gc"].to_numpy(dtype=np.float64)
    lam = lam[np.isfinite(lam)]
    summary = {
        "cardiolatent_version": __version__,
        "inputs": [{"path": str(f.path), "latent": f.latent, "format": f.format} for f in files],
        "skipped": [str(f) for f in skipped],
        "threshold": {"p": threshold, "mlog10p": float(-np.log10(threshold)), "how": how},
        **res.info,
        "counts": {
            "latents": int(len(res.per_latent)),
            "latents_with_leads": int((res.per_latent["n_leads"] > 0).sum()),
            "leads": int(len(res.leads)),
            "loci": int(len(res.loci)),
            "manhattan_rows": int(len(res.manhattan)),
            "qq_rows": int(len(res.qq)),
        },
        "lambda_gc": {"median": float(np.median(lam)) if lam.size else None,
                      "min": float(lam.min()) if lam.size else None,
                      "max": float(lam.max()) if lam.size else None},
        "chromosomes": res.chromosomes.drop(columns="code").to_dict(orient="records"),
        "outputs": ["lambda.tsv", "leads.tsv", "loci.tsv", f"manhattan{ext}", f"qq{ext}", "summary.json"],
    }
    write_text_atomic(out / "summary.json", json.dumps(_jsonable(summary), indent=2) + "\n")

    if lam.size:
        say(f"lambda GC over {lam.size} latent(s): median {np.median(lam):.3f} (range {lam.min():.3f}-{lam.max():.3f})")
    say(f"{len(res.leads)} lead variant(s) in {summary['counts']['latents_with_leads']} latent(s); "
        f"{len(res.loci)} locus/loci across latents")
    if len(res.loci):
        show = res.loci.sort_values("lead_mlog10p", ascending=False).head(10)
        for r in show.itertuples():
            say(f"  {r.locus}: chr{r.chrom}:{r.start:,}-{r.end:,} lead {r.lead_id} ({r.lead_latent}, "
                f"-log10 P {r.lead_mlog10p:.1f}); {r.n_latents} latent(s): {r.latents[:80]}")
    for note in res.info.get("notes", [])[:20]:
        say(f"note: {note}")
    bad = res.per_latent[res.per_latent["status"] != "ok"]
    for r in bad.itertuples():
        say(f"note: latent {r.latent}: {r.status}")
    say(f"wrote lambda.tsv, leads.tsv, loci.tsv, manhattan{ext}, qq{ext} and summary.json to {out}")
    return 0
