"""GWAS figures from a ``gwas-results`` folder (:class:`~cardiolatent.gwas.summary.GwasSummary`):
the Manhattan plot of all latents (paper Fig. 3A), one latent's Manhattan plot, and the QQ plot.

Everything drawn is read from the folder: ``manhattan.parquet`` (``-log10 P`` of every variant with
P < 1e-3 plus a deterministic background subsample, per latent), ``qq.parquet`` (expected vs observed
``-log10 P`` with the pointwise 95% band), ``loci.tsv`` / ``leads.tsv`` (labels), ``lambda.tsv``
(lambda GC) and ``summary.json`` (threshold, chromosome offsets). Nothing is recomputed; the only
choices made here are display ones (thinning, the broken y axis, which loci get a label).

The y axis (``-log10 P``): linear from 0 up to a break ``B`` and compressed above it, where each
factor of 10 in ``-log10 P`` takes half the height of ``B`` (``y -> B (1 + log10(y / B) / 2)``): a
variant with ``P = 1e-400`` (``-log10 P = 400``, below the double range, kept by ``gwas-results``)
stays on the axis without flattening the genome-wide-significant range. ``y_break="auto"`` breaks at
30 only when the largest ``-log10 P`` drawn exceeds 40 (else the axis is linear). Tick labels are
the true ``-log10 P`` values; the break is marked on the spine (``//``) and by a faint dotted line.
Artists keep data coordinates (``-log10 P``), so ``ax.axhline(10)`` lands where 10 is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib.transforms as mtransforms
import numpy as np
import pandas as pd
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path as MPath
from matplotlib.textpath import TextPath
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.plotdata import MAF_ALL
from cardiolatent.gwas.thresholds import PAPER_P
from cardiolatent.plotting._inputs import as_result, new_or_given_ax
from cardiolatent.plotting.style import CYCLE, DOUBLE_COLUMN_MM, GREY, MM, OKABE_ITO, SINGLE_COLUMN_MM, figure, style

__all__ = ["GENOME_WIDE_P", "THIN_X_BINS", "THIN_Y_STEP", "gwas_figures", "manhattan", "manhattan_latent",
           "nearest_genes", "qq", "read_genes", "thin_for_drawing"]

#: the conventional genome-wide threshold, always drawn
GENOME_WIDE_P = 5e-8
#: drawing thinning of points with P > thin_p: one point per cell of genome length / THIN_X_BINS
#: (cumulative bp) x THIN_Y_STEP (-log10 P) per chromosome and colour; at 183 mm and 300 dpi a cell
#: is about one pixel wide, so the thinned band looks the same
THIN_X_BINS = 2000
THIN_Y_STEP = 0.02
#: y-axis break of the automatic scale, and the largest -log10 P drawn on a linear axis
AUTO_BREAK = 30.0
AUTO_LINEAR_MAX = 40.0
#: above the break, one decade of -log10 P takes 1 / _DECADES of the break's height
_DECADES = 2.0

SHADES = (OKABE_ITO["blue"], OKABE_ITO["sky_blue"])  # alternating chromosomes
SIGNIFICANT = OKABE_ITO["vermillion"]
LINE_COLOURS = ("#7F7F7F", OKABE_ITO["black"])  # 5e-8, then the stricter threshold
LABEL_PT = 6.0  # locus label font size (points)
_MARKER_PT = 1.8  # scatter marker diameter (points)


# ---------------------------------------------------------------------------------------------
# the broken -log10 P scale
# ---------------------------------------------------------------------------------------------
def _forward(y, b: float):
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = b * (1.0 + np.log10(np.maximum(y, b) / b) / _DECADES)
    return np.where(y > b, up, y)


def _inverse(t, b: float):
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        up = b * np.power(10.0, (np.maximum(t, b) / b - 1.0) * _DECADES)
    return np.where(t > b, up, t)


def _break_of(y_break, ymax: float) -> float | None:
    if y_break is None or y_break is False:
        return None
    if isinstance(y_break, str):
        if y_break != "auto":
            raise CardiolatentError(f"y_break must be 'auto', None or a -log10 P value, not {y_break!r}")
        return AUTO_BREAK if ymax > AUTO_LINEAR_MAX else None
    b = float(y_break)
    if not (np.isfinite(b) and b > 0):
        raise CardiolatentError(f"y_break must be a positive -log10 P value, not {y_break!r}")
    return b if ymax > b else None


def _set_mlog10p_axis(ax, ymax: float, y_break, lines=(), axis: str = "y") -> float | None:
    """Scale, limits and ticks of a ``-log10 P`` axis holding values up to ``ymax``; returns the break."""
    top_needed = max(float(ymax), *(float(v) for v in lines), 1.0)
    b = _break_of(y_break, top_needed)
    set_scale = ax.set_yscale if axis == "y" else ax.set_xscale
    set_lim = ax.set_ylim if axis == "y" else ax.set_xlim
    which = ax.yaxis if axis == "y" else ax.xaxis
    if b is None:
        set_lim(0, top_needed * 1.06)
        which.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 2.5, 5, 10]))
        return None
    set_scale("function", functions=(lambda v: _forward(v, b), lambda v: _inverse(v, b)))
    t_top = float(_forward(top_needed, b))
    set_lim(0, float(_inverse(t_top + 0.05 * t_top, b)))
    lo = [t for t in MaxNLocator(nbins=4, integer=True, steps=[1, 2, 2.5, 5, 10]).tick_values(0, b) if 0 <= t <= b]
    if b not in lo:
        lo.append(b)
    cands = [m * 10.0 ** e for e in range(1, 7) for m in (1, 2, 5)]
    hi = [c for c in cands if c >= 1.6 * b and c <= top_needed * 1.05]
    if len(hi) > 3:
        hi = [c for c in hi if np.log10(c) % 1 == 0] or hi[-3:]
    which.set_major_locator(FixedLocator(sorted(lo) + hi))
    which.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    which.set_minor_locator(FixedLocator([]))
    # the break: a faint dotted line and a // on the spine
    if axis == "y":
        ax.axhline(b, color=GREY, lw=0.4, ls=(0, (1, 2)), zorder=0.5, gid="axis-break")
        slash = MPath([(-1.0, -0.6), (1.0, 0.6)], [MPath.MOVETO, MPath.LINETO])
        blend = mtransforms.blended_transform_factory(ax.transAxes, ax.transData)
        for dy in (-1.2, 1.2):
            tr = blend + mtransforms.ScaledTranslation(0, dy / 72, ax.figure.dpi_scale_trans)
            ax.plot([0], [b], marker=slash, ms=5, mew=0.6, color="black", transform=tr, clip_on=False,
                    zorder=5, gid="axis-break-mark")
    return b


def _ax_fraction_y(ax, y) -> np.ndarray:
    """Axes-fraction heights of data ``y`` values (after the scale and limits are set)."""
    pts = np.column_stack([np.zeros(len(y)), np.asarray(y, dtype=np.float64)])
    return ax.transLimits.transform(ax.transScale.transform(pts))[:, 1]


MLOG10P_LABEL = r"$-\log_{10}\,P$"


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def _where(res) -> str:
    return str(res.folder) if getattr(res, "folder", None) is not None else "gwas-results"


def _plot_table(res, table, name: str, columns: list[str]):
    """``table`` (the result's ``name``), checked to hold variants and ``columns``."""
    if table is None or len(table) == 0:
        raise CardiolatentError(f"{_where(res)}: {name} has no variants to draw")
    _need_columns(table, columns, res, name)
    return table


def _latents_of(res, latents, name: str) -> list[str]:
    """The latents asked for (all of the result's, in its order, when None); unknown ones are an error."""
    known = [str(x) for x in res.table["latent"].tolist()]
    if latents is None:
        return known
    if isinstance(latents, str):
        latents = [latents]
    latents = [str(x) for x in latents]
    missing = [x for x in latents if x not in known]
    if missing:
        raise CardiolatentError(f"{_where(res)}: no latent {', '.join(missing)} in lambda.tsv "
                                f"(latents: {', '.join(known[:10])}{' ...' if len(known) > 10 else ''})")
    if not latents:
        raise CardiolatentError(f"{_where(res)}: latents is empty; give at least one latent for the {name}")
    return latents


def _need_columns(df: pd.DataFrame, cols, res, file: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise CardiolatentError(f"{_where(res)}: {file} has no column {', '.join(missing)}")


def _chromosomes(res) -> pd.DataFrame:
    ch = pd.DataFrame(res.chromosomes if res.chromosomes is not None else res.summary.chromosomes)
    if ch.empty:
        raise CardiolatentError(f"{_where(res)}: summary.json has no chromosome offsets (no variants)")
    _need_columns(ch, ["chrom", "offset", "length", "center"], res, "summary.json chromosomes")
    ch = ch.assign(chrom=ch["chrom"].astype(str)).sort_values("offset", kind="stable").reset_index(drop=True)
    return ch


def _as_str(col: pd.Series) -> pd.Series:
    """``col`` as strings; a categorical stays categorical (string categories), which is cheap."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.rename_categories([str(c) for c in col.cat.categories])
    return col.astype(str)


def _rows_of(table: pd.DataFrame, latents: list[str], all_latents: bool) -> pd.DataFrame:
    if all_latents:
        return table
    return table[_as_str(table["latent"]).isin(latents)]


def _thresholds(res) -> list[tuple[float, str]]:
    """(-log10 P, label) of the dashed lines: 5e-8 and the paper's 2.3e-9, or the result's own
    threshold when it is another one (M_eff-based or chosen)."""
    thr = res.summary.threshold or {}
    p = thr.get("p", res.summary.p_threshold)
    second = PAPER_P
    try:
        p = float(p)
        if 0 < p < 1 and not np.isclose(p, GENOME_WIDE_P, rtol=1e-9):
            second = p
    except (TypeError, ValueError):
        pass
    out = [(float(-np.log10(GENOME_WIDE_P)), _p_text(GENOME_WIDE_P))]
    if not np.isclose(second, GENOME_WIDE_P):
        out.append((float(-np.log10(second)), _p_text(second)))
    return out


def _p_text(p: float) -> str:
    m, e = f"{p:.2g}".split("e") if "e" in f"{p:.2g}" else (f"{p:.2g}", None)
    if e is None:
        return f"$P = {m}$"
    e = int(e)
    return f"$P = 10^{{{e}}}$" if m == "1" else rf"$P = {m}\times10^{{{e}}}$"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


# ---------------------------------------------------------------------------------------------
# genes for labels
# ---------------------------------------------------------------------------------------------
def _norm_chrom(values) -> np.ndarray:
    s = pd.Series(values).astype(str).str.strip()
    s = s.str.replace(r"^chr", "", regex=True, flags=re.IGNORECASE)
    return s.replace({"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}).to_numpy(dtype=object)


def read_genes(path: str | os.PathLike) -> pd.DataFrame:
    """A gene table the user supplies (no download): TSV or BED, first four columns chromosome,
    start, end, name (a header line is allowed; ``#``, ``track`` and ``browser`` lines are skipped;
    ``chr1`` and ``1`` are the same chromosome). Returns ``chrom, start, end, name``."""
    path = Path(path)
    if not path.is_file():
        raise CardiolatentError(f"genes: no such file {path}")
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            rows.append(re.split(r"\t|\s+", line.strip()))
    if rows and len(rows[0]) >= 2 and not rows[0][1].lstrip("-").isdigit():
        rows = rows[1:]  # header
    if not rows or any(len(r) < 4 for r in rows):
        raise CardiolatentError(f"genes: {path} needs four columns chrom, start, end, name on every line")
    df = pd.DataFrame([r[:4] for r in rows], columns=["chrom", "start", "end", "name"])
    try:
        df["start"] = df["start"].astype(np.int64)
        df["end"] = df["end"].astype(np.int64)
    except ValueError:
        raise CardiolatentError(f"genes: {path}: start and end (columns 2 and 3) must be whole numbers") from None
    df["chrom"] = _norm_chrom(df["chrom"])
    return df


def nearest_genes(chrom, pos, genes: pd.DataFrame) -> list[str | None]:
    """Name of the gene nearest each (chrom, pos): one that contains the position, else the one with
    the closest end (first in the file on a tie); None on a chromosome without genes."""
    out: list[str | None] = []
    by = {c: g for c, g in genes.groupby("chrom", sort=False)}
    for c, p in zip(_norm_chrom(chrom), np.asarray(pos, dtype=np.int64)):
        g = by.get(c)
        if g is None:
            out.append(None)
            continue
        s, e = g["start"].to_numpy(), g["end"].to_numpy()
        d = np.where((s <= p) & (p <= e), 0, np.minimum(np.abs(s - p), np.abs(e - p)))
        out.append(str(g["name"].iloc[int(np.argmin(d))]))
    return out


# ---------------------------------------------------------------------------------------------
# thinning and labels
# ---------------------------------------------------------------------------------------------
def thin_for_drawing(chrom_code, cum_pos, mlog10p, group, *, thin_p: float, genome_end: float) -> np.ndarray:
    """Rows to draw: every row with ``P <= thin_p`` and, of the rows with ``P > thin_p``
    (``mlog10p < -log10 thin_p``), the first in each cell (chromosome, ``floor(cum_pos / (genome_end
    / THIN_X_BINS))``, ``floor(mlog10p / THIN_Y_STEP)``, ``group``). All arguments (k,) arrays
    (``group``: colour class); returns sorted (m,) row indices. Deterministic: the table order decides."""
    if not 0 < thin_p <= 1:
        raise CardiolatentError(f"thin_p must be in (0, 1], not {thin_p}")
    m = np.asarray(mlog10p, dtype=np.float64)
    low = m < -np.log10(thin_p)
    idx_low = np.flatnonzero(low)
    if idx_low.size == 0:
        return np.arange(m.size)
    dx = max(float(genome_end), 1.0) / THIN_X_BINS
    cx = np.floor(np.asarray(cum_pos, dtype=np.float64)[idx_low] / dx).astype(np.int64)
    cy = np.floor(m[idx_low] / THIN_Y_STEP).astype(np.int64)
    cy -= cy.min()
    cc = np.asarray(chrom_code, dtype=np.int64)[idx_low]
    gg = np.asarray(group, dtype=np.int64)[idx_low]
    key = ((cc * (int(cx.max()) + 1) + cx) * (int(cy.max()) + 1) + cy) * (int(gg.max()) + 1) + gg
    _, first = np.unique(key, return_index=True)
    return np.sort(np.concatenate([np.flatnonzero(~low), idx_low[first]]))


def _spread(want: np.ndarray, gap: float, lo: float, hi: float) -> np.ndarray:
    """Positions closest to ``want`` (sorted) at least ``gap`` apart inside [lo, hi] (clusters of
    overlapping labels centred on their mean, then pushed inside the bounds)."""
    n = len(want)
    if n == 0:
        return want
    clusters = [[float(w), 1] for w in want]  # [mean of wanted, count]
    merged = True
    while merged:
        merged = False
        out = [clusters[0]]
        for c in clusters[1:]:
            prev = out[-1]
            prev_end = prev[0] + (prev[1] - 1) * gap / 2
            c_start = c[0] - (c[1] - 1) * gap / 2
            if c_start - prev_end < gap - 1e-9:
                tot = prev[1] + c[1]
                prev[0] = (prev[0] * prev[1] + c[0] * c[1]) / tot
                prev[1] = tot
                merged = True
            else:
                out.append(c)
        clusters = out
    pos = np.concatenate([c[0] + (np.arange(c[1]) - (c[1] - 1) / 2) * gap for c in clusters])
    for i in range(n):  # push inside the bounds, keeping the gaps
        pos[i] = max(pos[i], lo + i * gap)
    for i in range(n - 1, -1, -1):
        pos[i] = min(pos[i], hi - (n - 1 - i) * gap)
    return pos


def _locus_table(res, latents: list[str], all_latents: bool, offsets: dict, genes) -> pd.DataFrame:
    """One row per locus with a lead among ``latents``: x (cumulative bp), y (-log10 P of its
    strongest lead among them), text (lead id or nearest gene), strongest first."""
    cols = ["x", "y", "text", "chrom", "pos"]
    loci = res.loci if res.loci is not None else pd.DataFrame()
    if all_latents:
        if loci.empty:
            return pd.DataFrame(columns=cols)
        _need_columns(loci, ["chrom", "lead_pos", "lead_id", "lead_mlog10p"], res, "loci.tsv")
        t = pd.DataFrame({"chrom": loci["chrom"].astype(str), "pos": loci["lead_pos"].astype(np.int64),
                          "id": loci["lead_id"].astype(str), "y": loci["lead_mlog10p"].astype(np.float64)})
    else:
        leads = res.leads if res.leads is not None else pd.DataFrame()
        if leads.empty:
            return pd.DataFrame(columns=cols)
        _need_columns(leads, ["latent", "locus", "chrom", "pos", "id", "mlog10p"], res, "leads.tsv")
        ld = leads[leads["latent"].astype(str).isin(latents)]
        if ld.empty:
            return pd.DataFrame(columns=cols)
        ld = ld.sort_values("mlog10p", ascending=False, kind="stable").drop_duplicates("locus")
        t = pd.DataFrame({"chrom": ld["chrom"].astype(str), "pos": ld["pos"].astype(np.int64),
                          "id": ld["id"].astype(str), "y": ld["mlog10p"].astype(np.float64)})
    t = t[t["chrom"].isin(offsets)]
    t["x"] = t["pos"] + t["chrom"].map(offsets).astype(np.int64)
    if genes is not None:
        g = genes if isinstance(genes, pd.DataFrame) else read_genes(genes)
        names = nearest_genes(t["chrom"], t["pos"], g)
        t["text"] = [n if n is not None else i for n, i in zip(names, t["id"])]
    else:
        t["text"] = t["id"]
    return t.sort_values("y", ascending=False, kind="stable").reset_index(drop=True)[cols]


def _label_band_pt(texts, italic: bool) -> float:
    """Height (points) of the band above the panel that the rotated labels ``texts`` need."""
    if not texts:
        return 0.0
    prop = FontProperties(size=LABEL_PT, style="italic" if italic else "normal")
    longest = max(TextPath((0, 0), str(s), prop=prop).get_extents().width for s in texts)
    return 10.0 + longest


def _draw_labels(ax, loci: pd.DataFrame, *, italic: bool, max_labels: int) -> list:
    """Rotated labels above the axes, spread so that none overlaps, each joined to its peak by a
    thin leader line (vertical from the peak to the top, then slanted to the label)."""
    if loci.empty or max_labels <= 0:
        return []
    fig = ax.figure
    bbox = ax.get_position()
    w_pt = bbox.width * fig.get_figwidth() * 72
    h_pt = bbox.height * fig.get_figheight() * 72
    x0, x1 = ax.get_xlim()
    gap = LABEL_PT * 1.25
    n_fit = max(1, int(w_pt // gap))
    lab = loci.head(min(max_labels, n_fit)).sort_values("x", kind="stable")
    want = (lab["x"].to_numpy(np.float64) - x0) / (x1 - x0) * w_pt
    got = _spread(want, gap, gap / 2, w_pt - gap / 2)
    x_lab = x0 + got / w_pt * (x1 - x0)
    blend = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    y_peak = _ax_fraction_y(ax, lab["y"].to_numpy(np.float64)) + 2.0 / h_pt
    elbow = 7.0 / h_pt
    texts = []
    for xp, yp, xl, text in zip(lab["x"].to_numpy(np.float64), y_peak, x_lab, lab["text"]):
        ax.plot([xp, xp, xl], [min(yp, 1.0), 1.0, 1.0 + elbow], color=GREY, lw=0.4, transform=blend,
                clip_on=False, zorder=1, gid="locus-leader")
        texts.append(ax.text(xl, 1.0 + elbow + 1.0 / h_pt, text, rotation=90, ha="center", va="bottom",
                             fontsize=LABEL_PT, fontstyle="italic" if italic else "normal", transform=blend,
                             clip_on=False, gid="locus-label"))
    return texts


def _chrom_ticks(ax, chroms: pd.DataFrame, w_pt: float) -> None:
    """Chromosome labels at their centres, a label left out where it would touch the previous one."""
    x0, x1 = ax.get_xlim()
    shown_x, shown_t, last_end = [], [], -np.inf
    for c, ctr in zip(chroms["chrom"], chroms["center"].to_numpy(np.float64)):
        xp = (ctr - x0) / (x1 - x0) * w_pt
        half = 0.62 * 6.5 * len(str(c)) / 2
        if xp - half < last_end + 1.5:
            continue
        shown_x.append(ctr)
        shown_t.append(str(c))
        last_end = xp + half
    ax.set_xticks(shown_x)
    ax.set_xticklabels(shown_t)
    ax.tick_params(axis="x", length=0, pad=2)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def manhattan(result_or_path, *, latents=None, ax=None, genes=None, label=True, thin_p: float = 1e-2,
              title: str | None = None, y_break="auto", max_labels: int = 40, height_mm: float = 62.0):
    """Manhattan plot of all latents of a ``gwas-results`` folder overlaid (or of ``latents``).

    Drawn: each row of ``manhattan.parquet`` of the chosen latents as a point at its cumulative
    genome position (x, bp; chromosome numbers at their centres) and ``-log10 P`` (y, on the
    broken scale of the module docstring), chromosomes in two alternating shades of blue, points
    above the result's lead threshold (``summary.json`` ``threshold``) in vermillion; all latents
    share one panel (182 panels would not fit a page), so a locus shows as the column of its
    latents' points. Rows with ``P > thin_p`` are thinned for drawing (:func:`thin_for_drawing`:
    about one point per pixel, the same look); every row with ``P <= thin_p`` is drawn. The
    scatter layer is rasterised (300 dpi) in the PDF; the rest is vector.
    Dashed lines: ``P = 5e-8`` (grey) and the paper's ``2.3e-9`` (black), or the result's own
    threshold instead of ``2.3e-9`` when it is another one (``--meff`` or a chosen ``--p-threshold``).
    Labels (``label=True``): the loci of ``loci.tsv`` (with ``latents``, the loci with a lead among
    them, at that lead) named by lead variant id, or by the nearest gene when ``genes`` is a
    user-supplied TSV/BED of chrom, start, end, name (:func:`read_genes`); at most ``max_labels``
    (strongest first, and only as many as fit the width), rotated above the panel, spread so that
    none overlaps, with a leader line to the peak. Width 183 mm; ``height_mm`` the panel's figure
    height before the label band. Returns the figure.
    """
    res = as_result(result_or_path, ("GwasSummary",), "Manhattan plot")
    all_latents = latents is None
    chosen = _latents_of(res, latents, "Manhattan plot")
    man = _plot_table(res, res.manhattan, "manhattan.parquet", ["latent", "chrom", "cum_pos", "mlog10p"])
    man = _rows_of(man, chosen, all_latents)
    if len(man) == 0:
        raise CardiolatentError(f"{_where(res)}: manhattan.parquet has no variants of latent(s) "
                                f"{', '.join(chosen[:5])}")
    chroms = _chromosomes(res)
    genome_end = float((chroms["offset"] + chroms["length"]).max())
    rank = {c: i for i, c in enumerate(chroms["chrom"])}
    ccode = _as_str(man["chrom"]).map(rank)
    if ccode.isna().any():
        bad = _as_str(man["chrom"])[ccode.isna()].iloc[0]
        raise CardiolatentError(f"{_where(res)}: chromosome {bad} of manhattan.parquet is not in summary.json")
    ccode = ccode.to_numpy(np.int64)
    x = man["cum_pos"].to_numpy(np.float64)
    y = man["mlog10p"].to_numpy(np.float64)
    t_sig = float((res.summary.threshold or {}).get("mlog10p", -np.log10(res.summary.p_threshold)))
    sig = y > t_sig
    group = np.where(sig, 2, ccode % 2)
    keep = thin_for_drawing(ccode, x, y, group, thin_p=thin_p, genome_end=genome_end)
    lines = _thresholds(res)
    loci = _locus_table(res, chosen, all_latents, dict(zip(chroms["chrom"], chroms["offset"].astype(np.int64))),
                        genes) if label else pd.DataFrame(columns=["x", "y", "text"])
    band_pt = _label_band_pt(loci["text"].head(max_labels).tolist(), genes is not None) if label else 0.0

    with style():
        top_mm = band_pt / 72 * 25.4 + (5.0 if title else 1.5)
        created = ax is None
        fig, ax = new_or_given_ax(ax, lambda: figure(DOUBLE_COLUMN_MM, height_mm + top_mm))
        if created:
            H = fig.get_figheight() / MM
            fig.subplots_adjust(left=11 / DOUBLE_COLUMN_MM, right=1 - 13 / DOUBLE_COLUMN_MM, bottom=8 / H,
                                top=1 - top_mm / H)
        g = group[keep]
        for cls, colour, z in ((0, SHADES[0], 2), (1, SHADES[1], 2), (2, SIGNIFICANT, 3)):
            sel = keep[g == cls]
            if sel.size:
                ax.plot(x[sel], y[sel], ls="none", marker="o", ms=_MARKER_PT, mew=0, color=colour,
                        rasterized=True, zorder=z, gid="manhattan-points")
        ax.set_xlim(-0.005 * genome_end, genome_end * 1.005)
        _set_mlog10p_axis(ax, float(y.max()), y_break, [v for v, _ in lines])
        for (v, txt), colour in zip(lines, LINE_COLOURS):
            ax.axhline(v, color=colour, lw=0.6, ls=(0, (4, 2)), zorder=4, gid="threshold")
        # threshold values in the right margin, spread so they do not touch
        h_pt = ax.get_position().height * fig.get_figheight() * 72
        w_pt = ax.get_position().width * fig.get_figwidth() * 72
        yf = _ax_fraction_y(ax, [v for v, _ in lines]) * h_pt
        order = np.argsort(yf)
        spread = _spread(yf[order], 7.0, 0, h_pt * 1.2)
        for k, i in enumerate(order):
            v, txt = lines[i]
            ax.text(1.006, spread[k] / h_pt, txt, transform=ax.transAxes, ha="left", va="center",
                    fontsize=5.5, color=LINE_COLOURS[i], clip_on=False, gid="threshold-label")
        ax.set_ylabel(MLOG10P_LABEL)
        ax.set_xlabel("chromosome")
        _chrom_ticks(ax, chroms, w_pt)
        if label:
            _draw_labels(ax, loci, italic=genes is not None, max_labels=max_labels)
        if title:
            ax.set_title(title, loc="left", pad=band_pt + 2)
    return fig


def manhattan_latent(result_or_path, latent: str, **kwargs):
    """Manhattan plot of one latent (:func:`manhattan` with ``latents=[latent]``, titled by the
    latent unless ``title`` is given): its rows of ``manhattan.parquet``, its loci labelled."""
    kwargs.setdefault("title", str(latent))
    return manhattan(result_or_path, latents=[latent], **kwargs)


def _legend_corner(ax, x, y, n_entries: int) -> str:
    """``"upper left"`` or ``"lower right"``: the corner whose legend-sized box covers fewer of the
    points (x, y) (data coordinates; the upper left wins a tie)."""
    pts = ax.transLimits.transform(ax.transScale.transform(np.column_stack([x, y])))
    h_pt = ax.get_position().height * ax.figure.get_figheight() * 72
    h = min(0.9, (n_entries + 0.6) * 6 * 1.3 / h_pt)
    w = 0.6
    ul = int(((pts[:, 0] < w) & (pts[:, 1] > 1 - h)).sum())
    lr = int(((pts[:, 0] > 1 - w) & (pts[:, 1] < h)).sum())
    return "upper left" if ul <= lr else "lower right"


def _maf_legend(res, names: list[str], latents: list[str]) -> tuple[dict, str | None]:
    """Legend labels of the MAF bins (``MAF 0.01-0.05: lambda 1.002, n = 1,234``, from ``summary.json``
    ``qq.maf_lambda_gc`` / ``qq.maf_counts``; medians over several latents) and the legend title
    (the variants without a frequency; how several latents are summarised)."""
    info = res.summary.qq or {}
    counts, lams, missing = (info.get(k) or {} for k in ("maf_counts", "maf_lambda_gc", "maf_missing"))
    lam_sym = r"$\lambda_{\mathrm{GC}}$"
    latents = [x for x in latents if x in counts]
    labels = {}
    for b in names:
        n = [counts[x].get(b) for x in latents if counts[x].get(b) is not None]
        lam = [lams.get(x, {}).get(b) for x in latents]
        lam = [float(v) for v in lam if v is not None and np.isfinite(v)]
        parts = []
        if lam:
            parts.append(f"{lam_sym} {np.median(lam):.3f}")
        if n:
            parts.append(f"n = {int(np.median(n)):,}")
        shown = b.replace("-", "\u2013") if re.fullmatch(r"[\d.]+-[\d.]+", b) else b  # 0.01–0.05
        labels[b] = f"MAF {shown}" + (f": {', '.join(parts)}" if parts else "")
    title = []
    if len(latents) > 1:
        title.append(f"medians over {len(latents)} latents")
    n_miss = sum(int(missing.get(x) or 0) for x in latents)
    if n_miss:
        title.append(f"{n_miss:,} variant(s) without MAF not shown")
    return labels, ("\n".join(title) or None)


def qq(result_or_path, *, latents=None, ax=None, by_maf: bool = False, max_series: int = 8,
       title: str | None = None, y_break="auto"):
    """QQ plot: expected (x) vs observed (y) ``-log10 P`` of ``qq.parquet``, single column (89 mm).

    One series per latent with its lambda GC (``lambda.tsv``) in the legend; more than
    ``max_series`` latents are drawn as one pooled series (one colour), the legend giving the median
    and range of their lambda GC. Grey: the pointwise 95% band (``ci_low``..``ci_high``) of the latent
    with the most variants (the bands of latents with similar counts coincide); black line: y = x.
    ``by_maf``: one series per minor-allele-frequency bin (pooled over the chosen latents), which
    needs the ``maf_bin`` column that ``gwas-results --qq-maf-bins`` writes (an error says so
    otherwise); the legend gives each bin's lambda GC and variant count from ``summary.json``
    (``qq.maf_lambda_gc``, ``qq.maf_counts``; the medians over latents when there are several) and
    the variants without a frequency, which no bin holds. The grey band is then that of the bin with
    the most variants. Without ``by_maf`` a stratified table draws its ``maf_bin == "all"`` rows.
    The observed axis uses the broken scale of the module docstring.
    """
    res = as_result(result_or_path, ("GwasSummary",), "QQ plot")
    all_latents = latents is None
    chosen = _latents_of(res, latents, "QQ plot")
    qqt = _plot_table(res, res.qq, "qq.parquet", ["latent", "expected", "observed", "ci_low", "ci_high"])
    if by_maf and "maf_bin" not in qqt.columns:
        raise CardiolatentError(f"{_where(res)}: qq.parquet has no maf_bin column; by_maf needs QQ data "
                                "stratified by allele frequency (gwas-results --qq-maf-bins)")
    if "maf_bin" in qqt.columns:
        is_all = (_as_str(qqt["maf_bin"]) == MAF_ALL).to_numpy()
        if by_maf:
            qqt = qqt[~is_all]
            if len(qqt) == 0:
                raise CardiolatentError(f"{_where(res)}: qq.parquet has no rows of a MAF bin (maf_bin other "
                                        f"than '{MAF_ALL}') to draw")
        elif is_all.any():
            qqt = qqt[is_all]
    qqt = _rows_of(qqt, chosen, all_latents)
    if len(qqt) == 0:
        raise CardiolatentError(f"{_where(res)}: qq.parquet has no variants of latent(s) {', '.join(chosen[:5])}")
    lam_tab = res.table.assign(latent=res.table["latent"].astype(str)).set_index("latent")
    lam = lam_tab["lambda_gc"].astype(np.float64)
    lat_str = _as_str(qqt["latent"])
    have = set(pd.unique(lat_str))
    present = [c for c in chosen if c in have]
    n_var = lam_tab["n_variants"].reindex(present).fillna(0) if "n_variants" in lam_tab else pd.Series(1, present)
    band_latent = str(n_var.idxmax())

    lam_sym = r"$\lambda_{\mathrm{GC}}$"
    legend_title = None
    if by_maf:
        bins = _as_str(qqt["maf_bin"])
        names = [str(b) for b in (bins.cat.categories if isinstance(bins.dtype, pd.CategoricalDtype)
                                  else pd.unique(bins)) if (bins == b).any()]
        labels, legend_title = _maf_legend(res, names, present)
        series = [(labels[b], qqt[bins == b]) for b in names]
    elif len(present) <= max_series:
        series = [(f"{c} ({lam_sym} {lam.get(c, np.nan):.3f})", qqt[lat_str == c]) for c in present]
    else:
        v = lam.reindex(present).to_numpy(np.float64)
        v = v[np.isfinite(v)]
        rng = f"{lam_sym} median {np.median(v):.3f} ({v.min():.3f}\u2013{v.max():.3f})" if v.size else ""
        series = [(f"{len(present)} latents\n{rng}", qqt)]

    with style():
        created = ax is None
        fig, ax = new_or_given_ax(ax, lambda: figure(SINGLE_COLUMN_MM, 80))
        band = qqt[lat_str == band_latent]
        if by_maf:  # the band of the bin with the most variants: the largest expected value
            bb = bins[band.index]
            band = band[bb == bb.iloc[int(np.argmax(band["expected"].to_numpy(np.float64)))]]
        band = band.sort_values("expected")
        ax.fill_between(band["expected"].to_numpy(np.float64), band["ci_low"].to_numpy(np.float64),
                        band["ci_high"].to_numpy(np.float64), color="#D9D9D9", lw=0, zorder=0,
                        label="95% band", gid="qq-band")
        emax = float(qqt["expected"].max())
        ax.plot([0, emax], [0, emax], color="black", lw=0.6, zorder=1, label="expected", gid="qq-diagonal")
        for i, (lab, d) in enumerate(series):
            ax.plot(d["expected"].to_numpy(np.float64), d["observed"].to_numpy(np.float64), ls="none",
                    marker="o", ms=2.0, mew=0, color=CYCLE[i % len(CYCLE)], rasterized=True, zorder=2,
                    label=lab, gid="qq-points")
        ymax = max(float(qqt["observed"].max()), float(band["ci_high"].max()) if len(band) else 0.0, emax)
        _set_mlog10p_axis(ax, ymax, y_break)
        ax.set_xlim(0, emax * 1.04)
        ax.set_xlabel(r"expected $-\log_{10}\,P$")
        ax.set_ylabel(r"observed $-\log_{10}\,P$")
        xs = np.concatenate([qqt["expected"].to_numpy(np.float64), np.linspace(0, emax, 200),
                             band["expected"].to_numpy(np.float64)])
        ys = np.concatenate([qqt["observed"].to_numpy(np.float64), np.linspace(0, emax, 200),
                             band["ci_low"].to_numpy(np.float64)])
        ax.legend(loc=_legend_corner(ax, xs, ys, len(series) + 2 + (legend_title is not None)), frameon=False,
                  handletextpad=0.3, borderaxespad=0.2, markerscale=2, fontsize=6, title=legend_title,
                  title_fontsize=6)
        if title:
            ax.set_title(title, loc="left")
        if created:
            fig.tight_layout(pad=0.3)
    return fig


def gwas_figures(result_or_path, *, per_latent=False, genes=None, label=True, thin_p: float = 1e-2) -> dict:
    """Every figure of a ``gwas-results`` folder: ``{"manhattan": ..., "qq": ...}`` (+ ``qq_maf``, the
    QQ per MAF bin, when ``qq.parquet`` is stratified) and, with ``per_latent`` (True for all latents,
    or a list), ``manhattan_<latent>`` and ``qq_<latent>`` (+ ``qq_maf_<latent>``) for each. A result
    without variants raises :class:`~cardiolatent.errors.CardiolatentError` with the reason."""
    res = as_result(result_or_path, ("GwasSummary",), "GWAS figure")
    out = {"manhattan": manhattan(res, genes=genes, label=label, thin_p=thin_p), "qq": qq(res)}
    maf_lat = set()
    if res.qq is not None and "maf_bin" in res.qq.columns:  # gwas-results --qq-maf-bins: QQ per MAF bin
        binned = _as_str(res.qq["maf_bin"]) != MAF_ALL
        maf_lat = set(pd.unique(_as_str(res.qq["latent"])[binned]))
        if maf_lat:
            out["qq_maf"] = qq(res, by_maf=True)
    if per_latent:
        chosen = _latents_of(res, None if per_latent is True else per_latent, "Manhattan plot")
        present = set(pd.unique(_as_str(res.manhattan["latent"])))
        for lat in chosen:
            if lat in present:
                out[f"manhattan_{_safe(lat)}"] = manhattan_latent(res, lat, genes=genes, label=label, thin_p=thin_p)
                out[f"qq_{_safe(lat)}"] = qq(res, latents=[lat])
            if lat in maf_lat:
                out[f"qq_maf_{_safe(lat)}"] = qq(res, latents=[lat], by_maf=True)
    return out
