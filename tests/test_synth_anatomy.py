"""cardiolatent.synth.anatomy: re-rendered visits, label fractions on the model grid, LV blood area."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.prepare import prepare, resample
from cardiolatent.images.readers import discover_inputs, read_bulk_zip, read_frames
from cardiolatent.synth.anatomy import blood_tissue_levels, label_fractions, lv_blood_area, render_visit
from cardiolatent.synth.build import make_cohort
from cardiolatent.synth.phantom import LABELS, render_cine

SHAPE = (10, 32, 32)
#: a phantom heart whose LV end-diastolic volume the tests vary
BASE = {"lvedv_ml": 140.0, "lvef_pct": 60.0, "lvwt_mm": 9.0, "lav_ml": 70.0, "rvedv_ml": 150.0,
        "heart_rate_bpm": 65.0}
LVEDV = (70.0, 95.0, 120.0, 145.0, 170.0, 200.0, 240.0)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """20 participants (seed 3 gives 3 repeat visits), images written (about 5 s)."""
    paths = make_cohort(tmp_path_factory.mktemp("anatomy") / "cohort", n=20, seed=3, workers=1, progress=False)
    truth = pd.read_csv(paths.truth / "participants.tsv", sep="\t")
    return paths, truth


@pytest.fixture(scope="module")
def first_visits(cohort):
    """Per visit-2 participant: (true LVEDV, label fractions, prepared input) on the model grid."""
    paths, truth = cohort
    out = []
    for row in truth[truth["instance"] == 2].itertuples(index=False):
        cine = render_visit(paths.root, row.eid, 2)
        out.append((row.lvedv_ml, label_fractions(cine, SHAPE), resample(prepare(cine.pixels), SHAPE)))
    return out


@pytest.fixture(scope="module")
def phantoms():
    """Same nuisance (same seed), different LVEDV: (fractions, prepared input) per LVEDV."""
    out = []
    for edv in LVEDV:
        cine = render_cine({**BASE, "lvedv_ml": edv}, rng=5, labels=True)
        out.append((label_fractions(cine, SHAPE), resample(prepare(cine.pixels), SHAPE)))
    return out


def _zip_of(root, eid, instance):
    items = [it for it in discover_inputs(root / "bulk" / "20208") if (it.eid, it.instance) == (eid, instance)]
    assert len(items) == 1
    return items[0]


def test_render_visit_reproduces_the_bulk_zip(cohort):
    paths, truth = cohort
    repeat = truth.loc[truth["instance"] == 3, "eid"]
    assert len(repeat) > 0
    for eid, instance in ((int(truth["eid"].iloc[2]), 2), (int(repeat.iloc[0]), 2), (int(repeat.iloc[0]), 3)):
        item = _zip_of(paths.root, eid, instance)
        stored, _ = read_frames(item)
        cine = render_visit(paths.root, eid, instance)
        assert stored.dtype == cine.pixels.dtype == np.uint16
        np.testing.assert_array_equal(cine.pixels, stored)
        assert cine.labels is not None and cine.labels.shape == stored.shape
        for view in ("2Ch", "3Ch"):
            stored_view, _ = read_bulk_zip(item.path, f"LAX_{view}")
            np.testing.assert_array_equal(render_visit(paths.root, eid, instance, view, labels=False).pixels,
                                          stored_view)


def test_labels_draw_nothing_random():
    plain = render_cine(BASE, view="2Ch", rng=11)
    labelled = render_cine(BASE, view="2Ch", rng=11, labels=True)
    np.testing.assert_array_equal(plain.pixels, labelled.pixels)
    assert set(np.unique(labelled.labels)) <= set(LABELS.values())


def test_label_fractions_partition_pixels_and_follow_lvedv(first_visits):
    areas, edv = [], []
    for lvedv, fr, x in first_visits:
        assert set(fr) == set(LABELS)
        stack = np.stack(list(fr.values()))
        assert stack.dtype == np.float32 and stack.shape == (len(LABELS), *SHAPE)
        assert stack.min() >= 0.0 and stack.max() <= 1.0
        np.testing.assert_allclose(stack.sum(axis=0), 1.0, atol=1e-5)
        # aligned with the prepared pixels: LV cavity is bright blood, the myocardium dark
        blood, tissue = blood_tissue_levels(x, fr)
        assert blood > 0.6 and tissue < 0.1
        assert x[0][fr["background"][0] > 0.99].mean() < tissue
        areas.append(fr["lv_cavity"][0].sum())
        edv.append(lvedv)
    rho = spearmanr(areas, edv).statistic
    assert rho > 0.8, rho


def test_lv_blood_area_follows_the_label_area(phantoms, first_visits):
    for cases in (phantoms, [(fr, x) for _, fr, x in first_visits]):
        blood = [lv_blood_area(x, fr) for fr, x in cases]
        label = [fr["lv_cavity"][0].sum() for fr, _ in cases]
        assert spearmanr(blood, label).statistic > 0.8
        assert all(0.5 * b < a < 2.0 * b for a, b in zip(label, blood))
    label = [fr["lv_cavity"][0].sum() for fr, _ in phantoms]
    assert np.all(np.diff(label) > 0)


def test_lv_blood_area_of_a_dark_cavity_and_batches(phantoms):
    fr, x = phantoms[3]
    blood, tissue = blood_tissue_levels(x, fr)
    dark = x.copy()
    dark[fr["lv_cavity"] > 0] = tissue
    both = lv_blood_area(np.stack([x, dark]), fr, reference=x)
    assert both.shape == (2,)
    assert both[0] == pytest.approx(lv_blood_area(x, fr))
    assert both[1] < 0.5 * both[0], both
    # another frame, its own scale
    assert lv_blood_area(x, fr, frame=4) < both[0]


def test_render_visit_bad_input(cohort, tmp_path):
    paths, truth = cohort
    with pytest.raises(CardiolatentError, match="1234"):
        render_visit(paths.root, 1234, 2)
    eid = int(truth.loc[truth["instance"] == 2, "eid"].iloc[0])
    if not ((truth["eid"] == eid) & (truth["instance"] == 3)).any():
        with pytest.raises(CardiolatentError, match=f"{eid}.*visit 3"):
            render_visit(paths.root, eid, 3)
    with pytest.raises(CardiolatentError, match="not a synthetic cohort"):
        render_visit(tmp_path, eid, 2)
    with pytest.raises(CardiolatentError, match="view"):
        render_visit(paths.root, eid, 2, "SAX")
