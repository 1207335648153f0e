"""UK Biobank bulk cine zips (field 20208): one series, frames in temporal order.

A bulk zip ``{eid}_20208_{instance}_0.zip`` holds one DICOM file per frame of each long-axis
cine series (``CINE_segmented_LAX_4Ch``, ``..._2Ch``, ``..._3Ch``) and a manifest listing every
file with its series (named ``manifest.csv`` in some zips, ``manifest.cvs`` in others). Member
order and file names are not temporal.

:func:`read_bulk_zip` reads the zip in memory (nothing is extracted to disk, so a hostile
member name cannot write anywhere), picks the files of the wanted series from the manifest
(or, without a manifest, from DICOM headers read without pixel data) and decodes only those.
Common frames (Explicit VR Little Endian, 16-bit, one frame) are inflated straight from the
archive bytes and parsed by :mod:`~cardiolatent.images.readers.dicom_fast`; anything else goes
through :mod:`zipfile` and pydicom as before, with the same result (:data:`FAST_PATH`).

Errors are :class:`~cardiolatent.errors.BulkZipError` subclasses carrying a short QC ``reason``
code: :class:`NotAZipError` (``not_a_zip``), :class:`NoSeriesError` (``no_4ch_series``) and
:class:`UnreadableZipError` (``unreadable_file``). As a registered reader (:data:`READER`, kind
``zip``) they become :class:`~cardiolatent.images.readers.base.InputError` with the same reason.
"""

from __future__ import annotations

import csv
import io
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from cardiolatent.errors import BulkZipError

from .base import (
    MAX_FRAME_PIXELS,
    MAX_FRAMES,
    MAX_SERIES_BYTES,
    NO_FRAME_ORDER,
    TOO_LARGE,
    UNREADABLE_FILE,
    ImageReader,
    InputError,
    InputItem,
)
from .dicom_fast import FastHeader, parse_frame

MANIFEST_NAMES = ("manifest.csv", "manifest.cvs")
#: UK Biobank bulk file name of field 20208: ``{eid}_20208_{instance}_{array}.zip``
BULK_NAME_RE = re.compile(r"^(\d+)_20208_(\d+)_(\d+)\.zip$", re.IGNORECASE)
#: refuse members that inflate beyond this (a zip bomb, not a cine frame)
MAX_MEMBER_BYTES = 256 * 2**20
#: read frames with :func:`~cardiolatent.images.readers.dicom_fast.parse_frame` first (pydicom for
#: anything it does not take); ``False`` reads every frame with pydicom (the reference path, for
#: tests and ``benchmarks/bench_prepare.py``). The result is the same either way.
FAST_PATH = True


class NotAZipError(BulkZipError):
    """The file is missing or is not a zip archive."""

    reason = "not_a_zip"


class NoSeriesError(BulkZipError):
    """The zip holds no series matching the one asked for (the message lists those present)."""

    reason = "no_4ch_series"


class UnreadableZipError(BulkZipError):
    """A member of the zip cannot be read or decoded as DICOM, or the series is inconsistent."""

    reason = "unreadable_file"


class TooLargeZipError(BulkZipError):
    """The series is far larger than a cine (members, inflated bytes, frame size): refused unread."""

    reason = TOO_LARGE


class NoFrameOrderError(BulkZipError):
    """Frames carry neither TriggerTime nor InstanceNumber: their order in time is unknown."""

    reason = NO_FRAME_ORDER


def parse_bulk_name(name: str | os.PathLike) -> tuple[int, int] | None:
    """``(eid, instance)`` from a bulk file name ``{eid}_20208_{instance}_0.zip``; ``None`` otherwise.

    Only the final path component is looked at.
    """
    m = BULK_NAME_RE.match(Path(name).name)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2))


def _find_manifest(names: list[str]) -> str | None:
    for n in names:
        if n.rsplit("/", 1)[-1].lower() in MANIFEST_NAMES:
            return n
    return None


class _MemoryZip(zipfile.ZipFile):
    """A zip read from ``raw`` (the archive's bytes, kept for :func:`_inflate_plain`)."""

    def __init__(self, raw: bytes):
        super().__init__(io.BytesIO(raw))
        self.raw = raw


