"""Streamed readers of GWAS summary statistics: REGENIE, PLINK 2 ``--glm``, PLINK 1.9 and BOLT-LMM.

Supported files (the format is detected from the header line, not the name). Which header names
give which column, the file endings and how a file is recognised are declared by each tool's module
in :mod:`cardiolatent.exports.formats` (the one registry of tool formats; :data:`FORMATS` here is
its column maps):

- REGENIE step 2: ``<prefix>_<pheno>.regenie`` (``.gz``): ``CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ
  [INFO] N TEST BETA SE CHISQ LOG10P EXTRA``, space separated. REGENIE reports ``LOG10P`` (that is
  ``-log10 P``), never P. Effect allele ALLELE1.
- PLINK 2: ``<prefix>.<pheno>.glm.linear`` / ``.glm.logistic`` / ``.glm.logistic.hybrid`` /
  ``.glm.firth`` (optionally ``.gz`` / ``.zst``): ``#CHROM POS ID REF ALT [A1] ... TEST OBS_CT
  BETA|OR SE|LOG(OR)_SE ... P|LOG10_P ERRCODE``, tab separated. Effect allele A1 (ALT without an
  A1 column); ``OR`` becomes ``beta = log(OR)``. Without an ``A1_FREQ`` column, the run's
  ``<prefix>.afreq`` beside the file (``--freq``, which ``run_plink2.sh`` asks for) gives ``eaf``
  (matched by chromosome, ID, REF and ALT; oriented to A1) and with ``OBS_CT`` the minor allele count.
- PLINK 1.9: ``<prefix>.<pheno>.assoc.linear`` / ``.assoc.logistic``: ``CHR SNP BP A1 TEST NMISS
  BETA|OR STAT P`` (whitespace aligned); SE is ``beta / STAT``; no frequency column.
- BOLT-LMM ``--statsFile``: ``SNP CHR BP GENPOS ALLELE1 ALLELE0 A1FREQ F_MISS BETA SE
  P_BOLT_LMM_INF [P_BOLT_LMM]``; ``P_BOLT_LMM`` is used when present.

Files are read in blocks (``chunk_bytes`` of text each, default 2 MB: pyarrow reads ~40 blocks
ahead, so larger blocks cost memory without gaining speed) with only the needed columns, through
``pyarrow.csv``'s streaming reader (files whose header is aligned with runs of spaces go through
pandas in row chunks instead). Each block becomes a :class:`Chunk`: numpy arrays of chromosome
code, position and ``-log10 P`` for every row with a P value, plus :meth:`Chunk.details` to
materialise the remaining columns (id, alleles, beta, se, ...) for the few rows a caller keeps.

``-log10 P`` is the primary quantity. P columns are read as text and converted with care: values
below 1e-300 (including those below the double range, e.g. ``1e-500``, which a float parser turns
into 0) are re-parsed from their mantissa and exponent, so ``-log10 P`` stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import glob
import os
from pathlib import Path
import re
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.formats import FORMATS as TOOLS
from cardiolatent.exports.formats import result_formats

__all__ = [
    "FORMATS",
    "Chunk",
    "ResultFile",
    "chrom_codes",
    "chrom_label",
    "discover_results",
    "iter_chunks",
    "mlog10p_from_text",
    "open_result",
    "read_result",
]

#: canonical column -> header names tried, per format (first match wins); from the format registry
#: :data:`cardiolatent.exports.formats.FORMATS` (each tool's module declares its result columns)
FORMATS: dict[str, dict[str, tuple[str, ...]]] = {name: dict(rc.columns) for name, rc in result_formats().items()}
_REQUIRED = ("chrom", "pos", "id")
#: columns of :meth:`Chunk.details` / :func:`read_result`
DETAIL_COLUMNS = ("chrom", "pos", "id", "effect_allele", "other_allele", "eaf", "info", "n", "beta", "se",
                  "mlog10p")
_NULLS = ["NA", "NaN", "nan", ".", "", "NAN", "na", "-nan"]

#: file-name endings, per format (compressed variants are added)
_SUFFIXES = {name: rc.suffixes for name, rc in result_formats().items()}
_COMPRESSION = {".gz": "gzip", ".bgz": "gzip", ".zst": "zstd"}
# pyarrow's streaming CSV reader keeps ~40 blocks in flight: 2 MB blocks cap that at ~80 MB
_USE_THREADS = True

# ---------------------------------------------------------------------------------------------
# chromosome codes
# ---------------------------------------------------------------------------------------------
_STANDARD = {str(i): i for i in range(1, 23)}
_STANDARD.update({"X": 23, "23": 23, "Y": 24, "24": 24, "XY": 25, "25": 25, "MT": 26, "M": 26, "26": 26,
                  "PAR1": 25, "PAR2": 25})
_LABEL = {i: str(i) for i in range(1, 23)}
_LABEL.update({23: "X", 24: "Y", 25: "XY", 26: "MT"})
_EXTRA: dict[str, int] = {}  # other contigs, numbered from 100 in order of first appearance


def _code_of(label: str) -> int:
    s = str(label).strip()
    if s[:3].lower() == "chr":
        s = s[3:]
    u = s.upper()
    if u in _STANDARD:
        return _STANDARD[u]
    if u.lstrip("0") in _STANDARD:  # "01"
        return _STANDARD[u.lstrip("0")]
    if u not in _EXTRA:
        _EXTRA[u] = 100 + len(_EXTRA)
        _LABEL[_EXTRA[u]] = s
    return _EXTRA[u]


def chrom_codes(labels: Iterable[str]) -> np.ndarray:
    """Chromosome labels (``1``..``22``, ``X``/``23``, ``Y``, ``XY``, ``MT``, with or without ``chr``)
    -> int16 codes 1..26 (X 23, Y 24, XY 25, MT 26); other contigs get codes from 100 up."""
    return np.asarray([_code_of(x) for x in labels], dtype=np.int16)


def chrom_label(codes) -> np.ndarray | str:
    """Inverse of :func:`chrom_codes` (``23`` -> ``"X"``); scalar in, scalar out."""
    if np.ndim(codes) == 0:
        return _LABEL.get(int(codes), str(int(codes)))
    return np.asarray([_LABEL.get(int(c), str(int(c))) for c in np.asarray(codes).ravel()], dtype=object)


# ---------------------------------------------------------------------------------------------
# P values as text -> -log10 P
# ---------------------------------------------------------------------------------------------
def _mlog10_of_string(s: str) -> float:
    """Exact ``-log10`` of a decimal string such as ``"3.2e-512"`` (no underflow)."""
    t = s.strip().lower()
    mant, _, exp = t.partition("e")
    try:
        m = float(mant)
        e = int(exp) if exp else 0
    except ValueError:
        return float("nan")
    if m < 0:
        return float("nan")
    if m == 0:
        return float("inf")
    return -(np.log10(m) + e)


def mlog10p_from_text(values, *, where: str = "P") -> np.ndarray:
    """``-log10 P`` from P values given as text (a pyarrow string array, or any sequence of str).

    Parameters
    ----------
    values : (k,) P values as strings; nulls / ``NA`` -> NaN.
    where : names the file and column in error messages.

    Returns
    -------
    (k,) float64 ``-log10 P``: NaN where missing, ``inf`` for a P written as exactly 0. Values
    that parse below 1e-300 (or to 0) are recomputed from the string's mantissa and exponent, so
    ``"1e-500"`` gives 500, not ``inf``.

    Raises
    ------
    CardiolatentError
        A value that is not a number, or a P outside [0, 1] (allowing 1 + 1e-6 for rounding).
    """
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(
        [None if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() in _NULLS else str(v)
         for v in values], type=pa.string())
    try:
        p = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise CardiolatentError(f"{where}: a P value is not a number ({exc})") from exc
    p = np.asarray(p, dtype=np.float64)
    if np.any(p < 0) or np.any(p > 1 + 1e-6):
        bad = p[(p < 0) | (p > 1 + 1e-6)][:3]
        raise CardiolatentError(f"{where}: P values must be between 0 and 1; found {bad.tolist()}")
    with np.errstate(divide="ignore"):
        out = -np.log10(np.minimum(p, 1.0))
    tiny = np.flatnonzero(p < 1e-300)
    if tiny.size:
        texts = arr.take(pa.array(tiny)).to_pylist() if isinstance(arr, pa.Array) else \
            pa.concat_arrays(arr.chunks).take(pa.array(tiny)).to_pylist()
        out[tiny] = [_mlog10_of_string(t) for t in texts]
    return out


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
@dataclass
class ResultFile:
    """One summary-statistics file.

    ``format``: ``regenie`` / ``plink2`` / ``bolt``; ``columns``: canonical name -> header name for
    the columns present; ``delimiter``: ``"\\t"``, ``" "`` or ``","`` (None: runs of whitespace,
    read with pandas); ``compression``: ``gzip`` / ``zstd`` / None; ``skip_rows``: lines before the
    header (``##`` comments); ``latent``: the phenotype name (from the file name, see
    :func:`discover_results`); ``freq``: the run's allele-frequency file (PLINK 2 ``--freq``), read
    for ``eaf`` when the file has no frequency column.
    """

    path: Path
    format: str
    columns: dict[str, str]
    header: list[str]
    delimiter: str | None
    compression: str | None
    skip_rows: int = 0
    latent: str | None = None
    size: int = 0
    freq: "FreqSidecar | None" = None


def _compression_of(path: Path) -> str | None:
    for ext, comp in _COMPRESSION.items():
        if path.name.lower().endswith(ext):
            return comp
    return None


def _head_lines(path: Path, compression: str | None, n_bytes: int = 1 << 16) -> list[str]:
    try:
        with pa.input_stream(str(path), compression=compression) as fh:
            raw = fh.read(n_bytes)
    except (OSError, pa.ArrowException) as exc:
        raise CardiolatentError(f"cannot read GWAS results file {path}: {exc}") from exc
    if b"\x00" in raw[:4096]:
        raise CardiolatentError(f"{path}: binary file, not a GWAS results table (compressed with an "
                                "unrecognised extension?)")
    text = raw.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if len(raw) == n_bytes:
        lines = lines[:-1]  # the last line may be cut
    return [ln.rstrip("\r") for ln in lines]


def open_result(path: str | os.PathLike, format: str | None = None) -> ResultFile:
    """Read the header of a results file and detect its format.

    Parameters
    ----------
    path : the file (``.gz`` / ``.bgz`` / ``.zst`` are decompressed on the fly).
    format : force ``regenie`` / ``plink2`` / ``bolt``; default detect from the header.

    Raises
    ------
    CardiolatentError
        Empty file, unknown format (the message lists the header), or a required column missing
        (the message names the file and the column).
    """
    path = Path(path)
    if not path.exists():
        raise CardiolatentError(f"GWAS results file not found: {path}")
    comp = _compression_of(path)
    lines = _head_lines(path, comp)
    skip = 0
    while skip < len(lines) and (lines[skip].startswith("##") or not lines[skip].strip()):
        skip += 1
    if skip >= len(lines):
        raise CardiolatentError(f"{path}: empty file (no header line)")
    head = lines[skip]
    if "\t" in head:
        delim, names = "\t", head.split("\t")
    elif re.search(r" {2,}", head.strip()) or head.startswith(" "):
        delim, names = None, head.split()
    elif "," in head and " " not in head.strip():
        delim, names = ",", head.split(",")
    else:
        delim, names = " ", head.split(" ")
    names = [n.strip() for n in names]
    if delim is not None and names and names[-1] == "":  # trailing delimiter
        delim, names = None, [n for n in names if n]
    have = set(names)

    if format is None:
        if "GENPOS" in have and any(n.startswith("LOG10P.") for n in names):
            format = "regenie"
        else:
            format = next((name for name, rc in result_formats().items() if rc.recognises(names)), None)
        if format is None:
            raise CardiolatentError(
                f"{path}: not a {_tool_list()} results file (header: "
                f"{' '.join(names[:16])}{' ...' if len(names) > 16 else ''}); expected e.g. REGENIE "
                "'CHROM GENPOS ID ... LOG10P' or PLINK 2 '#CHROM POS ID ... P'")
    elif format not in FORMATS:
        raise CardiolatentError(f"unknown results format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "regenie" and "LOG10P" not in have and any(n.startswith("LOG10P.") for n in names):
        raise CardiolatentError(
            f"{path}: a REGENIE --no-split file (columns LOG10P.<pheno>); run REGENIE step 2 without "
            "--no-split (one file per phenotype) or split the file per phenotype first")

    cols: dict[str, str] = {}
    for canon, options in FORMATS[format].items():
        for o in options:
            if o in have:
                cols[canon] = o
                break
    for canon in _REQUIRED:
        if canon not in cols:
            raise CardiolatentError(
                f"{path}: {format} results file lacks the column "
                f"{' or '.join(FORMATS[format][canon])} ({canon})")
    if "p" not in cols and "mlog10p" not in cols:
        want = FORMATS[format].get("mlog10p", ()) + FORMATS[format].get("p", ())
        raise CardiolatentError(f"{path}: {format} results file lacks a P value column "
                                f"({' or '.join(want)})")
    if "mlog10p" in cols and "p" in cols:  # prefer -log10 P when a file has both
        del cols["p"]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise CardiolatentError(f"{path}: repeated column names {dup}")
    rf = ResultFile(path=path, format=format, columns=cols, header=names, delimiter=delim,
                    compression=comp, skip_rows=skip, size=path.stat().st_size)
    if "eaf" not in cols:
        side = _freq_sidecar_path(rf)
        if side is not None:
            rf.freq = FreqSidecar(side)
    return rf


def _tool_list() -> str:
    names = [TOOLS[n].tool for n in result_formats()]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


# ---------------------------------------------------------------------------------------------
# latent names from file names
# ---------------------------------------------------------------------------------------------
def _strip_compression(name: str) -> str:
    for ext in _COMPRESSION:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _strip_suffix(name: str, fmt: str) -> str:
    name = _strip_compression(name)
    low = name.lower()
    for suf in sorted(_SUFFIXES.get(fmt, ()), key=len, reverse=True):
        if low.endswith(suf):
            return name[: -len(suf)]
    return name.rsplit(".", 1)[0] if "." in name else name


def _prefixes(rf: ResultFile) -> tuple[str, list[str], str | None]:
    """(file stem, its pieces, separator): ``quant.Z0`` -> ``["quant", "Z0"]``."""
    stem = _strip_suffix(rf.path.name, rf.format)
    sep = result_formats()[rf.format].name_sep
    return stem, (stem.split(sep) if sep else [stem]), sep


def _latent_of(rf: ResultFile) -> str:
    stem, pieces, sep = _prefixes(rf)
    if sep is None:
        return stem
    # the tool's log file names the --out prefix: <prefix>.log next to the results
    for k in range(len(pieces) - 1, 0, -1):
        prefix = sep.join(pieces[:k])
        if (rf.path.parent / f"{prefix}.log").exists():
            return sep.join(pieces[k:])
    if len(pieces) == 1:
        return stem
    if result_formats()[rf.format].last_piece:
        return pieces[-1]  # <prefix>.<pheno>: phenotype names rarely contain dots
    return sep.join(pieces[1:])  # <prefix>_<pheno>: prefix up to the first underscore


def _freq_sidecar_path(rf: ResultFile) -> Path | None:
    """The run's allele-frequency file beside ``rf`` (``<prefix>.afreq`` for ``<prefix>.<pheno>.glm.*``)."""
    endings = result_formats()[rf.format].freq_sidecars
    if not endings:
        return None
    _, pieces, sep = _prefixes(rf)
    for k in range(len(pieces) - 1, 0, -1):
        prefix = (sep or "").join(pieces[:k])
        for end in endings:
            for comp in ("", ".zst", ".gz"):
                cand = rf.path.parent / f"{prefix}{end}{comp}"
                if cand.is_file():
                    return cand
    return None


