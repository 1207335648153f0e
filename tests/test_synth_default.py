"""The built-in cohort of issue 17: its recipe, its size from ``CARDIOLATENT_BUILTIN_N``, and (slow)
that the real default answers: events for Cox, cases for the disease scan, repeat visits for ICC
and the planted variants through the real plink2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pandas as pd
import pytest

import cardiolatent.synth.default as default
from _synth_helpers import true_traits_as_latents
from cardiolatent.cli import main as cli
from cardiolatent.errors import CardiolatentError
from cardiolatent.synth.build import TABLES_VERSION, make_cohort


def test_tests_use_a_200_participant_builtin_cohort():
    assert os.environ["CARDIOLATENT_BUILTIN_N"] == "200"          # tests/conftest.py
    assert default.builtin_n() == 200


def test_builtin_size_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("CARDIOLATENT_BUILTIN_N")
    assert default.builtin_n() == default.DEFAULT_N == 1800
    monkeypatch.setenv("CARDIOLATENT_BUILTIN_N", " 500 ")
    assert default.builtin_n() == 500
    for bad, msg in (("many", "must be a whole number"), ("5", "must be at least 20")):
        monkeypatch.setenv("CARDIOLATENT_BUILTIN_N", bad)
        with pytest.raises(CardiolatentError, match=msg) as e:
            default.builtin_n()
        assert "\n" not in str(e.value)


def _capture_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDIOLATENT_HOME", str(tmp_path))
    calls = []
    monkeypatch.setattr(default, "make_cohort", lambda root, **kw: calls.append((root, kw)) or root)
    return calls


def test_the_builtin_cohort_is_built_with_its_recipe(tmp_path, monkeypatch):
    calls = _capture_builds(tmp_path, monkeypatch)
    default.default_cohort(images=True, progress=False)
    (root, kw), = calls
    assert root == tmp_path / "synth_n200_seed20208"
    assert kw == {"n": 200, "seed": 20208, "images": True, "progress": False, "series": "4ch",
                  "incidence_scale": 3.0, "variant_r2": 0.15, "polygenic_h2": 0.10}


def test_a_current_version_cohort_of_another_recipe_is_rebuilt(tmp_path, monkeypatch):
    calls = _capture_builds(tmp_path, monkeypatch)
    root = tmp_path / "synth_n200_seed20208"
    root.mkdir()
    info = {"generator": "cardiolatent synth", "images": True, "tables_version": TABLES_VERSION, "series": "4ch",
            "incidence_scale": 3.0}
    (root / "cohort.json").write_text(json.dumps(info))
    default.default_cohort(images=True, progress=False)
    assert calls == []                                              # the recipe's: reused
    (root / "cohort.json").write_text(json.dumps({**info, "incidence_scale": 1.0}))
    default.default_cohort(progress=False)
    assert len(calls) == 1 and calls[0][1]["incidence_scale"] == 3.0 and calls[0][1]["images"] is True
    (root / "cohort.json").write_text(json.dumps({**info, "variant_r2": 0.06}))    # planted variants of another size
    default.default_cohort(progress=False)
    assert len(calls) == 2 and calls[1][1]["variant_r2"] == default.DEFAULT_VARIANT_R2
    (root / "cohort.json").write_text(json.dumps({**info, "polygenic_h2": {"lvedv_ml": 0.0}}))  # no background
    default.default_cohort(progress=False)
    assert len(calls) == 3 and calls[2][1]["polygenic_h2"] == default.DEFAULT_POLYGENIC_H2


@pytest.mark.slow
def test_the_real_builtin_cohort_answers(tmp_path):
    """The 1,800-participant default, tables only: >= 50 incident AF and MI within 10 years (what
    ``outcomes --max-followup 10`` counts), >= DEFAULT_MIN_CASES cases of every paper disease in the
    case window, >= 150 repeat visits, and (with plink2) every planted variant at P < 5e-8 through
    export -> run_plink2.sh -> gwas-results with the true traits as latents (a perfect encoder: the
    check is that the cohort carries the signal; how much of it the demo latents carry is the
    encoder's business)."""
    paths = make_cohort(tmp_path / "builtin", n=default.DEFAULT_N, seed=default.DEFAULT_SEED, images=False,
                        series=default.DEFAULT_SERIES, incidence_scale=default.DEFAULT_INCIDENCE_SCALE,
                        variant_r2=default.DEFAULT_VARIANT_R2, polygenic_h2=default.DEFAULT_POLYGENIC_H2,
                        progress=False)
    out = tmp_path / "outcomes.tsv"
    assert cli(["outcomes", "--ukb", str(paths.main), "--outcomes", "paper_diseases", "--max-followup", "10",
                "--out", str(out), "--quiet"]) == 0
    t = pd.read_csv(out, sep="\t")
    counts = t.groupby("outcome")[["event", "case_window"]].sum()
    assert counts.loc["AF", "event"] >= 50 and counts.loc["MI", "event"] >= 50
    assert len(counts) == 8 and (counts["case_window"] >= default.DEFAULT_MIN_CASES).all(), counts
    parts = pd.read_csv(paths.truth / "participants.tsv", sep="\t")
    assert (parts["instance"] == 3).sum() >= 150

    if shutil.which("plink2") is None:
        pytest.skip("plink2 not on PATH: the GWAS part of the check is left out")
    variants = pd.read_csv(paths.truth / "variants.tsv", sep="\t")
    traits = true_traits_as_latents(paths, tmp_path / "lat.tsv")
    exp, glm = tmp_path / "export", tmp_path / "glm"
    assert cli(["export", "--latents", str(tmp_path / "lat.tsv"), "--ukb", str(paths.main), "--format", "plink2",
                "--samples", str(paths.genotypes.with_suffix(".fam")), "--out", str(exp), "--quiet"]) == 0
    env = {**os.environ, "GENO": str(paths.genotypes), "OUT": str(glm), "THREADS": "2", "FILTERS": "--mac 20"}
    r = subprocess.run(["bash", str(exp / "run_plink2.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert cli(["gwas-results", "--results", str(glm), "--out", str(tmp_path / "gwas"), "--quiet"]) == 0
    leads = pd.read_csv(tmp_path / "gwas" / "leads.tsv", sep="\t")
    for v in variants.itertuples():
        hit = leads[(leads["id"] == v.id) & (leads["latent"] == f"Z{traits.index(v.trait_column)}")]
        assert len(hit) == 1 and hit["p"].iloc[0] < 5e-8, (v.id, v.trait_column)
