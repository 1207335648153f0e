"""What every image reader shares: the input item, the QC reason codes, the reader record.

A reader (one module per kind of file in this package) is an :class:`ImageReader`: its ``kind``
(stored in :attr:`InputItem.kind`), the file-name ``suffixes`` it handles, how ``(eid,
instance)`` is parsed from a file name (``parse_name``) or, for a container that holds many
inputs (HDF5), how the inputs inside a file are listed (``list_items``), its ``read`` function,
and an ``example`` hook writing a small valid file (used by the reader contract test,
``tests/test_image_reader_contract.py``). The table of readers is
:data:`cardiolatent.images.readers.registry.READERS`.

QC reason codes (column ``reason`` of the QC tables; ``detail`` says more):

=====================  ==========================================================================
``no_4ch_series``      the zip / HDF5 group has no 4-chamber cine series
``wrong_frame_count``  the series does not have exactly 50 frames (``detail``: the count)
``unreadable_file``    the file or a DICOM inside it cannot be read / decoded, or has a bad shape
``not_a_zip``          a ``.zip`` input that is not a zip archive (or is missing)
``empty_mask``         preparation found no moving heart region
``duplicate_input``    a second input for an (eid, instance) already seen (the first one is used)
``bad_name``           eid / instance cannot be parsed from a file found in a folder
``preparation_failed`` any other preparation error (``detail``: the message)
=====================  ==========================================================================
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from cardiolatent.errors import BulkZipError, CardiolatentError

NO_4CH_SERIES = "no_4ch_series"
WRONG_FRAME_COUNT = "wrong_frame_count"
UNREADABLE_FILE = "unreadable_file"
NOT_A_ZIP = "not_a_zip"
EMPTY_MASK = "empty_mask"
DUPLICATE_INPUT = "duplicate_input"
BAD_NAME = "bad_name"
PREPARATION_FAILED = "preparation_failed"
TOO_LARGE = "too_large"
NO_FRAME_ORDER = "no_frame_order"
#: bounds checked before any pixel is decoded: a cine has 50 frames of about 200 x 200 pixels
#: (UK Biobank bulk zips: 3 series, 150 frames, ~4 MB); anything far beyond is refused, not read
MAX_FRAMES = 1000
MAX_FRAME_PIXELS = 4096 * 4096
MAX_SERIES_BYTES = 1 << 30
#: every QC reason code, with a one-line meaning
QC_REASONS = {
    NO_4CH_SERIES: "no 4-chamber cine series in the input",
    WRONG_FRAME_COUNT: "the series does not have exactly 50 frames",
    UNREADABLE_FILE: "the file (or a DICOM in it) cannot be read or decoded",
    NOT_A_ZIP: "a .zip input that is not a zip archive",
    EMPTY_MASK: "no moving heart region found when preparing the series",
    DUPLICATE_INPUT: "another input for the same (eid, instance) came first and was used",
    BAD_NAME: "eid / instance cannot be parsed from the file name",
    PREPARATION_FAILED: "the series could not be prepared for the model",
    TOO_LARGE: "the series is far larger than a cine (frames, pixels or bytes); refused before decoding",
    NO_FRAME_ORDER: "frames carry neither TriggerTime nor InstanceNumber: their order in time is unknown",
}
QC_COLUMNS = ("eid", "instance", "path", "reason", "detail")

_NAME_UKB = re.compile(r"^(\d+)_20208_(\d+)_\d+(?:[^0-9].*)?$")
_NAME_SHORT = re.compile(r"^(\d+)_(\d{1,2})(?:[^0-9].*)?$")


class InputError(CardiolatentError):
    """An input cannot be used; ``reason`` is a QC code, ``detail`` a short explanation."""

    def __init__(self, message: str, reason: str = UNREADABLE_FILE, detail: str = ""):
        super().__init__(message)
        self.reason = reason
        self.detail = detail or message


@dataclass(frozen=True, order=True)
class InputItem:
    """One participant-instance image input. ``key``: HDF5 dataset path ("" for other kinds)."""

    eid: int
    instance: int
    path: str
    kind: str
    key: str = ""

    def qc_row(self, reason: str, detail: str = "") -> dict[str, Any]:
        return {"eid": self.eid, "instance": self.instance, "path": self.qc_path, "reason": reason,
                "detail": detail}

    @property
    def qc_path(self) -> str:
        return f"{self.path}::{self.key}" if self.key else self.path


class InputList(list):
    """``list[InputItem]`` (sorted by eid, instance, path) with ``excluded``: QC rows (dicts) of
    inputs left out at discovery (``duplicate_input``, ``bad_name``, unreadable HDF5 / list entries)."""

    def __init__(self, items: Iterable[InputItem] = (), excluded: list[dict] | None = None):
        super().__init__(items)
        self.excluded: list[dict] = list(excluded or [])


#: ``read(item) -> (frames (T, H, W), info dict)``; raises :class:`InputError`
ReadFn = Callable[[InputItem], "tuple[np.ndarray, dict[str, Any]]"]
#: ``parse_name(path) -> (eid, instance) | None``
ParseFn = Callable[[str | os.PathLike], "tuple[int, int] | None"]
#: ``list_items(path, explicit) -> (items, excluded QC rows)`` for files holding many inputs
ListFn = Callable[[Path, bool], "tuple[list[InputItem], list[dict]]"]
#: ``example(folder, eid, instance, frames uint16 (T, H, W)) -> path written``
ExampleFn = Callable[[Path, int, int, np.ndarray], Path]


@dataclass(frozen=True)
class ImageReader:
    """One kind of image input (see the module docstring).

    ``folder_pattern``: an ``fnmatch`` pattern (lower-case) a file found while searching a folder
    must match to be taken as an input (``None``: any file with one of the suffixes).
    ``naming``: how files of this kind must be named, for error messages. Exactly one of
    ``parse_name`` (one input per file) and ``list_items`` (a container) is given.
    """

    kind: str
    suffixes: tuple[str, ...]
    read: ReadFn
    example: ExampleFn
    naming: str
    parse_name: ParseFn | None = None
    list_items: ListFn | None = None
    folder_pattern: str | None = None

    def __post_init__(self):
        if (self.parse_name is None) == (self.list_items is None):
            raise ValueError(f"reader {self.kind!r}: give exactly one of parse_name and list_items")
        if not self.suffixes or any(s != s.lower() or not s.startswith(".") for s in self.suffixes):
            raise ValueError(f"reader {self.kind!r}: suffixes must be lower-case and start with '.'")

    @property
    def is_container(self) -> bool:
        """True when one file holds many inputs (listed by ``list_items``)."""
        return self.list_items is not None

    def matches(self, path: str | os.PathLike) -> bool:
        """Whether the file name ends in one of this reader's suffixes (case-insensitive)."""
        return Path(path).name.lower().endswith(self.suffixes)

    def stem(self, path: str | os.PathLike) -> str:
        """The file name without this reader's suffix."""
        name = Path(path).name
        low = name.lower()
        for suf in sorted(self.suffixes, key=len, reverse=True):
            if low.endswith(suf):
                return name[: -len(suf)]
        return name


