"""ICC (all six Shrout-Fleiss forms) vs pingouin, M_eff closed forms, reproducibility command end to end."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from _latents_helpers import long_rows
from cardiolatent.analysis import reproducibility as rep
from cardiolatent.errors import CardiolatentError
from cardiolatent.stats import intraclass as I
from cardiolatent.stats import independent_tests as M

# pingouin 0.7 names: ICC1, ICC(A,1), ICC(C,1), ICC1k, ICC(A,k), ICC(C,k) in this row order
PG_ORDER = ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
RTOL = 1e-10


@pytest.fixture
def unrounded_pingouin():
    """pingouin rounds CI95 to 2 decimals by default; switch that off to compare to 1e-10."""
    old = pg.options.get("round.column.CI95")
    pg.options["round.column.CI95"] = None
    yield
    pg.options["round.column.CI95"] = old


def pingouin_icc(y: np.ndarray, nan_policy="raise") -> pd.DataFrame:
    """pingouin on one variable ``y`` (n subjects, k raters); rows in our form order."""
    n, k = y.shape
    d = pd.DataFrame({"t": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "y": y.ravel()})
    r = pg.intraclass_corr(d, targets="t", raters="r", ratings="y", nan_policy=nan_policy)
    r.index = PG_ORDER
    return r


def simulate(n, k, m, seed=0, rater_shift=0.5):
    rng = np.random.default_rng(seed)
    subj = rng.standard_normal((n, 1, m)) * rng.uniform(0.3, 3.0, m)
    rater = rng.standard_normal((1, k, m)) * rater_shift
    return subj + rater + rng.standard_normal((n, k, m)) * rng.uniform(0.2, 2.0, m) + 5.0


def assert_matches_pingouin(ours: pd.DataFrame, ref: pd.DataFrame, ci_atol=None):
    ours = ours.set_index("type").loc[PG_ORDER]
    for a, b in [("icc", "ICC"), ("f", "F"), ("p", "pval")]:
        np.testing.assert_allclose(ours[a].to_numpy(), ref[b].to_numpy(dtype=float), rtol=RTOL, atol=1e-300)
    np.testing.assert_array_equal(ours["df1"].to_numpy(), ref["df1"].to_numpy(dtype=float))
    np.testing.assert_array_equal(ours["df2"].to_numpy(), ref["df2"].to_numpy(dtype=float))
    ci = np.stack(ref["CI95"].to_numpy()).astype(float)
    got = ours[["ci_low", "ci_high"]].to_numpy()
    if ci_atol is None:
        np.testing.assert_allclose(got, ci, rtol=RTOL, atol=1e-12)
    else:
        assert np.abs(got - ci).max() <= ci_atol


# --------------------------------------------------------------------------------------------
# ICC vs pingouin
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,k,m", [(50, 2, 7), (30, 5, 4), (200, 2, 3), (12, 3, 2)])
def test_balanced_matches_pingouin(unrounded_pingouin, n, k, m):
    x = simulate(n, k, m, seed=n + k)
    tab = I.icc(x, variables=[f"v{j}" for j in range(m)])
    assert len(tab) == 6 * m
    assert list(tab.columns) == ["variable", "type", "description", "icc", "f", "df1", "df2", "p",
                                 "ci_low", "ci_high", "n", "k", "reason"]
    assert (tab["reason"] == "ok").all() and (tab["n"] == n).all() and (tab["k"] == k).all()
    for j in range(m):
        assert_matches_pingouin(tab[tab["variable"] == f"v{j}"], pingouin_icc(x[:, :, j]))


def test_ci_vs_rounded_pingouin_default():
    """pingouin's default output rounds the CI to 2 decimals: ours agree within 0.005."""
    x = simulate(40, 3, 3, seed=3)
    tab = I.icc(x)
    for j in range(3):
        assert_matches_pingouin(tab[tab["variable"] == j], pingouin_icc(x[:, :, j]), ci_atol=0.005 + 1e-12)


