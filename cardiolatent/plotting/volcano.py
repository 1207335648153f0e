"""Volcano plots of association scans (the paper's Fig. 2A diseases, Fig. 2B cardiac traits).

Drawn from an :class:`~cardiolatent.analysis.association.AssocResult` (or the ``X.tsv`` that
``cardiolatent assoc --out X.tsv`` saved): one point per latent x trait test with status ``ok`` and a
finite P; effect size on x, ``-log10 P`` on y. Nothing is recomputed: the effect is the table's
``beta``, P the table's ``p`` (or ``mlog10p`` when a table carries it), significance the table's
``significant_meff`` column, the thresholds the summary's.

- Significant (``P < alpha / (traits x M_eff)``, the summary's ``threshold_meff``; Bonferroni
  ``alpha / tests`` when the summary holds no usable M_eff) points are coloured, the rest grey:
  binary traits (diseases) one Okabe-Ito colour per trait (the ``paper_diseases`` preset's order
  fixes the colours of AF, T2D, HF, MI, CHD, ANGINA, MVD, AVD), continuous traits by cardiac
  structure (:data:`GROUPS`: left/right ventricle, left/right atrium, aorta, other).
- Dashed lines at ``P = alpha`` (nominal) and at the corrected threshold, labelled.
- The ``label_top`` most significant points are labelled ``latent / trait``, placed by a small
  deterministic repel (:func:`place_labels`) so no two labels overlap, with thin leader lines.
- ``P = 0`` in the table (below double precision) cannot be drawn at ``-log10 P = inf``: such
  points are drawn at the top of the axes as triangles, and the legend says so.
- x axis: what ``beta`` means for the scan's model (``summary.direction``, ``standardised``,
  ``inverse_normal``): OLS ``latent ~ trait`` gives SD of the latent per SD of the trait (per case
  status for binary traits); logistic ``disease ~ latent`` gives the log odds ratio per SD of the latent.

A result holding binary and continuous traits gives one figure with two panels side by side
(A binary traits / diseases, B continuous traits), as the paper's Fig. 2.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.transforms import Bbox

from cardiolatent.errors import CardiolatentError
from cardiolatent.plotting._inputs import as_result
from cardiolatent.plotting.style import CYCLE, DOUBLE_COLUMN_MM, GREY, MM, OKABE_ITO, SINGLE_COLUMN_MM, style
from cardiolatent.ukb.outcomes import load_definitions
from cardiolatent.ukb.presets import trait_presets
from cardiolatent.ukb.registry import FieldRegistry

FIGURE = "volcano plot"
KINDS = ("AssocResult",)
REQUIRED_COLUMNS = ("latent", "trait", "beta", "p", "status")

#: continuous-trait groups, in legend order, and their colours
GROUPS = ("left ventricle", "right ventricle", "left atrium", "right atrium", "aorta", "other")
GROUP_COLOURS = {
    "left ventricle": OKABE_ITO["blue"], "right ventricle": OKABE_ITO["vermillion"],
    "left atrium": OKABE_ITO["sky_blue"], "right atrium": OKABE_ITO["orange"],
    "aorta": OKABE_ITO["bluish_green"], "other": OKABE_ITO["reddish_purple"],
}
#: registry-name prefixes of the cardiac imaging fields (Bai et al., fields 24100-24181) -> group;
#: ecc/err/ell are the left ventricle's circumferential, radial and longitudinal strain
_PREFIXES = (("lv", "left ventricle"), ("ecc_", "left ventricle"), ("err_", "left ventricle"),
             ("ell_", "left ventricle"), ("rv", "right ventricle"), ("la", "left atrium"),
             ("ra", "right atrium"), ("ao_", "aorta"))
_CARDIAC_FIELDS = range(24100, 24182)

NOT_SIGNIFICANT = "not significant"
UNDERFLOW = "P = 0 (underflow), drawn at top"
_POINT_SIZE = 5.0  # points^2
_LABEL_FONTSIZE = 5.5


# ----------------------------------------------------------------------------------------- groups
def _group_of_name(name: str) -> str:
    for prefix, group in _PREFIXES:
        if name.startswith(prefix):
            return group
    return "other"


@functools.lru_cache(maxsize=1)
def default_groups() -> dict[str, str]:
    """Trait -> cardiac structure for the ``cardiac_idps`` preset and the registry's cardiac
    imaging fields (24100-24181), by registry name (``lv*`` left ventricle and its strain
    ``ecc_/err_/ell_*``, ``rv*``, ``la*``, ``ra*``, ``ao_*`` aorta). Other traits are ``other``."""
    names = list(trait_presets().get("cardiac_idps", ()))
    reg = FieldRegistry.default()
    names += [reg.name(f) for f in reg.fields if f in _CARDIAC_FIELDS]
    return {n: _group_of_name(n) for n in dict.fromkeys(names)}


@functools.lru_cache(maxsize=1)
def _outcome_keys() -> frozenset[str]:
    return frozenset(k.casefold() for k in load_definitions())


# ------------------------------------------------------------------------------------------ input
@dataclass
class _Thresholds:
    alpha: float
    corrected: float
    label: str  # "M_eff-corrected" or "Bonferroni"
    column: str  # the table's significance column


def _thresholds(summary, table: pd.DataFrame, where: str) -> _Thresholds:
    """The summary's nominal and corrected thresholds: M_eff when the summary holds a usable one,
    else Bonferroni over the table's tests (what ``p_bonferroni`` used)."""
    alpha = _finite(summary.get("alpha"), 0.05)
    m_eff = _finite(summary.get("m_eff"), None)
    thr = _finite(summary.get("threshold_meff"), None)
    if m_eff is not None and m_eff > 0 and thr is not None and 0 < thr <= alpha and "significant_meff" in table:
        return _Thresholds(alpha, thr, r"M$_\mathrm{eff}$-corrected", "significant_meff")
    n_tests = int(np.isfinite(pd.to_numeric(table["p"], errors="coerce").to_numpy(float)).sum())
    if n_tests < 1:
        raise CardiolatentError(f"{where}no finite P value to set a threshold from")
    col = "significant_bonferroni" if "significant_bonferroni" in table else ""
    return _Thresholds(alpha, alpha / n_tests, "Bonferroni", col)


