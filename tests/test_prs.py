"""Polygenic scores (issue 18, part 3): weights, our scorer against the real plink2, the split, evaluation.

- our scorer equals ``plink2 --score`` (PLINK v2.00a3.5, /usr/bin/plink2) on the gwas_cohort
  genotypes, to plink2's printed precision (6 significant digits), with missing calls (mean
  imputation from the kept samples' frequencies, and ``no-mean-imputation``), named alleles on REF
  and ALT, a line whose ID is not in the .bim and one whose allele is neither of the variant's;
- weights: a saved folder reads back equal; the score at the gwas-results threshold holds exactly
  its leads; the PLINK 2 score file reads back as written;
- the split keeps given relatives on one side;
- end to end on the gwas_cohort: a GWAS of the TRUE LA volume on the discovery half (export
  ``--samples discovery.fam`` -> our OLS scan -> gwas-results) gives a score that predicts the true
  LA volume in the target half; the score table written as a wide latents parquet feeds
  ``cardiolatent cox`` (with ``--groups``) unchanged;
- DeLong: the fast algorithm equals a direct O(n^2) computation to 1e-10 and R's pROC
  ``roc.test(method = "delong")`` to 1e-9.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cardiolatent.cli import main as cli
from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics import prs
from cardiolatent.genetics.prs_target import follow_from_instance, read_discovery_ids, target_samples
from cardiolatent.genetics import prs_eval as ev

PLINK2 = shutil.which("plink2")
RSCRIPT = shutil.which("Rscript")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 not on PATH")


def _cli(argv: list[str]) -> None:
    assert cli(argv) == 0, f"cardiolatent {' '.join(argv)} failed"


def _printed_equal(ours: np.ndarray, printed: np.ndarray) -> np.ndarray:
    """True where ``ours`` rounds to plink2's printed value (6 significant digits, %g): the error is
    at most half a unit in the 6th digit of the printed number (plus 1e-9 of it for binary noise)."""
    p = np.asarray(printed, float)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log10(np.abs(p)))
    half_unit = np.where(p == 0, 5e-7, 0.5 * 10.0 ** (e - 5)) * (1 + 1e-9)
    return np.abs(np.asarray(ours, float) - p) <= half_unit


# --------------------------------------------------------------------------------------------
# scorer == plink2 --score
# --------------------------------------------------------------------------------------------

def _test_weights(gwas_cohort, rng) -> tuple[pd.DataFrame, list[str]]:
    """3 scores over 60 variants (half named on ALT, half on REF; one score with zero weights), plus a
    line with an ID absent from the .bim and a line with an allele neither of the variant's."""
    from cardiolatent.synth.genotypes import read_bed

    g, bim, _ = read_bed(gwas_cohort.genotypes)
    has_missing = np.flatnonzero((g < 0).sum(axis=0) >= 3)
    idx = rng.choice(has_missing, 60, replace=False)
    b = bim.iloc[idx].reset_index(drop=True)
    on_alt = np.arange(60) % 2 == 0
    W = pd.DataFrame({"ID": b["id"], "A1": np.where(on_alt, b["a1"], b["a2"]),
                      "sA": rng.normal(size=60), "sB": np.where(rng.random(60) < 0.5, 0.0, rng.normal(size=60)),
                      "sC": rng.exponential(size=60)})
    other = next(x for x in "ACGT" if x not in (bim["a1"].iloc[0], bim["a2"].iloc[0]))
    extra = pd.DataFrame({"ID": ["rs_not_in_bim", bim["id"].iloc[0]], "A1": ["A", other],
                          "sA": [1.0, 1.0], "sB": [1.0, 1.0], "sC": [1.0, 1.0]})
    return pd.concat([W, extra], ignore_index=True), ["sA", "sB", "sC"]


