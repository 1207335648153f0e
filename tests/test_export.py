"""cardiolatent export: sample QC accounting, transforms, covariate coding, file formats, tricky inputs.

The real tools (plink2, PLINK 1.9, BOLT-LMM) reading these files are in test_export_tools.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cardiolatent.errors import CardiolatentError, DuplicateIdError
from cardiolatent.exports import samples as smp
from cardiolatent.exports.phenotypes import FILTERS, SampleQC, prepare_export, residualise, safe_name
from cardiolatent.exports.writers import FORMATS, export_files, format_values

# --------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------


def make_latents(cohort, seed: int = 0) -> pd.DataFrame:
    """Synthetic truth standing in for latents: Z0 ~ LVEDV, Z1 ~ LA volume, Z2 noise, Zc constant."""
    p = pd.read_csv(cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(seed)
    lat = pd.DataFrame({"eid": p["eid"], "instance": p["instance"]})
    lat["Z0"] = p["lvedv_ml"] + rng.normal(0, 5, len(p))
    lat["Z1"] = p["lav_ml"] + rng.normal(0, 5, len(p))
    lat["Z2"] = rng.normal(size=len(p))
    lat["Zc"] = 1.5
    return lat


@pytest.fixture(scope="module")
def latents(gwas_cohort):
    return make_latents(gwas_cohort)


@pytest.fixture(scope="module")
def main(gwas_cohort):
    from cardiolatent.analysis.design import expand_names, fields_needed
    from cardiolatent.ukb.read import read_main

    return read_main(gwas_cohort.main, fields_needed(expand_names("gwas,AF,MI,waist,townsend_index")),
                     missing_ok=True)


def run_cmd(argv: list[str]) -> int:
    from cardiolatent.commands import export as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    return cmd.run(p.parse_args(argv + ["--quiet"]))


def read_strict(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a written file; fails on CR, a missing final LF, ragged rows, empty fields."""
    raw = path.read_bytes()
    assert b"\r" not in raw, f"{path.name}: CR line ending"
    assert raw.endswith(b"\n"), f"{path.name}: no final LF"
    lines = raw.decode().split("\n")[:-1]
    rows = [ln.split("\t") for ln in lines]
    width = len(rows[0])
    for i, r in enumerate(rows):
        assert len(r) == width, f"{path.name} line {i + 1}: {len(r)} fields, header has {width}"
        assert all(t != "" and " " not in t for t in r), f"{path.name} line {i + 1}: empty field or space"
    return rows[0], rows[1:]


def as_frame(path: Path) -> pd.DataFrame:
    header, rows = read_strict(path)
    return pd.DataFrame(rows, columns=header)


def excluded_reasons(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "excluded.tsv", sep="\t", dtype={"eid": np.int64})


