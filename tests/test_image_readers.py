"""Image inputs: the bulk zip reader (images/readers/bulk_zip.py), discovery and readers (images/readers/)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from cardiolatent.errors import BulkZipError, CardiolatentError
from cardiolatent.images import readers
from cardiolatent.images.readers import bulk_zip as bulk
from cardiolatent.images.readers import (InputError, InputItem, check_frame_count, discover_inputs,
                                         parse_input_name, qc_reason, read_frames)
from cardiolatent.synth.dicom import write_bulk_zip, write_h5, write_nifti
from cardiolatent.synth.phantom import render_cine

PARAMS = dict(lvedv_ml=150.0, lvef_pct=60.0, lvwt_mm=9.0, lav_ml=70.0, rvedv_ml=160.0, heart_rate_bpm=65.0)


def _cine(seed, view="4Ch", frames=50):
    return render_cine(PARAMS, view=view, rng=np.random.default_rng(seed), frames=frames, shape=(150, 140))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder with every input kind, plus some broken ones; returns (root, {name: cine})."""
    root = tmp_path_factory.mktemp("inputs")
    zips = root / "bulk" / "20208"
    zips.mkdir(parents=True)
    cines = {}
    for eid, inst in ((1000001, 2), (1000002, 2), (1000002, 3)):
        cines[(eid, inst)] = _cine(eid + inst)
        write_bulk_zip(zips / f"{eid}_20208_{inst}_0.zip", eid, inst, {"4Ch": cines[(eid, inst)]},
                       study_date="2016-01-02")
    # no 4Ch series; 49 frames; not a zip
    write_bulk_zip(zips / "1000003_20208_2_0.zip", 1000003, 2, {"2Ch": _cine(3, "2Ch")}, study_date="2016-01-02")
    cines[(1000004, 2)] = _cine(4, frames=49)
    write_bulk_zip(zips / "1000004_20208_2_0.zip", 1000004, 2, {"4Ch": cines[(1000004, 2)]}, study_date="2016-01-02")
    (zips / "1000005_20208_2_0.zip").write_bytes(b"this is not a zip")
    (zips / "notes.zip").write_bytes(b"ignored: not a bulk name")
    (zips / "abc_20208_2_0.zip").write_bytes(b"bulk-like name without an eid")
    # NIfTI, npy, HDF5
    other = root / "other"
    other.mkdir()
    cines[(1000006, 2)] = _cine(6)
    write_nifti(other / "1000006_20208_2_0_LAX_4Ch.nii.gz", cines[(1000006, 2)])
    cines[(1000007, 3)] = _cine(7)
    np.save(other / "1000007_3.npy", cines[(1000007, 3)].pixels)
    write_nifti(other / "1000001_20208_2_0.nii", cines[(1000001, 2)])        # duplicate of a zip
    (other / "scan.nii.gz").write_bytes(b"")                                 # bad name in a folder
    cines[(1000008, 2)] = _cine(8)
    cines[(1000009, 2)] = _cine(9)
    write_h5(other / "F20208_LAX_4Ch.h5", 1000008, 2, cines[(1000008, 2)])
    write_h5(other / "F20208_LAX_4Ch.h5", 1000009, 2, cines[(1000009, 2)])
    return root, cines


def test_parse_names():
    assert bulk.parse_bulk_name("/x/1234567_20208_2_0.zip") == (1234567, 2)
    assert bulk.parse_bulk_name("1234567_20209_2_0.zip") is None
    assert parse_input_name("1234567_20208_3_0_LAX_4Ch.nii.gz") == (1234567, 3)
    assert parse_input_name("1234567_20208_2_0.npy") == (1234567, 2)
    assert parse_input_name("1234567_2.npy") == (1234567, 2)
    assert parse_input_name("1234567_2_sax.nii") == (1234567, 2)
    assert parse_input_name("1234567_20208.npy") is None
    assert parse_input_name("subject.nii.gz") is None


def test_discover_folder_finds_every_kind(inputs):
    root, cines = inputs
    items = discover_inputs([root])
    got = [(it.eid, it.instance, it.kind) for it in items]
    assert got == [(1000001, 2, "zip"), (1000002, 2, "zip"), (1000002, 3, "zip"), (1000003, 2, "zip"),
                   (1000004, 2, "zip"), (1000005, 2, "zip"), (1000006, 2, "nifti"), (1000007, 3, "npy"),
                   (1000008, 2, "h5"), (1000009, 2, "h5")]
    assert items == sorted(items, key=lambda it: (it.eid, it.instance, it.path))
    assert items[-1].key == "1000009/20208/2_0/primary_LAX_4Ch_transverse_0"
    reasons = {(r["reason"], str(r["path"]).rsplit("/", 1)[-1]) for r in items.excluded}
    assert ("duplicate_input", "1000001_20208_2_0.nii") in reasons      # the zip came first
    assert ("bad_name", "scan.nii.gz") in reasons
    assert ("bad_name", "abc_20208_2_0.zip") in reasons
    assert not any("notes.zip" in str(r["path"]) for r in items.excluded)
    # deterministic
    assert discover_inputs([root]) == items


