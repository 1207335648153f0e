"""A user's (or the synthetic cohort's) genotypes as a SNP-major PLINK 1 fileset, read by blocks of variants.

:class:`BedFile` checks the three files once (present, six whitespace-separated columns in
``.bim``/``.fam``, the ``.bed`` magic bytes, and a ``.bed`` size that fits the ``.bim`` x ``.fam``),
memory-maps the ``.bed`` and unpacks the variants a caller asks for into A1 counts (int8; -1 where
the call is missing; A1 = the ``.bim``'s allele 1, which plink2 treats as ALT). The GWAS scan
(:mod:`cardiolatent.gwas.scan`), LD scores and polygenic scores (:mod:`cardiolatent.genetics`) read
genotypes through it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.synth.genotypes import BED_MAGIC, unpack_bed

__all__ = ["BedFile"]


class BedFile:
    """A SNP-major PLINK 1 fileset ``PREFIX.bed/.bim/.fam`` (``prefix`` may name any of the three).

    Attributes: ``prefix``, ``bed_path``, ``fam_path``; ``fam`` (``fid, iid, father, mother, sex,
    pheno``, text) and ``bim`` (``chrom, id, cm, pos, a1, a2``, text) as read; ``pos`` (m,) int64 base
    pairs and ``cm`` (m,) float64 centimorgans; ``n`` samples, ``m`` variants, ``nb`` bytes per variant;
    ``packed`` the memory-mapped (m, nb) uint8 genotype bytes.
    """

    def __init__(self, prefix):
        p = Path(prefix)
        if p.suffix in (".bed", ".bim", ".fam"):
            p = p.with_suffix("")
        self.prefix = p
        paths = {ext: p.with_name(p.name + ext) for ext in (".bed", ".bim", ".fam")}
        for path in paths.values():
            if not path.is_file():
                raise CardiolatentError(f"genotype file not found: {path}")
        self.bed_path, self.fam_path = paths[".bed"], paths[".fam"]
        try:
            self.fam = pd.read_csv(paths[".fam"], sep=r"\s+", header=None, dtype=str, keep_default_na=False,
                                   na_filter=False, usecols=range(6),
                                   names=["fid", "iid", "father", "mother", "sex", "pheno"])
            self.bim = pd.read_csv(paths[".bim"], sep=r"\s+", header=None, dtype=str, keep_default_na=False,
                                   na_filter=False, usecols=range(6),
                                   names=["chrom", "id", "cm", "pos", "a1", "a2"])
        except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, OSError) as exc:
            raise CardiolatentError(f"cannot read {p}.fam / {p}.bim (6 whitespace-separated columns): "
                                    f"{str(exc).splitlines()[0] if str(exc) else exc}") from exc
        if len(self.fam) == 0 or len(self.bim) == 0:
            raise CardiolatentError(f"{p}.fam / {p}.bim: no samples or no variants")
        self.n, self.m = len(self.fam), len(self.bim)
        self.nb = (self.n + 3) // 4
        with open(self.bed_path, "rb") as fh:
            magic = fh.read(3)
        if magic != BED_MAGIC:
            raise CardiolatentError(f"{self.bed_path}: not a SNP-major PLINK 1 .bed file (bad magic bytes)")
        size = self.bed_path.stat().st_size
        if size != 3 + self.m * self.nb:
            raise CardiolatentError(f"{self.bed_path}: {size - 3} genotype bytes, expected {self.m} variants x "
                                    f"{self.nb} bytes = {self.m * self.nb} (does it belong to this .bim/.fam?)")
        self.packed = np.memmap(self.bed_path, dtype=np.uint8, mode="r", offset=3, shape=(self.m, self.nb))
        numbers = {}
        for col, what in (("pos", "position"), ("cm", "centimorgan position")):
            v = pd.to_numeric(self.bim[col], errors="coerce")
            if v.isna().any():
                raise CardiolatentError(f"{p}.bim: {what} {self.bim[col][v.isna()].iloc[0]!r} is not a number")
            numbers[col] = v
        self.pos = numbers["pos"].to_numpy(dtype=np.int64)
        self.cm = numbers["cm"].to_numpy(dtype=np.float64)

    def founders(self) -> np.ndarray:
        """(n,) bool: samples none of whose parents is in the .fam (PLINK's founders)."""
        keys = set(zip(self.fam["fid"], self.fam["iid"]))
        pat = [(f, d) in keys for f, d in zip(self.fam["fid"], self.fam["father"])]
        mat = [(f, m) in keys for f, m in zip(self.fam["fid"], self.fam["mother"])]
        return ~(np.array(pat, dtype=bool) | np.array(mat, dtype=bool))

    def counts(self, idx, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(idx), n_rows) int8 A1 counts, -1 missing, of the variants ``idx`` (an index array or a
        slice; sorted indices read fastest) and the samples ``rows`` (default all)."""
        g = unpack_bed(np.asarray(self.packed[idx]), self.n)
        return g if rows is None else g[:, rows]

    def block(self, start: int, stop: int, rows: np.ndarray) -> np.ndarray:
        """(len(rows), stop - start) int8 A1 counts, -1 missing: variants ``start:stop`` of the samples
        ``rows``, samples in rows (the layout of a design matrix)."""
        return np.ascontiguousarray(self.counts(slice(start, stop), rows).T)
