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

Determinism. Batches are formed in a fixed order inside each chunk (the inputs in sorted order,
excluded ones skipped) and chunk boundaries do not depend on timing or on where a previous run
stopped, so the same arguments give bit-identical latents, interrupted or not. Worker processes
only read and prepare images (numpy / deterministic torch ops); all encoding happens in the main
process with ``torch.use_deterministic_algorithms(True, warn_only=True)`` and cuDNN benchmarking
off for the duration of the run (restored afterwards). Latents computed with different batch
sizes (or devices, dtypes, thread counts) can differ in the last bits: convolution kernels may
pick a different algorithm for a different batch shape. ``batch_size`` is therefore part of the
run manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.readers import (DUPLICATE_INPUT, QC_COLUMNS, InputItem, check_frame_count, qc_reason,
                                         read_frames)
from cardiolatent.io_utils import atomic_path, write_text_atomic

#: test hook: the process exits abruptly (os._exit) after committing this many chunks
EXIT_AFTER_CHUNKS_ENV = "_CARDIOLATENT_TEST_EXIT_AFTER_CHUNKS"
#: format version of the parts folder / manifest
PARTS_FORMAT = 1
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


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

_TABLE_SUFFIXES = (".parquet", ".tsv.gz", ".tsv", ".txt", ".csv.gz", ".csv")


def _table_suffix(path: Path) -> str:
    name = path.name.lower()
    for suf in _TABLE_SUFFIXES:
        if name.endswith(suf):
            return suf
    raise CardiolatentError(f"{path}: output must end in .parquet, .tsv, .tsv.gz, .txt, .csv or .csv.gz")


def qc_path_for(out_path: str | os.PathLike) -> Path:
    """``{stem}.qc.tsv`` next to the latents table (``latents.parquet`` -> ``latents.qc.tsv``)."""
    out_path = Path(out_path)
    suf = _table_suffix(out_path)
    return out_path.with_name(out_path.name[: -len(suf)] + ".qc.tsv")


def parts_dir_for(out_path: str | os.PathLike) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".parts")


def write_latents_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table atomically as parquet / TSV / CSV (gzip when the name ends in .gz)."""
    path = Path(path)
    suf = _table_suffix(path)
    with atomic_path(path, suffix=suf) as tmp:
        if suf == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            sep = "," if suf.startswith(".csv") else "\t"
            comp = "gzip" if suf.endswith(".gz") else None
            if comp:
                # fixed gzip header time so equal tables give equal bytes
                df.to_csv(tmp, sep=sep, index=False, lineterminator="\n",
                          compression={"method": "gzip", "mtime": 0})
            else:
                df.to_csv(tmp, sep=sep, index=False, lineterminator="\n")
    return path


def read_latents_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_latents_table` with the latents dtypes."""
    path = Path(path)
    suf = _table_suffix(path)
    if suf == ".parquet":
        return pd.read_parquet(path)
    df = pd.read_csv(path, sep="," if suf.startswith(".csv") else "\t")
    return _latent_dtypes(df)


def _latent_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("eid", "instance", "seed"):
        if c in df:
            df[c] = df[c].astype("int64")
    zc = [c for c in df.columns if c.startswith("Z")]
    if zc:
        df[zc] = df[zc].astype("float32")
    return df


def _qc_frame(rows: Iterable[dict]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=list(QC_COLUMNS))
    df["eid"] = pd.array(df["eid"].tolist(), dtype="Int64") if len(df) else pd.array([], dtype="Int64")
    df["instance"] = pd.array(df["instance"].tolist(), dtype="Int64") if len(df) else pd.array([], dtype="Int64")
    for c in ("path", "reason", "detail"):
        df[c] = df[c].astype("string")
    return df


