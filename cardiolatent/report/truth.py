"""The planted-truth section: what a synthetic cohort planted, against what the results found.

A cohort folder written by ``cardiolatent synth`` holds ``truth/variants.tsv`` (planted variants:
``id, chrom, pos, trait, beta_sd, ...``), ``truth/hazards.tsv`` (planted log hazard ratios:
``outcome, term, center, scale, hr``; a term is a column of ``truth/participants.tsv``, used as
``(x - center) / scale``), ``truth/outcomes.tsv`` (``eid, outcome, prevalent, time_years, event``) and
``truth/participants.tsv`` (one row per participant-visit with the true parameters). Four checks,
each with its criterion and a met / not met mark (:data:`CRITERIA`):

- planted variants: the best P of each planted variant over the latents in a ``gwas-results``
  folder (its Manhattan table keeps every P under ``p_all_kept``, 1e-3 by default; above it the
  report says ``> 0.001``), its rank among all variants by best P, met when P is under the
  folder's threshold;
- planted hazard ratios: a Cox model of the outcome on the planted terms' true values
  (:func:`cardiolatent.stats.cox_fit`, participants without the outcome at the imaging visit), for
  every outcome a ``cox`` result analysed: met when the direction is right and the 95% CI covers
  the planted HR; the best latent's HR from the ``cox`` result is shown beside it;
- test-retest ICC of the consensus latents (the ensemble's selection when there is one): met when
  the median of the reported ICC form is at least 0.75 ("good", Koo & Li 2016);
- latent-vs-true-parameter R^2: 5-fold cross-validated ridge R^2
  (:func:`cardiolatent.train.quality.cv_r2`, folds by participant) of the latents file's latents
  for the planted parameters: met when R^2 is at least 0.5.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import read_latents
from cardiolatent.report.collect import Loaded, Section, fmt, rows_table
from cardiolatent.stats import cox_fit
from cardiolatent.train.quality import cv_r2

CRITERIA = {
    "variants": "planted variant's best P over the latents below the GWAS threshold",
    "h2": "95% CI of the SNP heritability of the true parameter (h2 +- 1.96 SE) covers the planted h2",
    "prs": "the polygenic score of the latent most correlated with the true LA volume, oriented to increase with "
           "it, predicts incident AF with HR > 1 per SD at P < 0.05, and its top tertile's cumulative hazard ends "
           "above the low tertile's",
    "hazards": "estimated HR on the true parameter in the planted direction and its 95% CI covers the planted HR",
    "icc": "median test-retest ICC of the consensus latents >= 0.75",
    "r2": "5-fold cross-validated R^2 of the latents for the true parameter >= 0.5",
}
ICC_MIN = 0.75
R2_MIN = 0.5
#: truth parameter of each planted trait name (variants.tsv ``trait``) when trait_column is absent
R2_PARAMS = ("lvedv_ml", "lav_ml", "lvef_pct", "lvwt_mm", "rvedv_ml")


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CardiolatentError(f"--truth: {path} not found (is this a `cardiolatent synth` cohort folder?)")
    return pd.read_csv(path, sep="\t")


def _mark(ok) -> str:
    return "met" if ok else "not met"


def variants_rows(variants: pd.DataFrame, gwas: list[Loaded]) -> list[dict]:
    """One row per planted variant and gwas-results folder: best P, rank, lead/locus found."""
    rows = []
    for it in gwas:
        res, rec = it.result, it.record
        thr = float(rec.get("p_threshold", (rec.get("threshold") or {}).get("p", 5e-8)))
        kept = float((rec.get("manhattan") or {}).get("p_all_kept", 1e-3))
        man = res.manhattan if res.manhattan is not None else pd.DataFrame(columns=["latent", "chrom", "pos",
                                                                                      "mlog10p"])
        man = man.assign(chrom=man["chrom"].astype(str))
        best = man.groupby(["chrom", "pos"], sort=False)["mlog10p"].max().sort_values(ascending=False)
        ranks = pd.Series(np.arange(1, len(best) + 1), index=best.index)
        loci = res.loci.assign(chrom=res.loci["chrom"].astype(str)) if len(res.loci) else res.loci
        for v in variants.itertuples():
            key = (str(v.chrom), int(v.pos))
            ml = float(best[key]) if key in best.index else np.nan
            p = 10 ** -ml if np.isfinite(ml) else np.nan
            if not p < kept:  # above the P every latent keeps: the best P over all latents is not known
                p, rank = np.nan, ""
            else:
                rank = int(ranks[key])
            in_locus = loci[(loci["chrom"] == key[0]) & (loci["start"] <= v.pos) & (loci["end"] >= v.pos)] \
                if len(loci) else loci
            hit = man[(man["chrom"] == key[0]) & (man["pos"] == v.pos)].sort_values("mlog10p", ascending=False)
            rows.append({"variant": v.id, "chrom": v.chrom, "pos": int(v.pos), "planted trait": v.trait,
                         "effect (SD)": v.beta_sd, "best P": p if np.isfinite(p) else f"> {kept:g}",
                         "best latent": hit["latent"].iloc[0] if len(hit) and np.isfinite(p) else "",
                         "rank": rank,
                         "in a locus": _yes(len(in_locus)), "threshold": thr, "gwas": it.label,
                         "result": _mark(np.isfinite(p) and p < thr)})
    return rows


def _yes(n) -> str:
    return "yes" if n else "no"


def _visit_rows(participants: pd.DataFrame) -> pd.DataFrame:
    """One row per participant: the imaging visit 2 row, else the first visit."""
    p = participants.sort_values(["eid", "instance"])
    first = p.drop_duplicates("eid", keep="first")
    return first.set_index("eid")


def hazard_rows(hazards: pd.DataFrame, outcomes: pd.DataFrame, participants: pd.DataFrame,
                cox: list[Loaded]) -> list[dict]:
    """Planted HRs against a Cox fit on the true parameters, for every outcome a cox result analysed."""
    wanted = []
    for it in cox:
        for o in (it.record.get("outcomes") or {}):
            if o not in wanted:
                wanted.append(o)
    people = _visit_rows(participants)
    rows = []
    for o in wanted:
        h = hazards[hazards["outcome"] == o]
        if h.empty:
            continue
        d = outcomes[(outcomes["outcome"] == o) & ~outcomes["prevalent"].astype(bool)].set_index("eid")
        d = d.join(people, how="inner", rsuffix="_p")
        terms = [t for t in h["term"] if t in d.columns]
        X = np.column_stack([(d[t].to_numpy(float) - c) / s for t, c, s in
                             zip(h["term"], h["center"], h["scale"]) if t in terms])
        fit = cox_fit(d["time_years"].to_numpy(float), d["event"].to_numpy(float), X, names=terms)
        est = fit.params.set_index("term")
        for r in h.itertuples():
            if r.term not in est.index:
                continue
            e = est.loc[r.term]
            ok = bool(np.isfinite(e["hr"]) and np.sign(np.log(e["hr"])) == np.sign(np.log(r.hr))
                      and e["hr_ci_low"] <= r.hr <= e["hr_ci_high"])
            rows.append({"outcome": o, "term": r.term, "unit": r.unit, "planted HR": r.hr, "estimate": e["hr"],
                         "95% CI": f"{fmt(e['hr_ci_low'])} - {fmt(e['hr_ci_high'])}",
                         "direction": "right" if np.sign(np.log(e["hr"])) == np.sign(np.log(r.hr)) else "wrong",
                         "covers": _yes(e["hr_ci_low"] <= r.hr <= e["hr_ci_high"]), "events": fit.n_events,
                         "n": fit.n, "result": _mark(ok)})
    return rows


def _best_latent(it: Loaded, outcome: str) -> dict:
    """The smallest-P latent of ``outcome`` in a cox result (models with status ok)."""
    t = it.result.table
    t = t[(t["outcome"] == outcome) & (t["status"] == "ok")] if "status" in t else t[t["outcome"] == outcome]
    if t.empty:
        return {}
    b = t.sort_values("p", kind="stable").iloc[0]
    return {"latent": b["latent"], "HR per SD": b["hr"], "95% CI": f"{fmt(b['hr_ci_low'])} - {fmt(b['hr_ci_high'])}",
            "p": b["p"], "events": b.get("n_events")}


def icc_rows(icc: list[Loaded], ensemble: list[Loaded]) -> list[dict]:
    """Median test-retest ICC (report form) over the consensus latents of each ICC-between-visits result."""
    consensus = None
    for it in ensemble:
        consensus = [c for c in it.result.table.columns if c not in ("eid", "instance")]
        break
    rows = []
    for it in icc:
        if it.record.get("between") != "visits":
            continue
        form = it.record.get("report_form", "ICC3")
        t = it.result.table
        t = t[t["type"] == form]
        which = "consensus latents" if consensus else "all latents (no ensemble result)"
        if consensus:
            t = t[t["latent"].isin(consensus)]
        if t.empty:
            continue
        med = float(t["icc"].median())
        rows.append({"icc result": it.label, "latents": which, "n latents": len(t), "form": form,
                     "median ICC": med, "q25": float(t["icc"].quantile(0.25)), "q75": float(t["icc"].quantile(0.75)),
                     "participants with both visits": it.record.get("n_participants_both_visits"),
                     "criterion": f">= {ICC_MIN}", "result": _mark(med >= ICC_MIN)})
    return rows


def latents_path(items: list[Loaded], given) -> Path | None:
    """``given`` (--latents), else the first latents path a summary records that exists."""
    if given:
        return Path(given)
    for it in items:
        p = it.record.get("latents")
        if isinstance(p, str) and Path(p).exists():
            return Path(p)
    return None


def r2_rows(path: Path, participants: pd.DataFrame, params) -> list[dict]:
    lat = read_latents(path)
    tab = lat.table
    cols = [c for c in tab.columns if c not in ("eid", "instance")]
    m = tab.merge(participants, on=["eid", "instance"], how="inner").sort_values(["eid", "instance"])
    if m.empty:
        raise CardiolatentError(f"--latents {path}: no participant-visit in common with the cohort's truth")
    X = m[cols].to_numpy(np.float64)
    rows = []
    for p in params:
        if p not in m.columns:
            continue
        r2 = cv_r2(X, m[p].to_numpy(float), groups=m["eid"].to_numpy())
        rows.append({"parameter": p, "latents": f"{len(cols)} ({path.name})", "n": len(m), "R^2": r2,
                     "criterion": f">= {R2_MIN}", "result": _mark(r2 >= R2_MIN)})
    return rows


def heritability_rows(h2: list[Loaded], truth: pd.DataFrame) -> list[dict]:
    """Planted SNP heritability (``truth/heritability.tsv``: ``trait_column, h2``) against each
    heritability result's estimate of that true parameter (phenotype named as the column)."""
    planted = truth.set_index("trait_column")["h2"]
    rows = []
    for it in h2:
        t = it.result.table
        for r in t[t["phenotype"].isin(planted.index)].itertuples():
            lo, hi = r.h2 - 1.96 * r.se, r.h2 + 1.96 * r.se
            ok = bool(r.status == "ok" and np.isfinite(lo) and lo <= planted[r.phenotype] <= hi)
            rows.append({"parameter": r.phenotype, "method": r.method, "planted h2": float(planted[r.phenotype]),
                         "estimate": r.h2, "se": r.se, "95% CI": f"{fmt(lo)} - {fmt(hi)}",
                         "n": int(round(float(r.n))) if np.isfinite(float(r.n)) else "", "result": it.label,
                         "covers": _yes(lo <= planted[r.phenotype] <= hi), "met": _mark(ok)})
    return rows


