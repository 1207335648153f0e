"""``cardiolatent figures``: every figure of a results folder, from results the real commands wrote.

Inputs are made by the commands themselves (icc, ensemble, export) on a small latents table; the
figures are then checked through figures.tsv / skipped.tsv and the files (their content is the
figure modules' tests' business).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from _latents_helpers import shared_signal_latents
from _plot_helpers import assert_figure_files
from cardiolatent.cli import main as cli


def _run(argv):
    rc = cli(argv)
    assert rc == 0, argv
    return rc


@pytest.fixture(scope="module")
def results(small_cohort, tmp_path_factory):
    """icc (visits and seeds), ensemble and a PLINK 2 export of random latents of the small cohort,
    saved as the commands save them, plus a stray JSON that is not a result."""
    work = tmp_path_factory.mktemp("figres")
    truth = pd.read_csv(small_cohort.root / "truth" / "participants.tsv", sep="\t")
    rng = np.random.default_rng(3)
    lat = shared_signal_latents(truth, rng)
    lat_path = work / "latents.parquet"
    lat.to_parquet(lat_path, index=False)
    res = work / "results"
    _run(["icc", "--latents", str(lat_path), "--between", "visits", "--out", str(res / "icc.tsv"), "--quiet"])
    _run(["icc", "--latents", str(lat_path), "--between", "seeds", "--out", str(res / "sub" / "icc_seeds.tsv"),
          "--quiet"])
    _run(["ensemble", "--latents", str(lat_path), "--out", str(res / "ensemble"), "--quiet"])
    _run(["export", "--latents", str(lat_path), "--ukb", str(small_cohort.main), "--format", "plink2",
          "--out", str(res / "export"), "--quiet"])
    (res / "notes.summary.json").write_text(json.dumps({"hello": 1}))
    return res


def test_draws_every_result_and_lists_what_it_skipped(results, tmp_path, capsys):
    out = tmp_path / "figs"
    _run(["figures", "--results", str(results), "--out", str(out)])
    drawn = pd.read_csv(out / "figures.tsv", sep="\t")
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t")
    assert set(drawn["source"]) == {"icc.tsv", "sub/icc_seeds.tsv", "ensemble"}
    assert set(drawn.loc[drawn["source"] == "ensemble", "figure"]) == {"cross_seed_heatmap",
                                                                      "ensemble_alignment_heatmap"}
    assert set(drawn["label"]) == {"icc", "sub_icc_seeds", "ensemble"}
    for r in drawn.itertuples():
        assert_figure_files({"png": out / r.png, "pdf": out / r.pdf})
    # the export is listed with its reason; the stray JSON is not a result and is not listed
    assert list(skipped["source"]) == ["export"]
    assert "GWAS tools" in skipped["reason"].iloc[0]
    printed = capsys.readouterr().out
    assert "skipped export: an export holds files" in printed and f"to {out}" in printed


def test_rerun_replaces_the_folder_and_a_toml_names_files(results, tmp_path):
    out = tmp_path / "figs"
    _run(["figures", "--results", str(results), "--out", str(out), "--quiet"])
    (out / "stale.png").write_bytes(b"x")
    cfg = tmp_path / "figures.toml"
    cfg.write_text(f'icc = "{results / "icc.tsv"}"\n[more]\nensemble = "{results / "ensemble"}"\n')
    _run(["figures", "--results", str(cfg), "--out", str(out), "--quiet"])
    drawn = pd.read_csv(out / "figures.tsv", sep="\t")
    assert set(drawn["result"]) == {"ReproducibilityResult", "CrossSeedResult"}
    assert not (out / "stale.png").exists()                  # the folder was replaced as a unit
    assert len(list(out.glob("*.png"))) == len(drawn)


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("user_folder", "is not an earlier cardiolatent output"),
    ("results_folder", "is not an earlier cardiolatent output"),
    ("bad_toml", "not a readable TOML file"),
    ("toml_missing_file", "not found"),
    ("not_result", "no saved cardiolatent result found"),
])
def test_bad_requests_are_one_line(results, tmp_path, capsys, case, message):
    out = tmp_path / "figs"
    src = results
    if case == "missing":
        src = tmp_path / "nowhere"
    elif case == "user_folder":
        out.mkdir()
        (out / "thesis.docx").write_text("mine")
    elif case == "results_folder":
        out = results                                       # never replaces the results
    elif case == "bad_toml":
        src = tmp_path / "c.toml"
        src.write_text("icc = [unclosed")
    elif case == "toml_missing_file":
        src = tmp_path / "c.toml"
        src.write_text('icc = "nope.tsv"')
    elif case == "not_result":
        src = tmp_path / "empty"
        src.mkdir()
        (src / "table.tsv").write_text("a\n1\n")
    rc = cli(["figures", "--results", str(src), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and message in err[0], err
    if case == "user_folder":
        assert (out / "thesis.docx").read_text() == "mine"
    assert (results / "icc.tsv").exists()


def test_figures_inside_the_results_folder_are_not_taken_for_results(results, tmp_path):
    _run(["figures", "--results", str(results), "--out", str(results / "figures"), "--quiet"])
    first = pd.read_csv(results / "figures" / "figures.tsv", sep="\t")
    _run(["figures", "--results", str(results), "--out", str(results / "figures"), "--quiet"])
    again = pd.read_csv(results / "figures" / "figures.tsv", sep="\t")
    pd.testing.assert_frame_equal(first, again)
