"""Association scans of latents against traits and diseases (the paper's Fig. 2 models).

:func:`association_scan` aligns a latents table with UK Biobank variables
(:mod:`cardiolatent.analysis.design`) and runs, for every latent and trait,

- ``direction="latent"`` (the paper): OLS ``latent ~ trait + covariates``, reporting the trait
  term (:func:`cardiolatent.stats.ols.ols_scan`, one matrix computation per missingness
  pattern); continuous and binary traits alike;
- ``direction="outcome"``: logistic ``disease ~ latent + covariates`` for binary traits
  (:func:`cardiolatent.stats.logistic.logistic_scan`, batched IRLS).

Missing data: complete cases per trait (the trait, every covariate and the latent). Traits
with fewer than ``min_nonmissing`` (fraction) non-missing values, and binary traits with fewer
than ``min_cases`` cases, are not tested and are listed in ``summary["traits_skipped"]``.

Significance columns: ``p_bonferroni`` (P times the number of tests), ``q_bh``
(Benjamini-Hochberg), ``significant_meff`` (the paper's ``P < alpha / (traits x M_eff)`` with
M_eff of the latents by Li & Ji), and ``p_maxT`` (Westfall-Young max-T over the whole scan)
when ``permutations > 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from cardiolatent.analysis.design import (
    LatentMatrix,
    design_matrix,
    expand_names,
    load_latents,
    participant_variables,
)
from cardiolatent.errors import CardiolatentError

RESULT_COLUMNS = ("latent", "trait", "beta", "se", "t", "p", "n", "n_cases", "status")


@dataclass
class AssocResult:
    """``table``: one row per latent x trait; ``excluded``: ``eid, instance, reason`` rows not in
    any model (a repeat visit, no visit date); ``summary``: counts, notes, skipped traits, M_eff."""

    table: pd.DataFrame
    excluded: pd.DataFrame
    summary: dict = field(default_factory=dict)


def _standardise(a: np.ndarray) -> np.ndarray:
    from cardiolatent.stats.transforms import standardise

    return standardise(a)


def _inverse_normal(a: np.ndarray) -> np.ndarray:
    from cardiolatent.stats.transforms import inverse_normal

    return inverse_normal(a)


def _trait_columns(V, traits: Sequence[str], *, min_cases: int, min_nonmissing: float,
                   min_level_count: int) -> tuple[list[str], np.ndarray, list[str], list[dict]]:
    """Trait matrix (n, t): categorical traits as one 0/1 column per non-reference level."""
    names, cols, kinds, skipped = [], [], [], []
    n = len(V.table)
    for tr in traits:
        x = V.table[tr].to_numpy(np.float64)
        kind = V.kinds[tr]
        frac = float(np.isfinite(x).mean()) if n else 0.0
        if frac < min_nonmissing:
            skipped.append({"trait": tr, "reason": f"only {frac:.0%} non-missing (< {min_nonmissing:.0%})"})
            continue
        if kind == "categorical":
            levels, counts = np.unique(x[np.isfinite(x)], return_counts=True)
            ref = levels[np.argmax(counts)]
            for lv, c in zip(levels, counts):
                if lv == ref:
                    continue
                label = f"{tr}={int(lv) if float(lv).is_integer() else lv}"
                if c < min_cases:
                    skipped.append({"trait": label, "reason": f"{c} participants (< {min_cases}) at this level"})
                    continue
                names.append(label)
                cols.append(np.where(np.isfinite(x), (x == lv).astype(float), np.nan))
                kinds.append("binary")
            continue
        if kind == "binary":
            n_cases = int(np.nansum(x == 1))
            if n_cases < min_cases:
                skipped.append({"trait": tr, "reason": f"{n_cases} cases (< {min_cases})"})
                continue
        elif np.nanmin(x) == np.nanmax(x):
            skipped.append({"trait": tr, "reason": "constant"})
            continue
        names.append(tr)
        cols.append(x)
        kinds.append(kind)
    mat = np.column_stack(cols) if cols else np.empty((n, 0))
    return names, mat, kinds, skipped


def association_scan(
    latents: Any,
    main: Any,
    traits: Sequence[str] | str,
    covariates: Sequence[str] | str = "paper_traits",
    *,
    direction: str = "latent",
    standardise: bool = True,
    inverse_normal: bool = False,
    min_cases: int = 200,
    min_nonmissing: float = 0.3,
    min_level_count: int = 10,
    permutations: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
    meff: float | None = None,
    case_window: tuple[int, int] = (-5, 1),
    definitions=None,
    visits: str = "prefer2",
    latent_columns: Sequence[str] | str | None = None,
) -> AssocResult:
    """Latents against traits with covariates; see the module docstring.

    Parameters
    ----------
    latents : a latents file or DataFrame (long encoder output or wide), or a :class:`LatentMatrix`.
    main : :class:`cardiolatent.ukb.read.MainData` (or its canonical wide table).
    traits, covariates : names (comma lists allowed; covariate presets ``paper_traits``,
        ``paper_disease``, ``gwas``, ``none``; see :mod:`cardiolatent.analysis.design`).
    standardise : z-score the latents and the continuous traits (the paper), so ``beta`` is in SD
        of the latent per SD of the trait (per case status for binary traits).
    inverse_normal : rank-based inverse normal transform of the latents instead (and of
        continuous traits), applied before standardising.
    """
    if direction not in ("latent", "outcome"):
        raise CardiolatentError(f"direction must be 'latent' (latent ~ trait) or 'outcome' "
                                f"(disease ~ latent), not {direction!r}")
    L = latents if isinstance(latents, LatentMatrix) else load_latents(latents, visits=visits,
                                                                        columns=latent_columns)
    traits = expand_names(traits)
    covs = expand_names(covariates)
    if not traits:
        raise CardiolatentError("no traits given")
    V = participant_variables(main, L.keys, list(dict.fromkeys(traits + covs)), definitions=definitions,
                              case_window=case_window)
    # outcome names come back under their definition key (af -> AF)
    traits = [t if t in V.table.columns else next(c for c in V.table.columns if c.lower() == t.lower())
              for t in traits]
    Y = L.values
    if inverse_normal:
        Y = _inverse_normal(Y)
    if standardise:
        Y = _standardise(Y)
    tnames, X, tkinds, skipped = _trait_columns(V, traits, min_cases=min_cases, min_nonmissing=min_nonmissing,
                                                min_level_count=min_level_count)
    for j, k in enumerate(tkinds):
        if k == "continuous":
            if inverse_normal:
                X[:, j] = _inverse_normal(X[:, [j]])[:, 0]
            if standardise:
                X[:, j] = _standardise(X[:, [j]])[:, 0]
    notes = list(V.notes)
    if direction == "outcome":
        bad = [t for t, k in zip(tnames, tkinds) if k != "binary"]
        if bad:
            raise CardiolatentError(f"direction 'outcome' (logistic disease ~ latent) needs binary traits; "
                                    f"not binary: {', '.join(bad)}")
    parts = []
    # a trait that is also a covariate is tested without itself among the covariates
    base_trait = [t.split("=")[0] for t in tnames]
    groups: dict[tuple[str, ...], list[int]] = {}
    for j, bt in enumerate(base_trait):
        groups.setdefault(tuple(c for c in covs if c != bt), []).append(j)
    for cset, idx in groups.items():
        D = design_matrix(V, list(cset), min_level_count=min_level_count)
        notes += [n for n in D.notes if n not in notes]
        if len(cset) != len(covs):
            notes.append(f"{', '.join(tnames[j] for j in idx)}: tested without itself among the covariates")
        if direction == "latent":
            from cardiolatent.stats.ols import ols_scan

            res = ols_scan(Y, X[:, idx], D.matrix, y_names=L.columns, x_names=[tnames[j] for j in idx],
                           binary_x=[tkinds[j] == "binary" for j in idx])
        else:
            from cardiolatent.stats.logistic import logistic_scan

            res = logistic_scan(X[:, idx], Y, D.matrix, d_names=[tnames[j] for j in idx], z_names=L.columns)
            res = res.rename(columns={"outcome": "trait", "z": "t"})
        res["covariates"] = ",".join(D.names) if len(D.names) <= 6 else ",".join(cset)
        parts.append(res)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(RESULT_COLUMNS))
    if len(table):
        order = {t: i for i, t in enumerate(tnames)}
        lorder = {c: i for i, c in enumerate(L.columns)}
        table = table.iloc[np.lexsort((table["latent"].map(lorder).to_numpy(),
                                       table["trait"].map(order).to_numpy()))].reset_index(drop=True)
    m_eff = meff
    if m_eff is None and L.values.shape[1] > 1:
        from cardiolatent.stats.meff import meff as _meff

        m_eff = _meff(L.values)
    elif m_eff is None:
        m_eff = 1.0
    _add_significance(table, alpha=alpha, n_traits=len(tnames), m_eff=m_eff)
    if permutations and direction == "latent" and len(tnames):
        table["p_maxT"] = _maxT(Y, X, tnames, covs, V, table, L.columns, permutations, seed, min_level_count)
    excluded = L.excluded.copy()
    if V.no_visit:
        nv = L.keys[~V.has_visit].assign(reason="no_visit_date")
        excluded = pd.concat([excluded, nv], ignore_index=True)
    summary = {
        "n_rows": int(len(L.table)),
        "n_latents": len(L.columns),
        "n_traits_tested": len(tnames),
        "traits_tested": tnames,
        "traits_skipped": skipped,
        "covariates": covs,
        "direction": direction,
        "model": ("latent ~ trait + covariates (OLS)" if direction == "latent"
                  else "disease ~ latent + covariates (logistic)"),
        "standardised": bool(standardise),
        "inverse_normal": bool(inverse_normal),
        "m_eff": float(m_eff),
        "alpha": alpha,
        "threshold_meff": alpha / (max(len(tnames), 1) * m_eff),
        "n_excluded_rows": int(len(excluded)),
        "excluded_reasons": excluded["reason"].value_counts().to_dict() if len(excluded) else {},
        "rows_without_visit_date": int(V.no_visit),
        "notes": notes,
    }
    return AssocResult(table, excluded, summary)


def _add_significance(table: pd.DataFrame, *, alpha: float, n_traits: int, m_eff: float) -> None:
    from cardiolatent.stats.multitest import benjamini_hochberg, bonferroni

    if not len(table):
        for c in ("p_bonferroni", "q_bh", "significant_bonferroni", "significant_meff"):
            table[c] = pd.Series(dtype=float)
        return
    p = table["p"].to_numpy(float)
    table["p_bonferroni"] = bonferroni(p)
    table["q_bh"] = benjamini_hochberg(p)
    table["significant_bonferroni"] = table["p_bonferroni"] < alpha
    table["significant_meff"] = p < alpha / (max(n_traits, 1) * m_eff)


def _maxT(Y, X, tnames, covs, V, table, latent_names, permutations, seed, min_level_count) -> np.ndarray:
    """Westfall-Young max-T adjusted P for every (latent, trait) row of ``table`` (one family)."""
    from cardiolatent.stats.multitest import westfall_young_maxT

    D = design_matrix(V, covs, min_level_count=min_level_count)
    adj = westfall_young_maxT(Y, X, D.matrix, n_perm=permutations, seed=seed, y_names=list(latent_names),
                              x_names=list(tnames))
    key = adj.set_index(["latent", "trait"])["p_maxT"]
    return key.reindex(pd.MultiIndex.from_arrays([table["latent"], table["trait"]])).to_numpy(float)
