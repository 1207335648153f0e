"""Synthetic cine phantoms and UK Biobank bulk zips (field 20208): writer, reader, exports."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pydicom
import pytest

from cardiolatent.errors import BulkZipError, CardiolatentError
from cardiolatent.images.readers import bulk_zip
from cardiolatent.synth.dicom import (MR_IMAGE_STORAGE, h5_key, read_bulk_zip, read_nifti, write_bulk_zip,
                                      write_h5, write_nifti)
from cardiolatent.synth.phantom import LABELS, VIEWS, render_cine

PARAMS = dict(lvedv_ml=150.0, lvef_pct=60.0, lvwt_mm=9.0, lav_ml=70.0, rvedv_ml=160.0, heart_rate_bpm=65.0)
EID, INSTANCE = 1234567, 2


def _render(params=PARAMS, seed=7, labels=False):
    rng = np.random.default_rng(seed)
    return {v: render_cine(params, view=v, rng=rng, labels=labels) for v in VIEWS}


@pytest.fixture(scope="module")
def bulk(tmp_path_factory):
    cines = _render()
    path = tmp_path_factory.mktemp("bulk") / f"{EID}_20208_{INSTANCE}_0.zip"
    write_bulk_zip(path, EID, INSTANCE, cines, study_date="2016-05-03", birth_year=1952, sex=0)
    return path, cines


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}, zf.namelist()


# ---------------------------------------------------------------------------------------------
# zip and DICOM content
# ---------------------------------------------------------------------------------------------

def test_every_member_is_valid_dicom(bulk):
    path, cines = bulk
    data, names = _members(path)
    dcm = [n for n in names if n.endswith(".dcm")]
    assert len(dcm) == 150 and "manifest.csv" in names
    by_series: dict[str, list] = {}
    for n in dcm:
        ds = pydicom.dcmread(io.BytesIO(data[n]))
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SOPClassUID == MR_IMAGE_STORAGE and ds.Modality == "MR"
        assert n == f"{ds.SOPInstanceUID}.dcm" and ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.PatientID == str(EID) and ds.StudyDate == ds.SeriesDate == ds.AcquisitionDate == "20160503"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 12, 11, 0)
        assert ds.SamplesPerPixel == 1 and ds.PhotometricInterpretation == "MONOCHROME2"
        assert float(ds.SliceThickness) == 8.0 and int(ds.CardiacNumberOfImages) == 50
        assert len(ds.ImageOrientationPatient) == 6 and len(ds.ImagePositionPatient) == 3
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns) and ds.pixel_array.max() < 4096
        by_series.setdefault(ds.SeriesDescription, []).append(ds)
    assert set(by_series) == {"CINE_segmented_LAX_4Ch", "CINE_segmented_LAX_2Ch", "CINE_segmented_LAX_3Ch"}
    assert len({ds.StudyInstanceUID for v in by_series.values() for ds in v}) == 1
    for desc, dss in by_series.items():
        assert len(dss) == 50
        assert len({ds.SeriesInstanceUID for ds in dss}) == 1 and len({ds.SeriesNumber for ds in dss}) == 1
        assert sorted(int(ds.InstanceNumber) for ds in dss) == list(range(1, 51))
        assert len({tuple(ds.ImagePositionPatient) for ds in dss}) == 1
    # pixels of the 4Ch series, by InstanceNumber, are the rendered frames
    dss = sorted(by_series["CINE_segmented_LAX_4Ch"], key=lambda d: int(d.InstanceNumber))
    np.testing.assert_array_equal(np.stack([d.pixel_array for d in dss]), cines["4Ch"].pixels)
    np.testing.assert_allclose([float(d.TriggerTime) for d in dss], cines["4Ch"].trigger_times_ms, atol=0.006)


def test_member_order_and_names_are_not_temporal(bulk):
    path, _ = bulk
    data, names = _members(path)
    inst = [(n, int(pydicom.dcmread(io.BytesIO(data[n]), stop_before_pixels=True).InstanceNumber),
             pydicom.dcmread(io.BytesIO(data[n]), stop_before_pixels=True).SeriesDescription)
            for n in names if n.endswith(".dcm")]
    four = [(n, i) for n, i, d in inst if d.endswith("4Ch")]
    in_zip_order = [i for _, i in four]
    by_name = [i for _, i in sorted(four)]
    assert in_zip_order != sorted(in_zip_order)
    assert by_name != sorted(by_name)
    # series are interleaved in the zip
    descs = [d for _, _, d in inst]
    assert sum(a != b for a, b in zip(descs, descs[1:])) > 10


def test_zip_is_deterministic(bulk, tmp_path):
    path, cines = bulk
    again = tmp_path / path.name
    write_bulk_zip(again, EID, INSTANCE, _render(), study_date="2016-05-03", birth_year=1952, sex=0)
    assert again.read_bytes() == path.read_bytes()


def test_manifest_names_each_file_series(bulk):
    path, _ = bulk
    data, names = _members(path)
    lines = data["manifest.csv"].decode().strip().splitlines()
    assert lines[0] == "filename,patientid,studyid,aet,host,date,time,seriesdescription"
    rows = [ln.split(",") for ln in lines[1:]]
    assert sorted(r[0] for r in rows) == sorted(n for n in names if n.endswith(".dcm"))
    for r in rows[:20]:
        ds = pydicom.dcmread(io.BytesIO(data[r[0]]), stop_before_pixels=True)
        assert r[7] == ds.SeriesDescription and r[1] == str(EID) and r[2] == ds.StudyInstanceUID


# ---------------------------------------------------------------------------------------------
# reader
# ---------------------------------------------------------------------------------------------

class _Spy:
    def __init__(self, monkeypatch):
        self.full, self.headers = 0, 0
        self._orig = pydicom.dcmread
        monkeypatch.setattr(pydicom, "dcmread", self)

    def __call__(self, *args, **kwargs):
        if kwargs.get("stop_before_pixels"):
            self.headers += 1
        else:
            self.full += 1
        return self._orig(*args, **kwargs)


def test_read_bulk_zip_orders_frames_and_decodes_only_4ch(bulk, monkeypatch):
    path, cines = bulk
    monkeypatch.setattr(bulk_zip, "FAST_PATH", False)  # counts pydicom calls: the pydicom path
    spy = _Spy(monkeypatch)
    frames, info = read_bulk_zip(path)
    assert (spy.full, spy.headers) == (50, 0)
    assert frames.dtype == np.uint16 and frames.shape == cines["4Ch"].pixels.shape
    np.testing.assert_array_equal(frames, cines["4Ch"].pixels)
    assert np.all(np.diff(info["trigger_times_ms"]) > 0)
    assert list(info["instance_numbers"]) == list(range(1, 51))
    assert info["eid"] == EID and info["n_frames"] == 50
    assert info["series_description"] == "CINE_segmented_LAX_4Ch"
    np.testing.assert_allclose(info["pixel_spacing_mm"], cines["4Ch"].pixel_spacing_mm, atol=1e-6)
    frames2, info2 = read_bulk_zip(path, series="lax_2ch")
    np.testing.assert_array_equal(frames2, cines["2Ch"].pixels)


def _rewrite(path, out, rename=None, drop=(), corrupt=None):
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for n in zin.namelist():
            if n in drop:
                continue
            data = zin.read(n)
            if corrupt is not None and n == corrupt:
                data = b"not a dicom file at all" * 10
            zout.writestr((rename or {}).get(n, n), data)
    return out


def test_reader_accepts_manifest_cvs_and_no_manifest(bulk, tmp_path, monkeypatch):
    path, cines = bulk
    cvs = _rewrite(path, tmp_path / "cvs.zip", rename={"manifest.csv": "manifest.cvs"})
    frames, info = read_bulk_zip(cvs)
    np.testing.assert_array_equal(frames, cines["4Ch"].pixels)
    assert info["manifest"] == "manifest.cvs"
    bare = _rewrite(path, tmp_path / "bare.zip", drop={"manifest.csv"})
    monkeypatch.setattr(bulk_zip, "FAST_PATH", False)  # counts pydicom calls: the pydicom path
    spy = _Spy(monkeypatch)
    frames, info = read_bulk_zip(bare, series="LAX_3Ch")
    assert spy.full == 50 and spy.headers == 150 and info["manifest"] is None
    np.testing.assert_array_equal(frames, cines["3Ch"].pixels)


def test_clear_errors(bulk, tmp_path):
    path, _ = bulk
    bad = tmp_path / "999_20208_2_0.zip"
    bad.write_bytes(b"PK\x03\x04 truncated garbage" + bytes(100))
    with pytest.raises(BulkZipError, match="999_20208_2_0.zip.*not a zip"):
        read_bulk_zip(bad)
    with pytest.raises(CardiolatentError) as e:
        read_bulk_zip(path, series="LAX_5Ch")
    msg = str(e.value)
    assert path.name in msg and "CINE_segmented_LAX_2Ch" in msg and "CINE_segmented_LAX_4Ch" in msg
    with zipfile.ZipFile(path) as zf:
        lines = zf.read("manifest.csv").decode().splitlines()[1:]
    victim = next(ln.split(",")[0] for ln in lines if ln.endswith("LAX_4Ch"))
    broken = _rewrite(path, tmp_path / "broken.zip", corrupt=victim)
    with pytest.raises(BulkZipError, match=f"broken.zip.*{victim[:20]}"):
        read_bulk_zip(broken)


# ---------------------------------------------------------------------------------------------
# phantom properties
# ---------------------------------------------------------------------------------------------

def _bright_area(cine, frame=0):
    """Pixels brighter than half-way between myocardium and blood (blood, fat), at one frame."""
    return int((cine.pixels[frame] > 0.5 * cine.pixels[frame].max()).sum())


def test_phantom_basic_properties():
    a = _render(seed=3)
    b = _render(seed=3)
    c = _render(seed=4)
    for v in VIEWS:
        np.testing.assert_array_equal(a[v].pixels, b[v].pixels)
        assert not np.array_equal(a[v].pixels[:, :128, :128], c[v].pixels[:, :128, :128])
        px = a[v].pixels
        assert px.dtype == np.uint16 and px.shape[0] == 50 and min(px.shape[1:]) > 128
        assert 600 < px.max() < 2000
        assert np.median(px[:, :4, :4]) <= 1                     # air corner near 0
        assert np.all(np.diff(a[v].trigger_times_ms) > 0)
        assert 1.7 <= a[v].pixel_spacing_mm[0] <= 1.9
    # jitter moves the heart: the temporal-variance centroid differs between participants
    def centre(cine):
        var = cine.pixels.astype(float).var(axis=0)
        r, cc = np.nonzero(var > 0.5 * var.mean() * 4)
        return np.array([r.mean(), cc.mean()])
    assert np.linalg.norm(centre(a["4Ch"]) - centre(c["4Ch"])) > 3


@pytest.mark.parametrize("key,values,label", [
    ("lvedv_ml", (100, 150, 210), "lv_cavity"),
    ("lav_ml", (45, 75, 115), "la"),
    ("rvedv_ml", (110, 170, 240), "rv_cavity"),
    ("lvwt_mm", (6, 9, 13), "lv_myocardium"),
])
def test_phantom_is_monotone_in_parameters(key, values, label):
    areas, bright = [], []
    for x in values:
        p = dict(PARAMS, **{key: x})
        cine = render_cine(p, "4Ch", np.random.default_rng(11), labels=True)
        frame = int(np.argmax(cine.volumes_ml["la"])) if key == "lav_ml" else 0
        areas.append(int((cine.labels[frame] == LABELS[label]).sum()))
        bright.append(_bright_area(cine, frame))
    assert areas[0] < areas[1] < areas[2], areas
    if key != "lvwt_mm":
        assert bright[0] < bright[1] < bright[2], bright
    if key in ("lvedv_ml", "lav_ml", "rvedv_ml"):
        # areas scale roughly like volume^(2/3)
        ratio = areas[2] / areas[0]
        expect = (values[2] / values[0]) ** (2 / 3)
        assert 0.75 * expect < ratio < 1.3 * expect


def test_ejection_is_visible():
    ratios = []
    for ef in (40, 55, 70):
        cine = render_cine(dict(PARAMS, lvef_pct=ef), "4Ch", np.random.default_rng(5), labels=True)
        es = int(np.argmin(cine.volumes_ml["lv"]))
        assert 14 <= es <= 21                                   # ~35% of 50 frames
        lv = (cine.labels == LABELS["lv_cavity"]).sum(axis=(1, 2))
        ratios.append(lv[es] / lv[0])
        np.testing.assert_allclose(cine.volumes_ml["lv"].min(), PARAMS["lvedv_ml"] * (1 - ef / 100), rtol=1e-6)
        la = cine.volumes_ml["la"]
        assert abs(int(np.argmax(la)) - es) <= 4                 # LA maximal near end-systole
    assert ratios[0] > ratios[1] > ratios[2]
    for ef, r in zip((40, 55, 70), ratios):
        assert abs(r - (1 - ef / 100) ** (2 / 3)) < 0.15


# ---------------------------------------------------------------------------------------------
# NIfTI / HDF5
# ---------------------------------------------------------------------------------------------

def test_nifti_round_trip(bulk, tmp_path):
    _, cines = bulk
    out = write_nifti(tmp_path / "x.nii.gz", cines["4Ch"])
    frames, ps = read_nifti(out)
    np.testing.assert_array_equal(frames, cines["4Ch"].pixels)
    np.testing.assert_allclose(ps, cines["4Ch"].pixel_spacing_mm, rtol=1e-6)


def test_h5_round_trip_and_append(bulk, tmp_path):
    import h5py

    path, cines = bulk
    f = tmp_path / "F20208_LAX_4Ch.h5"
    write_h5(f, EID, 2, cines["4Ch"])
    frames, info = read_bulk_zip(path)
    write_h5(f, EID + 1, 3, frames, info)
    with h5py.File(f, "r") as h:
        d = h[f"{EID}/20208/2_0/primary_LAX_4Ch_transverse_0"]
        assert d.shape == (1, 50, 1) + cines["4Ch"].shape
        np.testing.assert_array_equal(d[0, :, 0], cines["4Ch"].pixels)
        np.testing.assert_array_equal(h[h5_key(EID + 1, 3)][0, :, 0], frames)
        np.testing.assert_allclose(d.attrs["pixel_spacing_mm"], cines["4Ch"].pixel_spacing_mm)


def test_speed_and_size(tmp_path, capsys):
    rng = np.random.default_rng(0)
    _render(seed=99)  # warm up
    t0 = time.perf_counter()
    cines = {v: render_cine(PARAMS, v, rng) for v in VIEWS}
    t1 = time.perf_counter()
    path = write_bulk_zip(tmp_path / "1_20208_2_0.zip", 1, 2, cines, study_date="2015-01-02")
    t2 = time.perf_counter()
    read_bulk_zip(path)
    t3 = time.perf_counter()
    size = path.stat().st_size
    with capsys.disabled():
        print(f"\nphantom: render 3 views {t1 - t0:.3f} s, write zip {t2 - t1:.3f} s, "
              f"read 4Ch {t3 - t2:.3f} s, zip {size / 1e6:.2f} MB")
    assert t1 - t0 < 1.0 and t2 - t1 < 2.0        # generous: shared CI machines
    assert size < 8e6
