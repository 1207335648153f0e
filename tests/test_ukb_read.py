"""Main-data naming styles, field registry, read_main / write_main round trips and errors."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from cardiolatent.errors import (
    CardiolatentError,
    DuplicateIdError,
    FieldValueError,
    MissingFieldError,
    NotATableError,
    UnknownFieldError,
    UnknownNamingError,
)
from cardiolatent.ukb import naming
from cardiolatent.ukb.read import PLACEHOLDER_DATES, MainData, read_main, write_main
from cardiolatent.ukb.registry import FieldRegistry

N = 50
VARIANTS = [
    ("ukbconv_csv", "columns"),
    ("ukbconv_r", "columns"),
    ("r_mangled", "columns"),
    ("phesant", "columns"),
    ("rap", "columns"),
    ("rap", "joined"),
]


def _raw_table(seed: int = 1) -> pd.DataFrame:
    """A small canonical table *before* cleaning: negative codes and placeholder dates included."""
    rng = np.random.default_rng(seed)
    eid = pd.Index(np.sort(rng.choice(np.arange(1_000_000, 6_000_000), N, replace=False)), name="eid")
    cols: dict[str, object] = {}

    def ints(values, na_frac=0.1):
        arr = pd.array(values, dtype="Int64")
        arr[rng.random(N) < na_frac] = pd.NA
        return arr

    cols["31-0.0"] = ints(rng.integers(0, 2, N), 0)
    cols["34-0.0"] = ints(rng.integers(1937, 1971, N), 0)
    cols["21003-0.0"] = ints(rng.integers(40, 70, N), 0)
    cols["21003-2.0"] = ints(rng.integers(45, 82, N), 0.2)
    visit = pd.Series(pd.to_datetime("2014-05-01") + pd.to_timedelta(rng.integers(0, 2000, N), unit="D"))
    visit[rng.random(N) < 0.1] = pd.NaT
    visit.iloc[3] = pd.Timestamp("1900-01-01")
    cols["53-2.0"] = visit.to_numpy()
    bmi = rng.normal(27, 4, N)
    bmi[rng.random(N) < 0.1] = np.nan
    bmi[0] = 0.1 + 0.2  # needs full repr precision
    cols["21001-2.0"] = bmi
    for inst in (0, 2):
        for a in (0, 1):
            cols[f"4080-{inst}.{a}"] = ints(rng.integers(100, 180, N))
    batch = rng.choice([-11, -5, -1, 1, 20, 95], N)
    batch[1] = -11
    cols["22000-0.0"] = ints(batch, 0)
    for pc in range(1, 11):
        cols[f"22009-0.{pc}"] = rng.normal(0, 1e-2 * pc, N)
    eth = rng.choice([1001, 1002, 3001, 4001, -1, -3], N)
    eth[2] = -3
    cols["21000-0.0"] = ints(eth, 0)
    smoke = rng.choice([0, 1, 2, -3], N)
    smoke[4] = -3
    cols["20116-0.0"] = ints(smoke, 0.05)
    codes = np.array(["I10", "I21", "I48", "E11", "I50", "Z951", "K57.3"], dtype=object)
    n_dx = rng.integers(0, 6, N)
    n_dx[0] = 5  # the last array column is not all missing (a joined cell has no trailing empties)
    for a in range(5):
        have = n_dx > a
        dx = pd.array(np.where(have, rng.choice(codes, N), None), dtype="string")
        dates = pd.Series(pd.to_datetime("1998-01-01") + pd.to_timedelta(rng.integers(0, 8000, N), unit="D"))
        dates[~have] = pd.NaT
        cols[f"41270-0.{a}"] = dx
        cols[f"41280-0.{a}"] = dates.to_numpy()
    d2 = pd.Series(cols["41280-0.1"])
    d2[n_dx > 1] = d2[n_dx > 1].where(np.arange(N)[n_dx > 1] % 7 != 0, pd.Timestamp("1901-01-01"))
    cols["41280-0.1"] = d2.to_numpy()
    af = pd.Series(pd.to_datetime("2005-01-01") + pd.to_timedelta(rng.integers(0, 5000, N), unit="D"))
    af[rng.random(N) < 0.7] = pd.NaT
    af.iloc[5] = pd.Timestamp("2037-07-07")
    cols["131350-0.0"] = af.to_numpy()
    df = pd.DataFrame(cols, index=eid)
    for c in df.columns:
        if str(df[c].dtype).startswith("datetime"):
            df[c] = df[c].astype("datetime64[ns]")
    order = sorted(df.columns, key=naming.canonical_sort_key)
    return df[order]


def _expected(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cleaned table and the flags read_main should produce for ``raw``."""
    reg = FieldRegistry.default()
    clean = raw.copy()
    flags = []
    placeholders = pd.to_datetime(list(PLACEHOLDER_DATES))
    for c in raw.columns:
        field = naming.parse_canonical(c)[0]
        s = raw[c]
        if reg.type(field) == "date":
            mask = s.isin(placeholders)
            reason, raws = "placeholder_date", s[mask].dt.strftime("%Y-%m-%d")
        else:
            codes = reg.na_codes(field)
            if not codes:
                continue
            mask = s.isin(list(codes)).fillna(False).astype(bool)
            reason, raws = "negative_code", s[mask].astype(str)
        if mask.any():
            clean[c] = s.mask(mask)
            flags += [(e, c, r, reason) for e, r in zip(raws.index, raws)]
    fl = pd.DataFrame(flags, columns=["eid", "column", "raw", "reason"])
    return clean, fl


