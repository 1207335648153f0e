"""SNP heritability and genetic correlation with BOLT-REML (the real tool, Debian's ``bolt``, BOLT-LMM
v2.4) on the files ``cardiolatent export --format bolt`` writes, and the heritability result.

- The parser, on real BOLT output kept in ``tests/fixtures/bolt/`` (made with the commands echoed at
  the top of each log on the 2,000-participant ``gwas_cohort``: a single-trait REML, a three-trait
  REML, and BOLT's errors for too many model SNPs and for a constant phenotype): every number read is
  the one printed, and the numbers agree with each other (h2g = the genetic variance component over
  the sum of the components; rg = the genetic covariance over the product of the genetic SDs).
- The result contract (saved as a unit, loaded back as itself, rows of BOLT-REML and LDSC together).
- Robustness: a missing ``bolt`` is a one-line error with the install hint; constant phenotypes, too
  few participants, a phenotype explained by the covariates, BOLT's own errors and a time-out are
  statuses, never exceptions.
- With the real tool (skipped without ``bolt``): the true cardiac parameters of the synthetic cohort
  as phenotypes; BOLT's h2 of LV end-diastolic volume agrees with an exact REML computed here with
  numpy/scipy on the GRM of the same genotypes and covariates (within BOLT's SE); the 95% CI of each
  parameter's h2 covers the planted SNP heritability (on the scale of the variance left after the
  covariates); a pair with a shared genetic part has rg near 1, a pair without near 0.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import matplotlib.figure
import matplotlib.pyplot
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from _result_helpers import assert_killed_save_leaves_folder_whole
from cardiolatent.cli import main as cli
from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.reml import BOUNDARY_H2, bolt_reml, find_bolt, parse_bolt_reml_log, run_status
from cardiolatent.genetics.result import H2_COLUMNS, RG_COLUMNS, HeritabilityResult, HeritabilitySummary
from cardiolatent.plotting import FIGURES
from cardiolatent.results import Result
from cardiolatent.synth.cohort import TRAIT_MODELS
from cardiolatent.synth.genotypes import read_bed

BOLT = shutil.which("bolt")
needs_bolt = pytest.mark.skipif(BOLT is None, reason="BOLT-LMM (bolt) not on PATH: apt-get install bolt-lmm")
FIX = Path(__file__).parent / "fixtures" / "bolt"
#: the true cardiac parameters with planted variants (truth/participants.tsv columns)
TRAITS = ["lvedv_ml", "lav_ml", "lvef_pct", "lvwt_mm", "rvedv_ml"]


def _printed(text: str, label: str) -> list[tuple[float, float]]:
    """Every ``  <label> (i,j): value (se)`` line of BOLT's output, read by plain splitting (not the
    module's regular expressions)."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(label + ":"):
            val, se = s[len(label) + 1:].split()
            out.append((float(val), float(se.strip("()"))))
    return out


# ---------------------------------------------------------------------- the parser, on stored real output
def test_parser_reads_a_single_trait_run():
    text = (FIX / "single_lvedv_ml.log").read_text()
    lg = parse_bolt_reml_log(text)
    assert lg.version == "2.4" and lg.phenotypes == ["lvedv_ml"] and lg.complete and not lg.errors
    nused = int(text.split("Nused = ")[1].split()[0])
    assert (lg.n, lg.m, lg.n_covariates) == (nused, 6000, 5)  # 4 covariates + BOLT's intercept
    # the numbers are the printed ones
    assert [lg.h2(0)] == _printed(text, "h2g (1,1)") and [lg.h2e[0]] == _printed(text, "h2e (1,1)")
    s2 = text.split("Phenotype 1 variance sigma2: ")[1].split("\n")[0].split()
    assert lg.sigma2[0] == (float(s2[0]), float(s2[1].strip("()")))
    # and agree with each other: h2g = VC1 / (VC0 + VC1); h2g + h2e = 1
    g, e = lg.vc[1][(0, 0)][0], lg.vc[0][(0, 0)][0]
    assert lg.h2(0)[0] == pytest.approx(g / (g + e), abs=2e-6)
    assert lg.h2(0)[0] + lg.h2e[0][0] == pytest.approx(1.0, abs=2e-6)
    assert lg.h2(0)[1] == lg.h2e[0][1]  # one SE for both fractions
    assert lg.seconds > 0 and run_status(lg, 0) == "ok"
    assert lg.warnings == ["Genetic map appears to be in cM units; rescaling by 0.01"]


