"""Every figure a results folder can give: find the saved results, draw each family's figures, save.

What ``cardiolatent figures`` runs. A *source* is anything :meth:`cardiolatent.results.Result.load`
reads: a file result's table (``X.tsv`` beside ``X.summary.json``) or a folder result (a folder with
``summary.json``). :func:`find_results` walks a folder for them (or reads a TOML file naming them);
:func:`draw_figures` draws, for each, the figures its family gives (:data:`FAMILY_FIGURES`, by result
class) and writes ``OUT/<label>.<figure>.png`` and ``.pdf``, with ``OUT/figures.tsv`` (what was drawn
from what) and ``OUT/skipped.tsv`` (each source or figure not drawn, with the reason). The output
folder is replaced as a unit.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import atomic_dir, check_output_folder, table_stem, table_suffix
from cardiolatent.plotting.genetics import heritability_figures
from cardiolatent.plotting.gwas import gwas_figures
from cardiolatent.plotting.manipulation import manipulation_figures
from cardiolatent.plotting.prs import prs_figures
from cardiolatent.plotting.reproducibility import reproducibility_figures
from cardiolatent.plotting.survival import survival_figures
from cardiolatent.plotting.volcano import volcano_figures
from cardiolatent.plotting.style import save_figure
from cardiolatent.results import Result

#: figures of each result class (by class name): result -> {figure name: Figure}
FAMILY_FIGURES = {
    "ManipulationResult": manipulation_figures,
    "CrossSeedResult": reproducibility_figures,
    "ReproducibilityResult": reproducibility_figures,
    "CoxResult": survival_figures,
    "AssocResult": volcano_figures,
    "GwasSummary": gwas_figures,
    "HeritabilityResult": heritability_figures,
    "PrsResult": prs_figures,
}
#: results that have no figure, and why (listed as skipped, not as errors)
NO_FIGURE = {
    "ExportResult": "an export holds files for the GWAS tools, not results to draw",
}
#: the marker that makes a figures folder an earlier cardiolatent output (replaceable)
MARKER = "figures.json"


@dataclass
class FigureRun:
    """What :func:`draw_figures` did: ``drawn`` (label, figure, source, result, png, pdf) and
    ``skipped`` (source, figure, reason)."""

    drawn: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["label", "figure", "source", "result", "png", "pdf"]))
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "figure", "reason"]))

    def summary_lines(self) -> list[str]:
        lines = [f"{len(self.drawn)} figure(s) drawn from {self.drawn['source'].nunique() if len(self.drawn) else 0} "
                 f"result(s)"]
        lines += [f"  skipped {r.source}{' ' + r.figure if r.figure else ''}: {r.reason}"
                  for r in self.skipped.itertuples()]
        return lines


def _summary_record(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and str(rec.get("result", "")).startswith("cardiolatent.") else None


def _file_result_table(summary: Path, rec: dict) -> Path | None:
    stem = summary.name[: -len(".summary.json")]
    for f in rec.get("files", []):
        if f != summary.name and table_suffix(f) and table_stem(f) == stem and not f.endswith(".excluded.tsv"):
            return summary.with_name(f)
    return None


def find_results(root: str | os.PathLike) -> list[Path]:
    """The saved results under ``root`` (a folder, searched recursively; a result file or folder; or a
    TOML file whose values, at any depth, are paths relative to it), sorted by path.

    A folder result's own subfolders (e.g. a manipulation's participants) are not searched.
    """
    root = Path(root)
    if not root.exists():
        raise CardiolatentError(f"--results {root} does not exist")
    if root.is_file() and root.suffix.lower() == ".toml":
        return _from_config(root)
    if root.is_file():
        return [root]
    if (root / "summary.json").exists() and _summary_record(root / "summary.json"):
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames.sort()
        keep = []
        for d in dirnames:
            sub = here / d
            if d.startswith(".") or d.endswith((".tmp", ".old")):
                continue
            if (sub / "summary.json").exists() and _summary_record(sub / "summary.json"):
                found.append(sub)
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if f.endswith(".summary.json"):
                rec = _summary_record(here / f)
                table = _file_result_table(here / f, rec) if rec else None
                if table is not None:
                    found.append(table)
    return sorted(found)


def _from_config(path: Path) -> list[Path]:
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CardiolatentError(f"{path}: not a readable TOML file: {exc}") from exc
    values: list[str] = []

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            values.append(v)

    walk(cfg)
    if not values:
        raise CardiolatentError(f"{path}: names no result file (give paths as values, e.g. assoc = \"idps.tsv\")")
    out = []
    for v in values:
        p = Path(v).expanduser()
        p = p if p.is_absolute() else path.parent / p
        if not p.exists():
            raise CardiolatentError(f"{path}: result {v!r} not found ({p})")
        out.append(p)
    return out


def _label(source: Path, root: Path | None) -> str:
    """A file-name-safe label of ``source``: its path under ``root`` without the table extension."""
    base = Path(source.name)
    if root is not None and root.is_dir() and source != root:
        try:
            base = source.relative_to(root)
        except ValueError:
            pass
    text = str(base.with_name(table_stem(base)) if table_suffix(base) else base)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "result"


def _shown(source: Path, root: Path | None) -> str:
    """``source`` as listed in skipped.tsv: relative to ``root`` when under it."""
    if root is not None and root.is_dir() and source != root:
        try:
            return str(source.relative_to(root))
        except ValueError:
            pass
    return str(source)


def draw_figures(sources, out: str | os.PathLike, *, root: str | os.PathLike | None = None,
                 options: dict | None = None, progress: bool = True) -> FigureRun:
    """Draw every figure of each source result into the folder ``out`` (replaced as a unit).

    ``sources``: paths of saved results (:func:`find_results`) or result objects; ``root``: the folder
    the labels are relative to; ``options``: keyword arguments of a family by result class name (e.g.
    ``{"GwasSummary": {"per_latent": ["S1701_Z3"], "genes": "genes.bed"}}``). A source that is not a
    result, or a figure that cannot be drawn from it, is listed in ``skipped`` with the reason;
    nothing else stops the run.
    """
    options = options or {}
    out = Path(out)
    check_output_folder(out, MARKER)
    run = FigureRun()
    drawn, skipped = [], []
    root = Path(root) if root is not None else None
    items = list(sources)
    with atomic_dir(out, marker=MARKER) as tmp:
        for src in tqdm(items, desc="figures", unit="result", disable=not progress):
            if isinstance(src, Result):
                res, label, where = src, type(src).__name__, type(src).__name__
            else:
                where = _shown(Path(src), root)
                label = _label(Path(src), root)
                try:
                    res = Result.load(src)
                except CardiolatentError as exc:
                    skipped.append((where, "", str(exc)))
                    continue
            kind = type(res).__name__
            if kind in NO_FIGURE:
                skipped.append((where, "", NO_FIGURE[kind]))
                continue
            family = FAMILY_FIGURES.get(kind)
            if family is None:
                skipped.append((where, "", f"{kind} has no figure yet"))
                continue
            try:
                figs = family(res, **options.get(kind, {}))
            except CardiolatentError as exc:
                skipped.append((where, "", str(exc)))
                continue
            for name, fig in figs.items():
                if isinstance(fig, str):  # a figure of the family this result cannot give, with the reason
                    skipped.append((where, name, fig))
                    continue
                save_figure(fig, tmp / f"{label}.{name}", close=True)
                drawn.append((label, name, where, kind, f"{label}.{name}.png", f"{label}.{name}.pdf"))
            plt.close("all")
        run.drawn = pd.DataFrame(drawn, columns=run.drawn.columns)
        run.skipped = pd.DataFrame(skipped, columns=run.skipped.columns)
        run.drawn.to_csv(tmp / "figures.tsv", sep="\t", index=False)
        run.skipped.to_csv(tmp / "skipped.tsv", sep="\t", index=False)
        (tmp / MARKER).write_text(json.dumps({
            "cardiolatent_version": __version__, "n_drawn": len(drawn), "n_skipped": len(skipped),
            "sources": [str(s) if not isinstance(s, Result) else type(s).__name__ for s in items]}, indent=2) + "\n",
            encoding="utf-8")
    return run


__all__ = ["FAMILY_FIGURES", "FigureRun", "MARKER", "NO_FIGURE", "draw_figures", "find_results"]
