"""Survival figures (forest plot, tertile Kaplan-Meier / Nelson-Aalen curves) through their matplotlib
objects, from a Cox result made by the real command on the built-in cohort (about 5 s, once)."""

import dataclasses
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.plotting import add_at_risk_counts
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from _plot_helpers import assert_figure_files
from cardiolatent.errors import CardiolatentError
from cardiolatent.plotting.style import OKABE_ITO, save_figure
from cardiolatent.plotting.survival import (
    format_hr,
    format_p,
    forest,
    numbers_at_risk,
    survival_curves,
    survival_figures,
    year_ticks,
)
from cardiolatent.results import Result

TERTILE_COLOURS = {"T1": OKABE_ITO["blue"].lower(), "T2": OKABE_ITO["orange"].lower(),
                   "T3": OKABE_ITO["bluish_green"].lower()}


@pytest.fixture(scope="module")
def cox(tmp_path_factory):
    """(path, result): `cardiolatent cox` on the built-in cohort, 128 latents, AF and MI, tertiles of S1701_Z3."""
    from cardiolatent.cli import main

    out = tmp_path_factory.mktemp("cox") / "cox.tsv"
    rc = main(["cox", "--outcomes", "AF,MI", "--groups", "S1701_Z3", "--latent-columns", "S1701_Z.*",
               "--out", str(out), "--quiet"])
    assert rc in (0, None)
    return out, Result.load(out)


def _by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _texts(ax, gid):
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


# ------------------------------------------------------------------------------------------ forest

def test_forest_rows_ci_ends_reference_line_and_text_columns(cox, tmp_path):
    path, res = cox
    fig = forest(path, outcome="AF", top=10)               # from the saved file
    (ax,) = fig.axes
    t = res.table
    want = (t[(t["outcome"] == "AF") & (t["status"] == "ok")].nsmallest(10, "p")
            .sort_values("hr", ascending=False).reset_index(drop=True))
    (pts,) = _by_gid(ax, "hr")
    np.testing.assert_allclose(pts.get_xdata(), want["hr"])
    y = np.asarray(pts.get_ydata(), float)
    assert list(y) == list(range(9, -1, -1))              # 10 rows, largest HR at the top
    (ci,) = _by_gid(ax, "ci")
    assert isinstance(ci, LineCollection)
    seg = np.array(ci.get_segments())
    np.testing.assert_allclose(seg[:, 0, 0], want["hr_ci_low"])
    np.testing.assert_allclose(seg[:, 1, 0], want["hr_ci_high"])
    np.testing.assert_allclose(seg[:, :, 1], np.c_[y, y])
    assert ax.get_xscale() == "log"
    (ref,) = _by_gid(ax, "reference")
    assert list(ref.get_xdata()) == [1.0, 1.0]
    lo, hi = ax.get_xlim()
    assert lo < want["hr_ci_low"].min() and hi > want["hr_ci_high"].max()
    assert [tl.get_text() for tl in ax.get_yticklabels()] == list(want["latent"])
    assert _texts(ax, "hr_text") == [format_hr(*r) for r in want[["hr", "hr_ci_low", "hr_ci_high"]].to_numpy()]
    assert _texts(ax, "p_text") == [format_p(p) for p in want["p"]]
    assert _texts(ax, "n_text") == [f"{e}/{n}" for e, n in zip(want["n_events"], want["n"])]
    assert _texts(ax, "header") == ["HR (95% CI)", "P", "events/n"]
    assert to_hex(pts.get_color()) == OKABE_ITO["blue"].lower()
    assert "hazard ratio" in ax.get_xlabel()
    assert_figure_files(save_figure(fig, tmp_path / "forest", close=True))


def test_format_helpers():
    assert format_p(0.06) == "0.060" and format_p(0.0024) == "0.0024" and format_p(3.2e-8) == "3.2e-08"
    assert format_hr(5.07, 1.78, 14.43) == "5.07 (1.78\u201314.43)"


def test_forest_leaves_out_rows_not_ok_and_says_how_many(cox):
    _, res = cox
    t = res.table
    # MI (one event) has no model with status ok: its panel is a title and the note
    fig = forest(res, latents="S1701_Z0,S1701_Z1,S1701_Z2", sort=None)
    mi = t[(t["outcome"] == "MI") & t["latent"].isin(["S1701_Z0", "S1701_Z1", "S1701_Z2"])]
    assert (mi["status"] != "ok").all()
    (ax,) = fig.axes                                       # only AF has a panel with rows
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["S1701_Z0", "S1701_Z1", "S1701_Z2"]
    notes = [x.get_text() for x in fig.texts if x.get_gid() == "note"]
    assert len(notes) == 1 and notes[0].startswith("3 of 3 MI model(s) not drawn")
    for status, n in mi["status"].value_counts().items():
        assert f"{n} {status}" in notes[0]
    # a partly failed outcome: the rows not ok are not drawn, the note counts them
    bad = t.copy()
    af = bad.index[bad["outcome"] == "AF"][:3]
    bad.loc[af, "status"] = "separation"
    fig = forest(dataclasses.replace(res, table=bad), outcome="AF", top=None)
    (ax,) = fig.axes
    (pts,) = _by_gid(ax, "hr")
    assert len(pts.get_xdata()) == int((t["outcome"] == "AF").sum()) - 3
    assert not set(bad.loc[af, "latent"]) & {tl.get_text() for tl in ax.get_yticklabels()}
    assert _texts(ax, "note") == [f"3 of {len(pts.get_xdata()) + 3} AF model(s) not drawn, status: 3 separation"]
    plt.close("all")


