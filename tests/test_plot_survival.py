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
    log_ticks,
    numbers_at_risk,
    survival_curves,
    survival_figures,
    tertile_forest,
    tertile_forest_rows,
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


@pytest.fixture(scope="module")
def cox_mi_failed(cox, tmp_path_factory):
    """(path, result): the same result with every MI model failed (status "separation", as a fit of
    an outcome with one or two events reports), saved as the command saves it. The built-in cohort's
    number of MI events is not something these tests should depend on."""
    _, res = cox
    table = res.table.copy()
    table.loc[table["outcome"] == "MI", "status"] = "separation"
    groups = {k: v.copy() for k, v in res.groups.items()}
    hr = groups["hazard_ratios"]
    hr.loc[hr["outcome"] == "MI", "status"] = "separation"
    failed = dataclasses.replace(res, table=table, groups=groups)
    out = tmp_path_factory.mktemp("cox_mi_failed") / "cox.tsv"
    failed.save(out)
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


def test_forest_leaves_out_rows_not_ok_and_says_how_many(cox_mi_failed):
    _, res = cox_mi_failed
    t = res.table
    # MI has no model with status ok: its panel is a title and the note
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


def test_forest_into_a_given_axes_and_bad_inputs(cox, cox_mi_failed):
    path, res = cox
    fig, ax = plt.subplots()
    assert forest(res, outcome="AF", latents=["S1701_Z5", "S1701_Z4"], ax=ax, sort="latent") is fig
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["S1701_Z4", "S1701_Z5"]
    with pytest.raises(CardiolatentError, match="ax= draws one outcome"):
        forest(res, ax=ax)
    failed_path, _ = cox_mi_failed
    with pytest.raises(CardiolatentError, match="nothing to draw in a forest plot") as e:
        forest(failed_path, outcome="MI")
    assert "\n" not in str(e.value) and str(failed_path) in str(e.value)
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


def test_by_sex_two_panels_nelson_aalen_and_options(cox, cox_mi_failed, tmp_path):
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

    fig = survival_curves(cox_mi_failed[1], outcome="MI", kind="nelson_aalen", at_risk=False)
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


# ------------------------------------------------------------------------------------------ tertile forest

@pytest.fixture(scope="module")
def cox4(tmp_path_factory):
    """(path, result): `cardiolatent cox --quantiles 4` (quartiles Q1-Q4 of S1701_Z3, one latent), AF and MI."""
    from cardiolatent.cli import main

    out = tmp_path_factory.mktemp("cox4") / "cox.tsv"
    rc = main(["cox", "--outcomes", "AF,MI", "--groups", "S1701_Z3", "--quantiles", "4",
               "--latent-columns", "S1701_Z3", "--out", str(out), "--quiet"])
    assert rc in (0, None)
    return out, Result.load(out)


def _hr_rows(res, outcome, reference):
    h = res.groups["hazard_ratios"]
    return h[(h["outcome"] == outcome) & (h["reference"] == reference)].set_index("group")


def _row_y(ax):
    """tick label -> list of y (a label such as 'low' repeats once per outcome)."""
    out = {}
    for y, tl in zip(ax.get_yticks(), ax.get_yticklabels()):
        out.setdefault(tl.get_text(), []).append(y)
    return out


