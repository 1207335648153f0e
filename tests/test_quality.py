"""The demo weights' quality score: cross-validated R^2 of a ridge model from latents."""

import numpy as np
import pandas as pd

from cardiolatent.train.quality import cv_r2, latent_r2


def test_cv_r2_recovers_planted_r2():
    # y = X b + e with Var(Xb) = 4, Var(e) = 1: population R^2 = 0.8; with n = 4000 and p = 20
    # the out-of-fold estimate is within 0.02 of it (its sd at this n is about 0.006)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 20))
    b = rng.normal(size=20)
    b *= 2 / np.linalg.norm(b)
    y = X @ b + rng.normal(size=4000)
    assert abs(cv_r2(X, y) - 0.8) < 0.02
    # pure noise: nothing to predict (out-of-fold R^2 at or just below 0)
    assert cv_r2(X, rng.normal(size=4000)) < 0.01


def test_cv_r2_keeps_a_participants_visits_in_one_fold():
    # 150 participants with two identical cines each, 200 noise features, y noise per participant:
    # folds by row let the model meet a participant's twin in training (R^2 about 0.35);
    # folds by participant leave nothing to learn (R^2 below 0).
    rng = np.random.default_rng(1)
    X1 = rng.normal(size=(150, 200))
    y1 = rng.normal(size=150)
    X, y = np.repeat(X1, 2, axis=0), np.repeat(y1, 2)
    eid = np.repeat(np.arange(150), 2)
    assert cv_r2(X, y) > 0.2
    assert cv_r2(X, y, groups=eid) < 0.0


def test_latent_r2_one_row_per_seed_and_parameter():
    rng = np.random.default_rng(2)
    n = 300
    truth = pd.DataFrame({"eid": np.arange(n), "instance": 2, "lvedv_ml": rng.normal(150, 30, n),
                          "lav_ml": rng.normal(60, 15, n)})
    rows = []
    for seed, noise in ((1701, 0.1), (42, 10.0)):
        Z = np.column_stack([truth["lvedv_ml"], truth["lav_ml"], rng.normal(size=(n, 6))])
        Z[:, :2] += rng.normal(scale=noise * 15, size=(n, 2))
        rows.append(pd.DataFrame(Z, columns=[f"Z{k}" for k in range(8)]).assign(eid=truth["eid"], instance=2, seed=seed))
    res = latent_r2(pd.concat(rows), truth)
    assert len(res) == 4 and set(res["n"]) == {n}
    r = res.set_index(["seed", "param"])["r2"]
    assert r[(1701, "lvedv_ml")] > 0.95 and r[(42, "lvedv_ml")] < 0.3
    sub = latent_r2(pd.concat(rows), truth, eids=range(100))
    assert set(sub["n"]) == {100}