def parse_cine_name(stem: str) -> tuple[int, int] | None:
    """``(eid, instance)`` from a file-name stem ``{eid}_20208_{instance}_0...`` or ``{eid}_{instance}...``
    (instance of 1-2 digits, followed by a non-digit or the end); ``None`` otherwise."""
    for rx in (_NAME_UKB, _NAME_SHORT):
        m = rx.match(stem)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def as_thw(arr: np.ndarray, path, *, xyzt: bool = False, t_first: bool | None = None) -> np.ndarray:
    """An image array as a contiguous (T, H, W) cine; :class:`InputError` for any other shape.

    ``xyzt``: a 4-D array is (X, Y, 1, T) and becomes (T, Y, X). Singleton axes of arrays with
    more than three axes are dropped. ``t_first=False``: a 3-D (X, Y, T) array becomes (T, Y, X).
    """
    a = np.asarray(arr)
    if xyzt and a.ndim == 4:
        if a.shape[2] != 1:
            raise InputError(f"{path}: 4-D image {a.shape} has {a.shape[2]} slices; expected one slice (X, Y, 1, T)",
                             UNREADABLE_FILE, f"4-D image of shape {a.shape}, expected (X, Y, 1, T)")
        return np.ascontiguousarray(a[:, :, 0, :].transpose(2, 1, 0))
    if a.ndim > 3:
        a = a.reshape([s for s in a.shape if s != 1] or [1])
    if a.ndim != 3:
        raise InputError(f"{path}: image of shape {np.asarray(arr).shape} is not a (T, H, W) cine",
                         UNREADABLE_FILE, f"shape {np.asarray(arr).shape}, expected (T, H, W)")
    if t_first is False:
        a = a.transpose(2, 1, 0)
    return np.ascontiguousarray(a)


def check_frame_count(frames: np.ndarray, item: InputItem, n_frames: int = 50) -> None:
    """Raise :class:`InputError` (``wrong_frame_count``, detail = the count) unless T == ``n_frames``."""
    t = int(np.asarray(frames).shape[0])
    if t != n_frames:
        raise InputError(f"{item.qc_path}: the 4-chamber series has {t} frames; the model needs exactly {n_frames}",
                         WRONG_FRAME_COUNT, str(t))


def qc_reason(exc: BaseException) -> tuple[str, str]:
    """(QC reason code, detail) for an exception raised while reading or preparing an input."""
    reason = getattr(exc, "reason", None)
    detail = getattr(exc, "detail", None) or str(exc)
    if reason in QC_REASONS:
        return reason, str(detail)
    msg = str(exc)
    low = msg.lower()
    if isinstance(exc, BulkZipError):
        return UNREADABLE_FILE, msg
    if type(exc).__name__ == "PreparationError" or "prepar" in type(exc).__name__.lower():
        if "frame" in low and ("exactly" in low or "needs" in low or "at least" in low):
            m = re.search(r"(?:has|found|got)\s+(\d+)", low)
            return WRONG_FRAME_COUNT, m.group(1) if m else msg
        if "mask" in low or "heart" in low or "moving" in low:
            return EMPTY_MASK, msg
        return PREPARATION_FAILED, msg
    if isinstance(exc, (OSError, ValueError, EOFError)):
        return UNREADABLE_FILE, f"{type(exc).__name__}: {msg}"
    return PREPARATION_FAILED, f"{type(exc).__name__}: {msg}"
