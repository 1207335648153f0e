"""Summaries of GWAS results for many latents: lambda GC, lead variants, loci, Manhattan / QQ data.

Everything works on ``-log10 P`` (``mlog10p``); ``P < t`` is ``mlog10p > -log10 t``.

- Genomic inflation: ``lambda_GC = median(chi2) / 0.4549364`` with ``chi2`` the 1-df chi-square of
  each P value. ``chi2`` is a decreasing function of P, so the median chi2 is the chi2 of the
  median P (the mean of the two middle ones for an even count): computed exactly from the stored
  ``-log10 P`` of every variant (float32, 4 bytes per variant), through
  ``chi2 = z^2, z = -ndtri_exp(ln(P / 2))``, which has no underflow.
- Lead variants, per latent, by distance clumping (:func:`distance_clump`: the strongest variant
  with ``P < threshold`` is a lead, every such variant within +-``window_kb`` of it joins its
  clump, repeat) or by LD clumping with PLINK 1.9 ``--clump`` against an LD reference
  (:func:`ld_clump`; the paper: ``--clump-p1 5e-8 --clump-p2 1e-4 --clump-kb 250 --clump-r2 0.5``).
- Loci across latents (:func:`merge_loci`): leads of all latents within +-``window_kb`` of the
  strongest remaining lead form one locus (``method="greedy"``, default), or leads chained by gaps
  of at most ``window_kb`` (``method="linkage"``).
- Manhattan data: all variants with ``P < 1e-3`` and a deterministic subsample of the rest (the
  ``background`` variants with the smallest hash of chromosome and position: the same variants
  are kept whatever the chunking, and largely the same across latents), with cumulative genome
  positions. QQ data per latent: all points with observed ``P < 1e-3`` plus log-spaced ranks,
  with the pointwise 95% band of the uniform order statistics.

:func:`summarise_results` streams a list of :class:`~cardiolatent.gwas.readers.ResultFile` latent
by latent and keeps, per latent, only the float32 ``-log10 P`` array (freed after the latent),
the variants above the clumping / Manhattan floor, and the Manhattan subsample.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.special import betaincinv, ndtri_exp

from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.readers import ResultFile, chrom_codes, chrom_label, iter_chunks

__all__ = [
    "CHI2_MEDIAN_1DF",
    "PAPER_P",
    "GwasSummary",
    "chi2_from_mlog10p",
    "chrom_offsets",
    "distance_clump",
    "lambda_gc",
    "ld_clump",
    "merge_loci",
    "qq_points",
    "summarise_results",
    "thin_hash",
]

#: median of the 1-df chi-square distribution, scipy.stats.chi2.ppf(0.5, 1)
CHI2_MEDIAN_1DF = 0.45493642311957283
#: the paper's genome-wide threshold (5e-8 / ~22 effective latents)
PAPER_P = 2.3e-9
_LN10 = float(np.log(10.0))
_LN2 = float(np.log(2.0))
_POS_BITS = 40  # genome key = chrom code << 40 | pos


# ---------------------------------------------------------------------------------------------
# inflation
# ---------------------------------------------------------------------------------------------
def chi2_from_mlog10p(mlog10p) -> np.ndarray:
    """1-df chi-square statistic of two-sided P values given as ``-log10 P`` (any size, no underflow).

    ``chi2 = z^2`` with ``z = Phi^-1(1 - P/2) = -ndtri_exp(ln P - ln 2)``; equals
    ``scipy.stats.chi2.isf(P, 1)`` where P is representable. Shape in = shape out.
    """
    m = np.asarray(mlog10p, dtype=np.float64)
    z = -ndtri_exp(-m * _LN10 - _LN2)
    return z * z


def lambda_gc(mlog10p, *, presorted: bool = False) -> float:
    """Genomic inflation ``median(chi2) / 0.4549364`` of the P values ``10^-mlog10p`` ((k,) array;
    NaN ignored). Exact: the median is taken on ``-log10 P`` and transformed (for an even count the
    two middle chi2 values are averaged, as ``np.median`` of the chi2 values would). With
    ``presorted`` the array is ascending without NaN and is read in place. NaN if empty."""
    m = np.asarray(mlog10p)
    if not presorted and np.isnan(m).any():
        m = m[~np.isnan(m)]
    k = m.size
    if k == 0:
        return float("nan")
    mids = [(k - 1) // 2, k // 2]
    mid = m[mids] if presorted else np.partition(m, mids)[mids]
    return float(chi2_from_mlog10p(mid.astype(np.float64)).mean() / CHI2_MEDIAN_1DF)


def qq_points(mlog10p, *, keep_above: float = 3.0, n_points: int = 1000, level: float = 0.95,
              presorted: bool = False) -> pd.DataFrame:
    """Thinned QQ-plot data of one latent.

    Parameters
    ----------
    mlog10p : (k,) ``-log10 P`` of every variant (NaN dropped); with ``presorted`` already sorted
        in ascending order without NaN (no copy is made).
    keep_above : every point with observed ``-log10 P`` above this is kept (3 = P < 1e-3).
    n_points : the other points: ranks on a log-spaced grid from 1 to k (about this many).
    level : coverage of the pointwise band.

    Returns
    -------
    DataFrame with ``rank`` (1 = smallest P), ``expected = -log10(rank / (k + 1))`` (the mean of
    the rank-th uniform order statistic), ``observed``, ``ci_low`` and ``ci_high`` (the
    ``(1 -+ level) / 2`` quantiles of Beta(rank, k - rank + 1), as ``-log10``), all in ``-log10 P``.
    """
    asc = np.asarray(mlog10p)
    if not presorted:
        asc = np.sort(asc[~np.isnan(asc)])
    k = asc.size
    if k == 0:
        return pd.DataFrame(columns=["rank", "expected", "observed", "ci_low", "ci_high"])
    n_top = int(k - np.searchsorted(asc, keep_above, side="right"))  # observed > keep_above
    grid = np.unique(np.round(np.geomspace(1, k, max(2, int(n_points)))).astype(np.int64))
    ranks = np.union1d(np.arange(1, n_top + 1, dtype=np.int64), grid)
    a = ranks.astype(np.float64)
    b = k - a + 1.0
    alpha = (1.0 - level) / 2.0
    return pd.DataFrame({
        "rank": ranks,
        "expected": -np.log10(a / (k + 1.0)),
        "observed": asc[k - ranks].astype(np.float64),
        "ci_low": -np.log10(betaincinv(a, b, 1.0 - alpha)),
        "ci_high": -np.log10(betaincinv(a, b, alpha)),
    })


# ---------------------------------------------------------------------------------------------
# thinning and genome coordinates
# ---------------------------------------------------------------------------------------------
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


def _codes_of(chrom: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(chrom.dtype):
        return chrom.to_numpy(dtype=np.int16)
    return chrom_codes(chrom.astype(str))


def _keys(codes: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (np.asarray(codes, dtype=np.int64) << _POS_BITS) + np.asarray(pos, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# clumping
# ---------------------------------------------------------------------------------------------
def distance_clump(variants: pd.DataFrame, min_mlog10p: float, window_kb: float = 250.0) -> pd.DataFrame:
    """Lead variants by distance clumping.

    Parameters
    ----------
    variants : one latent's variants with ``chrom`` (labels or integer codes), ``pos`` (bp) and
        ``mlog10p``; other columns are carried along.
    min_mlog10p : only variants with ``mlog10p > min_mlog10p`` (P below the threshold) take part.
    window_kb : a lead absorbs every remaining significant variant within +-``window_kb`` kb
        (inclusive) on its chromosome.

    Returns
    -------
    The lead rows (strongest first is the selection order; returned sorted by chromosome and
    position) with added ``n_clumped`` (significant variants in the clump, the lead included),
    ``clump_start`` and ``clump_end`` (bp range of the clump's variants). Ties in ``mlog10p`` are
    broken by chromosome and position, so the result is deterministic.
    """
    d = variants[variants["mlog10p"].to_numpy(dtype=np.float64) > min_mlog10p]
    cols = list(variants.columns) + ["n_clumped", "clump_start", "clump_end"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    codes = _codes_of(d["chrom"])
    pos = d["pos"].to_numpy(dtype=np.int64)
    key = _keys(codes, pos)
    order = np.argsort(key, kind="stable")
    key_s, pos_s = key[order], pos[order]
    m_s = d["mlog10p"].to_numpy(dtype=np.float64)[order]
    w = int(round(window_kb * 1000))
    priority = np.lexsort((pos_s, codes[order], -m_s))
    alive = np.ones(key_s.size, dtype=bool)
    lead_i, n_cl, start, end = [], [], [], []
    for i in priority:
        if not alive[i]:
            continue
        lo = np.searchsorted(key_s, key_s[i] - w, side="left")
        hi = np.searchsorted(key_s, key_s[i] + w, side="right")
        members = lo + np.flatnonzero(alive[lo:hi])
        alive[lo:hi] = False
        lead_i.append(order[i])
        n_cl.append(members.size)
        start.append(int(pos_s[members].min()))
        end.append(int(pos_s[members].max()))
    out = d.iloc[lead_i].copy()
    out["n_clumped"] = np.asarray(n_cl, dtype=np.int64)
    out["clump_start"] = np.asarray(start, dtype=np.int64)
    out["clump_end"] = np.asarray(end, dtype=np.int64)
    k = _keys(_codes_of(out["chrom"]), out["pos"].to_numpy(dtype=np.int64))
    return out.iloc[np.argsort(k, kind="stable")].reset_index(drop=True)


class LDReference:
    """A PLINK 1 fileset used as LD reference: its .bim read once (pyarrow) for id / position matching."""

    def __init__(self, bfile: str | os.PathLike):
        import pyarrow as pa
        import pyarrow.csv as pcsv

        self.prefix = Path(bfile)
        name = self.prefix.name
        for ext in (".bed", ".bim", ".fam"):
            if name.endswith(ext):
                self.prefix = self.prefix.with_name(name[: -len(ext)])
        for ext in (".bed", ".bim", ".fam"):
            f = self.prefix.with_name(self.prefix.name + ext)
            if not f.exists():
                raise CardiolatentError(f"LD reference {self.prefix}: {f.name} not found (give the PLINK 1 "
                                        "fileset prefix, without .bed/.bim/.fam)")
        bim = self.prefix.with_name(self.prefix.name + ".bim")
        try:
            t = pcsv.read_csv(bim, read_options=pcsv.ReadOptions(column_names=["chrom", "id", "cm", "pos", "a1", "a2"]),
                              parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False),
                              convert_options=pcsv.ConvertOptions(
                                  include_columns=["chrom", "id", "pos", "a1", "a2"],
                                  column_types={"chrom": pa.dictionary(pa.int32(), pa.string()), "id": pa.string(),
                                                "pos": pa.int64(), "a1": pa.string(), "a2": pa.string()}))
        except pa.ArrowInvalid:  # space-separated .bim
            df = pd.read_csv(bim, sep=r"\s+", header=None, names=["chrom", "id", "cm", "pos", "a1", "a2"],
                             dtype={"chrom": str, "id": str, "pos": np.int64, "a1": str, "a2": str})
            t = pa.Table.from_pandas(df.drop(columns="cm"), preserve_index=False)
        chrom = t.column("chrom").combine_chunks()
        if pa.types.is_dictionary(chrom.type):
            lut = chrom_codes(chrom.dictionary.to_pylist())
            self.codes = lut[chrom.indices.to_numpy(zero_copy_only=False)]
        else:
            self.codes = chrom_codes(chrom.to_pylist())
        self.pos = t.column("pos").to_numpy()
        self.ids = t.column("id").combine_chunks()
        self.a1 = t.column("a1").combine_chunks()
        self.a2 = t.column("a2").combine_chunks()
        self._key_order = None

    def match(self, df: pd.DataFrame, by: str = "id") -> np.ndarray:
        """Reference ids for the rows of ``df`` (``id``, ``chrom``, ``pos``, alleles); None where absent.

        ``by="id"``: the same id; ``by="position"``: the same chromosome and position, preferring
        a reference variant with the same two alleles (in either order)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if df.empty:
            return np.array([], dtype=object)
        if by == "id":
            ids = pa.array(df["id"].astype(str).tolist(), type=pa.string())
            found = pc.is_in(ids, value_set=self.ids).to_numpy(zero_copy_only=False)
            return np.where(found, df["id"].astype(str).to_numpy(dtype=object), None)
        if by != "position":
            raise CardiolatentError(f"--ld-match must be id or position, not {by!r}")
        if self._key_order is None:
            self._key = _keys(self.codes, self.pos)
            self._key_order = np.argsort(self._key, kind="stable")
            self._key_sorted = self._key[self._key_order]
        q = _keys(_codes_of(df["chrom"]), df["pos"].to_numpy(dtype=np.int64))
        lo = np.searchsorted(self._key_sorted, q, side="left")
        hi = np.searchsorted(self._key_sorted, q, side="right")
        out = np.full(len(df), None, dtype=object)
        ea = df["effect_allele"].astype(str).str.upper().to_numpy() if "effect_allele" in df else None
        oa = df["other_allele"].astype(str).str.upper().to_numpy() if "other_allele" in df else None
        for j in np.flatnonzero(hi > lo):
            cand = self._key_order[lo[j]:hi[j]]
            pick = cand[0]
            if cand.size > 1 and ea is not None and oa is not None:
                for c in cand:
                    pair = {str(self.a1[int(c)]).upper(), str(self.a2[int(c)]).upper()}
                    if pair == {ea[j], oa[j]}:
                        pick = c
                        break
            out[j] = self.ids[int(pick)].as_py()
        return out


def _plink_p_text(m: np.ndarray) -> list[str]:
    """P values for PLINK 1.9 from ``-log10 P``, order-preserving even below the double range:
    ``-log10 P`` above 280 is compressed monotonically into (280, 300)."""
    m = np.asarray(m, dtype=np.float64)
    mm = np.where(m > 280.0, 280.0 + 20.0 * (1.0 - np.exp(-(m - 280.0) / 200.0)), m)
    mm = np.where(np.isinf(m), 300.0, mm)
    return [repr(float(10.0 ** -x)) for x in mm]


def ld_clump(variants: pd.DataFrame, ref: LDReference | str | os.PathLike, *, p1: float = 5e-8,
             p2: float = 1e-4, r2: float = 0.5, kb: float = 250.0, plink: str | None = None,
             match: str = "id", threads: int = 1, memory_mb: int = 2000,
             workdir: str | os.PathLike | None = None) -> tuple[pd.DataFrame, dict]:
    """Lead variants by PLINK 1.9 LD clumping (``--clump``) against an LD reference fileset.

    Parameters
    ----------
    variants : one latent's variants with ``id``, ``chrom``, ``pos``, ``mlog10p`` (and alleles for
        ``match="position"``); at least every variant with ``P < p2`` must be present.
    ref : PLINK 1 fileset prefix (or an :class:`LDReference`).
    p1, p2, r2, kb : ``--clump-p1 --clump-p2 --clump-r2 --clump-kb``.
    plink : PLINK 1.9 executable (default: ``plink1.9`` or ``plink`` on PATH).
    match : how variants are found in the reference: ``id`` or ``position`` (chromosome and
        position, alleles breaking ties).

    Returns
    -------
    (leads, info): leads are the index variants' rows (sorted by chromosome, position) with
    ``n_clumped`` (1 + PLINK's TOTAL), ``clump_start`` / ``clump_end`` (bp range of the index and
    its clumped ``P < p2`` variants) and ``ref_id``; info counts ``n_candidates`` (P < p2),
    ``n_index_candidates`` (P < p1) and ``n_index_missing_from_ref`` (P < p1 but not in the
    reference: PLINK cannot use them).
    """
    if not isinstance(ref, LDReference):
        ref = LDReference(ref)
    exe = plink or shutil.which("plink1.9") or shutil.which("plink")
    if exe is None:
        raise CardiolatentError("LD clumping needs PLINK 1.9 ('plink1.9' or 'plink' on PATH, or --plink1 PATH)")
    cols = list(variants.columns) + ["n_clumped", "clump_start", "clump_end", "ref_id"]
    m_all = variants["mlog10p"].to_numpy(dtype=np.float64)
    cand = variants[m_all > -np.log10(p2)].copy()
    info = {"n_candidates": int(len(cand)), "n_index_candidates": int((m_all > -np.log10(p1)).sum()),
            "n_index_missing_from_ref": 0}
    if not (cand["mlog10p"].to_numpy(dtype=np.float64) > -np.log10(p1)).any():
        return pd.DataFrame(columns=cols), info
    cand["ref_id"] = ref.match(cand, by=match)
    idx_cand = cand["mlog10p"].to_numpy(dtype=np.float64) > -np.log10(p1)
    info["n_index_missing_from_ref"] = int((idx_cand & cand["ref_id"].isna().to_numpy()).sum())
    cand = cand[cand["ref_id"].notna()]
    cand = cand.sort_values("mlog10p", ascending=False, kind="stable").drop_duplicates("ref_id")
    if not (cand["mlog10p"].to_numpy(dtype=np.float64) > -np.log10(p1)).any():
        return pd.DataFrame(columns=cols), info
    with tempfile.TemporaryDirectory(prefix="clump_", dir=workdir) as tmp:
        tmp = Path(tmp)
        assoc = tmp / "assoc.txt"
        pd.DataFrame({"SNP": cand["ref_id"].to_numpy(), "P": _plink_p_text(cand["mlog10p"].to_numpy())}).to_csv(
            assoc, sep="\t", index=False, lineterminator="\n")
        (tmp / "extract.txt").write_text("\n".join(cand["ref_id"].astype(str)) + "\n")
        # thresholds on the same (compressed below 1e-280) scale as the P column
        p1_txt, p2_txt = _plink_p_text(-np.log10([p1, p2]))
        cmd = [exe, "--bfile", str(ref.prefix), "--extract", str(tmp / "extract.txt"), "--clump", str(assoc),
               "--clump-p1", p1_txt, "--clump-p2", p2_txt, "--clump-r2", repr(float(r2)),
               "--clump-kb", repr(float(kb)), "--clump-snp-field", "SNP", "--clump-field", "P",
               "--allow-extra-chr", "--allow-no-sex", "--threads", str(int(threads)),
               "--memory", str(int(memory_mb)), "--out", str(tmp / "clump")]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            log = (tmp / "clump.log").read_text() if (tmp / "clump.log").exists() else res.stdout + res.stderr
            raise CardiolatentError(f"PLINK 1.9 --clump failed (exit {res.returncode}) with LD reference "
                                    f"{ref.prefix}:\n{log[-1500:]}")
        out = tmp / "clump.clumped"
        if not out.exists() or out.stat().st_size == 0:
            return pd.DataFrame(columns=cols), info
        cl = pd.read_csv(out, sep=r"\s+", dtype={"SNP": str, "SP2": str})
    cl = cl.dropna(subset=["SNP"])
    by_ref = cand.set_index("ref_id", drop=False)
    pos_of = by_ref["pos"]
    snps, n_cl, start, end = [], [], [], []
    for snp, total, sp2 in zip(cl["SNP"], cl["TOTAL"], cl["SP2"].fillna("NONE")):
        if snp not in by_ref.index:
            continue
        members = [] if sp2 == "NONE" else [x.rsplit("(", 1)[0] for x in str(sp2).split(",") if x]
        allpos = np.concatenate([[int(pos_of[snp])],
                                 pos_of.reindex([x for x in members if x in pos_of.index]).to_numpy(dtype=np.int64)])
        snps.append(snp)
        n_cl.append(int(total) + 1)
        start.append(int(allpos.min()))
        end.append(int(allpos.max()))
    if not snps:
        return pd.DataFrame(columns=cols), info
    leads = by_ref.loc[snps].reset_index(drop=True)
    leads["n_clumped"] = np.asarray(n_cl, dtype=np.int64)
    leads["clump_start"] = np.asarray(start, dtype=np.int64)
    leads["clump_end"] = np.asarray(end, dtype=np.int64)
    k = _keys(_codes_of(leads["chrom"]), leads["pos"].to_numpy(dtype=np.int64))
    leads = leads.iloc[np.argsort(k, kind="stable")].reset_index(drop=True)
    return leads[[c for c in cols if c in leads.columns]], info


def merge_loci(leads: pd.DataFrame, window_kb: float = 250.0,
               method: str = "greedy") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge lead variants of all latents into loci.

    Parameters
    ----------
    leads : rows with ``latent``, ``chrom``, ``pos``, ``mlog10p`` (and ``id``).
    window_kb : ``greedy``: the strongest unassigned lead takes every unassigned lead within
        +-``window_kb`` (inclusive); ``linkage``: leads on a chromosome are chained while
        consecutive ones are at most ``window_kb`` apart.

    Returns
    -------
    (leads, loci): the leads with a ``locus`` column (``L1``, ``L2``, ... in genome order), and one
    row per locus: ``locus, chrom, start, end`` (range of its leads), ``lead_id, lead_pos,
    lead_latent, lead_mlog10p`` (its strongest lead), ``n_latents``, ``n_leads`` and ``latents``
    (comma-separated, strongest first).
    """
    loci_cols = ["locus", "chrom", "start", "end", "lead_id", "lead_pos", "lead_latent", "lead_mlog10p",
                 "n_latents", "n_leads", "latents"]
    if leads.empty:
        out = leads.copy()
        out["locus"] = pd.Series(dtype=object)
        return out, pd.DataFrame(columns=loci_cols)
    if method not in ("greedy", "linkage"):
        raise CardiolatentError(f"locus merging method must be greedy or linkage, not {method!r}")
    codes = _codes_of(leads["chrom"])
    pos = leads["pos"].to_numpy(dtype=np.int64)
    key = _keys(codes, pos)
    m = leads["mlog10p"].to_numpy(dtype=np.float64)
    w = int(round(window_kb * 1000))
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    group = np.full(key.size, -1, dtype=np.int64)
    if method == "greedy":
        alive = np.ones(key.size, dtype=bool)
        g = 0
        for i in np.lexsort((pos[order], codes[order], -m[order])):
            if not alive[i]:
                continue
            lo = np.searchsorted(key_s, key_s[i] - w, side="left")
            hi = np.searchsorted(key_s, key_s[i] + w, side="right")
            sel = lo + np.flatnonzero(alive[lo:hi])
            group[order[sel]] = g
            alive[lo:hi] = False
            g += 1
    else:
        c_s = codes[order]
        brk = np.concatenate([[True], (np.diff(key_s) > w) | (c_s[1:] != c_s[:-1])])
        group[order] = np.cumsum(brk) - 1
    out = leads.copy()
    out["_g"] = group
    out["_code"] = codes
    rows = []
    for g, d in out.groupby("_g", sort=False):
        d = d.sort_values(["mlog10p", "_code", "pos"], ascending=[False, True, True], kind="stable")
        top = d.iloc[0]
        lat_order = d.drop_duplicates("latent")["latent"].astype(str).tolist()
        rows.append({"_g": g, "_code": int(top["_code"]), "chrom": top["chrom"], "start": int(d["pos"].min()),
                     "end": int(d["pos"].max()), "lead_id": top.get("id"), "lead_pos": int(top["pos"]),
                     "lead_latent": top["latent"], "lead_mlog10p": float(top["mlog10p"]),
                     "n_latents": len(lat_order), "n_leads": int(len(d)), "latents": ",".join(lat_order)})
    loci = pd.DataFrame(rows).sort_values(["_code", "start", "lead_pos"], kind="stable").reset_index(drop=True)
    loci["locus"] = [f"L{i + 1}" for i in range(len(loci))]
    name = dict(zip(loci["_g"], loci["locus"]))
    out["locus"] = out["_g"].map(name)
    out = out.drop(columns=["_g", "_code"])
    return out, loci[loci_cols]


# ---------------------------------------------------------------------------------------------
# streaming summary of many latents
# ---------------------------------------------------------------------------------------------
@dataclass
class _Accumulator:
    """Per-latent running state while its files are streamed."""

    latent: str
    keep_floor: float  # details kept for rows with mlog10p > keep_floor
    manhattan_floor: float
    background: int
    m_parts: list = field(default_factory=list)
    top_parts: list = field(default_factory=list)
    bg_u: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bg_c: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    bg_p: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bg_m: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    u_max: float = 1.0
    n_rows: int = 0
    n_missing_p: int = 0
    n_filtered: int = 0
    max_pos: dict = field(default_factory=dict)

    def add(self, ch) -> None:
        self.n_rows += ch.n_rows
        self.n_missing_p += ch.n_missing_p
        self.n_filtered += ch.n_filtered
        if len(ch) == 0:
            return
        m = ch.mlog10p
        self.m_parts.append(m.astype(np.float32))
        for c in np.unique(ch.chrom):
            mp = int(ch.pos[ch.chrom == c].max())
            if mp > self.max_pos.get(int(c), -1):
                self.max_pos[int(c)] = mp
        top = m > self.keep_floor
        if top.any():
            d = ch.details(top)
            d["_code"] = ch.chrom[top]
            self.top_parts.append(d)
        bg = ~(m > self.manhattan_floor)
        if self.background > 0 and bg.any():
            u = thin_hash(ch.chrom[bg], ch.pos[bg])
            sel = u < self.u_max
            self.bg_u = np.concatenate([self.bg_u, u[sel]])
            self.bg_c = np.concatenate([self.bg_c, ch.chrom[bg][sel]])
            self.bg_p = np.concatenate([self.bg_p, ch.pos[bg][sel]])
            self.bg_m = np.concatenate([self.bg_m, m[bg][sel].astype(np.float32)])
            if self.bg_u.size > 2 * self.background:
                self._shrink()

    def _shrink(self) -> None:
        k = self.background
        if self.bg_u.size <= k:
            return
        keep = np.argpartition(self.bg_u, k - 1)[:k]
        self.u_max = float(self.bg_u[keep].max())
        keep = keep[self.bg_u[keep] <= self.u_max]
        self.bg_u, self.bg_c, self.bg_p, self.bg_m = (a[keep] for a in (self.bg_u, self.bg_c, self.bg_p, self.bg_m))

    def all_mlog10p(self) -> np.ndarray:
        return np.concatenate(self.m_parts) if self.m_parts else np.zeros(0, np.float32)

    def top(self) -> pd.DataFrame:
        if not self.top_parts:
            return pd.DataFrame(columns=["chrom", "pos", "id", "effect_allele", "other_allele", "eaf", "info",
                                         "n", "beta", "se", "mlog10p", "_code"])
        return pd.concat(self.top_parts, ignore_index=True)


@dataclass
class GwasSummary:
    """Result of :func:`summarise_results`.

    ``per_latent``: one row per latent (``latent, format, n_files, n_rows, n_variants,
    n_missing_p, n_filtered, lambda_gc, median_chi2, max_mlog10p, n_significant, n_leads,
    status``); ``leads``: lead variants of all latents with their ``locus``; ``loci``: see
    :func:`merge_loci`; ``manhattan``: ``latent, chrom, pos, cum_pos, mlog10p``; ``qq``: ``latent``
    + :func:`qq_points` columns; ``chromosomes``: :func:`chrom_offsets`; ``info``: counts,
    thresholds and notes for summary.json.
    """

    per_latent: pd.DataFrame
    leads: pd.DataFrame
    loci: pd.DataFrame
    manhattan: pd.DataFrame
    qq: pd.DataFrame
    chromosomes: pd.DataFrame
    info: dict


LEAD_COLUMNS = ["latent", "locus", "chrom", "pos", "id", "effect_allele", "other_allele", "eaf", "info", "n",
                "beta", "se", "mlog10p", "p", "n_clumped", "clump_start", "clump_end", "method"]


def summarise_results(
    files: Sequence[ResultFile],
    *,
    p_threshold: float = 5e-8,
    window_kb: float = 250.0,
    merge_kb: float = 250.0,
    merge_method: str = "greedy",
    ld_ref: str | os.PathLike | None = None,
    clump_p2: float = 1e-4,
    clump_r2: float = 0.5,
    clump_kb: float | None = None,
    ld_match: str = "id",
    plink: str | None = None,
    plink_threads: int = 1,
    test: str | None = "ADD",
    min_mac: float | None = None,
    min_info: float | None = None,
    manhattan_p: float = 1e-3,
    manhattan_background: int = 10_000,
    qq_n_points: int = 1000,
    chunk_bytes: int = 2 << 20,
    progress: Callable[[int], None] | None = None,
    on_latent: Callable[[str], None] | None = None,
) -> GwasSummary:
    """Stream every latent's results files once and build all summaries.

    Parameters
    ----------
    files : from :func:`cardiolatent.gwas.readers.discover_results` (files sharing a latent name
        are read together, in order).
    p_threshold : genome-wide threshold for leads (P < p_threshold); LD clumping's ``--clump-p1``.
    window_kb : distance clumping window (+-kb); default for ``clump_kb``.
    merge_kb, merge_method : see :func:`merge_loci`.
    ld_ref : PLINK 1 fileset prefix: LD clumping with PLINK 1.9 instead of distance clumping.
    clump_p2, clump_r2, clump_kb, ld_match, plink, plink_threads : PLINK 1.9 ``--clump`` settings.
    test, min_mac, min_info : row filters (see :func:`~cardiolatent.gwas.readers.iter_chunks`).
    manhattan_p : Manhattan / QQ rows with P below this are all kept.
    manhattan_background : per latent, the number of other variants kept for the Manhattan plot.
    qq_n_points : log-spaced QQ points per latent besides those with P < manhattan_p.
    chunk_bytes : text per streamed block.
    progress : called with the number of (compressed) bytes newly consumed.
    on_latent : called with each latent's name as it starts.
    """
    if not 0 < p_threshold < 1:
        raise CardiolatentError(f"the P threshold must be between 0 and 1, not {p_threshold}")
    if ld_ref is not None and not 0 < p_threshold <= clump_p2 < 1:
        raise CardiolatentError(f"--clump-p2 ({clump_p2}) must be at least the P threshold ({p_threshold}) and below 1")
    if not 0 < manhattan_p < 1:
        raise CardiolatentError(f"--manhattan-p must be between 0 and 1, not {manhattan_p}")
    t_sig = float(-np.log10(p_threshold))
    man_floor = float(-np.log10(manhattan_p))
    keep_floor = min(man_floor, t_sig, float(-np.log10(clump_p2)) if ld_ref is not None else np.inf)
    ref = LDReference(ld_ref) if ld_ref is not None else None
    kb_ld = window_kb if clump_kb is None else clump_kb

    groups: dict[str, list[ResultFile]] = {}
    for rf in files:
        groups.setdefault(str(rf.latent), []).append(rf)

    per, leads_parts, man_parts, qq_parts, notes = [], [], [], [], []
    max_pos: dict[int, int] = {}
    ld_info: dict[str, dict] = {}
    for latent, rfs in groups.items():
        if on_latent is not None:
            on_latent(latent)
        acc = _Accumulator(latent, keep_floor, man_floor, int(manhattan_background))
        seen_chroms: set[int] = set()
        overlap = False
        for rf in rfs:
            file_chroms: set[int] = set()
            last = [0]

            def _prog(b, last=last):
                if progress is not None:
                    progress(b - last[0])
                last[0] = b

            for ch in iter_chunks(rf, chunk_bytes=chunk_bytes, test=test, min_mac=min_mac, min_info=min_info,
                                  on_progress=_prog):
                acc.add(ch)
                file_chroms.update(np.unique(ch.chrom).tolist())
            if progress is not None and rf.size > last[0]:
                progress(rf.size - last[0])
            overlap = overlap or bool(file_chroms & seen_chroms)
            seen_chroms |= file_chroms
        if overlap:
            notes.append(f"latent {latent}: several files cover the same chromosome(s); variants in more than one "
                         "file are counted more than once")
        for c, mp in acc.max_pos.items():
            max_pos[c] = max(max_pos.get(c, -1), mp)

        asc = acc.all_mlog10p()  # float32, 4 bytes per variant
        acc.m_parts = []
        asc.sort()  # in place
        n = int(asc.size)
        lam = lambda_gc(asc, presorted=True) if n else float("nan")
        status = "ok" if n else ("no rows" if acc.n_rows == 0 else "no P values")
        if n:
            qq = qq_points(asc, keep_above=man_floor, n_points=qq_n_points, presorted=True)
            qq.insert(0, "latent", latent)
            qq_parts.append(qq)
        max_m = float(asc[-1]) if n else float("nan")
        n_sig = int(n - np.searchsorted(asc, np.float32(t_sig), side="right")) if n else 0
        del asc

        top = acc.top()
        if ref is None:
            ld = distance_clump(top.drop(columns="_code"), t_sig, window_kb)
            if len(ld):
                ld["method"] = "distance"
        else:
            ld, inf = ld_clump(top.drop(columns="_code"), ref, p1=p_threshold, p2=clump_p2, r2=clump_r2, kb=kb_ld,
                               plink=plink, match=ld_match, threads=plink_threads)
            ld_info[latent] = inf
            if inf["n_index_missing_from_ref"]:
                notes.append(f"latent {latent}: {inf['n_index_missing_from_ref']} variant(s) with P < "
                             f"{p_threshold:g} are not in the LD reference (matched by {ld_match}) and cannot "
                             "be lead variants")
            if len(ld):
                ld["method"] = "ld"
                ld = ld.drop(columns="ref_id")
        if len(ld):
            ld.insert(0, "latent", latent)
            leads_parts.append(ld)
        per.append({"latent": latent, "format": rfs[0].format, "n_files": len(rfs), "n_rows": acc.n_rows,
                    "n_variants": n, "n_missing_p": acc.n_missing_p, "n_filtered": acc.n_filtered,
                    "lambda_gc": lam, "median_chi2": lam * CHI2_MEDIAN_1DF, "max_mlog10p": max_m,
                    "n_significant": n_sig, "n_leads": int(len(ld)), "status": status})

        # Manhattan rows: everything above the floor + the hashed background subsample
        acc._shrink()
        tm = top["mlog10p"].to_numpy(dtype=np.float64) > man_floor if len(top) else np.zeros(0, bool)
        man_parts.append((latent,
                          np.concatenate([top["_code"].to_numpy(dtype=np.int16)[tm], acc.bg_c.astype(np.int16)]),
                          np.concatenate([top["pos"].to_numpy(dtype=np.int64)[tm], acc.bg_p.astype(np.int64)]),
                          np.concatenate([top["mlog10p"].to_numpy(dtype=np.float32)[tm], acc.bg_m])))
        del acc, top

    per_latent = pd.DataFrame(per, columns=["latent", "format", "n_files", "n_rows", "n_variants", "n_missing_p",
                                            "n_filtered", "lambda_gc", "median_chi2", "max_mlog10p",
                                            "n_significant", "n_leads", "status"])
    chroms = chrom_offsets(max_pos)
    off = dict(zip(chroms["code"].tolist(), chroms["offset"].tolist()))
    latents_cat = pd.CategoricalDtype(list(groups))
    if man_parts:
        lat = np.concatenate([np.full(c.size, i, dtype=np.int32) for i, (_, c, _, _) in enumerate(man_parts)])
        code = np.concatenate([c for _, c, _, _ in man_parts])
        pos = np.concatenate([p for _, _, p, _ in man_parts])
        mm = np.concatenate([x for _, _, _, x in man_parts])
        offs = np.zeros(int(code.max()) + 1 if code.size else 1, dtype=np.int64)
        for c, o in off.items():
            offs[c] = o
        order = np.lexsort((pos, code, lat))
        manhattan = pd.DataFrame({
            "latent": pd.Categorical.from_codes(lat[order], dtype=latents_cat),
            "chrom": pd.Categorical(chrom_label(code[order]) if code.size else [],
                                    categories=chroms["chrom"].tolist()),
            "pos": pos[order], "cum_pos": pos[order] + offs[code[order]], "mlog10p": mm[order]})
    else:
        manhattan = pd.DataFrame(columns=["latent", "chrom", "pos", "cum_pos", "mlog10p"])
    qq = pd.concat(qq_parts, ignore_index=True) if qq_parts else pd.DataFrame(
        columns=["latent", "rank", "expected", "observed", "ci_low", "ci_high"])
    if len(qq):
        qq["latent"] = pd.Categorical(qq["latent"], dtype=latents_cat)

    leads = pd.concat(leads_parts, ignore_index=True) if leads_parts else pd.DataFrame(columns=LEAD_COLUMNS)
    leads, loci = merge_loci(leads, window_kb=merge_kb, method=merge_method)
    with np.errstate(over="ignore"):
        leads["p"] = np.power(10.0, -leads["mlog10p"].to_numpy(dtype=np.float64)) if len(leads) else []
    leads = leads[[c for c in LEAD_COLUMNS if c in leads.columns]]
    if len(loci):
        with np.errstate(over="ignore"):
            loci.insert(loci.columns.get_loc("lead_mlog10p") + 1, "lead_p",
                        np.power(10.0, -loci["lead_mlog10p"].to_numpy(dtype=np.float64)))
    info = {
        "n_latents": len(groups), "n_files": len(files), "p_threshold": p_threshold,
        "clumping": ({"method": "ld", "ld_reference": str(ref.prefix), "clump_p1": p_threshold, "clump_p2": clump_p2,
                      "clump_r2": clump_r2, "clump_kb": kb_ld, "match": ld_match, "per_latent": ld_info}
                     if ref is not None else {"method": "distance", "window_kb": window_kb}),
        "loci": {"merge_kb": merge_kb, "method": merge_method},
        "manhattan": {"p_all_kept": manhattan_p, "background_per_latent": int(manhattan_background)},
        "qq": {"n_log_spaced_points": int(qq_n_points), "band": 0.95,
               "expected": "-log10(rank / (n + 1))"},
        "filters": {"test": test, "min_mac": min_mac, "min_info": min_info},
        "notes": notes,
    }
    return GwasSummary(per_latent=per_latent, leads=leads.reset_index(drop=True), loci=loci, manhattan=manhattan,
                       qq=qq, chromosomes=chroms, info=info)
