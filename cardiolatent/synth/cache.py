"""What cardiolatent keeps in its cache folder, and removing it (``cardiolatent cache [--clear]``).

The cache folder (:func:`cardiolatent.io_utils.cache_root`: ``$CARDIOLATENT_HOME``, else
``$XDG_CACHE_HOME/cardiolatent``, else ``~/.cache/cardiolatent``) holds:

- built-in synthetic cohorts, ``synth_n{N}_seed{seed}/`` (:mod:`cardiolatent.synth.default`),
  recognised by their ``cohort.json`` (or ``.building.json`` while half-built) written by
  ``cardiolatent synth``; inside each, the demo latents ``latents_demo_<weights hash>.parquet``
  (and their ``.qc.tsv`` / resumable parts) and the built-in results ``results_latents_demo_<hash>/``;
- ``main/``: one main-data column store per main-data file read (:mod:`cardiolatent.ukb.cache`),
  recognised by its ``manifest.json``.

Anything else there is a user's and is listed as such and never removed. Clearing removes only the
parts a cohort folder is made of (a file a user put into one is kept, and so is the folder) and the
column stores; it follows no symbolic link.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import cache_root
from cardiolatent.synth.build import BUILDING, MAIN_NAME, TABLES_VERSION
from cardiolatent.synth.default import DEFAULT_SEED, builtin_n
from cardiolatent.ukb.cache import FORMAT, MANIFEST

__all__ = ["CacheEntry", "cache_entries", "clear_cache", "folder_bytes", "human_bytes"]

#: what a cohort folder is made of (names or glob patterns); nothing else in it is removed
COHORT_PARTS = ("cohort.json", BUILDING, *MAIN_NAME.values(), "bulk", "genotypes", "truth", "nifti", "h5",
                "latents_demo_*", "results_latents_demo_*", ".*cltmp*", ".results_latents_demo_*.lock",
                ".latents_demo_*.lock")
#: lock files cardiolatent keeps in the cache folder itself (io_utils.wait_lock): not listed, removed by --clear
ROOT_LOCKS = (".builtin.lock",)


@dataclass
class CacheEntry:
    """One thing in the cache folder: ``kind`` is ``cohort``, ``latents``, ``results``,
    ``main_store`` or ``other`` (not cardiolatent's); ``what`` says what made it."""

    path: Path
    kind: str
    bytes: int
    what: str
    children: list["CacheEntry"] = field(default_factory=list)

    @property
    def ours(self) -> bool:
        return self.kind != "other"


def folder_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links not followed, not counted)."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                try:
                    total += p.stat().st_size
                except OSError:
                    pass
    return total


