"""Format-specific phenotype/covariate files for REGENIE, PLINK 2, PLINK 1.9 and BOLT-LMM.

What each tool reads (``shared/reference/formats.md``), and what is written here:

============  ==============  =======  ==========  =============================================
format        header          missing  binary      notes
============  ==============  =======  ==========  =============================================
``regenie``   ``FID IID ...``  ``NA``    0/1         categorical raw labels -> ``--catCovarList``
``plink2``    ``#FID IID ...`` ``NA``    1/2         ``#IID`` when the .psam has no FID; -9 is read
                                                      as missing, so a real -9 value adds
                                                      ``--no-input-missing-phenotype``
``plink1``    ``FID IID ...``  ``-9``    1/2         a real -9 value moves the missing code
                                                      (``--missing-phenotype``)
``bolt``      ``FID IID ...``  ``NA``    0/1 (as     BOLT reads -9 as missing (no option): a real
                                         quantit.)   -9 is an error; raw labels -> ``--covarCol``
============  ==============  =======  ==========  =============================================

Every file: tab-separated, LF line endings, one header line, the same number of fields on every
line, numbers written without loss (integers as integers, other floats as Python ``repr``: the
shortest text that reads back to the same double), written atomically. Besides the phenotype
files (``pheno.txt``, ``pheno_binary.txt``, ``pheno_t2e.txt``) and ``covar.txt``: ``keep.txt``
(the written samples, no header, for ``--keep``), ``excluded.tsv`` (every participant not
written, with the reason), the run script (:mod:`cardiolatent.exports.scripts`) and
``manifest.json``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.phenotypes import safe_name
from cardiolatent.io_utils import atomic_path, write_text_atomic

__all__ = [
    "FormatSpec",
    "FORMATS",
    "WrittenFiles",
    "format_values",
    "write_table",
    "write_export",
    "package_versions",
]


@dataclass(frozen=True)
class FormatSpec:
    """How one tool reads phenotype/covariate files.

    ``missing``: token written for a missing value. ``control``/``case``: binary trait codes.
    ``minus9_missing``: the tool reads the number -9 as missing. ``raw_categorical``: the tool
    takes categorical covariates as labels (REGENIE ``--catCovarList``, BOLT ``--covarCol``).
    ``t2e``: time-to-event pairs supported (REGENIE ``--t2e``).
    """

    name: str
    tool: str
    hash_header: bool
    missing: str
    control: str
    case: str
    minus9_missing: bool
    raw_categorical: bool
    t2e: bool
    script: str


FORMATS: dict[str, FormatSpec] = {
    "regenie": FormatSpec("regenie", "REGENIE", False, "NA", "0", "1", False, True, True, "run_regenie.sh"),
    "plink2": FormatSpec("plink2", "PLINK 2", True, "NA", "1", "2", True, False, False, "run_plink2.sh"),
    "plink1": FormatSpec("plink1", "PLINK 1.9", False, "-9", "1", "2", True, False, False, "run_plink1.sh"),
    "bolt": FormatSpec("bolt", "BOLT-LMM", False, "NA", "0", "1", True, True, False, "run_bolt.sh"),
}

#: missing codes tried for PLINK 1.9 when a real value equals the previous one
_PLINK1_MISSING = ("-9", "-99999", "-999999999")

#: rows formatted and written at a time
_CHUNK_ROWS = 4096


@dataclass
class WrittenFiles:
    """What :func:`write_export` wrote and the flags the tool needs for it.

    ``files``: role (``pheno``, ``binary``, ``t2e``, ``covar``, ``keep``, ``excluded``,
    ``script``, ``manifest``) -> path. ``id_columns``: the id header (``["#FID", "IID"]`` ...).
    ``extra_flags``: flags every tool call needs for these files (e.g. ``--missing-phenotype``).
    ``categorical``: raw-coded categorical covariate columns; ``max_levels``: most levels among them.
    """

    fmt: str
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    id_columns: list[str] = field(default_factory=list)
    missing: str = "NA"
    extra_flags: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    max_levels: int = 0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


def format_values(values, missing: str) -> np.ndarray:
    """(n,) values -> (n,) object array of text, ``missing`` where NaN/None.

    Floats: integers (|x| < 2**53) as ``"12"``, others as ``repr`` (shortest round-trip text,
    e.g. ``0.1``, ``-1.2345678901234567e-05``). Strings are written as they are.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        out = np.empty(len(arr), dtype=object)
        for i, v in enumerate(arr.tolist()):
            out[i] = missing if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)
        return out
    x = arr.astype(np.float64)
    miss = np.isnan(x)
    if np.isinf(x).any():
        raise CardiolatentError("an infinite value cannot be written to a phenotype/covariate file")
    out = np.empty(len(x), dtype=object)
    fin = x[~miss]
    if len(fin) and np.all(fin == np.round(fin)) and np.all(np.abs(fin) < 2.0**53):
        out[~miss] = fin.astype(np.int64).astype(str)
    else:
        out[~miss] = fin.astype(str)
    out[miss] = missing
    return out


