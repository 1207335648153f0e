"""The per-input image pipeline: read one input, prepare it with the published recipe, resample it
to each model input shape. Used by encoding (:mod:`cardiolatent.encode`), training data
(:mod:`cardiolatent.train.data`) and anything else that turns inputs into model volumes.

:func:`prepare_input` raises on a bad input; :func:`prepare_job` (the unit of work of the reading
worker processes) never does: it returns the QC reason instead, so one bad input never stops a run.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np

from cardiolatent.errors import CardiolatentError

from .prepare import prepare, resample
from .readers import InputItem, check_frame_count, qc_reason, read_frames

PrepareFn = Callable[[np.ndarray], np.ndarray]
ResampleFn = Callable[[np.ndarray, tuple], np.ndarray]
#: a job of :func:`prepare_job`: (index, item, shapes, n_frames, prepare_fn, resample_fn)
Job = tuple[int, InputItem, Iterable[tuple[int, int, int]], "int | None", "PrepareFn | None", "ResampleFn | None"]


def prepare_frames(frames: np.ndarray, n_frames: int | None = 50, prepare_fn: PrepareFn | None = None) -> np.ndarray:
    """Frames (T, H, W) -> prepared float32 (T', H', W'): ``prepare_fn(frames)``, by default the
    published recipe :func:`~cardiolatent.images.prepare.prepare` (requiring ``n_frames`` frames)."""
    prepared = prepare(frames, frames_required=n_frames) if prepare_fn is None else prepare_fn(frames)
    prepared = np.asarray(prepared, dtype=np.float32)
    if prepared.ndim != 3:
        raise CardiolatentError(f"preparation gave shape {prepared.shape}, expected (T, H, W)")
    return prepared


def fit_to_shapes(prepared: np.ndarray, shapes: Iterable[tuple[int, int, int]],
                  resample_fn: ResampleFn | None = None) -> dict[tuple[int, ...], np.ndarray]:
    """``{shape: contiguous float32 volume}``: the prepared volume itself where its shape is asked
    for, else ``resample_fn(prepared, shape)`` (default :func:`~cardiolatent.images.prepare.resample`)."""
    out = {}
    for shape in shapes:
        if tuple(prepared.shape) == tuple(shape):
            v = prepared
        else:
            v = (resample if resample_fn is None else resample_fn)(prepared, tuple(shape))
            v = np.asarray(v, dtype=np.float32)
            if tuple(v.shape) != tuple(shape):
                raise CardiolatentError(f"resampling gave shape {v.shape}, expected {tuple(shape)}")
        out[tuple(shape)] = np.ascontiguousarray(v)
    return out


def prepare_input(item: InputItem, shapes: Iterable[tuple[int, int, int]], n_frames: int | None = 50,
                  prepare_fn: PrepareFn | None = None, resample_fn: ResampleFn | None = None
                  ) -> dict[tuple[int, ...], np.ndarray]:
    """Read ``item``, check its frame count (unless ``n_frames`` is None), prepare it and resample it
    to every shape in ``shapes``: ``{shape: float32 (T, H, W)}``. Raises on a bad input."""
    frames, _ = read_frames(item)
    if n_frames is not None:
        check_frame_count(frames, item, n_frames)
    return fit_to_shapes(prepare_frames(frames, n_frames, prepare_fn), shapes, resample_fn)


def prepare_job(job: Job) -> tuple[int, dict | None, tuple[str, str] | None, float]:
    """Read and prepare one input: (index, {shape: float32 array}, None, seconds) or (index, None, (reason, detail), s)."""
    idx, item, shapes, n_frames, prepare_fn, resample_fn = job
    t0 = time.perf_counter()
    try:
        out = prepare_input(item, shapes, n_frames, prepare_fn, resample_fn)
        return idx, out, None, time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - one bad input must not stop the run
        return idx, None, qc_reason(e), time.perf_counter() - t0