def prs_rows(prs: list[Loaded], participants: pd.DataFrame, latents: Path | None, *, trait: str = "lav_ml",
             outcome: str = "AF") -> list[dict]:
    """The planted LA volume -> AF path through a polygenic score: the score (at the evaluated threshold) of
    the scored latent most correlated with the true ``trait`` at the imaging visit (in the latents file of
    the discovery cohort), oriented by the sign of that correlation."""
    if latents is None or trait not in participants.columns:
        return []
    tab = read_latents(latents).table
    m = tab.merge(participants[["eid", "instance", trait]], on=["eid", "instance"], how="inner")
    rows = []
    for it in prs:
        res, rec = it.result, it.record
        cand = [c for c in rec.get("latents", []) if c in m.columns]
        ev = res.table[(res.table["outcome"] == outcome) & res.table["score"].isin(rec.get("evaluated", []))]
        cand = [c for c in cand if c in set(ev["source_latent"])]
        if not cand:
            continue
        r = {c: float(np.corrcoef(m[c].to_numpy(float), m[trait].to_numpy(float))[0, 1]) for c in cand}
        best = max(r, key=lambda c: abs(r[c]))
        sign = 1.0 if r[best] >= 0 else -1.0
        row = ev[ev["source_latent"] == best].iloc[0]
        hr, lo, hi = (float(row["hr"]) ** sign, float(row["hr_ci_low"]) ** sign, float(row["hr_ci_high"]) ** sign)
        na = res.cumulative_hazard
        na = na[(na["score"] == row["score"]) & (na["outcome"] == outcome) & (na["by"] == "all")] if len(na) else na
        end = na.groupby("group")["cumulative_hazard"].max() if len(na) else pd.Series(dtype=float)
        top, low = ("T3", "T1") if sign > 0 else ("T1", "T3")
        sep = bool(len(end) and top in end and low in end and end[top] > end[low])
        ok = bool(hr > 1 and float(row["p"]) < 0.05 and sep)
        rows.append({"latent": best, f"r with true {trait}": r[best], "score": row["score"],
                     "orientation": "as is" if sign > 0 else "reversed (r < 0)", "outcome": outcome,
                     "HR per SD": hr, "95% CI": f"{fmt(min(lo, hi))} - {fmt(max(lo, hi))}", "p": float(row["p"]),
                     "events": row.get("n_events"),
                     "tertile curves": (f"{100 * end[top]:.1f}% vs {100 * end[low]:.1f}% (cumulative hazard at the "
                                        f"end, top vs low tertile: {top} vs {low})" if len(end) and top in end
                                        and low in end else "none"),
                     "result": it.label, "met": _mark(ok)})
    return rows


