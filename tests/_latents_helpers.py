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
