"""Reproducibility figures: cross-seed agreement of the latents (heat map) and ICC distributions.

- :func:`cross_seed_heatmap`: a :class:`~cardiolatent.encode.ensemble.CrossSeedResult` (the
  ``cardiolatent ensemble`` folder). Columns: the latents of one reference seed; rows: each other
  seed; colour: ``|Pearson r|`` of the reference latent with its matched latent in that seed, as the
  result saved it (never recomputed). A row of ticks above marks the reference latents in the
  paper's consensus (``consensus_r2.tsv``, ``selected``).
- :func:`icc_distributions`: one or several
  :class:`~cardiolatent.analysis.reproducibility.ReproducibilityResult` (``cardiolatent icc``,
  between visits or between seeds): the ICC over latents per Shrout-Fleiss form, violins side by
  side, with the summary's median and interquartile range, a line at 0.75 (good reliability,
  Koo & Li 2016) and the number of latents.
- :func:`reproducibility_figures`: every figure one result supplies, by file-name-safe name.

Why this heat map and not the 640 x 640 block matrix: the ensemble folder stores, per seed pair,
each latent's matched partner and its r (``consensus_pairs.tsv``: best ``|r|`` partner of each
latent of seed i in every later seed j, the paper's rule; ``matching.tsv``: the one-to-one
Hungarian alignment to the ensemble's reference seed), not the full correlation matrix. The
reference-seed view draws exactly those saved numbers, and a 128 x 4 strip reads at journal width
where 640 x 640 cells would not.
"""

from __future__ import annotations

import os

import matplotlib

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from cardiolatent.errors import CardiolatentError
from cardiolatent.plotting._inputs import as_result, new_or_given_ax
from cardiolatent.plotting.style import CYCLE, DOUBLE_COLUMN_MM, GREY, OKABE_ITO, SINGLE_COLUMN_MM, figure, style

#: Koo & Li (2016): ICC 0.75-0.9 good, above 0.9 excellent reliability
GOOD_RELIABILITY = 0.75
#: every ICC form the analyses compute, in their order
ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
#: Shrout-Fleiss notation of each form (tick labels)
FORM_LABELS = {"ICC1": "ICC(1,1)", "ICC2": "ICC(2,1)", "ICC3": "ICC(3,1)",
               "ICC1k": "ICC(1,k)", "ICC2k": "ICC(2,k)", "ICC3k": "ICC(3,k)"}
#: colour map of the |r| heat map (sequential, colour-vision-deficiency optimised)
HEATMAP_CMAP = "cividis"
#: cells without a saved match (a reference latent the Hungarian alignment left unmatched)
NO_MATCH_COLOUR = "#E6E6E6"

_CROSS_SEED = ("CrossSeedResult",)
_ICC = ("ReproducibilityResult",)


# --------------------------------------------------------------------------------------------
# cross-seed heat map
# --------------------------------------------------------------------------------------------


def _load(obj, kinds, figure_name):
    """(result, how messages name it: the path given, else the result's class)."""
    res = as_result(obj, kinds, figure_name)
    where = str(obj) if isinstance(obj, (str, os.PathLike)) else type(res).__name__
    return res, where


def _need(table, name: str, cols, where: str) -> pd.DataFrame:
    if table is None:
        raise CardiolatentError(f"{where}: {name} is missing (re-run cardiolatent ensemble)")
    miss = [c for c in cols if c not in table.columns]
    if miss:
        raise CardiolatentError(f"{where}: {name} lacks column(s) {', '.join(miss)}")
    return table