def test_parser_reads_a_multi_trait_run():
    text = (FIX / "joint3.log").read_text()
    lg = parse_bolt_reml_log(text)
    assert lg.phenotypes == ["lvedv_ml", "lvedv_noisy", "lav_ml"] and lg.complete
    assert [lg.h2(k) for k in range(3)] == _printed(text, "h2g (1,1)") + _printed(text, "h2g (2,2)") + \
        _printed(text, "h2g (3,3)")
    assert sorted(lg.gen_corr) == [(0, 1), (0, 2), (1, 2)] and sorted(lg.resid_corr) == [(0, 1), (0, 2), (1, 2)]
    assert lg.gen_corr[(0, 1)] == _printed(text, "gen corr (1,2)")[0]
    assert lg.resid_corr[(1, 2)] == _printed(text, "resid corr (2,3)")[0]
    for i, j in itertools.combinations(range(3), 2):  # correlations from the printed (co)variances
        for comp, corr in ((1, lg.gen_corr), (0, lg.resid_corr)):
            v = lg.vc[comp]
            want = v[(i, j)][0] / np.sqrt(v[(i, i)][0] * v[(j, j)][0])
            assert corr[(i, j)][0] == pytest.approx(want, abs=2e-4), (comp, i, j)
    assert len(lg.sigma2) == 3 and all(se > 0 for _, se in lg.sigma2.values())


def test_parser_reads_errors_and_their_continuation_lines():
    lg = parse_bolt_reml_log((FIX / "error_maxmodelsnps.log").read_text())
    assert not lg.complete and lg.h2g == {}
    assert lg.errors[0].startswith("Number of SNPs exceeds maxModelSnps = 100")
    assert "increase --maxModelSnps" in lg.errors[0]
    assert run_status(lg, 1).startswith("BOLT error: Number of SNPs exceeds maxModelSnps = 100")
    lg = parse_bolt_reml_log((FIX / "error_constant.log").read_text())
    assert lg.phenotypes == ["const"] and lg.errors[0].startswith("Heritability estimate is close to 1")
    assert "low sample size" in lg.errors[0]


def test_parser_flags_non_convergence_truncation_and_time_outs():
    text = (FIX / "single_lvedv_ml.log").read_text()
    stopped = text.replace("AIinv[", "         Stopping AI iteration, but optimization may not have converged\n"
                                     "AIinv[", 1)
    lg = parse_bolt_reml_log(stopped)
    assert lg.not_converged and lg.complete and run_status(lg, 0).startswith("REML may not have converged")
    cut = parse_bolt_reml_log(text.split("Phenotype 1 variance sigma2")[0])
    assert not cut.complete and run_status(cut, 0).startswith("BOLT printed no variance-component estimates")
    assert run_status(cut, None) == "BOLT did not finish (timed out)"
    assert run_status(parse_bolt_reml_log(text), 3).startswith("BOLT exited with code 3")
    assert parse_bolt_reml_log("").complete is False and parse_bolt_reml_log("garbage\n\x00").h2g == {}