def _sorted_flags(f: pd.DataFrame) -> pd.DataFrame:
    return f.sort_values(["column", "eid"]).reset_index(drop=True).astype(
        {"eid": "int64", "column": object, "raw": object, "reason": object}
    )


@pytest.fixture(scope="module")
def raw_table() -> pd.DataFrame:
    return _raw_table()


# ---------------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("style,rap_arrays", VARIANTS)
def test_roundtrip_every_style(tmp_path, raw_table, style, rap_arrays):
    path = tmp_path / f"main_{style}_{rap_arrays}.txt"
    write_main(raw_table, path, style, rap_arrays=rap_arrays)
    md = read_main(path)
    assert md.style == style
    clean, flags = _expected(raw_table)
    pd.testing.assert_frame_equal(md.wide, clean, check_exact=True)
    assert md.wide.index.dtype == np.int64 and md.wide.index.name == "eid"
    pd.testing.assert_frame_equal(_sorted_flags(md.flags), _sorted_flags(flags))
    assert set(md.flags["reason"]) == {"negative_code", "placeholder_date"}


def test_all_styles_identical_and_header_shapes(tmp_path, raw_table):
    tables = []
    for style, rap_arrays in VARIANTS:
        p = tmp_path / f"{style}_{rap_arrays}.txt"
        write_main(raw_table, p, style, rap_arrays=rap_arrays)
        header = p.read_text().splitlines()[0]
        tables.append(read_main(p).wide)
        if style == "rap" and rap_arrays == "joined":
            assert "p41270" in header.split(",") and "p4080_i2" in header.split(",")
            assert "p22009_a1" in header.split(",")  # arrays starting at 1 stay columns
        if style == "rap" and rap_arrays == "columns":
            assert {"p31", "p21003_i2", "p4080_i2_a1", "p41270_a3", "p22000"} <= set(header.split(","))
        if style == "ukbconv_r":
            assert header.startswith("f.eid\tf.31.0.0")
    for t in tables[1:]:
        pd.testing.assert_frame_equal(t, tables[0], check_exact=True)


def test_written_values_are_plain(tmp_path, raw_table):
    p = tmp_path / "m.csv"
    write_main(raw_table.reset_index(), p)  # eid as a column works too
    text = p.read_text()
    assert "\r" not in text
    first = pd.read_csv(p, dtype=str, nrows=3)
    assert not first["34-0.0"].str.contains(r"\.").any()  # Int64 without .0
    assert first["53-2.0"].dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert "0.30000000000000004" in text


def test_write_integral_floats_of_integer_fields_without_decimal(tmp_path):
    df = pd.DataFrame({"31-0.0": [0.0, 1.0, np.nan], "21001-0.0": [20.0, 21.5, np.nan]},
                      index=pd.Index([1, 2, 3], name="eid"))
    p = tmp_path / "m.csv"
    write_main(df, p)
    lines = p.read_text().splitlines()
    assert lines[1] == "1,0,20.0" and lines[3] == "3,,"