def test_tertile_forest_middle_reference_points_cis_and_texts(cox_mi_failed, tmp_path):
    path, res = cox_mi_failed
    fig = tertile_forest(path)                              # from the saved files; reference = middle = T2
    (ax,) = fig.axes
    af = _hr_rows(res, "AF", "T2")
    assert set(af.index) == {"T1", "T3"} and (af["status"] == "ok").all()
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["AF", "low", "middle", "high",
                                                               "MI", "low", "middle", "high"]
    ys = _row_y(ax)
    (pts,) = _by_gid(ax, "hr:AF")
    np.testing.assert_allclose(pts.get_xdata(), af.loc[["T1", "T3"], "hr"])   # low, high vs middle
    np.testing.assert_allclose(pts.get_ydata(), [ys["low"][0], ys["high"][0]])
    (ci,) = _by_gid(ax, "ci:AF")
    assert isinstance(ci, LineCollection)
    seg = np.array(ci.get_segments())
    np.testing.assert_allclose(seg[:, 0, 0], af.loc[["T1", "T3"], "ci_low"])
    np.testing.assert_allclose(seg[:, 1, 0], af.loc[["T1", "T3"], "ci_high"])
    np.testing.assert_allclose(seg[:, :, 1], np.c_[pts.get_ydata(), pts.get_ydata()])
    assert to_hex(pts.get_color()) == OKABE_ITO["blue"].lower()   # the forest's AF colour
    # the reference rows: an open square at HR 1 on the "middle" row of each outcome
    for o, colour in (("AF", "blue"), ("MI", "orange")):
        (ref_pt,) = _by_gid(ax, f"reference_point:{o}")
        assert list(ref_pt.get_xdata()) == [1.0]
        assert ref_pt.get_ydata()[0] == ys["middle"][["AF", "MI"].index(o)]
        assert to_hex(ref_pt.get_markeredgecolor()) == OKABE_ITO[colour].lower()
        assert to_hex(ref_pt.get_markerfacecolor()) == "#ffffff"
    (dash,) = _by_gid(ax, "reference")
    assert list(dash.get_xdata()) == [1.0, 1.0] and dash.get_linestyle() == "--"
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_xlim()
    assert lo < af["ci_low"].min() and hi > af["ci_high"].max()
    assert "hazard ratio vs middle tertile" in ax.get_xlabel()
    assert _texts(ax, "header") == ["HR (95% CI)", "P", "events/n"]
    assert _texts(ax, "hr_text") == [format_hr(*af.loc[g, ["hr", "ci_low", "ci_high"]]) for g in ("T1", "T3")]
    assert _texts(ax, "p_text") == [format_p(af.loc[g, "p"]) for g in ("T1", "T3")]
    assert _texts(ax, "reference_text") == ["reference", "reference"]
    # events/n per row: the group's, the reference row's from n_events_ref / n_ref
    mi = _hr_rows(res, "MI", "T2")
    want = []
    for h in (af, mi):
        want += [f"{h.loc['T1', 'n_events']}/{h.loc['T1', 'n']}", f"{h['n_events_ref'].iloc[0]}/{h['n_ref'].iloc[0]}",
                 f"{h.loc['T3', 'n_events']}/{h.loc['T3', 'n']}"]
    assert _texts(ax, "n_text") == want
    # MI: the models against T2 are not ok -> listed as "not estimable (status)", no point drawn
    assert (mi["status"] != "ok").all()
    assert not _by_gid(ax, "hr:MI") and not _by_gid(ax, "ci:MI")
    assert _texts(ax, "not_estimable") == [f"not estimable ({mi.loc[g, 'status']})" for g in ("T1", "T3")]
    ne_y = [t.get_position()[1] for t in ax.texts if t.get_gid() == "not_estimable"]
    assert ne_y == [ys["low"][1], ys["high"][1]]
    assert fig.get_figwidth() * 25.4 == pytest.approx(89.0)
    assert_figure_files(save_figure(fig, tmp_path / "tertile_forest", close=True))


def test_tertile_forest_other_reference_one_outcome_and_a_failed_row(cox):
    _, res = cox
    fig = tertile_forest(res, outcome="AF", reference="T1")
    (ax,) = fig.axes
    t1 = _hr_rows(res, "AF", "T1")
    (pts,) = _by_gid(ax, "hr:AF")
    np.testing.assert_allclose(pts.get_xdata(), t1.loc[["T2", "T3"], "hr"])
    seg = np.array(_by_gid(ax, "ci:AF")[0].get_segments())
    np.testing.assert_allclose(seg[:, 0, 0], t1.loc[["T2", "T3"], "ci_low"])
    ys = _row_y(ax)
    assert _by_gid(ax, "reference_point:AF")[0].get_ydata()[0] == ys["low"][0]
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["AF", "low", "middle", "high"]
    assert "vs low tertile" in ax.get_xlabel()
    assert _texts(ax, "p_text") == [format_p(t1.loc[g, "p"]) for g in ("T2", "T3")]
    rows = tertile_forest_rows(res, outcome="AF", reference="low")
    assert list(rows["kind"]) == ["reference", "ok", "ok"] and list(rows["group"]) == ["T1", "T2", "T3"]
    # one AF row not ok: text instead of a point (long statuses wrap onto two lines)
    h = res.groups["hazard_ratios"].copy()
    h.loc[(h["outcome"] == "AF") & (h["reference"] == "T2") & (h["group"] == "T3"), "status"] = "covariate_separation"
    bad = dataclasses.replace(res, groups={**res.groups, "hazard_ratios": h})
    fig = tertile_forest(bad, outcome="AF")
    (ax,) = fig.axes
    (pts,) = _by_gid(ax, "hr:AF")
    assert len(pts.get_xdata()) == 1
    assert [s.replace("\n", " ") for s in _texts(ax, "not_estimable")] == ["not estimable (covariate_separation)"]
    plt.close("all")


