"""LD scores for LD score regression: computed from PLINK 1 files, or read from ldsc's files.

The LD score of variant ``j`` is ``l2_j = sum_k r~2_jk`` over the variants ``k`` in its window
(``j`` itself included, ``r~2_jj = 1``), with ldsc's bias-adjusted squared correlation
``r~2 = r^2 - (1 - r^2) / (n - 2)`` (``n`` people; Bulik-Sullivan et al. 2015, Nat Genet 47:291,
supplementary note; ldsc's ``--l2``). ``r`` is the Pearson correlation of the A1 allele counts, a
missing call replaced by the variant's mean (ldsc's standardisation: mean 0, variance 1 after the
imputation, so ``r = x_j' x_k / n``).

Windows (one of them, as ldsc's ``--ld-wind-kb`` / ``--ld-wind-snps`` / ``--ld-wind-cm``): ``k``
is in ``j``'s window when ``|coord_k - coord_j| <= window`` on the same chromosome, with coordinates
base pairs / 1000 (kb), the variant's rank on its chromosome (SNPs) or the ``.bim`` centimorgans.
ldsc is run per chromosome, and so are windows here (ldsc's ``--chunk-size`` 50 rounds windows up
to whole chunks; this module uses the exact window, equal to ldsc's ``--chunk-size 1``).

Variants: every ``.bim`` variant whose minor allele frequency among the people used is above
``maf_min`` (default 0: monomorphic variants are left out, as by ldsc) gets an LD score; ``M`` is
their number and ``M_5_50`` the number with MAF > 0.05 (ldsc's ``.l2.M`` / ``.l2.M_5_50``).

Computation: per chromosome, variants in chunks of ``chunk`` (default 1,024); each chunk is
standardised once and multiplied with itself and with the earlier chunks still inside the window
(a rolling cache), so memory is about ``8 n (w + chunk)`` bytes for a window of ``w`` variants and
each pair of variants is visited once (BLAS matrix products).

ldsc's file formats (read and written here; ldsc's docs ``file_formats_ld``):

- ``<prefix>.l2.ldscore.gz`` (or ``.l2.ldscore`` / ``.bz2``): tab-separated with a header,
  ``CHR SNP BP L2`` (older files add ``CM MAF``, which are ignored); per-chromosome sets are
  ``<prefix><chr>.l2.ldscore.gz``, or ``@`` in the prefix is replaced by the chromosome
  (``eur_w_ld_chr/@`` style: ``ldsc --ref-ld-chr``);
- ``<prefix>.l2.M`` and ``<prefix>.l2.M_5_50``: one line, ``M`` (the number of variants the LD
  scores were summed over, per annotation, tab-separated); a per-chromosome set's ``M`` is the sum
  over its files (ldsc uses ``.l2.M_5_50`` unless ``--not-M-5-50``).
"""

from __future__ import annotations

import glob
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.bedfile import BedFile
from cardiolatent.gwas.readers import chrom_codes
from cardiolatent.io_utils import atomic_path, write_text_atomic

__all__ = [
    "LDScores",
    "compute_ld_scores",
    "read_ld_scores",
    "write_ld_scores",
    "ldsc_window_lefts",
]

#: columns of :attr:`LDScores.table`
LD_COLUMNS = ("chrom", "id", "pos", "l2")
_LD_SUFFIX = ".l2.ldscore"
_COMPRESSIONS = (("", None), (".gz", "gzip"), (".bz2", "bz2"))


