"""Trait and latent directions (issue 15, part 1): planted sparse signals recovered, the paper's move rule
in closed form, conditioning equal to statsmodels' residuals, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

import cardiolatent.interpret.direction as direction_mod
from cardiolatent.analysis.design import Variables
from cardiolatent.errors import CardiolatentError
from cardiolatent.interpret import Direction, latent_direction, trait_direction
from cardiolatent.latents import read_latents

D = 16


def _latents(n=600, seed=0):
    """Wide latents of two seeds (raw scale: per-latent means and SDs far from 0 and 1)."""
    rng = np.random.default_rng(seed)
    eids = np.arange(1_000_001, 1_000_001 + n)
    Z = rng.normal(size=(n, D)) * rng.uniform(0.5, 3, D) + rng.uniform(-5, 5, D)
    W = rng.normal(size=(n, D))
    df = pd.DataFrame({"eid": eids, "instance": 2})
    for k in range(D):
        df[f"S1701_Z{k}"] = Z[:, k]
    for k in range(D):
        df[f"S42_Z{k}"] = W[:, k]
    return df, Z, rng


def _variables(keys: pd.DataFrame, **cols) -> Variables:
    table = pd.DataFrame({k: np.asarray(v, float) for k, v in cols.items()})
    kinds = {k: ("binary" if set(np.unique(table[k].dropna())) <= {0.0, 1.0} else "continuous") for k in cols}
    return Variables(table=table, kinds=kinds)


def test_a_planted_sparse_trait_is_recovered():
    df, Z, rng = _latents()
    zs = (Z - Z.mean(0)) / Z.std(0)
    signal = 2.0 * zs[:, 3] - 1.5 * zs[:, 10]
    y = signal + rng.normal(0, 1.5, len(Z))
    keys = read_latents(df).keys
    d = trait_direction(df, _variables(keys, lvedv=y), "lvedv", seed=1701)
    truth = np.zeros(D)
    truth[[3, 10]] = [2.0, -1.5]
    truth /= np.linalg.norm(truth)
    assert np.isclose(np.linalg.norm(d.beta), 1.0)
    assert d.beta @ truth > 0.97                                   # the planted direction
    top = d.selected()["latent"].head(2).tolist()
    assert sorted(top) == [3, 10]
    # the out-of-fold R^2 is close to the truth's R^2 (signal variance over total), 6.25 / 8.5
    r2_true = signal.var() / (signal.var() + 1.5 ** 2)
    assert abs(d.summary.score - r2_true) < 0.05
    assert d.summary.score_name == "r2" and d.summary.seed == 1701 and d.summary.n_rows == len(Z)
    np.testing.assert_allclose(d.mean, Z.mean(0))
    np.testing.assert_allclose(d.sd, Z.std(0))


def test_move_and_project_follow_the_papers_rule_in_closed_form():
    df, Z, rng = _latents()
    y = Z[:, 1] * 0.8 + rng.normal(size=len(Z))
    d = trait_direction(df, _variables(read_latents(df).keys, t=y), "t")
    m = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    moved = d.move(Z[7], m)
    assert moved.shape == (5, D)
    np.testing.assert_allclose(moved[2], Z[7], atol=1e-12)              # m = 0: unchanged
    np.testing.assert_allclose(d.project(moved) - d.project(Z[7]), m * np.sqrt(D), atol=1e-9)
    # z_norm' = z_norm + m sqrt(D) beta, back on the raw scale
    zn = (Z[7] - Z.mean(0)) / Z.std(0)
    np.testing.assert_allclose(moved[4], (zn + np.sqrt(D) * d.beta) * Z.std(0) + Z.mean(0), atol=1e-9)


def test_a_disease_direction_by_l1_logistic_regression():
    df, Z, rng = _latents(n=1500)
    zs = (Z - Z.mean(0)) / Z.std(0)
    eta = -1.0 + 1.6 * zs[:, 5] + 0.9 * zs[:, 12]
    p = 1 / (1 + np.exp(-eta))
    case = (rng.random(len(p)) < p).astype(float)
    d = trait_direction(df, _variables(read_latents(df).keys, AF=case), "AF")
    assert d.summary.trait_kind == "binary" and d.summary.score_name == "auc"
    assert d.summary.n_cases == int(case.sum())
    assert sorted(d.selected()["latent"].head(2)) == [5, 12]
    assert d.beta[5] > 0 and d.beta[12] > 0
    # out-of-fold AUC close to the AUC of the true probabilities
    assert abs(d.summary.score - roc_auc_score(case, p)) < 0.04


def test_conditioning_residualises_the_trait_as_ols_does():
    df, Z, rng = _latents()
    age = rng.normal(60, 8, len(Z))
    zs = (Z - Z.mean(0)) / Z.std(0)
    y = 0.5 * age + 1.0 * zs[:, 2] + rng.normal(0, 1, len(Z))
    keys = read_latents(df).keys
    V = _variables(keys, y=y, age=age)
    d = trait_direction(df, V, "y", covariates=["age"])
    plain = trait_direction(df, V, "y")
    # conditioned on age the direction is latent 2 alone (age is not in the latents)
    assert abs(d.beta[2]) > 0.98 and d.summary.covariates == ["age"]
    # the residualised trait is statsmodels' OLS residual: same direction as fitting on it directly
    resid = sm.OLS(y, sm.add_constant(age)).fit().resid
    direct = trait_direction(df, _variables(keys, r=resid), "r")
    np.testing.assert_allclose(d.beta, direct.beta, atol=1e-10)
    assert plain.summary.score < 0.2 < d.summary.score     # age dominated the raw trait


def test_a_single_latent_is_a_direction():
    df, Z, _ = _latents()
    d = latent_direction(df, "S1701_Z4")
    assert d.summary.kind == "latent" and d.summary.seed == 1701
    assert d.beta[4] == 1 and np.count_nonzero(d.beta) == 1
    moved = d.move(Z[0], [1.0])
    np.testing.assert_allclose(moved[0] - Z[0], np.eye(D)[4] * np.sqrt(D) * Z.std(0)[4], atol=1e-9)
    assert latent_direction(df, "S42_Z0").summary.seed == 42


def test_missing_values_are_counted_exclusions():
    df, Z, rng = _latents()
    y = Z[:, 0] + rng.normal(size=len(Z))
    y[:7] = np.nan
    d = trait_direction(df, _variables(read_latents(df).keys, t=y), "t")
    assert d.summary.n_rows == len(Z) - 7
    assert len(d.excluded) == 7 and set(d.excluded["reason"]) == {"missing t"}


def test_save_and_load_round_trip(tmp_path):
    df, Z, rng = _latents()
    d = trait_direction(df, _variables(read_latents(df).keys, t=Z[:, 0] + rng.normal(size=len(Z))), "t")
    d.save(tmp_path / "direction.tsv")
    back = Direction.load(tmp_path / "direction.tsv")
    np.testing.assert_allclose(back.beta, d.beta)
    np.testing.assert_allclose(back.move(Z[3], [0.5]), d.move(Z[3], [0.5]))
    assert back.summary.score == pytest.approx(d.summary.score)


@pytest.mark.parametrize("call,message", [
    (lambda df, V: trait_direction(df, V, "t", seed=7), "seed 7 is not in the latents"),
    (lambda df, V: trait_direction(df, V, "nope"), "variable 'nope' was not built"),
    (lambda df, V: trait_direction(df, V, "few"), "1 cases and"),
    (lambda df, V: trait_direction(df, V, "flat"), "is constant"),
    (lambda df, V: trait_direction(df, V, "few", covariates=["t"]), "covariates condition continuous traits"),
    (lambda df, V: latent_direction(df, "Z3"), "is not a latent column"),
    (lambda df, V: latent_direction(df, "S1701_Z99"), "is not in the latents"),
    (lambda df, V: trait_direction(df, V, "noise"), "no latent is selected at any penalty"),
])
def test_bad_requests_are_one_clear_error(call, message):
    df, Z, rng = _latents(n=200)
    few = np.zeros(len(Z))
    few[0] = 1
    # a trait orthogonal to every latent: no latent enters the lasso path at any penalty
    Zc = Z - Z.mean(0)
    r = rng.normal(size=len(Z))
    r -= r.mean()
    noise = r - Zc @ np.linalg.lstsq(Zc, r, rcond=None)[0]
    V = _variables(read_latents(df).keys, t=Z[:, 0], few=few, flat=np.full(len(Z), 5.0), noise=noise)
    with pytest.raises(CardiolatentError, match=message):
        call(df, V)


def test_a_trait_of_the_main_data_by_name_with_covariates(gwas_cohort):
    """On the synthetic cohort: the LV EDV imaging phenotype (field 24100) by name, conditioned on age
    and sex, finds the latent that carries the true LV EDV."""
    from cardiolatent.analysis.design import fields_needed
    from cardiolatent.ukb.read import read_main

    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    truth = truth[truth["instance"] == 2].reset_index(drop=True)
    rng = np.random.default_rng(3)
    lat = truth[["eid", "instance"]].assign(seed=1701)
    for k in range(8):
        lat[f"Z{k}"] = rng.normal(size=len(truth))
    lv = truth["lvedv_ml"].to_numpy()
    lat["Z5"] = (lv - lv.mean()) / lv.std() + rng.normal(0, 0.5, len(truth))
    main = read_main(gwas_cohort.main, fields_needed(["lvedv", "age", "sex"]), missing_ok=True)
    d = trait_direction(lat, main, "lvedv", covariates=["age", "sex"])
    assert d.summary.name == "lvedv" and d.summary.covariates == ["age", "sex"]
    assert d.selected()["column"].iloc[0] == "S1701_Z5" and d.beta[5] > 0.9
    assert d.summary.score > 0.3          # out of fold, after age and sex took their share
    assert any("residualised" in n for n in d.summary.notes)
    assert d.summary.n_rows + len(d.excluded) == len(truth)    # participants without the IDP are counted


def test_the_direction_does_not_depend_on_the_number_of_cores(monkeypatch):
    """LassoCV's folds run on every core; the same fit on one core gives the same direction, bit for bit."""
    df, Z, rng = _latents(n=300, seed=4)
    zs = (Z - Z.mean(0)) / Z.std(0)
    y = zs[:, 1] - 0.5 * zs[:, 7] + rng.normal(0, 1, len(Z))
    V = _variables(read_latents(df).keys, lvedv=y)
    many = trait_direction(df, V, "lvedv", seed=1701)
    real = direction_mod.LassoCV
    monkeypatch.setattr(direction_mod, "LassoCV", lambda **kw: real(**{**kw, "n_jobs": 1}))
    one = trait_direction(df, V, "lvedv", seed=1701)
    np.testing.assert_array_equal(many.beta, one.beta)
    assert many.summary.score == one.summary.score
