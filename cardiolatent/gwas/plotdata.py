"""Manhattan and QQ plot data, thinned deterministically.

Manhattan data: all variants with ``P < 1e-3`` and a deterministic subsample of the rest (the
``background`` variants with the smallest hash of chromosome and position: the same variants are
kept whatever the chunking, and largely the same across latents), with cumulative genome positions.
QQ data: :func:`cardiolatent.gwas.inflation.qq_points` per latent, stacked; optionally also per
latent and minor-allele-frequency bin (:func:`maf_bins`, :func:`maf_bin_codes`), each bin with its
own expected quantiles and band (``n`` = the variants of that bin), told apart by a ``maf_bin``
column (``"all"`` for the unstratified rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.coords import POS_BITS as _POS_BITS
from cardiolatent.gwas.readers import chrom_label

__all__ = ["MANHATTAN_COLUMNS", "MAF_ALL", "QQ_COLUMNS", "maf_bin_codes", "maf_bins", "manhattan_table",
           "qq_table", "thin_hash"]

MANHATTAN_COLUMNS = ["latent", "chrom", "pos", "cum_pos", "mlog10p"]
QQ_COLUMNS = ["latent", "rank", "expected", "observed", "ci_low", "ci_high"]
#: ``maf_bin`` of the unstratified QQ rows (every variant with a P value) in a stratified table
MAF_ALL = "all"


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


def qq_table(parts: list[pd.DataFrame], latents: list[str], maf_labels: list[str] | None = None) -> pd.DataFrame:
    """The per-latent QQ tables stacked, ``latent`` categorical in ``latents`` order. With
    ``maf_labels`` (stratified data) the parts carry a ``maf_bin`` column, made categorical with
    the categories ``"all"`` + ``maf_labels`` (in that order) and placed after ``latent``."""
    cols = QQ_COLUMNS if maf_labels is None else ["latent", "maf_bin", *QQ_COLUMNS[1:]]
    qq = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    if len(qq):
        qq["latent"] = pd.Categorical(qq["latent"], dtype=pd.CategoricalDtype(list(latents)))
    if maf_labels is not None:
        qq["maf_bin"] = pd.Categorical(qq["maf_bin"], dtype=pd.CategoricalDtype([MAF_ALL, *maf_labels]))
        qq = qq[cols]
    return qq


def maf_bins(edges) -> tuple[np.ndarray, list[str]]:
    """Upper edges of minor-allele-frequency bins -> (all edges from 0, labels).

    ``edges``: increasing numbers in (0, 0.5], as a sequence or as text ``"0.01,0.05,0.1,0.25,0.5"``;
    0.5 is appended when the last edge is below it, so every frequency falls in a bin. The bins are
    ``[0, e1], (e1, e2], ..., (e_k-1, 0.5]`` (MAF 0, a monomorphic variant, joins the first),
    labelled ``"0-0.01"``, ``"0.01-0.05"``, ... (``"{lo:g}-{hi:g}"``).

    Raises
    ------
    CardiolatentError
        Not numbers, empty, not increasing, or outside (0, 0.5] (the message names ``qq_maf_bins``).
    """
    shown = edges if isinstance(edges, str) else ",".join(map(str, edges))
    how = ("qq_maf_bins must be increasing minor allele frequencies in (0, 0.5] separated by commas, "
           f"e.g. 0.01,0.05,0.1,0.25,0.5; got {shown!r}")
    try:
        vals = [float(x) for x in (edges.split(",") if isinstance(edges, str) else edges)]
    except (TypeError, ValueError) as exc:
        raise CardiolatentError(how) from exc
    e = np.asarray(vals, dtype=np.float64)
    if e.size == 0 or not np.isfinite(e).all() or (e <= 0).any() or (e > 0.5).any() or (np.diff(e) <= 0).any():
        raise CardiolatentError(how)
    if e[-1] < 0.5:
        e = np.append(e, 0.5)
    full = np.concatenate([[0.0], e])
    return full, [f"{lo:g}-{hi:g}" for lo, hi in zip(full[:-1], full[1:])]


def maf_bin_codes(eaf, edges: np.ndarray) -> np.ndarray:
    """(k,) int8 bin index of each variant's ``MAF = min(eaf, 1 - eaf)`` for the edges of
    :func:`maf_bins` (``[0, e1]`` -> 0, ``(e1, e2]`` -> 1, ...); -1 where the frequency is missing
    (NaN) or not a frequency (outside [0, 1]). The MAF is rounded to 10 decimals first, so that
    ``eaf = 0.99`` (``1 - 0.99 = 0.010000000000000009``) is MAF 0.01, in the bin ending at 0.01."""
    f = np.asarray(eaf, dtype=np.float64)
    ok = (f >= 0) & (f <= 1)  # False for NaN
    maf = np.round(np.minimum(f, 1.0 - f), 10)
    code = np.searchsorted(np.asarray(edges, dtype=np.float64)[1:], np.where(ok, maf, 0.0), side="left")
    return np.where(ok, code, -1).astype(np.int8)