def test_rap_bare_columns_and_timestamps(tmp_path):
    p = tmp_path / "rap.csv"
    p.write_text(
        "participant.eid,p31,p21003_i0,p21003_i2,p41270,p41280,p40000_i0,p99999\n"
        "1,0,55,60,I10|I21,2001-02-03|2002-03-04T00:00:00,,a|b\n"
        "2,1,-1,,,,2016-05-06 00:00:00,c\n"
    )
    md = read_main(p)
    assert md.style == "rap"
    assert list(md.wide.columns) == [
        "31-0.0", "21003-0.0", "21003-2.0", "40000-0.0", "41270-0.0", "41270-0.1",
        "41280-0.0", "41280-0.1", "99999-0.0", "99999-0.1",
    ]
    assert md.wide.loc[1, "41280-0.1"] == pd.Timestamp("2002-03-04")
    assert md.wide.loc[2, "40000-0.0"] == pd.Timestamp("2016-05-06")
    assert md.wide["99999-0.0"].dtype == "string" and md.wide.loc[2, "99999-0.1"] is pd.NA
    assert md.wide.loc[2, "21003-0.0"] == -1  # 21003 has no na_codes


def test_gzip_whitespace_and_chunks(tmp_path, raw_table):
    sub = raw_table[["31-0.0", "21003-2.0", "21001-2.0"]].fillna(0)
    csvp = tmp_path / "m.csv"
    write_main(sub, csvp)
    gz = tmp_path / "m.csv.gz"
    gz.write_bytes(gzip.compress(csvp.read_bytes()))
    ws = tmp_path / "m.tab"
    ws.write_text(csvp.read_text().replace("eid,", "f.eid ").replace(",", " ").replace("31-0.0", "f.31.0.0")
                  .replace("21003-2.0", "f.21003.2.0").replace("21001-2.0", "f.21001.2.0"))
    a = read_main(csvp).wide
    pd.testing.assert_frame_equal(read_main(gz).wide, a)
    pd.testing.assert_frame_equal(read_main(ws).wide, a)
    pd.testing.assert_frame_equal(read_main(csvp, chunksize=7).wide, a)


# ---------------------------------------------------------------------------------------------
# column selection
# ---------------------------------------------------------------------------------------------
def test_only_requested_columns_are_read(tmp_path, raw_table, monkeypatch):
    wide = raw_table.copy()
    extra = pd.DataFrame(
        np.arange(N * 3000).reshape(N, 3000) % 97, index=wide.index,
        columns=[f"{200000 + i}-0.0" for i in range(3000)],
    )
    wide = pd.concat([wide, extra], axis=1)
    p = tmp_path / "wide.csv"
    write_main(wide, p)

    import pyarrow.csv as pacsv

    seen = []
    real = pacsv.read_csv

    def spy(*args, **kwargs):
        seen.append(kwargs["convert_options"].include_columns)
        return real(*args, **kwargs)

    monkeypatch.setattr(pacsv, "read_csv", spy)
    md = read_main(p, ["age_at_assessment", 31, "41270"], instances=[0, 2], cache=False)
    assert seen and all(u is not None for u in seen)
    assert sorted(seen[-1]) == sorted(["eid", "31-0.0", "21003-0.0", "21003-2.0"] + [f"41270-0.{a}" for a in range(5)])
    assert list(md.wide.columns) == ["31-0.0", "21003-0.0", "21003-2.0"] + [f"41270-0.{a}" for a in range(5)]

    md2 = read_main(p, ["age_at_assessment"], instances=2)
    assert list(md2.wide.columns) == ["21003-2.0"]