@needs_plink2
@pytest.mark.parametrize("mean_impute", [True, False], ids=["mean-imputation", "no-mean-imputation"])
def test_scorer_equals_plink2_score(gwas_cohort, tmp_path, mean_impute):
    rng = np.random.default_rng(3)
    W, names = _test_weights(gwas_cohort, rng)
    fam = pd.read_csv(gwas_cohort.genotypes.with_suffix(".fam"), sep=r"\s+", header=None, dtype=str)
    keep = tmp_path / "keep.txt"
    fam.iloc[::3, :2].to_csv(keep, sep="\t", header=False, index=False)  # frequencies of the kept third
    theirs = prs.plink2_score(gwas_cohort.genotypes, W, keep=keep, mean_impute=mean_impute)
    ours = prs.score_bed(gwas_cohort.genotypes, W, keep=keep, mean_impute=mean_impute, chunk_variants=7)
    log = " ".join(theirs.attrs["log"].split())
    assert "1 --score file entry was skipped due to a missing variant ID, and 1 was skipped due to a mismatching " \
           "allele code" in log
    assert ours.attrs["skipped"] == {"id_not_in_bim": 1, "allele_mismatch": 1}
    assert ours.attrs["n_used"] == 60 and "--score: 60 variants processed." in theirs.attrs["log"]
    assert ours["IID"].tolist() == theirs["IID"].tolist() and len(ours) == len(fam.iloc[::3])
    # the check has teeth: kept samples do have missing calls on the scored variants
    assert (ours["ALLELE_CT"] < 120).sum() > 20
    np.testing.assert_array_equal(ours["ALLELE_CT"], theirs["ALLELE_CT"])
    np.testing.assert_allclose(ours["NAMED_ALLELE_DOSAGE_SUM"], theirs["NAMED_ALLELE_DOSAGE_SUM"], rtol=0, atol=1e-9)
    for n in names:
        for kind in ("_SUM", "_AVG"):
            ok = _printed_equal(ours[n + kind], theirs[n + kind])
            assert ok.all(), (n + kind, ours[n + kind][~ok].head(), theirs[n + kind][~ok].head())
    # the frequencies are the kept samples': scoring everyone and subsetting differs where calls are missing
    if mean_impute:
        everyone = prs.score_bed(gwas_cohort.genotypes, W).set_index("IID").loc[ours["IID"]]
        assert not _printed_equal(everyone["sA_SUM"], theirs["sA_SUM"]).all()


def test_score_bed_bad_input(gwas_cohort, tmp_path):
    W = pd.DataFrame({"ID": ["x"], "A1": ["A"], "s": ["oops"]})
    with pytest.raises(CardiolatentError, match="column s holds 'oops'"):
        prs.score_bed(gwas_cohort.genotypes, W)
    with pytest.raises(CardiolatentError, match="genotype file not found"):
        prs.score_bed(tmp_path / "nothing", pd.DataFrame({"ID": ["x"], "A1": ["A"], "s": [1.0]}))
    with pytest.raises(CardiolatentError, match="none of the 1 samples to keep"):
        prs.score_bed(gwas_cohort.genotypes, pd.DataFrame({"ID": ["x"], "A1": ["A"], "s": [1.0]}), keep=["nobody"])


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------

def _toy_variants() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(5)
    out = {}
    for lat in ("Z0", "Z1"):
        n = 300
        out[lat] = pd.DataFrame({"chrom": rng.choice(["1", "2"], n), "pos": rng.integers(1, 5_000_000, n),
                                 "id": [f"rs{i}" for i in range(n)], "effect_allele": "A", "other_allele": "G",
                                 "eaf": 0.3, "beta": rng.normal(size=n), "se": 0.1,
                                 "mlog10p": rng.exponential(2.0, n)})
        out[lat].loc[0, "mlog10p"] = 50.0  # rs0: a lead of both latents
        if lat == "Z1":  # named by its other allele in Z1
            out[lat].loc[:9, ["effect_allele", "other_allele"]] = ["G", "A"]
    return out


