"""Summaries of GWAS results for many latents, streamed: the ``gwas-results`` result.

Everything works on ``-log10 P`` (``mlog10p``); ``P < t`` is ``mlog10p > -log10 t``. The pieces
live in modules named for what they hold:

- :mod:`cardiolatent.gwas.inflation`: lambda GC (exact, from every variant's P) and QQ points;
- :mod:`cardiolatent.gwas.clump`: lead variants by distance or PLINK 1.9 LD clumping;
- :mod:`cardiolatent.gwas.loci`: leads of all latents merged into loci;
- :mod:`cardiolatent.gwas.plotdata`: thinned Manhattan and QQ tables; :mod:`cardiolatent.gwas.coords`:
  chromosome keys and offsets;
- :mod:`cardiolatent.gwas.thresholds`: the genome-wide threshold (``paper``, M_eff from ``icc``).

This module streams a list of :class:`~cardiolatent.gwas.readers.ResultFile` latent by latent
(:func:`summarise_results`), keeping per latent only the float32 ``-log10 P`` array (freed after
the latent; with ``qq_maf_bins`` also an int8 allele-frequency bin code per variant), the variants
above the clumping / Manhattan floor and the Manhattan subsample, and returns :class:`GwasSummary`,
a :class:`~cardiolatent.results.Result` whose ``.save(out)`` writes the output folder as a unit. :func:`gwas_results` is the whole command: discovery, threshold,
summary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.clump import LDReference, distance_clump, ld_clump
from cardiolatent.gwas.coords import chrom_offsets
from cardiolatent.gwas.inflation import CHI2_MEDIAN_1DF, chi2_from_mlog10p, lambda_gc, qq_points
from cardiolatent.gwas.loci import merge_loci
from cardiolatent.gwas.plotdata import MAF_ALL, maf_bin_codes, maf_bins, manhattan_table, qq_table, thin_hash
from cardiolatent.gwas.readers import ResultFile, iter_chunks
from cardiolatent.gwas.readers import discover_results
from cardiolatent.gwas.thresholds import PAPER_P, genome_wide_threshold
from cardiolatent.io_utils import atomic_dir, write_table_atomic, write_text_atomic
from cardiolatent.io_utils import read_table
from cardiolatent.results import Result, Summary, empty_excluded, jsonable, read_record

__all__ = [
    "CHI2_MEDIAN_1DF",
    "PAPER_P",
    "GwasSummary",
    "GwasResultsSummary",
    "LDReference",
    "chi2_from_mlog10p",
    "chrom_offsets",
    "distance_clump",
    "gwas_results",
    "lambda_gc",
    "ld_clump",
    "merge_loci",
    "qq_points",
    "summarise_results",
    "thin_hash",
]


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
    n_p_zero: int = 0
    p_zero_ids: list = field(default_factory=list)
    max_pos: dict = field(default_factory=dict)
    maf_edges: np.ndarray | None = None  # qq_maf_bins: edges from 0 (maf_bins); None = no stratification
    b_parts: list = field(default_factory=list)  # int8 MAF bin code per variant (-1: no frequency)
    n_maf_missing: int = 0

    def add(self, ch) -> None:
        self.n_rows += ch.n_rows
        self.n_missing_p += ch.n_missing_p
        self.n_filtered += ch.n_filtered
        self.n_p_zero += ch.n_p_zero
        self.p_zero_ids += ch.p_zero_ids[: max(0, 5 - len(self.p_zero_ids))]
        if len(ch) == 0:
            return
        m = ch.mlog10p
        self.m_parts.append(m.astype(np.float32))
        if self.maf_edges is not None:
            code = maf_bin_codes(ch.frequencies(), self.maf_edges)
            self.n_maf_missing += int((code < 0).sum())
            self.b_parts.append(code)
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



LEAD_COLUMNS = ["latent", "locus", "chrom", "pos", "id", "effect_allele", "other_allele", "eaf", "info", "n",
                "beta", "se", "mlog10p", "p", "n_clumped", "clump_start", "clump_end", "method"]
PER_LATENT_COLUMNS = ["latent", "format", "n_files", "n_rows", "n_variants", "n_missing_p", "n_filtered",
                      "lambda_gc", "median_chi2", "max_mlog10p", "n_significant", "n_leads", "status"]


@dataclasses.dataclass
class GwasResultsSummary(Summary):
    """What ``summary.json`` of ``gwas-results`` holds (besides the version, class and file list)."""

    inputs: list = field(default_factory=list)       # path, latent, format of every results file
    skipped: list = field(default_factory=list)      # files found in a folder scan that were not results
    threshold: dict = field(default_factory=dict)    # p, mlog10p, how
    n_latents: int = 0
    n_files: int = 0
    p_threshold: float = 5e-8
    clumping: dict = field(default_factory=dict)     # method and its settings (per latent for LD clumping)
    loci: dict = field(default_factory=dict)         # merge_kb, method
    manhattan: dict = field(default_factory=dict)    # p_all_kept, background_per_latent
    qq: dict = field(default_factory=dict)           # n_log_spaced_points, band, expected (+ maf_bins,
    #                                                  maf_missing, maf_counts, maf_lambda_gc per latent)
    filters: dict = field(default_factory=dict)      # test, min_mac, min_info
    notes: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)       # latents, latents_with_leads, leads, loci, rows
    lambda_gc: dict = field(default_factory=dict)    # median, min, max over latents
    chromosomes: list = field(default_factory=list)  # chrom, offset, length, center (bp)
    outputs: list = field(default_factory=list)      # file names written


@dataclass
class GwasSummary(Result):
    """Result of :func:`summarise_results` / :func:`gwas_results`.

    ``table`` (also ``per_latent``; ``lambda.tsv``): one row per latent (``latent, format, n_files,
    n_rows, n_variants, n_missing_p, n_filtered, lambda_gc, median_chi2, max_mlog10p, n_significant,
    n_leads, status``); ``leads``: lead variants of all latents with their ``locus``; ``loci``: see
    :func:`merge_loci`; ``manhattan``: ``latent, chrom, pos, cum_pos, mlog10p``; ``qq``: ``latent``
    + :func:`qq_points` columns (with ``qq_maf_bins`` also ``maf_bin`` after ``latent``: ``"all"`` for
    the unstratified rows, a bin label such as ``"0.01-0.05"`` for the per-bin rows; a table without
    the column holds only unstratified rows); ``chromosomes``: :func:`chrom_offsets`; ``summary``:
    :class:`GwasResultsSummary` (``info`` gives its analysis part as a dict). ``excluded`` is empty
    (no participant is involved). ``table_format``: ``parquet`` or ``tsv`` for the Manhattan and QQ
    tables when saved.
    """

    leads: pd.DataFrame = None
    loci: pd.DataFrame = None
    manhattan: pd.DataFrame = None
    qq: pd.DataFrame = None
    chromosomes: pd.DataFrame = None
    table_format: str = "parquet"
    folder: Path | None = None

    kind: ClassVar[str] = "gwas-results"
    layout: ClassVar[str] = "folder"
    table_name: ClassVar[str] = "lambda.tsv"
    summary_type: ClassVar[type] = GwasResultsSummary

    @property
    def per_latent(self) -> pd.DataFrame:
        return self.table

    @property
    def info(self) -> dict:
        """The analysis part of the summary (thresholds, clumping, filters, notes) as a dict."""
        keys = ("n_latents", "n_files", "p_threshold", "clumping", "loci", "manhattan", "qq", "filters", "notes")
        return {k: getattr(self.summary, k) for k in keys}

    def _ext(self) -> str:
        if self.table_format not in ("parquet", "tsv"):
            raise CardiolatentError(f"table_format must be parquet or tsv, not {self.table_format!r}")
        return ".parquet" if self.table_format == "parquet" else ".tsv"

    def extra_tables(self) -> dict[str, pd.DataFrame]:
        ext = self._ext()
        return {"leads.tsv": self.leads, "loci.tsv": self.loci, f"manhattan{ext}": self.manhattan,
                f"qq{ext}": self.qq}

    def files(self, out: str | os.PathLike) -> dict[str, Path]:
        out = Path(out)
        return {"table": out / self.table_name, **{n: out / n for n in self.extra_tables()},
                "summary": out / "summary.json"}

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write ``lambda.tsv``, ``leads.tsv``, ``loci.tsv``, ``manhattan.*``, ``qq.*`` and ``summary.json``
        into the folder ``out`` as a unit (a temporary sibling swapped in when complete)."""
        out = Path(out)
        paths = self.files(out)
        self.summary.outputs = [p.name for p in paths.values()]
        rec = self.summary_record(paths)
        with atomic_dir(out) as tmp:
            write_table_atomic(self.table, tmp / self.table_name, index=False)
            # 12 significant digits: P = 10^-mlog10p would otherwise print as 1.7879100000000064e-17
            for name, df in self.extra_tables().items():
                kw = {"float_format": "%.12g"} if name in ("leads.tsv", "loci.tsv") else {}
                write_table_atomic(df, tmp / name, index=False, **kw)
            write_text_atomic(tmp / "summary.json", json.dumps(rec, indent=2) + "\n")
        self.folder = out
        return paths

    @classmethod
    def load(cls, out: str | os.PathLike) -> "GwasSummary":
        """Read a saved ``gwas-results`` folder back."""
        out = Path(out)
        rec = read_record(out / "summary.json", f"{out} is not a saved gwas-results folder (no summary.json)")
        summary = GwasResultsSummary.from_dict(rec)
        fmt = "tsv" if (out / "manhattan.tsv").exists() and not (out / "manhattan.parquet").exists() else "parquet"
        ext = ".parquet" if fmt == "parquet" else ".tsv"
        tables = {n: read_table(out / n, what=f"gwas-results table {n}", **({} if n.endswith(".parquet") else
                                                                              {"dtype": {"chrom": str}}))
                  for n in ("lambda.tsv", "leads.tsv", "loci.tsv", f"manhattan{ext}", f"qq{ext}")}
        chroms = pd.DataFrame(summary.chromosomes)
        return cls(table=tables["lambda.tsv"], excluded=empty_excluded(), summary=summary,
                   leads=tables["leads.tsv"], loci=tables["loci.tsv"], manhattan=tables[f"manhattan{ext}"],
                   qq=tables[f"qq{ext}"], chromosomes=chroms, table_format=fmt, folder=out)

    def summary_lines(self) -> list[str]:
        """What ``cardiolatent gwas-results`` prints."""
        s = self.summary
        cl = s.clumping or {}
        method = (f"LD clumping with PLINK 1.9 against {cl.get('ld_reference')}" if cl.get("method") == "ld"
                  else f"distance clumping +-{cl.get('window_kb', 250.0):g} kb")
        lines = [f"{s.n_files} results file(s), {s.n_latents} latent(s); lead variants at "
                 f"{s.threshold.get('how')}; {method}"]
        lines += [f"note: skipped {f} (not a GWAS results file of a known tool)" for f in s.skipped]
        lam = self.table["lambda_gc"].to_numpy(dtype=np.float64)
        lam = lam[np.isfinite(lam)]
        if lam.size:
            lines.append(f"lambda GC over {lam.size} latent(s): median {np.median(lam):.3f} "
                         f"(range {lam.min():.3f}-{lam.max():.3f})")
        lines.append(f"{len(self.leads)} lead variant(s) in {s.counts.get('latents_with_leads', 0)} latent(s); "
                     f"{len(self.loci)} locus/loci across latents")
        if len(self.loci):
            for r in self.loci.sort_values("lead_mlog10p", ascending=False).head(10).itertuples():
                lines.append(f"  {r.locus}: chr{r.chrom}:{r.start:,}-{r.end:,} lead {r.lead_id} ({r.lead_latent}, "
                             f"-log10 P {r.lead_mlog10p:.1f}); {r.n_latents} latent(s): {r.latents[:80]}")
        lines += [f"note: {note}" for note in s.notes[:20]]
        for r in self.table[self.table["status"] != "ok"].itertuples():
            lines.append(f"note: latent {r.latent}: {r.status}")
        if self.folder is not None:
            lines.append(f"wrote {', '.join(s.outputs)} to {self.folder}")
        return lines