def test_duplicate_keeps_first_in_argument_order(inputs):
    root, _ = inputs
    items = discover_inputs([root / "other", root / "bulk"])
    first = next(it for it in items if (it.eid, it.instance) == (1000001, 2))
    assert first.kind == "nifti"
    dup = [r for r in items.excluded if r["reason"] == "duplicate_input"]
    assert len(dup) == 1 and dup[0]["path"].endswith(".zip") and "used" in dup[0]["detail"]


def test_list_file_and_explicit_errors(inputs, tmp_path, monkeypatch):
    root, _ = inputs
    lst = tmp_path / "inputs.txt"
    lst.write_text(f"# my participants\n{root}/bulk/20208/1000002_20208_3_0.zip\n\n"
                   f"{root}/other/1000007_3.npy  \n{root}/other/F20208_LAX_4Ch.h5\n")
    items = discover_inputs([lst])
    assert [(it.eid, it.instance, it.kind) for it in items] == [
        (1000002, 3, "zip"), (1000007, 3, "npy"), (1000008, 2, "h5"), (1000009, 2, "h5")]
    # a TSV with a path column (like bulk/manifest.tsv), relative paths, eid / instance columns
    tsv = root / "listing.tsv"
    tsv.write_text("eid\tinstance\tpath\n1000002\t2\tbulk/20208/1000002_20208_2_0.zip\n"
                   "4000000\t2\tother/scan.nii.gz\n")
    monkeypatch.chdir(tmp_path)
    items = discover_inputs(tsv)
    assert [(it.eid, it.instance) for it in items] == [(1000002, 2), (4000000, 2)]
    # explicitly named files with an unusable name: a clear error that says the naming expected
    with pytest.raises(CardiolatentError, match=r"\{eid\}_20208_\{instance\}_0"):
        discover_inputs([root / "other" / "scan.nii.gz"])
    bad_list = tmp_path / "bad.list"
    bad_list.write_text(f"{root}/other/scan.nii.gz\n")
    with pytest.raises(CardiolatentError, match="expected file names"):
        discover_inputs([bad_list])
    with pytest.raises(CardiolatentError, match="no such file"):
        discover_inputs([tmp_path / "missing_folder"])


def test_read_frames_every_kind(inputs):
    root, cines = inputs
    items = {(it.eid, it.instance): it for it in discover_inputs([root])}
    for key in [(1000001, 2), (1000006, 2), (1000007, 3), (1000008, 2)]:
        frames, info = read_frames(items[key])
        np.testing.assert_array_equal(frames, cines[key].pixels)
        assert frames.shape == (50, 150, 140) and info["n_frames"] == 50
        assert info["eid"] == key[0] and info["instance"] == key[1]
        if items[key].kind != "npy":
            np.testing.assert_allclose(info["pixel_spacing_mm"], cines[key].pixel_spacing_mm, rtol=1e-5)
    frames, info = read_frames(items[(1000001, 2)])
    assert info["dicom_patient_id"] == 1000001 and info["series_description"] == "CINE_segmented_LAX_4Ch"


def test_nifti_xyzt_layout(tmp_path):
    import nibabel as nib

    cine = _cine(11)
    xyzt = cine.pixels.transpose(2, 1, 0)[:, :, None, :]      # (X=cols, Y=rows, 1, T)
    nib.save(nib.Nifti1Image(xyzt, np.eye(4)), str(tmp_path / "2000000_2.nii.gz"))
    frames, info = read_frames(discover_inputs(tmp_path)[0])
    np.testing.assert_array_equal(frames, cine.pixels)
    assert info["layout"] == "X,Y,1,T"