# --------------------------------------------------------------------------------------------
# sample QC: every participant written or counted exactly once
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qc_run(gwas_cohort, latents, tmp_path_factory):
    """One export with every QC option on, and the inputs built for it."""
    d = tmp_path_factory.mktemp("qc")
    lat = latents.copy()
    # participants who pass every filter unless we make them fail one
    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    ok = ((truth["genetic_grouping"] == 1) & (truth["sex"] == truth["genetic_sex"])
          & truth[["bsa", "genotyping_batch", "age"]].notna().all(axis=1))
    clean2 = truth.loc[ok & (truth["instance"] == 2), "eid"]
    clean3 = truth.loc[ok & (truth["instance"] == 3), "eid"]
    rng = np.random.default_rng(5)
    pick = rng.choice(clean2.to_numpy(), 60, replace=False)
    nan_eid, withdrawn, qc_eids, notgeno, king_ids = pick[0], pick[1:6], pick[6:10], pick[10:40], pick[40:50]
    lat.loc[(lat["eid"] == nan_eid), ["Z0", "Z1", "Z2", "Zc"]] = np.nan  # all latents missing at both visits
    # one participant known only at visit 3, and one not in the main data at all
    only3 = int(np.setdiff1d(clean3.to_numpy(), pick)[0])
    lat = lat.loc[~((lat["eid"] == only3) & (lat["instance"] == 2))]
    ghost = pd.DataFrame({"eid": [9999999], "instance": [2], "Z0": [1.0], "Z1": [2.0], "Z2": [0.1], "Zc": [1.5]})
    lat = pd.concat([lat, ghost], ignore_index=True)
    lat.to_csv(d / "lat.tsv", sep="\t", index=False)
    # withdrawals: a UK Biobank-style single column, one id also missing from the genotypes
    (d / "w.csv").write_text("\n".join(str(e) for e in withdrawn) + "\n")
    # imaging QC table: 4 failures at visit 2, a duplicate_input row (ignored), a row without eid
    qc = pd.DataFrame({"eid": list(qc_eids) + [pick[55], ""], "instance": [2, 2, 2, 2, 2, ""],
                       "path": "x.zip", "reason": ["wrong_frame_count"] * 4 + ["duplicate_input", "bad_name"],
                       "detail": ""})
    qc.to_csv(d / "lat.qc.tsv", sep="\t", index=False)
    # .fam without 30 participants (and the first withdrawn one), plus one sample not in the latents
    fam = pd.read_csv(gwas_cohort.genotypes.with_suffix(".fam"), sep=r"\s+", header=None)
    drop = set(notgeno) | {withdrawn[0]}
    fam = fam.loc[~fam[1].isin(drop)]
    fam = pd.concat([fam, pd.DataFrame([[8888888, 8888888, 0, 0, 1, -9]])], ignore_index=True)
    fam.to_csv(d / "sub.fam", sep=" ", header=False, index=False)
    # KING: a chain a-b-c (b goes), a pair d-e, a pair below the threshold, a pair with a non-written id
    a, b, c, dd, e, f, g, h = king_ids[:8]
    king = pd.DataFrame({"FID1": [a, b, dd, f, g], "IID1": [a, b, dd, f, g], "FID2": [b, c, e, g, 9999999],
                         "IID2": [b, c, e, g, 9999999], "NSNP": 100, "HETHET": 0.1, "IBS0": 0.0,
                         "KINSHIP": [0.25, 0.25, 0.12, 0.03, 0.3]})
    king.to_csv(d / "rel.kin0", sep="\t", index=False)
    with open(d / "rel.kin0") as fh:
        text = fh.read()
    (d / "rel.kin0").write_text("#" + text)
    (d / "remove.txt").write_text(f"{king_ids[8]} {king_ids[8]}\n")
    out = d / "out"
    rc = run_cmd(["--latents", str(d / "lat.tsv"), "--ukb", str(gwas_cohort.main), "--format", "regenie",
                  "--samples", str(d / "sub.fam"), "--out", str(out), "--withdrawals", str(d / "w.csv"),
                  "--imaging-qc", str(d / "lat.qc.tsv"), "--white-british", "--sex-mismatch",
                  "--king", str(d / "rel.kin0"), "--remove-related", str(d / "remove.txt")])
    assert rc == 0
    return dict(dir=d, out=out, lat=lat, nan_eid=nan_eid, withdrawn=withdrawn, qc_eids=qc_eids,
                notgeno=notgeno, king=(a, b, c, dd, e), remove=king_ids[8], only3=only3, dup_qc=pick[55])


def test_every_participant_written_or_counted_once(qc_run):
    out, lat = qc_run["out"], qc_run["lat"]
    man = json.loads((out / "manifest.json").read_text())
    keep = pd.read_csv(out / "keep.txt", sep="\t", header=None, dtype=str)
    ex = excluded_reasons(out)
    written = keep[1].astype(np.int64).to_numpy()
    everyone = np.sort(lat["eid"].unique())
    assert man["participants"]["in_latents_table"] == len(everyone)
    assert man["participants"]["written"] == len(written)
    assert man["participants"]["adds_up"] is True
    assert len(written) + sum(f["excluded"] for f in man["filters"]) == len(everyone)
    # each eid exactly once across written and excluded
    both = np.concatenate([written, ex["eid"].to_numpy()])
    assert len(both) == len(everyone) and np.array_equal(np.sort(both), everyone)
    # the manifest counts are the excluded table's counts, in the documented order
    assert [f["reason"] for f in man["filters"]] == [r for r, _ in FILTERS]
    per = ex["reason"].value_counts().to_dict()
    for f in man["filters"]:
        assert f["excluded"] == per.get(f["reason"], 0), f["reason"]
    rem = len(everyone)
    for f in man["filters"]:
        rem -= f["excluded"]
        assert f["remaining"] == rem
    assert rem == len(written)
    assert man["latents_rows_not_used"]["repeat_visit_not_used"] > 100


