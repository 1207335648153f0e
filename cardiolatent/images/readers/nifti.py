"""NIfTI cines (``.nii`` / ``.nii.gz``).

The array is read as **(T, H, W)** (frame, row, column), the layout
:func:`cardiolatent.synth.dicom.write_nifti` writes. A 4-D NIfTI ``(X, Y, 1, T)`` (the usual x, y,
z, t layout of converters such as dcm2niix) is turned into ``(T, Y, X)``; so is a 3-D array whose
last axis is 50 and first is not.

Names: ``{eid}_20208_{instance}_0<anything>.nii.gz`` (e.g. ``1234567_20208_2_0_LAX_4Ch.nii.gz``)
or ``{eid}_{instance}<anything>.nii``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from .base import UNREADABLE_FILE, ImageReader, InputError, InputItem, as_thw, parse_cine_name

SUFFIXES = (".nii", ".nii.gz")


def parse_name(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(eid, instance)`` from ``{eid}_20208_{instance}_0...nii.gz`` / ``{eid}_{instance}...nii``."""
    return parse_cine_name(READER.stem(path))


def read_nifti(path: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Frames (T, H, W) as stored and ``{"pixel_spacing_mm": (row, col), "layout": ...}``."""
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", UNREADABLE_FILE, "no such file") from None
    except Exception as e:  # noqa: BLE001 - nibabel raises many types
        raise InputError(f"{path}: not a readable NIfTI file ({type(e).__name__}: {e})", UNREADABLE_FILE,
                         f"not a readable NIfTI file ({type(e).__name__})") from e
    descrip = bytes(img.header.get("descrip", b"")).split(b"\x00")[0].decode("latin-1", "replace") \
        if hasattr(img, "header") else ""
    zooms = tuple(float(z) for z in img.header.get_zooms())
    ours = descrip.startswith("cine axes T,H,W")
    if ours:
        frames = as_thw(data, path)
        ps = (zooms[1], zooms[2]) if len(zooms) >= 3 else (np.nan, np.nan)
        layout = "T,H,W"
    elif data.ndim == 4:
        frames = as_thw(data, path, xyzt=True)
        ps = (zooms[1], zooms[0])
        layout = "X,Y,1,T"
    else:
        sq = data.reshape([s for s in data.shape if s != 1]) if data.ndim > 3 else data
        t_first = not (sq.ndim == 3 and sq.shape[2] == 50 and sq.shape[0] != 50)
        frames = as_thw(data, path, t_first=t_first)
        if t_first:
            ps = (zooms[1], zooms[2]) if len(zooms) >= 3 else (np.nan, np.nan)
            layout = "T,H,W"
        else:
            ps = (zooms[1], zooms[0])
            layout = "X,Y,T"
    return frames, {"pixel_spacing_mm": ps, "layout": layout}


def read(item: InputItem) -> tuple[np.ndarray, dict[str, Any]]:
    return read_nifti(item.path)


def example(folder: Path, eid: int, instance: int, frames: np.ndarray) -> Path:
    """Write ``frames`` (T, H, W) to ``folder/{eid}_20208_{instance}_0_LAX_4Ch.nii.gz`` in the
    (T, H, W) layout (contract-test sample)."""
    path = Path(folder) / f"{int(eid)}_20208_{int(instance)}_0_LAX_4Ch.nii.gz"
    img = nib.Nifti1Image(np.asarray(frames), np.eye(4))
    img.header["descrip"] = b"cine axes T,H,W"
    nib.save(img, str(path))
    return path


READER = ImageReader(kind="nifti", suffixes=SUFFIXES, read=read, example=example, parse_name=parse_name,
                     naming="NIfTI '{eid}_20208_{instance}_0<anything>.nii.gz' or '{eid}_{instance}<anything>.nii' "
                            "(e.g. 1234567_20208_2_0_LAX_4Ch.nii.gz)")
