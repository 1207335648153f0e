"""Manhattan and QQ plot data, thinned deterministically.

Manhattan data: all variants with ``P < 1e-3`` and a deterministic subsample of the rest (the
``background`` variants with the smallest hash of chromosome and position: the same variants are
kept whatever the chunking, and largely the same across latents), with cumulative genome positions.
QQ data: :func:`cardiolatent.gwas.inflation.qq_points` per latent, stacked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolatent.gwas.coords import POS_BITS as _POS_BITS
from cardiolatent.gwas.readers import chrom_label

__all__ = ["MANHATTAN_COLUMNS", "QQ_COLUMNS", "manhattan_table", "qq_table", "thin_hash"]

MANHATTAN_COLUMNS = ["latent", "chrom", "pos", "cum_pos", "mlog10p"]
QQ_COLUMNS = ["latent", "rank", "expected", "observed", "ci_low", "ci_high"]


def thin_hash(chrom_code, pos) -> np.ndarray:
    """Deterministic pseudo-uniform numbers in [0, 1) from (chromosome code, position) (splitmix64).

    ``chrom_code`` and ``pos``: (k,) integer arrays; returns (k,) float64. Used to pick the same
    Manhattan background variants whatever the file chunking or order."""
    x = (np.asarray(chrom_code, dtype=np.uint64) << np.uint64(_POS_BITS)) | np.asarray(pos, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def manhattan_table(parts: list, latents: list[str], chroms: pd.DataFrame) -> pd.DataFrame:
    """One table of Manhattan rows from per-latent parts ``(latent, codes, pos, mlog10p)``, sorted by
    latent (in ``latents`` order), chromosome and position, with ``cum_pos`` from ``chroms``
    (:func:`cardiolatent.gwas.coords.chrom_offsets`)."""
    if not parts:
        return pd.DataFrame(columns=MANHATTAN_COLUMNS)
    off = dict(zip(chroms["code"].tolist(), chroms["offset"].tolist()))
    lat = np.concatenate([np.full(c.size, i, dtype=np.int32) for i, (_, c, _, _) in enumerate(parts)])
    code = np.concatenate([c for _, c, _, _ in parts])
    pos = np.concatenate([p for _, _, p, _ in parts])
    mm = np.concatenate([x for _, _, _, x in parts])
    offs = np.zeros(int(code.max()) + 1 if code.size else 1, dtype=np.int64)
    for c, o in off.items():
        offs[c] = o
    order = np.lexsort((pos, code, lat))
    return pd.DataFrame({
        "latent": pd.Categorical.from_codes(lat[order], dtype=pd.CategoricalDtype(list(latents))),
        "chrom": pd.Categorical(chrom_label(code[order]) if code.size else [],
                                categories=chroms["chrom"].tolist()),
        "pos": pos[order], "cum_pos": pos[order] + offs[code[order]], "mlog10p": mm[order]})


def qq_table(parts: list[pd.DataFrame], latents: list[str]) -> pd.DataFrame:
    """The per-latent QQ tables stacked, ``latent`` categorical in ``latents`` order."""
    qq = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=QQ_COLUMNS)
    if len(qq):
        qq["latent"] = pd.Categorical(qq["latent"], dtype=pd.CategoricalDtype(list(latents)))
    return qq