def test_first_failing_filter_wins(qc_run):
    ex = excluded_reasons(qc_run["out"]).set_index("eid")
    assert ex.loc[qc_run["nan_eid"], "reason"] == "latents_missing"
    # withdrawn[0] is also missing from the .fam: counted as withdrawn (earlier filter) only
    for e in qc_run["withdrawn"]:
        assert ex.loc[e, "reason"] == "withdrawn"
    assert ex.loc[9999999, "reason"] == "not_in_main_data"
    for e in qc_run["qc_eids"]:
        assert ex.loc[e, "reason"] in ("imaging_qc",)
    for e in qc_run["notgeno"]:
        assert ex.loc[e, "reason"] in ("not_in_genotypes",)
    # a duplicate_input QC row does not exclude (another input of that visit was used)
    assert qc_run["dup_qc"] not in ex.index or ex.loc[qc_run["dup_qc"], "reason"] != "imaging_qc"
    # the participant with only a visit-3 row is written (from visit 3)
    keep = pd.read_csv(qc_run["out"] / "keep.txt", sep="\t", header=None)
    assert qc_run["only3"] not in ex.index and qc_run["only3"] in set(keep[1])


def test_relatedness_removes_fewest(qc_run):
    out = qc_run["out"]
    ex = excluded_reasons(out).set_index("eid")
    keep = set(pd.read_csv(out / "keep.txt", sep="\t", header=None)[1])
    a, b, c, d, e = qc_run["king"]
    related = set(ex.index[ex["reason"] == "related"])
    assert qc_run["remove"] in related
    # chain a-b-c: only b goes (if all three reached the relatedness step); pair d-e: exactly one goes
    assert b in related and a in keep and c in keep
    assert len({d, e} & related) == 1 and len({d, e} & keep) == 1
    assert len(related) == 3  # b, one of d/e, the listed one: no more than needed
    pairs = smp.read_king(qc_run["dir"] / "rel.kin0")
    close = pairs[pairs["kinship"] > 0.0884]
    assert not any((x in keep and y in keep) for x, y in zip(close["id1"], close["id2"]))


def test_unmatched_genotype_ids_reported(qc_run):
    man = json.loads((qc_run["out"] / "manifest.json").read_text())
    sl = man["sample_list"]
    assert sl["n_list_samples_not_in_latents"] == 1  # 8888888
    assert sl["n_latents_participants_not_in_list"] == len(qc_run["notgeno"]) + 2  # + withdrawn[0] + 9999999
    ex = excluded_reasons(qc_run["out"])
    listed = set(ex.loc[ex["reason"] == "not_in_genotypes", "eid"])
    assert listed == set(qc_run["notgeno"]) - set(ex.loc[ex["reason"] != "not_in_genotypes", "eid"])


# --------------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------------


def test_inverse_normal_matches_blom_reference(latents, main):
    T = prepare_export(latents, main)
    written = latents[latents["instance"] == 2].set_index("eid").loc[T.ids["eid"]]
    for c in ("Z0", "Z1", "Z2"):
        x = written[c].to_numpy()
        ref = stats.norm.ppf((stats.rankdata(x) - 3 / 8) / (len(x) + 1 / 4))
        assert np.max(np.abs(T.pheno[c].to_numpy() - ref)) < 1e-12
    # analyses.md: equivalent to sklearn's QuantileTransformer to a normal distribution
    from sklearn.preprocessing import QuantileTransformer

    q = QuantileTransformer(n_quantiles=len(x), output_distribution="normal").fit_transform(x[:, None])[:, 0]
    z = T.pheno["Z2"].to_numpy()
    assert stats.spearmanr(q, z)[0] > 0.99999  # same order
    mid = np.abs(z) < 2  # same values up to O(1/n) away from the clipped tails
    assert np.max(np.abs(q[mid] - z[mid])) < 0.01
    assert T.info["transform"] == "int"


def test_residualised_matches_statsmodels(latents, main):
    import statsmodels.api as sm

    T = prepare_export(latents, main, transform="resid")
    X = sm.add_constant(T.covar.to_numpy(np.float64))
    written = latents[latents["instance"] == 2].set_index("eid").loc[T.ids["eid"]]
    for c in ("Z0", "Z2"):
        ref = sm.OLS(written[c].to_numpy(), X).fit().resid
        assert np.max(np.abs(T.pheno[c].to_numpy() - ref)) < 1e-8
    T2 = prepare_export(latents, main, transform="resid-int")
    ref = stats.norm.ppf((stats.rankdata(T.pheno["Z0"]) - 3 / 8) / (T.n + 1 / 4))
    assert np.max(np.abs(T2.pheno["Z0"].to_numpy() - ref)) < 1e-12


