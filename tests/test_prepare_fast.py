"""The fast preparation path (issue 19, part 4) against the reference path, bit for bit.

Fast path: bulk-zip members inflated straight from the archive bytes
(``bulk_zip._inflate_plain``), frames parsed by ``readers.dicom_fast.parse_frame`` instead of
pydicom, and the heart mask's square closing / opening / median computed as integer window
counts (``prepare._box_count``). Reference: ``read_bulk_zip(..., fast=False)`` (pydicom and
``zipfile`` for every member, as before) and scipy.ndimage's calls. Everything is compared with
``array_equal`` / ``==``: no tolerance.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian, RLELossless
from scipy import ndimage

from cardiolatent.images import prepare as prep
from cardiolatent.images.pipeline import prepare_input
from cardiolatent.images.readers import InputItem
from cardiolatent.images.readers import bulk_zip as bulk
from cardiolatent.images.readers.dicom_fast import FastHeader, parse_frame
from cardiolatent.synth.dicom import write_bulk_zip
from cardiolatent.synth.phantom import render_cine

PARAMS = dict(lvedv_ml=150.0, lvef_pct=60.0, lvwt_mm=9.0, lav_ml=70.0, rvedv_ml=160.0, heart_rate_bpm=65.0)
VIEWS = ("4Ch", "2Ch", "3Ch")
SERIES = ("LAX_4Ch", "LAX_2Ch", "LAX_3Ch")


def _cine(seed, view="4Ch", shape=(150, 140)):
    return render_cine(PARAMS, view=view, rng=np.random.default_rng(seed), shape=shape)


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> list[Path]:
    """Bulk zips with all three series: two participants, the second with a repeat visit (instance 3),
    frame sizes differing between participants."""
    root = tmp_path_factory.mktemp("fastzips")
    out = []
    for eid, inst, shape in ((3000001, 2, (150, 140)), (3000002, 2, (162, 148)), (3000002, 3, (162, 148))):
        cines = {v: _cine(eid + 10 * inst + k, v, shape) for k, v in enumerate(VIEWS)}
        p = root / f"{eid}_20208_{inst}_0.zip"
        write_bulk_zip(p, eid, inst, cines, study_date="2016-01-02" if inst == 2 else "2019-03-04")
        out.append(p)
    return out


def _outcome(path, series="LAX_4Ch", fast=True):
    """('ok', frames, info) or ('error', exception type name, message) of read_bulk_zip."""
    try:
        frames, info = bulk.read_bulk_zip(path, series, fast=fast)
    except Exception as e:  # noqa: BLE001 - the two paths must fail alike too
        return ("error", type(e).__name__, str(e))
    return ("ok", frames, info)


def _assert_same(a, b):
    assert a[0] == b[0], (a[:1], b[:1], a[-1] if a[0] == "error" else b[-1])
    if a[0] == "error":
        assert a[1:] == b[1:]
        return
    fa, ia = a[1], a[2]
    fb, ib = b[1], b[2]
    assert fa.dtype == fb.dtype and fa.shape == fb.shape and fa.tobytes() == fb.tobytes()
    assert ia.keys() == ib.keys()
    for k in ia:
        va, vb = ia[k], ib[k]
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and np.array_equal(va, vb, equal_nan=True), k
        else:
            assert type(va) is type(vb) and va == vb, (k, va, vb)


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rewrite(src: Path, dst: Path, edit, *, manifest=True, series="LAX_4Ch") -> Path:
    """Copy a bulk zip, passing each DICOM of ``series`` (in member order) through ``edit(ds, k)``,
    which edits the dataset in place or returns raw bytes to store instead."""
    man = _members(src)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        k = 0
        for name, data in man.items():
            if name.startswith("manifest"):
                if manifest:
                    zf.writestr(name, data)
                continue
            ds = pydicom.dcmread(io.BytesIO(data))
            if series.lower() in str(ds.SeriesDescription).lower():
                res = edit(ds, k)
                k += 1
                if isinstance(res, bytes):
                    zf.writestr(name, res)
                    continue
                buf = io.BytesIO()
                ds.save_as(buf, enforce_file_format=True)
                data = buf.getvalue()
            zf.writestr(name, data)
    return dst


# ---------------------------------------------------------------------------------------------
# the common case: the fast path is taken, and gives what pydicom gives
# ---------------------------------------------------------------------------------------------

def test_fast_path_is_taken_for_synthetic_frames(zips):
    """Every member of a synthetic zip goes through the fast inflate and every DICOM through the
    fast parser (otherwise the comparisons below would compare the reference with itself)."""
    zf = bulk._open_zip(zips[0])
    n_dcm = 0
    for info in zf.infolist():
        raw = bulk._inflate_plain(zf.raw, info)
        assert raw is not None and raw == zf.read(info.filename)
        if info.filename.endswith(".dcm"):
            hdr = parse_frame(raw)
            assert isinstance(hdr, FastHeader)
            ds = pydicom.dcmread(io.BytesIO(raw))
            for kw in ("SeriesDescription", "SeriesInstanceUID", "PatientID", "StudyDate"):
                assert hdr.get(kw) == str(ds.get(kw)), kw
            for kw in ("SeriesNumber", "InstanceNumber", "Rows", "Columns", "BitsAllocated"):
                assert hdr.get(kw) == int(ds.get(kw)), kw
            assert hdr.get("TriggerTime") == float(ds.TriggerTime)
            assert hdr.get("PixelSpacing") == [float(v) for v in ds.PixelSpacing]
            assert list(hdr.get("ImageType")) == list(ds.ImageType)
            assert bytes(hdr.PixelData) == ds.PixelData
            assert hdr.get("RescaleSlope", "absent") == "absent"  # not read: pixels stay as stored
            n_dcm += 1
    assert n_dcm == 150


@pytest.mark.parametrize("series", SERIES)
def test_read_bulk_zip_identical_every_series_and_visit(zips, series):
    for p in zips:
        fast, ref = _outcome(p, series, True), _outcome(p, series, False)
        assert fast[0] == "ok" and fast[1].shape[0] == 50
        _assert_same(fast, ref)
    # the repeat visit is a different cine of the same participant
    assert not np.array_equal(_outcome(zips[1], series)[1], _outcome(zips[2], series)[1])


def test_prepared_volume_bit_identical(zips, monkeypatch):
    """The unit of work of the encoder (prepare_input: read, prepare, resample), both paths."""
    shapes = [(50, 128, 128), (8, 32, 32)]
    for p in zips:
        eid, inst = bulk.parse_bulk_name(p)
        item = InputItem(eid, inst, str(p), "zip")
        monkeypatch.setattr(bulk, "FAST_PATH", False)
        ref = prepare_input(item, shapes)
        monkeypatch.setattr(bulk, "FAST_PATH", True)
        new = prepare_input(item, shapes)
        for s in shapes:
            assert new[s].dtype == np.float32 and new[s].shape == s
            assert new[s].tobytes() == ref[s].tobytes()


def test_without_manifest_reads_headers_once_and_identically(zips, tmp_path):
    p = _rewrite(zips[1], tmp_path / "3000002_20208_2_0.zip", lambda ds, k: None, manifest=False)
    for series in SERIES:
        fast, ref = _outcome(p, series, True), _outcome(p, series, False)
        _assert_same(fast, ref)
        assert fast[2]["manifest"] is None
        assert fast[1].tobytes() == _outcome(zips[1], series)[1].tobytes()


# ---------------------------------------------------------------------------------------------
# anything unusual: the fast parser declines and pydicom reads it, same result (or same error)
# ---------------------------------------------------------------------------------------------

def _implicit(ds, k):
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian


def _rle(ds, k):
    ds.compress(RLELossless)


def _eight_bit(ds, k):
    px = (ds.pixel_array >> 4).astype(np.uint8)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = px.tobytes()


def _non_ascii(ds, k):
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SeriesDescription = "CINE_segmented_LAX_4Ch_é"


def _truncated(ds, k):
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()[:-1000] if k == 3 else buf.getvalue()


def _no_dicm(ds, k):
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()[132:] if k == 0 else buf.getvalue()


DECLINED = {"implicit_vr": _implicit, "rle_compressed": _rle, "eight_bit": _eight_bit,
            "non_ascii_text": _non_ascii, "truncated": _truncated, "no_dicm_prefix": _no_dicm}


@pytest.mark.parametrize("case", sorted(DECLINED))
def test_unusual_frames_go_to_pydicom_with_the_same_result(zips, tmp_path, case):
    p = _rewrite(zips[0], tmp_path / "3000001_20208_2_0.zip", DECLINED[case])
    dcm = [d for n, d in _members(p).items() if n.endswith(".dcm")]
    declined = [d for d in dcm if parse_frame(d) is None]
    assert declined, "the fast parser should have declined the edited frames"
    fast, ref = _outcome(p, fast=True), _outcome(p, fast=False)
    _assert_same(fast, ref)
    if case in ("truncated", "no_dicm_prefix"):
        assert fast[0] == "error" and fast[1] == "UnreadableZipError"
    else:
        assert fast[0] == "ok"
    if case == "eight_bit":
        assert fast[1].dtype == np.uint16 and int(fast[1].max()) < 256


def _rescale(ds, k):
    ds.RescaleSlope, ds.RescaleIntercept = "2", "-100"


def _int16(ds, k):
    ds.PixelRepresentation = 1


def _sequence(ds, k):
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    item.ReferencedSOPInstanceUID = f"1.2.3.{k}"
    nested = Dataset()
    nested.CodeValue = "X"
    item.PurposeOfReferenceCodeSequence = Sequence([nested])
    ds.ReferencedImageSequence = Sequence([item, Dataset()])
    ds["ReferencedImageSequence"].is_undefined_length = True
    item["PurposeOfReferenceCodeSequence"].is_undefined_length = True


def _odd_numbers(ds, k):
    ds.TriggerTime = [" 12.5e1 ", "+3.", ".5", "40"][k % 4]
    ds.InstanceNumber = ["+7", " 8", "009", "10 "][k % 4]


def _no_trigger_time_some(ds, k):
    if k % 7 == 0:
        del ds.TriggerTime


def _no_order(ds, k):
    if k == 5:
        del ds.TriggerTime
        del ds.InstanceNumber


def _phase_images(ds, k):
    if k % 2:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "P", "RETRO"]


def _two_series(ds, k):
    if k % 2:
        ds.SeriesInstanceUID = ds.SeriesInstanceUID + ".9"
        ds.SeriesNumber = 3


def _empty_value(ds, k):
    if k == 2:
        ds.TriggerTime = ""


def _pixel_spacing_one_value(ds, k):
    ds.PixelSpacing = "1.5"


READ_FAST_OR_NOT = {"rescale_tags": _rescale, "int16": _int16, "undefined_length_sequence": _sequence,
                    "odd_number_strings": _odd_numbers, "some_without_trigger_time": _no_trigger_time_some,
                    "no_frame_order": _no_order, "phase_images": _phase_images, "two_series": _two_series,
                    "empty_value": _empty_value, "pixel_spacing_one_value": _pixel_spacing_one_value}


@pytest.mark.parametrize("case", sorted(READ_FAST_OR_NOT))
def test_header_variants_same_result(zips, tmp_path, case):
    """Header variants the fast parser reads itself (or declines): the same frames, info or error."""
    p = _rewrite(zips[0], tmp_path / "3000001_20208_2_0.zip", READ_FAST_OR_NOT[case])
    fast, ref = _outcome(p, fast=True), _outcome(p, fast=False)
    _assert_same(fast, ref)
    dcm = [d for n, d in _members(p).items() if n.endswith(".dcm")]
    n_fast = sum(parse_frame(d) is not None for d in dcm)
    if case in ("rescale_tags", "int16", "undefined_length_sequence", "odd_number_strings",
                "some_without_trigger_time", "no_frame_order", "phase_images", "two_series"):
        assert n_fast == len(dcm)          # read by the fast parser, and still identical
    if case == "int16":
        assert fast[1].dtype == np.int16
    if case == "rescale_tags":             # stored values, as before: no rescaling anywhere
        assert fast[1].tobytes() == _outcome(zips[0])[1].tobytes()
    if case == "no_frame_order":
        assert fast[0] == "error" and fast[1] == "NoFrameOrderError"
    if case in ("empty_value", "pixel_spacing_one_value"):
        assert n_fast < len(dcm)


def test_damaged_member_same_error(zips, tmp_path):
    """A flipped byte in a deflated member: the fast inflate declines, zipfile says what it said."""
    raw = bytearray(zips[0].read_bytes())
    zf = zipfile.ZipFile(io.BytesIO(bytes(raw)))
    info = next(i for i in zf.infolist() if i.filename.endswith(".dcm"))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    p = tmp_path / "3000001_20208_2_0.zip"
    p.write_bytes(bytes(raw))
    zf = bulk._open_zip(p)
    assert bulk._inflate_plain(zf.raw, zf.getinfo(info.filename)) is None
    outcomes = {series: (_outcome(p, series, True), _outcome(p, series, False)) for series in SERIES}
    assert any(f[0] == "error" for f, _ in outcomes.values())
    for fast, ref in outcomes.values():
        _assert_same(fast, ref)


# ---------------------------------------------------------------------------------------------
# the heart mask: integer window counts against scipy.ndimage
# ---------------------------------------------------------------------------------------------

def _heart_mask_scipy(frames):
    """The heart mask as written before (scipy.ndimage throughout): the reference."""
    variance = np.var(np.asarray(frames), axis=0)
    above = variance > variance.mean() * 0.5
    closed = ndimage.binary_closing(above, structure=np.ones((10, 10), dtype=bool)).astype(np.float64)
    opened = ndimage.binary_opening(closed, structure=np.ones((5, 5), dtype=bool)).astype(np.float64)
    smoothed = ndimage.median_filter(opened, size=5)
    labels, n_labels = ndimage.label(smoothed)
    sizes = ndimage.sum(smoothed, labels, range(n_labels + 1))
    return (sizes == sizes.max())[labels]


def test_square_morphology_equals_scipy_on_random_masks():
    rng = np.random.default_rng(19)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        x = rng.random((h, w)) < rng.uniform(0.02, 0.98)
        for k in (2, 3, 4, 5, 10, 11):
            s = np.ones((k, k), dtype=bool)
            assert np.array_equal(prep._erode_square(x, k), ndimage.binary_erosion(x, s)), (h, w, k)
            assert np.array_equal(prep._dilate_square(x, k), ndimage.binary_dilation(x, s)), (h, w, k)
        xf = x.astype(np.float64)
        med = prep._median5_binary(xf)
        assert med.dtype == np.float64 and np.array_equal(med, ndimage.median_filter(xf, size=5)), (h, w)


def test_box_count_closed_form():
    """A single pixel counts in exactly the k x k windows that cover it (hand-checkable)."""
    x = np.zeros((12, 12), dtype=bool)
    x[6, 6] = True
    c = prep._box_count(x, 10, 5)      # window rows i-5 .. i+4
    assert c.sum() == 100 and c[2:12, 2:12].min() == 1 and c[1, 6] == 0 and c[6, 1] == 0


def test_heart_mask_equals_scipy_recipe(zips):
    rng = np.random.default_rng(5)
    volumes = [_outcome(p, s)[1] for p in zips for s in SERIES]
    volumes += [rng.integers(0, 4000, (50, 40, 36)).astype(np.uint16)]
    spot = rng.integers(0, 50, (50, 64, 60)).astype(np.uint16)
    spot[:, 0:20, 40:60] += rng.integers(0, 3000, (50, 20, 20)).astype(np.uint16)  # region at the border
    volumes.append(spot)
    for v in volumes:
        assert np.array_equal(prep.heart_mask(v), _heart_mask_scipy(v))


class _Count:
    """Counts calls of a function (patched in place of it) and forwards them."""

    def __init__(self, fn):
        self.fn, self.n = fn, 0

    def __call__(self, *args, **kwargs):
        self.n += 1
        return self.fn(*args, **kwargs)


def test_fast_path_decodes_only_the_wanted_series_once(zips, tmp_path, monkeypatch):
    """As tests/test_phantom_dicom.py checks for pydicom: with a manifest only the 50 frames of the
    series are parsed; without one every DICOM is parsed once (150) and none twice; pydicom is not
    called at all for these common frames."""
    parse = _Count(bulk.parse_frame)
    dcmread = _Count(pydicom.dcmread)
    member = _Count(bulk._read_member)
    monkeypatch.setattr(bulk, "parse_frame", parse)
    monkeypatch.setattr(pydicom, "dcmread", dcmread)
    monkeypatch.setattr(bulk, "_read_member", member)
    bulk.read_bulk_zip(zips[0], fast=True)
    assert (parse.n, dcmread.n, member.n) == (50, 0, 51)          # + the manifest
    bare = _rewrite(zips[0], tmp_path / "bare.zip", lambda ds, k: None, manifest=False)
    parse.n = dcmread.n = member.n = 0
    bulk.read_bulk_zip(bare, "LAX_3Ch", fast=True)
    assert (parse.n, dcmread.n, member.n) == (150, 0, 150)
    parse.n = dcmread.n = member.n = 0
    bulk.read_bulk_zip(bare, "LAX_3Ch", fast=False)               # the reference: headers, then 50 in full
    assert (parse.n, dcmread.n, member.n) == (0, 200, 200)