@dataclass
class LDScores:
    """LD scores of a set of variants.

    Attributes
    ----------
    table : DataFrame ``chrom`` (str label), ``id``, ``pos`` (bp, int64), ``l2`` (float64), plus
        ``maf`` and ``cm`` when computed here; one row per variant, sorted by chromosome and
        position (the order the jackknife blocks follow), ids unique.
    m : ``M``, the number of variants the LD scores sum over (all chromosomes).
    m_5_50 : ``M_5_50``, those with MAF > 0.05 (None when unknown).
    source : where they came from (a file prefix or a PLINK prefix), for messages.
    n_samples : people the LD was computed from (None when read from files).
    window : the window rule, e.g. ``"1000 kb"`` (None when read from files).
    """

    table: pd.DataFrame
    m: float
    m_5_50: float | None = None
    source: str = ""
    n_samples: int | None = None
    window: str | None = None
    per_chromosome_m: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    def m_for(self, which: str = "M_5_50") -> float:
        """``M`` to use in the regression: ``"M_5_50"`` (ldsc's default) or ``"M"``."""
        if which == "M_5_50":
            if self.m_5_50 is None:
                raise CardiolatentError(f"{self.source}: no M_5_50 (.l2.M_5_50) for these LD scores; use M")
            return float(self.m_5_50)
        if which == "M":
            return float(self.m)
        raise CardiolatentError(f"m must be 'M_5_50' or 'M', not {which!r}")


# ---------------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------------
def ldsc_window_lefts(coords: np.ndarray, max_dist: float) -> np.ndarray:
    """For sorted ``coords`` (k,): index of the leftmost variant within ``max_dist`` of each
    (``|coord_i - coord_j| <= max_dist``; ldsc's ``getBlockLefts``)."""
    coords = np.asarray(coords, dtype=np.float64)
    return np.searchsorted(coords, coords - max_dist, side="left")


