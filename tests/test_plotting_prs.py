"""Polygenic-score figures (Fig. 7) from a PrsResult whose tables are made by the real statistics on
simulated data (a score planted to raise the hazard), checked through the matplotlib objects."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import BarContainer, ErrorbarContainer

from _plot_helpers import assert_figure_files
from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.prs_eval import multi_score_auc, prevalence_by_percentile
from cardiolatent.genetics.prs_result import AUC_MODELS, PrsResult, PrsSummary
from cardiolatent.plotting import save_figure
from cardiolatent.plotting.prs import (PREVALENCE_GROUPS, best_score, prs_auc, prs_cumulative_hazard, prs_figures,
                                       prs_forest, prs_prevalence, prs_tertile_forest)
from cardiolatent.plotting.survival import format_p
from cardiolatent.results import Result, empty_excluded
from cardiolatent.stats.cox import cox_scan
from cardiolatent.stats.survival import group_hazard_ratios, nelson_aalen, quantile_groups

FIGS = Path("/tmp/prs_figs")
N = 3000
THRESHOLDS = (5e-08, 1e-05)
PRIMARY = 1e-05
LATENTS = ("Z0", "Z1", "Z2")
#: planted log hazard ratio per SD of each latent's genetic score, per outcome
PLANTED = {"AF": {"Z1": 0.5}, "HF": {"Z2": 0.4}}
COVS = ["age", "sex"]


def _name(latent, thr):
    return f"{latent}_p{thr:g}"


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(18)
    eid = np.arange(1_000_001, 1_000_001 + N)
    sex = rng.integers(0, 2, N).astype(float)
    age = rng.normal(63.0, 7.0, N)
    C = np.column_stack([age, sex])
    base = rng.standard_normal((N, len(LATENTS)))            # the true genetic component of each latent
    scores = {}
    for j, lat in enumerate(LATENTS):                          # stricter threshold: noisier score
        scores[_name(lat, 5e-08)] = 0.6 * base[:, j] + 0.8 * rng.standard_normal(N)
        scores[_name(lat, 1e-05)] = 0.9 * base[:, j] + 0.44 * rng.standard_normal(N)
    S = pd.DataFrame(scores)
    names = list(S.columns)
    evaluated = [_name(lat, PRIMARY) for lat in LATENTS]
    sexlab = np.where(sex == 1, "male", "female")
    cox, tert, curves, prev, auc, l1, outcomes = [], [], [], [], [], [], {}
    for o, eff in PLANTED.items():
        lp = 0.3 * sex + 0.03 * (age - 63) + sum(b * base[:, LATENTS.index(lat)] for lat, b in eff.items())
        T = rng.exponential(1.0 / (0.025 * np.exp(lp)))
        cens = np.minimum(rng.uniform(6.0, 14.0, N), 10.0)    # 10 years' follow-up at most
        time, event = np.minimum(T, cens), (T <= cens).astype(float)
        prevalent = rng.random(N) < 0.03 * np.exp(lp - lp.mean())
        time = np.where(prevalent, np.nan, time)              # prevalent cases: not in the Cox models
        event = np.where(prevalent, np.nan, event)
        case = np.where(prevalent, 1.0, event)
        ok = ~prevalent
        c = cox_scan(time[ok], event[ok], S.to_numpy()[ok], C[ok], z_names=names, c_names=COVS)
        c = c.rename(columns={"latent": "score"})
        c.insert(1, "outcome", o)
        c["source_latent"] = [s.split("_")[0] for s in c["score"]]
        c["p_threshold"] = [float(s.split("_p")[1]) for s in c["score"]]
        c["n_variants"] = [40 if t == PRIMARY else 6 for t in c["p_threshold"]]
        cox.append(c)
        for s in evaluated:
            g = quantile_groups(S[s].to_numpy()[ok])
            h = group_hazard_ratios(time[ok], event[ok], g, C[ok], c_names=COVS)
            tert.append(h.assign(score=s, outcome=o))
            na_all = nelson_aalen(time[ok], event[ok], g).assign(by="all")
            na_sex = nelson_aalen(time[ok], event[ok], g, by=sexlab[ok])
            curves.append(pd.concat([na_all, na_sex], ignore_index=True).assign(score=s, outcome=o))
            prev.append(prevalence_by_percentile(S[s], case, sex).assign(score=s, outcome=o))
        ce = c[c["score"].isin(evaluated)]
        best = str(ce.loc[ce["p"].idxmin(), "score"])
        one = multi_score_auc(case, S[best], C, score_names=[best], covariate_names=COVS, Cs=4, inner_folds=3)
        every = multi_score_auc(case, S[evaluated], C, score_names=evaluated, covariate_names=COVS, Cs=4,
                                inner_folds=3)
        rows = [every.table.iloc[0].to_dict() | {"model": AUC_MODELS[0], "score": ""},
                one.table.iloc[1].to_dict() | {"model": AUC_MODELS[1], "score": best,
                                               "delong_diff": one.delong["diff"], "delong_p": one.delong["p"]},
                every.table.iloc[1].to_dict() | {"model": AUC_MODELS[2], "score": "",
                                                 "delong_diff": every.delong["diff"], "delong_p": every.delong["p"]}]
        auc.append(pd.DataFrame(rows).assign(outcome=o))
        l1.append(every.coefficients.assign(outcome=o))
        outcomes[o] = {"n_used": int(ok.sum()), "n_events": int(np.nansum(event)), "cases": int(case.sum())}

    def front(df, cols):
        return df[cols + [c for c in df.columns if c not in cols]].reset_index(drop=True)

    table = front(pd.concat(cox), ["score", "outcome"])
    res = PrsResult(
        table=table, excluded=empty_excluded(),
        summary=PrsSummary(discovery="simulated GWAS", target={"n": N}, scorer="cardiolatent",
                           thresholds=list(THRESHOLDS), primary_threshold=PRIMARY, latents=list(LATENTS),
                           evaluated=evaluated, outcomes=outcomes, covariates=COVS, n_target=N),
        tertiles=front(pd.concat(tert), ["score", "outcome"]),
        cumulative_hazard=front(pd.concat(curves), ["score", "outcome", "by"]),
        prevalence=front(pd.concat(prev), ["score", "outcome"]),
        auc=pd.concat(auc)[["outcome", "model", "score", "n", "cases", "auc", "se", "ci_low", "ci_high",
                            "delong_diff", "delong_p"]].reset_index(drop=True),
        l1_coefficients=front(pd.concat(l1), ["outcome", "term"]),
        weights=pd.DataFrame({"score": names, "id": "rs1", "effect_allele": "A", "weight": 0.1}),
        score_list=pd.DataFrame({"score": names, "latent": [s.split("_")[0] for s in names],
                                 "p_threshold": [float(s.split("_p")[1]) for s in names]}),
        scores=pd.concat([pd.DataFrame({"eid": eid, "instance": 2}), S], axis=1))
    return res


@pytest.fixture(scope="module")
def saved(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("prs") / "prs"
    sim.save(out)
    return out


def _gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _save(fig, name):
    paths = save_figure(fig, FIGS / name)
    assert_figure_files(paths)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ default score

def test_best_score_is_the_planted_one_and_has_the_smallest_p(sim):
    for o, eff in PLANTED.items():
        (lat,) = eff
        b = best_score(sim, o)
        assert b == _name(lat, PRIMARY)
        t = sim.table[(sim.table["outcome"] == o) & sim.table["score"].isin(sim.summary.evaluated)]
        assert t.loc[t["p"].idxmin(), "score"] == b
    assert best_score(sim, "af") == _name("Z1", PRIMARY)          # outcome names: case-insensitive


# ------------------------------------------------------------------------------------------ prevalence

def test_prevalence_bars_errorbars_and_overall_line_equal_the_table(sim, saved):
    fig = prs_prevalence(saved, outcome="AF")                       # from the saved folder
    score = _name("Z1", PRIMARY)
    assert len(fig.axes) == 3
    t = sim.prevalence[(sim.prevalence["score"] == score) & (sim.prevalence["outcome"] == "AF")]
    for ax, by in zip(fig.axes, ("all", "female", "male")):
        d = t[t["by"] == by].set_index("group")
        want = d.loc[list(PREVALENCE_GROUPS)]
        (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
        np.testing.assert_allclose([b.get_height() for b in bars], 100 * want["prevalence"], rtol=1e-12)
        (err,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        seg = np.array(err.lines[2][0].get_segments())             # (data line, caps, (vertical bars,))
        np.testing.assert_allclose(seg[:, 0, 1], 100 * want["ci_low"], rtol=1e-12)
        np.testing.assert_allclose(seg[:, 1, 1], 100 * want["ci_high"], rtol=1e-12)
        (line,) = _gid(ax, "overall")
        assert line.get_linestyle() == "--"
        ov = 100 * d.loc["all participants", "prevalence"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"overall {ov:.0f}%" if ov >= 10 else
                                                                        f"overall {ov:.1f}%"]
        np.testing.assert_allclose(line.get_ydata(), 100 * d.loc["all participants", "prevalence"])
        assert [tl.get_text() for tl in ax.get_xticklabels()] == ["5%", "10%", "20%", "20%", "10%", "5%"]
        head = ax.get_title(loc="left")
        assert head.startswith("all participants" if by == "all" else by)
        assert f"{int(d.loc['all participants', 'cases']):,} cases" in head
        h = want["prevalence"].to_numpy()
        assert h[-1] > h[0]                                         # top 5% more cases than bottom 5%
    assert fig.axes[0].get_ylabel() == "AF prevalence (%)"
    assert score in fig.get_suptitle() and "AF" in fig.get_suptitle()
    _save(fig, "prs_prevalence_AF")


def test_prevalence_one_stratum_and_given_axes(sim):
    fig = prs_prevalence(sim, outcome="HF", by="male")
    assert len(fig.axes) == 1 and fig.axes[0].get_title(loc="left").startswith("male")
    _save(fig, "prs_prevalence_HF_male")
    f2, axes = plt.subplots(1, 2)
    assert prs_prevalence(sim, outcome="HF", by=["female", "male"], ax=axes) is f2
    with pytest.raises(CardiolatentError, match="pass ax= with 3 axes"):
        prs_prevalence(sim, outcome="HF", ax=axes)
    plt.close("all")


# ------------------------------------------------------------------------------------------ cumulative hazard

def test_cumulative_hazard_curves_equal_the_table_and_top_tertile_ends_highest(sim, saved):
    score = _name("Z1", PRIMARY)
    fig = prs_cumulative_hazard(saved, outcome="AF")
    (ax,) = fig.axes
    ch = sim.cumulative_hazard
    d = ch[(ch["score"] == score) & (ch["outcome"] == "AF") & (ch["by"] == "all")]
    ends = {}
    for g in ("T1", "T2", "T3"):
        (curve,) = _gid(ax, f"curve:{g}")
        want = d[d["group"] == g].sort_values("time")
        np.testing.assert_allclose(curve.get_xdata(), want["time"], rtol=1e-12)
        np.testing.assert_allclose(curve.get_ydata(), want["cumulative_hazard"], rtol=1e-12)
        (band,) = _gid(ax, f"band:{g}")
        assert isinstance(band, PolyCollection)
        ends[g] = curve.get_ydata()[-1]
    assert ends["T3"] > ends["T2"] > ends["T1"]                   # planted HR > 1 per SD
    # legend: low / middle / top, the HR of each against the low tertile from tertiles.tsv
    tt = sim.tertiles
    top = tt[(tt["score"] == score) & (tt["outcome"] == "AF") & (tt["reference"] == "T1") & (tt["group"] == "T3")]
    assert ax.get_legend().get_title().get_text() == "HR vs low tertile (T1), adjusted for age, sex"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "low (T1, reference)" and labels[1].startswith("middle (T2): HR ")
    assert [t.get_text() for t in ax.texts if t.get_gid() == "at_risk_label"] == ["low", "middle", "top"]
    assert labels[2].startswith("top (T3): HR ") and f"{float(top['hr'].iloc[0]):.2f} (" in labels[2]
    assert float(top["hr"].iloc[0]) > 1.5
    # y axis in %: the tick labels are 100 x the tick values
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    fmt = ax.yaxis.get_major_formatter()
    assert [fmt(t, i) for i, t in enumerate(ticks)] == [f"{100 * t:g}" for t in ticks]
    assert ax.get_ylabel().startswith("AF cumulative hazard (%)")
    assert "AF" in fig.get_suptitle() and score in fig.get_suptitle()
    assert ax.get_xlabel() == "years since imaging visit"
    _save(fig, "prs_cumulative_hazard_AF")


def test_cumulative_hazard_by_sex_and_of_another_score(sim):
    fig = prs_cumulative_hazard(sim, outcome="HF", by="sex")
    assert [a.get_title(loc="left").split(" ")[0] for a in fig.axes] == ["female", "male"]
    assert _name("Z2", PRIMARY) in fig.get_suptitle()
    _save(fig, "prs_cumulative_hazard_sex_HF")
    fig = prs_cumulative_hazard(sim, score="z0_P1E-05", outcome="AF")      # names: case-insensitive
    assert _name("Z0", PRIMARY) in fig.get_suptitle()
    plt.close(fig)


def test_tertile_forest_of_the_score(sim):
    fig = prs_tertile_forest(sim, outcome="AF")
    (ax,) = fig.axes
    tt = sim.tertiles
    want = tt[(tt["score"] == _name("Z1", PRIMARY)) & (tt["outcome"] == "AF") & (tt["reference"] == "T2")]
    (pts,) = _gid(ax, "hr:AF")
    np.testing.assert_allclose(sorted(pts.get_xdata()), sorted(want["hr"]))
    assert _name("Z1", PRIMARY) in [t.get_text() for t in fig.texts if t.get_gid() == "title"][0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["AF", "low", "middle", "top"]
    fig.canvas.draw()                                               # still "top" once the ticks are redrawn
    assert [t.get_text() for t in ax.get_yticklabels()] == ["AF", "low", "middle", "top"]
    assert ax.get_yticklabels()[0].get_fontweight() == "bold"
    _save(fig, "prs_tertiles_AF")
    fig = prs_tertile_forest(sim, reference="high")                 # both outcomes, the AF score's tertiles
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["AF", "low", "middle", "top"] * 1 + \
        ["HF", "low", "middle", "top"]
    assert "reference = top tertile" in [t.get_text() for t in fig.texts if t.get_gid() == "subtitle"][0]
    assert fig.axes[0].get_xlabel() == "hazard ratio vs top tertile (log scale)"
    plt.close(fig)


# ------------------------------------------------------------------------------------------ AUC

def test_auc_points_intervals_and_labels_equal_auc_tsv(sim, saved):
    fig = prs_auc(saved)
    (ax,) = fig.axes
    a = sim.auc
    for m in AUC_MODELS:
        want = a[a["model"] == m]
        (pts,) = _gid(ax, f"auc:{m}")
        np.testing.assert_allclose(pts.get_xdata(), want["auc"], rtol=1e-12)
        (ci,) = _gid(ax, f"ci:{m}")
        seg = np.array(ci.get_segments())
        np.testing.assert_allclose(seg[:, 0, 0], want["ci_low"], rtol=1e-12)
        np.testing.assert_allclose(seg[:, 1, 0], want["ci_high"], rtol=1e-12)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["covariates", "+ best score", "+ all scores (L1)"] * 2
    assert [t.get_text() for t in ax.texts if t.get_gid() == "outcome_header"] == ["AF", "HF"]
    notes = [t.get_text() for t in ax.texts if t.get_gid() == "outcome_note"]
    for note, o, lat in zip(notes, ("AF", "HF"), ("Z1", "Z2")):
        r = a[(a["outcome"] == o)].iloc[0]
        assert note == f"({r['cases']:,} cases / {r['n']:,}; best score {_name(lat, PRIMARY)})"
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "auc_text"]
    assert texts == [f"{r.auc:.3f} ({r.ci_low:.3f}\u2013{r.ci_high:.3f})" for r in a.itertuples()]
    ps = [t.get_text() for t in ax.texts if t.get_gid() == "p_text"]
    assert ps == ["ref." if not np.isfinite(p) else format_p(p) for p in a["delong_p"]]
    # the planted score improves on the covariates (the simulation's truth, seen through the figure)
    assert (a.loc[a["model"] == AUC_MODELS[1], "delong_p"] < 1e-6).all()
    assert "AUC" in ax.get_xlabel()
    _save(fig, "prs_auc")
    fig = prs_auc(sim, outcome="hf")
    assert [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "outcome_header"] == ["HF"]
    plt.close(fig)


# ------------------------------------------------------------------------------------------ forest

def test_forest_of_the_scores(sim):
    fig = prs_forest(sim, outcome="AF", top=4)
    (ax,) = fig.axes
    t = sim.table[sim.table["outcome"] == "AF"].nsmallest(4, "p").sort_values("hr", ascending=False)
    (pts,) = _gid(ax, "hr")
    np.testing.assert_allclose(pts.get_xdata(), t["hr"], rtol=1e-12)
    assert [tl.get_text() for tl in ax.get_yticklabels()] == list(t["score"])
    (title,) = [x.get_text() for x in fig.texts if x.get_gid() == "panel_title"]
    assert title == "AF: 4 of 6 scores (smallest P)"
    _save(fig, "prs_forest_AF")
    fig = prs_forest(sim, outcome="HF")                             # a narrow HR range: at most 4 ticks, 1 kept
    (ax,) = fig.axes
    ticks = [float(t.get_text()) for t in ax.get_xticklabels() if t.get_text()]
    assert 3 <= len(ticks) <= 4 and 1.0 in ticks
    assert [tl.get_text() for tl in ax.get_yticklabels()][0] == _name("Z2", PRIMARY)
    _save(fig, "prs_forest_HF")


# ------------------------------------------------------------------------------------------ family, errors

def test_prs_figures_names_every_figure(sim):
    figs = prs_figures(sim)
    want = {f"prs_{k}_{o}" for o in PLANTED for k in ("prevalence", "cumulative_hazard", "cumulative_hazard_sex",
                                                      "tertiles", "forest")} | {"prs_auc"}
    assert set(figs) == want
    assert all(not isinstance(f, str) for f in figs.values()), {k: v for k, v in figs.items() if isinstance(v, str)}
    for name, f in figs.items():
        if name.endswith("_HF") and "sex" not in name:
            _save(f, name)
    plt.close("all")
    no_auc = PrsResult(table=sim.table, excluded=sim.excluded, summary=sim.summary, tertiles=sim.tertiles,
                       cumulative_hazard=sim.cumulative_hazard, prevalence=sim.prevalence)
    figs = prs_figures(no_auc)
    assert figs["prs_auc"] == "auc.tsv of the PRS result: no rows (the AUC figure needs auc.tsv)"
    plt.close("all")


@pytest.mark.parametrize("call, match", [
    (lambda r: prs_prevalence(r, outcome="MI"),
     r"^outcome 'MI' is not in cox.tsv of the PRS result \(there: AF, HF\)$"),
    (lambda r: prs_prevalence(r, score="Z9_p1e-05"), r"^score 'Z9_p1e-05' is not in prevalence.tsv .* for AF \(there: "
                                                      r"Z0_p1e-05, Z1_p1e-05, Z2_p1e-05\)$"),
    (lambda r: prs_prevalence(r, by="unknown"), r"^by level 'unknown' is not in prevalence.tsv"),
    (lambda r: prs_cumulative_hazard(r, score="Z1_p5e-08"), r"^score 'Z1_p5e-08' is not in cumulative_hazard.tsv"),
    (lambda r: prs_cumulative_hazard(r, outcome="CAD"), r"^outcome 'CAD' is not in cox.tsv"),
    (lambda r: prs_auc(r, outcome="MI"), r"^outcome 'MI' is not in auc.tsv of the PRS result \(there: AF, HF\)$"),
    (lambda r: prs_forest(r, outcome="MI"), r"^outcome 'MI' is not in cox.tsv"),
    (lambda r: prs_tertile_forest(r, score="nope"), r"^score 'nope' is not in tertiles.tsv"),
    (lambda r: best_score(r, "MI"), r"^outcome 'MI' is not in cox.tsv"),
])
def test_bad_score_or_outcome_is_one_line(sim, call, match):
    with pytest.raises(CardiolatentError, match=match) as exc:
        call(sim)
    assert "\n" not in str(exc.value)


def test_bad_inputs_name_the_saved_file_and_the_result_kind(sim, saved):
    with pytest.raises(CardiolatentError, match=rf"^outcome 'MI' is not in {saved}/cox.tsv") as exc:
        prs_forest(saved, outcome="MI")
    assert "\n" not in str(exc.value)
    with pytest.raises(CardiolatentError, match="is drawn from PrsResult, not CoxResult"):
        prs_forest(sim.cox_result(), outcome="AF")
    broken = PrsResult(table=sim.table, excluded=sim.excluded, summary=sim.summary,
                       prevalence=sim.prevalence.drop(columns="ci_high"))
    with pytest.raises(CardiolatentError, match=r"prevalence.tsv of the PRS result: column 'ci_high' missing"):
        prs_prevalence(broken)
    assert isinstance(Result.load(saved), PrsResult)