# ---------------------------------------------------------------------- the result contract
def _fixture_result() -> HeritabilityResult:
    """A result built from the stored logs (BOLT-REML rows) plus LDSC-shaped rows."""
    single = parse_bolt_reml_log((FIX / "single_lvedv_ml.log").read_text())
    joint = parse_bolt_reml_log((FIX / "joint3.log").read_text())
    h2 = pd.DataFrame({"phenotype": joint.phenotypes, "method": "bolt-reml",
                       "h2": [joint.h2(k)[0] for k in range(3)], "se": [joint.h2(k)[1] for k in range(3)],
                       "n": joint.n, "status": "ok", "sigma2": [joint.sigma2[k][0] for k in range(3)],
                       "warnings": ["", "a warning", ""]})
    h2.loc[0, ["h2", "se"]] = single.h2(0)
    ldsc = pd.DataFrame({"phenotype": ["lvedv_ml", "NA"], "method": "ldsc", "h2": [0.1, np.nan],
                         "se": [0.05, np.nan], "n": [1916, 1916], "status": ["ok", "mean chi2 < 1"],
                         "intercept": [1.01, np.nan], "intercept_se": [0.01, np.nan]})
    rg = pd.DataFrame([{"phenotype1": joint.phenotypes[i], "phenotype2": joint.phenotypes[j], "method": "bolt-reml",
                        "rg": joint.gen_corr[(i, j)][0], "se": joint.gen_corr[(i, j)][1], "p": 0.5, "status": "ok",
                        "gcov": joint.vc[1][(i, j)][0]} for i, j in itertools.combinations(range(3), 2)])
    a = HeritabilityResult.from_tables(h2, rg, summary=HeritabilitySummary(tools={"BOLT-LMM": joint.version}),
                                       logs={"bolt.log": (FIX / "joint3.log").read_text()})
    b = HeritabilityResult.from_tables(ldsc, None, summary=HeritabilitySummary(tools={"ldsc": "ours"}))
    return HeritabilityResult.combine([a, b])


def _same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b), what
    for c in b.columns:
        if pd.api.types.is_numeric_dtype(b[c]) and not pd.api.types.is_bool_dtype(b[c]):
            np.testing.assert_allclose(pd.to_numeric(a[c]).to_numpy(float, na_value=np.nan),
                                       b[c].to_numpy(float, na_value=np.nan), rtol=1e-12, equal_nan=True,
                                       err_msg=f"{what}: {c}")
        else:
            assert a[c].astype(str).tolist() == b[c].astype(str).tolist(), f"{what}: {c}"


def test_result_holds_both_methods_and_round_trips(tmp_path):
    res = _fixture_result()
    assert list(res.table.columns[:6]) == H2_COLUMNS and list(res.rg.columns[:7]) == RG_COLUMNS
    assert res.table["method"].tolist() == ["bolt-reml"] * 3 + ["ldsc"] * 2
    assert res.summary.methods == ["bolt-reml", "ldsc"] and res.summary.tools == {"BOLT-LMM": "2.4", "ldsc": "ours"}
    assert res.summary.phenotypes == ["lvedv_ml", "lvedv_noisy", "lav_ml", "NA"]
    assert (res.summary.n_ok, res.summary.n_failed, res.summary.n) == (4, 1, 1916)
    out = tmp_path / "h2.tsv"
    paths = res.save(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h2.bolt.log", "h2.excluded.tsv", "h2.rg.tsv",
                                                          "h2.summary.json", "h2.tsv"]
    assert all(p.exists() for p in paths.values())
    back = Result.load(out)
    assert type(back) is HeritabilityResult
    _same(back.table, res.table, "h2")
    _same(back.rg, res.rg, "rg")
    assert back.table["phenotype"].tolist()[-1] == "NA"  # a phenotype named NA stays a name
    assert back.summary.to_dict() == res.summary.to_dict() and back.logs == res.logs
    lines = back.summary_lines()
    assert any("lvedv_ml [bolt-reml]: h2" in x and "95% CI" in x for x in lines)
    assert "  NA [ldsc]: h2 -, n 1,916; mean chi2 < 1" in lines
    assert any(x.startswith("  lvedv_ml ~ lvedv_noisy [bolt-reml]: rg") for x in lines)
    if "HeritabilityResult" in FIGURES:  # once the plotting layer draws it
        fig = back.plot()
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
        matplotlib.pyplot.close(fig)
    else:
        with pytest.raises(NotImplementedError, match="has no figure yet"):
            back.plot()
    assert not [p for p in tmp_path.rglob(".*")], "temporary files left"


