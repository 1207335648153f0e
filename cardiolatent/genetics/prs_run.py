"""From a discovery GWAS of the latents to polygenic scores followed into incident disease in a target cohort.

:func:`run_prs` is what ``cardiolatent prs`` runs:

1. weights by clumping and thresholding of each latent's GWAS (:func:`cardiolatent.genetics.prs.prs_weights`:
   one score per latent and P threshold);
2. the target cohort's scores, by the real ``plink2 --score`` when it is installed (or asked for),
   else by our scorer (:func:`~cardiolatent.genetics.prs.score_bed`, equal to plink2's; tested);
3. the evaluation, with the project's statistics: Cox per SD of every score for every outcome with
   the covariates (:func:`cardiolatent.analysis.survival.cox_latents`); for the *evaluated* scores
   (one per latent, at the primary threshold) hazard ratios by tertile and Nelson-Aalen curves
   (:func:`~cardiolatent.analysis.survival.group_curves`), prevalence by score percentile
   (:func:`~cardiolatent.genetics.prs_eval.prevalence_by_percentile`) and, per outcome, the
   out-of-fold AUC of the covariates alone, with the best single score and with all evaluated
   scores in an L1-penalised logistic model, compared by DeLong's test
   (:func:`~cardiolatent.genetics.prs_eval.multi_score_auc`).

The AUC models predict an incident event within follow-up among the participants free of the
outcome at the visit (the rows the Cox model uses); prevalence by percentile counts prevalent or
incident cases (the paper's Fig. 7 panel). Scores with no variant below their threshold are 0 for
everyone: they are kept in the weights and left out of the evaluation (noted).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cardiolatent.analysis.design import design_matrix, expand_names, participant_variables
from cardiolatent.analysis.survival import cox_latents, group_curves, group_inputs
from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.prs import PrsWeights, plink2_score, prs_weights, score_bed
from cardiolatent.genetics.prs_eval import delong_test, disease_status, multi_score_auc, prevalence_by_percentile
from cardiolatent.genetics.prs_eval import scores_as_latents
from cardiolatent.genetics.prs_result import AUC_MODELS, PrsResult, PrsSummary
from cardiolatent.genetics.prs_target import DISCOVERY_KINSHIP, follow_from_instance, target_samples
from cardiolatent.gwas.bedfile import BedFile
from cardiolatent.gwas.readers import discover_results
from cardiolatent.latents import select_columns
from cardiolatent.ukb.read import read_main

__all__ = ["run_prs", "evaluate_scores", "score_target", "gwas_latents", "thin_steps", "DEFAULT_PRIMARY_THRESHOLD",
           "PRS_THRESHOLDS", "CURVE_SCORES"]

#: the threshold of the evaluated scores (tertiles, prevalence, AUC) unless another is asked for
DEFAULT_PRIMARY_THRESHOLD = 1e-3


#: the P thresholds of ``cardiolatent prs`` (one score per latent and threshold)
PRS_THRESHOLDS = (5e-8, 1e-6, 1e-4, 1e-3, 1e-2)


def gwas_latents(gwas) -> list[str]:
    """The latent names of a discovery GWAS: a ``gwas-results`` folder (the latents it read, in its
    order) or the tools' results files / folders / globs (:func:`cardiolatent.gwas.readers.discover_results`)."""
    paths = [gwas] if isinstance(gwas, (str, os.PathLike)) else list(gwas)
    if len(paths) == 1 and (os.path.isdir(paths[0]) and os.path.isfile(os.path.join(paths[0], "summary.json"))):
        try:
            rec = json.loads(open(os.path.join(paths[0], "summary.json"), encoding="utf-8").read())
        except (OSError, ValueError) as exc:
            raise CardiolatentError(f"{paths[0]}/summary.json is not readable JSON ({exc})") from exc
        if "inputs" in rec:
            return list(dict.fromkeys(str(x["latent"]) for x in rec["inputs"]))
    files = discover_results(paths)
    if not files:
        raise CardiolatentError(f"no GWAS results files in {' '.join(map(str, paths))}")
    return list(dict.fromkeys(str(f.latent) for f in files))