def human_bytes(n: int) -> str:
    """``1.2 GB``, ``35 MB``, ``4 kB``, ``12 B`` (powers of 1000)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if n < 10 * size else f"{n / size:.0f} {unit}"
    return f"{n} B"


def _json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _cohort_info(folder: Path) -> tuple[dict | None, bool]:
    """(cohort.json or .building.json written by ``cardiolatent synth``, finished?)."""
    if folder.is_symlink() or not folder.is_dir():
        return None, False
    for name, finished in (("cohort.json", True), (BUILDING, False)):
        info = _json(folder / name)
        if info is not None and info.get("generator") == "cardiolatent synth":
            return info, finished and not (folder / BUILDING).exists()
    return None, False


def _describe_cohort(info: dict, finished: bool) -> str:
    n, seed = info.get("n"), info.get("seed")
    maker = "cardiolatent synth" + (f" {info['version']}" if info.get("version") else "")
    head = f"synthetic cohort ({maker})"
    parts = [f"{n:,} participants" if isinstance(n, int) else "participants ?", f"seed {seed}"]
    if not finished:
        return f"{head}, half-built: {', '.join(parts)}"
    if info.get("images"):
        parts.append("bulk zips, " + ("4-chamber series only" if info.get("series") == "4ch" else "three series"))
    else:
        parts.append("tables only")
    scale = info.get("incidence_scale", 1.0)
    if scale != 1.0:
        parts.append(f"incidence x{scale:g}")
    r2 = info.get("variant_r2")
    if r2 is not None:
        parts.append(f"planted variants r2 {r2:g}")
    h2 = info.get("polygenic_h2") or {}
    if isinstance(h2, dict) and any(float(v or 0) > 0 for v in h2.values()):
        vals = sorted({float(v) for v in h2.values()})
        parts.append("polygenic background h2 " + "/".join(f"{v:g}" for v in vals))
    target_of = info.get("target_of")
    if isinstance(target_of, dict):
        head = (f"polygenic-score target cohort of the {target_of.get('n', '?'):,}-participant cohort seed "
                f"{target_of.get('seed')} ({maker})") if isinstance(target_of.get("n"), int) else head
    version = info.get("tables_version", 1)
    parts.append(f"tables v{version}" + ("" if version >= TABLES_VERSION else " (made by an older cardiolatent)"))
    return f"{head}: {', '.join(parts)}"


def _cohort_children(folder: Path) -> list[CacheEntry]:
    """The demo latents and built-in results inside a cohort folder."""
    out = []
    stems = sorted({p.name.split(".")[0] for p in folder.glob("latents_demo_*")})
    for stem in stems:
        files = sorted(folder.glob(stem + "*"))
        out.append(CacheEntry(folder / f"{stem}.parquet", "latents", sum(folder_bytes(f) for f in files),
                              f"demo latents: the bulk zips encoded by the five demo models (weights {stem[13:]})"
                              + ("" if (folder / f"{stem}.parquet").exists() else ", unfinished")))
    for res in sorted(folder.glob("results_latents_demo_*")):
        if res.is_dir() and not res.is_symlink():
            made = sorted(p.name for p in res.iterdir() if not p.name.startswith("."))
            out.append(CacheEntry(res, "results", folder_bytes(res),
                                  f"built-in results (cardiolatent figures / the commands' defaults): "
                                  f"{len(made)} files and folders"))
    return out


def _main_stores(folder: Path) -> tuple[list[Path], list[Path]]:
    """(column stores, other things) in a ``main/`` folder."""
    stores, other = [], []
    for p in sorted(folder.iterdir()):
        info = _json(p / MANIFEST) if p.is_dir() and not p.is_symlink() else None
        (stores if info is not None and info.get("format") == FORMAT else other).append(p)
    return stores, other


def cache_entries(root: str | os.PathLike | None = None) -> list[CacheEntry]:
    """Everything in the cache folder ``root`` (default :func:`cache_root`), sorted by name."""
    root = Path(root) if root is not None else cache_root()
    if not root.is_dir():
        return []
    entries = []
    try:
        current = f"synth_n{builtin_n()}_seed{DEFAULT_SEED}"
    except CardiolatentError:
        current = None
    for p in sorted(root.iterdir()):
        if p.name in ROOT_LOCKS and p.is_file():
            continue
        size = folder_bytes(p)
        info, finished = _cohort_info(p)
        if info is not None:
            what = _describe_cohort(info, finished)
            if p.name == current:
                what = "the built-in " + what[len("synthetic "):]
            elif current and p.name.startswith(current + "_target_"):
                what = "the built-in " + what
            entries.append(CacheEntry(p, "cohort", size, what, _cohort_children(p)))
            continue
        if p.name == "main" and p.is_dir() and not p.is_symlink():
            stores, other = _main_stores(p)
            if stores:
                entries.append(CacheEntry(p, "main_store", sum(folder_bytes(s) for s in stores),
                                          f"main-data column stores (cardiolatent's read cache): "
                                          f"{len(stores)} main-data file(s) read"))
            for o in other:
                entries.append(CacheEntry(o, "other", folder_bytes(o), "not made by cardiolatent (kept)"))
            continue
        entries.append(CacheEntry(p, "other", size, "not made by cardiolatent (kept)"))
    return entries


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _cohort_parts(folder: Path) -> list[Path]:
    parts: dict[Path, None] = {}
    for pattern in COHORT_PARTS:
        for p in sorted(folder.glob(pattern)):
            parts[p] = None
    return list(parts)


def clear_cache(root: str | os.PathLike | None = None) -> list[tuple[Path, int]]:
    """Remove what cardiolatent made in the cache folder; return ``(path, bytes freed)`` per
    cohort folder / column-store folder cleared. A user's files are never touched (a cohort or
    ``main/`` folder holding some is kept with them); empty folders left behind are removed."""
    root = Path(root) if root is not None else cache_root()
    removed = []
    for entry in cache_entries(root):
        if entry.kind == "cohort":
            before = folder_bytes(entry.path)
            for part in _cohort_parts(entry.path):
                _remove(part)
            _rmdir_if_empty(entry.path)
            removed.append((entry.path, before - (folder_bytes(entry.path) if entry.path.exists() else 0)))
        elif entry.kind == "main_store":
            stores, _ = _main_stores(entry.path)
            freed = 0
            for s in stores:
                freed += folder_bytes(s)
                _remove(s)
            _rmdir_if_empty(entry.path)
            removed.append((entry.path, freed))
    for name in ROOT_LOCKS:
        lock = root / name
        if lock.is_file() and not lock.is_symlink():
            lock.unlink()
    _rmdir_if_empty(root)
    return removed


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
