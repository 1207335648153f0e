"""``encode --cluster local:N | --scheduler tcp://HOST:PORT | --cluster slurm``: shards on Dask workers.

Built on the shard machinery (:mod:`.shards`), so the final table is the one a one-machine run
writes, bit for bit:

1. the client sorts and de-duplicates the inputs (as a one-machine run) and cuts them into ``K``
   shards (:func:`.shards.shard_bounds`: contiguous blocks; ``K`` = 2 per worker unless given);
2. one Dask task per shard (:func:`encode_shard_task`) runs ``encode --shard I/K`` in the
   worker process, into ``{out}.shards/shard_I.parquet`` with its own resumable part store. Each
   worker process loads the models once (:data:`_MODELS`, keyed by the weights fingerprints and
   the device) and checks that their fingerprints are the client's (the same weights files);
   on a GPU node each worker claims one GPU of its job (:func:`claim_gpu`);
3. a worker that dies (killed, out of memory, node lost) has its shard rescheduled by Dask on
   another worker (``distributed.scheduler.allowed-failures``, default 3); a task that raises is
   retried (``retries``). Either way the shard resumes after its last committed part;
4. the client merges the K shards into ``--out`` (:func:`.shards.merge_shards`, with all its
   checks) and removes ``{out}.shards/``. An interrupted command rerun with the same arguments
   reuses every finished shard (their parts are kept until the merge) and resumes the others.

What travels: the input list is sent to every worker once (paths, not images: the workers read
the images from the shared filesystem); each task's arguments are a few hundred bytes; each task
returns counts and timings only. The latents go through the shared filesystem.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from tqdm.auto import tqdm

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.readers import InputItem, InputList
from cardiolatent.io_utils import output_lock
from cardiolatent.model.pipeline import load_model
from cardiolatent.scale.dask import n_workers_of, submit_each

from .encoders import encoder_fingerprint
from .run import EXIT_AFTER_CHUNKS_ENV, _unique_inputs, encode_inputs
from .shards import merge_shards, shard_bounds

__all__ = ["ModelRef", "ShardJob", "ClusterEncodeResult", "shards_dir_for", "plan_shard_count", "claim_gpu",
           "encode_shard_task", "encode_on_cluster", "KILL_WORKER_ONCE_ENV"]

#: shards per worker by default: a worker that finishes early takes another shard, and a lost
#: worker's shard is a smaller share of the work; every shard also costs about
#: batch_size (batch_size + 1) / 2 extra encodings (its tail and check, see :mod:`.shards`)
SHARDS_PER_WORKER = 2
#: test hook: the value names a marker file; the first task to create it kills its own worker
#: process (os._exit) right after committing one part of its shard
KILL_WORKER_ONCE_ENV = "_CARDIOLATENT_TEST_KILL_WORKER_ONCE"

#: models loaded in this (worker) process: {(fingerprints, device): encoders}; the latest only
_MODELS: dict[tuple, list] = {}
#: the GPU lock this process holds for its lifetime (see :func:`claim_gpu`)
_GPU_LOCK: dict[str, Any] = {}


def shards_dir_for(out_path: str | os.PathLike) -> Path:
    """``{out}.shards/``: the shards of a cluster run (removed after the merge)."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".shards")


def plan_shard_count(n_inputs: int, n_workers: int, shards: int | None = None) -> int:
    """Shards for ``n_inputs`` unique inputs on ``n_workers`` workers: ``shards`` when given, else
    :data:`SHARDS_PER_WORKER` per worker; never more than the inputs (at least 1)."""
    k = int(shards) if shards else SHARDS_PER_WORKER * max(1, int(n_workers))
    return max(1, min(k, max(1, int(n_inputs))))


@dataclass(frozen=True)
class ModelRef:
    """One encoder as a worker loads it: weights ``path`` (as the workers see it), preset ``config``,
    ``seed`` and the weights ``fingerprint`` the client computed (checked on the worker)."""

    path: str
    seed: int
    fingerprint: str
    config: str | None = None


@dataclass(frozen=True)
class ShardJob:
    """One Dask task: shard ``index`` of ``count`` into ``out`` (``{out}.shards/shard_I.parquet``)."""

    index: int
    count: int
    out: str
    models: tuple[ModelRef, ...]
    device: str = "cpu"
    dtype: str | None = None
    batch_size: int = 8
    chunk_size: int = 32
    workers: int = 0
    threads: int | None = None


@dataclass
class ClusterEncodeResult:
    """What :func:`encode_on_cluster` wrote: ``latents`` / ``qc`` (to ``path`` / ``qc_path``),
    ``notes`` from the merge, ``timing``: seconds (``wall``, ``encode_shards`` = from the first
    submission to the last shard, ``merge``) and counts (``n_inputs``, ``n_encoded``,
    ``n_excluded``, ``n_shards``, ``n_workers``, ``n_resumed`` = inputs taken from committed parts
    of an earlier attempt), ``shards``: one dict per shard (worker host and pid, device, seconds)."""

    latents: pd.DataFrame
    qc: pd.DataFrame
    path: Path
    qc_path: Path
    notes: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    shards: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- worker