def write_table(path: Path, header: Sequence[str], columns: Sequence[np.ndarray], *, write_header: bool = True) -> None:
    """Write text columns (each (n,) object array) tab-separated with LF endings, atomically."""
    n = len(columns[0]) if columns else 0
    for c in columns:
        if len(c) != n:
            raise CardiolatentError(f"internal error: ragged columns for {path.name}")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            if write_header:
                fh.write("\t".join(header) + "\n")
            for start in range(0, n, _CHUNK_ROWS):
                block = np.column_stack([c[start:start + _CHUNK_ROWS] for c in columns])
                fh.write("\n".join("\t".join(row) for row in block.tolist()))
                fh.write("\n")


def _numeric_equal(frame: pd.DataFrame, value: float, skip: Sequence[str] = ()) -> list[tuple[str, int]]:
    """(column, row) of numeric cells exactly equal to ``value`` (first per column)."""
    hits = []
    for c in frame.columns:
        if c in skip:
            continue
        x = pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
        w = np.flatnonzero(x == value)
        if len(w):
            hits.append((c, int(w[0])))
    return hits


# --------------------------------------------------------------------------------------------
# the files of one export
# --------------------------------------------------------------------------------------------


def write_export(tables, fmt: str, out_dir: str | os.PathLike) -> WrittenFiles:
    """Write the data files of :class:`~cardiolatent.exports.phenotypes.ExportTables` for ``fmt``.

    Files: ``pheno.txt`` (latents; always), ``pheno_binary.txt`` (binary traits, if any),
    ``pheno_t2e.txt`` (REGENIE time/event pairs, if any), ``covar.txt`` (if any covariate),
    ``keep.txt`` and ``excluded.tsv``. Scripts and the manifest: :func:`export_files`.
    """
    if fmt not in FORMATS:
        raise CardiolatentError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    spec = FORMATS[fmt]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    W = WrittenFiles(fmt, out)
    ids = tables.ids
    sl = tables.info.get("sample_list") or {}
    iid_only = fmt == "plink2" and sl.get("kind") == "psam" and not sl.get("has_fid", True)
    if iid_only:
        W.id_columns = ["#IID"]
        id_cols = [ids["IID"].astype(str).to_numpy(object)]
        W.notes.append("the .psam has no FID column: files are written with an #IID header (PLINK 2 matches IIDs)")
    else:
        W.id_columns = (["#FID", "IID"] if spec.hash_header else ["FID", "IID"])
        id_cols = [ids["FID"].astype(str).to_numpy(object), ids["IID"].astype(str).to_numpy(object)]
    if tables.t2e.shape[1] and not spec.t2e:
        raise CardiolatentError(f"time-to-event pairs (--t2e) are a REGENIE feature; {spec.tool} has no "
                                "survival model: use --format regenie or drop --t2e")
    if tables.categorical and not spec.raw_categorical:
        raise CardiolatentError(f"raw categorical codes (--categorical raw) are read as numbers by {spec.tool}: "
                                "use the default dummy coding, or --format regenie / bolt")

    covar = tables.covar.copy()
    binary = tables.binary.copy()
    # binary codes
    for c in binary.columns:
        x = binary[c].to_numpy(np.float64)
        binary[c] = np.where(np.isnan(x), None, np.where(x == 1, spec.case, spec.control)).astype(object)
    missing = spec.missing
    numeric_frames = [tables.pheno, tables.t2e, covar.drop(columns=tables.categorical)]
    if fmt == "plink1":
        for code in _PLINK1_MISSING:
            if not any(_numeric_equal(f, float(code)) for f in numeric_frames):
                missing = code
                break
        else:
            raise CardiolatentError("values equal every PLINK 1.9 missing code tried "
                                    f"({', '.join(_PLINK1_MISSING)}): use --format plink2")
        if missing != "-9":
            W.extra_flags += ["--missing-phenotype", missing]
            W.notes.append(f"a written value equals -9, which PLINK 1.9 reads as missing: missing values are "
                           f"written as {missing} and the script passes --missing-phenotype {missing}")
    elif fmt == "plink2":
        hits = [h for f in numeric_frames for h in _numeric_equal(f, -9.0)]
        if hits:
            W.extra_flags.append("--no-input-missing-phenotype")
            W.notes.append(f"column {hits[0][0]} has the value -9, which PLINK 2 reads as missing by default: "
                           "the script passes --no-input-missing-phenotype (only NA is missing)")
    elif fmt == "bolt":
        hits = [h for f in numeric_frames for h in _numeric_equal(f, -9.0)]
        if hits:
            c, r = hits[0]
            raise CardiolatentError(f"column {c} is -9 for eid {int(ids['eid'].iloc[r])}; BOLT-LMM reads -9 as "
                                    "missing and has no option to change that: transform or drop that column")
    W.missing = missing
    for c in tables.categorical:
        labels = covar[c].astype(object)
        if spec.minus9_missing and (labels == "-9").any():
            covar[c] = labels.where(labels != "-9", "m9")
            W.notes.append(f"covariate {c}: level -9 written as 'm9' ({spec.tool} reads -9 as missing)")
        W.max_levels = max(W.max_levels, int(covar[c].nunique()))
    W.categorical = list(tables.categorical)

    def write(role: str, name: str, frame: pd.DataFrame) -> None:
        cols = [format_values(frame[c].to_numpy(), missing) for c in frame.columns]
        header = W.id_columns + [str(c) for c in frame.columns]
        write_table(out / name, header, id_cols + cols)
        W.files[role] = out / name

    write("pheno", "pheno.txt", tables.pheno)
    if binary.shape[1]:
        write("binary", "pheno_binary.txt", binary)
    if tables.t2e.shape[1]:
        write("t2e", "pheno_t2e.txt", tables.t2e)
    if covar.shape[1]:
        write("covar", "covar.txt", covar)
    write_table(out / "keep.txt", [], id_cols, write_header=False)
    W.files["keep"] = out / "keep.txt"
    ex = tables.excluded.copy()
    ex["instance"] = ex["instance"].astype("Int64")
    from cardiolatent.io_utils import write_table_atomic

    write_table_atomic(ex.sort_values(["reason", "eid"], kind="stable"), out / "excluded.tsv", index=False)
    W.files["excluded"] = out / "excluded.tsv"
    return W


