"""Issue 14: the built-in registry, presets and outcome definitions agree, and the synthetic
cohort carries the cardiac IDPs, biochemistry and the paper's diseases with planted truth.

Expected values come from the planted models in :mod:`cardiolatent.synth.cohort`
(``DERIVED_MODELS``, ``IDP_FIELDS``, ``IDP_MISSING``, ``BIOCHEM_MISSING``, ``HAZARD_TERMS``),
never from a stored run.
"""

from __future__ import annotations

import io
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from _synth_helpers import planted_cox_fit
from cardiolatent.synth.cohort import (
    BIOCHEM_FIELDS,
    BIOCHEM_MISSING,
    DERIVED_MODELS,
    EXTENSION_OUTCOMES,
    EXTENSION_TRUTH,
    HAZARD_TERMS,
    IDP_FIELDS,
    IDP_MISSING,
    ORIGINAL_OUTCOMES,
    OUTCOME_SOURCES,
    extension_rng,
    simulate_cohort,
)
from cardiolatent.ukb.outcomes import load_definitions
from cardiolatent.ukb.presets import trait_presets
from cardiolatent.ukb.registry import FIELD_TYPES, FieldRegistry

N = 6000
PAPER_DISEASES = ("AF", "T2D", "HF", "MI", "CHD", "ANGINA", "MVD", "AVD")
#: names the imaging covariates take (analysis/design.py); registry names must not shadow them
COVARIATE_NAMES = {"age", "sex", "genetic_sex", "height", "weight", "bmi", "bsa", "sbp", "dbp", "waist", "centre",
                   "imaging_year", "visit", "genotyping_batch", "genetic_ethnic_grouping",
                   *(f"pc{k}" for k in range(1, 41))}


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(N, np.random.default_rng(314))


def _p(c, inst=2) -> pd.DataFrame:
    return c.participants[c.participants["instance"] == inst].set_index("eid")


def _tsv() -> pd.DataFrame:
    text = resources.files("cardiolatent").joinpath("data/fields.tsv").read_text(encoding="utf-8")
    return pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)


# ----------------------------------------------------------------------------- registry, presets, outcomes


def test_every_registry_row_parses_with_unique_ids_and_names():
    raw = _tsv()
    reg = FieldRegistry.default()
    assert raw["field"].is_unique, raw.loc[raw["field"].duplicated(), "field"].tolist()
    assert raw["name"].is_unique, raw.loc[raw["name"].duplicated(), "name"].tolist()
    assert len(reg) == len(raw)
    for rec in raw.to_dict("records"):
        info = reg.info(int(rec["field"]))
        assert info.name == rec["name"] and re.fullmatch(r"[a-z][a-z0-9_]*", info.name)
        assert info.type in FIELD_TYPES
        assert reg.resolve(info.name) == info.field
    # rows added since issue 14 (they end with a bracketed provenance note) shadow no covariate
    new = {r.name for r in map(reg.info, reg.fields) if re.search(r"\[[^]]+\]$", r.description)}
    assert len(new) > 100 and not new & COVARIATE_NAMES, new & COVARIATE_NAMES
    assert not {n.lower() for n in load_definitions()} & set(reg.names)
    assert not set(trait_presets()) & set(reg.names)


def test_cardiac_idp_rows():
    reg = FieldRegistry.default()
    for f in list(range(24100, 24182)) + list(range(22420, 22428)):
        info = reg.get(f)
        assert info is not None, f
        assert info.type == "continuous" and info.instances == (2, 3) and info.unit, info
    assert reg.name(24100) == "lvedv" and reg.name(22421) == "lvedv_inline"
    assert reg.info(24103).unit == "%" and reg.info(24105).unit == "g" and reg.info(24118).unit == "mm2"
    assert reg.info(24120).unit == "10^-3 mmHg^-1" and reg.info(24140).unit == "mm"
    assert reg.name(22427) != "bsa"
    # every issue-14 row says where its id comes from
    for f in reg.fields:
        if f in range(24100, 24182) or f in range(22420, 22428) or 30000 <= f < 31000:
            assert re.search(r"\[(confirmed|order inferred|id|derived)", reg.info(f).description), f


