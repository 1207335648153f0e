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
    from cardiolatent.commands._common import add_latents_argument, add_standardise_argument

    add_latents_argument(p, with_ukb=False, required=True)
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
    add_standardise_argument(p, "ensemble: average z-scored latents instead of raw values")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from cardiolatent.encode.ensemble import cross_seed
    from cardiolatent.commands._common import check_out_folder

    check_out_folder(args.out)

    res = cross_seed(args.latents, threshold=args.threshold, reference=args.reference, seeds=args.seeds,
                     standardise=args.standardise, visits=args.visits)
    res.save(args.out)
    if not args.quiet:
        res.print_summary()
        print(f"wrote {', '.join(p.name for p in res.files(args.out).values())} to {args.out}")
    return 0