def _check_settings(p_threshold, ld_ref, clump_p2, manhattan_p, window_kb=250.0, merge_kb=250.0,
                    clump_kb=None) -> None:
    for name, v in (("window_kb", window_kb), ("merge_kb", merge_kb), ("clump_kb", clump_kb)):
        if v is not None and not (np.isfinite(v) and v >= 0):
            raise CardiolatentError(f"{name} must be a distance of 0 kb or more, not {v}")
    if not 0 < p_threshold < 1:
        raise CardiolatentError(f"the P threshold must be between 0 and 1, not {p_threshold}")
    if ld_ref is not None and not 0 < p_threshold <= clump_p2 < 1:
        raise CardiolatentError(f"clump_p2 ({clump_p2}) must be at least the P threshold ({p_threshold}) and below 1")
    if not 0 < manhattan_p < 1:
        raise CardiolatentError(f"manhattan_p must be between 0 and 1, not {manhattan_p}")


def _stream_latent(acc: _Accumulator, rfs: list[ResultFile], *, chunk_bytes, test, min_mac, min_info,
                   progress) -> bool:
    """Read every file of one latent into ``acc``; True when several files cover the same chromosome."""
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
    return overlap


def _maf_qq(m: np.ndarray, codes: np.ndarray, labels: list[str], man_floor: float,
            qq_n_points: int) -> tuple[list[pd.DataFrame], dict, dict]:
    """Per MAF bin of one latent: QQ points with the bin's own expected quantiles and band (``n`` =
    the bin's variants), the count and the lambda GC. ``m``: float32 ``-log10 P`` (not modified),
    ``codes``: int8 bin codes (-1 = no frequency, left out). One bin's copy is held at a time."""
    parts, counts, lams = [], {}, {}
    for b, lab in enumerate(labels):
        sub = m[codes == b]  # a copy, at most 4 bytes per variant
        sub.sort()
        counts[lab] = int(sub.size)
        lams[lab] = lambda_gc(sub, presorted=True) if sub.size else None
        if sub.size:
            q = qq_points(sub, keep_above=man_floor, n_points=qq_n_points, presorted=True)
            q.insert(0, "maf_bin", lab)
            parts.append(q)
        del sub
    return parts, counts, lams