def test_every_preset_name_resolves():
    reg = FieldRegistry.default()
    defs = load_definitions()
    presets = trait_presets()
    for preset, names in presets.items():
        assert names, preset
        for name in names:
            assert name in defs or name in reg.names or (name.isdigit() and int(name) in reg.fields), (preset, name)
    idps = [reg.resolve(n) for n in presets["cardiac_idps"]]
    assert idps == list(range(24100, 24124)) + [24140]
    assert tuple(presets["paper_diseases"]) == PAPER_DISEASES
    for key in presets["paper_diseases"]:
        assert key in defs


def test_outcome_definitions_of_the_paper_diseases():
    defs = load_definitions()
    reg = FieldRegistry.default()
    for key in PAPER_DISEASES:
        d = defs[key]
        assert d.first_occurrence and (d.icd10 or d.icd9), key
        for f in d.first_occurrence:
            assert reg.type(f) == "date", (key, f)
    # the coronary outcomes never share a code prefix (an MI record is not a CHD or angina record)
    coronary = [defs[k] for k in ("MI", "ANGINA", "CHD")]
    for i, a in enumerate(coronary):
        for b in coronary[i + 1:]:
            for pa in a.icd10 + a.icd9:
                assert not any(pa.startswith(pb) or pb.startswith(pa) for pb in b.icd10 + b.icd9), (a.key, b.key)


def test_synthetic_sources_match_the_definitions():
    """The synthetic cohort matches events with exactly the packaged definitions' prefixes."""
    defs = load_definitions()
    assert set(OUTCOME_SOURCES) == set(ORIGINAL_OUTCOMES) | set(EXTENSION_OUTCOMES)
    assert set(PAPER_DISEASES) <= set(OUTCOME_SOURCES)
    for key, spec in OUTCOME_SOURCES.items():
        d = defs[key]
        assert set(spec["icd10"]) == set(d.icd10) and set(spec["icd9"]) == set(d.icd9), key
        assert spec["first_occurrence"] in d.first_occurrence, key
        # written codes match their own outcome and no other
        for kind, written in (("icd10", spec["write10"]), ("icd9", spec["write9"])):
            for code in written:
                hits = {k for k, s in OUTCOME_SOURCES.items() if code.startswith(tuple(s[kind]))}
                assert hits == {key}, (key, code, hits)


# ----------------------------------------------------------------------------- the synthetic cohort


def test_extension_stream_leaves_the_generator_alone():
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    a = extension_rng(rng).random(3)
    assert rng.bit_generator.state == before
    assert np.array_equal(a, extension_rng(np.random.default_rng(5)).random(3))
    assert not np.array_equal(a, extension_rng(np.random.default_rng(6)).random(3))


def test_idp_columns_at_the_imaging_instances(cohort):
    m = cohort.main
    rep = m["53-3.0"].notna()
    for f in list(range(24100, 24124)) + [24140, 22420, 22421, 22427]:
        assert f"{f}-2.0" in m.columns and f"{f}-3.0" in m.columns, f
        assert f"{f}-0.0" not in m.columns
        assert m.loc[~rep, f"{f}-3.0"].isna().all()
        assert m[f"{f}-2.0"].dtype == np.float64


def test_idp_missingness_is_as_documented(cohort):
    m = cohort.main
    n2 = m["53-2.0"].notna().sum()
    lax = 1 - (1 - IDP_MISSING["bai"]) * (1 - IDP_MISSING["lax"])
    aorta = 1 - (1 - IDP_MISSING["bai"]) * (1 - IDP_MISSING["aorta"])
    strain = 1 - (1 - IDP_MISSING["bai"]) * (1 - IDP_MISSING["strain"])
    expected = {24100: IDP_MISSING["bai"], 24105: IDP_MISSING["bai"], 24140: IDP_MISSING["bai"],
                24110: lax, 24117: lax, 24118: aorta, 24123: aorta, 24157: strain, 24181: strain,
                22420: IDP_MISSING["inline"], 22426: IDP_MISSING["inline"]}
    for f, rate in expected.items():
        got = m[f"{f}-2.0"].isna().mean()
        se = np.sqrt(rate * (1 - rate) / n2)
        assert abs(got - rate) < 4 * se, (f, got, rate)
    assert 0.10 <= IDP_MISSING["bai"] <= 0.20 and strain > IDP_MISSING["bai"]
    # LV fields go missing together (one short-axis analysis)
    lv = m[[f"{f}-2.0" for f in range(24100, 24110)]].isna()
    assert (lv.nunique(axis=1) == 1).all()


