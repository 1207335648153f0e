"""Cross-seed step: wide table, matching, consensus selection, R^2, Hungarian-aligned ensemble."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from cardiolatent.encode import ensemble as E
from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import read_latents

SEEDS = (1701, 1993, 42, 1994, 2023)
N_SHARED, N_LAT = 10, 16


def planted(n=400, seed=0, noise=0.2):
    """Long latents: each seed's latents are a permutation + sign flip + scale of shared factors
    plus noise (N_SHARED latents) and N_LAT - N_SHARED independent noise latents.

    Returns (long table, truth) with truth[seed] = (perm, sign) such that seed latent perm[f]
    carries factor f with sign sign[f].
    """
    rng = np.random.default_rng(seed)
    eids = np.arange(1000001, 1000001 + n, dtype=np.int64)
    factors = rng.standard_normal((n, N_SHARED))
    frames, truth = [], {}
    for s in SEEDS:
        perm = rng.permutation(N_LAT)[:N_SHARED]  # latent index holding factor f
        sign = rng.choice([-1.0, 1.0], N_SHARED)
        scale = rng.uniform(0.5, 3.0, N_LAT)
        z = rng.standard_normal((n, N_LAT))  # noise latents by default
        z[:, perm] = factors * sign + noise * rng.standard_normal((n, N_SHARED))
        z = z * scale + rng.normal(0, 1, N_LAT)
        df = pd.DataFrame(z.astype(np.float32), columns=[f"Z{k}" for k in range(N_LAT)])
        df.insert(0, "seed", s)
        df.insert(0, "instance", 2)
        df.insert(0, "eid", eids)
        frames.append(df)
        truth[s] = (perm, sign)
    return pd.concat(frames, ignore_index=True), truth


@pytest.fixture(scope="module")
def data():
    long, truth = planted()
    return long, truth, read_latents(long)


def test_long_latents_made_wide_columns_and_order(data):
    long, _, w = data
    assert list(w.table.columns[:2]) == ["eid", "instance"]
    expect = [f"S{s}_Z{k}" for s in SEEDS for k in range(N_LAT)]
    assert list(w.table.columns[2:]) == expect
    assert w.seeds == SEEDS
    assert len(w.table) == 400 and len(w.excluded) == 0
    row = long[(long.eid == 1000005) & (long.seed == 42)].iloc[0]
    got = w.table.loc[w.table.eid == 1000005, "S42_Z3"].iloc[0]
    assert got == row["Z3"]
    assert w.table["S42_Z3"].dtype == np.float32


def test_cross_seed_matching_recovers_permutation_and_sign(data):
    _, truth, w = data
    m = E.cross_seed_matching(w)
    assert list(m.columns) == ["seed", "latent", "other_seed", "best_partner", "r"]
    assert len(m) == 5 * 4 * N_LAT
    for a in SEEDS:
        for b in SEEDS:
            if a == b:
                continue
            pa, sa = truth[a]
            pb, sb = truth[b]
            sub = m[(m.seed == a) & (m.other_seed == b)].set_index("latent")
            for f in range(N_SHARED):
                row = sub.loc[pa[f]]
                assert row.best_partner == pb[f]
                assert np.sign(row.r) == sa[f] * sb[f]
                assert abs(row.r) > 0.9
            noise = sorted(set(range(N_LAT)) - set(pa))
            assert (sub.loc[noise, "r"].abs() < 0.5).all()


def test_matching_correlations_equal_numpy(data):
    _, _, w = data
    m = E.cross_seed_matching(w, seeds=(42, 2023))
    row = m[(m.seed == 42) & (m.latent == 0)].iloc[0]
    x = w.table["S42_Z0"].to_numpy(float)
    r = [np.corrcoef(x, w.table[f"S2023_Z{k}"].to_numpy(float))[0, 1] for k in range(N_LAT)]
    k = int(np.argmax(np.abs(r)))
    assert row.best_partner == k and row.r == pytest.approx(r[k], abs=1e-9)


def test_consensus_picks_exactly_shared(data):
    _, truth, w = data
    c = E.consensus(w, threshold=0.8)
    expect = {f"S{s}_Z{k}" for s in SEEDS for k in truth[s][0]}
    assert set(c.selected) == expect and len(c.selected) == 5 * N_SHARED
    # pairs: only later seeds, one row per latent of seed i per later seed j
    assert len(c.pairs) == N_LAT * (4 + 3 + 2 + 1)
    order = {s: i for i, s in enumerate(SEEDS)}
    assert (c.pairs.seed.map(order) < c.pairs.other_seed.map(order)).all()
    assert c.pairs.kept.sum() == N_SHARED * 10
    # a stricter threshold than the planted correlation keeps nothing
    assert E.consensus(w, threshold=0.999).selected == []
    assert 0.5 < c.r2 < 1
    sel = c.r2_per_column[c.r2_per_column.selected]
    np.testing.assert_allclose(sel.r2, 1.0, atol=1e-9)


def test_consensus_r2_matches_sklearn(data):
    from sklearn.linear_model import LinearRegression

    _, _, w = data
    c = E.consensus(w, threshold=0.8)
    cols = [col for col in w.table.columns if col.startswith("S")]
    x = w.table[cols].to_numpy(float)
    z = (x - x.mean(0)) / x.std(0)
    zdf = pd.DataFrame(z, columns=cols)
    xs = zdf[c.selected].to_numpy()
    fit = LinearRegression().fit(xs, z)
    resid = z - fit.predict(xs)
    rss = (resid ** 2).sum(0)
    tss = ((z - z.mean(0)) ** 2).sum(0)
    assert c.r2 == pytest.approx(1 - rss.sum() / tss.sum(), abs=1e-9)
    np.testing.assert_allclose(c.r2_per_column.r2.to_numpy(), 1 - rss / tss, atol=1e-9)
    # and the numpy helper directly on raw (unstandardised) columns, with a subset of predictors
    r2_raw = E.multivariate_r2(x, x[:, :7])
    fit2 = LinearRegression().fit(x[:, :7], x)
    res2 = ((x - fit2.predict(x[:, :7])) ** 2).sum(0)
    np.testing.assert_allclose(r2_raw, 1 - res2 / ((x - x.mean(0)) ** 2).sum(0), atol=1e-8)


def test_ensemble_alignment_and_average(data):
    _, truth, w = data
    res = E.ensemble(w)
    assert res.reference == 1701
    pr, sr = truth[1701]
    mt = res.matching
    assert set(mt.seed) == set(SEEDS[1:]) and len(mt) == 4 * N_LAT
    for s in SEEDS[1:]:
        ps, ss = truth[s]
        sub = mt[mt.seed == s].set_index("latent")
        for f in range(N_SHARED):
            assert sub.loc[ps[f], "matched_to"] == pr[f]
            assert sub.loc[ps[f], "sign"] == sr[f] * ss[f]
        # one-to-one
        assert sub.matched_to.is_unique
    # hand-computed aligned mean
    t = w.table
    hand = np.zeros((len(t), N_LAT))
    hand += t[[f"S1701_Z{k}" for k in range(N_LAT)]].to_numpy(float)
    for s in SEEDS[1:]:
        sub = mt[mt.seed == s]
        for lat, to, sg in zip(sub.latent, sub.matched_to, sub.sign):
            hand[:, int(to)] += int(sg) * t[f"S{s}_Z{lat}"].to_numpy(float)
    hand /= len(SEEDS)
    got = res.table[[f"E_Z{k}" for k in range(N_LAT)]].to_numpy(float)
    np.testing.assert_allclose(got, hand, rtol=1e-5, atol=1e-5)
    assert list(res.table.columns[:2]) == ["eid", "instance"]
    # agreement: shared latents high, noise latents low
    ag = res.agreement.set_index("latent")
    assert (ag.loc[list(pr), "min_abs_r"] > 0.9).all()
    noise = sorted(set(range(N_LAT)) - set(pr))
    assert (ag.loc[noise, "mean_abs_r"] < 0.5).all()
    assert (ag.n_seeds == 5).all()


def test_ensemble_other_reference_and_standardise(data):
    _, truth, w = data
    res = E.ensemble(w, reference=42, standardise=True)
    assert res.reference == 42 and set(res.matching.seed) == {1701, 1993, 1994, 2023}
    e = res.table[[f"E_Z{k}" for k in truth[42][0]]].to_numpy(float)
    # the mean of 5 sign-aligned z-scores correlates strongly with the reference latent
    for j, k in enumerate(truth[42][0]):
        assert abs(np.corrcoef(e[:, j], w.table[f"S42_Z{k}"])[0, 1]) > 0.95
    with pytest.raises(CardiolatentError):
        E.ensemble(w, reference=7)


def _visit_table():
    long, _ = planted(n=12, seed=3)
    v3 = long[long.eid.isin([1000001, 1000002])].copy()  # both visits
    v3["instance"] = 3
    only3 = long[long.eid.isin([1000003, 1000004])].copy()  # only visit 3
    only3["instance"] = 3
    rest = long[~long.eid.isin([1000003, 1000004])]
    return pd.concat([rest, v3, only3], ignore_index=True)


def test_visit_preference():
    long = _visit_table()
    w = read_latents(long)
    inst = w.table.set_index("eid")["instance"]
    assert inst.index.is_unique and len(inst) == 12
    assert inst[1000001] == 2 and inst[1000002] == 2
    assert inst[1000003] == 3 and inst[1000004] == 3
    assert (inst.drop([1000003, 1000004]) == 2).all()
    assert w.counts["visit3_rows_used"] == 2 and w.counts["visit3_rows_not_used"] == 2
    both = read_latents(long, visits="both")
    assert len(both.table) == 14
    assert set(map(tuple, both.table.loc[both.table.eid == 1000001, ["eid", "instance"]].values)) == {
        (1000001, 2), (1000001, 3)}


def test_incomplete_participants_reported():
    long = _visit_table()
    # eid 1000005: no seed 42 at visit 2; eid 1000006: NaN latents for seed 2023
    long = long[~((long.eid == 1000005) & (long.seed == 42))].copy()
    long.loc[(long.eid == 1000006) & (long.seed == 2023), "Z4"] = np.nan
    # eid 1000001: visit 2 incomplete although visit 3 is complete -> excluded, no fallback
    long = long[~((long.eid == 1000001) & (long.instance == 2) & (long.seed == 1993))]
    w = read_latents(long)
    # a repeat visit not used is listed, but is not a participant left out of the cross-seed step
    rep = w.excluded[w.excluded.reason == "repeat_visit_not_used"]
    assert set(map(tuple, rep[["eid", "instance"]].values)) == {(1000001, 3), (1000002, 3)}
    ex = E.participants_excluded(w).set_index("eid")
    assert set(ex.index) == {1000001, 1000005, 1000006}
    assert ex.loc[1000005, "reason"] == "missing_seeds" and ex.loc[1000005, "seeds"] == "42"
    assert ex.loc[1000006, "reason"] == "nan_latents" and ex.loc[1000006, "seeds"] == "2023"
    assert ex.loc[1000001, "instance"] == 2
    assert not w.table.eid.isin(ex.index).any()
    assert len(w.table) == 9
    assert w.counts["excluded"] == 3
    # with "both", only the incomplete visit is excluded
    b = read_latents(long, visits="both")
    assert (1000001, 3) in set(map(tuple, b.table[["eid", "instance"]].values))


def test_input_errors():
    long, _ = planted(n=10)
    with pytest.raises(CardiolatentError, match="several rows"):
        read_latents(pd.concat([long, long.head(1)]))
    bad = long.copy()
    bad.loc[0, "instance"] = 0
    with pytest.raises(CardiolatentError, match="instance"):
        read_latents(bad)
    # without a seed column the rows are read as a wide table: five rows per participant and visit
    with pytest.raises(CardiolatentError, match="several rows for the same participant and visit"):
        read_latents(long.drop(columns="seed"))
    with pytest.raises(CardiolatentError, match="not in the latents table"):
        E.consensus(read_latents(long), seeds=(1701, 5))


def test_nan_rows_dropped_for_correlations(data):
    _, truth, w = data
    t = w.table.copy()
    t.loc[:9, "S1993_Z0"] = np.nan
    c = E.consensus(t)
    assert c.n_rows == 390
    assert set(c.selected) == {f"S{s}_Z{k}" for s in SEEDS for k in truth[s][0]}
    res = E.ensemble(t)
    assert res.table.iloc[:10].isna().any(axis=1).all()
    assert res.table.iloc[10:].notna().all().all()


def test_command_run(tmp_path):
    from cardiolatent.commands import ensemble as cmd

    long, truth = planted(n=150, seed=5)
    long = long[~((long.eid == 1000002) & (long.seed == 1994))]
    src = tmp_path / "latents.parquet"
    long.to_parquet(src, index=False)
    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    out = tmp_path / "out"
    args = parser.parse_args(["--latents", str(src), "--out", str(out), "--reference", "1993", "--quiet"])
    assert cmd.run(args) == 0
    for name in ["consensus_wide.parquet", "ensemble_wide.parquet", "matching.tsv", "consensus_pairs.tsv",
                 "agreement.tsv", "excluded.tsv", "summary.json", "consensus_r2.tsv"]:
        assert (out / name).exists(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    cw = pd.read_parquet(out / "consensus_wide.parquet")
    assert list(cw.columns[:2]) == ["eid", "instance"]
    assert set(cw.columns[2:]) == {f"S{s}_Z{k}" for s in SEEDS for k in truth[s][0]}
    assert len(cw) == 149
    ew = pd.read_parquet(out / "ensemble_wide.parquet")
    assert list(ew.columns) == ["eid", "instance"] + [f"E_Z{k}" for k in range(N_LAT)]
    ex = pd.read_csv(out / "excluded.tsv", sep="\t")
    assert ex.eid.tolist() == [1000002] and ex.reason.tolist() == ["missing_seeds"]
    summ = json.loads((out / "summary.json").read_text())
    assert summ["consensus"]["n_selected"] == 50 and summ["consensus"]["threshold"] == 0.8
    assert summ["ensemble"]["reference"] == 1993
    assert summ["excluded"] == 1 and summ["rows"] == 149
    mt = pd.read_csv(out / "matching.tsv", sep="\t")
    assert set(mt.seed) == {1701, 42, 1994, 2023}

    # a wide input (paper's public form) is accepted too
    wide_src = tmp_path / "wide.tsv"
    read_latents(long).table.drop(columns="instance").to_csv(wide_src, sep="\t", index=False)
    args = parser.parse_args(["--latents", str(wide_src), "--out", str(tmp_path / "out2"), "--quiet"])
    assert cmd.run(args) == 0
    assert json.loads((tmp_path / "out2" / "summary.json").read_text())["consensus"]["n_selected"] == 50

    args = parser.parse_args(["--latents", str(tmp_path / "nope.parquet"), "--out", str(out)])
    with pytest.raises(CardiolatentError, match="not found"):
        cmd.run(args)
