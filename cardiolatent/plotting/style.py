"""Publication style in one place: palette, journal widths, fonts, and how every figure is written.

- Colours: the Okabe-Ito palette (Okabe & Ito 2008, colour-blind safe), :data:`OKABE_ITO`.
- Widths: one journal column 89 mm, two columns 183 mm (:data:`SINGLE_COLUMN_MM`, :data:`DOUBLE_COLUMN_MM`).
- Fonts 7 pt (titles 8 pt), TrueType fonts embedded in PDF (``pdf.fonttype 42``), thin lines.
- :func:`save_figure` writes ``STEM.png`` (300 dpi) and ``STEM.pdf`` (vector, rasterised layers where
  an artist asks for it) side by side, each replaced atomically.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import matplotlib

if "IPython" not in sys.modules:  # no display needed (servers, CI); a notebook keeps its inline backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cardiolatent.io_utils import atomic_path  # noqa: E402

#: Okabe-Ito colours by name (black first, as in the original table)
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
#: the palette's order for categorical series (black last: it reads as "reference")
CYCLE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue",
                                "yellow", "black")]
GREY = "#9E9E9E"
SINGLE_COLUMN_MM = 89.0
DOUBLE_COLUMN_MM = 183.0
MM = 1 / 25.4  # inches per millimetre
DPI = 300

RC = {
    "font.size": 7, "axes.titlesize": 8, "axes.labelsize": 7, "xtick.labelsize": 6.5, "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5, "figure.titlesize": 8, "axes.linewidth": 0.6, "lines.linewidth": 1.0,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5,
    "axes.spines.top": False, "axes.spines.right": False, "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "savefig.dpi": DPI,
    "savefig.bbox": "tight", "savefig.pad_inches": 0.02, "figure.dpi": 100, "image.interpolation": "nearest",
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
}


@contextlib.contextmanager
def style():
    """Matplotlib settings of every cardiolatent figure, for the ``with`` block."""
    with matplotlib.rc_context(RC):
        yield


def figure(width_mm: float = SINGLE_COLUMN_MM, height_mm: float | None = None, **kwargs):
    """A new figure of ``width_mm`` x ``height_mm`` (default: 0.75 of the width) in the house style."""
    h = height_mm if height_mm is not None else 0.75 * width_mm
    with style():
        return plt.figure(figsize=(width_mm * MM, h * MM), **kwargs)


def save_figure(fig, stem: str | os.PathLike, formats=("png", "pdf"), *, close: bool = False) -> dict[str, Path]:
    """Write ``fig`` as ``STEM.png`` (300 dpi) and ``STEM.pdf`` (fonts embedded); returns format -> path.

    ``stem`` may carry a ``.png`` / ``.pdf`` suffix, which is dropped. Each file is written to a
    temporary sibling and renamed into place, so a killed run leaves the previous figure whole.
    ``close``: close the figure afterwards (batch jobs drawing many figures).
    """
    stem = Path(stem)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    with style():
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            with atomic_path(path, suffix=f".{fmt}") as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI)
            out[fmt] = path
    if close:
        plt.close(fig)
    return out


__all__ = ["CYCLE", "DOUBLE_COLUMN_MM", "DPI", "GREY", "MM", "OKABE_ITO", "RC", "SINGLE_COLUMN_MM", "figure",
           "save_figure", "style"]