def test_float32_input_and_chunking(unrounded_pingouin):
    x = simulate(60, 2, 9, seed=5).astype(np.float32)
    a = I.icc(x)
    b = I.icc(x, chunk_bytes=1)  # one variable per chunk
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-13)
    assert_matches_pingouin(a[a["variable"] == 4], pingouin_icc(x[:, :, 4].astype(np.float64)))


def test_missing_values_per_variable_listwise(unrounded_pingouin):
    rng = np.random.default_rng(11)
    n, k, m = 80, 3, 6
    x = simulate(n, k, m, seed=11)
    miss = rng.random((n, k, m)) < np.array([0, 0.02, 0.05, 0.1, 0.3, 0.0])  # per-variable rates
    x[miss] = np.nan
    x[3, 1, 5] = np.inf  # non-finite counts as missing
    tab = I.icc(x)
    for j in range(m):
        keep = np.isfinite(x[:, :, j]).all(axis=1)
        ours = tab[tab["variable"] == j]
        assert (ours["n"] == keep.sum()).all()
        assert_matches_pingouin(ours, pingouin_icc(x[keep, :, j]))
        if j < 5:  # pingouin's own listwise deletion on the raw long data agrees too
            assert_matches_pingouin(ours, pingouin_icc(x[:, :, j], nan_policy="omit"))
    assert tab.loc[tab["variable"] == 0, "n"].iloc[0] == n
    assert tab.loc[tab["variable"] == 5, "n"].iloc[0] == n - 1
    # blocks of 5 subjects: blocks with and without missing values take different paths
    x2 = simulate(n, k, m, seed=12)
    x2[[3, 40, 41], 0, 2] = np.nan
    small = I.icc(x2, chunk_bytes=8 * 2 * k * m * 5)
    pd.testing.assert_frame_equal(small, I.icc(x2), check_exact=False, rtol=1e-12)
    assert small.loc[small["variable"] == 2, "n"].iloc[0] == n - 3
    keep = np.isfinite(x2[:, :, 2]).all(axis=1)
    assert_matches_pingouin(small[small["variable"] == 2], pingouin_icc(x2[keep, :, 2]))


def test_degenerate_variables_do_not_crash(unrounded_pingouin):
    n, k = 20, 2
    good = simulate(n, k, 1, seed=2)[:, :, 0]
    const = np.full((n, k), 3.7)
    one = good.copy()
    one[1:, 0] = np.nan                              # a single complete subject
    empty = np.full((n, k), np.nan)
    offset = np.column_stack([np.zeros(n), np.ones(n)])  # raters differ by 1, subjects identical
    x = np.stack([good, const, one, empty, offset], axis=2)
    with np.errstate(all="raise"):  # no floating-point warnings escape either
        tab = I.icc(x, variables=["good", "const", "one", "empty", "offset"])
    by = {v: g.set_index("type") for v, g in tab.groupby("variable")}
    assert (by["good"]["reason"] == "ok").all()
    assert_matches_pingouin(by["good"].reset_index(), pingouin_icc(good))
    assert (by["const"]["reason"] == I.CONSTANT).all() and by["const"]["icc"].isna().all()
    assert (by["one"]["reason"] == I.TOO_FEW).all() and (by["one"]["n"] == 1).all()
    assert (by["empty"]["reason"] == I.TOO_FEW).all() and (by["empty"]["n"] == 0).all()
    assert by["empty"][["icc", "f", "p", "ci_low", "ci_high", "df1", "df2"]].isna().all().all()
    # offset: MSR = MSE = 0, MSW > 0: ICC1 = -1/(k-1) = -1, ICC3 = 0/0 undefined
    assert by["offset"].loc["ICC1", "icc"] == pytest.approx(-1.0, abs=1e-12)
    assert by["offset"].loc["ICC1", "reason"] == "ok"
    assert np.isnan(by["offset"].loc["ICC3", "icc"]) and by["offset"].loc["ICC3", "reason"] == I.UNDEFINED


