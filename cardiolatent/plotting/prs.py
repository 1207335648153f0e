"""Polygenic-score figures (the paper's Fig. 7), drawn from a :class:`~cardiolatent.genetics.prs_result.PrsResult`.

- :func:`prs_prevalence`: share of cases (%) in the bottom 5/10/20 % and top 20/10/5 % of a score, Wilson
  95 % CIs as error bars, a dashed line at the overall prevalence; one panel per ``by`` level (all
  participants, female, male). From ``prevalence.tsv``.
- :func:`prs_cumulative_hazard`: Nelson-Aalen cumulative hazard (%) by tertile of a score (low / middle /
  top = T1 / T2 / T3) over years since the imaging visit, with 95 % CI bands, numbers at risk and the
  tertiles' hazard ratios against the low tertile in the legend. Drawn by
  :func:`cardiolatent.plotting.survival.survival_curves` on :meth:`PrsResult.cox_result` (``cumulative_hazard.tsv``
  and ``tertiles.tsv``); the curves' y data are the table's cumulative hazard, the axis shows it x 100.
- :func:`prs_tertile_forest`: hazard ratio of each tertile against the middle one per outcome
  (:func:`cardiolatent.plotting.survival.tertile_forest` on the same view; ``tertiles.tsv``).
- :func:`prs_auc`: out-of-fold AUC with its 95 % CI of the three models of ``auc.tsv`` per outcome
  (covariates; covariates + best score; covariates + all scores, L1), with the AUC gain and DeLong's P
  against the covariates-only model.
- :func:`prs_forest`: hazard ratio per SD of the scores for one outcome (``cox.tsv``), drawn by
  :func:`cardiolatent.plotting.survival.forest` on :meth:`PrsResult.cox_result`.
- :func:`prs_figures`: every figure the result holds, ``name -> Figure`` (or the reason it cannot be drawn).

Every function takes the result or the folder it was saved to; nothing is recomputed. The default score
of a figure of one outcome is :func:`best_score`: the evaluated score (``summary.evaluated``) with the
smallest Cox P for that outcome in ``cox.tsv``. An unknown score or outcome is a one-line
CardiolatentError naming the table and what it holds.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.ticker as mticker
import matplotlib.transforms as mtransforms
import numpy as np
import pandas as pd
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath

from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.prs_eval import PERCENTILE_GROUPS
from cardiolatent.genetics.prs_result import AUC_MODELS
from cardiolatent.plotting._inputs import as_result
from cardiolatent.plotting.style import DOUBLE_COLUMN_MM, GREY, OKABE_ITO, SINGLE_COLUMN_MM, figure, style
from cardiolatent.plotting.survival import (SEX_ORDER, forest, format_p, safe_name, survival_curves,
                                            tertile_forest)

#: the result class these figures draw
KINDS = ("PrsResult",)
#: the percentile groups of ``prevalence.tsv``, in drawing order (bottom 5 % ... top 5 %)
PREVALENCE_GROUPS = tuple(label for label, _, _ in PERCENTILE_GROUPS)
#: the default strata of the prevalence figure (those the table holds)
BY_LEVELS = ("all",) + SEX_ORDER[:2]
#: bar colours of the two sides of the score
SIDE_COLOUR = {"bottom": OKABE_ITO["blue"], "top": OKABE_ITO["vermillion"]}
#: colour and marker of each AUC model (``auc.tsv`` order)
MODEL_STYLE = dict(zip(AUC_MODELS, ((OKABE_ITO["black"], "o"), (OKABE_ITO["blue"], "s"),
                                    (OKABE_ITO["vermillion"], "D"))))
#: display names of the tertiles (``T1..T3`` of ``tertiles.tsv`` and ``cumulative_hazard.tsv``)
TERTILE_NAMES = {"T1": "low", "T2": "middle", "T3": "top"}

PREV_COLUMNS = ("score", "outcome", "by", "group", "n", "cases", "prevalence", "ci_low", "ci_high")
CURVE_COLUMNS = ("score", "outcome", "by", "group", "time", "cumulative_hazard", "ci_low", "ci_high")
TERTILE_COLUMNS = ("score", "outcome", "reference", "group", "hr", "ci_low", "ci_high", "status")
AUC_COLUMNS = ("outcome", "model", "score", "n", "cases", "auc", "ci_low", "ci_high", "delong_diff", "delong_p")
COX_COLUMNS = ("score", "outcome", "p", "hr")
AUC_TEXT_PT = (4.0, 75.0, 104.0)  # AUC figure: offsets (points right of the axes) of AUC (CI), gain, P
AUC_TEXT_WIDTH_PT = 130.0
AUC_LABEL_PT = 56.0               # AUC figure: room left of the axes for the model labels
AUC_ROW_MM = 3.4
TEXT_SIZE = 6.5


# ------------------------------------------------------------------------------------------ helpers

class _Prs:
    """The result and where its tables are (for messages)."""

    def __init__(self, result_or_path, figure_name: str):
        self.source = Path(result_or_path) if isinstance(result_or_path, (str, os.PathLike)) else None
        self.res = as_result(result_or_path, KINDS, figure_name)

    def where(self, name: str) -> str:
        return str(self.source / name) if self.source is not None else f"{name} of the PRS result"

    def table(self, attr: str, name: str, columns, figure_name: str) -> pd.DataFrame:
        t = self.res.table if attr == "table" else getattr(self.res, attr)
        if t is None or not len(t):
            raise CardiolatentError(f"{self.where(name)}: no rows (the {figure_name} needs {name})")
        missing = [c for c in columns if c not in t.columns]
        if missing:
            raise CardiolatentError(f"{self.where(name)}: column {missing[0]!r} missing (the {figure_name} needs "
                                    f"{', '.join(columns)})")
        return t

    def outcomes(self) -> list[str]:
        """Outcomes of the result: ``summary.outcomes``, then any other in ``cox.tsv``."""
        out = [str(o) for o in (self.res.summary.outcomes or {})]
        if len(self.res.table) and "outcome" in self.res.table:
            out += [o for o in dict.fromkeys(self.res.table["outcome"].astype(str)) if o not in out]
        return out


def _one(value, available: list[str], what: str, where: str) -> str:
    """``value`` matched case-insensitively to one of ``available`` (one-line error otherwise)."""
    if not isinstance(value, str) or not value.strip():
        raise CardiolatentError(f"{what} must be a name, not {value!r}")
    low = {a.lower(): a for a in available}
    if value.strip().lower() not in low:
        shown = ", ".join(available[:8]) + (", ..." if len(available) > 8 else "")
        raise CardiolatentError(f"{what} {value!r} is not in {where} (there: {shown or 'nothing'})")
    return low[value.strip().lower()]


def _outcome(p: _Prs, outcome) -> str:
    return _one(outcome, p.outcomes(), "outcome", p.where("cox.tsv"))


def _score(p: _Prs, score, outcome: str, table: pd.DataFrame, name: str) -> str:
    """The score to draw: ``score`` (checked against ``table``'s rows of ``outcome``) or :func:`best_score`."""
    if score is None:
        score = _best(p, outcome)
    rows = table[table["outcome"].astype(str) == outcome]
    return _one(score, list(dict.fromkeys(rows["score"].astype(str))), "score", f"{p.where(name)} for {outcome}")


def _best(p: _Prs, outcome: str) -> str:
    t = p.table("table", "cox.tsv", COX_COLUMNS, "default score")
    d = t[t["outcome"].astype(str) == outcome]
    evaluated = [str(s) for s in (p.res.summary.evaluated or [])]
    if evaluated:
        d = d[d["score"].astype(str).isin(evaluated)]
    pv = pd.to_numeric(d["p"], errors="coerce")
    if "status" in d:
        pv = pv.where(d["status"].astype(str) == "ok")
    if not pv.notna().any():
        raise CardiolatentError(f"{p.where('cox.tsv')}: no {'evaluated ' if evaluated else ''}score with a Cox P "
                                f"for {outcome}; pass score=")
    return str(d.loc[pv.idxmin(), "score"])


def best_score(result_or_path, outcome: str = "AF") -> str:
    """The evaluated score (``summary.evaluated``; every score of ``cox.tsv`` when it is empty) with the
    smallest Cox P (status ``ok``) for ``outcome``: the default score of the figures of one outcome."""
    p = _Prs(result_or_path, "PRS figure")
    return _best(p, _outcome(p, outcome))


def _pct(v: float) -> str:
    return f"{v:.1f}%" if v < 10 else f"{v:.0f}%"


# ------------------------------------------------------------------------------------------ prevalence

def prs_prevalence(result_or_path, *, score: str | None = None, outcome: str = "AF", by=None, ax=None):
    """Prevalence (%) of ``outcome`` (cases prevalent at the visit or incident within follow-up) in the
    bottom 5/10/20 % and top 20/10/5 % of ``score`` (bars: blue bottom, vermillion top), Wilson 95 % CI
    as error bars, dashed line at the overall prevalence of the stratum; one panel per ``by`` level.

    ``score``: default :func:`best_score`. ``by``: levels of ``prevalence.tsv`` (``"all"``, ``"female"``,
    ``"male"``; a name or a sequence); default the ones of ``("all", "female", "male")`` the table holds.
    ``ax``: one axes per level. Returns the figure (89 mm for one panel, 183 mm for more; shared y).
    Heights are ``100 * prevalence`` of the table's rows, error bars ``100 * ci_low .. 100 * ci_high``.
    """
    p = _Prs(result_or_path, "prevalence figure")
    t = p.table("prevalence", "prevalence.tsv", PREV_COLUMNS, "prevalence figure")
    o = _outcome(p, outcome)
    s = _score(p, score, o, t, "prevalence.tsv")
    d = t[(t["outcome"].astype(str) == o) & (t["score"].astype(str) == s)]
    present = list(dict.fromkeys(d["by"].astype(str)))
    where = f"{p.where('prevalence.tsv')} for {s} and {o}"
    if by is None:
        levels = [lv for lv in BY_LEVELS if lv in present] or present
    else:
        levels = [_one(lv, present, "by level", where) for lv in ([by] if isinstance(by, str) else list(by))]
        if not levels:
            raise CardiolatentError("by names no level")
    panels = {}
    for lv in levels:
        part = d[d["by"].astype(str) == lv].set_index(d.loc[d["by"].astype(str) == lv, "group"].astype(str))
        groups = [g for g in PREVALENCE_GROUPS if g in part.index]
        if not groups:
            raise CardiolatentError(f"{where}: no percentile group rows for by = {lv} (expected "
                                    f"{', '.join(PREVALENCE_GROUPS)})")
        overall = part.loc["all participants"] if "all participants" in part.index else None
        panels[lv] = (part.loc[groups], overall)
    top = max(float(np.nanmax(v[0]["ci_high"].to_numpy(float))) for v in panels.values()) * 100
    with style():
        if ax is None:
            width = SINGLE_COLUMN_MM if len(levels) == 1 else DOUBLE_COLUMN_MM
            height = 64.0
            fig = figure(width, height)
            axes = list(fig.subplots(1, len(levels), sharey=True, squeeze=False)[0])
            fig.subplots_adjust(left=(14 if len(levels) == 1 else 8) / width, right=0.98, top=1 - 14 / height,
                                bottom=14 / height, wspace=0.1)
        else:
            axes = list(np.atleast_1d(ax).ravel())
            if len(axes) != len(levels):
                raise CardiolatentError(f"by draws {len(levels)} panel(s) ({', '.join(levels)}): pass ax= with "
                                        f"{len(levels)} axes, or none")
            fig = axes[0].figure
        for j, (a, lv) in enumerate(zip(axes, levels)):
            rows, overall = panels[lv]
            x = np.array([i + (0.5 if g.startswith("top") else 0.0) for i, g in enumerate(rows.index)])
            h = 100 * rows["prevalence"].to_numpy(float)
            lo, hi = 100 * rows["ci_low"].to_numpy(float), 100 * rows["ci_high"].to_numpy(float)
            sides = ["top" if g.startswith("top") else "bottom" for g in rows.index]
            a.bar(x, h, width=0.78, color=[SIDE_COLOUR[sd] for sd in sides], alpha=0.85, lw=0, zorder=2,
                  gid="prevalence")
            a.errorbar(x, h, yerr=[h - lo, hi - h], fmt="none", ecolor="#333333", elinewidth=0.7, capsize=1.5,
                       capthick=0.7, zorder=3, gid="ci")
            a.set_xticks(x)
            a.set_xticklabels([g.split(" ", 1)[1] for g in rows.index])
            a.set_xlim(x.min() - 0.6, x.max() + 0.6)
            for side in ("bottom", "top"):
                xs = [xx for xx, sd in zip(x, sides) if sd == side]
                if xs:
                    a.text(float(np.mean(xs)), 0, f"{side} of score",
                           transform=mtransforms.offset_copy(a.get_xaxis_transform(), fig=fig, y=-15, units="points"),
                           ha="center", va="top", color=SIDE_COLOUR[side], fontsize=6.5, gid="side_label")
            head = "all participants" if lv == "all" else lv
            if overall is not None:
                ov = 100 * float(overall["prevalence"])
                line = a.axhline(ov, color=GREY, lw=0.8, ls="--", zorder=1, gid="overall")
                a.legend([line], [f"overall {_pct(ov)}"], loc="upper left", frameon=False, handlelength=1.8,
                         borderaxespad=0.2)
                head += f" (n = {int(overall['n']):,}, {int(overall['cases']):,} cases)"
            a.set_title(head, loc="left", fontsize=7)
            a.set_ylim(0, top * 1.12)
            a.yaxis.set_major_locator(mticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
            if j == 0:
                a.set_ylabel(f"{o} prevalence (%)")
            a.tick_params(axis="x", length=0)
        if ax is None:
            fig.suptitle(f"{o} prevalence in the tails of {s}", x=0.01, y=1 - 1.0 / height, ha="left", va="top",
                         fontsize=8)
            fig.text(0.01, 1 - 4.8 / height, "cases prevalent at the visit or incident within follow-up; "
                     "95% Wilson CI", ha="left", va="top", fontsize=6.5, color="#555555", gid="subtitle")
    return fig


# ------------------------------------------------------------------------------------------ tertiles

def _tertile_view(p: _Prs, score, outcome: str, figure_name: str):
    """(score, CoxResult view with that score's tertile tables as its groups)."""
    curves = p.table("cumulative_hazard", "cumulative_hazard.tsv", CURVE_COLUMNS, figure_name)
    p.table("tertiles", "tertiles.tsv", TERTILE_COLUMNS, figure_name)
    s = _score(p, score, outcome, curves, "cumulative_hazard.tsv")
    return s, p.res.cox_result(s)


def _rename_tertiles(fig) -> None:
    """Legend labels ``T1 (reference)`` -> ``low (T1, reference)``, ``T3: HR ..`` -> ``top (T3): HR ..``
    and at-risk row labels ``T1`` -> ``low``, in every axes of ``fig``."""
    for a in fig.axes:
        leg = a.get_legend()
        for txt in (leg.get_texts() if leg is not None else []):
            text = txt.get_text()
            g = text.split(":")[0].split(" ")[0]
            if g in TERTILE_NAMES:
                rest = text[len(g):]
                txt.set_text(f"{TERTILE_NAMES[g]} ({g}, reference)" if rest == " (reference)"
                             else f"{TERTILE_NAMES[g]} ({g}){rest}")
            title = leg.get_title()
            if title.get_text().startswith("HR vs T1"):
                title.set_text(title.get_text().replace("HR vs T1", "HR vs low tertile (T1)", 1))
        for txt in a.texts:
            if txt.get_gid() == "at_risk_label" and txt.get_text() in TERTILE_NAMES:
                txt.set_text(TERTILE_NAMES[txt.get_text()])


def prs_cumulative_hazard(result_or_path, *, score: str | None = None, outcome: str = "AF", by: str = "all",
                          ax=None, at_risk: bool = True, ci: bool = True):
    """Nelson-Aalen cumulative hazard of ``outcome`` by tertile of ``score`` (low T1 / middle T2 / top T3)
    over years since the imaging visit, 95 % CI bands, numbers at risk under the axis; the legend gives
    the hazard ratio (95 % CI) of the middle and top tertiles against the low one (``tertiles.tsv``:
    Cox model with the covariates).

    Drawn by :func:`cardiolatent.plotting.survival.survival_curves` (``kind="nelson_aalen"``) on
    :meth:`PrsResult.cox_result`; the y axis is labelled in % (tick = 100 x cumulative hazard), the
    curves' y data are the table's ``cumulative_hazard``. ``score``: default :func:`best_score`. ``by``:
    ``"all"`` (one panel, 89 mm) or ``"sex"`` (female / male panels, 183 mm). ``ax``: one axes per panel.
    """
    p = _Prs(result_or_path, "cumulative hazard figure")
    o = _outcome(p, outcome)
    s, view = _tertile_view(p, score, o, "cumulative hazard figure")
    fig = survival_curves(view, outcome=o, kind="nelson_aalen", by=by, ax=ax, at_risk=at_risk, ci=ci)
    with style():
        for a in fig.axes:
            a.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{100 * v:g}"))
            if a.get_ylabel():
                a.set_ylabel(f"{o} cumulative hazard (%)\n(Nelson-Aalen)")
        _rename_tertiles(fig)
    return fig


def prs_tertile_forest(result_or_path, *, score: str | None = None, outcome=None, reference: str = "middle",
                       ax=None):
    """Hazard ratio of each tertile of ``score`` against the ``reference`` tertile (default the middle one,
    as the paper) per outcome, from ``tertiles.tsv``: :func:`cardiolatent.plotting.survival.tertile_forest`
    on :meth:`PrsResult.cox_result`. ``outcome``: one name, a list or None (all outcomes of the score);
    ``score``: default :func:`best_score` of the first outcome named (or of the result)."""
    p = _Prs(result_or_path, "tertile forest plot")
    t = p.table("tertiles", "tertiles.tsv", TERTILE_COLUMNS, "tertile forest plot")
    names = None if outcome is None else ([outcome] if isinstance(outcome, str) else list(outcome))
    outs = [_outcome(p, o) for o in names] if names is not None else p.outcomes()
    if not outs:
        raise CardiolatentError(f"{p.where('cox.tsv')}: no outcome")
    s = _score(p, score, outs[0], t, "tertiles.tsv")
    if names is None:  # the outcomes this score has tertile rows for
        outs = [o for o in outs if ((t["outcome"].astype(str) == o) & (t["score"].astype(str) == s)).any()]
    fig = tertile_forest(p.res.cox_result(s), outcome=outs, reference=reference, ax=ax)
    with style():  # "high" tertile -> "top", as in the other PRS figures
        for a in fig.axes:
            fmt = a.yaxis.get_major_formatter()  # relabel through the formatter: the header labels keep bold / colour
            a.yaxis.set_major_formatter(mticker.FuncFormatter(
                lambda v, pos, fmt=fmt: "top" if fmt(v, pos) == "high" else fmt(v, pos)))
            if a.get_xlabel().startswith("hazard ratio vs high"):
                a.set_xlabel(a.get_xlabel().replace("vs high", "vs top", 1))
        for txt in fig.texts:
            if txt.get_gid() == "subtitle":
                txt.set_text(txt.get_text().replace("reference = high", "reference = top"))
    return fig


# ------------------------------------------------------------------------------------------ AUC

def _model_label(model: str) -> str:
    return {"covariates": "covariates", "covariates + best score": "+ best score",
            "covariates + all scores (L1)": "+ all scores (L1)"}.get(model, model)


def _width_pt(text: str, size: float, weight: str = "normal") -> float:
    """Width of ``text`` at ``size`` pt in the house font, in points (no renderer needed)."""
    with style():
        return TextPath((0, 0), text, size=size, prop=FontProperties(weight=weight)).get_extents().width


def _auc_header(d: pd.DataFrame, o: str) -> str:
    """The grey part of an outcome's header: cases / n and the best score."""
    n, cases = pd.to_numeric(d["n"], errors="coerce").max(), pd.to_numeric(d["cases"], errors="coerce").max()
    bits = [f"{int(cases):,} cases / {int(n):,}"] if np.isfinite(n) and np.isfinite(cases) else []
    best = d.loc[d["model"].astype(str) == AUC_MODELS[1], "score"]
    if len(best) and isinstance(best.iloc[0], str) and best.iloc[0].strip():
        bits.append(f"best score {best.iloc[0]}")
    return f"({'; '.join(bits)})" if bits else ""


def prs_auc(result_or_path, *, outcome=None, ax=None):
    """Out-of-fold AUC (point) with its 95 % CI (line) of each model of ``auc.tsv`` (covariates;
    covariates + best score; covariates + all scores, L1) per outcome, and text columns at the right:
    AUC (95 % CI), the gain over the covariates-only model (``delong_diff``) and DeLong's paired P
    (``delong_p``; ``ref.`` for the covariates-only model). Rows, top to bottom: per outcome a header
    (the outcome in bold, then cases / n and the best score's name) and its models in ``auc.tsv``
    order. ``outcome``: one name, a list or None (all). ``ax``: draw into this axes (leave about 21 mm
    left of it for the labels and 46 mm right of it for the text). Returns the figure (89 mm wide,
    3.4 mm per row).
    """
    p = _Prs(result_or_path, "AUC figure")
    t = p.table("auc", "auc.tsv", AUC_COLUMNS, "AUC figure")
    available = list(dict.fromkeys(t["outcome"].astype(str)))
    names = available if outcome is None else ([outcome] if isinstance(outcome, str) else list(outcome))
    outs = [_one(o, available, "outcome", p.where("auc.tsv")) for o in names]
    rank = {m: i for i, m in enumerate(AUC_MODELS)}
    rows, ys, heads, y = [], [], {}, 0.0
    for i, o in enumerate(outs):
        d = t[t["outcome"].astype(str) == o]
        d = d.iloc[sorted(range(len(d)), key=lambda k: rank.get(str(d["model"].iloc[k]), len(rank)))]
        if i:
            y -= 0.4
        heads[o] = (y, d)
        y -= 1.0
        for _, r in d.iterrows():
            rows.append(r)
            ys.append(y)
            y -= 1.0
    ys = np.array(ys)
    rows = pd.DataFrame(rows).reset_index(drop=True)
    with style():
        if ax is None:
            n_rows = len(rows) + len(outs) * 1.4 - 0.4
            text_mm, top_mm, rows_mm, x_mm = AUC_TEXT_WIDTH_PT / 72 * 25.4, 10.5, n_rows * AUC_ROW_MM, 9.0
            left = AUC_LABEL_PT / 72 * 25.4 + 1.5
            height = top_mm + rows_mm + x_mm
            W = SINGLE_COLUMN_MM
            fig = figure(W, height)
            a = fig.add_axes([left / W, x_mm / height, (W - left - text_mm) / W, rows_mm / height])
            fig.text(1.0 / W, 1 - 0.8 / height, "Discrimination by polygenic scores", ha="left", va="top",
                     fontsize=8, gid="title")
            fig.text(1.0 / W, 1 - 4.6 / height, "out-of-fold AUC (95% CI); gain and DeLong P vs covariates only",
                     ha="left", va="top", fontsize=6.5, color="#555555", gid="subtitle")
        else:
            a, fig = ax, ax.figure
        a.spines["left"].set_visible(False)
        a.tick_params(axis="y", length=0)
        for o in outs:  # chance line per outcome block (not through the headers)
            yy = ys[(rows["outcome"].astype(str) == o).to_numpy()]
            a.vlines(0.5, yy.min() - 0.5, yy.max() + 0.5, color=GREY, lw=0.6, ls=":", zorder=1, gid="chance")
        for m, (colour, marker) in MODEL_STYLE.items():
            sel = (rows["model"].astype(str) == m).to_numpy()
            if sel.any():
                a.hlines(ys[sel], rows.loc[sel, "ci_low"], rows.loc[sel, "ci_high"], color=colour, lw=0.9, zorder=2,
                         gid=f"ci:{m}")
                a.plot(rows.loc[sel, "auc"].to_numpy(float), ys[sel], ls="none", marker=marker, ms=3.2,
                       color=colour, zorder=3, gid=f"auc:{m}")
        other = ~rows["model"].astype(str).isin(MODEL_STYLE).to_numpy()
        if other.any():
            a.hlines(ys[other], rows.loc[other, "ci_low"], rows.loc[other, "ci_high"], color=GREY, lw=0.9,
                     gid="ci:other")
            a.plot(rows.loc[other, "auc"].to_numpy(float), ys[other], ls="none", marker="^", ms=3.2, color=GREY,
                   gid="auc:other")
        a.set_yticks(ys)
        a.set_yticklabels([_model_label(str(m)) for m in rows["model"]])
        a.set_ylim(ys.min() - 0.6, 0.6)
        lo = min(float(np.nanmin(rows["ci_low"].to_numpy(float))), 0.5)
        hi = max(float(np.nanmax(rows["ci_high"].to_numpy(float))), 0.5)
        pad = max(hi - lo, 0.05) * 0.06
        a.set_xlim(lo - pad, hi + pad)
        a.xaxis.set_major_locator(mticker.MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        a.set_xlabel("AUC (out-of-fold, 95% CI)")
        base = mtransforms.blended_transform_factory(a.transAxes, a.transData)
        head = mtransforms.blended_transform_factory(a.transAxes, a.transAxes)
        for o in outs:  # header rows: from the left edge of the labels, across the plot
            hy, d = heads[o]
            a.text(0.0, hy, o, transform=mtransforms.offset_copy(base, fig=fig, x=-AUC_LABEL_PT, units="points"),
                   ha="left", va="center", fontsize=7, fontweight="bold", clip_on=False, gid="outcome_header")
            a.text(0.0, hy, _auc_header(d, o), transform=mtransforms.offset_copy(
                base, fig=fig, x=-AUC_LABEL_PT + _width_pt(o, 7, "bold") + 3, units="points"),
                ha="left", va="center", fontsize=6, color="#555555", clip_on=False, gid="outcome_note")
        col = [mtransforms.offset_copy(base, fig=fig, x=off, units="points") for off in AUC_TEXT_PT]
        for (_, r), yy in zip(rows.iterrows(), ys):
            a.text(1.0, yy, f"{r['auc']:.3f} ({r['ci_low']:.3f}\u2013{r['ci_high']:.3f})", transform=col[0],
                   ha="left", va="center", clip_on=False, fontsize=TEXT_SIZE, gid="auc_text")
            diff, pv = float(r["delong_diff"]), float(r["delong_p"])
            if np.isfinite(diff):
                a.text(1.0, yy, f"{diff:+.3f}", transform=col[1], ha="left", va="center", clip_on=False,
                       fontsize=TEXT_SIZE, gid="diff_text")
            a.text(1.0, yy, format_p(pv) if np.isfinite(pv) else "ref.", transform=col[2], ha="left",
                   va="center", clip_on=False, fontsize=TEXT_SIZE, color="black" if np.isfinite(pv) else "#555555",
                   gid="p_text")
        for name, off in zip(("AUC (95% CI)", "\u0394AUC", "P"), AUC_TEXT_PT):
            a.text(1.0, 1.0, name, transform=mtransforms.offset_copy(head, fig=fig, x=off, y=2, units="points"),
                   ha="left", va="bottom", clip_on=False, fontsize=TEXT_SIZE, fontweight="bold", gid="header")
    return fig


# ------------------------------------------------------------------------------------------ forest

def prs_forest(result_or_path, *, outcome: str = "AF", top: int | None = 20, scores=None, ax=None):
    """Hazard ratio per SD of each score (``cox.tsv``, Cox model with the covariates) for ``outcome``:
    :func:`cardiolatent.plotting.survival.forest` on :meth:`PrsResult.cox_result` (log axis, reference
    line at 1, text columns HR (95 % CI), P, events/n). ``scores``: names (or ``"A,B"``) to draw, else
    the ``top`` scores of smallest P (every threshold's score, not only the evaluated ones)."""
    p = _Prs(result_or_path, "forest plot")
    p.table("table", "cox.tsv", COX_COLUMNS, "forest plot")
    o = _outcome(p, outcome)
    fig = forest(p.res.cox_result(), outcome=o, latents=scores, top=top, ax=ax)
    def scores_not_latents(text: str) -> str:
        return text.replace("latent(s)", "score(s)").replace(" latents ", " scores ")

    with style():
        for txt in fig.texts:
            if txt.get_gid() == "panel_title":
                txt.set_text(scores_not_latents(txt.get_text()))
        for a in fig.axes:
            if a.get_title(loc="left").startswith(f"{o}:"):
                a.set_title(scores_not_latents(a.get_title(loc="left")), loc="left")
            _thin_log_ticks(a)
    return fig


def _thin_log_ticks(a, most: int = 4) -> None:
    """At most ``most`` labelled ticks on a hazard-ratio axis (every other one, keeping 1): a narrow
    range gives :func:`cardiolatent.plotting.survival.log_ticks` up to 6, which collide in a 40 mm axes."""
    lo, hi = a.get_xlim()
    ticks = [t for t in a.get_xticks() if lo <= t <= hi]
    if len(ticks) <= most:
        return
    while len(ticks) > most:
        ticks = ticks[1::2] if 1.0 in ticks[1::2] else ticks[::2]
    a.xaxis.set_major_locator(mticker.FixedLocator(ticks))
    a.xaxis.set_major_formatter(mticker.FixedFormatter([f"{t:g}" for t in ticks]))


# ------------------------------------------------------------------------------------------ family

def prs_figures(result_or_path) -> dict:
    """Every figure of a PRS result: per outcome (``summary.outcomes``, ``<o>`` made file-name safe)
    ``prs_prevalence_<o>``, ``prs_cumulative_hazard_<o>`` (and ``prs_cumulative_hazard_sex_<o>`` when
    the table has female / male curves), ``prs_tertiles_<o>`` and ``prs_forest_<o>``, each of the
    outcome's best score (:func:`best_score`); and ``prs_auc`` (every outcome). A figure the result
    cannot give maps to the reason (a string, what ``cardiolatent figures`` lists as skipped). Raises
    CardiolatentError when none can be drawn."""
    p = _Prs(result_or_path, "PRS figures")
    res = p.res
    figs: dict = {}

    def add(name, fn, *args, **kwargs):
        try:
            figs[name] = fn(*args, **kwargs)
        except CardiolatentError as exc:
            figs[name] = str(exc)

    for o in p.outcomes():
        key = safe_name(o)
        add(f"prs_prevalence_{key}", prs_prevalence, res, outcome=o)
        add(f"prs_cumulative_hazard_{key}", prs_cumulative_hazard, res, outcome=o)
        ch = res.cumulative_hazard
        if len(ch) and "by" in ch and ((ch["outcome"].astype(str) == o) & ch["by"].astype(str).isin(SEX_ORDER)).any():
            add(f"prs_cumulative_hazard_sex_{key}", prs_cumulative_hazard, res, outcome=o, by="sex")
        add(f"prs_tertiles_{key}", prs_tertile_forest, res, outcome=o)
        add(f"prs_forest_{key}", prs_forest, res, outcome=o)
    add("prs_auc", prs_auc, res)
    if all(isinstance(v, str) for v in figs.values()):
        raise CardiolatentError("; ".join(f"{k}: {v}" for k, v in figs.items()) or "the PRS result has no outcome")
    return figs


__all__ = ["BY_LEVELS", "KINDS", "MODEL_STYLE", "PREVALENCE_GROUPS", "best_score", "prs_auc", "prs_cumulative_hazard",
           "prs_figures", "prs_forest", "prs_prevalence", "prs_tertile_forest"]