def test_result_saves_as_a_unit(tmp_path, monkeypatch):
    res = _fixture_result()
    out = tmp_path / "h2.tsv"
    res.save(out)
    (tmp_path / "h2.notes.txt").write_text("the user's own file")
    # a re-run without logs and rg rows leaves no stale log
    bare = HeritabilityResult.from_tables(res.table, None)
    bare.save(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h2.excluded.tsv", "h2.notes.txt", "h2.rg.tsv",
                                                          "h2.summary.json", "h2.tsv"]
    assert len(pd.read_csv(tmp_path / "h2.rg.tsv", sep="\t")) == 0
    assert_killed_save_leaves_folder_whole(lambda: res.save(out), tmp_path, monkeypatch)
    with pytest.raises(CardiolatentError, match="needs a table extension"):
        res.save(tmp_path / "h2")


def test_result_refuses_tables_outside_the_contract():
    with pytest.raises(CardiolatentError, match="h2 table lacks the column.* se"):
        HeritabilityResult.from_tables(pd.DataFrame({"phenotype": ["a"], "method": ["ldsc"], "h2": [0.1],
                                                     "n": [10], "status": ["ok"]}))
    with pytest.raises(CardiolatentError, match="unknown method.*gcta"):
        HeritabilityResult.from_tables(pd.DataFrame({"phenotype": ["a"], "method": ["gcta"], "h2": [0.1],
                                                     "se": [0.1], "n": [10], "status": ["ok"]}))


# ---------------------------------------------------------------------- the export (no BOLT needed)
def _cli(argv: list[str]) -> None:
    assert cli(argv) == 0, f"cardiolatent {' '.join(argv)} failed"


@pytest.fixture(scope="module")
def exported(gwas_cohort, tmp_path_factory):
    """``export --format bolt`` of the true parameters as latents, raw (untransformed), with the
    covariates of the synthetic model (sex, BSA, age, SBP: ``--covariates gwas,sbp``; gwas adds batch,
    imaging year and centre, which the model does not use). ``lvedv_noisy`` = LVEDV + independent
    noise of the same SD as LVEDV's residual (the same genetic part: rg = 1, about half the h2)."""
    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    lat = truth[["eid", "instance"] + TRAITS].copy()
    rng = np.random.default_rng(3)
    lat["lvedv_noisy"] = lat["lvedv_ml"] + rng.normal(0, TRAIT_MODELS["lvedv_ml"]["sigma"], len(lat))
    work = tmp_path_factory.mktemp("reml")
    lat.to_csv(work / "latents.tsv", sep="\t", index=False)
    exp = work / "export"
    _cli(["export", "--latents", str(work / "latents.tsv"), "--ukb", str(gwas_cohort.main), "--format", "bolt",
          "--samples", str(gwas_cohort.genotypes.with_suffix(".fam")), "--transform", "raw",
          "--covariates", "gwas,sbp", "--out", str(exp), "--quiet"])
    return exp


def _with_extra_phenotypes(exp: Path, dest: Path) -> Path:
    """A copy of the export with phenotypes that cannot be analysed added to pheno.txt (and the manifest):
    ``const`` (1.5 everywhere), ``few`` (10 values), ``covlike`` (3 * BSA + 1: nothing left after the
    covariates)."""
    shutil.copytree(exp, dest)
    ph = pd.read_csv(dest / "pheno.txt", sep="\t", dtype={"FID": str, "IID": str})
    cv = pd.read_csv(dest / "covar.txt", sep="\t", dtype={"FID": str, "IID": str})
    ph["const"] = 1.5
    ph["few"] = np.where(np.arange(len(ph)) < 10, ph["lvedv_ml"], np.nan)
    ph["covlike"] = 3 * cv.set_index(["FID", "IID"]).loc[list(zip(ph["FID"], ph["IID"])), "bsa"].to_numpy() + 1
    ph.to_csv(dest / "pheno.txt", sep="\t", index=False, na_rep="NA")
    man = json.loads((dest / "manifest.json").read_text())
    man["phenotypes"]["written"] += ["const", "few", "covlike"]
    (dest / "manifest.json").write_text(json.dumps(man))
    return dest