class FreqSidecar:
    """Allele frequencies of one run (PLINK 2 ``--freq``: ``#CHROM ID REF ALT ... ALT_FREQS OBS_CT``).

    Held as sorted 64-bit hashes of (chromosome, id, REF, ALT) with the ALT frequency (16 bytes per
    variant); :meth:`eaf` looks up the rows of a results block and orients the frequency to the
    effect allele (A1). Variants whose key is not unique (no ID and the same alleles on one
    chromosome) get no frequency.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        head = _head_lines(self.path, _compression_of(self.path), 1 << 14)
        names = head[0].split("\t") if head else []
        need = ["#CHROM", "ID", "REF", "ALT", "ALT_FREQS"]
        if any(n not in names for n in need):
            raise CardiolatentError(f"{self.path}: not a PLINK 2 --freq file (needs columns {' '.join(need)})")
        use = need + (["OBS_CT"] if "OBS_CT" in names else [])
        raw = pa.OSFile(str(self.path))
        comp = _compression_of(self.path)
        stream = pa.CompressedInputStream(raw, comp) if comp else raw
        try:
            t = pcsv.read_csv(stream, parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False),
                              convert_options=pcsv.ConvertOptions(include_columns=use,
                                                                  column_types={n: pa.string() for n in use}))
        except pa.ArrowInvalid as exc:
            raise CardiolatentError(f"{self.path}: cannot parse as a PLINK 2 --freq file: {exc}") from exc
        finally:
            raw.close()
        key = _variant_hash(*(t.column(n) for n in need[:4]))

        def num(name):
            if name not in use:
                return np.full(t.num_rows, np.nan)
            v = pd.Series(t.column(name).to_numpy(zero_copy_only=False))
            return pd.to_numeric(v, errors="coerce").to_numpy(np.float64)  # multi-allelic "0.1,0.2" -> NaN

        order = np.argsort(key, kind="stable")
        self.keys = key[order]
        self.freq = num("ALT_FREQS")[order]
        self.obs = num("OBS_CT")[order]  # allele observations (2 x samples with a call)
        dup = np.zeros(self.keys.size, bool)
        if self.keys.size > 1:
            same = self.keys[1:] == self.keys[:-1]
            dup[1:] |= same
            dup[:-1] |= same
        self.freq[dup] = np.nan
        self.n = int(self.keys.size)

    def lookup(self, table, idx: np.ndarray, cols: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
        """(effect-allele frequency, minor allele count) of rows ``idx`` of arrow ``table`` (a
        results block). The frequency is the ALT frequency where A1 is ALT (or there is no A1
        column), one minus it where A1 is REF; the count is ``min(f, 1 - f)`` times the allele
        observations of the run, rounded (the exact count among the run's samples with a call;
        NaN without an ``OBS_CT`` column)."""
        if len(idx) == 0:
            return np.zeros(0), np.zeros(0)
        take = pa.array(np.asarray(idx, dtype=np.int64))

        def col(canon):
            a = table.column(cols[canon]).take(take)
            return a.cast(a.type.value_type) if pa.types.is_dictionary(a.type) else a

        ref, alt = col("ref"), col("alt")
        key = _variant_hash(col("chrom"), col("id"), ref, alt)
        if self.n:
            pos = np.minimum(np.searchsorted(self.keys, key), self.n - 1)
            hit = self.keys[pos] == key
            f = np.where(hit, self.freq[pos], np.nan)
            obs = np.where(hit, self.obs[pos], np.nan)
        else:
            f = obs = np.full(len(key), np.nan)
        mac = np.round(np.minimum(f, 1.0 - f) * obs)
        if "a1" in cols:
            a1 = np.asarray(col("a1").to_numpy(zero_copy_only=False), dtype=object)
            r = np.asarray(ref.to_numpy(zero_copy_only=False), dtype=object)
            a = np.asarray(alt.to_numpy(zero_copy_only=False), dtype=object)
            f = np.where(a1 == a, f, np.where(a1 == r, 1.0 - f, np.nan))
        return f.astype(np.float64), mac.astype(np.float64)

    def eaf(self, table, idx: np.ndarray, cols: dict[str, str]) -> np.ndarray:
        """Effect-allele frequency of rows ``idx`` (see :meth:`lookup`)."""
        return self.lookup(table, idx, cols)[0]


def _variant_hash(chrom, ids, ref, alt) -> np.ndarray:
    """uint64 hash of (chromosome, id, REF, ALT) per row (arrow or numpy string columns)."""
    def arr(a):
        if hasattr(a, "to_numpy"):
            if hasattr(a, "combine_chunks"):
                a = a.combine_chunks()
            return np.asarray(a.to_numpy(zero_copy_only=False), dtype=object)
        return np.asarray(a, dtype=object)

    df = pd.DataFrame({"c": arr(chrom), "i": arr(ids), "r": arr(ref), "a": arr(alt)})
    return pd.util.hash_pandas_object(df, index=False).to_numpy(np.uint64)


def _expand(inputs: Sequence[str | os.PathLike]) -> list[tuple[Path, bool]]:
    """(path, found by a folder scan) for every file, glob match and file under a folder."""
    out: list[tuple[Path, bool]] = []
    for item in inputs:
        s = str(item)
        p = Path(s)
        if p.is_dir():
            found = []
            for f in sorted(p.rglob("*")):
                if not f.is_file():
                    continue
                low = _strip_compression(f.name.lower())
                if any(low.endswith(s_) for sufs in _SUFFIXES.values() for s_ in sufs):
                    found.append(f)
            if not found:
                shown = ", ".join(f"*{x}" for sufs in _SUFFIXES.values() for x in sufs)
                raise CardiolatentError(f"no GWAS results files ({shown}) in folder {p}")
            out.extend((f, True) for f in found)
        elif any(ch in s for ch in "*?["):
            hits = sorted(Path(h) for h in glob.glob(s, recursive=True) if Path(h).is_file())
            if not hits:
                raise CardiolatentError(f"no file matches {s}")
            out.extend((h, False) for h in hits)
        elif p.exists():
            out.append((p, False))
        else:
            raise CardiolatentError(f"GWAS results file not found: {p}")
    seen, uniq = set(), []
    for p, scanned in out:
        r = os.path.abspath(p)  # not resolve(): links under other names are other latents
        if r not in seen:
            seen.add(r)
            uniq.append((p, scanned))
    return uniq


def discover_results(inputs: Sequence[str | os.PathLike], *, name_regex: str | None = None,
                     format: str | None = None, skipped: list | None = None) -> list[ResultFile]:
    """Files, globs or folders -> :class:`ResultFile` list with formats and latent names.

    Latent (phenotype) names come from the file name: with ``name_regex``, the named group
    ``latent`` (or the first group, or the whole match) of ``re.search`` on the file name.
    Otherwise REGENIE ``<prefix>_<pheno>.regenie[.gz]`` and PLINK 2 ``<prefix>.<pheno>.glm.*``: the
    ``<prefix>`` is the longest one with a ``<prefix>.log`` beside the file (both tools write
    one); without a log, REGENIE's prefix ends at the first underscore and PLINK 2's phenotype is
    the last dot-separated part. BOLT: the name without its extension. Several files with the same
    latent (e.g. one per chromosome) are read together as one latent.

    Files found by scanning a folder under a generic name (``*.stats``, ``*.bolt``) that are not
    BOLT-LMM output are skipped (appended to ``skipped`` when given); named files must be readable.
    """
    paths = _expand(inputs)
    rx = None
    if name_regex:
        try:
            rx = re.compile(name_regex)
        except re.error as exc:
            raise CardiolatentError(f"name_regex {name_regex!r} is not a valid regular expression: {exc}") from exc
    files = []
    for p, scanned in paths:
        known = tuple(x for rc in result_formats().values() if not rc.generic_suffix for x in rc.suffixes)
        generic = not any(_strip_compression(p.name.lower()).endswith(x) for x in known)
        try:
            rf = open_result(p, format=format)
        except CardiolatentError:
            if scanned and generic:
                if skipped is not None:
                    skipped.append(p)
                continue
            raise
        if rx is not None:
            m = rx.search(p.name)
            if not m:
                raise CardiolatentError(f"name_regex {name_regex!r} does not match the file name {p.name}")
            rf.latent = m.group("latent") if "latent" in rx.groupindex else (
                m.group(1) if rx.groups else m.group(0))
        else:
            rf.latent = _latent_of(rf)
        files.append(rf)
    by_latent: dict[str, set[str]] = {}
    for rf in files:
        by_latent.setdefault(rf.latent, set()).add(rf.format)
    mixed = [k for k, v in by_latent.items() if len(v) > 1]
    if mixed:
        raise CardiolatentError(f"latent {mixed[0]!r} has results files in several formats "
                                f"({', '.join(sorted(by_latent[mixed[0]]))}); give one tool's results per latent")
    return files


# ---------------------------------------------------------------------------------------------
# streaming
# ---------------------------------------------------------------------------------------------
def _ids_of(batch, c: dict, sel: np.ndarray, most: int = 5) -> list:
    """The variant ids (or chrom:pos) of the first few selected rows, for messages."""
    rows = np.flatnonzero(sel)[:most]
    if not len(rows):
        return []
    col = c.get("id")
    if col is not None:
        ids = batch.column(col).to_pylist()
        return [str(ids[i]) for i in rows]
    return [f"row {int(i) + 1}" for i in rows]


@dataclass
class Chunk:
    """One block of a results file after filtering (rows with a P value only).

    ``chrom`` (k,) int16 codes (:func:`chrom_codes`), ``pos`` (k,) int64 bp, ``mlog10p`` (k,)
    float64 ``-log10 P`` (finite); ``n_rows``: data rows in the block; ``n_missing_p``: rows of
    the requested test without a P value (NA); ``n_filtered``: rows dropped by the test / MAC /
    INFO filters; ``n_p_zero``: rows whose P was written as 0 (or -log10 P as inf), which are
    below the tool's precision, left out and reported (``p_zero_ids``: their first few ids), never
    a lead with P = 0.
    """

    chrom: np.ndarray
    pos: np.ndarray
    mlog10p: np.ndarray
    n_rows: int
    n_missing_p: int
    n_filtered: int
    n_p_zero: int = 0
    p_zero_ids: list = field(default_factory=list)
    _table: object = field(repr=False, default=None)
    _idx: np.ndarray = field(repr=False, default=None)
    _rf: ResultFile | None = field(repr=False, default=None)

    def __len__(self) -> int:
        return int(self.mlog10p.size)

    def frequencies(self) -> np.ndarray:
        """(k,) float64 effect-allele frequency of every row of the chunk, as :meth:`details` gives
        ``eaf``: the file's frequency column (REGENIE / BOLT-LMM ``A1FREQ``, PLINK 2 ``A1_FREQ``), else
        the run's ``.afreq`` beside a PLINK 2 file (oriented to A1), else NaN (PLINK 1.9 results
        have no frequency). NaN where a row has none."""
        k = len(self)
        cols = self._rf.columns if self._rf is not None else {}
        if k == 0:
            return np.zeros(0)
        if "eaf" in cols:
            a = self._table.column(cols["eaf"])
            return np.asarray(a.to_numpy(zero_copy_only=False), dtype=np.float64)[self._idx]
        if self._rf is not None and self._rf.freq is not None:
            return self._rf.freq.eaf(self._table, self._idx, cols)
        return np.full(k, np.nan)

    def details(self, sel=None) -> pd.DataFrame:
        """The rows ``sel`` (boolean mask or indices into this chunk; all when None) as a DataFrame:
        ``chrom`` (label), ``pos``, ``id``, ``effect_allele``, ``other_allele``, ``eaf``, ``info``,
        ``n``, ``beta``, ``se``, ``mlog10p`` (columns the file lacks are NaN / None)."""
        if sel is None:
            sel = np.arange(len(self))
        sel = np.asarray(sel)
        if sel.dtype == bool:
            sel = np.flatnonzero(sel)
        idx = pa.array(self._idx[sel].astype(np.int64))
        t = self._table
        cols = self._rf.columns
        k = sel.size

        def col(canon):
            if canon not in cols:
                return None
            a = t.column(cols[canon]).take(idx)
            if pa.types.is_dictionary(a.type):
                a = a.cast(a.type.value_type)
            return a.to_numpy(zero_copy_only=False)

        def num(canon):
            v = col(canon)
            return np.full(k, np.nan) if v is None else np.asarray(v, dtype=np.float64)

        labels = chrom_label(self.chrom[sel]) if k else np.array([], dtype=object)
        ids = np.asarray(col("id"), dtype=object)
        missing_id = pd.isna(ids)
        if missing_id.any():  # PLINK 2 writes '.' for variants without an ID: use chrom:pos
            ids[missing_id] = [f"{c}:{p}" for c, p in zip(labels[missing_id], self.pos[sel][missing_id])]
        out = pd.DataFrame({"chrom": labels, "pos": self.pos[sel], "id": ids})
        if result_formats()[self._rf.format].alleles_from_ref_alt:
            ref, alt, a1 = col("ref"), col("alt"), col("a1")
            ea = a1 if a1 is not None else alt
            if ea is None:
                oa = None
            elif a1 is not None and ref is not None and alt is not None:
                oa = np.where(a1 == ref, alt, ref)
            else:
                oa = ref
        else:
            ea, oa = col("effect_allele"), col("other_allele")
        out["effect_allele"] = ea if ea is not None else None
        out["other_allele"] = oa if oa is not None else None
        beta = num("beta")
        if "beta" not in cols and "or" in cols:
            with np.errstate(divide="ignore", invalid="ignore"):
                beta = np.log(num("or"))
        se = num("se")
        if "se" not in cols and "stat" in cols:  # PLINK 1.9: STAT = beta / SE (t or z)
            with np.errstate(divide="ignore", invalid="ignore"):
                se = beta / num("stat")
        if "eaf" in cols or self._rf.freq is None:
            out["eaf"] = num("eaf")
        else:
            out["eaf"] = self._rf.freq.eaf(t, self._idx[sel], cols)
        out["info"] = num("info")
        out["n"] = num("n")
        out["beta"] = beta
        out["se"] = se
        out["mlog10p"] = self.mlog10p[sel]
        return out


def _column_types(rf: ResultFile) -> dict:
    c = rf.columns
    types = {c["chrom"]: pa.dictionary(pa.int32(), pa.string()), c["pos"]: pa.int64(), c["id"]: pa.string()}
    for canon in ("effect_allele", "other_allele", "ref", "alt", "a1"):
        if canon in c:
            types[c[canon]] = pa.string()
    for canon in ("eaf", "info", "n", "beta", "se", "or", "stat", "mlog10p"):
        if canon in c:
            types[c[canon]] = pa.float64()
    if "p" in c:
        types[c["p"]] = pa.string()
    if "test" in c:
        types[c["test"]] = pa.dictionary(pa.int32(), pa.string())
    return types


def _batches_arrow(rf: ResultFile, chunk_bytes: int, tell: list) -> Iterator:
    types = _column_types(rf)
    raw = pa.OSFile(str(rf.path))
    stream = pa.CompressedInputStream(raw, rf.compression) if rf.compression else raw
    try:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=max(int(chunk_bytes), 1 << 12), skip_rows=rf.skip_rows,
                                          use_threads=_USE_THREADS),
            parse_options=pcsv.ParseOptions(delimiter=rf.delimiter, quote_char=False),
            convert_options=pcsv.ConvertOptions(include_columns=list(types), column_types=types,
                                                null_values=_NULLS, strings_can_be_null=True,
                                                quoted_strings_can_be_null=True),
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            tell[0] = raw.tell()
            yield batch
    except pa.ArrowInvalid as exc:
        raise CardiolatentError(f"{rf.path}: cannot parse as a {rf.format} results table: {exc}") from exc
    finally:
        raw.close()


def _batches_pandas(rf: ResultFile, chunk_rows: int, tell: list) -> Iterator:
    """Whitespace-aligned files: pandas in row chunks, converted to arrow batches."""
    types = _column_types(rf)
    dtype = {}
    for name, t in types.items():
        dtype[name] = "float64" if pa.types.is_floating(t) else ("Int64" if pa.types.is_integer(t) else str)
    try:
        reader = pd.read_csv(rf.path, sep=r"\s+", skiprows=rf.skip_rows, usecols=list(types), dtype=dtype,
                             na_values=_NULLS, keep_default_na=False, chunksize=max(int(chunk_rows), 1),
                             compression=rf.compression)
        with reader:
            for df in reader:
                tell[0] = min(rf.size, tell[0] + 80 * len(df))  # rough: ~80 bytes per row
                yield pa.RecordBatch.from_pandas(df, preserve_index=False)
    except ValueError as exc:
        raise CardiolatentError(f"{rf.path}: cannot parse as a {rf.format} results table: {exc}") from exc


def _dict_codes(arr, fn: Callable[[list], np.ndarray], what: str, rf: ResultFile) -> np.ndarray:
    """Map a (dictionary) arrow column through ``fn`` applied to its distinct values."""
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks != 1 else arr.chunk(0)
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    if arr.null_count:
        raise CardiolatentError(f"{rf.path}: missing {what} in {arr.null_count} row(s)")
    lut = fn(arr.dictionary.to_pylist())
    return lut[arr.indices.to_numpy(zero_copy_only=False)]


def iter_chunks(rf: ResultFile, *, chunk_bytes: int = 2 << 20, test: str | None = "ADD",
                min_mac: float | None = None, min_info: float | None = None,
                on_progress: Callable[[int], None] | None = None) -> Iterator[Chunk]:
    """Stream a results file in blocks of about ``chunk_bytes`` bytes of (decompressed) text.

    Parameters
    ----------
    rf : from :func:`open_result` / :func:`discover_results`.
    chunk_bytes : text per block (pyarrow block size); the pandas fallback uses
        ``chunk_bytes // 80`` rows.
    test : keep rows whose TEST column equals this (REGENIE / PLINK 2 write one row per test:
        ``ADD``, covariates, ``DOM``...); None keeps all. Files without TEST are not filtered.
    min_mac : drop variants with minor allele count ``2 N min(f, 1 - f)`` below this (needs N /
        OBS_CT and a frequency column). PLINK 2 results without a frequency column use the run's
        ``.afreq`` beside them: its exact minor allele count among the run's samples with a call.
    min_info : drop variants with INFO (REGENIE) / MACH_R2 (PLINK 2) below this.
    on_progress : called with the number of compressed bytes consumed so far.

    Raises
    ------
    CardiolatentError
        Unparseable rows, missing chromosome/position, a filter whose column is absent, or a
        TEST filter matching no row of a non-empty file (the message lists the tests seen).
    """
    c = rf.columns
    for canon, opt, val in (("eaf", "min_mac", min_mac), ("n", "min_mac", min_mac),
                            ("info", "min_info", min_info)):
        if val is None or canon in c or (canon == "eaf" and rf.freq is not None):
            continue
        side = result_formats()[rf.format].freq_sidecars
        extra = f" (or a {' / '.join(side)} file of the run beside it)" if canon == "eaf" and side else ""
        names = FORMATS[rf.format].get(canon)
        what = f"the column {' or '.join(names)}" if names else f"a {canon} column, which {rf.format} results never have"
        raise CardiolatentError(f"{rf.path}: {opt} needs {what}{extra}" + (", which this file lacks" if names else ""))
    tell = [0]
    if rf.delimiter is None:
        batches = _batches_pandas(rf, max(1, chunk_bytes // 80), tell)
    else:
        batches = _batches_arrow(rf, chunk_bytes, tell)
    seen_tests: set[str] = set()
    test_hit = False
    rows_total = 0
    for batch in batches:
        n = batch.num_rows
        rows_total += n
        if n == 0:
            continue
        mask = np.ones(n, dtype=bool)
        if test is not None and "test" in c:
            tv = batch.column(c["test"])
            hit = _dict_codes(tv, lambda vals: np.asarray([v == test for v in vals], dtype=bool), "TEST", rf)
            if not hit.all():
                seen_tests.update(_dict_codes(tv, lambda vals: np.asarray(vals, dtype=object), "TEST", rf)[~hit][:50])
            mask &= hit
            test_hit = test_hit or bool(hit.any())
        chrom = _dict_codes(batch.column(c["chrom"]), chrom_codes, "chromosome", rf)
        posa = batch.column(c["pos"])
        if posa.null_count:
            raise CardiolatentError(f"{rf.path}: missing position ({c['pos']}) in {posa.null_count} row(s)")
        pos = np.asarray(posa.to_numpy(zero_copy_only=False), dtype=np.int64)
        where = f"{rf.path}, column {c.get('p', c.get('mlog10p'))}"
        if "mlog10p" in c:
            m = np.asarray(batch.column(c["mlog10p"]).to_numpy(zero_copy_only=False), dtype=np.float64)
            if np.any(m < -1e-6):
                raise CardiolatentError(f"{where}: negative -log10 P values (e.g. {m[m < -1e-6][0]})")
            m = np.maximum(m, 0.0)
        else:
            m = mlog10p_from_text(batch.column(c["p"]), where=where)
        if min_info is not None:
            info = np.asarray(batch.column(c["info"]).to_numpy(zero_copy_only=False), dtype=np.float64)
            mask &= ~(info < min_info)
        if min_mac is not None:
            mask &= ~(_minor_allele_count(rf, batch, n) < min_mac)
        n_filtered = int(n - mask.sum())
        has_p = ~np.isnan(m)
        p_zero = mask & np.isinf(m)  # P written as 0 (or -log10 P as inf): below the tool's precision
        valid = mask & has_p & ~p_zero
        idx = np.flatnonzero(valid)
        if on_progress is not None:
            on_progress(tell[0])
        yield Chunk(chrom=chrom[idx], pos=pos[idx], mlog10p=m[idx], n_rows=n,
                    n_missing_p=int((mask & ~has_p).sum()), n_filtered=n_filtered, n_p_zero=int(p_zero.sum()),
                    p_zero_ids=_ids_of(batch, c, p_zero), _table=batch, _idx=idx, _rf=rf)
    if test is not None and "test" in c and rows_total and not test_hit:
        raise CardiolatentError(f"{rf.path}: no row has TEST = {test}; tests in the file: "
                                f"{', '.join(sorted(map(str, seen_tests))[:10])} (choose one with the test parameter)")


def _minor_allele_count(rf: ResultFile, batch, n: int) -> np.ndarray:
    """Minor allele count of every row of a block: ``2 N min(f, 1 - f)`` from the file's frequency and
    N columns; from a PLINK 2 ``.afreq`` of the run, its exact count where it has ``OBS_CT``."""
    c = rf.columns
    nn = np.asarray(batch.column(c["n"]).to_numpy(zero_copy_only=False), dtype=np.float64) if "n" in c else None
    if "eaf" in c:
        f = np.asarray(batch.column(c["eaf"]).to_numpy(zero_copy_only=False), dtype=np.float64)
        return 2.0 * nn * np.minimum(f, 1.0 - f)
    f, mac = rf.freq.lookup(batch, np.arange(n), c)
    if nn is not None:
        mac = np.where(np.isnan(mac), 2.0 * nn * np.minimum(f, 1.0 - f), mac)
    return mac


def read_result(path_or_rf, *, chunk_bytes: int = 2 << 20, test: str | None = "ADD",
                min_mac: float | None = None, min_info: float | None = None) -> pd.DataFrame:
    """A whole results file as one DataFrame (every row with a P value; see :meth:`Chunk.details`
    for the columns). For small files and checks; large files go through :func:`iter_chunks`."""
    rf = path_or_rf if isinstance(path_or_rf, ResultFile) else open_result(path_or_rf)
    parts = [ch.details() for ch in iter_chunks(rf, chunk_bytes=chunk_bytes, test=test,
                                                 min_mac=min_mac, min_info=min_info) if len(ch)]
    if not parts:
        return pd.DataFrame(columns=list(DETAIL_COLUMNS))
    return pd.concat(parts, ignore_index=True)
