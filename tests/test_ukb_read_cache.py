"""read_main's pyarrow reader, column cache, parquet / column-store inputs, typing of fields in no
registry, and ``convert-main``."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from cardiolatent.cli import main
from cardiolatent.errors import FieldValueError, NotATableError
from cardiolatent.ukb import cache as ucache
from cardiolatent.ukb import read as uread
import cardiolatent.ukb.convert as uconvert
from cardiolatent.ukb.convert import convert_main
from cardiolatent.ukb.read import read_main, write_main
from cardiolatent.ukb.registry import FieldRegistry


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private CARDIOLATENT_HOME: the cache lives in home/main."""
    h = tmp_path / "home"
    monkeypatch.setenv("CARDIOLATENT_HOME", str(h))
    monkeypatch.delenv("CARDIOLATENT_MAIN_CACHE", raising=False)
    return h


@pytest.fixture
def source_reads(monkeypatch):
    """The include_columns of every pyarrow CSV read (each one is a pass over the source file)."""
    seen: list[list[str]] = []
    real = pacsv.read_csv

    def spy(*args, **kwargs):
        seen.append(list(kwargs["convert_options"].include_columns))
        return real(*args, **kwargs)

    monkeypatch.setattr(pacsv, "read_csv", spy)
    return seen


def assert_same(a, b) -> None:
    """Two MainData equal exactly: wide (values, dtypes, order), flags, notes, registry types."""
    pd.testing.assert_frame_equal(a.wide, b.wide, check_exact=True)
    assert list(a.wide.dtypes) == list(b.wide.dtypes)
    pd.testing.assert_frame_equal(a.flags, b.flags, check_exact=True)
    assert a.notes == b.notes and a.style == b.style
    assert [a.registry.type(f) for f in a.registry.fields] == [b.registry.type(f) for f in b.registry.fields]


def _copy(src, tmp_path, name="ukb_main.csv"):
    dst = tmp_path / name
    shutil.copy(src, dst)
    return dst