def _finite(v, default):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def _where(source) -> str:
    return f"{source}: " if source is not None else ""


def _load(result_or_path):
    """(result, source path or None)."""
    source = Path(result_or_path) if isinstance(result_or_path, (str, os.PathLike)) else None
    return as_result(result_or_path, KINDS, FIGURE), source


def _empty_reason(summary) -> str:
    skipped = summary.get("traits_skipped") or []
    parts = [f"{s.get('trait')}: {s.get('reason')}" for s in skipped if isinstance(s, dict)]
    return "; ".join(parts) if parts else "no trait given or every trait skipped"


@dataclass
class _Panel:
    """The rows of one panel and how to draw them."""

    kind: str  # "binary" or "continuous"
    rows: pd.DataFrame  # latent, trait, beta, y, capped, significant, group, order
    colours: dict  # group -> colour, legend order
    xlabel: str
    title: str


def _drawn_rows(result, source) -> tuple[pd.DataFrame, _Thresholds]:
    """Rows with status ok and a finite P, with y = -log10 P (``mlog10p`` when present) and the
    table's significance."""
    where = _where(source)
    table, summary = result.table, result.summary
    if int(summary.get("n_traits_tested") or 0) == 0 and not len(table):
        raise CardiolatentError(f"{where}nothing to draw in a {FIGURE}: no trait was tested "
                                f"({_empty_reason(summary)})")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise CardiolatentError(f"{where}the association table has no column {', '.join(missing)} "
                                f"(a {FIGURE} needs {', '.join(REQUIRED_COLUMNS)})")
    p = pd.to_numeric(table["p"], errors="coerce").to_numpy(float)
    ok = (table["status"].astype(str).to_numpy() == "ok") & np.isfinite(p)
    if not ok.any():
        counts = table["status"].astype(str).value_counts().to_dict()
        raise CardiolatentError(f"{where}nothing to draw in a {FIGURE}: no latent x trait row has status ok "
                                f"and a finite P (statuses: {', '.join(f'{k} {v}' for k, v in counts.items())})"
                                if len(table) else f"{where}nothing to draw in a {FIGURE}: no trait was tested "
                                f"({_empty_reason(summary)})")
    thr = _thresholds(summary, table, where)
    sub = table.loc[ok]
    pv = p[ok]
    if "mlog10p" in sub.columns:
        y = pd.to_numeric(sub["mlog10p"], errors="coerce").to_numpy(float)
        y = np.where(np.isfinite(y), y, -np.log10(np.where(pv > 0, pv, np.nan)))
    else:
        with np.errstate(divide="ignore"):
            y = -np.log10(np.where(pv > 0, pv, np.nan))
    capped = ~np.isfinite(y)  # P = 0: below double precision
    if thr.column:
        sig = sub[thr.column].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).to_numpy(bool)
    else:
        sig = pv < thr.corrected
    t = pd.to_numeric(sub["t"], errors="coerce").abs().to_numpy(float) if "t" in sub else np.zeros(len(sub))
    rows = pd.DataFrame({
        "latent": sub["latent"].astype(str).to_numpy(), "trait": sub["trait"].astype(str).to_numpy(),
        "beta": pd.to_numeric(sub["beta"], errors="coerce").to_numpy(float), "y": y, "capped": capped,
        "significant": sig, "abs_t": np.nan_to_num(t, nan=0.0),
        "binary": _is_binary(sub, result.summary),
    })
    return rows, thr


