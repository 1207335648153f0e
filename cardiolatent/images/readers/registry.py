"""The one table of image readers, and the look-ups and reading done through it.

To add a kind of image file: write a module in this package that defines an
:class:`~cardiolatent.images.readers.base.ImageReader` (``READER``) and add it to
:data:`READERS`. Discovery (:func:`~cardiolatent.images.readers.discovery.discover_inputs`),
:func:`input_kind`, :func:`parse_input_name` and :func:`read_frames` use only this table, and
``tests/test_image_reader_contract.py`` checks every reader in it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from . import bulk_zip, hdf5, nifti, npy
from .base import UNREADABLE_FILE, ImageReader, InputError, InputItem, parse_cine_name

#: every registered reader, keyed by kind (the order is the order in messages)
READERS: dict[str, ImageReader] = {r.kind: r for r in (bulk_zip.READER, nifti.READER, npy.READER, hdf5.READER)}

#: how input files must be named, for error messages
NAMING_HELP = "expected file names: " + "; ".join(r.naming for r in READERS.values())
#: the suffixes of every reader, for error messages
SUFFIXES_HELP = ", ".join(s for r in READERS.values() for s in r.suffixes)


def reader_for(path: str | os.PathLike) -> ImageReader | None:
    """The reader whose suffix the file name ends in, ``None`` for anything else."""
    for r in READERS.values():
        if r.matches(path):
            return r
    return None


def input_kind(path: str | os.PathLike) -> str | None:
    """The reader kind (``zip`` / ``nifti`` / ``npy`` / ``h5``) from the file name, ``None`` for anything else."""
    r = reader_for(path)
    return None if r is None else r.kind


def parse_input_name(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(eid, instance)`` from a file name, ``None`` when it follows none of the naming patterns.

    Zips: ``{eid}_20208_{instance}_0.zip``. NIfTI / npy (and names of no registered kind):
    ``{eid}_20208_{instance}_0...`` or ``{eid}_{instance}...`` (instance of 1-2 digits, followed by
    a non-digit or the end). Containers (HDF5) take the eid and instance from their datasets;
    their file names are parsed the second way.
    """
    r = reader_for(path)
    if r is not None and r.parse_name is not None:
        return r.parse_name(path)
    return parse_cine_name(Path(path).name if r is None else r.stem(path))


def read_frames(item: InputItem) -> tuple[np.ndarray, dict[str, Any]]:
    """Frames (T, H, W) (as stored: uint16 for zips, the file's dtype otherwise) and an info dict.

    ``info`` always has ``eid``, ``instance``, ``path``, ``kind``, ``n_frames`` and
    ``pixel_spacing_mm`` (NaN when unknown); zips add everything
    :func:`~cardiolatent.images.readers.bulk_zip.read_bulk_zip` returns.

    Raises :class:`InputError` (a :class:`CardiolatentError`) whose ``reason`` is a QC code
    (``not_a_zip``, ``no_4ch_series``, ``unreadable_file``). The frame count is not checked here
    (see :func:`check_frame_count`).
    """
    reader = READERS.get(item.kind)
    if reader is None:
        raise InputError(f"{item.path}: unknown input kind {item.kind!r}", UNREADABLE_FILE, f"kind {item.kind!r}")
    frames, info = reader.read(item)
    if frames.size == 0 or min(frames.shape) == 0:
        raise InputError(f"{item.qc_path}: empty image {frames.shape}", UNREADABLE_FILE, f"empty image {frames.shape}")
    info.update(eid=item.eid, instance=item.instance, path=item.path, kind=item.kind, key=item.key,
                n_frames=int(frames.shape[0]))
    return frames, info
