"""Evaluation of polygenic scores in a target cohort, over the project's existing statistics.

- :func:`scores_as_latents`: a score table (our :func:`~cardiolatent.genetics.prs.score_bed` or
  plink2's ``.sscore``) as a wide latents table (``eid, instance = 2, <score columns>``), which
  :func:`cardiolatent.analysis.survival.cox_latents` and ``cardiolatent cox --latents`` take
  unchanged: hazard ratio per SD of each score for incident outcomes with covariates, and with
  ``--groups <score>`` the tertile hazard ratios and Kaplan-Meier / Nelson-Aalen curves.
- :func:`disease_status` and :func:`prevalence_by_percentile`: share of participants with an outcome
  (prevalent at the imaging visit or incident within follow-up) in the bottom 5/10/20 % and top
  20/10/5 % of a score, overall and by sex, with Wilson 95 % intervals.
- :func:`multi_score_auc`: an L1-penalised logistic regression over several scores plus the
  covariates (scikit-learn, penalty chosen by inner cross-validation on AUC), its out-of-fold AUC
  against the covariates-only model's, compared by DeLong's test.
- :func:`delong_test` / :func:`delong_auc`: DeLong, DeLong & Clarke-Pearson (1988) variance and
  covariance of correlated AUCs with Sun & Xu's (2014) fast midrank algorithm (O(n log n));
  checked against a direct O(n^2) computation and R's pROC in tests/test_prs.py; they live in
  :mod:`cardiolatent.stats.roc` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cardiolatent.errors import CardiolatentError
from cardiolatent.stats.roc import check_binary_outcome, delong_auc, delong_test
from cardiolatent.ukb.covariates import as_wide
from cardiolatent.ukb.outcomes import DEFAULT_ADMIN_DATE, outcome_table

__all__ = [
    "scores_as_latents",
    "disease_status",
    "prevalence_by_percentile",
    "delong_auc",
    "delong_test",
    "multi_score_auc",
    "MultiScoreAUC",
    "PERCENTILE_GROUPS",
]

#: the paper's percentile groups: (label, side, percent)
PERCENTILE_GROUPS = (("bottom 5%", "bottom", 5), ("bottom 10%", "bottom", 10), ("bottom 20%", "bottom", 20),
                     ("top 20%", "top", 20), ("top 10%", "top", 10), ("top 5%", "top", 5))


# --------------------------------------------------------------------------------------------
# scores as a latents table
# --------------------------------------------------------------------------------------------

def scores_as_latents(scores: pd.DataFrame, *, kind: str = "sum", instance: int = 2,
                      names: Sequence[str] | None = None) -> pd.DataFrame:
    """A wide latents table ``eid, instance, <score>...`` from a score table.

    ``scores``: :func:`~cardiolatent.genetics.prs.score_bed` / :func:`~cardiolatent.genetics.prs.read_sscore`
    output (``IID`` = eid, ``<score>_SUM`` / ``<score>_AVG`` columns). ``kind``: ``sum`` or ``avg``
    (plink2's averages divide by a constant per file, so per-SD results are the same). ``instance``:
    the visit whose date starts follow-up (2: the first imaging visit, the rule for a table
    without instance). Samples whose IID is not an integer eid are an error. Columns are named by
    the score (``Z0_p5e-08``); save as parquet for ``cardiolatent cox --latents``.
    """
    suf = {"sum": "_SUM", "avg": "_AVG"}.get(kind)
    if suf is None:
        raise CardiolatentError(f"kind must be sum or avg, not {kind!r}")
    if "IID" not in scores.columns:
        raise CardiolatentError("the score table needs an IID column (plink2 .sscore or score_bed output)")
    cols = [c for c in scores.columns if str(c).endswith(suf) and c != "NAMED_ALLELE_DOSAGE_SUM"]
    if names is not None:
        want = [f"{n}{suf}" for n in names]
        absent = [w for w in want if w not in scores.columns]
        if absent:
            raise CardiolatentError(f"the score table has no column {absent[0]} (has {', '.join(cols[:6])})")
        cols = want
    if not cols:
        raise CardiolatentError(f"the score table has no {suf} column (plink2: cols=+scoresums for sums)")
    eid = pd.to_numeric(scores["IID"], errors="coerce")
    if eid.isna().any():
        raise CardiolatentError(f"IID {scores['IID'][eid.isna()].iloc[0]!r} is not an eid (an integer)")
    data = {"eid": eid.astype(np.int64).to_numpy(), "instance": np.full(len(scores), instance, dtype=np.int64)}
    data.update({str(c)[: -len(suf)]: scores[c].to_numpy(dtype=np.float64) for c in cols})
    return pd.DataFrame(data)


# --------------------------------------------------------------------------------------------
# prevalence by score percentile
# --------------------------------------------------------------------------------------------

def disease_status(main: Any, eids: Sequence[int], outcome: str, *, instance: int = 2,
                   max_followup_years: float | None = None, admin_date=None, definitions=None) -> pd.DataFrame:
    """Per eid: ``prevalent`` (event on or before the visit), ``incident`` (after it, within follow-up),
    ``case`` (either), as 0/1 floats; NaN where the participant has no visit at ``instance`` or is
    not in the main data. Wraps :func:`cardiolatent.ukb.outcomes.outcome_table`."""
    res = outcome_table(as_wide(main), [outcome], instance=instance, admin_date=admin_date or DEFAULT_ADMIN_DATE,
                        max_followup_years=max_followup_years, definitions=definitions, allow_missing_death=True)
    t = res.table.set_index("eid").reindex(np.asarray(eids, dtype=np.int64))
    prev = t["prevalent"].astype("float64")
    inc = t["incident"].astype("float64")
    case = np.where(prev.isna() | inc.isna(), np.nan, np.maximum(prev.fillna(0), inc.fillna(0)))
    return pd.DataFrame({"eid": np.asarray(eids, dtype=np.int64), "prevalent": prev.to_numpy(),
                         "incident": inc.to_numpy(), "case": case})


def _wilson(k: np.ndarray, n: np.ndarray, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        c = (p + z * z / (2 * n)) / (1 + z * z / n)
        h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h


def prevalence_by_percentile(score, case, sex=None, *, groups=PERCENTILE_GROUPS) -> pd.DataFrame:
    """Share of cases in the extreme percentiles of a score, overall and by sex.

    Parameters
    ----------
    score : (n,) score; case : (n,) 0/1 (NaN rows are left out, as are NaN scores);
    sex : (n,) 0 = female, 1 = male (optional; adds rows ``by = female / male``, percentiles within
        each sex).
    groups : (label, ``bottom`` | ``top``, percent): a person is in the bottom p % when their score is
        at most the p-th percentile (numpy's linear interpolation) of the rows of that ``by`` group,
        in the top p % when at least the (100 - p)-th.

    Returns
    -------
    One row per ``by`` (``all``, ``female``, ``male``) and group (plus ``all participants``):
    ``by, group, side, percent, cutoff, n, cases, prevalence, ci_low, ci_high`` (Wilson 95 %) and
    ``ratio`` (prevalence over that ``by``'s overall prevalence).
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(case, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise CardiolatentError("score and case must be 1-D arrays of the same length")
    ok = np.isfinite(s) & np.isfinite(y)
    if np.any(~np.isin(y[ok], (0.0, 1.0))):
        raise CardiolatentError("case must be 0/1 (or NaN)")
    parts = [("all", ok)]
    if sex is not None:
        sx = np.asarray(sex, dtype=np.float64)
        parts += [("female", ok & (sx == 0)), ("male", ok & (sx == 1))]
    rows = []
    for by, m in parts:
        ss, yy = s[m], y[m]
        if ss.size == 0:
            continue
        base = yy.mean()
        rows.append({"by": by, "group": "all participants", "side": "all", "percent": 100.0, "cutoff": np.nan,
                     "n": int(ss.size), "cases": int(yy.sum())})
        for label, side, pct in groups:
            if side == "bottom":
                cut = np.percentile(ss, pct)
                g = ss <= cut
            elif side == "top":
                cut = np.percentile(ss, 100 - pct)
                g = ss >= cut
            else:
                raise CardiolatentError(f"group side must be bottom or top, not {side!r}")
            rows.append({"by": by, "group": label, "side": side, "percent": float(pct), "cutoff": float(cut),
                         "n": int(g.sum()), "cases": int(yy[g].sum())})
        for r in rows:
            if r["by"] == by:
                r["overall"] = base
    out = pd.DataFrame(rows)
    n, k = out["n"].to_numpy(float), out["cases"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["prevalence"] = k / n
        out["ci_low"], out["ci_high"] = _wilson(k, n)
        out["ratio"] = out["prevalence"] / out.pop("overall")
    return out


# --------------------------------------------------------------------------------------------
# multi-score model
# --------------------------------------------------------------------------------------------

@dataclass
class MultiScoreAUC:
    """Result of :func:`multi_score_auc`.

    ``table``: one row per model (``covariates``, ``covariates + scores``): ``model, n, cases, auc,
    se, ci_low, ci_high`` (out-of-fold predictions, DeLong SE); ``delong``: :func:`delong_test` of
    the two; ``coefficients``: the L1 model refitted on everyone (standardised features: ``term,
    coef``, 0 = not selected) with ``C`` chosen by inner cross-validation; ``predictions``: (n, 2)
    out-of-fold probabilities (covariates, covariates + scores).
    """

    table: pd.DataFrame
    delong: dict
    coefficients: pd.DataFrame
    predictions: np.ndarray
    info: dict = field(default_factory=dict)


def multi_score_auc(y, scores, covariates=None, *, score_names: Sequence[str] | None = None,
                    covariate_names: Sequence[str] | None = None, folds: int = 5, inner_folds: int = 5,
                    Cs: int | Sequence[float] = 10, seed: int = 0, max_iter: int = 5000) -> MultiScoreAUC:
    """AUC of an L1-penalised logistic model over several scores (plus covariates) against the
    covariates-only model, both by ``folds``-fold cross-validation (out-of-fold predictions), compared
    with DeLong's test.

    ``y``: (n,) 0/1; ``scores``: (n, k); ``covariates``: (n, c) or None (the base model is then the
    constant: AUC 0.5). Rows with any missing value are left out (counted in ``info``). Features are
    standardised within each training fold; the covariates-only model is unpenalised; the score
    model's L1 strength is chosen among ``Cs`` by ``inner_folds``-fold cross-validation on AUC
    (:class:`sklearn.linear_model.LogisticRegressionCV`, liblinear coordinate descent: it converges on many
    correlated scores where saga does not), the covariates penalised with
    the scores. Folds are stratified and shuffled by ``seed``.
    """
    y = np.asarray(y, dtype=np.float64)
    S = np.asarray(scores, dtype=np.float64)
    S = S[:, None] if S.ndim == 1 else S
    C = None if covariates is None else np.asarray(covariates, dtype=np.float64)
    C = C[:, None] if C is not None and C.ndim == 1 else C
    if S.shape[0] != y.size or (C is not None and C.shape[0] != y.size):
        raise CardiolatentError("y, scores and covariates need one row per participant")
    ok = np.isfinite(y) & np.isfinite(S).all(axis=1) & (np.isfinite(C).all(axis=1) if C is not None else True)
    yk = check_binary_outcome(y[ok])
    Sk, Ck = S[ok], (C[ok] if C is not None else None)
    if min(yk.sum(), (1 - yk).sum()) < folds:
        raise CardiolatentError(f"multi_score_auc needs at least {folds} cases and {folds} controls "
                                f"(has {int(yk.sum())} cases)")
    snames = list(score_names) if score_names is not None else [f"score{i + 1}" for i in range(Sk.shape[1])]
    cnames = (list(covariate_names) if covariate_names is not None else
              [f"covariate{i + 1}" for i in range(0 if Ck is None else Ck.shape[1])])
    X1 = Sk if Ck is None else np.hstack([Ck, Sk])
    outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    pred = np.zeros((yk.size, 2))

    def l1_model():
        return make_pipeline(StandardScaler(), LogisticRegressionCV(
            Cs=Cs, l1_ratios=[1.0], cv=StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed),
            scoring="roc_auc", solver="liblinear", max_iter=max_iter, use_legacy_attributes=False))

    for tr, te in outer.split(X1, yk):
        if Ck is None:
            pred[te, 0] = yk[tr].mean()
        else:
            m0 = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=max_iter))
            pred[te, 0] = m0.fit(Ck[tr], yk[tr]).predict_proba(Ck[te])[:, 1]
        pred[te, 1] = l1_model().fit(X1[tr], yk[tr]).predict_proba(X1[te])[:, 1]
    auc, cov = delong_auc(yk, pred)
    se = np.sqrt(np.diag(cov))
    z = norm.isf(0.025)
    labels = ["covariates" if Ck is not None else "constant", "covariates + scores" if Ck is not None else "scores"]
    table = pd.DataFrame({"model": labels, "n": yk.size, "cases": int(yk.sum()), "auc": auc, "se": se,
                          "ci_low": auc - z * se, "ci_high": auc + z * se})
    full = l1_model().fit(X1, yk)
    lr = full[-1]
    coef = pd.DataFrame({"term": cnames + snames, "coef": np.ravel(lr.coef_)})
    info = {"n_rows": int(y.size), "n_used": int(ok.sum()), "n_missing": int((~ok).sum()), "folds": folds,
            "inner_folds": inner_folds, "seed": seed, "C": float(np.ravel(lr.C_)[0]),
            "penalty": "L1 (liblinear), C by inner CV on AUC", "base_model": "unpenalised logistic on the covariates"}
    return MultiScoreAUC(table=table, delong=delong_test(yk, pred[:, 0], pred[:, 1]), coefficients=coef,
                         predictions=pred, info=info)