def test_residualise_with_missing_and_nested_dummies():
    rng = np.random.default_rng(1)
    n = 200
    x = rng.normal(size=(n, 2))
    g = rng.integers(0, 3, n)
    dummies = np.column_stack([(g == 1), (g == 2), (g == 1)]).astype(float)  # a duplicated column
    X = np.column_stack([x, dummies])
    y = rng.normal(size=(n, 2))
    y[:20, 1] = np.nan
    r = residualise(y, X)
    assert np.isnan(r[:20, 1]).all() and not np.isnan(r[:, 0]).any()
    import statsmodels.api as sm

    ref = sm.OLS(y[20:, 1], sm.add_constant(X[20:, :4])).fit().resid
    assert np.max(np.abs(r[20:, 1] - ref)) < 1e-10


# --------------------------------------------------------------------------------------------
# file formats
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_headers_missing_binary_coding(fmt, latents, main, tmp_path):
    lat = latents.copy()
    lat.loc[lat.index[:7], "Z1"] = np.nan  # some missing phenotype values
    T = prepare_export(lat, main, binary_traits="AF", covariates="gwas")
    W = export_files(T, fmt, tmp_path)
    spec = FORMATS[fmt]
    ph, rows = read_strict(tmp_path / "pheno.txt")
    ids = ["#FID", "IID"] if fmt == "plink2" else ["FID", "IID"]
    assert ph[:2] == ids and ph[2:] == ["Z0", "Z1", "Z2"]  # Zc (constant) dropped
    ch, crows = read_strict(tmp_path / "covar.txt")
    assert ch[:2] == ids and len(crows) == len(rows) == T.n
    assert [r[:2] for r in crows] == [r[:2] for r in rows]
    z1 = [r[3] for r in rows]
    miss = "-9" if fmt == "plink1" else "NA"
    n_miss = int(lat.loc[lat.index[:7]].query("instance == 2")["eid"].isin(T.ids["eid"]).sum())
    assert z1.count(miss) == n_miss > 0
    assert all(t == miss or np.isfinite(float(t)) for t in z1)
    # covariates complete, numeric
    assert all(float(t) == float(t) for r in crows for t in r[2:])
    bh, brows = read_strict(tmp_path / "pheno_binary.txt")
    assert bh[2:] == ["AF"]
    vals = {r[2] for r in brows}
    assert vals == {spec.control, spec.case}
    assert sum(r[2] == spec.case for r in brows) == T.info["binary_traits"]["AF"]["cases"]
    # FID = IID = eid with a .fam of FID = IID = eid (here: no sample list)
    assert all(r[0] == r[1] for r in rows)
    keep = (tmp_path / "keep.txt").read_text().splitlines()
    assert keep == ["\t".join(r[:2]) for r in rows]
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["file_format"]["missing"] == miss and man["format"] == fmt
    assert {"numpy", "pandas", "scipy", "cardiolatent", "python"} <= set(man["versions"])
    assert man["transform"]["name"] == "int"
    script = tmp_path / spec.script
    assert script.exists() and script.stat().st_mode & 0o100
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert W.files["pheno"].name == "pheno.txt" and W.files["covar"].name == "covar.txt"


def test_numbers_round_trip_exactly(latents, main, tmp_path):
    lat = latents.copy()
    lat["Z2"] = lat["Z2"] * 1e-7 + 1 / 3  # awkward doubles
    lat.loc[lat.index[0], "Z2"] = 5e-324
    T = prepare_export(lat, main, transform="raw", pcs=5)
    export_files(T, "regenie", tmp_path)
    back = as_frame(tmp_path / "pheno.txt")
    for c in T.pheno.columns:
        got = np.array([float(v) for v in back[c]])
        assert np.array_equal(got, T.pheno[c].to_numpy()), c
    written = lat[lat["instance"] == 2].set_index("eid").loc[T.ids["eid"]]
    assert np.array_equal(T.pheno["Z2"].to_numpy(), written["Z2"].to_numpy())
    cov = as_frame(tmp_path / "covar.txt")
    for c in T.covar.columns:
        assert np.array_equal(np.array([float(v) for v in cov[c]]), T.covar[c].to_numpy()), c
    assert {"pc1", "pc5"} <= set(cov.columns) and "pc6" not in cov.columns
    # integers are written as integers
    assert set(cov["genetic_sex"]) == {"0", "1"}


def test_format_values():
    out = format_values(np.array([0.1, np.nan, 3.0, -0.0, 1e16]), "NA")
    assert list(out) == ["0.1", "NA", "3.0", "-0.0", "1e+16"]
    assert list(format_values(np.array([1.0, np.nan, -9.0]), "-9")) == ["1", "-9", "-9"]
    assert list(format_values(np.array(["a", None], dtype=object), "NA")) == ["a", "NA"]
    with pytest.raises(CardiolatentError):
        format_values(np.array([np.inf]), "NA")