def test_forms_aliases_alpha_and_errors():
    x = simulate(30, 2, 2, seed=9)
    t = I.icc(x, forms=["ICC(C,1)", "icc1", "ICC(A,k)"])
    assert list(t["type"][:3]) == ["ICC3", "ICC1", "ICC2k"]
    full = I.icc(x).set_index(["variable", "type"])
    sub = t.set_index(["variable", "type"])
    pd.testing.assert_frame_equal(sub, full.loc[sub.index])
    narrow = I.icc(x, alpha=0.2).set_index(["variable", "type"])
    assert (narrow["ci_low"] > full["ci_low"]).all() and (narrow["ci_high"] < full["ci_high"]).all()
    assert ((narrow["ci_low"] < narrow["icc"]) & (narrow["icc"] < narrow["ci_high"])).all()
    with pytest.raises(CardiolatentError, match="unknown ICC form"):
        I.icc(x, forms=["ICC4"])
    with pytest.raises(CardiolatentError, match="at least 2 raters"):
        I.icc(x[:, :1, :])
    with pytest.raises(CardiolatentError, match="alpha"):
        I.icc(x, alpha=1.5)


# --------------------------------------------------------------------------------------------
# M_eff
# --------------------------------------------------------------------------------------------


def test_meff_closed_forms():
    m = 6
    eye = np.eye(m)
    assert M.meff(corr=eye) == pytest.approx(6.0, abs=1e-12)
    assert M.meff(corr=eye, method="nyholt") == pytest.approx(6.0, abs=1e-12)
    ones = np.ones((m, m))  # eigenvalues (6, 0, 0, 0, 0, 0): Li-Ji f(6) = 1; Nyholt Var = 6 -> 1
    assert M.meff(corr=ones) == pytest.approx(1.0, abs=1e-12)
    assert M.meff(corr=ones, method="nyholt") == pytest.approx(1.0, abs=1e-12)
    # compound symmetry rho = 0.5, M = 4: eigenvalues 2.5, 0.5, 0.5, 0.5
    cs = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    assert M.meff(corr=cs) == pytest.approx((1 + 0.5) + 3 * 0.5, abs=1e-12)              # 3.0
    assert M.meff(corr=cs, method="nyholt") == pytest.approx(1 + 3 * (1 - 1.0 / 4), abs=1e-12)  # Var = 1
    # two independent blocks of 3 identical variables: eigenvalues 3, 3, 0, 0, 0, 0
    blk = np.kron(np.eye(2), np.ones((3, 3)))
    assert M.meff(corr=blk) == pytest.approx(2.0, abs=1e-12)
    assert M.meff(corr=blk, method="nyholt") == pytest.approx(1 + 5 * (1 - 2.4 / 6), abs=1e-12)  # 4.0
    # eigenvalues given directly
    assert M.li_ji([1.7, 1.3, 0.6, 0.4]) == pytest.approx(1.7 + 1.3 + 0.6 + 0.4, abs=1e-12)
    assert M.li_ji([3.2, 0.5, 0.2, 0.1]) == pytest.approx(1.2 + 0.8, abs=1e-12)
    assert M.li_ji([-0.1, 1.1, 2.0, 0.9, 0.1]) == pytest.approx(0.1 + 1.1 + 1.0 + 0.9 + 0.1, abs=1e-12)
    assert M.nyholt([2.0, 1.0, 0.0]) == pytest.approx(1 + 2 * (1 - 1.0 / 3), abs=1e-12)
    r = M.effective_tests(corr=cs)
    assert r.threshold(5e-8) == pytest.approx(5e-8 / 3.0, rel=1e-12)
    assert 5e-8 / 22 == pytest.approx(2.3e-9, rel=0.02)  # the paper's threshold


