"""Outcome definitions, earliest dates across sources, and the follow-up table.

Every participant below is written by hand; expected times are computed with
``datetime.date`` arithmetic, independent of pandas.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cardiolatent.errors import CardiolatentError, MissingFieldError
from cardiolatent.ukb.outcomes import (
    OutcomeDefinition,
    OutcomeDefinitionError,
    OutcomeResult,
    load_definitions,
    outcome_dates,
    outcome_table,
    wide_outcomes,
)

NaT = pd.NaT
ADMIN = dt.date(2023, 10, 31)


def years(a: dt.date, b: dt.date) -> float:
    return (b - a).days / 365.25


def D(s):
    return pd.Timestamp(s) if s else NaT


# eid: (visit 53-2.0, death 40000-0.0, death 40000-1.0, AF 131350, MI 131298, MI 42000)
PEOPLE = {
    1: ("2015-06-10", None, None, "2012-03-01", None, None),  # AF prevalent
    2: ("2016-01-15", None, None, None, None, None),  # AF incident from hospital I480
    3: ("2017-03-01", None, None, "2024-02-01", None, None),  # AF after admin date
    4: ("2018-07-01", "2020-01-10", "2020-03-01", "2021-05-05", None, None),  # death before AF
    5: ("2016-05-05", None, None, None, "2020-01-01", "2020-02-02"),  # I48.1 at index 2; MI I219
    6: ("2016-02-02", None, None, None, "2019-04-04", "2019-04-01"),  # MI earliest from ICD-9
    7: ("2015-01-01", None, None, "2020-06-01", None, None),  # beyond 5-year max follow-up
    8: ("2016-03-03", None, None, "2011-12-31", None, None),  # window edge -5 (AF), +1 (MI hosp.)
    9: ("2016-03-03", None, None, "2010-12-31", None, None),  # outside window (AF), +2 (MI)
    10: (None, None, None, "2019-01-01", None, None),  # no visit date
    11: ("2017-05-05", "2019-08-08", None, "2019-08-08", None, None),  # event on day of death
    12: ("2018-01-01", None, None, None, None, None),  # nothing: administrative
    13: ("2015-01-01", "2014-01-01", None, None, None, None),  # died before visit
    14: ("2019-09-09", None, None, "2019-09-09", None, None),  # event on visit day: prevalent
    15: ("2015-01-01", None, None, "2020-01-01", None, None),  # on the 5-year day: incident
}

# hospital ICD-10: eid -> {array index: (code, date)}
ICD10 = {
    2: {0: ("I480", "2018-05-20")},
    5: {0: ("I10", "2017-01-01"), 1: (None, "2016-01-01"), 2: ("I48.1", "2019-09-09"),
        3: ("I219", "2019-12-12")},
    6: {0: ("I21", "2019-06-01")},
    8: {1: ("I211", "2017-12-31")},
    9: {0: ("I2190", "2018-01-01")},
    12: {0: ("I4", "2019-01-01"), 1: ("i50", "2020-01-01")},  # "I4" does not start with I48
}
ICD9 = {6: {0: ("4109", "2019-03-03")}, 2: {0: ("4273", "2019-01-01")}}


def make_main() -> pd.DataFrame:
    eids = sorted(PEOPLE)
    idx = pd.Index(eids, dtype="int64", name="eid")
    cols: dict[str, object] = {}
    for j, name in enumerate(["53-2.0", "40000-0.0", "40000-1.0", "131350-0.0", "131298-0.0", "42000-0.0"]):
        cols[name] = pd.Series([D(PEOPLE[e][j]) for e in eids], index=idx, dtype="datetime64[ns]")
    for code_f, date_f, table, width in ((41270, 41280, ICD10, 4), (41271, 41281, ICD9, 1)):
        for k in range(width):
            codes = [table.get(e, {}).get(k, (None, None))[0] for e in eids]
            dates = [D(table.get(e, {}).get(k, (None, None))[1]) for e in eids]
            cols[f"{code_f}-0.{k}"] = pd.Series(codes, index=idx, dtype="string")
            cols[f"{date_f}-0.{k}"] = pd.Series(dates, index=idx, dtype="datetime64[ns]")
    return pd.DataFrame(cols, index=idx)


@pytest.fixture(scope="module")
def main() -> pd.DataFrame:
    return make_main()


@pytest.fixture(scope="module")
def result(main) -> OutcomeResult:
    return outcome_table(main, ("AF", "MI"), admin_date="2023-10-31")


def row(res: OutcomeResult, eid: int, outcome: str) -> pd.Series:
    t = res.table
    sel = t[(t["eid"] == eid) & (t["outcome"] == outcome)]
    assert len(sel) == 1
    return sel.iloc[0]


# --------------------------------------------------------------------------- definitions


def test_packaged_definitions():
    defs = load_definitions()
    assert {"AF", "MI", "HF", "HTN", "T2D"} <= set(defs)
    af = defs["af"]
    assert af is defs["AF"] and af.key == "AF"
    assert af.first_occurrence == (131350,) and af.icd10 == ("I48",) and af.icd9 == ("4273",)
    mi = defs["Mi"]
    assert 42000 in mi.algorithmic and {131298, 131300} <= set(mi.first_occurrence)
    assert {"I21", "I22"} <= set(mi.icd10) and {"410", "412"} <= set(mi.icd9)
    assert defs["HF"].first_occurrence == (131354,) and defs["HF"].icd10 == ("I50",)
    assert set(defs["HTN"].icd10) == {"I10", "I11", "I12", "I13", "I15"} and 131286 in defs["HTN"].first_occurrence
    assert defs["t2d"].icd10 == ("E11",) and defs["T2D"].first_occurrence == (130708,)
    with pytest.raises(KeyError, match="unknown outcome 'XYZ'"):
        defs["XYZ"]


def test_user_file_overrides_and_extends(tmp_path):
    p = tmp_path / "my.toml"
    p.write_text(
        '[af]\nname = "AF, hospital only"\nicd10 = ["I48.0", "I48.1"]\n\n'
        '[CM]\nname = "cardiomyopathy"\nicd10 = ["I42"]\nfirst_occurrence = []\n'
    )
    defs = load_definitions(p)
    assert defs["AF"].name == "AF, hospital only"
    assert defs["AF"].icd10 == ("I480", "I481") and defs["AF"].first_occurrence == ()
    assert defs["cm"].icd10 == ("I42",)
    assert "MI" in defs


@pytest.mark.parametrize(
    "text, match",
    [
        ('[AF]\nname = "x"\nicd10 = ["I48"]\ncolour = "red"\n', r"bad\.toml, outcome \[AF\]: unknown key\(s\) colour"),
        ('[AF]\nname = "x"\nicd10 = "I48"\n', r"outcome \[AF\]: icd10 must be a list of strings"),
        ('[AF]\nname = "x"\nfirst_occurrence = ["131350"]\n', r"\[AF\]: first_occurrence must be a list of integers"),
        ('[AF]\nicd10 = ["I48"]\n', r"\[AF\]: 'name'"),
        ('[AF]\nname = "x"\nself_report = [1471]\n', r"\[AF\]: no dated source"),
        ('[AF\nname = "x"\n', r"bad\.toml is not valid TOML"),
        ('AF = 3\n', r"'AF' must be a table"),
    ],
)
def test_bad_definition_files(tmp_path, text, match):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(OutcomeDefinitionError, match=match):
        load_definitions(p)


def test_missing_definition_file(tmp_path):
    with pytest.raises(OutcomeDefinitionError, match="does not exist"):
        load_definitions(tmp_path / "nope.toml")


# --------------------------------------------------------------------------- dates


def test_outcome_dates_af(main):
    d = outcome_dates(main, "af")
    assert list(d.index) == sorted(PEOPLE) and d.index.name == "eid"
    assert d.loc[1, "event_date"] == D("2012-03-01") and d.loc[1, "source"] == "first_occurrence:131350"
    # hospital I480 (2018-05-20) vs ICD-9 4273 (2019-01-01): earliest wins
    assert d.loc[2, "event_date"] == D("2018-05-20") and d.loc[2, "source"] == "icd10:I480"
    # code with a dot at index 2; a date at index 1 (no code) and I10 at index 0 are ignored
    assert d.loc[5, "event_date"] == D("2019-09-09") and d.loc[5, "source"] == "icd10:I48.1"
    # "I4" is not an I48 code, "i50" is not AF
    assert d.loc[12, "event_date"] is NaT and d.loc[12, "source"] is pd.NA
    assert d.loc[6, "event_date"] is NaT


def test_outcome_dates_mi_earliest_across_sources(main):
    d = outcome_dates(main, load_definitions()["MI"])
    assert d.loc[6, "event_date"] == D("2019-03-03") and d.loc[6, "source"] == "icd9:4109"
    assert d.loc[5, "event_date"] == D("2019-12-12") and d.loc[5, "source"] == "icd10:I219"
    assert d.loc[8, "event_date"] == D("2017-12-31") and d.loc[8, "source"] == "icd10:I211"
    # first-occurrence fields absent from the data are skipped and reported
    assert "first_occurrence:131300" in d.attrs["missing_sources"]


def test_outcome_dates_tie_prefers_first_occurrence():
    idx = pd.Index([1], dtype="int64", name="eid")
    main = pd.DataFrame(
        {
            "131298-0.0": pd.Series([D("2019-01-01")], index=idx),
            "41270-0.0": pd.Series(["I21"], index=idx, dtype="string"),
            "41280-0.0": pd.Series([D("2019-01-01")], index=idx),
        },
        index=idx,
    )
    d = outcome_dates(main, "MI")
    assert d.loc[1, "source"] == "first_occurrence:131298"


def test_outcome_dates_no_source_raises():
    idx = pd.Index([1], dtype="int64", name="eid")
    main = pd.DataFrame({"53-2.0": pd.Series([D("2019-01-01")], index=idx)}, index=idx)
    with pytest.raises(MissingFieldError, match="outcome AF .* none of its date fields"):
        outcome_dates(main, "AF")


def test_hospital_codes_without_dates_raise():
    idx = pd.Index([1], dtype="int64", name="eid")
    main = pd.DataFrame({"41270-0.0": pd.Series(["I48"], index=idx, dtype="string")}, index=idx)
    with pytest.raises(MissingFieldError, match="field 41280"):
        outcome_dates(main, "AF")


# --------------------------------------------------------------------------- table


def test_table_shape_and_exclusions(result):
    t = result.table
    assert list(t.columns) == [
        "eid", "outcome", "event_date", "source", "visit_date", "prevalent", "incident",
        "case_window", "end_date", "time_years", "event", "censor_reason", "date_flag",
    ]
    kept = sorted(set(PEOPLE) - {10, 13})
    assert list(t["eid"]) == [e for e in kept for _ in range(2)]
    assert list(t["outcome"][:2]) == ["AF", "MI"]
    ex = result.excluded
    assert list(ex.columns) == ["eid", "reason"]
    assert ex.set_index("eid")["reason"].to_dict() == {10: "no_visit_date", 13: "died_before_visit"}
    assert t["event"].dtype == np.int64 and t["prevalent"].dtype == bool


def test_prevalent(result):
    r = row(result, 1, "AF")
    assert r["prevalent"] and not r["incident"] and r["event"] == 0
    assert r["censor_reason"] == "prevalent" and r["end_date"] is NaT and np.isnan(r["time_years"])
    r = row(result, 14, "AF")  # event on the visit day
    assert r["prevalent"] and not r["incident"]


def test_incident(result):
    r = row(result, 2, "AF")
    assert r["incident"] and not r["prevalent"] and r["event"] == 1 and r["censor_reason"] == "event"
    assert r["end_date"] == D("2018-05-20") and r["source"] == "icd10:I480"
    assert abs(r["time_years"] - years(dt.date(2016, 1, 15), dt.date(2018, 5, 20))) < 1e-12
    r = row(result, 5, "AF")
    assert r["event"] == 1
    assert abs(r["time_years"] - years(dt.date(2016, 5, 5), dt.date(2019, 9, 9))) < 1e-12
    r = row(result, 6, "MI")
    assert r["event"] == 1 and r["source"] == "icd9:4109"
    assert abs(r["time_years"] - years(dt.date(2016, 2, 2), dt.date(2019, 3, 3))) < 1e-12


def test_event_after_admin_date_is_censored(result):
    r = row(result, 3, "AF")
    assert r["event_date"] == D("2024-02-01")  # the raw record is kept
    assert not r["incident"] and r["event"] == 0 and r["censor_reason"] == "administrative"
    assert r["end_date"] == D("2023-10-31")
    assert abs(r["time_years"] - years(dt.date(2017, 3, 1), ADMIN)) < 1e-12


def test_death_censors(result):
    r = row(result, 4, "AF")  # death 2020-01-10 (earliest of two instances) before AF
    assert not r["incident"] and r["event"] == 0 and r["censor_reason"] == "death"
    assert r["end_date"] == D("2020-01-10")
    assert abs(r["time_years"] - years(dt.date(2018, 7, 1), dt.date(2020, 1, 10))) < 1e-12
    r = row(result, 4, "MI")
    assert r["censor_reason"] == "death" and r["end_date"] == D("2020-01-10")
    r = row(result, 11, "AF")  # event on the day of death counts
    assert r["event"] == 1 and r["censor_reason"] == "event"
    assert abs(r["time_years"] - years(dt.date(2017, 5, 5), dt.date(2019, 8, 8))) < 1e-12


def test_administrative(result):
    r = row(result, 12, "AF")
    assert r["event_date"] is NaT and r["source"] is pd.NA
    assert r["censor_reason"] == "administrative" and r["event"] == 0
    assert abs(r["time_years"] - years(dt.date(2018, 1, 1), ADMIN)) < 1e-12


def test_max_followup(main):
    res = outcome_table(main, ["AF"], max_followup_years=5)
    r = row(res, 7, "AF")  # AF 2020-06-01 is after visit + 5 * 365.25 days
    assert not r["incident"] and r["event"] == 0 and r["censor_reason"] == "max_followup"
    assert abs(r["time_years"] - 5.0) < 1e-12
    assert r["end_date"] == pd.Timestamp("2020-01-01 06:00")  # 1826.25 days after 2015-01-01
    r = row(res, 15, "AF")  # AF on 2020-01-01 = 1826 days <= 1826.25: incident
    assert r["event"] == 1 and abs(r["time_years"] - 1826 / 365.25) < 1e-12
    r = row(res, 12, "AF")  # 5.83 years to the admin date: capped
    assert r["censor_reason"] == "max_followup" and abs(r["time_years"] - 5.0) < 1e-12
    r = row(res, 3, "AF")
    assert r["censor_reason"] == "max_followup"
    # without a cap the same participant 7 is an incident case
    r = row(outcome_table(main, ["AF"]), 7, "AF")
    assert r["event"] == 1 and abs(r["time_years"] - years(dt.date(2015, 1, 1), dt.date(2020, 6, 1))) < 1e-12


def test_case_window_edges(result):
    assert row(result, 8, "AF")["case_window"]  # 2011 = 2016 - 5
    assert row(result, 8, "MI")["case_window"]  # 2017 = 2016 + 1
    assert not row(result, 9, "AF")["case_window"]  # 2010 = 2016 - 6
    assert not row(result, 9, "MI")["case_window"]  # 2018 = 2016 + 2
    assert row(result, 1, "AF")["case_window"]  # 2012 within [2010, 2016]
    assert not row(result, 3, "AF")["case_window"]  # after admin date
    assert not row(result, 12, "AF")["case_window"]  # no event
    narrow = outcome_table(make_main(), ["AF"], case_window=(-4, 0))
    assert not row(narrow, 8, "AF")["case_window"]


def test_table_accepts_definition_objects_and_custom_definitions(main):
    custom = OutcomeDefinition(key="AF_HOSP", name="AF from hospital only", icd10=["I48.1"])
    res = outcome_table(main, [custom], admin_date="2023-10-31")
    r = row(res, 5, "AF_HOSP")
    assert r["event"] == 1 and r["source"] == "icd10:I48.1"
    assert row(res, 2, "AF_HOSP")["event_date"] is NaT  # I480 does not match I481


def test_missing_visit_and_death_fields(main):
    with pytest.raises(MissingFieldError, match="field 53 .* instance 3"):
        outcome_table(main, ["AF"], instance=3)
    nodeath = main.drop(columns=["40000-0.0", "40000-1.0"])
    with pytest.raises(MissingFieldError, match="field 40000"):
        outcome_table(nodeath, ["AF"])
    res = outcome_table(nodeath, ["AF"], allow_missing_death=True)
    assert row(res, 4, "AF")["event"] == 1
    with pytest.raises(CardiolatentError, match="unknown outcome"):
        outcome_table(main, ["NOPE"])


def test_wide_outcomes(result):
    w = wide_outcomes(result)
    assert list(w.columns) == ["AF_event", "AF_time_years", "MI_event", "MI_time_years"]
    assert w.index.name == "eid" and len(w) == len(PEOPLE) - 2
    assert w.loc[2, "AF_event"] == 1
    assert abs(w.loc[2, "AF_time_years"] - years(dt.date(2016, 1, 15), dt.date(2018, 5, 20))) < 1e-12
    w2 = wide_outcomes(result.table, columns=("case_window",))
    assert list(w2.columns) == ["AF_case_window", "MI_case_window"]
    with pytest.raises(CardiolatentError, match="unknown outcome table column"):
        wide_outcomes(result, columns=("nope",))


# --------------------------------------------------------------------------- issue 14: the paper's other diseases


def test_packaged_definitions_of_the_paper_diseases():
    defs = load_definitions()
    assert {"CHD", "ANGINA", "MVD", "AVD"} <= set(defs)
    assert defs["angina"].first_occurrence == (131296,) and defs["ANGINA"].icd10 == ("I20",)
    assert 131306 in defs["CHD"].first_occurrence and set(defs["CHD"].icd10) == {"I24", "I25"}
    assert defs["MVD"].first_occurrence[0] == 131322 and "I34" in defs["MVD"].icd10
    assert defs["AVD"].first_occurrence[0] == 131324 and "I35" in defs["AVD"].icd10
    # the old five are as they were
    assert defs["MI"].icd10 == ("I21", "I22", "I23") and defs["HTN"].first_occurrence[0] == 131286


def test_paper_disease_codes_go_to_the_right_outcome():
    """Hand-written hospital records: each code counts for the outcome(s) it names, and only those."""
    idx = pd.Index([1, 2, 3, 4, 5, 6], dtype="int64", name="eid")
    rec = {1: ("I251", "2018-01-01"), 2: ("I219", "2018-02-02"), 3: ("I200", "2018-03-03"),
           4: ("I340", "2018-04-04"), 5: ("I350", "2018-05-05"), 6: ("I080", "2018-06-06")}
    main = pd.DataFrame({
        "41270-0.0": pd.Series([rec[e][0] for e in idx], index=idx, dtype="string"),
        "41280-0.0": pd.Series([pd.Timestamp(rec[e][1]) for e in idx], index=idx, dtype="datetime64[ns]"),
        "131306-0.0": pd.Series([pd.Timestamp("2017-07-07")] + [NaT] * 5, index=idx, dtype="datetime64[ns]"),
    }, index=idx)
    expect = {"CHD": {1}, "MI": {2}, "ANGINA": {3}, "MVD": {4, 6}, "AVD": {5, 6}}
    for key, eids in expect.items():
        got = outcome_dates(main, key)
        assert set(got.index[got["event_date"].notna()]) == eids, key
    chd = outcome_dates(main, "CHD")
    assert chd.loc[1, "event_date"] == pd.Timestamp("2017-07-07")  # first occurrence before hospital
    assert chd.loc[1, "source"] == "first_occurrence:131306"


def test_first_min_column_equals_pandas_idxmin_with_ties_and_missing_dates():
    """The censoring reason (earliest of death, follow-up cap, administrative date) without pandas'
    per-row idxmin loop: same labels, first column on ties, NaN for a row with no date."""
    import warnings

    from cardiolatent.ukb.outcomes import _first_min_column

    rng = np.random.default_rng(3)
    n = 2000

    def dates(p_missing):
        d = pd.Series(pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D"))
        d[rng.random(n) < p_missing] = pd.NaT
        return d

    f = pd.DataFrame({"death": dates(0.6), "max_followup": dates(0.2), "administrative": dates(0.05)})
    f.iloc[:40, 0] = f.iloc[:40, 2]  # ties between the first and the last column
    f.iloc[40:45] = pd.NaT
    got = _first_min_column(f)
    some = f.notna().any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = f[some].idxmin(axis=1)
    assert list(got[some]) == list(ref)
    assert got[~some].isna().all() and (~some).sum() >= 5
    first_is_min = (f["death"] == f.min(axis=1)).iloc[:40]
    assert first_is_min.sum() >= 5 and (got.iloc[:40][first_is_min] == "death").all()