def _window(window_kb, window_snps, window_cm) -> tuple[str, float, str]:
    given = [(k, v) for k, v in (("kb", window_kb), ("snps", window_snps), ("cm", window_cm)) if v is not None]
    if len(given) != 1:
        raise CardiolatentError("give exactly one LD window: window_kb, window_snps or window_cm "
                                f"(got {', '.join(k for k, _ in given) or 'none'})")
    kind, value = given[0]
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise CardiolatentError(f"window_{kind} must be a number, not {value!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise CardiolatentError(f"window_{kind} must be a positive number, not {value}")
    label = {"kb": f"{value:g} kb", "snps": f"{value:g} variants", "cm": f"{value:g} cM"}[kind]
    return kind, value, label


# ---------------------------------------------------------------------------------------------
# PLINK 1 files
# ---------------------------------------------------------------------------------------------
def _standardise(g: np.ndarray) -> np.ndarray:
    """(k, n) int8 counts (-1 missing) -> (n, k) float64, mean 0 and variance 1 (population
    variance) per column after replacing a missing call by the column mean (ldsc's ``nextSNPs``)."""
    x = g.T.astype(np.float64)
    miss = g.T < 0
    x[miss] = 0.0
    called = (~miss).sum(axis=0)
    mean = x.sum(axis=0) / np.maximum(called, 1)
    if miss.any():
        x = np.where(miss, mean, x)
    x -= mean
    sd = np.sqrt((x * x).mean(axis=0))
    sd[sd == 0] = 1.0
    x /= sd
    return x


def _frequencies(bed: BedFile, rows: np.ndarray | None, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """A1 frequency among called genotypes and the dosage variance of every variant."""
    freq = np.empty(bed.m)
    var = np.empty(bed.m)
    for s in range(0, bed.m, chunk):
        g = bed.counts(np.arange(s, min(s + chunk, bed.m)), rows)
        called = g >= 0
        k = called.sum(axis=1)
        gg = np.where(called, g, 0).astype(np.float64)
        tot = gg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = tot / k
            freq[s:s + len(g)] = mean / 2.0
            var[s:s + len(g)] = (gg * gg).sum(axis=1) / k - mean ** 2
    return freq, var


def compute_ld_scores(bfile: str | os.PathLike, *, window_kb: float | None = None,
                      window_snps: int | None = None, window_cm: float | None = None,
                      maf_min: float = 0.0, keep: Sequence[str] | None = None,
                      chunk: int = 1024) -> LDScores:
    """LD scores of every variant of a PLINK 1 fileset (ldsc's ``--l2``).

    Parameters
    ----------
    bfile : the fileset prefix (``PREFIX.bed/.bim/.fam``; a path ending in one of those is accepted).
    window_kb, window_snps, window_cm : the LD window, exactly one (ldsc's ``--ld-wind-kb`` 1000
        is the usual choice for a reference panel; ``window_snps`` counts variants either side).
    maf_min : variants with MAF at or below this are left out (ldsc's ``--maf``; 0 drops only
        monomorphic variants).
    keep : IIDs of the people to use (ldsc's ``--keep``); default everyone in the ``.fam``.
    chunk : variants per block of the computation (memory ``8 n (window + chunk)`` bytes).

    Returns
    -------
    :class:`LDScores`, the table in ``.bim`` order within chromosome after sorting by chromosome
    and position, with ``maf`` and ``cm`` columns; ``m`` and ``m_5_50`` counted over its variants.

    Raises
    ------
    CardiolatentError
        Missing or inconsistent files, no or several windows, a ``keep`` id not in the ``.fam``,
        fewer than 3 people, or duplicated variant ids.
    """
    kind, dist, label = _window(window_kb, window_snps, window_cm)
    chunk = int(chunk)
    if chunk < 1:
        raise CardiolatentError(f"chunk must be a positive integer, not {chunk}")
    if not 0 <= float(maf_min) < 0.5:
        raise CardiolatentError(f"maf_min must be in [0, 0.5), not {maf_min}")
    bed = BedFile(bfile)
    rows = None
    if keep is not None:
        want = pd.Index([str(k) for k in keep])
        pos = pd.Index(bed.fam["iid"]).get_indexer(want)
        if (pos < 0).any():
            raise CardiolatentError(f"keep: IID {want[pos < 0][0]!r} is not in {bed.prefix}.fam")
        rows = np.sort(np.unique(pos))
    n = bed.n if rows is None else rows.size
    if n < 3:
        raise CardiolatentError(f"{bed.prefix}: LD scores need at least 3 people, found {n}")
    dup = bed.bim["id"].duplicated()
    if dup.any():
        raise CardiolatentError(f"{bed.prefix}.bim: variant id {bed.bim['id'][dup].iloc[0]!r} occurs more than once")

    freq, var = _frequencies(bed, rows, max(chunk, 4096))
    maf = np.minimum(freq, 1.0 - freq)
    used = (maf > float(maf_min)) & (var > 0) & np.isfinite(maf)
    code = chrom_codes(bed.bim["chrom"].to_numpy())
    order = np.lexsort((bed.pos, code))
    order = order[used[order]]
    l2 = np.zeros(order.size)
    cm = bed.cm
    bp = bed.pos.astype(np.float64)
    denom = n - 2.0
    ocode = code[order]
    bounds = np.flatnonzero(np.diff(ocode)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [order.size]])
    for c0, c1 in zip(starts, stops):
        idx = order[c0:c1]  # this chromosome's variants, by position
        if kind == "kb":
            x = bp[idx] / 1000.0
        elif kind == "cm":
            x = cm[idx]
            if np.any(np.diff(x) < 0):
                raise CardiolatentError(f"{bed.prefix}.bim: centimorgans decrease along chromosome "
                                        f"{bed.bim['chrom'].iloc[idx[0]]}; use window_kb or window_snps")
        else:
            x = np.arange(idx.size, dtype=np.float64)
        left = ldsc_window_lefts(x, dist)
        l2[c0:c1] = _l2_one_chromosome(bed, idx, rows, x, left, dist, denom, n, chunk)

    tab = pd.DataFrame({
        "chrom": bed.bim["chrom"].to_numpy()[order].astype(str),
        "id": bed.bim["id"].to_numpy()[order].astype(str),
        "pos": bed.pos[order],
        "cm": cm[order],
        "maf": maf[order],
        "l2": l2,
    })
    per_chrom = {c: (int(g.shape[0]), int((g["maf"] > 0.05).sum())) for c, g in tab.groupby("chrom", sort=False)}
    return LDScores(table=tab, m=float(len(tab)), m_5_50=float((tab["maf"] > 0.05).sum()),
                    source=str(bed.prefix), n_samples=int(n), window=label, per_chromosome_m=per_chrom)


def _l2_one_chromosome(bed: BedFile, idx: np.ndarray, rows, x: np.ndarray, left: np.ndarray, dist: float,
                       denom: float, n: int, chunk: int) -> np.ndarray:
    """Sum of the adjusted r^2 over each variant's window, for one chromosome's variants ``idx``."""
    k = idx.size
    out = np.zeros(k)
    cache: list[tuple[int, int, np.ndarray]] = []  # (start, stop, standardised (n, stop - start))

    def adjusted(r):
        r2 = r * r
        return r2 - (1.0 - r2) / denom

    for s in range(0, k, chunk):
        e = min(s + chunk, k)
        b = _standardise(bed.counts(idx[s:e], rows))
        # pairs inside the chunk (the diagonal: r = 1, adjusted 1)
        r = b.T @ b / n
        a = adjusted(r)
        inside = np.abs(x[s:e, None] - x[None, s:e]) <= dist
        out[s:e] += np.where(inside, a, 0.0).sum(axis=1)
        lo = int(left[s])
        cache = [(ps, pe, mat) for ps, pe, mat in cache if pe > lo]
        for ps, pe, mat in cache:
            off = max(lo - ps, 0)
            r = b.T @ mat[:, off:] / n  # (e - s, pe - ps - off)
            a = adjusted(r)
            inside = (x[s:e, None] - x[None, ps + off:pe]) <= dist
            a = np.where(inside, a, 0.0)
            out[s:e] += a.sum(axis=1)
            out[ps + off:pe] += a.sum(axis=0)
        cache.append((s, e, b))
    return out


# ---------------------------------------------------------------------------------------------
# ldsc's files
# ---------------------------------------------------------------------------------------------
def _ld_file(stem: str) -> tuple[Path, str | None] | None:
    for ext, comp in _COMPRESSIONS:
        p = Path(stem + _LD_SUFFIX + ext)
        if p.is_file():
            return p, comp
    return None


def _chromosome_files(prefix: str) -> list[tuple[str, str]]:
    """(chromosome label, stem) of a per-chromosome set: ``prefix`` with ``@`` replaced, or
    ``prefix`` followed by the chromosome (ldsc's ``sub_chr``)."""
    pattern = prefix if "@" in prefix else prefix + "@"
    head, _, tail = pattern.partition("@")
    found = []
    for path in glob.glob(glob.escape(head) + "*" + glob.escape(tail) + _LD_SUFFIX + "*"):
        name = path[len(head):]
        m = re.match(r"([0-9]+|X|Y|XY|MT)" + re.escape(tail) + re.escape(_LD_SUFFIX) + r"(\.gz|\.bz2)?$", name)
        if m:
            found.append((m.group(1), head + m.group(1) + tail))
    found = sorted(set(found), key=lambda t: int(chrom_codes([t[0]])[0]))
    return found


def _read_m(stem: str, which: str) -> list[float] | None:
    path = Path(stem + ".l2." + which)
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace").split("\n")[0].split()
    try:
        vals = [float(t) for t in text]
    except ValueError:
        raise CardiolatentError(f"{path}: not a number ({' '.join(text)[:60]!r}); expected ldsc's M file") from None
    if not vals:
        raise CardiolatentError(f"{path}: empty; expected ldsc's M file (one line of numbers)")
    return vals


def _parse_ld_file(path: Path, comp: str | None) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep=r"\s+", compression=comp, dtype={"CHR": str, "SNP": str},
                         na_values=["."])
    except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError, UnicodeDecodeError, EOFError) as exc:
        raise CardiolatentError(f"cannot read LD score file {path}: {str(exc).splitlines()[0]}") from exc
    for col in ("CHR", "SNP", "BP"):
        if col not in df.columns:
            raise CardiolatentError(f"{path}: LD score file lacks the column {col} (ldsc's CHR SNP BP L2)")
    ld_cols = [c for c in df.columns if c not in ("CHR", "SNP", "BP", "CM", "MAF")]
    if len(ld_cols) != 1:
        raise CardiolatentError(
            f"{path}: {len(ld_cols)} LD score columns ({' '.join(ld_cols) or 'none'}); this LD score "
            "regression takes one (partitioned LD scores are not supported)")
    col = ld_cols[0]
    l2 = pd.to_numeric(df[col], errors="coerce")
    if l2.isna().any():
        raise CardiolatentError(f"{path}: column {col}: {df[col][l2.isna()].iloc[0]!r} is not a number")
    bp = pd.to_numeric(df["BP"], errors="coerce")
    if bp.isna().any():
        raise CardiolatentError(f"{path}: column BP: {df['BP'][bp.isna()].iloc[0]!r} is not a number")
    return pd.DataFrame({"chrom": df["CHR"].astype(str), "id": df["SNP"].astype(str),
                         "pos": bp.astype(np.int64), "l2": l2.astype(np.float64)})


