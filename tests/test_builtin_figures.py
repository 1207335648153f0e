"""``cardiolatent figures`` with no argument (the built-in cohort's figures) and every script in analyses/
run on the results it made: the producers are the real commands."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from _plot_helpers import assert_figure_files
from cardiolatent.cli import main as cli

pytestmark = pytest.mark.slow

ANALYSES = Path(__file__).resolve().parents[1] / "analyses"
SCRIPTS = sorted(p.name for p in ANALYSES.glob("fig*.py"))


@pytest.fixture(scope="module")
def builtin(tmp_path_factory):
    out = tmp_path_factory.mktemp("builtin") / "figures"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli(["figures", "--out", str(out)]) == 0
    printed = buf.getvalue()
    root = Path(re.search(r"the built-in cohort's results: (\S+)", printed).group(1))
    return out, root, printed


def test_every_family_is_drawn_from_the_builtin_cohort(builtin):
    out, root, printed = builtin
    drawn = pd.read_csv(out / "figures.tsv", sep="\t")
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t")
    got = {(r.source, r.figure) for r in drawn.itertuples()}
    assert {("assoc_traits.tsv", "volcano"), ("assoc_diseases.tsv", "volcano")} <= got
    assert {("cox.tsv", f) for f in ("forest", "tertile_forest", "km_AF", "km_sex_AF", "na_AF", "km_MI")} <= got
    assert {("ensemble", "cross_seed_heatmap"), ("icc_visits.tsv", "icc_between_visits"),
            ("icc_seeds.tsv", "icc_between_seeds")} <= got
    assert sum(s == "manipulation/lvedv" and f.startswith("grid.") for s, f in got) == 2
    if shutil.which("plink2"):
        assert {("gwas", "manhattan"), ("gwas", "qq")} <= got
    assert "gwas_export" in set(skipped["source"])
    for r in drawn.itertuples():
        assert_figure_files({"png": out / r.png, "pdf": out / r.pdf})
    assert f"wrote {len(drawn)} figure(s)" in printed


@pytest.mark.parametrize("script", SCRIPTS)
def test_analyses_script_draws_its_figure(builtin, tmp_path, script):
    _, root, _ = builtin
    if script == "fig3a_manhattan.py" or script == "fig3b_qq.py":
        if not (root / "gwas").exists():
            pytest.skip("plink2 not installed: the built-in cohort has no GWAS")
    r = subprocess.run([sys.executable, str(ANALYSES / script), "--results", str(root), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    pngs = sorted(tmp_path.glob("*.png"))
    assert pngs, r.stdout
    for png in pngs:
        assert_figure_files({"png": png, "pdf": png.with_suffix(".pdf")})
    assert all(f"wrote {p}" in r.stdout for p in pngs)


def test_a_missing_result_names_the_key_and_the_command(tmp_path):
    r = subprocess.run([sys.executable, str(ANALYSES / "fig2a_volcano_diseases.py"), "--results", str(tmp_path),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "assoc_diseases" in lines[0] and "cardiolatent assoc" in lines[0]


def test_readme_figures_script(builtin, tmp_path):
    _, root, _ = builtin
    r = subprocess.run([sys.executable, str(ANALYSES / "readme_figures.py"), "--results", str(root), "--out",
                        str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["icc_distributions.png", "km_af.png",
                                                              "manipulation_lvedv.png", "volcano_traits.png"]
    readme = (ANALYSES.parent / "README.md").read_text()
    assert all(f"docs/figures/{p.name}" in readme for p in tmp_path.glob("*.png"))


def test_per_latent_manhattan_and_qq_and_a_gene_file(builtin, tmp_path):
    _, root, _ = builtin
    genes = tmp_path / "genes.bed"
    genes.write_text("19\t0\t60000000\tGENEA\n20\t0\t60000000\tGENEB\n")
    out = tmp_path / "f"
    assert cli(["figures", "--results", str(root / "gwas"), "--out", str(out), "--per-latent",
                "S1701_Z0,S1701_Z3", "--genes", str(genes), "--quiet"]) == 0
    drawn = pd.read_csv(out / "figures.tsv", sep="\t")
    assert sorted(drawn["figure"]) == sorted(["manhattan", "qq", "manhattan_S1701_Z0", "qq_S1701_Z0",
                                              "manhattan_S1701_Z3", "qq_S1701_Z3"])
    assert set(drawn["label"]) == {"gwas"} and (out / "gwas.manhattan_S1701_Z3.png").exists()
    # a latent the GWAS does not hold: the folder is listed as skipped with the reason
    out2 = tmp_path / "g"
    assert cli(["figures", "--results", str(root / "gwas"), "--out", str(out2), "--per-latent", "S9_Z1",
                "--quiet"]) != 0
    skipped = pd.read_csv(out2 / "skipped.tsv", sep="\t")
    assert "no latent S9_Z1" in skipped["reason"].iloc[0]
    assert cli(["figures", "--results", str(root / "gwas"), "--out", str(tmp_path / "h"), "--genes",
                str(tmp_path / "none.bed")]) != 0