def test_meff_from_data_complete_and_pairwise():
    rng = np.random.default_rng(4)
    f = rng.standard_normal((300, 2))
    x = np.column_stack([f[:, 0], f[:, 0] + 0.5 * rng.standard_normal(300), f[:, 1],
                         rng.standard_normal(300), np.full(300, 2.0)])
    x[rng.random(x.shape) < 0.05] = np.nan
    x[:, 4] = 2.0  # constant, never missing
    df = pd.DataFrame(x, columns=list("abcde"))
    res = M.effective_tests(df)
    assert res.dropped == ["e"] and res.m == 4 and res.missing == "complete"
    rows = np.isfinite(x[:, :4]).all(axis=1)
    lam = np.linalg.eigvalsh(np.corrcoef(x[rows, :4], rowvar=False))
    assert res.n_rows == rows.sum()
    np.testing.assert_allclose(np.sort(res.eigenvalues), np.sort(lam), atol=1e-12)
    assert res.li_ji == pytest.approx(M.li_ji(lam), abs=1e-12)
    assert res.nyholt == pytest.approx(M.nyholt(lam), abs=1e-12)
    pr, _ = M.correlation(x[:, :4], "pairwise")
    np.testing.assert_allclose(pr, df.iloc[:, :4].corr().to_numpy(), atol=1e-12)
    resp = M.effective_tests(df, missing="pairwise")
    lamp = np.linalg.eigvalsh(df.iloc[:, :4].corr().to_numpy())
    assert resp.li_ji == pytest.approx(M.li_ji(lamp), abs=1e-10) and resp.dropped == ["e"]
    assert 2.0 < res.li_ji < 4.0  # two nearly collinear columns among four
    with pytest.raises(CardiolatentError):
        M.meff(x, method="bonferroni")


# --------------------------------------------------------------------------------------------
# reproducibility analyses and the command
# --------------------------------------------------------------------------------------------

SEEDS = (1701, 1993, 42)
NLAT = 8
SIGMA_VISIT = 0.35  # visit-3 = visit-2 + N(0, SIGMA_VISIT^2) + shift


def synthetic_long(n=300, n_v3=60, seed=1):
    """Long latents (eid, instance, seed, Z0..Z7): 3 seeds, 8 latents each, each seed's latents a
    permutation + sign flip of shared factors (plus small noise); visit 3 for the first ``n_v3``
    participants = visit 2 + a common shift + N(0, SIGMA_VISIT^2)."""
    rng = np.random.default_rng(seed)
    eids = np.arange(2000001, 2000001 + n)
    fac = rng.standard_normal((n, NLAT))
    truth, frames = {}, []
    visit_noise = rng.standard_normal((n_v3, NLAT)) * SIGMA_VISIT
    for s in SEEDS:
        perm = rng.permutation(NLAT)        # latent perm[f] carries factor f
        sign = rng.choice([-1.0, 1.0], NLAT)
        z2 = np.empty((n, NLAT))
        z2[:, perm] = fac * sign + 0.1 * rng.standard_normal((n, NLAT))
        z3 = z2[:n_v3].copy()
        z3[:, perm] += visit_noise * sign + 0.3  # the same physiology change in every seed + a shift
        frames += [long_rows(z, e, inst, s) for inst, z, e in ((2, z2, eids), (3, z3, eids[:n_v3]))]
        truth[s] = (perm, sign)
    return pd.concat(frames, ignore_index=True), truth


@pytest.fixture(scope="module")
def long_latents():
    return synthetic_long()


def run_cmd(argv):
    from cardiolatent.commands import icc as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    return cmd.run(p.parse_args(argv))


