"""The synthetic cohort folder end to end: what the package reads back equals the planted truth."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest

from cardiolatent.synth.build import make_cohort, simulate_tables, zip_name
from cardiolatent.ukb.covariates import imaging_covariates
from cardiolatent.ukb.naming import STYLES
from cardiolatent.ukb.outcomes import outcome_table
from cardiolatent.ukb.read import PLACEHOLDER_DATES, read_main, write_main


def _truth(paths, name):
    df = pd.read_csv(paths.truth / f"{name}.tsv", sep="\t")
    for c in df.columns:
        if c.endswith("date"):
            df[c] = pd.to_datetime(df[c])
    return df


def test_folder_layout_and_manifest(small_cohort):
    info = json.loads((small_cohort.root / "cohort.json").read_text())
    assert info["n"] == 120 and info["images"]
    parts = _truth(small_cohort, "participants")
    manifest = pd.read_csv(small_cohort.bulk_manifest, sep="\t")
    assert len(manifest) == len(parts) == info["n_imaging_visits"]
    for row in manifest.itertuples():
        assert (small_cohort.root / row.path).name == zip_name(row.eid, row.instance)
        assert (small_cohort.root / row.path).stat().st_size == row.bytes
    n_repeat = (parts["instance"] == 3).sum()
    assert 0 < n_repeat < 0.25 * info["n"]
    for suffix in (".bed", ".bim", ".fam"):
        assert small_cohort.genotypes.with_suffix(suffix).exists()


def test_four_naming_styles_read_back_identical(small_cohort, tmp_path):
    """The same synthetic main data in every export naming reads back to one canonical table."""
    raw = read_main(small_cohort.main)
    # The same data as written (negative codes and placeholder dates still in) in every style.
    tables = {}
    for style in STYLES:
        path = tmp_path / f"main_{style}.txt"
        write_main(_raw_wide(small_cohort), path, style=style)
        tables[style] = read_main(path)
    path = tmp_path / "main_rap_joined.csv"
    write_main(_raw_wide(small_cohort), path, style="rap", rap_arrays="joined")
    tables["rap_joined"] = read_main(path)
    for style, md in tables.items():
        pd.testing.assert_frame_equal(md.wide, raw.wide, obj=f"canonical table from {style} naming")
        pd.testing.assert_frame_equal(md.flags.reset_index(drop=True), raw.flags.reset_index(drop=True),
                                      obj=f"flags from {style} naming")


def _raw_wide(paths) -> pd.DataFrame:
    """The main file as written (before cleaning), in canonical wide form."""
    info = paths.info()
    return simulate_tables(info["n"], info["seed"])[1].main_raw


def test_covariates_equal_truth(small_cohort):
    main = read_main(small_cohort.main)
    truth = _truth(small_cohort, "participants")
    for instance in (2, 3):
        t = truth[truth["instance"] == instance].set_index("eid").sort_index()
        got = imaging_covariates(main, instance=instance).table.sort_index()
        assert list(got.index) == list(t.index)
        pd.testing.assert_series_equal(got["visit_date"], t["visit_date"], check_names=False)
        assert (got["imaging_year"] == t["imaging_year"]).all()
        for col in ("age", "sex", "genetic_sex", "height", "weight", "bmi", "bsa", "sbp", "dbp", "waist",
                    "centre", "genotyping_batch"):
            a = got[col].astype("float64").to_numpy()
            b = t[col].astype("float64").to_numpy()
            assert np.array_equal(np.isnan(a), np.isnan(b)), col
            np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=1e-9, err_msg=col)
        exact = imaging_covariates(main, instance=instance, age_from="birth").table.sort_index()
        np.testing.assert_allclose(exact["age"].to_numpy(float), t["age_exact"].to_numpy(float), atol=1e-9)
    # negative batch codes (UK BiLEVE) are real values, never cleaned away
    assert (main.get(22000, 0) < 0).any()


def test_outcomes_equal_truth(small_cohort):
    main = read_main(small_cohort.main)
    truth = _truth(small_cohort, "outcomes")
    names = list(truth["outcome"].unique())
    got = outcome_table(main, names, instance=2).table
    m = got.merge(truth, on=["eid", "outcome"], suffixes=("", "_truth"), validate="1:1")
    assert len(m) == len(truth) == len(got)
    for col in ("event_date", "visit_date", "end_date"):
        pd.testing.assert_series_equal(m[col], m[f"{col}_truth"], check_names=False, obj=col)
    for col in ("prevalent", "incident", "case_window", "event"):
        assert (m[col].astype(int) == m[f"{col}_truth"].astype(int)).all(), col
    np.testing.assert_allclose(m["time_years"], m["time_years_truth"], atol=1e-9)
    placeholders = pd.to_datetime(list(PLACEHOLDER_DATES))
    assert not got["event_date"].isin(placeholders).any()
    assert len(main.flags) > 0 and set(main.flags["reason"]) >= {"negative_code", "placeholder_date"}


def test_every_dicom_reads_and_4ch_in_trigger_order(small_cohort):
    import pydicom

    from cardiolatent.synth.dicom import read_bulk_zip

    zips = sorted(small_cohort.bulk.glob("*.zip"))
    assert len(zips) == len(pd.read_csv(small_cohort.bulk_manifest, sep="\t"))
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            dcms = [n for n in zf.namelist() if n.lower().endswith(".dcm")]
            assert len(dcms) == 150
            descr = {}
            for name in dcms:
                ds = pydicom.dcmread(io.BytesIO(zf.read(name)))
                assert ds.pixel_array.ndim == 2
                descr.setdefault(ds.SeriesDescription, []).append((ds.InstanceNumber, float(ds.TriggerTime)))
        four = sorted(descr["CINE_segmented_LAX_4Ch"])
        assert len(four) == 50
        assert [t for _, t in four] == sorted(t for _, t in four)
        frames, info = read_bulk_zip(z)
        assert frames.shape[0] == 50 and min(frames.shape[1:]) > 128
        assert list(info["trigger_times_ms"]) == sorted(info["trigger_times_ms"])


def test_deterministic_for_a_seed(tmp_path):
    a = make_cohort(tmp_path / "a", n=40, seed=3, images=False, progress=False)
    b = make_cohort(tmp_path / "b", n=40, seed=3, images=False, progress=False)
    c = make_cohort(tmp_path / "c", n=40, seed=4, images=False, progress=False)
    for rel in ("ukb_main.csv", "genotypes/synth.bed", "truth/participants.tsv", "truth/outcomes.tsv"):
        assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes(), rel
    assert (a.root / "ukb_main.csv").read_bytes() != (c.root / "ukb_main.csv").read_bytes()


@pytest.mark.skipif(shutil.which("plink2") is None, reason="Debian package plink2 not installed (.ci/run installs it)")
def test_plink2_finds_planted_variants(gwas_cohort, tmp_path):
    truth = _truth(gwas_cohort, "participants")
    variants = _truth(gwas_cohort, "variants")
    t2 = truth[truth["instance"] == 2]
    traits = sorted(variants["trait"].unique())
    cols = {tr: f"{tr}_ml" if f"{tr}_ml" in t2 else [c for c in t2.columns if c.startswith(tr)][0] for tr in traits}
    pheno = pd.DataFrame({"#FID": t2["eid"], "IID": t2["eid"]})
    for tr, col in cols.items():
        pheno[tr] = t2[col].to_numpy()
    pheno.to_csv(tmp_path / "pheno.txt", sep="\t", index=False)
    out = tmp_path / "glm"
    subprocess.run(["plink2", "--bfile", str(gwas_cohort.genotypes), "--pheno", str(tmp_path / "pheno.txt"),
                    "--glm", "allow-no-covars", "--threads", "1", "--out", str(out)],
                   check=True, capture_output=True)
    for v in variants.itertuples():
        res = pd.read_csv(f"{out}.{v.trait}.glm.linear", sep="\t")
        row = res[res["ID"] == v.id]
        assert len(row) == 1
        assert float(row["P"].iloc[0]) < 5e-8, (v.id, v.trait, float(row["P"].iloc[0]))


def test_options_rap_nifti_h5_and_resume(tmp_path):
    """RAP naming reads back like ukbconv csv; NIfTI/HDF5 copies equal the zips; resume rewrites nothing."""
    import h5py

    from cardiolatent.synth.dicom import read_bulk_zip, read_nifti

    a = make_cohort(tmp_path / "a", n=20, seed=9, naming="rap", nifti=True, h5=True, workers=1, progress=False)
    b = make_cohort(tmp_path / "b", n=20, seed=9, images=False, progress=False)
    assert a.main.name == "ukb_main_rap.csv" and read_main(a.main).style == "rap"
    pd.testing.assert_frame_equal(read_main(a.main).wide, read_main(b.main).wide)
    zips = sorted(a.bulk.glob("*.zip"))
    frames, _ = read_bulk_zip(zips[0])
    eid, inst = (int(x) for x in zips[0].name.split("_")[0:3:2])
    nifti, _ = read_nifti(a.root / "nifti" / f"{eid}_20208_{inst}_0_LAX_4Ch.nii.gz")
    np.testing.assert_array_equal(nifti, frames)
    with h5py.File(a.root / "h5" / "F20208_LAX_4Ch.h5", "r") as h5:
        d = h5[f"{eid}/20208/{inst}_0/primary_LAX_4Ch_transverse_0"]
        assert d.shape == (1, 50, 1) + frames.shape[1:]
        np.testing.assert_array_equal(d[0, :, 0], frames)
    # resume: a missing zip is written again, identical; existing zips are not touched
    before = {z.name: (z.read_bytes(), z.stat().st_mtime_ns) for z in zips}
    zips[1].unlink()
    make_cohort(tmp_path / "a", n=20, seed=9, naming="rap", workers=1, progress=False)
    for z in zips:
        assert z.read_bytes() == before[z.name][0]
        if z != zips[1]:
            assert z.stat().st_mtime_ns == before[z.name][1]