_LOCAL_HEADER = struct.Struct("<4s2xH18xHH")  # signature, flags, name length, extra length
_ZIP_UNSUPPORTED_FLAGS = 0x01 | 0x20 | 0x40  # encrypted, compressed patched data, strong encryption


def _inflate_plain(raw: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """A stored or deflated, unencrypted member inflated straight from the archive bytes ``raw``;
    ``None`` whenever :meth:`zipfile.ZipFile.read` might do or say anything else.

    The same checks as :mod:`zipfile` (local header signature, the name in the local header equal
    to the directory's, the inflated size and CRC-32 equal to the directory's), without its
    per-member file object and chunked reading (about 60 us per member). Inflation stops one byte
    past the declared size, so a lying directory cannot make it inflate more.
    """
    if info.flag_bits & _ZIP_UNSUPPORTED_FLAGS or info.compress_type not in (zipfile.ZIP_STORED,
                                                                              zipfile.ZIP_DEFLATED):
        return None
    o = info.header_offset
    try:
        sig, flags, n_name, n_extra = _LOCAL_HEADER.unpack_from(raw, o)
        if sig != b"PK\x03\x04":
            return None
        if raw[o + 30:o + 30 + n_name].decode("utf-8" if flags & 0x800 else "cp437") != info.orig_filename:
            return None
        start = o + 30 + n_name + n_extra
        stop = start + info.compress_size
        end_offset = getattr(info, "_end_offset", None)  # newer zipfile refuses overlapping entries
        if stop > len(raw) or (end_offset is not None and stop > end_offset):
            return None
        if info.compress_type == zipfile.ZIP_STORED:
            out = raw[start:stop]
        else:
            d = zlib.decompressobj(-15)
            out = d.decompress(memoryview(raw)[start:stop], info.file_size + 1)
            if not d.eof or d.unused_data or d.unconsumed_tail:
                return None
    except (struct.error, UnicodeDecodeError, zlib.error, ValueError):
        return None
    if len(out) != info.file_size or zlib.crc32(out) != info.CRC:
        return None
    return out


def _read_member(zf: zipfile.ZipFile, name: str, path, fast: bool = False) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise UnreadableZipError(f"{path}: member {name!r} inflates to {info.file_size:,} bytes; "
                                 "not a cine frame (refusing to read it)")
    if fast and isinstance(zf, _MemoryZip):
        out = _inflate_plain(zf.raw, info)
        if out is not None:
            return out
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise UnreadableZipError(f"{path}: member {name!r} cannot be read from the zip "
                                 f"({type(e).__name__}: {e})") from e
    except Exception as e:  # noqa: BLE001 - zlib.error and friends
        raise UnreadableZipError(f"{path}: member {name!r} cannot be read from the zip "
                                 f"({type(e).__name__}: {e})") from e


def _manifest_series(zf: zipfile.ZipFile, name: str, path) -> dict[str, str] | None:
    """Map member name -> series description from a manifest; ``None`` if it has no such column."""
    text = _read_member(zf, name, path).decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return None
    header = [h.strip().lower().replace(" ", "").replace("_", "") for h in rows[0]]
    try:
        i_file = header.index("filename")
    except ValueError:
        i_file = 0
    i_desc = next((i for i, h in enumerate(header) if "seriesdescription" in h), None)
    if i_desc is None:
        i_desc = next((i for i, h in enumerate(header) if "description" in h), None)
    if i_desc is None:
        return None
    out = {}
    for r in rows[1:]:
        if len(r) > max(i_file, i_desc):
            out[r[i_file].strip()] = r[i_desc].strip()
    return out


def _decode_pixels(ds: Dataset) -> np.ndarray:
    """Pixel array (rows, cols); fast path for uncompressed 16-bit little endian."""
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if (ts in (ExplicitVRLittleEndian, "1.2.840.10008.1.2") and int(ds.BitsAllocated) == 16
            and int(ds.get("SamplesPerPixel", 1)) == 1 and int(ds.get("NumberOfFrames", 1) or 1) == 1):
        dt = "<i2" if int(ds.get("PixelRepresentation", 0)) == 1 else "<u2"
        return np.frombuffer(ds.PixelData, dtype=dt, count=int(ds.Rows) * int(ds.Columns)).reshape(
            int(ds.Rows), int(ds.Columns))
    return np.asarray(ds.pixel_array)


def _read_dicom(zf: zipfile.ZipFile, name: str, path, headers_only: bool = False,
                fast: bool = False) -> Dataset | FastHeader:
    """One member as a dataset: ``fast`` tries the narrow reader first (a :class:`FastHeader`, which
    always carries the pixel bytes), pydicom otherwise or when that reader declines."""
    data = _read_member(zf, name, path, fast)
    if fast:
        hdr = parse_frame(data)
        if hdr is not None:
            return hdr
    try:
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=headers_only)
    except Exception as e:  # noqa: BLE001 - any decoder failure becomes a user-facing error
        raise UnreadableZipError(f"{path}: member {name!r} is not a readable DICOM file "
                                 f"({type(e).__name__}: {e})") from e


