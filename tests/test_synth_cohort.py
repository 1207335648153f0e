"""Tests of the tabular synthetic cohort (cardiolatent.synth.cohort) and its planted truth."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from _synth_helpers import planted_cox_fit
from cardiolatent.synth.cohort import (
    FIELD_KIND,
    HAZARD_TERMS,
    NA_CODES,
    OUTCOME_SOURCES,
    PLACEHOLDER_DATES,
    TRAIT_MODELS,
    clean_main,
    simulate_cohort,
)

ADMIN = pd.Timestamp("2023-10-31")
PH = pd.to_datetime(list(PLACEHOLDER_DATES))
N_BIG = 20_000


class FakeGenotypes:
    """Minimal Genotypes-like object: eids, causal table, dosage(variant ids) -> (n, k)."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.eids = rng.choice(np.arange(1_000_000, 6_026_000, dtype=np.int64), size=n, replace=False)
        eaf = np.array([0.3, 0.45, 0.2, 0.35])
        self.causal = pd.DataFrame({
            "id": ["rs1", "rs2", "rs3", "rs4"], "chrom": [1, 2, 3, 4], "pos": [100, 200, 300, 400],
            "effect_allele": list("AAAC"), "other_allele": list("GGGT"), "eaf": eaf,
            "trait": ["lvedv", "lvedv", "lav", "lvwt"], "beta_sd": [0.3, -0.25, 0.3, 0.35],
            "r2": [0.04, 0.03, 0.03, 0.05],
        })
        self._dos = rng.binomial(2, eaf, size=(n, 4)).astype(float)

    def dosage(self, ids):
        idx = [list(self.causal["id"]).index(i) for i in ids]
        return self._dos[:, idx]


@pytest.fixture(scope="module")
def geno() -> FakeGenotypes:
    return FakeGenotypes(N_BIG, np.random.default_rng(11))


@pytest.fixture(scope="module")
def big(geno):
    return simulate_cohort(N_BIG, np.random.default_rng(2024), genotypes=geno)


@pytest.fixture(scope="module")
def small():
    return simulate_cohort(1500, np.random.default_rng(7))


def _p2(c) -> pd.DataFrame:
    return c.participants[c.participants["instance"] == 2].set_index("eid")


# ----------------------------------------------------------------------------- structure


