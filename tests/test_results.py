"""The result contract: every analysis result saves, loads back as itself, prints its summary, and
replaces its files as a unit (no collision between outputs, no stale file, a killed run harmless)."""

from __future__ import annotations

import json

import matplotlib.figure
import matplotlib.pyplot
import numpy as np
import pandas as pd
import pytest

import cardiolatent.results as results_mod
from cardiolatent.analysis.association import AssocResult, association_scan
from cardiolatent.analysis.reproducibility import ReproducibilityResult, icc_between_seeds, icc_between_visits
from cardiolatent.analysis.survival import CoxResult, cox_latents
from cardiolatent.encode.ensemble import CrossSeedResult, cross_seed
from _result_helpers import assert_killed_save_leaves_folder_whole
from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.ldsc import ldsc
from cardiolatent.genetics.ldscores import LDScores
from cardiolatent.genetics.result import HeritabilityResult
from cardiolatent.io_utils import atomic_dir
from cardiolatent.plotting import FIGURES
from cardiolatent.results import Result


@pytest.fixture(scope="module")
def data(gwas_cohort, tmp_path_factory):
    from cardiolatent.analysis.design import expand_names, fields_needed
    from cardiolatent.ukb.read import read_main

    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(1)
    rows = []
    for s in (1701, 42):
        d = truth[["eid", "instance"]].copy()
        d["seed"] = s
        d["Z0"] = truth["lvedv_ml"] + rng.normal(0, 15, len(truth))
        d["Z1"] = truth["lav_ml"] + rng.normal(0, 8, len(truth))
        rows.append(d)
    path = tmp_path_factory.mktemp("res") / "latents.parquet"
    pd.concat(rows, ignore_index=True).to_parquet(path)
    main = read_main(gwas_cohort.main, fields_needed(expand_names("age,sex,bmi,sbp,AF,MI")), missing_ok=True)
    return dict(path=path, main=main)


def _heritability() -> HeritabilityResult:
    """Our LD score regression on simulated summary statistics of three phenotypes (h2 and rg)."""
    rng = np.random.default_rng(5)
    S = 5_000
    ids = [f"rs{i}" for i in range(S)]
    ld = rng.gamma(2.0, 2.0, S) + 1
    lds = LDScores(table=pd.DataFrame({"chrom": "1", "id": ids, "pos": np.arange(S) * 100 + 1, "l2": ld}), m=S)
    stats = {name: pd.DataFrame({"id": ids, "effect_allele": "A", "other_allele": "G", "n": 5_000,
                                 "z": rng.standard_normal(S) * np.sqrt(1 + 5_000 * h2 * ld / S)})
             for name, h2 in (("a", 0.3), ("b", 0.2), ("c", 0.1))}
    r = ldsc(stats, lds, rg=True, m="M")
    return HeritabilityResult.from_tables(r.h2, r.rg)


def _results(data) -> dict[str, Result]:
    return {
        "h2": _heritability(),
        "assoc": association_scan(data["path"], data["main"], "bmi,sbp", "age,sex"),
        "cox": cox_latents(data["path"], data["main"], "AF", "age,sex", groups="S1701_Z0"),
        "icc_visits": icc_between_visits(data["path"], forms=["ICC3"]),
        "icc_seeds": icc_between_seeds(data["path"], forms=["ICC3", "ICC2"]),
        "ensemble": cross_seed(data["path"], threshold=0.5),
    }