def test_minus9_values(latents, main, tmp_path):
    lat = latents.copy()
    first = lat.index[lat["instance"] == 2][0]
    lat.loc[first, "Z2"] = -9.0
    T = prepare_export(lat, main, transform="raw")
    W1 = export_files(T, "plink1", tmp_path / "p1")
    assert W1.missing != "-9" and W1.extra_flags == ["--missing-phenotype", W1.missing]
    assert f"--missing-phenotype {W1.missing}" in (tmp_path / "p1" / "run_plink1.sh").read_text()
    col = [r[4] for r in read_strict(tmp_path / "p1" / "pheno.txt")[1]]
    assert -9.0 in [float(v) for v in col]  # the real value, no longer the missing code
    W2 = export_files(T, "plink2", tmp_path / "p2")
    assert "--no-input-missing-phenotype" in W2.extra_flags
    assert "--no-input-missing-phenotype" in (tmp_path / "p2" / "run_plink2.sh").read_text()
    assert "--no-psam-pheno" in W2.extra_flags      # else plink2 reads the .fam's -9 column as a phenotype
    with pytest.raises(CardiolatentError, match=r"Z2 is -9 for eid \d+"):
        export_files(T, "bolt", tmp_path / "b")
    W3 = export_files(T, "regenie", tmp_path / "r")
    assert W3.extra_flags == []


def test_raw_categorical_for_regenie_and_bolt(latents, main, tmp_path):
    T = prepare_export(latents, main, categorical="raw")
    assert set(T.categorical) == {"genotyping_batch", "imaging_year", "centre"}  # visit: one level, dropped
    assert any("visit" in n and "single level" in n for n in T.notes)
    export_files(T, "regenie", tmp_path / "r")
    s = (tmp_path / "r" / "run_regenie.sh").read_text()
    assert "--catCovarList genotyping_batch,imaging_year,centre" in s
    n_batch = T.covar["genotyping_batch"].nunique()
    assert n_batch > 10 and f"--maxCatLevels {n_batch}" in s
    cov = as_frame(tmp_path / "r" / "covar.txt")
    assert "-9" in set(cov["genotyping_batch"])  # UK BiLEVE batch kept as its code
    export_files(T, "bolt", tmp_path / "b")
    s = (tmp_path / "b" / "run_bolt.sh").read_text()
    assert "--covarCol=centre" in s and "--qCovarCol=age" in s and f"--covarMaxLevels={n_batch + 1}" in s
    cov = as_frame(tmp_path / "b" / "covar.txt")
    assert "-9" not in set(cov["genotyping_batch"]) and "m9" in set(cov["genotyping_batch"])
    for fmt in ("plink2", "plink1"):
        with pytest.raises(CardiolatentError, match="dummy"):
            export_files(T, fmt, tmp_path / fmt)


def test_dummies_reference_and_bileve_batches(latents, main):
    T = prepare_export(latents, main)
    cols = list(T.covar.columns)
    assert "genotyping_batch_m9" in cols  # negative batch codes are real levels
    assert not any(c.startswith("visit") for c in cols)
    cen = [c for c in cols if c.startswith("centre_")]
    assert len(cen) == 3  # 4 centres, most frequent one is the reference
    ref_rows = T.covar[cen].sum(axis=1) == 0
    assert ref_rows.sum() == max(ref_rows.sum(), *(T.covar[c].sum() for c in cen))
    assert all(T.covar[c].isin([0, 1]).all() for c in cen)


