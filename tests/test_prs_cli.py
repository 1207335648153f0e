"""``cardiolatent prs``: weights from a discovery GWAS, scores in a target cohort drawn from the same
population, and their evaluation (issue 18, part 3).

Discovery: the 2,000-participant GWAS cohort with its true LA volume and LV ejection fraction as
latents (a perfect encoder), exported, scanned by our OLS scan (plink2 --glm's model) and read back
by ``gwas-results``. Target: 20,000 new people of the same population (``make_target_cohort``), with
three times the baseline hazards so that AF has enough incident events. AF's planted hazard rises
with LA volume (HR 1.6 per SD), so the LA volume score must predict AF with HR > 1."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from cardiolatent.analysis.design import participant_variables
from cardiolatent.analysis.survival import CoxResult, survival_data
from cardiolatent.cli import main as cli
from cardiolatent.genetics import prs
from cardiolatent.genetics.prs_result import AUC_MODELS, PrsResult
from cardiolatent.plotting.prs import prs_cumulative_hazard
from cardiolatent.synth.build import make_target_cohort
from cardiolatent.ukb.read import read_main

GWAS_SEED, GWAS_N = 11, 2000  # tests/conftest.py GWAS


def _cli(argv):
    assert cli(argv) == 0, argv


@pytest.fixture(scope="module")
def run(gwas_cohort, tmp_path_factory):
    from cardiolatent.gwas.scan import linear_scan

    work = tmp_path_factory.mktemp("prs_cli")
    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    t2 = truth[truth["instance"] == 2]
    lat = work / "latents.tsv"
    pd.DataFrame({"eid": t2["eid"], "instance": 2, "LAV": t2["lav_ml"], "LVEF": t2["lvef_pct"]}).to_csv(
        lat, sep="\t", index=False)
    _cli(["export", "--latents", str(lat), "--ukb", str(gwas_cohort.main), "--format", "plink2",
          "--out", str(work / "export"), "--quiet"])
    linear_scan(work / "export", gwas_cohort.genotypes, work / "glm", progress=False)
    _cli(["gwas-results", "--results", str(work / "glm"), "--out", str(work / "gw"), "--quiet"])
    target = make_target_cohort(work / "target", 20000, 3, discovery_n=GWAS_N, discovery_seed=GWAS_SEED,
                                incidence_scale=3.0)
    out = work / "prs"
    _cli(["prs", "--gwas", str(work / "gw"), "--target-genotypes", str(target.genotypes), "--target-ukb",
          str(target.main), "--thresholds", "1e-6,1e-4,1e-2", "--primary-threshold", "1e-2", "--outcomes", "AF,MI",
          "--scorer", "cardiolatent", "--out", str(out), "--quiet"])
    return {"work": work, "target": target, "out": out, "res": PrsResult.load(out)}


def test_the_la_volume_score_predicts_af_in_the_planted_direction(run):
    res = run["res"]
    cox = res.table.set_index(["score", "outcome"])
    for t in ("1e-06", "0.0001"):
        r = cox.loc[(f"LAV_p{t}", "AF")]
        assert r["hr"] > 1 and r["p"] < 0.05, (t, r["hr"], r["p"])
        assert r["source_latent"] == "LAV" and r["n_variants"] >= 1
    # top tertile vs low: more AF
    tt = res.tertiles[(res.tertiles["score"] == "LAV_p0.01") & (res.tertiles["outcome"] == "AF")]
    top = tt[(tt["reference"] == "T1") & (tt["group"] == "T3")].iloc[0]
    assert top["hr"] > 1
    # its curves separate: the top tertile's cumulative hazard ends above the low one's
    na = res.cumulative_hazard
    na = na[(na["score"] == "LAV_p0.01") & (na["outcome"] == "AF") & (na["by"] == "all")]
    end = na.groupby("group")["cumulative_hazard"].max()
    assert end["T3"] > end["T1"]
    # prevalence: top 5 % above bottom 5 %
    pv = res.prevalence[(res.prevalence["score"] == "LAV_p0.01") & (res.prevalence["outcome"] == "AF")
                        & (res.prevalence["by"] == "all")].set_index("group")
    assert pv.loc["top 5%", "prevalence"] > pv.loc["bottom 5%", "prevalence"]
    assert set(res.prevalence["by"]) == {"all", "female", "male"}


def _check_against_lifelines(res: PrsResult, main, score: str = "LAV_p0.01", outcome: str = "AF"):
    """The Cox row of ``score`` equals lifelines' Cox of the saved score (standardised) with age and sex on the
    follow-up cardiolatent derives from the main data at the scores' instance, to 1e-4 in log HR and SE;
    returns the row and the covariate table."""
    keys = res.scores[["eid", "instance"]]
    S = survival_data(main, keys, outcome)
    V = participant_variables(main, keys, ["age", "sex"]).table
    use = pd.isna(S.reason) & V[["age", "sex"]].notna().all(axis=1).to_numpy()
    x = res.scores[score].to_numpy(float)[use]
    df = pd.DataFrame({"T": S.time[use], "E": S.event[use], "z": (x - x.mean()) / x.std(ddof=1),
                       "age": V["age"].to_numpy(float)[use], "sex": V["sex"].to_numpy(float)[use]})
    fit = CoxPHFitter().fit(df, "T", "E")
    row = res.table[(res.table["score"] == score) & (res.table["outcome"] == outcome)].iloc[0]
    assert row["n"] == len(df) and row["n_events"] == int(df["E"].sum())
    assert abs(row["beta"] - fit.params_["z"]) < 1e-4
    assert abs(row["se"] - fit.standard_errors_["z"]) < 1e-4
    return row, V


def test_cox_rows_equal_lifelines_on_the_saved_scores(run):
    """The per-SD hazard ratio of a score equals lifelines' on the saved scores: the scores reach the model on
    the right participants."""
    _check_against_lifelines(run["res"], read_main(run["target"].main))


def test_auc_models_and_round_trip(run):
    res = run["res"]
    for o in ("AF", "MI"):
        a = res.auc[res.auc["outcome"] == o]
        assert a["model"].tolist() == list(AUC_MODELS)
        assert ((a["ci_low"] < a["auc"]) & (a["auc"] < a["ci_high"])).all()
        assert a["delong_p"].iloc[1:].between(0, 1).all() and np.isnan(a["delong_p"].iloc[0])
        assert (a["auc"] > 0.5).all()
    best = res.auc[(res.auc["outcome"] == "AF") & (res.auc["model"] == AUC_MODELS[1])].iloc[0]
    assert best["score"] == "LAV_p0.01"
    assert set(res.l1_coefficients["outcome"]) == {"AF", "MI"}
    # the weights are what prs_weights gives for the same GWAS
    w = prs.prs_weights(run["work"] / "gw", thresholds=(1e-6, 1e-4, 1e-2))
    pd.testing.assert_frame_equal(res.weights.reset_index(drop=True)[["score", "id", "beta"]],
                                  w.table.reset_index(drop=True)[["score", "id", "beta"]], check_dtype=False)
    # score.txt is the PLINK 2 score file of every score (what plink2 --score reads)
    sf = prs.read_score_file(run["out"] / "score.txt")
    assert list(sf.columns[:2]) == ["ID", "A1"] and list(sf.columns[2:]) == list(res.score_list["score"])
    again = PrsResult.load(run["out"])
    pd.testing.assert_frame_equal(again.table, res.table)
    assert again.summary.primary_threshold == 1e-2 and again.summary.evaluated == ["LAV_p0.01", "LVEF_p0.01"]
    assert len(res.scores) == 20000 and res.summary.n_target == 20000


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not installed")
def test_plink2_scorer_gives_the_same_scores(run, tmp_path):
    out = tmp_path / "prs_plink2"
    _cli(["prs", "--gwas", str(run["work"] / "gw"), "--target-genotypes", str(run["target"].genotypes),
          "--target-ukb", str(run["target"].main), "--thresholds", "1e-6,1e-4,1e-2", "--primary-threshold", "1e-2",
          "--outcomes", "AF", "--scorer", "plink2", "--no-auc", "--out", str(out), "--quiet"])
    r2 = PrsResult.load(out)
    assert r2.summary.scorer.startswith("plink2 --score")
    a, b = run["res"].scores, r2.scores
    assert a["eid"].tolist() == b["eid"].tolist() and list(a.columns) == list(b.columns)
    cols = [c for c in a.columns if c not in ("eid", "instance")]
    np.testing.assert_allclose(b[cols].to_numpy(), a[cols].to_numpy(), rtol=1e-5, atol=1e-6)  # plink2 prints 6 digits
    assert r2.auc.empty


def test_figures_of_a_prs_result(run, tmp_path):
    out = tmp_path / "figs"
    _cli(["figures", "--results", str(run["out"]), "--out", str(out), "--quiet"])
    names = {p.stem for p in out.rglob("*.png")}
    assert any("prs_prevalence_AF" in n for n in names) and any("prs_auc" in n for n in names), names


@pytest.mark.parametrize("extra, needle", [
    (["--primary-threshold", "0.5"], "--primary-threshold 0.5 is not one of --thresholds"),
    (["--thresholds", "1e-4,abc"], "--thresholds: 'abc' is not a number"),
    (["--thresholds", "2"], "not a P value"),
    (["--outcomes", "NOPE"], "unknown outcome 'NOPE'"),
    (["--latent-columns", "ZZZ.*"], "matches 'ZZZ.*'"),
    (["--target-ukb", "X"], "give --target-genotypes and --target-ukb together"),
])
def test_bad_requests_are_one_line(run, tmp_path, capsys, extra, needle):
    argv = ["prs", "--gwas", str(run["work"] / "gw"), "--out", str(tmp_path / "o"), "--quiet"]
    if "--target-ukb" not in extra:
        argv += ["--target-genotypes", str(run["target"].genotypes), "--target-ukb", str(run["target"].main)]
    assert cli(argv + extra) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_missing_inputs_are_one_line(run, tmp_path, capsys):
    base = ["prs", "--out", str(tmp_path / "o"), "--quiet"]
    assert cli(base + ["--gwas", str(tmp_path / "nope")]) != 0
    assert "--gwas" in capsys.readouterr().err
    assert cli(base + ["--gwas", str(run["work"] / "gw"), "--target-genotypes", str(tmp_path / "g"),
                       "--target-ukb", str(run["target"].main)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no " in err[0] and ".bed" in err[0], err


def test_thinned_curves_keep_the_steps_and_the_numbers_at_risk():
    """thin_steps leaves the cumulative hazard (a step function changing only at events) and the
    numbers at risk on the 0.5-year grid exactly as in the full Nelson-Aalen table."""
    from cardiolatent.genetics.prs_run import thin_steps
    from cardiolatent.plotting.survival import numbers_at_risk
    from cardiolatent.stats import survival as sv

    rng = np.random.default_rng(5)
    n = 3000
    t = np.minimum(rng.exponential(12, n), rng.uniform(0, 10, n))
    t[:40] = 4.0                                  # ties exactly on the grid (1,461 days)
    e = (rng.random(n) < 0.3).astype(float)
    g = sv.quantile_groups(rng.normal(size=n), q=3)
    by = np.where(rng.random(n) < 0.5, "female", "male")
    full = pd.concat([sv.nelson_aalen(t, e, groups=g).assign(by="all"), sv.nelson_aalen(t, e, groups=g, by=by)])
    thin = thin_steps(full)
    assert len(thin) < len(full) / 2
    grid = np.arange(0, 10.01, 0.5)
    probe = np.sort(rng.uniform(0, 10, 500))
    for (b, grp), f in full.groupby(["by", "group"]):
        th = thin[(thin["by"] == b) & (thin["group"] == grp)]
        assert np.array_equal(numbers_at_risk(f, grid), numbers_at_risk(th, grid))
        for col in ("cumulative_hazard", "ci_low", "ci_high"):
            step_f = f[col].to_numpy()[np.searchsorted(f["time"].to_numpy(), probe, side="right") - 1]
            step_t = th[col].to_numpy()[np.searchsorted(th["time"].to_numpy(), probe, side="right") - 1]
            assert np.array_equal(step_f, step_t, equal_nan=True), col


def test_followed_from_the_baseline_assessment(run, tmp_path):
    """``--follow-from baseline``: the scores are a table at instance 0 and each Cox row equals lifelines on
    the follow-up from the baseline visit (53-0.0) with age and sex at that visit, to 1e-4 in log HR; the
    figures say where the years start."""
    out = tmp_path / "prs_baseline"
    _cli(["prs", "--gwas", str(run["work"] / "gw"), "--target-genotypes", str(run["target"].genotypes),
          "--target-ukb", str(run["target"].main), "--thresholds", "1e-2", "--primary-threshold", "1e-2",
          "--outcomes", "AF", "--scorer", "cardiolatent", "--no-auc", "--follow-from", "baseline",
          "--out", str(out), "--quiet"])
    res = PrsResult.load(out)
    assert res.summary.follow_from == "baseline" and "baseline assessment" in res.summary.follow_from_reason
    assert set(res.scores["instance"]) == {0}
    assert run["res"].summary.follow_from == "imaging"  # auto: every built-in target participant was imaged
    main = read_main(run["target"].main)
    keys = res.scores[["eid", "instance"]]
    row, V = _check_against_lifelines(res, main)
    # the baseline is years before the imaging visit: other people at risk, other ages
    img = run["res"].table.set_index(["score", "outcome"]).loc[("LAV_p0.01", "AF")]
    assert (row["n"], row["n_events"]) != (img["n"], img["n_events"])
    age0 = participant_variables(main, keys.assign(instance=2), ["age"]).table["age"].to_numpy(float)
    assert np.nanmean(age0) - np.nanmean(V["age"].to_numpy(float)) > 3
    # the hand-off: cox reads scores.parquet and follows the same people from the same visit
    _cli(["cox", "--latents", str(out / "scores.parquet"), "--ukb", str(run["target"].main), "--outcomes", "AF",
          "--covariates", "age,sex", "--out", str(tmp_path / "cox.tsv"), "--quiet"])
    cox = CoxResult.load(tmp_path / "cox.tsv")
    again = cox.table.set_index(["latent", "outcome"]).loc[("LAV_p0.01", "AF")]
    assert cox.summary.follow_from == "baseline assessment"
    assert (again["n"], again["n_events"]) == (row["n"], row["n_events"])
    assert again["beta"] == pytest.approx(row["beta"], rel=1e-9)
    fig = prs_cumulative_hazard(out, score="LAV_p0.01", outcome="AF")
    assert fig.axes[0].get_xlabel() == "years since baseline assessment"
    fig_img = prs_cumulative_hazard(run["out"], score="LAV_p0.01", outcome="AF")
    assert fig_img.axes[0].get_xlabel() == "years since imaging visit"


def test_the_discovery_sample_and_its_relatives_are_left_out(run, tmp_path):
    """``--discovery-samples`` removes target participants listed there, ``--kinship`` those related to any of
    them above the threshold (a pair at 0.03 is not related at 0.0625); both counted with their reasons, and the
    scores of the rest equal our scorer's on exactly the remaining participants (allele frequencies for mean
    imputation over them, as plink2 after --keep)."""
    target = run["target"]
    fam = pd.read_csv(str(target.genotypes) + ".fam", sep=r"\s+", header=None, dtype=str)
    eids = fam[1].astype(np.int64).to_numpy()
    disc = np.r_[eids[:30], [9_000_000_001, 9_000_000_002]]          # 30 in the target + 2 others
    (tmp_path / "disc.keep").write_text("FID IID\n" + "".join(f"{e} {e}\n" for e in disc))
    rel = ["ID1 ID2 HetHet IBS0 Kinship"]
    rel += [f"{eids[40 + i]} {disc[i % 32]} 0.1 0.001 0.2" for i in range(10)]     # related: left out
    rel += [f"{disc[31]} {eids[60 + i]} 0.1 0.001 0.0884" for i in range(5)]        # related (listed second)
    rel += [f"{eids[70 + i]} {disc[i]} 0.1 0.01 0.03" for i in range(5)]            # below 0.0625: kept
    rel += [f"{eids[80]} {eids[81]} 0.1 0.001 0.25"]                                # both in the target: kept
    (tmp_path / "ukb_rel.dat").write_text("\n".join(rel) + "\n")
    out = tmp_path / "prs_unrelated"
    _cli(["prs", "--gwas", str(run["work"] / "gw"), "--target-genotypes", str(target.genotypes),
          "--target-ukb", str(target.main), "--thresholds", "1e-2", "--primary-threshold", "1e-2",
          "--outcomes", "AF", "--scorer", "cardiolatent", "--no-auc", "--discovery-samples",
          str(tmp_path / "disc.keep"), "--kinship", str(tmp_path / "ukb_rel.dat"), "--out", str(out), "--quiet"])
    res = PrsResult.load(out)
    gone = np.r_[eids[:30], eids[40:50], eids[60:65]]
    assert res.summary.n_target == len(eids) - 45 and not np.isin(res.scores["eid"], gone).any()
    assert res.summary.target_samples["in_discovery_gwas"] == 30
    assert res.summary.target_samples["related_to_discovery"] == 15
    ex = res.excluded[res.excluded["outcome"] == "all"]
    assert sorted(ex["eid"]) == sorted(gone.tolist())
    assert ex.set_index("eid").loc[eids[45], "reason"] == "related_to_discovery"
    assert ex.set_index("eid").loc[eids[5], "reason"] == "in_discovery_gwas"
    assert any("30 target participant(s) in the discovery sample" in n for n in res.summary.notes)
    w = prs.read_score_file(out / "score.txt")
    names = res.score_list.loc[res.score_list["n_variants"] > 0, "score"].tolist()
    ref = prs.score_bed(target.genotypes, w[["ID", "A1", *names]], keep=[str(e) for e in res.scores["eid"]])
    np.testing.assert_allclose(res.scores[names].to_numpy(), ref[[f"{n}_SUM" for n in names]].to_numpy(),
                               rtol=1e-12, atol=1e-12)


def test_a_target_inside_the_discovery_sample_is_one_line(run, tmp_path, capsys):
    fam = str(run["target"].genotypes) + ".fam"
    argv = ["prs", "--gwas", str(run["work"] / "gw"), "--target-genotypes", str(run["target"].genotypes),
            "--target-ukb", str(run["target"].main), "--out", str(tmp_path / "o"), "--quiet"]
    for extra, needle in ((["--discovery-samples", fam], "nobody is left to score"),
                          (["--kinship", fam], "--kinship needs --discovery-samples"),
                          (["--discovery-samples", str(tmp_path / "none.keep")], "--discovery-samples"),
                          (["--discovery-samples", fam, "--kinship-threshold", "0.7"], "--kinship-threshold")):
        assert cli(argv + extra) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (extra, err)
    assert not (tmp_path / "o").exists()