def cross_seed_matrix(result, *, reference_seed=None, match: str | None = None, sort: str = "agreement"):
    """The numbers :func:`cross_seed_heatmap` draws, as a dict (no figure).

    ``abs_r``: float array (other seeds, reference latents) of the saved ``|r|``, columns in display
    order; ``latents``: the reference latent indices of the columns; ``seeds``: the other seeds (rows);
    ``selected``: bool per column (in the consensus); ``reference``, ``match``, ``threshold``,
    ``n_selected`` / ``n_columns`` (all seeds, from the summary), ``missing_seeds`` (other seeds the
    saved tables hold no partner in for this reference: the consensus stores best partners towards
    *later* seeds only).

    ``match``: ``"best"`` (``consensus_pairs.tsv``: the paper's best-``|r|`` partner), ``"hungarian"``
    (``matching.tsv``: one-to-one alignment to the ensemble's reference seed), or None (best when saved,
    else Hungarian). ``sort``: ``"agreement"`` (columns by the number of seeds matched above the
    threshold, then which seeds, consensus first, then mean ``|r|``, descending) or ``"latent"`` (latent index).
    """
    res, where = _load(result, _CROSS_SEED, "cross-seed heat map")
    return _cross_seed_matrix(res, where, reference_seed=reference_seed, match=match, sort=sort)


def _cross_seed_matrix(res, where: str, *, reference_seed, match, sort) -> dict:
    cons = dict(res.summary.consensus or {})
    ensd = dict(res.summary.ensemble or {})
    order = [int(s) for s in (cons.get("seed_order") or res.summary.seeds)]
    threshold = float(cons.get("threshold", 0.8))
    if sort not in ("agreement", "latent"):
        raise CardiolatentError(f"sort must be 'agreement' or 'latent', not {sort!r}")
    if match is None:
        match = "best" if res.pairs is not None else "hungarian"
    if match not in ("best", "hungarian"):
        raise CardiolatentError(f"match must be 'best' or 'hungarian', not {match!r}")
    if match == "best":
        pairs = _need(res.pairs, "consensus_pairs.tsv", ["seed", "latent", "other_seed", "abs_r"], where)
        ref = order[0] if reference_seed is None else int(reference_seed)
        if ref not in order:
            raise CardiolatentError(f"reference_seed {ref} is not among the seeds {', '.join(map(str, order))}")
        sub = pairs[pairs["seed"].astype(np.int64) == ref]
        if not len(sub):
            raise CardiolatentError(
                f"{where}: consensus_pairs.tsv holds each seed's best partners in later seeds only and seed {ref} "
                f"is last of {', '.join(map(str, order))}; choose an earlier reference_seed or match='hungarian'")
        wide = sub.pivot_table(index="other_seed", columns="latent", values="abs_r", aggfunc="first")
    else:
        matching = _need(res.matching, "matching.tsv", ["seed", "latent", "matched_to", "r"], where)
        ens_ref = ensd.get("reference")
        if ens_ref is None:  # the one seed matching.tsv aligns the others to
            rest = [s for s in order if s not in set(matching["seed"].astype(np.int64))]
            ens_ref = rest[0] if len(rest) == 1 else None
        if ens_ref is None:
            raise CardiolatentError(f"{where}: the ensemble's reference seed is not recorded (summary.json)")
        ref = int(ens_ref)
        if reference_seed is not None and int(reference_seed) != ref:
            raise CardiolatentError(f"reference_seed {reference_seed} is not the ensemble's reference seed "
                                    f"{ref}: matching.tsv aligns every seed to seed {ref} only")
        m = matching.dropna(subset=["matched_to"])
        m = m.assign(abs_r=m["r"].abs(), matched_to=m["matched_to"].astype(np.int64))
        wide = m.pivot_table(index="seed", columns="matched_to", values="abs_r", aggfunc="first")
    others = [s for s in order if s != ref and s in set(wide.index.astype(np.int64))]
    others += [int(s) for s in wide.index if int(s) not in others and int(s) != ref]
    if not others:
        raise CardiolatentError(f"{where}: no other seed is matched to seed {ref}")
    wide.index = wide.index.astype(np.int64)
    wide = wide.loc[others]
    latents = np.asarray(wide.columns, dtype=np.int64)
    selected = np.zeros(len(latents), dtype=bool)
    if res.r2_per_column is not None:
        r2 = _need(res.r2_per_column, "consensus_r2.tsv", ["seed", "latent", "selected"], where)
        mine = r2[r2["seed"].astype(np.int64) == ref]
        flag = dict(zip(mine["latent"].astype(np.int64), mine["selected"].astype(str).str.lower() == "true"))
        selected = np.array([flag.get(int(k), False) for k in latents])
    elif res.pairs is not None:  # the selection's definition: both columns of every kept pair
        p = res.pairs
        kept = p[p["kept"].astype(str).str.lower() == "true"]
        cols = set(kept["column"]) | set(kept["partner_column"])
        selected = np.array([f"S{ref}_Z{k}" in cols for k in latents])
    else:
        raise CardiolatentError(f"{where}: consensus_r2.tsv and consensus_pairs.tsv are missing: "
                                "the consensus selection cannot be marked")
    abs_r = wide.to_numpy(dtype=np.float64)
    if sort == "agreement":
        with np.errstate(invalid="ignore"):
            seen = np.isfinite(abs_r).sum(axis=0)
            mean = np.where(seen > 0, np.nansum(abs_r, axis=0) / np.maximum(seen, 1), -1.0)
            above = np.nan_to_num(abs_r, nan=0.0) > threshold
            n_above = above.sum(axis=0)
            pattern = (above * (2 ** np.arange(above.shape[0])[::-1, None])).sum(axis=0)  # which seeds
        idx = np.lexsort((latents, -mean, -selected.astype(int), -pattern, -n_above))
    else:
        idx = np.argsort(latents, kind="stable")
    missing = [s for s in order if s != ref and s not in others]
    return {"abs_r": abs_r[:, idx], "latents": latents[idx], "seeds": others, "selected": selected[idx],
            "reference": ref, "match": match, "threshold": threshold, "sort": sort,
            "n_selected": cons.get("n_selected"), "n_columns": res.summary.n_columns,
            "n_seeds": len(order), "missing_seeds": missing}


