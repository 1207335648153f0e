"""Cox proportional-hazards scans: one model per latent, all latents fitted together.

:func:`cox_scan` fits, for every column ``z_i`` of ``Z`` (the latents), the model

    h(t | z_i, C) = h0_s(t) exp(beta_i * z_i + C gamma_i)

(``h0_s``: one baseline hazard per stratum when ``strata`` is given) by Newton-Raphson on the
partial likelihood with Efron (default) or Breslow handling of tied event times. The models are
not looped over: the rows are sorted once by (stratum, time), risk-set sums are reverse
cumulative sums over the segments between event times, and the gradients ``(m, p)`` and
information matrices ``(m, p, p)`` of a chunk of models are built with matrix products and
solved together (``p = 1 + c``). A model whose log partial likelihood decreases after a step has
that step halved; models leave the batch as they converge.

Units and conventions

* ``time``: years (any positive unit) from the start of follow-up; ``event``: 1 event, 0 censored.
* ``beta`` is the log hazard ratio per SD of the latent when ``standardise_z=True`` (the
  default): each latent is z-scored on the rows of its model with the *sample* SD (``ddof=1``,
  as R's ``scale()`` and pandas ``.std()``); ``z_sd`` in the output is that SD, so the log
  hazard ratio per original unit is ``beta / z_sd``.
* Standard errors from the observed information (``robust=False``) or the Lin-Wei sandwich
  ``V (sum_j U_j U_j') V`` with per-subject score residuals ``U_j`` (``robust=True``; no clusters).
  With tied event times the residuals follow the tie method: each ``U_j`` is the derivative of
  the case-weighted score with respect to subject j's weight (Efron: as R's survival package
  defines them; Breslow: equal to statsmodels PHReg's). lifelines' residuals ignore ties, so
  robust SEs equal lifelines' only when no event times are tied.
* Convergence: the predicted gain of the next Newton step, g' I^-1 g / 2, below ``tol``; that
  last step is taken, and when it moves no coefficient by more than 1e-6 (per SD) the
  information is not re-evaluated (the SEs are then those of a point within 1e-6 of beta).
* ``c_index``: Harrell's concordance of the fitted linear predictor (latent and covariates) of
  each model, counted as lifelines' ``concordance_index`` does (pairs tied in time are comparable
  only when one is an event and the other censored; tied predictions count 1/2), summed over
  strata when stratified. For every event the comparable rows are a suffix of the time-sorted
  rows; counts in suffixes use block-sorted copies of each model's predictor
  (O(n log n + D log^2 n) per model, D events) instead of the O(n^2) pair loop.
* ``ph_test``: Grambsch-Therneau score test of the latent's coefficient against a transform of
  time using scaled Schoenfeld residuals, the statistic lifelines' ``proportional_hazard_test``
  computes (``"rank"``, ``"km"``, ``"identity"``, ``"log"``). The denominator always uses the
  model-based variance (lifelines uses the robust one when ``robust=True``).

Per-model problems never raise; they are reported in ``status``:
``ok``, ``no_rows``, ``zero_events``, ``too_few_events`` (fewer than ``min_events``),
``constant`` (the latent does not vary), ``singular`` (information matrix not positive definite at
the start: the latent is collinear with the covariates or strata), ``separation`` (monotone
likelihood: the latent's coefficient diverges, e.g. a latent that perfectly orders the events),
``covariate_separation`` (a covariate's coefficient diverges), ``no_convergence``.
Estimates are reported for ``ok``, ``separation``, ``covariate_separation`` and
``no_convergence`` (for the last three treat them with suspicion); NaN otherwise.

Layout of the package (the public names are re-exported here):

- :mod:`.scan`: :func:`cox_scan`, the batched scan over many latents;
- :mod:`.fit`: :func:`cox_fit` / :class:`CoxFit`, one model with a full design;
- :mod:`.concordance`: :func:`harrell_c` and the C-index of fitted models;
- ``_risksets``: rows sorted by (stratum, time), event groups, risk-set sums, covariate matrices;
- ``_likelihood``: log partial likelihood, gradient and information of a batch of models;
- ``_newton``: batched Newton-Raphson with step halving, covariates-only likelihood;
- ``_robust``: Lin-Wei sandwich "meat" from per-subject score residuals;
- ``_schoenfeld``: scaled-Schoenfeld proportional-hazards test (``PH_TRANSFORMS``).
"""

from __future__ import annotations

from cardiolatent.stats.cox._schoenfeld import PH_TRANSFORMS
from cardiolatent.stats.cox.concordance import harrell_c
from cardiolatent.stats.cox.fit import CoxFit, cox_fit
from cardiolatent.stats.cox.scan import cox_scan

__all__ = ["cox_scan", "cox_fit", "CoxFit", "harrell_c", "PH_TRANSFORMS"]
