"""cardiolatent's own OLS GWAS scan (``cardiolatent.gwas.scan.linear_scan``, kernel
``cardiolatent.stats.dosage``), the fallback of the demo where plink2 is not installed.

- Against the real plink2 (skipped, with the reason, where it is not on PATH): the same export
  folder through its generated ``run_plink2.sh`` and through our scan give the same variants,
  ``OBS_CT``, ``A1``, ``ERRCODE`` and numbers to plink2's printed precision (6 significant digits),
  on the 2,000-participant cohort (two phenotype missingness patterns, variants with missing calls)
  and on a small fileset with plink2's corner cases (allele-frequency tie, A1 = REF, the ``--mac``
  boundary, a constant dosage, ``CORR_TOO_HIGH``, ``VIF_INFINITE``, ``VIF_TOO_HIGH``, ``-9`` and
  ``nan`` missing codes, a categorical covariate, samples without phenotypes or covariates).
- Without plink2: statsmodels OLS per variant as the independent reference (on the written files
  and on the kernel, including the downdate and direct paths for missing calls), ``ols_scan`` as a
  second one, the error codes on constructed cases, the underflow-free p-value in closed form.
- ``gwas-results`` reads our folder unchanged (and gives plink2's leads); bad inputs are one-line
  errors that name the file.
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
import statsmodels.api as sm
from scipy import special

from cardiolatent.cli import main as cli
from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.scan import AFREQ_COLUMNS, GLM_COLUMNS, SCAN_MARKER, SCAN_NOTICE, linear_scan
from cardiolatent.stats import ols_scan
from cardiolatent.stats.dosage import GLM_ERRCODES, DosageScanner, dosage_scan, t_test_mlog10p
from cardiolatent.synth.genotypes import BED_MAGIC, pack_dosages, read_bed

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 not on PATH: only the comparison with the real "
                                                         "PLINK 2 needs it (the statsmodels checks run without)")
#: a few covariates keep plink2 fast (its time grows with n x covariates^2 per variant with missing calls)
COVARIATES = ["--covariates", "age,genetic_sex,bsa,centre,imaging_year", "--pcs", "4"]
PHENOS = ["Z0", "Z1", "Z2", "Z3"]


def _cli(argv: list[str]) -> None:
    assert cli(argv) == 0, f"cardiolatent {' '.join(argv)} failed"


def _latents(cohort) -> pd.DataFrame:
    """Z0 ~ LVEDV, Z1 ~ LA volume, Z2 noise, Z3 ~ wall thickness with 5% missing (a second
    missingness pattern: plink2 fits it on other samples)."""
    p = pd.read_csv(cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(3)
    lat = pd.DataFrame({"eid": p["eid"], "instance": p["instance"]})
    lat["Z0"] = p["lvedv_ml"] + rng.normal(0, 5, len(p))
    lat["Z1"] = p["lav_ml"] + rng.normal(0, 5, len(p))
    lat["Z2"] = rng.normal(size=len(p))
    z3 = p["lvwt_mm"] + rng.normal(0, 1, len(p))
    z3[rng.random(len(p)) < 0.05] = np.nan
    lat["Z3"] = z3
    return lat


def _export(cohort, work: Path, *covariates: str) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    _latents(cohort).to_csv(work / "latents.tsv", sep="\t", index=False)
    out = work / "export"
    _cli(["export", "--latents", str(work / "latents.tsv"), "--ukb", str(cohort.main), "--format", "plink2",
          "--samples", str(cohort.genotypes.with_suffix(".fam")), *covariates, "--out", str(out), "--quiet"])
    return out


def _run_plink2(script: Path, geno: Path, out: Path, filters: str) -> Path:
    env = {**os.environ, "GENO": str(geno), "PLINK2": PLINK2, "OUT": str(out), "THREADS": "2", "FILTERS": filters}
    r = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def exported(gwas_cohort, tmp_path_factory) -> Path:
    return _export(gwas_cohort, tmp_path_factory.mktemp("scan"), *COVARIATES)


@pytest.fixture(scope="module")
def ours(exported, gwas_cohort, tmp_path_factory) -> Path:
    return linear_scan(exported, gwas_cohort.genotypes, tmp_path_factory.mktemp("ours") / "results", min_mac=20,
                       progress=False)


@pytest.fixture(scope="module")
def theirs(exported, gwas_cohort, tmp_path_factory) -> Path:
    if PLINK2 is None:
        pytest.skip("plink2 not on PATH")
    return _run_plink2(exported / "run_plink2.sh", gwas_cohort.genotypes,
                       tmp_path_factory.mktemp("plink2") / "results", "--mac 20")


# --------------------------------------------------------------------------------------------
# the comparison with plink2
# --------------------------------------------------------------------------------------------

def _read_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)


def _num(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s.replace("NA", np.nan)).to_numpy(dtype=float)


def _mlog10(s: pd.Series) -> np.ndarray:
    from cardiolatent.gwas.readers import mlog10p_from_text

    return mlog10p_from_text(s.tolist())


def assert_same_as_plink2(ours: Path, theirs: Path, *, chroms: set[str] | None = None) -> dict:
    """Per phenotype x variant, our files equal plink2's to its printed precision; returns counts."""
    ours_files = sorted(p.name for p in ours.glob("*.glm.linear"))
    assert ours_files == sorted(p.name for p in theirs.glob("*.glm.linear"))
    assert ours_files
    out = {"rows": 0, "missing_calls": 0, "a1_ref": 0, "errors": set(), "max_rel": 0.0, "max_t": 0.0,
           "max_mlog10p": 0.0}
    for name in ours_files:
        a, b = _read_text(ours / name), _read_text(theirs / name)
        assert list(a.columns) == list(b.columns) == list(GLM_COLUMNS), name
        if chroms is not None:
            a = a[a["#CHROM"].isin(chroms)].reset_index(drop=True)
        assert a["ID"].tolist() == b["ID"].tolist(), f"{name}: not the same variants"
        for c in ("#CHROM", "POS", "REF", "ALT", "A1", "TEST", "OBS_CT", "ERRCODE"):
            diff = a[c] != b[c]
            assert not diff.any(), (f"{name} {c}: {a.loc[diff, ['ID', c]].head(3).values} "
                                    f"vs {b.loc[diff, c].head(3).values}")
        for c in ("BETA", "SE", "T_STAT", "P"):
            assert ((a[c] == "NA") == (b[c] == "NA")).all(), f"{name} {c}: NA differs"
        ok = (b["ERRCODE"] == ".").to_numpy()
        for c in ("BETA", "SE"):
            x, y = _num(a[c])[ok], _num(b[c])[ok]
            rel = np.abs(x - y) / np.abs(y)
            assert (rel < 1e-5).all(), f"{name} {c}: relative difference {rel.max():.2e}"
            out["max_rel"] = max(out["max_rel"], float(rel.max(initial=0)))
        x, y = _num(a["T_STAT"])[ok], _num(b["T_STAT"])[ok]
        dt = np.abs(x - y)
        assert ((dt < 1e-4) | (dt < 1e-5 * np.abs(y))).all(), f"{name} T_STAT: {dt.max():.2e}"  # 6 digits printed
        out["max_t"] = max(out["max_t"], float(dt.max(initial=0)))
        x, y = _mlog10(a["P"])[ok], _mlog10(b["P"])[ok]
        dm = np.abs(x - y)
        assert ((dm < 1e-4) | (dm < 1e-5 * y)).all(), f"{name} -log10 P: {dm.max():.2e}"
        out["max_mlog10p"] = max(out["max_mlog10p"], float(dm.max(initial=0)))
        obs = a["OBS_CT"].astype(int)
        out["rows"] += len(a)
        out["missing_calls"] += int((obs < obs.max()).sum())
        out["a1_ref"] += int((a["A1"] == a["REF"]).sum())
        out["errors"] |= set(a["ERRCODE"]) - {"."}
    fa, fb = _read_text(ours / "quant.afreq"), _read_text(theirs / "quant.afreq")
    assert list(fa.columns) == list(fb.columns) == list(AFREQ_COLUMNS)
    if chroms is not None:
        fa = fa[fa["#CHROM"].isin(chroms)].reset_index(drop=True)
    for c in ("#CHROM", "ID", "REF", "ALT", "OBS_CT"):
        assert (fa[c] == fb[c]).all(), c
    np.testing.assert_allclose(_num(fa["ALT_FREQS"]), _num(fb["ALT_FREQS"]), rtol=5e-6, atol=1e-12)
    return out