@pytest.fixture()
def fake_bolt(tmp_path):
    """An executable standing in for bolt that fails loudly if it is ever run."""
    p = tmp_path / "fakebolt"
    p.write_text("#!/bin/sh\necho 'ERROR: the fake bolt was run'\nexit 7\n")
    p.chmod(0o755)
    return str(p)


def test_missing_bolt_is_a_one_line_error_with_the_install_hint(exported, tmp_path, monkeypatch):
    with pytest.raises(CardiolatentError, match="apt-get install bolt-lmm") as e:
        bolt_reml(exported, bolt="no-such-bolt-here")
    assert "\n" not in str(e.value) and "no-such-bolt-here" in str(e.value)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BOLT", raising=False)
    with pytest.raises(CardiolatentError, match=r"'bolt' not found; install BOLT-LMM \(Debian: apt-get install"):
        find_bolt()


def test_bad_inputs_name_what_is_wrong(exported, tmp_path, fake_bolt):
    with pytest.raises(CardiolatentError, match="export folder not found"):
        bolt_reml(tmp_path / "nothing", bolt=fake_bolt)
    with pytest.raises(CardiolatentError, match=r"phenotype\(s\) lvesv_ml not in .*pheno.txt \(it has: lvedv_ml"):
        bolt_reml(exported, phenotypes="lvedv_ml,lvesv_ml", bolt=fake_bolt)
    with pytest.raises(CardiolatentError, match="joint must be one of none, pairs, all"):
        bolt_reml(exported, joint="both", bolt=fake_bolt)
    with pytest.raises(CardiolatentError, match=r"genotype file not found: .*/nope\.bed"):
        bolt_reml(exported, bfile=tmp_path / "nope", bolt=fake_bolt)
    other = tmp_path / "regenie_like"
    shutil.copytree(exported, other)
    man = json.loads((other / "manifest.json").read_text())
    man["format"] = "regenie"
    (other / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(CardiolatentError, match="written for 'regenie', not BOLT-LMM"):
        bolt_reml(other, bolt=fake_bolt)


def test_phenotypes_that_cannot_be_analysed_get_a_status_not_a_run(exported, tmp_path, fake_bolt):
    exp = _with_extra_phenotypes(exported, tmp_path / "exp")
    res = bolt_reml(exp, phenotypes=["const", "few", "covlike"], joint="pairs", bolt=fake_bolt, progress=False)
    st = res.table.set_index("phenotype")["status"]
    assert st["const"].startswith("constant phenotype (1.5 in all 1,916 participants)")
    assert st["few"].startswith("too few participants: 10 with the phenotype")
    assert st["covlike"].startswith("phenotype fully explained by the covariates")
    assert res.table["h2"].isna().all() and res.summary.runs == [] and res.logs == {}  # bolt never run
    assert len(res.rg) == 3 and res.rg["status"].str.contains("not analysed: ").all()
    few = res.excluded[res.excluded["phenotype"] == "few"]
    assert len(few) == 1916 - 10 and set(few["reason"]) == {"missing_phenotype"}
    assert res.summary.n_failed == 3 and res.summary.n_ok == 0


# ---------------------------------------------------------------------- the real tool
def _planted_h2(cohort, exp: Path) -> dict[str, float]:
    """The planted SNP heritability of each trait on the scale BOLT estimates it: the genetic variance
    (planted h2 x sigma^2, sigma the residual SD of the synthetic model) over the variance left after the
    export's covariates (OLS residual variance over the participants analysed). The planted h2 is
    ``truth/heritability.tsv`` when the cohort has one, else the sum of ``r2`` over the trait's planted
    variants in ``truth/variants.tsv``."""
    hfile = cohort.truth / "heritability.tsv"
    if hfile.exists():
        h = pd.read_csv(hfile, sep="\t").set_index("trait_column")["h2"].to_dict()
    else:
        v = pd.read_csv(cohort.truth / "variants.tsv", sep="\t")
        h = v.groupby("trait_column")["r2"].sum().to_dict()
    ph = pd.read_csv(exp / "pheno.txt", sep="\t", dtype={"FID": str, "IID": str})
    cv = pd.read_csv(exp / "covar.txt", sep="\t", dtype={"FID": str, "IID": str})
    d = ph.merge(cv, on=["FID", "IID"])
    covs = [c for c in cv.columns if c not in ("FID", "IID")]
    out = {}
    for t in TRAITS:
        dd = d[[t] + covs].dropna()
        X = np.column_stack([np.ones(len(dd)), dd[covs].to_numpy(float)])
        y = dd[t].to_numpy(float)
        r = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        var_resid = float(r @ r) / (len(y) - np.linalg.matrix_rank(X))
        out[t] = h.get(t, 0.0) * TRAIT_MODELS[t]["sigma"] ** 2 / var_resid
    return out


def _numpy_reml(prefix: Path, exp: Path, phenotype: str) -> dict:
    """Exact REML (no Monte Carlo) of y = X b + g + e, g ~ N(0, s2g K), e ~ N(0, s2e I), with K the GRM
    of the standardised genotypes (mean-imputed missing calls) and X the export's covariates plus an
    intercept: in the n - rank(X) contrasts Q'y orthogonal to X, eigen-decompose Q'KQ and maximise the
    REML likelihood over h2 = s2g / (s2g + s2e) (profiled total variance); SE by the delta method from the
    inverse of the expected information of (s2g, s2e)."""
    geno, _, fam = read_bed(prefix)
    ph = pd.read_csv(exp / "pheno.txt", sep="\t", dtype={"FID": str, "IID": str})
    cv = pd.read_csv(exp / "covar.txt", sep="\t", dtype={"FID": str, "IID": str})
    covs = [c for c in cv.columns if c not in ("FID", "IID")]
    d = ph[["FID", "IID", phenotype]].merge(cv, on=["FID", "IID"]).dropna()
    pos = pd.Series(np.arange(len(fam)), index=fam["fid"] + "\t" + fam["iid"])
    g = geno[pos.loc[d["FID"] + "\t" + d["IID"]].to_numpy()].astype(np.float64)
    g[g < 0] = np.nan
    mu = np.nanmean(g, axis=0)
    g = np.where(np.isnan(g), mu, g)
    sd = g.std(axis=0)
    z = (g[:, sd > 0] - mu[sd > 0]) / sd[sd > 0]
    K = z @ z.T / z.shape[1]
    X = np.column_stack([np.ones(len(d)), d[covs].to_numpy(float)])
    q = np.linalg.qr(X, mode="complete")[0][:, np.linalg.matrix_rank(X):]
    s, U = np.linalg.eigh(q.T @ K @ q)
    w = U.T @ (q.T @ d[phenotype].to_numpy(float))
    n = len(w)

    def neg_ll(h):
        lam = h * s + (1 - h)
        return 0.5 * (n * np.log(np.sum(w ** 2 / lam) / n) + np.sum(np.log(lam)))

    h = minimize_scalar(neg_ll, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-9}).x
    total = np.sum(w ** 2 / (h * s + 1 - h)) / n
    vg, ve = h * total, (1 - h) * total
    lam = vg * s + ve
    info = np.array([[0.5 * np.sum(a * b / lam ** 2) for b in (s, 1.0)] for a in (s, 1.0)])
    grad = np.array([ve, -vg]) / total ** 2
    return {"h2": h, "se": float(np.sqrt(grad @ np.linalg.inv(info) @ grad)), "n": len(d), "sigma2": total}


