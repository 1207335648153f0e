"""Analysis inputs and the assoc / cox workflows, checked against statsmodels and lifelines fits
built independently from the synthetic truth tables (not from the package's covariate code)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from cardiolatent.analysis.design import design_matrix, expand_names, fields_needed, participant_variables
from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import read_latents

SEEDS = (1701, 42)


@pytest.fixture(scope="module")
def data(gwas_cohort, tmp_path_factory):
    from cardiolatent.ukb.read import read_main

    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(5)
    rows = []
    for s in SEEDS:
        d = truth[["eid", "instance"]].copy()
        d["seed"] = s
        d["Z0"] = truth["lvedv_ml"] + rng.normal(0, 15, len(truth))
        d["Z1"] = truth["lav_ml"] + rng.normal(0, 8, len(truth))
        d["Z2"] = rng.normal(size=len(truth))
        rows.append(d)
    long = pd.concat(rows, ignore_index=True)
    path = tmp_path_factory.mktemp("lat") / "latents.parquet"
    long.to_parquet(path)
    names = expand_names(["paper_disease", "AF,MI,bmi,gwas"])
    main = read_main(gwas_cohort.main, fields_needed(names), missing_ok=True)
    return dict(truth=truth, long=long, path=path, main=main, cohort=gwas_cohort)


def _visit_rows(truth: pd.DataFrame) -> pd.DataFrame:
    """Independent 'prefer visit 2' selection from the truth table."""
    has2 = set(truth.loc[truth["instance"] == 2, "eid"])
    keep = (truth["instance"] == 2) | ~truth["eid"].isin(has2)
    return truth[keep].sort_values(["eid", "instance"]).reset_index(drop=True)


def test_read_latents_prefers_visit2_and_counts_repeats(data):
    L = read_latents(data["path"])
    ref = _visit_rows(data["truth"])
    assert list(L.table["eid"]) == list(ref["eid"])
    assert list(L.table["instance"]) == list(ref["instance"])
    assert L.columns == [f"S{s}_Z{k}" for s in SEEDS for k in range(3)]
    n_rep = int((data["truth"]["instance"] == 3).sum() - (ref["instance"] == 3).sum())
    assert (L.excluded["reason"] == "repeat_visit_not_used").sum() == n_rep
    assert len(L.table) + len(L.excluded) == data["truth"][["eid", "instance"]].drop_duplicates().shape[0]
    sub = read_latents(data["path"], columns="S1701_Z[01]")
    assert sub.columns == ["S1701_Z0", "S1701_Z1"]
    with pytest.raises(CardiolatentError, match="matches"):
        read_latents(data["path"], columns="nope")


def test_wide_latents_duplicate_eids_is_an_error(data):
    wide = pd.DataFrame({"eid": [1, 1, 2], "Z0": [0.1, 0.2, 0.3]})
    with pytest.raises(CardiolatentError, match="eid 1"):
        read_latents(wide)


def test_variables_match_truth_at_each_rows_visit(data):
    L = read_latents(data["path"])
    V = participant_variables(data["main"], L.keys, ["age", "bsa", "centre", "imaging_year", "AF", "height"])
    ref = _visit_rows(data["truth"])
    np.testing.assert_allclose(V.table["age"].to_numpy(), ref["age"].to_numpy(float), rtol=0, atol=1e-12)
    np.testing.assert_allclose(V.table["bsa"].to_numpy(), ref["bsa"].to_numpy(float), rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(V.table["centre"].to_numpy(), ref["centre"].to_numpy(float))
    assert V.kinds == {"age": "continuous", "bsa": "continuous", "centre": "categorical",
                       "imaging_year": "categorical", "AF": "binary", "height": "continuous"}
    # AF case status in the paper's window, at instance 2 rows, against the truth outcome table
    out = pd.read_csv(data["cohort"].truth / "outcomes.tsv", sep="\t")
    af = out[out["outcome"] == "AF"].set_index("eid")["case_window"]
    r2 = (ref["instance"] == 2).to_numpy()
    np.testing.assert_array_equal(V.table["AF"].to_numpy()[r2], af.reindex(ref["eid"][r2]).astype(float).to_numpy())
    with pytest.raises(CardiolatentError, match="unknown trait/covariate name"):
        participant_variables(data["main"], L.keys, ["not_a_trait"])


def test_design_matrix_dummies_rare_levels_and_constants():
    from cardiolatent.analysis.design import Variables

    n = 60
    cat = np.array([1.0] * 30 + [2.0] * 20 + [3.0] * 7 + [4.0] * 3)
    V = Variables(pd.DataFrame({"c": cat, "k": np.ones(n), "x": np.arange(n, dtype=float)}),
                  {"c": "categorical", "k": "continuous", "x": "continuous"})
    D = design_matrix(V, ["c", "k", "x"], min_level_count=10)
    assert D.names == ["c=2", "c=other", "x"]
    np.testing.assert_array_equal(D.matrix[:, 1], np.isin(cat, [3, 4]).astype(float))
    assert any("merged" in n for n in D.notes) and any("k: constant" in n for n in D.notes)


def _cmd(module, argv):
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return module.run(p.parse_args(argv))


def test_assoc_matches_statsmodels_with_categorical_covariates(data, tmp_path):
    import statsmodels.formula.api as smf

    from cardiolatent.analysis.association import association_scan

    res = association_scan(data["path"], data["main"], ["bmi", "height"], "paper_traits", min_level_count=1)
    t = res.table
    assert set(t["trait"]) == {"bmi", "height"} and len(t) == 2 * 6
    ref = _visit_rows(data["truth"])
    lat = read_latents(data["path"]).table
    df = ref.merge(lat, on=["eid", "instance"])
    z = lambda s: (s - s.mean()) / s.std(ddof=1)  # noqa: E731
    for col in ("S1701_Z0", "S42_Z2"):
        for trait in ("bmi", "height"):
            d = df[[col, trait, "age", "sex", "bsa", "centre", "imaging_year"]].copy()
            d["y"] = z(df[col])  # latents standardised over all rows
            d = d.dropna()
            # the trait is standardised over its non-missing rows (before covariate filtering)
            d["x"] = (d[trait] - df[trait].mean()) / df[trait].std(ddof=1)
            fit = smf.ols("y ~ x + age + C(sex) + bsa + C(centre) + C(imaging_year)", data=d).fit()
            row = t[(t["latent"] == col) & (t["trait"] == trait)].iloc[0]
            assert row["n"] == fit.nobs
            assert row["beta"] == pytest.approx(fit.params["x"], rel=1e-8)
            assert row["se"] == pytest.approx(fit.bse["x"], rel=1e-8)
            assert row["p"] == pytest.approx(fit.pvalues["x"], rel=1e-8)
    # end to end through the command line contract
    out = tmp_path / "assoc.tsv"
    assert _cmd(__import__("cardiolatent.commands.assoc", fromlist=["x"]),
                ["--latents", str(data["path"]), "--ukb", str(data["cohort"].main), "--traits", "height,bmi",
                 "--covariates", "age,sex", "--out", str(out), "--quiet"]) == 0
    got = pd.read_csv(out, sep="\t")
    assert {"latent", "trait", "beta", "se", "p", "n"} <= set(got.columns) and len(got) == 12
    summ = json.loads((tmp_path / "assoc.summary.json").read_text())
    assert summ["n_traits_tested"] == 2


def test_assoc_disease_min_cases_and_logistic_direction(data):
    from cardiolatent.analysis.association import association_scan

    res = association_scan(data["path"], data["main"], ["AF", "MI"], "age,sex", min_cases=10 ** 6)
    assert res.summary["n_traits_tested"] == 0
    assert {s["trait"] for s in res.summary["traits_skipped"]} == {"AF", "MI"}
    res = association_scan(data["path"], data["main"], ["AF"], "age,sex", min_cases=5, direction="outcome")
    assert set(res.table["trait"]) == {"AF"} and len(res.table) == 6
    assert res.table["p"].between(0, 1).all()


def test_cox_matches_lifelines_on_truth_outcomes(data):
    from lifelines import CoxPHFitter

    from cardiolatent.analysis.survival import cox_latents

    res = cox_latents(data["path"], data["main"], ["AF"], "age,sex", latent_columns="S1701_Z[01]")
    t = res.table
    assert list(t["outcome"]) == ["AF", "AF"]
    c = res.summary["outcomes"]["AF"]
    assert c["n_used"] + sum(c["excluded"].values()) == c["n_rows"]
    # independent: truth outcome table (instance-2 follow-up) for participants whose row is visit 2
    ref = _visit_rows(data["truth"])
    lat = read_latents(data["path"]).table
    out = pd.read_csv(data["cohort"].truth / "outcomes.tsv", sep="\t")
    af = out[out["outcome"] == "AF"][["eid", "time_years", "event", "prevalent"]]
    d = ref.merge(lat, on=["eid", "instance"]).merge(af, on="eid")
    d = d[(d["instance"] == 2) & ~d["prevalent"].astype(bool) & (d["time_years"] > 0)]
    d = d[["time_years", "event", "S1701_Z0", "age", "sex"]].dropna()
    assert (ref["instance"] == 2).all()  # the synthetic cohort images everyone at visit 2 first
    d["S1701_Z0"] = (d["S1701_Z0"] - d["S1701_Z0"].mean()) / d["S1701_Z0"].std(ddof=1)
    cph = CoxPHFitter().fit(d, "time_years", "event", fit_options={"precision": 1e-12})
    row = t[t["latent"] == "S1701_Z0"].iloc[0]
    assert row["n"] == len(d)
    assert row["n_events"] == d["event"].sum()
    assert row["beta"] == pytest.approx(cph.params_["S1701_Z0"], rel=1e-6)
    assert row["se"] == pytest.approx(cph.standard_errors_["S1701_Z0"], rel=1e-6)


def test_cox_command_contract_and_tertile_curves(data, tmp_path):
    from lifelines import KaplanMeierFitter

    from cardiolatent.commands import cox as cmd

    out = tmp_path / "cox.tsv"
    assert _cmd(cmd, ["--latents", str(data["path"]), "--ukb", str(data["cohort"].main), "--outcome", "AF",
                      "--covariates", "age,sex", "--groups", "S1701_Z0", "--out", str(out), "--quiet"]) == 0
    t = pd.read_csv(out, sep="\t")
    assert {"latent", "outcome", "beta", "hr", "se", "p", "n", "n_events", "hr_ci_low", "hr_ci_high"} <= set(t.columns)
    assert len(t) == 6 and (t["outcome"] == "AF").all()
    np.testing.assert_allclose(t["hr"], np.exp(t["beta"]), rtol=1e-12)
    summ = json.loads((tmp_path / "cox.summary.json").read_text())
    c = summ["outcomes"]["AF"]
    excl = pd.read_csv(tmp_path / "cox.excluded.tsv", sep="\t")
    assert (excl["outcome"] == "AF").sum() == c["n_rows"] - c["n_used"]
    hr = pd.read_csv(tmp_path / "cox.S1701_Z0.hazard_ratios.tsv", sep="\t")
    assert len(hr) == 6  # three tertiles, each as reference against the two others
    km = pd.read_csv(tmp_path / "cox.S1701_Z0.kaplan_meier.tsv", sep="\t")
    assert set(km["by"]) >= {"all", "female", "male"}
    # overall curve of the top tertile against lifelines on the same participants
    from cardiolatent.analysis.survival import survival_data
    from cardiolatent.stats.survival import quantile_groups

    L = read_latents(data["path"])
    S = survival_data(data["main"], L.keys, "AF")
    V = participant_variables(data["main"], L.keys, ["age", "sex"])
    use = pd.isna(S.reason) & V.table[["age", "sex"]].notna().all(axis=1).to_numpy()
    g = np.asarray(quantile_groups(L.table["S1701_Z0"].to_numpy()[use], q=3))
    top = g == "T3"
    kmf = KaplanMeierFitter().fit(S.time[use][top], S.event[use][top])
    mine = km[(km["by"] == "all") & (km["group"] == "T3")]
    sf = kmf.survival_function_.iloc[:, 0]  # right-continuous, indexed by the observed times
    sf.index = np.round(sf.index.to_numpy(float), 9)  # the TSV holds times to ~1e-15, not bit-exact
    times = np.round(mine["time"].to_numpy(), 9)
    assert set(times) - {0.0} <= set(sf.index)
    np.testing.assert_allclose(mine["survival"].to_numpy(), sf.reindex(times).fillna(1.0).to_numpy(), atol=1e-10)


def test_commands_default_to_the_demo_latents_of_the_synthetic_cohort(small_cohort, monkeypatch, capsys):
    """Without --latents and --ukb, assoc uses the built-in cohort encoded by the demo models."""
    import cardiolatent.synth.default as default
    from cardiolatent.commands import assoc as cmd

    monkeypatch.setattr(default, "default_cohort", lambda **kw: small_cohort)
    assert _cmd(cmd, ["--traits", "height", "--covariates", "age,sex", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "no --latents given" in out
    (found,) = small_cohort.root.glob("latents_demo_*.parquet")  # named by the weights' fingerprint
    lat = pd.read_parquet(found)
    assert sorted(lat["seed"].unique()) == sorted((1701, 1993, 42, 1994, 2023))
    n_visits = len(list(small_cohort.bulk.glob("*.zip")))
    assert lat[["eid", "instance"]].drop_duplicates().shape[0] == n_visits


def _maxT_reference(Y, traits: dict, perms) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force single-step max-T (Freedman-Lane on the trait, one family).

    ``traits``: name -> (x, C) with each trait's own covariate matrix; rows with a missing value
    are left out of that trait's models, and a replicate's global permutation acts on the rows
    kept in the order it lists them (the scheme stats/multitest.py documents). Returns (|t_obs|
    per (trait, latent) in that order, replicate maxima).
    """
    def t_of(y, x, C):
        A = np.column_stack([np.ones(len(y)), x, C])
        beta, *_ = np.linalg.lstsq(A, y, rcond=None)
        resid = y - A @ beta
        dof = len(y) - A.shape[1]
        cov = np.linalg.inv(A.T @ A) * (resid ** 2).sum(0) / dof
        return beta[1] / np.sqrt(np.diag(cov)[1]) if y.ndim == 1 else None

    tobs, null = [], np.zeros(len(perms))
    for x, C in traits.values():
        R = np.flatnonzero(np.isfinite(x) & np.isfinite(C).all(axis=1))
        pos = np.full(len(x), -1)
        pos[R] = np.arange(len(R))
        x, C, Yr = x[R], C[R], Y[R]
        A0 = np.column_stack([np.ones(len(x)), C])
        xr = x - A0 @ np.linalg.lstsq(A0, x, rcond=None)[0]
        tobs += [abs(t_of(Yr[:, i], x, C)) for i in range(Y.shape[1])]
        for b, pi in enumerate(perms):
            xp = xr[pos[pi[pos[pi] >= 0]]]
            tb = max(abs(t_of(Yr[:, i], xp, C)) for i in range(Y.shape[1]))
            null[b] = max(null[b], tb)
    return np.array(tobs), null


