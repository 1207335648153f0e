"""One result contract for every analysis: a table, its exclusions, a typed summary, and one way to save.

Every analysis function returns a :class:`Result` (lifelines' fitters share one surface in the same
way): ``.table`` (the tidy result, one row per latent x trait, latent x outcome, ...),
``.excluded`` (``eid, instance, reason``: who was left out and why), ``.summary`` (a typed
:class:`Summary`: counts, thresholds, notes), and

- ``.save(out)``: writes the result's files as a unit (below); returns their paths;
- ``Result.load(out)``: reads them back, as the same class;
- ``.print_summary()``: the human-readable lines a command prints;
- ``.plot()``: the figure of the result (filled by the plotting layer).

Where files go (one naming rule):

- ``layout = "file"``: ``out`` is the table's path (``.tsv``, ``.csv``, ``.parquet``, optionally
  ``.gz``); the files beside it share its stem (the name without the table extension):
  ``run.height.tsv`` -> ``run.height.summary.json``, ``run.height.excluded.tsv`` and extra tables
  ``run.height.<name>.tsv``. Two runs named ``run.height.tsv`` and ``run.af.tsv`` never share a file.
- ``layout = "folder"``: ``out`` is a folder holding ``summary.json``, ``excluded.tsv`` and the
  result's tables under fixed names.

Saving replaces a result's files as a unit: everything is written to temporary files (or a temporary
sibling folder) first and swapped in only when all are written, so a killed run leaves the previous
good output whole; files that an earlier save of the same output listed in its ``summary.json`` and
this one does not write are removed, so a re-run leaves no stale file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import atomic_dir, atomic_path, check_table_output, read_table, table_stem, table_suffix

EXCLUDED_COLUMNS = ["eid", "instance", "reason"]


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, paths and non-finite floats made JSON-ready (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return str(obj)


def empty_excluded() -> pd.DataFrame:
    return pd.DataFrame({"eid": pd.Series(dtype=np.int64), "instance": pd.Series(dtype=np.int64),
                         "reason": pd.Series(dtype=object)})


@dataclasses.dataclass
class Summary:
    """Base of the typed summaries: dataclass fields, JSON round trip, read access by key.

    Subclasses declare their fields (with units in comments); ``summary["n_rows"]`` and
    ``summary.n_rows`` are the same value.
    """

    def to_dict(self) -> dict:
        return jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @classmethod
    def from_dict(cls, d: dict) -> "Summary":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def __getitem__(self, key: str):
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __contains__(self, key: str) -> bool:
        return any(f.name == key for f in dataclasses.fields(self))

    def get(self, key: str, default=None):
        return getattr(self, key, default)

    def keys(self):
        return [f.name for f in dataclasses.fields(self)]


@dataclasses.dataclass
class Result:
    """Base of every analysis result (see the module docstring).

    Subclasses set ``kind`` (a short name), ``layout`` and, for folder results, ``table_name``;
    they override :meth:`extra_tables` / :meth:`_from_saved` when they carry more tables, and
    :meth:`summary_lines` for :meth:`print_summary`.
    """

    table: pd.DataFrame
    excluded: pd.DataFrame
    summary: Summary

    kind: ClassVar[str] = "result"
    layout: ClassVar[str] = "file"
    table_name: ClassVar[str] = "table.tsv"
    summary_type: ClassVar[type] = Summary

    # ------------------------------------------------------------------ hooks
    def extra_tables(self) -> dict[str, pd.DataFrame]:
        """Other tables saved with the result: file-name part -> table (e.g. ``"kaplan_meier.tsv"``)."""
        return {}

    def extra_texts(self) -> dict[str, str]:
        """Text files saved with the result (e.g. a tool's log): file-name part -> text."""
        return {}

    @classmethod
    def _from_saved(cls, table: pd.DataFrame, excluded: pd.DataFrame, summary: dict,
                    extras: dict[str, pd.DataFrame]) -> "Result":
        return cls(table=table, excluded=excluded, summary=cls.summary_type.from_dict(summary))

    def summary_lines(self) -> list[str]:
        """Lines for :meth:`print_summary` (subclasses say what matters)."""
        return [f"{self.kind}: {len(self.table):,} rows; {len(self.excluded):,} excluded rows"]

    # ------------------------------------------------------------------ surface
    def print_summary(self, file=None) -> None:
        """Print the summary lines (to stdout by default)."""
        for line in self.summary_lines():
            print(line, file=file or sys.stdout)

    def plot(self, *args, **kwargs):
        """The result's figure, drawn by the plotting layer (:func:`cardiolatent.plotting.plot_result`)."""
        return plotting_layer().plot_result(self, *args, **kwargs)

    def files(self, out: str | os.PathLike) -> dict[str, Path]:
        """Where :meth:`save` writes each part: ``table``, ``excluded``, ``summary`` and the extras."""
        out = Path(out)
        if self.layout == "folder":
            paths = {"table": out / self.table_name, "excluded": out / "excluded.tsv",
                     "summary": out / "summary.json"}
            paths.update({name: out / name for name in [*self.extra_tables(), *self.extra_texts()]})
            return paths
        check_table_output(out)
        stem = table_stem(out)
        paths = {"table": out, "excluded": out.with_name(f"{stem}.excluded.tsv"),
                 "summary": out.with_name(f"{stem}.summary.json")}
        paths.update({name: out.with_name(f"{stem}.{name}") for name in [*self.extra_tables(), *self.extra_texts()]})
        return paths

    def summary_record(self, paths: dict[str, Path]) -> dict:
        """What ``summary.json`` holds: the typed summary plus the result class and file list."""
        rec = {"cardiolatent_version": __version__,
               "result": f"{type(self).__module__}.{type(self).__qualname__}",
               "files": sorted(p.name for p in paths.values())}
        rec.update(self.summary.to_dict() if isinstance(self.summary, Summary) else jsonable(dict(self.summary)))
        return rec

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write the result's files as a unit (module docstring); returns ``part -> path``."""
        paths = self.files(out)
        tables = {"table": self.table, "excluded": self.excluded, **self.extra_tables()}
        texts = self.extra_texts()
        rec = self.summary_record(paths)
        if self.layout == "folder":
            with atomic_dir(out) as tmp:
                for part, df in tables.items():
                    _write(df, tmp / paths[part].name)
                for part, text in texts.items():
                    _write_text(text, tmp / paths[part].name)
                (tmp / "summary.json").write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
            return paths
        _save_files(paths, tables, rec, texts)
        return paths

    @classmethod
    def load(cls, out: str | os.PathLike) -> "Result":
        """Read a saved result back (as the class that saved it, when called on :class:`Result`)."""
        out = Path(out)
        summ_path = out / "summary.json" if out.is_dir() else out.with_name(f"{table_stem(out)}.summary.json")
        rec = read_record(summ_path, f"{out} is not a saved cardiolatent result (no {summ_path.name})")
        klass = _result_class(rec.get("result", ""), summ_path) if cls is Result else cls
        if klass is not cls and klass.load.__func__ is not Result.load.__func__:
            return klass.load(out)  # a result with its own files (e.g. an export's role map)
        names = {p: (out / n if out.is_dir() else out.with_name(n)) for p, n in
                 _parts_of(klass, rec, out).items()}
        table = read_table(names.pop("table"), what=f"{klass.kind} result table")
        excluded = read_table(names.pop("excluded"), what="exclusions table")
        summary = {k: v for k, v in rec.items() if k not in ("cardiolatent_version", "result", "files")}
        extras = {p: read_table(path, what=f"{klass.kind} table {p}") for p, path in names.items() if path.exists()}
        return klass._from_saved(table, excluded, summary, extras)


#: the plotting layer, reached by name: results sit below it (as lifelines' fitters reach
#: ``lifelines.plotting`` only when asked to draw)
PLOTTING_LAYER = "cardiolatent.plotting"


def plotting_layer():
    """The module :mod:`cardiolatent.plotting`, imported when a result is drawn or saves a figure."""
    return importlib.import_module(PLOTTING_LAYER)


def read_record(path: Path, missing: str) -> dict:
    """The JSON record of a saved result (``summary.json``); ``missing`` is the error when absent."""
    if not path.exists():
        raise CardiolatentError(missing)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CardiolatentError(f"{path} is not valid JSON: {exc}") from exc


def _parts_of(klass, rec: dict, out: Path) -> dict[str, str]:
    """File names of each part of a saved result, from its record."""
    files = list(rec.get("files", []))
    if klass.layout == "folder":
        parts = {"table": klass.table_name, "excluded": "excluded.tsv"}
        parts.update({f: f for f in files if f not in (klass.table_name, "excluded.tsv", "summary.json")})
        return parts
    stem = table_stem(out)
    parts = {"table": out.name, "excluded": f"{stem}.excluded.tsv"}
    for f in files:
        if f in (out.name, f"{stem}.excluded.tsv", f"{stem}.summary.json"):
            continue
        parts[f[len(stem) + 1:] if f.startswith(stem + ".") else f] = f
    return parts


def _result_class(name: str, where: Path):
    mod, _, cls = name.rpartition(".")
    if not mod.startswith("cardiolatent."):
        raise CardiolatentError(f"{where}: unknown result type {name!r}")
    try:
        return getattr(importlib.import_module(mod), cls)
    except (ImportError, AttributeError) as exc:
        raise CardiolatentError(f"{where}: unknown result type {name!r}") from exc


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` by the extension of ``path`` (parquet, csv, else TSV), no index (not atomic:
    for files inside a folder that is swapped in as a unit)."""
    _write(df, path)


def _write(df: pd.DataFrame, path: Path) -> None:
    suf = table_suffix(path) or ".tsv"
    if suf == ".parquet":
        df.to_parquet(path, index=False)
    elif suf.startswith(".csv"):
        df.to_csv(path, index=False, lineterminator="\n")
    else:
        df.to_csv(path, sep="\t", index=False, lineterminator="\n")


def _write_text(text: str, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def _save_files(paths: dict[str, Path], tables: dict[str, pd.DataFrame], rec: dict,
                texts: dict[str, str] | None = None) -> None:
    """Write every file (tables, then ``texts``) to a temporary sibling, then rename them all into place,
    summary last.

    Each file is an :func:`~cardiolatent.io_utils.atomic_path`; they are held open together so
    that none is renamed before all are written (the summary's was opened first: renamed last).
    """
    folder = paths["table"].parent
    previous = listed_files(paths["summary"])
    with contextlib.ExitStack() as stack:
        summary_tmp = stack.enter_context(atomic_path(paths["summary"]))
        temps = {part: stack.enter_context(atomic_path(paths[part], suffix=table_suffix(paths[part])
                                                       or paths[part].suffix))
                 for part in [*tables, *(texts or {})]}
        for part, df in tables.items():
            _write(df, temps[part])
        for part, text in (texts or {}).items():
            _write_text(text, temps[part])
        summary_tmp.write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
    written = {p.name for p in paths.values()}
    for name in previous - written:  # stale files of an earlier save of this output
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            (folder / name).unlink()


def listed_files(summary_path: Path) -> set[str]:
    """File names an earlier save listed in its summary (only plain names, never paths)."""
    try:
        rec = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(rec, dict) or "cardiolatent_version" not in rec:
        return set()
    return {f for f in rec.get("files", []) if isinstance(f, str) and "/" not in f and "\\" not in f
            and f not in ("", ".", "..")}


__all__ = ["Result", "Summary", "jsonable", "empty_excluded", "listed_files", "plotting_layer", "read_record"]