def _inflation_and_qq(acc: _Accumulator, latent: str, t_sig: float, man_floor: float, qq_n_points: int,
                      maf_labels: list[str] | None = None) -> dict:
    """lambda GC, the QQ table, the strongest P and the count of significant variants of one latent
    (its ``-log10 P`` array is sorted in place and then released). With ``maf_labels``, the QQ table
    also holds the rows of every MAF bin (``maf_bin``; the unstratified rows are ``"all"``) and
    ``maf`` gives the counts, lambda GC and missing count per bin."""
    asc = acc.all_mlog10p()  # float32, 4 bytes per variant
    acc.m_parts = []
    maf = None
    if maf_labels is not None:
        codes = np.concatenate(acc.b_parts) if acc.b_parts else np.zeros(0, np.int8)  # 1 byte per variant
        acc.b_parts = []
        strat, counts, lams = _maf_qq(asc, codes, maf_labels, man_floor, qq_n_points)
        maf = {"parts": strat, "counts": counts, "lambda_gc": lams, "missing": acc.n_maf_missing}
        del codes
    asc.sort()  # in place
    n = int(asc.size)
    out = {"n": n, "lambda_gc": lambda_gc(asc, presorted=True) if n else float("nan"),
           "status": "ok" if n else ("no rows" if acc.n_rows == 0 else "no P values"), "qq": None,
           "max_mlog10p": float(asc[-1]) if n else float("nan"),
           "n_significant": int(n - np.searchsorted(asc, np.float32(t_sig), side="right")) if n else 0}
    if n:
        qq = qq_points(asc, keep_above=man_floor, n_points=qq_n_points, presorted=True)
        if maf is not None:
            qq = pd.concat([qq.assign(maf_bin=MAF_ALL), *maf["parts"]], ignore_index=True)
        qq.insert(0, "latent", latent)
        out["qq"] = qq
    out["maf"] = maf
    return out