def _is_binary(sub: pd.DataFrame, summary) -> np.ndarray:
    if summary.get("direction") == "outcome":
        return np.ones(len(sub), bool)
    if "n_cases" in sub.columns:
        return pd.to_numeric(sub["n_cases"], errors="coerce").notna().to_numpy()
    return np.zeros(len(sub), bool)


def x_label(summary, kind: str) -> str:
    """What ``beta`` means for ``kind`` ("binary" / "continuous") traits of the scan in ``summary``."""
    std = bool(summary.get("standardised", True))
    inv = bool(summary.get("inverse_normal", False))
    latent = "latent (inverse-normal)" if inv else "latent"
    if summary.get("direction") == "outcome":
        return f"log odds ratio per SD of {latent}" if std or inv else "log odds ratio per latent unit"
    if kind == "binary":
        unit = f"SD of {latent}" if std else ("inverse-normal latent units" if inv else "latent units")
        return f"β ({unit}, cases vs non-cases)"
    if std:
        return f"β (SD of {latent} per SD of trait{' (inverse-normal)' if inv else ''})"
    return "β (inverse-normal latent per inverse-normal trait unit)" if inv else "β (latent units per trait unit)"


def _binary_colours(traits_order: list[str], sig_traits: list[str]) -> tuple[dict, dict]:
    """trait -> group name, group -> colour for the binary panel: one colour per trait with a
    significant point; the paper's diseases keep their colour in every figure."""
    diseases = list(trait_presets().get("paper_diseases", ()))
    fixed = {d.casefold(): CYCLE[i % len(CYCLE)] for i, d in enumerate(diseases)}
    sig = [t for t in traits_order if t in set(sig_traits)]
    if len(sig) > len(CYCLE):  # too many: the first ones coloured, the rest as one group
        keep = sig[:len(CYCLE) - 1]
        trait_group = {t: (t if t in keep else "other binary traits") for t in sig}
        colours = {t: CYCLE[i] for i, t in enumerate(keep)}
        colours["other binary traits"] = OKABE_ITO["black"]
        return trait_group, colours
    colours, used = {}, set()
    for t in sig:
        c = fixed.get(t.casefold())
        if c is not None and c not in used:
            colours[t] = c
            used.add(c)
    free = [c for c in CYCLE if c not in used]
    for t in sig:
        if t not in colours:
            colours[t] = free.pop(0)
    return {t: t for t in sig}, {t: colours[t] for t in sig}