def test_binary_and_t2e(latents, main, tmp_path):
    from cardiolatent.ukb.outcomes import outcome_table

    T = prepare_export(latents, main, binary_traits="af,MI", t2e="AF", t2e_max_years=10)
    export_files(T, "regenie", tmp_path)
    h, rows = read_strict(tmp_path / "pheno_t2e.txt")
    assert h[2:] == ["AF_time", "AF_event"]
    t2e = as_frame(tmp_path / "pheno_t2e.txt")
    ev = t2e["AF_event"]
    assert set(ev) <= {"0", "1", "NA"} and ((ev == "NA") == (t2e["AF_time"] == "NA")).all()
    times = np.array([float(v) for v in t2e["AF_time"] if v != "NA"])
    assert (times > 0).all() and times.max() <= 10.0 + 1e-9
    # independent reference: the outcome table at visit 2
    ref = outcome_table(main, ["AF"], instance=2, max_followup_years=10, allow_missing_death=True).table
    ref = ref.set_index("eid").loc[T.ids["eid"]]
    usable = (~ref["prevalent"].astype(bool)).to_numpy()
    got = t2e["AF_time"].to_numpy()
    assert np.allclose([float(v) for v in got[usable]], ref["time_years"].to_numpy()[usable], rtol=0, atol=1e-12)
    assert (got[~usable] == "NA").all()
    assert int((ev == "1").sum()) == int(ref["event"][usable].sum())
    s = (tmp_path / "run_regenie.sh").read_text()
    assert "--t2e --phenoColList AF_time --eventColList AF_event" in s
    assert '--phenoFile "$HERE/pheno_binary.txt"' in s and "--bt" in s
    b = as_frame(tmp_path / "pheno_binary.txt")
    assert list(b.columns[2:]) == ["AF", "MI"] and set(b["MI"]) <= {"0", "1"}
    with pytest.raises(CardiolatentError, match="REGENIE"):
        export_files(T, "plink2", tmp_path / "p2")


# --------------------------------------------------------------------------------------------
# tricky inputs
# --------------------------------------------------------------------------------------------


def test_level_of_three_people_is_merged(latents, main, tmp_path):
    wide = main.wide.copy()
    rng = np.random.default_rng(3)
    three = rng.choice(latents.loc[latents["instance"] == 2, "eid"].to_numpy(), 3, replace=False)
    wide.loc[three, "54-2.0"] = 11099
    T = prepare_export(latents, wide)
    assert "centre_11099" not in T.covar.columns
    assert any("centre" in n and "11099" in n for n in T.notes)
    written3 = T.ids["eid"].isin(three).to_numpy()
    assert written3.sum() == 3  # nobody excluded for it
    cen = [c for c in T.covar.columns if c.startswith("centre_")]
    assert (T.covar.loc[written3, cen].sum(axis=1) == 0).all()  # counted with the reference level
    Tr = prepare_export(latents, wide, categorical="raw")
    assert set(Tr.covar.loc[written3, "centre"]) == {"11025"}  # the most frequent centre
    export_files(Tr, "regenie", tmp_path)
    assert "11099" not in set(as_frame(tmp_path / "covar.txt")["centre"])


def test_all_missing_covariate_dropped_with_note(latents, main, tmp_path):
    wide = main.wide.copy()
    wide["48-2.0"] = np.nan
    T0 = prepare_export(latents, wide)
    T = prepare_export(latents, wide, covariates="gwas,waist")
    assert "waist" not in T.covar.columns
    from cardiolatent.exports.writers import manifest, write_export

    man = manifest(T, write_export(T, "plink2", tmp_path), {})
    assert man["covariates"]["dropped"] == ["visit", "waist"]
    assert any(n.startswith("covariate waist: missing for all") for n in T.notes)
    assert T.n == T0.n  # nobody excluded because of it


def test_constant_latent(latents, main):
    T = prepare_export(latents, main)
    assert "Zc" not in T.pheno.columns
    assert any(n.startswith("latent Zc: constant") for n in T.notes)
    assert T.info["phenotypes_dropped"][0]["latent"] == "Zc"
    with pytest.raises(CardiolatentError, match="no latent to write.*Zc"):
        prepare_export(latents, main, latent_columns="Zc")


def test_duplicated_eids(latents, main, tmp_path):
    dup = pd.concat([latents, latents.iloc[[0]]], ignore_index=True)
    eid = int(latents["eid"].iloc[0])
    with pytest.raises(CardiolatentError, match=str(eid)):
        prepare_export(dup, main)
    # a wide table without an instance column: the same eid twice
    noinst = latents[latents["instance"] == 2].drop(columns="instance")
    noinst = pd.concat([noinst, noinst.iloc[[3]]], ignore_index=True)
    with pytest.raises(CardiolatentError, match=str(int(noinst["eid"].iloc[3]))):
        prepare_export(noinst, main)
    bim = tmp_path / "wrong.fam"  # e.g. a .bim passed by mistake: nobody matches
    bim.write_text("20\trs1\t0\t100\tA\tG\n20\trs2\t0\t200\tC\tT\n")
    with pytest.raises(CardiolatentError, match="none of the .* participants .* rs1"):
        prepare_export(latents, main, qc=SampleQC(samples=bim))
    fam = tmp_path / "dup.fam"
    fam.write_text("1 1 0 0 1 -9\n2 2 0 0 1 -9\n1 1 0 0 2 -9\n")
    with pytest.raises(DuplicateIdError, match="1"):
        smp.read_sample_list(fam)


