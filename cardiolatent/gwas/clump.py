"""Lead variants per latent: distance clumping, or LD clumping with PLINK 1.9 against an LD reference.

- :func:`distance_clump`: the strongest variant with ``P < threshold`` is a lead, every such variant
  within +-``window_kb`` of it joins its clump, repeat.
- :func:`ld_clump`: PLINK 1.9 ``--clump`` against a PLINK 1 fileset (:class:`LDReference`); the
  paper: ``--clump-p1 5e-8 --clump-p2 1e-4 --clump-kb 250 --clump-r2 0.5``.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess
import tempfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.coords import codes_of as _codes_of
from cardiolatent.gwas.coords import genome_keys as _keys
from cardiolatent.gwas.readers import chrom_codes

__all__ = ["LDReference", "distance_clump", "ld_clump"]


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
        if df.empty:
            return np.array([], dtype=object)
        if by == "id":
            ids = pa.array(df["id"].astype(str).tolist(), type=pa.string())
            found = pc.is_in(ids, value_set=self.ids).to_numpy(zero_copy_only=False)
            return np.where(found, df["id"].astype(str).to_numpy(dtype=object), None)
        if by != "position":
            raise CardiolatentError(f"LD reference matching must be by id or position, not {by!r}")
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
        raise CardiolatentError("LD clumping needs PLINK 1.9: 'plink1.9' or 'plink' on PATH, or its path as plink=")
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
