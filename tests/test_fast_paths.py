"""The paper-scale fast paths give the answers of the plain computations they replace.

- ``read_latents`` of a long parquet file (pyarrow straight into one matrix, numpy pivot) against
  an independent pandas reference of the long -> wide rule, and against the DataFrame path;
- ``standardise`` (complete columns by blocks) against the textbook formula; float32 input;
- ``average_ranks`` against ``scipy.stats.rankdata``; ``inverse_normal`` unchanged by it;
- the M_eff correlation from float32 data by row blocks against ``numpy.corrcoef``;
- ICC mean squares from cross-products against the ratings-array computation, and
  ``icc --between seeds`` on complete data against an ICC of the explicitly built rater array;
- a trait asked for by field id finds its column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import read_latents
from cardiolatent.stats import intraclass as icc_mod
from cardiolatent.stats.independent_tests import (centred_cross_products, correlation,
                                                  correlation_from_cross_products)
from cardiolatent.stats.transforms import average_ranks, inverse_normal, standardise


# --------------------------------------------------------------------------------------------
# read_latents: long parquet
# --------------------------------------------------------------------------------------------

def _long_table(seed: int, seeds=(1701, 1993, 42), d: int = 4, n: int = 60, dtype=np.float32):
    """Long latents with repeat visits, a missing seed here and there and NaN latents; shuffled."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in rng.choice(10_000, n, replace=False):
        for inst in ([2], [3], [2, 3])[rng.integers(3)]:
            for s in seeds:
                if rng.random() < 0.08:
                    continue  # a seed missing for this visit
                rows.append((int(e), inst, s))
    df = pd.DataFrame(rows, columns=["eid", "instance", "seed"]).sample(frac=1, random_state=seed)
    z = rng.standard_normal((len(df), d)).astype(dtype)
    z[rng.random(z.shape) < 0.02] = np.nan
    for k in range(d):
        df[f"Z{k}"] = z[:, k]
    return df.reset_index(drop=True)