def _is_magnitude(ds: Dataset) -> bool:
    """False for phase / velocity images (ImageType value 3 is 'P'), True otherwise."""
    it = list(ds.get("ImageType", []) or [])
    return not (len(it) > 2 and str(it[2]).upper() == "P")


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotAZipError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NotAZipError(f"{path}: is a folder, not a zip archive") from None
    except OSError as e:
        raise UnreadableZipError(f"{path}: cannot be read ({e})") from e
    try:
        return _MemoryZip(data)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as e:
        raise NotAZipError(f"{path}: not a zip archive ({e})") from e


def read_bulk_zip(path: str | os.PathLike, series: str = "LAX_4Ch", *,
                  fast: bool | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one cine series from a UK Biobank bulk zip, frames in temporal order.

    Parameters
    ----------
    path : the zip (``{eid}_20208_{instance}_0.zip``); read in memory, nothing is extracted.
    series : case-insensitive substring of the SeriesDescription (default ``"LAX_4Ch"``).
    fast : read the common frame format (Explicit VR Little Endian, 16-bit, one frame) with
        :mod:`~cardiolatent.images.readers.dicom_fast` instead of pydicom; any other member still
        goes to pydicom. ``None``: :data:`FAST_PATH`. The result is identical either way.

    Only the files of the matching series are decoded: they are picked from ``manifest.csv`` /
    ``manifest.cvs`` (either spelling) or, without a manifest (or one without a series
    description column), from DICOM headers read without pixel data. When several series match,
    the first acquisition (lowest SeriesNumber, then SeriesInstanceUID) is used; phase images
    (ImageType value 3 'P') are skipped when magnitude images are present. Frames are ordered by
    TriggerTime when every frame has one, else by InstanceNumber when every frame has one
    (``info["frame_order"]`` says which); a series where some frame has neither is refused
    (:class:`NoFrameOrderError`), never read in the archive's order. Sizes are checked from the
    zip directory and the DICOM headers before any pixel is decoded (:class:`TooLargeZipError`).

    Returns
    -------
    frames : uint16 array (T, rows, cols) (int16 data is returned as stored).
    info : dict with ``eid`` (DICOM PatientID, int when numeric), ``name_eid`` / ``instance``
        (parsed from the file name, ``None`` when it is not UK Biobank style),
        ``series_description``, ``series_instance_uid``, ``series_number``,
        ``trigger_times_ms`` (T,), ``instance_numbers`` (T,), ``pixel_spacing_mm`` (row, col),
        ``n_frames``, ``rows``, ``cols``, ``study_date``, ``filenames`` (T, in temporal order),
        ``n_series_matched``, ``manifest`` (its member name or None), ``path``.

    Raises
    ------
    NotAZipError : missing file or not a zip.
    NoSeriesError : no series matches (the message lists the series present).
    UnreadableZipError : a member cannot be read / decoded, manifest lists absent files, frame sizes differ.
    All three are :class:`~cardiolatent.errors.BulkZipError` with a ``reason`` attribute.
    """
    path = Path(path)
    want = series.lower()
    fast = FAST_PATH if fast is None else bool(fast)
    zf = _open_zip(path)
    with zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        man = _find_manifest(names)
        mapping = _manifest_series(zf, man, path) if man else None
        if mapping is not None:
            datasets = _datasets_from_manifest(zf, names, man, mapping, want, series, path, fast)
        else:
            datasets = _datasets_from_headers(zf, names, man, want, series, path, fast)

    groups = _group_by_series(_prefer_magnitude(datasets))
    first_uid = min(groups, key=lambda u: (_series_number(groups, u), u))
    items = groups[first_uid]
    order = _order_frames(items, path)
    _check_frame_sizes(items, path)
    frames = _stack_frames(items, series, path)
    info = _series_info(path, frames, items, groups, first_uid, man)
    info["frame_order"] = order
    return frames, info


def _datasets_from_manifest(zf: zipfile.ZipFile, names: list[str], man: str, mapping: dict[str, str],
                            want: str, series: str, path: Path, fast: bool = False) -> list[tuple[str, Dataset]]:
    """Decode the members the manifest lists under a matching series description."""
    name_set = set(names)
    by_base = {n.rsplit("/", 1)[-1]: n for n in names}
    present = sorted(set(mapping.values()))
    chosen = [f for f, d in mapping.items() if want in d.lower()]
    members = [f if f in name_set else by_base.get(f.rsplit("/", 1)[-1]) for f in chosen]
    missing = [c for c, m in zip(chosen, members) if m is None]
    if missing:
        raise UnreadableZipError(f"{path}: {len(missing)} file(s) listed in {man} are not in the zip, "
                                 f"e.g. {missing[0]!r}")
    if not chosen:
        raise NoSeriesError(f"{path}: no series matching {series!r}; series present: "
                            f"{', '.join(present) or 'none'}")
    _check_members(zf, members, path)
    return [(m, _read_dicom(zf, m, path, fast=fast)) for m in members]


def _check_members(zf: zipfile.ZipFile, members: list[str], path: Path) -> None:
    """Before anything is inflated: no more members than frames a cine can have, and their
    declared inflated sizes within :data:`~cardiolatent.images.readers.base.MAX_SERIES_BYTES`."""
    if len(members) > MAX_FRAMES:
        raise TooLargeZipError(f"{path}: {len(members):,} files in the series; a cine has about 50 "
                               "(refused before reading them)")
    total = sum(zf.getinfo(m).file_size for m in members)
    if total > MAX_SERIES_BYTES:
        raise TooLargeZipError(f"{path}: the series inflates to {total:,} bytes; a cine is a few MB "
                               "(refused before reading it)")


def _datasets_from_headers(zf: zipfile.ZipFile, names: list[str], man: str | None, want: str, series: str,
                           path: Path, fast: bool = False) -> list[tuple[str, Dataset]]:
    """Without a usable manifest: pick the matching members from DICOM headers, then decode them.

    A member the fast reader took is not read twice (its :class:`FastHeader` has the pixels)."""
    candidates = [n for n in names if n != man]
    if len(candidates) > 5 * MAX_FRAMES:
        raise TooLargeZipError(f"{path}: {len(candidates):,} files and no manifest; a bulk zip has a few hundred "
                               "(refused before reading them)")
    present_set: set[str] = set()
    chosen = []
    parsed: dict[str, FastHeader] = {}
    for n in candidates:
        hd = _read_dicom(zf, n, path, headers_only=True, fast=fast)
        desc = str(hd.get("SeriesDescription", ""))
        present_set.add(desc)
        if want in desc.lower():
            chosen.append(n)
            if isinstance(hd, FastHeader):
                parsed[n] = hd
    if not chosen:
        raise NoSeriesError(f"{path}: no series matching {series!r}; series present: "
                            f"{', '.join(sorted(present_set)) or 'none'}")
    _check_members(zf, chosen, path)
    return [(n, parsed[n] if n in parsed else _read_dicom(zf, n, path)) for n in chosen]


def _prefer_magnitude(datasets: list[tuple[str, Dataset]]) -> list[tuple[str, Dataset]]:
    """Drop phase images when magnitude images are present."""
    return [(n, ds) for n, ds in datasets if _is_magnitude(ds)] or datasets


def _group_by_series(datasets: list[tuple[str, Dataset]]) -> dict[str, list[tuple[str, Dataset]]]:
    """Group (member, dataset) pairs by SeriesInstanceUID, in first-seen order."""
    groups: dict[str, list[tuple[str, Dataset]]] = {}
    for n, ds in datasets:
        groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((n, ds))
    return groups


def _series_number(groups: dict[str, list[tuple[str, Dataset]]], uid: str) -> int:
    """SeriesNumber of group ``uid`` (its first dataset), 0 when absent or not a number."""
    try:
        return int(groups[uid][0][1].get("SeriesNumber", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _order_frames(items: list[tuple[str, Dataset]], path: Path) -> str:
    """Sort ``items`` into temporal order (in place); returns the key used.

    The rule: by TriggerTime when every frame has one (ties by InstanceNumber); else by
    InstanceNumber when every frame has one (UK Biobank numbers the frames of a cine in time);
    else the order in time is unknown and the series is refused (never the archive's order).
    """
    keys = [_frame_sort_key(it) for it in items]
    if all(np.isfinite(k[0]) for k in keys):
        items.sort(key=_frame_sort_key)
        return "trigger_time"
    if all(_has_instance_number(ds) for _, ds in items):
        items.sort(key=lambda it: (_frame_sort_key(it)[1], _frame_sort_key(it)[0], it[0]))
        return "instance_number"
    n = sum(1 for (tt, _, _), (_, ds) in zip(keys, items) if not np.isfinite(tt) and not _has_instance_number(ds))
    raise NoFrameOrderError(f"{path}: {n} of {len(items)} frame(s) carry neither a TriggerTime nor an "
                            "InstanceNumber; their order in time is unknown")


def _has_instance_number(ds: Dataset) -> bool:
    try:
        return ds.get("InstanceNumber", None) not in (None, "") and int(ds.get("InstanceNumber")) >= 0
    except (TypeError, ValueError):
        return False


def _check_frame_sizes(items: list[tuple[str, Dataset]], path: Path) -> None:
    """Rows x Columns from the headers, before any pixel is decoded (compressed data can declare
    a huge image in a few bytes)."""
    total = 0
    for name, ds in items:
        try:
            px = int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0)
        except (TypeError, ValueError):
            px = 0
        if px > MAX_FRAME_PIXELS:
            raise TooLargeZipError(f"{path}: member {name!r} declares a {ds.get('Rows')} x {ds.get('Columns')} image; "
                                   "a cine frame is about 200 x 200 (refused before decoding)")
        total += 2 * px
    if total > MAX_SERIES_BYTES:
        raise TooLargeZipError(f"{path}: the series would decode to {total:,} bytes (refused before decoding)")


def _frame_sort_key(item: tuple[str, Dataset]) -> tuple[float, int, str]:
    """Temporal sort key of a frame: (TriggerTime or inf, InstanceNumber or 0, member name)."""
    ds = item[1]
    try:
        tt = float(ds.get("TriggerTime", None))
    except (TypeError, ValueError):
        tt = np.inf
    try:
        num = int(ds.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        num = 0
    return (tt, num, item[0])


def _stack_frames(items: list[tuple[str, Dataset]], series: str, path: Path) -> np.ndarray:
    """Decode and stack the frames (T, rows, cols); uint16 unless stored as int16."""
    try:
        frames_list = [_decode_pixels(ds) for _, ds in items]
    except Exception as e:  # noqa: BLE001
        raise UnreadableZipError(f"{path}: pixel data of series {series!r} cannot be decoded ({e})") from e
    shapes = {f.shape for f in frames_list}
    if len(shapes) != 1:
        raise UnreadableZipError(f"{path}: frames of series {series!r} differ in size: {sorted(shapes)}")
    frames = np.stack(frames_list)
    if frames.dtype != np.int16:
        frames = frames.astype(np.uint16, copy=False)
    return frames


def _series_info(path: Path, frames: np.ndarray, items: list[tuple[str, Dataset]],
                 groups: dict[str, list[tuple[str, Dataset]]], first_uid: str, man: str | None) -> dict[str, Any]:
    """The ``info`` dict of :func:`read_bulk_zip`, from the first frame's header and the file name."""
    ds0 = items[0][1]
    pid = str(ds0.get("PatientID", ""))
    ps = ds0.get("PixelSpacing", None)
    parsed = parse_bulk_name(path)
    info = {
        "eid": int(pid) if pid.isdigit() else pid,
        "name_eid": None if parsed is None else parsed[0],
        "instance": None if parsed is None else parsed[1],
        "series_description": str(ds0.get("SeriesDescription", "")),
        "series_instance_uid": first_uid,
        "series_number": _series_number(groups, first_uid),
        "trigger_times_ms": np.array([_frame_sort_key(it)[0] for it in items], dtype=float),
        "instance_numbers": np.array([_frame_sort_key(it)[1] for it in items]),
        "pixel_spacing_mm": (float(ps[0]), float(ps[1])) if ps is not None else (np.nan, np.nan),
        "n_frames": int(frames.shape[0]),
        "rows": int(frames.shape[1]),
        "cols": int(frames.shape[2]),
        "study_date": str(ds0.get("StudyDate", "")),
        "filenames": [n for n, _ in items],
        "n_series_matched": len(groups),
        "manifest": man,
        "path": str(path),
    }
    info["trigger_times_ms"][~np.isfinite(info["trigger_times_ms"])] = np.nan
    return info


# --------------------------------------------------------------------------------------------
# the registered reader
# --------------------------------------------------------------------------------------------

def read(item: InputItem) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`read_bulk_zip` of the 4-chamber series; the DICOM PatientID goes to ``dicom_patient_id``."""
    try:
        frames, info = read_bulk_zip(item.path)
    except BulkZipError as e:
        reason = getattr(e, "reason", UNREADABLE_FILE)
        raise InputError(str(e), reason, str(e).replace(f"{item.path}: ", "", 1)) from e
    info = dict(info)
    info["dicom_patient_id"] = info.pop("eid")
    return frames, info


def example(folder: Path, eid: int, instance: int, frames: np.ndarray) -> Path:
    """Write ``frames`` (T, H, W) uint16 as a minimal bulk zip ``folder/{eid}_20208_{instance}_0.zip``:
    one uncompressed DICOM per frame of a ``CINE_segmented_LAX_4Ch`` series plus ``manifest.csv``
    (contract-test sample; the full writer is :func:`cardiolatent.synth.dicom.write_bulk_zip`)."""
    path = Path(folder) / f"{int(eid)}_20208_{int(instance)}_0.zip"
    frames = np.asarray(frames, dtype=np.uint16)
    uid = f"1.2.826.0.1.3680043.8.498.{int(eid)}.{int(instance)}"
    lines = ["filename,patientid,studyid,aet,host,date,time,seriesdescription"]
    with zipfile.ZipFile(path, "w") as zf:
        for t, pixels in enumerate(frames):
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
            ds.file_meta.MediaStorageSOPInstanceUID = f"{uid}.{t + 1}"
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
            ds.SOPInstanceUID = f"{uid}.{t + 1}"
            ds.PatientID = str(int(eid))
            ds.SeriesDescription = "CINE_segmented_LAX_4Ch"
            ds.SeriesInstanceUID = uid
            ds.SeriesNumber = 1
            ds.InstanceNumber = t + 1
            ds.TriggerTime = str(20 * t)
            ds.PixelSpacing = ["1.5", "1.5"]
            ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
            buf = io.BytesIO()
            pydicom.dcmwrite(buf, ds, enforce_file_format=True)
            name = f"{uid}.{t + 1}.dcm"
            zf.writestr(name, buf.getvalue())
            lines.append(f"{name},{int(eid)},1,AET,localhost,20160102,120000,CINE_segmented_LAX_4Ch")
        zf.writestr("manifest.csv", "\n".join(lines) + "\n")
    return path


READER = ImageReader(kind="zip", suffixes=(".zip",), read=read, example=example, parse_name=parse_bulk_name,
                     folder_pattern="*_20208_*_*.zip", naming="bulk zips '{eid}_20208_{instance}_0.zip'")
