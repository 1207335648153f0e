"""Finding image inputs: folders, image files and list files -> a sorted :class:`InputList`.

Which files are inputs, and how their eid / instance are found, comes only from the reader table
(:data:`cardiolatent.images.readers.registry.READERS`).
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Iterable, Iterator

from cardiolatent.errors import CardiolatentError

from .base import BAD_NAME, DUPLICATE_INPUT, InputItem, InputList
from .registry import NAMING_HELP, SUFFIXES_HELP, reader_for

_LIST_SUFFIXES = (".txt", ".list", ".tsv", ".lst", ".csv")


def _is_folder_candidate(p: Path) -> bool:
    n = p.name.lower()
    if n.startswith("."):
        return False        # hidden files, temporary files of atomic writers
    r = reader_for(p)
    if r is None:
        return False
    # a file matching the pattern but with a bad eid / instance part -> bad_name
    return r.folder_pattern is None or fnmatch.fnmatch(n, r.folder_pattern)


def _looks_like_list(p: Path) -> bool:
    n = p.name.lower()
    if reader_for(p) is not None:
        return False
    if n.endswith(_LIST_SUFFIXES):
        return True
    # any small text file that is not an image
    try:
        head = p.read_bytes()[:4096]
    except OSError:
        return False
    return b"\x00" not in head and not head.startswith(b"PK\x03\x04")


def _list_int(cells: list[str], i: int | None, header: list[str], p: Path, k: int) -> int | None:
    if i is None or i >= len(cells) or cells[i] == "":
        return None
    try:
        return int(float(cells[i]))
    except ValueError:
        raise CardiolatentError(f"{p}: line {k}: {header[i]!r} is not a number: {cells[i]!r}") from None


def _read_list(p: Path) -> list[tuple[str, int | None, int | None]]:
    """Entries of a list file: (path, eid or None, instance or None).

    Plain lists: one path per line, ``#`` comments and blank lines ignored. A tab-separated table
    with a header that has a ``path`` column (e.g. ``bulk/manifest.tsv``) is also accepted; its
    ``eid`` / ``instance`` columns, when present, override the names.
    """
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise CardiolatentError(f"{p}: cannot be read as a list of inputs ({e})") from e
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return []
    out: list[tuple[str, int | None, int | None]] = []
    sep = "\t" if "\t" in lines[0] else ("," if p.name.lower().endswith(".csv") else None)
    header = [h.strip().lower() for h in lines[0].split(sep)] if sep else None
    if header and "path" in header:
        ip = header.index("path")
        ie = header.index("eid") if "eid" in header else None
        ii = header.index("instance") if "instance" in header else None
        for k, ln in enumerate(lines[1:], start=2):
            cells = [c.strip() for c in ln.split(sep)]
            if len(cells) <= ip:
                raise CardiolatentError(f"{p}: line {k} has no '{header[ip]}' value: {ln!r}")
            out.append((cells[ip], _list_int(cells, ie, header, p, k), _list_int(cells, ii, header, p, k)))
        return out
    return [(ln, None, None) for ln in lines]


def _resolve_listed(entry: str, list_file: Path) -> Path:
    p = Path(entry).expanduser()
    if p.is_absolute():
        return p
    for base in (list_file.parent, Path.cwd(), list_file.parent.parent):
        if (base / p).exists():
            return base / p
    return list_file.parent / p


def _file_items(path: Path, explicit: bool, eid: int | None = None, instance: int | None = None
                ) -> tuple[list[InputItem], list[dict]]:
    reader = reader_for(path)
    if reader.is_container:
        return reader.list_items(path, explicit)
    parsed = reader.parse_name(path)
    if eid is not None and instance is not None:
        parsed = (int(eid), int(instance))
    if parsed is None:
        msg = f"{path}: cannot tell the participant (eid) and instance from the file name; {NAMING_HELP}"
        if explicit:
            raise CardiolatentError(msg)
        return [], [{"eid": None, "instance": None, "path": str(path), "reason": BAD_NAME, "detail": NAMING_HELP}]
    return [InputItem(parsed[0], parsed[1], str(path), reader.kind, "")], []


def _list_file_entries(p: Path) -> Iterator[tuple[Path, int | None, int | None]]:
    """The image files a list file names (each checked as it comes), with the eid / instance it gives."""
    for entry, eid, inst in _read_list(p):
        q = _resolve_listed(entry, p)
        if q.is_dir():
            raise CardiolatentError(f"{p}: lists a folder ({entry}); list image files, or pass the folder itself")
        reader = reader_for(q)
        if reader is None:
            raise CardiolatentError(f"{p}: {entry!r} is not an image input ({SUFFIXES_HELP})")
        if not q.exists() and reader.is_container:
            raise CardiolatentError(f"{p}: lists {entry!r}, which does not exist")
        yield q, eid, inst


def _drop_duplicates(found: list[InputItem], excluded: list[dict]) -> list[InputItem]:
    """The first input of each (eid, instance); the others go to ``excluded`` as ``duplicate_input``."""
    seen: dict[tuple[int, int], InputItem] = {}
    kept: list[InputItem] = []
    for it in found:
        k = (it.eid, it.instance)
        if k in seen:
            first = seen[k]
            excluded.append(it.qc_row(DUPLICATE_INPUT, f"same eid and instance as {first.qc_path} (used)"))
            continue
        seen[k] = it
        kept.append(it)
    return kept


def discover_inputs(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> InputList:
    """Find every image input under ``paths``; return them sorted by (eid, instance, path).

    ``paths``: folders (searched recursively for files of every registered reader: bulk zips
    ``*_20208_*_*.zip``, ``*.nii``, ``*.nii.gz``, ``*.npy``, ``*.h5`` / ``*.hdf5``; hidden files
    skipped), image files, or list files (a ``.txt`` / ``.list`` / ``.tsv`` / ``.csv`` or other
    text file that is not an image: one path per line, ``#`` comments; or a TSV with a ``path``
    column and optional ``eid`` / ``instance`` columns; relative paths are taken from the list's
    folder, else the working folder).

    Files named explicitly (argument or list entry) whose eid / instance cannot be parsed raise
    :class:`CardiolatentError` saying the naming expected; such files found while searching a
    folder are excluded with reason ``bad_name``. A listed file that does not exist becomes an
    item all the same when its name parses (it is reported ``not_a_zip`` / ``unreadable_file`` when
    read), else raises. When several inputs give the same (eid, instance), the first one (in
    argument order; folders in sorted path order) is kept and the others are excluded with
    reason ``duplicate_input``.

    Returns an :class:`InputList` (a list of :class:`InputItem`) whose ``excluded`` attribute holds
    QC rows (``eid, instance, path, reason, detail``).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[InputItem] = []
    excluded: list[dict] = []

    def add_file(p: Path, explicit: bool, eid=None, instance=None):
        it, ex = _file_items(p, explicit, eid, instance)
        found.extend(it)
        excluded.extend(ex)

    for arg in paths:
        p = Path(arg).expanduser()
        if p.is_dir():
            cands = sorted((q for q in p.rglob("*") if q.is_file() and _is_folder_candidate(q)), key=lambda q: str(q))
            for q in cands:
                add_file(q, explicit=False)
        elif p.is_file() and _looks_like_list(p):
            for q, eid, inst in _list_file_entries(p):
                add_file(q, explicit=True, eid=eid, instance=inst)
        elif p.is_file():
            if reader_for(p) is None:
                raise CardiolatentError(f"{p}: not an image input ({SUFFIXES_HELP}) or a list of them")
            add_file(p, explicit=True)
        else:
            raise CardiolatentError(f"{p}: no such file or folder")

    kept = _drop_duplicates(found, excluded)
    kept.sort(key=lambda it: (it.eid, it.instance, it.path, it.key))
    excluded.sort(key=_qc_sort_key)
    return InputList(kept, excluded)


def _qc_sort_key(row: dict):
    eid, inst = row.get("eid"), row.get("instance")
    return (eid is None, eid if eid is not None else 0, inst if inst is not None else 0,
            str(row.get("path", "")), str(row.get("reason", "")))