def _continuous_colours(traits: list[str], groups: dict | None) -> tuple[dict, dict]:
    mapping = dict(default_groups())
    mapping.update({str(k): str(v) for k, v in (groups or {}).items()})
    trait_group = {t: mapping.get(t, "other") for t in traits}
    order = [g for g in GROUPS if g in set(trait_group.values())]
    order += [g for g in dict.fromkeys(trait_group.values()) if g not in GROUPS]
    colours, used = {}, set()
    for g in order:
        if g in GROUP_COLOURS:
            colours[g] = GROUP_COLOURS[g]
            used.add(GROUP_COLOURS[g])
    free = [c for c in CYCLE if c not in used] or list(CYCLE)
    for i, g in enumerate(g for g in order if g not in colours):
        colours[g] = free[i % len(free)]
    return trait_group, colours


def _panels(result, rows: pd.DataFrame, groups: dict | None, kind: str) -> list[_Panel]:
    summary = result.summary
    tested = [str(t) for t in (summary.get("traits_tested") or [])]
    order = list(dict.fromkeys(tested + list(dict.fromkeys(rows["trait"]))))
    kinds = [k for k in ("binary", "continuous") if (rows["binary"] if k == "binary" else ~rows["binary"]).any()]
    if kind != "auto":
        if kind not in ("binary", "continuous"):
            raise CardiolatentError(f"kind must be 'auto', 'binary' or 'continuous', not {kind!r}")
        if kind not in kinds:
            raise CardiolatentError(f"nothing to draw in a {FIGURE}: the result has no {kind} trait tested")
        kinds = [kind]
    panels = []
    for k in kinds:
        part = rows[rows["binary"] if k == "binary" else ~rows["binary"]].copy()
        if k == "binary":
            sig_traits = list(dict.fromkeys(part.loc[part["significant"], "trait"]))
            trait_group, colours = _binary_colours([t for t in order if t in set(part["trait"])], sig_traits)
            outcome_keys = _outcome_keys()
            disease = summary.get("direction") == "outcome" or all(t.casefold() in outcome_keys
                                                                   for t in part["trait"].unique())
            title = "Diseases" if disease else "Binary traits"
        else:
            trait_group, colours = _continuous_colours(list(dict.fromkeys(part["trait"])), groups)
            title = "Continuous traits"
        part["group"] = [trait_group.get(t, NOT_SIGNIFICANT) if s else NOT_SIGNIFICANT
                         for t, s in zip(part["trait"], part["significant"])]
        panels.append(_Panel(k, part, colours, x_label(summary, k), title))
    return panels


# ------------------------------------------------------------------------------------------ drawing
def _fmt_p(p: float) -> str:
    """``0.05`` or ``5.4×10⁻⁵`` (mathtext) for threshold labels."""
    if p >= 1e-3:
        return f"{p:.3g}"
    mant, exp = f"{p:.1e}".split("e")
    return rf"${mant}\times10^{{{int(exp)}}}$"


def _marker_path(marker: str):
    m = MarkerStyle(marker)
    return m.get_path().transformed(m.get_transform())