@needs_plink2
def test_same_results_as_plink2_on_an_export(ours, theirs):
    got = assert_same_as_plink2(ours, theirs)
    assert got["rows"] == 4 * 6000
    assert got["missing_calls"] > 1000        # most variants have a few missing calls: the downdate is exercised
    assert got["a1_ref"] > 0                  # the tested allele is REF where ALT is the major allele
    # the second missingness pattern (Z3) is fitted on fewer samples
    z0 = _read_text(ours / "quant.Z0.glm.linear")["OBS_CT"].astype(int)
    z3 = _read_text(ours / "quant.Z3.glm.linear")["OBS_CT"].astype(int)
    assert z3.max() < z0.max()


def _write_corner_cases(folder: Path, script: Path) -> Path:
    """A 100-sample fileset and export-like folder with plink2's corner cases; returns the .bed prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    n = 100
    ids = np.array([str(1000 + i) for i in range(n)], dtype=object)

    def hw(p):
        return rng.binomial(2, p, n)

    G = [np.r_[np.full(45, 2), np.full(45, 0), np.full(10, 2)]]              # v0: ALT frequency 0.5 -> A1 = ALT
    g = np.zeros(n, int); g[10:54] = 2; G.append(g)                           # v1: just below 0.5
    g = np.zeros(n, int); g[10:20] = 2; g[95:] = 2; G.append(g)               # v2: MAC 20 among the kept
    g = np.zeros(n, int); g[10:19] = 2; g[19] = 1; g[95:] = 2; G.append(g)    # v3: MAC 19
    G.append(hw(0.3))                                                         # v4: = covariate c4
    g = np.zeros(n, int); g[92:] = 1; G.append(g)                             # v5: monomorphic among the kept
    g = hw(0.3); g[[3, 17, 40]] = -1; G.append(g)                             # v6: missing calls
    g = np.zeros(n, int); g[0:5] = 1; G.append(g)                             # v7: carriers only where y2 is NA
    g = np.zeros(n, int); g[50] = 1; G.append(g)                              # v8: MAC 1
    G.append(hw(0.4))                                                         # v9: |r| > 0.999 with c9
    G.append(hw(0.3))                                                         # v10: VIF > 50 through c10
    G.append(hw(0.3))                                                         # v11: = c5 + c6
    g = 2 - hw(0.3); g[[7, 8]] = -1; G.append(g)                              # v12: ALT major -> A1 = REF
    G += [hw(rng.uniform(0.05, 0.5)) for _ in range(8)]
    G = np.array(G)
    m = len(G)
    with open(folder / "g.bed", "wb") as fh:
        fh.write(BED_MAGIC)
        fh.write(pack_dosages(G).tobytes())
    pd.DataFrame({"c": "1", "id": [f"v{j}" for j in range(m)], "cm": 0, "pos": np.arange(m) * 100 + 100,
                  "a1": "A", "a2": "G"}).to_csv(folder / "g.bim", sep="\t", header=False, index=False)
    pd.DataFrame({"f": ids, "i": ids, "p": 0, "m": 0, "s": rng.integers(1, 3, n), "ph": -9}).to_csv(
        folder / "g.fam", sep="\t", header=False, index=False)
    keep = np.arange(n) < 90                                                  # 10 samples not kept
    pd.DataFrame({"f": ids[keep], "i": ids[keep]}).to_csv(folder / "keep.txt", sep="\t", header=False, index=False)
    y = rng.normal(size=(n, 4)).round(4).astype(object)
    y[0:5, 1], y[5:8, 2], y[8:10, 3] = "NA", "-9", "nan"
    ph = pd.DataFrame({"#FID": ids, "IID": ids, "y1": y[:, 0], "y2": y[:, 1], "y3": y[:, 2], "y4": y[:, 3]})
    ph.drop(index=[11]).to_csv(folder / "pheno.txt", sep="\t", index=False)   # a kept sample without phenotypes
    c5 = rng.normal(size=n).round(3)
    cv = pd.DataFrame({"#FID": ids, "IID": ids, "c1": rng.normal(size=n).round(3),
                       "c2": rng.normal(size=n).round(3).astype(object),
                       "c3": rng.normal(size=n).round(3).astype(object),
                       "c4": G[4], "c9": (G[9] + rng.normal(0, 0.01, n)).round(5),
                       "c10": (G[10] + rng.normal(0, 0.08, n)).round(5), "c5": c5, "c6": G[11] - c5,
                       "cat": np.where(np.arange(n) < 50, "a", np.where(np.arange(n) < 80, "b", "c"))})
    cv.loc[20, "c2"], cv.loc[21, "c3"], cv.loc[22, "c3"], cv.loc[30, "cat"] = -9, "NA", "nan", "NONE"
    cv.drop(index=[12]).to_csv(folder / "covar.txt", sep="\t", index=False)   # a kept sample without covariates
    shutil.copy(script, folder / "run_plink2.sh")
    return folder / "g"


@needs_plink2
def test_same_results_as_plink2_on_its_corner_cases(exported, tmp_path):
    geno = _write_corner_cases(tmp_path / "toy", exported / "run_plink2.sh")
    toy = tmp_path / "toy"
    seen = {}
    for label, filters, mac, minus9 in [("all", "", 0, None), ("mac20", "--mac 20", 20, None),
                                        ("real-9", "--no-input-missing-phenotype --no-psam-pheno", 0, False)]:
        theirs = _run_plink2(toy / "run_plink2.sh", geno, tmp_path / f"p2_{label}", filters)
        ours = linear_scan(toy, geno, tmp_path / f"ours_{label}", min_mac=mac, progress=False, minus9_missing=minus9)
        seen[label] = assert_same_as_plink2(ours, theirs)
    assert seen["all"]["errors"] == {"CONST_OMITTED_ALLELE", "CORR_TOO_HIGH", "VIF_INFINITE", "VIF_TOO_HIGH"}
    assert seen["all"]["a1_ref"] > 0 and seen["all"]["missing_calls"] > 0
    ids20 = _read_text(tmp_path / "ours_mac20" / "quant.y1.glm.linear")["ID"].tolist()
    assert "v2" in ids20 and "v3" not in ids20 and "v5" not in ids20      # MAC 20 kept, 19 and 0 omitted
    assert "categorical" in (tmp_path / "ours_all" / SCAN_NOTICE).read_text()


@pytest.mark.slow
@needs_plink2
def test_same_results_as_plink2_with_the_papers_covariates(gwas_cohort, tmp_path):
    """The default covariates (genotyping batch, imaging year, centre dummies: ~120 columns), as
    the demo exports; plink2 on chromosome 22 only (it is slow with many covariates)."""
    exp = _export(gwas_cohort, tmp_path / "w")
    theirs = _run_plink2(exp / "run_plink2.sh", gwas_cohort.genotypes, tmp_path / "p2", "--mac 20 --chr 22")
    ours = linear_scan(exp, gwas_cohort.genotypes, tmp_path / "ours", min_mac=20, progress=False)
    got = assert_same_as_plink2(ours, theirs, chroms={"22"})
    assert got["missing_calls"] > 0
    assert len(json.loads((ours / SCAN_MARKER).read_text())["covariates"]) > 100


# --------------------------------------------------------------------------------------------
# independent references (no plink2)
# --------------------------------------------------------------------------------------------

def _by_iid(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", dtype={"IID": str, "#FID": str}, na_values=["NA"], keep_default_na=False)
    return df.set_index("IID").drop(columns=["#FID"])


def test_written_files_match_statsmodels(ours, exported, gwas_cohort):
    """Our files against statsmodels OLS, built from the export's files and the .bed read directly."""
    geno, bim, fam = read_bed(gwas_cohort.genotypes)
    keep = pd.read_csv(exported / "keep.txt", sep="\t", header=None, dtype=str)[1]
    rows = fam["iid"].isin(set(keep)).to_numpy()
    iids = fam.loc[rows, "iid"].to_numpy()
    g = geno[rows].astype(float)
    g[g < 0] = np.nan
    pheno = _by_iid(exported / "pheno.txt").reindex(iids)
    covar = _by_iid(exported / "covar.txt").reindex(iids)
    alt_freq = np.nansum(g, axis=0) / (2 * (~np.isnan(g)).sum(axis=0))
    miss = np.isnan(g).sum(axis=0)
    pick = [int(np.flatnonzero(miss >= 3)[0]), int(np.flatnonzero((miss > 0) & (alt_freq > 0.5))[0]),
            int(np.flatnonzero((miss == 0) & (alt_freq < 0.5) & (alt_freq > 0.05))[0])]
    planted = pd.read_csv(gwas_cohort.truth / "variants.tsv", sep="\t")
    pick.append(int(np.flatnonzero(bim["id"].to_numpy() == planted.loc[planted["trait_column"] == "lvedv_ml",
                                                                         "id"].iloc[0])[0]))
    for ph in ("Z0", "Z3"):
        glm = _read_text(ours / f"quant.{ph}.glm.linear").set_index("ID")
        for j in pick:
            row = glm.loc[bim["id"][j]]
            a1_is_alt = alt_freq[j] <= 0.5
            assert row["A1"] == (bim["a1"][j] if a1_is_alt else bim["a2"][j])
            dosage = g[:, j] if a1_is_alt else 2 - g[:, j]
            X = pd.concat([covar, pd.Series(dosage, index=iids, name="g")], axis=1)
            X = X.loc[:, X.nunique() > 1]
            d = pd.concat([pheno[ph], X], axis=1).dropna()
            fit = sm.OLS(d[ph], sm.add_constant(d.drop(columns=[ph]))).fit()
            assert int(row["OBS_CT"]) == int(fit.nobs)
            np.testing.assert_allclose(float(row["BETA"]), fit.params["g"], rtol=1e-7)
            np.testing.assert_allclose(float(row["SE"]), fit.bse["g"], rtol=1e-7)
            np.testing.assert_allclose(float(row["T_STAT"]), fit.tvalues["g"], rtol=1e-7)
            np.testing.assert_allclose(float(row["P"]), fit.pvalues["g"], rtol=1e-6)
    assert miss[pick[0]] >= 3


