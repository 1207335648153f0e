"""Imaging covariates from a small hand-written canonical main-data frame."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cardiolatent.errors import MissingFieldError
from cardiolatent.ukb.covariates import (
    CovariateTable,
    birth_date,
    du_bois_bsa,
    imaging_covariates,
    imaging_covariates_all,
)

NA = pd.NA
NaT = pd.NaT


def D(s):
    return pd.Timestamp(s) if s else NaT


def make_main() -> pd.DataFrame:
    """Five participants; eid 4 never attended imaging, eid 3 attended both imaging visits."""
    eids = [1, 2, 3, 4, 5]
    cols = {
        "31-0.0": pd.array([1, 0, 1, 0, 1], dtype="Int64"),
        "34-0.0": pd.array([1955, 1960, 1948, 1950, 1952], dtype="Int64"),
        "48-2.0": [90.0, 80.5, np.nan, np.nan, 101.0],
        "50-2.0": [170.0, 160.0, 180.0, np.nan, np.nan],
        "50-3.0": [np.nan, np.nan, 181.0, np.nan, np.nan],
        "52-0.0": pd.array([3, 12, 1, 6, NA], dtype="Int64"),
        "53-2.0": [D("2015-06-10"), D("2016-01-15"), D("2017-03-01"), NaT, D("2019-02-28")],
        "53-3.0": [NaT, NaT, D("2019-09-09"), NaT, NaT],
        "54-2.0": pd.array([11025, 11027, 11026, NA, 11025], dtype="Int64"),
        "54-3.0": pd.array([NA, NA, 11028, NA, NA], dtype="Int64"),
        "93-2.0": [np.nan, 140.0, np.nan, np.nan, 150.0],
        "93-2.1": [np.nan, 150.0, np.nan, np.nan, np.nan],
        "94-2.0": [np.nan, 90.0, np.nan, np.nan, np.nan],
        "94-2.1": [np.nan, np.nan, np.nan, np.nan, np.nan],
        "4079-2.0": [80.0, np.nan, np.nan, np.nan, np.nan],
        "4079-2.1": [np.nan, np.nan, np.nan, np.nan, 70.0],
        "4080-2.0": [120.0, np.nan, np.nan, np.nan, np.nan],
        "4080-2.1": [130.0, np.nan, np.nan, np.nan, np.nan],
        "21001-2.0": [24.2, np.nan, np.nan, np.nan, 30.0],
        "21002-2.0": [70.0, 64.0, 81.0, np.nan, 90.0],
        "21002-3.0": [np.nan, np.nan, 80.0, np.nan, np.nan],
        "21003-2.0": pd.array([60, 55, 69, NA, 66], dtype="Int64"),
        "21003-3.0": pd.array([NA, NA, 71, NA, NA], dtype="Int64"),
        "22000-0.0": pd.array([-5, 12, 100, NA, -11], dtype="Int64"),
        "22001-0.0": pd.array([1, 0, 1, NA, 1], dtype="Int64"),
        "22006-0.0": pd.array([1, NA, 1, NA, NA], dtype="Int64"),
        "22009-0.1": [0.5, -1.25, 2.0, np.nan, 0.0],
        "22009-0.2": [1.5, 0.25, -2.0, np.nan, 0.0],
    }
    wide = pd.DataFrame(cols, index=pd.Index(eids, dtype="int64", name="eid"))
    return wide


def test_rows_and_exclusions():
    res = imaging_covariates(make_main())
    assert isinstance(res, CovariateTable)
    assert list(res.table.index) == [1, 2, 3, 5]
    assert res.table.index.name == "eid"
    assert res.excluded.to_dict("list") == {"eid": [4], "reason": ["no_visit_date"]}
    assert (res.table["visit"] == 2).all()
    assert list(res.table["imaging_year"]) == [2015, 2016, 2017, 2019]


def test_accepts_object_with_wide():
    res = imaging_covariates(SimpleNamespace(wide=make_main()))
    assert len(res.table) == 4


def test_age_from_21003_and_from_birth():
    main = make_main()
    t = imaging_covariates(main).table
    assert list(t["age"]) == [60.0, 55.0, 69.0, 66.0]
    tb = imaging_covariates(main, age_from="birth").table
    # birth date = 15th of the month of birth
    expected1 = (dt.date(2015, 6, 10) - dt.date(1955, 3, 15)).days / 365.25
    expected2 = (dt.date(2016, 1, 15) - dt.date(1960, 12, 15)).days / 365.25
    expected3 = (dt.date(2017, 3, 1) - dt.date(1948, 1, 15)).days / 365.25
    assert abs(tb.loc[1, "age"] - expected1) < 1e-12
    assert abs(tb.loc[2, "age"] - expected2) < 1e-12
    assert abs(tb.loc[3, "age"] - expected3) < 1e-12
    assert np.isnan(tb.loc[5, "age"])  # month of birth missing
    assert abs(expected1 - 60.238193018480494) < 1e-12  # 22002 days


def test_birth_date_helper():
    b = birth_date(pd.Series([1955, 1960, np.nan]), pd.Series([3, 12, 5]))
    assert list(b) == [pd.Timestamp("1955-03-15"), pd.Timestamp("1960-12-15"), NaT]


def test_bmi_and_bsa():
    t = imaging_covariates(make_main()).table
    assert t.loc[1, "bmi"] == 24.2 and not t.loc[1, "bmi_computed"]
    assert abs(t.loc[2, "bmi"] - 64.0 / 1.6**2) < 1e-12 and t.loc[2, "bmi_computed"]
    assert t.loc[5, "bmi"] == 30.0 and not t.loc[5, "bmi_computed"]  # height missing, bmi given
    assert t["bmi_computed"].dtype == bool
    for eid, (w, h) in {1: (70.0, 170.0), 2: (64.0, 160.0), 3: (81.0, 180.0)}.items():
        closed = 0.20247 * w**0.425 * (h / 100.0) ** 0.725
        assert abs(t.loc[eid, "bsa"] - closed) < 1e-12
    assert np.isnan(t.loc[5, "bsa"])
    assert abs(du_bois_bsa(70.0, 170.0) - 0.20247 * 70.0**0.425 * 1.7**0.725) < 1e-15


def test_blood_pressure_means_and_fallback():
    t = imaging_covariates(make_main()).table
    assert t.loc[1, "sbp"] == 125.0 and t.loc[1, "dbp"] == 80.0
    assert t.loc[1, "bp_source"] == "automated"
    assert t.loc[2, "sbp"] == 145.0 and t.loc[2, "dbp"] == 90.0
    assert t.loc[2, "bp_source"] == "manual"
    assert np.isnan(t.loc[3, "sbp"]) and np.isnan(t.loc[3, "dbp"])
    assert t.loc[3, "bp_source"] == "none"
    # an automated diastolic reading alone means "automated": no mixing with manual systolic
    assert t.loc[5, "bp_source"] == "automated"
    assert np.isnan(t.loc[5, "sbp"]) and t.loc[5, "dbp"] == 70.0


def test_genetic_columns_kept_including_negative_batch():
    t = imaging_covariates(make_main()).table
    assert t.loc[1, "genotyping_batch"] == -5
    assert t.loc[5, "genotyping_batch"] == -11
    assert str(t["genotyping_batch"].dtype) == "Int64"
    assert [c for c in t.columns if c.startswith("pc")] == ["pc1", "pc2"]
    assert t.loc[2, "pc1"] == -1.25
    assert t.loc[1, "genetic_ethnic_grouping"] == 1
    assert t.loc[2, "genetic_ethnic_grouping"] is NA
    assert list(t["sex"]) == [1, 0, 1, 1]
    assert list(t["centre"]) == [11025, 11027, 11026, 11025]
    assert t.loc[1, "waist"] == 90.0 and t.loc[1, "height"] == 170.0 and t.loc[1, "weight"] == 70.0


def test_missing_optional_field_reported():
    main = make_main().drop(columns=["48-2.0"])
    res = imaging_covariates(main)
    assert res.table["waist"].isna().all()
    assert "48-2.0" in res.missing_fields
    with pytest.raises(MissingFieldError, match="48"):
        imaging_covariates(main, require=["48-2.0"])


def test_missing_visit_field_raises_clear_error():
    with pytest.raises(MissingFieldError) as err:
        imaging_covariates(make_main().drop(columns=["53-2.0"]))
    assert "field 53 (date of attending assessment centre) instance 2 is required for imaging covariates" in str(err.value)


def test_missing_age_source_raises():
    with pytest.raises(MissingFieldError, match="field 52 .month of birth."):
        imaging_covariates(make_main().drop(columns=["52-0.0"]), age_from="birth")
    with pytest.raises(MissingFieldError, match="field 21003"):
        imaging_covariates(make_main().drop(columns=["21003-2.0"]))


def test_admin_date_excludes_later_visits():
    res = imaging_covariates(make_main(), admin_date="2018-12-31")
    assert list(res.table.index) == [1, 2, 3]
    ex = res.excluded.set_index("eid")["reason"].to_dict()
    assert ex == {4: "no_visit_date", 5: "visit_after_admin_date"}


def test_all_visits_stacked():
    res = imaging_covariates_all(make_main())
    t = res.table
    assert t.index.names == ["eid", "instance"]
    assert list(t.index) == [(1, 2), (2, 2), (3, 2), (3, 3), (5, 2)]
    assert t.loc[(3, 3), "visit"] == 3
    assert t.loc[(3, 3), "age"] == 71.0
    assert t.loc[(3, 3), "centre"] == 11028
    closed = 0.20247 * 80.0**0.425 * 1.81**0.725
    assert abs(t.loc[(3, 3), "bsa"] - closed) < 1e-12
    assert t.loc[(3, 3), "imaging_year"] == 2019
    assert list(res.excluded.columns) == ["eid", "instance", "reason"]
    assert len(res.excluded) == 1 + 4  # eid 4 at instance 2; all but eid 3 at instance 3
