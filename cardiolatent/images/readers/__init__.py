"""Any input -> (eid, instance, frames (T, H, W)): one module per kind of file, one table of them.

Registered readers (:data:`READERS`, in :mod:`.registry`), by ``kind``:

``zip``    UK Biobank bulk zip ``{eid}_20208_{instance}_0.zip`` (4-chamber series): :mod:`.bulk_zip`.
``nifti``  ``.nii`` / ``.nii.gz`` cine, (T, H, W) or the converters' (X, Y, 1, T): :mod:`.nifti`.
``npy``    ``.npy`` array (T, H, W) (singleton axes are dropped): :mod:`.npy`.
``h5``     ``.h5`` / ``.hdf5`` in the original ImLatent layout, one input per dataset
           ``{eid}/20208/{instance}_0/primary_LAX_4Ch_transverse_0``: :mod:`.hdf5`.

File naming: zips need the UK Biobank name; NIfTI / npy files need
``{eid}_20208_{instance}_0...`` (e.g. ``1234567_20208_2_0_LAX_4Ch.nii.gz``) or
``{eid}_{instance}...`` (e.g. ``1234567_2.npy``).

:func:`discover_inputs` (:mod:`.discovery`) finds inputs, :func:`read_frames` reads one, and
:func:`qc_reason` turns any failure into a QC reason code (:data:`QC_REASONS`, :mod:`.base`).
A new kind of file is one new module plus one entry in :data:`READERS`; it must pass
``tests/test_image_reader_contract.py`` unchanged.
"""

from __future__ import annotations

from .base import (BAD_NAME, DUPLICATE_INPUT, EMPTY_MASK, NO_4CH_SERIES, NOT_A_ZIP, PREPARATION_FAILED,
                   QC_COLUMNS, QC_REASONS, UNREADABLE_FILE, WRONG_FRAME_COUNT, ImageReader, InputError,
                   InputItem, InputList, check_frame_count, qc_reason)
from .bulk_zip import read_bulk_zip
from .discovery import discover_inputs
from .hdf5 import H5_SERIES
from .registry import NAMING_HELP, READERS, input_kind, parse_input_name, read_frames, reader_for

__all__ = [
    "BAD_NAME", "DUPLICATE_INPUT", "EMPTY_MASK", "H5_SERIES", "NAMING_HELP", "NOT_A_ZIP", "NO_4CH_SERIES",
    "PREPARATION_FAILED", "QC_COLUMNS", "QC_REASONS", "READERS", "UNREADABLE_FILE", "WRONG_FRAME_COUNT",
    "ImageReader", "InputError", "InputItem", "InputList", "check_frame_count", "discover_inputs",
    "input_kind", "parse_input_name", "qc_reason", "read_bulk_zip", "read_frames", "reader_for",
]
