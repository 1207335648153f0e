"""Column store for main data: the raw text of main-data columns as parquet, read back in a blink.

A main-data file of 500,000 rows x 20,000 columns is tens of GB of text; even reading 30 of its
columns means tokenising every byte. :func:`cardiolatent.ukb.read.read_main` therefore keeps the
columns it has read in a **column store** and reads them from there next time.

Layout of a column store (a folder)::

    manifest.json            {"format": "cardiolatent-main-columns", "version": 1,
                              "source": ..., "size": ..., "mtime_ns": ...,   # the text file it came from
                              "columns": [...],   # every column of the source header, in file order
                              "n_rows": N,
                              "parts": {"part-<random>.parquet": [column, ...], ...}}
    part-<random>.parquet    some columns, as strings (missing -> null), rows in file order

The values stored are the *raw text* of the cells (after the usual missing-value markers such as
``NA`` became null), so typing, cleaning, flags and registry changes run again on every read and a
read from the store equals a read from the source exactly.

**The cache.** One store per source file lives in ``cache_root() / "main" / <key>``
(:func:`cardiolatent.io_utils.cache_root`: ``$CARDIOLATENT_HOME``, else
``$XDG_CACHE_HOME/cardiolatent``, else ``~/.cache/cardiolatent``; ``$CARDIOLATENT_MAIN_CACHE``, when
set, replaces ``cache_root() / "main"``). The key is a hash of the source's resolved path; the
manifest records the source's size and modification time (ns), and a store whose source changed
is removed and rebuilt; the stores of files that no longer exist are removed whenever a store is
written. A read that needs columns not in the store reads only those from the
source and adds them as a new part file. Updates are atomic: part files and the manifest are
written under temporary names and renamed, and a writer holds a lock on the store, so a
concurrent reader sees the old manifest or the new one, never a half-written file. A cache that
cannot be written (read-only folder, full disk) is skipped silently: the read still succeeds.

``cardiolatent convert-main FILE --out DIR`` writes the same layout to ``DIR``: a column store that
``read_main(DIR)`` takes as its main data directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from cardiolatent import __version__
from cardiolatent.io_utils import cache_root

__all__ = ["ColumnStore", "main_cache_dir", "entry_dir", "lookup", "add_columns", "MANIFEST", "FORMAT"]

MANIFEST = "manifest.json"
FORMAT = "cardiolatent-main-columns"
VERSION = 1
_LOCK = ".lock"
#: columns per part file (a part's footer stays small; a read opens few parts)
PART_COLUMNS = 1000


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def main_cache_dir() -> Path:
    """Folder holding one column store per main-data file (``$CARDIOLATENT_MAIN_CACHE`` or
    ``cache_root() / "main"``; not created here)."""
    env = os.environ.get("CARDIOLATENT_MAIN_CACHE")
    return Path(env) if env else cache_root() / "main"


def entry_dir(source: str | os.PathLike) -> Path:
    """The cache folder for a source file (keyed by its resolved path)."""
    resolved = str(Path(source).resolve())
    key = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return main_cache_dir() / key


def source_stamp(source: Path) -> dict:
    """``{"source", "size", "mtime_ns"}`` of a source file: what makes a cache entry valid."""
    st = os.stat(source)
    return {"source": str(Path(source).resolve()), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


class ColumnStore:
    """A column-store folder (see the module docstring). ``columns``: the source header."""

    def __init__(self, folder: str | os.PathLike, manifest: dict | None = None) -> None:
        self.folder = Path(folder)
        self.manifest = manifest if manifest is not None else read_manifest(self.folder)

    @property
    def columns(self) -> list[str]:
        """Every column of the source header (file order), stored or not."""
        return list(self.manifest["columns"])

    @property
    def n_rows(self) -> int:
        return int(self.manifest["n_rows"])

    def stored(self) -> dict[str, str]:
        """Column name -> part file name, for every stored column."""
        out: dict[str, str] = {}
        for part, cols in self.manifest["parts"].items():
            for c in cols:
                out.setdefault(c, part)
        return out

    def read(self, names: Sequence[str]) -> dict[str, pa.ChunkedArray]:
        """The stored columns among ``names`` (strings, ``n_rows`` long); absent ones are left out."""
        where = self.stored()
        by_part: dict[str, list[str]] = {}
        for n in dict.fromkeys(names):
            if n in where:
                by_part.setdefault(where[n], []).append(n)
        out: dict[str, pa.ChunkedArray] = {}
        for part, cols in by_part.items():
            table = pq.read_table(self.folder / part, columns=cols, use_threads=True)
            if table.num_rows != self.n_rows:
                raise ValueError(f"column store {self.folder}: {part} has {table.num_rows} rows, "
                                 f"the manifest says {self.n_rows}")
            for c in cols:
                out[c] = table.column(c)
        return out


def read_manifest(folder: Path) -> dict:
    """The manifest of a column store; ValueError when absent or not one of ours."""
    try:
        rec = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{folder} has no {MANIFEST}") from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise ValueError(f"{folder}/{MANIFEST} is not a cardiolatent column-store manifest")
    if int(rec.get("version", 0)) > VERSION:
        raise ValueError(f"{folder} was written by a newer cardiolatent (store version {rec.get('version')})")
    for key in ("columns", "n_rows", "parts"):
        if key not in rec:
            raise ValueError(f"{folder}/{MANIFEST} lacks {key!r}")
    return rec


def is_store(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a column-store manifest."""
    try:
        read_manifest(Path(folder))
    except (ValueError, OSError):
        return False
    return True