def _draw_panel(ax, panel: _Panel, thr: _Thresholds, *, label_top: int, title: str | None,
                letter: str | None) -> dict:
    """One volcano on ``ax`` (points, threshold lines and their labels, legend below the axes);
    returns what the label placement needs."""
    rows = panel.rows
    capped_all = rows["capped"].to_numpy()
    finite_y = rows.loc[~rows["capped"], "y"].to_numpy(float)
    y_thr = -math.log10(thr.corrected)
    y_nom = -math.log10(thr.alpha)
    top_data = float(finite_y.max()) if finite_y.size else y_thr
    any_capped = bool(capped_all.any())
    y_cap = max(top_data, y_thr) * 1.06 if any_capped else 0.0
    y = np.where(capped_all, y_cap, rows["y"].to_numpy(float))
    x = rows["beta"].to_numpy(float)
    circle, triangle = _marker_path("o"), _marker_path("^")
    collections = []
    # grey first (underneath), then one layer per coloured group in legend order
    layers = [(NOT_SIGNIFICANT, GREY)] + list(panel.colours.items())
    for group, colour in layers:
        sel = (rows["group"] == group).to_numpy()
        if not sel.any():
            continue
        grey = group == NOT_SIGNIFICANT
        coll = ax.scatter(x[sel], y[sel], s=_POINT_SIZE if grey else _POINT_SIZE * 1.5, c=colour, linewidths=0,
                          alpha=0.5 if grey else 0.9, rasterized=True, zorder=2 if grey else 3, label=group)
        if capped_all[sel].any():
            coll.set_paths([triangle if c else circle for c in capped_all[sel]])
        coll.set_gid(f"volcano-points:{group}")
        collections.append(coll)
    # limits first: the labels are placed in display coordinates
    xmax = float(np.nanmax(np.abs(x))) if np.isfinite(x).any() else 1.0
    xmax = xmax * 1.08 if xmax > 0 else 1.0
    ax.set_xlim(-xmax, xmax)
    ytop = max(y_cap, top_data, y_thr, y_nom)
    ax.set_ylim(0, ytop * 1.12 + 0.2)
    ax.axvline(0, color="0.8", lw=0.5, zorder=1)
    lines = []
    for yv, text, gid in ((y_nom, f"P = {_fmt_p(thr.alpha)}", "nominal"),
                          (y_thr, f"{thr.label}\nP = {_fmt_p(thr.corrected)}", "corrected")):
        ln = ax.axhline(yv, color="0.3" if gid == "corrected" else "0.6", lw=0.6, ls=(0, (4, 2)), zorder=1,
                        label=text)
        ln.set_gid(f"volcano-threshold:{gid}")
        lines.append(ln)
    texts = _threshold_labels(ax, lines)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(r"$-\log_{10}P$")
    if title or panel.title:
        ax.set_title(title or panel.title, loc="left", fontsize=7.5, pad=3)
    if letter:
        ax.annotate(letter, xy=(0, 1), xycoords="axes fraction", xytext=(-24, 3), textcoords="offset points",
                    fontsize=9, fontweight="bold", va="bottom", ha="left")
    # legend below the x label: coloured groups with significant points, grey, the underflow marker
    handles = []
    for group, colour in layers[1:] + layers[:1]:
        if (rows["group"] == group).any():
            handles.append(Line2D([], [], ls="none", marker="o", ms=3.2, mfc=colour, mec="none", label=group))
    if any_capped:
        handles.append(Line2D([], [], ls="none", marker="^", ms=3.2, mfc="0.3", mec="none", label=UNDERFLOW))
    n_sig = int(rows["significant"].sum())
    fig_h_pt = ax.figure.get_size_inches()[1] * 72 * ax.get_position().height
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(-0.02, -26.0 / fig_h_pt),
                       borderaxespad=0, frameon=False, handletextpad=0.1, labelspacing=0.3, columnspacing=0.8,
                       ncol=min(3, len(handles)), title=f"{n_sig:,} of {len(rows):,} tests significant "
                       f"({thr.label} P < {_fmt_p(thr.corrected)})", title_fontsize=6, fontsize=6,
                       alignment="left")
    legend.set_gid("volcano-legend")
    # the most significant points, labelled
    sig = rows["significant"].to_numpy()
    top = rows[sig].assign(_y=y[sig], _abs_beta=rows.loc[sig, "beta"].abs())
    top = top.sort_values(["_y", "abs_t", "_abs_beta"], ascending=False, kind="mergesort").head(max(int(label_top), 0))
    return dict(collections=collections, lines=lines, threshold_texts=texts, legend=legend, top=top, x=x, y=y,
                significant=sig)


