"""``cardiolatent encode``: cine MRIs -> latents, through every seed's encoder.

The modules doing the work (model, encode; they import torch) are imported in :func:`run` /
:func:`load_encoders`, so ``cardiolatent --help`` stays fast.
"""

from __future__ import annotations

import re

from cardiolatent.commands._common import add_images_argument, image_paths
from cardiolatent.errors import CardiolatentError

HELP = "encode cine MRIs into latents with every seed's model (batched, resumable, deterministic)"
DESCRIPTION = (
    "Read 4-chamber cines (UK Biobank bulk zips, NIfTI, HDF5 in the ImLatent layout, .npy arrays), "
    "prepare them with the published recipe (50 frames, heart mask from temporal variance, 128x128 crop, "
    "min-max then (x-0.5)/0.5), resample to each model's input shape where it differs, and encode them "
    "with every model given. Output: one row per participant, visit and seed with columns eid, instance, "
    "seed, Z0..Z{d-1} (float32), plus {stem}.qc.tsv listing every excluded input with its reason. "
    "An interrupted run restarted with the same arguments continues where it stopped. "
    "Without a shared scheduler (SLURM job arrays, Research Analysis Platform jobs): run "
    "'--shard I/N --out shard_I.parquet' once per shard I = 1..N (every job given the same, full --images), "
    "then '--merge shard_*.parquet --out latents.parquet': the same table as one run on one machine."
)


def add_arguments(p) -> None:
    from cardiolatent.commands._common import add_workers_argument

    add_images_argument(p)
    p.add_argument("--weights", nargs="+", default=["demo"],
                   help="'demo' (the five shipped demo models) or weights files/folders, one per seed")
    p.add_argument("--config", default=None,
                   help="preset for weights files that do not carry their configuration (e.g. published)")
    p.add_argument("--out", default="latents.parquet", help="latents table (.parquet, .tsv or .csv)")
    p.add_argument("--batch-size", type=int, default=8, help="volumes per encoder call")
    p.add_argument("--chunk-size", type=int, default=32,
                   help="inputs per committed part: a killed run resumes after the last committed part, so it "
                        "loses at most this many inputs' work (fewer for the published model on a CPU); the "
                        "latents do not depend on it")
    add_workers_argument(p, "reading and preparing images")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="precision of the encoder (bf16/fp16: CUDA only)")
    p.add_argument("--no-resume", action="store_true", help="discard an interrupted run's finished parts")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="encode only shard I of N (1-based: I = 1..N, e.g. ${SLURM_ARRAY_TASK_ID}/100): the "
                        "unique inputs sorted by (eid, instance) cut into N contiguous blocks of near-equal size; "
                        "give every shard the same, full --images and settings. Writes --out, its .qc.tsv, "
                        ".shard_tail.parquet and .shard.json (shard, N, fingerprints of the full input list and "
                        "of the settings) for --merge")
    p.add_argument("--merge", nargs="+", default=None, metavar="SHARD",
                   help="assemble the outputs of --shard 1/N .. N/N (their latents tables) into --out after "
                        "checking them (each shard once, same N, inputs and settings; every input once): the "
                        "table one machine would have written. No images or models are read")


def load_encoders(weights: list[str], config: str | None = None, device: str = "cpu"):
    """Models for ``--weights``: 'demo' or paths; every model must know its seed."""
    from cardiolatent.model.pipeline import demo_weight_files, load_model

    from cardiolatent.model.devices import resolve_device

    resolve_device(device)  # an unknown or absent device is one message, before any model is built
    paths = demo_weight_files() if weights == ["demo"] else weights
    models = [load_model(p, config=config, device=device) for p in paths]
    for i, m in enumerate(models):
        if m.seed is None:
            found = re.search(r"S(\d+)", str(paths[i]))
            if not found:
                raise CardiolatentError(f"{paths[i]}: the training seed is unknown (no metadata, no 'S<seed>' "
                                        "in the name); rename the file or folder to include it")
            m.seed = int(found.group(1))
    return models


def _merge(args) -> int:
    from cardiolatent.encode.shards import merge_shards

    if args.shard is not None:
        raise CardiolatentError("--merge assembles finished shards: it takes no --shard")
    res = merge_shards(args.merge, args.out)
    n = res.latents[["eid", "instance"]].drop_duplicates().shape[0]
    print(f"wrote {len(res.latents):,} rows ({n:,} participant-visits) from {res.n_shards} shards to {res.path}")
    if len(res.qc):
        print(f"excluded {len(res.qc):,} inputs: {res.qc_path}")
    for note in res.notes:
        print(f"warning: {note}")
    return 0


def run(args) -> int:
    from cardiolatent.commands._common import workers
    from cardiolatent.encode.run import encode_inputs
    from cardiolatent.encode.shards import parse_shard, shard_summary_path
    from cardiolatent.images.readers import discover_inputs

    if args.merge:
        return _merge(args)
    shard = parse_shard(args.shard) if args.shard is not None else None
    for flag, v in (("--batch-size", args.batch_size), ("--chunk-size", args.chunk_size)):
        if v < 1:
            raise CardiolatentError(f"{flag} must be at least 1, not {v}")

    images = image_paths(args)
    encoders = load_encoders(args.weights, args.config, args.device)
    items = discover_inputs(images)
    res = encode_inputs(items, encoders, args.out, batch_size=args.batch_size, chunk_size=args.chunk_size,
                        workers=workers(args),
                        device=args.device, dtype=None if args.dtype == "fp32" else args.dtype,
                        progress=not args.quiet, resume=not args.no_resume, shard=shard)
    n = res.latents[["eid", "instance"]].drop_duplicates().shape[0]
    print(f"wrote {len(res.latents):,} rows ({n:,} participant-visits x {len(encoders)} seeds) to {res.path}")
    if shard is not None:
        print(f"shard {shard[0]} of {shard[1]}: {shard_summary_path(res.path)} (give every shard's table to --merge)")
    if len(res.qc):
        reasons = res.qc["reason"].value_counts().to_dict()
        print(f"excluded {len(res.qc):,} inputs ({', '.join(f'{k} {v}' for k, v in reasons.items())}): {res.qc_path}")
    return 0
