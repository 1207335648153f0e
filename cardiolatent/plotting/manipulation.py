"""Latent manipulation figures: the decoded grid (magnitudes x cardiac phases) and the side-by-side cine.

Both take a :class:`cardiolatent.interpret.manipulate.Manipulation` (one participant moved along one
direction) and never recompute anything but display choices.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageDraw

from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import atomic_path
from cardiolatent.plotting.style import DOUBLE_COLUMN_MM, MM, style
from cardiolatent.ukb.registry import FieldRegistry


def phase_frames(manipulation) -> tuple[int, int]:
    """(end-diastolic, end-systolic) frame indices shown in the grid.

    End-diastole is frame 0 (UK Biobank cines start at the R wave). End-systole is the frame of the
    ``m = 0`` decoding (else the input) with the fewest bright blood-pool pixels (above the midpoint
    of the frame-0 intensity range), the smallest blood volume in this view.
    """
    zero = np.flatnonzero(np.asarray(manipulation.magnitudes) == 0)
    cine = manipulation.decoded[zero[0]] if len(zero) else manipulation.input
    cine = np.asarray(cine, dtype=np.float64)
    if cine.shape[0] < 2:
        return 0, 0
    thr = 0.5 * (cine[0].min() + cine[0].max())
    bright = (cine > thr).reshape(cine.shape[0], -1).sum(1)
    return 0, int(np.argmin(bright))


#: percentile of |difference| that ends the grid's difference colour scale
DIFF_PERCENTILE = 99.5


def _signed(m: float) -> str:
    """A magnitude with its sign (``+0.5``, ``-1``), zero without one."""
    return "0" if m == 0 else f"{m:+g}"


def difference_limit(diff, percentile: float = DIFF_PERCENTILE) -> float:
    """The end of the symmetric difference colour scale: the ``percentile`` percentile of |diff| over
    the pixels that changed at all (a row equal to the reference adds nothing), else a tiny
    positive number (nothing changed)."""
    a = np.abs(np.asarray(diff, dtype=np.float64)).ravel()
    a = a[a > 0]
    if not len(a):
        return 1e-6
    return float(np.percentile(a, percentile)) or 1e-6


def manipulation_grid(manipulation, *, title: str | None = None, label: str = "m", frames=None,
                      width_mm: float = DOUBLE_COLUMN_MM * 0.6, diff_percentile: float = DIFF_PERCENTILE):
    """The decoded heart at each magnitude (rows) and phase (columns); returns the figure.

    Columns: end-diastolic frame, end-systolic frame (:func:`phase_frames`, or ``frames=(ed, es)``),
    and each one's difference from the ``m = 0`` decoding on a diverging scale symmetric about 0
    (shared by all rows; without ``m = 0`` the difference is from the first row). Images are shown in
    the model's intensity range [-1, 1]. ``label`` names the magnitude in the row titles.

    The difference scale is +-(the ``diff_percentile`` percentile of |difference| over the shown
    frames and rows), so a few large changes at the body's edge do not wash out the heart's;
    differences beyond it are drawn at the end colours (the colour bar's arrows), see
    :func:`difference_limit`.
    """
    dec = np.asarray(manipulation.decoded, dtype=np.float32)
    mags = np.asarray(manipulation.magnitudes, dtype=np.float64)
    ed, es = frames if frames is not None else phase_frames(manipulation)
    zero = np.flatnonzero(mags == 0)
    ref = dec[zero[0]] if len(zero) else dec[0]
    diff = dec - ref[None]
    lim = difference_limit(diff[:, [ed, es]], diff_percentile)
    n = len(mags)
    h, w = dec.shape[-2:]
    cell = width_mm / 4
    with style():
        fig = plt.figure(figsize=(width_mm * MM, (cell * h / w * n + 10) * MM))
        gs = fig.add_gridspec(n, 5, width_ratios=[1, 1, 1, 1, 0.07], wspace=0.05, hspace=0.06)
        axes = np.array([[fig.add_subplot(gs[i, j]) for j in range(4)] for i in range(n)])
        cax = fig.add_subplot(gs[:, 4])
        for i in range(n):
            panels = [(dec[i, ed], "gray", -1, 1), (dec[i, es], "gray", -1, 1),
                      (diff[i, ed], "RdBu_r", -lim, lim), (diff[i, es], "RdBu_r", -lim, lim)]
            for j, (img, cmap, lo, hi) in enumerate(panels):
                ax = axes[i, j]
                im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                for sp in ax.spines.values():
                    sp.set_visible(False)
                if j == 2:
                    diff_im = im
            axes[i, 0].set_ylabel(f"{label} = {_signed(mags[i])}", rotation=0, ha="right", va="center")
        for j, name in enumerate([f"end-diastole\n(frame {ed})", f"end-systole\n(frame {es})",
                                  "ED minus\nm = 0", "ES minus\nm = 0"]):
            axes[0, j].set_title(name, fontsize=6.5)
        cb = fig.colorbar(diff_im, cax=cax, extend="both")
        cb.set_label("difference (model intensity units)")
        cb.ax.tick_params(labelsize=6)
        if title:
            fig.suptitle(title)
    return fig


def direction_label(name: str) -> str:
    """A direction's name for a title: a registry trait by its description (``"LV end diastolic volume
    (lvedv)"``), anything else (a latent such as ``S1701_Z3``) as it is."""
    try:
        info = FieldRegistry.default().get(name)
    except (CardiolatentError, KeyError, ValueError):
        info = None
    if info is None or not info.description:
        return name
    return f"{info.description.split(',')[0].split(' (')[0].strip()} ({name})"


def result_grid(result, participant=None, **kwargs):
    """The grid (:func:`manipulation_grid`) of one participant-visit of a
    :class:`~cardiolatent.interpret.result.ManipulationResult` (``participant``: (eid, instance), an
    eid, or None for the first); what ``result.plot()`` draws."""
    (eid, inst), man = result.participant(participant)
    kwargs.setdefault("title", f"{direction_label(result.summary.name)}, participant {eid} (visit {inst})")
    return manipulation_grid(man, **kwargs)


def manipulation_figures(result) -> dict:
    """Every figure of a :class:`~cardiolatent.interpret.result.ManipulationResult`: the grid of each
    participant-visit, keyed ``grid.EID_INSTANCE``."""
    return {f"grid.{eid}_{inst}": result_grid(result, (eid, inst)) for eid, inst in result.manipulations}


def write_cine_gif(manipulation, path: str | os.PathLike, *, scale: int = 4, fps: float = 10.0,
                   label: str = "m") -> Path:
    """All magnitudes side by side as one looping GIF (the cine playing), each panel labelled
    ``m = ...``; pixels enlarged ``scale`` times (nearest neighbour). Written atomically."""
    dec = np.asarray(manipulation.decoded, dtype=np.float32)
    mags = np.asarray(manipulation.magnitudes, dtype=np.float64)
    n, t, h, w = dec.shape
    gap, band = 2 * scale, 12
    img8 = np.clip((dec + 1.0) * 127.5, 0, 255).astype(np.uint8)
    frames = []
    for k in range(t):
        canvas = Image.new("L", (n * w * scale + (n - 1) * gap, h * scale + band), color=0)
        draw = ImageDraw.Draw(canvas)
        for i in range(n):
            x0 = i * (w * scale + gap)
            tile = Image.fromarray(img8[i, k]).resize((w * scale, h * scale), Image.NEAREST)
            canvas.paste(tile, (x0, band))
            draw.text((x0 + 2, 0), f"{label}={_signed(mags[i])}", fill=255)
        frames.append(canvas)
    path = Path(path)
    with atomic_path(path, suffix=".gif") as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                       duration=int(round(1000 / fps)), optimize=False)
    return path


__all__ = ["DIFF_PERCENTILE", "difference_limit", "manipulation_figures", "manipulation_grid", "phase_frames", "result_grid", "write_cine_gif"]