# --------------------------------------------------------------------------------------------
# manifest
# --------------------------------------------------------------------------------------------


def package_versions() -> dict[str, str]:
    """Versions of Python, cardiolatent and the numerical packages used."""
    import scipy

    from cardiolatent import __version__

    return {"cardiolatent": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "pandas": pd.__version__, "scipy": scipy.__version__, "platform": platform.platform()}


def manifest(tables, written: WrittenFiles, parameters: dict) -> dict:
    """The manifest (a JSON-ready dict): counts at every filter, transform, files, parameters, versions."""
    spec = FORMATS[written.fmt]
    excluded_total = sum(c["excluded"] for c in tables.counts)
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": written.fmt,
        "tool": spec.tool,
        "participants": {
            "in_latents_table": tables.n_input,
            "written": tables.n,
            "excluded": excluded_total,
            "adds_up": tables.n + excluded_total == tables.n_input,
        },
        "filters": tables.counts,
        "latents_rows_not_used": tables.info.get("latents_rows_not_used", {}),
        "transform": {"name": tables.info["transform"], "description": tables.info["transform_description"],
                      "n": tables.n},
        "phenotypes": {"written": list(tables.pheno.columns), "dropped": tables.info["phenotypes_dropped"],
                       "source_columns": tables.info["phenotype_names"]},
        "binary_traits": tables.info.get("binary_traits", {}),
        "time_to_event": tables.info.get("t2e", {}),
        "covariates": {"requested": tables.info["covariates_requested"],
                       "columns": list(tables.covar.columns),
                       "dropped": [c for c in tables.info["covariates_requested"]
                                   if not any(k == safe_name(c) or k.startswith(safe_name(c) + "_")
                                              for k in tables.covar.columns)],
                       "coding": tables.info["categorical_coding"],
                       "categorical_columns": tables.info["categorical_columns"],
                       "min_level_count": tables.info["min_level_count"]},
        "kinship": tables.info.get("kinship", {}),
        "sample_list": tables.info.get("sample_list"),
        "files": {k: p.name for k, p in written.files.items()},
        "file_format": {"id_columns": written.id_columns, "missing": written.missing, "separator": "tab",
                        "line_ending": "LF", "binary_coding": {"control": spec.control, "case": spec.case},
                        "extra_flags": written.extra_flags},
        "notes": list(tables.notes) + list(written.notes),
        "parameters": parameters,
        "versions": package_versions(),
    }


def export_files(tables, fmt: str, out_dir: str | os.PathLike, parameters: dict | None = None) -> WrittenFiles:
    """Write data files, the run script and ``manifest.json`` for ``fmt`` into ``out_dir``."""
    from cardiolatent.exports.scripts import render_script

    W = write_export(tables, fmt, out_dir)
    spec = FORMATS[fmt]
    script = W.out_dir / spec.script
    write_text_atomic(script, render_script(tables, W))
    os.chmod(script, 0o755 & ~_umask())
    W.files["script"] = script
    W.files["manifest"] = W.out_dir / "manifest.json"
    doc = manifest(tables, W, parameters or {})
    write_text_atomic(W.files["manifest"], json.dumps(doc, indent=2, default=_json_default) + "\n")
    return W


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)
