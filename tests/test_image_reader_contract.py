"""The contract every registered image reader passes unchanged (cardiolatent.images.readers.READERS).

A new kind of image file is one module in cardiolatent/images/readers/ defining an ImageReader
(kind, suffixes, parse_name or list_items, read, example, naming) and one entry in READERS; this
file needs no edit. For each reader, its own ``example`` hook writes a small sample, and:

- discovery finds it, from the folder and from the file named explicitly, with the right kind,
  eid and instance (the name parse, or the container's listing);
- ``read_frames`` gives frames (T, H, W) of a numeric dtype equal to what was written, and the
  info keys every reader must fill;
- a corrupt file of that kind (truncated, cut to a few bytes, or garbage) never raises anything but
  a CardiolatentError naming the file, whether named explicitly or found in a folder (then it is
  excluded with a QC reason, or read into an InputError with a QC reason naming it);
- names that do not parse are reported as bad_name in folders and refused when named explicitly.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.readers import (QC_REASONS, READERS, ImageReader, InputError, discover_inputs,
                                         input_kind, read_frames)

EID, INSTANCE = 1234567, 2
KINDS = sorted(READERS)


def _frames(t=6, h=20, w=24) -> np.ndarray:
    rng = np.random.default_rng(20208)
    return rng.integers(0, 4000, size=(t, h, w)).astype(np.uint16)


@pytest.fixture(params=KINDS)
def reader(request) -> ImageReader:
    return READERS[request.param]


def _example(reader, folder, eid=EID, instance=INSTANCE, frames=None):
    folder.mkdir(parents=True, exist_ok=True)
    frames = _frames() if frames is None else frames
    path = reader.example(folder, eid, instance, frames)
    return path, frames


def test_registry_entries_are_well_formed():
    assert KINDS, "no readers registered"
    seen: dict[str, str] = {}
    for kind, r in READERS.items():
        assert isinstance(r, ImageReader) and r.kind == kind
        assert callable(r.read) and callable(r.example) and r.naming
        for s in r.suffixes:
            assert s not in seen, f"suffix {s} claimed by {seen.get(s)} and {kind}"
            seen[s] = kind


def test_example_is_discovered_and_parsed(reader, tmp_path):
    path, _ = _example(reader, tmp_path / "in")
    assert reader.matches(path) and input_kind(path) == reader.kind
    if reader.parse_name is not None:
        assert reader.parse_name(path) == (EID, INSTANCE)
    for source in (tmp_path / "in", path):             # a folder, and the file named explicitly
        items = discover_inputs(source)
        assert [(it.eid, it.instance, it.kind) for it in items] == [(EID, INSTANCE, reader.kind)]
        assert items.excluded == []
        assert items[0].path == str(path)


def test_example_reads_back_as_thw_frames(reader, tmp_path):
    path, frames = _example(reader, tmp_path)
    (item,) = discover_inputs(path)
    got, info = read_frames(item)
    assert isinstance(got, np.ndarray) and got.ndim == 3
    assert got.dtype.kind in "uif"
    assert got.shape == frames.shape
    np.testing.assert_array_equal(got.astype(np.float64), frames.astype(np.float64))
    for key in ("eid", "instance", "path", "kind", "n_frames", "pixel_spacing_mm"):
        assert key in info, key
    assert (info["eid"], info["instance"], info["kind"], info["n_frames"]) == (EID, INSTANCE, reader.kind, frames.shape[0])
    assert len(info["pixel_spacing_mm"]) == 2


def test_two_participants_in_one_folder(reader, tmp_path):
    _example(reader, tmp_path, EID, 2, _frames())
    _example(reader, tmp_path, EID + 1, 3, _frames(t=7))
    items = discover_inputs(tmp_path)
    assert [(it.eid, it.instance) for it in items] == [(EID, 2), (EID + 1, 3)]
    assert [read_frames(it)[0].shape[0] for it in items] == [6, 7]


def _corruptions(data: bytes):
    yield "truncated", data[: len(data) // 2]
    yield "a few bytes", data[:7]
    yield "garbage", bytes(range(256)) * 4


@pytest.mark.parametrize("how", ["truncated", "a few bytes", "garbage"])
def test_corrupt_file_gives_a_cardiolatent_error_naming_it(reader, tmp_path, how):
    good, _ = _example(reader, tmp_path / "good")
    data = dict(_corruptions(good.read_bytes()))[how]
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = bad_dir / good.name
    bad.write_bytes(data)
    for explicit in (True, False):
        try:
            items = discover_inputs(bad if explicit else bad_dir)
        except CardiolatentError as e:
            assert str(bad) in str(e)
            continue
        for row in items.excluded:
            assert row["reason"] in QC_REASONS and str(bad) in row["path"]
        for it in items:
            with pytest.raises(CardiolatentError) as e:
                read_frames(it)
            assert isinstance(e.value, InputError) and e.value.reason in QC_REASONS
            assert str(bad) in str(e.value)
        assert len(items) + len(items.excluded) >= 1


def test_missing_file_is_an_input_error(reader, tmp_path):
    path, _ = _example(reader, tmp_path / "in")
    (item,) = discover_inputs(path)
    shutil.rmtree(tmp_path / "in")
    with pytest.raises(CardiolatentError) as e:
        read_frames(item)
    assert isinstance(e.value, InputError) and e.value.reason in QC_REASONS and str(path) in str(e.value)


#: readers that take eid and instance from the file name (containers such as HDF5 read them inside)
NAMED_KINDS = [k for k in KINDS if READERS[k].parse_name is not None]


@pytest.mark.parametrize("kind", NAMED_KINDS)
def test_unparseable_name(kind, tmp_path):
    reader = READERS[kind]
    path, _ = _example(reader, tmp_path / "in")
    renamed = path.with_name("scan" + path.name[-max(len(s) for s in reader.suffixes if path.name.lower().endswith(s)):])
    path.rename(renamed)
    assert reader.parse_name(renamed) is None
    with pytest.raises(CardiolatentError, match="expected file names"):
        discover_inputs(renamed)
    items = discover_inputs(tmp_path / "in")
    assert list(items) == [] or reader.folder_pattern is not None
    if reader.folder_pattern is None:
        assert [r["reason"] for r in items.excluded] == ["bad_name"]