def test_idps_measure_the_truth(cohort):
    m = cohort.main
    for inst in (2, 3):
        p = _p(cohort, inst)
        for f, (col, _) in IDP_FIELDS.items():
            x = m[f"{f}-{inst}.0"].reindex(p.index)
            ok = x.notna()
            r = np.corrcoef(x[ok], p.loc[ok, col])[0, 1]
            assert r > (0.9 if inst == 2 else 0.85), (f, inst, r)
    p = _p(cohort)
    x = m["24100-2.0"].reindex(p.index)
    ok = x.notna()
    r_bai = np.corrcoef(x[ok], p.loc[ok, "lvedv_ml"])[0, 1]
    assert r_bai > 0.95
    # relative error of the Bai LV EDV a few per cent, centred on the truth
    rel = (x[ok] / p.loc[ok, "lvedv_ml"] - 1)
    assert abs(rel.mean()) < 0.005 and 0.01 < rel.std() < 0.06
    # stroke volume and EF are computed from the measured volumes
    sv = m["24100-2.0"] - m["24101-2.0"]
    np.testing.assert_allclose(m["24102-2.0"], sv, atol=2e-3, equal_nan=True)
    np.testing.assert_allclose(m["24103-2.0"], 100 * m["24102-2.0"] / m["24100-2.0"], atol=0.01, equal_nan=True)
    # inline: a second, noisier measurement
    y = m["22421-2.0"].reindex(p.index)
    both = ok & y.notna()
    r_inline = np.corrcoef(y[both], p.loc[both, "lvedv_ml"])[0, 1]
    assert 0.8 < r_inline < np.corrcoef(x[both], p.loc[both, "lvedv_ml"])[0, 1]
    ef = m["22420-2.0"].reindex(p.index)
    okef = ef.notna()
    assert np.corrcoef(ef[okef], p.loc[okef, "lvef_pct"])[0, 1] > 0.5


def test_new_truth_columns_follow_their_planted_models(cohort):
    import statsmodels.api as sm

    p = _p(cohort)
    assert list(p.columns[-len(EXTENSION_TRUTH):]) == list(EXTENSION_TRUTH)
    base = pd.DataFrame({"sex": p["sex"], "bsa": p["true_bsa"] - 1.9, "age10": (p["age_exact"] - 65) / 10,
                         "sbp10": (p["true_sbp"] - 135) / 10})
    for col in ("lvm_g", "rvef_pct", "ramax_ml", "ao_asc_max_area_mm2", "ao_desc_distensibility"):
        m = DERIVED_MODELS[col]
        X = base.copy()
        for src, (_, centre) in m["from"].items():
            X[src] = p[src] - centre
        lo, hi = m["clip"]
        inside = p[col].between(lo, hi, inclusive="neither")
        fit = sm.OLS(p.loc[inside, col], sm.add_constant(X[inside])).fit()
        planted = {"const": m["intercept"], "sex": m["sex"], "bsa": m["bsa"], "age10": m["age10"],
                   "sbp10": m["sbp10"], **{s: b for s, (b, _) in m["from"].items()}}
        for term, beta in planted.items():
            assert abs(fit.params[term] - beta) < 4 * fit.bse[term] + 1e-9, (col, term, fit.params[term], beta)
        assert abs(np.sqrt(fit.scale) / m["sigma"] - 1) < 0.1, col
    # identities
    np.testing.assert_allclose(p["lvsv_ml"], p["lvedv_ml"] - p["lvesv_ml"])
    np.testing.assert_allclose(p["rvesv_ml"], p["rvedv_ml"] * (1 - p["rvef_pct"] / 100))
    np.testing.assert_allclose(p["lamin_ml"], p["lav_ml"] * (1 - p["laef_pct"] / 100))
    pp = 0.42 * p["true_sbp"]
    for site in ("asc", "desc"):
        mx, mn = p[f"ao_{site}_max_area_mm2"], p[f"ao_{site}_min_area_mm2"]
        np.testing.assert_allclose((mx - mn) / (mn * pp) * 1e3, p[f"ao_{site}_distensibility"], rtol=1e-9)
    # repeat visit: the same person, retest noise only
    w = cohort.participants.pivot(index="eid", columns="instance", values="lvm_g").dropna()
    assert len(w) > 0.05 * N and np.corrcoef(w[2], w[3])[0, 1] > 0.9


