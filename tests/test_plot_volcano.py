"""Volcano plots (paper Fig. 2A/2B) drawn from association scans made by the real producer
(:func:`cardiolatent.analysis.association.association_scan` on the synthetic ``gwas_cohort``), checked
through the matplotlib objects: points drawn, grey vs coloured, threshold lines, labels, legend."""

from __future__ import annotations

import math

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cardiolatent.analysis.association import association_scan
from cardiolatent.analysis.design import expand_names, fields_needed, participant_variables
from cardiolatent.analysis.reproducibility import icc_between_seeds
from cardiolatent.errors import CardiolatentError
from cardiolatent.plotting.style import GREY, save_figure
from cardiolatent.plotting.volcano import (GROUP_COLOURS, NOT_SIGNIFICANT, UNDERFLOW, default_groups, volcano,
                                           volcano_figures)
from tests._plot_helpers import assert_figure_files

TRAITS = ["cardiac_idps", "AF", "T2D", "MI"]


@pytest.fixture(scope="module")
def inputs(gwas_cohort):
    """Long latents (2 seeds x 11 latents) with planted signals: cardiac volumes (Z0-Z3), AF and
    T2D case status (Z4, Z5), noise (Z6-Z9), one constant latent (Z10, status 'constant'); and a
    'strong' set whose lamax latent has P = 0 (underflow) in the OLS table."""
    from cardiolatent.ukb.read import read_main

    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    main = read_main(gwas_cohort.main, fields_needed(expand_names(TRAITS + ["age", "sex"])), missing_ok=True)
    V = participant_variables(main, truth[["eid", "instance"]], ["AF", "T2D"])
    rng = np.random.default_rng(5)
    n = len(truth)
    parts, strong = [], []
    for s in (1701, 42):
        d = truth[["eid", "instance"]].copy()
        d["seed"] = s
        d["Z0"] = truth["lvedv_ml"] + rng.normal(0, 150, n)
        d["Z1"] = truth["lav_ml"] + rng.normal(0, 60, n)
        d["Z2"] = truth["rvedv_ml"] + rng.normal(0, 200, n)
        d["Z3"] = truth["ao_asc_max_area_mm2"] + rng.normal(0, 1500, n)
        d["Z4"] = V.table["AF"].fillna(0).to_numpy() + rng.normal(0, 1, n)
        d["Z5"] = 0.7 * V.table["T2D"].fillna(0).to_numpy() + rng.normal(0, 1, n)
        for k in range(6, 10):
            d[f"Z{k}"] = rng.normal(size=n)
        d["Z10"] = 1.0
        parts.append(d)
        e = truth[["eid", "instance"]].copy()
        e["seed"] = s
        e["Z0"] = truth["lav_ml"] + rng.normal(0, 1, n)  # nearly the trait itself: t in the hundreds
        e["Z1"] = rng.normal(size=n)
        strong.append(e)
    return dict(long=pd.concat(parts, ignore_index=True), strong=pd.concat(strong, ignore_index=True), main=main)


@pytest.fixture(scope="module")
def mixed(inputs, tmp_path_factory):
    """OLS scan of cardiac traits and diseases, saved as scan.tsv (+ summary, excluded)."""
    res = association_scan(inputs["long"], inputs["main"], TRAITS, "age,sex", min_cases=5)
    path = tmp_path_factory.mktemp("assoc") / "scan.tsv"
    res.save(path)
    return res, path


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["status"] == "ok") & np.isfinite(table["p"].to_numpy(float))]


def _n_points(ax) -> dict[str, int]:
    """group -> number of points drawn (the volcano's scatter layers)."""
    return {c.get_gid().split(":", 1)[1]: len(c.get_offsets()) for c in ax.collections
            if (c.get_gid() or "").startswith("volcano-points:")}


def _colour(ax, group) -> str:
    coll = next(c for c in ax.collections if c.get_gid() == f"volcano-points:{group}")
    return mcolors.to_hex(coll.get_facecolor()[0], keep_alpha=False)


def _labels(ax):
    return [t for t in ax.texts if t.get_gid() == "volcano-label"]