def test_missing_from_sample_list_counted(latents, main, gwas_cohort, tmp_path):
    fam = pd.read_csv(gwas_cohort.genotypes.with_suffix(".fam"), sep=r"\s+", header=None)
    fam.iloc[100:].to_csv(tmp_path / "part.fam", sep="\t", header=False, index=False)
    T = prepare_export(latents, main, qc=SampleQC(samples=tmp_path / "part.fam"))
    gone = set(fam.iloc[:100, 1])
    assert not (set(T.ids["eid"]) & gone)
    ex = T.excluded.set_index("eid")
    assert (ex.loc[sorted(gone & set(latents["eid"])), "reason"] == "not_in_genotypes").all()
    assert T.info["sample_list"]["n_latents_participants_not_in_list"] == len(gone & set(latents["eid"]))


def test_long_encoder_table_missing_seed(latents, main):
    wide = latents[latents["instance"] == 2].head(300)
    parts = []
    for seed in (1701, 42):
        part = wide[["eid", "instance"]].copy()
        part.insert(2, "seed", seed)
        part["Z0"], part["Z1"] = wide["Z0"].to_numpy() + seed, wide["Z2"].to_numpy()
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    lacking = int(wide["eid"].iloc[5])
    long = long[~((long["eid"] == lacking) & (long["seed"] == 42))]
    T = prepare_export(long, main)
    assert list(T.pheno.columns) == ["S1701_Z0", "S1701_Z1", "S42_Z0", "S42_Z1"]
    ex = T.excluded.set_index("eid")
    assert ex.loc[lacking, "reason"] == "latents_missing" and "missing_seeds" in ex.loc[lacking, "detail"]
    assert T.n + len(T.excluded) == T.n_input == 300


def test_no_covariates(latents, main, tmp_path):
    T = prepare_export(latents, main, covariates="none")
    assert T.covar.shape[1] == 0 and T.n == len(latents[latents["instance"] == 2])
    for fmt in FORMATS:
        W = export_files(T, fmt, tmp_path / fmt)
        assert "covar" not in W.files and not (tmp_path / fmt / "covar.txt").exists()
        text = (tmp_path / fmt / FORMATS[fmt].script).read_text()
        assert "covar.txt" not in text
        assert subprocess.run(["bash", "-n", str(tmp_path / fmt / FORMATS[fmt].script)]).returncode == 0
    assert "allow-no-covars" in (tmp_path / "plink2" / "run_plink2.sh").read_text()


def test_other_errors(latents, main, tmp_path):
    with pytest.raises(CardiolatentError, match="22009"):
        prepare_export(latents, main, pcs=30)
    with pytest.raises(CardiolatentError, match="0/1"):
        prepare_export(latents, main, binary_traits="bsa")
    with pytest.raises(CardiolatentError, match="unknown"):
        prepare_export(latents, main, covariates="gwas,not_a_covariate")
    bad = latents.copy()
    bad.loc[bad.index[2], "Z0"] = np.inf
    with pytest.raises(CardiolatentError, match="Z0 is infinite"):
        prepare_export(bad, main)
    with pytest.raises(CardiolatentError, match="--format regenie"):
        run_cmd(["--latents", "x.tsv", "--format", "plink2", "--t2e", "AF", "--out", str(tmp_path)])


# --------------------------------------------------------------------------------------------
# sample-list readers
# --------------------------------------------------------------------------------------------


def test_sample_list_formats(tmp_path):
    (tmp_path / "a.psam").write_text("#FID\tIID\tSEX\n10\t1001\t1\n20\t1002\t2\n0\tABC\t1\n")
    s = smp.read_sample_list(tmp_path / "a.psam")
    assert s.kind == "psam" and s.has_fid and list(s.eid[:2]) == [1001, 1002] and s.n_non_integer == 1
    assert s.fid_of()[1002] == "20"
    (tmp_path / "b.psam").write_text("#IID\tSEX\n1001\t1\n1002\t2\n")
    s = smp.read_sample_list(tmp_path / "b.psam")
    assert not s.has_fid and s.fid_of() == {1001: "1001", 1002: "1002"}
    (tmp_path / "c.sample").write_text("ID_1 ID_2 missing sex\n0 0 0 D\n1001 1001 0 1\n-3 -3 0 2\n")
    s = smp.read_sample_list(tmp_path / "c.sample")
    assert s.kind == "sample" and list(s.eid) == [1001, -3]
    (tmp_path / "d.sample").write_text("ID_1 ID_2 missing sex\n1001 1001 0 1\n")
    with pytest.raises(CardiolatentError, match="column types"):
        smp.read_sample_list(tmp_path / "d.sample")
    (tmp_path / "e.fam").write_text("1001\n")
    with pytest.raises(CardiolatentError, match="line 1"):
        smp.read_sample_list(tmp_path / "e.fam")
    (tmp_path / "f.bed").write_bytes(b"\x6c\x1b\x01\x00\x00")
    with pytest.raises(CardiolatentError, match="binary"):
        smp.read_sample_list(tmp_path / "f.bed")