@needs_bolt
def test_bolt_h2_agrees_with_an_independent_reml_and_odd_phenotypes_get_a_status(exported, gwas_cohort,
                                                                                  tmp_path):
    exp = _with_extra_phenotypes(exported, tmp_path / "exp")
    res = bolt_reml(exp, phenotypes=["lvedv_ml", "const", "covlike"], progress=False)
    row = res.table.set_index("phenotype").loc["lvedv_ml"]
    assert row["status"] == "ok" and row["method"] == "bolt-reml"
    st = res.table.set_index("phenotype")["status"]
    assert st["const"].startswith("constant phenotype") and st["covlike"].startswith("phenotype fully explained")
    assert [r["label"] for r in res.summary.runs] == ["h2:lvedv_ml"]  # only the analysable one went to BOLT
    # the table holds exactly what BOLT printed
    log = res.logs["bolt.log"]
    assert f"  h2g (1,1): {row['h2']:.6f} ({row['se']:.6f})" in log
    assert f"Phenotype 1 variance sigma2: {row['sigma2']:.6f} ({row['sigma2_se']:.6f})" in log
    assert f"Nused = {row['n']}" in log and row["n_covariates"] == 1 + len(res.summary.covariates)
    assert res.summary.tools == {"BOLT-LMM": "2.4"} and "--allowh2g01" in log
    # an exact REML on the same genotypes, phenotype and covariates
    ref = _numpy_reml(gwas_cohort.genotypes, exp, "lvedv_ml")
    assert ref["n"] == row["n"]
    assert abs(row["h2"] - ref["h2"]) < row["se"], (row["h2"], ref)
    assert row["se"] == pytest.approx(ref["se"], rel=0.15)
    assert row["sigma2"] == pytest.approx(ref["sigma2"], abs=2 * row["sigma2_se"])
    # saved and loaded back with the log
    res.save(tmp_path / "h2.tsv")
    back = Result.load(tmp_path / "h2.tsv")
    assert back.logs == res.logs and back.table["h2"].iloc[0] == row["h2"]


