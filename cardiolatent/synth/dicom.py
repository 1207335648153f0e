"""UK Biobank bulk cine zips (field 20208): writer, plus NIfTI / HDF5 exports.

The reader lives in :mod:`cardiolatent.images.readers.bulk_zip`; ``read_bulk_zip`` is re-exported here.

A bulk zip ``{eid}_20208_{instance}_0.zip`` holds one DICOM file per frame of each long-axis
cine series (``CINE_segmented_LAX_4Ch``, ``..._2Ch``, ``..._3Ch``; 50 frames each) and a
manifest listing every file with its series. As in the real data, the member order and the file
names (SOP instance UIDs) are not in temporal order: readers must sort frames by
``TriggerTime`` / ``InstanceNumber``.

The reader (:func:`cardiolatent.images.readers.bulk_zip.read_bulk_zip`) works on the zip in memory (nothing
is extracted to disk) and decodes only the files of the requested series, chosen from the
manifest (``manifest.csv`` or the misspelt ``manifest.cvs``), or from DICOM headers when there
is no manifest.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import h5py
import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from cardiolatent.images.readers.bulk_zip import MANIFEST_NAMES, read_bulk_zip  # noqa: F401 (re-export)
from cardiolatent.io_utils import atomic_path

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SERIES_DESCRIPTION = {"4Ch": "CINE_segmented_LAX_4Ch", "2Ch": "CINE_segmented_LAX_2Ch",
                      "3Ch": "CINE_segmented_LAX_3Ch"}
MANIFEST_COLUMNS = ("filename", "patientid", "studyid", "aet", "host", "date", "time", "seriesdescription")
#: Siemens-style UID root (scanner-generated UIDs in UK Biobank look like this); synthetic values
_UID_ROOT = "1.3.12.2.1107.5.2.18."
_SERIES_NUMBER = {"4Ch": 11, "2Ch": 9, "3Ch": 10}
#: order of the series in the protocol (acquisition time = study start + 60 s x (slot + 1))
_SERIES_SLOT = {v: k for k, v in enumerate(sorted(_SERIES_NUMBER, key=_SERIES_NUMBER.get))}
#: plausible (row, column) direction cosines of each view's plane
_ORIENTATION = {
    "4Ch": ((0.79, -0.52, -0.32), (0.30, 0.78, -0.55)),
    "2Ch": ((0.45, -0.80, -0.40), (0.10, 0.50, -0.86)),
    "3Ch": ((0.85, -0.15, -0.50), (0.45, 0.60, 0.66)),
}


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def _digits(*parts: Any, n: int = 16) -> str:
    """Deterministic decimal digits (no leading zero) from a hash of ``parts``."""
    h = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    s = str(int(h, 16))[:n]
    return s if s[0] != "0" else "1" + s[1:]


def _uid(kind: str, *parts: Any, stamp: str, station: str) -> str:
    uid = f"{_UID_ROOT}{station}.{stamp}{_digits(kind, *parts)}"
    return uid[:64]


def _orientation(view: str) -> tuple[list[float], list[float]]:
    """Orthonormal (row, column) direction cosines for a view."""
    r, c = (np.asarray(v, float) for v in _ORIENTATION.get(view, _ORIENTATION["4Ch"]))
    r /= np.linalg.norm(r)
    c = c - r * (r @ c)
    c /= np.linalg.norm(c)
    return [round(float(x), 6) for x in r], [round(float(x), 6) for x in c]


def _fmt_ds(x: float, nd: int = 4) -> str:
    s = f"{x:.{nd}f}".rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"


def _series_dataset(eid: int, view: str, cine, *, study_uid: str, series_uid: str, for_uid: str,
                    study_date: str, study_time: str, series_time: str, birth_year: int | None,
                    sex: int | None, station: str = "AWP00000") -> Dataset:
    """A template Dataset for one series (per-frame elements are filled in by the caller)."""
    rows, cols = cine.shape
    ps_r, ps_c = cine.pixel_spacing_mm
    ds = Dataset()
    # the steps set the elements in this order (the order the template always had)
    _set_study_elements(ds, view, series_uid, study_date, study_time, series_time, station)
    _set_patient_elements(ds, eid, study_date, birth_year, sex)
    _set_sequence_elements(ds)
    _set_cardiac_timing(ds, cine)
    _set_series_identity(ds, view, study_uid, series_uid)
    _set_geometry(ds, view, for_uid, rows, cols, ps_r, ps_c)
    _set_pixel_format(ds, rows, cols, ps_r, ps_c)
    ds.file_meta = _file_meta(series_uid)
    return ds


def _set_study_elements(ds: Dataset, view: str, series_uid: str, study_date: str, study_time: str,
                        series_time: str, station: str) -> None:
    """Set the image type, SOP class, dates, times, equipment and study / series descriptions."""
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "RETRO", "DIS2D"]
    ds.SOPClassUID = MR_IMAGE_STORAGE
    ds.SOPInstanceUID = series_uid  # replaced per frame
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study_date
    ds.StudyTime = study_time
    ds.SeriesTime = series_time
    ds.AcquisitionTime = ds.ContentTime = series_time
    ds.Modality = "MR"
    ds.Manufacturer = "SIEMENS"
    ds.InstitutionName = "UK Biobank (synthetic)"
    ds.StationName = station
    ds.StudyDescription = "CardiacMRI"
    ds.SeriesDescription = SERIES_DESCRIPTION[view]
    ds.ManufacturerModelName = "Aera"


def _set_patient_elements(ds: Dataset, eid: int, study_date: str, birth_year: int | None,
                          sex: int | None) -> None:
    """Set the patient name, id and (when known) birth date, age and sex."""
    ds.PatientName = "ANONYMOUS"
    ds.PatientID = str(int(eid))
    if birth_year is not None:
        ds.PatientBirthDate = f"{int(birth_year):04d}0101"
        ds.PatientAge = f"{max(0, int(study_date[:4]) - int(birth_year)):03d}Y"
    if sex is not None:
        ds.PatientSex = {0: "F", 1: "M"}.get(int(sex), "O")


def _set_sequence_elements(ds: Dataset) -> None:
    """Set the fixed body part and MR sequence parameters (bSSFP cine)."""
    ds.BodyPartExamined = "HEART"
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = ["SK", "SS"]
    ds.ScanOptions = "CT"
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "*tfi2d1_12"
    ds.SliceThickness = "8"
    ds.RepetitionTime = "2.7"
    ds.EchoTime = "1.1"
    ds.MagneticFieldStrength = "1.5"
    ds.FlipAngle = "80"


def _set_cardiac_timing(ds: Dataset, cine) -> None:
    """Set the RR interval, heart rate and number of cardiac phases of ``cine``."""
    tt = np.asarray(cine.trigger_times_ms, float)
    hr = getattr(cine, "heart_rate_bpm", None)
    if hr:
        rr = 60000.0 / float(hr)
    else:
        rr = float(np.median(np.diff(tt))) * len(tt) if len(tt) > 1 else 1000.0
    ds.NominalInterval = str(int(round(rr)))
    ds.HeartRate = str(int(round(60000.0 / rr)))
    ds.CardiacNumberOfImages = int(cine.n_frames)


def _set_series_identity(ds: Dataset, view: str, study_uid: str, series_uid: str) -> None:
    """Set the protocol, patient position, study / series UIDs and numbers."""
    ds.ProtocolName = SERIES_DESCRIPTION[view]
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = _SERIES_NUMBER.get(view, 1)
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = 1


def _set_geometry(ds: Dataset, view: str, for_uid: str, rows: int, cols: int, ps_r: float, ps_c: float) -> None:
    """Set the image plane: position, orientation, frame of reference and slice location."""
    row_dir, col_dir = _orientation(view)
    centre = np.array([12.0, -25.0, 35.0])
    corner = centre - np.asarray(row_dir) * (cols / 2) * ps_c - np.asarray(col_dir) * (rows / 2) * ps_r
    ds.ImagePositionPatient = [_fmt_ds(x, 4) for x in corner]
    ds.ImageOrientationPatient = [_fmt_ds(x, 6) for x in row_dir + col_dir]
    ds.FrameOfReferenceUID = for_uid
    ds.SliceLocation = _fmt_ds(float(np.dot(corner, np.cross(row_dir, col_dir))), 4)


def _set_pixel_format(ds: Dataset, rows: int, cols: int, ps_r: float, ps_c: float) -> None:
    """Set the pixel matrix, spacing, 12-bit storage, display window and an empty PixelData."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = [_fmt_ds(ps_r, 6), _fmt_ds(ps_c, 6)]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = "400"
    ds.WindowWidth = "1000"
    ds.PixelData = b""


