"""Person-level vs visit-level image nuisance of the synthetic cohort, and truth/acquisition.tsv (issue 20)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiolatent.synth.build import VIEWS, _image_rng, acquisition_table, person_nuisance, simulate_tables
from cardiolatent.synth.dicom import read_bulk_zip
from cardiolatent.synth.phantom import PERSON_DRIFT, PERSON_FIXED, VISIT_VALUES, draw_acquisition, render_cine

PARAMS = dict(lvedv_ml=150, lvef_pct=60, lvwt_mm=9, lav_ml=70, rvedv_ml=160)


@pytest.fixture(scope="module")
def acquisition():
    _, cohort = simulate_tables(400, 31)
    return cohort.participants, acquisition_table(cohort.participants, 31)


def _pairs(acq: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rep = acq[acq["eid"].isin(acq.loc[acq["instance"] == 3, "eid"])]
    a = rep[rep["instance"] == 2].set_index(["eid", "view"]).sort_index()
    b = rep[rep["instance"] == 3].set_index(["eid", "view"]).sort_index()
    return a, b


def test_person_level_values_are_shared_by_both_visits(acquisition):
    _, acq = acquisition
    a, b = _pairs(acq)
    assert len(a) >= 60 and a.index.equals(b.index)
    for col in PERSON_FIXED:
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
    # values that follow the body drift with the change in BMI, and only with it
    for col, power in PERSON_DRIFT.items():
        base_a = a[col] / a["bmi_ratio"] ** power
        base_b = b[col] / b["bmi_ratio"] ** power
        np.testing.assert_allclose(base_a.to_numpy(), base_b.to_numpy(), rtol=1e-12, err_msg=col)
    assert (a["bmi_ratio"] == 1).all()                       # the first visit is the reference
    assert b["bmi_ratio"].std() > 0.01                        # weight changes between visits
    moved = (b["bmi_ratio"] - 1).abs() > 0.02
    assert (a.loc[moved, "subcut_fat_mm"] != b.loc[moved, "subcut_fat_mm"]).all()


def test_visit_level_values_are_drawn_again_at_each_visit(acquisition):
    _, acq = acquisition
    a, b = _pairs(acq)
    continuous = [c for c in VISIT_VALUES if c not in ("rows", "cols")]
    for col in continuous:
        assert (a[col].to_numpy() != b[col].to_numpy()).all(), col
    for col in ("rows", "cols"):
        assert (a[col].to_numpy() != b[col].to_numpy()).mean() > 0.8, col
    # the visit-to-visit change in rotation is the planning alone (SD 3 degrees)
    d = (b["rotation_deg"] - a["rotation_deg"]).to_numpy()
    np.testing.assert_allclose(d, (b["planning_deg"] - a["planning_deg"]).to_numpy(), atol=1e-9)
    assert 2.5 < d.std() / np.sqrt(2) < 3.6
    # across people the heart axis varies much more than the planning within a person
    assert acq["heart_axis_deg"].std() > 2 * acq["planning_deg"].std()


def test_person_values_differ_between_people():
    a, b = person_nuisance(7, 1000001), person_nuisance(7, 1000002)
    assert a["subcut_fat_mm"] != b["subcut_fat_mm"] and a["heart_axis_deg"] != b["heart_axis_deg"]
    assert person_nuisance(7, 1000001) == a


def test_rendered_cines_use_the_values_in_the_table():
    person = person_nuisance(3, 1234567)
    rng = _image_rng(3, 1234567, 3)
    cines = [render_cine(PARAMS, v, rng, person=person, bmi_ratio=0.95) for v in VIEWS]
    rng = _image_rng(3, 1234567, 3)
    rows = [draw_acquisition(v, rng, person=person, bmi_ratio=0.95) for v in VIEWS]
    for cine, row in zip(cines, rows):
        j = cine.jitter
        assert cine.pixel_spacing_mm[0] == row["pixel_spacing_mm"]
        assert cine.shape == (row["rows"], row["cols"])
        assert j["noise_seed"] == row["noise_seed"] and j["rotation_deg"] == row["rotation_deg"]
        assert j["subcut_fat_mm"] == pytest.approx(person["subcut_fat_mm"] * 0.95 ** 2)
        np.testing.assert_allclose(j["body_semi_axes_mm"], (row["body_semi_axis_x_mm"], row["body_semi_axis_y_mm"]))
        assert cine.trigger_times_ms[0] == pytest.approx(row["trigger_delay_ms"])


def test_same_person_same_anatomy_around_the_heart():
    """Two visits of one person: the body outline keeps its place relative to the heart."""
    person = person_nuisance(3, 7654321)
    centres = []
    for instance in (2, 3):
        cine = render_cine(PARAMS, "4Ch", _image_rng(3, 7654321, instance), person=person)
        j = cine.jitter
        hx, hy = j["body_centre_mm"]
        centres.append((hx - j["heart_origin_mm"][0], hy - j["heart_origin_mm"][1], j["heart_origin_mm"]))
    assert centres[0][2] != centres[1][2]                    # the heart moved in the field of view
    # the body moved with it (up to the rotation of the heart's frame by the planning)
    assert abs(centres[0][0] - centres[1][0]) < 15 and abs(centres[0][1] - centres[1][1]) < 15


def test_plain_render_calls_are_unchanged():
    """Without a person everything comes from the rng, as before issue 20 (tests and users rely on it)."""
    cine = render_cine(PARAMS, "4Ch", np.random.default_rng(11))
    rng = np.random.default_rng(11)
    row = draw_acquisition("4Ch", rng)
    assert cine.pixel_spacing_mm[0] == row["pixel_spacing_mm"] and np.isnan(row["body_offset_x_mm"])
    assert -15 <= cine.jitter["rotation_deg"] <= 15


def test_acquisition_tsv_is_complete(small_cohort):
    acq = pd.read_csv(small_cohort.truth / "acquisition.tsv", sep="\t")
    manifest = pd.read_csv(small_cohort.bulk_manifest, sep="\t")
    keys = acq[["eid", "instance"]].drop_duplicates()
    assert len(keys) == len(manifest) and len(acq) == 3 * len(manifest)
    assert set(acq["view"]) == set(VIEWS)
    assert not acq.isna().any().any(), acq.columns[acq.isna().any()].tolist()
    for col in VISIT_VALUES + PERSON_FIXED + tuple(PERSON_DRIFT) + ("rotation_deg", "bmi_ratio"):
        assert col in acq, col
    # the values are those of the written DICOMs
    for row in acq[acq["view"] == "4Ch"].head(4).itertuples():
        frames, info = read_bulk_zip(small_cohort.bulk / f"{row.eid}_20208_{row.instance}_0.zip")
        assert frames.shape[1:] == (row.rows, row.cols)
        assert float(info["pixel_spacing_mm"][0]) == pytest.approx(row.pixel_spacing_mm, abs=1e-4)


def test_a_rebuild_by_a_newer_generator_or_another_seed_draws_the_images_again(tmp_path):
    import json

    from cardiolatent.synth.build import make_cohort

    out = tmp_path / "c"
    make_cohort(out, n=20, seed=4, workers=1, progress=False)
    stale = out / "bulk" / "20208" / "9999999_20208_2_0.zip"
    stale.write_bytes(b"an older generator's zip")
    make_cohort(out, n=20, seed=4, workers=1, progress=False)     # same cohort: resumes, keeps it
    assert stale.exists()
    info = json.loads((out / "cohort.json").read_text())
    (out / "cohort.json").write_text(json.dumps({**info, "tables_version": 2}))
    make_cohort(out, n=20, seed=4, workers=1, progress=False)     # older generator: drawn again
    assert not stale.exists()
    acq = pd.read_csv(out / "truth" / "acquisition.tsv", sep="\t")
    assert len(acq) == 3 * len(pd.read_csv(out / "bulk" / "manifest.tsv", sep="\t"))


def test_an_interrupted_build_of_another_seed_is_not_resumed(tmp_path):
    import json

    from cardiolatent.synth.build import BUILDING, make_cohort

    out = tmp_path / "c"
    (out / "bulk" / "20208").mkdir(parents=True)
    stale = out / "bulk" / "20208" / "9999999_20208_2_0.zip"
    stale.write_bytes(b"a zip of an interrupted build of seed 5")
    (out / BUILDING).write_text(json.dumps({"generator": "cardiolatent synth", "seed": 5, "n": 20,
                                            "tables_version": 3}))
    make_cohort(out, n=20, seed=4, workers=1, progress=False)
    assert not stale.exists() and not (out / BUILDING).exists()
    assert json.loads((out / "cohort.json").read_text())["seed"] == 4