def test_missing_ok_and_required(tmp_path, raw_table):
    p = tmp_path / "m.csv"
    write_main(raw_table, p)
    md = read_main(p, ["sex", "bmi", "height"], missing_ok=True)
    assert list(md.wide.columns) == ["31-0.0", "21001-2.0"]
    with pytest.raises(MissingFieldError, match="50 \\(height\\)"):
        read_main(p, ["sex", "height"], required=["height"])
    md = read_main(p, ["sex", "height"], required=["sex"])
    assert list(md.wide.columns) == ["31-0.0"]
    with pytest.raises(MissingFieldError, match="no instance 3.*instances present: 0, 2"):
        read_main(p, ["age_at_assessment"], instances=[3])


def test_negative_codes_and_placeholders(tmp_path, raw_table):
    p = tmp_path / "m.csv"
    write_main(raw_table, p)
    md = read_main(p)
    e1, e2, e3, e4, e5 = raw_table.index[1:6]
    assert md.wide.loc[e1, "22000-0.0"] == -11  # batch -11 (UK BiLEVE) is a real value
    assert (md.wide["22000-0.0"] < 0).sum() == (raw_table["22000-0.0"] < 0).sum()
    assert md.wide.loc[e2, "21000-0.0"] is pd.NA
    assert md.wide.loc[e4, "20116-0.0"] is pd.NA
    assert not (md.wide["21000-0.0"] < 0).any() and not (md.wide["20116-0.0"] < 0).any()
    assert pd.isna(md.wide.loc[raw_table.index[3], "53-2.0"])
    assert pd.isna(md.wide.loc[e5, "131350-0.0"])
    f = md.flags
    assert ((f.eid == e2) & (f.column == "21000-0.0") & (f.raw == "-3") & (f.reason == "negative_code")).any()
    assert ((f.eid == raw_table.index[3]) & (f.column == "53-2.0") & (f.raw == "1900-01-01")
            & (f.reason == "placeholder_date")).any()
    assert ((f.eid == e5) & (f.raw == "2037-07-07")).any()
    assert not (f.column == "22000-0.0").any()


# ---------------------------------------------------------------------------------------------
# MainData accessors
# ---------------------------------------------------------------------------------------------
def test_maindata_accessors(tmp_path, raw_table):
    p = tmp_path / "m.csv"
    write_main(raw_table, p, "rap", rap_arrays="joined")
    md = read_main(p)
    assert isinstance(md, MainData)
    assert md.instances_of("age_at_assessment") == [0, 2]
    assert md.arrays_of(22009, 0) == list(range(1, 11))
    assert md.arrays_of("icd10", 0) == list(range(5))
    assert md.has("sex") and md.has(21003, 2) and not md.has(21003, 3) and not md.has("height")
    assert isinstance(md.get("sex"), pd.Series)
    assert md.get("age_at_assessment", 2).name == "21003-2.0"
    assert list(md.get("age_at_assessment").columns) == ["21003-0.0", "21003-2.0"]
    assert list(md.get("sbp_automated", 2).columns) == ["4080-2.0", "4080-2.1"]
    assert md.get("sbp_automated", 2, 1).name == "4080-2.1"
    assert md.get("genetic_pc").shape == (N, 10)
    with pytest.raises(MissingFieldError, match="height"):
        md.get("height")
    lg = md.long()
    assert list(lg.columns) == ["eid", "field", "instance", "array", "value"]
    assert len(lg) == int(md.wide.notna().sum().sum())
    row = lg[(lg.eid == raw_table.index[0]) & (lg.field == 21001)]
    assert row.value.iloc[0] == "0.30000000000000004"
    assert lg[lg.field == 53].value.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


# ---------------------------------------------------------------------------------------------
# errors: each names the file
# ---------------------------------------------------------------------------------------------
def test_missing_field_error(tmp_path, raw_table):
    p = tmp_path / "main.csv"
    write_main(raw_table[["31-0.0", "34-0.0"]], p)
    with pytest.raises(MissingFieldError) as e:
        read_main(p, ["sex", "waist"])
    msg = str(e.value)
    assert "48 (waist)" in msg and "main.csv" in msg
    assert "48-*.* (ukbconv csv)" in msg and "f.48.*.*" in msg and "X48.*.*" in msg and "p48*" in msg


