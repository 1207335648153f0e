"""LD score regression: SNP heritability and genetic correlation from GWAS summary statistics.

Our own implementation of ldsc's estimators (Bulik-Sullivan et al. 2015, Nat Genet 47:291 and its
supplementary note; cross-trait: Bulik-Sullivan et al. 2015, Nat Genet 47:1236), vectorised over
phenotypes: every phenotype's (or pair's) regression runs as one column of ``(S, Q)`` matrices,
``S`` variants by ``Q`` phenotypes of a batch.

Model (one phenotype): ``E[chi2_j] = intercept + N_j h2 l_j / M`` with ``chi2_j = z_j^2``, ``l_j``
the LD score, ``M`` the number of variants the LD scores sum over. Cross-trait:
``E[z1_j z2_j] = intercept + sqrt(N1_j N2_j) gcov l_j / M``.

The estimator, step by step (ldsc ``--h2`` / ``--rg`` with one LD score column):

1. Regressor ``x_j = N_j l_j / Nbar`` (``Nbar`` the mean ``N`` over the regression's variants;
   ``sqrt(N1 N2)`` for a pair), response ``chi2`` (``z1 z2``), plus an intercept column unless the
   intercept is fixed (then the response is ``chi2 - intercept``).
2. Weights ``1 / (var_j * max(w_l_j, 1))``, ``w_l`` the weight LD scores (ldsc's ``--w-ld``: LD
   with the regression variants only), with the heteroscedasticity term
   ``var_j = 2 (intercept + h2 N_j max(l_j, 1) / M)^2`` (h2 clipped to [0, 1]); for a pair
   ``var_j = (N1 h1 l / M + i1)(N2 h2 l / M + i2) + (sqrt(N1 N2) gcov l / M + i12)^2``
   (h clipped to [0, 1], gcov to [-1, 1], ``i1``/``i2`` the two h2 intercepts). The first
   weights use the aggregate estimate ``h2 = M (mean chi2 - 1) / mean(N l)`` (``- 0`` for a
   pair) and intercept 1 (0) or the fixed one.
3. Iteratively reweighted least squares: two updates of the weights from the current fit, then
   the final weighted fit.
4. Block jackknife: the variants in their LD-score order (chromosome, position) cut into
   ``n_blocks`` = min(200, S) contiguous blocks of equal count (``floor(linspace(0, S, B + 1))``);
   delete-one-block estimates from the block sums of ``X'WX`` and ``X'Wy``; pseudovalues
   ``B est - (B - 1) delete_k``; SE = sqrt(var(pseudovalues) / B).
5. Two-step estimator (default when the intercept is free; ldsc ``--two-step 30``; note that
   ``ldsc.py --rg`` leaves it off unless ``--two-step 30`` is given, so our rg equals
   ``ldsc.py --rg --two-step 30``, and differs from a plain ``ldsc.py --rg`` in the third decimal): step 1 fits
   slope and intercept on the variants with chi2 < 30 (for a pair: both z^2 < 30) with the blocks
   cut over those variants; step 2 fixes the intercept at step 1's and fits the slope on all
   variants, with the step-1 block boundaries mapped onto all variants (each boundary at the
   variant that starts the step-1 block); the slope's delete values are corrected by
   ``- c (intercept_k - intercept)``, ``c = sum(w0 x) / sum(w0 x^2)`` with the first weights.
   As in ldsc, step 1 starts from the first weights of all variants and its weight updates put
   the regressor ``N l / Nbar`` where the LD score goes (the same when N is constant).
6. ``h2 = M slope / Nbar``; ``ratio = (intercept - 1) / (mean chi2 - 1)`` with SE
   ``intercept_se / (mean chi2 - 1)`` (only when mean chi2 > 1); ``lambda_GC = median(chi2) /
   0.4549``. ``rg = gcov / sqrt(h2_1 h2_2)`` (only when both h2 > 0) with a ratio jackknife over
   the delete values of the three regressions (block by block); ``p`` from ``(rg / se)^2 ~ chi2_1``.

A pair's h2 are re-estimated on the variants both phenotypes have (as ``ldsc --rg``); when those
are exactly each phenotype's own variants, the single-trait fits are reused.

Summary statistics come from the files ``cardiolatent gwas-results`` reads
(:mod:`cardiolatent.gwas.readers`: REGENIE, PLINK 2, PLINK 1.9, BOLT-LMM): ``z = beta / se``,
``N`` from ``N`` / ``OBS_CT`` / ``NMISS`` (BOLT-LMM files have none: give ``n``), alleles to
align the signs of ``z`` across phenotypes. As ``munge_sumstats.py`` and ``ldsc --rg``: only
biallelic SNPs with A/C/G/T alleles, strand-ambiguous SNPs (A/T, C/G) dropped unless
``keep_ambiguous`` (harmless when every GWAS ran on the same genotypes), a repeated variant id
kept once (the first), alleles matched allowing strand and allele flips (a variant whose alleles
do not match the reference pair, the first phenotype's, is dropped for that phenotype).
Variants are merged with the LD scores (and the weight LD scores) by id.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_dist

from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.ldscores import LDScores
from cardiolatent.io_utils import natural_key
from cardiolatent.gwas.readers import ResultFile, discover_results, iter_chunks

__all__ = [
    "H2_COLUMNS",
    "RG_COLUMNS",
    "LdscResult",
    "MergedSumstats",
    "gcov_regression",
    "h2_regression",
    "ldsc",
    "ldsc_h2",
    "ldsc_rg",
    "merge_sumstats",
]

METHOD = "ldsc"
#: columns of the h2 table (the shared heritability contract plus ldsc's extras)
H2_COLUMNS = ("phenotype", "method", "h2", "se", "n", "intercept", "intercept_se", "ratio", "ratio_se",
              "mean_chisq", "lambda_gc", "m", "n_snps", "status")
#: columns of the rg table
RG_COLUMNS = ("phenotype1", "phenotype2", "method", "rg", "se", "z", "p", "gcov", "gcov_se",
              "gcov_intercept", "gcov_intercept_se", "mean_z1z2", "h2_1", "h2_1_se", "h2_2", "h2_2_se",
              "n_snps", "status")
#: ldsc's lambda_GC denominator (the median of chi2_1, as ldsc rounds it)
_MEDIAN_CHI2 = 0.4549
_ALLELE_CODE = {"A": 0, "C": 1, "G": 2, "T": 3}
#: bytes of the temporaries per array when merge_sumstats drops LD-score rows no phenotype has
_COMPACT_BYTES = 64 << 20


# ---------------------------------------------------------------------------------------------
# summary statistics merged with the LD scores
# ---------------------------------------------------------------------------------------------
@dataclass
class MergedSumstats:
    """Every phenotype's z and N on the variants of the LD scores.

    Attributes
    ----------
    variants : DataFrame ``chrom, id, pos, l2, w_l2`` (S rows; the LD scores' order, which the
        jackknife blocks follow): the variants with an LD score, a weight LD score and at least one
        phenotype's statistics.
    phenotypes : the P phenotype names (columns of ``z`` and ``n``).
    z : (S, P) float64 z-scores aligned to one allele per variant, NaN where a phenotype lacks it.
    n : (S, P) float64 sample sizes, NaN where ``z`` is.
    m : ``M`` of the LD scores (the regression's ``M``).
    counts : DataFrame per phenotype: ``phenotype, source, n_read, n_not_snp, n_ambiguous,
        n_duplicated, n_no_ld, n_allele_mismatch, n_merged``.
    ld_source, w_ld_source : where the LD scores came from.
    """

    variants: pd.DataFrame
    phenotypes: list[str]
    z: np.ndarray
    n: np.ndarray
    m: float
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    ld_source: str = ""
    w_ld_source: str = ""


def _allele_codes(a) -> np.ndarray:
    """Alleles -> int8 codes A 0, C 1, G 2, T 3 (complement: 3 - code); anything else -1."""
    codes, uniq = pd.factorize(np.asarray(a, dtype=object), use_na_sentinel=True)
    lut = np.array([_ALLELE_CODE.get(str(u).upper(), -1) for u in uniq] + [-1], dtype=np.int8)
    return lut[codes]  # code -1 (missing) picks the trailing -1


def _phenotype_frames(results, *, name_regex, format, test, min_mac, min_info) -> list[tuple[str, str, object]]:
    """(phenotype, source, list of ResultFile | DataFrame) from the ``results`` argument."""
    if isinstance(results, Mapping):
        out = []
        for name, df in results.items():
            if not isinstance(df, pd.DataFrame):
                raise CardiolatentError(f"summary statistics of {name!r} must be a DataFrame")
            out.append((str(name), f"table {name}", df))
        return out
    if isinstance(results, (str, os.PathLike)):
        results = [results]
    files = [r for r in results if isinstance(r, ResultFile)]
    paths = [r for r in results if not isinstance(r, ResultFile)]
    if paths:
        files += discover_results(paths, name_regex=name_regex, format=format)
    if not files:
        raise CardiolatentError("no GWAS results files found for LD score regression")
    by: dict[str, list[ResultFile]] = {}
    for rf in files:
        by.setdefault(rf.latent or rf.path.name, []).append(rf)
    return [(name, ", ".join(str(r.path) for r in rfs), rfs) for name, rfs in by.items()]


def _read_phenotype(obj, name: str, *, n, test, min_mac, min_info) -> pd.DataFrame:
    """``id, a1, a2, z, n`` rows of one phenotype (files or a DataFrame)."""
    if isinstance(obj, pd.DataFrame):
        df = obj
        where = f"summary statistics of {name}"
        for col in ("id", "effect_allele", "other_allele"):
            if col not in df.columns:
                raise CardiolatentError(f"{where}: no column {col!r}")
        if "z" in df.columns:
            z = pd.to_numeric(df["z"], errors="coerce").to_numpy(np.float64)
        elif "beta" in df.columns and "se" in df.columns:
            with np.errstate(divide="ignore", invalid="ignore"):
                z = pd.to_numeric(df["beta"], errors="coerce").to_numpy(np.float64) / \
                    pd.to_numeric(df["se"], errors="coerce").to_numpy(np.float64)
        else:
            raise CardiolatentError(f"{where}: needs a column 'z' or the columns 'beta' and 'se'")
        nn = pd.to_numeric(df["n"], errors="coerce").to_numpy(np.float64) if "n" in df.columns else None
        out = pd.DataFrame({"id": df["id"].astype(str).to_numpy(), "a1": df["effect_allele"].to_numpy(),
                            "a2": df["other_allele"].to_numpy(), "z": z})
        files = [where]
    else:
        parts = []
        for rf in obj:
            if "beta" not in rf.columns and "or" not in rf.columns or ("se" not in rf.columns and "stat" not in rf.columns):
                raise CardiolatentError(f"{rf.path}: LD score regression needs the effect size and its "
                                        "standard error (BETA and SE columns)")
            for ch in iter_chunks(rf, test=test, min_mac=min_mac, min_info=min_info):
                if len(ch):
                    d = ch.details()
                    parts.append(d[["id", "effect_allele", "other_allele", "beta", "se", "n"]])
        files = [str(rf.path) for rf in obj]
        if not parts:
            raise CardiolatentError(f"{files[0]}: no variant with a P value")
        d = pd.concat(parts, ignore_index=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = d["beta"].to_numpy(np.float64) / d["se"].to_numpy(np.float64)
        nn = d["n"].to_numpy(np.float64)
        if np.isnan(nn).all():
            nn = None
        out = pd.DataFrame({"id": d["id"].astype(str).to_numpy(), "a1": d["effect_allele"].to_numpy(),
                            "a2": d["other_allele"].to_numpy(), "z": z})
    if nn is None:
        if n is None:
            raise CardiolatentError(f"{files[0]}: no sample size column (N / OBS_CT); give n (the GWAS "
                                    "sample size, e.g. for BOLT-LMM files)")
        given = n.get(name) if isinstance(n, Mapping) else n
        if given is None:
            raise CardiolatentError(f"{files[0]}: no sample size column and no n for phenotype {name!r}")
        nn = np.full(len(out), float(given))
    out["n"] = nn
    return out


def merge_sumstats(results, ld: LDScores, w_ld: LDScores | None = None, *, m: str | float = "M_5_50",
                   n: float | Mapping[str, float] | None = None, keep_ambiguous: bool = False,
                   name_regex: str | None = None, format: str | None = None, test: str | None = "ADD",
                   min_mac: float | None = None, min_info: float | None = None) -> MergedSumstats:
    """Read GWAS summary statistics and put them on the LD scores' variants.

    Parameters
    ----------
    results : files, globs or folders of GWAS results (what ``cardiolatent gwas-results`` reads;
        one phenotype per file name, as :func:`cardiolatent.gwas.readers.discover_results`), a list
        of :class:`ResultFile`, or a mapping phenotype -> DataFrame with ``id, effect_allele,
        other_allele`` and ``z`` (or ``beta, se``) and ``n``.
    ld : the LD scores (:func:`compute_ld_scores` / :func:`read_ld_scores`).
    w_ld : the weight LD scores (ldsc's ``--w-ld``); default ``ld`` (right for LD scores computed
        in-sample on the GWAS variants).
    m : ``"M_5_50"`` (ldsc's default), ``"M"``, or a number.
    n : the GWAS sample size for files without an N column (a number, or per phenotype).
    keep_ambiguous : keep strand-ambiguous SNPs (A/T, C/G).
    name_regex, format, test, min_mac, min_info : as for ``gwas-results`` (file names -> phenotype,
        forced format, the TEST rows used, minor allele count and INFO filters).

    Raises
    ------
    CardiolatentError
        No files, a file without BETA / SE or N (and no ``n``), or no variant in common with the
        LD scores (the message names the phenotype and shows ids of both).
    """
    mval = float(m) if isinstance(m, (int, float)) else ld.m_for(m)
    if not mval > 0:
        raise CardiolatentError(f"m must be positive, not {m}")
    w_ld = ld if w_ld is None else w_ld
    lt = ld.table
    base = pd.DataFrame({"chrom": lt["chrom"].to_numpy(), "id": lt["id"].to_numpy(), "pos": lt["pos"].to_numpy(),
                         "l2": lt["l2"].to_numpy(np.float64)})
    if w_ld is not ld:
        wpos = pd.Index(w_ld.table["id"]).get_indexer(base["id"])
        base = base[wpos >= 0].reset_index(drop=True)
        base["w_l2"] = w_ld.table["l2"].to_numpy(np.float64)[wpos[wpos >= 0]]
        if base.empty:
            raise CardiolatentError(f"no variant of the LD scores {ld.source} has a weight LD score in {w_ld.source}")
    else:
        base["w_l2"] = base["l2"]
    index = pd.Index(base["id"])
    S = len(base)
    phen = _phenotype_frames(results, name_regex=name_regex, format=format, test=test, min_mac=min_mac,
                             min_info=min_info)
    names = [p[0] for p in phen]
    P = len(names)
    z = np.full((S, P), np.nan)
    nn = np.full((S, P), np.nan)
    ref1 = np.full(S, -1, dtype=np.int8)
    ref2 = np.full(S, -1, dtype=np.int8)
    rows = []
    cache_ids, cache_pos = None, None
    for k, (name, source, obj) in enumerate(phen):
        d = _read_phenotype(obj, name, n=n, test=test, min_mac=min_mac, min_info=min_info)
        n_read = len(d)
        ok = np.isfinite(d["z"].to_numpy()) & np.isfinite(d["n"].to_numpy()) & (d["n"].to_numpy() > 0)
        a1, a2 = _allele_codes(d["a1"]), _allele_codes(d["a2"])
        snp = (a1 >= 0) & (a2 >= 0) & (a1 != a2)
        amb = snp & (a1 == 3 - a2)
        n_not_snp = int((ok & ~snp).sum())
        n_amb = int((ok & amb).sum()) if not keep_ambiguous else 0
        keep = ok & snp & (keep_ambiguous | ~amb)
        ids = d["id"].to_numpy(dtype=object)
        # a repeated id among the kept rows: the first is kept
        dup = pd.Series(np.where(keep, ids, None)).duplicated(keep="first").to_numpy() & keep
        keep &= ~dup
        if cache_ids is not None and len(ids) == len(cache_ids) and np.array_equal(ids, cache_ids):
            pos = cache_pos  # the same variants in the same order as the previous file: no re-hashing
        else:
            pos = index.get_indexer(ids)
            cache_ids, cache_pos = ids, pos
        no_ld = keep & (pos < 0)
        keep &= pos >= 0
        sel = np.flatnonzero(keep)
        p = pos[sel]
        b1, b2 = a1[sel], a2[sel]
        unset = ref1[p] < 0
        ref1[p[unset]], ref2[p[unset]] = b1[unset], b2[unset]
        r1, r2 = ref1[p], ref2[p]
        same = (b1 == r1) & (b2 == r2)
        swap = (b1 == r2) & (b2 == r1)
        ambs = b1 == 3 - b2
        same |= ~ambs & ((3 - b1) == r1) & ((3 - b2) == r2)
        swap |= ~ambs & ~same & ((3 - b1) == r2) & ((3 - b2) == r1)
        good = same | swap
        sign = np.where(same, 1.0, -1.0)
        zz = d["z"].to_numpy(np.float64)[sel]
        z[p[good], k] = zz[good] * sign[good]
        nn[p[good], k] = d["n"].to_numpy(np.float64)[sel][good]
        n_merged = int(good.sum())
        rows.append(dict(phenotype=name, source=source, n_read=n_read, n_not_snp=n_not_snp, n_ambiguous=n_amb,
                         n_duplicated=int(dup.sum()), n_no_ld=int(no_ld.sum()),
                         n_allele_mismatch=int((~good).sum()), n_merged=n_merged))
        if n_merged == 0:
            ex_ld = ", ".join(base["id"].head(3))
            ex_ss = ", ".join(map(str, ids[:3]))
            raise CardiolatentError(f"{source}: no variant in common with the LD scores {ld.source} "
                                    f"(ids there: {ex_ld}, ...; here: {ex_ss}, ...)")
    have = np.isfinite(z).any(axis=1)
    if not have.all():
        # drop the LD-score rows no phenotype has, in place: z[have] would copy both (S, P) arrays
        # (2 x 5 GB at 640 phenotypes x 1M variants). Row i moves to i' <= i, chunk by chunk (each
        # chunk's source rows are read into a temporary before its destination rows are written, and
        # later chunks' source rows lie beyond this chunk's destination), so nothing is overwritten
        # before it is read.
        src = np.flatnonzero(have)
        step = max(1, _COMPACT_BYTES // max(1, 8 * P))
        for a in range(0, src.size, step):
            sl = src[a:a + step]
            z[a:a + sl.size] = z[sl]
            nn[a:a + sl.size] = nn[sl]
        z, nn = z[:src.size], nn[:src.size]
    return MergedSumstats(variants=base[have].reset_index(drop=True), phenotypes=names, z=z, n=nn,
                          m=mval, counts=pd.DataFrame(rows), ld_source=ld.source, w_ld_source=w_ld.source)


# ---------------------------------------------------------------------------------------------
# the regression core: Q regressions at once, one per column of (S, Q) matrices
# ---------------------------------------------------------------------------------------------
def _separators(sub: np.ndarray, n_blocks: int) -> np.ndarray:
    """(B + 1, Q) block boundaries on the full variant index: block k of column q holds the
    ``sub[:, q]`` variants of rank ``floor(k c / B)`` to ``floor((k + 1) c / B) - 1``
    (``c`` = that column's count), starting at the variant of the first rank (ldsc's separators,
    and for step 2 of the two-step estimator, its ``update_separators``)."""
    S, Q = sub.shape
    out = np.empty((n_blocks + 1, Q), dtype=np.int64)
    cm = np.cumsum(sub, axis=0, dtype=np.int64)
    for q in range(Q):
        cnt = int(cm[-1, q]) if S else 0
        s = np.floor(np.linspace(0, cnt, n_blocks + 1)).astype(np.int64)
        out[:, q] = np.searchsorted(cm[:, q], s + 1, side="left")  # position of the rank-s variant
        out[0, q], out[-1, q] = 0, S
    return out


def _block_index(bounds: np.ndarray) -> np.ndarray:
    """(S * Q,) flat index ``q * B + k`` of each element of an (S, Q) matrix (C order) whose
    column q has its blocks at ``[bounds[k, q], bounds[k + 1, q])``."""
    B, Q = bounds.shape[0] - 1, bounds.shape[1]
    S = int(bounds[-1, 0])
    out = np.empty((S, Q), dtype=np.int64)
    for q in range(Q):
        out[:, q] = np.repeat(np.arange(B, dtype=np.int64) + q * B, np.diff(bounds[:, q]))
    return out.ravel()


def _block_sums(v: np.ndarray, index: np.ndarray, B: int) -> np.ndarray:
    """(B, Q) sums of ``v`` (S, Q) over each column's blocks (``index`` from :func:`_block_index`)."""
    Q = v.shape[1]
    return np.bincount(index, weights=v.ravel(), minlength=B * Q).reshape(Q, B).T


def _wls(w, x, y, free: bool):
    """Weighted least squares of ``y`` on ``x`` (+ intercept when ``free``), per column; rows with
    ``w = 0`` do not count. Returns (slope, intercept or None)."""
    wx = w * x
    sxx = np.einsum("sq,sq->q", wx, x)
    sxy = np.einsum("sq,sq->q", wx, y)
    if not free:
        return sxy / sxx, None
    s0 = w.sum(axis=0)
    s1 = wx.sum(axis=0)
    sy = np.einsum("sq,sq->q", w, y)
    det = sxx * s0 - s1 * s1
    return (s0 * sxy - s1 * sy) / det, (sxx * sy - s1 * sxy) / det


def _jackknife(w, x, y, free: bool, bounds: np.ndarray):
    """Final fit and delete-one-block fits of the weighted regression: (est slope, est intercept,
    delete slopes (B, Q), delete intercepts (B, Q) or None)."""
    wx = w * x
    index, B = _block_index(bounds), bounds.shape[0] - 1
    blocks = {"sxx": _block_sums(wx * x, index, B), "sxy": _block_sums(wx * y, index, B)}
    if free:
        blocks["s0"] = _block_sums(w, index, B)
        blocks["s1"] = _block_sums(wx, index, B)
        blocks["sy"] = _block_sums(w * y, index, B)
    tot = {k: v.sum(axis=0) for k, v in blocks.items()}
    dele = {k: tot[k][None, :] - v for k, v in blocks.items()}

    def solve(t):
        if not free:
            return t["sxy"] / t["sxx"], None
        det = t["sxx"] * t["s0"] - t["s1"] * t["s1"]
        return (t["s0"] * t["sxy"] - t["s1"] * t["sy"]) / det, (t["sxx"] * t["sy"] - t["s1"] * t["sxy"]) / det

    b, a = solve(tot)
    db, da = solve(dele)
    return b, a, db, da


def _irwls(w0, x, y, free, fixed, weight_fn, bounds, to_tot):
    """ldsc's IRWLS: two weight updates, then the jackknifed final fit. ``weight_fn(tot, intercept)``
    gives new (S, Q) weights (zero off the regression's rows); ``to_tot`` slope -> h2 / gcov."""
    w = w0
    for _ in range(2):
        b, a = _wls(w, x, y, free)
        w = weight_fn(to_tot(b), a if free else fixed)
    return _jackknife(w, x, y, free, bounds)


def _pseudo_se(est: np.ndarray, dele: np.ndarray) -> np.ndarray:
    """Jackknife SE from the whole-data estimate (Q,) and the delete values (B, Q)."""
    B = dele.shape[0]
    ps = B * est[None, :] - (B - 1) * dele
    return np.sqrt(np.var(ps, axis=0, ddof=1) / B)


def _ldsc_core(y, neff, ld, w_ld, m, mask, weight_fn, *, null_intercept, fixed, two_step_rows, n_blocks):
    """One batch of LD score regressions (h2 or gcov), columns independent.

    y, neff, mask : (S, Q); ld, w_ld : (S,); fixed : (Q,) intercepts or None (free);
    two_step_rows : (S, Q) bool step-1 rows (within mask) or None; weight_fn(tot (Q,),
    intercept (Q,), neff_rows) -> (S, Q) weights before masking.
    Returns dict of (Q,) arrays est/se/intercept/intercept_se and (B, Q) ``tot_delete``.
    """
    maskf = mask.astype(np.float64)
    cnt = maskf.sum(axis=0)
    nbar = (np.where(mask, neff, 0.0)).sum(axis=0) / cnt
    nz = np.where(mask, neff, 0.0)
    x = nz * ld[:, None] / nbar[None, :]
    y = np.where(mask, y, 0.0)
    to_tot = lambda b: m * b / nbar  # noqa: E731
    agg_int = null_intercept if fixed is None else fixed
    agg = m * (y.sum(axis=0) / cnt - agg_int) / ((nz * ld[:, None]).sum(axis=0) / cnt)
    ldc = np.fmax(ld, 1.0)[:, None]
    w0 = weight_fn(agg, np.broadcast_to(agg_int, agg.shape).astype(np.float64), ldc) * maskf

    def wf(rows, ldm=ldc):
        def f(tot, icp):
            w = weight_fn(tot, icp, ldm)
            w *= rows
            return w
        return f

    out = {}
    if fixed is not None:
        yp = y - fixed[None, :] * maskf
        bounds = _separators(mask, n_blocks)
        b, _, db, _ = _irwls(w0, x, yp, False, fixed, wf(maskf), bounds, to_tot)
        out.update(slope=b, dslope=db, intercept=np.asarray(fixed, dtype=np.float64),
                   intercept_se=np.full(b.shape, np.nan))
    elif two_step_rows is None:
        bounds = _separators(mask, n_blocks)
        b, a, db, da = _irwls(w0, x, y, True, None, wf(maskf), bounds, to_tot)
        out.update(slope=b, dslope=db, intercept=a, intercept_se=_pseudo_se(a, da))
    else:
        r1 = two_step_rows & mask
        if (r1.sum(axis=0) < n_blocks).any():  # ldsc: "More blocks than data points"
            r1 = r1 & (r1.sum(axis=0) >= n_blocks)[None, :]
        r1f = r1.astype(np.float64)
        bounds = _separators(r1, n_blocks)
        # step 1: slope and intercept on the rows below the cut-off (first weights from all rows)
        # (as ldsc, step 1's weight updates take the regressor N l / Nbar for the LD score l)
        _, a1, _, da1 = _irwls(w0 * r1f, x * r1f, y * r1f, True, None, wf(r1f, np.fmax(x, 1.0)), bounds, to_tot)
        # step 2: the intercept fixed at step 1's, the slope on every row, step 1's blocks
        yp = y - a1[None, :] * maskf
        b2, _, db2, _ = _irwls(w0, x, yp, False, a1, wf(maskf), bounds, to_tot)
        c = (w0 * x).sum(axis=0) / (w0 * x * x).sum(axis=0)
        db = db2 - c[None, :] * (da1 - a1[None, :])
        out.update(slope=b2, dslope=db, intercept=a1, intercept_se=_pseudo_se(a1, da1))
    out["est"] = to_tot(out["slope"])
    out["se"] = m * _pseudo_se(out["slope"], out["dslope"]) / nbar
    out["tot_delete"] = m * out["dslope"] / nbar[None, :]
    out["nbar"] = nbar
    out["n_snps"] = cnt
    return out


def _as_2d(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise CardiolatentError(f"{name} must be a vector or an (S, Q) matrix")
    return a


def _n_blocks_for(mask: np.ndarray, n_blocks: int) -> np.ndarray:
    return np.minimum(mask.sum(axis=0), int(n_blocks))


def _run_grouped(mask, n_blocks, fn):
    """Run ``fn(cols, B)`` for groups of columns sharing the block count ``min(S_q, n_blocks)``
    and stitch the outputs (columns with fewer than 3 variants are left NaN)."""
    Q = mask.shape[1]
    nb = _n_blocks_for(mask, n_blocks)
    results: dict[str, np.ndarray] = {}
    for B in np.unique(nb):
        cols = np.flatnonzero(nb == B)
        if B < 3:
            continue
        r = fn(cols, int(B))
        for k, v in r.items():
            if v.ndim == 1:
                results.setdefault(k, np.full(Q, np.nan))[cols] = v
            else:
                arr = results.setdefault(k, np.full((int(n_blocks), Q), np.nan))
                arr[:B, cols] = v
    return results


def h2_regression(chi2, ld, w_ld, n, m: float, *, mask=None, intercept=None, two_step: float | None = 30.0,
                  chisq_max: float | None = None, n_blocks: int = 200) -> dict[str, np.ndarray]:
    """SNP heritability by LD score regression for Q phenotypes at once (array level).

    Parameters
    ----------
    chi2 : (S,) or (S, Q) chi^2 statistics (z^2), rows in LD-score order (the jackknife blocks).
    ld, w_ld : (S,) LD scores and weight LD scores.
    n : (S,) or (S, Q) sample sizes.
    m : M, the number of variants the LD scores sum over.
    mask : (S, Q) bool rows used per column (default: where chi2 and n are finite).
    intercept : None (estimated), a number or (Q,) numbers (fixed; ldsc ``--intercept-h2``,
        ``--no-intercept`` is 1).
    two_step : the chi^2 cut-off of the two-step estimator (ldsc's default 30; used only with a
        free intercept; None: one step).
    chisq_max : drop rows with chi^2 >= this first (ldsc ``--chisq-max``; default none).
    n_blocks : jackknife blocks (min(this, rows)).

    Returns
    -------
    dict of (Q,) arrays ``h2, se, intercept, intercept_se, ratio, ratio_se, mean_chisq,
    lambda_gc, nbar, n_snps`` and ``tot_delete`` (n_blocks, Q), the delete-one-block h2.
    """
    chi2 = _as_2d(chi2, "chi2")
    S, Q = chi2.shape
    n = np.broadcast_to(_as_2d(n, "n"), (S, Q))
    ld = np.asarray(ld, dtype=np.float64).ravel()
    w_ld = np.asarray(w_ld, dtype=np.float64).ravel()
    if ld.size != S or w_ld.size != S:
        raise CardiolatentError(f"ld and w_ld must have {S} values (one per row of chi2)")
    mask = np.isfinite(chi2) & np.isfinite(n) if mask is None else np.asarray(mask, dtype=bool) & np.isfinite(chi2)
    if chisq_max is not None:
        mask = mask & (chi2 < float(chisq_max))
    fixed_all = None if intercept is None else np.broadcast_to(np.asarray(intercept, dtype=np.float64), (Q,))
    wldc = np.fmax(w_ld, 1.0)[:, None]
    y_all = np.where(mask, chi2, 0.0)
    n_all = np.where(mask, n, 0.0)

    def run(cols, B):
        nn = n_all[:, cols]

        base: dict = {}  # id(ldm) -> (ldm, N l / M): fixed across the iterations

        def weight_fn(h, icp, ldm):
            if id(ldm) not in base:
                base[id(ldm)] = (ldm, nn * ldm / m)
            t = base[id(ldm)][1] * np.clip(h, 0.0, 1.0)[None, :]
            t += icp[None, :]
            np.square(t, out=t)
            t *= 2.0
            t *= wldc
            return np.reciprocal(t, out=t)

        fixed = None if fixed_all is None else fixed_all[cols]
        rows = None if (fixed is not None or two_step is None) else y_all[:, cols] < float(two_step)
        return _ldsc_core(y_all[:, cols], nn, ld, w_ld, float(m), mask[:, cols], weight_fn,
                          null_intercept=1.0, fixed=fixed, two_step_rows=rows, n_blocks=B)

    with np.errstate(divide="ignore", invalid="ignore"):
        r = _run_grouped(mask, n_blocks, run)
        out = {"h2": r.get("est", np.full(Q, np.nan)), "se": r.get("se", np.full(Q, np.nan)),
               "intercept": r.get("intercept", np.full(Q, np.nan)),
               "intercept_se": r.get("intercept_se", np.full(Q, np.nan)),
               "nbar": r.get("nbar", np.full(Q, np.nan)), "n_snps": mask.sum(axis=0).astype(np.float64),
               "tot_delete": r.get("tot_delete", np.full((int(n_blocks), Q), np.nan))}
        cnt = mask.sum(axis=0)
        mean = np.where(mask, chi2, 0.0).sum(axis=0) / cnt
        med = np.array([np.median(chi2[mask[:, q], q]) if cnt[q] else np.nan for q in range(Q)])
        out["mean_chisq"] = mean
        out["lambda_gc"] = med / _MEDIAN_CHI2
        free = fixed_all is None
        above = mean > 1
        out["ratio"] = np.where(free & above, (out["intercept"] - 1.0) / (mean - 1.0), np.nan)
        out["ratio_se"] = np.where(free & above, out["intercept_se"] / (mean - 1.0), np.nan)
    return out


def gcov_regression(z1, z2, ld, w_ld, n1, n2, m: float, h2_1, h2_2, intercept_1, intercept_2, *, mask=None,
                    intercept=None, two_step: float | None = 30.0, n_blocks: int = 200) -> dict[str, np.ndarray]:
    """Genetic covariance by cross-trait LD score regression for Q pairs at once (array level).

    ``z1, z2, n1, n2`` : (S, Q) (or (S,)); ``h2_1, h2_2, intercept_1, intercept_2`` : (Q,) the
    pair's h2 and h2 intercepts (estimated on the same rows; they enter the weights only);
    ``intercept`` : None (estimated) or fixed (ldsc ``--intercept-gencov``; 0 without sample
    overlap); ``two_step`` : both z^2 below it in step 1. Returns dict of (Q,) ``gcov, se,
    intercept, intercept_se, mean_z1z2, nbar, n_snps`` and ``tot_delete`` (n_blocks, Q).
    """
    z1, z2 = _as_2d(z1, "z1"), _as_2d(z2, "z2")
    S, Q = z1.shape
    n1 = np.broadcast_to(_as_2d(n1, "n1"), (S, Q))
    n2 = np.broadcast_to(_as_2d(n2, "n2"), (S, Q))
    ld = np.asarray(ld, dtype=np.float64).ravel()
    w_ld = np.asarray(w_ld, dtype=np.float64).ravel()
    ok = np.isfinite(z1) & np.isfinite(z2) & np.isfinite(n1) & np.isfinite(n2)
    mask = ok if mask is None else np.asarray(mask, dtype=bool) & ok
    vec = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (Q,))  # noqa: E731
    h1, h2, i1, i2 = vec(h2_1), vec(h2_2), vec(intercept_1), vec(intercept_2)
    fixed_all = None if intercept is None else vec(intercept)
    wldc = np.fmax(w_ld, 1.0)[:, None]
    za, zb = np.where(mask, z1, 0.0), np.where(mask, z2, 0.0)
    na, nb = np.where(mask, n1, 0.0), np.where(mask, n2, 0.0)

    def run(cols, B):
        n1c, n2c = na[:, cols], nb[:, cols]
        h1c, h2c = np.clip(h1[cols], 0, 1), np.clip(h2[cols], 0, 1)
        i1c, i2c = i1[cols], i2[cols]
        sq = np.sqrt(n1c * n2c)

        base: dict = {}  # id(ldm) -> (ldm, the h2 part a b, sqrt(N1 N2) l / M): fixed across iterations

        def weight_fn(rho, icp, ldm):
            if id(ldm) not in base:
                a = n1c * ldm / m * h1c[None, :] + i1c[None, :]
                b = n2c * ldm / m * h2c[None, :] + i2c[None, :]
                a *= b
                base[id(ldm)] = (ldm, a, sq * ldm / m)
            _, ab, sl = base[id(ldm)]
            t = sl * np.clip(rho, -1.0, 1.0)[None, :]
            t += icp[None, :]
            np.square(t, out=t)
            t += ab
            t *= wldc
            return np.reciprocal(t, out=t)

        fixed = None if fixed_all is None else fixed_all[cols]
        rows = None
        if fixed is None and two_step is not None:
            rows = (za[:, cols] ** 2 < float(two_step)) & (zb[:, cols] ** 2 < float(two_step))
        return _ldsc_core(za[:, cols] * zb[:, cols], sq, ld, w_ld, float(m), mask[:, cols], weight_fn,
                          null_intercept=0.0, fixed=fixed, two_step_rows=rows, n_blocks=B)

    with np.errstate(divide="ignore", invalid="ignore"):
        r = _run_grouped(mask, n_blocks, run)
        cnt = mask.sum(axis=0)
        return {"gcov": r.get("est", np.full(Q, np.nan)), "se": r.get("se", np.full(Q, np.nan)),
                "intercept": r.get("intercept", np.full(Q, np.nan)),
                "intercept_se": r.get("intercept_se", np.full(Q, np.nan)),
                "mean_z1z2": (za * zb).sum(axis=0) / cnt, "nbar": r.get("nbar", np.full(Q, np.nan)),
                "n_snps": cnt.astype(np.float64),
                "tot_delete": r.get("tot_delete", np.full((int(n_blocks), Q), np.nan))}


def _rg_from(gc: dict, h1: dict, h2: dict, i1, i2, q) -> tuple[float, float]:
    """rg and its ratio-jackknife SE for column ``q`` of gc and columns i1 / i2 of h1 / h2."""
    a, b = h1["h2"][i1], h2["h2"][i2]
    if not (a > 0 and b > 0):
        return float("nan"), float("nan")
    rg = gc["gcov"][q] / math.sqrt(a * b)
    num = gc["tot_delete"][:, q]
    den = np.sqrt(h1["tot_delete"][:, i1] * h2["tot_delete"][:, i2])
    keep = np.isfinite(num)
    num, den = num[keep], den[keep]
    B = num.size
    ps = B * rg - (B - 1) * num / den
    return float(rg), float(np.sqrt(np.var(ps, ddof=1) / B))


# ---------------------------------------------------------------------------------------------
# phenotypes and pairs: tables in the shared contract
# ---------------------------------------------------------------------------------------------
def _batch_size(S: int, batch: int | None, max_memory_mb: float, per_col_arrays: int = 14) -> int:
    if batch is not None:
        return max(1, int(batch))
    return max(1, int(max_memory_mb * 2**20 // max(1, S * 8 * per_col_arrays)))


def _per_phenotype(value, names: Sequence[str], what: str):
    if value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise CardiolatentError(f"{what}: unknown phenotype {unknown[0]!r}")
        return np.array([value.get(nm, np.nan) for nm in names], dtype=np.float64)
    raise CardiolatentError(f"{what} must be a number or a mapping phenotype -> number")


def _status_h2(r: dict, q: int) -> str:
    if r["n_snps"][q] < 3:
        return f"too few variants ({int(r['n_snps'][q])})"
    if not np.isfinite(r["h2"][q]) or not np.isfinite(r["se"][q]):
        return "regression failed (singular or non-positive weights)"
    return "ok"


def ldsc_h2(merged: MergedSumstats, *, intercept=None, two_step: float | None = 30.0,
            chisq_max: float | None = None, n_blocks: int = 200, batch: int | None = None,
            max_memory_mb: float = 128, _keep_delete: dict | None = None) -> pd.DataFrame:
    """SNP heritability of every phenotype of ``merged`` (ldsc ``--h2``), batched over phenotypes.

    ``intercept``: None (estimated, two-step with ``two_step``), a number (every phenotype; 1 is
    ldsc's ``--no-intercept``) or a mapping phenotype -> number (NaN / absent: estimated).
    Returns the h2 table (:data:`H2_COLUMNS`): ``n`` is the mean N over the regression's
    variants, ``m`` the M used, ``status`` ``ok`` or why there is no estimate.
    """
    names = merged.phenotypes
    S, P = merged.z.shape
    icp = _per_phenotype(intercept, names, "intercept")
    ld, wld = merged.variants["l2"].to_numpy(), merged.variants["w_l2"].to_numpy()
    step = _batch_size(S, batch, max_memory_mb)
    cols_out = {k: np.full(P, np.nan) for k in ("h2", "se", "intercept", "intercept_se", "ratio", "ratio_se",
                                               "mean_chisq", "lambda_gc", "nbar", "n_snps")}
    delete = np.full((int(n_blocks), P), np.nan)
    groups = [np.arange(P)] if not isinstance(icp, np.ndarray) else \
        [np.flatnonzero(np.isnan(icp)), np.flatnonzero(~np.isnan(icp))]
    for grp in groups:
        for s in range(0, grp.size, step):
            cols = grp[s:s + step]
            if cols.size == 0:
                continue
            z = merged.z[:, cols]
            fixed = icp if not isinstance(icp, np.ndarray) else (None if np.isnan(icp[cols[0]]) else icp[cols])
            r = h2_regression(z * z, ld, wld, merged.n[:, cols], merged.m, intercept=fixed, two_step=two_step,
                              chisq_max=chisq_max, n_blocks=n_blocks)
            for k in cols_out:
                cols_out[k][cols] = r[k]
            delete[:, cols] = r["tot_delete"]
    if _keep_delete is not None:
        _keep_delete["tot_delete"] = delete
        _keep_delete.update({k: v for k, v in cols_out.items()})
    status = [_status_h2(cols_out, q) for q in range(P)]
    return pd.DataFrame({
        "phenotype": names, "method": METHOD, "h2": cols_out["h2"], "se": cols_out["se"], "n": cols_out["nbar"],
        "intercept": cols_out["intercept"], "intercept_se": cols_out["intercept_se"], "ratio": cols_out["ratio"],
        "ratio_se": cols_out["ratio_se"], "mean_chisq": cols_out["mean_chisq"], "lambda_gc": cols_out["lambda_gc"],
        "m": merged.m, "n_snps": cols_out["n_snps"].astype(np.int64), "status": status,
    }, columns=list(H2_COLUMNS))


def _pairs(names: Sequence[str], pairs) -> list[tuple[int, int]]:
    if pairs is None or pairs == "all":
        return [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    pos = {nm: k for k, nm in enumerate(names)}
    out = []
    for pr in pairs:
        if len(pr) != 2:
            raise CardiolatentError(f"pairs: {pr!r} is not a pair of phenotype names")
        a, b = pr
        for x in (a, b):
            if x not in pos:
                raise CardiolatentError(f"pairs: unknown phenotype {x!r} (phenotypes: {', '.join(names[:8])}"
                                        f"{' ...' if len(names) > 8 else ''})")
        if a == b:
            raise CardiolatentError(f"pairs: ({a!r}, {b!r}) pairs a phenotype with itself")
        out.append((pos[a], pos[b]))
    return out


def ldsc_rg(merged: MergedSumstats, *, pairs=None, intercept_h2=None, intercept_gcov=None,
            two_step: float | None = 30.0, chisq_max: float | None = None, n_blocks: int = 200,
            batch: int | None = None, max_memory_mb: float = 128, h2_fit: dict | None = None) -> pd.DataFrame:
    """Genetic correlation of phenotype pairs (ldsc ``--rg``), batched over pairs.

    Parameters
    ----------
    pairs : None / ``"all"`` (every pair, ``P (P - 1) / 2`` regressions: the cost grows with the
        square of the number of phenotypes) or a list of ``(phenotype1, phenotype2)``.
    intercept_h2 : fixed h2 intercepts (number or mapping), as in :func:`ldsc_h2`.
    intercept_gcov : fixed gcov intercept (number or mapping of ``(p1, p2)`` -> number); 0 is
        ldsc's ``--intercept-gencov 0`` for GWAS without overlapping samples.
    chisq_max : drop variants with ``z1^2 z2^2 >= chisq_max^2`` (ldsc ``--rg --chisq-max``).
    h2_fit : the single-trait fits from :func:`ldsc_h2` (``_keep_delete``), reused for a pair whose
        variants are each phenotype's own.

    Returns the rg table (:data:`RG_COLUMNS`); rg is NaN with a status when an h2 is not positive.
    """
    names = merged.phenotypes
    S, P = merged.z.shape
    idx = _pairs(names, pairs)
    cols_out = {k: np.full(len(idx), np.nan) for k in ("rg", "se", "gcov", "gcov_se", "gcov_intercept",
                                                     "gcov_intercept_se", "mean_z1z2", "h2_1", "h2_1_se",
                                                     "h2_2", "h2_2_se", "n_snps")}
    status = ["ok"] * len(idx)
    if not idx:
        return pd.DataFrame({k: [] for k in RG_COLUMNS})
    ih2 = _per_phenotype(intercept_h2, names, "intercept_h2")
    ih2v = np.full(P, np.nan) if ih2 is None else (np.full(P, float(ih2)) if not isinstance(ih2, np.ndarray) else ih2)
    if isinstance(intercept_gcov, Mapping):
        igc = np.array([intercept_gcov.get((names[i], names[j]), intercept_gcov.get((names[j], names[i]), np.nan))
                        for i, j in idx], dtype=np.float64)
    else:
        igc = np.full(len(idx), np.nan if intercept_gcov is None else float(intercept_gcov))
    ld, wld = merged.variants["l2"].to_numpy(), merged.variants["w_l2"].to_numpy()
    finite = np.isfinite(merged.z) & np.isfinite(merged.n)
    single_mask = finite if chisq_max is None else finite & (merged.z ** 2 < float(chisq_max))
    if h2_fit is None:
        h2_fit = {}
        ldsc_h2(merged, intercept=intercept_h2, two_step=two_step, chisq_max=chisq_max, n_blocks=n_blocks,
                batch=batch, max_memory_mb=max_memory_mb, _keep_delete=h2_fit)
    step = _batch_size(S, batch, max_memory_mb, per_col_arrays=24)
    order = np.arange(len(idx))
    # pairs with the same fixed intercepts go together
    keyf = lambda k: (np.isnan(ih2v[idx[k][0]]), np.isnan(ih2v[idx[k][1]]), np.isnan(igc[k]))  # noqa: E731
    groups: dict = {}
    for k in order:
        groups.setdefault(keyf(k), []).append(k)
    for (free1, free2, freeg), members in groups.items():
        members = np.asarray(members)
        for s in range(0, members.size, step):
            ks = members[s:s + step]
            i = np.array([idx[k][0] for k in ks])
            j = np.array([idx[k][1] for k in ks])
            z1, z2 = merged.z[:, i], merged.z[:, j]
            n1, n2 = merged.n[:, i], merged.n[:, j]
            pm = finite[:, i] & finite[:, j]
            if chisq_max is not None:
                with np.errstate(invalid="ignore"):
                    pm &= (z1 * z1) * (z2 * z2) < float(chisq_max) ** 2
            # the pair's h2 on its own rows (reuse the single-trait fit when the rows are the same)
            same1 = np.array([np.array_equal(pm[:, c], single_mask[:, i[c]]) for c in range(ks.size)])
            same2 = np.array([np.array_equal(pm[:, c], single_mask[:, j[c]]) for c in range(ks.size)])
            hp = [{}, {}]
            for side, (zz, nnn, cols, same, free) in enumerate(((z1, n1, i, same1, free1), (z2, n2, j, same2, free2))):
                fit = {k: np.asarray(h2_fit[k])[..., cols].copy() for k in ("h2", "intercept", "tot_delete", "se")}
                need = np.flatnonzero(~same)
                if need.size:
                    fx = None if free else ih2v[cols[need]]
                    r = h2_regression(zz[:, need] ** 2, ld, wld, nnn[:, need], merged.m, mask=pm[:, need],
                                      intercept=fx, two_step=two_step, n_blocks=n_blocks)
                    for k in fit:
                        fit[k][..., need] = r[k]
                hp[side] = fit
            g = gcov_regression(z1, z2, ld, wld, n1, n2, merged.m, hp[0]["h2"], hp[1]["h2"], hp[0]["intercept"],
                                hp[1]["intercept"], mask=pm, intercept=None if freeg else igc[ks],
                                two_step=two_step, n_blocks=n_blocks)
            with np.errstate(divide="ignore", invalid="ignore"):
                for c, k in enumerate(ks):
                    rg, se = _rg_from(g, hp[0], hp[1], c, c, c)
                    cols_out["rg"][k], cols_out["se"][k] = rg, se
                    if g["n_snps"][c] < 3 or not np.isfinite(g["gcov"][c]):
                        status[k] = f"too few variants ({int(g['n_snps'][c])})" if g["n_snps"][c] < 3 else \
                            "regression failed (singular or non-positive weights)"
                    elif not (hp[0]["h2"][c] > 0 and hp[1]["h2"][c] > 0):
                        status[k] = "h2 out of bounds (h2 <= 0): no rg"
                    elif not np.isfinite(se):
                        status[k] = "rg SE undefined (a delete-one-block h2 <= 0)"
                    elif abs(rg) > 1.2:
                        status[k] = "ok (rg out of bounds: |rg| > 1.2)"
            for key, src in (("gcov", g["gcov"]), ("gcov_se", g["se"]), ("gcov_intercept", g["intercept"]),
                             ("gcov_intercept_se", g["intercept_se"]), ("mean_z1z2", g["mean_z1z2"]),
                             ("n_snps", g["n_snps"]), ("h2_1", hp[0]["h2"]), ("h2_1_se", hp[0]["se"]),
                             ("h2_2", hp[1]["h2"]), ("h2_2_se", hp[1]["se"])):
                cols_out[key][ks] = src
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = cols_out["rg"] / cols_out["se"]
        p = chi2_dist.sf(zval ** 2, 1)
    return pd.DataFrame({
        "phenotype1": [names[a] for a, _ in idx], "phenotype2": [names[b] for _, b in idx], "method": METHOD,
        "rg": cols_out["rg"], "se": cols_out["se"], "z": zval, "p": p, "gcov": cols_out["gcov"],
        "gcov_se": cols_out["gcov_se"], "gcov_intercept": cols_out["gcov_intercept"],
        "gcov_intercept_se": cols_out["gcov_intercept_se"], "mean_z1z2": cols_out["mean_z1z2"],
        "h2_1": cols_out["h2_1"], "h2_1_se": cols_out["h2_1_se"], "h2_2": cols_out["h2_2"],
        "h2_2_se": cols_out["h2_2_se"], "n_snps": cols_out["n_snps"].astype(np.int64), "status": status,
    }, columns=list(RG_COLUMNS))


@dataclass
class LdscResult:
    """LD score regression of a set of phenotypes: ``h2`` (:data:`H2_COLUMNS`), ``rg``
    (:data:`RG_COLUMNS`; empty when not asked), ``counts`` (per phenotype: variants read, dropped
    and merged) and ``summary`` (settings and counts, JSON-ready)."""

    h2: pd.DataFrame
    rg: pd.DataFrame
    counts: pd.DataFrame
    summary: dict


def ldsc(results, ld: LDScores, w_ld: LDScores | None = None, *, rg: bool | Iterable = True,
         m: str | float = "M_5_50", n: float | Mapping[str, float] | None = None, intercept_h2=None,
         intercept_gcov=None, two_step: float | None = 30.0, chisq_max: float | None = None,
         n_blocks: int = 200, keep_ambiguous: bool = False, name_regex: str | None = None,
         format: str | None = None, test: str | None = "ADD", min_mac: float | None = None,
         min_info: float | None = None, batch: int | None = None, max_memory_mb: float = 128) -> LdscResult:
    """LD score regression from GWAS results: h2 of every phenotype and rg of pairs.

    ``results``, ``ld``, ``w_ld``, ``m``, ``n``, ``keep_ambiguous``, ``name_regex``, ``format``,
    ``test``, ``min_mac``, ``min_info``: as :func:`merge_sumstats`. ``rg``: True (every pair), False
    (none) or a list of pairs. The other options: :func:`ldsc_h2` / :func:`ldsc_rg`. ``batch``:
    phenotypes (pairs) per vectorised batch (default from ``max_memory_mb``, MB of working arrays).
    """
    if n_blocks < 3:
        raise CardiolatentError(f"n_blocks must be at least 3, not {n_blocks}")
    if two_step is not None and not two_step > 0:
        raise CardiolatentError(f"two_step must be positive (or None), not {two_step}")
    if chisq_max is not None and not chisq_max > 0:
        raise CardiolatentError(f"chisq_max must be positive (or None), not {chisq_max}")
    merged = merge_sumstats(results, ld, w_ld, m=m, n=n, keep_ambiguous=keep_ambiguous, name_regex=name_regex,
                            format=format, test=test, min_mac=min_mac, min_info=min_info)
    fit: dict = {}
    h2 = ldsc_h2(merged, intercept=intercept_h2, two_step=two_step, chisq_max=chisq_max, n_blocks=n_blocks,
                 batch=batch, max_memory_mb=max_memory_mb, _keep_delete=fit)
    if rg is False or len(merged.phenotypes) < 2:
        rgt = pd.DataFrame({k: [] for k in RG_COLUMNS})
    else:
        rgt = ldsc_rg(merged, pairs=None if rg is True else list(rg), intercept_h2=intercept_h2,
                      intercept_gcov=intercept_gcov, two_step=two_step, chisq_max=chisq_max, n_blocks=n_blocks,
                      batch=batch, max_memory_mb=max_memory_mb, h2_fit=fit)
    # rows in the natural order of the names (Z2 before Z10), whatever order the files were found in
    h2 = h2.iloc[sorted(range(len(h2)), key=lambda i: natural_key(h2["phenotype"].iloc[i]))].reset_index(drop=True)
    if len(rgt):
        rgt = rgt.iloc[sorted(range(len(rgt)), key=lambda i: (natural_key(rgt["phenotype1"].iloc[i]),
                                                             natural_key(rgt["phenotype2"].iloc[i])))]
        rgt = rgt.reset_index(drop=True)
    summary = dict(method=METHOD, n_phenotypes=len(merged.phenotypes), n_pairs=int(len(rgt)),
                   n_variants=int(len(merged.variants)), m=merged.m, ld_scores=merged.ld_source,
                   w_ld_scores=merged.w_ld_source, n_blocks=int(n_blocks), two_step=two_step, chisq_max=chisq_max,
                   intercept_h2=intercept_h2 if not isinstance(intercept_h2, Mapping) else dict(intercept_h2),
                   intercept_gcov=intercept_gcov if not isinstance(intercept_gcov, Mapping) else
                   {f"{a}|{b}": v for (a, b), v in intercept_gcov.items()},
                   keep_ambiguous=bool(keep_ambiguous))
    return LdscResult(h2=h2, rg=rgt, counts=merged.counts, summary=summary)
