"""Stand-in latents for tests that need a latents table, not an encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_long_latents(truth: pd.DataFrame, rng: np.random.Generator, seeds=(1701, 42), k: int = 3) -> pd.DataFrame:
    """Long table ``eid, instance, seed, Z0..Z{k-1}`` (float32 noise) for every row of ``truth``."""
    parts = []
    for seed in seeds:
        z = truth[["eid", "instance"]].assign(seed=seed)
        for j in range(k):
            z[f"Z{j}"] = rng.normal(size=len(truth)).astype(np.float32)
        parts.append(z)
    return pd.concat(parts)


def shared_signal_latents(truth: pd.DataFrame, rng: np.random.Generator, seeds=(1701, 1993, 42),
                          k: int = 6) -> pd.DataFrame:
    """:func:`random_long_latents` with a signal shared by every seed and visit of a participant
    (1 : 0.3 noise), so that seeds agree and visits repeat."""
    lat = random_long_latents(truth, rng, seeds=seeds, k=k)
    shared = rng.normal(size=(truth["eid"].nunique(), k))
    idx = pd.factorize(lat["eid"])[0]
    for j in range(k):
        lat[f"Z{j}"] = (shared[idx, j] + 0.3 * lat[f"Z{j}"]).astype(np.float32)
    return lat


def long_rows(z: np.ndarray, eids, instance: int, seed: int) -> pd.DataFrame:
    """Long encoder rows ``eid, instance, seed, Z0..`` of the latents ``z`` (rows x latents, float32)."""
    d = pd.DataFrame(np.asarray(z).astype(np.float32), columns=[f"Z{k}" for k in range(np.shape(z)[1])])
    d.insert(0, "seed", seed)
    d.insert(0, "instance", instance)
    d.insert(0, "eid", eids)
    return d