def _reference_wide(long: pd.DataFrame, visits: str, order) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long -> wide rule written out with pandas groupby/pivot (independent of the package)."""
    zc = [c for c in long.columns if c.startswith("Z")]
    df = long[long["seed"].isin(order)]
    repeat = pd.DataFrame(columns=["eid", "instance"])
    if visits == "prefer2":
        has2 = set(df.loc[df["instance"] == 2, "eid"])
        drop = (df["instance"] == 3) & df["eid"].isin(has2)
        repeat = df.loc[drop, ["eid", "instance"]].drop_duplicates().sort_values("eid")
        df = df[~drop]
    ok = df[~df[zc].isna().any(axis=1)]
    n_ok = ok.groupby(["eid", "instance"]).size()
    keys = df[["eid", "instance"]].drop_duplicates().sort_values(["eid", "instance"])
    complete = [k for k in keys.itertuples(index=False) if n_ok.get((k.eid, k.instance), 0) == len(order)]
    wide = ok.pivot_table(index=["eid", "instance"], columns="seed", values=zc, aggfunc="first")
    wide = wide.loc[pd.MultiIndex.from_tuples(complete, names=["eid", "instance"])] if complete else wide.iloc[:0]
    wide = wide[[(z, s) for s in order for z in zc]]
    wide.columns = [f"S{s}_{z}" for z, s in wide.columns]
    excl = []
    for k in keys.itertuples(index=False):
        if (k.eid, k.instance) in set(map(tuple, complete)):
            continue
        part = df[(df["eid"] == k.eid) & (df["instance"] == k.instance)]
        good = set(part.loc[~part[zc].isna().any(axis=1), "seed"])
        reason = "missing_seeds" if set(order) - set(part["seed"]) else "nan_latents"
        excl.append((k.eid, k.instance, reason, ",".join(str(s) for s in order if s not in good)))
    excl += [(r.eid, r.instance, "repeat_visit_not_used", "") for r in repeat.itertuples(index=False)]
    return wide.reset_index(), pd.DataFrame(excl, columns=["eid", "instance", "reason", "seeds"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("visits", ["prefer2", "both"])
@pytest.mark.parametrize("seeds", [None, (42, 1701)])
def test_long_parquet_equals_reference_and_dataframe_path(tmp_path, dtype, visits, seeds):
    long = _long_table(3, dtype=dtype)
    path = tmp_path / "lat.parquet"
    long.to_parquet(path, index=False)
    order = seeds or (1701, 1993, 42)
    ref, ref_ex = _reference_wide(long, visits, order)
    for got in (read_latents(path, visits=visits, seeds=seeds), read_latents(long, visits=visits, seeds=seeds)):
        assert got.values.dtype == dtype
        assert got.columns == [c for c in ref.columns if c not in ("eid", "instance")]
        np.testing.assert_array_equal(got.keys["eid"], ref["eid"])
        np.testing.assert_array_equal(got.keys["instance"], ref["instance"])
        np.testing.assert_array_equal(got.values, ref[got.columns].to_numpy(dtype))
        ex = got.excluded
        assert list(zip(ex["eid"], ex["instance"], ex["reason"], ex["seeds"])) == \
            list(zip(ref_ex["eid"], ref_ex["instance"], ref_ex["reason"], ref_ex["seeds"]))
        assert got.counts["rows"] == len(ref)
        assert got.seeds == tuple(order)


def test_long_parquet_nulls_are_missing_latents(tmp_path):
    """Arrow nulls (not NaN) in a latent column count as missing values (nan_latents)."""
    long = _long_table(4, seeds=(1701, 42), n=20)
    long = long.fillna(0.5)
    arrays = {c: pa.array(long[c].to_numpy()) for c in ("eid", "instance", "seed")}
    z0 = long["Z0"].to_numpy().astype(object)
    z0[3] = None
    arrays["Z0"] = pa.array(list(z0), type=pa.float32())
    for c in ("Z1", "Z2", "Z3"):
        arrays[c] = pa.array(long[c].to_numpy())
    path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table(arrays), path)
    got = read_latents(path, visits="both")
    key = (long.loc[3, "eid"], long.loc[3, "instance"])
    ex = got.excluded.set_index(["eid", "instance"])
    assert ex.loc[key, "reason"] in ("nan_latents", "missing_seeds")
    assert key not in set(zip(got.keys["eid"], got.keys["instance"]))
    expect = read_latents(long.assign(Z0=np.where(np.arange(len(long)) == 3, np.nan, long["Z0"])), visits="both")
    np.testing.assert_array_equal(got.values, expect.values)


def test_long_parquet_errors_name_the_file(tmp_path):
    long = _long_table(5, n=10)
    dup = pd.concat([long, long.iloc[:2]], ignore_index=True)
    path = tmp_path / "dup.parquet"
    dup.to_parquet(path, index=False)
    with pytest.raises(CardiolatentError, match="several rows for the same eid/instance/seed"):
        read_latents(path)
    bad = long.assign(instance=np.where(np.arange(len(long)) == 0, 1, long["instance"]))
    bad.to_parquet(path, index=False)
    with pytest.raises(CardiolatentError, match=r"instance\(s\) \[1\]"):
        read_latents(path)
    with pytest.raises(CardiolatentError, match="seed\\(s\\) 7 not in"):
        long.to_parquet(path, index=False) or read_latents(path, seeds=[7])


# --------------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------------

def test_standardise_complete_blocks_equal_the_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(50, 7, size=(3000, 150))
    x[:, 7] = 3.25  # constant -> NaN
    got = standardise(x)
    ref = (x - x.mean(0)) / x.std(0, ddof=1)
    ref[:, 7] = np.nan
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert np.isnan(got[:, 7]).all()
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(standardise(x32), standardise(x32.astype(np.float64)))
    # with a missing value the NaN-aware path gives the same numbers for the other columns
    xm = x.copy()
    xm[5, 3] = np.nan
    np.testing.assert_allclose(standardise(xm)[:, 4:], got[:, 4:], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("axis", [0, 1])
def test_average_ranks_equal_scipy_rankdata_with_ties_and_nan(axis):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, size=(40, 7)).astype(float)
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 2] = np.nan  # a column with nothing observed
    ref = stats.rankdata(x, method="average", axis=axis, nan_policy="omit")
    np.testing.assert_array_equal(average_ranks(x, axis=axis), ref)
    c = 3.0 / 8.0
    n = (~np.isnan(x)).sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(inverse_normal(x, axis=axis), stats.norm.ppf((ref - c) / (n - 2 * c + 1)),
                                   rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------------------------
# M_eff correlation, ICC from cross-products
# --------------------------------------------------------------------------------------------

def test_correlation_float32_by_row_blocks_equals_corrcoef():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((20_000, 12)) @ rng.standard_normal((12, 12)) + 100).astype(np.float32)
    x[:, 4] = 7.0
    r, n = correlation(x)
    ref = np.corrcoef(x.astype(np.float64), rowvar=False)
    keep = np.arange(12) != 4
    np.testing.assert_allclose(r[np.ix_(keep, keep)], ref[np.ix_(keep, keep)], rtol=0, atol=1e-12)
    assert n == 20_000 and np.isnan(r[4]).all() and np.isnan(r[:, 4]).all()
    G, mean, scale = centred_cross_products(x, block=777)  # blocks that do not divide n
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-13)
    np.testing.assert_allclose(correlation_from_cross_products(G, n, scale)[np.ix_(keep, keep)],
                               ref[np.ix_(keep, keep)], rtol=0, atol=1e-12)


def _ratings(seed: int, n=500, k=4, m=6):
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((n, 1, m))
    return truth * rng.uniform(0.5, 2, m) + rng.normal(0, 0.6, (n, k, m)) + rng.normal(0, 0.3, (1, k, m))


def test_mean_squares_from_cross_products_equal_the_ratings_computation():
    x = _ratings(3)
    n, k, m = x.shape
    x[:, :, 5] = 2.5  # constant variable
    y = x - x.mean(axis=0, keepdims=True)
    C = np.einsum("iav,ibv->vab", y, y)
    got = icc_mod.mean_squares_from_gram(C, x.mean(axis=0).T, n)
    ref = icc_mod.mean_squares(x)
    for f in ("msr", "mse", "msc", "msw"):
        np.testing.assert_allclose(getattr(got, f)[:5], getattr(ref, f)[:5], rtol=1e-11)
    np.testing.assert_array_equal(got.constant, ref.constant)
    t_got = icc_mod.table_from_mean_squares(got, [f"v{j}" for j in range(m)])
    t_ref = icc_mod.icc(x, variables=[f"v{j}" for j in range(m)])
    pd.testing.assert_frame_equal(t_got, t_ref, rtol=1e-9, atol=1e-12)


def test_icc_between_seeds_complete_data_equals_the_rater_array(tmp_path):
    """The cross-product path of icc_between_seeds against an ICC of the explicitly built,
    sign-corrected and z-scored rater array of the same best partners."""
    from cardiolatent.analysis.reproducibility import icc_between_seeds

    rng = np.random.default_rng(7)
    n, d, seeds = 800, 5, (1701, 1993, 42)
    F = rng.standard_normal((n, d))
    rows = []
    for s in seeds:
        r = np.random.default_rng(s)
        perm, sign = r.permutation(d), r.choice([-1.0, 1.0], d)
        Z = F[:, perm] * sign * r.uniform(0.5, 2, d) + r.uniform(-3, 3, d) + 0.5 * r.standard_normal((n, d))
        df = pd.DataFrame(Z.astype(np.float32), columns=[f"Z{k}" for k in range(d)])
        df.insert(0, "seed", s)
        df.insert(0, "instance", 2)
        df.insert(0, "eid", np.arange(n) + 1000)
        rows.append(df)
    long = pd.concat(rows, ignore_index=True)
    for standardise_ in (True, False):
        res = icc_between_seeds(long, standardise=standardise_)
        L = read_latents(long)
        x = np.empty((n, len(seeds), d))
        for v in range(d):
            x[:, 0, v] = L.table[f"S1701_Z{v}"].to_numpy(np.float64)
        m = res.matching.set_index(["latent", "seed"])
        for j, s in enumerate(seeds[1:]):
            for v in range(d):
                row = m.loc[(f"S1701_Z{v}", s)]
                x[:, 1 + j, v] = row["sign"] * L.table[row["partner"]].to_numpy(np.float64)
        if standardise_:
            x = (x - x.mean(axis=0)) / x.std(axis=0)
        ref = icc_mod.icc(x, variables=[f"S1701_Z{v}" for v in range(d)])
        got = res.table
        for c in ("icc", "ci_low", "ci_high", "f", "df1", "df2", "p", "n"):
            np.testing.assert_allclose(got[c].to_numpy(float), ref[c].to_numpy(float), rtol=1e-9, atol=1e-12)
        assert (got["reason"] == ref["reason"]).all()


# --------------------------------------------------------------------------------------------
# assoc: a trait by field id
# --------------------------------------------------------------------------------------------

def test_assoc_trait_by_field_id_is_the_named_trait(gwas_cohort):
    from cardiolatent.analysis.association import association_scan
    from cardiolatent.analysis.design import fields_needed
    from cardiolatent.ukb.read import read_main

    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(1)
    lat = truth[["eid", "instance"]].assign(seed=1701, Z0=rng.standard_normal(len(truth)),
                                            Z1=truth["lvedv_ml"] + rng.normal(0, 10, len(truth)))
    main = read_main(gwas_cohort.main, fields_needed(["height", "age", "sex"]), missing_ok=True)
    by_id = association_scan(lat, main, "50", "age,sex").table
    by_name = association_scan(lat, main, "height", "age,sex").table
    assert set(by_id["trait"]) == {"height"}
    pd.testing.assert_frame_equal(by_id, by_name)


# --------------------------------------------------------------------------------------------
# assoc: the scan on the stored latents, scaled afterwards
# --------------------------------------------------------------------------------------------

def test_ols_scan_float32_responses_and_scaling_after_equal_standardising_first():
    from cardiolatent.stats.ols import ols_scan
    from cardiolatent.stats.transforms import column_sd

    rng = np.random.default_rng(11)
    n = 3000
    C = np.c_[rng.normal(60, 8, n), rng.integers(0, 2, n)]
    X = rng.standard_normal((n, 3))
    X[rng.random(n) < 0.1, 1] = np.nan
    Y = (rng.standard_normal((n, 6)) * rng.uniform(0.5, 30, 6) + 0.2 * X[:, [0]] + 0.01 * C[:, [0]]
         + rng.uniform(-50, 50, 6)).astype(np.float32)
    a = ols_scan(Y, X, C)
    b = ols_scan(Y.astype(np.float64), X, C)
    for c in ("beta", "se", "t", "p"):
        np.testing.assert_allclose(a[c], b[c], rtol=1e-12, atol=0)
    std = ols_scan(standardise(Y), X, C)
    sd = np.repeat(column_sd(Y), 3)
    np.testing.assert_allclose(a["beta"] / sd, std["beta"], rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(a["se"] / sd, std["se"], rtol=1e-12)
    np.testing.assert_allclose(a["t"], std["t"], rtol=1e-10, atol=1e-12)
    assert (a["n"] == std["n"]).all()
    assert column_sd(np.c_[Y[:, :2], np.full(n, np.nan)]) is None


# --------------------------------------------------------------------------------------------
# cox: Harrell's C with and without tied predictions, several top-level blocks
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("decimals", [0, 1, None])
def test_harrell_c_equals_lifelines_with_and_without_ties(decimals):
    from lifelines.utils import concordance_index

    from cardiolatent.stats.cox import harrell_c

    rng = np.random.default_rng(decimals or 5)
    n = 17_000  # three blocks of the top level (8192 rows)
    t = np.round(rng.exponential(1, n), 1) + 0.1  # tied times
    e = (rng.random(n) < 0.2).astype(float)
    s = rng.standard_normal((n, 2))
    if decimals is not None:
        s = np.round(s, decimals)  # tied predictions (many with 0 decimals)
    got = harrell_c(t, e, s)
    for k in range(2):
        assert got[k] == pytest.approx(concordance_index(t, -s[:, k], e), abs=1e-15)
