"""The tables encoding writes: latents (long: eid, instance, seed, Z0..) and QC (excluded inputs).

Formats by file name: ``.parquet``; ``.tsv`` / ``.tsv.gz`` / ``.txt``; ``.csv`` / ``.csv.gz``
(gzip with a fixed header time, so equal tables give equal bytes). Every write is atomic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.readers import QC_COLUMNS
from cardiolatent.io_utils import atomic_path, read_table, table_suffix

_TABLE_SUFFIXES = (".parquet", ".tsv.gz", ".tsv", ".txt", ".csv.gz", ".csv")


def _table_suffix(path: Path) -> str:
    name = path.name.lower()
    for suf in _TABLE_SUFFIXES:
        if name.endswith(suf):
            return suf
    raise CardiolatentError(f"{path}: output must end in .parquet, .tsv, .tsv.gz, .txt, .csv or .csv.gz")


def qc_path_for(out_path: str | os.PathLike) -> Path:
    """``{stem}.qc.tsv`` next to the latents table (``latents.parquet`` -> ``latents.qc.tsv``)."""
    out_path = Path(out_path)
    suf = _table_suffix(out_path)
    return out_path.with_name(out_path.name[: -len(suf)] + ".qc.tsv")


def write_latents_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table atomically as parquet / TSV / CSV (gzip when the name ends in .gz)."""
    path = Path(path)
    suf = _table_suffix(path)
    with atomic_path(path, suffix=suf) as tmp:
        if suf == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            sep = "," if suf.startswith(".csv") else "\t"
            comp = "gzip" if suf.endswith(".gz") else None
            if comp:
                # fixed gzip header time so equal tables give equal bytes
                df.to_csv(tmp, sep=sep, index=False, lineterminator="\n",
                          compression={"method": "gzip", "mtime": 0})
            else:
                df.to_csv(tmp, sep=sep, index=False, lineterminator="\n")
    return path


def read_latents_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_latents_table` with the latents dtypes."""
    df = read_table(path, what="latents table")
    return df if (table_suffix(path) or "") == ".parquet" else latent_dtypes(df)


def write_qc_table(qc: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the QC table atomically as TSV."""
    with atomic_path(path, suffix=".tsv") as tmp:
        qc.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
    return Path(path)


def latent_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """eid / instance / seed as int64, Z columns as float32 (in place; returns ``df``)."""
    for c in ("eid", "instance", "seed"):
        if c in df:
            df[c] = df[c].astype("int64")
    zc = [c for c in df.columns if c.startswith("Z")]
    if zc:
        df[zc] = df[zc].astype("float32")
    return df


def qc_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """QC rows (dicts) -> the QC table (``eid``, ``instance`` Int64; ``path``, ``reason``, ``detail`` string)."""
    df = pd.DataFrame(list(rows), columns=list(QC_COLUMNS))
    df["eid"] = pd.array(df["eid"].tolist(), dtype="Int64") if len(df) else pd.array([], dtype="Int64")
    df["instance"] = pd.array(df["instance"].tolist(), dtype="Int64") if len(df) else pd.array([], dtype="Int64")
    for c in ("path", "reason", "detail"):
        df[c] = df[c].astype("string")
    return df


def sort_qc(df: pd.DataFrame) -> pd.DataFrame:
    """QC table sorted by (eid missing, eid, instance, path, reason), stably."""
    if df.empty:
        return df.reset_index(drop=True)
    key = pd.DataFrame({"na": df["eid"].isna().to_numpy(), "eid": df["eid"].fillna(0).astype("int64"),
                        "inst": df["instance"].fillna(0).astype("int64"), "path": df["path"].fillna(""),
                        "reason": df["reason"].fillna("")})
    order = key.sort_values(["na", "eid", "inst", "path", "reason"], kind="mergesort").index
    return df.loc[order].reset_index(drop=True)


def empty_latents(d: int) -> pd.DataFrame:
    """A latents table with no rows and ``d`` Z columns."""
    cols = {"eid": np.zeros(0, np.int64), "instance": np.zeros(0, np.int64), "seed": np.zeros(0, np.int64)}
    cols.update({f"Z{k}": np.zeros(0, np.float32) for k in range(d)})
    return pd.DataFrame(cols)


def latents_frame(rows: list[tuple[int, int, dict[int, np.ndarray]]], seeds: list[int], d: int) -> pd.DataFrame:
    """Rows ``(eid, instance, {seed: z (d,)})`` -> the long latents table (one row per input and seed)."""
    if not rows:
        return empty_latents(d)
    eids, insts, sds, zs = [], [], [], []
    for eid, inst, by_seed in rows:
        for s in seeds:
            eids.append(eid)
            insts.append(inst)
            sds.append(s)
            zs.append(by_seed[s])
    z = np.stack(zs).astype(np.float32)
    df = pd.DataFrame({"eid": np.asarray(eids, np.int64), "instance": np.asarray(insts, np.int64),
                       "seed": np.asarray(sds, np.int64)})
    zdf = pd.DataFrame(z, columns=[f"Z{k}" for k in range(d)])
    return pd.concat([df, zdf], axis=1)


def final_latents(parts: list[pd.DataFrame], d: int) -> pd.DataFrame:
    """Latents of every chunk -> one table with the latents dtypes, sorted by (eid, instance, seed)."""
    parts = [p for p in parts if len(p)]
    latents = pd.concat(parts, ignore_index=True) if parts else empty_latents(d)
    latents = latent_dtypes(latents)
    latents = latents.sort_values(["eid", "instance", "seed"], kind="mergesort").reset_index(drop=True)
    return latents[["eid", "instance", "seed"] + [f"Z{j}" for j in range(d)]]