def _random_problem(seed=0, n=300, V=60, P=5, k=4):
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(n, k))
    C[:, 0] = rng.integers(0, 2, n)                      # a dummy
    Y = rng.normal(size=(n, P)) + C @ rng.normal(size=(k, P))
    Y[rng.random((n, P)) < 0.03] = np.nan                # per-phenotype missingness patterns
    Y[:, 1] = Y[:, 0] * 0.5 + rng.normal(size=n)         # ... and one shared with another phenotype
    Y[np.isnan(Y[:, 0]), 1] = np.nan
    C[rng.random(n) < 0.01, 2] = np.nan                  # rows without a covariate: in no model
    G = rng.binomial(2, rng.uniform(0.05, 0.5, V), size=(n, V)).astype(float)
    Y[:, 2] += 0.4 * G[:, 0]
    miss = rng.random((n, V)) < 0.02
    miss[:, 1] = rng.random(n) < 0.3                     # many missing calls: the direct path
    G[miss] = np.nan
    return Y, G, C


def _statsmodels(Y, G, C, i, j):
    d = np.column_stack([Y[:, i], C, G[:, j]])
    d = d[~np.isnan(d).any(axis=1)]
    fit = sm.OLS(d[:, 0], sm.add_constant(d[:, 1:], has_constant="add")).fit()
    return fit.params[-1], fit.bse[-1], fit.tvalues[-1], fit.pvalues[-1], int(fit.nobs)


