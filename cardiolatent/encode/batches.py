"""Batches: prepared inputs of one chunk -> latents of every encoder, in a fixed order.

Batches are formed in input order inside each chunk (excluded inputs skipped), so the same
arguments always give the same batches whatever happened to an earlier, interrupted run.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.readers import InputItem


def encode_batch(encoders, samples: list[dict], dev, dtype) -> dict[int, np.ndarray]:
    """{seed: (N, d) float32} for prepared samples (each {shape: array})."""
    import torch

    out = {}
    cache: dict[tuple, Any] = {}
    for enc in encoders:
        shape = tuple(int(s) for s in enc.input_shape)
        if shape not in cache:
            x = torch.from_numpy(np.stack([s[shape] for s in samples]))[:, None]
            cache[shape] = x.to(dev)
        x = cache[shape]
        ctx = torch.autocast(device_type=dev.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with torch.inference_mode(), ctx:
            z = enc.encode(x)
        z = torch.as_tensor(z).detach().to("cpu", torch.float32).numpy()
        if z.shape != (len(samples), int(enc.latent_dim)):
            raise CardiolatentError(f"encoder seed {enc.seed} returned shape {z.shape}, "
                                    f"expected ({len(samples)}, {enc.latent_dim})")
        out[int(enc.seed)] = np.ascontiguousarray(z, dtype=np.float32)
    return out


@dataclass
class RunCounters:
    """What a run has done so far: preparation seconds per input, encoding seconds, inputs taken
    (``n_new``), inputs excluded while reading / preparing (``n_bad``); ``t_run``: start time."""

    t_run: float = field(default_factory=time.perf_counter)
    prep_times: list[float] = field(default_factory=list)
    t_encode: float = 0.0
    n_new: int = 0
    n_bad: int = 0


def encode_chunk(chunk: list[InputItem], results: Iterator, encoders, seeds: list[int], *, dev, dtype,
                 batch_size: int, counters: RunCounters, on_input=None, carry_in=(), last: bool = True
                 ) -> tuple[list[tuple[int, int, dict[int, np.ndarray]]], list[dict], list[tuple[InputItem, dict]]]:
    """Encode one chunk: take one prepared result per input from ``results`` (the ``carry_in``
    inputs first, then the chunk's, in order), encode them ``batch_size`` at a time; return (rows
    ``(eid, instance, {seed: z})``, QC rows, the prepared inputs of an unfinished batch).

    Batches run across chunk boundaries: unless ``last``, the inputs of a batch not yet full are
    returned (``carry_out``) and start the next chunk's first batch, so batches are formed over the
    run's readable inputs in order, whatever the chunk size or an unreadable input's position.
    ``carry_in``: the previous chunk's ``carry_out`` as ``(item, prepared)``, or items only (then
    their prepared results are taken from ``results`` first). ``on_input()`` is called after each
    of the chunk's inputs (progress display).
    """
    rows: list[tuple[int, int, dict[int, np.ndarray]]] = []
    chunk_qc: list[dict] = []
    pending: list[tuple[InputItem, dict]] = []

    def flush():
        if not pending:
            return
        t0 = time.perf_counter()
        z = encode_batch(encoders, [s for _, s in pending], dev, dtype)
        counters.t_encode += time.perf_counter() - t0
        for j, (it, _) in enumerate(pending):
            rows.append((it.eid, it.instance, {s: z[s][j] for s in seeds}))
        pending.clear()

    for entry in carry_in:
        if isinstance(entry, tuple):
            pending.append(entry)
            continue
        _, prepared, err, _ = next(results)  # re-prepared after a resume: it was readable before
        if err is not None:
            chunk_qc.append(entry.qc_row(*err))
        else:
            pending.append((entry, prepared))
        if len(pending) >= batch_size:
            flush()
    for it in chunk:
        _, prepared, err, secs = next(results)
        counters.prep_times.append(secs)
        if err is not None:
            chunk_qc.append(it.qc_row(*err))
            counters.n_bad += 1
        else:
            pending.append((it, prepared))
            if len(pending) >= batch_size:
                flush()
        counters.n_new += 1
        if on_input is not None:
            on_input()
    if last:
        flush()
    carry_out = list(pending)
    return rows, chunk_qc, carry_out
