"""Covariates over the written participants: 0/1 dummies or raw level labels, rare levels merged,
constant and all-missing covariates dropped (every decision noted)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolatent.analysis.design import design_matrix
from cardiolatent.exports.naming import unique_names

__all__ = ["code_covariates", "drop_all_missing_covariates", "dummy_covariates", "raw_covariates"]


def drop_all_missing_covariates(V, names: list[str], alive: np.ndarray, notes: list[str]) -> list[str]:
    """``names`` without the covariates missing for every participant still ``alive`` (noted)."""
    kept = []
    for nm in names:
        x = V.table[nm].to_numpy(np.float64)[alive]
        if len(x) and np.isnan(x).all():
            notes.append(f"covariate {nm}: missing for all {alive.sum()} participants left; dropped "
                         "(not written, nobody excluded for it)")
            continue
        kept.append(nm)
    return kept


def dummy_covariates(V, names: list[str], min_level_count: int, notes: list[str]):
    """Dummy-coded covariates over the written rows (``V`` restricted to them): (matrix, names)."""
    D = design_matrix(V, names, min_level_count=min_level_count)
    notes += [f"covariate {n}" for n in D.notes]
    mat, out_names = D.matrix, list(D.names)
    # an "other" dummy that is itself rare (e.g. one level of 3 people) is folded into the reference
    keep = []
    for j, nm in enumerate(out_names):
        if nm.endswith("=other"):
            k = int(np.nansum(mat[:, j]))
            if k < min_level_count:
                notes.append(f"covariate {nm.split('=')[0]}: the merged rare levels have {k} participant(s) "
                             f"(< {min_level_count}); counted with the reference level instead")
                continue
        keep.append(j)
    return mat[:, keep], [out_names[j] for j in keep]


def _fmt_level(v: float) -> str:
    """A level code as text: ``11025``, ``-9``, ``1.5``."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _raw_levels(nm: str, x: np.ndarray, min_level_count: int, notes: list[str]) -> np.ndarray:
    """Level labels of one categorical covariate, rare levels merged (into the most frequent level when
    they are few together, else into ``other``)."""
    levels, counts = np.unique(x, return_counts=True)
    rare = levels[counts < min_level_count]
    common = levels[counts >= min_level_count]
    labels = np.array([_fmt_level(v) for v in x], dtype=object)
    if len(rare):
        n_rare = int(counts[counts < min_level_count].sum())
        shown = ", ".join(_fmt_level(v) for v in rare[:8])
        if len(common) and n_rare < min_level_count:
            ref = common[np.argmax(counts[counts >= min_level_count])]
            labels[np.isin(x, rare)] = _fmt_level(ref)
            notes.append(f"covariate {nm}: {len(rare)} level(s) with < {min_level_count} participants "
                         f"({shown}; {n_rare} in all) counted with the most frequent level {_fmt_level(ref)}")
        else:
            labels[np.isin(x, rare)] = "other"
            notes.append(f"covariate {nm}: {len(rare)} level(s) with < {min_level_count} participants "
                         f"({shown}) merged into level 'other'")
    return labels


def raw_covariates(V, names: list[str], min_level_count: int, notes: list[str]):
    """Covariates with categorical ones as level labels (strings); rare levels -> ``other``."""
    cols: dict[str, np.ndarray] = {}
    categorical: list[str] = []
    for nm in names:
        x = V.table[nm].to_numpy(np.float64)
        if V.kinds.get(nm, "continuous") == "categorical":
            labels = _raw_levels(nm, x, min_level_count, notes)
            if len(set(labels.tolist())) < 2:
                notes.append(f"covariate {nm}: a single level over the written participants; dropped")
                continue
            cols[nm] = labels
            categorical.append(nm)
        else:
            if len(x) and np.nanmax(x) == np.nanmin(x):
                notes.append(f"covariate {nm}: constant ({_fmt_level(x[0])}) over the written participants; dropped")
                continue
            cols[nm] = x
    return cols, categorical


def code_covariates(Vw, names: list[str], *, categorical: str, min_level_count: int, transform: str,
                    notes: list[str]):
    """The covariate table of the written rows ``Vw``: (covar, categorical columns, dummy matrix for
    residualising or None). ``categorical``: ``dummies`` or ``raw``."""
    if categorical == "dummies":
        mat, dnames = dummy_covariates(Vw, names, min_level_count, notes)
        cols = unique_names(dnames, "covariate")
        return pd.DataFrame({nm: mat[:, j] for j, nm in enumerate(cols)}), [], mat
    raw, cats = raw_covariates(Vw, names, min_level_count, notes)
    cols = unique_names(list(raw), "covariate")
    covar = pd.DataFrame({new: raw[old] for old, new in zip(raw, cols)})
    cat_cols = [new for old, new in zip(raw, cols) if old in cats]
    resid_x = None
    if transform in ("resid", "resid-int"):
        resid_x, _ = dummy_covariates(Vw, names, min_level_count, [])
    return covar, cat_cols, resid_x