def test_command_between_visits(tmp_path, long_latents, unrounded_pingouin, capsys):
    long, _ = long_latents
    src = tmp_path / "lat.parquet"
    long.to_parquet(src)
    out = tmp_path / "icc.tsv"
    assert run_cmd(["--latents", str(src), "--between", "visits", "--out", str(out)]) == 0
    tab = pd.read_csv(out, sep="\t")
    assert list(tab.columns[:13]) == rep.COLUMNS
    assert len(tab) == 3 * NLAT * 6 and (tab["n"] == 60).all() and (tab["k"] == 2).all()
    summ = json.loads((tmp_path / "icc.summary.json").read_text())
    assert summ["n_participants_both_visits"] == 60
    assert summ["n_participants_visit2"] == 300 and summ["n_participants_visit3"] == 60
    assert summ["report_form"] == "ICC3"
    # visit 2 = s, visit 3 = s + e + shift: MSR -> 2 var(s) + var(e)/2, MSE -> var(e)/2, so
    # ICC(3,1) -> var(s) / (var(s) + var(e)/2) = 1.01 / (1.01 + 0.35^2 / 2) ~ 0.943
    expect = 1.01 / (1.01 + SIGMA_VISIT ** 2 / 2)
    assert abs(summ["icc"]["ICC3"]["median"] - expect) < 0.05
    assert summ["icc"]["ICC2"]["median"] < summ["icc"]["ICC3"]["median"]  # the shift costs agreement
    # M_eff from the visit-2 latents: equals the eigenvalue computation on that matrix; each seed's
    # 8 latents carry 8 independent factors (Li & Ji ~ 8); 3 seeds share them (overall < 24)
    v2all = long[long.instance == 2].pivot(index="eid", columns="seed")
    x = np.column_stack([v2all[(f"Z{k}", s)] for s in SEEDS for k in range(NLAT)]).astype(np.float64)
    direct = M.effective_tests(x)
    assert summ["meff"]["all"]["m"] == 24 and summ["meff"]["all"]["n_rows"] == 300
    assert summ["meff"]["all"]["meff_li_ji"] == pytest.approx(direct.li_ji, abs=1e-9)
    assert summ["meff"]["all"]["meff_nyholt"] == pytest.approx(direct.nyholt, abs=1e-9)
    assert 8 <= summ["meff"]["all"]["meff_li_ji"] < 16
    assert summ["meff"]["per_seed"]["42"]["meff_li_ji"] == pytest.approx(8, abs=0.5)
    printed = capsys.readouterr().out
    assert "60 participants with latents at both visits" in printed and "ICC3" in printed
    # every row equals pingouin on that latent's two visits
    v2 = long[(long.instance == 2) & (long.seed == 42)].set_index("eid")
    v3 = long[(long.instance == 3) & (long.seed == 42)].set_index("eid")
    for zk in ("Z0", "Z5"):
        y = np.column_stack([v2.loc[v3.index, zk], v3[zk]]).astype(np.float64)
        got = tab[tab["latent"] == f"S42_{zk}"].rename(columns={"latent": "variable"})
        assert_matches_pingouin(got, pingouin_icc(y))


def test_visits_wide_input_and_missing(long_latents):
    long, _ = long_latents
    from cardiolatent.latents import read_latents

    wide = read_latents(long, visits="both").table
    a = rep.icc_between_visits(long)
    b = rep.icc_between_visits(wide)
    pd.testing.assert_frame_equal(a.table, b.table)
    # a missing latent value drops that participant for that latent only
    wide2 = wide.copy()
    wide2.loc[(wide2.eid == 2000001) & (wide2.instance == 3), "S1993_Z2"] = np.nan
    c = rep.icc_between_visits(wide2, forms=["ICC3"]).table.set_index("latent")
    assert c.loc["S1993_Z2", "n"] == 59 and c.loc["S1993_Z3", "n"] == 60
    with pytest.raises(CardiolatentError, match="both visits"):
        rep.icc_between_visits(long[long.instance == 2])


def test_command_between_seeds(tmp_path, long_latents, unrounded_pingouin):
    long, truth = long_latents
    src = tmp_path / "lat.tsv"
    long.to_csv(src, sep="\t", index=False)
    out = tmp_path / "seeds.parquet"
    assert run_cmd(["--latents", str(src), "--between", "seeds", "--out", str(out),
                    "--forms", "ICC3", "ICC2", "--alpha", "0.05", "--quiet"]) == 0
    tab = pd.read_parquet(out)
    summ = json.loads((tmp_path / "seeds.summary.json").read_text())
    assert summ["reference"] == 1701 and summ["n_participants"] == 300 and summ["raters"] == list(SEEDS)
    assert len(tab) == NLAT * 2 and (tab["k"] == 3).all() and (tab["n"] == 300).all()
    # partners are the planted ones with the right sign
    perm_r, sign_r = truth[1701]
    for f in range(NLAT):
        row = tab[(tab["latent"] == f"S1701_Z{perm_r[f]}") & (tab["type"] == "ICC3")].iloc[0]
        expect = []
        for s in SEEDS[1:]:
            perm, sign = truth[s]
            expect.append(f"{'-' if sign[f] * sign_r[f] < 0 else '+'}S{s}_Z{perm[f]}")
        assert row["partners"] == ",".join(expect)
        assert row["icc"] > 0.97 and row["min_abs_r"] > 0.97
    # one variable recomputed with pingouin from the sign-corrected columns (as read from the TSV:
    # float32 -> decimal text -> float64 changes values at 1e-8)
    back = pd.read_csv(src, sep="\t")
    w = back[back.instance == 2]
    f = 3
    cols = []
    for s in SEEDS:
        perm, sign = truth[s]
        z = w[w.seed == s].sort_values("eid")[f"Z{perm[f]}"].to_numpy(np.float64)
        z = (z - z.mean()) / z.std()  # the default: each seed's latent z-scored (population SD)
        cols.append(z * sign[f] * sign_r[f])
    got = tab[tab["latent"] == f"S1701_Z{perm_r[f]}"].rename(columns={"latent": "variable"})
    ref = pingouin_icc(np.column_stack(cols)).loc[["ICC2", "ICC3"]]
    np.testing.assert_allclose(got.set_index("type").loc[["ICC2", "ICC3"], "icc"], ref["ICC"], rtol=RTOL)
    np.testing.assert_allclose(got.set_index("type").loc[["ICC2", "ICC3"], "ci_low"],
                               np.stack(ref["CI95"].to_numpy())[:, 0], rtol=RTOL)


