"""Small I/O helpers shared by every reader and writer: one table reader, atomic writes.

:func:`read_table` is the one place a table file is read by its extension (``.parquet``;
``.csv``/``.csv.gz``; anything else tab-separated: ``.tsv``, ``.tsv.gz``, ``.txt``), with one
clear error naming the file. The writers replace their target atomically: a killed run leaves the
previous file whole. :func:`atomic_dir` does the same for a whole output folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from cardiolatent.errors import CardiolatentError

#: table file extensions, longest first (the part of a name that :func:`table_stem` strips)
TABLE_SUFFIXES = (".tsv.gz", ".csv.gz", ".txt.gz", ".parquet", ".tsv", ".csv", ".txt")


def natural_key(text) -> list:
    """Sort key that orders the numbers inside names by value: ``Z2`` before ``Z10``, ``S42_Z3`` before
    ``S1701_Z0``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (read in 1 MB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_root() -> Path:
    """The folder cardiolatent keeps caches in: ``$CARDIOLATENT_HOME``, else
    ``$XDG_CACHE_HOME/cardiolatent``, else ``~/.cache/cardiolatent`` (not created here)."""
    home = os.environ.get("CARDIOLATENT_HOME")
    if home:
        return Path(home)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cardiolatent"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


#: marks cardiolatent's temporaries: ``.<name>.cltmp<pid>.<random><suffix>`` beside their target
_TMP_TAG = "cltmp"


def temp_prefix(path: Path) -> str:
    """Prefix of this process's temporaries for ``path`` (the pid tells a live run from a killed one)."""
    return f".{path.name}.{_TMP_TAG}{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` that a killed run left (their process is gone); returns them.

    A temporary of a run still going (another process writing the same output) is left alone.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pat = re.compile(rf"^\.{re.escape(path.name)}\.{_TMP_TAG}(\d+)\.")
    gone = []
    for p in path.parent.glob(f".{glob.escape(path.name)}.{_TMP_TAG}*"):
        m = pat.match(p.name)
        if m is None or _alive(int(m.group(1))):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        gone.append(p)
    return gone


def check_table_output(path: str | os.PathLike, what: str = "output table") -> None:
    """A table output needs a table extension and must not be a folder, nor lie under a file."""
    if table_suffix(path) is None:
        raise CardiolatentError(f"{what} {path} needs a table extension (.tsv, .csv, .parquet, optionally .gz)")
    check_output_file(Path(path))


def check_output_file(path: Path) -> None:
    """An output file's path must not be an existing folder, nor lie under a file."""
    if path.is_dir():
        raise CardiolatentError(f"output {path} is an existing folder; give a file name (e.g. {path / 'out.tsv'})")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CardiolatentError(f"output {path}: {parent} is a file, not a folder")
            break


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file lives in the same folder so the final ``os.replace`` is atomic; temporaries
    a killed earlier run left beside ``path`` are removed first.
    """
    path = Path(path)
    check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):  # mkstemp makes 0600 files; give the usual umask permissions
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write text with LF line endings atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)


def write_table_atomic(df, path: str | os.PathLike, **kwargs) -> None:
    """Write a DataFrame as parquet (``.parquet``), TSV (``.tsv``/``.txt``) or CSV (``.csv``), atomically."""
    path = Path(path)
    name = path.name.lower()
    with atomic_path(path) as tmp:
        if name.endswith(".parquet"):
            df.to_parquet(tmp, **kwargs)
        elif name.endswith(".csv") or name.endswith(".csv.gz"):
            df.to_csv(tmp, lineterminator="\n", **kwargs)
        else:
            df.to_csv(tmp, sep="\t", lineterminator="\n", **kwargs)


def table_suffix(path: str | os.PathLike) -> str | None:
    """The table extension of ``path`` (one of :data:`TABLE_SUFFIXES`, lower case), or None."""
    name = Path(path).name.lower()
    return next((s for s in TABLE_SUFFIXES if name.endswith(s)), None)


def table_stem(path: str | os.PathLike) -> str:
    """The file name without its table extension: ``run.height.tsv`` -> ``run.height``."""
    name = Path(path).name
    suf = table_suffix(path)
    return name[: -len(suf)] if suf else name


def read_table(path: str | os.PathLike, *, what: str = "table", **kwargs):
    """Read a table by extension: parquet, CSV (``.csv[.gz]``), else tab-separated.

    ``what`` names the table in errors ("latents table", "imaging QC table", ...); ``kwargs`` go to
    :func:`pandas.read_csv` (ignored for parquet). A missing, empty or unreadable file raises
    :class:`~cardiolatent.errors.CardiolatentError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise CardiolatentError(f"{what} not found: {path}")
    if path.is_dir():
        raise CardiolatentError(f"{what} {path} is a folder, not a file")
    suf = table_suffix(path) or ""
    try:
        if suf == ".parquet":
            return pd.read_parquet(path)
        sep = "," if suf.startswith(".csv") else "\t"
        return pd.read_csv(path, sep=sep, **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise CardiolatentError(f"{what} {path} is empty") from exc
    except Exception as exc:  # pyarrow / parser / decoding errors: say which file
        raise CardiolatentError(f"cannot read {what} {path}: {exc}") from exc


def is_cardiolatent_output(folder: Path, marker: str = "summary.json") -> bool:
    """True if ``folder`` holds a ``marker`` file written by cardiolatent (safe to replace)."""
    m = folder / marker
    if not m.is_file():
        return False
    try:
        rec = json.loads(m.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(rec, dict) and ("cardiolatent_version" in rec
                                      or "cardiolatent" in (rec.get("versions") or {}))


def check_output_folder(path: str | os.PathLike, marker: str = "summary.json") -> None:
    """An output folder may be new, empty or an earlier cardiolatent output (it holds ``marker``
    written by cardiolatent); anything else is refused, so a mistyped ``out`` never replaces a
    user's folder. Called before any work, and again by :func:`atomic_dir`."""
    path = Path(path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CardiolatentError(f"output folder {path}: {parent} is a file, not a folder")
            break
    if path.exists():
        if not path.is_dir():
            raise CardiolatentError(f"output folder {path} exists and is a file")
        if any(path.iterdir()) and not is_cardiolatent_output(path, marker):
            raise CardiolatentError(f"output folder {path} exists and is not an earlier cardiolatent output "
                                    f"(no {marker}); choose a new or empty folder")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, marker: str = "summary.json"):
    """Yield a new temporary folder beside ``path``; swap it in for ``path`` if the block succeeds.

    The whole output folder is replaced as a unit: a run killed while writing leaves the previous
    folder whole, and a re-run leaves no stale file of an earlier run. An existing ``path`` is
    replaced only when it is empty or an earlier cardiolatent output (it holds ``marker`` written by
    cardiolatent); anything else is refused, so a mistyped ``out`` never deletes a user's folder.
    """
    path = Path(path)
    check_output_folder(path, marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".old", dir=path.parent))
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


#: descriptors of the output locks this process holds (see forget_inherited_locks)
_HELD_LOCK_FDS: set[int] = set()


@contextlib.contextmanager
def _lock_file(lock: Path):
    """An open descriptor of the lock file ``lock`` (created with its folder), registered in
    :data:`_HELD_LOCK_FDS` for the block so that forked workers drop it, closed afterwards."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    _HELD_LOCK_FDS.add(fd)
    try:
        yield fd
    finally:
        _HELD_LOCK_FDS.discard(fd)
        os.close(fd)


@contextlib.contextmanager
def output_lock(path: str | os.PathLike):
    """Hold an exclusive lock on output ``path`` for the block (a ``.<name>.lock`` file beside it).

    A second run writing the same output at the same time is refused with one line instead of the
    two runs mixing their parts. The lock is released when the block ends or the process dies.
    """
    path = Path(path)
    lock = path.parent / f".{path.name}.lock"
    with _lock_file(lock) as fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CardiolatentError(f"another run is writing {path} right now; wait for it to finish or choose "
                                    "another output") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                lock.unlink()


@contextlib.contextmanager
def wait_lock(path: str | os.PathLike, message: str | None = None):
    """Hold an exclusive lock on the lock file ``path`` for the block, waiting while another process
    holds it (``message``, when given, is printed to stderr once before waiting).

    For work that two processes may both start and only one should do, such as building the
    built-in cohort: the second waits, then finds the work done. The lock file is kept (removing it
    would let a third process lock a new file while the second holds the old one).
    """
    with _lock_file(Path(path)) as fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if message:
                print(message, file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def forget_inherited_locks() -> None:
    """In a process forked while :func:`output_lock` was held: close the inherited lock descriptors.

    An flock belongs to the open file, which a fork shares; closing the child's copy leaves the
    parent's lock in place but lets it end with the parent, not with the last of its children (so
    a run started right after a killed one is not refused while a worker is still exiting)."""
    for fd in list(_HELD_LOCK_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCK_FDS.clear()
