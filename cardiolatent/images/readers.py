"""Any input -> (eid, instance, frames (T, H, W)): discovery of inputs, readers, QC reasons.

Supported inputs (``kind``):

``zip``    UK Biobank bulk zip ``{eid}_20208_{instance}_0.zip`` (4-chamber series, see
           :mod:`cardiolatent.images.bulk`).
``nifti``  ``.nii`` / ``.nii.gz`` cine. The array is read as **(T, H, W)** (frame, row, column),
           the layout :func:`cardiolatent.synth.dicom.write_nifti` writes. A 4-D NIfTI
           ``(X, Y, 1, T)`` (the usual x, y, z, t layout of converters such as dcm2niix) is
           turned into ``(T, Y, X)``; so is a 3-D array whose last axis is 50 and first is not.
``npy``    ``.npy`` array (T, H, W) (singleton axes are dropped).
``h5``     ``.h5`` / ``.hdf5`` in the original ImLatent layout: one dataset per participant and
           instance at ``{eid}/20208/{instance}_0/primary_LAX_4Ch_transverse_0`` with shape
           ``(1, T, 1, rows, cols)``; one input per dataset (``key`` is the dataset path).

File naming: zips need the UK Biobank name; NIfTI / npy files need
``{eid}_20208_{instance}_0...`` (e.g. ``1234567_20208_2_0_LAX_4Ch.nii.gz``) or
``{eid}_{instance}...`` (e.g. ``1234567_2.npy``).

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

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.bulk import parse_bulk_name

NO_4CH_SERIES = "no_4ch_series"
WRONG_FRAME_COUNT = "wrong_frame_count"
UNREADABLE_FILE = "unreadable_file"
NOT_A_ZIP = "not_a_zip"
EMPTY_MASK = "empty_mask"
DUPLICATE_INPUT = "duplicate_input"
BAD_NAME = "bad_name"
PREPARATION_FAILED = "preparation_failed"
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
}
QC_COLUMNS = ("eid", "instance", "path", "reason", "detail")

H5_SERIES = "primary_LAX_4Ch_transverse_0"
NAMING_HELP = ("expected file names: bulk zips '{eid}_20208_{instance}_0.zip'; NIfTI / npy "
               "'{eid}_20208_{instance}_0<anything>.nii.gz' or '{eid}_{instance}<anything>.npy' "
               "(e.g. 1234567_20208_2_0_LAX_4Ch.nii.gz, 1234567_2.npy); HDF5 files hold "
               "'{eid}/20208/{instance}_0/primary_LAX_4Ch_transverse_0' datasets")

_LIST_SUFFIXES = (".txt", ".list", ".tsv", ".lst", ".csv")
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


# --------------------------------------------------------------------------------------------
# naming
# --------------------------------------------------------------------------------------------

def _lower_name(path: str | os.PathLike) -> str:
    return Path(path).name.lower()


def input_kind(path: str | os.PathLike) -> str | None:
    """``zip`` / ``nifti`` / ``npy`` / ``h5`` from the file extension, ``None`` for anything else."""
    n = _lower_name(path)
    if n.endswith(".zip"):
        return "zip"
    if n.endswith(".nii") or n.endswith(".nii.gz"):
        return "nifti"
    if n.endswith(".npy"):
        return "npy"
    if n.endswith(".h5") or n.endswith(".hdf5"):
        return "h5"
    return None


def _stem(path: str | os.PathLike) -> str:
    name = Path(path).name
    low = name.lower()
    for suf in (".nii.gz", ".nii", ".npy", ".zip"):
        if low.endswith(suf):
            return name[: -len(suf)]
    return name


def parse_input_name(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(eid, instance)`` from a file name, ``None`` when it follows none of the naming patterns.

    Zips: ``{eid}_20208_{instance}_0.zip``. NIfTI / npy: ``{eid}_20208_{instance}_0...`` or
    ``{eid}_{instance}...`` (instance of 1-2 digits, followed by a non-digit or the end).
    """
    if input_kind(path) == "zip":
        return parse_bulk_name(path)
    stem = _stem(path)
    for rx in (_NAME_UKB, _NAME_SHORT):
        m = rx.match(stem)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


# --------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------

def _is_folder_candidate(p: Path) -> bool:
    n = p.name.lower()
    if n.startswith("."):
        return False        # hidden files, temporary files of atomic writers
    if n.endswith(".zip"):
        return fnmatch.fnmatch(n, "*_20208_*_*.zip")     # a bad eid / instance part -> bad_name
    return input_kind(p) in ("nifti", "npy", "h5")


def _looks_like_list(p: Path) -> bool:
    n = p.name.lower()
    if input_kind(p) is not None:
        return False
    if n.endswith(_LIST_SUFFIXES):
        return True
    # any small text file that is not an image
    try:
        head = p.read_bytes()[:4096]
    except OSError:
        return False
    return b"\x00" not in head and not head.startswith(b"PK\x03\x04")


