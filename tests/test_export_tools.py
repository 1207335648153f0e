"""The real GWAS tools read what ``cardiolatent export`` writes (plink2, PLINK 1.9, BOLT-LMM; REGENIE by rules).

Each tool run is kept to a few seconds on the 2,000-participant synthetic cohort (variants or
model SNPs restricted through the run scripts' FILTERS / EXTRA variables, as a user would).
REGENIE is not installed: its files are checked by a strict reader written from REGENIE's
documented rules (and its source's checks), fed to plink2 (which reads ``FID IID`` headers), and
``run_regenie.sh`` is run against a stub that checks every argument.

:func:`plink2_gwas` is reusable: it exports the cohort for PLINK 2, runs ``run_plink2.sh`` and
returns where the ``.glm.linear`` files are, with the latent most correlated with a planted
cardiac parameter and that parameter's planted variants (for ``gwas-results`` tests).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_export import as_frame, make_latents, read_strict, run_cmd

PLINK2 = shutil.which("plink2")
PLINK1 = shutil.which("plink1.9") or shutil.which("plink1")
BOLT = shutil.which("bolt")

GWS = 5e-8
#: true cardiac parameters of the synthetic cohort that have planted variants
PARAMETERS = ("lvedv_ml", "lav_ml", "lvef_pct", "lvwt_mm", "rvedv_ml")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def export(cohort, workdir: Path, fmt: str, *extra: str, latents: pd.DataFrame | None = None) -> Path:
    """Export the synthetic latents of ``cohort`` for ``fmt`` with the genotype .fam as sample list."""
    workdir.mkdir(parents=True, exist_ok=True)
    lat = make_latents(cohort) if latents is None else latents
    lat.to_csv(workdir / "latents.tsv", sep="\t", index=False)
    out = workdir / f"export_{fmt}"
    rc = run_cmd(["--latents", str(workdir / "latents.tsv"), "--ukb", str(cohort.main), "--format", fmt,
                  "--samples", str(cohort.genotypes.with_suffix(".fam")), "--out", str(out), *extra])
    assert rc == 0
    return out


def run_script(script: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a written run script (bash) with environment overrides; fail with its output on error."""
    full = {**os.environ, "THREADS": "2", **env}
    res = subprocess.run(["bash", str(script)], env=full, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{script.name} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def best_latent(export_dir: Path, cohort) -> tuple[str, str, float]:
    """(written phenotype, cardiac parameter, |r|) of the most correlated pair over written participants."""
    ph = as_frame(export_dir / "pheno.txt")
    ph["eid"] = ph["IID"].astype(np.int64)
    truth = pd.read_csv(cohort.truth / "participants.tsv", sep="\t")
    truth = truth[truth["instance"] == 2].set_index("eid").loc[ph["eid"]]
    best = ("", "", 0.0)
    for c in ph.columns[2:-1]:
        y = ph[c].replace("NA", np.nan).astype(float).to_numpy()
        for p in PARAMETERS:
            ok = ~np.isnan(y)
            r = abs(np.corrcoef(y[ok], truth[p].to_numpy()[ok])[0, 1])
            if r > best[2]:
                best = (c, p, r)
    return best


def planted(cohort, parameter: str) -> pd.DataFrame:
    v = pd.read_csv(cohort.truth / "variants.tsv", sep="\t")
    return v[v["trait_column"] == parameter]


@dataclass
class Plink2Gwas:
    """A plink2 --glm run on exported files: ``results`` holds ``quant.<latent>.glm.linear``."""

    export_dir: Path
    results: Path
    latent: str
    parameter: str
    r: float
    planted: pd.DataFrame

    def glm(self, latent: str | None = None) -> pd.DataFrame:
        return pd.read_csv(self.results / f"quant.{latent or self.latent}.glm.linear", sep="\t")


def plink2_gwas(cohort, workdir: Path) -> Plink2Gwas:
    """Export for PLINK 2 (default options), run run_plink2.sh on the chromosomes of the planted
    variants of the best-correlated parameter, return the run (see :class:`Plink2Gwas`)."""
    out = export(cohort, workdir, "plink2")
    lat, par, r = best_latent(out, cohort)
    pv = planted(cohort, par)
    chroms = ",".join(str(c) for c in sorted(pv["chrom"].unique()))
    results = workdir / "plink2_results"
    run_script(out / "run_plink2.sh", GENO=str(cohort.genotypes), PLINK2=PLINK2 or "plink2", OUT=str(results),
               FILTERS=f"--mac 100 --chr {chroms} --memory 2000")
    return Plink2Gwas(out, results, lat, par, r, pv)


# --------------------------------------------------------------------------------------------
# PLINK 2
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def p2run(gwas_cohort, tmp_path_factory):
    if PLINK2 is None:
        pytest.skip("plink2 not installed")
    return plink2_gwas(gwas_cohort, tmp_path_factory.mktemp("p2"))


def test_plink2_reads_files_and_finds_planted_variant(p2run, gwas_cohort):
    man = json.loads((p2run.export_dir / "manifest.json").read_text())
    n, ncov = man["participants"]["written"], len(man["covariates"]["columns"])
    log = (p2run.results / "quant.log").read_text()
    assert f"{len(man['phenotypes']['written'])} quantitative phenotypes loaded" in log
    assert f"{ncov} covariates loaded" in log and "Warning" not in log
    assert f"--keep: {n} samples remaining" in log
    for c in man["phenotypes"]["written"]:
        g = p2run.glm(c)
        # every written participant is read (fewer only where a genotype call is missing)
        assert g["OBS_CT"].max() == n and g["OBS_CT"].min() > 0.98 * n and (g["ERRCODE"] == ".").all()
    # the latent most correlated with a planted cardiac parameter finds that parameter's variant
    assert (p2run.latent, p2run.parameter) == ("Z0", "lvedv_ml") and p2run.r > 0.9
    g = p2run.glm().set_index("ID")
    p = g.loc[p2run.planted["id"], "P"]
    assert p.min() < GWS, p
    assert g["P"].idxmin() in set(p2run.planted["id"])


def test_plink2_binary_traits(gwas_cohort, tmp_path):
    if PLINK2 is None:
        pytest.skip("plink2 not installed")
    out = export(gwas_cohort, tmp_path, "plink2", "--covariates", "age,genetic_sex,centre",
                 "--binary-traits", "AF,MI", "--latent-columns", "Z0")
    man = json.loads((out / "manifest.json").read_text())
    run_script(out / "run_plink2.sh", GENO=str(gwas_cohort.genotypes), PLINK2=PLINK2, OUT=str(tmp_path / "res"),
               FILTERS="--mac 100 --chr 22 --memory 2000")
    for b in ("AF", "MI"):
        g = pd.read_csv(tmp_path / "res" / f"binary.{b}.glm.logistic.hybrid", sep="\t")
        # 1/2 coding read as control/case: everyone is in the model (0/1 would lose the controls)
        n = man["participants"]["written"]
        assert g["OBS_CT"].max() == n and g["OBS_CT"].min() > 0.98 * n
        assert g["P"].notna().mean() > 0.99


# --------------------------------------------------------------------------------------------
# PLINK 1.9
# --------------------------------------------------------------------------------------------


def test_plink1_linear_and_logistic(gwas_cohort, tmp_path):
    if PLINK1 is None:
        pytest.skip("PLINK 1.9 not installed")
    lat = make_latents(gwas_cohort)
    lat.loc[lat.index[:40], "Z1"] = np.nan  # missing values written as -9
    out = export(gwas_cohort, tmp_path, "plink1", "--binary-traits", "AF", latents=lat)
    man = json.loads((out / "manifest.json").read_text())
    n = man["participants"]["written"]
    z1 = [r[3] for r in read_strict(out / "pheno.txt")[1]]
    n_missing = z1.count("-9")
    assert n_missing > 0
    # a few variants only (PLINK 1.9 --linear with ~120 covariate columns is slow): planted + 40 others
    bim = pd.read_csv(gwas_cohort.genotypes.with_suffix(".bim"), sep="\t", header=None)
    ids = list(planted(gwas_cohort, "lvedv_ml")["id"]) + list(bim[1].iloc[::150])
    (tmp_path / "extract.txt").write_text("\n".join(ids) + "\n")
    run_script(out / "run_plink1.sh", GENO=str(gwas_cohort.genotypes), PLINK=PLINK1, OUT=str(tmp_path / "res"),
               FILTERS=f"--extract {tmp_path / 'extract.txt'}")
    log = (tmp_path / "res" / "quant.log").read_text()
    assert f"{len(man['covariates']['columns'])} covariates loaded" in log
    res = {}
    for c in man["phenotypes"]["written"]:
        t = pd.read_csv(tmp_path / "res" / f"quant.{c}.assoc.linear", sep=r"\s+")
        res[c] = t
    assert res["Z0"]["NMISS"].max() == n
    assert res["Z1"]["NMISS"].max() == n - n_missing  # -9 read as missing, nothing else
    z0 = res["Z0"].set_index("SNP")
    assert z0.loc[list(planted(gwas_cohort, "lvedv_ml")["id"]), "P"].min() < GWS
    lg = pd.read_csv(tmp_path / "res" / "binary.AF.assoc.logistic", sep=r"\s+")
    assert lg["NMISS"].max() == n  # 1/2 coding: cases and controls all read


# --------------------------------------------------------------------------------------------
# BOLT-LMM
# --------------------------------------------------------------------------------------------


def _bolt_run(cohort, tmp_path, *extra) -> tuple[Path, dict, str]:
    out = export(cohort, tmp_path, "bolt", "--latent-columns", "Z0", *extra)
    man = json.loads((out / "manifest.json").read_text())
    bim = pd.read_csv(cohort.genotypes.with_suffix(".bim"), sep="\t", header=None)
    (tmp_path / "model.txt").write_text("\n".join(bim[1].iloc[::12]) + "\n")  # 500 model SNPs: a short run
    res = tmp_path / "res"
    run_script(out / "run_bolt.sh", GENO=str(cohort.genotypes), BOLT=BOLT, OUT=str(res), MODEL="--lmmInfOnly",
               EXTRA=f"--modelSnps={tmp_path / 'model.txt'} --numLeaveOutChunks=2")
    return res, man, (res / "quant.Z0.log").read_text()


def test_bolt_lmm_reads_dummy_covariates(gwas_cohort, tmp_path):
    if BOLT is None:
        pytest.skip("bolt not installed")
    res, man, log = _bolt_run(gwas_cohort, tmp_path)
    n, ncov = man["participants"]["written"], len(man["covariates"]["columns"])
    assert f"Number of individuals used in analysis: Nused = {n}" in log
    assert f"Total covariate vectors: C = {ncov + 1}" in log  # + BOLT's all-ones column
    assert "missing covariates" not in log
    with gzip.open(res / "quant.Z0.stats.gz", "rt") as fh:
        st = pd.read_csv(fh, sep="\t").set_index("SNP")
    assert st.loc[list(planted(gwas_cohort, "lvedv_ml")["id"]), "P_BOLT_LMM_INF"].astype(float).min() < GWS


def test_bolt_lmm_reads_raw_categorical_covariates(gwas_cohort, tmp_path):
    if BOLT is None:
        pytest.skip("bolt not installed")
    res, man, log = _bolt_run(gwas_cohort, tmp_path, "--categorical", "raw")
    assert man["covariates"]["categorical_columns"] == ["genotyping_batch", "imaging_year", "centre"]
    assert f"Nused = {man['participants']['written']}" in log
    assert "Using categorical covariate: genotyping_batch (adding level m9)" in log  # UK BiLEVE batch -9
    assert "missing covariates" not in log


# --------------------------------------------------------------------------------------------
# REGENIE (not installed): strict reader per its documented rules, plink2, and a stub run
# --------------------------------------------------------------------------------------------


def check_regenie_table(path: Path, kind: str, *, binary: bool = False, categorical=(), max_cat_levels: int = 10,
                        t2e_pairs=()) -> pd.DataFrame:
    """Validate a REGENIE phenotype/covariate file as REGENIE would read it; return it (strings).

    Rules (REGENIE docs, formats.md): header starts with exactly ``FID IID``; space/tab separated;
    every line FID IID + one value per column; missing only ``NA`` in phenotypes; binary traits
    0/1/NA; covariates: no missing (REGENIE drops such samples), numbers except the
    ``--catCovarList`` columns (at most ``--maxCatLevels`` levels); no duplicate samples;
    ``--t2e``: time > 0 or NA, event 0/1/NA, missing together.
    """
    header, rows = read_strict(path)
    assert header[:2] == ["FID", "IID"], f"{path.name}: header must start with FID IID"
    assert len(set(header)) == len(header)
    df = pd.DataFrame(rows, columns=header)
    assert not df.duplicated(["FID", "IID"]).any()
    for c in header[2:]:
        v = df[c]
        if kind == "covar":
            assert not v.isin(["NA", "nan", ".", ""]).any(), f"{path.name}: missing covariate values in {c}"
            if c in categorical:
                assert v.nunique() <= max_cat_levels
            else:
                assert np.isfinite(np.asarray(v, dtype=float)).all()  # numbers only (-9 is a number here)
        else:
            obs = v[v != "NA"]
            x = np.asarray(obs, dtype=float)
            assert np.isfinite(x).all()
            if binary:
                assert set(obs) <= {"0", "1"} and {"0", "1"} <= set(obs), c
    for t, e in t2e_pairs:
        tn, en = df[t] == "NA", df[e] == "NA"
        assert (tn == en).all()
        assert (df.loc[~tn, t].astype(float) > 0).all() and set(df.loc[~en, e]) <= {"0", "1"}
    return df


STUB = r"""#!/usr/bin/env bash
# records its arguments; step 1 writes the pred.list step 2 needs
printf '%s\n' "$@" > "$STUB_LOG.$(date +%s%N)"
out=""; step=""
while [ $# -gt 0 ]; do
  case "$1" in --out) out="$2"; shift ;; --step) step="$2"; shift ;; esac; shift
done
if [ "$step" = 1 ]; then echo "x ${out}_1.loco" > "${out}_pred.list"; fi
"""


def _parse_calls(log_prefix: Path) -> list[dict]:
    calls = []
    for f in sorted(log_prefix.parent.glob(log_prefix.name + ".*")):
        args = f.read_text().splitlines()
        d: dict = {"flags": set()}
        i = 0
        while i < len(args):
            a = args[i]
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                d[a] = args[i + 1]
                i += 2
            else:
                d["flags"].add(a)
                i += 1
        calls.append(d)
    return calls


def test_regenie_files_by_the_rules_and_through_plink2(gwas_cohort, tmp_path):
    out = export(gwas_cohort, tmp_path, "regenie", "--binary-traits", "AF,MI", "--t2e", "AF,MI")
    man = json.loads((out / "manifest.json").read_text())
    n = man["participants"]["written"]
    ph = check_regenie_table(out / "pheno.txt", "pheno")
    cv = check_regenie_table(out / "covar.txt", "covar")
    check_regenie_table(out / "pheno_binary.txt", "pheno", binary=True)
    check_regenie_table(out / "pheno_t2e.txt", "pheno", t2e_pairs=[("AF_time", "AF_event"), ("MI_time", "MI_event")])
    assert len(ph) == len(cv) == n and (ph["FID"] == cv["FID"]).all()
    # plink2 reads REGENIE's FID IID files as they are
    if PLINK2 is not None:
        res = tmp_path / "p2"
        subprocess.run([PLINK2, "--bfile", str(gwas_cohort.genotypes), "--pheno", str(out / "pheno.txt"),
                        "--covar", str(out / "covar.txt"), "--covar-variance-standardize", "--glm", "hide-covar",
                        "--chr", "20", "--mac", "100", "--threads", "2", "--memory", "2000", "--out", str(res)],
                       check=True, capture_output=True)
        g = pd.read_csv(tmp_path / "p2.Z0.glm.linear", sep="\t")
        assert g["OBS_CT"].max() == n
        assert f"{cv.shape[1] - 2} covariates loaded" in (tmp_path / "p2.log").read_text()


def test_regenie_raw_categorical_and_run_script(gwas_cohort, tmp_path):
    out = export(gwas_cohort, tmp_path, "regenie", "--categorical", "raw", "--binary-traits", "AF",
                 "--t2e", "AF")
    man = json.loads((out / "manifest.json").read_text())
    cats = man["covariates"]["categorical_columns"]
    levels = max(as_frame(out / "covar.txt")[c].nunique() for c in cats)
    check_regenie_table(out / "covar.txt", "covar", categorical=cats, max_cat_levels=levels)
    stub = tmp_path / "regenie_stub"
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = tmp_path / "calls" / "call"
    log.parent.mkdir()
    run_script(out / "run_regenie.sh", REGENIE=str(stub), STUB_LOG=str(log), OUT=str(tmp_path / "res"),
               STEP1_GENO=str(gwas_cohort.genotypes))
    calls = _parse_calls(log)
    assert [c["--step"] for c in calls] == ["1", "2"] * 3
    for c in calls:
        assert c["--bed"] == str(gwas_cohort.genotypes)
        pheno = Path(c["--phenoFile"])
        assert pheno.exists() and Path(c["--covarFile"]).exists() and Path(c["--keep"]).exists()
        assert c["--catCovarList"].split(",") == cats and int(c["--maxCatLevels"]) >= levels
        header = read_strict(pheno)[0]
        if pheno.name == "pheno_binary.txt":
            assert "--bt" in c["flags"]
        else:
            assert "--bt" not in c["flags"]
        if pheno.name == "pheno_t2e.txt":
            assert "--t2e" in c["flags"]
            assert c["--phenoColList"] == "AF_time" and c["--eventColList"] == "AF_event"
            assert {"AF_time", "AF_event"} <= set(header)
        if c["--step"] == "2":
            assert Path(c["--pred"]).exists() and c["--pred"].endswith("_pred.list")
    assert (tmp_path / "res" / "step1_quant_pred.list").exists()


# --------------------------------------------------------------------------------------------
# Issue acceptance: export -> real plink2 -> gwas-results reports the planted variant as a lead
# --------------------------------------------------------------------------------------------


def test_gwas_results_reports_the_planted_variant_as_lead(p2run, tmp_path):
    import argparse

    from cardiolatent.commands import gwas_results as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    out = tmp_path / "summary"
    assert cmd.run(p.parse_args(["--results", str(p2run.results), "--out", str(out), "--table-format", "tsv"])) == 0
    leads = pd.read_csv(out / "leads.tsv", sep="\t")
    mine = leads[leads["latent"].astype(str) == p2run.latent]
    planted_ids = set(p2run.planted["id"])
    hit = mine[mine["id"].isin(planted_ids)] if "id" in mine.columns else mine[mine["ID"].isin(planted_ids)]
    assert len(hit) >= 1, mine
    assert (hit["mlog10p"] > -np.log10(GWS)).all()
    lam = pd.read_csv(out / "lambda.tsv", sep="\t")
    assert lam["lambda_gc"].between(0.9, 1.2).all(), lam
