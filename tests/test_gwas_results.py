"""GWAS results back in: readers (REGENIE / PLINK 2, chunked, gz, tiny P), lambda GC, distance and
PLINK 1.9 LD clumping, loci across latents, Manhattan / QQ data, and the gwas-results command end to end
on the synthetic cohort's genotypes with real plink2."""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cardiolatent.commands import gwas_results as cmd
from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas import readers as R
from cardiolatent.gwas import summary as S
from cardiolatent.gwas.plotdata import maf_bin_codes, maf_bins

PLINK2 = shutil.which("plink2")
PLINK1 = shutil.which("plink1.9") or shutil.which("plink")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 not on PATH")
needs_plink1 = pytest.mark.skipif(PLINK1 is None, reason="plink1.9 not on PATH")

REGENIE_COLS = ["CHROM", "GENPOS", "ID", "ALLELE0", "ALLELE1", "A1FREQ", "INFO", "N", "TEST", "BETA", "SE",
                "CHISQ", "LOG10P", "EXTRA"]


# ---------------------------------------------------------------------------------------------
# helpers: hand-made files
# ---------------------------------------------------------------------------------------------
def truth_table(n=300, seed=0) -> pd.DataFrame:
    """Variants on chromosomes 1, 2 and X with P values as strings (some below the double range)."""
    rng = np.random.default_rng(seed)
    chrom = np.repeat(["1", "2", "X"], [n // 3, n // 3, n - 2 * (n // 3)])
    pos = np.concatenate([np.sort(rng.choice(np.arange(10_000, 5_000_000), size=(chrom == c).sum(), replace=False))
                          for c in ["1", "2", "X"]])
    mlog = -np.log10(rng.uniform(size=n))
    mlog[5] = 500.0  # P = 1e-500
    mlog[6] = 309.5  # subnormal range
    mlog[7] = 12.25
    p_txt = [f"{10 ** (-(m % 1)):.6f}e-{int(m // 1)}" if m >= 1 else f"{10 ** -m:.6g}" for m in mlog]
    mlog_exact = np.asarray([R._mlog10_of_string(t) for t in p_txt])
    d = pd.DataFrame({
        "chrom": chrom, "pos": pos, "id": [f"rs{100 + i}" for i in range(n)],
        "a_other": rng.choice(list("ACGT"), n), "eaf": rng.uniform(0.01, 0.99, n).round(4),
        "info": rng.uniform(0.2, 1.0, n).round(3), "n": 5000.0, "beta": rng.normal(0, 0.1, n).round(6),
        "se": rng.uniform(0.01, 0.05, n).round(6), "p_txt": p_txt, "mlog10p": mlog_exact})
    d["a_eff"] = np.where(d["a_other"] == "A", "G", "A")
    d.loc[10, "p_txt"] = "NA"  # a failed test
    d.loc[10, "mlog10p"] = np.nan
    return d


def write_regenie(d: pd.DataFrame, path: Path, *, gz=False, extra_tests=False) -> Path:
    rows = pd.DataFrame({
        "CHROM": d["chrom"].replace({"X": "23"}), "GENPOS": d["pos"], "ID": d["id"], "ALLELE0": d["a_other"],
        "ALLELE1": d["a_eff"], "A1FREQ": d["eaf"], "INFO": d["info"], "N": d["n"].astype(int), "TEST": "ADD",
        "BETA": d["beta"], "SE": d["se"], "CHISQ": 1.0,
        "LOG10P": [("NA" if np.isnan(m) else repr(float(m))) for m in d["mlog10p"]], "EXTRA": "NA"})
    if extra_tests:
        dom = rows.copy()
        dom["TEST"] = "DOM"
        dom["LOG10P"] = "50"
        rows = pd.concat([rows, dom]).sort_index(kind="stable")
    text = rows.to_csv(sep=" ", index=False, lineterminator="\n")
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def write_plink2(d: pd.DataFrame, path: Path, *, covar_rows=False, logistic=False) -> Path:
    # alternate which of REF/ALT is A1 so that the effect allele logic is exercised
    a1_is_alt = np.arange(len(d)) % 2 == 0
    ref = np.where(a1_is_alt, d["a_other"], d["a_eff"])
    alt = np.where(a1_is_alt, d["a_eff"], d["a_other"])
    out = pd.DataFrame({"#CHROM": d["chrom"], "POS": d["pos"], "ID": d["id"], "REF": ref, "ALT": alt,
                        "A1": d["a_eff"], "TEST": "ADD", "OBS_CT": d["n"].astype(int)})
    if logistic:
        out["OR"] = np.exp(d["beta"])
        out["LOG(OR)_SE"] = d["se"]
        out["Z_STAT"] = 0.0
    else:
        out["BETA"] = d["beta"]
        out["SE"] = d["se"]
        out["T_STAT"] = 0.0
    out["P"] = d["p_txt"]
    out["ERRCODE"] = np.where(d["p_txt"] == "NA", "UNFINISHED", ".")
    if covar_rows:
        cov = out.copy()
        cov["TEST"] = "age"
        cov["P"] = "1e-30"
        out = pd.concat([out, cov]).sort_index(kind="stable")
    path.write_text(out.to_csv(sep="\t", index=False, lineterminator="\n"))
    return path


def check_against_truth(got: pd.DataFrame, d: pd.DataFrame, *, beta_tol=1e-9):
    t = d[d["mlog10p"].notna()].reset_index(drop=True)
    assert len(got) == len(t)
    assert got["id"].tolist() == t["id"].tolist()
    assert got["chrom"].tolist() == t["chrom"].tolist()
    assert np.array_equal(got["pos"].to_numpy(), t["pos"].to_numpy())
    assert got["effect_allele"].tolist() == t["a_eff"].tolist()
    assert got["other_allele"].tolist() == t["a_other"].tolist()
    np.testing.assert_allclose(got["mlog10p"], t["mlog10p"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["beta"], t["beta"], rtol=beta_tol, atol=beta_tol)
    np.testing.assert_allclose(got["se"], t["se"], rtol=1e-12)


def parse(argv):
    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# readers
# ---------------------------------------------------------------------------------------------
def test_mlog10p_from_text_has_no_underflow():
    got = R.mlog10p_from_text(["0.5", "1e-500", "4.9e-324", "NA", "0", "1.5e-310", "3.2E-1000", None, "1"])
    want = [np.log10(2), 500, 324 - np.log10(4.9), np.nan, np.inf, 310 - np.log10(1.5), 1000 - np.log10(3.2),
            np.nan, 0.0]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(CardiolatentError, match="between 0 and 1"):
        R.mlog10p_from_text(["0.5", "1.7"], where="f.txt, column P")
    with pytest.raises(CardiolatentError, match="f.txt"):
        R.mlog10p_from_text(["0.5", "abc"], where="f.txt, column P")


@pytest.mark.parametrize("gz", [False, True])
def test_regenie_reader(tmp_path, gz):
    d = truth_table()
    f = write_regenie(d, tmp_path / ("run_S42_Z7.regenie" + (".gz" if gz else "")), gz=gz, extra_tests=True)
    rf = R.open_result(f)
    assert rf.format == "regenie" and rf.compression == ("gzip" if gz else None)
    got = R.read_result(rf)  # TEST = ADD only: the DOM rows (LOG10P 50) are dropped
    check_against_truth(got, d)
    assert got.loc[got["id"] == "rs105", "mlog10p"].item() == pytest.approx(500, rel=1e-12)
    np.testing.assert_allclose(got["info"], d.loc[d["mlog10p"].notna(), "info"])
    # chunked = whole file, with many chunks
    chunks = list(R.iter_chunks(rf, chunk_bytes=4096))
    assert len(chunks) > 5
    pd.testing.assert_frame_equal(R.read_result(rf, chunk_bytes=4096), got)
    assert sum(c.n_missing_p for c in chunks) == 1
    assert sum(c.n_filtered for c in chunks) == len(d)  # the DOM rows
    # all tests kept
    assert len(R.read_result(rf, test=None)) == 2 * len(d) - 1


@pytest.mark.parametrize("logistic", [False, True])
def test_plink2_reader(tmp_path, logistic):
    d = truth_table(seed=1)
    suffix = ".glm.logistic.hybrid" if logistic else ".glm.linear"
    f = write_plink2(d, tmp_path / f"gw.lvedv{suffix}", covar_rows=True, logistic=logistic)
    rf = R.open_result(f)
    assert rf.format == "plink2" and rf.delimiter == "\t"
    got = R.read_result(rf)  # the covariate rows (TEST = age, P 1e-30) are dropped
    check_against_truth(got, d, beta_tol=1e-12 if not logistic else 1e-9)
    pd.testing.assert_frame_equal(R.read_result(rf, chunk_bytes=2048), got)
    assert got.loc[got["id"] == "rs105", "mlog10p"].item() == pytest.approx(500, rel=1e-12)
    assert got.loc[got["id"] == "rs106", "mlog10p"].item() == pytest.approx(d.loc[6, "mlog10p"], rel=1e-12)


def test_whitespace_aligned_file_goes_through_pandas(tmp_path):
    d = truth_table(n=60, seed=2)
    f = write_plink2(d, tmp_path / "a.glm.linear")
    df = pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False)
    (tmp_path / "b.glm.linear").write_text(df.to_string(index=False) + "\n")  # aligned with runs of spaces
    rf = R.open_result(tmp_path / "b.glm.linear")
    assert rf.delimiter is None
    pd.testing.assert_frame_equal(R.read_result(rf), R.read_result(f))


def test_reader_errors_name_file_and_column(tmp_path):
    d = truth_table(n=30)
    f = write_regenie(d, tmp_path / "x_a.regenie")
    txt = f.read_text().replace(" ID ", " VARIANT ", 1)
    (tmp_path / "x_b.regenie").write_text(txt)
    with pytest.raises(CardiolatentError, match=r"x_b\.regenie.*column ID"):
        R.open_result(tmp_path / "x_b.regenie")
    (tmp_path / "junk.regenie").write_text("a b c\n1 2 3\n")
    with pytest.raises(CardiolatentError, match=r"junk\.regenie: not a REGENIE"):
        R.open_result(tmp_path / "junk.regenie")
    (tmp_path / "empty.regenie").write_text("")
    with pytest.raises(CardiolatentError, match="empty"):
        R.open_result(tmp_path / "empty.regenie")
    (tmp_path / "ns.regenie").write_text("CHROM GENPOS ID ALLELE0 ALLELE1 TEST BETA.Y1 SE.Y1 LOG10P.Y1\n"
                                         "1 1 r A C ADD 0 1 0\n")
    with pytest.raises(CardiolatentError, match="no-split"):
        R.open_result(tmp_path / "ns.regenie")
    with pytest.raises(CardiolatentError, match="TEST = DOM.*ADD"):
        R.read_result(f, test="DOM")
    g = write_plink2(d, tmp_path / "p.y.glm.linear")
    # library errors name the parameter (min_info); the command says --min-info
    with pytest.raises(CardiolatentError, match=r"p\.y\.glm\.linear: min_info needs the column MACH_R2"):
        list(R.iter_chunks(R.open_result(g), min_info=0.3))
    with pytest.raises(CardiolatentError, match=r"p\.y\.glm\.linear: --min-info needs the column MACH_R2"):
        cmd.run(parse(["--results", str(g), "--out", str(tmp_path / "o"), "--min-info", "0.3", "--quiet"]))
    lines = g.read_text().split("\n")
    lines[3] = "\t".join(lines[3].split("\t")[:-2] + ["notanumber", "."])
    (tmp_path / "bad.y.glm.linear").write_text("\n".join(lines))
    with pytest.raises(CardiolatentError, match=r"bad\.y\.glm\.linear"):
        R.read_result(tmp_path / "bad.y.glm.linear")
    with pytest.raises(CardiolatentError, match="not found"):
        R.discover_results([tmp_path / "nope.regenie"])
    with pytest.raises(CardiolatentError, match="no file matches"):
        R.discover_results([str(tmp_path / "zz*.regenie")])


def test_filters_mac_and_info(tmp_path):
    d = truth_table(seed=3)
    rf = R.open_result(write_regenie(d, tmp_path / "s_t.regenie"))
    got = R.read_result(rf, min_info=0.5, min_mac=400)
    ok = d["mlog10p"].notna() & (d["info"] >= 0.5) & (2 * d["n"] * np.minimum(d["eaf"], 1 - d["eaf"]) >= 400)
    assert got["id"].tolist() == d.loc[ok, "id"].tolist()


def test_latent_names_from_file_names(tmp_path):
    d = truth_table(n=30)
    a = tmp_path / "a"
    a.mkdir()
    write_regenie(d, a / "step2_S42_Z17.regenie")
    write_regenie(d, a / "step2_S1701_Z3.regenie.gz", gz=True)
    (a / "step2.log").write_text("log")
    write_regenie(d, a / "my_run_S42_Z5.regenie")
    (a / "my_run.log").write_text("log")
    write_plink2(d, a / "gw.v1.S42_Z9.glm.linear")  # no log: phenotype = last dot part
    (a / "notes.txt").write_text("not a results file")
    files = R.discover_results([a])
    names = {f.path.name: f.latent for f in files}
    assert names == {"step2_S42_Z17.regenie": "S42_Z17", "step2_S1701_Z3.regenie.gz": "S1701_Z3",
                     "my_run_S42_Z5.regenie": "S42_Z5", "gw.v1.S42_Z9.glm.linear": "S42_Z9"}
    # without a log, REGENIE's prefix ends at the first underscore
    (a / "my_run.log").unlink()
    assert R.discover_results([a / "my_run_S42_Z5.regenie"])[0].latent == "run_S42_Z5"
    assert R.discover_results([a / "my_run_S42_Z5.regenie"], name_regex=r"my_run_(.+)\.regenie")[0].latent == "S42_Z5"
    got = R.discover_results([str(a / "step2_*.regenie*")], name_regex=r"_(?P<latent>S\d+_Z\d+)")
    assert [f.latent for f in got] == ["S1701_Z3", "S42_Z17"]
    with pytest.raises(CardiolatentError, match="does not match"):
        R.discover_results([a / "my_run_S42_Z5.regenie"], name_regex=r"^zzz")
    write_plink2(d, a / "run.S42_Z17.glm.linear")  # same latent, other tool
    with pytest.raises(CardiolatentError, match="several formats"):
        R.discover_results([a])


# ---------------------------------------------------------------------------------------------
# lambda GC, QQ
# ---------------------------------------------------------------------------------------------
def closed_form_lambda(p):
    return np.median(stats.chi2.isf(p, 1)) / 0.4549364


@pytest.mark.parametrize("n", [100_000, 100_001])
def test_lambda_gc_matches_closed_form(n):
    rng = np.random.default_rng(n)
    p_null = rng.uniform(size=n)
    lam = S.lambda_gc(-np.log10(p_null))
    assert lam == pytest.approx(closed_form_lambda(p_null), rel=1e-6)
    assert abs(lam - 1) < 0.025
    z = rng.standard_normal(n) * 1.1  # inflated: lambda ~ 1.21
    p_inf = 2 * stats.norm.sf(np.abs(z))
    lam_inf = S.lambda_gc(-np.log10(p_inf))
    assert lam_inf == pytest.approx(closed_form_lambda(p_inf), rel=1e-6)
    assert lam_inf == pytest.approx(1.21, abs=0.03)
    # from BETA / SE: chi2 = (beta / se)^2
    beta, se = z * 0.02, np.full(n, 0.02)
    assert lam_inf == pytest.approx(np.median((beta / se) ** 2) / 0.4549364, rel=1e-6)
    # chi2 from -log10 P agrees with scipy where P is representable, and goes beyond
    m = np.array([0.0, 0.1, 1.0, 7.3, 50.0, 300.0])
    np.testing.assert_allclose(S.chi2_from_mlog10p(m), stats.chi2.isf(10.0 ** -m, 1), rtol=1e-9, atol=1e-12)
    assert S.chi2_from_mlog10p(1000.0) > S.chi2_from_mlog10p(400.0) > S.chi2_from_mlog10p(300.0)
    assert np.isnan(S.lambda_gc(np.array([])))


def test_qq_points_against_order_statistics():
    rng = np.random.default_rng(5)
    n = 50_000
    m = -np.log10(rng.uniform(size=n))
    m[:3] = [20.0, 12.0, 9.0]
    q = S.qq_points(m, keep_above=3.0, n_points=300)
    srt = np.sort(m)[::-1]
    n_top = int((m > 3).sum())
    assert q["rank"].iloc[:n_top].tolist() == list(range(1, n_top + 1))  # every P < 1e-3 kept
    assert len(q) < n_top + 320 and q["rank"].iloc[-1] == n
    np.testing.assert_array_equal(q["observed"].to_numpy(), srt[q["rank"].to_numpy() - 1])
    r = q["rank"].to_numpy(dtype=float)
    np.testing.assert_allclose(q["expected"], -np.log10(r / (n + 1)), rtol=1e-12)
    np.testing.assert_allclose(q["ci_low"], -np.log10(stats.beta.ppf(0.975, r, n - r + 1)), rtol=1e-8)
    np.testing.assert_allclose(q["ci_high"], -np.log10(stats.beta.ppf(0.025, r, n - r + 1)), rtol=1e-8)
    assert (q["ci_low"] < q["expected"]).all() and (q["expected"] < q["ci_high"]).all()
    assert (q["observed"].iloc[:3] > q["ci_high"].iloc[:3]).all()  # the planted ones lie above
    # the band is a pointwise 95% band: coverage over null replicates at fixed ranks
    reps = -np.log10(np.sort(rng.uniform(size=(4000, 500)), axis=1))
    qn = S.qq_points(reps[0], keep_above=np.inf, n_points=500)
    for rank in (1, 10, int(qn["rank"][qn["rank"] >= 250].iloc[0])):
        row = qn[qn["rank"] == rank].iloc[0]
        obs = reps[:, rank - 1]
        cover = ((obs >= row["ci_low"]) & (obs <= row["ci_high"])).mean()
        assert cover == pytest.approx(0.95, abs=0.012), (rank, cover)


# ---------------------------------------------------------------------------------------------
# clumping and loci
# ---------------------------------------------------------------------------------------------
def peak(chrom, centre, top, latent=None, width=40_000, step=10_000):
    offs = np.arange(-width, width + 1, step)
    d = pd.DataFrame({"chrom": chrom, "pos": centre + offs, "mlog10p": top - np.abs(offs) / 10_000,
                      "id": [f"{chrom}:{centre + o}" for o in offs]})
    if latent is not None:
        d["latent"] = latent
    return d


def test_distance_clumping_constructed():
    thr = -np.log10(5e-8)
    two = pd.concat([peak("1", 1_000_000, 20), peak("1", 1_300_000, 12)], ignore_index=True)
    leads = S.distance_clump(two, thr, 250)
    assert leads["pos"].tolist() == [1_000_000, 1_300_000]
    assert leads["n_clumped"].tolist() == [9, 9]
    assert leads[["clump_start", "clump_end"]].values.tolist() == [[960_000, 1_040_000], [1_260_000, 1_340_000]]
    one = pd.concat([peak("1", 1_000_000, 20), peak("1", 1_200_000, 12)], ignore_index=True)
    leads = S.distance_clump(one, thr, 250)
    assert leads["pos"].tolist() == [1_000_000]
    assert leads["n_clumped"].item() == 18 and leads["clump_end"].item() == 1_240_000
    # the window is inclusive (+-250 kb) and stops at chromosome ends
    e = pd.DataFrame({"chrom": ["1", "1", "1", "2"], "pos": [500_000, 750_000, 750_001 + 250_000, 500_000],
                      "mlog10p": [30.0, 10.0, 9.0, 8.0]})
    assert S.distance_clump(e, thr, 250)[["chrom", "pos"]].values.tolist() == [["1", 500_000], ["1", 1_000_001],
                                                                                ["2", 500_000]]
    # nothing significant
    assert S.distance_clump(peak("1", 1_000_000, 5), thr).empty


def test_merge_loci_across_latents():
    thr = -np.log10(5e-8)
    per = {"A": [peak("1", 1_000_000, 20)], "B": [peak("1", 1_100_000, 15), peak("2", 5_000_000, 9)],
           "C": [peak("1", 1_600_000, 30)], "D": [peak("X", 1_100_000, 10)]}
    leads = pd.concat([S.distance_clump(pd.concat(v), thr).assign(latent=k) for k, v in per.items()],
                      ignore_index=True)
    assert len(leads) == 5
    out, loci = S.merge_loci(leads, 250)
    assert loci["locus"].tolist() == ["L1", "L2", "L3", "L4"]
    assert loci["chrom"].tolist() == ["1", "1", "2", "X"]
    first = loci.iloc[0]
    assert (first["start"], first["end"], first["lead_latent"], first["n_latents"], first["latents"]) == \
        (1_000_000, 1_100_000, "A", 2, "A,B")
    assert loci.iloc[1][["lead_latent", "latents", "lead_pos"]].tolist() == ["C", "C", 1_600_000]
    assert out.set_index("latent").loc["B"]["locus"].tolist() == ["L1", "L3"]
    # greedy vs linkage on a chain 0 / 200 / 400 kb with the top at one end
    chain = pd.DataFrame({"latent": ["a", "b", "c"], "chrom": "3", "pos": [1_000_000, 1_200_000, 1_400_000],
                          "mlog10p": [30.0, 20.0, 10.0], "id": ["x", "y", "z"]})
    assert len(S.merge_loci(chain, 250, "greedy")[1]) == 2
    assert len(S.merge_loci(chain, 250, "linkage")[1]) == 1


# ---------------------------------------------------------------------------------------------
# synthetic cohort: real plink2 GWAS, PLINK 1.9 LD clumping, the command end to end
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gwas_run(gwas_cohort, tmp_path_factory):
    """plink2 --glm on the true lvedv and lav (visit 2) of the synthetic cohort; REGENIE-format copies."""
    if PLINK2 is None:
        pytest.skip("plink2 not on PATH")
    root = tmp_path_factory.mktemp("gwas_run")
    part = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    part = part[part["instance"] == 2]
    ph = pd.DataFrame({"#FID": part["eid"], "IID": part["eid"], "lvedv": part["lvedv_ml"], "lav": part["lav_ml"]})
    ph.to_csv(root / "pheno.tsv", sep="\t", index=False, lineterminator="\n")
    res = root / "plink2"
    res.mkdir()
    r = subprocess.run([PLINK2, "--bfile", str(gwas_cohort.genotypes), "--pheno", str(root / "pheno.tsv"),
                        "--glm", "allow-no-covars", "--threads", "1", "--memory", "1000", "--out", str(res / "gw")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    # the same results as REGENIE would write them (LOG10P, space separated, gz)
    reg = root / "regenie"
    reg.mkdir()
    for pheno in ("lvedv", "lav"):
        g = pd.read_csv(res / f"gw.{pheno}.glm.linear", sep="\t", dtype={"P": str})
        mlog = R.mlog10p_from_text(g["P"].tolist())
        other = np.where(g["A1"] == g["ALT"], g["REF"], g["ALT"])
        d = pd.DataFrame({"chrom": g["#CHROM"].astype(str), "pos": g["POS"], "id": g["ID"], "a_other": other,
                          "a_eff": g["A1"], "eaf": 0.3, "info": 1.0, "n": g["OBS_CT"].astype(float),
                          "beta": g["BETA"], "se": g["SE"], "mlog10p": mlog})
        write_regenie(d, reg / f"step2_{pheno}.regenie.gz", gz=True)
    variants = pd.read_csv(gwas_cohort.truth / "variants.tsv", sep="\t")
    return dict(root=root, plink2=res, regenie=reg, variants=variants, bfile=gwas_cohort.genotypes)


def _near(leads, chrom, pos, kb=250):
    return leads[(leads["chrom"].astype(str) == str(chrom)) & ((leads["pos"] - pos).abs() <= kb * 1000)]


@needs_plink2
def test_end_to_end_plink2_finds_planted_lvedv_variants(gwas_run, tmp_path):
    out = tmp_path / "out"
    assert cmd.run(parse(["--results", str(gwas_run["plink2"]), "--out", str(out), "--quiet"])) == 0
    leads = pd.read_csv(out / "leads.tsv", sep="\t", dtype={"chrom": str})
    loci = pd.read_csv(out / "loci.tsv", sep="\t", dtype={"chrom": str})
    lam = pd.read_csv(out / "lambda.tsv", sep="\t")
    summ = json.loads((out / "summary.json").read_text())
    assert sorted(lam["latent"]) == ["lav", "lvedv"]  # names from gw.<pheno>.glm.linear with gw.log
    planted = gwas_run["variants"]
    for trait in ("lvedv", "lav"):
        for v in planted[planted["trait"] == trait].itertuples():
            hit = _near(leads[leads["latent"] == trait], v.chrom, v.pos)
            assert len(hit) == 1, (trait, v.id)
            assert hit["mlog10p"].item() > -np.log10(5e-8)
            assert hit["id"].item() == v.id  # with n = 2000 the planted variant itself is the lead
    # no lead far from a planted variant of its trait (lambda ~ 1, no false positives at 5e-8)
    for r in leads.itertuples():
        tv = planted[planted["trait"] == r.latent]
        assert ((tv["chrom"].astype(str) == r.chrom) & ((tv["pos"] - r.pos).abs() <= 250_000)).any()
    assert len(loci) == len(leads) == summ["counts"]["leads"]
    assert set(loci["n_latents"]) == {1}
    # lambda equals the closed form on the file's P values (stored as float32 -log10 P: rel 1e-6)
    for pheno in ("lvedv", "lav"):
        p = pd.read_csv(gwas_run["plink2"] / f"gw.{pheno}.glm.linear", sep="\t")["P"].to_numpy()
        got = lam.set_index("latent").loc[pheno, "lambda_gc"]
        assert got == pytest.approx(closed_form_lambda(p), rel=1e-6)
        assert 0.9 < got < 1.15
    assert (lam["n_variants"] == 6000).all()
    # Manhattan / QQ data
    man = pd.read_parquet(out / "manhattan.parquet")
    assert list(man.columns) == ["latent", "chrom", "pos", "cum_pos", "mlog10p"]
    assert len(man) == 12_000  # 6000 variants per latent < the background cap: all kept
    chroms = pd.DataFrame(summ["chromosomes"])
    off = dict(zip(chroms["chrom"], chroms["offset"]))
    assert (man["cum_pos"] == man["pos"] + man["chrom"].astype(str).map(off)).all()
    one = man[man["latent"] == "lvedv"]
    assert one["cum_pos"].is_monotonic_increasing
    qq = pd.read_parquet(out / "qq.parquet")
    assert set(qq["latent"]) == {"lvedv", "lav"} and (qq["rank"] >= 1).all()


@needs_plink2
def test_regenie_gz_gives_the_same_summary(gwas_run, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    cmd.run(parse(["--results", str(gwas_run["plink2"]), "--out", str(a), "--quiet"]))
    cmd.run(parse(["--results", str(gwas_run["regenie"] / "*.regenie.gz"), "--out", str(b), "--quiet",
                   "--table-format", "tsv"]))
    la = pd.read_csv(a / "leads.tsv", sep="\t")
    lb = pd.read_csv(b / "leads.tsv", sep="\t")
    assert la["id"].tolist() == lb["id"].tolist() and la["latent"].tolist() == lb["latent"].tolist()
    np.testing.assert_allclose(la["mlog10p"], lb["mlog10p"], rtol=1e-10)  # leads.tsv: 12 digits
    ta, tb = pd.read_csv(a / "lambda.tsv", sep="\t"), pd.read_csv(b / "lambda.tsv", sep="\t")
    np.testing.assert_allclose(ta["lambda_gc"], tb["lambda_gc"], rtol=1e-6)
    assert (b / "manhattan.tsv").exists() and (b / "qq.tsv").exists()


@needs_plink2
def test_thresholds_meff_and_paper(gwas_run, tmp_path):
    args = parse(["--results", str(gwas_run["plink2"]), "--out", str(tmp_path / "x"), "--meff", "10"])
    assert cmd._threshold(args)[0] == pytest.approx(5e-9)
    (tmp_path / "icc.summary.json").write_text(json.dumps({"meff": {"all": {"li_ji": 21.7, "nyholt": 30.1}}}))
    args = parse(["--results", "x", "--out", "y", "--meff", str(tmp_path / "icc.summary.json")])
    assert cmd._threshold(args)[0] == pytest.approx(5e-8 / 21.7)
    assert cmd._threshold(parse(["--results", "x", "--out", "y", "--p-threshold", "paper"]))[0] == 2.3e-9
    with pytest.raises(CardiolatentError, match="paper"):
        cmd._threshold(parse(["--results", "x", "--out", "y", "--p-threshold", "paper", "--meff", "3"]))
    # a threshold above every P: no leads, no crash
    out = tmp_path / "strict"
    cmd.run(parse(["--results", str(gwas_run["plink2"]), "--out", str(out), "--p-threshold", "1e-40", "--quiet"]))
    assert pd.read_csv(out / "leads.tsv", sep="\t").empty and pd.read_csv(out / "loci.tsv", sep="\t").empty


def _r2_with(geno: np.ndarray, j: int) -> np.ndarray:
    g = geno.astype(np.float64)
    g[geno < 0] = np.nan
    x = g[:, j]
    out = np.empty(g.shape[1])
    for k in range(g.shape[1]):
        ok = ~np.isnan(x) & ~np.isnan(g[:, k])
        a, b = x[ok], g[ok, k]
        sa, sb = a.std(), b.std()
        out[k] = 0.0 if sa == 0 or sb == 0 else np.corrcoef(a, b)[0, 1] ** 2
    return out


@needs_plink1
def test_ld_clumping_with_plink19(gwas_run, tmp_path):
    """Constructed P values: in each planted variant's LD block, -log10 P = 40 r2 with the planted
    variant; elsewhere null P values capped below 1e-3. PLINK 1.9 must make the planted variant the
    lead of its block and clump into it the P < 1e-4 variants with r2 > 0.5 within 250 kb."""
    from cardiolatent.synth.genotypes import read_bed

    geno, bim, _ = read_bed(gwas_run["bfile"])
    planted = gwas_run["variants"]
    rng = np.random.default_rng(3)
    mlog = np.minimum(-np.log10(rng.uniform(size=len(bim))), 2.9)
    expect, r2_of = {}, {}
    pos = bim["pos"].to_numpy()
    chrom = bim["chrom"].astype(str).to_numpy()
    for v in planted.itertuples():
        j = int(np.flatnonzero(bim["id"] == v.id)[0])
        win = np.flatnonzero((chrom == str(v.chrom)) & (np.abs(pos - v.pos) <= 400_000))
        r2 = _r2_with(geno[:, win], int(np.flatnonzero(win == j)[0]))
        mlog[win] = np.maximum(mlog[win], 40 * r2)
        mlog[j] = 400.0 if v.trait == "lvedv" else 40.0  # one P below the double range
        near = np.abs(pos[win] - v.pos) <= 250_000
        sig = 40 * r2 > 4
        expect[v.id] = (int((near & sig & (r2 > 0.52)).sum()), int((near & sig & (r2 > 0.48)).sum()))
        r2_of[v.id] = dict(zip(bim["id"].to_numpy()[win], r2))
    d = pd.DataFrame({"chrom": chrom, "pos": pos, "id": bim["id"], "effect_allele": bim["a1"],
                      "other_allele": bim["a2"], "mlog10p": mlog})
    leads, info = S.ld_clump(d, gwas_run["bfile"], p1=5e-8, p2=1e-4, r2=0.5, kb=250)
    assert info["n_index_missing_from_ref"] == 0
    for v in planted.itertuples():
        block = _near(leads, v.chrom, v.pos, kb=400)
        top = block.sort_values("mlog10p", ascending=False).iloc[0]
        assert top["id"] == v.id
        lo, hi = expect[v.id]
        assert lo <= top["n_clumped"] <= hi, (v.id, top["n_clumped"], expect[v.id])
        # other leads near it are those PLINK could not clump into it: r2 < 0.5 (or beyond 250 kb)
        for o in _near(block, v.chrom, v.pos, kb=250).itertuples():
            if o.id != v.id:
                assert r2_of[v.id][o.id] < 0.52, (v.id, o.id)
    assert len(leads) > len(planted)  # significant variants in weak LD with the planted ones stay leads
    # every lead is significant; matching by position gives the same leads
    assert (leads["mlog10p"] > -np.log10(5e-8)).all()
    leads_pos, _ = S.ld_clump(d.assign(id=[f"v{i}" for i in range(len(d))]), gwas_run["bfile"], match="position")
    assert leads_pos["pos"].tolist() == leads["pos"].tolist()
    # through the command: real plink2 results, --ld-ref
    out = tmp_path / "ld"
    assert cmd.run(parse(["--results", str(gwas_run["plink2"]), "--out", str(out), "--ld-ref",
                          str(gwas_run["bfile"]), "--quiet"])) == 0
    ld_leads = pd.read_csv(out / "leads.tsv", sep="\t", dtype={"chrom": str})
    assert set(ld_leads["method"]) == {"ld"}
    for v in planted[planted["trait"] == "lvedv"].itertuples():
        assert _near(ld_leads[ld_leads["latent"] == "lvedv"], v.chrom, v.pos)["id"].tolist() == [v.id]


def test_manhattan_thinning_is_deterministic_and_chunk_independent(tmp_path):
    rng = np.random.default_rng(9)
    n = 20_000
    d = pd.DataFrame({"chrom": np.repeat(["1", "2"], n // 2), "pos": np.tile(np.arange(1, n // 2 + 1) * 1000, 2),
                      "id": [f"v{i}" for i in range(n)], "a_other": "A", "a_eff": "G", "eaf": 0.3, "info": 1.0,
                      "n": 1000.0, "beta": 0.0, "se": 1.0})
    d["mlog10p"] = -np.log10(rng.uniform(size=n))
    d.loc[500, "mlog10p"] = 30.0
    write_regenie(d, tmp_path / "r_A.regenie")
    d2 = d.assign(mlog10p=-np.log10(rng.uniform(size=n)))
    write_regenie(d2, tmp_path / "r_B.regenie")
    files = R.discover_results([tmp_path])
    a = S.summarise_results(files, manhattan_background=1000, chunk_bytes=1 << 14)
    b = S.summarise_results(files, manhattan_background=1000, chunk_bytes=1 << 26)
    pd.testing.assert_frame_equal(a.manhattan, b.manhattan)
    pd.testing.assert_frame_equal(a.qq, b.qq)
    pd.testing.assert_frame_equal(a.per_latent, b.per_latent)
    man = a.manhattan
    for lat, src in (("A", d), ("B", d2)):
        m = man[man["latent"] == lat]
        n_top = int((src["mlog10p"] > 3).sum())
        assert int((m["mlog10p"] > 3).sum()) == n_top  # every P < 1e-3 kept
        assert len(m) == n_top + 1000  # plus exactly the background quota
    # the background subsample is the same variants in both latents where both are background
    bg = man[man["mlog10p"] <= 3]
    ka = set(map(tuple, bg[bg.latent == "A"][["chrom", "pos"]].astype(str).values))
    kb = set(map(tuple, bg[bg.latent == "B"][["chrom", "pos"]].astype(str).values))
    assert len(ka & kb) > 950
    assert a.leads["id"].tolist() == ["v500"] and a.leads["latent"].tolist() == ["A"]


def test_bolt_reader_and_folder_scan_skips_other_stats_files(tmp_path):
    d = truth_table(n=90, seed=4)
    bolt = pd.DataFrame({"SNP": d["id"], "CHR": d["chrom"], "BP": d["pos"], "GENPOS": 0.0, "ALLELE1": d["a_eff"],
                         "ALLELE0": d["a_other"], "A1FREQ": d["eaf"], "F_MISS": 0.0, "BETA": d["beta"],
                         "SE": d["se"], "P_BOLT_LMM_INF": "0.5", "P_BOLT_LMM": d["p_txt"]})
    (tmp_path / "lvedv.stats").write_text(bolt.to_csv(sep="\t", index=False, lineterminator="\n"))
    (tmp_path / "other.stats").write_text("name value\nx 1\n")  # e.g. some tool's statistics
    skipped = []
    files = R.discover_results([tmp_path], skipped=skipped)
    assert [(f.format, f.latent) for f in files] == [("bolt", "lvedv")]
    assert [p.name for p in skipped] == ["other.stats"]
    check_against_truth(R.read_result(files[0]), d)  # P_BOLT_LMM preferred over _INF
    with pytest.raises(CardiolatentError, match="other.stats"):
        R.discover_results([tmp_path / "other.stats"])  # named explicitly: an error


def test_tricky_latents_are_reported_not_fatal(tmp_path):
    d = truth_table(n=120, seed=6)
    res = tmp_path / "res"
    res.mkdir()
    write_regenie(d, res / "r_good.regenie")
    (res / "r_empty.regenie").write_text(" ".join(REGENIE_COLS) + "\n")  # header only
    write_regenie(d.assign(mlog10p=np.nan), res / "r_allna.regenie")
    out = tmp_path / "out"
    assert cmd.run(parse(["--results", str(res), "--out", str(out), "--quiet", "--table-format", "tsv"])) == 0
    lam = pd.read_csv(out / "lambda.tsv", sep="\t").set_index("latent")
    assert lam.loc["good", "status"] == "ok" and lam.loc["good", "n_variants"] == 119
    assert lam.loc["empty", "status"] == "no rows" and np.isnan(lam.loc["empty", "lambda_gc"])
    assert lam.loc["allna", "status"] == "no P values" and lam.loc["allna", "n_missing_p"] == 120
    leads = pd.read_csv(out / "leads.tsv", sep="\t").set_index("id")
    assert set(leads["latent"]) == {"good"}
    assert lam.loc["good", "n_significant"] == 3  # rs105 (P = 1e-500), rs106 (1e-309.5), rs107 (1e-12.25)
    assert leads.loc["rs105", "mlog10p"] == pytest.approx(500.0, rel=1e-12)
    pos = d.set_index("id")["pos"]
    assert ("rs106" in leads.index) == (abs(pos["rs106"] - pos["rs105"]) > 250_000)
    summ = json.loads((out / "summary.json").read_text())
    assert summ["counts"]["latents"] == 3 and summ["lambda_gc"]["max"] == pytest.approx(lam.loc["good", "lambda_gc"])


# ---------------------------------------------------------------------------------------------
# QQ data stratified by minor-allele-frequency bin (--qq-maf-bins)
# ---------------------------------------------------------------------------------------------
MAF_EDGES = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5]
MAF_LABELS = ["0-0.01", "0.01-0.05", "0.05-0.1", "0.1-0.25", "0.25-0.5"]


def _bins_by_pandas(eaf) -> pd.Series:
    """The documented binning, by pandas: MAF = min(eaf, 1 - eaf) rounded to 10 decimals, cut at
    [0, 0.01], (0.01, 0.05], ...; NaN where there is no frequency."""
    f = pd.Series(np.asarray(eaf, dtype=float))
    return pd.cut(np.minimum(f, 1 - f).round(10), MAF_EDGES, labels=MAF_LABELS, include_lowest=True)


def _check_bin_rows(q: pd.DataFrame, mlog: np.ndarray, n_bin: int, *, keep_above: float = 3.0):
    """Rows of one bin against closed forms: expected -log10(rank / (n + 1)), the band's Beta quantiles
    at the bin's n, observed = the rank-th largest -log10 P of the bin, every P < 1e-3 kept, rank n last."""
    r = q["rank"].to_numpy(dtype=float)
    assert q["rank"].is_monotonic_increasing and q["rank"].iloc[-1] == n_bin
    np.testing.assert_allclose(q["expected"], -np.log10(r / (n_bin + 1)), rtol=1e-12)
    np.testing.assert_allclose(q["ci_low"], -np.log10(stats.beta.ppf(0.975, r, n_bin - r + 1)), rtol=1e-8)
    np.testing.assert_allclose(q["ci_high"], -np.log10(stats.beta.ppf(0.025, r, n_bin - r + 1)), rtol=1e-8)
    desc = np.sort(mlog.astype(np.float32))[::-1]  # stored as float32 -log10 P
    np.testing.assert_array_equal(q["observed"].to_numpy(), desc[q["rank"].to_numpy() - 1].astype(np.float64))
    n_top = int((mlog > keep_above).sum())
    assert q["rank"].iloc[:n_top].tolist() == list(range(1, n_top + 1))


def _maf_input(tmp_path, n=6000) -> tuple[Path, pd.DataFrame]:
    """A REGENIE file with frequencies over every bin, edge values (0.01, 0.99 = MAF 0.01, 0, 0.5, 1)
    and a few without a frequency (NA)."""
    d = truth_table(n, seed=11)
    rng = np.random.default_rng(12)
    d["eaf"] = rng.choice([0.003, 0.008, 0.02, 0.04, 0.07, 0.2, 0.4, 0.6, 0.93, 0.995], n) + \
        rng.uniform(-0.002, 0.002, n).round(5)
    d.loc[100:104, "eaf"] = [0.01, 0.99, 0.0, 0.5, 1.0]
    d.loc[200:236, "eaf"] = np.nan
    src = tmp_path / "res"
    src.mkdir()
    write_regenie(d, src / "step2_A.regenie")
    return src, d


def test_qq_maf_bins_closed_forms_counts_and_missing(tmp_path):
    src, d = _maf_input(tmp_path)
    on, off = tmp_path / "on", tmp_path / "off"
    assert cmd.run(parse(["--results", str(src), "--out", str(on), "--quiet", "--qq-points", "80",
                          "--qq-maf-bins", "0.01,0.05,0.1,0.25,0.5"])) == 0
    assert cmd.run(parse(["--results", str(src), "--out", str(off), "--quiet", "--qq-points", "80"])) == 0
    qq = pd.read_parquet(on / "qq.parquet")
    summ = json.loads((on / "summary.json").read_text())
    assert list(qq.columns) == ["latent", "maf_bin", "rank", "expected", "observed", "ci_low", "ci_high"]
    assert list(qq["maf_bin"].cat.categories) == ["all", *MAF_LABELS]
    # the unstratified rows are the output without the option, row for row; the other files are byte-identical
    plain = pd.read_parquet(off / "qq.parquet")
    assert "maf_bin" not in plain.columns
    pd.testing.assert_frame_equal(qq[qq["maf_bin"] == "all"].drop(columns="maf_bin").reset_index(drop=True), plain)
    for name in ("lambda.tsv", "leads.tsv", "loci.tsv", "manhattan.parquet"):
        assert (on / name).read_bytes() == (off / name).read_bytes(), name
    # counts per bin = a pandas cut of the input frequencies (variants with a P value)
    t = d[d["mlog10p"].notna()].reset_index(drop=True)
    b = _bins_by_pandas(t["eaf"])
    assert b.iloc[t.index[t["eaf"].isin([0.01, 0.99, 0.0])]].tolist() == ["0-0.01"] * 3  # edges: [0, 0.01]
    assert summ["qq"]["maf_counts"]["A"] == {lab: int((b == lab).sum()) for lab in MAF_LABELS}
    assert summ["qq"]["maf_missing"]["A"] == int(t["eaf"].isna().sum()) == 37  # counted, never silently dropped
    assert sum(summ["qq"]["maf_counts"]["A"].values()) + 37 == len(t)
    assert summ["qq"]["maf_bins"]["edges"] == MAF_EDGES and summ["qq"]["maf_bins"]["labels"] == MAF_LABELS
    assert any("without an allele frequency" in n and "A: 37" in n for n in summ["notes"])
    assert summ["counts"]["qq_rows"] == len(qq)
    # per bin: closed-form expected quantiles and band at the bin's own n, its lambda GC
    for lab in MAF_LABELS:
        mlog = t.loc[(b == lab).to_numpy(), "mlog10p"].to_numpy()
        q = qq[qq["maf_bin"] == lab]
        _check_bin_rows(q, mlog, mlog.size)
        p = 10.0 ** -mlog
        assert summ["qq"]["maf_lambda_gc"]["A"][lab] == pytest.approx(closed_form_lambda(p), rel=1e-6)
    # chunking does not change anything
    a = S.gwas_results([str(src)], qq_n_points=80, qq_maf_bins=[0.01, 0.05, 0.1, 0.25, 0.5], chunk_mb=0.02)
    pd.testing.assert_frame_equal(a.qq.reset_index(drop=True), qq)
    assert a.summary.qq["maf_counts"] == summ["qq"]["maf_counts"]
    # the saved folder loads back, for parquet and TSV tables
    assert S.GwasSummary.load(on).qq["maf_bin"].astype(str).tolist() == qq["maf_bin"].astype(str).tolist()
    assert cmd.run(parse(["--results", str(src), "--out", str(tmp_path / "tsv"), "--quiet", "--table-format", "tsv",
                          "--qq-maf-bins", "0.01,0.05,0.1,0.25,0.5", "--qq-points", "80"])) == 0
    back = S.GwasSummary.load(tmp_path / "tsv").qq
    assert back["maf_bin"].astype(str).tolist() == qq["maf_bin"].astype(str).tolist()


def test_qq_maf_bins_edges_and_an_empty_bin(tmp_path):
    edges, labels = maf_bins("0.01,0.05")  # 0.5 is added so that every frequency has a bin
    assert edges.tolist() == [0.0, 0.01, 0.05, 0.5] and labels == ["0-0.01", "0.01-0.05", "0.05-0.5"]
    codes = maf_bin_codes([0.0, 0.01, 0.0100001, 0.99, 0.97, 0.5, 1.0, np.nan, -0.1, 1.2], edges)
    assert codes.tolist() == [0, 0, 1, 0, 1, 2, 0, -1, -1, -1]
    d = truth_table(900, seed=3)
    d["eaf"] = np.where(np.arange(900) % 2 == 0, 0.3, 0.8)  # MAF 0.3 and 0.2: only the last bin
    src = tmp_path / "res"
    src.mkdir()
    write_regenie(d, src / "step2_B.regenie")
    res = S.gwas_results([str(src)], qq_maf_bins="0.01,0.05")
    assert res.summary.qq["maf_counts"]["B"] == {"0-0.01": 0, "0.01-0.05": 0, "0.05-0.5": 899}
    assert res.summary.qq["maf_lambda_gc"]["B"]["0-0.01"] is None and res.summary.qq["maf_missing"]["B"] == 0
    assert set(res.qq["maf_bin"].astype(str)) == {"all", "0.05-0.5"}  # an empty bin has no rows
    one = res.qq[res.qq["maf_bin"] == "0.05-0.5"].drop(columns="maf_bin").reset_index(drop=True)
    both = res.qq[res.qq["maf_bin"] == "all"].drop(columns="maf_bin").reset_index(drop=True)
    pd.testing.assert_frame_equal(one, both)  # the bin holds every variant: the same points as 'all'
    assert not any("allele frequency" in n for n in res.summary.notes)


@pytest.mark.parametrize("bad", ["0.05,0.01", "0.01,0.01", "0,0.1", "0.01,0.6", "a,b", "", "0.01;0.05", "nan"])
def test_qq_maf_bins_bad_values_name_the_option(tmp_path, bad):
    with pytest.raises(CardiolatentError) as e:  # before any file is read: the results path does not exist
        cmd.run(parse(["--results", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"), "--quiet",
                       "--qq-maf-bins", bad]))
    msg = str(e.value)
    assert "--qq-maf-bins" in msg and "\n" not in msg and "(0, 0.5]" in msg


@needs_plink2
def test_qq_maf_bins_plink2_frequencies_from_the_runs_afreq(gwas_run, tmp_path, gwas_cohort):
    """PLINK 2 results carry no frequency: the bins come from the run's .afreq (real plink2 --freq); without
    it every variant is counted as missing and no stratified row is written."""
    src = tmp_path / "glm"
    src.mkdir()
    for f in gwas_run["plink2"].glob("gw.*"):
        if ".glm." in f.name or f.suffix == ".log":
            shutil.copy(f, src / f.name)
    assert not list(gwas_run["plink2"].glob("*.afreq"))
    r = subprocess.run([PLINK2, "--bfile", str(gwas_cohort.genotypes), "--freq", "--threads", "1", "--memory", "1000",
                        "--out", str(src / "gw")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "out"
    assert cmd.run(parse(["--results", str(src), "--out", str(out), "--quiet",
                          "--qq-maf-bins", "0.01,0.05,0.1,0.25,0.5"])) == 0
    summ = json.loads((out / "summary.json").read_text())
    qq = pd.read_parquet(out / "qq.parquet")
    afreq = pd.read_csv(src / "gw.afreq", sep="\t")
    for pheno in ("lvedv", "lav"):
        g = pd.read_csv(src / f"gw.{pheno}.glm.linear", sep="\t", dtype={"P": str})
        m = g.merge(afreq[["ID", "ALT_FREQS"]], on="ID", how="left", validate="one_to_one")
        b = _bins_by_pandas(m["ALT_FREQS"])
        assert summ["qq"]["maf_counts"][pheno] == {lab: int((b == lab).sum()) for lab in MAF_LABELS}
        assert summ["qq"]["maf_missing"][pheno] == int(m["ALT_FREQS"].isna().sum()) == 0
        mlog = R.mlog10p_from_text(g["P"].tolist())
        for lab in MAF_LABELS:
            sel = (b == lab).to_numpy()
            if sel.any():
                _check_bin_rows(qq[(qq["latent"] == pheno) & (qq["maf_bin"] == lab)], mlog[sel], int(sel.sum()))
    # the same results without the .afreq: no frequency at all, counted and said
    bare = tmp_path / "bare"
    assert cmd.run(parse(["--results", str(gwas_run["plink2"]), "--out", str(bare), "--quiet",
                          "--qq-maf-bins", "0.01,0.05,0.1,0.25,0.5"])) == 0
    summ = json.loads((bare / "summary.json").read_text())
    lam = pd.read_csv(bare / "lambda.tsv", sep="\t").set_index("latent")
    assert summ["qq"]["maf_missing"] == {k: int(lam.loc[k, "n_variants"]) for k in ("lvedv", "lav")}
    assert set(pd.read_parquet(bare / "qq.parquet")["maf_bin"].astype(str)) == {"all"}
    assert any(".afreq" in n and "without an allele frequency" in n for n in summ["notes"])