def _read_list(p: Path) -> list[tuple[str, int | None, int | None]]:
    """Entries of a list file: (path, eid or None, instance or None).

    Plain lists: one path per line, ``#`` comments and blank lines ignored. A tab-separated table
    with a header that has a ``path`` column (e.g. ``bulk/manifest.tsv``) is also accepted; its
    ``eid`` / ``instance`` columns, when present, override the names.
    """
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise CardiolatentError(f"{p}: cannot be read as a list of inputs ({e})") from e
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return []
    out: list[tuple[str, int | None, int | None]] = []
    sep = "\t" if "\t" in lines[0] else ("," if p.name.lower().endswith(".csv") else None)
    header = [h.strip().lower() for h in lines[0].split(sep)] if sep else None
    if header and "path" in header:
        ip = header.index("path")
        ie = header.index("eid") if "eid" in header else None
        ii = header.index("instance") if "instance" in header else None
        for k, ln in enumerate(lines[1:], start=2):
            cells = [c.strip() for c in ln.split(sep)]
            if len(cells) <= ip:
                raise CardiolatentError(f"{p}: line {k} has no '{header[ip]}' value: {ln!r}")

            def _int(i):
                if i is None or i >= len(cells) or cells[i] == "":
                    return None
                try:
                    return int(float(cells[i]))
                except ValueError:
                    raise CardiolatentError(f"{p}: line {k}: {header[i]!r} is not a number: {cells[i]!r}") from None

            out.append((cells[ip], _int(ie), _int(ii)))
        return out
    return [(ln, None, None) for ln in lines]


def _resolve_listed(entry: str, list_file: Path) -> Path:
    p = Path(entry).expanduser()
    if p.is_absolute():
        return p
    for base in (list_file.parent, Path.cwd(), list_file.parent.parent):
        if (base / p).exists():
            return base / p
    return list_file.parent / p


def _h5_items(path: Path, explicit: bool) -> tuple[list[InputItem], list[dict]]:
    import h5py

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
                        items.append(InputItem(eid, inst, str(path), "h5", key))
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


def _file_items(path: Path, explicit: bool, eid: int | None = None, instance: int | None = None
                ) -> tuple[list[InputItem], list[dict]]:
    kind = input_kind(path)
    if kind == "h5":
        return _h5_items(path, explicit)
    parsed = parse_input_name(path)
    if eid is not None and instance is not None:
        parsed = (int(eid), int(instance))
    if parsed is None:
        msg = f"{path}: cannot tell the participant (eid) and instance from the file name; {NAMING_HELP}"
        if explicit:
            raise CardiolatentError(msg)
        return [], [{"eid": None, "instance": None, "path": str(path), "reason": BAD_NAME, "detail": NAMING_HELP}]
    return [InputItem(parsed[0], parsed[1], str(path), kind, "")], []


