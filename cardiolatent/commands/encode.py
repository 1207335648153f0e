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
    "then '--merge shard_*.parquet --out latents.parquet': the same table as one run on one machine. "
    "With a Dask cluster (--cluster local:N, --cluster slurm --cluster-config cluster.toml, --scheduler "
    "tcp://HOST:PORT) the shards are encoded by the workers (each loads the models once and uses its own "
    "GPU with --device cuda) into {out}.shards/ on the shared filesystem and merged into --out: the same "
    "table again; a lost worker's shard is redone elsewhere, resuming after its last committed part."
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
    from cardiolatent.commands._common import add_cluster_arguments

    add_cluster_arguments(
        p, what="encode shards of the inputs on Dask workers: each worker loads the models once, reads and "
                "prepares its shards' images (--workers reading processes per worker; default: the worker's "
                "share of its cores) and encodes them on its device (--device cuda: one GPU per worker); the "
                "shards are written under {out}.shards/ (a folder every worker must see) and merged into --out, "
                "the table of a one-machine run",
        where="It pays with GPUs (several per node, or several nodes) or many preparation cores; on one "
              "machine without a GPU a single process with --workers is as fast")
    p.add_argument("--shards", type=int, default=None, metavar="K",
                   help="with --cluster/--scheduler: number of shards (default 2 per worker; each shard adds "
                        "about batch_size x (batch_size + 1) / 2 encodings for its tail and check)")


def weight_files(weights: list[str]) -> list:
    """The weights files of ``--weights``: the shipped demo files for 'demo', else as given."""
    from cardiolatent.model.pipeline import demo_weight_files

    return list(demo_weight_files()) if weights == ["demo"] else list(weights)


def load_encoders(weights: list[str], config: str | None = None, device: str = "cpu"):
    """Models for ``--weights``: 'demo' or paths; every model must know its seed."""
    from cardiolatent.model.pipeline import load_model

    from cardiolatent.model.devices import resolve_device

    resolve_device(device)  # an unknown or absent device is one message, before any model is built
    paths = weight_files(weights)
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


def _default_reading_workers(spec) -> int:
    """Reading processes per Dask worker when --workers is not given: the worker's share of the
    cores less one for itself (local: this machine's cores / N; SLURM: cores / processes per job;
    --scheduler: 0, the worker reads itself)."""
    import os

    if spec.kind == "local":
        return max(0, (os.cpu_count() or 1) // spec.workers - 1)
    if spec.kind == "slurm":
        c = spec.config
        return max(0, int(c["cores"]) // int(c.get("processes", c.get("gpus", 0) or 1)) - 1)
    return 0


def _run_cluster(args, spec) -> int:
    from cardiolatent.commands._common import cluster_context
    from cardiolatent.encode.distributed import ModelRef, encode_on_cluster
    from cardiolatent.encode.encoders import encoder_fingerprint
    from cardiolatent.images.readers import discover_inputs

    if args.workers is not None and args.workers < 0:
        raise CardiolatentError(f"--workers must be 0 or more, not {args.workers}")
    if args.dtype != "fp32" and not args.device.startswith("cuda"):
        raise CardiolatentError(f"--dtype {args.dtype} needs --device cuda; on {args.device} encoding runs in fp32")
    images = image_paths(args)
    # the models are read here once (on the CPU: this machine may have no GPU) to check them and take
    # their seeds and fingerprints; each worker loads them again on its device and checks the fingerprints
    paths = weight_files(args.weights)
    encoders = load_encoders(args.weights, args.config, "cpu")
    models = tuple(ModelRef(str(p), int(e.seed), encoder_fingerprint(e), args.config) for p, e in zip(paths, encoders))
    del encoders
    items = discover_inputs(images)
    reading = args.workers if args.workers is not None else _default_reading_workers(spec)
    with cluster_context(spec, args.quiet, daemon=False) as client:
        res = encode_on_cluster(client, spec, items, models, args.out, shards=args.shards,
                                batch_size=args.batch_size, chunk_size=args.chunk_size, workers=reading,
                                device=args.device, dtype=None if args.dtype == "fp32" else args.dtype,
                                progress=not args.quiet, resume=not args.no_resume)
    t = res.timing
    print(f"wrote {len(res.latents):,} rows ({t['n_encoded']:,} participant-visits x {len(models)} seeds) to "
          f"{res.path}: {t['n_shards']} shards on {t['n_workers']} workers, {t['wall']:.1f} s")
    if len(res.qc):
        reasons = res.qc["reason"].value_counts().to_dict()
        print(f"excluded {len(res.qc):,} inputs ({', '.join(f'{k} {v}' for k, v in reasons.items())}): {res.qc_path}")
    for note in res.notes:
        print(f"warning: {note}")
    return 0


def run(args) -> int:
    from cardiolatent.commands._common import cluster_from_args, workers
    from cardiolatent.encode.run import encode_inputs
    from cardiolatent.encode.shards import parse_shard, shard_summary_path
    from cardiolatent.images.readers import discover_inputs

    spec = cluster_from_args(args)
    if spec is not None and (args.merge or args.shard is not None):
        raise CardiolatentError(f"--{'merge' if args.merge else 'shard'} is for runs without a scheduler; with "
                                "--cluster/--scheduler the workers encode every shard and the command merges them")
    if args.shards is not None and spec is None:
        raise CardiolatentError("--shards K is used with --cluster or --scheduler (for one shard of a job array "
                                "use --shard I/N)")
    if args.shards is not None and args.shards < 1:
        raise CardiolatentError(f"--shards must be at least 1, not {args.shards}")
    if args.merge:
        return _merge(args)
    shard = parse_shard(args.shard) if args.shard is not None else None
    for flag, v in (("--batch-size", args.batch_size), ("--chunk-size", args.chunk_size)):
        if v < 1:
            raise CardiolatentError(f"{flag} must be at least 1, not {v}")
    if spec is not None:
        return _run_cluster(args, spec)

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