#: evaluated scores per outcome whose Nelson-Aalen curves are kept (the smallest Cox P first): the curves
#: of 128 scores x 2 outcomes at 20,000 people were 556 MB; any score's curves come from
#: ``cardiolatent cox --latents scores.parquet --groups <score>``
CURVE_SCORES = 10
#: follow-up grid (years) at which :func:`thin_steps` keeps the last row, so numbers at risk stay exact there
AT_RISK_GRID_YEARS = 0.5


def thin_steps(curves: pd.DataFrame, grid: float = AT_RISK_GRID_YEARS) -> pd.DataFrame:
    """A step table (:func:`cardiolatent.stats.survival.nelson_aalen`) without the rows where only
    censoring happens, except the first and last row of each curve and the last row at or before each
    multiple of ``grid`` years: the cumulative hazard and its CI (which change only at events) are
    unchanged, and numbers at risk (``at_risk - events - censored`` of the last row at or before a
    time) stay exact on the grid."""
    if curves.empty:
        return curves
    keys = [c for c in ("by", "group") if c in curves.columns]
    c = curves.sort_values(keys + ["time"], kind="mergesort").reset_index(drop=True)
    keep = c["events"].to_numpy() > 0
    g = c.groupby(keys, sort=False).ngroup().to_numpy() if keys else np.zeros(len(c), dtype=np.int64)
    first = np.r_[True, g[1:] != g[:-1]]
    last = np.r_[g[1:] != g[:-1], True]
    # grid interval (k - 1) grid < t <= k grid: its last row is the last one at or before k grid
    slot = np.ceil(c["time"].to_numpy(float) / grid - 1e-12).astype(np.int64)
    slot_end = np.r_[(slot[1:] != slot[:-1]) | (g[1:] != g[:-1]), True]
    return c[keep | first | last | slot_end].reset_index(drop=True)


def score_target(weights: PrsWeights, bfile: str | os.PathLike, *, scorer: str = "auto", keep=None,
                 threads: int = 1) -> tuple[pd.DataFrame, str]:
    """Scores of every (kept) person of PLINK fileset ``bfile``: ``(sscore-like table, scorer label)``.

    ``scorer``: ``plink2`` (the real tool; an error when it is not installed), ``cardiolatent`` (our
    scorer) or ``auto`` (plink2 when on PATH). Only scores with at least one variant are scored.
    """
    if scorer not in ("auto", "plink2", "cardiolatent"):
        raise CardiolatentError(f"--scorer must be auto, plink2 or cardiolatent, not {scorer!r}")
    names = weights.scores.loc[weights.scores["n_variants"] > 0, "score"].tolist()
    if not names:
        raise CardiolatentError("no score has a variant below its P threshold: nothing to score "
                                "(loosen --thresholds)")
    W = weights.plink2_table()
    W = W[["ID", "A1", *names]]
    W = W[(W[names] != 0).any(axis=1)].reset_index(drop=True)
    exe = shutil.which("plink2")
    if scorer == "plink2" and exe is None:
        raise CardiolatentError("--scorer plink2: plink2 is not on PATH (apt-get install plink2), or use "
                                "--scorer cardiolatent")
    if scorer == "plink2" or (scorer == "auto" and exe is not None):
        out = plink2_score(bfile, W, keep=keep, threads=threads)
        version = next((ln.strip() for ln in out.attrs.get("log", "").splitlines() if ln.startswith("PLINK v")),
                       "PLINK 2")
        return out, f"plink2 --score ({version})"
    return score_bed(bfile, W, keep=keep, threads=threads), "cardiolatent (score_bed, as plink2 --score)"


#: the L1 strengths tried for the multi-score model (inverse penalty on standardised scores): with
#: thousands of participants a C above 1 is all but unpenalised, and liblinear's path to C = 1e4 over
#: 100+ correlated scores took minutes per fit
L1_CS = tuple(np.logspace(-3, 0, 4))