def read_ld_scores(prefix: str | os.PathLike, *, m: float | None = None, m_file: str = "M_5_50") -> LDScores:
    """Read LD scores in ldsc's format (``ldsc --ref-ld`` / ``--ref-ld-chr`` / ``--w-ld-chr``).

    Parameters
    ----------
    prefix : ``PREFIX`` of ``PREFIX.l2.ldscore[.gz|.bz2]`` (one file), or of a per-chromosome set
        ``PREFIX<chr>.l2.ldscore.gz`` (``eur_w_ld_chr/``), or a prefix with ``@`` standing for the
        chromosome (``ld/@_kg``). A single file is used when it exists; otherwise every chromosome
        file present is read.
    m : ``M`` to use instead of the ``.l2.M_5_50`` / ``.l2.M`` files (ldsc's ``--M``).
    m_file : which M file the regression will use by default: ``"M_5_50"`` (ldsc's default) or
        ``"M"`` (``--not-M-5-50``); both are read when present.

    Returns
    -------
    :class:`LDScores` sorted by chromosome and position, duplicated ids dropped (the first kept,
    as ldsc). ``m`` / ``m_5_50`` are the sums over the files read (``m`` given overrides both).

    Raises
    ------
    CardiolatentError
        No file found (the message says which names were tried), a file without CHR / SNP / BP
        or with several LD score columns, a non-numeric value, or no M file and no ``m``.
    """
    prefix = os.fspath(prefix)
    if m_file not in ("M_5_50", "M"):
        raise CardiolatentError(f"m_file must be 'M_5_50' or 'M', not {m_file!r}")
    single = None if "@" in prefix else _ld_file(prefix)
    if single is not None:
        stems = [("", prefix)]
        frames = [_parse_ld_file(*single)]
    else:
        stems = _chromosome_files(prefix)
        if not stems:
            raise CardiolatentError(
                f"no LD score files for {prefix!r}: tried {prefix}{_LD_SUFFIX}[.gz|.bz2] and "
                f"{prefix if '@' in prefix else prefix + '<chr>'}{_LD_SUFFIX}[.gz|.bz2]")
        frames = []
        for _, stem in stems:
            path, comp = _ld_file(stem)
            frames.append(_parse_ld_file(path, comp))
    tab = pd.concat(frames, ignore_index=True)
    code = chrom_codes(tab["chrom"].to_numpy())
    order = np.lexsort((tab["pos"].to_numpy(), code))
    tab = tab.iloc[order].reset_index(drop=True)
    tab = tab.drop_duplicates(subset="id", keep="first").reset_index(drop=True)

    m_all = [_read_m(stem, "M") for _, stem in stems]
    m_550 = [_read_m(stem, "M_5_50") for _, stem in stems]

    def total(vals):
        if any(v is None for v in vals):
            return None
        if any(len(v) != 1 for v in vals):
            raise CardiolatentError(f"{prefix}: M files list several annotations; partitioned LD scores "
                                    "are not supported")
        return float(sum(v[0] for v in vals))

    per_chrom = {}
    for (chrom, _), a, b in zip(stems, m_all, m_550):
        per_chrom[chrom or "all"] = (a[0] if a else None, b[0] if b else None)
    M, M550 = total(m_all), total(m_550)
    if m is not None:
        M = M550 = float(m)
        if not M > 0:
            raise CardiolatentError(f"m must be positive, not {m}")
    want = M550 if m_file == "M_5_50" else M
    if want is None:
        tried = f"{stems[0][1]}.l2.{m_file}"
        raise CardiolatentError(f"no M for the LD scores {prefix!r}: {tried} not found (give m, "
                                "or m_file='M' to use the .l2.M files)")
    return LDScores(table=tab, m=M if M is not None else want, m_5_50=M550, source=prefix,
                    per_chromosome_m=per_chrom)