def _sort_qc(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    key = pd.DataFrame({"na": df["eid"].isna().to_numpy(), "eid": df["eid"].fillna(0).astype("int64"),
                        "inst": df["instance"].fillna(0).astype("int64"), "path": df["path"].fillna(""),
                        "reason": df["reason"].fillna("")})
    order = key.sort_values(["na", "eid", "inst", "path", "reason"], kind="mergesort").index
    return df.loc[order].reset_index(drop=True)


def _empty_latents(d: int) -> pd.DataFrame:
    cols = {"eid": np.zeros(0, np.int64), "instance": np.zeros(0, np.int64), "seed": np.zeros(0, np.int64)}
    cols.update({f"Z{k}": np.zeros(0, np.float32) for k in range(d)})
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------------------------
# encoders, device
# --------------------------------------------------------------------------------------------

def _check_encoders(encoders) -> list:
    if not isinstance(encoders, (list, tuple)):
        encoders = [encoders]
    encoders = list(encoders)
    if not encoders:
        raise CardiolatentError("no encoder given")
    for e in encoders:
        missing = [a for a in ("seed", "input_shape", "latent_dim", "encode") if not hasattr(e, a)]
        if missing:
            raise CardiolatentError(f"{type(e).__name__} is not an encoder: it lacks {', '.join(missing)}")
        if len(tuple(e.input_shape)) != 3:
            raise CardiolatentError(f"encoder seed {e.seed}: input_shape must be (T, H, W), got {e.input_shape}")
    seeds = [int(e.seed) for e in encoders]
    if len(set(seeds)) != len(seeds):
        raise CardiolatentError(f"encoder seeds must be distinct, got {seeds}")
    dims = {int(e.latent_dim) for e in encoders}
    if len(dims) != 1:
        raise CardiolatentError(f"all encoders must have the same latent size, got {sorted(dims)}")
    return sorted(encoders, key=lambda e: int(e.seed))


def resolve_device(device) -> "Any":
    """``torch.device`` for ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); clear errors."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise CardiolatentError(f"unknown device {device!r} (use 'cpu', 'cuda' or 'cuda:N')") from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CardiolatentError(
                f"device {device!r} asked for, but CUDA is not available in this PyTorch "
                f"(torch {torch.__version__}, built for CUDA: {torch.version.cuda or 'no'}); use device 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CardiolatentError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise CardiolatentError(f"device {device!r} asked for, but Apple MPS is not available; use 'cpu'")
    elif dev.type != "cpu":
        raise CardiolatentError(f"unsupported device {device!r} (use 'cpu', 'cuda' or 'cuda:N')")
    return dev


def resolve_dtype(dtype, dev) -> "Any":
    """None (float32) or the autocast dtype for ``"bf16"`` / ``"fp16"`` (CUDA only)."""
    import torch

    if dtype in (None, "fp32", "float32", torch.float32):
        return None
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, torch.bfloat16: torch.bfloat16,
             "fp16": torch.float16, "float16": torch.float16, torch.float16: torch.float16}
    if dtype not in table:
        raise CardiolatentError(f"dtype must be None/'fp32', 'bf16' or 'fp16', got {dtype!r}")
    if dev.type != "cuda":
        raise CardiolatentError(f"dtype {dtype!r} is only supported on CUDA; on {dev.type} encoding runs in float32")
    return table[dtype]


def encoder_fingerprint(enc) -> str:
    """Hash identifying an encoder's weights (``fingerprint`` attribute, else its state_dict)."""
    import torch

    fp = getattr(enc, "fingerprint", None)
    if isinstance(fp, str):
        return fp
    for obj in (enc, getattr(enc, "net", None), getattr(enc, "encoder", None), getattr(enc, "model", None)):
        sd_fn = getattr(obj, "state_dict", None)
        if callable(sd_fn):
            h = hashlib.sha256()
            for k, v in sorted(sd_fn().items()):
                h.update(k.encode())
                try:
                    t = v.detach().cpu().contiguous()
                    h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
                    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
                except Exception:  # noqa: BLE001 - non-tensor entries
                    h.update(repr(v).encode())
            return h.hexdigest()[:32]
    return f"{type(enc).__module__}.{type(enc).__qualname__}"


def _fn_name(fn) -> str | None:
    if fn is None:
        return None
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


@contextlib.contextmanager
def _deterministic_torch(dev):
    import torch

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    prev_cudnn_det = torch.backends.cudnn.deterministic
    if dev.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        torch.backends.cudnn.deterministic = prev_cudnn_det


# --------------------------------------------------------------------------------------------
# worker side: read + prepare
# --------------------------------------------------------------------------------------------

def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel kill this worker when the main process dies (kill -9 included), so an
    interrupted run leaves no orphaned workers behind."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        return
    if os.getppid() != parent_pid:                    # the parent died before prctl
        os._exit(1)


def _worker_init(parent_pid: int | None = None) -> None:
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _default_prepare(frames, n_frames):
    from cardiolatent.images.prepare import prepare

    return prepare(frames, frames_required=n_frames)


def _default_resample(volume, shape):
    from cardiolatent.images.prepare import resample

    return resample(volume, shape)


def prepare_job(job) -> tuple[int, dict | None, tuple[str, str] | None, float]:
    """Read and prepare one input: (index, {shape: float32 array}, None, seconds) or (index, None, (reason, detail), s)."""
    idx, item, shapes, n_frames, prepare_fn, resample_fn = job
    t0 = time.perf_counter()
    try:
        frames, _ = read_frames(item)
        if n_frames is not None:
            check_frame_count(frames, item, n_frames)
        prepared = _default_prepare(frames, n_frames) if prepare_fn is None else prepare_fn(frames)
        prepared = np.asarray(prepared, dtype=np.float32)
        if prepared.ndim != 3:
            raise CardiolatentError(f"preparation gave shape {prepared.shape}, expected (T, H, W)")
        out = {}
        for shape in shapes:
            if tuple(prepared.shape) == tuple(shape):
                v = prepared
            else:
                v = (_default_resample if resample_fn is None else resample_fn)(prepared, tuple(shape))
                v = np.asarray(v, dtype=np.float32)
                if tuple(v.shape) != tuple(shape):
                    raise CardiolatentError(f"resampling gave shape {v.shape}, expected {tuple(shape)}")
            out[tuple(shape)] = np.ascontiguousarray(v)
        return idx, out, None, time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - one bad input must not stop the run
        return idx, None, qc_reason(e), time.perf_counter() - t0


def _mp_context():
    """Start method of the reading workers: fork on Linux (instant start, as torch's DataLoader;
    the workers only read and prepare images and use one thread), spawn elsewhere."""
    if sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    return mp.get_context("spawn")


class _Prefetcher:
    """Runs :func:`prepare_job` over jobs in worker processes, yielding results in job order."""

    def __init__(self, jobs: list, workers: int, window: int):
        self.jobs = jobs
        self.workers = workers
        self.window = max(1, window)
        self.pool = None

    def __iter__(self):
        if self.workers <= 0:
            for job in self.jobs:
                yield prepare_job(job)
            return
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context(),
                                        initializer=_worker_init, initargs=(os.getpid(),))
        try:
            futures: dict[int, Any] = {}
            nxt = 0
            for i in range(len(self.jobs)):
                while nxt < len(self.jobs) and nxt < i + self.window:
                    futures[nxt] = self.pool.submit(prepare_job, self.jobs[nxt])
                    nxt += 1
                yield futures.pop(i).result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