def discover_inputs(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> InputList:
    """Find every image input under ``paths``; return them sorted by (eid, instance, path).

    ``paths``: folders (searched recursively for ``*_20208_*_*.zip``, ``*.nii``, ``*.nii.gz``,
    ``*.npy``, ``*.h5`` / ``*.hdf5``; hidden files skipped), image files, or list files (a
    ``.txt`` / ``.list`` / ``.tsv`` / ``.csv`` or other text file that is not an image: one path
    per line, ``#`` comments; or a TSV with a ``path`` column and optional ``eid`` / ``instance``
    columns; relative paths are taken from the list's folder, else the working folder).

    Files named explicitly (argument or list entry) whose eid / instance cannot be parsed raise
    :class:`CardiolatentError` saying the naming expected; such files found while searching a
    folder are excluded with reason ``bad_name``. A listed file that does not exist becomes an
    item all the same when its name parses (it is reported ``not_a_zip`` / ``unreadable_file`` when
    read), else raises. When several inputs give the same (eid, instance), the first one (in
    argument order; folders in sorted path order) is kept and the others are excluded with
    reason ``duplicate_input``.

    Returns an :class:`InputList` (a list of :class:`InputItem`) whose ``excluded`` attribute holds
    QC rows (``eid, instance, path, reason, detail``).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[InputItem] = []
    excluded: list[dict] = []

    def add_file(p: Path, explicit: bool, eid=None, instance=None):
        it, ex = _file_items(p, explicit, eid, instance)
        found.extend(it)
        excluded.extend(ex)

    for arg in paths:
        p = Path(arg).expanduser()
        if p.is_dir():
            cands = sorted((q for q in p.rglob("*") if q.is_file() and _is_folder_candidate(q)), key=lambda q: str(q))
            for q in cands:
                add_file(q, explicit=False)
        elif p.is_file() and _looks_like_list(p):
            for entry, eid, inst in _read_list(p):
                q = _resolve_listed(entry, p)
                if q.is_dir():
                    raise CardiolatentError(f"{p}: lists a folder ({entry}); list image files, or pass the folder itself")
                if input_kind(q) is None:
                    raise CardiolatentError(f"{p}: {entry!r} is not an image input (.zip, .nii, .nii.gz, .npy, .h5)")
                if not q.exists() and input_kind(q) == "h5":
                    raise CardiolatentError(f"{p}: lists {entry!r}, which does not exist")
                add_file(q, explicit=True, eid=eid, instance=inst)
        elif p.is_file():
            if input_kind(p) is None:
                raise CardiolatentError(f"{p}: not an image input (.zip, .nii, .nii.gz, .npy, .h5) or a list of them")
            add_file(p, explicit=True)
        else:
            raise CardiolatentError(f"{p}: no such file or folder")

    seen: dict[tuple[int, int], InputItem] = {}
    kept: list[InputItem] = []
    for it in found:
        k = (it.eid, it.instance)
        if k in seen:
            first = seen[k]
            excluded.append(it.qc_row(DUPLICATE_INPUT, f"same eid and instance as {first.qc_path} (used)"))
            continue
        seen[k] = it
        kept.append(it)
    kept.sort(key=lambda it: (it.eid, it.instance, it.path, it.key))
    excluded.sort(key=_qc_sort_key)
    return InputList(kept, excluded)


def _qc_sort_key(row: dict):
    eid, inst = row.get("eid"), row.get("instance")
    return (eid is None, eid if eid is not None else 0, inst if inst is not None else 0,
            str(row.get("path", "")), str(row.get("reason", "")))


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def _as_thw(arr: np.ndarray, path, *, xyzt: bool = False, t_first: bool | None = None) -> np.ndarray:
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


def _read_nifti(path: str) -> tuple[np.ndarray, dict]:
    import nibabel as nib

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
        frames = _as_thw(data, path)
        ps = (zooms[1], zooms[2]) if len(zooms) >= 3 else (np.nan, np.nan)
        layout = "T,H,W"
    elif data.ndim == 4:
        frames = _as_thw(data, path, xyzt=True)
        ps = (zooms[1], zooms[0])
        layout = "X,Y,1,T"
    else:
        sq = data.reshape([s for s in data.shape if s != 1]) if data.ndim > 3 else data
        t_first = not (sq.ndim == 3 and sq.shape[2] == 50 and sq.shape[0] != 50)
        frames = _as_thw(data, path, t_first=t_first)
        if t_first:
            ps = (zooms[1], zooms[2]) if len(zooms) >= 3 else (np.nan, np.nan)
            layout = "T,H,W"
        else:
            ps = (zooms[1], zooms[0])
            layout = "X,Y,T"
    return frames, {"pixel_spacing_mm": ps, "layout": layout}


def _read_npy(path: str) -> tuple[np.ndarray, dict]:
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
    return _as_thw(data, path), {"pixel_spacing_mm": (np.nan, np.nan), "layout": "T,H,W"}


def _read_h5(path: str, key: str) -> tuple[np.ndarray, dict]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise InputError(f"{path}: no dataset {key!r}", NO_4CH_SERIES, f"no dataset {key}")
            d = f[key]
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
    frames = _as_thw(data, f"{path}::{key}")
    ps = tuple(float(x) for x in np.asarray(attrs.get("pixel_spacing_mm", (np.nan, np.nan))).ravel()[:2])
    info: dict[str, Any] = {"pixel_spacing_mm": ps, "layout": "T,H,W"}
    if "trigger_times_ms" in attrs:
        info["trigger_times_ms"] = np.asarray(attrs["trigger_times_ms"], float)
    return frames, info


def read_frames(item: InputItem) -> tuple[np.ndarray, dict[str, Any]]:
    """Frames (T, H, W) (as stored: uint16 for zips, the file's dtype otherwise) and an info dict.

    ``info`` always has ``eid``, ``instance``, ``path``, ``kind``, ``n_frames`` and
    ``pixel_spacing_mm`` (NaN when unknown); zips add everything
    :func:`~cardiolatent.images.bulk.read_bulk_zip` returns.

    Raises :class:`InputError` (a :class:`CardiolatentError`) whose ``reason`` is a QC code
    (``not_a_zip``, ``no_4ch_series``, ``unreadable_file``). The frame count is not checked here
    (see :func:`check_frame_count`).
    """
    if item.kind == "zip":
        from cardiolatent.errors import BulkZipError
        from cardiolatent.images.bulk import read_bulk_zip

        try:
            frames, info = read_bulk_zip(item.path)
        except BulkZipError as e:
            reason = getattr(e, "reason", UNREADABLE_FILE)
            raise InputError(str(e), reason, str(e).replace(f"{item.path}: ", "", 1)) from e
        info = dict(info)
        info["dicom_patient_id"] = info.pop("eid")
    elif item.kind == "nifti":
        frames, info = _read_nifti(item.path)
    elif item.kind == "npy":
        frames, info = _read_npy(item.path)
    elif item.kind == "h5":
        frames, info = _read_h5(item.path, item.key)
    else:
        raise InputError(f"{item.path}: unknown input kind {item.kind!r}", UNREADABLE_FILE, f"kind {item.kind!r}")
    if frames.size == 0 or min(frames.shape) == 0:
        raise InputError(f"{item.qc_path}: empty image {frames.shape}", UNREADABLE_FILE, f"empty image {frames.shape}")
    info.update(eid=item.eid, instance=item.instance, path=item.path, kind=item.kind, key=item.key,
                n_frames=int(frames.shape[0]))
    return frames, info


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
    from cardiolatent.errors import BulkZipError

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