@pytest.mark.parametrize("direct_above", [64, 2])
def test_kernel_matches_statsmodels(direct_above):
    Y, G, C = _random_problem()
    res = DosageScanner(Y, C, direct_above=direct_above).scan(G)
    assert (res.err == 0).all()
    for i in range(Y.shape[1]):
        for j in range(G.shape[1]):
            b, s, t, p, n = _statsmodels(Y, G, C, i, j)
            assert res.n[j, i] == n
            np.testing.assert_allclose([res.beta[j, i], res.se[j, i], res.t[j, i]], [b, s, t], rtol=1e-9, atol=1e-13)
            np.testing.assert_allclose(res.p[j, i], p, rtol=1e-8)
            np.testing.assert_allclose(res.mlog10p[j, i], -np.log10(p), rtol=1e-8)
    # integer A1 counts with -1 missing give the same numbers
    Gi = np.where(np.isnan(G), -1, G).astype(np.int8)
    res2 = dosage_scan(Y, Gi, C)
    np.testing.assert_allclose(res2.beta, res.beta, rtol=1e-12)


def test_kernel_matches_ols_scan():
    """The project's own OLS scan (grouped by missingness pattern, one QR each) as a second reference."""
    Y, G, C = _random_problem(seed=5)
    res = dosage_scan(Y, G, C)
    tab = ols_scan(Y, G, C)
    beta = tab["beta"].to_numpy().reshape(Y.shape[1], G.shape[1]).T
    se = tab["se"].to_numpy().reshape(Y.shape[1], G.shape[1]).T
    n = tab["n"].to_numpy().reshape(Y.shape[1], G.shape[1]).T
    np.testing.assert_allclose(res.beta, beta, rtol=1e-9)
    np.testing.assert_allclose(res.se, se, rtol=1e-9)
    assert (res.n == n).all()
    long = res.table(y_names=[f"Y{i}" for i in range(Y.shape[1])])
    assert len(long) == Y.shape[1] * G.shape[1] and set(long["errcode"]) == {"."}