def test_clumping_and_thresholding_and_round_trip(tmp_path):
    from cardiolatent.gwas.clump import distance_clump

    v = _toy_variants()
    w = prs.clump_and_threshold(v, (1e-2, 1e-4, 1e-6))
    assert w.names == ["Z0_p1e-06", "Z0_p0.0001", "Z0_p0.01", "Z1_p1e-06", "Z1_p0.0001", "Z1_p0.01"]
    for lat, d in v.items():
        for t in (1e-2, 1e-4):
            # clump once at the loosest threshold == clump at each threshold (distance clumping)
            alone = distance_clump(d, -np.log10(t), 250.0)
            got = w.table[w.table["score"] == prs.score_name(lat, t)]
            assert sorted(got["id"]) == sorted(alone["id"]) and len(alone) > 0
            np.testing.assert_allclose(got.set_index("id").loc[alone["id"], "beta"], alone["beta"])
    w.save(tmp_path / "w")
    back = prs.PrsWeights.load(tmp_path / "w")
    pd.testing.assert_frame_equal(back.table[prs.WEIGHT_COLUMNS].reset_index(drop=True),
                                  w.table[prs.WEIGHT_COLUMNS].reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(back.scores, w.scores, check_dtype=False)
    assert back.info["clumping"] == {"method": "distance", "window_kb": 250.0}
    sf = prs.read_score_file(tmp_path / "w" / "score.txt")
    pd.testing.assert_frame_equal(sf, w.plink2_table(), check_dtype=False)
    assert "--score-col-nums 3-8" in (tmp_path / "w" / "score_command.txt").read_text()
    # flipped effect alleles: one allele per variant, the flipped betas negated
    t = w.table
    shared = t[(t["latent"] == "Z1") & t["id"].isin(t.loc[t["latent"] == "Z0", "id"])
               & (t["effect_allele"] == "G")]
    assert len(shared) > 0
    r = shared.iloc[0]
    row = sf[sf["ID"] == r["id"]].iloc[0]
    assert row["A1"] == "A" and row[r["score"]] == pytest.approx(-r["beta"])
    with pytest.raises(CardiolatentError, match="thresholds must be P values"):
        prs.clump_and_threshold(v, (0.0,))


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------

def test_split_keeps_relatives_together(gwas_cohort, tmp_path):
    fam = pd.read_csv(gwas_cohort.genotypes.with_suffix(".fam"), sep=r"\s+", header=None, dtype=str)
    eids = fam[1].astype(np.int64).to_numpy()
    rng = np.random.default_rng(0)
    # chains and pairs of relatives: families of up to 4 (a -> b -> c -> d)
    pick = rng.choice(eids, 400, replace=False)
    pairs = pd.DataFrame({"ID1": pick[:-1:2], "ID2": pick[1::2], "HetHet": 0.1, "IBS0": 0.0,
                          "Kinship": 0.25})
    chain = pd.DataFrame({"ID1": pick[1:101:2], "ID2": pick[2:102:2], "HetHet": 0.1, "IBS0": 0.0,
                          "Kinship": 0.1})
    distant = pd.DataFrame({"ID1": [pick[0]], "ID2": [pick[-1]], "HetHet": 0.1, "IBS0": 0.0, "Kinship": 0.01})
    king = tmp_path / "rel.dat"
    pd.concat([pairs, chain, distant]).to_csv(king, sep=" ", index=False)
    sp = prs.split_cohort(eids, target_fraction=0.5, seed=4, related=king)
    side = pd.Series(0, index=sp.discovery).combine_first(pd.Series(1, index=sp.target))
    rel = pd.concat([pairs, chain])
    assert (side.loc[rel["ID1"]].to_numpy() == side.loc[rel["ID2"]].to_numpy()).all()
    assert len(np.intersect1d(sp.discovery, sp.target)) == 0
    assert len(sp.discovery) + len(sp.target) == len(eids)
    assert abs(len(sp.target) - 1000) <= 3  # families of at most 4
    assert sp.info["n_related_pairs_used"] == len(rel)  # the distant pair (kinship 0.01) is not a relation
    # deterministic by seed, different across seeds
    assert np.array_equal(prs.split_cohort(eids, seed=4, related=king).target, sp.target)
    assert not np.array_equal(prs.split_cohort(eids, seed=5, related=king).target, sp.target)
    # a plain pairs table (eid1, eid2) works too
    sp2 = prs.split_cohort(eids, seed=1, related=pd.DataFrame({"eid1": pick[:-1:2], "eid2": pick[1::2]}))
    s2 = pd.Series(0, index=sp2.discovery).combine_first(pd.Series(1, index=sp2.target))
    assert (s2.loc[pick[:-1:2]].to_numpy() == s2.loc[pick[1::2]].to_numpy()).all()
    files = sp.write(tmp_path / "split", samples=gwas_cohort.genotypes.with_suffix(".fam"))
    keep = pd.read_csv(files["target_keep"], sep="\t", header=None, dtype=str)
    assert sorted(keep[1].astype(np.int64)) == sorted(sp.target.tolist())
    assert np.loadtxt(files["discovery_eids"], dtype=np.int64).tolist() == sp.discovery.tolist()


# --------------------------------------------------------------------------------------------
# end to end: the true LA volume
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def la_run(gwas_cohort, tmp_path_factory):
    """GWAS of the true LA volume on the discovery half (export --samples discovery.fam, our OLS
    scan, gwas-results), C+T weights, scores of the target half."""
    from cardiolatent.gwas.scan import linear_scan

    work = tmp_path_factory.mktemp("prs_la")
    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    t2 = truth[truth["instance"] == 2]
    lat = work / "latents.tsv"
    pd.DataFrame({"eid": t2["eid"], "instance": 2, "LAV": t2["lav_ml"]}).to_csv(lat, sep="\t", index=False)
    fam = gwas_cohort.genotypes.with_suffix(".fam")
    eids = pd.read_csv(fam, sep=r"\s+", header=None, dtype=str)[1].astype(np.int64)
    split = prs.split_cohort(eids, seed=18)
    files = split.write(work / "split", samples=fam)
    _cli(["export", "--latents", str(lat), "--ukb", str(gwas_cohort.main), "--format", "plink2",
          "--samples", str(files["discovery_fam"]), "--out", str(work / "export"), "--quiet"])
    linear_scan(work / "export", gwas_cohort.genotypes, work / "glm", progress=False)
    _cli(["gwas-results", "--results", str(work / "glm"), "--out", str(work / "gw"), "--quiet"])
    w = prs.prs_weights(work / "gw", thresholds=(5e-8, 1e-4, 1e-2))
    scores = prs.score_bed(gwas_cohort.genotypes, w, keep=split.target)
    return {"work": work, "split": split, "weights": w, "scores": scores, "truth": t2, "files": files}


def test_la_score_predicts_true_la_volume_in_the_target_half(la_run):
    split, w, sc, t2 = la_run["split"], la_run["weights"], la_run["scores"], la_run["truth"]
    keep = pd.read_csv(la_run["work"] / "export" / "keep.txt", sep="\t", header=None, dtype=str)
    assert set(keep[1].astype(np.int64)) <= set(split.discovery.tolist())  # only the discovery half was exported
    assert set(sc["IID"].astype(np.int64)) == set(split.target.tolist())
    # the score at the gwas-results threshold holds exactly its leads, with their betas
    leads = pd.read_csv(la_run["work"] / "gw" / "leads.tsv", sep="\t", dtype={"chrom": str})
    top = w.table[w.table["score"] == "LAV_p5e-08"].set_index("id")
    assert len(leads) >= 1 and sorted(top.index) == sorted(leads["id"])
    np.testing.assert_allclose(top.loc[leads["id"], "beta"], leads["beta"], rtol=1e-9)
    la = t2.set_index("eid").loc[sc["IID"].astype(np.int64), "lav_ml"].to_numpy()
    for name in ("LAV_p5e-08", "LAV_p0.0001"):
        r, p = stats.pearsonr(sc[f"{name}_SUM"], la)
        assert r > 0 and p < 0.05, (name, r, p)


def test_score_table_feeds_cardiolatent_cox(la_run, gwas_cohort):
    work = la_run["work"]
    lat = ev.scores_as_latents(la_run["scores"])
    assert list(lat.columns) == ["eid", "instance", "LAV_p5e-08", "LAV_p0.0001", "LAV_p0.01"]
    lat.to_parquet(work / "scores.parquet", index=False)
    out = work / "cox.tsv"
    _cli(["cox", "--latents", str(work / "scores.parquet"), "--ukb", str(gwas_cohort.main), "--outcomes", "AF",
          "--groups", "LAV_p0.0001", "--out", str(out), "--quiet"])
    tab = pd.read_csv(out, sep="\t")
    assert sorted(tab["latent"]) == sorted(["LAV_p5e-08", "LAV_p0.0001", "LAV_p0.01"])
    assert (tab["outcome"] == "AF").all() and np.isfinite(tab["beta"]).all()
    hr = pd.read_csv(work / "cox.LAV_p0.0001.hazard_ratios.tsv", sep="\t")
    assert len(hr) > 0
    # prevalence by percentile on the same people: counts add up against a direct computation
    from cardiolatent.ukb.read import read_main

    main = read_main(gwas_cohort.main, missing_ok=True)
    st = ev.disease_status(main, lat["eid"], "AF")
    sex = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t").query("instance == 2").set_index("eid")
    s = lat["LAV_p0.0001"].to_numpy()
    prev = ev.prevalence_by_percentile(s, st["case"], sex.loc[lat["eid"], "sex"].to_numpy())
    assert set(prev["by"]) == {"all", "female", "male"} and len(prev) == 21
    top10 = prev[(prev["by"] == "all") & (prev["group"] == "top 10%")].iloc[0]
    sel = s >= np.percentile(s, 90)
    assert top10["n"] == sel.sum() and top10["cases"] == np.nansum(st["case"].to_numpy()[sel])
    assert top10["ci_low"] <= top10["prevalence"] <= top10["ci_high"]


# --------------------------------------------------------------------------------------------
# DeLong
# --------------------------------------------------------------------------------------------

def _delong_direct(y: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) by definition: psi over every case x control pair, O(m n)."""
    aucs, v10, v01 = [], [], []
    for p in P.T:
        x, z = p[y == 1], p[y == 0]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    return np.array(aucs), np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]


def _roc_data(seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p1 = np.round(0.8 * y + rng.normal(size=n), 1)  # rounding makes ties
    p2 = np.round(0.5 * y + 0.5 * p1 + rng.normal(size=n), 1)
    p3 = rng.normal(size=n)
    return y, np.column_stack([p1, p2, p3])


def test_delong_fast_equals_direct():
    y, P = _roc_data()
    a, S = ev.delong_auc(y, P)
    a0, S0 = _delong_direct(y, P)
    np.testing.assert_allclose(a, a0, atol=1e-12)
    np.testing.assert_allclose(S, S0, atol=1e-10, rtol=0)
    r = ev.delong_test(y, P[:, 0], P[:, 1])
    var = S0[0, 0] + S0[1, 1] - 2 * S0[0, 1]
    assert r["z"] == pytest.approx((a0[1] - a0[0]) / np.sqrt(var), abs=1e-10)
    with pytest.raises(CardiolatentError, match="0/1"):
        ev.delong_auc(np.where(y == 1, 2, 0), P)


@pytest.mark.skipif(RSCRIPT is None, reason="Rscript not on PATH")
def test_delong_equals_pROC(tmp_path):
    if subprocess.run([RSCRIPT, "-e", "library(pROC)"], capture_output=True).returncode != 0:
        pytest.skip("R package pROC not installed")
    y, P = _roc_data(seed=2)
    np.savetxt(tmp_path / "d.csv", np.column_stack([y, P[:, :2]]), delimiter=",")
    code = (f'suppressMessages(library(pROC)); d <- read.csv("{tmp_path / "d.csv"}", header=FALSE); '
            'r1 <- roc(d$V1, d$V2, direction="<", quiet=TRUE); r2 <- roc(d$V1, d$V3, direction="<", quiet=TRUE); '
            't <- roc.test(r1, r2, method="delong"); '
            'cat(sprintf("%.17g", c(auc(r1), auc(r2), var(r1), var(r2), cov(r1, r2), t$statistic, t$p.value)))')
    out = subprocess.run([RSCRIPT, "-e", code], capture_output=True, text=True, check=True).stdout
    auc1, auc2, v1, v2, c12, z, p = map(float, out.split())
    r = ev.delong_test(y, P[:, 0], P[:, 1])
    np.testing.assert_allclose([r["auc1"], r["auc2"], r["se1"] ** 2, r["se2"] ** 2, r["cov"]],
                               [auc1, auc2, v1, v2, c12], rtol=1e-9)
    assert r["z"] == pytest.approx(-z, rel=1e-9)  # pROC tests auc1 - auc2
    assert r["p"] == pytest.approx(p, rel=1e-9)


def test_delong_se_against_bootstrap():
    y, P = _roc_data(seed=4, n=600)
    r = ev.delong_test(y, P[:, 0], P[:, 1])
    rng = np.random.default_rng(0)
    cases, ctrls = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    diffs = []
    for _ in range(2000):  # stratified bootstrap, as pROC
        i = np.concatenate([rng.choice(cases, cases.size), rng.choice(ctrls, ctrls.size)])
        a, _ = ev.delong_auc(y[i], P[i, :2])
        diffs.append(a[1] - a[0])
    assert np.std(diffs, ddof=1) == pytest.approx(r["se_diff"], rel=0.1)


def test_multi_score_auc_beats_covariates_when_a_score_carries_signal():
    rng = np.random.default_rng(1)
    n = 800
    S, C = rng.normal(size=(n, 4)), rng.normal(size=(n, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 1.0 * S[:, 0] + 0.5 * C[:, 0])))).astype(int)
    res = ev.multi_score_auc(y, S, C, score_names=["s0", "s1", "s2", "s3"], covariate_names=["age", "sex"],
                             folds=4, inner_folds=3, Cs=6)
    base, full = res.table["auc"]
    assert full > base and res.delong["p"] < 1e-3
    assert res.delong["auc1"] == pytest.approx(base) and res.delong["auc2"] == pytest.approx(full)
    coef = res.coefficients.set_index("term")["coef"]
    assert abs(coef["s0"]) == coef[["s0", "s1", "s2", "s3"]].abs().max()
    # the out-of-fold AUCs are those of the stored predictions
    np.testing.assert_allclose(ev.delong_auc(y, res.predictions)[0], res.table["auc"])


def test_follow_up_starts_at_the_imaging_visit_only_when_everyone_has_one():
    wide = pd.DataFrame({"53-0.0": ["2008-01-01"] * 4, "53-2.0": ["2016-01-01", "2017-05-05", None, "2018-01-01"]},
                        index=pd.Index([1, 2, 3, 4], name="eid"))
    assert follow_from_instance(wide, [1, 2, 4])[0] == 2
    inst, why = follow_from_instance(wide, [1, 2, 3, 4])
    assert inst == 0 and "1 of 4 target participants have no imaging visit" in why
    assert follow_from_instance(wide.drop(columns="53-2.0"), [1, 2])[0] == 0
    assert follow_from_instance(wide, [1, 2], "baseline")[0] == 0 and follow_from_instance(wide, [3], "imaging")[0] == 2
    with pytest.raises(CardiolatentError, match="--follow-from must be one of"):
        follow_from_instance(wide, [1], "later")


def test_target_samples_read_every_kind_of_discovery_list(tmp_path):
    """A .fam, a keep file with a header, a bare eid list and an exported phenotype file (FID IID ...) name the
    same discovery participants; the target left is in .fam order."""
    fam = pd.DataFrame({"fid": ["5", "3", "9", "7"], "iid": ["5", "3", "9", "7"]})
    (tmp_path / "d.fam").write_text("3 3 0 0 1 -9\n7 7 0 0 2 -9\n")
    (tmp_path / "d.keep").write_text("#FID\tIID\n3\t3\n7\t7\n")
    (tmp_path / "d.txt").write_text("7\n3\n")
    (tmp_path / "pheno.txt").write_text("FID IID LAT1 LAT2\n3 3 0.1 0.2\n7 7 -0.3 0.4\n")
    for f in ("d.fam", "d.keep", "d.txt", "pheno.txt"):
        assert read_discovery_ids(tmp_path / f).tolist() == [3, 7], f
        t = target_samples(fam, discovery=tmp_path / f)
        assert t.iids == ["5", "9"] and t.excluded["reason"].tolist() == ["in_discovery_gwas"] * 2
    t = target_samples(fam)
    assert t.keep is None and t.excluded.empty and t.iids == ["5", "3", "9", "7"]
    t = target_samples(fam, keep=["5", "9"], discovery=[9])
    assert t.iids == ["5"] and t.info["n_kept"] == 2