@needs_bolt
def test_bolt_failures_are_statuses(exported):
    res = bolt_reml(exported, phenotypes=["lvwt_mm"], max_model_snps=100, progress=False)
    assert res.table["status"].iloc[0].startswith("BOLT error: Number of SNPs exceeds maxModelSnps = 100")
    assert np.isnan(res.table["h2"].iloc[0]) and res.summary.runs[0]["exit_code"] != 0
    res = bolt_reml(exported, phenotypes=["lvwt_mm"], timeout=0.2, progress=False)
    assert res.table["status"].iloc[0] == "BOLT did not finish (timed out)"
    assert any("time limit" in n for n in res.summary.notes)


@pytest.mark.slow
@needs_bolt
def test_planted_h2_is_covered_and_rg_recovers_shared_genetics(exported, gwas_cohort):
    planted = _planted_h2(gwas_cohort, exported)
    res = bolt_reml(exported, phenotypes=TRAITS, progress=False)
    t = res.table.set_index("phenotype")
    assert (t["status"] == "ok").all(), t["status"]
    for trait in TRAITS:
        h2, se = t.loc[trait, "h2"], t.loc[trait, "se"]
        assert 0 < se < 0.1
        assert abs(h2 - planted[trait]) <= 1.96 * se, (trait, h2, se, planted[trait])
    # genetic correlations from one three-trait REML: LVEDV and LVEDV + noise share their genetic
    # part (rg = 1); LVEDV and LA volume have different planted variants (rg = 0)
    joint = bolt_reml(exported, phenotypes=["lvedv_ml", "lvedv_noisy", "lav_ml"], joint="all", refine=False,
                      progress=False)
    rg = joint.rg.set_index(["phenotype1", "phenotype2"])
    assert len(rg) == 3 and (rg["status"] == "ok").all(), rg["status"]
    same = rg.loc[("lvedv_ml", "lvedv_noisy")]
    assert abs(same["rg"] - 1) <= 1.96 * same["se"] and same["rg"] > 0.5 and same["p"] < 0.05
    other = rg.loc[("lvedv_ml", "lav_ml")]
    assert abs(other["rg"]) <= 1.96 * other["se"] and other["se"] > 0
    assert (rg["h2_1"] > BOUNDARY_H2).all() and rg["run"].eq("rg:all").all()
    # the residual correlation of LVEDV with LVEDV + noise: var(lvedv resid) / sd * sd (about 0.7)
    assert 0.5 < same["resid_corr"] < 0.9
