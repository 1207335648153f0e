"""``.npy`` arrays: one cine (T, H, W) per file (singleton axes are dropped).

Names: ``{eid}_{instance}<anything>.npy`` or ``{eid}_20208_{instance}_0<anything>.npy``
(e.g. ``1234567_2.npy``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .base import UNREADABLE_FILE, ImageReader, InputError, InputItem, as_thw, parse_cine_name

SUFFIXES = (".npy",)


def parse_name(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(eid, instance)`` from ``{eid}_{instance}...npy`` / ``{eid}_20208_{instance}_0...npy``."""
    return parse_cine_name(READER.stem(path))


def read_npy(path: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Frames (T, H, W) as stored and ``{"pixel_spacing_mm": (nan, nan), "layout": "T,H,W"}``."""
    try:
        data = np.load(path, allow_pickle=False, mmap_mode=None)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", UNREADABLE_FILE, "no such file") from None
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{path}: not a readable .npy array ({type(e).__name__}: {e})", UNREADABLE_FILE,
                         f"not a readable .npy array ({type(e).__name__})") from e
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "uif":
        raise InputError(f"{path}: .npy holds {getattr(data, 'dtype', type(data))}, not a numeric image",
                         UNREADABLE_FILE, "not a numeric array")
    return as_thw(data, path), {"pixel_spacing_mm": (np.nan, np.nan), "layout": "T,H,W"}


def read(item: InputItem) -> tuple[np.ndarray, dict[str, Any]]:
    return read_npy(item.path)


def example(folder: Path, eid: int, instance: int, frames: np.ndarray) -> Path:
    """Write ``frames`` to ``folder/{eid}_{instance}.npy`` (contract-test sample)."""
    path = Path(folder) / f"{int(eid)}_{int(instance)}.npy"
    np.save(path, np.asarray(frames))
    return path


READER = ImageReader(kind="npy", suffixes=SUFFIXES, read=read, example=example, parse_name=parse_name,
                     naming="npy '{eid}_{instance}<anything>.npy' or '{eid}_20208_{instance}_0<anything>.npy' "
                            "(e.g. 1234567_2.npy)")