def write_ld_scores(ld: LDScores, prefix: str | os.PathLike, *, per_chromosome: bool = True) -> list[Path]:
    """Write LD scores in ldsc's format, atomically.

    ``per_chromosome``: ``PREFIX<chr>.l2.ldscore.gz``, ``.l2.M``, ``.l2.M_5_50`` per chromosome
    (read back with ``ldsc --ref-ld-chr PREFIX`` or :func:`read_ld_scores`); otherwise one set
    ``PREFIX.l2.ldscore.gz``, ``.l2.M``, ``.l2.M_5_50``. L2 is written with 6 decimals (ldsc
    writes 3). Per-chromosome M needs the ``maf`` column (LD scores computed here) or
    ``per_chromosome_m``. Returns the paths written.
    """
    prefix = os.fspath(prefix)
    tab = ld.table
    written: list[Path] = []

    def one(df: pd.DataFrame, stem: str, m_all: float, m_550: float | None):
        out = pd.DataFrame({"CHR": df["chrom"].to_numpy(), "SNP": df["id"].to_numpy(),
                            "BP": df["pos"].to_numpy(), "L2": df["l2"].to_numpy()})
        path = Path(stem + _LD_SUFFIX + ".gz")
        with atomic_path(path) as tmp:
            out.to_csv(tmp, sep="\t", index=False, float_format="%.6f", compression="gzip", lineterminator="\n")
        written.append(path)
        write_text_atomic(stem + ".l2.M", f"{_fmt_m(m_all)}\n")
        written.append(Path(stem + ".l2.M"))
        if m_550 is not None:
            write_text_atomic(stem + ".l2.M_5_50", f"{_fmt_m(m_550)}\n")
            written.append(Path(stem + ".l2.M_5_50"))

    if not per_chromosome:
        one(tab, prefix, ld.m, ld.m_5_50)
        return written
    for chrom, df in tab.groupby("chrom", sort=False):
        if "maf" in df.columns:
            m_all, m_550 = float(len(df)), float((df["maf"] > 0.05).sum())
        elif chrom in ld.per_chromosome_m:
            m_all, m_550 = ld.per_chromosome_m[chrom]
        else:
            raise CardiolatentError(f"write_ld_scores: no per-chromosome M for chromosome {chrom} "
                                    "(write with per_chromosome=False)")
        stem = prefix.replace("@", str(chrom)) if "@" in prefix else prefix + str(chrom)
        one(df, stem, m_all, m_550)
    return written


def _fmt_m(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)