def test_duplicate_eids(tmp_path):
    p = tmp_path / "dups.csv"
    p.write_text("eid,31-0.0\n5,1\n6,0\n5,1\n7,1\n6,1\n5,0\n")
    with pytest.raises(DuplicateIdError) as e:
        read_main(p)
    assert "dups.csv" in str(e.value) and "5 (x3)" in str(e.value) and "6 (x2)" in str(e.value)


@pytest.mark.parametrize(
    "content,pattern",
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (b"PAR1\x00\x01\x02", "binary"),
        (b"eid;31-0.0;34-0.0\n1;0;1950\n", "semicolon"),
        (b"eid\n1\n2\n", "one column"),
    ],
)
def test_not_a_table(tmp_path, content, pattern):
    p = tmp_path / "bad_main.csv"
    p.write_bytes(content)
    with pytest.raises(NotATableError, match=pattern) as e:
        read_main(p)
    assert "bad_main.csv" in str(e.value)


def test_unknown_naming(tmp_path):
    p = tmp_path / "weird.csv"
    p.write_text("id,age,height,bmi\n1,50,170,22\n")
    with pytest.raises(UnknownNamingError) as e:
        read_main(p)
    msg = str(e.value)
    assert "weird.csv" in msg and "'age'" in msg and "ukbconv_csv" in msg and "rap" in msg


def test_bad_values_name_file_column_eid(tmp_path):
    p = tmp_path / "vals.csv"
    p.write_text("eid,21001-0.0,31-0.0\n1,22.5,0\n2,abc,1\n")
    with pytest.raises(FieldValueError) as e:
        read_main(p)
    msg = str(e.value)
    assert "vals.csv" in msg and "21001-0.0" in msg and "eid 2" in msg and "'abc'" in msg
    p.write_text("eid,31-0.0,53-0.0\n1,0.5,2010-01-01\n")
    with pytest.raises(FieldValueError, match="31-0.0.*eid 1.*0.5"):
        read_main(p)
    p.write_text("eid,31-0.0,53-0.0\n1,0,2010-13-45\n")
    with pytest.raises(FieldValueError, match="53-0.0.*eid 1.*2010-13-45"):
        read_main(p)
    p.write_text("eid,31-0.0\nx1,0\n")
    with pytest.raises(FieldValueError, match="vals.csv.*'x1'"):
        read_main(p)


def test_errors_are_cardiolatent_errors():
    for cls in (MissingFieldError, DuplicateIdError, NotATableError, UnknownNamingError, FieldValueError,
                UnknownFieldError):
        assert issubclass(cls, CardiolatentError)


# ---------------------------------------------------------------------------------------------
# naming and registry units
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,style,key",
    [
        ("31-0.0", "ukbconv_csv", (31, 0, 0)),
        ("41270-0.12", "ukbconv_csv", (41270, 0, 12)),
        ("f.21003.2.0", "ukbconv_r", (21003, 2, 0)),
        ("X4080.2.1", "r_mangled", (4080, 2, 1)),
        ("x22009_0_40", "phesant", (22009, 0, 40)),
        ("p31", "rap", (31, 0, 0)),
        ("p21003_i2", "rap", (21003, 2, 0)),
        ("p4080_i2_a1", "rap", (4080, 2, 1)),
        ("p41270_a3", "rap", (41270, 0, 3)),
        ("p41270", "rap", (41270, 0, None)),
        ("p4080_i2", "rap", (4080, 2, None)),
        ("participant.p22009_a1", "rap", (22009, 0, 1)),
    ],
)
def test_parse_and_format_column(name, style, key):
    assert naming.parse_column(name) == key
    assert naming.parse_column(name, style) == key
    if not name.startswith("participant."):
        inst = style == "rap" and "_i" in name
        arr = style == "rap" and "_a" in name
        assert naming.format_column(*key, style, instanced=inst, arrayed=arr) == name


def test_naming_misc():
    assert naming.parse_column("eid") is None and naming.parse_column("age") is None
    assert naming.parse_column("31-0.0", "rap") is None
    assert naming.canonical(21003, 2, 0) == "21003-2.0"
    assert naming.id_column("ukbconv_r") == "f.eid" and naming.id_column("phesant") == "userId"
    assert naming.detect_style(["f.eid", "f.31.0.0", "f.34.0.0"]) == "ukbconv_r"
    assert naming.detect_style(["eid", "p31", "p21003_i2", "other"]) == "rap"
    assert naming.detect_style(["userId", "x31_0_0"]) == "phesant"
    with pytest.raises(UnknownNamingError, match="'age'"):
        naming.detect_style(["eid", "age"])


