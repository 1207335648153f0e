"""cardiolatent's own GWAS scan of an export folder, for when PLINK 2 is not installed.

:func:`linear_scan` reads what ``cardiolatent export --format plink2`` wrote (``pheno.txt``,
``covar.txt``, ``keep.txt``) as ``run_plink2.sh`` has PLINK 2 read it, reads a PLINK 1
``.bed/.bim/.fam`` fileset, fits every phenotype x variant by OLS (the vectorised kernel
:class:`cardiolatent.stats.dosage.DosageScanner`) and writes PLINK 2's own files, so that
``cardiolatent gwas-results`` reads them unchanged:

- ``quant.<phenotype>.glm.linear``: ``#CHROM POS ID REF ALT A1 TEST OBS_CT BETA SE T_STAT P ERRCODE``
  (``plink2 --glm hide-covar``, PLINK v2.00a3.5);
- ``quant.afreq``: ``#CHROM ID REF ALT ALT_FREQS OBS_CT`` (``plink2 --freq``);
- ``SCAN.txt``: says that cardiolatent's OLS scan wrote these files, not PLINK 2, with the
  settings and counts; ``quant.log``: the run's log (``gwas-results`` finds the ``quant`` prefix by
  it, as beside PLINK 2's files); ``scan.json``: the same record for programs (and the marker that
  lets a re-run replace the folder as a unit).

What it reproduces of ``plink2 --bfile GENO --keep keep.txt --pheno pheno.txt --covar covar.txt
--covar-variance-standardize --freq --glm hide-covar --mac N``:

- samples: the ``.fam`` samples listed in ``keep.txt`` (matched on FID and IID; on IID alone when a
  file has only IIDs); per phenotype, those with the phenotype and every covariate; per variant,
  those with a genotype call (PLINK 2 drops a sample with a missing call from that variant's fit);
- missing values: ``NA`` / ``nan``, and the number -9 unless ``run_plink2.sh`` passes
  ``--no-input-missing-phenotype``; a non-numeric covariate column is categorical (``NONE`` = missing;
  dummies for every category but the most common, PLINK 2's coding); a covariate constant on a
  phenotype's samples is left out of its model (``cardiolatent export`` never writes one; PLINK
  v2.00a3.5 excludes it too, but drops every covariate when a kept sample also lacks a
  ``covar.txt`` row); a column of ``pheno.txt`` with only the values 0, 1, 2 (PLINK 2 reads it
  as case/control) is an error;
- alleles: ``ALT`` is the ``.bim`` allele 1, ``REF`` allele 2; ``A1`` (the tested allele) is the
  non-major allele among the kept founders (``ALT`` unless its frequency is above 0.5), as
  ``--glm`` without ``omit-ref``;
- ``--mac N``: variants whose minor allele count among the kept founders is below ``N`` are
  omitted from the ``.glm.linear`` files (``quant.afreq`` lists every variant, as ``--freq``);
- per-variant errors (``ERRCODE``, ``NA`` statistics): ``CONST_OMITTED_ALLELE``, ``CORR_TOO_HIGH``
  (``--max-corr`` 0.999), ``VIF_INFINITE``, ``VIF_TOO_HIGH`` (``--vif`` 50),
  ``SAMPLE_CT<=PREDICTOR_CT``; otherwise ``.``.

Not covered (PLINK 2 is needed): binary traits (``pheno_binary.txt``, logistic/Firth regression),
chromosomes X, Y, XY and MT (PLINK 2's sex-aware dosage coding; their variants are skipped and
counted in ``SCAN.txt``), ``.pgen`` / ``.bgen`` genotypes and imputed dosages. Numbers are written
with 9 significant digits (PLINK 2 writes 6); a P value below 1e-300 is written from its logarithm
(e.g. ``2.5e-412``), which ``gwas-results`` reads.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.formats.plink2 import FORMAT as PLINK2_FORMAT
from cardiolatent.gwas.bedfile import BedFile
from cardiolatent.gwas.readers import chrom_codes
from cardiolatent.io_utils import atomic_dir, check_output_folder
from cardiolatent.stats.dosage import GLM_ERRCODES, DosageScanner

__all__ = ["linear_scan", "GLM_COLUMNS", "AFREQ_COLUMNS", "SCAN_NOTICE", "SCAN_MARKER", "PREFIX"]

#: the output prefix run_plink2.sh gives plink2 (--out "$OUT/quant")
PREFIX = "quant"
#: columns of ``plink2 --glm hide-covar`` (.glm.linear) and ``plink2 --freq`` (.afreq), PLINK v2.00a3.5
GLM_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "A1", "TEST", "OBS_CT", "BETA", "SE", "T_STAT", "P", "ERRCODE")
AFREQ_COLUMNS = ("#CHROM", "ID", "REF", "ALT", "ALT_FREQS", "OBS_CT")
#: the human-readable notice and the machine-readable record (the folder's marker)
SCAN_NOTICE = "SCAN.txt"
SCAN_MARKER = "scan.json"

#: tokens PLINK 2 reads as a missing number (case-insensitive), besides the export's own code
_MISSING = {"na", "nan", "-nan", "+nan", PLINK2_FORMAT.missing.lower()}
#: PLINK 2's missing category name (--missing-catname)
_MISSING_CAT = "NONE"
_NO_MINUS9 = "--no-input-missing-phenotype"


# --------------------------------------------------------------------------------------------
# the export folder
# --------------------------------------------------------------------------------------------

@dataclass
class _IdTable:
    """A PLINK 2 phenotype / covariate file: ids and the value columns as text."""

    path: Path
    fid: np.ndarray | None      # None: the file has only IIDs
    iid: np.ndarray
    values: pd.DataFrame        # str columns


def _read_id_table(path: Path, what: str) -> _IdTable:
    """``#FID IID ...`` / ``FID IID ...`` / ``#IID ...`` whitespace-separated, as PLINK 2 reads it."""
    if not path.is_file():
        raise CardiolatentError(f"{what} not found: {path}")
    try:
        df = pd.read_csv(path, sep=r"\s+", dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise CardiolatentError(f"cannot read {what} {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc
    cols = [str(c) for c in df.columns]
    head = [c.lstrip("#").upper() for c in cols[:2]]
    if head[:2] == ["FID", "IID"]:
        nid = 2
    elif head[:1] == ["IID"]:
        nid = 1
    else:
        raise CardiolatentError(f"{path}: the header must start with '#FID IID' or '#IID' (PLINK 2's header), "
                                f"found {cols[0]!r}")
    if len(df) == 0:
        raise CardiolatentError(f"{path}: no samples (only a header)")
    fid = df.iloc[:, 0].to_numpy(dtype=object) if nid == 2 else None
    iid = df.iloc[:, nid - 1].to_numpy(dtype=object)
    keys = pd.Series(list(zip(fid, iid)) if fid is not None else iid)
    if keys.duplicated().any():
        dup = keys[keys.duplicated()].iloc[0]
        raise CardiolatentError(f"{path}: sample {dup} is listed twice")
    return _IdTable(path, fid, iid, df.iloc[:, nid:].reset_index(drop=True))


def _read_keep(path: Path) -> tuple[np.ndarray | None, np.ndarray]:
    """keep.txt: ``FID IID`` per line (``IID`` alone with one column), an optional header line."""
    if not path.is_file():
        raise CardiolatentError(f"sample list not found: {path}")
    try:
        rows = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise CardiolatentError(f"cannot read sample list {path}: {exc}") from exc
    if rows and (rows[0][0].startswith("#") or rows[0][0].upper() in ("FID", "IID")):
        rows = rows[1:]
    if not rows:
        raise CardiolatentError(f"{path}: lists no sample")
    if len({len(r) >= 2 for r in rows}) > 1:
        raise CardiolatentError(f"{path}: mixes lines with one and with two ids")
    if len(rows[0]) >= 2:
        return np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object)
    return None, np.array([r[0] for r in rows], dtype=object)


def _missing_mask(s: pd.Series) -> np.ndarray:
    return s.str.lower().isin(_MISSING).to_numpy()


def _numbers(s: pd.Series, minus9: bool) -> tuple[np.ndarray, np.ndarray]:
    """(float values with NaN for missing, mask of tokens that are not numbers)."""
    miss = _missing_mask(s)
    vals = pd.to_numeric(s.where(~miss), errors="coerce").to_numpy(dtype=float)
    nonnum = np.isnan(vals) & ~miss
    if minus9:
        vals[vals == -9] = np.nan
    return vals, nonnum


def _phenotypes(tab: _IdTable, minus9: bool) -> pd.DataFrame:
    out = {}
    for c in tab.values.columns:
        vals, nonnum = _numbers(tab.values[c], minus9)
        if nonnum.any():
            bad = tab.values[c].to_numpy()[nonnum][0]
            raise CardiolatentError(f"{tab.path}: column {c} has the value {bad!r}, which is not a number "
                                    "(the scan fits quantitative phenotypes)")
        obs = vals[~np.isnan(vals)]
        if obs.size and np.isin(obs, (0.0, 1.0, 2.0)).all():
            raise CardiolatentError(f"{tab.path}: column {c} has only the values 0, 1, 2, which PLINK 2 reads as "
                                    "case/control; cardiolatent's scan fits quantitative phenotypes only "
                                    "(run plink2 for binary traits)")
        out[str(c)] = vals
    if not out:
        raise CardiolatentError(f"{tab.path}: no phenotype column after the ids")
    return pd.DataFrame(out)


def _covariates(tab: _IdTable, minus9: bool) -> tuple[pd.DataFrame, list[str]]:
    """Numeric covariates, categorical ones dummy-coded as PLINK 2 does (every category but the
    most common); returns the table and notes."""
    out, notes = {}, []
    for c in tab.values.columns:
        s = tab.values[c]
        vals, nonnum = _numbers(s, minus9)
        if not nonnum.any():
            out[str(c)] = vals
            continue
        cat = s.where(s != _MISSING_CAT)
        counts = cat.value_counts(dropna=True)
        # most common category omitted; ties: the first in sorted order
        order = sorted(counts.index, key=lambda v: (-counts[v], v))
        for level in sorted(order[1:]):
            out[f"{c}={level}"] = np.where(cat.isna(), np.nan, (cat == level).astype(float))
        notes.append(f"covariate {c} is categorical ({len(order)} categories, reference {order[0]!r})")
    return pd.DataFrame(out, index=range(len(tab.values))), notes


@dataclass
class _Export:
    pheno: _IdTable
    covar: _IdTable | None
    keep_fid: np.ndarray | None
    keep_iid: np.ndarray
    minus9: bool
    notes: list[str] = field(default_factory=list)


def _read_export(export_dir: Path, minus9_missing: bool | None) -> _Export:
    if not export_dir.is_dir():
        raise CardiolatentError(f"export folder not found: {export_dir}")
    notes = []
    script = export_dir / PLINK2_FORMAT.script
    if minus9_missing is None:
        text = script.read_text(encoding="utf-8", errors="replace") if script.is_file() else ""
        minus9_missing = _NO_MINUS9 not in text
    pheno = _read_id_table(export_dir / "pheno.txt", "phenotype file")
    covar_path = export_dir / "covar.txt"
    covar = _read_id_table(covar_path, "covariate file") if covar_path.exists() else None
    if covar is None:
        notes.append("no covar.txt: intercept-only models (plink2 --glm allow-no-covars)")
    keep_fid, keep_iid = _read_keep(export_dir / "keep.txt")
    for extra in ("pheno_binary.txt", "pheno_t2e.txt"):
        if (export_dir / extra).exists():
            notes.append(f"{extra} not scanned (binary / time-to-event traits need plink2 or REGENIE)")
    return _Export(pheno, covar, keep_fid, keep_iid, bool(minus9_missing), notes)


# --------------------------------------------------------------------------------------------
# the PLINK 1 fileset
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------

def _index_in_fam(fam: pd.DataFrame, fid, iid) -> np.ndarray:
    """Row in the .fam of each (fid, iid) (or iid when ``fid`` is None); -1 where absent."""
    if fid is None:
        lookup = pd.Series(np.arange(len(fam)), index=fam["iid"].to_numpy())
        lookup = lookup[~lookup.index.duplicated(keep=False)]
        return lookup.reindex(iid).fillna(-1).to_numpy(dtype=np.int64)
    lookup = pd.Series(np.arange(len(fam)), index=pd.MultiIndex.from_arrays([fam["fid"], fam["iid"]]))
    idx = pd.MultiIndex.from_arrays([np.asarray(fid, dtype=object), np.asarray(iid, dtype=object)])
    return lookup.reindex(idx).fillna(-1).to_numpy(dtype=np.int64)


def _align(values: pd.DataFrame, tab: _IdTable, fam: pd.DataFrame, kept: np.ndarray) -> np.ndarray:
    """Rows of ``values`` (one per line of ``tab``) for the kept .fam rows; NaN for samples not in the file."""
    pos = _index_in_fam(fam, tab.fid, tab.iid)
    where = np.full(len(fam), -1, dtype=np.int64)
    ok = pos >= 0
    where[pos[ok]] = np.flatnonzero(ok)
    w = where[kept]
    arr = np.full((kept.size, values.shape[1]), np.nan)
    has = w >= 0
    arr[has] = values.to_numpy(dtype=float)[w[has]]
    return arr


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def _fmt(a: np.ndarray) -> list[str]:
    return ["NA" if v != v else "%.9g" % v for v in a.tolist()]


def _fmt_p(p: np.ndarray, mlog10p: np.ndarray) -> list[str]:
    out = []
    for pv, ml in zip(p.tolist(), mlog10p.tolist()):
        if pv != pv:
            out.append("NA")
        elif pv >= 1e-300:
            out.append("%.9g" % pv)
        else:  # written from its logarithm: no underflow
            e = int(np.floor(-ml))
            mant = 10.0 ** (-ml - e)
            if mant >= 9.999999995:
                mant, e = 1.0, e + 1
            out.append(f"{mant:.8g}e{e:d}")
    return out


def _errtext(codes: np.ndarray) -> np.ndarray:
    return np.array(["."] + list(GLM_ERRCODES[1:]), dtype=object)[codes]


_ROW = "%s%d\t%.9g\t%.9g\t%.9g\t%.9g\t.\n"


def _glm_lines(pre, n, beta, se, t, p, mlog10p, err) -> str:
    """The .glm.linear lines of one phenotype (``pre``: the variant columns up to TEST, tab-ended)."""
    fast = (err == 0) & (p >= 1e-300)
    fi = np.flatnonzero(fast)
    lines = np.empty(len(pre), dtype=object)
    pre_a = np.asarray(pre, dtype=object)
    lines[fi] = [_ROW % r for r in zip(pre_a[fi].tolist(), n[fi].tolist(), beta[fi].tolist(), se[fi].tolist(),
                                       t[fi].tolist(), p[fi].tolist())]
    si = np.flatnonzero(~fast)
    if si.size:
        lines[si] = [f"{a}{b}\t{c}\t{d}\t{e}\t{f}\t{g}\n" for a, b, c, d, e, f, g in zip(
            pre_a[si].tolist(), n[si].tolist(), _fmt(beta[si]), _fmt(se[si]), _fmt(t[si]),
            _fmt_p(p[si], mlog10p[si]), _errtext(err[si]))]
    return "".join(lines.tolist())


# --------------------------------------------------------------------------------------------
# the scan
# --------------------------------------------------------------------------------------------

def linear_scan(export_dir, bfile_prefix, out_dir, *, min_mac: int | None = 20, progress: bool = True,
                phenotypes: Sequence[str] | None = None, chunk_variants: int = 2000, threads: int | None = 1,
                minus9_missing: bool | None = None) -> Path:
    """Run cardiolatent's own OLS GWAS scan on an export folder; write PLINK 2's files to ``out_dir``.

    Parameters
    ----------
    export_dir : folder written by ``cardiolatent export --format plink2`` (``pheno.txt``,
        ``covar.txt``, ``keep.txt``, ``run_plink2.sh``).
    bfile_prefix : PLINK 1 fileset prefix (``PREFIX.bed/.bim/.fam``), as ``--bfile``.
    out_dir : the results folder (new, empty or an earlier output of this function; written as a
        unit). ``cardiolatent gwas-results --results out_dir`` reads it.
    min_mac : PLINK 2's ``--mac`` (minor allele count among the kept founders at least this);
        ``None`` or 0: no filter.
    progress : a tqdm progress bar on stderr.
    phenotypes : columns of ``pheno.txt`` to scan (default: all).
    chunk_variants : variants read and fitted at once.
    threads : BLAS threads (``None``: the process setting).
    minus9_missing : read the number -9 as missing (PLINK 2's default); ``None``: as ``run_plink2.sh``
        says (it passes ``--no-input-missing-phenotype`` when a real -9 was exported).

    Returns
    -------
    ``out_dir`` as a Path. See the module docstring for what is written and what PLINK 2 does
    that this does not.

    Raises
    ------
    CardiolatentError
        A missing or unreadable file (named), no sample of ``keep.txt`` in the ``.fam``, no sample
        with a phenotype, a case/control-looking phenotype column, or an output folder that is not
        an earlier output.
    """
    t0 = datetime.now(timezone.utc)
    export_dir, out_dir = Path(export_dir), Path(out_dir)
    if min_mac is not None and min_mac < 0:
        raise CardiolatentError(f"min_mac must be 0 or more, got {min_mac}")
    min_mac = int(min_mac or 0)
    check_output_folder(out_dir, SCAN_MARKER)
    ex = _read_export(export_dir, minus9_missing)
    bed = BedFile(bfile_prefix)
    keep_keys = _index_in_fam(bed.fam, ex.keep_fid, ex.keep_iid)
    kept = np.unique(keep_keys[keep_keys >= 0])
    if kept.size == 0:
        raise CardiolatentError(f"{export_dir / 'keep.txt'}: none of its {ex.keep_iid.size} samples is in "
                                f"{bed.fam_path}")
    if phenotypes is not None:
        want = [str(c) for c in phenotypes]
        absent = [c for c in want if c not in ex.pheno.values.columns]
        if absent or not want:
            raise CardiolatentError(f"{ex.pheno.path}: no phenotype column {absent[0] if absent else '(none given)'!r} "
                                    f"(it has {', '.join(map(str, ex.pheno.values.columns[:8]))}"
                                    f"{', ...' if ex.pheno.values.shape[1] > 8 else ''})")
        ex.pheno.values = ex.pheno.values[want]
    Y_df = _phenotypes(ex.pheno, ex.minus9)
    Y = _align(Y_df, ex.pheno, bed.fam, kept)
    if not np.isfinite(Y).any():
        raise CardiolatentError(f"{ex.pheno.path}: none of the {kept.size} kept samples of {bed.fam_path} has a "
                                "phenotype value (do the FID/IID match the .fam?)")
    notes = list(ex.notes)
    if ex.covar is not None:
        C_df, cat_notes = _covariates(ex.covar, ex.minus9)
        notes += cat_notes
        C = _align(C_df, ex.covar, bed.fam, kept) if C_df.shape[1] else None
        c_names = list(C_df.columns)
    else:
        C, c_names = None, []
    names = list(Y_df.columns)
    odd = [nm for nm in names if not re.fullmatch(r"[^/\\\s]+", nm)]
    if odd:
        raise CardiolatentError(f"{ex.pheno.path}: phenotype name {odd[0]!r} cannot be part of a file name")
    scanner = DosageScanner(Y, C, y_names=names, c_names=c_names or None, threads=threads)
    dropped = sorted({c for v in scanner.dropped.values() for c in v})
    if dropped:
        notes.append(f"covariate(s) constant on a phenotype's samples, left out of its model: {', '.join(dropped)}")
    for code in sorted(set(scanner.covariate_errors.values())):
        which = [k for k, v in scanner.covariate_errors.items() if v == code]
        notes.append(f"the covariates alone fail PLINK 2's collinearity check ({code}) on the samples of "
                     f"{', '.join(which[:5])}{', ...' if len(which) > 5 else ''}: every variant has that ERRCODE "
                     "(plink2 would stop; drop or merge covariates)")
    founders = bed.founders()[kept]
    code = chrom_codes(bed.bim["chrom"])
    is_auto = (code >= 1) & (code <= 22)
    if not is_auto.any():
        raise CardiolatentError(f"{bed.prefix}.bim: no autosomal variant (chromosomes 1-22); the scan skips X, Y, "
                                "XY and MT")
    chrom_lab = np.where(is_auto, code.astype(str), "").astype(object)
    ids = bed.bim["id"].to_numpy(dtype=object)
    alt = np.where(bed.bim["a1"].to_numpy(dtype=object) == "0", ".", bed.bim["a1"].to_numpy(dtype=object))
    ref = np.where(bed.bim["a2"].to_numpy(dtype=object) == "0", ".", bed.bim["a2"].to_numpy(dtype=object))

    counts = {"variants_in_bim": int(bed.m), "non_autosomal_skipped": int((~is_auto).sum()),
              "filtered_min_mac": 0, "tested": 0}
    err_tally = np.zeros(len(GLM_ERRCODES), dtype=np.int64)
    with atomic_dir(out_dir, marker=SCAN_MARKER) as tmp:
        glm_files = {nm: open(tmp / f"{PREFIX}.{nm}.glm.linear", "w", encoding="utf-8", newline="\n")
                     for nm in names}
        try:
            header = "\t".join(GLM_COLUMNS) + "\n"
            for fh in glm_files.values():
                fh.write(header)
            with open(tmp / f"{PREFIX}.afreq", "w", encoding="utf-8", newline="\n") as fq, \
                    tqdm(total=int(is_auto.sum()), desc="OLS scan (cardiolatent, not plink2)", unit="variant",
                         disable=not progress, file=sys.stderr) as bar:
                fq.write("\t".join(AFREQ_COLUMNS) + "\n")
                for start in range(0, bed.m, max(1, int(chunk_variants))):
                    stop = min(start + max(1, int(chunk_variants)), bed.m)
                    sl = np.arange(start, stop)
                    sl = sl[is_auto[sl]]
                    if sl.size == 0:
                        continue
                    G = bed.block(start, stop, kept)[:, sl - start]
                    Gf = G[founders]
                    called = (Gf >= 0).sum(axis=0)
                    alt_ct = np.where(Gf >= 0, Gf, 0).sum(axis=0, dtype=np.int64)
                    nall = 2 * called
                    with np.errstate(invalid="ignore", divide="ignore"):
                        freq = alt_ct / nall
                    fq.write("".join(f"{c}\t{i}\t{r}\t{a}\t{f}\t{o}\n" for c, i, r, a, f, o in zip(
                        chrom_lab[sl], ids[sl], ref[sl], alt[sl], _fmt(freq), nall.tolist())))
                    mac = np.minimum(alt_ct, nall - alt_ct)
                    test = mac >= min_mac if min_mac > 0 else np.ones(sl.size, dtype=bool)
                    counts["filtered_min_mac"] += int((~test).sum())
                    if test.any():
                        v = sl[test]
                        res = scanner.scan(G[:, test])
                        a1_alt = ~(freq[test] > 0.5)     # the non-major allele; ties: ALT
                        sign = np.where(a1_alt, 1.0, -1.0)     # counts of REF = 2 - counts of ALT
                        a1 = np.where(a1_alt, alt[v], ref[v])
                        pre = [f"{c}\t{p}\t{i}\t{r}\t{a}\t{t}\tADD\t" for c, p, i, r, a, t in zip(
                            chrom_lab[v], bed.pos[v].tolist(), ids[v], ref[v], alt[v], a1)]
                        err_tally += np.bincount(res.err.ravel(), minlength=len(GLM_ERRCODES))
                        for k, nm in enumerate(names):
                            glm_files[nm].write(_glm_lines(pre, res.n[:, k], res.beta[:, k] * sign,
                                                           res.se[:, k], res.t[:, k] * sign, res.p[:, k],
                                                           res.mlog10p[:, k], res.err[:, k]))
                        counts["tested"] += int(v.size)
                    bar.update(int(sl.size))
        finally:
            for fh in glm_files.values():
                fh.close()
        record = _record(export_dir, bed, out_dir, kept, founders, scanner, names, c_names, min_mac, ex,
                         counts, err_tally, notes, t0)
        (tmp / SCAN_MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        text = _notice(record)
        (tmp / SCAN_NOTICE).write_text(text, encoding="utf-8")
        (tmp / f"{PREFIX}.log").write_text(text, encoding="utf-8")
    return out_dir


def _record(export_dir, bed, out_dir, kept, founders, scanner, names, c_names, min_mac, ex, counts,
            err_tally, notes, t0) -> dict:
    filters = f" --mac {min_mac}" if min_mac else ""
    return {
        "written_by": "cardiolatent's own OLS scan (cardiolatent.gwas.scan.linear_scan), not PLINK 2",
        "cardiolatent_version": __version__,
        "created": t0.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(timezone.utc) - t0).total_seconds(), 2),
        "export_dir": str(export_dir),
        "genotypes": str(bed.prefix),
        "out_dir": str(out_dir),
        "plink2_equivalent": (f"plink2 --bfile {bed.prefix} --keep keep.txt --pheno pheno.txt"
                              + (" --covar covar.txt --covar-variance-standardize" if ex.covar is not None else "")
                              + " --freq --glm " + ("hide-covar" if ex.covar is not None else "allow-no-covars")
                              + filters + ("" if ex.minus9 else f" {_NO_MINUS9}") + f" --out {PREFIX}"),
        "settings": {"min_mac": min_mac, "max_corr": scanner.max_corr, "vif": scanner.vif,
                     "minus9_missing": ex.minus9, "a1": "non-major allele among the kept founders (ALT on a tie)"},
        "samples": {"in_fam": int(bed.n), "in_keep": int(ex.keep_iid.size), "kept": int(kept.size),
                    "kept_founders": int(founders.sum()),
                    "obs_before_missing_calls": dict(scanner.n_rows)},
        "phenotypes": len(names),
        "covariates": list(c_names),
        "variants": counts,
        "errcodes": {(GLM_ERRCODES[i] or "."): int(c) for i, c in enumerate(err_tally) if c},
        "notes": notes,
    }


