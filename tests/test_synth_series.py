"""``synth --series 4ch``: zips holding only the 4-chamber series, read and encoded like the full zips.

A 4-chamber zip must be a faithful subset of the full zip of the same visit: the same DICOM files
(byte for byte) for that series, the same frames and header values through the bulk-zip reader,
the same latents through ``cardiolatent encode --weights demo``, and the same tables.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pydicom
import pytest

from cardiolatent.cli import main as cli
from cardiolatent.synth.build import make_cohort
from cardiolatent.synth.dicom import SERIES_DESCRIPTION, read_bulk_zip


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same 20-participant cohort written with all three series and with the 4-chamber one."""
    root = tmp_path_factory.mktemp("series")
    full = make_cohort(root / "all", n=20, seed=17, series="all", workers=1, progress=False)
    four = make_cohort(root / "4ch", n=20, seed=17, series="4ch", workers=1, progress=False)
    return full, four


def _series_of(zf: zipfile.ZipFile) -> dict[str, str]:
    """Member name -> SeriesDescription, from the DICOM headers (not the manifest)."""
    out = {}
    for name in zf.namelist():
        if name.endswith(".dcm"):
            ds = pydicom.dcmread(io.BytesIO(zf.read(name)), stop_before_pixels=True)
            out[name] = str(ds.SeriesDescription)
    return out


def test_4ch_zips_hold_only_the_4_chamber_series_with_the_full_zips_files(pair):
    full, four = pair
    zips = sorted(four.bulk.glob("*.zip"))
    assert [z.name for z in zips] == sorted(z.name for z in full.bulk.glob("*.zip"))
    for z in zips[:4]:
        with zipfile.ZipFile(z) as z4, zipfile.ZipFile(full.bulk / z.name) as za:
            s4, sa = _series_of(z4), _series_of(za)
            assert set(s4.values()) == {SERIES_DESCRIPTION["4Ch"]} and len(s4) == 50
            assert {n for n, d in sa.items() if d == SERIES_DESCRIPTION["4Ch"]} == set(s4)
            assert all(z4.read(n) == za.read(n) for n in s4)          # byte-identical DICOM files
            manifest = pd.read_csv(io.BytesIO(z4.read("manifest.csv")))
            assert set(manifest["filename"]) == set(s4)
            assert set(manifest["seriesdescription"]) == {SERIES_DESCRIPTION["4Ch"]}


def test_the_reader_finds_the_same_cine_in_both_zips(pair):
    full, four = pair
    for z in sorted(four.bulk.glob("*.zip"))[:4]:
        f4, i4 = read_bulk_zip(z)
        fa, ia = read_bulk_zip(full.bulk / z.name)
        assert f4.shape == (50, *f4.shape[1:]) and np.array_equal(f4, fa)
        for key in ("eid", "instance", "series_description", "series_instance_uid", "pixel_spacing_mm",
                    "frame_order"):
            assert np.array_equal(np.asarray(i4[key]), np.asarray(ia[key])), key
        assert np.array_equal(i4["trigger_times_ms"], ia["trigger_times_ms"])


def test_tables_and_truth_do_not_depend_on_the_series(pair):
    full, four = pair
    assert (four.root / "ukb_main.csv").read_bytes() == (full.root / "ukb_main.csv").read_bytes()
    for name in ("participants", "outcomes", "hazards", "variants"):
        assert (four.truth / f"{name}.tsv").read_bytes() == (full.truth / f"{name}.tsv").read_bytes(), name
    acq4 = pd.read_csv(four.truth / "acquisition.tsv", sep="\t")
    acqa = pd.read_csv(full.truth / "acquisition.tsv", sep="\t")
    assert set(acq4["view"]) == {"4Ch"}
    pd.testing.assert_frame_equal(acq4, acqa[acqa["view"] == "4Ch"].reset_index(drop=True))
    i4, ia = four.info(), full.info()
    assert (i4["series"], ia["series"]) == ("4ch", "all")
    # a 4-chamber zip is about a third of the full one
    assert 0.25 < i4["bulk_bytes"] / ia["bulk_bytes"] < 0.45


@pytest.mark.slow
def test_encode_reads_a_4ch_zip_to_the_same_latents_as_the_full_zip(pair, tmp_path):
    full, four = pair
    name = sorted(four.bulk.glob("*.zip"))[0].name
    out = {}
    for label, paths in (("4ch", four), ("all", full)):
        dest = tmp_path / f"{label}.parquet"
        assert cli(["encode", "--images", str(paths.bulk / name), "--weights", "demo", "--out", str(dest),
                    "--workers", "0", "--quiet"]) == 0
        out[label] = pd.read_parquet(dest)
    assert len(out["4ch"]) == 5                                        # one visit x five demo seeds
    pd.testing.assert_frame_equal(out["4ch"], out["all"], check_exact=True)


def test_synth_command_takes_series_and_incidence_scale(tmp_path, capsys):
    out = tmp_path / "c"
    assert cli(["synth", "--n", "20", "--seed", "3", "--series", "4ch", "--incidence-scale", "2.5", "--no-images",
                "--variant-r2", "0.2", "--out", str(out), "--quiet"]) == 0
    info = json.loads((out / "cohort.json").read_text())
    assert info["series"] == "4ch" and info["incidence_scale"] == 2.5 and info["images"] is False
    assert info["variant_r2"] == 0.2
    v = pd.read_csv(out / "truth" / "variants.tsv", sep="\t")
    p = v["eaf"]
    assert (v["r2"] == 0.2).all() and np.allclose(np.abs(v["beta_sd"]), np.sqrt(0.2 / (2 * p * (1 - p))))
    assert set(pd.read_csv(out / "truth" / "hazards.tsv", sep="\t")["incidence_scale"]) == {2.5}
    capsys.readouterr()
    assert cli(["synth", "--n", "20", "--incidence-scale", "0", "--no-images", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--incidence-scale must be a positive number" in err and "\n" not in err
    assert cli(["synth", "--n", "20", "--variant-r2", "0.7", "--no-images", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--variant-r2 must be above 0 and below 0.5, not 0.7" in err and "\n" not in err
    with pytest.raises(SystemExit):                                    # argparse: not a choice
        cli(["synth", "--n", "20", "--series", "2ch", "--out", str(tmp_path / "e")])
