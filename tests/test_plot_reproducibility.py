"""Reproducibility figures through their matplotlib objects: the cross-seed |r| heat map and the ICC
violins, drawn from results the real producers made (and saved) on small planted latents."""

from __future__ import annotations

import shutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection

from _latents_helpers import long_rows
from _plot_helpers import assert_figure_files
from cardiolatent.analysis.reproducibility import icc_between_seeds, icc_between_visits
from cardiolatent.encode.ensemble import cross_seed
from cardiolatent.errors import CardiolatentError
from cardiolatent.plotting.reproducibility import (FORM_LABELS, GOOD_RELIABILITY, ICC_FORMS, cross_seed_heatmap,
                                                   cross_seed_matrix, icc_distributions, reproducibility_figures,
                                                   threshold_outline)
from cardiolatent.plotting.style import save_figure

SEEDS = (1701, 1993, 42)
NLAT, NSHARED = 10, 7


def planted_long(n=150, n_v3=50, seed=3):
    """Long latents ``eid, instance, seed, Z0..`` at visits 2 and 3: NSHARED latents of every seed
    carry shared factors (permuted, sign-flipped, noise growing with the factor so |r| spans the
    0.8 threshold) and repeat at visit 3 with small noise; the rest are fresh noise at each visit
    (ICC about 0, some negative)."""
    rng = np.random.default_rng(seed)
    eids = np.arange(2000001, 2000001 + n, dtype=np.int64)
    fac = rng.standard_normal((n, NSHARED))
    noise_sd = np.linspace(0.1, 1.2, NSHARED)
    frames = []
    for s in SEEDS:
        perm = rng.permutation(NLAT)[:NSHARED]
        sign = rng.choice([-1.0, 1.0], NSHARED)
        z2 = rng.standard_normal((n, NLAT))
        z2[:, perm] = fac * sign + noise_sd * rng.standard_normal((n, NSHARED))
        z3 = rng.standard_normal((n_v3, NLAT))
        z3[:, perm] = z2[:n_v3, perm] + 0.2 * rng.standard_normal((n_v3, NSHARED))
        frames += [long_rows(z, e, inst, s) for inst, z, e in ((2, z2, eids), (3, z3, eids[:n_v3]))]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The three results, saved as the commands save them; returns their paths."""
    root = tmp_path_factory.mktemp("repro")
    long = planted_long()
    ens = root / "ens"
    cross_seed(long).save(ens)
    visits, seeds = root / "icc.tsv", root / "icc_seeds.tsv"
    icc_between_visits(long).save(visits)
    icc_between_seeds(long).save(seeds)
    return {"ens": ens, "visits": visits, "seeds": seeds}


def _consensus_marks(ax):
    (line,) = [ln for ln in ax.lines if ln.get_gid() == "consensus"]
    return np.asarray(line.get_xdata())


def test_heatmap_draws_the_saved_best_partner_abs_r(saved, tmp_path):
    ens = saved["ens"]
    pairs = pd.read_csv(ens / "consensus_pairs.tsv", sep="\t")
    r2 = pd.read_csv(ens / "consensus_r2.tsv", sep="\t")
    fig = cross_seed_heatmap(ens, sort="latent")
    ax = fig.axes[0]
    img = ax.images[0]
    arr = np.ma.getdata(img.get_array())
    assert arr.shape == (len(SEEDS) - 1, NLAT)                  # other seeds x reference latents
    assert img.get_clim() == (0.0, 1.0)
    ref = pairs.set_index(["seed", "other_seed", "latent"])["abs_r"]
    for row, other in enumerate(SEEDS[1:]):
        for k in (0, 3, NLAT - 1):
            assert arr[row, k] == pytest.approx(ref[(1701, other, k)])
    assert [t.get_text() for t in ax.get_yticklabels()][1:] == [f"seed {s}" for s in SEEDS[1:]]
    # one tick per reference latent in the consensus, at that latent's column
    summ = pd.read_json(ens / "summary.json", typ="series")
    marks = _consensus_marks(ax)
    assert len(marks) == summ["consensus"]["selected_per_seed"]["1701"]
    assert sorted(marks) == sorted(r2.loc[(r2.seed == 1701) & r2.selected, "latent"])
    assert f"{summ['consensus']['n_selected']} of {len(SEEDS) * NLAT}" in ax.get_title(loc="left")
    # the black outline surrounds exactly the cells above the threshold
    (outline,) = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_gid() == "threshold_outline"]
    assert len(outline.get_segments()) == len(threshold_outline(arr > 0.8))
    cbar = fig.axes[1]
    assert cbar.get_ylabel() == "|Pearson r|"
    assert_figure_files(save_figure(fig, tmp_path / "heat", close=True))


def test_heatmap_sorted_by_agreement_keeps_every_cell(saved):
    d_lat = cross_seed_matrix(saved["ens"], sort="latent")
    d_agr = cross_seed_matrix(saved["ens"])
    assert sorted(d_agr["latents"]) == list(range(NLAT))
    order = [list(d_lat["latents"]).index(k) for k in d_agr["latents"]]
    np.testing.assert_array_equal(d_agr["abs_r"], d_lat["abs_r"][:, order])
    n_above = (d_agr["abs_r"] > 0.8).sum(axis=0)
    assert list(n_above) == sorted(n_above, reverse=True)      # the most-agreeing latents first
    fig = cross_seed_heatmap(saved["ens"])
    np.testing.assert_array_equal(np.ma.getdata(fig.axes[0].images[0].get_array()), d_agr["abs_r"])
    assert np.array_equal(np.sort(_consensus_marks(fig.axes[0])), np.flatnonzero(d_agr["selected"]))
    plt.close(fig)


def test_heatmap_hungarian_and_later_reference(saved):
    m = pd.read_csv(saved["ens"] / "matching.tsv", sep="\t")
    fig = cross_seed_heatmap(saved["ens"], match="hungarian", sort="latent")
    arr = np.ma.getdata(fig.axes[0].images[0].get_array())
    row = m[(m.seed == 42)].set_index("matched_to")["r"].abs()
    np.testing.assert_allclose(arr[1], row.sort_index().to_numpy())
    plt.close(fig)
    # a later reference seed: only its later seeds are saved; the title says which are missing
    fig = cross_seed_heatmap(saved["ens"], reference_seed=1993)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (1, NLAT)
    assert "seeds 1701: no saved match" in ax.get_title(loc="left")
    plt.close(fig)


def test_heatmap_bad_inputs_one_line(saved, tmp_path):
    for kw, words in [({"reference_seed": 42}, "later seeds only"), ({"reference_seed": 7}, "not among the seeds"),
                      ({"match": "hungarian", "reference_seed": 42}, "ensemble's reference"),
                      ({"sort": "name"}, "sort must be")]:
        with pytest.raises(CardiolatentError, match=words) as e:
            cross_seed_heatmap(saved["ens"], **kw)
        assert "\n" not in str(e.value)
    with pytest.raises(CardiolatentError, match="CrossSeedResult, not ReproducibilityResult"):
        cross_seed_heatmap(saved["visits"])
    # a folder without the pair table: the Hungarian alignment is drawn; without both, one line
    part = tmp_path / "ens"
    shutil.copytree(saved["ens"], part)
    (part / "consensus_pairs.tsv").unlink()
    fig = cross_seed_heatmap(part)
    assert "Hungarian" in fig.axes[0].get_title(loc="left")
    assert len(_consensus_marks(fig.axes[0])) == pd.read_json(part / "summary.json", typ="series")[
        "consensus"]["selected_per_seed"]["1701"]
    plt.close(fig)
    (part / "matching.tsv").unlink()
    with pytest.raises(CardiolatentError, match=r"ens: matching.tsv is missing") as e:
        cross_seed_heatmap(part)
    assert "\n" not in str(e.value)


def test_threshold_outline_closed_form():
    segs = threshold_outline(np.array([[True, False], [True, True]]))
    # an L of three cells: perimeter 8 unit edges
    assert len(segs) == 8
    assert ((-0.5, -0.5), (0.5, -0.5)) in [tuple(map(tuple, s)) for s in segs]
    assert threshold_outline(np.zeros((2, 3), bool)) == []


def test_icc_violins_medians_reference_line_and_labels(saved, tmp_path):
    vis = pd.read_csv(saved["visits"], sep="\t")
    fig = icc_distributions([saved["visits"], saved["seeds"]], labels=["visits", "seeds"])
    ax = fig.axes[0]
    bodies = [c for c in ax.collections if isinstance(c, PolyCollection) and c.get_gid() == "violin"]
    assert len(bodies) == len(ICC_FORMS) * 2
    medians = [ln for ln in ax.lines if ln.get_gid() == "median"]
    assert len(medians) == len(ICC_FORMS) * 2
    # drawn in order form by form for the visits result, then the seeds result
    seeds_tab = pd.read_csv(saved["seeds"], sep="\t")
    for i, tab in enumerate((vis, seeds_tab)):
        for j, f in enumerate(ICC_FORMS):
            y = medians[i * len(ICC_FORMS) + j].get_ydata()
            ok = tab[(tab.type == f) & (tab.reason == "ok")]["icc"]
            assert y[0] == y[1] == pytest.approx(ok.median())
    labels = [t for t in ax.texts if t.get_gid() == "median_label"]
    assert labels[0].get_text() == f"{vis[(vis.type == 'ICC1')]['icc'].median():.2f}"
    (ref,) = [ln for ln in ax.lines if ln.get_gid() == "good_reliability"]
    assert list(ref.get_ydata()) == [GOOD_RELIABILITY, GOOD_RELIABILITY]
    assert [t.get_text() for t in ax.get_xticklabels()] == [FORM_LABELS[f] for f in ICC_FORMS]
    assert ax.get_ylabel() == "ICC"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == f"visits: {len(SEEDS) * NLAT} latents" and legend[1] == f"seeds: {NLAT} latents"
    assert any("Koo & Li" in t for t in legend)
    # the pure-noise latents have negative ICCs between visits: the axis goes below 0, top stays 1
    lo, hi = ax.get_ylim()
    assert vis["icc"].min() < 0 and lo <= vis["icc"].min() and hi == 1.0
    assert_figure_files(save_figure(fig, tmp_path / "icc", close=True))


def test_icc_one_result_some_forms_on_a_given_axes(saved):
    fig0, axes = plt.subplots(1, 2)
    fig = icc_distributions(saved["seeds"], ax=axes[1], forms=("ICC3", "ICC3k"))
    assert fig is fig0
    assert len([c for c in axes[1].collections if c.get_gid() == "violin"]) == 2
    assert axes[1].get_ylim() == (0.0, 1.0)                     # no negative ICC between seeds here
    assert "between seeds (reference 1701" in axes[1].get_legend().get_texts()[0].get_text()
    plt.close(fig)


def test_icc_bad_inputs_one_line(saved):
    cases = [({"forms": ("ICC9",)}, "forms: ICC9 not in the ICC table"),
             ({"labels": ["a", "b"]}, "labels: 2 label"),
             ({"forms": ()}, "forms: no ICC form")]
    for kw, words in cases:
        with pytest.raises(CardiolatentError, match=words) as e:
            icc_distributions(saved["visits"], **kw)
        assert "\n" not in str(e.value)
    with pytest.raises(CardiolatentError, match="ReproducibilityResult, not CrossSeedResult"):
        icc_distributions(saved["ens"])


def test_reproducibility_figures_by_kind(saved):
    figs = reproducibility_figures(saved["ens"])
    assert set(figs) == {"cross_seed_heatmap", "ensemble_alignment_heatmap"}
    assert "best-matching" in figs["cross_seed_heatmap"].axes[0].get_title(loc="left")
    assert "Hungarian" in figs["ensemble_alignment_heatmap"].axes[0].get_title(loc="left")
    figs.update(reproducibility_figures(saved["visits"]))
    figs.update(reproducibility_figures(saved["seeds"]))
    assert {"icc_between_visits", "icc_between_seeds"} <= set(figs)
    assert len([c for c in figs["icc_between_seeds"].axes[0].collections if c.get_gid() == "violin"]) == 6
    for f in figs.values():
        plt.close(f)
