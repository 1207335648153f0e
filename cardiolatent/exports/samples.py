"""Sample lists for the GWAS hand-off: genotype samples, withdrawals, relatives, imaging QC.

Readers (each raises :class:`~cardiolatent.errors.CardiolatentError` naming the file and line for
unusable input):

- :func:`read_sample_list`: the samples of the genotype data, from a PLINK 1 ``.fam`` (no header;
  FID IID father mother sex phenotype), a PLINK 2 ``.psam`` (header ``#FID IID ...`` or
  ``#IID ...``; a header-less ``.psam`` is read as a ``.fam``) or a BGEN ``.sample`` (Oxford
  format: header ``ID_1 ID_2 missing sex``, a second line of column types, then one line per
  sample). UK Biobank genotype files use the eid as IID (and FID), so eids are matched to IIDs;
  withdrawn participants appear there with negative ids and never match.
- :func:`read_id_list`: a withdrawals file (one eid per line, as UK Biobank sends them) or a
  PLINK-style removal list (``FID IID`` per line: the IID is used); an optional header line.
- :func:`read_king`: a kinship table: PLINK 2 ``--make-king-table`` (``#FID1 IID1 FID2 IID2 ...
  KINSHIP`` or ``#IID1 IID2 ... KINSHIP``), KING ``.kin0`` (``FID1 ID1 FID2 ID2 ... Kinship``) or
  UK Biobank's relatedness file (``ID1 ID2 HetHet IBS0 Kinship``).
- :func:`read_imaging_qc`: the encoder's QC table (``eid, instance, path, reason, detail``).

:func:`related_to_remove` picks whom to remove so that no two participants left are related
above a kinship threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
import heapq
import os
from pathlib import Path
import re
from typing import Iterable

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError, DuplicateIdError
from cardiolatent.io_utils import read_table

__all__ = [
    "SampleList",
    "read_sample_list",
    "read_id_list",
    "read_king",
    "read_imaging_qc",
    "related_to_remove",
    "KING_DEGREE_THRESHOLDS",
]

#: KING kinship coefficient lower bounds of each degree of relatedness (Manichaikul et al. 2010)
KING_DEGREE_THRESHOLDS = {"duplicate": 0.354, "first": 0.177, "second": 0.0884, "third": 0.0442}

_INT = re.compile(r"^[+-]?\d+$")


def _lines(path: Path) -> list[str]:
    if not path.exists():
        raise CardiolatentError(f"file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CardiolatentError(f"cannot read {path}: {exc}") from exc
    if b"\x00" in raw[:4096]:
        raise CardiolatentError(f"{path} is a binary file, not a text table (did you pass the .bed/.pgen/.bgen "
                                "instead of the .fam/.psam/.sample?)")
    text = raw.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _as_eids(tokens: np.ndarray) -> np.ndarray:
    """Integer eids of string ids; non-integer ids become a sentinel that matches no eid."""
    out = np.full(len(tokens), np.iinfo(np.int64).min, dtype=np.int64)
    for i, t in enumerate(tokens):
        if _INT.match(t):
            out[i] = int(t)
    return out


# --------------------------------------------------------------------------------------------
# genotype sample lists
# --------------------------------------------------------------------------------------------


@dataclass
class SampleList:
    """The samples of a genotype fileset, in file order.

    ``kind``: ``fam``, ``psam`` or ``sample``. ``iid``: (n,) object array of IID strings;
    ``fid``: (n,) object array of FID strings, or None when the file has no FID column (a
    ``.psam`` with an ``#IID`` header: PLINK 2 then matches phenotype files on IID alone).
    ``eid``: (n,) int64, the IID as an integer (a sentinel that matches nothing where the IID is
    not an integer).
    """

    path: Path
    kind: str
    iid: np.ndarray
    fid: np.ndarray | None
    eid: np.ndarray

    @property
    def n(self) -> int:
        return len(self.iid)

    @property
    def has_fid(self) -> bool:
        return self.fid is not None

    @property
    def n_non_integer(self) -> int:
        """Samples whose IID is not an integer (cannot be a UK Biobank eid)."""
        return int((self.eid == np.iinfo(np.int64).min).sum())

    def fid_of(self) -> dict[int, str]:
        """eid -> FID as written in the file (the IID where the file has no FID)."""
        src = self.fid if self.fid is not None else self.iid
        ok = self.eid != np.iinfo(np.int64).min
        return dict(zip(self.eid[ok].tolist(), src[ok].tolist()))

    @property
    def genotype_prefix(self) -> str:
        """The fileset this list belongs to: ``.fam``/``.psam`` -> prefix; ``.sample`` -> the path itself."""
        p = str(self.path)
        for suf in (".fam", ".psam"):
            if p.endswith(suf):
                return p[: -len(suf)]
        return p


def _detect_kind(path: Path, first: str) -> str:
    name = path.name.lower()
    for suf in ("fam", "psam", "sample"):
        if name.endswith("." + suf):
            return suf
    if first.startswith("#"):
        return "psam"
    if first.split()[:2] == ["ID_1", "ID_2"] or first.split()[:1] == ["ID"]:
        return "sample"
    return "fam"


def _check_unique(path: Path, iid: np.ndarray, eid: np.ndarray) -> None:
    ok = eid != np.iinfo(np.int64).min
    s = pd.Series(iid[ok])
    dup = s[s.duplicated(keep=False)].unique()
    if len(dup):
        raise DuplicateIdError(f"{path} lists the same sample (IID) more than once, e.g. "
                               f"{', '.join(map(str, dup[:5]))}: fix the genotype sample file first")


def read_sample_list(path: str | os.PathLike) -> SampleList:
    """Read a ``.fam``, ``.psam`` or BGEN ``.sample`` file (kind from the extension, else sniffed)."""
    path = Path(path)
    lines = [ln for ln in _lines(path)]
    body = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not body:
        raise CardiolatentError(f"sample list {path} is empty")
    kind = _detect_kind(path, body[0][1].lstrip())
    fid: list[str] | None
    iid: list[str] = []
    if kind == "psam" and body[0][1].startswith("#"):
        while body and body[0][1].startswith("##"):
            body = body[1:]
        header = body[0][1][1:].split()
        if "IID" not in header:
            raise CardiolatentError(f"{path}: .psam header {body[0][1]!r} has no IID column "
                                    "(expected '#FID IID ...' or '#IID ...')")
        j_iid = header.index("IID")
        j_fid = header.index("FID") if "FID" in header else None
        fid = [] if j_fid is not None else None
        for lineno, ln in body[1:]:
            tok = ln.split()
            if len(tok) != len(header):
                raise CardiolatentError(f"{path} line {lineno}: {len(tok)} fields, the header has {len(header)}")
            iid.append(tok[j_iid])
            if fid is not None:
                fid.append(tok[j_fid])
    elif kind == "sample":
        header = body[0][1].split()
        if len(body) < 2:
            raise CardiolatentError(f"{path}: a BGEN .sample file needs a header line and a line of column types")
        if header[:2] == ["ID_1", "ID_2"]:
            j_fid, j_iid = 0, 1
        elif header[:1] == ["ID"]:
            j_fid, j_iid = None, 0
        else:
            raise CardiolatentError(f"{path}: a BGEN .sample file starts with 'ID_1 ID_2 ...' (saw {body[0][1]!r})")
        types = body[1][1].split()
        if types[:1] != ["0"]:
            raise CardiolatentError(f"{path} line {body[1][0]}: the second line of a .sample file gives column "
                                    f"types and starts with 0 (saw {body[1][1]!r})")
        fid = [] if j_fid is not None else None
        for lineno, ln in body[2:]:
            tok = ln.split()
            if len(tok) < max(j_iid, j_fid or 0) + 1:
                raise CardiolatentError(f"{path} line {lineno}: too few fields ({ln!r})")
            iid.append(tok[j_iid])
            if fid is not None:
                fid.append(tok[j_fid])
    else:  # .fam (or header-less .psam)
        fid = []
        for lineno, ln in body:
            tok = ln.split()
            if len(tok) < 2:
                raise CardiolatentError(f"{path} line {lineno}: a .fam line has FID IID father mother sex "
                                        f"phenotype (saw {ln!r})")
            fid.append(tok[0])
            iid.append(tok[1])
    iid_a = np.array(iid, dtype=object)
    fid_a = np.array(fid, dtype=object) if fid is not None else None
    eid = _as_eids(iid_a)
    _check_unique(path, iid_a, eid)
    return SampleList(path, kind, iid_a, fid_a, eid)


# --------------------------------------------------------------------------------------------
# withdrawals / removal lists
# --------------------------------------------------------------------------------------------


def read_id_list(path: str | os.PathLike, what: str = "id list") -> np.ndarray:
    """Unique eids (int64, sorted) listed in ``path``.

    One id per line (a UK Biobank withdrawals file), or ``FID IID`` per line (a PLINK
    ``--remove`` file: the second column is used); fields separated by whitespace or commas.
    A first line that is not an integer is taken as a header; any later non-integer id is an
    error naming the line. Empty files give an empty array.
    """
    path = Path(path)
    out: list[int] = []
    for lineno, ln in enumerate(_lines(path), start=1):
        tok = [t for t in re.split(r"[\s,]+", ln.strip()) if t]
        if not tok:
            continue
        t = tok[1] if len(tok) >= 2 else tok[0]
        if not _INT.match(t):
            if not out and lineno == 1:
                continue  # header
            raise CardiolatentError(f"{what} {path} line {lineno}: {t!r} is not a participant id (eid)")
        out.append(int(t))
    return np.unique(np.array(out, dtype=np.int64))


# --------------------------------------------------------------------------------------------
# kinship
# --------------------------------------------------------------------------------------------


def read_king(path: str | os.PathLike) -> pd.DataFrame:
    """Kinship pairs: columns ``id1``, ``id2`` (int64 eids) and ``kinship`` (float64).

    Pairs whose ids are not integers are dropped (they cannot be eids).
    """
    path = Path(path)
    lines = [ln for ln in _lines(path) if ln.strip()]
    if not lines:
        raise CardiolatentError(f"kinship table {path} is empty")
    header = lines[0].lstrip("#").split()
    upper = [h.upper() for h in header]
    pick = None
    for a, b in (("IID1", "IID2"), ("ID1", "ID2")):
        if a in upper and b in upper:
            pick = (upper.index(a), upper.index(b))
            break
    if pick is None or "KINSHIP" not in upper:
        raise CardiolatentError(
            f"kinship table {path}: header {lines[0]!r} lacks the id columns (IID1/IID2 or ID1/ID2) or "
            "the KINSHIP column; expected PLINK 2 --make-king-table (.kin0), KING (.kin0) or UK Biobank's "
            "relatedness file (ID1 ID2 HetHet IBS0 Kinship)")
    jk = upper.index("KINSHIP")
    id1, id2, kin = [], [], []
    for lineno, ln in enumerate(lines[1:], start=2):
        tok = ln.split()
        if len(tok) != len(header):
            raise CardiolatentError(f"kinship table {path} line {lineno}: {len(tok)} fields, the header has "
                                    f"{len(header)}")
        a, b = tok[pick[0]], tok[pick[1]]
        if not (_INT.match(a) and _INT.match(b)):
            continue
        try:
            k = float(tok[jk])
        except ValueError:
            raise CardiolatentError(f"kinship table {path} line {lineno}: kinship {tok[jk]!r} is not a number")
        id1.append(int(a))
        id2.append(int(b))
        kin.append(k)
    return pd.DataFrame({"id1": np.array(id1, np.int64), "id2": np.array(id2, np.int64),
                         "kinship": np.array(kin, np.float64)})


def related_to_remove(pairs: pd.DataFrame, candidates: Iterable[int], threshold: float) -> np.ndarray:
    """Eids to remove so that no two remaining ``candidates`` have kinship > ``threshold``.

    Only pairs with both members among ``candidates`` count (a relative who is not analysed
    anyway costs nothing). Greedy, as PLINK 2's ``--king-cutoff``: repeatedly remove the
    participant with the most remaining relatives; ties remove the larger eid. Returns sorted
    int64 eids.
    """
    cand = set(int(c) for c in candidates)
    sel = pairs[(pairs["kinship"] > threshold) & pairs["id1"].isin(cand) & pairs["id2"].isin(cand)
                & (pairs["id1"] != pairs["id2"])]
    adj: dict[int, set[int]] = {}
    for a, b in zip(sel["id1"].tolist(), sel["id2"].tolist()):
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    heap = [(-len(nb), -e) for e, nb in adj.items()]
    heapq.heapify(heap)
    removed: list[int] = []
    while heap:
        negdeg, nege = heapq.heappop(heap)
        e = -nege
        nb = adj.get(e)
        if nb is None or len(nb) != -negdeg:
            if nb:  # stale entry: push the current degree back
                heapq.heappush(heap, (-len(nb), nege))
            continue
        if not nb:
            continue
        removed.append(e)
        for o in nb:
            adj[o].discard(e)
            heapq.heappush(heap, (-len(adj[o]), -o))
        del adj[e]
    return np.array(sorted(removed), dtype=np.int64)


# --------------------------------------------------------------------------------------------
# imaging QC (the encoder's QC table)
# --------------------------------------------------------------------------------------------


def read_imaging_qc(path: str | os.PathLike) -> pd.DataFrame:
    """Imaging exclusions from the encoder's QC table (``<out>.qc.tsv``) or any table with an ``eid``
    column (optional ``instance`` and ``reason``).

    Returns ``eid`` (int64), ``instance`` (Int64; NA = every visit of that participant),
    ``reason`` (string). Rows without an eid (unreadable file names) and ``duplicate_input`` rows
    (another input of the same visit was used) are left out.
    """
    path = Path(path)
    df = read_table(path, what="imaging QC table", dtype=str, keep_default_na=False)
    if path.name.lower().endswith(".parquet"):
        df = df.astype(str).replace({"nan": "", "None": "", "<NA>": ""})
    if "eid" not in df.columns:
        raise CardiolatentError(f"imaging QC table {path} has no 'eid' column (columns: "
                                f"{', '.join(map(str, df.columns[:6]))})")
    eid = pd.to_numeric(df["eid"].astype(str).str.strip().replace({"": None, "NA": None}), errors="coerce")
    inst = (pd.to_numeric(df["instance"].astype(str).str.strip().replace({"": None, "NA": None}), errors="coerce")
            if "instance" in df.columns else pd.Series(np.nan, index=df.index))
    reason = df["reason"].astype(str) if "reason" in df.columns else pd.Series("imaging_qc", index=df.index)
    keep = eid.notna() & (reason != "duplicate_input")
    out = pd.DataFrame({"eid": eid[keep].astype(np.int64).to_numpy(),
                        "instance": inst[keep].astype("Int64").to_numpy(),
                        "reason": reason[keep].astype("string").to_numpy()})
    return out.reset_index(drop=True)
