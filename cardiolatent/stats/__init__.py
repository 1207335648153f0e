"""Vectorised statistics: ICC, M_eff, OLS/logistic scans, multiple testing, Cox, survival curves.

The numerical cores take numpy arrays (or DataFrames) and return tidy DataFrames; they know
nothing of UK Biobank. Everything listed in ``__all__`` can be imported from here::

    from cardiolatent.stats import ols_scan, logistic_scan, cox_scan, icc, kaplan_meier

Modules: ``ols`` (OLS scan), ``dosage`` (GWAS OLS scan of genotype dosages with plink2's per-variant
rules), ``logistic`` (logistic scan), ``cox`` (package: Cox scan, single fit,
concordance, robust variance, PH test), ``survival`` (quantile groups, group hazard ratios,
Kaplan-Meier, Nelson-Aalen), ``multitest`` (Bonferroni, Benjamini-Hochberg, M_eff threshold,
Westfall-Young max-T), ``intraclass`` (Shrout-Fleiss ICCs: :func:`icc` computes the table of an
``(n subjects, k raters)`` or ``(n, k, m variables)`` array), ``independent_tests`` (effective
number of tests: :func:`meff`, :func:`effective_tests`), ``transforms`` (z-scores, inverse normal
transform); ``_inputs`` holds the shared input coercion.
"""

from cardiolatent.stats.cox import CoxFit, cox_fit, cox_scan, harrell_c
from cardiolatent.stats.dosage import GLM_ERRCODES, DosageScan, DosageScanner, dosage_scan, t_test_mlog10p
from cardiolatent.stats.independent_tests import MeffResult, effective_tests, meff
from cardiolatent.stats.intraclass import icc, icc_table
from cardiolatent.stats.logistic import logistic_scan
from cardiolatent.stats.multitest import (benjamini_hochberg, bonferroni, maxT_permutations, meff_threshold,
                                          westfall_young_maxT)
from cardiolatent.stats.ols import ols_scan
from cardiolatent.stats.survival import group_hazard_ratios, kaplan_meier, nelson_aalen, quantile_groups
from cardiolatent.stats.transforms import inverse_normal, standardise

__all__ = [
    # association scans
    "ols_scan", "logistic_scan",
    # GWAS over genotype dosages (plink2 --glm's model and rules)
    "dosage_scan", "DosageScanner", "DosageScan", "t_test_mlog10p", "GLM_ERRCODES",
    # survival
    "cox_scan", "cox_fit", "CoxFit", "harrell_c", "quantile_groups", "group_hazard_ratios",
    "kaplan_meier", "nelson_aalen",
    # reproducibility
    "icc", "icc_table", "effective_tests", "meff", "MeffResult",
    # multiple testing
    "bonferroni", "benjamini_hochberg", "meff_threshold", "maxT_permutations", "westfall_young_maxT",
    # transforms
    "standardise", "inverse_normal",
]