def _threshold_labels(ax, lines) -> list:
    """Labels of the threshold lines in the right margin, level with their line, pushed apart
    when the lines are close."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_pt = 72.0 / fig.dpi
    texts = []
    for ln in lines:
        gid = ln.get_gid().split(":")[1]
        t = ax.annotate(ln.get_label(), xy=(1, ln.get_ydata()[0]), xycoords=("axes fraction", "data"),
                        xytext=(3, 0), textcoords="offset points", ha="left", va="center", fontsize=5.5,
                        color="0.2", annotation_clip=False)
        t.set_gid(f"volcano-threshold-label:{gid}")
        texts.append(t)
    # 1-D repel: the upper label goes up, the lower down, until they no longer overlap
    boxes = [t.get_window_extent(renderer) for t in texts]
    (lo, b_lo), (hi, b_hi) = sorted(zip(texts, boxes), key=lambda tb: tb[1].y0 + tb[1].y1)
    gap = b_lo.y1 + 1.0 / to_pt - b_hi.y0  # pixels of overlap (1 pt clearance)
    if gap > 0:
        hi.set_position((3, gap / 2 * to_pt))
        lo.set_position((3, -gap / 2 * to_pt))
    return texts


def place_labels(ax, xy: np.ndarray, texts: list[str], *, points: np.ndarray | None = None,
                 avoid: np.ndarray | None = None, obstacles=(), hlines=(), fontsize: float = _LABEL_FONTSIZE,
                 pad_pt: float = 0.8) -> list:
    """Annotate each ``xy[i]`` (data coordinates, (k, 2)) with ``texts[i]``: each label overlaps no
    other label nor obstacle (artists), stays inside the axes, sits close to its point and covers as
    few of ``points`` ((n, 2) data coordinates), fewer still of ``avoid`` (points that matter, e.g.
    the significant ones) and of the labelled points, crossing no horizontal line at ``hlines`` (data
    y) nor an earlier leader line, its own thin leader line crossing no other label. Deterministic:
    labels are placed in the given order, each at the best of a fixed set of offsets (rings of 16
    directions, 2 to 66 pt from the point). Returns the annotations. The axes' limits and size must
    be final (placement is in display coordinates).
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_px = fig.dpi / 72.0
    ax_box = ax.get_window_extent(renderer)
    taken = [o.get_window_extent(renderer) for o in obstacles]
    xy = np.asarray(xy, float).reshape(-1, 2)
    anchors = ax.transData.transform(xy) if len(xy) else np.empty((0, 2))
    pts = np.asarray(points, float).reshape(-1, 2) if points is not None else np.empty((0, 2))
    pts = ax.transData.transform(pts) if len(pts) else pts
    pts = pts[np.isfinite(pts).all(axis=1)]
    key = np.asarray(avoid, float).reshape(-1, 2) if avoid is not None else np.empty((0, 2))
    key = ax.transData.transform(key) if len(key) else key
    key = key[np.isfinite(key).all(axis=1)]
    pad = pad_pt * to_px
    line_px = [ax.transData.transform((0.0, float(v)))[1] for v in hlines]
    leaders: list[tuple[float, float, float, float]] = []
    angles = np.deg2rad([0, 180, 45, 135, 315, 225, 90, 270, 22.5, 157.5, 337.5, 202.5, 67.5, 112.5, 292.5, 247.5])
    radii = np.array([2, 4, 7, 11, 16, 22, 30, 40, 52, 66]) * to_px
    out = []
    for i, text in enumerate(texts):
        ax_px, ay_px = anchors[i]
        probe = ax.text(0, 0, text, fontsize=fontsize, ha="center", va="center", transform=None)
        ext = probe.get_window_extent(renderer)
        probe.remove()
        w, h = ext.width + 2 * pad, ext.height + 2 * pad
        others = np.delete(anchors, i, axis=0)
        best, best_score = None, None
        for ri, r in enumerate(radii):
            for ai, a in enumerate(angles):
                ca, sa = math.cos(a), math.sin(a)
                cx = ax_px + ca * (r + w / 2)
                cy = ay_px + sa * (r + h / 2)
                x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
                inside = x0 >= ax_box.x0 + 1 and x1 <= ax_box.x1 - 1 and y0 >= ax_box.y0 + 1 and y1 <= ax_box.y1 - 1
                box = Bbox.from_extents(x0, y0, x1, y1)
                clash = sum(_overlap(box, t) for t in taken)
                covered = _count_inside(pts, x0, x1, y0, y1)
                covered_key = _count_inside(key, x0, x1, y0, y1)
                on_anchor = _count_inside(others, x0, x1, y0, y1)
                # the leader runs from the point towards the box centre: it should cross no label
                crosses = sum(_segment_hits(ax_px, ay_px, cx, cy, t) for t in taken)
                crosses += sum(_segment_hits(*seg, box) for seg in leaders)
                on_line = sum(y0 < ly < y1 for ly in line_px)
                hard = (0 if inside else 1) + (1 if clash > 0 else 0)
                cost = (r / to_px / 4 + 0.06 * min(covered, 60) + 0.5 * min(covered_key, 30) + 6 * on_anchor
                        + 4 * crosses + 3 * on_line + 0.01 * ai)
                score = (hard, clash, cost)
                if best_score is None or score < best_score:
                    best, best_score = (cx, cy, box), score
        cx, cy, box = best
        ann = ax.annotate(text, xy=xy[i], xycoords="data",
                          xytext=((cx - ax_px) / to_px, (cy - ay_px) / to_px), textcoords="offset points",
                          ha="center", va="center", fontsize=fontsize, zorder=5,
                          arrowprops=dict(arrowstyle="-", lw=0.35, color="0.4", shrinkA=0.5, shrinkB=1.2))
        ann.set_gid("volcano-label")
        taken.append(box)
        leaders.append((ax_px, ay_px, cx, cy))
        out.append(ann)
    return out