def test_kernel_error_codes_as_plink2():
    rng = np.random.default_rng(2)
    n = 200
    C = rng.normal(size=(n, 3))
    Y = rng.normal(size=(n, 1))
    base = rng.binomial(2, 0.3, n).astype(float)
    C[:, 0] = base + rng.normal(0, 0.01, n)            # |r| with column 3 below > 0.999
    C[:, 1] = rng.normal(size=n)
    C[:, 2] = rng.normal(size=n)
    G = np.column_stack([
        np.ones(n),                                      # constant dosage
        base,                                            # CORR_TOO_HIGH
        rng.binomial(2, 0.3, n).astype(float),           # fine
        C[:, 1] + C[:, 2],                               # exactly collinear with two covariates: VIF_INFINITE
        C[:, 1] + rng.normal(0, 0.1, n),                 # r ~ 0.995 < 0.999 but VIF ~ 100 > 50: VIF_TOO_HIGH
    ])
    res = dosage_scan(Y, G, C)
    codes = [GLM_ERRCODES[e] for e in res.err[:, 0]]
    assert codes == ["CONST_OMITTED_ALLELE", "CORR_TOO_HIGH", "", "VIF_INFINITE", "VIF_TOO_HIGH"]
    assert np.isnan(res.beta[[0, 1, 3, 4], 0]).all() and np.isfinite(res.beta[2, 0])
    assert (res.n[:, 0] == n).all()
    # too few samples: n <= covariates + 2
    few = dosage_scan(Y[:5], G[:5, 2:3], C[:5])
    assert GLM_ERRCODES[few.err[0, 0]] == "SAMPLE_CT<=PREDICTOR_CT"
    # a covariate constant on the phenotype's rows is left out (as plink2 excludes it)
    C2 = np.column_stack([C[:, 1], np.full(n, 3.0)])
    sc = DosageScanner(Y, C2, y_names=["y"], c_names=["c", "const"])
    assert sc.dropped == {"y": ["const"]}
    np.testing.assert_allclose(sc.scan(G[:, 2:3]).beta, dosage_scan(Y, G[:, 2:3], C2[:, :1]).beta, rtol=1e-12)


