"""Survival figures of a Cox result: the hazard-ratio forest plot and the tertile curves.

- :func:`forest`: hazard ratio per SD of each latent with its 95% CI (log axis, reference line at
  1) and the numbers beside it, one panel per outcome (stacked: each outcome has its own latents).
- :func:`survival_curves`: Kaplan-Meier cumulative incidence or Nelson-Aalen cumulative hazard of
  the quantile groups (tertiles T1-T3) of the score of ``cardiolatent cox --groups LATENT``, with
  CI bands, the groups' hazard ratios against the lowest group, and numbers at risk under the axis.
- :func:`tertile_forest`: the paper's forest plot of the quantile groups (low / middle / high tertile) of
  that score, hazard ratio of each group against the middle group per outcome, with the numbers beside it.
- :func:`survival_figures`: every figure a Cox result can supply.

Everything drawn is read from the result's tables (``cox.tsv`` and ``cox.<score>.{hazard_ratios,
kaplan_meier,nelson_aalen}.tsv``); nothing is refitted. Numbers at risk follow lifelines'
``add_at_risk_counts`` (default, end-of-period count): at time t, the ``at_risk - events -
censored`` of the last table row at or before t, i.e. the participants still followed after t.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib.ticker as mticker
import matplotlib.transforms as mtransforms
import numpy as np
import pandas as pd
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath

from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import natural_key
from cardiolatent.plotting._inputs import as_result
from cardiolatent.plotting.style import CYCLE, DOUBLE_COLUMN_MM, GREY, SINGLE_COLUMN_MM, figure, style

#: the result class the survival figures draw
KINDS = ("CoxResult",)
#: curve tables: kind -> (value column, short name used in figure keys)
CURVES = {"kaplan_meier": ("survival", "km"), "nelson_aalen": ("cumulative_hazard", "na")}
FOREST_COLUMNS = ("latent", "outcome", "hr", "hr_ci_low", "hr_ci_high", "p", "n", "n_events", "status")
CURVE_COLUMNS = ("group", "time", "at_risk", "events", "censored", "ci_low", "ci_high", "outcome", "by")
HR_COLUMNS = ("reference", "group", "hr", "ci_low", "ci_high", "status", "outcome")
#: panel order of the sex strata
SEX_ORDER = ("female", "male", "unknown")
NEEDS_GROUPS = "the tertile curves need `cardiolatent cox --groups LATENT` (this Cox result has no groups)"

ROW_MM = 3.0            # forest: height of one latent row
TEXT_PT = (4.0, 68.0, 100.0)  # forest: offsets (points right of the axes) of the HR (CI), P and events/n columns
TEXT_WIDTH_PT = 127.0
TEXT_SIZE = 6.5
RISK_LINE_PT = 8.0      # at-risk table: points between rows
RISK_LABEL_PT = 12.0    # at-risk table: the row labels end this many points left of the axes
Y_ROOM = 1.8            # curves: the y axis reaches this many times the highest curve (bands may be cut)


# ------------------------------------------------------------------------------------------ helpers

def _load(result_or_path, figure_name: str):
    """(result, source): the Cox result and the path it came from (None for an object)."""
    source = Path(result_or_path) if isinstance(result_or_path, (str, os.PathLike)) else None
    return as_result(result_or_path, KINDS, figure_name), source


def _where(res, source, part: str) -> str:
    """The file (or the result's table) ``part`` names in messages: ``table`` or a group table name."""
    if part == "table":
        return str(source) if source is not None else "the Cox result's table"
    label = getattr(res.summary, "groups", None) or "score"
    if source is not None:
        return str(res.files(source).get(f"{label}.{part}.tsv", f"{part} table"))
    return f"the Cox result's {label}.{part} table"


def _need(df: pd.DataFrame, columns, where: str, figure_name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise CardiolatentError(f"{where}: column {missing[0]!r} missing (a {figure_name} needs "
                                f"{', '.join(columns)})")


def _names(value, option: str) -> list[str] | None:
    """A list of names from ``"A,B"``, ``"A"`` or a sequence (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        out = [v.strip() for v in value.split(",") if v.strip()]
    else:
        out = [str(v) for v in value]
    if not out:
        raise CardiolatentError(f"{option} names nothing")
    return out


def _pick(given: list[str] | None, available: list[str], option: str, where: str) -> list[str]:
    if given is None:
        return available
    low = {a.lower(): a for a in available}
    unknown = [g for g in given if g.lower() not in low]
    if unknown:
        shown = ", ".join(available[:8]) + (", ..." if len(available) > 8 else "")
        raise CardiolatentError(f"{option} {unknown[0]!r} is not in {where} (there: {shown})")
    return [low[g.lower()] for g in given]


def safe_name(text: str) -> str:
    """``text`` as a file-name part: letters, digits, ``-``, ``_`` and ``.`` kept, others ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"


def format_p(p: float) -> str:
    """P as shown in the forest plot: two significant digits (``0.060``), scientific below 0.001."""
    if not np.isfinite(p):
        return "NA"
    return f"{p:#.2g}" if p >= 1e-3 else f"{p:.1e}"


def format_hr(hr: float, lo: float, hi: float) -> str:
    """``HR (low–high)`` with two decimals (three significant digits above 100)."""
    def f(x):
        return f"{x:.2f}" if abs(x) < 100 else f"{x:.3g}"
    return f"{f(hr)} ({f(lo)}\u2013{f(hi)})"


def _status_text(counts: pd.Series) -> str:
    return ", ".join(f"{int(n)} {s}" for s, n in counts.items())


# ------------------------------------------------------------------------------------------ forest

def forest_rows(result_or_path, *, outcome=None, latents=None, top: int | None = 20, sort: str | None = "hr"):
    """The rows the forest plot draws: ``{outcome: (rows drawn, note)}``.

    Rows with ``status != "ok"`` or a non-finite HR / CI are left out (``note`` counts them). Without
    ``latents`` the ``top`` rows of smallest P per outcome are kept (all with ``top=None``). ``sort``:
    ``"hr"`` (largest HR first), ``"p"`` (smallest first), ``"latent"`` (by name) or None (table
    order, or the order of ``latents``). The first row is drawn at the top.
    """
    res, source = _load(result_or_path, "forest plot")
    return _forest_rows(res, source, outcome, latents, top, sort)


def _forest_rows(res, source, outcome, latents, top, sort):
    where = _where(res, source, "table")
    t = res.table
    _need(t, FOREST_COLUMNS, where, "forest plot")
    if sort not in ("hr", "p", "latent", None):
        raise CardiolatentError(f"sort must be 'hr', 'p', 'latent' or None, not {sort!r}")
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1):
        raise CardiolatentError(f"top must be a positive integer or None, not {top!r}")
    outcomes = _pick(_names(outcome, "outcome"), list(dict.fromkeys(t["outcome"].astype(str))), "outcome", where)
    chosen = _names(latents, "latents")
    if chosen is not None:
        chosen = _pick(chosen, list(dict.fromkeys(t["latent"].astype(str))), "latent", where)
    out = {}
    for o in outcomes:
        d = t[t["outcome"].astype(str) == o]
        if chosen is not None:
            d = d.set_index(d["latent"].astype(str)).reindex(chosen).dropna(subset=["latent"]).reset_index(drop=True)
        vals = d[["hr", "hr_ci_low", "hr_ci_high"]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        good = (d["status"].astype(str) == "ok").to_numpy() & np.isfinite(vals).all(1) & (vals > 0).all(1)
        bad = d.loc[~good, "status"].astype(str)
        bad = bad.where(bad != "ok", "HR or CI not finite")
        note = ""
        if len(bad):
            note = (f"{len(bad):,} of {len(d):,} {o} model(s) not drawn, status: "
                    f"{_status_text(bad.value_counts())}")
        d = d[good]
        if chosen is None and top is not None:
            d = d.sort_values("p", kind="mergesort").head(int(top))
        if sort == "hr":
            d = d.sort_values("hr", ascending=False, kind="mergesort")
        elif sort == "p":
            d = d.sort_values("p", kind="mergesort")
        elif sort == "latent":
            d = d.iloc[sorted(range(len(d)), key=lambda i: natural_key(d["latent"].iloc[i]))]
        out[o] = (d.reset_index(drop=True), note)
    return out


def _log_hr_limits(ax, lo: float, hi: float) -> None:
    """x limits of a hazard-ratio axis from ``lo`` to ``hi`` with a small margin on the log scale."""
    pad = (np.log10(hi) - np.log10(lo)) * 0.04 + 0.02
    ax.set_xlim(10 ** (np.log10(lo) - pad), 10 ** (np.log10(hi) + pad))


def _log_hr_ticks(ax) -> None:
    """The hazard-ratio axis' ticks (:func:`log_ticks` of its limits), plain numbers, no minor labels."""
    ticks = log_ticks(*ax.get_xlim())
    ax.xaxis.set_major_locator(mticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(mticker.FixedFormatter([f"{t:g}" for t in ticks]))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks of a log axis from ``lo`` to ``hi``: 1-2-5 per decade, or powers of ten when that
    gives more than 6 (1-3 per decade when powers of ten give fewer than 3); on a narrow range
    (1-2-5 gives fewer than 3) 1-1.5-2-3-5-7 per decade, then finer steps, thinned to at most 6 and
    keeping 1 where it is in range (so both sides of HR = 1 are labelled, evenly on the log scale)."""
    def within(subs):
        e0, e1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
        return [round(m * 10.0 ** e, 12) for e in range(e0, e1 + 1) for m in subs if lo <= m * 10.0 ** e <= hi]

    def thin(ticks):
        while len(ticks) > 6:
            ticks = ticks[1::2] if 1.0 in ticks[1::2] else ticks[::2]
        return ticks
    ticks = within((1, 2, 5))
    if len(ticks) > 6:
        ticks = within((1,))
        if len(ticks) < 3:
            ticks = within((1, 3))
        ticks = thin(ticks)
    elif len(ticks) < 3:
        ticks = within((1, 1.5, 2, 3, 5, 7))
        if len(ticks) < 3:
            ticks = thin(within((1, 1.1, 1.2, 1.3, 1.5, 1.7, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)))
    return ticks


def _forest_panel(ax, d: pd.DataFrame, note: str, outcome: str, colour: str, n_total: int, chosen: bool,
                  *, title=None) -> None:
    """One outcome's rows into ``ax``; ``title``: a function drawing the title (default: the axes title)."""
    k = len(d)
    y = np.arange(k)[::-1].astype(float)  # first row at the top
    ax.set_xscale("log")
    ax.axvline(1.0, color=GREY, lw=0.6, ls="--", zorder=1, gid="reference")
    what = f"{k} selected latent(s)" if chosen else f"{k} of {n_total:,} latents (smallest P)"
    (title or (lambda s: ax.set_title(s, loc="left")))(f"{outcome}: {what}")
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if k == 0:
        ax.text(0.5, 0.5, "nothing to draw", ha="center", va="center", transform=ax.transAxes, color=GREY)
        ax.set_yticks([])
        ax.set_xlim(0.5, 2.0)
    else:
        hr = d["hr"].to_numpy(float)
        lo = d["hr_ci_low"].to_numpy(float)
        hi = d["hr_ci_high"].to_numpy(float)
        ax.hlines(y, lo, hi, color=colour, lw=0.9, zorder=2, gid="ci")
        ax.plot(hr, y, ls="none", marker="s", ms=3.0, color=colour, zorder=3, gid="hr")
        ax.set_yticks(y)
        ax.set_yticklabels(d["latent"].astype(str))
        ax.set_ylim(-0.6, k - 0.4)
        _log_hr_limits(ax, min(lo.min(), 1.0), max(hi.max(), 1.0))
    _log_hr_ticks(ax)
    ax.set_xlabel("hazard ratio per SD (log scale)")
    # text columns right of the axes: x in points from its right edge, y in data units; headers above
    base = mtransforms.blended_transform_factory(ax.transAxes, ax.transData)
    head = mtransforms.blended_transform_factory(ax.transAxes, ax.transAxes)
    cols = [([format_hr(*r) for r in d[["hr", "hr_ci_low", "hr_ci_high"]].to_numpy(float)], "HR (95% CI)", "hr_text"),
            ([format_p(p) for p in d["p"].to_numpy(float)], "P", "p_text"),
            ([f"{int(e):,}/{int(n):,}" for e, n in d[["n_events", "n"]].to_numpy()], "events/n", "n_text")]
    for (texts, name, gid), off in zip(cols, TEXT_PT):
        tr = mtransforms.offset_copy(base, fig=ax.figure, x=off, units="points")
        for yy, s in zip(y, texts):
            ax.text(1.0, yy, s, transform=tr, ha="left", va="center", clip_on=False, fontsize=TEXT_SIZE, gid=gid)
        ax.text(1.0, 1.0, name, transform=mtransforms.offset_copy(head, fig=ax.figure, x=off, y=2, units="points"),
                ha="left", va="bottom", clip_on=False, fontsize=TEXT_SIZE, fontweight="bold", gid="header")
    if note:
        ax.text(0.0, 0.0, note, transform=mtransforms.offset_copy(head, fig=ax.figure, x=-40, y=-24, units="points"),
                ha="left", va="top", color="#555555", fontsize=6, clip_on=False, gid="note")


def forest(result_or_path, *, outcome=None, latents=None, top: int | None = 20, ax=None, sort: str | None = "hr"):
    """Forest plot: hazard ratio per SD of each latent (square) with its 95% CI (line), log x axis,
    dashed reference line at HR = 1, and text columns at the right: HR (95% CI), P, events/n.

    One panel per outcome, stacked (each outcome's rows are its own latents, in the outcome's
    Okabe-Ito colour; ``outcome``: one name, ``"AF,MI"`` or a list). Rows: ``latents`` (names or
    ``"A,B"``) or else the ``top`` latents of smallest P per outcome, sorted by ``sort`` (see
    :func:`forest_rows`). Models with status other than ``ok`` are not drawn; a note under the panel
    says how many and why. ``ax``: draw one outcome into this axes (leave about 45 mm right of it
    for the text). Returns the figure (89 mm wide, 3 mm per row).
    """
    res, source = _load(result_or_path, "forest plot")
    return _forest(res, source, outcome=outcome, latents=latents, top=top, ax=ax, sort=sort)


def _forest(res, source, *, outcome=None, latents=None, top=20, ax=None, sort="hr"):
    rows = _forest_rows(res, source, outcome, latents, top, sort)
    if all(len(d) == 0 for d, _ in rows.values()):
        notes = "; ".join(n for _, n in rows.values() if n) or "no rows"
        raise CardiolatentError(f"{_where(res, source, 'table')}: nothing to draw in a forest plot ({notes})")
    all_outcomes = list(dict.fromkeys(res.table["outcome"].astype(str)))
    colour = {o: CYCLE[all_outcomes.index(o) % len(CYCLE)] for o in rows}
    n_total = res.table.groupby(res.table["outcome"].astype(str)).size().to_dict()
    chosen = latents is not None
    with style():
        if ax is not None:
            if len(rows) != 1:
                raise CardiolatentError(f"ax= draws one outcome; pass outcome= one of {', '.join(rows)}")
            (o, (d, note)), = rows.items()
            _forest_panel(ax, d, note, o, colour[o], n_total[o], chosen)
            return ax.figure
        # layout in mm, top to bottom per panel: title, headers, rows, x axis, note
        left, text_mm = 17.0, TEXT_WIDTH_PT / 72 * 25.4
        blocks = [(4.5, 3.0, len(d) * ROW_MM + 1.0, 9.0, 4.0 if n else 0.5) if len(d) else (4.5, 0, 0, 0, 4.0)
                  for d, n in rows.values()]
        height = sum(sum(b) for b in blocks) + 1.0
        fig = figure(SINGLE_COLUMN_MM, height)
        W = SINGLE_COLUMN_MM
        y_top = height - 0.5
        for (o, (d, note)), (t_mm, h_mm, r_mm, x_mm, n_mm) in zip(rows.items(), blocks):
            if not len(d):  # an outcome without a drawable model: its title and why
                fig.text(1.0 / W, (y_top - 1.0) / height, f"{o}: no model to draw", ha="left", va="top", fontsize=8,
                         gid="panel_title")
                fig.text(3.0 / W, (y_top - t_mm) / height, note, ha="left", va="top", fontsize=6, color="#555555",
                         gid="note")
                y_top -= t_mm + n_mm
                continue
            bottom = y_top - t_mm - h_mm - r_mm
            ax_ = fig.add_axes([left / W, bottom / height, (W - left - text_mm) / W, r_mm / height])
            ty = (y_top - 1.0) / height
            _forest_panel(ax_, d, note, o, colour[o], n_total[o], chosen,
                          title=lambda s, ty=ty: fig.text(1.0 / W, ty, s, ha="left", va="top",
                                                          fontsize=8, gid="panel_title"))
            y_top = bottom - x_mm - n_mm
    return fig


# ------------------------------------------------------------------------------------------ curves

def numbers_at_risk(curve: pd.DataFrame, times) -> np.ndarray:
    """Participants at risk at each of ``times`` from one group's step table (``time, at_risk,
    events, censored``): lifelines' ``add_at_risk_counts`` default, ``at_risk - events - censored``
    of the last row with ``time <= t`` (those still followed after t); 0 before the first row."""
    c = curve.sort_values("time", kind="mergesort")
    tt = c["time"].to_numpy(float)
    left = (c["at_risk"] - c["events"] - c["censored"]).to_numpy(np.int64)
    idx = np.searchsorted(tt, np.asarray(times, float), side="right") - 1
    return np.where(idx >= 0, left[np.clip(idx, 0, None)], 0)


def year_ticks(tmax: float) -> np.ndarray:
    """Regular follow-up ticks (years) from 0 to ``tmax``: every 0.5, 1, 2, 5 or 10 years."""
    step = next((s for s, lim in ((0.5, 3), (1, 6), (2, 15), (5, 30)) if tmax <= lim), 10)
    return np.arange(0.0, tmax + 1e-9, step)


def _curve_table(res, source, kind: str):
    if kind not in CURVES:
        raise CardiolatentError(f"kind must be one of {', '.join(CURVES)}, not {kind!r}")
    if not res.groups:
        raise CardiolatentError(f"{_where(res, source, 'table')}: {NEEDS_GROUPS}")
    if kind not in res.groups:
        raise CardiolatentError(f"{_where(res, source, kind)}: not in this Cox result")
    tab = res.groups[kind]
    _need(tab, CURVE_COLUMNS + (CURVES[kind][0],), _where(res, source, kind), f"{kind} curve")
    return tab


def _hr_labels(res, source, outcome: str, groups: list[str], by: str) -> dict[str, str]:
    """Legend label of each group: the first is the reference; the others ``HR (CI)`` against it."""
    labels = {g: g for g in groups}
    labels[groups[0]] = f"{groups[0]} (reference)"
    hr = res.groups.get("hazard_ratios")
    if hr is None or not len(groups):
        return labels
    _need(hr, HR_COLUMNS, _where(res, source, "hazard_ratios"), "hazard-ratio legend")
    h = hr[(hr["outcome"].astype(str) == outcome) & (hr["reference"].astype(str) == groups[0])]
    if "by" in h.columns:
        h = h[h["by"].astype(str) == by] if (h["by"].astype(str) == by).any() else h[h["by"].isna()]
    for _, r in h.iterrows():
        g = str(r["group"])
        if g not in labels:
            continue
        vals = np.array([r["hr"], r["ci_low"], r["ci_high"]], float)
        if str(r["status"]) == "ok" and np.isfinite(vals).all():
            labels[g] = f"{g}: HR {format_hr(*vals)}"
        else:
            labels[g] = f"{g}: HR not estimable ({r['status']})"
    return labels


def _curve_values(part: pd.DataFrame, groups: list[str], kind: str) -> dict:
    """``group -> (rows, y, band low, band high)`` of one panel: KM as cumulative incidence in %
    (100 (1 - S), band from 100 (1 - CI)), Nelson-Aalen as the cumulative hazard and its CI."""
    out = {}
    for g in groups:
        c = part[part["group"].astype(str) == g].sort_values("time", kind="mergesort")
        if not len(c):
            continue
        if kind == "kaplan_meier":
            yv = 100.0 * (1.0 - c["survival"].to_numpy(float))
            lo = 100.0 * (1.0 - c["ci_high"].to_numpy(float))
            hi = 100.0 * (1.0 - c["ci_low"].to_numpy(float))
        else:
            yv, lo, hi = (c[k].to_numpy(float) for k in ("cumulative_hazard", "ci_low", "ci_high"))
        out[g] = (c, yv, lo, hi)
    return out


def _at_risk_rows(ax, curves: dict, ticks, colours: dict, *, row_labels: bool) -> None:
    """Numbers at risk under ``ax``: one row per group (in its colour) at ``ticks``."""
    base = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    lab = mtransforms.blended_transform_factory(ax.transAxes, ax.transAxes)
    top = -26.0  # points below the axes: under the tick labels and the x label
    if row_labels:
        ax.text(0, 0, "Number at risk", transform=mtransforms.offset_copy(lab, fig=ax.figure, x=-RISK_LABEL_PT - 12,
                                                                          y=top, units="points"),
                ha="left", va="center", fontweight="bold", clip_on=False, gid="at_risk_header")
    for i, (g, c) in enumerate(curves.items()):
        yoff = top - RISK_LINE_PT * (i + 1)
        counts = numbers_at_risk(c, ticks)
        tr = mtransforms.offset_copy(base, fig=ax.figure, y=yoff, units="points")
        for t, n in zip(ticks, counts):
            ax.text(t, 0, f"{int(n):,}", transform=tr, ha="center", va="center", color=colours[g], clip_on=False,
                    gid=f"at_risk:{g}")
        if row_labels:
            ax.text(0, 0, g, transform=mtransforms.offset_copy(lab, fig=ax.figure, x=-RISK_LABEL_PT, y=yoff,
                                                               units="points"),
                    ha="right", va="center", color=colours[g], clip_on=False, gid="at_risk_label")


def survival_curves(result_or_path, *, outcome: str | None = None, kind: str = "kaplan_meier", by: str = "all",
                    ax=None, at_risk: bool = True, ci: bool = True):
    """Step curves of each quantile group (T1-T3; Okabe-Ito blue, orange, green) of the score of
    ``cox --groups``, with light CI bands, x = years since the start of follow-up (the imaging visit, or
    the baseline assessment for a table at instance 0: ``summary.follow_from``).

    ``kind="kaplan_meier"``: y = cumulative incidence in % = 100 (1 - Kaplan-Meier survival), band
    from the survival CI; ``"nelson_aalen"``: y = cumulative hazard (Nelson-Aalen), with its CI.
    ``by="all"``: one panel (89 mm); ``"sex"``: one panel per sex stratum side by side (183 mm,
    shared y). ``at_risk``: numbers at risk under each panel at regular year ticks (lifelines'
    convention, :func:`numbers_at_risk`). The legend gives each group's hazard ratio against the
    lowest group (``hazard_ratios`` table: the Cox model of all participants with the result's
    covariates). The y axis reaches 1.8 times the highest curve, so very wide bands (few events)
    are cut at the top. ``outcome``: default the first. ``ax``: one axes (``by="all"``) or one per
    stratum. Panel titles give n and events of the stratum (from the table).
    """
    res, source = _load(result_or_path, f"{kind} curve")
    return _survival_curves(res, source, outcome=outcome, kind=kind, by=by, ax=ax, at_risk=at_risk, ci=ci)


def _survival_curves(res, source, *, outcome=None, kind="kaplan_meier", by="all", ax=None, at_risk=True, ci=True):
    tab = _curve_table(res, source, kind)
    where = _where(res, source, kind)
    outcomes = list(dict.fromkeys(tab["outcome"].astype(str)))
    if not outcomes:
        raise CardiolatentError(f"{where}: no rows to draw")
    o = _pick(_names(outcome, "outcome"), outcomes, "outcome", where)[0] if outcome is not None else outcomes[0]
    sub = tab[tab["outcome"].astype(str) == o]
    levels_present = list(dict.fromkeys(sub["by"].astype(str)))
    if by == "all":
        levels = ["all"]
    elif by == "sex":
        levels = [s for s in SEX_ORDER if s in levels_present] + sorted(
            s for s in levels_present if s not in SEX_ORDER and s != "all")
    else:
        raise CardiolatentError(f"by must be 'all' or 'sex', not {by!r}")
    levels = [lv for lv in levels if lv in levels_present]
    if not levels:
        raise CardiolatentError(f"{where}: no {'sex strata' if by == 'sex' else 'overall'} curves for {o}")
    groups = sorted(dict.fromkeys(sub["group"].astype(str)), key=natural_key)
    colours = {g: CYCLE[i % len(CYCLE)] for i, g in enumerate(groups)}
    labels = _hr_labels(res, source, o, groups, "all")
    score = getattr(res.summary, "groups", None) or "score"
    q = getattr(res.summary, "quantiles", None) or len(groups)
    covs = list(getattr(res.summary, "covariates", []) or [])
    with style():
        if ax is None:
            width = SINGLE_COLUMN_MM if len(levels) == 1 else DOUBLE_COLUMN_MM
            risk_mm = (26 + RISK_LINE_PT * (len(groups) + 0.8)) / 72 * 25.4 if at_risk else 10.0
            plot_mm = 50.0
            height = plot_mm + risk_mm + 10
            fig = figure(width, height)
            axes = list(fig.subplots(1, len(levels), sharey=True, squeeze=False)[0])
            fig.subplots_adjust(left=(16 if at_risk else 13) / width, right=0.98, top=1 - 9 / height,
                                bottom=risk_mm / height, wspace=0.12 if len(levels) > 1 else 0.2)
        else:
            axes = list(np.atleast_1d(ax).ravel())
            if len(axes) != len(levels):
                raise CardiolatentError(f"by={by!r} draws {len(levels)} panel(s) ({', '.join(levels)}): "
                                        f"pass ax= with {len(levels)} axes, or none")
            fig = axes[0].figure
        tmax = float(sub["time"].max())
        ticks = year_ticks(tmax)
        drawn = {lv: _curve_values(sub[sub["by"].astype(str) == lv], groups, kind) for lv in levels}
        ymax = max((float(np.nanmax(v[1])) for d in drawn.values() for v in d.values()), default=0.0)
        bmax = max((float(np.nanmax(v[3])) for d in drawn.values() for v in d.values()), default=0.0) if ci else ymax
        top = min(bmax, ymax * Y_ROOM) if ymax > 0 else (bmax if bmax > 0 else 1.0)
        top = max(top, ymax * 1.05) if ymax > 0 else top
        for j, (a, lv) in enumerate(zip(axes, levels)):
            curves = drawn[lv]
            for g, (c, yv, lo, hi) in curves.items():
                x = c["time"].to_numpy(float)
                if ci:
                    a.fill_between(x, lo, hi, step="post", color=colours[g], alpha=0.13, lw=0, gid=f"band:{g}")
                a.step(x, yv, where="post", color=colours[g], lw=1.0, label=labels[g] if j == 0 else g,
                       gid=f"curve:{g}")
            n_all = sum(int(c["at_risk"].iloc[0]) for c, *_ in curves.values())
            ev_all = sum(int(c["events"].sum()) for c, *_ in curves.values())
            a.set_xlim(0, tmax * 1.02)
            a.set_xticks(ticks)
            a.set_xticklabels([f"{t:g}" for t in ticks])
            a.set_ylim(0, top)
            a.yaxis.set_major_locator(mticker.MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
            a.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
            a.set_xlabel(f"years since {getattr(res.summary, 'follow_from', None) or 'imaging visit'}")
            head = "all participants" if lv == "all" else lv
            a.set_title(f"{head} (n = {n_all:,}, {ev_all:,} event{'s' if ev_all != 1 else ''})", loc="left",
                        fontsize=7)
            if j == 0:
                a.set_ylabel(f"{o} cumulative incidence (%)\n= 100 \u00d7 (1 \u2212 Kaplan-Meier survival)"
                             if kind == "kaplan_meier" else f"{o} cumulative hazard (Nelson-Aalen)")
                title = f"HR vs {groups[0]}" + (f", adjusted for {', '.join(covs)}" if covs else "")
                if lv != "all":
                    title += "\n(all participants)"
                a.legend(title=title, loc="upper left", frameon=False, handlelength=1.4, borderaxespad=0.2,
                         title_fontsize=6.5, alignment="left")
            if at_risk and curves:
                _at_risk_rows(a, {g: v[0] for g, v in curves.items()}, ticks, colours, row_labels=(j == 0))
        if ax is None:
            what = "tertiles" if q == 3 else f"{q} quantile groups"
            fig.suptitle(f"{o} by {what} of {score}", x=0.01, y=1 - 1.0 / height, ha="left", va="top", fontsize=8)
    return fig


# ------------------------------------------------------------------------------------------ tertile forest

TF_ROW_MM = 3.6          # tertile forest: height of one row (a not-estimable row may need two lines)
TF_TEXT_PT = (4.0, 70.0, 98.0)  # offsets of the HR (95% CI), P and events/n columns right of the axes
TF_TEXT_WIDTH_PT = 126.0
TF_NOTE_SIZE = 6.0      # "not estimable (status)" and "reference" texts
TERTILE_NAMES = ("low", "middle", "high")


def _points(text: str, size: float) -> float:
    """Width of ``text`` at ``size`` pt in the house font, in points (no renderer needed)."""
    with style():
        return TextPath((0, 0), text, size=size, prop=FontProperties()).get_extents().width


def group_names(groups) -> dict[str, str]:
    """Display name of each group label (in order low to high): ``low / middle / high`` for three
    groups (tertiles), the table's labels (``Q1``..``Qk``) otherwise."""
    groups = [str(g) for g in groups]
    return dict(zip(groups, TERTILE_NAMES)) if len(groups) == 3 else {g: g for g in groups}


def _reference_group(reference, groups: list[str], where: str) -> str:
    """The reference group label for ``reference``: ``"middle"`` (median group, odd k), ``"low"`` /
    ``"high"`` (first / last group) or a group label (``"T1"``, case-insensitive)."""
    if not isinstance(reference, str) or not reference.strip():
        raise CardiolatentError(f"reference must be 'middle', 'low', 'high' or a group label "
                                f"({', '.join(groups)}), not {reference!r}")
    r = reference.strip().lower()
    k = len(groups)
    if r == "middle":
        if k % 2 == 0:
            raise CardiolatentError(f"{where}: reference='middle' needs an odd number of groups, this result has "
                                    f"{k} ({', '.join(groups)}); pass reference= one of them")
        return groups[k // 2]
    if r in ("low", "high"):
        return groups[0] if r == "low" else groups[-1]
    low = {g.lower(): g for g in groups}
    if r not in low:
        raise CardiolatentError(f"reference {reference!r} is not a group in {where} (there: {', '.join(groups)}; "
                                f"or 'middle', 'low', 'high')")
    return low[r]


def tertile_forest_rows(result_or_path, *, outcome=None, reference: str = "middle") -> pd.DataFrame:
    """The rows the tertile forest plot draws, top to bottom: ``outcome, group, name, kind, hr,
    ci_low, ci_high, p, n, n_events, status`` with ``kind`` ``"reference"`` (the reference group,
    drawn at 1), ``"ok"`` (a point and its CI) or ``"not_estimable"`` (status not ok, or an HR / CI
    not finite and positive: listed, not drawn). Read from the ``hazard_ratios`` table's rows whose
    ``reference`` is the chosen group (see :func:`tertile_forest`); nothing is recomputed."""
    res, source = _load(result_or_path, "tertile forest plot")
    return _tertile_rows(res, source, outcome, reference)[0]


def _tertile_rows(res, source, outcome, reference):
    """(rows, reference label, group labels low to high)."""
    if not res.groups:
        raise CardiolatentError(f"{_where(res, source, 'table')}: {NEEDS_GROUPS}")
    if "hazard_ratios" not in res.groups:
        raise CardiolatentError(f"{_where(res, source, 'hazard_ratios')}: not in this Cox result")
    where = _where(res, source, "hazard_ratios")
    hr = res.groups["hazard_ratios"]
    need = HR_COLUMNS + ("p", "n", "n_events", "n_ref", "n_events_ref")
    _need(hr, need, where, "tertile forest plot")
    if "by" in hr.columns:  # overall models only (a by-stratum table keeps its rows without a stratum)
        allrows = hr["by"].isna() | (hr["by"].astype(str) == "all")
        hr = hr[allrows] if allrows.any() else hr
    if not len(hr):
        raise CardiolatentError(f"{where}: no rows to draw in a tertile forest plot")
    groups = sorted(set(hr["reference"].astype(str)) | set(hr["group"].astype(str)), key=natural_key)
    ref = _reference_group(reference, groups, where)
    names = group_names(groups)
    outcomes = _pick(_names(outcome, "outcome"), list(dict.fromkeys(hr["outcome"].astype(str))), "outcome", where)
    rows = []
    for o in outcomes:
        h = hr[(hr["outcome"].astype(str) == o) & (hr["reference"].astype(str) == ref)]
        by_group = {str(g): r for g, r in zip(h["group"], h.to_dict("records"))}
        if not by_group:
            continue  # the reference group is not in this outcome's model (fewer than two groups)
        first = next(iter(by_group.values()))
        for g in groups:
            base = {"outcome": o, "group": g, "name": names[g]}
            if g == ref:
                rows.append({**base, "kind": "reference", "hr": 1.0, "ci_low": np.nan, "ci_high": np.nan,
                             "p": np.nan, "n": first["n_ref"], "n_events": first["n_events_ref"], "status": "ok"})
                continue
            r = by_group.get(g)
            if r is None:
                rows.append({**base, "kind": "not_estimable", "hr": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                             "p": np.nan, "n": np.nan, "n_events": np.nan, "status": "group not in the model"})
                continue
            vals = np.array([r["hr"], r["ci_low"], r["ci_high"]], float)
            ok = str(r["status"]) == "ok" and bool(np.isfinite(vals).all() and (vals > 0).all())
            status = str(r["status"]) if str(r["status"]) != "ok" else ("ok" if ok else "HR or CI not finite")
            rows.append({**base, "kind": "ok" if ok else "not_estimable", "hr": vals[0], "ci_low": vals[1],
                         "ci_high": vals[2], "p": float(r["p"]), "n": r["n"], "n_events": r["n_events"],
                         "status": status})
    if not rows:
        raise CardiolatentError(f"{where}: no model with reference {ref} to draw in a tertile forest plot")
    return pd.DataFrame(rows), ref, groups


def _count(e, n) -> str:
    return f"{int(e):,}/{int(n):,}" if np.isfinite(float(e)) and np.isfinite(float(n)) else "\u2013"


def _tertile_panel(ax, rows: pd.DataFrame, colours: dict, ref_name: str, what: str) -> np.ndarray:
    """Draw the rows into ``ax``; returns the y of each row (outcome header rows in between)."""
    outcomes = list(dict.fromkeys(rows["outcome"]))
    ys, head_y, y = [], {}, 0.0
    for i, o in enumerate(outcomes):
        if i:
            y -= 0.4  # a little air between outcomes
        head_y[o] = y
        y -= 1.0
        for _ in range((rows["outcome"] == o).sum()):
            ys.append(y)
            y -= 1.0
    ys = np.array(ys)
    ax.set_xscale("log")
    ax.axvline(1.0, color=GREY, lw=0.6, ls="--", zorder=1, gid="reference")
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ok = (rows["kind"] == "ok").to_numpy()
    for o in outcomes:
        m = (rows["outcome"] == o).to_numpy()
        d, yy = rows[m & ok], ys[m & ok]
        if len(d):
            ax.hlines(yy, d["ci_low"], d["ci_high"], color=colours[o], lw=0.9, zorder=2, gid=f"ci:{o}")
            ax.plot(d["hr"], yy, ls="none", marker="s", ms=3.2, color=colours[o], zorder=3, gid=f"hr:{o}")
        r = m & (rows["kind"] == "reference").to_numpy()
        ax.plot(np.ones(int(r.sum())), ys[r], ls="none", marker="s", ms=3.2, mfc="white", mec=colours[o], mew=0.8,
                zorder=3, gid=f"reference_point:{o}")
    ticks_y = np.r_[[head_y[o] for o in outcomes], ys]
    labels = list(outcomes) + list(rows["name"])
    order = np.argsort(-ticks_y, kind="mergesort")
    ax.set_yticks(ticks_y[order])
    ax.set_yticklabels([labels[i] for i in order])
    for tl, i in zip(ax.get_yticklabels(), order):
        if i < len(outcomes):  # an outcome header: bold, in the outcome's colour, no row of its own
            tl.set_fontweight("bold")
            tl.set_color(colours[outcomes[i]])
            tl.set_fontsize(7)
    ax.set_ylim(ys.min() - 0.6, 0.6)
    drawn = rows[ok]
    lo = min(float(drawn["ci_low"].min()) if len(drawn) else 1.0, 1.0)
    hi = max(float(drawn["ci_high"].max()) if len(drawn) else 1.0, 1.0)
    if hi / lo < 4:  # a narrow range: at least a factor 2 each side of 1
        lo, hi = min(lo, 0.5), max(hi, 2.0)
    _log_hr_limits(ax, lo, hi)
    _log_hr_ticks(ax)
    ax.set_xlabel(f"hazard ratio vs {f'{ref_name} {what}'.strip()} (log scale)")
    # text columns right of the axes (x in points from its right edge, y in data units), headers above
    base = mtransforms.blended_transform_factory(ax.transAxes, ax.transData)
    head = mtransforms.blended_transform_factory(ax.transAxes, ax.transAxes)
    col = [mtransforms.offset_copy(base, fig=ax.figure, x=off, units="points") for off in TF_TEXT_PT]
    span = TF_TEXT_PT[2] - TF_TEXT_PT[0] - 5.0  # room of a "not estimable" text: the HR and P columns
    grey = "#555555"
    for (_, r), yy in zip(rows.iterrows(), ys):
        if r["kind"] == "ok":
            ax.text(1.0, yy, format_hr(r["hr"], r["ci_low"], r["ci_high"]), transform=col[0], ha="left",
                    va="center", clip_on=False, fontsize=TEXT_SIZE, gid="hr_text")
            ax.text(1.0, yy, format_p(r["p"]), transform=col[1], ha="left", va="center", clip_on=False,
                    fontsize=TEXT_SIZE, gid="p_text")
        elif r["kind"] == "reference":
            ax.text(1.0, yy, "reference", transform=col[0], ha="left", va="center", clip_on=False,
                    fontsize=TEXT_SIZE, color=grey, style="italic", gid="reference_text")
        else:
            s = f"not estimable ({r['status']})"
            if _points(s, TF_NOTE_SIZE) > span:
                s = f"not estimable\n({r['status']})"
            ax.text(1.0, yy, s, transform=col[0], ha="left", va="center", clip_on=False, fontsize=TF_NOTE_SIZE,
                    color=grey, style="italic", linespacing=0.95, gid="not_estimable")
        ax.text(1.0, yy, _count(r["n_events"], r["n"]), transform=col[2], ha="left", va="center", clip_on=False,
                fontsize=TEXT_SIZE, gid="n_text")
    for name, off in zip(("HR (95% CI)", "P", "events/n"), TF_TEXT_PT):
        ax.text(1.0, 1.0, name, transform=mtransforms.offset_copy(head, fig=ax.figure, x=off, y=2, units="points"),
                ha="left", va="bottom", clip_on=False, fontsize=TEXT_SIZE, fontweight="bold", gid="header")
    return ys


def tertile_forest(result_or_path, *, outcome=None, reference: str = "middle", ax=None):
    """Forest plot of the quantile groups (tertiles) of the score of ``cardiolatent cox --groups``:
    hazard ratio (square, log x axis) with its 95% CI (line) of each group against the ``reference``
    group, per outcome, and text columns at the right: HR (95% CI), P, events/n (of the group).

    Rows, top to bottom: per outcome (bold header, the outcome's Okabe-Ito colour as in
    :func:`forest`) its groups low to high, named ``low / middle / high`` for three groups (the
    table's ``T1..T3``), the table's labels (``Q1..Qk``) otherwise. The reference group is an open
    square at HR = 1 (dashed line) marked "reference". ``reference``: ``"middle"`` (the paper; the
    median group, an odd number of groups only), ``"low"``, ``"high"`` or a group label (``"T1"``).
    A model with status other than ``ok`` is listed as "not estimable (status)" instead of a point.
    Values are the ``hazard_ratios`` table's rows with that reference (Cox model of all participants
    with the result's covariates); nothing is refitted. ``outcome``: one name, ``"AF,MI"`` or a list
    (default all). ``ax``: draw into this axes (leave about 45 mm right of it for the text).
    Returns the figure (89 mm wide, 3.6 mm per row).
    """
    res, source = _load(result_or_path, "tertile forest plot")
    return _tertile_forest(res, source, outcome=outcome, reference=reference, ax=ax)


def _tertile_forest(res, source, *, outcome=None, reference="middle", ax=None):
    rows, ref, groups = _tertile_rows(res, source, outcome, reference)
    order = list(dict.fromkeys(res.table["outcome"].astype(str))) if "outcome" in res.table else []
    order += [o for o in dict.fromkeys(res.groups["hazard_ratios"]["outcome"].astype(str)) if o not in order]
    colours = {o: CYCLE[order.index(o) % len(CYCLE)] for o in dict.fromkeys(rows["outcome"])}
    k = len(groups)
    what = "tertile" if k == 3 else ""
    ref_name = group_names(groups)[ref]
    score = getattr(res.summary, "groups", None) or "score"
    covs = list(getattr(res.summary, "covariates", []) or [])
    with style():
        if ax is not None:
            _tertile_panel(ax, rows, colours, ref_name, what)
            ax.set_title(f"{'Tertiles' if k == 3 else f'{k} quantile groups'} of {score}", loc="left", pad=12)
            return ax.figure
        # layout in mm, top to bottom: title (2 lines), headers, rows, x axis
        n_rows = len(rows) + rows["outcome"].nunique() * 1.4 - 0.4
        left, text_mm, top_mm, rows_mm, x_mm = 14.0, TF_TEXT_WIDTH_PT / 72 * 25.4, 10.5, n_rows * TF_ROW_MM, 8.5
        height = top_mm + rows_mm + x_mm
        W = SINGLE_COLUMN_MM
        fig = figure(W, height)
        a = fig.add_axes([left / W, x_mm / height, (W - left - text_mm) / W, rows_mm / height])
        _tertile_panel(a, rows, colours, ref_name, what)
        groups_txt = f"tertiles of {score}" if k == 3 else f"{k} quantile groups of {score} ({groups[0]} lowest)"
        fig.text(1.0 / W, 1 - 0.8 / height, f"Hazard ratio by {groups_txt}", ha="left", va="top", fontsize=8,
                 gid="title")
        sub = f"Cox model, reference = {f'{ref_name} {what}'.strip()}"
        sub += f", adjusted for {', '.join(covs)}" if covs else ""
        fig.text(1.0 / W, 1 - 4.6 / height, sub, ha="left", va="top", fontsize=6.5, color="#555555", gid="subtitle")
    return fig


# ------------------------------------------------------------------------------------------ family

def survival_figures(result_or_path) -> dict:
    """Every survival figure of a Cox result: ``forest`` (always) and, with ``cox --groups``,
    ``tertile_forest`` (the groups' hazard ratios against the middle group, :func:`tertile_forest`) and per
    outcome ``km_<outcome>`` (Kaplan-Meier, all participants), ``km_sex_<outcome>`` (by sex) and
    ``na_<outcome>`` (Nelson-Aalen). A figure the result cannot give maps to the reason (a string)
    instead of a figure: without groups, ``{"curves": "... need `cardiolatent cox --groups LATENT`"}``
    (what ``cardiolatent figures`` lists as skipped). Raises CardiolatentError when no figure can
    be drawn at all."""
    res, source = _load(result_or_path, "survival figure")
    figs: dict = {}
    try:
        figs["forest"] = _forest(res, source)
    except CardiolatentError as exc:
        figs["forest"] = str(exc)
    if not res.groups:
        figs["curves"] = NEEDS_GROUPS
    else:
        try:
            figs["tertile_forest"] = _tertile_forest(res, source)
        except CardiolatentError as exc:
            figs["tertile_forest"] = str(exc)
        for kind, by, key in (("kaplan_meier", "all", "km"), ("kaplan_meier", "sex", "km_sex"),
                              ("nelson_aalen", "all", "na")):
            tab = res.groups.get(kind)
            outs = list(dict.fromkeys(tab["outcome"].astype(str))) if tab is not None and "outcome" in tab else [None]
            for o in outs:
                name = f"{key}_{safe_name(o)}" if o is not None else key
                try:
                    figs[name] = _survival_curves(res, source, outcome=o, kind=kind, by=by)
                except CardiolatentError as exc:
                    figs[name] = str(exc)
    if all(isinstance(v, str) for v in figs.values()):
        raise CardiolatentError("; ".join(f"{k}: {v}" for k, v in figs.items()))
    return figs


__all__ = ["CURVES", "KINDS", "forest", "forest_rows", "format_hr", "format_p", "group_names", "log_ticks",
           "numbers_at_risk", "safe_name", "survival_curves", "survival_figures", "tertile_forest",
           "tertile_forest_rows", "year_ticks"]