def _count_inside(p: np.ndarray, x0, x1, y0, y1) -> int:
    if not len(p):
        return 0
    return int(((p[:, 0] > x0) & (p[:, 0] < x1) & (p[:, 1] > y0) & (p[:, 1] < y1)).sum())


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _segment_hits(x0, y0, x1, y1, b: Bbox) -> bool:
    """Whether the segment (x0, y0)-(x1, y1) passes through box ``b`` (Liang-Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    dx, dy = x1 - x0, y1 - y0
    for p, q in ((-dx, x0 - b.x0), (dx, b.x1 - x0), (-dy, y0 - b.y0), (dy, b.y1 - y0)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _label_panel(ax, drawn: dict) -> list:
    top = drawn["top"]
    if not len(top):
        return []
    xy = np.column_stack([top["beta"].to_numpy(float), top["_y"].to_numpy(float)])
    texts = [f"{lat} / {tr}" for lat, tr in zip(top["latent"], top["trait"])]
    pts = np.column_stack([drawn["x"], drawn["y"]])
    return place_labels(ax, xy, texts, points=pts, avoid=pts[drawn["significant"]],
                        hlines=[ln.get_ydata()[0] for ln in drawn["lines"]])


# ------------------------------------------------------------------------------------------ public
#: layout in mm: left margin, axes width, right margin (threshold labels); top, axes height, bottom (legend)
_LEFT, _AXES_W, _RIGHT = 12.0, 58.0, 19.0
_TOP, _AXES_H, _BOTTOM = 7.0, 52.0, 27.0


def _new_figure(n_panels: int):
    width = _LEFT + _AXES_W + _RIGHT
    fig_w = SINGLE_COLUMN_MM if n_panels == 1 else DOUBLE_COLUMN_MM
    extra = (fig_w - n_panels * width) / n_panels  # spare width goes to the axes
    fig_h = _TOP + _AXES_H + _BOTTOM
    fig = plt.figure(figsize=(fig_w * MM, fig_h * MM))
    axes = []
    for i in range(n_panels):
        left = i * (width + extra) + _LEFT
        axes.append(fig.add_axes((left / fig_w, _BOTTOM / fig_h, (_AXES_W + extra) / fig_w, _AXES_H / fig_h)))
    return fig, axes


def volcano(result_or_path, *, ax=None, groups: dict | None = None, label_top: int = 10,
            title: str | None = None, kind: str = "auto"):
    """Volcano plot of an association scan; returns the figure.

    One point per latent x trait row with status ``ok`` and a finite P: x = ``beta`` (units on the
    axis label, from the summary's model), y = ``-log10 P``. Points significant by the summary's
    M_eff-corrected threshold (Bonferroni when it holds no M_eff) are coloured (binary traits by
    trait, continuous traits by cardiac structure, ``groups={trait: group}`` overriding
    :func:`default_groups`); the rest grey. Dashed lines at P = alpha and at the corrected
    threshold, labelled in the right margin; legend below the axes. The ``label_top`` most
    significant of the significant points are labelled ``latent / trait`` without overlaps
    (:func:`place_labels`). ``P = 0`` (underflow) rows are drawn as triangles at the top.

    A result with binary and continuous traits gives two panels side by side (A binary, B
    continuous; 183 x 86 mm); one kind gives one panel (89 x 86 mm). ``kind`` ("binary" /
    "continuous") draws only that kind; with ``ax`` (one kind per axes: ``kind`` must say which when
    the result holds both) leave about 19 mm right of it and 27 mm below it for the labels and legend.
    ``title`` replaces the panel title ("Diseases", "Binary traits", "Continuous traits").
    """
    result, source = _load(result_or_path)
    rows, thr = _drawn_rows(result, source)
    panels = _panels(result, rows, groups, kind)
    if ax is not None and len(panels) > 1:
        raise CardiolatentError(f"{_where(source)}the result holds binary and continuous traits: with ax=, "
                                "pass kind='binary' or kind='continuous' (or no ax for both panels)")
    with style():
        if ax is not None:
            fig, axes = ax.figure, [ax]
        else:
            fig, axes = _new_figure(len(panels))
        drawn = []
        for i, (panel, a) in enumerate(zip(panels, axes)):
            letter = "AB"[i] if len(panels) > 1 else None
            drawn.append(_draw_panel(a, panel, thr, label_top=label_top, title=title, letter=letter))
        for a, d in zip(axes, drawn):
            _label_panel(a, d)
    return fig


def volcano_figures(result_or_path, **kwargs) -> dict:
    """``{"volcano": figure}``: the volcano plot of an association result (one figure; two panels,
    binary and continuous traits, when the scan holds both). Like every family's ``*_figures``, the
    key names the figure, not the result (:func:`cardiolatent.plotting.batch.draw_figures` puts the
    result's label in front). Raises :class:`CardiolatentError` with the reason when the result cannot
    give one (not an association result, no trait tested, no row with status ok)."""
    return {"volcano": volcano(result_or_path, **kwargs)}


__all__ = ["GROUPS", "GROUP_COLOURS", "default_groups", "place_labels", "volcano", "volcano_figures", "x_label"]
