"""Synthetic genotypes: .bed encoding, round trip, LD structure, planted variants, plink2 agreement."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiolatent.synth.genotypes import (
    BED_MAGIC,
    DEFAULT_CAUSAL,
    Genotypes,
    pack_dosages,
    read_bed,
    simulate_genotypes,
    unpack_bed,
)

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 executable not on PATH")

N = 2000
VPC = 300  # variants per chromosome in the test fixture
SEED = 20240611


def _simulate(seed: int = SEED, n: int = N, **kw) -> Genotypes:
    eids = np.arange(1_000_001, 1_000_001 + n, dtype=np.int64) * 3
    kw.setdefault("variants_per_chrom", VPC)
    return simulate_genotypes(eids, np.random.default_rng(seed), **kw)


@pytest.fixture(scope="module")
def geno() -> Genotypes:
    return _simulate()


@pytest.fixture(scope="module")
def sex() -> np.ndarray:
    s = np.random.default_rng(1).integers(0, 2, N).astype(float)
    s[:7] = np.nan
    return s


@pytest.fixture(scope="module")
def bfile(geno, sex, tmp_path_factory) -> Path:
    prefix = tmp_path_factory.mktemp("geno") / "synth"
    geno.write_plink(prefix, sex=sex)
    return prefix


def _plink2(*args: str, cwd: Path) -> None:
    res = subprocess.run([PLINK2, "--threads", "1", "--memory", "1000", *args],
                         cwd=cwd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~np.isnan(x) & ~np.isnan(y)
    return float(np.corrcoef(x[ok], y[ok])[0, 1] ** 2)


# ---------------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------------
def test_pack_known_byte():
    # A1 counts 2, missing, 1, 0 -> codes 00, 01, 10, 11 -> 0b11_10_01_00, low bits first
    assert pack_dosages(np.array([[2, -1, 1, 0]])).tolist() == [[0xE4]]
    # 5 people -> 2 bytes, padding bits zero
    assert pack_dosages(np.array([[0, 0, 0, 0, 1]])).tolist() == [[0xFF, 0x02]]


@pytest.mark.parametrize("n", [1, 4, 7, 1001])
def test_pack_unpack_identity(n):
    c = np.random.default_rng(n).integers(-1, 3, size=(13, n)).astype(np.int8)
    assert np.array_equal(unpack_bed(pack_dosages(c), n), c)


# ---------------------------------------------------------------------------------------------
# simulated variant map and causal table
# ---------------------------------------------------------------------------------------------
def test_variant_table(geno):
    v = geno.variants
    assert list(v.columns[:7]) == ["chrom", "id", "cm", "pos", "a1", "a2", "freq_a1"]
    assert len(v) == 4 * VPC and geno.packed.shape == (4 * VPC, (N + 3) // 4)
    assert v["id"].is_unique and v["id"].str.match(r"^rs\d+$").all()
    assert set(v["a1"]) | set(v["a2"]) <= set("ACGT") and (v["a1"] != v["a2"]).all()
    assert sorted(v["chrom"].unique()) == [19, 20, 21, 22]
    for _, g in v.groupby("chrom"):
        gaps = np.diff(g["pos"].to_numpy())
        assert (gaps > 0).all() and 2_000 <= np.median(gaps) <= 20_000
        assert (np.diff(g["cm"].to_numpy()) >= 0).all()
    assert v.loc[v["chrom"] == 21, "pos"].min() > 9_000_000  # acrocentric offset
    sizes = v.groupby("block").size()
    assert sizes.min() >= 20 and sizes.max() <= 60
    maf = np.minimum(v["freq_a1"], 1 - v["freq_a1"])
    assert maf.min() > 0.003 and (maf < 0.05).mean() > 0.15 and maf.max() <= 0.5 + 1e-9
    # ~0.2 % missing calls
    rate = v["missing"].sum() / (N * len(v))
    assert 0.001 < rate < 0.003


def test_causal_table(geno):
    c, v = geno.causal, geno.variants
    assert list(c.columns) == ["id", "chrom", "pos", "effect_allele", "other_allele", "eaf",
                               "trait", "beta_sd", "r2"]
    assert c["trait"].value_counts().to_dict() == DEFAULT_CAUSAL
    vi = v.set_index("id").loc[c["id"]]
    assert vi["block"].is_unique  # distinct LD blocks
    assert c["chrom"].nunique() == 4  # spread over all chromosomes
    assert (vi["missing"] == 0).all()
    assert np.allclose(c["eaf"], vi["freq_a1"]) and (c["effect_allele"].to_numpy() == vi["a1"].to_numpy()).all()
    assert (np.minimum(c["eaf"], 1 - c["eaf"]) >= 0.08).all()  # MAF >= 0.1 in expectation
    p = c["eaf"].to_numpy()
    assert np.allclose(np.abs(c["beta_sd"]), np.sqrt(0.06 / (2 * p * (1 - p))))
    d = geno.dosage(c["id"])
    assert d.shape == (N, len(c)) and d.dtype == np.float64 and not np.isnan(d).any()
    assert np.allclose(d.mean(axis=0) / 2, p)


def test_custom_causal_and_errors():
    g = _simulate(n=50, variants_per_chrom=100, chromosomes=(1, 2), causal={"a": 3}, causal_r2=0.01)
    assert len(g.causal) == 3 and (g.causal["trait"] == "a").all()
    assert g.causal["chrom"].nunique() == 2
    assert len(_simulate(n=50, variants_per_chrom=100, causal={}).causal) == 0
    with pytest.raises(ValueError, match="unique"):
        simulate_genotypes(np.array([1, 1, 2]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="LD blocks"):
        _simulate(n=20, variants_per_chrom=40, chromosomes=(1,), causal={"a": 5})
    with pytest.raises(KeyError):
        g.dosage(["rs_not_there"])


# ---------------------------------------------------------------------------------------------
# LD and Hardy-Weinberg (both the per-person and the haplotype-panel path)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("panel_size", [8192, 1500])
def test_ld_blocks_and_hwe(panel_size):
    g = _simulate(seed=5, panel_size=panel_size)  # 2n = 4000 > 1500 -> panel path
    G = g.dosage(g.variants["id"])
    blk = g.variants["block"].to_numpy()
    j = np.arange(g.m - 1)
    within = [_r2(G[:, a], G[:, a + 1]) for a in j[blk[:-1] == blk[1:]]]
    across = [_r2(G[:, a], G[:, a + 1]) for a in j[blk[:-1] != blk[1:]]]
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, g.m, size=(300, 2))
    pairs = pairs[blk[pairs[:, 0]] != blk[pairs[:, 1]]]
    rand = [_r2(G[:, a], G[:, b]) for a, b in pairs]
    assert np.mean(within) > 0.25
    assert np.mean(across) < 0.01 and np.mean(rand) < 0.01
    # Hardy-Weinberg: heterozygote fraction ~ 2 p q for common variants
    p = g.variants["freq_a1"].to_numpy()
    common = (p > 0.2) & (p < 0.8)
    het = np.nanmean(G[:, common] == 1, axis=0)
    assert np.abs(het - 2 * p[common] * (1 - p[common])).mean() < 0.02


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def test_write_read_round_trip(geno, sex, bfile):
    assert bfile.with_suffix(".bed").read_bytes()[:3] == BED_MAGIC
    G, bim, fam = read_bed(bfile)
    assert G.dtype == np.int8 and G.shape == (N, geno.m)
    assert np.array_equal(G, geno.counts())
    assert np.array_equal(np.where(G < 0, np.nan, G), geno.dosage(geno.variants["id"]), equal_nan=True)
    v = geno.variants
    assert bim["id"].tolist() == v["id"].tolist() and (bim["pos"].to_numpy() == v["pos"].to_numpy()).all()
    assert (bim["a1"].to_numpy() == v["a1"].to_numpy()).all() and (bim["chrom"].astype(int) == v["chrom"]).all()
    assert (fam["fid"] == fam["iid"]).all() and (fam["iid"].astype(np.int64).to_numpy() == geno.eids).all()
    assert (fam[["father", "mother"]] == "0").all().all() and (fam["pheno"] == "-9").all()
    expected_sex = np.where(sex == 1, 1, np.where(sex == 0, 2, 0))
    assert np.array_equal(fam["sex"].to_numpy(), expected_sex)
    # no temporary files left behind
    assert sorted(p.name for p in bfile.parent.iterdir()) == ["synth.bed", "synth.bim", "synth.fam"]


def test_sex_validation(geno, tmp_path):
    with pytest.raises(ValueError, match="sex"):
        geno.write_plink(tmp_path / "x", sex=np.full(geno.n, 2.0))
    with pytest.raises(ValueError, match="shape"):
        geno.write_plink(tmp_path / "x", sex=np.zeros(3))
    geno.write_plink(tmp_path / "x")
    assert (read_bed(tmp_path / "x")[2]["sex"] == 0).all()


def test_determinism(tmp_path):
    a, b, c = _simulate(seed=11, n=300), _simulate(seed=11, n=300), _simulate(seed=12, n=300)
    for g, name in [(a, "a"), (b, "b"), (c, "c")]:
        g.write_plink(tmp_path / name)
    bed = {k: (tmp_path / f"{k}.bed").read_bytes() for k in "abc"}
    assert bed["a"] == bed["b"] and bed["a"] != bed["c"]
    assert (tmp_path / "a.bim").read_bytes() == (tmp_path / "b.bim").read_bytes()
    pd.testing.assert_frame_equal(a.causal, b.causal)


# ---------------------------------------------------------------------------------------------
# plink2 agreement
# ---------------------------------------------------------------------------------------------
@needs_plink2
def test_plink2_freq_matches(geno, bfile, tmp_path):
    _plink2("--bfile", str(bfile), "--freq", "--out", "f", cwd=tmp_path)
    af = pd.read_csv(tmp_path / "f.afreq", sep="\t")
    v = geno.variants
    assert af["ID"].tolist() == v["id"].tolist()
    assert (af["ALT"].to_numpy() == v["a1"].to_numpy()).all()  # PLINK 1 A1 is plink2 ALT
    assert np.abs(af["ALT_FREQS"].to_numpy() - v["freq_a1"].to_numpy()).max() < 1e-6
    assert (af["OBS_CT"].to_numpy() == 2 * (N - v["missing"].to_numpy())).all()


@needs_plink2
def test_plink2_export_counts_match_dosage(geno, bfile, tmp_path):
    v = geno.variants
    v[["id", "a1"]].to_csv(tmp_path / "count_a1.txt", sep="\t", header=False, index=False)
    _plink2("--bfile", str(bfile), "--export", "A", "--export-allele", "count_a1.txt",
            "--out", "x", cwd=tmp_path)
    raw = pd.read_csv(tmp_path / "x.raw", sep="\t", na_values=["NA"])
    assert (raw["IID"].to_numpy() == geno.eids).all()
    cols = raw.columns[6:]
    assert list(cols) == [f"{i}_{a}" for i, a in zip(v["id"], v["a1"])]
    assert np.array_equal(raw[cols].to_numpy(dtype=float), geno.dosage(v["id"]), equal_nan=True)


@needs_plink2
def test_plink2_glm_finds_planted_variants(geno, bfile, tmp_path):
    c = geno.causal
    d = geno.dosage(c["id"])
    p = c["eaf"].to_numpy()
    genetic = ((d - 2 * p) * c["beta_sd"].to_numpy()).sum(axis=1)
    noise = np.random.default_rng(3).standard_normal(N) * np.sqrt(1 - c["r2"].sum())
    trait = 50 + 12 * (genetic + noise)  # trait SD 12 units
    eid = geno.eids.astype(str)
    pd.DataFrame({"#FID": eid, "IID": eid, "trait": trait}).to_csv(
        tmp_path / "pheno.txt", sep="\t", index=False)
    _plink2("--bfile", str(bfile), "--pheno", "pheno.txt", "--glm", "allow-no-covars",
            "--out", "g", cwd=tmp_path)
    res = pd.read_csv(tmp_path / "g.trait.glm.linear", sep="\t")
    res = res[res["TEST"] == "ADD"].set_index("ID")
    assert (res.loc[c["id"], "P"] < 5e-8).all(), res.loc[c["id"]]
    # effect direction (plink2 versions differ in which allele they call A1: ALT or minor)
    hit = res.loc[c["id"]]
    flip = np.where(hit["A1"].to_numpy() == c["effect_allele"].to_numpy(), 1.0, -1.0)
    assert ((hit["A1"].to_numpy() == c["effect_allele"].to_numpy())
            | (hit["A1"].to_numpy() == c["other_allele"].to_numpy())).all()
    assert (np.sign(hit["BETA"].to_numpy() * flip) == np.sign(c["beta_sd"].to_numpy())).all()
    # estimated per-allele effect in trait SD units is near the planted one
    assert np.allclose(hit["BETA"].to_numpy() * flip / 12, c["beta_sd"].to_numpy(), atol=0.15)
    for chrom, cc in c.groupby("chrom"):
        top = res[res["#CHROM"] == chrom]["P"].idxmin()
        if top in set(cc["id"]):
            continue
        x = geno.dosage([top])[:, 0]
        assert max(_r2(x, geno.dosage([i])[:, 0]) for i in cc["id"]) > 0.2, (chrom, top)