def _notice(rec: dict) -> str:
    s, v = rec["samples"], rec["variants"]
    obs = sorted(set(s["obs_before_missing_calls"].values()))
    lines = [
        "These files were written by cardiolatent's own OLS scan (cardiolatent.gwas.scan.linear_scan),",
        "NOT by PLINK 2 (plink2 was not used). They have PLINK 2's formats, so 'cardiolatent gwas-results' reads them.",
        "",
        f"cardiolatent {rec['cardiolatent_version']}, {rec['created']}, {rec['seconds']} s",
        f"export folder: {rec['export_dir']}",
        f"genotypes: {rec['genotypes']}.bed/.bim/.fam",
        f"what PLINK 2 would run: {rec['plink2_equivalent']}",
        "",
        "model: per phenotype and variant, ordinary least squares of the phenotype on an intercept, the covariates",
        "of covar.txt and the A1 allele count, on the samples with the phenotype, every covariate and a genotype",
        "call for the variant (as plink2 --glm); A1 = the non-major allele among the kept founders (ALT on a tie);",
        "per-variant errors as plink2: CONST_OMITTED_ALLELE, CORR_TOO_HIGH (|r| > "
        f"{rec['settings']['max_corr']}), VIF_INFINITE, VIF_TOO_HIGH (VIF > {rec['settings']['vif']}).",
        f"samples: {s['in_fam']} in the .fam, {s['in_keep']} in keep.txt, {s['kept']} kept "
        f"({s['kept_founders']} founders); with phenotype and covariates: {', '.join(map(str, obs))}",
        f"phenotypes: {rec['phenotypes']}; covariates: {len(rec['covariates'])}",
        f"variants: {v['variants_in_bim']} in the .bim, {v['non_autosomal_skipped']} not autosomal (skipped), "
        + (f"{v['filtered_min_mac']} below --mac {rec['settings']['min_mac']} (omitted), " if rec["settings"]["min_mac"]
           else "no --mac filter, ") + f"{v['tested']} tested",
        "errcodes: " + ", ".join(f"{k} {c}" for k, c in rec["errcodes"].items()),
        f"-9 read as missing: {'yes' if rec['settings']['minus9_missing'] else 'no'}",
    ]
    lines += [f"note: {n}" for n in rec["notes"]]
    return "\n".join(lines) + "\n"
