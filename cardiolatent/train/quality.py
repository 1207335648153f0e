"""How much of the true cardiac parameters a model's latents carry (the demo weights' quality gate).

For each seed: a 5-fold cross-validated linear model (ridge, penalty chosen inside each training
fold) from the seed's latents to a true parameter, on participants not used in training;
the score is the out-of-fold R^2 (1 - SS_res / SS_tot over all cines). Folds are drawn by
participant, so the two imaging visits of one person never sit on both sides of a fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def cv_r2(X: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0, groups=None) -> float:
    """Out-of-fold R^2 of a ridge regression of y (n,) on X (n, p), penalty by inner CV.

    ``groups`` (n,): e.g. the eid of each row; rows of one group are kept in the same fold.
    """
    pred = cv_predictions(X, y, folds=folds, seed=seed, groups=groups)
    return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def cv_predictions(X: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0, groups=None) -> np.ndarray:
    """Out-of-fold predictions (n,) of the ridge regression of :func:`cv_r2` (no row predicts itself)."""
    pred = np.empty_like(y, dtype=float)
    if groups is None:
        splits = KFold(folds, shuffle=True, random_state=seed).split(X)
    else:
        splits = GroupKFold(folds, shuffle=True, random_state=seed).split(X, groups=np.asarray(groups))
    for train, test in splits:
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 4, 30)))
        model.fit(X[train], y[train])
        pred[test] = model.predict(X[test])
    return pred


def latent_r2(latents: pd.DataFrame, truth: pd.DataFrame, params=("lvedv_ml", "lav_ml"), *,
              eids=None, folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """R^2 per seed and parameter: ``seed, param, r2, n``.

    ``latents``: long table (eid, instance, seed, Z...); ``truth``: the synthetic truth
    ``participants.tsv`` (eid, instance, true parameters); ``eids``: restrict to these
    participants (e.g. the held-out ones).
    """
    zcols = [c for c in latents.columns if c.startswith("Z")]
    rows = []
    for s, lat in latents.groupby("seed", sort=True):
        m = lat.merge(truth, on=["eid", "instance"], how="inner")
        if eids is not None:
            m = m[m["eid"].isin(set(eids))]
        m = m.sort_values(["eid", "instance"])
        X = m[zcols].to_numpy(np.float64)
        for p in params:
            rows.append({"seed": int(s), "param": p, "r2": cv_r2(X, m[p].to_numpy(float), folds=folds, seed=seed,
                                                                    groups=m["eid"].to_numpy()),
                         "n": len(m)})
    return pd.DataFrame(rows)


def decoder_z_sensitivity(model, volumes, *, steps: int = 20, seed: int = 0) -> dict[str, float]:
    """How much the decoder uses the semantic latents: decode one random stochastic code with the
    latents of each volume and compare.

    ``volumes`` (N >= 2, 1, T, H, W) (or prepared cines) of different participants. For each
    consecutive pair (A, B): the mean |difference| of ``decode(x_T, z_A)`` and ``decode(x_T, z_B)``
    for one random ``x_T``, and the mean |difference| of the volumes A and B themselves.
    Returns ``{"decoded_difference", "image_difference", "ratio"}`` (means over pairs): a decoder
    that ignores z has a ratio near 0; latent manipulation needs it well above.
    """
    import torch

    x = model.fit_input(volumes)
    if x.shape[0] < 2:
        raise ValueError("decoder_z_sensitivity needs at least two volumes")
    z = model.encode(x)
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn(x.shape[1:], generator=gen).to(x.device)[None].expand(x.shape[0], *x.shape[1:])
    dec = model.decode(x_T, z, steps=steps)
    dd = [float((dec[i] - dec[i + 1]).abs().mean()) for i in range(len(x) - 1)]
    di = [float((x[i] - x[i + 1]).abs().mean()) for i in range(len(x) - 1)]
    return {"decoded_difference": float(np.mean(dd)), "image_difference": float(np.mean(di)),
            "ratio": float(np.mean(dd) / np.mean(di)) if np.mean(di) > 0 else float("nan")}