def test_points_grey_and_coloured_match_the_table(mixed):
    res, path = mixed
    t = res.table
    assert (t["status"] == "constant").any()  # the constant latent's rows are in the table ...
    fig = volcano(path)
    ax_bin, ax_cont = fig.axes  # A binary traits (diseases), B continuous traits
    ok = _ok(t)
    assert len(ok) < len(t)  # ... and not drawn
    binary = ok["n_cases"].notna()
    for ax, part in ((ax_bin, ok[binary]), (ax_cont, ok[~binary])):
        counts = _n_points(ax)
        assert sum(counts.values()) == len(part)
        sig = part["p"] < res.summary.threshold_meff
        assert sig.sum() > 0 and (sig == part["significant_meff"]).all()
        assert counts[NOT_SIGNIFICANT] == int((~sig).sum())
        assert sum(v for g, v in counts.items() if g != NOT_SIGNIFICANT) == int(sig.sum())
        assert _colour(ax, NOT_SIGNIFICANT) == GREY.lower()
    # diseases: one colour per disease with a significant point; traits: one per cardiac structure
    dis = ok[binary & ok["significant_meff"]]
    assert set(_n_points(ax_bin)) - {NOT_SIGNIFICANT} == set(dis["trait"])
    for trait, n in dis["trait"].value_counts().items():
        assert _n_points(ax_bin)[trait] == n
    assert _colour(ax_bin, "AF") != _colour(ax_bin, "T2D")
    cont = ok[~binary & ok["significant_meff"]]
    groups = cont["trait"].map(default_groups()).value_counts()
    counts = _n_points(ax_cont)
    for group, n in groups.items():
        assert counts[group] == n
        assert _colour(ax_cont, group) == GROUP_COLOURS[group].lower()
    assert ax_bin.get_title(loc="left") == "Diseases" and ax_cont.get_title(loc="left") == "Continuous traits"
    assert ax_bin.get_xlabel() == "β (SD of latent, cases vs non-cases)"
    assert ax_cont.get_xlabel() == "β (SD of latent per SD of trait)"


def test_threshold_lines_and_their_labels(mixed):
    res, _ = mixed
    fig = volcano(res)
    for ax in fig.axes:
        lines = {ln.get_gid(): ln for ln in ax.lines if (ln.get_gid() or "").startswith("volcano-threshold:")}
        assert set(lines) == {"volcano-threshold:nominal", "volcano-threshold:corrected"}
        nominal, corrected = lines["volcano-threshold:nominal"], lines["volcano-threshold:corrected"]
        assert np.allclose(nominal.get_ydata(), -math.log10(0.05))
        assert np.allclose(corrected.get_ydata(), -math.log10(res.summary.threshold_meff))
        assert nominal.get_linestyle() == corrected.get_linestyle() == "--"
        texts = {t.get_gid(): t.get_text() for t in ax.texts}
        assert texts["volcano-threshold-label:nominal"] == "P = 0.05"
        assert texts["volcano-threshold-label:corrected"].startswith(r"M$_\mathrm{eff}$-corrected")
        assert ax.get_ylim()[1] > -math.log10(res.summary.threshold_meff)


def test_top_hits_labelled_without_overlap(mixed):
    res, _ = mixed
    fig = volcano(res, label_top=8)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ok = _ok(res.table)
    for ax, part in zip(fig.axes, (ok[ok["n_cases"].notna()], ok[ok["n_cases"].isna()])):
        sig = part[part["significant_meff"]].sort_values("p", kind="mergesort")
        labels = _labels(ax)
        assert [t.get_text() for t in labels] == [f"{r.latent} / {r.trait}" for r in sig.head(8).itertuples()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        inside = ax.get_window_extent(renderer)
        for i, a in enumerate(boxes):
            assert inside.x0 <= a.x0 and a.x1 <= inside.x1 and inside.y0 <= a.y0 and a.y1 <= inside.y1
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), (a, b)
        # each label points at its hit (the annotation's xy is the point drawn)
        for t, r in zip(labels, sig.head(8).itertuples()):
            assert np.allclose(t.xy, (r.beta, -math.log10(r.p)))
            assert t.arrow_patch is not None
    assert _labels(volcano(res, label_top=0).axes[1]) == []


def test_legend_lists_groups_with_significant_points(mixed):
    res, _ = mixed
    fig = volcano(res)
    ok = _ok(res.table)
    sig = ok[ok["significant_meff"]]
    ax_bin, ax_cont = fig.axes
    entries = [t.get_text() for t in ax_bin.get_legend().get_texts()]
    assert entries == [t for t in ["AF", "T2D", "MI"] if t in set(sig["trait"])] + [NOT_SIGNIFICANT]
    entries = [t.get_text() for t in ax_cont.get_legend().get_texts()]
    groups = set(sig.loc[sig["n_cases"].isna(), "trait"].map(default_groups()))
    assert entries == [g for g in GROUP_COLOURS if g in groups] + [NOT_SIGNIFICANT]
    n_bin = ok["n_cases"].notna()
    assert ax_bin.get_legend().get_title().get_text().startswith(
        f"{int(ok.loc[n_bin, 'significant_meff'].sum())} of {int(n_bin.sum())} tests significant")