def _leads_of(top: pd.DataFrame, latent: str, *, ref, t_sig, p_threshold, window_kb, clump_p2, clump_r2, kb_ld,
              plink, ld_match, plink_threads, notes: list[str], ld_info: dict) -> pd.DataFrame:
    """Lead variants of one latent (distance clumping, or PLINK 1.9 LD clumping against ``ref``)."""
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
    return ld


def _manhattan_part(acc: _Accumulator, top: pd.DataFrame, latent: str, man_floor: float) -> tuple:
    """Manhattan rows of one latent: everything above the floor + the hashed background subsample."""
    acc._shrink()
    tm = top["mlog10p"].to_numpy(dtype=np.float64) > man_floor if len(top) else np.zeros(0, bool)
    return (latent,
            np.concatenate([top["_code"].to_numpy(dtype=np.int16)[tm], acc.bg_c.astype(np.int16)]),
            np.concatenate([top["pos"].to_numpy(dtype=np.int64)[tm], acc.bg_p.astype(np.int64)]),
            np.concatenate([top["mlog10p"].to_numpy(dtype=np.float32)[tm], acc.bg_m]))


def _leads_and_loci(leads_parts: list, merge_kb: float, merge_method: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All leads with their locus, and the loci (with ``lead_p``)."""
    leads = pd.concat(leads_parts, ignore_index=True) if leads_parts else pd.DataFrame(columns=LEAD_COLUMNS)
    leads, loci = merge_loci(leads, window_kb=merge_kb, method=merge_method)
    with np.errstate(over="ignore"):
        leads["p"] = np.power(10.0, -leads["mlog10p"].to_numpy(dtype=np.float64)) if len(leads) else []
    leads = leads[[c for c in LEAD_COLUMNS if c in leads.columns]]
    if len(loci):
        with np.errstate(over="ignore"):
            loci.insert(loci.columns.get_loc("lead_mlog10p") + 1, "lead_p",
                        np.power(10.0, -loci["lead_mlog10p"].to_numpy(dtype=np.float64)))
    return leads.reset_index(drop=True), loci


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
    qq_maf_bins: str | Sequence[float] | None = None,
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
    qq_maf_bins : upper edges of minor-allele-frequency bins (:func:`~cardiolatent.gwas.plotdata.maf_bins`,
        e.g. ``"0.01,0.05,0.1,0.25,0.5"``; None = off). The QQ table then gets a ``maf_bin`` column:
        ``"all"`` for the usual rows and, per latent and bin (``MAF = min(eaf, 1 - eaf)``), the same
        thinned points with expected quantiles and 95% band of that bin's own count. Variants
        without a frequency are left out of the bins and counted (``summary.qq["maf_missing"]``).
    chunk_bytes : text per streamed block.
    progress : called with the number of (compressed) bytes newly consumed.
    on_latent : called with each latent's name as it starts.
    """
    _check_settings(p_threshold, ld_ref, clump_p2, manhattan_p, window_kb, merge_kb, clump_kb)
    maf_edges, maf_labels = maf_bins(qq_maf_bins) if qq_maf_bins is not None else (None, None)
    maf_counts, maf_lambda, maf_missing = {}, {}, {}
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
        acc = _Accumulator(latent, keep_floor, man_floor, int(manhattan_background), maf_edges=maf_edges)
        if _stream_latent(acc, rfs, chunk_bytes=chunk_bytes, test=test, min_mac=min_mac, min_info=min_info,
                          progress=progress):
            notes.append(f"latent {latent}: several files cover the same chromosome(s); variants in more than one "
                         "file are counted more than once")
        if acc.n_p_zero:
            notes.append(f"latent {latent}: {acc.n_p_zero} variant(s) with P written as 0 (below the tool's "
                         f"precision, e.g. {', '.join(acc.p_zero_ids)}) left out of every summary, never a lead "
                         "with P = 0; ask the tool for -log10 P (REGENIE writes LOG10P; plink2 glm cols=+log10p)")
        for c, mp in acc.max_pos.items():
            max_pos[c] = max(max_pos.get(c, -1), mp)
        st = _inflation_and_qq(acc, latent, t_sig, man_floor, qq_n_points, maf_labels)
        if st["qq"] is not None:
            qq_parts.append(st["qq"])
        if st["maf"] is not None:
            maf_counts[latent], maf_lambda[latent] = st["maf"]["counts"], st["maf"]["lambda_gc"]
            maf_missing[latent] = st["maf"]["missing"]
        top = acc.top()
        ld = _leads_of(top, latent, ref=ref, t_sig=t_sig, p_threshold=p_threshold, window_kb=window_kb,
                       clump_p2=clump_p2, clump_r2=clump_r2, kb_ld=kb_ld, plink=plink, ld_match=ld_match,
                       plink_threads=plink_threads, notes=notes, ld_info=ld_info)
        if len(ld):
            leads_parts.append(ld)
        lam = st["lambda_gc"]
        per.append({"latent": latent, "format": rfs[0].format, "n_files": len(rfs), "n_rows": acc.n_rows,
                    "n_variants": st["n"], "n_missing_p": acc.n_missing_p, "n_filtered": acc.n_filtered,
                    "lambda_gc": lam, "median_chi2": lam * CHI2_MEDIAN_1DF, "max_mlog10p": st["max_mlog10p"],
                    "n_significant": st["n_significant"], "n_leads": int(len(ld)), "status": st["status"]})
        man_parts.append(_manhattan_part(acc, top, latent, man_floor))
        del acc, top

    per_latent = pd.DataFrame(per, columns=PER_LATENT_COLUMNS)
    chroms = chrom_offsets(max_pos)
    manhattan = manhattan_table(man_parts, list(groups), chroms)
    qq = qq_table(qq_parts, list(groups), maf_labels)
    qq_info = {"n_log_spaced_points": int(qq_n_points), "band": 0.95, "expected": "-log10(rank / (n + 1))"}
    if maf_labels is not None:
        qq_info["maf_bins"] = {
            "edges": maf_edges.tolist(), "labels": maf_labels, "maf": "min(eaf, 1 - eaf), rounded to 10 decimals",
            "intervals": "[0, e1], (e1, e2], ..., (e_k-1, 0.5]",
            "rows": "maf_bin 'all': every variant with a P value (as without bins); a bin label: the variants "
                    "of that bin, expected quantiles and band with n = the bin's count (maf_counts)"}
        qq_info["maf_missing"] = maf_missing
        qq_info["maf_counts"] = maf_counts
        qq_info["maf_lambda_gc"] = maf_lambda
        miss = {k: v for k, v in maf_missing.items() if v}
        if miss:
            eg = ", ".join(f"{k}: {v}" for k, v in list(miss.items())[:3])
            notes.append(f"{len(miss)} latent(s) have variants without an allele frequency ({eg}"
                         f"{' ...' if len(miss) > 3 else ''}), left out of the MAF-stratified QQ rows and "
                         "counted in summary.json qq.maf_missing (PLINK 1.9 results have no frequency; PLINK 2 "
                         "results need the run's .afreq beside them)")
    leads, loci = _leads_and_loci(leads_parts, merge_kb, merge_method)
    summary = GwasResultsSummary(
        inputs=[{"path": str(f.path), "latent": f.latent, "format": f.format} for f in files],
        threshold={"p": p_threshold, "mlog10p": t_sig, "how": f"P < {p_threshold:g}"},
        n_latents=len(groups), n_files=len(files), p_threshold=p_threshold,
        clumping=({"method": "ld", "ld_reference": str(ref.prefix), "clump_p1": p_threshold, "clump_p2": clump_p2,
                   "clump_r2": clump_r2, "clump_kb": kb_ld, "match": ld_match, "per_latent": ld_info}
                  if ref is not None else {"method": "distance", "window_kb": window_kb}),
        loci={"merge_kb": merge_kb, "method": merge_method},
        manhattan={"p_all_kept": manhattan_p, "background_per_latent": int(manhattan_background)},
        qq=qq_info,
        filters={"test": test, "min_mac": min_mac, "min_info": min_info},
        notes=notes,
    )
    res = GwasSummary(table=per_latent, excluded=empty_excluded(), summary=summary, leads=leads, loci=loci,
                      manhattan=manhattan, qq=qq, chromosomes=chroms)
    _fill_counts(res)
    return res


def _fill_counts(res: GwasSummary) -> None:
    """Counts, the lambda range and the chromosome offsets of the summary, from the tables."""
    lam = res.table["lambda_gc"].to_numpy(dtype=np.float64)
    lam = lam[np.isfinite(lam)]
    s = res.summary
    s.counts = {"latents": int(len(res.table)), "latents_with_leads": int((res.table["n_leads"] > 0).sum()),
                "leads": int(len(res.leads)), "loci": int(len(res.loci)),
                "manhattan_rows": int(len(res.manhattan)), "qq_rows": int(len(res.qq))}
    s.lambda_gc = {"median": float(np.median(lam)) if lam.size else None,
                   "min": float(lam.min()) if lam.size else None, "max": float(lam.max()) if lam.size else None}
    s.chromosomes = jsonable(res.chromosomes.drop(columns="code").to_dict(orient="records"))
    ext = ".parquet" if res.table_format == "parquet" else ".tsv"
    s.outputs = ["lambda.tsv", "leads.tsv", "loci.tsv", f"manhattan{ext}", f"qq{ext}", "summary.json"]


def gwas_results(
    results: Sequence[str | os.PathLike],
    *,
    format: str | None = None,
    name_regex: str | None = None,
    p_threshold: float | str = 5e-8,
    meff: float | str | os.PathLike | None = None,
    table_format: str = "parquet",
    chunk_mb: float = 2.0,
    show_progress: bool = False,
    **settings: Any,
) -> GwasSummary:
    """The ``gwas-results`` analysis: find the results files, set the threshold, summarise.

    ``results``: files, globs or folders (:func:`~cardiolatent.gwas.readers.discover_results`, with
    ``format`` and ``name_regex``); ``p_threshold`` and ``meff``:
    :func:`~cardiolatent.gwas.thresholds.genome_wide_threshold`; ``table_format``: ``parquet`` or
    ``tsv`` for the saved Manhattan / QQ tables; ``chunk_mb``: text per streamed block (MB);
    ``show_progress``: a progress bar; ``settings``: the other parameters of :func:`summarise_results`.
    """
    threshold, how = genome_wide_threshold(p_threshold, meff)
    for name in ("manhattan_background", "qq_n_points"):
        if settings.get(name, 0) < 0:
            raise CardiolatentError(f"{name} must be >= 0")
    if chunk_mb <= 0:
        raise CardiolatentError("chunk_mb must be positive")
    if settings.get("qq_maf_bins") is not None:
        maf_bins(settings["qq_maf_bins"])
    if table_format not in ("parquet", "tsv"):
        raise CardiolatentError(f"table_format must be parquet or tsv, not {table_format!r}")
    _check_settings(threshold, settings.get("ld_ref"), settings.get("clump_p2", 1e-4),
                    settings.get("manhattan_p", 1e-3), settings.get("window_kb", 250.0),
                    settings.get("merge_kb", 250.0), settings.get("clump_kb"))  # before any file is read
    skipped: list = []
    files = discover_results(results, name_regex=name_regex, format=format, skipped=skipped)
    if not files:
        raise CardiolatentError(f"no GWAS results files in {' '.join(map(str, results))}")

    bar = tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True, desc="reading results",
               disable=not show_progress, leave=False)
    try:
        res = summarise_results(files, p_threshold=threshold, chunk_bytes=int(chunk_mb * (1 << 20)),
                                progress=bar.update, on_latent=lambda n: bar.set_postfix_str(n, refresh=False),
                                **settings)
    finally:
        bar.close()
    res.table_format = table_format
    res.summary.skipped = [str(f) for f in skipped]
    res.summary.threshold = {"p": threshold, "mlog10p": float(-np.log10(threshold)), "how": how}
    _fill_counts(res)
    return res