def test_biochemistry(cohort):
    m = cohort.main
    for f in BIOCHEM_FIELDS:
        assert f"{f}-0.0" in m.columns and f"{f}-2.0" not in m.columns
        rate = 1 - (1 - BIOCHEM_MISSING["sample"]) * (1 - BIOCHEM_MISSING["field"])
        assert abs(m[f"{f}-0.0"].isna().mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / N), f
    assert 4.5 < m["30690-0.0"].mean() < 6.5 and 1.1 < m["30760-0.0"].mean() < 1.7
    both = m[["30780-0.0", "30690-0.0"]].dropna()
    assert (both["30780-0.0"] < both["30690-0.0"]).mean() > 0.99
    # HbA1c is about 17 mmol/mol higher in people with type 2 diabetes before the baseline visit
    t2d = cohort.outcomes[cohort.outcomes["outcome"] == "T2D"].set_index("eid")["event_date"].reindex(m.index)
    before = t2d.notna() & (t2d <= m["53-0.0"])
    never = t2d.isna()
    h = m["30750-0.0"]
    diff = h[before].mean() - h[never].mean()
    se = np.sqrt(h[before].var() / h[before].notna().sum() + h[never].var() / h[never].notna().sum())
    assert before.sum() > 20 and abs(diff - 17) < 4 * se + 1.5, (diff, se)
    # HDL lower in men
    assert m.loc[m["31-0.0"] == 1, "30760-0.0"].mean() < m.loc[m["31-0.0"] == 0, "30760-0.0"].mean() - 0.2


def test_new_outcomes_have_events_and_records(cohort):
    o = cohort.outcomes
    m = cohort.main
    assert set(o["outcome"]) == set(OUTCOME_SOURCES)
    for key in EXTENSION_OUTCOMES:
        s = o[o["outcome"] == key]
        assert s["prevalent"].sum() > 10 and s["incident"].sum() > 10, key
        assert f"{OUTCOME_SOURCES[key]['first_occurrence']}-0.0" in m.columns
        srcs = set(s["source"].dropna())
        assert any(x.startswith("icd10:") for x in srcs) and any(x.startswith("first_occurrence:") for x in srcs)
    hz = cohort.hazards
    assert set(hz["outcome"]) == set(HAZARD_TERMS)
    assert hz["baseline_hazard_per_year"].notna().all()


def test_planted_idp_relation_is_found_with_the_measured_lv_edv(tmp_path, cohort):
    """Stand-in for `assoc --traits cardiac_idps --covariates paper_traits`: a latent that carries
    the true LV EDV is significantly associated with field 24100 as read back from disk."""
    import statsmodels.api as sm

    from cardiolatent.ukb.read import read_main, write_main

    path = tmp_path / "ukb_main.csv"
    write_main(cohort.main_raw, path, style="ukbconv_csv")
    main = read_main(path)
    y = main.get(24100, instance=2)
    p = _p(cohort)
    rng = np.random.default_rng(1)
    latent = (p["lvedv_ml"] - p["lvedv_ml"].mean()) / p["lvedv_ml"].std() + rng.normal(0, 2.0, len(p))
    noise = pd.Series(rng.normal(size=len(p)), index=p.index)
    df = pd.DataFrame({"y": y.reindex(p.index), "latent": latent, "noise": noise, "age": p["age"],
                       "sex": p["sex"], "bsa": p["bsa"]}).dropna()
    fit = sm.OLS(df["y"], sm.add_constant(df[["latent", "age", "sex", "bsa"]])).fit()
    assert fit.params["latent"] > 0 and fit.pvalues["latent"] < 1e-8
    fit0 = sm.OLS(df["y"], sm.add_constant(df[["noise", "age", "sex", "bsa"]])).fit()
    assert fit0.pvalues["noise"] > fit.pvalues["latent"]


@pytest.mark.slow
@pytest.mark.parametrize("outcome", EXTENSION_OUTCOMES)
def test_planted_hazards_recovered(outcome, big_cohort):
    """lifelines Cox on the truth table recovers the planted log HRs (|est - planted| < 4 SE)."""
    hz, fit = planted_cox_fit(big_cohort, outcome)
    assert list(hz["term"]) == [t for t, _ in HAZARD_TERMS[outcome]]
    for r in hz.itertuples():
        est, se = fit.params_[r.term], fit.standard_errors_[r.term]
        assert abs(est - r.log_hr) < 4 * se, (r.term, est, r.log_hr, se)
        assert se < 0.15


@pytest.fixture(scope="module")
def big_cohort():
    return simulate_cohort(40_000, np.random.default_rng(2026))
