"""The hand-off end to end with the real producers: ``export`` -> ``run_plink2.sh`` (real plink2) ->
``gwas-results``, and ``icc``'s summary.json -> ``gwas-results --meff``. No hand-written inputs.

- ``run_plink2.sh`` asks plink2 for allele frequencies (``--freq``), so ``gwas-results --min-mac``
  (the paper's filter) works on our own script's output and ``leads.tsv`` has ``eaf``; both are
  checked against allele counts taken straight from the genotype .bed over the exported samples.
- ``gwas-results --meff`` reads the M_eff that ``cardiolatent icc`` really writes.
- ``gwas-results`` output is a result: saved as a unit, loaded back equal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiolatent.cli import main as cli

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 not on PATH")


def _cli(argv: list[str]) -> None:
    assert cli(argv) == 0, f"cardiolatent {' '.join(argv)} failed"


@pytest.fixture(scope="module")
def plink2_run(gwas_cohort, tmp_path_factory):
    """export --format plink2 on the 2,000-participant cohort, then its run_plink2.sh with the real
    plink2 on every variant (no MAC filter in the script, so gwas-results' filter has work to do)."""
    if PLINK2 is None:
        pytest.skip("plink2 not on PATH")
    from test_export import make_latents

    work = tmp_path_factory.mktemp("handoff")
    lat = work / "latents.tsv"
    make_latents(gwas_cohort).to_csv(lat, sep="\t", index=False)
    exp = work / "export"
    _cli(["export", "--latents", str(lat), "--ukb", str(gwas_cohort.main), "--format", "plink2",
          "--samples", str(gwas_cohort.genotypes.with_suffix(".fam")), "--latent-columns", "Z0,Z1",
          "--out", str(exp), "--quiet"])
    glm = work / "glm"
    env = {**os.environ, "GENO": str(gwas_cohort.genotypes), "PLINK2": PLINK2, "OUT": str(glm), "THREADS": "1",
           "FILTERS": "--memory 2000"}
    r = subprocess.run(["bash", str(exp / "run_plink2.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return {"work": work, "export": exp, "glm": glm, "latents": lat}


def _allele_counts(cohort, keep: Path) -> pd.DataFrame:
    """Per variant, straight from the .bed over the exported samples: id, a1, a2, A1 count, alleles called."""
    from cardiolatent.synth.genotypes import read_bed

    geno, bim, fam = read_bed(cohort.genotypes)
    iids = set(pd.read_csv(keep, sep="\t", header=None, dtype=str)[1])
    rows = fam["iid"].isin(iids).to_numpy()
    g = geno[rows].astype(np.int64)
    called = (g >= 0)
    a1_count = np.where(called, g, 0).sum(axis=0)
    return pd.DataFrame({"id": bim["id"], "a1": bim["a1"], "a2": bim["a2"], "a1_count": a1_count,
                         "n_alleles": 2 * called.sum(axis=0)})


@needs_plink2
def test_min_mac_and_eaf_on_our_own_plink2_output(plink2_run, gwas_cohort, tmp_path):
    glm = plink2_run["glm"]
    assert (glm / "quant.afreq").exists()  # the script asked for allele frequencies
    counts = _allele_counts(gwas_cohort, plink2_run["export"] / "keep.txt").set_index("id")
    mac = np.minimum(counts["a1_count"], counts["n_alleles"] - counts["a1_count"])
    for min_mac in (20, 100):
        out = tmp_path / f"mac{min_mac}"
        _cli(["gwas-results", "--results", str(glm), "--out", str(out), "--min-mac", str(min_mac), "--quiet"])
        lam = pd.read_csv(out / "lambda.tsv", sep="\t").set_index("latent")
        assert sorted(lam.index) == ["Z0", "Z1"]
        expect = int((mac < min_mac).sum())
        assert (lam["n_filtered"] == expect).all(), (min_mac, lam["n_filtered"].tolist(), expect)
        assert (lam["n_rows"] == len(counts)).all()
        assert (lam["n_variants"] <= len(counts) - expect).all()
        summ = json.loads((out / "summary.json").read_text())
        assert summ["filters"]["min_mac"] == min_mac
    assert expect > 0  # the cohort has variants with MAC < 100: the filter did something
    # leads carry the effect-allele frequency of the exported samples
    leads = pd.read_csv(tmp_path / "mac100" / "leads.tsv", sep="\t", dtype={"chrom": str})
    assert len(leads) > 0 and leads["eaf"].notna().all()
    c = counts.loc[leads["id"]]
    f_a1 = c["a1_count"] / c["n_alleles"]
    want = np.where(leads["effect_allele"].to_numpy() == c["a1"].to_numpy(), f_a1, 1 - f_a1)
    np.testing.assert_allclose(leads["eaf"].to_numpy(), want, atol=1e-6)


@needs_plink2
def test_min_mac_without_frequencies_names_the_flag(plink2_run, tmp_path, capsys):
    """Results without the .afreq (a run by hand, without --freq): a clear error, not a crash."""
    lone = tmp_path / "lone"
    lone.mkdir()
    for f in plink2_run["glm"].glob("quant.*.glm.linear"):
        shutil.copy(f, lone / f.name)
    rc = cli(["gwas-results", "--results", str(lone), "--out", str(tmp_path / "o"), "--min-mac", "20", "--quiet"])
    assert rc != 0
    assert "--min-mac needs the column A1_FREQ (or a .afreq file of the run beside it)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written


@needs_plink2
def test_meff_from_the_real_icc_summary(plink2_run, gwas_cohort, tmp_path):
    """The README's example: gwas-results --meff <icc summary.json>, with the file icc really writes."""
    from test_outputs_unchanged import make_long_latents

    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    lat = tmp_path / "long.parquet"
    make_long_latents(truth).to_parquet(lat, index=False)
    _cli(["icc", "--latents", str(lat), "--between", "visits", "--out", str(tmp_path / "icc.tsv"), "--quiet"])
    summ_path = tmp_path / "icc.summary.json"
    assert summ_path.exists()
    icc = json.loads(summ_path.read_text())
    node = icc["meff"]["all"]
    meff = node.get("meff_li_ji", node.get("li_ji"))
    assert meff is not None and meff >= 1
    out = tmp_path / "gw"
    _cli(["gwas-results", "--results", str(plink2_run["glm"]), "--out", str(out), "--meff", str(summ_path),
          "--quiet"])
    summ = json.loads((out / "summary.json").read_text())
    assert summ["threshold"]["p"] == pytest.approx(5e-8 / meff, rel=1e-12)
    assert "Li & Ji" in summ["threshold"]["how"]


@needs_plink2
def test_gwas_results_is_a_result_saved_as_a_unit(plink2_run, tmp_path):
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.gwas.summary import GwasSummary, gwas_results

    res = gwas_results([plink2_run["glm"]], table_format="tsv")
    out = tmp_path / "gw"
    res.save(out)
    assert sorted(p.name for p in out.iterdir()) == ["lambda.tsv", "leads.tsv", "loci.tsv", "manhattan.tsv",
                                                     "qq.tsv", "summary.json"]
    back = GwasSummary.load(out)
    pd.testing.assert_frame_equal(back.table, res.table, check_dtype=False)
    assert back.leads["id"].tolist() == res.leads["id"].tolist()
    np.testing.assert_allclose(back.leads["eaf"], res.leads["eaf"], rtol=1e-11)
    assert len(back.manhattan) == len(res.manhattan) and len(back.qq) == len(res.qq)
    assert back.summary == res.summary
    assert back.summary_lines()[-1].startswith("wrote lambda.tsv, leads.tsv")
    # a re-run as parquet leaves no stale tsv; a user's folder is refused
    res.table_format = "parquet"
    res.save(out)
    assert not (out / "manhattan.tsv").exists() and (out / "manhattan.parquet").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "x.txt").write_text("x")
    with pytest.raises(CardiolatentError, match="not an earlier cardiolatent output"):
        res.save(mine)
