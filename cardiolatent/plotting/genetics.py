"""Heritability figures: SNP heritability with its 95% CI per phenotype, and the genetic correlation matrix.

Both take a :class:`~cardiolatent.genetics.result.HeritabilityResult` (or the ``h2.tsv`` it was saved
as) and draw its rows as they are: h2 and rg come from BOLT-REML or LD score regression, the 95% CI is
``h2 +- 1.96 SE`` (the methods' own SEs), rows whose status is not ``ok`` are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import transforms

from cardiolatent.errors import CardiolatentError
from cardiolatent.plotting._inputs import as_result, new_or_given_ax
from cardiolatent.plotting.style import GREY, MM, OKABE_ITO, SINGLE_COLUMN_MM, figure, style

#: colour and marker of each method
METHOD_STYLE = {"bolt-reml": (OKABE_ITO["blue"], "o"), "ldsc": (OKABE_ITO["vermillion"], "s")}
#: most phenotypes drawn in one h2 figure (the highest h2 first)
MAX_ROWS = 60


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"].astype(str) == "ok") & np.isfinite(pd.to_numeric(df["h2" if "h2" in df else "rg"],
                                                                          errors="coerce"))]


def heritability(result, *, ax=None, max_rows: int = MAX_ROWS):
    """h2 (x, with 95% CI) of every phenotype (y, sorted by h2 of the first method), one colour per method.

    ``result``: a HeritabilityResult or its saved ``h2.tsv``. At most ``max_rows`` phenotypes (the
    highest h2); the title says how many were left out.
    """
    res = as_result(result, ("HeritabilityResult",), "the heritability figure")
    t = _ok(res.table)
    if t.empty:
        raise CardiolatentError(f"{getattr(res, 'source', 'the result')}: no heritability estimate with status ok "
                                "to draw")
    methods = [m for m in METHOD_STYLE if m in set(t["method"])] + sorted(set(t["method"]) - set(METHOD_STYLE))
    first = t[t["method"] == methods[0]].set_index("phenotype")["h2"]
    order = list(first.sort_values(ascending=False).index)
    order += [p for p in dict.fromkeys(t["phenotype"]) if p not in order]
    dropped = max(0, len(order) - max_rows)
    order = order[:max_rows][::-1]                                    # highest at the top
    k = len(order)
    with style():
        fig, ax = new_or_given_ax(ax, lambda: figure(SINGLE_COLUMN_MM, min(230, 22 + 4.2 * k + 3 * len(methods))))
        ypos = {p: i for i, p in enumerate(order)}
        step = 0.32 if len(methods) > 1 else 0.0
        for j, m in enumerate(methods):
            d = t[(t["method"] == m) & t["phenotype"].isin(ypos)]
            y = np.array([ypos[p] for p in d["phenotype"]]) + (j - (len(methods) - 1) / 2) * step
            h, se = d["h2"].to_numpy(float), d["se"].to_numpy(float)
            colour, marker = METHOD_STYLE.get(m, (OKABE_ITO["black"], "D"))
            ax.errorbar(h, y, xerr=1.96 * se, fmt=marker, ms=3, color=colour, ecolor=colour, elinewidth=0.8,
                        capsize=0, label=f"{m} (n up to {int(d['n'].max()):,})", gid=f"h2_{m}")
        ax.axvline(0, color=GREY, lw=0.6, ls="--", zorder=0)
        ax.set_yticks(range(k), order)
        ax.set_ylim(-0.7, k - 0.3)
        ax.set_xlabel("SNP heritability h$^2$ (95% CI)")
        ax.spines[["top", "right"]].set_visible(False)
        title = "SNP heritability" + (f" (the {k} highest of {k + dropped})" if dropped else "")
        ax.set_title(title, loc="left")
        # below the x label, at a fixed distance whatever the figure's height
        below = transforms.offset_copy(ax.transAxes, fig=fig, y=-26, units="points")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=below, ncol=2, frameon=False,
                  fontsize=6)
    return fig


def genetic_correlation(result, *, method: str | None = None, ax=None):
    """The rg matrix of one method (default: the first with rg rows): colour -1..1, values printed when
    it is small enough to read; the diagonal is 1."""
    res = as_result(result, ("HeritabilityResult",), "the genetic correlation figure")
    rg = res.rg if getattr(res, "rg", None) is not None else pd.DataFrame()
    if rg.empty:
        raise CardiolatentError("no genetic correlation in this result (run cardiolatent heritability with --rg)")
    ok = _ok(rg)
    methods = list(dict.fromkeys(ok["method"]))
    method = method or (methods[0] if methods else None)
    d = ok[ok["method"] == method]
    if d.empty:
        raise CardiolatentError(f"no genetic correlation with status ok for method {method!r}")
    every = rg[rg["method"] == method]                                # pairs not ok stay as empty cells
    names = list(dict.fromkeys([*every["phenotype1"], *every["phenotype2"]]))
    idx = {p: i for i, p in enumerate(names)}
    k = len(names)
    M = np.full((k, k), np.nan)
    np.fill_diagonal(M, 1.0)
    for r in d.itertuples():
        M[idx[r.phenotype1], idx[r.phenotype2]] = M[idx[r.phenotype2], idx[r.phenotype1]] = r.rg
    with style():
        side = min(183, 30 + 7 * k)
        fig, ax = new_or_given_ax(ax, lambda: figure(side, side * 0.85))
        im = ax.imshow(np.clip(M, -1, 1), cmap="RdBu_r", vmin=-1, vmax=1, gid="rg_matrix")
        ax.set_xticks(range(k), names, rotation=90)
        ax.set_yticks(range(k), names)
        if k <= 12:
            for i in range(k):
                for j in range(k):
                    if i != j and np.isfinite(M[i, j]):
                        ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=5.5,
                                color="white" if abs(M[i, j]) > 0.6 else "black")
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cb.set_label("genetic correlation r$_g$")
        ax.set_title(f"Genetic correlation ({method})", loc="left")
    return fig


def heritability_figures(result) -> dict:
    """Every figure of a heritability result: ``h2`` and one ``rg_<method>`` per method with correlations."""
    res = as_result(result, ("HeritabilityResult",), "the heritability figures")
    figs = {"h2": heritability(res)}
    rg = getattr(res, "rg", None)
    if rg is not None and not rg.empty:
        for m in dict.fromkeys(_ok(rg)["method"]):
            figs[f"rg_{m.replace('-', '_')}"] = genetic_correlation(res, method=m)
    return figs


__all__ = ["genetic_correlation", "heritability", "heritability_figures", "METHOD_STYLE", "MM"]