def _file_meta(series_uid: str) -> FileMetaDataset:
    """The file meta information of the series' frames (SOP instance UID replaced per frame)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = series_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    meta.ImplementationVersionName = "cardiolatent"
    return meta


def _frame_bytes(ds: Dataset, sop_uid: str, number: int, trigger_ms: float, acq_time: str,
                 pixels: np.ndarray) -> bytes:
    """Serialise ``ds`` with pydicom, the per-frame elements set (reference path, ~ms per file)."""
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.InstanceNumber = number
    ds.TriggerTime = _fmt_ds(trigger_ms, 2)
    ds.AcquisitionTime = ds.ContentTime = acq_time
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


class _SeriesEncoder:
    """Fast per-frame DICOM bytes: serialise the series template once, patch fixed-width fields.

    The per-frame values (SOP instance UID, InstanceNumber, TriggerTime, Acquisition/ContentTime)
    have fixed widths, so each frame is the template with those byte ranges replaced, followed by
    the PixelData element. Falls back to pydicom per frame if a field cannot be located uniquely.
    """

    #: (tag group, tag element, VR) of the patched elements
    _FIELDS = {"meta_sop": (0x0002, 0x0003, b"UI"), "sop": (0x0008, 0x0018, b"UI"),
               "acq": (0x0008, 0x0032, b"TM"), "content": (0x0008, 0x0033, b"TM"),
               "trigger": (0x0018, 0x1060, b"DS"), "number": (0x0020, 0x0013, b"IS")}

    def __init__(self, ds: Dataset, sop_len: int, n_frames: int):
        self.ds = ds
        self.num_w = 2 if n_frames < 100 else 6
        ds.SOPInstanceUID = "1." + "9" * (sop_len - 2)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = "9" * self.num_w
        ds.TriggerTime = "99999.99"
        ds.AcquisitionTime = ds.ContentTime = "000000.000000"
        if "PixelData" in ds:
            del ds.PixelData
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        self.template = buf.getvalue()
        self.offsets: dict[str, tuple[int, int]] | None = {}
        for name, (grp, elem, vr) in self._FIELDS.items():
            head = grp.to_bytes(2, "little") + elem.to_bytes(2, "little") + vr
            if self.template.count(head) != 1:
                self.offsets = None
                break
            i = self.template.index(head)
            self.offsets[name] = (i + 8, int.from_bytes(self.template[i + 6:i + 8], "little"))
        rows, cols = int(ds.Rows), int(ds.Columns)
        self.pixel_head = b"\xe0\x7f\x10\x00OW\x00\x00" + (rows * cols * 2).to_bytes(4, "little")

    @staticmethod
    def _pad(value: str, length: int, fill: bytes = b" ") -> bytes:
        b = value.encode("ascii")
        if len(b) > length:
            raise ValueError(f"value {value!r} longer than its fixed field ({length})")
        return b + fill * (length - len(b))

    def encode(self, sop_uid: str, number: int, trigger_ms: float, acq_time: str, pixels: np.ndarray) -> bytes:
        if self.offsets is None:
            return _frame_bytes(self.ds, sop_uid, number, trigger_ms, acq_time, pixels)
        out = bytearray(self.template)
        vals = {"meta_sop": (sop_uid, b"\x00"), "sop": (sop_uid, b"\x00"), "acq": (acq_time, b" "),
                "content": (acq_time, b" "), "trigger": (_fmt_ds(trigger_ms, 2), b" "),
                "number": (str(int(number)), b" ")}
        for name, (value, fill) in vals.items():
            off, n = self.offsets[name]
            out[off:off + n] = self._pad(value, n, fill)
        return b"".join((out, self.pixel_head, np.ascontiguousarray(pixels, dtype="<u2").tobytes()))


def _as_date(d) -> _dt.date:
    if isinstance(d, _dt.datetime):
        return d.date()
    if isinstance(d, _dt.date):
        return d
    if hasattr(d, "date"):      # pandas Timestamp
        return d.date()
    s = str(d).replace("-", "")[:8]
    return _dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))


def _time_str(seconds: float) -> str:
    seconds = seconds % 86400
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}{int(m):02d}{s:09.6f}"


def write_bulk_zip(path: str | os.PathLike, eid: int, instance: int, cines: Mapping[str, Any], *,
                   study_date, birth_year: int | None = None, sex: int | None = None,
                   compresslevel: int = 1) -> Path:
    """Write a UK Biobank-style bulk zip for field 20208 atomically; return its path.

    Parameters
    ----------
    path : target file, conventionally ``{eid}_20208_{instance}_0.zip``.
    eid, instance : participant id (written as DICOM PatientID text) and imaging instance (2 or 3).
    cines : ``{"4Ch": Cine, "2Ch": Cine, "3Ch": Cine}`` (any subset), see
        :func:`cardiolatent.synth.phantom.render_cine`; one DICOM series each. A series' DICOM
        files do not depend on which other series are written (only the member order and the
        manifest do).
    study_date : date of the scan (``datetime.date``, ``Timestamp`` or ``"YYYY-MM-DD"``), used as
        StudyDate/SeriesDate/AcquisitionDate.
    birth_year, sex : optional PatientBirthDate (``YYYY0101``), PatientAge and PatientSex (0 = F, 1 = M,
        UK Biobank coding).
    compresslevel : deflate level of the zip members (1 = fast).

    Contents: one MR Image Storage DICOM file (Explicit VR Little Endian, with file meta) per frame,
    named ``{SOPInstanceUID}.dcm``; member order and names deterministically shuffled (not
    temporal), plus ``manifest.csv`` with the columns
    ``filename,patientid,studyid,aet,host,date,time,seriesdescription`` (one row per DICOM).
    Note: the real UK Biobank manifest is named ``manifest.csv`` in some zips and ``manifest.cvs``
    in others; readers must accept both (:func:`read_bulk_zip` does).

    Everything (UIDs, times, order) derives from ``(eid, instance, study_date)``, so the same
    inputs give a byte-identical zip.
    """
    eid, instance = int(eid), int(instance)
    date = _as_date(study_date)
    date_s = date.strftime("%Y%m%d")
    seed_parts = (eid, instance, date_s)
    station = _digits("station", *seed_parts, n=5)
    start_s = 8 * 3600 + int(_digits("time", *seed_parts, n=6)) % (9 * 3600)
    stamp = date_s + _time_str(start_s)[:6]
    study_uid = _uid("study", *seed_parts, stamp=stamp, station=station)
    for_uid = _uid("for", *seed_parts, stamp=stamp, station=station)
    aet = f"AWP{station}"

    members: list[tuple[str, bytes, str, str]] = []   # (name, data, description, time)
    for view, cine in sorted(cines.items(), key=lambda kv: _SERIES_NUMBER.get(kv[0], 99)):
        # the series' slot in the full protocol (2Ch, 3Ch, 4Ch), whichever series are written: a
        # series' files are the same in a zip of one series and in a zip of all three
        k = _SERIES_SLOT[view]
        series_start = start_s + 60 * (k + 1)
        series_uid = _uid("series", view, *seed_parts, stamp=stamp, station=station)
        ds = _series_dataset(eid, view, cine, study_uid=study_uid, series_uid=series_uid, for_uid=for_uid,
                             study_date=date_s, study_time=_time_str(start_s), series_time=_time_str(series_start),
                             birth_year=birth_year, sex=sex, station=aet)
        tt = np.asarray(cine.trigger_times_ms, float)
        sops = [_uid("sop", view, t, *seed_parts, stamp=stamp, station=station) for t in range(cine.n_frames)]
        enc = _SeriesEncoder(ds, max(map(len, sops)), cine.n_frames)
        for t in range(cine.n_frames):
            sop = sops[t]
            acq = _time_str(series_start + 0.3 + tt[t] / 1000.0)
            data = enc.encode(sop, t + 1, float(tt[t]), acq, cine.pixels[t])
            members.append((f"{sop}.dcm", data, SERIES_DESCRIPTION[view], acq))

    order = np.random.default_rng([eid, instance, 20208]).permutation(len(members))
    members = [members[i] for i in order]
    lines = [",".join(MANIFEST_COLUMNS)]
    for name, _, desc, acq in members:
        lines.append(",".join([name, str(eid), study_uid, aet, "localhost", date_s, acq, desc]))
    manifest = ("\n".join(lines) + "\n").encode()

    stamp_zip = (date.year, date.month, date.day, start_s // 3600, (start_s % 3600) // 60, 0)
    with atomic_path(path, suffix=".zip") as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            for name, data in [("manifest.csv", manifest)] + [(m[0], m[1]) for m in members]:
                zi = zipfile.ZipInfo(name, date_time=stamp_zip)
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = 0o644 << 16
                zf.writestr(zi, data, compresslevel=compresslevel)
    return Path(path)


# --------------------------------------------------------------------------------------------
# reading: in cardiolatent.images.readers.bulk_zip (re-exported here for existing imports)
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# NIfTI / HDF5
# --------------------------------------------------------------------------------------------

def _frames_and_meta(cine_or_frames, info: Mapping[str, Any] | None = None):
    """(frames (T, H, W) uint16, pixel spacing (row, col) mm, trigger times (T,) ms, view)."""
    if hasattr(cine_or_frames, "pixels"):
        c = cine_or_frames
        return np.asarray(c.pixels), tuple(c.pixel_spacing_mm), np.asarray(c.trigger_times_ms, float), c.view
    frames = np.asarray(cine_or_frames)
    info = info or {}
    ps = tuple(info.get("pixel_spacing_mm", (1.0, 1.0)))
    tt = np.asarray(info.get("trigger_times_ms", np.arange(frames.shape[0], dtype=float)), float)
    desc = str(info.get("series_description", "LAX_4Ch"))
    return frames, ps, tt, desc.rsplit("_", 1)[-1]


def write_nifti(path: str | os.PathLike, cine, info: Mapping[str, Any] | None = None) -> Path:
    """Write a cine as NIfTI-1 (``.nii`` or ``.nii.gz``) atomically; return the path.

    Axis order: the data array is **(T, H, W)** = (frame, image row, image column), uint16, exactly
    ``Cine.pixels`` (no transposition). The affine is ``diag(1, row spacing, column spacing, 1)``
    (mm), so the header zooms are ``(1, row spacing, column spacing)``; the frame interval, view
    and axis order are in the header description (``descrip``).
    ``cine`` is a :class:`~cardiolatent.synth.phantom.Cine` or a (T, H, W) array with ``info`` from
    :func:`read_bulk_zip`.
    """
    frames, ps, tt, view = _frames_and_meta(cine, info)
    dt = float(np.median(np.diff(tt))) if len(tt) > 1 else 0.0
    img = nib.Nifti1Image(np.asarray(frames, np.uint16), np.diag([1.0, ps[0], ps[1], 1.0]))
    img.header.set_xyzt_units("mm", "msec")
    img.header["descrip"] = f"cine axes T,H,W; dt={dt:.2f}ms; view={view}".encode()[:79]
    name = Path(path).name.lower()
    with atomic_path(path, suffix=".nii.gz" if name.endswith(".gz") else ".nii") as tmp:
        nib.save(img, str(tmp))
    return Path(path)


def read_nifti(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, float]]:
    """Read a cine written by :func:`write_nifti`: (frames (T, H, W) uint16, pixel spacing (row, col) mm)."""
    img = nib.load(str(path))
    zooms = img.header.get_zooms()
    return np.asarray(img.dataobj, dtype=np.uint16), (float(zooms[1]), float(zooms[2]))


def h5_key(eid: int, instance: int, series: str = "LAX_4Ch") -> str:
    """ImLatent HDF5 key of a participant's cine: ``{eid}/20208/{instance}_0/primary_{series}_transverse_0``."""
    return f"{int(eid)}/20208/{int(instance)}_0/primary_{series}_transverse_0"