def _rap_file(tmp_path):
    """A RAP export: |-joined arrays, participant.eid, fields in no registry of each kind."""
    rng = np.random.default_rng(3)
    n = 80
    eid = np.arange(1_000_001, 1_000_001 + n)
    df = pd.DataFrame({
        "participant.eid": eid,
        "p31": rng.integers(0, 2, n),
        "p21003_i2": rng.integers(45, 80, n),
        "p21001_i2": np.round(rng.normal(27, 4, n), 4),
        "p53_i2": pd.Series(pd.to_datetime("2015-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), "D")).dt.strftime("%Y-%m-%d"),
        "p41270": ["|".join(rng.choice(["I10", "I21", "E11"], k)) for k in rng.integers(0, 4, n)],
        "p20116_i0": rng.choice([0, 1, 2, -3], n),
        "p99900_i0": np.round(rng.normal(7, 2, n), 3),            # in no registry: numbers
        "p99901_i0": rng.choice(["2010-02-03", "2011-04-05T10:30:00"], n),  # dates
        "p99902_i0": rng.choice(["A1", "b", "3"], n),              # text
        "p99903_i0": "",                                            # no values
    })
    df.loc[0, "p99900_i0"] = np.nan
    df.loc[1, "p53_i2"] = "1900-01-01"
    p = tmp_path / "rap_main.csv"
    df.to_csv(p, index=False)
    return p


# --------------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------------
def test_cached_read_equals_uncached_read_and_reads_no_source(small_cohort, tmp_path, home, source_reads):
    p = _copy(small_cohort.main, tmp_path)
    plain = read_main(p, cache=False)
    assert not (home / "main").exists()  # cache=False neither uses nor fills the cache
    first = read_main(p)
    assert len(source_reads) == 2
    entry = ucache.entry_dir(p)
    assert entry.parent == home / "main" and (entry / "manifest.json").is_file()
    second = read_main(p)
    assert len(source_reads) == 2  # from the cache: no pass over the file
    assert_same(first, plain)
    assert_same(second, plain)
    assert len(plain.flags) > 0  # the cohort has negative codes: flags really compared
    some = read_main(p, ["sex", "age_at_assessment", 53], instances=[0, 2])
    assert len(source_reads) == 2
    assert_same(some, read_main(p, ["sex", "age_at_assessment", 53], instances=[0, 2], cache=False))
    assert not [f for f in entry.iterdir() if ".tmp" in f.name]


def test_rap_file_cached_equals_uncached_with_inferred_types(tmp_path, home, source_reads):
    p = _rap_file(tmp_path)
    plain = read_main(p, cache=False)
    read_main(p)
    cached = read_main(p)
    assert len(source_reads) == 2
    assert_same(cached, plain)
    w = plain.wide
    assert w["99900-0.0"].dtype == "float64" and np.isnan(w["99900-0.0"].iloc[0])
    assert w["99901-0.0"].dtype == "datetime64[ns]"
    assert w["99902-0.0"].dtype == "string" and w["99903-0.0"].dtype == "string"
    assert w["21001-2.0"].dtype == "float64" and w["21003-2.0"].dtype == "Int64"
    assert list(w.filter(like="41270-").columns)[:2] == ["41270-0.0", "41270-0.1"]
    assert plain.notes == [
        "field 99900 is in no field registry; typed continuous from its values",
        "field 99901 is in no field registry; typed date from its values",
        "field 99902 is in no field registry; typed text from its values",
        "field 99903 is in no field registry; typed text from its values",
    ]
    assert plain.registry.type(99900) == "continuous" and plain.registry.type(99901) == "date"
    assert (plain.flags.reason == "placeholder_date").sum() == 1 and (plain.flags.reason == "negative_code").any()


def test_changed_source_invalidates_the_cache(tmp_path, home, source_reads):
    p = tmp_path / "m.csv"
    p.write_text("eid,31-0.0,21001-0.0\n1,0,22.5\n2,1,30.25\n")
    read_main(p)
    entry = ucache.entry_dir(p)
    old_parts = set(json.loads((entry / "manifest.json").read_text())["parts"])
    p.write_text("eid,31-0.0,21001-0.0\n1,0,22.5\n2,1,31.75\n")  # same size
    st = os.stat(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    md = read_main(p)
    assert md.wide.loc[2, "21001-0.0"] == 31.75
    assert len(source_reads) == 2
    parts = set(json.loads((entry / "manifest.json").read_text())["parts"])
    assert parts and not parts & old_parts
    assert not any((entry / x).exists() for x in old_parts)
    p.write_text("eid,31-0.0,21001-0.0\n1,0,22.5\n2,1,31.75\n3,1,19.5\n")  # larger
    assert read_main(p).wide.loc[3, "21001-0.0"] == 19.5


def test_columns_added_incrementally(small_cohort, tmp_path, home, source_reads):
    p = _copy(small_cohort.main, tmp_path)
    read_main(p, ["sex"])
    assert source_reads[-1] == ["eid", "31-0.0"]
    md = read_main(p, ["sex", "age_at_assessment"])
    assert sorted(source_reads[-1]) == ["21003-0.0", "21003-2.0", "21003-3.0"][: len(source_reads[-1])]
    assert "eid" not in source_reads[-1] and "31-0.0" not in source_reads[-1]
    manifest = json.loads((ucache.entry_dir(p) / "manifest.json").read_text())
    assert len(manifest["parts"]) == 2
    n = len(source_reads)
    again = read_main(p, ["age_at_assessment", "sex"])
    assert len(source_reads) == n
    assert_same(md, read_main(p, ["sex", "age_at_assessment"], cache=False))
    assert_same(again, md)


def test_wide_cache_writes_split_into_parts(small_cohort, tmp_path, home, monkeypatch, source_reads):
    monkeypatch.setattr(ucache, "PART_COLUMNS", 60)
    p = _copy(small_cohort.main, tmp_path)
    plain = read_main(p, cache=False)
    read_main(p)
    parts = json.loads((ucache.entry_dir(p) / "manifest.json").read_text())["parts"]
    assert len(parts) >= 4 and max(len(c) for c in parts.values()) <= 60
    n = len(source_reads)
    assert_same(read_main(p), plain)
    assert len(source_reads) == n


def test_leftovers_of_killed_writers_are_removed(tmp_path, home):
    p = tmp_path / "m.csv"
    p.write_text("eid,31-0.0,21001-0.0\n1,0,22.5\n2,1,30.25\n")
    read_main(p, ["sex"])
    entry = ucache.entry_dir(p)
    (entry / ".part-dead.parquet.tmp").write_bytes(b"half")
    (entry / "part-orphan.parquet").write_bytes(b"never listed")
    md = read_main(p)
    assert md.wide["21001-0.0"].tolist() == [22.5, 30.25]
    listed = set(json.loads((entry / "manifest.json").read_text())["parts"])
    assert {f.name for f in entry.iterdir()} == listed | {"manifest.json", ".lock"}


def test_stores_of_deleted_files_are_pruned(tmp_path, home):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for p in (a, b):
        p.write_text("eid,31-0.0\n1,0\n2,1\n")
    read_main(a)
    gone = ucache.entry_dir(a)
    assert gone.is_dir()
    a.unlink()
    read_main(b)
    assert not gone.exists() and ucache.entry_dir(b).is_dir()
    assert [d.name for d in (home / "main").iterdir()] == [ucache.entry_dir(b).name]


def test_concurrent_readers_and_writers(small_cohort, tmp_path, home):
    """Eight readers at once, each adding its own fields: every result equals the uncached read and
    the store ends with every column (writers serialise on the store's lock; readers never wait)."""
    from concurrent.futures import ThreadPoolExecutor

    p = _copy(small_cohort.main, tmp_path)
    asks = [["sex"], ["age_at_assessment"], [53], [21001], [4080], [22009], ["sex", 53], [50, 21002]]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda f: read_main(p, f, missing_ok=True), asks))
    for f, md in zip(asks, got):
        assert_same(md, read_main(p, f, missing_ok=True, cache=False))
    entry = ucache.entry_dir(p)
    stored = ucache.ColumnStore(entry).stored()
    for md in got:
        assert set(md.wide.columns) <= set(stored) and "eid" in stored
    assert {f.name for f in entry.iterdir()} == set(json.loads((entry / "manifest.json").read_text())["parts"]) | {
        "manifest.json", ".lock"}


def test_unwritable_cache_falls_back_silently(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CARDIOLATENT_MAIN_CACHE", str(blocker / "main"))
    p = tmp_path / "m.csv"
    p.write_text("eid,31-0.0\n1,0\n2,1\n")
    md = read_main(p)
    assert md.wide["31-0.0"].tolist() == [0, 1]
    assert capsys.readouterr().err == ""


def test_cache_isolated_by_the_test_suite():
    assert os.environ.get("CARDIOLATENT_MAIN_CACHE")  # conftest: never the user's ~/.cache
    assert ucache.main_cache_dir() == ucache.Path(os.environ["CARDIOLATENT_MAIN_CACHE"])


# --------------------------------------------------------------------------------------------
# typing fields in no registry
# --------------------------------------------------------------------------------------------
def test_fields_in_no_registry_typed_from_values(tmp_path, home):
    p = tmp_path / "m.csv"
    p.write_text("eid,99900-0.0,99900-2.0,99901-0.0,99902-0.0,99903-0.0,31-0.0\n"
                 "1,3,4.5,2010-01-02,x,1e3,0\n"
                 "2,,-2,2011-05-06 12:00:00,7,NA,1\n"
                 "3,1,,,,-0.5,1\n")
    reg = FieldRegistry.default()
    n_before = len(reg)
    md = read_main(p, registry=reg)
    assert len(reg) == n_before and reg.get(99900) is None  # the caller's registry is not changed
    w = md.wide
    assert w["99900-0.0"].dtype == "float64" and w["99900-2.0"].tolist()[:2] == [4.5, -2.0]
    assert w["99901-0.0"].dtype == "datetime64[ns]" and w.loc[2, "99901-0.0"] == pd.Timestamp("2011-05-06 12:00")
    assert w["99902-0.0"].dtype == "string" and w.loc[2, "99902-0.0"] == "7"
    assert w["99903-0.0"].tolist()[0] == 1000.0
    assert md.notes == [f"field {f} is in no field registry; typed {t} from its values"
                        for f, t in [(99900, "continuous"), (99901, "date"), (99902, "text"), (99903, "continuous")]]
    info = md.registry.info(99900)
    assert info.type == "continuous" and info.instances == (0, 2)
    assert md.registry.type(31) == reg.type(31)
    md2 = read_main(p, types={99900: "text", "99902": "text"}, registry=reg)  # explicit types win
    assert md2.wide["99900-0.0"].dtype == "string" and md2.registry.type(99900) == "text"
    assert [n.split()[1] for n in md2.notes] == ["99901", "99903"]
    with pytest.raises(FieldValueError, match="99900-2.0.*eid 1.*4.5"):
        read_main(p, types={99900: "integer"})


# --------------------------------------------------------------------------------------------
# pyarrow reader = pandas reader
# --------------------------------------------------------------------------------------------
def _pandas_only(monkeypatch):
    def refuse(header, names):
        raise uread._UsePandas("test")

    monkeypatch.setattr(uread, "_arrow_read", refuse)


def test_pyarrow_reader_equals_pandas_reader(small_cohort, tmp_path, home, monkeypatch):
    rap = _rap_file(tmp_path)
    joined = tmp_path / "joined.tsv"
    write_main(read_main(small_cohort.main, cache=False).wide, joined, "ukbconv_r")
    gz = tmp_path / "m.csv.gz"
    import gzip

    gz.write_bytes(gzip.compress(small_cohort.main.read_bytes()))
    files = [small_cohort.main, rap, joined, gz]
    fast = [read_main(f, cache=False) for f in files]
    _pandas_only(monkeypatch)
    for f, a in zip(files, fast):
        assert_same(a, read_main(f, cache=False))


# --------------------------------------------------------------------------------------------
# damaged files
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cache", [True, False])
def test_ragged_row_is_one_line_error(tmp_path, home, cache):
    p = tmp_path / "main.csv"
    p.write_text("eid,31-0.0,21003-0.0\n1,0,50\n2,1,61\n3,1\n4,0,55\n")
    with pytest.raises(FieldValueError) as e:
        read_main(p, ["sex"], cache=cache)
    assert str(e.value) == "main.csv: line 4 has 2 fields where the header has 3; the file is damaged (rows are shifted)"
    assert not (home / "main").exists() or not any((home / "main").rglob("*.parquet"))
    with pytest.raises(FieldValueError, match="line 4 has 2 fields"):
        convert_main(p, tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_bad_value_message_same_from_cache(tmp_path, home):
    p = tmp_path / "vals.csv"
    p.write_text("eid,21001-0.0,31-0.0\n1,22.5,0\n2,abc,1\n")
    for _ in range(2):  # the second from the cache
        with pytest.raises(FieldValueError) as e:
            read_main(p)
        assert str(e.value) == "vals.csv: column 21001-0.0 has a value that is not continuous: eid 2 has 'abc'"


# --------------------------------------------------------------------------------------------
# convert-main, parquet and column-store inputs
# --------------------------------------------------------------------------------------------
def test_convert_main_round_trip(small_cohort, tmp_path, home, source_reads, capsys):
    p = _copy(small_cohort.main, tmp_path)
    out = tmp_path / "store"
    assert main(["convert-main", str(p), "--out", str(out), "--only", "31,21003", "53", "--quiet"]) == 0
    assert "column store" in capsys.readouterr().out
    from_store = read_main(out)
    assert list(from_store.wide.columns) == ["31-0.0", "53-0.0", "53-2.0", "53-3.0", "21003-0.0", "21003-2.0",
                                             "21003-3.0"][: len(from_store.wide.columns)]
    assert_same(from_store, read_main(p, ["sex", 53, 21003], cache=False))
    assert_same(read_main(out, ["sex"]), read_main(p, ["sex"], cache=False))
    # rewriting the same folder replaces it (atomically); a foreign folder is refused
    assert main(["convert-main", str(p), "--out", str(out), "--only", "31", "--quiet"]) == 0
    assert list(read_main(out).wide.columns) == ["31-0.0"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert main(["convert-main", str(p), "--out", str(other), "--quiet"]) == 2
    assert "convert-main: error:" in capsys.readouterr().err
    # without --out: the cache, so that a later read of the file passes over it no more
    assert main(["convert-main", str(p), "--quiet"]) == 0
    n = len(source_reads)
    assert_same(read_main(p), read_main(p, cache=False))
    assert len(source_reads) == n + 1  # only the cache=False read passed over the file


def test_convert_main_many_parts_and_small_row_groups(small_cohort, tmp_path, home, monkeypatch):
    monkeypatch.setattr(uconvert, "PART_COLUMNS", 50)
    monkeypatch.setattr(uconvert, "_ROW_GROUP_BYTES", 1000)
    monkeypatch.setattr(uread, "_BLOCK_SIZE", 1 << 16)
    out = convert_main(small_cohort.main, tmp_path / "store")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["parts"]) >= 4
    assert_same(read_main(out), read_main(small_cohort.main, cache=False))


def test_parquet_main_data_any_types(tmp_path, home):
    p = _rap_file(tmp_path)
    csv_read = read_main(p, cache=False)
    df = pd.read_csv(p)  # typed columns, as a RAP parquet export has them
    df["p53_i2"] = pd.to_datetime(df["p53_i2"])
    pq_path = tmp_path / "rap.parquet"
    df.to_parquet(pq_path, index=False)
    assert pq.read_schema(pq_path).field("p21003_i2").type == pa.int64()
    assert_same(read_main(pq_path), csv_read)
    folder = tmp_path / "parts"
    folder.mkdir()
    df.iloc[:40].to_parquet(folder / "a.parquet", index=False)
    df.iloc[40:].to_parquet(folder / "b.parquet", index=False)
    md = read_main(folder, ["sex", 21001])
    assert md.wide.shape == (80, 2)
    pd.testing.assert_frame_equal(md.wide.sort_index(), csv_read.wide[["31-0.0", "21001-2.0"]])


def test_folder_that_is_no_store_is_one_line_error(tmp_path, home):
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(NotATableError, match="is a folder"):
        read_main(d)
    (d / "manifest.json").write_text("{}")
    with pytest.raises(NotATableError, match="not a cardiolatent column store"):
        read_main(d)
