"""The latents object: one reader for long and wide tables, one visit rule, one rule for a table
without ``instance``, exclusions with reasons, the same object from parquet, TSV and CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import Latents, read_latents


def long_table() -> pd.DataFrame:
    """Six participants, seeds 42 and 1701 (given in that order), 3 latents; eid 3 and 4 have both
    visits, eid 5 only visit 3, eid 6 lacks seed 42 at visit 2, eid 2 has a NaN for seed 1701."""
    rng = np.random.default_rng(0)
    rows = []
    for eid, inst in [(1, 2), (2, 2), (3, 2), (3, 3), (4, 2), (4, 3), (5, 3), (6, 2)]:
        for seed in (42, 1701):
            if eid == 6 and seed == 42:
                continue
            z = rng.normal(size=3).astype(np.float32)
            if eid == 2 and seed == 1701:
                z[1] = np.nan
            rows.append({"eid": eid, "instance": inst, "seed": seed, "Z0": z[0], "Z1": z[1], "Z2": z[2]})
    return pd.DataFrame(rows)


def test_long_table_made_wide_with_reasons():
    long = long_table()
    L = read_latents(long)
    assert isinstance(L, Latents) and L.visits == "prefer2"
    assert L.seeds == (1701, 42)  # the paper's order, whatever the table's
    assert L.columns == [f"S{s}_Z{k}" for s in (1701, 42) for k in range(3)]
    assert L.values.dtype == np.float32  # kept as the encoder wrote it
    assert list(map(tuple, L.keys.values)) == [(1, 2), (3, 2), (4, 2), (5, 3)]
    ex = {(r.eid, r.instance): (r.reason, r.seeds) for r in L.excluded.itertuples()}
    assert ex == {(2, 2): ("nan_latents", "1701"), (6, 2): ("missing_seeds", "42"),
                  (3, 3): ("repeat_visit_not_used", ""), (4, 3): ("repeat_visit_not_used", "")}
    # values land where the long table has them
    v = long[(long.eid == 4) & (long.instance == 2) & (long.seed == 42)]["Z2"].iloc[0]
    assert L.table.loc[L.table.eid == 4, "S42_Z2"].iloc[0] == v
    both = read_latents(long, visits="both")
    assert list(map(tuple, both.keys.values)) == [(1, 2), (3, 2), (3, 3), (4, 2), (4, 3), (5, 3)]
    assert set(both.excluded["reason"]) == {"nan_latents", "missing_seeds"}
    assert "6 rows" in repr(both) and "seeds 1701, 42" in repr(both)


def test_wide_table_rule_without_instance():
    L = read_latents(pd.DataFrame({"eid": [3, 1, 2], "E_Z0": [0.1, 0.2, 0.3], "E_Z1": [1.0, 2.0, 3.0]}))
    assert L.keys["instance"].tolist() == [2, 2, 2] and L.keys["eid"].tolist() == [1, 2, 3]
    assert L.values.dtype == np.float64 and L.seeds == ()
    with pytest.raises(CardiolatentError, match="several rows for the same participant and visit, e.g. eid 1"):
        read_latents(pd.DataFrame({"eid": [1, 1], "E_Z0": [0.1, 0.2]}))
    # with instance: visit 3 dropped (and listed) where visit 2 exists
    W = read_latents(pd.DataFrame({"eid": [1, 1, 2], "instance": [2, 3, 3], "S7_Z0": [1.0, 2.0, 3.0]}))
    assert list(map(tuple, W.keys.values)) == [(1, 2), (2, 3)] and W.seeds == (7,)
    assert W.excluded[["eid", "instance", "reason"]].values.tolist() == [[1, 3, "repeat_visit_not_used"]]


def test_a_wide_table_at_the_baseline_visit():
    """Scores fixed at the baseline assessment (polygenic scores of people outside the imaging study) are a
    wide table with instance 0 in every row; mixed with imaging rows, or as encoder output, an error."""
    L = read_latents(pd.DataFrame({"eid": [2, 1], "instance": [0, 0], "PRS": [0.5, -0.5]}))
    assert list(map(tuple, L.keys.values)) == [(1, 0), (2, 0)] and L.values[:, 0].tolist() == [-0.5, 0.5]
    assert L.excluded.empty
    with pytest.raises(CardiolatentError, match=r"baseline visit \(instance 0\) and at imaging visits"):
        read_latents(pd.DataFrame({"eid": [1, 2], "instance": [0, 2], "PRS": [0.5, -0.5]}))
    long = pd.DataFrame({"eid": [1], "instance": [0], "seed": [1701], "Z0": [0.1]})
    with pytest.raises(CardiolatentError, match=r"instance\(s\) \[0\]; imaging instances are 2 and 3$"):
        read_latents(long)


@pytest.mark.parametrize("bad, match", [
    (pd.DataFrame({"eid": ["a1", "2"], "Z0": [1.0, 2.0], "instance": 2, "seed": 1}), "column 'eid' must hold whole"),
    (pd.DataFrame({"eid": [1, 2], "instance": [2, 5], "S1_Z0": [1.0, 2.0]}), r"instance\(s\) \[5\]"),
    (pd.DataFrame({"eid": [1, None], "S1_Z0": [1.0, 2.0]}), "missing values in column 'eid'"),
    (pd.DataFrame({"id": [1], "S1_Z0": [1.0]}), "no 'eid' column"),
    (pd.DataFrame({"eid": [1], "name": ["x"]}), "no numeric latent columns"),
])
def test_bad_tables_are_one_clear_error(bad, match):
    with pytest.raises(CardiolatentError, match=match):
        read_latents(bad)


def test_same_object_from_parquet_tsv_csv(tmp_path):
    long = long_table()
    ref = read_latents(long)
    for name in ("l.parquet", "l.tsv", "l.csv", "l.tsv.gz"):
        path = tmp_path / name
        if name.endswith(".parquet"):
            long.to_parquet(path)
        else:
            long.to_csv(path, sep="," if ".csv" in name else "\t", index=False)
        L = read_latents(path)
        assert L.source == str(path)
        assert L.columns == ref.columns and L.keys.equals(ref.keys)
        # text keeps the float32 values exactly (read back as float64 of the same decimal)
        np.testing.assert_array_equal(L.values.astype(np.float32), ref.values)
        pd.testing.assert_frame_equal(L.excluded, ref.excluded)
    with pytest.raises(CardiolatentError, match="latents table not found: .*nope.tsv"):
        read_latents(tmp_path / "nope.tsv")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(CardiolatentError, match="empty"):
        read_latents(tmp_path / "empty.tsv")


def test_selection_and_seeds():
    L = read_latents(long_table())
    sub = read_latents(L, columns="S42_Z[01]")
    assert sub.columns == ["S42_Z0", "S42_Z1"] and sub.seeds == (42,) and sub.n_rows == L.n_rows
    assert read_latents(long_table(), seeds=[42]).columns == ["S42_Z0", "S42_Z1", "S42_Z2"]
    assert list(L.seed_columns([42, 1701])) == [42, 1701]
    with pytest.raises(CardiolatentError, match="no latent column .* matches 'nope'"):
        L.select("nope")
    with pytest.raises(CardiolatentError, match=r"seed\(s\) 5 not in"):
        read_latents(long_table(), seeds=[5])
    rows = L.rows(L.keys["eid"].to_numpy() > 3)
    assert rows.keys["eid"].tolist() == [4, 5] and rows.values.shape == (2, 6)