def test_forest_into_a_given_axes_and_bad_inputs(cox):
    path, res = cox
    fig, ax = plt.subplots()
    assert forest(res, outcome="AF", latents=["S1701_Z5", "S1701_Z4"], ax=ax, sort="latent") is fig
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["S1701_Z4", "S1701_Z5"]
    with pytest.raises(CardiolatentError, match="ax= draws one outcome"):
        forest(res, ax=ax)
    with pytest.raises(CardiolatentError, match="nothing to draw in a forest plot") as e:
        forest(path, outcome="MI")
    assert "\n" not in str(e.value) and str(path) in str(e.value)
    with pytest.raises(CardiolatentError, match="outcome 'HF' is not in"):
        forest(res, outcome="HF")
    with pytest.raises(CardiolatentError, match="latent 'S9_Z0' is not in"):
        forest(res, latents="S9_Z0")
    with pytest.raises(CardiolatentError, match="column 'hr_ci_low' missing"):
        forest(dataclasses.replace(res, table=res.table.drop(columns="hr_ci_low")))
    with pytest.raises(CardiolatentError, match="sort must be"):
        forest(res, sort="size")
    plt.close("all")


# ------------------------------------------------------------------------------------------ curves

def _curve_lines(ax):
    return {ln.get_gid().split(":", 1)[1]: ln for ln in ax.lines if (ln.get_gid() or "").startswith("curve:")}


def _table(res, kind, outcome, by):
    k = res.groups[kind]
    return k[(k["outcome"] == outcome) & (k["by"] == by)]


def _durations(curve: pd.DataFrame):
    """Follow-up times and event indicators implied by one group's step table (events and censorings
    at each listed time)."""
    t = np.repeat(curve["time"].to_numpy(float), curve["events"] + curve["censored"])
    e = np.concatenate([np.r_[np.ones(d), np.zeros(c)] for d, c in zip(curve["events"], curve["censored"])])
    return t, e


def _at_risk_shown(ax):
    out = {}
    for x in ax.texts:
        gid = x.get_gid() or ""
        if gid.startswith("at_risk:"):
            out.setdefault(gid.split(":", 1)[1], []).append((x.get_position()[0], int(x.get_text().replace(",", ""))))
    return out


def _lifelines_at_risk(fitters, ticks):
    """The numbers lifelines' add_at_risk_counts writes under a plot, one list per fitter."""
    fig, ax = plt.subplots()
    for f in fitters:
        f.plot_survival_function(ax=ax)
    add_at_risk_counts(*fitters, ax=ax, fig=fig, xticks=list(ticks), rows_to_show=["At risk"])
    ax2 = [a for a in fig.axes if a is not ax][0]
    cols = []
    for lab in ax2.get_xticklabels():
        cols.append([int(m.group(1)) for line in lab.get_text().split("\n")
                     if (m := re.search(r"(\d+)\s*$", line))])
    plt.close(fig)
    return np.array(cols).T  # fitter x tick


def test_kaplan_meier_steps_bands_legend_and_colours(cox, tmp_path):
    path, res = cox
    fig = survival_curves(path, outcome="AF")
    (ax,) = fig.axes
    km = _table(res, "kaplan_meier", "AF", "all")
    lines = _curve_lines(ax)
    assert list(lines) == ["T1", "T2", "T3"]
    for g, ln in lines.items():
        c = km[km["group"] == g]
        np.testing.assert_allclose(ln.get_xdata(), c["time"])
        np.testing.assert_allclose(ln.get_ydata(), 100 * (1 - c["survival"]))
        assert ln.get_drawstyle() == "steps-post"
        assert to_hex(ln.get_color()) == TERTILE_COLOURS[g]
        (band,) = _by_gid(ax, f"band:{g}")
        assert isinstance(band, PolyCollection) and band.get_alpha() < 0.3
        verts = band.get_paths()[0].vertices
        assert np.isclose(verts[:, 1].max(), 100 * (1 - c["ci_low"]).max())
    assert "%" in ax.get_ylabel() and "1 \u2212 Kaplan-Meier survival" in ax.get_ylabel()
    assert ax.get_xlabel() == "years since imaging visit"
    hr = res.groups["hazard_ratios"]
    hr = hr[(hr["outcome"] == "AF") & (hr["reference"] == "T1")].set_index("group")
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert legend == ["T1 (reference)"] + [f"{g}: HR {format_hr(*hr.loc[g, ['hr', 'ci_low', 'ci_high']])}"
                                           for g in ("T2", "T3")]
    assert "HR vs T1" in ax.get_legend().get_title().get_text()
    assert fig.get_figwidth() * 25.4 == pytest.approx(89.0)
    assert_figure_files(save_figure(fig, tmp_path / "km", close=True))