def write_h5(path: str | os.PathLike, eid: int, instance: int, cine, info: Mapping[str, Any] | None = None) -> str:
    """Append one 4-chamber cine to an HDF5 file in the original ImLatent layout; return the key.

    The dataset ``{eid}/20208/{instance}_0/primary_LAX_4Ch_transverse_0`` has shape
    ``(1, T, 1, rows, cols)`` = (C, T, S, X, Y), uint16, with attributes ``min_val``, ``max_val``,
    ``pixel_spacing_mm`` and ``trigger_times_ms``. The file is created if absent; an existing key is
    replaced. ``cine`` is a Cine or a (T, rows, cols) array with ``info`` from :func:`read_bulk_zip`.
    """
    frames, ps, tt, _ = _frames_and_meta(cine, info)
    key = h5_key(eid, instance)
    with h5py.File(path, "a") as f:
        if key in f:
            del f[key]
        d = f.create_dataset(key, data=np.asarray(frames, np.uint16)[None, :, None], compression="gzip",
                             compression_opts=1, shuffle=True)
        d.attrs["min_val"] = int(frames.min())
        d.attrs["max_val"] = int(frames.max())
        d.attrs["pixel_spacing_mm"] = np.asarray(ps, float)
        d.attrs["trigger_times_ms"] = tt
    return key