# --------------------------------------------------------------------------------------------
# main side
# --------------------------------------------------------------------------------------------

def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def _items_hash(items: Sequence[InputItem]) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(f"{it.eid}\t{it.instance}\t{it.path}\t{it.kind}\t{it.key}\t{_file_size(it.path)}\n".encode())
    return h.hexdigest()


def _run_manifest(items, encoders, *, batch_size, chunk_size, dev, dtype, n_frames, prepare_fn, resample_fn,
                  out_path) -> dict:
    import torch

    from cardiolatent import __version__

    return {
        "format": PARTS_FORMAT,
        "output": Path(out_path).name,
        "n_inputs": len(items),
        "inputs_sha256": _items_hash(items),
        "encoders": [{"seed": int(e.seed), "input_shape": [int(s) for s in e.input_shape],
                      "latent_dim": int(e.latent_dim), "class": f"{type(e).__module__}.{type(e).__qualname__}",
                      "weights": encoder_fingerprint(e)} for e in encoders],
        "batch_size": int(batch_size),
        "chunk_size": int(chunk_size),
        "device": dev.type,
        "dtype": None if dtype is None else str(dtype),
        "n_frames": n_frames,
        "prepare_fn": _fn_name(prepare_fn),
        "resample_fn": _fn_name(resample_fn),
        "torch": torch.__version__,
        "cardiolatent": __version__,
    }