def threshold_outline(mask) -> list:
    """Line segments ((x0, y0), (x1, y1)) around the cells of the boolean image ``mask`` (rows, columns)
    that are True, in ``imshow`` cell coordinates (cell (i, j) spans x j +- 0.5, y i +- 0.5)."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    segs = []
    for i, j in zip(*np.nonzero(m[1:-1, 1:] != m[1:-1, :-1])):  # vertical edge left of padded column j
        segs.append(((j - 0.5, i - 0.5), (j - 0.5, i + 0.5)))
    for i, j in zip(*np.nonzero(m[1:, 1:-1] != m[:-1, 1:-1])):  # horizontal edge above padded row i
        segs.append(((j - 0.5, i - 0.5), (j + 0.5, i - 0.5)))
    return segs


def cross_seed_heatmap(result_or_path, *, ax=None, reference_seed=None, match: str | None = None,
                       sort: str = "agreement", width_mm: float = DOUBLE_COLUMN_MM, height_mm: float | None = None):
    """Heat map of ``|r|`` between one seed's latents and their matched latents in every other seed.

    Columns: the latents of ``reference_seed`` (default: the first seed of the consensus order,
    1701 in the paper; ``match="hungarian"``: the ensemble's reference); rows: the other seeds;
    colour: the saved ``|Pearson r|`` on a sequential scale fixed at 0..1, with the consensus
    threshold (summary, 0.8 in the paper) marked on the colour bar. The top row ("consensus") has a
    tick above each reference latent in the paper's consensus selection (``consensus_r2.tsv``); a black
    outline surrounds the cells above the threshold (:func:`threshold_outline`).
    See :func:`cross_seed_matrix` for ``match`` and ``sort``; the numbers drawn are returned there.
    The image is ``ax.images[0]`` (array = seeds x latents); the ticks are the line with gid
    ``"consensus"``.
    """
    res, where = _load(result_or_path, _CROSS_SEED, "cross-seed heat map")
    d = _cross_seed_matrix(res, where, reference_seed=reference_seed, match=match, sort=sort)
    a, ref, thr = d["abs_r"], d["reference"], d["threshold"]
    n_rows, n_lat = a.shape
    h = height_mm if height_mm is not None else 22 + 6 * (n_rows + 1)
    with style():
        fig, ax = new_or_given_ax(ax, lambda: figure(width_mm, h))
        cmap = matplotlib.colormaps[HEATMAP_CMAP].with_extremes(bad=NO_MATCH_COLOUR)
        im = ax.imshow(np.ma.masked_invalid(a), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto",
                       interpolation="nearest", extent=(-0.5, n_lat - 0.5, n_rows - 0.5, -0.5))
        ax.add_collection(LineCollection(threshold_outline(a > thr), colors=OKABE_ITO["black"], linewidths=0.5,
                                         gid="threshold_outline", clip_on=False))
        x = np.flatnonzero(d["selected"])
        ax.plot(x, np.full(len(x), -1.0), linestyle="none", marker="|", markersize=5, markeredgewidth=0.6,
                color=OKABE_ITO["vermillion"], gid="consensus", clip_on=False)
        ax.set_ylim(n_rows - 0.5, -1.5)
        ax.set_xlim(-0.5, n_lat - 0.5)
        ax.set_yticks(np.arange(-1, n_rows))
        ax.set_yticklabels([f"consensus ({int(d['selected'].sum())})"] + [f"seed {s}" for s in d["seeds"]])
        ax.tick_params(axis="y", length=0)
        for sp in ("top", "right", "left", "bottom"):
            ax.spines[sp].set_visible(False)
        if d["sort"] == "latent":
            step = 16 if n_lat > 32 else (4 if n_lat > 8 else 1)
            ticks = np.arange(0, n_lat, step)
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(k) for k in d["latents"][ticks]])
            ax.set_xlabel(f"latent k of seed {ref} (S{ref}_Zk)")
        else:
            ax.set_xticks([])
            ax.set_xlabel(f"the {n_lat} latents of seed {ref}, sorted by agreement "
                          f"(number of seeds with |r| > {thr:g}, then mean |r|)")
        what = ("best-matching latent (consensus_pairs.tsv)" if d["match"] == "best" else
                "one-to-one (Hungarian) matched latent (matching.tsv)")
        ax.set_ylabel("other seed", labelpad=2)
        cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.015, aspect=12)
        cb.set_label("|Pearson r|")
        cb.set_ticks([0, 0.25, 0.5, 0.75, 1.0])
        cb.ax.axhline(thr, color=OKABE_ITO["black"], linewidth=1.0)
        cb.ax.tick_params(labelsize=6)
        title = f"Seed {ref} latents vs their {what}"
        sub = (f"black outline: |r| > {thr:g}; {int(d['selected'].sum())} of {n_lat} latents in the consensus "
               "(vermillion ticks)")
        if d["n_selected"] is not None:
            sub += f"; {d['n_selected']} of {d['n_columns']} over all {d['n_seeds']} seeds"
        if d["missing_seeds"]:
            sub += f"; seeds {', '.join(map(str, d['missing_seeds']))}: no saved match from seed {ref}"
        ax.set_title(f"{title}\n{sub}", fontsize=7, loc="left")
    return fig


# --------------------------------------------------------------------------------------------
# ICC distributions
# --------------------------------------------------------------------------------------------


def _as_list(results_or_paths):
    if isinstance(results_or_paths, (list, tuple)):
        if not results_or_paths:
            raise CardiolatentError("icc_distributions: no result given")
        return list(results_or_paths)
    return [results_or_paths]


def default_label(result) -> str:
    """Legend label of an ICC result: what the raters were and the number of participants."""
    s = result.summary
    if result.between == "visits":
        n = getattr(s, "n_participants_both_visits", None)
        return f"between visits ({n} participants)" if n else "between visits"
    ref = getattr(s, "reference", None)
    n = getattr(s, "n_participants", None)
    return (f"between seeds (reference {ref}, {n} participants)" if n else "between seeds")


def icc_values(result, form: str) -> np.ndarray:
    """The ICCs of ``form`` drawn for ``result``: rows of that type computed without a problem
    (``reason == "ok"``, finite), in table order."""
    t = result.table
    ok = (t["type"] == form) & np.isfinite(pd.to_numeric(t["icc"], errors="coerce"))
    if "reason" in t.columns:
        ok &= t["reason"].astype(str) == "ok"
    return t.loc[ok, "icc"].to_numpy(dtype=np.float64)


def icc_distributions(results_or_paths, *, ax=None, forms=None, labels=None, width_mm: float | None = None,
                      height_mm: float = 62.0):
    """Violins of the ICC over latents, per ICC form (x) and result (side by side, one colour each).

    Each violin: the ``icc`` column of that form's rows (``reason == "ok"``); on it the summary's
    median (black line, value written above the panel) and interquartile range (black bar). A dashed
    line at 0.75 (good reliability, Koo & Li 2016). Legend: one entry per result (``labels`` or
    :func:`default_label`) with its number of latents. Y axis: ICC (dimensionless), 0..1, extended
    below 0 when an ICC is negative. Width: one column (89 mm) for up to 6 violins, else two (183 mm).
    Violin bodies have gid ``"violin"``, medians ``"median"`` (result by result, each in ``forms`` order).
    ``forms``: default, the forms (of :data:`ICC_FORMS`, in that order) every result's table holds.
    """
    loaded = [_load(r, _ICC, "ICC distribution plot") for r in _as_list(results_or_paths)]
    items = [r for r, _ in loaded]
    if forms is None:
        held = [set(r.table["type"].astype(str)) if "type" in r.table.columns else set() for r in items]
        forms = [f for f in ICC_FORMS if all(f in h for h in held)] or list(ICC_FORMS)
    forms = [str(f) for f in forms]
    if not forms:
        raise CardiolatentError("forms: no ICC form given")
    if labels is None:
        labels = [default_label(r) for r in items]
    labels = list(labels)
    if len(labels) != len(items):
        raise CardiolatentError(f"labels: {len(labels)} label(s) for {len(items)} result(s)")
    for r, where in loaded:
        miss = [c for c in ("type", "icc") if c not in r.table.columns]
        if miss:
            raise CardiolatentError(f"{where}: the ICC table lacks column(s) {', '.join(miss)}")
        have = set(r.table["type"].astype(str))
        absent = [f for f in forms if f not in have]
        if absent:
            raise CardiolatentError(f"forms: {', '.join(absent)} not in the ICC table of {where} "
                                    f"(it has {', '.join(sorted(have))})")
        nost = [f for f in forms if (r.summary.icc or {}).get(f, {}).get("median") is None]
        if nost:
            raise CardiolatentError(f"{where}: the summary has no median ICC for {', '.join(nost)}")
    data = [[icc_values(r, f) for f in forms] for r in items]
    if not any(len(v) for row in data for v in row):
        raise CardiolatentError("icc_distributions: no ICC computed without a problem (reason 'ok') to draw")
    nres, nform = len(items), len(forms)
    nviol = nres * nform
    if width_mm is None:
        width_mm = SINGLE_COLUMN_MM if nviol <= 6 else DOUBLE_COLUMN_MM
    lo = min([0.0] + [float(v.min()) for row in data for v in row if len(v)])
    ymin = 0.0 if lo >= 0 else lo - 0.05
    slot = 0.8 / nres
    with style():
        fig, ax = new_or_given_ax(ax, lambda: figure(width_mm, height_mm))
        mm_per_violin = (ax.get_position().width * fig.get_figwidth() / 0.03937) / nviol
        rotate = mm_per_violin < 9
        handles = []
        for i, (r, row, label) in enumerate(zip(items, data, labels)):
            colour = CYCLE[i % len(CYCLE)]
            pos = np.arange(nform) + (i - (nres - 1) / 2) * slot
            st = r.summary.icc
            for j, (f, v) in enumerate(zip(forms, row)):
                if len(v) > 1 and np.ptp(v) > 0:
                    vp = ax.violinplot([v], positions=[pos[j]], widths=slot * 0.9, showextrema=False)
                    for body in vp["bodies"]:
                        body.set_facecolor(colour)
                        body.set_edgecolor(colour)
                        body.set_alpha(0.55)
                        body.set_linewidth(0.5)
                        body.set_gid("violin")
                elif len(v):  # no spread to estimate a density from: the points themselves
                    ax.plot(np.full(len(v), pos[j]), v, linestyle="none", marker="o", markersize=2,
                            color=colour, gid="violin")
                s = st[f]
                if s.get("q25") is not None and s.get("q75") is not None:
                    ax.vlines(pos[j], s["q25"], s["q75"], color=OKABE_ITO["black"], linewidth=1.6, gid="iqr")
                med = float(s["median"])
                half = slot * 0.28
                ax.plot([pos[j] - half, pos[j] + half], [med, med], color=OKABE_ITO["black"], linewidth=1.0,
                        solid_capstyle="butt", gid="median")
                ax.text(pos[j], 1.0, f"{med:.2f}", transform=ax.get_xaxis_transform(), ha="center",
                        va="bottom", fontsize=5.5, rotation=90 if rotate else 0, color=colour, gid="median_label")
            ns = sorted({int(st[f]["n_latents"]) for f in forms})
            nlab = f"{ns[0]} latents" if len(ns) == 1 else f"{ns[0]}-{ns[-1]} latents"
            handles.append(Patch(facecolor=colour, edgecolor=colour, alpha=0.55, label=f"{label}: {nlab}"))
        ax.axhline(GOOD_RELIABILITY, color=GREY, linestyle="--", linewidth=0.8, zorder=0, gid="good_reliability")
        handles.append(Line2D([], [], color=GREY, linestyle="--", linewidth=0.8,
                              label="0.75: good reliability (Koo & Li 2016)"))
        handles.append(Line2D([], [], color=OKABE_ITO["black"], linewidth=1.0,
                              label="median (value above), bar: IQR"))
        ax.set_xticks(np.arange(nform))
        ax.set_xticklabels([FORM_LABELS.get(f, f) for f in forms])
        ax.set_xlim(-0.5, nform - 0.5)
        ax.set_ylim(ymin, 1.0)
        ax.set_ylabel("ICC")
        ax.set_xlabel("ICC form (Shrout & Fleiss; k = number of raters)")
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1 if width_mm < 120 else 2,
                  frameon=False, handlelength=1.5, columnspacing=1.2)
    return fig


# --------------------------------------------------------------------------------------------
# every figure of one result
# --------------------------------------------------------------------------------------------


def reproducibility_figures(result_or_path) -> dict:
    """Every reproducibility figure ``result_or_path`` supplies, by file-name-safe name.

    A :class:`~cardiolatent.encode.ensemble.CrossSeedResult`: ``cross_seed_heatmap`` (best partner,
    the consensus rule; when ``consensus_pairs.tsv`` is missing, the Hungarian alignment) and, when
    ``matching.tsv`` is there too, ``ensemble_alignment_heatmap`` (the one-to-one alignment the ensemble
    averages). A :class:`~cardiolatent.analysis.reproducibility.ReproducibilityResult`:
    ``icc_between_visits`` or ``icc_between_seeds`` (all forms the table has).
    Raises :class:`CardiolatentError` with the reason when none can be drawn.
    """
    res, where = _load(result_or_path, _CROSS_SEED + _ICC, "reproducibility figure")
    if type(res).__name__ in _CROSS_SEED:
        figs = {"cross_seed_heatmap": cross_seed_heatmap(res)}
        if res.pairs is not None and res.matching is not None and (res.summary.ensemble or {}).get("reference") \
                is not None:
            figs["ensemble_alignment_heatmap"] = cross_seed_heatmap(res, match="hungarian")
        return figs
    have = set(res.table["type"].astype(str)) if "type" in res.table.columns else set()
    forms = [f for f in ICC_FORMS if f in have] + sorted(have - set(ICC_FORMS))
    if not forms:
        raise CardiolatentError(f"{where}: the ICC table has no rows to draw")
    return {f"icc_between_{res.between}": icc_distributions(res, forms=forms)}


__all__ = ["FORM_LABELS", "GOOD_RELIABILITY", "HEATMAP_CMAP", "ICC_FORMS", "cross_seed_heatmap", "cross_seed_matrix",
           "default_label", "icc_distributions", "icc_values", "reproducibility_figures", "threshold_outline"]
