"""A target cohort drawn from a synthetic cohort's population (issue 18: polygenic scores are scored
in people outside the discovery GWAS)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cardiolatent.synth import default
from cardiolatent.synth.build import make_target_cohort, simulate_tables, simulate_target_tables
from cardiolatent.synth.genotypes import genotype_population, simulate_genotypes

RECIPE = dict(incidence_scale=3.0, variant_r2=0.15, polygenic_h2=0.10)


@pytest.fixture(scope="module")
def pair():
    disc = simulate_tables(600, 5, **RECIPE)
    targ = simulate_target_tables(4000, 2, discovery_n=600, discovery_seed=5, **RECIPE)
    return disc, targ


def test_population_replays_simulate_genotypes_exactly():
    eids = np.arange(1, 301)
    a = simulate_genotypes(eids, np.random.default_rng(3), causal_r2=0.1)
    pop = genotype_population(eids, np.random.default_rng(3), causal_r2=0.1)
    b = pop.genotypes
    assert np.array_equal(a.packed, b.packed)
    pd.testing.assert_frame_equal(a.variants, b.variants)
    pd.testing.assert_frame_equal(a.causal, b.causal)
    assert len(pop.block_rho) == a.variants["block"].nunique()


def test_target_shares_the_population_and_not_the_people(pair):
    (gd, cd), (gt, ct) = pair
    # same variants, alleles and planted effects; new people
    cols = ["chrom", "id", "pos", "a1", "a2", "block"]
    pd.testing.assert_frame_equal(gd.variants[cols], gt.variants[cols])
    pd.testing.assert_frame_equal(gd.causal, gt.causal)
    assert len(np.intersect1d(gd.eids, gt.eids)) == 0 and len(gt.eids) == 4000
    # the background's effects on the standardised genotypes are the same draws (per-allele effects
    # follow each cohort's own allele frequencies)
    cols = ["trait_column", "id", "b_std"]
    pd.testing.assert_frame_equal(cd.background_effects[cols], ct.background_effects[cols])
    # allele frequencies agree within sampling error (SD of a frequency at n = 600 is <= 0.015)
    diff = gd.variants["freq_a1"].to_numpy() - gt.variants["freq_a1"].to_numpy()
    assert np.abs(diff).max() < 0.08 and np.abs(diff).mean() < 0.015
    # LD: the r of neighbouring variants in one block agrees between the cohorts
    first = gd.variants.index[gd.variants["block"] == gd.variants["block"].iloc[len(gd.variants) // 2]][:6]
    ids = gd.variants.loc[first, "id"].tolist()
    rd = np.corrcoef(np.nan_to_num(gd.dosage(ids)).T)
    rt = np.corrcoef(np.nan_to_num(gt.dosage(ids)).T)
    assert np.abs(rd - rt).max() < 0.25


def test_planted_effects_hold_in_the_target(pair):
    """Regressing a true trait on its planted variant in the target recovers the planted beta (the
    target's 95 % CI covers it) and the target's realised h2 is near the planted one."""
    _, (gt, ct) = pair
    parts = ct.participants[ct.participants["instance"] == 2].set_index("eid").loc[gt.eids]
    for row in ct.variants.itertuples():
        y = parts[row.trait_column].to_numpy(float)
        x = gt.dosage([row.id])[:, 0]
        X = np.column_stack([np.ones_like(x), x, parts["age_exact"], parts["sex"], parts["true_bsa"]
                             if "true_bsa" in parts else parts["bsa"]])
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        se = np.sqrt(resid.var(ddof=X.shape[1]) * np.linalg.inv(X.T @ X)[1, 1])
        assert abs(beta[1] - row.beta) < 4 * se, (row.id, beta[1], row.beta, se)
    h = ct.heritability.set_index("trait_column")
    assert (np.abs(h["h2_realised"] - h["h2"]) < 0.08).all(), h[["h2", "h2_realised"]]


def test_make_target_cohort_writes_a_cohort(tmp_path):
    paths = make_target_cohort(tmp_path / "t", 300, 4, discovery_n=200, discovery_seed=9, **RECIPE)
    info = json.loads((paths.root / "cohort.json").read_text())
    assert info["target_of"] == {"n": 200, "seed": 9} and info["images"] is False and info["n"] == 300
    fam = pd.read_csv(str(paths.genotypes) + ".fam", sep=r"\s+", header=None)
    parts = pd.read_csv(paths.truth / "participants.tsv", sep="\t")
    assert len(fam) == 300 and set(fam[1]) == set(parts["eid"])
    assert paths.main.exists() and (paths.truth / "outcomes.tsv").exists()
    # deterministic
    again = make_target_cohort(tmp_path / "t2", 300, 4, discovery_n=200, discovery_seed=9, **RECIPE)
    assert (paths.root / "genotypes" / "synth.bed").read_bytes() == (again.root / "genotypes" / "synth.bed").read_bytes()


def test_the_builtin_target_cohort_is_cached_and_rebuilt_for_another_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDIOLATENT_HOME", str(tmp_path))
    calls = []

    def fake(root, n, seed, **kw):
        calls.append((root, n, seed, kw))
        root.mkdir(parents=True, exist_ok=True)
        info = {"tables_version": default.TABLES_VERSION, "target_of": {"n": kw["discovery_n"],
                                                                        "seed": kw["discovery_seed"]},
                "incidence_scale": kw["incidence_scale"], "variant_r2": kw["variant_r2"],
                "polygenic_h2": default.polygenic_h2_by_trait(kw["polygenic_h2"])}
        (root / "cohort.json").write_text(json.dumps(info))
        return root

    monkeypatch.setattr(default, "make_target_cohort", fake)
    default.default_target_cohort(progress=False)
    default.default_target_cohort(progress=False)
    assert len(calls) == 1
    root, n, seed, kw = calls[0]
    assert n == default.builtin_target_n() == 2222 and kw["discovery_n"] == 200 and kw["discovery_seed"] == default.DEFAULT_SEED
    assert kw["polygenic_h2"] == default.DEFAULT_POLYGENIC_H2 and kw["variant_r2"] == default.DEFAULT_VARIANT_R2
    info = json.loads((root / "cohort.json").read_text())
    (root / "cohort.json").write_text(json.dumps({**info, "variant_r2": 0.06}))
    default.default_target_cohort(progress=False)
    assert len(calls) == 2
