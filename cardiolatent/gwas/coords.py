"""Genome coordinates: chromosome codes as sortable keys, cumulative offsets for a genome-wide axis."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolatent.gwas.readers import chrom_codes, chrom_label

__all__ = ["POS_BITS", "chrom_offsets", "codes_of", "genome_keys"]

POS_BITS = 40  # genome key = chrom code << 40 | pos
_POS_BITS = POS_BITS


def chrom_offsets(max_pos: dict[int, int]) -> pd.DataFrame:
    """Cumulative genome offsets: ``max_pos`` maps chromosome code -> largest position seen.

    Returns a DataFrame (one row per chromosome, in code order) with ``code``, ``chrom`` (label),
    ``offset`` (bp added to positions), ``length`` (largest position) and ``center`` (offset +
    length / 2, for axis ticks)."""
    codes = sorted(int(c) for c in max_pos)
    lengths = np.asarray([int(max_pos[c]) for c in codes], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if codes else np.zeros(0, np.int64)
    return pd.DataFrame({"code": np.asarray(codes, dtype=np.int64),
                         "chrom": chrom_label(np.asarray(codes)) if codes else np.array([], dtype=object),
                         "offset": offsets, "length": lengths, "center": offsets + lengths // 2})


def codes_of(chrom: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(chrom.dtype):
        return chrom.to_numpy(dtype=np.int16)
    return chrom_codes(chrom.astype(str))


def genome_keys(codes: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """One sortable int64 per variant: chromosome code << 40 | position."""
    return (np.asarray(codes, dtype=np.int64) << _POS_BITS) + np.asarray(pos, dtype=np.int64)


_codes_of = codes_of
_keys = genome_keys