def test_iid_only_psam_gives_iid_header_for_plink2(latents, main, gwas_cohort, tmp_path):
    fam = pd.read_csv(gwas_cohort.genotypes.with_suffix(".fam"), sep=r"\s+", header=None)
    psam = tmp_path / "g.psam"
    psam.write_text("#IID\tSEX\n" + "\n".join(f"{i}\t{s}" for i, s in zip(fam[1], fam[4])) + "\n")
    T = prepare_export(latents, main, qc=SampleQC(samples=psam))
    export_files(T, "plink2", tmp_path / "o")
    h, rows = read_strict(tmp_path / "o" / "pheno.txt")
    assert h[:2] == ["#IID", "Z0"]
    assert (tmp_path / "o" / "keep.txt").read_text().splitlines()[0] == rows[0][0]
    assert "--pfile" in (tmp_path / "o" / "run_plink2.sh").read_text()
    export_files(T, "regenie", tmp_path / "r")  # REGENIE: FID = IID
    h, rows = read_strict(tmp_path / "r" / "pheno.txt")
    assert h[:2] == ["FID", "IID"] and all(r[0] == r[1] for r in rows)


def test_id_lists_and_king(tmp_path):
    (tmp_path / "w.csv").write_text("eid\n1003\n1001\n\n1003\n")
    assert list(smp.read_id_list(tmp_path / "w.csv")) == [1001, 1003]
    (tmp_path / "r.txt").write_text("0 1005\n0 1006 extra\n")
    assert list(smp.read_id_list(tmp_path / "r.txt")) == [1005, 1006]
    (tmp_path / "bad.txt").write_text("1001\nabc\n")
    with pytest.raises(CardiolatentError, match="line 2"):
        smp.read_id_list(tmp_path / "bad.txt")
    (tmp_path / "ukb.dat").write_text("ID1 ID2 HetHet IBS0 Kinship\n1 2 0.1 0.01 0.26\n2 3 0.1 0.0 0.1\n")
    k = smp.read_king(tmp_path / "ukb.dat")
    assert list(k["id1"]) == [1, 2] and list(k["kinship"]) == [0.26, 0.1]
    (tmp_path / "p.kin0").write_text("#IID1\tIID2\tNSNP\tHETHET\tIBS0\tKINSHIP\n1\t2\t9\t0.1\t0\t0.3\n")
    assert list(smp.read_king(tmp_path / "p.kin0")["id2"]) == [2]
    (tmp_path / "x.kin0").write_text("A B C\n1 2 3\n")
    with pytest.raises(CardiolatentError, match="KINSHIP"):
        smp.read_king(tmp_path / "x.kin0")
    # star: the centre goes; isolated pairs: the larger eid goes; pairs outside the candidates ignored
    pairs = pd.DataFrame({"id1": [10, 10, 10, 20, 30], "id2": [11, 12, 13, 21, 99], "kinship": 0.25})
    assert list(smp.related_to_remove(pairs, [10, 11, 12, 13, 20, 21, 30], 0.0884)) == [10, 21]
    assert list(smp.related_to_remove(pairs, [10, 11], 0.3)) == []


def test_imaging_qc_reader(tmp_path):
    (tmp_path / "q.tsv").write_text("eid\tinstance\tpath\treason\tdetail\n"
                                    "1\t2\ta.zip\twrong_frame_count\t49\n"
                                    "2\t2\tb.zip\tduplicate_input\tx\n"
                                    "\t\tc.zip\tbad_name\t\n"
                                    "3\t\td.zip\tunreadable_file\t\n")
    q = smp.read_imaging_qc(tmp_path / "q.tsv")
    assert list(q["eid"]) == [1, 3] and q["instance"].isna().tolist() == [False, True]


def test_safe_names():
    assert safe_name("centre=11025") == "centre_11025"
    assert safe_name("genotyping_batch=-9") == "genotyping_batch_m9"
    assert safe_name("my latent #1") == "my_latent__1"
    assert safe_name("IID") == "IID_"