def _oof_logistic(y: np.ndarray, X: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold probabilities of an unpenalised logistic model (standardised features)."""
    pred = np.zeros(y.size)
    for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y):
        m = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=5000))
        pred[te] = m.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    return pred


def _auc_rows(outcome: str, y: np.ndarray, S: np.ndarray, names: list[str], C: np.ndarray | None,
              cnames: list[str], best: str, folds: int, seed: int) -> tuple[list[dict], pd.DataFrame]:
    """The three AUC rows of one outcome and the L1 model's coefficients."""
    res = multi_score_auc(y, S, C, score_names=names, covariate_names=cnames, folds=folds, seed=seed,
                          inner_folds=3, Cs=L1_CS)
    base = res.predictions[:, 0]
    X_best = S[:, [names.index(best)]] if C is None else np.hstack([C, S[:, [names.index(best)]]])
    best_pred = _oof_logistic(y.astype(np.int64), X_best, folds, seed)
    preds = {AUC_MODELS[0]: base, AUC_MODELS[1]: best_pred, AUC_MODELS[2]: res.predictions[:, 1]}
    z = norm.isf(0.025)
    rows = []
    for model, p in preds.items():
        t = delong_test(y, base, p)
        auc, se = t["auc2"], t["se2"]
        rows.append({"outcome": outcome, "model": model, "score": best if model == AUC_MODELS[1] else "",
                     "n": int(y.size), "cases": int(y.sum()), "auc": auc, "se": se, "ci_low": auc - z * se,
                     "ci_high": auc + z * se, "delong_diff": np.nan if model == AUC_MODELS[0] else t["diff"],
                     "delong_p": np.nan if model == AUC_MODELS[0] else t["p"]})
    coef = res.coefficients.assign(outcome=outcome)[["outcome", "term", "coef"]]
    return rows, coef


def evaluate_scores(scores: pd.DataFrame, main: Any, weights: PrsWeights, *, evaluated: Sequence[str],
                    outcomes: Sequence[str] = ("AF", "MI"), covariates: Sequence[str] | str = ("age", "sex"),
                    max_followup_years: float | None = 10.0, definitions=None, auc: bool = True,
                    folds: int = 5, seed: int = 0, progress=None) -> dict:
    """Evaluate a latents-like score table (``eid, instance, <score>...``) against the outcomes of ``main``.

    Returns the tables of :class:`~cardiolatent.genetics.prs_result.PrsResult` (``table, excluded,
    tertiles, cumulative_hazard, prevalence, auc, l1_coefficients``) and ``outcomes`` / ``notes`` for
    its summary. ``progress``: a callable given a short text before each stage (or None).
    """
    say = progress or (lambda text: None)
    outcomes = expand_names(outcomes)
    covs = expand_names(covariates)
    instance = int(scores["instance"].iloc[0]) if len(scores) else 2  # where follow-up starts (0: baseline)
    score_cols = [c for c in scores.columns if c not in ("eid", "instance")]
    evaluated = [s for s in evaluated if s in score_cols]
    say(f"Cox models of {len(score_cols)} scores for {', '.join(outcomes)}")
    cox = cox_latents(scores, main, outcomes, covs, max_followup_years=max_followup_years,
                      definitions=definitions, c_index=False)
    meta = weights.scores.set_index("score")
    table = cox.table.rename(columns={"latent": "score"})
    table["source_latent"] = table["score"].map(meta["latent"])
    table["p_threshold"] = table["score"].map(meta["p_threshold"])
    table["n_variants"] = table["score"].map(meta["n_variants"])
    keys = scores[["eid", "instance"]].reset_index(drop=True)
    V = participant_variables(main, keys, list(dict.fromkeys(covs + ["sex"])), definitions=definitions)
    sex = V.table["sex"].to_numpy(float)
    tert, curves, prev, auc_rows, coefs = [], [], [], [], []
    no_tertiles: dict[str, list[str]] = {}
    notes = list(cox.summary.notes)
    for o in outcomes:
        say(f"{o}: tertiles, prevalence by percentile" + (", AUC" if auc else ""))
        status = disease_status(main, keys["eid"].to_numpy(), o, instance=instance,
                                max_followup_years=max_followup_years, definitions=definitions)
        gi = group_inputs(main, keys, o, covariates=covs, max_followup_years=max_followup_years,
                          definitions=definitions)
        ranked = table[(table["outcome"] == o) & table["score"].isin(evaluated)].sort_values("p", kind="stable")
        with_curves = set(ranked["score"].head(CURVE_SCORES))
        for s in evaluated:
            x = scores[s].to_numpy(float)
            try:
                g = group_curves(x, main, keys, o, inputs=gi)
            except CardiolatentError:  # a score of one or two variants has too few distinct values
                no_tertiles.setdefault(s, []).append(o)
            else:
                tert.append(g["hazard_ratios"].assign(score=s))
                if s in with_curves:
                    curves.append(thin_steps(g["nelson_aalen"]).assign(score=s))
            prev.append(prevalence_by_percentile(x, status["case"].to_numpy(float), sex).assign(score=s, outcome=o))
        if not auc or not evaluated:
            continue
        use = pd.isna(gi.S.reason) & gi.complete
        C, cnames = None, []
        if covs:
            C, cnames = gi.C[use], list(design_matrix(V, covs, rows=use).names)
        y = gi.S.event[use].astype(float)
        if min(y.sum(), (1 - y).sum()) < max(folds, 10):
            notes.append(f"{o}: {int(y.sum())} incident events: too few for the AUC models")
            continue
        part = table[(table["outcome"] == o) & table["score"].isin(evaluated)]
        best = str(part.loc[part["p"].idxmin(), "score"]) if part["p"].notna().any() else evaluated[0]
        Smat = scores.loc[use, evaluated].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # saga's convergence warnings at weak penalties: AUC is what is read
            rows, coef = _auc_rows(o, y, Smat, list(evaluated), C, cnames, best, folds, seed)
        auc_rows += rows
        coefs.append(coef)

    if no_tertiles:
        few = list(no_tertiles)
        notes.append(f"{len(few)} evaluated score(s) have too few distinct values for tertiles (one to three "
                     f"variants; no tertile hazard ratios or curves): {', '.join(few[:6])}"
                     + (", ..." if len(few) > 6 else ""))

    def cat(parts, first):
        if not parts:
            return pd.DataFrame()
        df = pd.concat(parts, ignore_index=True)
        return df[first + [c for c in df.columns if c not in first]]

    return {"table": table, "excluded": cox.excluded,
            "tertiles": cat(tert, ["score", "outcome"]),
            "cumulative_hazard": cat(curves, ["score", "outcome", "by"]),
            "prevalence": cat(prev, ["score", "outcome"]),
            "auc": pd.DataFrame(auc_rows), "l1_coefficients": cat(coefs, ["outcome"]),
            "outcomes": {o: {"n_used": int(v["n_used"]), "n_events": int(v["n_events"])}
                         for o, v in cox.summary.outcomes.items()},
            "notes": notes}


def run_prs(gwas, target_genotypes: str | os.PathLike, target_main: Any, *, latents: Sequence[str] | str | None = None,
            thresholds: Sequence[float] = PRS_THRESHOLDS, primary_threshold: float | None = None,
            outcomes: Sequence[str] = ("AF", "MI"), covariates: Sequence[str] | str = ("age", "sex"),
            scorer: str = "auto", keep=None, max_followup_years: float | None = 10.0, definitions=None,
            auc: bool = True, threads: int = 1, target_label: dict | None = None, follow_from: str = "auto",
            discovery_samples=None, kinship=None, kinship_threshold: float = DISCOVERY_KINSHIP,
            progress=None) -> PrsResult:
    """Polygenic scores of latents from a discovery GWAS, scored and evaluated in a target cohort.

    Parameters
    ----------
    gwas : a ``cardiolatent gwas-results`` folder or the tools' results files (see
        :func:`~cardiolatent.genetics.prs.prs_weights`).
    target_genotypes : PLINK 1 prefix of the target cohort (people outside the discovery GWAS).
    target_main : the target cohort's main data (path or table) with visit dates and outcomes.
    latents : latents to score: names or regular expressions (full match; a comma list as one
        string), default every latent of the GWAS.
    thresholds : P thresholds; ``primary_threshold`` (default :data:`DEFAULT_PRIMARY_THRESHOLD` when
        among them, else the largest) picks the evaluated scores.
    scorer : ``auto`` / ``plink2`` / ``cardiolatent`` (:func:`score_target`). ``keep``: target ids.
    follow_from : ``baseline`` (instance 0), ``imaging`` (instance 2) or ``auto`` (imaging when every
        scored participant has an imaging visit, else baseline): :func:`~cardiolatent.genetics.prs_target.follow_from_instance`.
    discovery_samples, kinship, kinship_threshold : participants of the discovery sample, and those
        related to it above the threshold, are left out of the target before scoring
        (:func:`~cardiolatent.genetics.prs_target.target_samples`; counted in ``excluded``).
    Others: as :func:`evaluate_scores`. ``target_label``: what the summary says of the target.
    """
    say = progress or (lambda text: None)
    ts = sorted(float(t) for t in thresholds)
    if primary_threshold is None:
        primary_threshold = DEFAULT_PRIMARY_THRESHOLD if DEFAULT_PRIMARY_THRESHOLD in ts else ts[-1]
    if float(primary_threshold) not in ts:
        raise CardiolatentError(f"--primary-threshold {primary_threshold:g} is not one of --thresholds "
                                f"{','.join(f'{t:g}' for t in ts)}")
    bed = BedFile(target_genotypes)
    chosen = target_samples(bed.fam, keep=keep, discovery=discovery_samples, related=kinship,
                            kinship_threshold=kinship_threshold)
    if isinstance(target_main, (str, os.PathLike)):
        say(f"reading the target cohort's main data {target_main}")
        target_main = read_main(target_main)
    eids = pd.to_numeric(pd.Series(chosen.iids), errors="coerce").dropna().astype(np.int64).to_numpy()
    instance, why = follow_from_instance(target_main, eids, follow_from)
    say(f"follow-up from {why}")
    if latents is not None:
        latents = select_columns(gwas_latents(gwas), latents, f"the GWAS {gwas}")
    say("weights by clumping and thresholding")
    w = prs_weights(gwas, ts, latents=latents)
    say(f"scoring {len(chosen.iids):,} target participants on {int((w.scores['n_variants'] > 0).sum())} scores")
    raw, scorer_label = score_target(w, bed.prefix, scorer=scorer, keep=chosen.keep, threads=threads)
    scores = scores_as_latents(raw, kind="sum", instance=instance)
    nonzero = w.scores[w.scores["n_variants"] > 0]
    evaluated = nonzero.loc[nonzero["p_threshold"] == float(primary_threshold), "score"].tolist()
    # one note for the scores without a variant (clumping lists each), the others as they are
    notes = [n for n in w.info.get("notes", []) if not (n.startswith("score ") and "no variant with P <" in n)]
    empty = w.scores.loc[w.scores["n_variants"] == 0, "score"].tolist()
    if empty:
        notes.append(f"{len(empty)} of {len(w.scores)} score(s) have no variant below their threshold (0 for "
                      f"everyone) and are not evaluated (e.g. {', '.join(empty[:3])})")
    info = chosen.info
    for reason, what in (("in_discovery_gwas", "in the discovery sample"),
                         ("related_to_discovery", f"related to it (kinship > {kinship_threshold:g})")):
        if info.get(reason):
            notes.append(f"{info[reason]:,} target participant(s) {what} left out before scoring ({reason})")
    ev = evaluate_scores(scores, target_main, w, evaluated=evaluated, outcomes=outcomes, covariates=covariates,
                         max_followup_years=max_followup_years, definitions=definitions, auc=auc, progress=say)
    left_out = chosen.excluded.assign(instance=np.int64(instance), outcome="all")[["eid", "instance", "outcome",
                                                                                    "reason"]]
    excluded = pd.concat([left_out, ev["excluded"]], ignore_index=True) if len(left_out) else ev["excluded"]
    summary = PrsSummary(
        discovery=str(w.info.get("source", {}).get("gwas_results") or w.info.get("source", {}).get("results")),
        target={"genotypes": str(bed.prefix), "n_genotyped": int(bed.n), **(target_label or {})},
        scorer=scorer_label, thresholds=ts, primary_threshold=float(primary_threshold),
        latents=list(dict.fromkeys(w.scores["latent"].astype(str))), evaluated=evaluated,
        outcomes=ev["outcomes"], covariates=list(expand_names(covariates)), max_followup_years=max_followup_years,
        n_target=int(len(scores)), clumping=dict(w.info.get("clumping", {})), notes=notes + ev["notes"],
        follow_from="baseline" if instance == 0 else "imaging", follow_from_reason=why,
        target_samples={k: v for k, v in info.items() if k != "everyone"})
    return PrsResult(table=ev["table"], excluded=excluded, summary=summary, tertiles=ev["tertiles"],
                     cumulative_hazard=ev["cumulative_hazard"], prevalence=ev["prevalence"], auc=ev["auc"],
                     l1_coefficients=ev["l1_coefficients"], weights=w.table, score_list=w.scores,
                     score_file=w.plink2_table(), scores=scores)
