"""Synthetic genotypes with LD blocks and planted causal variants, stored as PLINK 1 binary files.

Model
-----
Each chromosome is cut into consecutive LD blocks of ``block_size`` variants. Within a block,
haplotypes are a thresholded multivariate normal: a latent vector ``z`` with AR(1)-like
correlation (neighbour correlation ``rho`` drawn per pair from ``rho_range``) is cut at
``Phi^-1(maf_j)``, so ``z_j < Phi^-1(maf_j)`` carries the minor allele of variant ``j``. Blocks
are independent. For speed, each block first draws a panel of ``panel_size`` such haplotypes and
every person gets two independent draws from the panel, so genotypes are in Hardy-Weinberg
equilibrium and LD inside a block follows the latent AR(1) structure.

Storage
-------
Genotypes are kept in PLINK 1 ``.bed`` layout (SNP-major, 2 bits per call, 4 calls per byte,
low bits first) in a ``(m, ceil(n / 4))`` ``uint8`` array: 71,021 people x 6,000 variants take
about 107 MB. Codes: ``00`` homozygous A1, ``01`` missing, ``10`` heterozygous, ``11``
homozygous A2. Dosages everywhere in this module count the **A1** allele (PLINK 1 ``.bim``
column 5, which ``plink2`` treats as ALT), so ``plink2 --freq`` ALT_FREQS equals ``freq_a1`` and
``plink2 --export A`` counts equal :meth:`Genotypes.dosage`.

Causal variants
---------------
``causal`` maps trait -> number of variants. Each planted variant sits in its own LD block
(chromosomes used round-robin), has MAF >= 0.1, no missing calls, effect allele = A1 and
``beta_sd = ±sqrt(causal_r2 / (2 p (1 - p)))`` (trait SD units per effect allele, ``p`` the
realised effect allele frequency), so that it explains ``causal_r2`` of the trait variance.

Polygenic background
--------------------
:func:`polygenic_background` adds many small effects on top of the planted variants (the
infinitesimal model of GCTA / LD score regression): **every** variant that is not planted and is
polymorphic in the sample (``M_c`` of them, about 6,000) gets an effect on its *standardised*
genotype ``z_j = (x_j - 2 p_j) / sqrt(2 p_j (1 - p_j))`` (``p_j`` = ``freq_a1``, the realised A1
frequency; a missing call counts as the mean, ``z = 0``)::

    b_tj ~ N(0, h2_t / M_c)        g_t = sum_j z_j b_tj        (trait SD units)

so a rarer variant has a larger per-allele effect, ``b_tj / sqrt(2 p_j (1 - p_j))`` (the usual
MAF-dependent scaling, alpha = -1), and ``E[var(g_t)] = h2_t``. The effects of different traits
are independent (genetic correlation 0 in expectation) and each trait's standard normal draws are
the same whatever the ``h2`` values, so ``h2`` only rescales them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from scipy.stats import beta as beta_dist

from cardiolatent.io_utils import atomic_path

__all__ = [
    "BED_MAGIC",
    "GenotypePopulation",
    "genotype_population",
    "DEFAULT_CAUSAL",
    "Genotypes",
    "PolygenicBackground",
    "pack_dosages",
    "polygenic_background",
    "read_bed",
    "simulate_genotypes",
    "standardised_genotypes",
    "unpack_bed",
]

#: First three bytes of a SNP-major PLINK 1 .bed file.
BED_MAGIC = bytes([0x6C, 0x1B, 0x01])

#: Default number of planted causal variants per trait.
DEFAULT_CAUSAL: dict[str, int] = {"lvedv": 2, "lvwt": 1, "lav": 2, "lvef": 1, "rvedv": 1}

# A1 count (0, 1, 2) -> 2-bit .bed code (11 hom A2, 10 het, 00 hom A1); missing -> 01.
_CODE_OF_COUNT = np.array([3, 2, 0], dtype=np.uint8)
_CODE_MISSING = np.uint8(1)
# 2-bit .bed code -> A1 count, -1 missing.
_COUNT_OF_CODE = np.array([2, -1, 1, 0], dtype=np.int8)
_SHIFTS = np.array([0, 2, 4, 6], dtype=np.uint8)

# Approximate first genotyped base on each chromosome (acrocentric p-arms carry no array SNPs).
_CHROM_START_BP = {13: 19_020_000, 14: 19_000_000, 15: 20_000_000, 21: 9_410_000, 22: 16_050_000}

_BASES = np.array(list("ACGT"))
# Transition partner of each base (A<->G, C<->T); index into _BASES.
_TRANSITION = np.array([2, 3, 0, 1])


# --------------------------------------------------------------------------------------------
# packing / unpacking
# --------------------------------------------------------------------------------------------
def pack_dosages(counts: np.ndarray) -> np.ndarray:
    """Pack A1 counts into PLINK 1 .bed bytes.

    Parameters
    ----------
    counts : (m, n) integer array
        A1 allele count per variant (rows) and person (columns): 0, 1, 2, or -1 for missing.

    Returns
    -------
    (m, ceil(n / 4)) uint8 array; row ``j`` is variant ``j``'s .bed record (padding bits 0).
    """
    counts = np.asarray(counts)
    m, n = counts.shape
    nb = (n + 3) // 4
    codes = np.zeros((m, nb * 4), dtype=np.uint8)
    c = counts.astype(np.int8, copy=False)
    codes[:, :n] = _CODE_OF_COUNT[np.clip(c, 0, 2)]
    codes[:, :n][c < 0] = _CODE_MISSING
    return _pack_codes(codes)


def _pack_codes(codes: np.ndarray) -> np.ndarray:
    """Pack (m, 4 * nb) uint8 2-bit codes (C-contiguous) into (m, nb) bytes, low bits first."""
    u = codes.view("<u4")  # little-endian: byte k of the word is call 4i + k
    u = u | (u >> 6) | (u >> 12) | (u >> 18)  # move call k's code to bits 2k, 2k + 1
    return u.astype(np.uint8)


def unpack_bed(packed: np.ndarray, n: int) -> np.ndarray:
    """Unpack .bed records into A1 counts.

    Parameters
    ----------
    packed : (m, ceil(n / 4)) uint8 array of .bed variant records.
    n : number of people.

    Returns
    -------
    (m, n) int8 array of A1 counts, -1 for missing calls.
    """
    packed = np.asarray(packed, dtype=np.uint8)
    m = packed.shape[0]
    codes = (packed[:, :, None] >> _SHIFTS) & 3
    return _COUNT_OF_CODE[codes.reshape(m, -1)[:, :n]]


# --------------------------------------------------------------------------------------------
# the Genotypes container
# --------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Genotypes:
    """Synthetic genotypes for ``n`` people and ``m`` variants.

    Attributes
    ----------
    eids : (n,) int64 participant ids, in .fam order.
    variants : DataFrame, m rows, .bim-like columns ``chrom`` (int), ``id``, ``cm`` (cM),
        ``pos`` (bp, GRCh37-like), ``a1`` (counted / effect allele; PLINK 1 A1, plink2 ALT),
        ``a2`` (other allele; plink2 REF), ``freq_a1`` (A1 frequency among non-missing calls),
        plus ``block`` (global LD block index) and ``missing`` (number of missing calls).
    causal : DataFrame, one row per planted variant: ``id, chrom, pos, effect_allele,
        other_allele, eaf, trait, beta_sd, r2`` (``beta_sd`` in trait SD per effect allele,
        ``r2`` the fraction of trait variance it explains).
    packed : (m, ceil(n / 4)) uint8 .bed records (SNP-major, see module docstring).
    """

    eids: np.ndarray
    variants: pd.DataFrame
    causal: pd.DataFrame
    packed: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        """Number of people."""
        return int(len(self.eids))

    @property
    def m(self) -> int:
        """Number of variants."""
        return int(len(self.variants))

    def _index_of(self, ids: Sequence[str] | str) -> np.ndarray:
        if isinstance(ids, str):
            ids = [ids]
        ids = list(ids)
        lookup = pd.Index(self.variants["id"])
        idx = lookup.get_indexer(ids)
        if (idx < 0).any():
            missing = [i for i, k in zip(ids, idx) if k < 0][:5]
            raise KeyError(f"unknown variant id(s): {missing}")
        return idx

    def counts(self, ids: Sequence[str] | str | None = None) -> np.ndarray:
        """A1 counts as ``(n, k)`` int8 (-1 = missing) for variant ``ids`` (all when None)."""
        if ids is None:
            return unpack_bed(self.packed, self.n).T
        return unpack_bed(self.packed[self._index_of(ids)], self.n).T

    def dosage(self, ids: Sequence[str] | str) -> np.ndarray:
        """Effect-allele (A1) counts for the given variant ids.

        Returns
        -------
        (n, k) float64 array in people x requested-variant order, values 0/1/2 and NaN for a
        missing call (planted causal variants are never missing).
        """
        c = self.counts(ids)
        out = c.astype(np.float64)
        out[c < 0] = np.nan
        return out

    def write_plink(self, prefix: str | os.PathLike, sex: np.ndarray | Sequence[float] | None = None) -> Path:
        """Write ``prefix.bed``, ``prefix.bim`` and ``prefix.fam`` (each atomically).

        Parameters
        ----------
        prefix : path without extension; parent folders are created.
        sex : optional (n,) array in UK Biobank coding (field 31: 0 female, 1 male, NaN
            unknown), aligned with ``eids``. Written as PLINK sex 2 / 1 / 0. Default all 0.

        Returns
        -------
        The prefix as a Path.
        """
        prefix = Path(prefix)
        n = self.n
        if sex is None:
            fam_sex = np.zeros(n, dtype=np.int64)
        else:
            s = np.asarray(pd.to_numeric(pd.Series(np.asarray(sex, dtype=object)), errors="coerce"),
                           dtype=np.float64)
            if s.shape != (n,):
                raise ValueError(f"sex has shape {s.shape}, expected ({n},) aligned with eids")
            bad = ~np.isnan(s) & ~np.isin(s, (0.0, 1.0))
            if bad.any():
                raise ValueError(f"sex must be 0 (female), 1 (male) or NaN; got {np.unique(s[bad])[:5]}")
            fam_sex = np.where(s == 1, 1, np.where(s == 0, 2, 0))

        eid_txt = self.eids.astype(str)
        fam = pd.DataFrame({"fid": eid_txt, "iid": eid_txt, "father": 0, "mother": 0,
                            "sex": fam_sex, "pheno": -9})
        v = self.variants
        bim = pd.DataFrame({"chrom": v["chrom"], "id": v["id"], "cm": v["cm"].map(lambda x: f"{x:.6g}"),
                            "pos": v["pos"], "a1": v["a1"], "a2": v["a2"]})

        with atomic_path(prefix.with_name(prefix.name + ".bed")) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(BED_MAGIC)
                fh.write(np.ascontiguousarray(self.packed, dtype=np.uint8).data)
        with atomic_path(prefix.with_name(prefix.name + ".bim")) as tmp:
            bim.to_csv(tmp, sep="\t", header=False, index=False, lineterminator="\n")
        with atomic_path(prefix.with_name(prefix.name + ".fam")) as tmp:
            fam.to_csv(tmp, sep="\t", header=False, index=False, lineterminator="\n")
        return prefix


# --------------------------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------------------------
def read_bed(prefix: str | os.PathLike) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Read a SNP-major PLINK 1 fileset.

    Returns
    -------
    genotypes : (n, m) int8 A1 counts (0/1/2), -1 for missing.
    bim : DataFrame ``chrom, id, cm, pos, a1, a2`` (m rows; chrom kept as str).
    fam : DataFrame ``fid, iid, father, mother, sex, pheno`` (n rows; ids as str).
    """
    prefix = Path(prefix)
    bim = pd.read_csv(prefix.with_name(prefix.name + ".bim"), sep=r"\s+", header=None,
                      names=["chrom", "id", "cm", "pos", "a1", "a2"],
                      dtype={"chrom": str, "id": str, "cm": float, "pos": np.int64, "a1": str, "a2": str})
    fam = pd.read_csv(prefix.with_name(prefix.name + ".fam"), sep=r"\s+", header=None,
                      names=["fid", "iid", "father", "mother", "sex", "pheno"],
                      dtype={"fid": str, "iid": str, "father": str, "mother": str, "sex": np.int64,
                             "pheno": str})
    n, m = len(fam), len(bim)
    nb = (n + 3) // 4
    raw = np.fromfile(prefix.with_name(prefix.name + ".bed"), dtype=np.uint8)
    if raw[:3].tobytes() != BED_MAGIC:
        raise ValueError(f"{prefix}.bed: not a SNP-major PLINK 1 .bed file (bad magic bytes)")
    if raw.size != 3 + m * nb:
        raise ValueError(f"{prefix}.bed: {raw.size - 3} genotype bytes, expected {m} x {nb} = {m * nb}")
    packed = raw[3:].reshape(m, nb)
    out = np.empty((n, m), dtype=np.int8)
    step = max(1, 2**24 // max(nb * 4, 1))  # ~16 MB of codes per chunk
    for start in range(0, m, step):
        out[:, start:start + step] = unpack_bed(packed[start:start + step], n).T
    return out, bim, fam


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------
def _block_sizes(m: int, block_size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Split ``m`` variants into consecutive blocks with sizes in ``block_size`` (inclusive)."""
    lo, hi = block_size
    if not 1 <= lo <= hi:
        raise ValueError(f"block_size must be (lo, hi) with 1 <= lo <= hi, got {block_size}")
    sizes: list[int] = []
    left = m
    while left > 0:
        s = int(rng.integers(lo, hi + 1))
        if left - s < lo:  # avoid a tiny tail block: take the rest (split if too long)
            s = left if left <= hi else left // 2
        sizes.append(s)
        left -= s
    return np.asarray(sizes, dtype=np.int64)


def _ar1_cholesky(rho: np.ndarray) -> np.ndarray:
    """Lower-triangular ``C`` with ``C @ C.T`` = AR(1) correlation with neighbour correlations ``rho``.

    ``rho`` has length L - 1; ``z = C @ e`` with ``e ~ N(0, I_L)`` gives
    ``z_j = rho_j z_{j-1} + sqrt(1 - rho_j^2) e_j``.
    """
    L = len(rho) + 1
    s = np.concatenate([[1.0], np.sqrt(1.0 - rho**2)])
    logr = np.concatenate([[0.0], np.log(rho)])
    cum = np.cumsum(logr)  # cum[j] - cum[k] = log prod_{i=k+1..j} rho_i
    C = np.exp(cum[:, None] - cum[None, :]) * s[None, :]
    return np.tril(C)[:L, :L]


def _rsids(m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` distinct rsid-like ids (``rs`` + 3 to 9 digits)."""
    out = np.empty(0, dtype=np.int64)
    while out.size < m:
        draw = rng.integers(1_000, 800_000_000, size=int(m * 1.2) + 10)
        _, first = np.unique(np.concatenate([out, draw]), return_index=True)
        out = np.concatenate([out, draw])[np.sort(first)]
    return np.char.add("rs", out[:m].astype(str))


@dataclass
class _VariantMap:
    """Positions and LD blocks of the simulated variants (see :func:`_variant_map`)."""

    chrom: np.ndarray        # (m,) chromosome of each variant
    pos: np.ndarray          # (m,) int64 base-pair position
    block: np.ndarray        # (m,) int64 global LD block index
    block_chrom: list[int]   # chromosome of each block
    block_start: list[int]   # first variant of each block
    block_start_arr: np.ndarray  # (n_blocks + 1,) int64 block boundaries, ending with m

    @property
    def m(self) -> int:
        """Number of variants."""
        return int(self.block_start_arr[-1])

    @property
    def n_blocks(self) -> int:
        """Number of LD blocks."""
        return len(self.block_chrom)


def _check_simulation_inputs(eids, causal, causal_r2, chromosomes) -> tuple[np.ndarray, dict, list[int]]:
    """Validate and normalise ``eids``, ``causal`` and ``chromosomes`` (raises ValueError)."""
    eids = np.asarray(eids, dtype=np.int64)
    if eids.ndim != 1 or eids.size == 0:
        raise ValueError("eids must be a non-empty 1-D array of integers")
    if np.unique(eids).size != eids.size:
        raise ValueError("eids must be unique")
    causal = dict(DEFAULT_CAUSAL if causal is None else causal)
    if not 0 < causal_r2 < 1:
        raise ValueError(f"causal_r2 must be in (0, 1), got {causal_r2}")
    chromosomes = [int(c) for c in chromosomes]
    return eids, causal, chromosomes


def _variant_map(chromosomes: list[int], variants_per_chrom: int, block_size: tuple[int, int],
                 rng: np.random.Generator) -> _VariantMap:
    """Cut each chromosome into LD blocks and draw the variant positions."""
    chrom_col, pos_col, block_col = [], [], []
    block_chrom: list[int] = []
    block_start: list[int] = []
    offset = 0
    for chrom in chromosomes:
        sizes = _block_sizes(variants_per_chrom, block_size, rng)
        for s in sizes:
            block_start.append(offset)
            block_chrom.append(chrom)
            block_col.append(np.full(s, len(block_chrom) - 1))
            offset += int(s)
        start = _CHROM_START_BP.get(chrom, 0) + int(rng.integers(50_000, 400_000))
        # within-block spacing ~2-20 kb (log-uniform); a larger gap at block boundaries
        gaps = np.exp(rng.uniform(np.log(2_000), np.log(20_000), size=variants_per_chrom)).astype(np.int64)
        bstarts = np.cumsum(sizes)[:-1]
        gaps[bstarts] += rng.integers(20_000, 120_000, size=bstarts.size)
        gaps[0] = 0
        pos_col.append(start + np.cumsum(gaps))
        chrom_col.append(np.full(variants_per_chrom, chrom))
    m = offset
    return _VariantMap(chrom=np.concatenate(chrom_col), pos=np.concatenate(pos_col).astype(np.int64),
                       block=np.concatenate(block_col).astype(np.int64), block_chrom=block_chrom,
                       block_start=block_start, block_start_arr=np.asarray(block_start + [m], dtype=np.int64))


def _minor_allele_frequencies(vmap: _VariantMap, maf_copula_rho: float, rng: np.random.Generator) -> np.ndarray:
    """Draw block-correlated minor allele frequencies, 0.5 * Beta(0.9, 1.8) clipped to [0.01, 0.5]."""
    # a Gaussian copula with AR(1) correlation ``maf_copula_rho`` makes neighbours in a block
    # have similar frequencies (as variants on the same haplotype do), which keeps LD high.
    m, block_start = vmap.m, vmap.block_start
    x = rng.standard_normal(m)
    for b in range(len(vmap.block_chrom)):
        lo, hi = block_start[b], (block_start + [m])[b + 1]
        x[lo:hi] = _ar1_cholesky(np.full(hi - lo - 1, maf_copula_rho)) @ x[lo:hi]
    return np.clip(0.5 * beta_dist.ppf(ndtr(x), 0.9, 1.8), 0.01, 0.5)


def _plant_causal_variants(causal: dict, chromosomes: list[int], vmap: _VariantMap, maf: np.ndarray,
                           rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Pick one causal variant per requested trait slot (raising MAF below 0.12 in place)."""
    # distinct blocks, chromosomes round-robin, MAF >= 0.1
    n_blocks, block_start_arr = vmap.n_blocks, vmap.block_start_arr
    traits = [t for t, k in causal.items() for _ in range(int(k))]
    if len(traits) > n_blocks:
        raise ValueError(f"{len(traits)} causal variants requested but only {n_blocks} LD blocks")
    chrom_order = list(rng.permutation(chromosomes))
    used_blocks: set[int] = set()
    causal_idx: list[int] = []
    block_chrom_arr = np.asarray(vmap.block_chrom)
    for i in range(len(traits)):
        want = chrom_order[i % len(chrom_order)]
        free = [b for b in np.flatnonzero(block_chrom_arr == want)
                if b not in used_blocks and b - 1 not in used_blocks and b + 1 not in used_blocks]
        if not free:
            free = [b for b in range(n_blocks) if b not in used_blocks]
        b = int(rng.choice(free))
        used_blocks.add(b)
        lo, hi = block_start_arr[b], block_start_arr[b + 1]
        j = int(rng.integers(lo + (hi - lo) // 4, lo + max(1, 3 * (hi - lo) // 4)))
        if maf[j] < 0.12:  # margin so that the realised MAF stays >= 0.1
            maf[j] = rng.uniform(0.12, 0.5)
        causal_idx.append(j)
    return traits, causal_idx


def _draw_alleles(m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (ref base index, alt base index, A1-is-minor flag) per variant."""
    # ~2/3 transitions; A1 (ALT, counted) is the minor allele for ~85% of variants
    ref_i = rng.integers(0, 4, size=m)
    alt_i = np.where(rng.random(m) < 2 / 3, _TRANSITION[ref_i], (ref_i + rng.integers(1, 4, size=m)) % 4)
    alt_i = np.where(alt_i == ref_i, (ref_i + 1) % 4, alt_i)  # guard (transversion may hit transition)
    a1_is_minor = rng.random(m) < 0.85
    return ref_i, alt_i, a1_is_minor


def _block_minor_counts(n: int, L: int, thresh: np.ndarray, rho_range: tuple[float, float], direct: bool,
                        panel_size: int, rng: np.random.Generator, rho: np.ndarray | None = None) -> np.ndarray:
    """Draw one block's haplotypes and return its (L, n) int8 minor allele counts (``rho``: the block's
    neighbour correlations, drawn from ``rng`` when None)."""
    if rho is None:
        rho = rng.uniform(*rho_range, size=L - 1)
    C = _ar1_cholesky(rho).astype(np.float32)
    z = rng.standard_normal((2 * n if direct else panel_size, L), dtype=np.float32)
    hap = ((z @ C.T) < thresh).view(np.int8)  # (n_hap, L): 1 = minor allele
    if direct:
        minor_count = hap[:n] + hap[n:]
    else:
        h = rng.integers(0, panel_size, size=(2, n))
        minor_count = hap[h[0]] + hap[h[1]]  # (n, L) int8, row gathers
    return np.ascontiguousarray(minor_count.T)  # (L, n)


def _block_missing_calls(n: int, k: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw the (rows, cols) of one block's missing calls: distinct (variant, person) pairs."""
    L = len(k)
    flat = np.unique(np.repeat(np.arange(L), k) * n + rng.integers(0, n, size=int(k.sum())))
    return np.divmod(flat, n)


def _simulate_packed_genotypes(n: int, maf: np.ndarray, is_causal: np.ndarray, a1_is_minor: np.ndarray,
                               block_start_arr: np.ndarray, rho_range: tuple[float, float],
                               missing_rate: float, panel_size: int,
                               rng: np.random.Generator, rhos: list[np.ndarray] | None = None,
                               rho_log: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate genotypes block by block; return (packed .bed records, A1 allele sums, called counts).

    ``rhos``: each block's neighbour correlations (a population's, :class:`GenotypePopulation`), else
    drawn; ``rho_log``: a list that receives each block's drawn correlations."""
    m = len(maf)
    nb = (n + 3) // 4
    packed = np.empty((m, nb), dtype=np.uint8)
    minor_thresh = ndtri(maf).astype(np.float32)
    n_missing = np.where(is_causal, 0, rng.binomial(n, missing_rate, size=m))
    a1_sum = np.zeros(m, dtype=np.int64)
    called = np.zeros(m, dtype=np.int64)
    direct = 2 * n <= panel_size
    # .bed code from (minor count + 3 * [A1 is the major allele]): A1 count = c or 2 - c
    code_lut = np.concatenate([_CODE_OF_COUNT, _CODE_OF_COUNT[::-1]])
    codes = np.zeros((int(np.diff(block_start_arr).max()), nb * 4), dtype=np.uint8)  # reused buffer
    for b in range(len(block_start_arr) - 1):
        lo, hi = int(block_start_arr[b]), int(block_start_arr[b + 1])
        L = hi - lo
        if rhos is None:
            rho = rng.uniform(*rho_range, size=L - 1)
            if rho_log is not None:
                rho_log.append(rho)
        else:
            rho = rhos[b]
        minor_count = _block_minor_counts(n, L, minor_thresh[lo:hi], rho_range, direct, panel_size, rng, rho)
        a1_major = ~a1_is_minor[lo:hi]
        msum = minor_count.sum(axis=1, dtype=np.int64)
        cnt = np.zeros(L, dtype=np.int64)
        k = n_missing[lo:hi]
        if k.sum():
            rows, cols = _block_missing_calls(n, k, rng)
            msum -= np.bincount(rows, weights=minor_count[rows, cols], minlength=L).astype(np.int64)
            cnt = np.bincount(rows, minlength=L)
        called[lo:hi] = n - cnt
        a1_sum[lo:hi] = np.where(a1_major, 2 * called[lo:hi] - msum, msum)
        minor_count += (3 * a1_major).astype(np.int8)[:, None]
        cb = codes[:L]
        np.take(code_lut, minor_count, out=cb[:, :n], mode="clip")
        if k.sum():
            cb[rows, cols] = _CODE_MISSING
        packed[lo:hi] = _pack_codes(cb)
    return packed, a1_sum, called


def _variants_table(vmap: _VariantMap, ids: np.ndarray, a1_base: np.ndarray, a2_base: np.ndarray,
                    freq_a1: np.ndarray, n_missing_real: np.ndarray) -> pd.DataFrame:
    """Assemble the .bim-like variant table of :class:`Genotypes`."""
    pos = vmap.pos
    return pd.DataFrame({
        "chrom": vmap.chrom.astype(np.int64),
        "id": ids,
        "cm": np.round(pos * 1.2e-6, 6),  # ~1.2 cM / Mb
        "pos": pos,
        "a1": a1_base,
        "a2": a2_base,
        "freq_a1": freq_a1,
        "block": vmap.block,
        "missing": n_missing_real.astype(np.int64),
    })


def _causal_table(causal_idx: list[int], traits: list[str], freq_a1: np.ndarray, maf: np.ndarray,
                  a1_is_minor: np.ndarray, vmap: _VariantMap, ids: np.ndarray, a1_base: np.ndarray,
                  a2_base: np.ndarray, causal_r2: float, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the causal effect signs and assemble the table of planted variants."""
    cidx = np.asarray(causal_idx, dtype=np.int64)
    p = freq_a1[cidx]
    # tiny cohorts can leave a causal variant monomorphic: fall back to the simulated frequency
    p_model = np.where(a1_is_minor, maf, 1.0 - maf)[cidx]
    p = np.where((p > 0) & (p < 1), p, p_model)
    sign = np.where(rng.random(cidx.size) < 0.5, -1.0, 1.0)
    beta = sign * np.sqrt(causal_r2 / (2.0 * p * (1.0 - p)))
    return pd.DataFrame({
        "id": ids[cidx],
        "chrom": vmap.chrom[cidx].astype(np.int64),
        "pos": vmap.pos[cidx],
        "effect_allele": a1_base[cidx],
        "other_allele": a2_base[cidx],
        "eaf": p,
        "trait": pd.Series(traits, dtype=object),
        "beta_sd": beta,
        "r2": np.full(cidx.size, float(causal_r2)),
    })


def simulate_genotypes(
    eids: Sequence[int] | np.ndarray,
    rng: np.random.Generator,
    *,
    chromosomes: Sequence[int] = (19, 20, 21, 22),
    variants_per_chrom: int = 1500,
    block_size: tuple[int, int] = (20, 60),
    causal: Mapping[str, int] | None = None,
    causal_r2: float = 0.06,
    rho_range: tuple[float, float] = (0.75, 0.97),
    missing_rate: float = 0.002,
    panel_size: int = 8192,
    maf_copula_rho: float = 0.8,
) -> Genotypes:
    """Simulate genotypes with LD blocks and planted causal variants.

    Parameters
    ----------
    eids : (n,) participant ids (unique integers), the .fam order.
    rng : numpy Generator; the result is a deterministic function of its state and the arguments.
    chromosomes : autosomes to simulate.
    variants_per_chrom : variants per chromosome (m = len(chromosomes) * variants_per_chrom).
    block_size : (min, max) variants per LD block, inclusive.
    causal : trait -> number of planted causal variants; default :data:`DEFAULT_CAUSAL`.
        Pass ``{}`` for none.
    causal_r2 : fraction of trait variance explained by each causal variant.
    rho_range : range of the latent neighbour correlation within a block.
    missing_rate : expected fraction of missing calls per (non-causal) variant.
    maf_copula_rho : neighbour correlation of the (Gaussian copula of) minor allele
        frequencies within a block; 0 gives independent frequencies.
    panel_size : haplotypes simulated per block from the thresholded normal; people draw two
        of them independently (if 2n <= panel_size, haplotypes are simulated per person directly).

    Returns
    -------
    :class:`Genotypes`. Memory is ~ n * m / 4 bytes plus one block of temporaries; time is
    dominated by packing (a few seconds for 71,021 x 6,000).
    """
    return genotype_population(eids, rng, chromosomes=chromosomes, variants_per_chrom=variants_per_chrom,
                               block_size=block_size, causal=causal, causal_r2=causal_r2, rho_range=rho_range,
                               missing_rate=missing_rate, panel_size=panel_size,
                               maf_copula_rho=maf_copula_rho).genotypes


@dataclass(eq=False)
class GenotypePopulation:
    """What the people of one simulated population share, and the genotypes first drawn from it.

    A second cohort drawn from the population (:meth:`draw`: the target cohort of a polygenic
    score, issue 18) has the same variants (ids, positions, alleles), minor allele frequencies
    (``maf``), LD (each block's neighbour correlations ``block_rho``), planted variants and effects
    (``causal``, as drawn for ``genotypes``) and missing-call rate; only its people differ.

    Attributes
    ----------
    genotypes : the :class:`Genotypes` of :func:`simulate_genotypes` (same arguments, same result).
    vmap, maf, is_causal, a1_is_minor, ids, a1_base, a2_base : the population's variants ((m,) each).
    block_rho : one (L_b - 1,) array of neighbour correlations per LD block.
    rho_range, missing_rate, panel_size : as passed to :func:`simulate_genotypes`.
    """

    genotypes: Genotypes
    vmap: _VariantMap
    maf: np.ndarray
    is_causal: np.ndarray
    a1_is_minor: np.ndarray
    ids: np.ndarray
    a1_base: np.ndarray
    a2_base: np.ndarray
    block_rho: list
    rho_range: tuple[float, float]
    missing_rate: float
    panel_size: int

    def draw(self, eids: Sequence[int] | np.ndarray, rng: np.random.Generator) -> Genotypes:
        """Genotypes of new people ``eids`` ((n,) unique integers) from this population.

        ``freq_a1`` and ``missing`` of the returned variants table are those realised in the new
        people; ``causal`` is the population's planted-variant table (``eaf``: the frequency in
        :attr:`genotypes`, the scale of ``beta_sd``). Deterministic in ``rng``'s state.
        """
        eids = np.asarray(eids, dtype=np.int64)
        if eids.ndim != 1 or eids.size == 0 or np.unique(eids).size != eids.size:
            raise ValueError("eids must be a non-empty 1-D array of unique integers")
        n = eids.size
        packed, a1_sum, called = _simulate_packed_genotypes(n, self.maf, self.is_causal, self.a1_is_minor,
                                                            self.vmap.block_start_arr, self.rho_range,
                                                            self.missing_rate, self.panel_size, rng,
                                                            rhos=self.block_rho)
        with np.errstate(invalid="ignore", divide="ignore"):
            freq_a1 = np.where(called > 0, a1_sum / (2.0 * np.maximum(called, 1)), np.nan)
        variants = _variants_table(self.vmap, self.ids, self.a1_base, self.a2_base, freq_a1, n - called)
        return Genotypes(eids=eids, variants=variants, causal=self.genotypes.causal.copy(), packed=packed)


def genotype_population(eids: Sequence[int] | np.ndarray, rng: np.random.Generator, *,
                        chromosomes: Sequence[int] = (19, 20, 21, 22), variants_per_chrom: int = 1500,
                        block_size: tuple[int, int] = (20, 60), causal: Mapping[str, int] | None = None,
                        causal_r2: float = 0.06, rho_range: tuple[float, float] = (0.75, 0.97),
                        missing_rate: float = 0.002, panel_size: int = 8192,
                        maf_copula_rho: float = 0.8) -> GenotypePopulation:
    """:func:`simulate_genotypes` (same arguments, same draws, same genotypes) that also returns the
    population, from which :meth:`GenotypePopulation.draw` draws further cohorts."""
    # The steps draw from ``rng`` in this order; keep it, the output depends on it.
    eids, causal, chromosomes = _check_simulation_inputs(eids, causal, causal_r2, chromosomes)
    n = eids.size
    vmap = _variant_map(chromosomes, variants_per_chrom, block_size, rng)
    m = vmap.m
    maf = _minor_allele_frequencies(vmap, maf_copula_rho, rng)
    traits, causal_idx = _plant_causal_variants(causal, chromosomes, vmap, maf, rng)
    is_causal = np.zeros(m, dtype=bool)
    is_causal[causal_idx] = True
    ref_i, alt_i, a1_is_minor = _draw_alleles(m, rng)
    ids = _rsids(m, rng)
    block_rho: list[np.ndarray] = []
    packed, a1_sum, called = _simulate_packed_genotypes(n, maf, is_causal, a1_is_minor, vmap.block_start_arr,
                                                        rho_range, missing_rate, panel_size, rng, rho_log=block_rho)
    freq_a1 = a1_sum / (2.0 * called)
    a1_base = _BASES[alt_i]
    a2_base = _BASES[ref_i]
    variants = _variants_table(vmap, ids, a1_base, a2_base, freq_a1, n - called)
    causal_df = _causal_table(causal_idx, traits, freq_a1, maf, a1_is_minor, vmap, ids, a1_base, a2_base,
                              causal_r2, rng)
    geno = Genotypes(eids=eids, variants=variants, causal=causal_df, packed=packed)
    return GenotypePopulation(genotypes=geno, vmap=vmap, maf=maf, is_causal=is_causal, a1_is_minor=a1_is_minor,
                              ids=ids, a1_base=a1_base, a2_base=a2_base, block_rho=block_rho,
                              rho_range=tuple(rho_range), missing_rate=float(missing_rate),
                              panel_size=int(panel_size))


# --------------------------------------------------------------------------------------------
# polygenic background
# --------------------------------------------------------------------------------------------
def standardised_genotypes(geno: Genotypes, idx: np.ndarray | slice) -> np.ndarray:
    """Standardised A1 counts ``(x - 2p) / sqrt(2p(1 - p))`` of variants ``idx``.

    Parameters
    ----------
    geno : the genotypes; ``p`` is ``geno.variants["freq_a1"]`` (realised, among called genotypes).
    idx : variant positions (integer array or slice) into ``geno.variants``.

    Returns
    -------
    (n, k) float64 array; a missing call is 0 (the mean) and a monomorphic variant's column is 0.
    """
    p = geno.variants["freq_a1"].to_numpy(np.float64)[idx]
    counts = unpack_bed(geno.packed[idx], geno.n).T
    sd = np.sqrt(2.0 * p * (1.0 - p))
    ok = sd > 0
    z = (counts - 2.0 * p) / np.where(ok, sd, 1.0)
    z[(counts < 0) | ~ok[None, :]] = 0.0
    return z


@dataclass(eq=False)
class PolygenicBackground:
    """The drawn polygenic background (see the module docstring for the model).

    Attributes
    ----------
    traits : the traits, in the order of ``values``' columns and of the draws.
    h2 : trait -> expected fraction of the trait variance the background explains.
    causal : (m,) bool, the variants that carry a background effect (not planted, polymorphic).
    effects : (m, k) float64 effects on the standardised genotypes (trait SD per genotype SD);
        0 for variants outside ``causal`` and for traits with ``h2`` 0.
    values : (n, k) float64 genetic values ``Z @ effects`` (trait SD units), people in ``eids``
        order.
    """

    traits: list[str]
    h2: dict[str, float]
    causal: np.ndarray
    effects: np.ndarray
    values: np.ndarray

    @property
    def n_causal(self) -> int:
        """Number of variants with a background effect (``M_c``)."""
        return int(self.causal.sum())


def polygenic_background(geno: Genotypes, h2: Mapping[str, float], rng: np.random.Generator, *,
                         exclude: Sequence[str] = (), chunk_variants: int = 256) -> PolygenicBackground:
    """Draw a polygenic background over every variant and compute the genetic values.

    Parameters
    ----------
    geno : the genotypes (``packed``, ``variants.freq_a1`` and ``variants.id`` are read).
    h2 : trait -> expected fraction of the trait's variance explained by the background, each in
        [0, 1). The draws follow the mapping's order: ``rng`` gives one standard normal per
        (trait, variant), trait by trait, whatever the values (0 included).
    rng : the background's own stream (nothing else draws from it).
    exclude : variant ids that get no background effect (the planted variants).
    chunk_variants : variants standardised at once (memory ~ 8 n chunk_variants bytes).

    Returns
    -------
    :class:`PolygenicBackground`.
    """
    traits = [str(t) for t in h2]
    values = np.array([float(h2[t]) for t in traits], dtype=np.float64)
    if not np.all(np.isfinite(values) & (values >= 0) & (values < 1)):
        raise ValueError(f"polygenic h2 must be in [0, 1) per trait, got {dict(zip(traits, values))}")
    m = geno.m
    u = rng.standard_normal((len(traits), m))
    freq = geno.variants["freq_a1"].to_numpy(np.float64)
    causal = (freq > 0) & (freq < 1) & ~geno.variants["id"].isin(list(exclude)).to_numpy()
    m_c = int(causal.sum())
    if m_c == 0 and values.any():
        raise ValueError("no polymorphic variant left for the polygenic background")
    scale = np.sqrt(values / max(m_c, 1))
    effects = np.where(causal[:, None], u.T * scale[None, :], 0.0)
    g = np.zeros((geno.n, len(traits)), dtype=np.float64)
    if values.any():
        for lo in range(0, m, chunk_variants):
            sl = slice(lo, min(m, lo + chunk_variants))
            if causal[sl].any():
                g += standardised_genotypes(geno, sl) @ effects[sl]
    return PolygenicBackground(traits=traits, h2=dict(zip(traits, values.tolist())), causal=causal,
                               effects=effects, values=g)