def test_numbers_at_risk_equal_the_table_and_lifelines(cox):
    _, res = cox
    fig = survival_curves(res, outcome="AF")
    (ax,) = fig.axes
    km = _table(res, "kaplan_meier", "AF", "all")
    ticks = year_ticks(km["time"].max())
    assert list(ax.get_xticks()) == list(ticks) and list(ticks[:3]) == [0, 2, 4]
    shown = _at_risk_shown(ax)
    assert list(shown) == ["T1", "T2", "T3"]
    fitters = []
    for g, rows in shown.items():
        c = km[km["group"] == g]
        assert [x for x, _ in rows] == list(ticks)
        counts = np.array([n for _, n in rows])
        # independently: the follow-up times the table implies, those still followed after each tick
        t, e = _durations(c)
        assert len(t) == c["at_risk"].iloc[0]
        np.testing.assert_array_equal(counts, [(t > x).sum() for x in ticks])
        f = KaplanMeierFitter(label=g).fit(t, e)
        np.testing.assert_allclose(f.survival_function_.iloc[:, 0].to_numpy(), c["survival"])  # same data
        fitters.append(f)
        # ticks that fall exactly on event / censoring times: the tie convention
        exact = c["time"].to_numpy()[[1, 5, len(c) // 2, -1]]
        np.testing.assert_array_equal(numbers_at_risk(c, exact), _lifelines_at_risk([f], exact)[0])
    np.testing.assert_array_equal(np.array([[n for _, n in r] for r in shown.values()]),
                                  _lifelines_at_risk(fitters, ticks))
    assert [x.get_text() for x in ax.texts if x.get_gid() == "at_risk_label"] == ["T1", "T2", "T3"]
    plt.close("all")


def test_by_sex_two_panels_nelson_aalen_and_options(cox, tmp_path):
    _, res = cox
    fig = survival_curves(res, outcome="AF", by="sex")
    axes = [a for a in fig.axes if _curve_lines(a)]
    assert len(axes) == 2 and fig.get_figwidth() * 25.4 == pytest.approx(183.0)
    for ax, sex in zip(axes, ["female", "male"]):
        assert ax.get_title(loc="left").startswith(sex)
        km = _table(res, "kaplan_meier", "AF", sex)
        for g, ln in _curve_lines(ax).items():
            c = km[km["group"] == g]
            np.testing.assert_allclose(ln.get_ydata(), 100 * (1 - c["survival"]))
            assert [n for _, n in _at_risk_shown(ax)[g]] == list(numbers_at_risk(c, ax.get_xticks()))
    assert axes[0].get_ylim() == axes[1].get_ylim()
    assert [x.get_text() for x in axes[1].texts if x.get_gid() == "at_risk_label"] == []
    assert_figure_files(save_figure(fig, tmp_path / "km_sex", close=True))

    fig = survival_curves(res, outcome="MI", kind="nelson_aalen", at_risk=False)
    (ax,) = fig.axes
    na = _table(res, "nelson_aalen", "MI", "all")
    for g, ln in _curve_lines(ax).items():
        np.testing.assert_allclose(ln.get_ydata(), na.loc[na["group"] == g, "cumulative_hazard"])
    assert "cumulative hazard" in ax.get_ylabel()
    assert not _at_risk_shown(ax)
    assert any("not estimable" in x.get_text() for x in ax.get_legend().get_texts())  # MI: separation
    plt.close("all")

    fig, ax = plt.subplots()
    with pytest.raises(CardiolatentError, match="pass ax= with 2 axes"):
        survival_curves(res, by="sex", ax=ax)
    with pytest.raises(CardiolatentError, match="kind must be one of"):
        survival_curves(res, kind="weibull")
    with pytest.raises(CardiolatentError, match="by must be"):
        survival_curves(res, by="age")
    plt.close("all")


# ------------------------------------------------------------------------------------------ family

def test_survival_figures_with_and_without_groups(cox):
    path, res = cox
    figs = survival_figures(path)
    assert set(figs) == {"forest"} | {f"{k}_{o}" for k in ("km", "km_sex", "na") for o in ("AF", "MI")}
    assert all(isinstance(f, Figure) for f in figs.values())
    for f in figs.values():
        plt.close(f)
    plain = dataclasses.replace(res, groups={}, summary=dataclasses.replace(res.summary, groups=None))
    figs = survival_figures(plain)
    assert list(figs) == ["forest", "curves"] and isinstance(figs["forest"], Figure)
    assert "cox --groups LATENT" in figs["curves"]                  # the reason, listed as skipped
    with pytest.raises(CardiolatentError, match="cox --groups LATENT"):
        survival_curves(plain)
    nothing = dataclasses.replace(plain, table=res.table.assign(status="separation"))
    with pytest.raises(CardiolatentError, match="forest: .*nothing to draw.*curves: .*--groups"):
        survival_figures(nothing)
    plt.close("all")