def test_maxT_uses_each_traits_own_model(data):
    """A trait that is also a covariate (age) gets a max-T P value from its own model (without
    itself among the covariates), and every P value comes from the whole family's maxima."""
    from cardiolatent.analysis.association import association_scan
    from cardiolatent.stats.multitest import maxT_permutations

    res = association_scan(data["path"], data["main"], "age,bmi", "age,sex", permutations=30, seed=3,
                           latent_columns="S1701_Z.*")
    t = res.table
    assert t["p_maxT"].notna().all() and len(t) == 6
    # independent reference from the truth table (visit 2, else 3), complete cases
    ref = _visit_rows(data["truth"])
    assert list(ref["eid"]) == list(read_latents(data["path"]).keys["eid"])
    L = read_latents(data["path"], columns="S1701_Z.*").as_float64()
    assert ref[["age", "sex"]].notna().all().all() and ref["bmi"].isna().any()  # missing BMI: induced perms
    Y = L
    age, bmi, sex = (ref[c].to_numpy(float) for c in ("age", "bmi", "sex"))
    traits = {"age": (age, sex[:, None]), "bmi": (bmi, np.column_stack([age, sex]))}
    tobs, null = _maxT_reference(Y, traits, maxT_permutations(len(Y), 30, seed=3))
    np.testing.assert_allclose(np.abs(t["t"].to_numpy()), tobs, rtol=1e-8)
    expect = (1 + (null[None, :] >= tobs[:, None] - 1e-9).sum(1)) / 31
    np.testing.assert_allclose(t["p_maxT"].to_numpy(), expect, rtol=0, atol=1e-12)
    assert res.summary.permutations == 30