def test_p_values_below_double_range_in_closed_form():
    """df = 1: p = (2/pi) atan(1/|t|); df = 2: p = 1 - |t| / sqrt(2 + t^2) = 2 / (s (s + |t|)), s = sqrt(2 + t^2)."""
    t = np.array([1e200, 1e160, 3.0])
    np.testing.assert_allclose(t_test_mlog10p(t, 1.0),
                               [200 - np.log10(2 / np.pi), 160 - np.log10(2 / np.pi),
                                -np.log10(2 / np.pi * np.arctan(1 / 3.0))], rtol=1e-12)
    np.testing.assert_allclose(t_test_mlog10p(np.array([1e200]), 2.0), [400 - np.log10(1.0)], rtol=1e-12)
    mid = np.array([0.5, 5.0, 20.0])
    np.testing.assert_allclose(t_test_mlog10p(mid, 1500.0), -np.log10(2 * special.stdtr(1500.0, -mid)), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# gwas-results reads the folder; the folder says who wrote it
# --------------------------------------------------------------------------------------------

def test_gwas_results_reads_our_folder(ours, gwas_cohort, tmp_path):
    out = tmp_path / "summary"
    _cli(["gwas-results", "--results", str(ours), "--out", str(out), "--table-format", "tsv", "--min-mac", "20",
          "--quiet"])
    lam = pd.read_csv(out / "lambda.tsv", sep="\t")
    assert sorted(lam["latent"].astype(str)) == PHENOS
    leads = pd.read_csv(out / "leads.tsv", sep="\t", dtype={"chrom": str})
    planted = pd.read_csv(gwas_cohort.truth / "variants.tsv", sep="\t")
    z0 = leads[leads["latent"].astype(str) == "Z0"]
    assert set(z0["id"]) & set(planted.loc[planted["trait_column"] == "lvedv_ml", "id"])
    assert leads["eaf"].notna().all()            # from our quant.afreq


@needs_plink2
def test_gwas_results_gives_plink2s_leads(ours, theirs, tmp_path):
    tables = {}
    for label, folder in (("ours", ours), ("plink2", theirs)):
        out = tmp_path / label
        _cli(["gwas-results", "--results", str(folder), "--out", str(out), "--table-format", "tsv", "--quiet"])
        tables[label] = (pd.read_csv(out / "leads.tsv", sep="\t", dtype={"chrom": str}),
                         pd.read_csv(out / "lambda.tsv", sep="\t"))
    (lo, lamo), (lp, lamp) = tables["ours"], tables["plink2"]
    assert len(lo) > 0
    assert lo[["latent", "id", "effect_allele"]].astype(str).values.tolist() == \
        lp[["latent", "id", "effect_allele"]].astype(str).values.tolist()
    np.testing.assert_allclose(lo["mlog10p"], lp["mlog10p"], rtol=1e-5)
    np.testing.assert_allclose(lamo["lambda_gc"], lamp["lambda_gc"], rtol=1e-4)
    assert (lamo["n_variants"] == lamp["n_variants"]).all()


def test_the_folder_says_it_is_not_plink2(ours, exported, gwas_cohort, tmp_path):
    notice = (ours / SCAN_NOTICE).read_text()
    assert "NOT by PLINK 2" in notice and "--mac 20" in notice
    assert (ours / "quant.log").read_text() == notice
    rec = json.loads((ours / SCAN_MARKER).read_text())
    assert rec["written_by"].endswith("not PLINK 2") and rec["settings"]["min_mac"] == 20
    assert rec["variants"]["tested"] + rec["variants"]["filtered_min_mac"] == 6000
    # a re-run replaces the folder as a unit: no stale phenotype file
    out = tmp_path / "again"
    linear_scan(exported, gwas_cohort.genotypes, out, progress=False)
    linear_scan(exported, gwas_cohort.genotypes, out, phenotypes=["Z1"], progress=False)
    assert sorted(p.name for p in out.glob("*.glm.linear")) == ["quant.Z1.glm.linear"]


# --------------------------------------------------------------------------------------------
# bad input: one line, naming the file
# --------------------------------------------------------------------------------------------

def _one_line_error(fn, *names: str) -> str:
    with pytest.raises(CardiolatentError) as exc:
        fn()
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for nm in names:
        assert nm in msg, (nm, msg)
    return msg


def test_bad_inputs_are_one_line_errors(exported, gwas_cohort, tmp_path):
    geno = gwas_cohort.genotypes
    bad = tmp_path / "bad"
    shutil.copytree(exported, bad)
    (bad / "pheno.txt").unlink()
    _one_line_error(lambda: linear_scan(bad, geno, tmp_path / "o1", progress=False), str(bad / "pheno.txt"))
    _one_line_error(lambda: linear_scan(exported, geno, tmp_path / "o2", phenotypes=["Z9"], progress=False),
                    str(exported / "pheno.txt"), "Z9")
    _one_line_error(lambda: linear_scan(exported, tmp_path / "nowhere", tmp_path / "o3", progress=False),
                    str(tmp_path / "nowhere.bed"))
    _one_line_error(lambda: linear_scan(tmp_path / "no_export", geno, tmp_path / "o4", progress=False),
                    str(tmp_path / "no_export"))
    other = tmp_path / "other"
    shutil.copytree(exported, other)
    (other / "keep.txt").write_text("1\t1\n2\t2\n")
    _one_line_error(lambda: linear_scan(other, geno, tmp_path / "o5", progress=False),
                    str(other / "keep.txt"), str(geno.with_suffix(".fam")))
    cc = tmp_path / "casecontrol"
    shutil.copytree(exported, cc)
    ph = _read_text(cc / "pheno.txt")
    ph["Z0"] = np.where(np.arange(len(ph)) % 2, "1", "2")
    ph.to_csv(cc / "pheno.txt", sep="\t", index=False)
    _one_line_error(lambda: linear_scan(cc, geno, tmp_path / "o6", progress=False), str(cc / "pheno.txt"), "Z0")
    # a user's folder is never replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    _one_line_error(lambda: linear_scan(exported, geno, mine, progress=False), str(mine))
    assert (mine / "notes.txt").read_text() == "keep me"
    for k in range(1, 7):
        assert not (tmp_path / f"o{k}").exists()