def test_groups_override_kind_and_ax(mixed):
    res, _ = mixed
    fig = volcano(res, kind="continuous", groups={"lvedv": "LV volume", "lvesv": "LV volume"}, title="Traits")
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "Traits"
    entries = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "LV volume" in entries
    ok = _ok(res.table)
    n = int((ok["trait"].isin(["lvedv", "lvesv"]) & ok["significant_meff"]).sum())
    assert _n_points(ax)["LV volume"] == n > 0
    fig2, ax2 = plt.subplots()
    assert volcano(res, ax=ax2, kind="binary") is fig2
    assert sum(_n_points(ax2).values()) == int(ok["n_cases"].notna().sum())
    with pytest.raises(CardiolatentError, match="kind='binary' or kind='continuous'"):
        volcano(res, ax=ax2)


def test_logistic_direction_axis_label_and_colours(inputs):
    res = association_scan(inputs["long"], inputs["main"], ["AF", "T2D", "MI"], "age,sex", min_cases=5,
                           direction="outcome")
    (ax,) = volcano(res).axes
    assert ax.get_xlabel() == "log odds ratio per SD of latent"
    assert ax.get_title(loc="left") == "Diseases"
    ok = _ok(res.table)
    counts = _n_points(ax)
    assert sum(counts.values()) == len(ok)
    assert counts[NOT_SIGNIFICANT] == int((~ok["significant_meff"]).sum())
    assert np.allclose(next(ln for ln in ax.lines if ln.get_gid() == "volcano-threshold:corrected").get_ydata(),
                       -math.log10(res.summary.threshold_meff))


def test_underflow_drawn_at_top_not_inf(inputs, tmp_path):
    res = association_scan(inputs["strong"], inputs["main"], ["lamax", "lvedv"], "age,sex")
    t = res.table
    assert (t["p"] == 0).any()  # the producer's P underflowed
    fig = volcano(res)
    (ax,) = fig.axes
    ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections
                         if (c.get_gid() or "").startswith("volcano-points:")])
    assert len(ys) == len(_ok(t)) and np.isfinite(ys).all()
    finite_top = -np.log10(t.loc[t["p"] > 0, "p"]).max()
    assert ys.max() > finite_top and ax.get_ylim()[1] > ys.max()
    assert UNDERFLOW in [x.get_text() for x in ax.get_legend().get_texts()]
    assert_figure_files(save_figure(fig, tmp_path / "underflow"))


def test_bonferroni_when_the_summary_has_no_meff(mixed):
    res, _ = mixed
    res = type(res)(res.table.copy(), res.excluded, type(res.summary)(**{**res.summary.to_dict(), "m_eff": None}))
    fig = volcano(res, kind="continuous")
    (ax,) = fig.axes
    n_tests = int(np.isfinite(res.table["p"].to_numpy(float)).sum())
    line = next(ln for ln in ax.lines if ln.get_gid() == "volcano-threshold:corrected")
    assert np.allclose(line.get_ydata(), -math.log10(0.05 / n_tests))
    ok = _ok(res.table)
    ok = ok[ok["n_cases"].isna()]
    assert _n_points(ax)[NOT_SIGNIFICANT] == int((~ok["significant_bonferroni"]).sum())
    assert "Bonferroni" in ax.get_legend().get_title().get_text()


def test_figures_family_and_files(mixed, tmp_path):
    res, path = mixed
    figs = volcano_figures(path)
    assert list(figs) == ["volcano"]
    assert len(figs["volcano"].axes) == 2
    assert list(volcano_figures(res)) == ["volcano"]
    assert_figure_files(save_figure(figs["volcano"], tmp_path / "x"))


def test_nothing_tested_is_a_one_line_error(inputs, tmp_path):
    res = association_scan(inputs["long"], inputs["main"], ["AF", "MI"], "age,sex", min_cases=10 ** 6)
    out = tmp_path / "dis.tsv"
    res.save(out)
    with pytest.raises(CardiolatentError, match=r"no trait was tested \(AF: \d+ cases") as exc:
        volcano_figures(out)
    assert "\n" not in str(exc.value)


def test_wrong_result_and_missing_column_are_one_line_errors(inputs, mixed, tmp_path):
    icc = icc_between_seeds(inputs["long"][inputs["long"]["seed"].isin([1701, 42])].drop(columns="Z10"))
    path = tmp_path / "icc.tsv"
    icc.save(path)
    with pytest.raises(CardiolatentError, match="icc.tsv: a volcano plot is drawn from AssocResult") as exc:
        volcano(path)
    assert "\n" not in str(exc.value)
    res, _ = mixed
    bad = type(res)(res.table.drop(columns="p"), res.excluded, res.summary)
    with pytest.raises(CardiolatentError, match="no column p") as exc:
        volcano(bad)
    assert "\n" not in str(exc.value)
    with pytest.raises(CardiolatentError, match="kind must be"):
        volcano(res, kind="both")