def new_manifest(stamp: Mapping, columns: Sequence[str], n_rows: int) -> dict:
    return {"format": FORMAT, "version": VERSION, "cardiolatent_version": __version__, **dict(stamp),
            "columns": list(columns), "n_rows": int(n_rows), "parts": {}}


def write_manifest(folder: Path, manifest: dict) -> None:
    """Write ``manifest.json`` atomically (temporary name, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, folder / MANIFEST)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_part(folder: Path, table: pa.Table, **kwargs) -> str:
    """Write ``table`` as a new part file (temporary name, then rename); returns its name."""
    name = f"part-{uuid.uuid4().hex[:16]}.parquet"
    tmp = folder / f".{name}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd", **kwargs)
        os.replace(tmp, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return name


@contextlib.contextmanager
def locked(folder: Path):
    """Exclusive lock on a store folder for the block (writers only; readers never wait)."""
    fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _remove(folder: Path) -> None:
    """Remove a store folder: renamed away first, so no reader opens a half-deleted store."""
    gone = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
    try:
        os.replace(folder, gone)
    except OSError:
        return
    shutil.rmtree(gone, ignore_errors=True)


def tidy(folder: Path, manifest: dict | None) -> None:
    """Remove what killed writers left in a store: temporaries and part files no manifest lists.

    Call with the store's lock held (every writer holds it while writing, so none is in flight).
    """
    listed = set(manifest["parts"]) if manifest else set()
    for p in folder.iterdir():
        if p.name in (_LOCK, MANIFEST) or p.name in listed:
            continue
        if p.name.endswith(".tmp") or (p.name.startswith("part-") and p.name.endswith(".parquet")):
            with contextlib.suppress(OSError):
                p.unlink()


def prune() -> None:
    """Remove the stores of source files that no longer exist, and leftovers of removed stores.

    Runs when a store is written; never raises.
    """
    root = main_cache_dir()
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for d in entries:
        try:
            if d.name.startswith(".") and d.name.endswith(".old"):
                shutil.rmtree(d, ignore_errors=True)
                continue
            if not d.is_dir():
                continue
            source = read_manifest(d).get("source")
            if source and not os.path.exists(source):
                _remove(d)
        except (OSError, ValueError):
            continue


def _matches(manifest: dict, stamp: Mapping, columns: Sequence[str]) -> bool:
    return (manifest.get("source") == stamp["source"] and manifest.get("size") == stamp["size"]
            and manifest.get("mtime_ns") == stamp["mtime_ns"] and list(manifest.get("columns", ())) == list(columns))


def lookup(source: Path, columns: Sequence[str]) -> ColumnStore | None:
    """The valid cache store of ``source`` (header ``columns``), or None.

    A store whose source changed (size, modification time or header) is removed. Never raises
    for cache problems (unreadable or corrupt store -> None).
    """
    folder = entry_dir(source)
    try:
        if not folder.is_dir():
            return None
        stamp = source_stamp(source)
        try:
            manifest = read_manifest(folder)
        except ValueError:
            return None
        if not _matches(manifest, stamp, columns):
            _remove(folder)
            return None
        return ColumnStore(folder, manifest)
    except OSError:
        return None


def add_columns(source: Path, columns: Sequence[str], table: pa.Table, stamp: Mapping | None = None) -> bool:
    """Add the columns of ``table`` (raw strings of ``source``, all its rows) to its cache store.

    ``stamp``: the source's :func:`source_stamp` taken *before* it was read (a file changed while
    being read is then not cached under its new stamp). Columns already stored are skipped.
    Returns False, silently, when the cache cannot be written (read-only folder, full disk...).
    """
    try:
        stamp = dict(stamp) if stamp is not None else source_stamp(source)
        if source_stamp(source) != stamp:
            return False  # the source changed while it was read
        lookup(source, columns)  # removes a store of an older version of the file
        folder = entry_dir(source)
        folder.mkdir(parents=True, exist_ok=True)
        with locked(folder):
            try:
                manifest = read_manifest(folder)
                if not _matches(manifest, stamp, columns) or manifest["n_rows"] != table.num_rows:
                    for p in folder.iterdir():
                        if p.name != _LOCK:
                            if p.is_dir():
                                shutil.rmtree(p, ignore_errors=True)
                            else:
                                p.unlink()
                    raise ValueError("stale")
            except ValueError:
                manifest = new_manifest(stamp, columns, table.num_rows)
            tidy(folder, manifest)
            have = {c for cols in manifest["parts"].values() for c in cols}
            new = [c for c in table.column_names if c not in have]
            if not new:
                return True
            parts = dict(manifest["parts"])
            for i in range(0, len(new), PART_COLUMNS):  # parts of at most PART_COLUMNS columns
                group = new[i:i + PART_COLUMNS]
                parts[write_part(folder, table.select(group))] = group
            write_manifest(folder, {**manifest, "parts": parts})
        prune()
        return True
    except (OSError, pa.ArrowException, ValueError):
        return False