def claim_gpu(lock_dir: str | os.PathLike | None = None) -> str:
    """The CUDA device of this worker process: one GPU of its job per worker process.

    The process takes the first free lock ``cardiolatent-gpu-<host>-<visible>-<k>.lock`` (k =
    0..n-1 over the GPUs it sees) in ``lock_dir`` (default: the temporary folder, local to the
    node) and keeps it for its lifetime (the kernel releases it when the process dies, so a
    replacement worker gets the same GPU). With ``CUDA_VISIBLE_DEVICES`` set (SLURM sets it for
    the job's GPUs) the process narrows it to its GPU before CUDA starts and uses ``cuda:0``;
    without it, ``cuda:k``. More workers than GPUs: the extra ones share (k = pid mod n).
    """
    if "device" in _GPU_LOCK:
        return _GPU_LOCK["device"]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() != "":
        ids = [v.strip() for v in visible.split(",") if v.strip()]
    else:
        import torch

        ids = [str(i) for i in range(torch.cuda.device_count())]
        visible = None
    if not ids:
        raise CardiolatentError(f"worker on {socket.gethostname()}: --device cuda, but this worker sees no GPU "
                                "(give the jobs GPUs: gpus = 1 or more in cluster.toml)")
    folder = Path(lock_dir or tempfile.gettempdir())
    tag = "_".join(ids)
    chosen = None
    for k in range(len(ids)):
        fd = os.open(folder / f"cardiolatent-gpu-{socket.gethostname()}-{tag}-{k}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _GPU_LOCK["fd"] = fd
        chosen = k
        break
    if chosen is None:
        chosen = os.getpid() % len(ids)
    if visible is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ids[chosen]
        device = "cuda:0"
    else:
        device = f"cuda:{chosen}"
    _GPU_LOCK["device"] = device
    return device


def _worker_device(device: str) -> str:
    """``--device`` on a worker: ``cuda`` (no index) -> this worker's own GPU; others as given."""
    return claim_gpu() if device == "cuda" else device


def _load_models(models: Sequence[ModelRef], device: str) -> list:
    """The encoders of ``models`` on ``device``, loaded once per process; their weights must be the
    client's (same fingerprint)."""
    key = (tuple(m.fingerprint for m in models), device)
    if key not in _MODELS:
        _MODELS.clear()  # one set of models per worker process at a time
        encoders = []
        for m in models:
            if not os.path.exists(m.path):
                raise CardiolatentError(f"worker on {socket.gethostname()}: weights {m.path} not found (workers must "
                                        "see the weights at the same path as the command)")
            enc = load_model(m.path, config=m.config, device=device)
            enc.seed = int(m.seed)
            if encoder_fingerprint(enc) != m.fingerprint:
                raise CardiolatentError(f"worker on {socket.gethostname()}: weights {m.path} differ from the file the "
                                        "command read (fingerprints differ); give the workers the same files")
            encoders.append(enc)
        _MODELS[key] = encoders
    return _MODELS[key]


@contextlib.contextmanager
def _test_kill_hook():
    """:data:`KILL_WORKER_ONCE_ENV`: the first task to create the marker dies after one committed part."""
    marker = os.environ.get(KILL_WORKER_ONCE_ENV)
    armed = False
    if marker:
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            armed = True
        except FileExistsError:
            pass
    if armed:
        os.environ[EXIT_AFTER_CHUNKS_ENV] = "1"
    try:
        yield
    finally:
        if armed:
            os.environ.pop(EXIT_AFTER_CHUNKS_ENV, None)


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """torch's intra-op thread count set to ``n`` for the block (None: unchanged). On a CPU the
    latents' last bits depend on it (how a convolution's sums are split), and a Dask worker starts
    with one thread (its nanny sets OMP_NUM_THREADS=1): the client's count gives its table."""
    import torch

    prev = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def encode_shard_task(job: ShardJob, inputs: tuple[list[InputItem], list[dict]]) -> dict:
    """One shard on a Dask worker: ``encode --shard {index}/{count}`` of the full input list
    ``inputs`` (items, discovery's QC rows) into ``job.out``, its parts kept for a rerun (the
    client removes them after the merge). Returns counts and timings (no latents)."""
    t0 = time.perf_counter()
    items, excluded = inputs
    device = _worker_device(job.device)
    encoders = _load_models(job.models, device)
    t_models = time.perf_counter() - t0
    workers = job.workers
    if workers > 0 and multiprocessing.current_process().daemon:
        workers = 0  # a daemonic worker may not start processes: read and prepare in the worker itself
    with _test_kill_hook(), _torch_threads(job.threads):
        res = encode_inputs(InputList(items, excluded), encoders, job.out, batch_size=job.batch_size,
                            chunk_size=job.chunk_size, workers=workers, device=device, dtype=job.dtype,
                            progress=False, resume=True, keep_parts=True, shard=(job.index, job.count))
    t = res.timing
    return {"shard": job.index, "host": socket.gethostname(), "pid": os.getpid(), "device": device,
            "reading_workers": workers, "n_inputs": int(t["n_inputs"]), "n_encoded": int(t["n_encoded"]),
            "n_resumed": int(t["n_resumed"]), "seconds": time.perf_counter() - t0, "seconds_models": t_models}


# ------------------------------------------------------------------------------------------- client


def encode_on_cluster(client: Any, spec: Any, items: Sequence[InputItem], models: Sequence[ModelRef],
                      out_path: str | os.PathLike, *, shards: int | None = None, batch_size: int = 8,
                      chunk_size: int = 32, workers: int = 0, device: str = "cpu", dtype: str | None = None,
                      progress: bool = True, resume: bool = True, retries: int = 2,
                      threads: int | None = None) -> ClusterEncodeResult:
    """Encode ``items`` with the models ``models`` on the Dask cluster of ``client`` (``spec``: a
    :class:`cardiolatent.scale.dask.ClusterSpec`) and write ``out_path`` (+ ``{stem}.qc.tsv``):
    the table of a one-machine run.

    ``shards``: number of shards (default 2 per worker); ``workers``: reading processes per Dask
    worker (0 = in the worker process); ``device``: ``cpu``, ``cuda`` (each worker its own GPU,
    :func:`claim_gpu`) or ``cuda:N``; ``retries``: how often a shard that raised is tried again;
    ``resume=False``: discard the shards of an interrupted run; ``threads``: torch threads per
    worker (default with ``device="cpu"``: this process's count, which makes the table bit-identical
    to a run in this process; unchanged on a GPU). The rest as
    :func:`cardiolatent.encode.run.encode_inputs`. See the module docstring.
    """
    import torch

    t_start = time.perf_counter()
    if threads is None and device == "cpu":
        threads = torch.get_num_threads()
    out_path = Path(out_path)
    folder = shards_dir_for(out_path)
    uniq, _ = _unique_inputs(items, None)
    if not uniq and not list(getattr(items, "excluded", []) or []):
        raise CardiolatentError("no inputs to encode")
    n_workers = n_workers_of(spec, client)
    k = plan_shard_count(len(uniq), n_workers, shards)
    sizes = [hi - lo for lo, hi in (shard_bounds(len(uniq), i, k) for i in range(1, k + 1))]
    with output_lock(folder):  # a second cluster run into the same output is refused
        if folder.exists() and not resume:
            shutil.rmtree(folder)
        if folder.exists() and not any(folder.glob(f"shard_*_of_{k}.*")):
            shutil.rmtree(folder)  # another shard count: nothing to reuse
        folder.mkdir(parents=True, exist_ok=True)
        width = len(str(k))
        outs = [folder / f"shard_{i:0{width}d}_of_{k}.parquet" for i in range(1, k + 1)]
        jobs = [ShardJob(i, k, str(outs[i - 1]), tuple(models), device=device, dtype=dtype, batch_size=batch_size,
                         chunk_size=chunk_size, workers=workers, threads=threads) for i in range(1, k + 1)]
        bar = tqdm(total=len(uniq), desc=f"encoding ({k} shards)", unit="participant", disable=not progress,
                   dynamic_ncols=True)
        done: list[dict] = []
        t_submit = time.perf_counter()
        try:
            for i, info in submit_each(encode_shard_task, jobs, client,
                                       shared=(list(items), list(getattr(items, "excluded", []) or [])),
                                       retries=retries, key_prefix="cardiolatent-encode-shard"):
                done.append(info)
                bar.update(sizes[i])
                el = time.perf_counter() - t_submit
                bar.set_postfix(shards=f"{len(done)}/{k}", per_s=f"{bar.n / el:.2f}" if el > 0 else "-",
                                refresh=False)
        finally:
            bar.close()
        t_encoded = time.perf_counter()
        merged = merge_shards([str(p) for p in outs], out_path)
        shutil.rmtree(folder, ignore_errors=True)
    latents = merged.latents
    timing = {
        "n_inputs": len(uniq),
        "n_encoded": int(latents[["eid", "instance"]].drop_duplicates().shape[0]),
        "n_excluded": int(len(merged.qc)),
        "n_shards": k,
        "n_workers": n_workers,
        "n_resumed": int(sum(d["n_resumed"] for d in done)),
        "encode_shards": t_encoded - t_submit,
        "merge": merged.seconds,
        "wall": time.perf_counter() - t_start,
    }
    return ClusterEncodeResult(latents=latents, qc=merged.qc, path=merged.path, qc_path=merged.qc_path,
                               notes=merged.notes, timing=timing, shards=sorted(done, key=lambda d: d["shard"]))