def test_registry(tmp_path):
    reg = FieldRegistry.default()
    required = {
        31: "sex", 22001: "genetic_sex", 34: "year_of_birth", 52: "month_of_birth",
        21003: "age_at_assessment", 53: "visit_date", 54: "assessment_centre", 21001: "bmi",
        50: "height", 21002: "weight", 48: "waist", 4080: "sbp_automated", 4079: "dbp_automated",
        93: "sbp_manual", 94: "dbp_manual", 22000: "genotyping_batch", 22006: "genetic_ethnic_grouping",
        22009: "genetic_pc", 21000: "ethnic_background", 22021: "genetic_kinship", 40000: "date_of_death",
        42000: "mi_date", 42001: "mi_source", 131350: "af_first_date", 131298: "mi_first_date",
        131354: "hf_first_date", 131286: "htn_first_date", 130708: "t2d_first_date", 41270: "icd10",
        41280: "icd10_date", 41271: "icd9", 41281: "icd9_date", 20002: "noncancer_illness",
        20208: "lax_cine_bulk", 20209: "sax_cine_bulk", 22019: "sex_chromosome_aneuploidy",
        22027: "outliers_heterozygosity", 20116: "smoking_status", 1558: "alcohol_frequency",
        1747: "hair_colour", 2040: "risk_taking",
    }
    for fid, name in required.items():
        assert reg.resolve(name) == fid and reg.name(fid) == name
    assert 131300 in reg
    assert reg.resolve(21003) == reg.resolve("21003") == 21003
    assert reg.na_codes(22000) == set() and reg.na_codes(22009) == set()
    assert reg.na_codes("ethnic_background") == {-1, -3}
    assert reg.info(22009).arrays == 40 and reg.info(41270).arrays == 243
    assert reg.type(99999) == "text" and reg.resolve(99999) == 99999
    with pytest.raises(UnknownFieldError, match="age_at_assessment"):
        reg.resolve("age_at_assesment")
    user = tmp_path / "my_fields.tsv"
    user.write_text("field\tname\ttype\tunit\tna_codes\n21001\tbody_mass_index\tcontinuous\tkg/m2\t\n"
                    "99999\tmy_score\tcontinuous\t\t-9\n")
    reg2 = FieldRegistry.from_files(user)
    assert reg2.resolve("body_mass_index") == 21001 and reg2.type("my_score") == "continuous"
    assert reg2.na_codes(99999) == {-9}
    with pytest.raises(UnknownFieldError):
        reg2.resolve("bmi")  # overridden row replaced the name
    reg3 = FieldRegistry.default().extend(pd.DataFrame({"field": [88888], "name": ["x_field"], "type": ["date"]}))
    assert reg3.type("x_field") == "date"
    assert FieldRegistry.default().get(88888) is None  # default() is not mutated by extend


def test_unknown_field_types_and_user_registry(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("eid,99999-0.0,31-0.0\n1,-9,1\n2,3.5,0\n")
    md = read_main(p)  # in no registry: typed from its values
    assert md.wide["99999-0.0"].dtype == "float64" and md.wide["99999-0.0"].tolist() == [-9.0, 3.5]
    assert md.notes == ["field 99999 is in no field registry; typed continuous from its values"]
    md = read_main(p, types={99999: "text"})
    assert md.wide["99999-0.0"].dtype == "string" and md.notes == [] and md.registry.type(99999) == "text"
    md = read_main(p, types={99999: "continuous"})
    assert md.wide["99999-0.0"].tolist() == [-9.0, 3.5]
    user = tmp_path / "f.tsv"
    user.write_text("field\tname\ttype\tna_codes\n99999\tmy_score\tcontinuous\t-9\n")
    md = read_main(p, ["my_score"], registry=FieldRegistry.from_files(user))
    assert pd.isna(md.wide.loc[1, "99999-0.0"]) and md.flags.raw.tolist() == ["-9"]