def test_seeds_threshold_hungarian_and_errors(long_latents):
    long, _ = long_latents
    # one latent of seed 42 replaced by noise: its reference latent no longer reproduces
    rng = np.random.default_rng(0)
    noisy = long.copy()
    sel = noisy.seed == 42
    noisy.loc[sel, "Z0"] = rng.standard_normal(sel.sum()).astype(np.float32)
    allr = rep.icc_between_seeds(noisy, forms=["ICC3"])
    kept = rep.icc_between_seeds(noisy, threshold=0.8, forms=["ICC3"])
    assert len(allr.table) == NLAT and len(kept.table) == NLAT - 1
    assert kept.summary["n_latents_kept"] == NLAT - 1
    lost = set(allr.table["latent"]) - set(kept.table["latent"])
    assert allr.table.set_index("latent").loc[list(lost)[0], "min_abs_r"] < 0.5
    hung = rep.icc_between_seeds(long, matching="hungarian", forms=["ICC3"], standardise=True)
    best = rep.icc_between_seeds(long, forms=["ICC3"], standardise=True)
    np.testing.assert_allclose(hung.table["icc"], best.table["icc"], rtol=1e-12)  # same partners here
    assert hung.summary["matching"] == "hungarian" and len(hung.matching) == NLAT * 2
    other = rep.icc_between_seeds(long, reference=42, forms=["ICC3"])
    assert other.table["latent"].str.startswith("S42_").all()
    with pytest.raises(CardiolatentError, match="reference seed"):
        rep.icc_between_seeds(long, reference=7)
    with pytest.raises(CardiolatentError, match="report form"):
        rep.icc_between_seeds(long, forms=["ICC1"], report_form="ICC3")


def test_command_option_errors(tmp_path, long_latents):
    long, _ = long_latents
    src = tmp_path / "lat.parquet"
    long.to_parquet(src)
    out = str(tmp_path / "x.tsv")
    with pytest.raises(CardiolatentError, match="--threshold applies to --between seeds"):
        run_cmd(["--latents", str(src), "--between", "visits", "--out", out, "--threshold", "0.8"])
    with pytest.raises(CardiolatentError, match="--report-form ICC2"):
        run_cmd(["--latents", str(src), "--between", "visits", "--out", out, "--forms", "ICC1",
                 "--report-form", "ICC2"])
    with pytest.raises(CardiolatentError, match="not found"):
        run_cmd(["--latents", str(tmp_path / "nope.parquet"), "--between", "visits", "--out", out])
    # default report form not computed: the first form requested is headlined instead
    assert run_cmd(["--latents", str(src), "--between", "visits", "--out", out, "--forms", "ICC1k",
                    "--quiet"]) == 0
    summ = json.loads((tmp_path / "x.summary.json").read_text())
    assert summ["report_form"] == "ICC1k" and summ["forms"] == ["ICC1k"]