def test_cox_groups_checked_before_any_model_is_fitted(data, monkeypatch):
    import cardiolatent.analysis.survival as sv

    def no_fit(*a, **k):
        raise AssertionError("a model was fitted before the options were checked")

    monkeypatch.setattr(sv, "cox_scan", no_fit)
    with pytest.raises(CardiolatentError, match="groups 'S1701_Z999' is not a latent column"):
        sv.cox_latents(data["path"], data["main"], "AF", "age,sex", groups="S1701_Z999")


def test_eid_absent_from_main_data_is_not_in_main_data_everywhere(data, tmp_path):
    """assoc and cox give the same reason as export for a participant the main data lacks."""
    from cardiolatent.cli import main

    long = data["long"].copy()
    ghost = long[long["eid"] == long["eid"].iloc[0]].assign(eid=9999999)
    src = tmp_path / "lat.parquet"
    pd.concat([long, ghost], ignore_index=True).to_parquet(src)
    ukb = str(data["cohort"].main)
    assert main(["assoc", "--latents", str(src), "--ukb", ukb, "--traits", "bmi", "--covariates", "age,sex",
                 "--out", str(tmp_path / "a.tsv"), "--quiet"]) == 0
    assert main(["cox", "--latents", str(src), "--ukb", ukb, "--outcomes", "AF", "--covariates", "age,sex",
                 "--out", str(tmp_path / "c.tsv"), "--quiet"]) == 0
    for name in ("a.excluded.tsv", "c.excluded.tsv"):
        ex = pd.read_csv(tmp_path / name, sep="\t")
        assert ex.loc[ex["eid"] == 9999999, "reason"].tolist() == ["not_in_main_data"], name
