"""``cardiolatent ensemble``: cross-seed matching, the paper's consensus latents and an aligned ensemble."""

from __future__ import annotations

HELP = "cross-seed step: consensus latents (|r| > 0.8 across seeds) and a Hungarian-aligned seed ensemble"
DESCRIPTION = (
    "Combine the latents of several seeds' models (output of 'cardiolatent encode': eid, instance, "
    "seed, Z0..Z127; or a wide table with S{seed}_Z{k} columns). One row per participant: visit 2, "
    "visit 3 only for participants with no visit 2 (--visits both keeps every visit); participants "
    "lacking a seed are listed in excluded.tsv. Consensus (the paper's selection): for each latent of "
    "seed i, its best |Pearson r| partner in each later seed j > i (seed order 1701, 1993, 42, 1994, "
    "2023 unless --seeds is given); both columns are kept when |r| > --threshold; summary.json gives "
    "the R^2 of all latents explained by the selected ones (OLS, variance-weighted over standardised "
    "columns). Ensemble: each seed's latents matched one-to-one to the reference seed's by maximum "
    "total |r| (Hungarian algorithm), sign-corrected and averaged into E_Z0.. . Writes "
    "consensus_wide.parquet, ensemble_wide.parquet, matching.tsv, consensus_pairs.tsv, "
    "consensus_r2.tsv, agreement.tsv, excluded.tsv and summary.json to --out."
)


def add_arguments(p) -> None:
    p.add_argument("--latents", required=True,
                   help="latents table (.parquet, .tsv or .csv): long (eid, instance, seed, Z0..) "
                        "or wide (eid, [instance,] S{seed}_Z{k})")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--threshold", type=float, default=0.8,
                   help="consensus: keep a latent pair when |Pearson r| exceeds this")
    p.add_argument("--reference", type=int, default=None,
                   help="ensemble: seed whose latents the others are aligned to (default: first seed)")
    p.add_argument("--visits", choices=["prefer2", "both"], default="prefer2",
                   help="prefer2: visit 2, visit 3 only without visit 2; both: one row per visit")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds to use, in order (default: those present, in the paper's order "
                        "1701 1993 42 1994 2023)")
    p.add_argument("--standardize", action="store_true",
                   help="ensemble: average z-scored latents instead of raw values")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def read_latents(path):
    """Read a latents table by extension (parquet, tsv/txt, csv), with user-facing errors."""
    from pathlib import Path

    import pandas as pd

    from cardiolatent.errors import CardiolatentError

    path = Path(path)
    if not path.exists():
        raise CardiolatentError(f"latents file not found: {path}")
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith(".csv") or name.endswith(".csv.gz"):
            return pd.read_csv(path)
        return pd.read_csv(path, sep="\t")
    except CardiolatentError:
        raise
    except Exception as exc:  # pyarrow / parser errors: say which file
        raise CardiolatentError(f"cannot read latents table {path}: {exc}") from exc


def run(args) -> int:
    import json
    from pathlib import Path

    from cardiolatent.commands._common import write_output
    from cardiolatent.encode import ensemble as ens
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.io_utils import write_text_atomic

    quiet = getattr(args, "quiet", False)
    say = (lambda *a: None) if quiet else print
    lat = read_latents(args.latents)
    if "seed" in lat.columns:
        wide = ens.to_wide(lat, visits=args.visits, seeds=args.seeds)
    elif ens.is_wide_table(lat):
        wide = ens.from_wide_table(lat, seeds=args.seeds)
        say("input is already wide (S{seed}_Z{k}); --visits is not applied")
    else:
        raise CardiolatentError(f"{args.latents}: neither a long latents table (eid, instance, seed, Z0..) "
                                "nor a wide one (eid, S{seed}_Z{k})")
    if len(wide.table) == 0:
        raise CardiolatentError(f"{args.latents}: no participant has latents for every seed "
                                f"({len(wide.excluded)} excluded)")
    say(f"{len(wide.table):,} rows x {len(wide.seeds)} seeds "
        f"({', '.join(map(str, wide.seeds))}); {len(wide.excluded):,} excluded")

    cons = ens.consensus(wide, threshold=args.threshold, seeds=wide.seeds)
    ensr = ens.ensemble(wide, reference=args.reference, seeds=wide.seeds, standardize=args.standardize)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _w = write_output if not quiet else _write_quiet
    _w(ens.consensus_table(wide, cons), str(out / "consensus_wide.parquet"))
    _w(ensr.table, str(out / "ensemble_wide.parquet"))
    _w(ensr.matching, str(out / "matching.tsv"))
    _w(cons.pairs, str(out / "consensus_pairs.tsv"))
    _w(cons.r2_per_column, str(out / "consensus_r2.tsv"))
    _w(ensr.agreement, str(out / "agreement.tsv"))
    _w(wide.excluded, str(out / "excluded.tsv"))
    summ = ens.summary(wide, cons, ensr)
    summ["latents"] = str(args.latents)
    write_text_atomic(out / "summary.json", json.dumps(summ, indent=2) + "\n")
    r2 = summ["consensus"]["r2_all_on_selected"]
    say(f"consensus: {len(cons.selected)} of {summ['n_columns']} latents (|r| > {cons.threshold}), "
        f"R^2 of all on them = {'n/a' if r2 is None else f'{r2:.3f}'}; "
        f"ensemble: {ensr.table.shape[1] - 2} columns aligned to seed {ensr.reference}")
    return 0


def _write_quiet(df, out) -> None:
    from cardiolatent.io_utils import write_table_atomic

    write_table_atomic(df, out, index=False)