def _assert_same_table(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    """Same columns and rows; numbers within 1e-12 (NaN and <NA> alike), other values as text."""
    assert list(a.columns) == list(b.columns) and len(a) == len(b), what
    for c in b.columns:
        if pd.api.types.is_numeric_dtype(b[c]) and not pd.api.types.is_bool_dtype(b[c]):
            np.testing.assert_allclose(pd.to_numeric(a[c]).to_numpy(float, na_value=np.nan),
                                       b[c].to_numpy(float, na_value=np.nan), rtol=1e-12, equal_nan=True,
                                       err_msg=f"{what}: {c}")
        else:
            assert a[c].astype(str).tolist() == b[c].astype(str).tolist(), f"{what}: {c}"


def test_every_result_round_trips(data, tmp_path):
    for name, res in _results(data).items():
        assert isinstance(res, Result) and {"eid", "instance", "reason"} <= set(res.excluded.columns)
        out = tmp_path / (name if res.layout == "folder" else f"{name}.tsv")
        paths = res.save(out)
        assert all(p.exists() for p in paths.values()), name
        back = Result.load(out)
        assert type(back) is type(res), name
        _assert_same_table(back.table, res.table, name)
        assert len(back.excluded) == len(res.excluded)
        assert back.summary.to_dict() == res.summary.to_dict(), name
        for k, v in res.extra_tables().items():
            assert len(back.extra_tables()[k]) == len(v), (name, k)
        lines = back.summary_lines()
        assert lines and all(isinstance(x, str) for x in lines)
        if type(res).__name__ in FIGURES:       # the plotting layer draws it
            fig = back.plot()
            assert isinstance(fig, matplotlib.figure.Figure) and fig.axes, name
            matplotlib.pyplot.close(fig)
        else:
            with pytest.raises(NotImplementedError, match="has no figure yet"):
                res.plot()
    assert not [p for p in tmp_path.rglob(".*")], "temporary files left"


def test_result_types_and_typed_summaries(data):
    r = _results(data)
    assert isinstance(r["assoc"], AssocResult) and r["assoc"].summary.n_traits_tested == 2
    assert r["assoc"].summary["m_eff"] == r["assoc"].summary.m_eff
    assert isinstance(r["cox"], CoxResult) and set(r["cox"].groups) == {"hazard_ratios", "kaplan_meier",
                                                                         "nelson_aalen"}
    assert isinstance(r["icc_visits"], ReproducibilityResult) and r["icc_visits"].summary.between == "visits"
    assert isinstance(r["ensemble"], CrossSeedResult) and r["ensemble"].summary.seeds == [1701, 42]


def test_outputs_with_the_same_first_word_do_not_collide(data, tmp_path):
    """``run.height.tsv`` and ``run.af.tsv`` each get their own summary and exclusions."""
    a = association_scan(data["path"], data["main"], "bmi", "age,sex")
    b = association_scan(data["path"], data["main"], "sbp", "age")
    a.save(tmp_path / "run.height.tsv")
    b.save(tmp_path / "run.af.tsv")
    assert {p.name for p in tmp_path.iterdir()} == {
        "run.height.tsv", "run.height.summary.json", "run.height.excluded.tsv",
        "run.af.tsv", "run.af.summary.json", "run.af.excluded.tsv"}
    assert json.loads((tmp_path / "run.height.summary.json").read_text())["traits_tested"] == ["bmi"]
    assert json.loads((tmp_path / "run.af.summary.json").read_text())["traits_tested"] == ["sbp"]
    with pytest.raises(CardiolatentError, match="needs a table extension"):
        a.save(tmp_path / "run")


def test_rerun_leaves_no_stale_file(data, tmp_path):
    with_groups = cox_latents(data["path"], data["main"], "AF", "age,sex", groups="S1701_Z0")
    without = cox_latents(data["path"], data["main"], "AF", "age,sex")
    out = tmp_path / "cox.tsv"
    with_groups.save(out)
    assert (tmp_path / "cox.S1701_Z0.kaplan_meier.tsv").exists()
    (tmp_path / "cox.notes.txt").write_text("the user's own file")
    without.save(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cox.excluded.tsv", "cox.notes.txt",
                                                           "cox.summary.json", "cox.tsv"]


def test_killed_save_leaves_previous_files_whole(data, tmp_path, monkeypatch):
    first = association_scan(data["path"], data["main"], "bmi", "age,sex")
    second = association_scan(data["path"], data["main"], "bmi,sbp", "age,sex")
    out = tmp_path / "a.tsv"
    first.save(out)
    assert_killed_save_leaves_folder_whole(lambda: second.save(out), tmp_path, monkeypatch)


def test_folder_results_swap_as_a_unit(data, tmp_path, monkeypatch):
    res = cross_seed(data["path"], threshold=0.5)
    out = tmp_path / "ens"
    res.save(out)
    (out / "stale.tsv").write_text("x")  # e.g. a file of an older version's output
    res.save(out)
    assert not (out / "stale.tsv").exists()
    names = sorted(p.name for p in out.iterdir())
    monkeypatch.setattr(results_mod, "_write", lambda df, path: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        res.save(out)
    assert sorted(p.name for p in out.iterdir()) == names
    assert [p.name for p in tmp_path.iterdir()] == ["ens"]
    # a folder that is not an earlier output is never replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(CardiolatentError, match="not an earlier cardiolatent output"):
        res.save(mine)
    assert (mine / "thesis.tex").read_text() == "precious"
    with pytest.raises(CardiolatentError, match="is a file"):
        with atomic_dir(mine / "thesis.tex"):
            pass


def test_load_refuses_what_it_cannot_know(tmp_path):
    with pytest.raises(CardiolatentError, match="not a saved cardiolatent result"):
        Result.load(tmp_path / "x.tsv")
    (tmp_path / "x.tsv").write_text("a\n1\n")
    (tmp_path / "x.summary.json").write_text(json.dumps({"cardiolatent_version": "0", "result": "os.system"}))
    with pytest.raises(CardiolatentError, match="unknown result type"):
        Result.load(tmp_path / "x.tsv")