def truth_section(cohort: str | os.PathLike, items: list[Loaded], *, latents=None) -> Section:
    """The planted-truth section for the cohort folder ``cohort`` and the loaded results."""
    cohort = Path(cohort)
    if not (cohort / "truth").is_dir():
        raise CardiolatentError(f"--truth {cohort}: no truth/ folder (give a `cardiolatent synth` cohort folder)")
    sec = Section("truth", "Planted truth")
    ok = [it for it in items if it.result is not None]
    by = lambda *kinds: [it for it in ok if it.kind in kinds]  # noqa: E731
    participants = _read(cohort / "truth" / "participants.tsv")
    variants = _read(cohort / "truth" / "variants.tsv")
    sec.text.append(f"Cohort {cohort}. Criteria: " + "; ".join(f"{k}: {v}" for k, v in CRITERIA.items()) + ".")
    gwas = by("GwasSummary")
    if gwas:
        sec.tables.append(rows_table(variants_rows(variants, gwas), "Planted variants found",
                                     note=f"Criterion: {CRITERIA['variants']}. Rank: among all variants by "
                                          "their best P over the latents."))
    else:
        sec.text.append("Planted variants: no gwas-results folder here (run cardiolatent gwas-results).")
    cox = by("CoxResult")
    if cox:
        rows = hazard_rows(_read(cohort / "truth" / "hazards.tsv"), _read(cohort / "truth" / "outcomes.tsv"),
                           participants, cox)
        sec.tables.append(rows_table(rows, "Planted hazard ratios against estimates on the true parameters",
                                     note=f"Criterion: {CRITERIA['hazards']}. Cox model of each outcome on all its "
                                          "planted terms (cardiolatent.stats.cox_fit), participants without the "
                                          "outcome at the imaging visit, all follow-up."))
        best = [{"outcome": o, "cox result": it.label, **b} for it in cox for o in (it.record.get("outcomes") or {})
                for b in [_best_latent(it, o)] if b]
        if best:
            sec.tables.append(rows_table(best, "The latent most associated with each outcome (for comparison)",
                                         note="From the cox result (per SD of latent); latents are not the "
                                              "planted parameters, so no criterion applies."))
    else:
        sec.text.append("Planted hazard ratios: no cox result here (run cardiolatent cox --outcomes AF,MI).")
    icc = by("ReproducibilityResult")
    rows = icc_rows(icc, by("CrossSeedResult")) if icc else []
    if rows:
        sec.tables.append(rows_table(rows, "Test-retest ICC of the consensus latents",
                                     note=f"Criterion: {CRITERIA['icc']}."))
    else:
        sec.text.append("Test-retest ICC: no icc --between visits result here.")
    h2 = by("HeritabilityResult")
    h2_truth = cohort / "truth" / "heritability.tsv"
    rows = heritability_rows(h2, _read(h2_truth)) if h2 and h2_truth.exists() else []
    if rows:
        sec.tables.append(rows_table(rows, "Planted SNP heritability against the estimates on the true parameters",
                                     note=f"Criterion: {CRITERIA['h2']}. The planted h2 is the planted variants' "
                                          "r^2 plus the polygenic background's h2 (truth/heritability.tsv), a "
                                          "fraction of the variance left after age, sex, body size and blood "
                                          "pressure; estimates are on the scale left after the analysis's "
                                          "covariates."))
    else:
        sec.text.append("Planted heritability: no heritability result of the true parameters here (run cardiolatent "
                        "heritability --pheno with the columns of truth/participants.tsv).")
    path = latents_path(items, latents)
    prs = by("PrsResult")
    rows = prs_rows(prs, participants, path) if prs else []
    if rows:
        sec.tables.append(rows_table(rows, "The planted LA volume -> AF path through a polygenic score",
                                     note=f"Criterion: {CRITERIA['prs']}. The latent is chosen with the truth "
                                          "(discovery cohort); the score is evaluated in the target cohort."))
    elif prs:
        sec.text.append("Polygenic scores: no latents file to tell which latent carries LA volume (give --latents).")
    if path is not None:
        params = [p for p in R2_PARAMS if p in participants.columns]
        sec.tables.append(rows_table(r2_rows(path, participants, params), "Latents against the true parameters",
                                     note=f"Criterion: {CRITERIA['r2']}."))
    else:
        sec.text.append("Latent-vs-true-parameter R^2: no latents file (give --latents).")
    return sec


__all__ = ["CRITERIA", "truth_section"]
