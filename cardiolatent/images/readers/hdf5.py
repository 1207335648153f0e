"""HDF5 files in the original ImLatent layout (``.h5`` / ``.hdf5``): many inputs per file.

One dataset per participant and instance at
``{eid}/20208/{instance}_0/primary_LAX_4Ch_transverse_0`` with shape ``(1, T, 1, rows, cols)``;
one input per dataset (:attr:`InputItem.key` is the dataset path). Optional dataset attributes
``pixel_spacing_mm`` and ``trigger_times_ms`` are passed on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from cardiolatent.errors import CardiolatentError

from .base import (
    MAX_FRAME_PIXELS,
    MAX_FRAMES,
    MAX_SERIES_BYTES,
    NO_4CH_SERIES,
    TOO_LARGE,
    UNREADABLE_FILE,
    ImageReader,
    InputError,
    InputItem,
    as_thw,
)

SUFFIXES = (".h5", ".hdf5")
H5_SERIES = "primary_LAX_4Ch_transverse_0"
KIND = "h5"


def list_items(path: Path, explicit: bool) -> tuple[list[InputItem], list[dict]]:
    """The inputs in an HDF5 file, and QC rows of groups without a 4-chamber dataset.

    An unreadable file, or one without any dataset in the layout, raises
    :class:`CardiolatentError` when ``explicit`` (named by the user), else becomes a QC row.
    """
    items, excluded = [], []
    try:
        with h5py.File(path, "r") as f:
            for eid_key in f.keys():
                grp = f[eid_key]
                if not eid_key.isdigit() or not isinstance(grp, h5py.Group) or "20208" not in grp:
                    continue
                visits = grp["20208"]
                for vkey in visits.keys():
                    m = re.fullmatch(r"(\d+)_(\d+)", vkey)
                    if m is None:
                        continue
                    eid, inst = int(eid_key), int(m.group(1))
                    key = f"{eid_key}/20208/{vkey}/{H5_SERIES}"
                    if key in f:
                        items.append(InputItem(eid, inst, str(path), KIND, key))
                    else:
                        present = ", ".join(sorted(visits[vkey].keys())) if isinstance(visits[vkey], h5py.Group) else ""
                        excluded.append({"eid": eid, "instance": inst, "path": f"{path}::{eid_key}/20208/{vkey}",
                                         "reason": NO_4CH_SERIES, "detail": f"no {H5_SERIES}; present: {present or 'none'}"})
    except OSError as e:
        if explicit:
            raise CardiolatentError(f"{path}: not a readable HDF5 file ({e})") from e
        return [], [{"eid": None, "instance": None, "path": str(path), "reason": UNREADABLE_FILE,
                     "detail": f"not a readable HDF5 file ({e})"}]
    if not items and not excluded:
        msg = (f"{path}: no 4-chamber cine datasets in the ImLatent HDF5 layout "
               f"'{{eid}}/20208/{{instance}}_0/{H5_SERIES}'")
        if explicit:
            raise CardiolatentError(msg)
        excluded.append({"eid": None, "instance": None, "path": str(path), "reason": NO_4CH_SERIES, "detail": msg})
    return items, excluded


def _check_size(path, key: str, shape: tuple, itemsize: int) -> None:
    """Refuse a dataset far larger than a cine from its declared shape, before reading it."""
    dims = [int(n) for n in shape if int(n) != 1] or [1]
    frames = dims[0] if len(dims) >= 3 else 1
    pixels = int(np.prod(dims[-2:], dtype=np.int64)) if len(dims) >= 2 else int(dims[0])
    nbytes = int(np.prod([int(n) for n in shape], dtype=np.int64)) * int(itemsize)
    if frames > MAX_FRAMES or pixels > MAX_FRAME_PIXELS or nbytes > MAX_SERIES_BYTES:
        raise InputError(f"{path}: dataset {key!r} of shape {tuple(shape)} ({nbytes:,} bytes) is far larger than a "
                         "cine; refused before reading it", TOO_LARGE, f"shape {tuple(shape)}")


def read_h5(path: str, key: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Frames (T, H, W) of dataset ``key`` and ``pixel_spacing_mm`` / ``trigger_times_ms`` when stored."""
    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise InputError(f"{path}: no dataset {key!r}", NO_4CH_SERIES, f"no dataset {key}")
            d = f[key]
            _check_size(path, key, d.shape, d.dtype.itemsize)
            data = d[...]
            attrs = {k: d.attrs[k] for k in ("pixel_spacing_mm", "trigger_times_ms") if k in d.attrs}
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{path}: cannot read {key!r} ({type(e).__name__}: {e})", UNREADABLE_FILE,
                         f"cannot read the dataset ({type(e).__name__})") from e
    if data.ndim == 5:
        if data.shape[0] != 1 or data.shape[2] != 1:
            raise InputError(f"{path}::{key}: shape {data.shape}, expected (1, T, 1, rows, cols)",
                             UNREADABLE_FILE, f"shape {data.shape}, expected (1, T, 1, rows, cols)")
        data = data[0, :, 0]
    frames = as_thw(data, f"{path}::{key}")
    ps = tuple(float(x) for x in np.asarray(attrs.get("pixel_spacing_mm", (np.nan, np.nan))).ravel()[:2])
    info: dict[str, Any] = {"pixel_spacing_mm": ps, "layout": "T,H,W"}
    if "trigger_times_ms" in attrs:
        info["trigger_times_ms"] = np.asarray(attrs["trigger_times_ms"], float)
    return frames, info


def read(item: InputItem) -> tuple[np.ndarray, dict[str, Any]]:
    return read_h5(item.path, item.key)


def example(folder: Path, eid: int, instance: int, frames: np.ndarray) -> Path:
    """Write ``frames`` as one dataset of ``folder/cines.h5`` in the ImLatent layout (contract-test sample)."""
    path = Path(folder) / "cines.h5"
    with h5py.File(path, "a") as f:
        f.create_dataset(f"{int(eid)}/20208/{int(instance)}_0/{H5_SERIES}", data=np.asarray(frames)[None, :, None])
    return path


READER = ImageReader(kind=KIND, suffixes=SUFFIXES, read=read, example=example, list_items=list_items,
                     naming=f"HDF5 files hold '{{eid}}/20208/{{instance}}_0/{H5_SERIES}' datasets")
