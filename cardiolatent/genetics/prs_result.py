"""The polygenic-score result: scores of the latents built from a discovery GWAS, computed in a target
cohort and followed into incident disease (the paper's Fig. 7).

A folder (``cardiolatent prs --out DIR``), replaced as a unit:

- ``cox.tsv`` (``table``): one row per score x outcome, the hazard ratio per SD of the score with the
  covariates (:func:`cardiolatent.analysis.survival.cox_latents`: ``score, outcome, beta, se, z, p, hr,
  hr_ci_low, hr_ci_high, n, n_events, ..., status``) plus ``source_latent`` (the latent whose GWAS
  gave the weights), ``p_threshold`` and ``n_variants`` (variants in the score).
- ``tertiles.tsv``: for the evaluated scores (one per latent, at ``summary.primary_threshold``), the
  hazard ratio of each tertile against each other (:func:`cardiolatent.stats.survival.group_hazard_ratios`,
  groups ``T1`` low, ``T2`` middle, ``T3`` top; columns ``score, outcome, reference, group, hr, ci_low,
  ci_high, p, ...``) with the covariates.
- ``cumulative_hazard.tsv``: Nelson-Aalen cumulative hazard by tertile over follow-up (``score, outcome,
  by`` = all / female / male, ``group, time`` (years), ``at_risk, events, censored,
  cumulative_hazard, ci_low, ci_high``), for the 10 evaluated scores with the smallest Cox P per
  outcome (:data:`cardiolatent.genetics.prs_run.CURVE_SCORES`), rows where only censoring happens
  left out except on a 0.5-year grid (:func:`cardiolatent.genetics.prs_run.thin_steps`: the curves and
  numbers at risk on the grid are unchanged).
- ``prevalence.tsv``: share of cases (prevalent at the visit or incident within follow-up) in the
  bottom 5/10/20 % and top 20/10/5 % of each evaluated score, overall and by sex
  (:func:`cardiolatent.genetics.prs_eval.prevalence_by_percentile` + ``score, outcome``).
- ``auc.tsv``: per outcome, out-of-fold AUC (5-fold) of ``covariates``, ``covariates + best score``
  (the evaluated score with the smallest Cox P for that outcome, named in ``score``) and
  ``covariates + all scores (L1)``; columns ``outcome, model, score, n, cases, auc, se, ci_low, ci_high,
  delong_diff, delong_p`` (DeLong's paired test against the covariates-only model). The best score is
  picked on the whole target cohort, so its AUC gain is slightly optimistic; the L1 model's penalty is
  chosen inside each training fold (nested), so its AUC is not.
- ``l1_coefficients.tsv``: the L1 model of each outcome refitted on everyone (``outcome, term, coef``;
  standardised features, 0 = not selected).
- ``weights.tsv`` / ``score_list.tsv``: the clumping-and-thresholding weights
  (:class:`cardiolatent.genetics.prs.PrsWeights`: one row per score x variant / one per score) and
  ``score.txt`` beside them is the PLINK 2 score file (``ID A1 <score>...``, every score, 0 where a
  score lacks the variant): ``plink2 --bfile GENO --score score.txt 1 2 header-read cols=+scoresums
  --score-col-nums 3-<2 + n>`` scores other people the same way.
- ``scores.parquet``: the target cohort's scores, a latents-like table ``eid, instance, <score>...``
  (``cardiolatent cox --latents scores.parquet`` reads it). ``instance`` is where follow-up starts:
  0 (the baseline assessment) or 2 (the first imaging visit): ``summary.follow_from``.
- ``excluded.tsv`` (``eid, instance, outcome, reason``: target participants left out before scoring,
  ``in_discovery_gwas`` / ``related_to_discovery`` with outcome ``all``, then the Cox models' exclusions),
  ``summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from cardiolatent.analysis.survival import FOLLOW_FROM, CoxResult, CoxSummary
from cardiolatent.results import Result, Summary

#: the extra tables of a PRS result (file name -> attribute)
PRS_TABLES = {"tertiles.tsv": "tertiles", "cumulative_hazard.tsv": "cumulative_hazard",
              "prevalence.tsv": "prevalence", "auc.tsv": "auc", "l1_coefficients.tsv": "l1_coefficients",
              "weights.tsv": "weights", "score_list.tsv": "score_list", "score.txt": "score_file",
              "scores.parquet": "scores"}
#: the AUC models, in the order of ``auc.tsv``
AUC_MODELS = ("covariates", "covariates + best score", "covariates + all scores (L1)")


@dataclass
class PrsSummary(Summary):
    """What ``summary.json`` of a PRS result holds (besides version, class and file list)."""

    discovery: str = ""                              # the GWAS results the weights came from
    target: dict = field(default_factory=dict)       # genotypes, main data, n, and "built-in" when so
    scorer: str = ""                                 # "plink2 --score (PLINK v2...)" or "cardiolatent"
    thresholds: list = field(default_factory=list)   # P thresholds of the scores
    primary_threshold: float = 0.0                   # the threshold of the evaluated scores
    latents: list = field(default_factory=list)      # latents scored, in order
    evaluated: list = field(default_factory=list)    # the evaluated scores (one per latent)
    outcomes: dict = field(default_factory=dict)     # outcome -> n_used, n_events, cases
    covariates: list = field(default_factory=list)
    max_followup_years: float | None = 10.0
    n_target: int = 0                                # participants scored
    clumping: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    follow_from: str = "imaging"                     # where follow-up starts: "baseline" (instance 0) or "imaging"
    follow_from_reason: str = ""                     # why (``--follow-from auto`` decides from the main data)
    target_samples: dict = field(default_factory=dict)  # counts: in the file, kept, left out (discovery, related)


@dataclass
class PrsResult(Result):
    """Polygenic scores of latents in a target cohort and their association with incident disease
    (module docstring). ``table``: Cox per SD of every score for every outcome."""

    tertiles: pd.DataFrame = None
    cumulative_hazard: pd.DataFrame = None
    prevalence: pd.DataFrame = None
    auc: pd.DataFrame = None
    l1_coefficients: pd.DataFrame = None
    weights: pd.DataFrame = None
    score_list: pd.DataFrame = None
    score_file: pd.DataFrame = None
    scores: pd.DataFrame = None

    kind: ClassVar[str] = "prs"
    layout: ClassVar[str] = "folder"
    table_name: ClassVar[str] = "cox.tsv"
    summary_type: ClassVar[type] = PrsSummary

    def __post_init__(self) -> None:
        for attr in PRS_TABLES.values():
            if getattr(self, attr) is None:
                setattr(self, attr, pd.DataFrame())

    def extra_tables(self) -> dict[str, pd.DataFrame]:
        """The non-empty extra tables (an empty one, e.g. ``auc.tsv`` with ``--no-auc``, is not written)."""
        return {name: getattr(self, attr) for name, attr in PRS_TABLES.items() if len(getattr(self, attr).columns)}

    @classmethod
    def _from_saved(cls, table, excluded, summary, extras):
        return cls(table=table, excluded=excluded, summary=PrsSummary.from_dict(summary),
                   **{attr: extras.get(name) for name, attr in PRS_TABLES.items()})

    # ------------------------------------------------------------------ views
    def cox_result(self, score: str | None = None) -> CoxResult:
        """The Cox rows as a :class:`~cardiolatent.analysis.survival.CoxResult` (``latent`` = score name),
        for the survival figures; with ``score``, its tertile tables as the result's groups."""
        table = self.table.rename(columns={"score": "latent"})
        outcomes = {o: {"n_used": int(v.get("n_used", 0)), "n_events": int(v.get("n_events", 0)), "excluded": {}}
                    for o, v in self.summary.outcomes.items()}
        summ = CoxSummary.from_dict({"model": "Cox proportional hazards, Efron ties; score standardised",
                                     "outcomes": outcomes, "covariates": list(self.summary.covariates),
                                     "max_followup_years": self.summary.max_followup_years,
                                     "n_latents": int(table["latent"].nunique()) if len(table) else 0,
                                     "follow_from": FOLLOW_FROM[0 if self.summary.follow_from == "baseline" else 2]})
        groups = {}
        if score is not None:
            summ.groups, summ.quantiles = str(score), 3
            hr = self.tertiles[self.tertiles["score"] == score].drop(columns="score")
            na = self.cumulative_hazard[self.cumulative_hazard["score"] == score].drop(columns="score")
            groups = {"hazard_ratios": hr.reset_index(drop=True), "nelson_aalen": na.reset_index(drop=True)}
        return CoxResult(table=table, excluded=self.excluded, summary=summ, groups=groups)

    def summary_lines(self) -> list[str]:
        s = self.summary
        lines = [f"{len(self.score_list):,} scores of {len(s.latents):,} latents (P thresholds "
                 f"{', '.join(f'{t:g}' for t in s.thresholds)}) in {s.n_target:,} target participants; "
                 f"scored by {s.scorer}",
                 f"follow-up from {s.follow_from_reason or FOLLOW_FROM[0 if s.follow_from == 'baseline' else 2]}"]
        for o, c in s.outcomes.items():
            part = self.table[(self.table["outcome"] == o)] if len(self.table) else self.table
            best = ""
            if len(part) and part["p"].notna().any():
                r = part.loc[part["p"].idxmin()]
                best = f"; strongest score {r['score']}: HR {r['hr']:.2f} per SD, P {r['p']:.2g}"
            lines.append(f"{o}: {c.get('n_used', 0):,} participants, {c.get('n_events', 0):,} incident events{best}")
        if len(self.auc):
            for o, part in self.auc.groupby("outcome", sort=False):
                bits = ", ".join(f"{r.model} {r.auc:.3f}" for r in part.itertuples())
                lines.append(f"{o} AUC: {bits}")
        lines += [f"  note: {n}" for n in s.notes]
        return lines


__all__ = ["PrsResult", "PrsSummary", "PRS_TABLES", "AUC_MODELS"]