def test_deterministic(small):
    again = simulate_cohort(1500, np.random.default_rng(7))
    for name in ("main", "main_raw", "participants", "outcomes", "hazards", "variants", "trait_effects"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    other = simulate_cohort(1500, np.random.default_rng(8))
    assert not other.main_raw.index.equals(small.main_raw.index)


def test_main_structure(big, geno):
    m = big.main
    assert m.index.name == "eid" and m.index.dtype == np.int64 and m.index.is_unique
    assert np.array_equal(m.index.to_numpy(), geno.eids)  # genotype order kept
    assert not m.index.is_monotonic_increasing
    keys = [tuple(int(x) for x in c.replace("-", ".").split(".")) for c in m.columns]
    assert keys == sorted(keys)
    fields = {k[0] for k in keys}
    needed = {31, 22001, 34, 52, 21003, 53, 54, 50, 21002, 21001, 48, 4080, 4079, 93, 94, 22000, 22006,
              21000, 22009, 20116, 1747, 2040, 40000, 42000, 42001, 131350, 131298, 131354, 131286,
              130708, 41270, 41280, 41271, 41281}
    assert needed <= fields
    for inst in (0, 2, 3):
        for f in (21003, 53, 54, 50, 21002, 21001, 48):
            assert f"{f}-{inst}.0" in m.columns
        for f in (4080, 4079, 93, 94):
            assert {f"{f}-{inst}.0", f"{f}-{inst}.1"} <= set(m.columns)
    assert "22009-0.0" not in m.columns
    assert [c for c in m.columns if c.startswith("22009-")] == [f"22009-0.{k}" for k in range(1, 21)]
    expected = {"categorical": "Int64", "integer": "Int64", "continuous": "float64",
                "date": "datetime64[ns]", "icd": "string"}
    for col in m.columns:
        assert str(m[col].dtype) == expected[FIELD_KIND[int(col.split("-")[0])]], col
        assert str(big.main_raw[col].dtype) == str(m[col].dtype)
    width = sum(c.startswith("41270-") for c in m.columns)
    assert 5 <= width <= 20
    # non-repeaters have no instance-3 cells
    rep = m["53-3.0"].notna()
    inst3 = m[[c for c in m.columns if "-3." in c]]
    assert inst3[~rep].isna().all().all()


def test_ranges(big):
    m = big.main
    age2 = m["21003-2.0"]
    assert age2.min() >= 45 and age2.max() <= 82
    assert 0.08 < m["53-3.0"].notna().mean() < 0.12
    gap = (m["53-3.0"] - m["53-2.0"]).dt.days.dropna()
    assert gap.min() >= 730
    assert m["53-3.0"].max() <= ADMIN and m["53-2.0"].min() >= pd.Timestamp("2014-01-01")
    assert (m["53-0.0"] < m["53-2.0"]).all()
    assert m.loc[m["54-2.0"] == 11028, "53-2.0"].min() >= pd.Timestamp("2020-01-01")
    assert set(m["54-2.0"].dropna().unique()) <= {11025, 11026, 11027, 11028}
    mismatch = (m["22001-0.0"] != m["31-0.0"]).fillna(False).mean()
    assert 0 < mismatch < 0.01
    assert 0.80 < (m["22006-0.0"] == 1).fillna(False).mean() < 0.90
    assert 0.07 < (m["22000-0.0"] < 0).fillna(False).mean() < 0.13
    assert 0.004 < m["50-2.0"].isna().mean() < 0.03
    manual = m["4080-2.0"].isna() & m["93-2.0"].notna()
    assert 0.015 < manual.mean() < 0.045
    assert (m["4080-2.0"].dropna() == m["4080-2.0"].dropna().round()).all()
    sex = m["31-0.0"]
    assert abs(m.loc[sex == 1, "50-2.0"].mean() - 175.5) < 1.5
    assert abs(m.loc[sex == 0, "50-2.0"].mean() - 162.5) < 1.5


def test_main_is_clean_raw(big):
    raw, m = big.main_raw, big.main
    pd.testing.assert_frame_equal(clean_main(raw), m)
    for field, codes in NA_CODES.items():
        cols = [c for c in raw.columns if c.startswith(f"{field}-")]
        assert cols
        assert raw[cols].isin(codes).any().any(), field
        assert not m[cols].isin(codes).any().any()
    date_cols = [c for c in raw.columns if str(raw[c].dtype).startswith("datetime")]
    assert raw[date_cols].isin(PH).any().any()
    assert not m[date_cols].isin(PH).any().any()
    fo = [f"{OUTCOME_SOURCES[o]['first_occurrence']}-0.0" for o in OUTCOME_SOURCES]
    assert raw[fo].isin(PH).sum().sum() > 50
    hosp = [c for c in raw.columns if c.startswith("41280-")]
    assert raw[hosp].isin(PH).sum().sum() > 50
    # negative genotyping batches are real values, kept
    assert (m["22000-0.0"] < 0).sum() > 0
    # cells changed only where a code / placeholder was
    changed = (raw.notna() & m.isna()).sum().sum()
    flagged = sum(raw[[c for c in raw.columns if c.startswith(f"{f}-")]].isin(c).sum().sum()
                  for f, c in NA_CODES.items()) + raw[date_cols].isin(PH).sum().sum()
    assert changed == flagged


def test_hospital_arrays(big):
    raw = big.main_raw
    for code_f, date_f in ((41270, 41280), (41271, 41281)):
        codes = raw[[c for c in raw.columns if c.startswith(f"{code_f}-")]]
        dates = raw[[c for c in raw.columns if c.startswith(f"{date_f}-")]]
        assert codes.shape == dates.shape
        assert np.array_equal(codes.notna().to_numpy(), dates.notna().to_numpy())
        vals = pd.Series(codes.to_numpy().ravel()).dropna().astype(str)
        assert not vals.str.contains(r"\.").any()
        # arrays filled from index 0 without gaps
        filled = codes.notna().to_numpy()
        assert (filled[:, 1:] <= filled[:, :-1]).all()


# ----------------------------------------------------------------------------- participants


def test_participants_match_main(big):
    m, p = big.main, big.participants
    assert len(p) == m["53-2.0"].notna().sum() + m["53-3.0"].notna().sum()
    assert set(p["instance"]) == {2, 3}
    birth = pd.to_datetime(pd.DataFrame({"year": m["34-0.0"].astype(int), "month": m["52-0.0"].astype(int),
                                         "day": 15}))
    for inst in (2, 3):
        q = p[p["instance"] == inst].set_index("eid")
        mm = m.loc[q.index]
        assert (q["visit_date"] == mm[f"53-{inst}.0"]).all()
        assert (q["age"] == mm[f"21003-{inst}.0"].astype(int)).all()
        exact = (mm[f"53-{inst}.0"] - birth.loc[q.index].to_numpy()).dt.days / 365.25
        np.testing.assert_allclose(q["age_exact"], exact)
        assert (q["age"] == np.floor(q["age_exact"])).all()
        assert (q["imaging_year"] == mm[f"53-{inst}.0"].dt.year).all()
        assert (q["centre"] == mm[f"54-{inst}.0"]).all()
        assert (q["sex"] == mm["31-0.0"]).all()
        pd.testing.assert_series_equal(q["height"], mm[f"50-{inst}.0"], check_names=False)
        pd.testing.assert_series_equal(q["weight"], mm[f"21002-{inst}.0"], check_names=False)
        pd.testing.assert_series_equal(q["waist"], mm[f"48-{inst}.0"], check_names=False)
        pd.testing.assert_series_equal(q["bmi"], mm[f"21001-{inst}.0"], check_names=False)
        bmi = (mm[f"21002-{inst}.0"] / (mm[f"50-{inst}.0"] / 100) ** 2).round(4)
        np.testing.assert_allclose(q["bmi"], bmi)
        bsa = 0.20247 * mm[f"21002-{inst}.0"] ** 0.425 * (mm[f"50-{inst}.0"] / 100) ** 0.725
        np.testing.assert_allclose(q["bsa"], bsa)
        auto = mm[[f"4080-{inst}.0", f"4080-{inst}.1"]].astype(float)
        man = mm[[f"93-{inst}.0", f"93-{inst}.1"]].astype(float)
        has_auto = auto.notna().any(axis=1) | mm[[f"4079-{inst}.0", f"4079-{inst}.1"]].notna().any(axis=1)
        sbp = auto.mean(axis=1).where(has_auto, man.mean(axis=1))
        np.testing.assert_allclose(q["sbp"], sbp)
        assert (q["bp_source"] == np.where(has_auto, "automated", np.where(man.notna().any(axis=1), "manual",
                                                                            "none"))).all()
        pd.testing.assert_series_equal(q["pc1"], mm["22009-0.1"], check_names=False)
        assert (q["genotyping_batch"].fillna(-999) == mm["22000-0.0"].fillna(-999)).all()
    for col in ("lvedv_ml", "lvesv_ml", "lvef_pct", "lvwt_mm", "lav_ml", "rvedv_ml", "heart_rate_bpm"):
        assert p[col].notna().all()
    np.testing.assert_allclose(p["lvesv_ml"], p["lvedv_ml"] * (1 - p["lvef_pct"] / 100))


def test_cardiac_ranges(big):
    p = _p2(big)
    men, women = p[p["sex"] == 1], p[p["sex"] == 0]
    assert 150 < men["lvedv_ml"].mean() < 175 and 115 < women["lvedv_ml"].mean() < 135
    assert 55 < p["lvef_pct"].mean() < 65 and 4.5 < p["lvef_pct"].std() < 7.5
    assert 8.5 < men["lvwt_mm"].mean() < 10 and 6.8 < women["lvwt_mm"].mean() < 8.2
    assert 60 < p["lav_ml"].mean() < 80
    assert 160 < men["rvedv_ml"].mean() < 185 and 115 < women["rvedv_ml"].mean() < 140


@pytest.mark.parametrize("trait", ["lvedv_ml", "lvwt_mm", "lav_ml", "rvedv_ml"])
def test_planted_trait_model_recovered(big, trait):
    """OLS of the true trait on the true covariates recovers the planted coefficients (4 SE)."""
    import statsmodels.api as sm

    p = _p2(big)
    X = pd.DataFrame({"sex": p["sex"], "bsa": p["true_bsa"] - 1.9, "age10": (p["age_exact"] - 65) / 10,
                      "sbp10": (p["true_sbp"] - 135) / 10})
    fit = sm.OLS(p[trait], sm.add_constant(X)).fit()
    m = TRAIT_MODELS[trait]
    for term, name in (("const", "intercept"), ("sex", "sex"), ("bsa", "bsa"), ("age10", "age10"),
                       ("sbp10", "sbp10")):
        assert abs(fit.params[term] - m[name]) < 4 * fit.bse[term] + 1e-9, (term, fit.params[term], m[name])
    assert abs(np.sqrt(fit.scale) / m["sigma"] - 1) < 0.05
    # with the written (rounded, partly missing) BSA the effect is still close
    ok = p["bsa"].notna()
    fit2 = sm.OLS(p.loc[ok, trait], sm.add_constant(X.loc[ok].assign(bsa=p.loc[ok, "bsa"] - 1.9))).fit()
    assert abs(fit2.params["bsa"] - m["bsa"]) < 5 * fit2.bse["bsa"]


def test_planted_variants(big, geno):
    v = big.variants
    assert list(v["id"]) == list(geno.causal["id"])
    np.testing.assert_allclose(v["beta"], v["beta_sd"] * v["sigma"])
    p = _p2(big).loc[geno.eids]
    for i, row in v.iterrows():
        m = TRAIT_MODELS[row["trait_column"]]
        pred = (m["intercept"] + m["sex"] * p["sex"] + m["bsa"] * (p["true_bsa"] - 1.9)
                + m["age10"] * (p["age_exact"] - 65) / 10 + m["sbp10"] * (p["true_sbp"] - 135) / 10)
        resid = (p[row["trait_column"]] - pred).to_numpy()
        d = geno.dosage([row["id"]])[:, 0]
        slope = np.polyfit(d, resid, 1)[0]
        se = resid.std() / (d.std() * np.sqrt(len(d)))
        assert abs(slope - row["beta"]) < 4 * se, (row["id"], slope, row["beta"])


def test_test_retest(big):
    p = big.participants
    wide = p.pivot(index="eid", columns="instance", values="lvedv_ml").dropna()
    assert len(wide) > 0.08 * N_BIG
    assert np.corrcoef(wide[2], wide[3])[0, 1] > 0.9


# ----------------------------------------------------------------------------- outcomes


def _written_event_dates(m: pd.DataFrame, outcome: str) -> pd.Series:
    """Earliest date over the written sources, re-derived from the cleaned main data."""
    spec = OUTCOME_SOURCES[outcome]
    cands = [m[f"{spec['first_occurrence']}-0.0"]]
    if spec["algorithmic"] is not None:
        cands.append(m[f"{spec['algorithmic']}-0.0"])
    for code_f, date_f, prefixes in ((41270, 41280, spec["icd10"]), (41271, 41281, spec["icd9"])):
        codes = m[[c for c in m.columns if c.startswith(f"{code_f}-")]]
        dates = m[[c for c in m.columns if c.startswith(f"{date_f}-")]]
        hit = codes.apply(lambda s: s.str.startswith(tuple(prefixes)).fillna(False).astype(bool))
        cands.append(dates.where(hit.to_numpy()).min(axis=1))
    return pd.concat(cands, axis=1).min(axis=1)


def test_event_date_is_min_of_written_sources(big):
    o = big.outcomes
    assert len(o) == N_BIG * len(OUTCOME_SOURCES)
    for outcome in OUTCOME_SOURCES:
        t = o[o["outcome"] == outcome].set_index("eid")["event_date"]
        w = _written_event_dates(big.main, outcome).reindex(t.index)
        pd.testing.assert_series_equal(t, w, check_names=False)
    assert not o["event_date"].isin(PH).any()
    has = o["event_date"].notna()
    assert (o["source"].notna() == has).all()
    srcs = set(o.loc[has, "source"])
    kinds = {x.split(":")[0] for x in srcs}
    assert "first_occurrence:131350" in srcs and "algorithmic:42000" in srcs
    assert {"icd10", "icd9"} <= kinds


def test_outcome_semantics(big):
    o = big.outcomes
    m = big.main
    death = m["40000-0.0"].reindex(o["eid"]).to_numpy()
    assert (pd.Series(death).dropna() <= ADMIN).all()
    np.testing.assert_array_equal(o["death_date"].to_numpy(), death)
    visit = m["53-2.0"].reindex(o["eid"]).to_numpy()
    assert (o["visit_date"].to_numpy() == visit).all()
    ev = o["event_date"]
    stop = pd.Series(death).fillna(ADMIN).clip(upper=ADMIN).to_numpy()
    prevalent = (ev <= o["visit_date"]).to_numpy()
    incident = ((ev > o["visit_date"]) & (ev <= stop)).to_numpy()
    assert (o["prevalent"].to_numpy() == prevalent).all()
    assert (o["incident"].to_numpy() == incident).all()
    end = pd.Series(np.where(incident, ev.to_numpy(), stop)).mask(prevalent)
    pd.testing.assert_series_equal(o["end_date"].reset_index(drop=True), end, check_names=False)
    np.testing.assert_allclose(o["time_years"], (o["end_date"] - o["visit_date"]).dt.days / 365.25)
    assert (o["event"] == o["incident"].astype(int)).all()
    reason = np.where(prevalent, "prevalent", np.where(incident, "event",
                      np.where(pd.notna(death), "death", "administrative")))
    assert (o["censor_reason"].to_numpy() == reason).all()
    year, vyear = ev.dt.year, o["visit_date"].dt.year
    window = (year >= vyear - 5) & (year <= vyear + 1) & (ev <= ADMIN)
    assert (o["case_window"] == window.fillna(False)).all()
    # a few events are written after the admin date: they are neither incident nor cases
    after = ev > ADMIN
    assert after.sum() > 5 and not o.loc[after, "incident"].any()
    # events after death are never written
    assert not (ev > o["death_date"]).any()


def test_outcome_rates(big):
    o = big.outcomes
    rates = o.groupby("outcome")[["prevalent", "incident"]].mean()
    assert 0.02 < rates.loc["AF", "prevalent"] < 0.04 and 0.015 < rates.loc["AF", "incident"] < 0.05
    assert 0.012 < rates.loc["MI", "prevalent"] < 0.03 and 0.007 < rates.loc["MI", "incident"] < 0.03
    assert 0.005 < rates.loc["HF", "prevalent"] < 0.02 and 0.007 < rates.loc["HF", "incident"] < 0.03
    deaths = big.main["40000-0.0"].notna().mean()
    assert 0.02 < deaths < 0.10
    # follow-up up to ~9.5 years
    assert o["time_years"].max() < 9.6 and o["time_years"].min() >= 0
    assert o.loc[o["prevalent"], "time_years"].isna().all()


def test_planted_hazards_recovered_af(big):
    """lifelines Cox on the truth table for incident AF recovers the planted log HRs.

    Tolerance: |estimate - planted| < 4 SE of the estimate (about 0.1-0.2 at n = 20,000).
    """
    hz, fit = planted_cox_fit(big, "AF")
    assert [tuple(r) for r in hz[["term"]].itertuples(index=False)] == [(t,) for t, _ in HAZARD_TERMS["AF"]]
    for r in hz.itertuples():
        est, se = fit.params_[r.term], fit.standard_errors_[r.term]
        assert abs(est - r.log_hr) < 4 * se, (r.term, est, r.log_hr, se)
        assert se < 0.1


def test_hazards_table(big):
    h = big.hazards
    assert list(h.columns) == ["outcome", "term", "unit", "center", "scale", "hr", "log_hr",
                               "baseline_hazard_per_year"]
    np.testing.assert_allclose(np.log(h["hr"]), h["log_hr"])
    assert set(h["outcome"]) == set(OUTCOME_SOURCES)
    p = _p2(big)
    for r in h[~h["term"].isin(["age_exact", "sex"])].itertuples():
        assert abs(p[r.term].mean() - r.center) < 1e-9 * max(1, abs(r.center)) + 1e-9


# ----------------------------------------------------------------------------- I/O and speed


def test_round_trip_with_reader(small, tmp_path):
    read = pytest.importorskip("cardiolatent.ukb.read")
    if not hasattr(read, "write_main") or not hasattr(read, "read_main"):
        pytest.skip("cardiolatent.ukb.read.write_main / read_main not available yet")
    path = tmp_path / "ukb_main.csv"
    read.write_main(small.main_raw, path, style="ukbconv_csv")
    back = read.read_main(path)
    wide = back.wide
    assert list(wide.columns) == list(small.main.columns)
    pd.testing.assert_frame_equal(wide, small.main, check_exact=False, rtol=1e-12)
    assert set(back.flags["reason"]) == {"negative_code", "placeholder_date"}


@pytest.mark.slow
def test_full_size_is_fast():
    t0 = time.perf_counter()
    c = simulate_cohort(71_021, np.random.default_rng(1))
    assert time.perf_counter() - t0 < 30
    assert c.main.shape[0] == 71_021
