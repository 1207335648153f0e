"""Batched, resumable, deterministic encoding of many image inputs through one or more encoders.

:func:`encode_inputs` reads and prepares each input once (in worker processes), resamples it to
every distinct encoder input shape, and runs the batches through every encoder (one per seed).

Encoder interface: any object with ``seed`` (int), ``input_shape`` ((T, H, W)), ``latent_dim``
(int) and ``encode(x)`` taking a float32 tensor (N, 1, T, H, W) in [-1, 1] and returning
(N, latent_dim). Objects with ``eval`` / ``to`` (torch modules) are put in eval mode and moved
to the device.

Output (long table, one row per participant-instance and seed): ``eid`` (int64), ``instance``
(int64), ``seed`` (int64), ``Z0`` .. ``Z{d-1}`` (float32), sorted by (eid, instance, seed); written
atomically to ``out_path`` (``.parquet``; ``.tsv`` / ``.tsv.gz`` / ``.txt``; ``.csv``). The QC table
``eid, instance, path, reason, detail`` of excluded inputs goes to ``{stem}.qc.tsv`` next to it
(reason codes: :data:`cardiolatent.images.readers.QC_REASONS`).

Resume. The inputs (sorted by eid, instance, path) are cut into chunks of ``chunk_size``. Each
finished chunk is committed to ``{out_path}.parts/``: its QC rows (``part-XXXXX.qc.parquet``), then
its latents (``part-XXXXX.parquet``), each written to a temporary file and renamed, so a chunk is
either fully there or absent whatever the moment of a crash (kill -9 included). The folder also
holds ``manifest.json`` describing the run: a hash of the input list (eid, instance, path, kind,
key, file size), each encoder's seed, input shape, latent size and a hash of its weights, batch and
chunk size, device, dtype, frame count, preparation functions and the torch version. A restart
with the same arguments skips the committed chunks; a restart with different ones stops with an
error (``resume=False`` starts afresh). When every chunk is there the final tables are assembled
from the parts and the parts folder is removed (``keep_parts=True`` keeps it).

Determinism. Batches are formed in a fixed order over the run's readable inputs (sorted order,
excluded ones skipped), across chunk boundaries: a chunk's last, unfinished batch is finished
with the next chunk's inputs, and its commit records those inputs (``part-XXXXX.carry.json``) so a
resumed run forms the same batches. Chunk boundaries do not depend on timing or on where a previous run
stopped, so the same arguments give bit-identical latents, interrupted or not. Worker processes
only read and prepare images (numpy / deterministic torch ops); all encoding happens in the main
process with ``torch.use_deterministic_algorithms(True, warn_only=True)`` and cuDNN benchmarking
off for the duration of the run (restored afterwards). Latents computed with different batch
sizes (or devices, dtypes, thread counts) can differ in the last bits: convolution kernels may
pick a different algorithm for a different batch shape. ``batch_size`` is therefore part of the
run manifest.

Shards. ``shard=(I, N)`` encodes one contiguous block of the sorted unique inputs (a SLURM array
task, a Research Analysis Platform job) into its own output and part store; its last batch is
padded to ``batch_size`` and its tail encoded at every smaller batch size, so that
:func:`.shards.merge_shards` assembles exactly the table of a one-machine run (see :mod:`.shards`).

Modules: :mod:`.tables` (output tables), :mod:`.encoders` (encoder checks, device, dtype,
deterministic settings), :mod:`.workers` (reading processes), :mod:`.store` (the part store),
:mod:`.batches` (batches of a chunk through every encoder), :mod:`.shards` (``--shard`` /
``--merge``); the per-input image pipeline is :mod:`cardiolatent.images.pipeline`. This module
joins them.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.pipeline import prepare_job
from cardiolatent.images.readers import DUPLICATE_INPUT, InputItem
from cardiolatent.io_utils import output_lock

from .batches import RunCounters, encode_batch, encode_chunk
from .encoders import (check_encoders, deterministic_torch, encoder_fingerprint, place_encoders, resolve_device,
                       resolve_dtype)
from .shards import ShardPlan, encode_padded, shard_summary_path, tail_and_check, write_shard_outputs
from .store import PARTS_FORMAT, PartStore, parts_dir_for, run_manifest
from .tables import (final_latents, latents_frame, qc_frame, qc_path_for, read_latents_table, sort_qc,
                     write_latents_table, write_qc_table)
from .workers import Prefetcher

__all__ = [
    "EXIT_AFTER_CHUNKS_ENV", "PARTS_FORMAT", "PUBLISHED_SHAPE", "EncodeResult", "encode_batch", "encode_inputs",
    "encoder_fingerprint", "parts_dir_for", "prepare_job", "qc_path_for", "read_latents_table", "resolve_device",
    "resolve_dtype", "write_latents_table",
]

#: test hook: the process exits abruptly (os._exit) after committing this many chunks
EXIT_AFTER_CHUNKS_ENV = "_CARDIOLATENT_TEST_EXIT_AFTER_CHUNKS"
#: inputs per committed part: a killed run loses at most this many inputs' work (32 participants x
#: 5 demo seeds take seconds on a CPU, about 1.5 s with the published encoder on a GPU; pass fewer
#: for the published encoder on a CPU). Batches run across parts, so the part size changes no latent.
CHUNK_SIZE = 32
PUBLISHED_SHAPE = (50, 128, 128)


@dataclass
class EncodeResult:
    """What :func:`encode_inputs` produced.

    ``latents``: the long table written to ``path``; ``qc``: the excluded inputs written to
    ``qc_path``; ``timing``: seconds (``decode_prepare_mean`` per participant in a worker,
    ``encode_total``, ``wall``) and counts (``n_inputs``, ``n_encoded``, ``n_excluded``,
    ``n_resumed`` = participants taken from an earlier, interrupted run).
    """

    latents: pd.DataFrame
    qc: pd.DataFrame
    path: Path
    qc_path: Path
    timing: dict[str, float] = field(default_factory=dict)


def _unique_inputs(items: Sequence[InputItem], excluded: Iterable[dict] | None) -> tuple[list[InputItem], list[dict]]:
    """Inputs sorted by (eid, instance, path, key), the first of each (eid, instance) kept; and the
    QC rows so far (discovery's ``items.excluded``, ``excluded``, then ``duplicate_input`` rows)."""
    qc_rows: list[dict] = list(getattr(items, "excluded", []) or []) + list(excluded or [])
    ordered = sorted(items, key=lambda it: (it.eid, it.instance, it.path, it.key))
    uniq: list[InputItem] = []
    seen: dict[tuple[int, int], InputItem] = {}
    for it in ordered:
        k = (it.eid, it.instance)
        if k in seen:
            qc_rows.append(it.qc_row(DUPLICATE_INPUT, f"same eid and instance as {seen[k].qc_path} (used)"))
            continue
        seen[k] = it
        uniq.append(it)
    return uniq, qc_rows


def _exit_now(bar) -> None:
    """Test hook: leave as a crash would, right after a commit."""
    bar.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(75)


def _assemble(store: PartStore, n_chunks: int, d: int, qc_rows: list[dict], out_path: Path, qc_out: Path,
              keep_parts: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every chunk committed: write the final latents and QC tables from the parts; return them."""
    lat_parts, qc_parts = store.read(n_chunks)
    latents = final_latents(lat_parts, d)
    for p in qc_parts:
        qc_rows.extend(p.astype(object).where(p.notna(), None).to_dict("records"))
    qc = sort_qc(qc_frame(qc_rows))
    write_latents_table(latents, out_path)
    write_qc_table(qc, qc_out)
    if not keep_parts:
        store.remove()
    return latents, qc


def _encode_inputs(
    items: Sequence[InputItem],
    encoders,
    out_path: str | os.PathLike,
    *,
    batch_size: int = 8,
    workers: int = 2,
    device: str = "cpu",
    dtype: str | None = None,
    progress: bool = True,
    resume: bool = True,
    prepare_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    resample_fn: Callable[[np.ndarray, tuple], np.ndarray] | None = None,
    n_frames: int | None = 50,
    chunk_size: int = CHUNK_SIZE,
    keep_parts: bool = False,
    excluded: Iterable[dict] | None = None,
    shard: tuple[int, int] | None = None,
) -> EncodeResult:
    """Encode every input with every encoder; write the latents and QC tables; return both.

    Parameters
    ----------
    items : inputs, e.g. from :func:`cardiolatent.images.readers.discover_inputs` (whose
        ``excluded`` QC rows are carried into the QC table). Sorted here by (eid, instance, path);
        a repeated (eid, instance) is excluded as ``duplicate_input``.
    encoders : one encoder or a list (distinct seeds, same latent size); see the module docstring.
    out_path : latents table (``.parquet``, ``.tsv``, ``.tsv.gz``, ``.txt``, ``.csv``); the QC
        table goes to ``{stem}.qc.tsv`` and work in progress to ``{out_path}.parts/``.
    batch_size : samples per encoder call (part of the run's identity: see Determinism).
    workers : processes reading and preparing images (0 = in this process).
    device : ``"cpu"``, ``"cuda"``, ``"cuda:N"``; CUDA asked for but absent -> CardiolatentError.
    dtype : None (float32), ``"bf16"`` or ``"fp16"`` (autocast; CUDA only).
    progress : tqdm bar (participants, with the rate in participants per second).
    resume : continue a run interrupted with the same arguments (``False``: discard its parts).
    prepare_fn : ``frames (T, H, W) -> prepared (T', H', W')`` float in [-1, 1] (picklable when
        ``workers > 0``); default: :func:`cardiolatent.images.prepare.prepare` (the published
        recipe, 50x128x128). It runs once per input; the result is resampled with ``resample_fn``
        (default :func:`cardiolatent.images.prepare.resample`) to each distinct encoder input
        shape that differs from it.
    n_frames : exact frame count required (``wrong_frame_count`` otherwise); None: no check.
    chunk_size : inputs per committed part (the resume granularity; default :data:`CHUNK_SIZE`).
    keep_parts : keep ``{out_path}.parts/`` after the final tables are written.
    excluded : extra QC rows to include, besides discovery's own (``items.excluded``, already taken)
        (dicts with ``eid, instance, path, reason, detail``).
    shard : ``(I, N)``: encode only shard I (1-based) of N of the inputs (contiguous blocks of the
        sorted unique inputs) and write, besides the tables, ``X.shard_tail.parquet`` and
        ``X.shard.json`` for :func:`cardiolatent.encode.shards.merge_shards` (see that module).
        ``items`` must be the FULL input list, the same for every shard.

    Returns an :class:`EncodeResult`. A bad input never stops the run: it is listed in the QC
    table with its reason.
    """
    t_start = time.perf_counter()
    out_path = Path(out_path)
    qc_out = qc_path_for(out_path)
    if batch_size < 1 or chunk_size < 1:
        raise CardiolatentError("batch_size and chunk_size must be at least 1")
    encoders = check_encoders(encoders)
    d = int(encoders[0].latent_dim)
    seeds = [int(e.seed) for e in encoders]
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    shapes = sorted({tuple(int(s) for s in e.input_shape) for e in encoders})

    uniq, qc_rows = _unique_inputs(items, excluded)
    if not uniq and not qc_rows:
        raise CardiolatentError("no inputs to encode")
    plan = None
    if shard is not None:
        plan = ShardPlan.make(shard, uniq, qc_rows)
        uniq = uniq[plan.start:plan.stop]
        qc_rows = qc_rows if plan.index == 1 else []   # discovery's exclusions belong to shard 1
        n_pre_qc = len(qc_rows)
    shard_summary_path(out_path).unlink(missing_ok=True)   # a summary left by an earlier shard run is stale

    manifest = run_manifest(uniq, encoders, batch_size=batch_size, chunk_size=chunk_size, dev=dev,
                            dtype=torch_dtype, n_frames=n_frames, prepare_fn=prepare_fn,
                            resample_fn=resample_fn, out_path=out_path,
                            shard=None if plan is None else plan.manifest_entry())
    store = PartStore(out_path)
    chunks = [uniq[i:i + chunk_size] for i in range(0, len(uniq), chunk_size)]
    done = store.open(manifest, resume)
    # batches run across chunks, so a run resumes after its first missing chunk (later ones are redone)
    first = next((k for k in range(len(chunks)) if k not in done), len(chunks))
    todo = list(range(first, len(chunks)))
    n_resumed = sum(len(chunks[k]) for k in range(first))
    position = {(it.eid, it.instance): i for i, it in enumerate(uniq)}
    carry = [uniq[i] for i in store.carry(first - 1)] if first > 0 and todo else []

    exit_after = int(os.environ.get(EXIT_AFTER_CHUNKS_ENV, "0") or 0)
    # one job per input still to encode (an open batch's inputs first), consumed in this order below
    jobs = [(i, it, shapes, n_frames, prepare_fn, resample_fn)
            for i, it in enumerate(carry + [it for k in todo for it in chunks[k]])]
    place_encoders(encoders, dev)

    bar = tqdm(total=len(uniq), initial=n_resumed, desc="encoding", unit="participant", disable=not progress,
               dynamic_ncols=True)
    counters = RunCounters()

    def on_input():
        bar.update()
        el = time.perf_counter() - counters.t_run
        if el > 0:
            bar.set_postfix(per_s=f"{counters.n_new / el:.2f}", excluded=counters.n_bad + len(qc_rows),
                            refresh=False)

    committed = 0
    results = iter(Prefetcher(jobs, workers, window=max(4, 4 * max(workers, 1), 2 * batch_size)))
    try:
        with deterministic_torch(dev):
            for k in todo:
                last = k == len(chunks) - 1
                rows, chunk_qc, carry = encode_chunk(chunks[k], results, encoders, seeds, dev=dev,
                                                     dtype=torch_dtype, batch_size=batch_size, counters=counters,
                                                     on_input=on_input, carry_in=carry,
                                                     last=last and plan is None)
                if last and plan is not None and carry:
                    # a shard's last batch is padded to batch_size: see cardiolatent.encode.shards
                    t0 = time.perf_counter()
                    rows += encode_padded(carry, encoders, seeds, dev=dev, dtype=torch_dtype, batch_size=batch_size)
                    counters.t_encode += time.perf_counter() - t0
                    carry = []
                store.commit(k, qc_frame(chunk_qc), latents_frame(rows, seeds, d),
                             [position[(it.eid, it.instance)] for it, _ in carry])
                committed += 1
                if exit_after and committed >= exit_after:
                    _exit_now(bar)
    finally:
        results.close()           # stops the reading workers (also on errors / Ctrl-C)
        bar.close()

    n_qc_before = len(qc_rows)
    latents, qc = _assemble(store, len(chunks), d, qc_rows, out_path, qc_out, keep_parts or plan is not None)
    if plan is not None:
        with deterministic_torch(dev):
            tail, invariant = tail_and_check(store.dir, uniq, latents, encoders, seeds, dev=dev, dtype=torch_dtype,
                                             batch_size=batch_size, shapes=shapes, n_frames=n_frames,
                                             prepare_fn=prepare_fn, resample_fn=resample_fn)
        write_shard_outputs(out_path, qc_out, plan, manifest, latents, tail, invariant,
                            n_encode_excluded=len(qc) - n_qc_before, n_pre_qc=n_pre_qc)
        if not keep_parts:
            store.remove()
    timing = {
        "n_inputs": len(uniq),
        "n_encoded": int(latents[["eid", "instance"]].drop_duplicates().shape[0]),
        "n_excluded": int(len(qc)),
        "n_resumed": int(n_resumed),
        "decode_prepare_mean": float(np.mean(counters.prep_times)) if counters.prep_times else math.nan,
        "encode_total": float(counters.t_encode),
        "wall": float(time.perf_counter() - t_start),
    }
    return EncodeResult(latents=latents, qc=qc, path=out_path, qc_path=qc_out, timing=timing)


@functools.wraps(_encode_inputs)
def encode_inputs(items, encoders, out_path, **kwargs) -> EncodeResult:
    with output_lock(out_path):  # a second run into the same output is refused, not mixed with this one
        return _encode_inputs(items, encoders, out_path, **kwargs)