def test_qc_reasons_of_bad_inputs(inputs):
    root, _ = inputs
    items = {(it.eid, it.instance): it for it in discover_inputs([root])}
    with pytest.raises(InputError) as e:
        read_frames(items[(1000003, 2)])
    assert e.value.reason == "no_4ch_series" and "CINE_segmented_LAX_2Ch" in str(e.value)
    with pytest.raises(InputError) as e:
        read_frames(items[(1000005, 2)])
    assert e.value.reason == "not_a_zip" and "1000005_20208_2_0.zip" in str(e.value)
    frames, _ = read_frames(items[(1000004, 2)])
    with pytest.raises(InputError) as e:
        check_frame_count(frames, items[(1000004, 2)])
    assert (e.value.reason, e.value.detail) == ("wrong_frame_count", "49")
    missing = InputItem(3000000, 2, str(root / "nowhere" / "3000000_2.npy"), "npy")
    with pytest.raises(InputError) as e:
        read_frames(missing)
    assert e.value.reason == "unreadable_file"
    # preparation errors map onto codes
    from cardiolatent.errors import PreparationError

    assert qc_reason(PreparationError("cannot find the heart in a series: zero temporal variance"))[0] == "empty_mask"
    assert qc_reason(PreparationError("the model needs cine series with exactly 50 frames; this one has 49")) == \
        ("wrong_frame_count", "49")
    assert set(readers.QC_REASONS) >= {"no_4ch_series", "wrong_frame_count", "unreadable_file", "not_a_zip",
                                       "empty_mask", "duplicate_input", "bad_name"}


def test_corrupt_member_is_unreadable(inputs, tmp_path):
    root, _ = inputs
    src = root / "bulk" / "20208" / "1000001_20208_2_0.zip"
    out = tmp_path / "1000001_20208_2_0.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        victim = next(n for n in zin.namelist() if n.endswith(".dcm"))
        for n in zin.namelist():
            zout.writestr(n, b"garbage" if n == victim else zin.read(n))
    with pytest.raises(bulk.UnreadableZipError) as e:
        bulk.read_bulk_zip(out)
    assert isinstance(e.value, BulkZipError) and e.value.reason == "unreadable_file"
    with pytest.raises(InputError) as e2:
        read_frames(InputItem(1000001, 2, str(out), "zip"))
    assert e2.value.reason == "unreadable_file"


def test_hostile_member_names_are_never_extracted(inputs, tmp_path):
    root, cines = inputs
    src = root / "bulk" / "20208" / "1000002_20208_2_0.zip"
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    out = work / "1000002_20208_2_0.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for n in zin.namelist():
            data = zin.read(n)
            if n == "manifest.csv":
                data += b"../../evil.dcm,1000002,x,x,x,x,x,CINE_segmented_LAX_2Ch\n"
            zout.writestr(n, data)
        zout.writestr("../../evil.dcm", b"should never land on disk")
        zout.writestr("/abs/evil2.dcm", b"nor this")
    before = sorted(p for p in tmp_path.rglob("*"))
    frames, _ = bulk.read_bulk_zip(out)
    np.testing.assert_array_equal(frames, cines[(1000002, 2)].pixels)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "evil.dcm").exists()


def test_phase_images_and_first_acquisition(tmp_path):
    """Two 4Ch acquisitions: the lower SeriesNumber wins; phase ('P') images are skipped."""
    import io

    import pydicom

    a, b = _cine(21), _cine(22)
    pa, pb = tmp_path / "a.zip", tmp_path / "b.zip"
    write_bulk_zip(pa, 5000000, 2, {"4Ch": a}, study_date="2016-01-02")
    write_bulk_zip(pb, 5000000, 2, {"4Ch": b}, study_date="2016-01-03")
    out = tmp_path / "5000000_20208_2_0.zip"
    with zipfile.ZipFile(pa) as za, zipfile.ZipFile(pb) as zb, zipfile.ZipFile(out, "w") as zout:
        rows = za.read("manifest.csv").decode().splitlines()
        for n in za.namelist():
            if n != "manifest.csv":
                zout.writestr(n, za.read(n))
        for n in zb.namelist():
            if n == "manifest.csv":
                continue
            ds = pydicom.dcmread(io.BytesIO(zb.read(n)))
            ds.SeriesNumber = 3            # lower-numbered but phase images: skipped
            ds.ImageType = ["ORIGINAL", "PRIMARY", "P", "RETRO"]
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            zout.writestr("p_" + n, buf.getvalue())
            rows.append(f"p_{n},5000000,x,x,x,x,x,CINE_segmented_LAX_4Ch")
        zout.writestr("manifest.cvs", "\n".join(rows) + "\n")
    frames, info = bulk.read_bulk_zip(out)
    np.testing.assert_array_equal(frames, a.pixels)
    assert info["manifest"] == "manifest.cvs" and info["instance"] == 2 and info["name_eid"] == 5000000