def test_tertile_forest_into_a_given_axes(cox):
    _, res = cox
    fig, ax = plt.subplots()
    assert tertile_forest(res, ax=ax) is fig
    assert len(_by_gid(ax, "reference_point:AF")) == 1 and ax.get_xscale() == "log"
    assert "Tertiles of S1701_Z3" in ax.get_title(loc="left")
    plt.close("all")


def test_tertile_forest_even_groups_and_bad_inputs(cox, cox4):
    path4, res4 = cox4
    with pytest.raises(CardiolatentError, match="reference='middle' needs an odd number of groups") as e:
        tertile_forest(path4)
    assert "\n" not in str(e.value) and "hazard_ratios" in str(e.value) and "Q1, Q2, Q3, Q4" in str(e.value)
    fig = tertile_forest(res4, reference="Q2", outcome="AF")   # explicit: fine, labels stay Q1..Q4
    (ax,) = fig.axes
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["AF", "Q1", "Q2", "Q3", "Q4"]
    q2 = _hr_rows(res4, "AF", "Q2")
    ok = [g for g in ("Q1", "Q3", "Q4") if q2.loc[g, "status"] == "ok"]
    np.testing.assert_allclose(_by_gid(ax, "hr:AF")[0].get_xdata(), q2.loc[ok, "hr"])
    assert len(_texts(ax, "not_estimable")) == 3 - len(ok)
    assert "vs Q2 (log scale)" in ax.get_xlabel()
    _, res = cox
    with pytest.raises(CardiolatentError, match="reference 'T9' is not a group"):
        tertile_forest(res, reference="T9")
    with pytest.raises(CardiolatentError, match="outcome 'HF' is not in"):
        tertile_forest(res, outcome="HF")
    h = res.groups["hazard_ratios"].drop(columns="n_ref")
    with pytest.raises(CardiolatentError, match="column 'n_ref' missing"):
        tertile_forest(dataclasses.replace(res, groups={**res.groups, "hazard_ratios": h}))
    plain = dataclasses.replace(res, groups={}, summary=dataclasses.replace(res.summary, groups=None))
    with pytest.raises(CardiolatentError, match="cox --groups LATENT"):
        tertile_forest(plain)
    plt.close("all")


def test_log_ticks_give_at_least_three_ticks_on_a_wide_range():
    assert log_ticks(0.18, 48) == pytest.approx([0.3, 1, 3, 10, 30])
    assert log_ticks(0.05, 15) == pytest.approx([0.1, 1, 10])


def test_log_ticks_label_both_sides_of_one_on_a_narrow_range():
    # 1-9 per decade gave 0.6, 0.7, 0.8, 0.9, 1 here: nothing above 1, and "0.9" ran into "1"
    assert log_ticks(0.58, 1.7) == pytest.approx([0.7, 1, 1.5])
    t = log_ticks(0.9, 1.15)
    assert 1.0 in t and min(t) < 1 < max(t) and 3 <= len(t) <= 6
    for lo, hi in [(0.3, 0.9), (1.05, 1.6), (0.75, 1.4), (0.2, 30), (1e-3, 1e3)]:
        t = log_ticks(lo, hi)
        assert 2 <= len(t) <= 6 and all(lo <= x <= hi for x in t), (lo, hi, t)


# ------------------------------------------------------------------------------------------ family

def test_survival_figures_with_and_without_groups(cox):
    path, res = cox
    figs = survival_figures(path)
    assert set(figs) == {"forest", "tertile_forest"} | {f"{k}_{o}" for k in ("km", "km_sex", "na")
                                                         for o in ("AF", "MI")}
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