def _describe_difference(old: dict, new: dict) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(keys) or "unknown"


def _prepare_parts_dir(parts: Path, manifest: dict, resume: bool) -> set[int]:
    """Create / validate the parts folder; return the chunk numbers already committed."""
    mfile = parts / "manifest.json"
    if parts.exists() and not resume:
        shutil.rmtree(parts)
    if parts.exists():
        if mfile.exists():
            try:
                old = json.loads(mfile.read_text())
            except (OSError, ValueError):
                old = None
            if old is not None and old != manifest:
                raise CardiolatentError(
                    f"{parts} holds an unfinished run with different settings "
                    f"({_describe_difference(old, manifest)} differ); rerun with the same inputs and "
                    "options to resume it, choose another output, or start afresh (resume=False / --no-resume)")
            if old is None:
                shutil.rmtree(parts)
        else:
            shutil.rmtree(parts)      # killed before the manifest was written: nothing committed
    parts.mkdir(parents=True, exist_ok=True)
    for p in parts.iterdir():         # temporary files of writes cut short
        if p.name.startswith("."):
            with contextlib.suppress(OSError):
                p.unlink()
    if not mfile.exists():
        write_text_atomic(mfile, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    done = set()
    for p in parts.glob("part-*.parquet"):
        stem = p.name[len("part-"):-len(".parquet")]
        if stem.isdigit() and (parts / f"part-{stem}.qc.parquet").exists():
            done.add(int(stem))
    return done


def _encode_batch(encoders, samples: list[dict], dev, dtype) -> dict[int, np.ndarray]:
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


def _chunk_latents(rows: list[tuple[int, int, dict[int, np.ndarray]]], seeds: list[int], d: int) -> pd.DataFrame:
    if not rows:
        return _empty_latents(d)
    eids, insts, sds, zs = [], [], [], []
    for eid, inst, by_seed in rows:
        for s in seeds:
            eids.append(eid)
            insts.append(inst)
            sds.append(s)
            zs.append(by_seed[s])
    z = np.stack(zs).astype(np.float32)
    df = pd.DataFrame({"eid": np.asarray(eids, np.int64), "instance": np.asarray(insts, np.int64),
                       "seed": np.asarray(sds, np.int64)})
    zdf = pd.DataFrame(z, columns=[f"Z{k}" for k in range(d)])
    return pd.concat([df, zdf], axis=1)


def encode_inputs(
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
    chunk_size: int = 256,
    keep_parts: bool = False,
    excluded: Iterable[dict] | None = None,
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
    chunk_size : inputs per committed part (the resume granularity).
    keep_parts : keep ``{out_path}.parts/`` after the final tables are written.
    excluded : extra QC rows to include (dicts with ``eid, instance, path, reason, detail``).

    Returns an :class:`EncodeResult`. A bad input never stops the run: it is listed in the QC
    table with its reason.
    """
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    out_path = Path(out_path)
    qc_out = qc_path_for(out_path)
    if batch_size < 1 or chunk_size < 1:
        raise CardiolatentError("batch_size and chunk_size must be at least 1")
    encoders = _check_encoders(encoders)
    d = int(encoders[0].latent_dim)
    seeds = [int(e.seed) for e in encoders]
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    shapes = sorted({tuple(int(s) for s in e.input_shape) for e in encoders})

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
    if not uniq and not qc_rows:
        raise CardiolatentError("no inputs to encode")

    manifest = _run_manifest(uniq, encoders, batch_size=batch_size, chunk_size=chunk_size, dev=dev,
                             dtype=torch_dtype, n_frames=n_frames, prepare_fn=prepare_fn,
                             resample_fn=resample_fn, out_path=out_path)
    parts = parts_dir_for(out_path)
    chunks = [uniq[i:i + chunk_size] for i in range(0, len(uniq), chunk_size)]
    done = _prepare_parts_dir(parts, manifest, resume)
    done &= set(range(len(chunks)))
    todo = [k for k in range(len(chunks)) if k not in done]
    n_resumed = sum(len(chunks[k]) for k in done)

    exit_after = int(os.environ.get(EXIT_AFTER_CHUNKS_ENV, "0") or 0)
    # one job per input of the unfinished chunks, consumed in this order below
    jobs = [(i, it, shapes, n_frames, prepare_fn, resample_fn)
            for i, it in enumerate(it for k in todo for it in chunks[k])]
    for e in encoders:
        if hasattr(e, "eval"):
            e.eval()
        if hasattr(e, "to"):
            e.to(dev)

    bar = tqdm(total=len(uniq), initial=n_resumed, desc="encoding", unit="participant", disable=not progress,
               dynamic_ncols=True)
    prep_times: list[float] = []
    t_encode = 0.0
    n_new = 0
    n_bad = 0
    committed = 0
    t_run = time.perf_counter()
    results = iter(_Prefetcher(jobs, workers, window=max(4, 4 * max(workers, 1), 2 * batch_size)))
    try:
        with _deterministic_torch(dev):
            for k in todo:
                chunk = chunks[k]
                rows: list[tuple[int, int, dict[int, np.ndarray]]] = []
                chunk_qc: list[dict] = []
                pending: list[tuple[InputItem, dict]] = []

                def flush():
                    nonlocal t_encode
                    if not pending:
                        return
                    t0 = time.perf_counter()
                    z = _encode_batch(encoders, [s for _, s in pending], dev, torch_dtype)
                    t_encode += time.perf_counter() - t0
                    for j, (it, _) in enumerate(pending):
                        rows.append((it.eid, it.instance, {s: z[s][j] for s in seeds}))
                    pending.clear()

                for it in chunk:
                    _, prepared, err, secs = next(results)
                    prep_times.append(secs)
                    if err is not None:
                        chunk_qc.append(it.qc_row(*err))
                        n_bad += 1
                    else:
                        pending.append((it, prepared))
                        if len(pending) >= batch_size:
                            flush()
                    n_new += 1
                    bar.update()
                    el = time.perf_counter() - t_run
                    if el > 0:
                        bar.set_postfix(per_s=f"{n_new / el:.2f}", excluded=n_bad + len(qc_rows), refresh=False)
                flush()
                qc_df = _qc_frame(chunk_qc)
                lat_df = _chunk_latents(rows, seeds, d)
                with atomic_path(parts / f"part-{k:05d}.qc.parquet", suffix=".parquet") as tmp:
                    qc_df.to_parquet(tmp, index=False)
                with atomic_path(parts / f"part-{k:05d}.parquet", suffix=".parquet") as tmp:
                    lat_df.to_parquet(tmp, index=False)
                committed += 1
                if exit_after and committed >= exit_after:
                    bar.close()
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(75)
    finally:
        results.close()           # stops the reading workers (also on errors / Ctrl-C)
        bar.close()

    # assemble
    lat_parts = [pd.read_parquet(parts / f"part-{k:05d}.parquet") for k in range(len(chunks))]
    qc_parts = [pd.read_parquet(parts / f"part-{k:05d}.qc.parquet") for k in range(len(chunks))]
    lat_parts = [p for p in lat_parts if len(p)]
    latents = pd.concat(lat_parts, ignore_index=True) if lat_parts else _empty_latents(d)
    latents = _latent_dtypes(latents)
    latents = latents.sort_values(["eid", "instance", "seed"], kind="mergesort").reset_index(drop=True)
    latents = latents[["eid", "instance", "seed"] + [f"Z{j}" for j in range(d)]]
    for p in qc_parts:
        qc_rows.extend(p.astype(object).where(p.notna(), None).to_dict("records"))
    qc = _sort_qc(_qc_frame(qc_rows))
    write_latents_table(latents, out_path)
    with atomic_path(qc_out, suffix=".tsv") as tmp:
        qc.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
    if not keep_parts:
        shutil.rmtree(parts, ignore_errors=True)

    wall = time.perf_counter() - t_start
    timing = {
        "n_inputs": len(uniq),
        "n_encoded": int(latents[["eid", "instance"]].drop_duplicates().shape[0]),
        "n_excluded": int(len(qc)),
        "n_resumed": int(n_resumed),
        "decode_prepare_mean": float(np.mean(prep_times)) if prep_times else math.nan,
        "encode_total": float(t_encode),
        "wall": float(wall),
    }
    return EncodeResult(latents=latents, qc=qc, path=out_path, qc_path=qc_out, timing=timing)
