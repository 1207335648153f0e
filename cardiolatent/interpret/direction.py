"""Directions in latent space: a trait's sparse regression direction, or a single latent.

The paper's latent manipulation (``shared/reference/model.md``): standardise one seed's latents per
dimension (mean, SD), fit an L1-penalised linear regression of a continuous trait (or an L1
logistic regression of a disease) on them, take the unit-norm coefficient vector ``beta`` and move
a participant's standardised latents as ``z_norm' = z_norm + m * sqrt(D) * beta`` (``D`` latents,
128 for the paper's models), then back to the raw scale ``z' = z_norm' * SD + mean``.

- Continuous traits: :class:`sklearn.linear_model.LassoCV` (penalty chosen by 5-fold
  cross-validation); score: the out-of-fold R^2 of the whole procedure (the penalty chosen again
  inside each outer fold).
- Binary traits (the outcome logic's case status, e.g. ``AF``): L1 logistic regression
  (:class:`sklearn.linear_model.LogisticRegression`, liblinear, C on a grid of 20 chosen by the
  cross-validated AUC);
  score: the out-of-fold AUC.
- ``covariates`` (continuous traits): the trait is first residualised on them by ordinary least
  squares with an intercept (the paper's "conditioned" directions).

Folds are drawn by participant. Everything random comes from ``random_state``.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV, LogisticRegression, lasso_path
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from cardiolatent.analysis.design import Variables, participant_variables
from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import Latents, read_latents, seed_of
from cardiolatent.results import Result, Summary

#: fewest cases (and controls) for a disease direction
MIN_CASES = 20
#: fewest participants with the trait and every covariate for a continuous direction
MIN_ROWS = 30


@dataclasses.dataclass
class DirectionSummary(Summary):
    """What a direction is and how well its regression predicts the trait."""

    name: str = ""                 # trait label, or the latent column
    kind: str = "trait"            # "trait" or "latent"
    trait_kind: str = ""           # "continuous", "binary" or "latent"
    seed: int = 0                  # the model seed whose latents the direction lives in
    n_latents: int = 0             # D
    n_rows: int = 0                # participant-visits used
    n_cases: int | None = None     # binary traits: cases among them
    n_selected: int = 0            # latents with a non-zero coefficient
    score: float | None = None     # out-of-fold R^2 (continuous) or AUC (binary)
    score_name: str = ""           # "r2" or "auc"
    penalty: float | None = None   # Lasso alpha, or 1 / C of the logistic regression
    covariates: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Direction(Result):
    """A unit direction ``beta`` (D,) in one seed's standardised latent space.

    ``table``: one row per latent of the seed: ``column`` (``S{seed}_Z{k}``), ``latent`` (k),
    ``mean`` and ``sd`` (the standardisation, raw latent units), ``coef`` (the fitted coefficient
    on the standardised latent; 1 at the chosen latent for a single-latent direction) and
    ``beta`` (``coef / ||coef||``).
    """

    kind: ClassVar[str] = "direction"
    layout: ClassVar[str] = "file"
    summary_type: ClassVar[type] = DirectionSummary

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.table["column"]]

    @property
    def mean(self) -> np.ndarray:
        return self.table["mean"].to_numpy(np.float64)

    @property
    def sd(self) -> np.ndarray:
        return self.table["sd"].to_numpy(np.float64)

    @property
    def beta(self) -> np.ndarray:
        return self.table["beta"].to_numpy(np.float64)

    def selected(self) -> pd.DataFrame:
        """The latents the direction uses (non-zero coefficient), largest |beta| first."""
        t = self.table[self.table["coef"] != 0]
        return t.reindex(t["beta"].abs().sort_values(ascending=False).index)

    def standardise(self, z) -> np.ndarray:
        """Raw latents (..., D) -> standardised."""
        return (self._as_z(z) - self.mean) / self.sd

    def project(self, z) -> np.ndarray:
        """Position of raw latents (..., D) along the direction: ``z_norm @ beta``."""
        return self.standardise(z) @ self.beta

    def move(self, z, magnitudes) -> np.ndarray:
        """Raw latents ``z`` (D,) moved by each magnitude ``m``: (len(magnitudes), D), float64.

        ``z_norm' = z_norm + m * sqrt(D) * beta``, returned on the raw scale.
        """
        z = self._as_z(z)
        if z.ndim != 1:
            raise CardiolatentError(f"move takes one participant's latents (D,), got shape {z.shape}")
        m = np.atleast_1d(np.asarray(magnitudes, dtype=np.float64))
        if not np.all(np.isfinite(m)):
            raise CardiolatentError(f"magnitudes must be finite numbers (got {list(m)})")
        d = len(self.beta)
        zn = self.standardise(z)[None, :] + m[:, None] * np.sqrt(d) * self.beta[None, :]
        return zn * self.sd + self.mean

    def _as_z(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if z.shape[-1] != len(self.table):
            raise CardiolatentError(f"latents have {z.shape[-1]} values per row; the direction has "
                                    f"{len(self.table)} (seed {self.summary.seed})")
        return z

    def summary_lines(self) -> list[str]:
        s = self.summary
        head = f"direction {s.name} (seed {s.seed}, {s.n_latents} latents)"
        if s.kind == "latent":
            return [head + ": the single latent " + s.name]
        score = "" if s.score is None else f"; out-of-fold {s.score_name.upper()} {s.score:.3f}"
        cases = "" if s.n_cases is None else f", {s.n_cases:,} cases"
        lines = [f"{head}: {s.n_selected} latents selected from {s.n_rows:,} participant-visits{cases}{score}"]
        top = self.selected().head(5)
        lines.append("  largest: " + ", ".join(f"{c} {b:+.2f}" for c, b in zip(top["column"], top["beta"])))
        lines += [f"  note: {n}" for n in s.notes]
        return lines


def _seed_block(latents, seed: int | None) -> tuple[Latents, int, list[str]]:
    L = read_latents(latents, visits="prefer2")
    cols = L.seed_columns(None)
    if not cols:
        raise CardiolatentError("the latents have no S{seed}_Z{k} columns")
    if seed is None:
        seed = next(iter(cols))
    if int(seed) not in cols:
        raise CardiolatentError(f"seed {seed} is not in the latents (seeds: {', '.join(map(str, cols))})")
    names = [c for _, c in cols[int(seed)]]
    return L, int(seed), names


def _standardisation(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = Z.mean(axis=0)
    sd = Z.std(axis=0)
    return mean, np.where(sd > 0, sd, 1.0)


def _table(columns: Sequence[str], mean, sd, coef) -> pd.DataFrame:
    coef = np.asarray(coef, dtype=np.float64)
    norm = np.linalg.norm(coef)
    return pd.DataFrame({"column": list(columns), "latent": [seed_of(c)[1] for c in columns],
                         "mean": mean, "sd": sd, "coef": coef, "beta": coef / norm})


def latent_direction(latents, column: str) -> Direction:
    """One latent ``column`` (``S{seed}_Z{k}``) as the direction, standardised like a trait's."""
    parsed = seed_of(str(column))
    if parsed is None:
        raise CardiolatentError(f"{column!r} is not a latent column; expected S{{seed}}_Z{{k}}, "
                                "e.g. S1701_Z3")
    L, seed, names = _seed_block(latents, parsed[0])
    if column not in names:
        raise CardiolatentError(f"latent {column!r} is not in the latents (seed {seed} has "
                                f"{names[0]}..{names[-1]})")
    Z = L.table[names].to_numpy(np.float64)
    keep = np.isfinite(Z).all(axis=1)
    mean, sd = _standardisation(Z[keep])
    coef = np.zeros(len(names))
    coef[names.index(column)] = 1.0
    summ = DirectionSummary(name=str(column), kind="latent", trait_kind="latent", seed=seed,
                            n_latents=len(names), n_rows=int(keep.sum()), n_selected=1)
    return Direction(table=_table(names, mean, sd, coef), excluded=_excluded(L.keys, ~keep, "missing latent"),
                     summary=summ)


def _excluded(keys: pd.DataFrame, mask: np.ndarray, reason: str) -> pd.DataFrame:
    ex = keys.loc[np.asarray(mask), ["eid", "instance"]].copy()
    ex["reason"] = reason
    return ex.reset_index(drop=True)


def _residualise(y: np.ndarray, C: np.ndarray) -> np.ndarray:
    X = np.column_stack([np.ones(len(y)), C])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return y - X @ beta


def trait_direction(latents, variables: Any, trait: str, covariates: Sequence[str] | None = None, *,
                    seed: int | None = None, random_state: int = 0, folds: int = 5) -> Direction:
    """The sparse regression direction of ``trait`` in one seed's standardised latents.

    Parameters
    ----------
    latents : anything :func:`cardiolatent.latents.read_latents` reads (visit 2 preferred).
    variables : :class:`cardiolatent.analysis.design.Variables` built for ``read_latents(latents).keys``
        (same rows), or the UK Biobank main data (:class:`cardiolatent.ukb.read.MainData` or its
        wide table), from which the trait and covariates are built.
    trait : a covariate, outcome (case status), field name or id, as ``assoc --traits`` takes.
    covariates : continuous traits only: residualise the trait on these first.
    seed : the model seed whose latents are used (default: the first, in the paper's order).
    """
    L, seed, names = _seed_block(latents, seed)
    covariates = list(covariates or [])
    if isinstance(variables, Variables):
        V = variables
        if len(V.table) != len(L.keys):
            raise CardiolatentError(f"the variables have {len(V.table):,} rows but the latents {len(L.keys):,}; "
                                    "build them for read_latents(latents).keys")
    else:
        V = participant_variables(variables, L.keys, list(dict.fromkeys([trait] + covariates)))
    col = V.column(trait)
    kind = V.kinds.get(col, "continuous")
    if kind == "categorical":
        raise CardiolatentError(f"trait {trait!r} is categorical; a direction needs a continuous trait or a "
                                "disease (case status)")
    if covariates and kind == "binary":
        raise CardiolatentError(f"covariates condition continuous traits; {trait!r} is a case status")
    y = V.table[col].to_numpy(np.float64)
    C = np.column_stack([V.table[V.column(c)].to_numpy(np.float64) for c in covariates]) if covariates \
        else np.empty((len(y), 0))
    Z = L.table[names].to_numpy(np.float64)
    bad_z = ~np.isfinite(Z).all(axis=1)
    bad_y = ~np.isfinite(y) & ~bad_z
    bad_c = ~np.isfinite(C).all(axis=1) & ~bad_z & ~bad_y
    use = ~(bad_z | bad_y | bad_c)
    excluded = pd.concat([_excluded(L.keys, bad_z, "missing latent"),
                          _excluded(L.keys, bad_y, f"missing {col}"),
                          _excluded(L.keys, bad_c, "missing covariate")], ignore_index=True)
    Z, y, C = Z[use], y[use], C[use]
    groups = L.keys["eid"].to_numpy()[use]
    mean, sd = _standardisation(Z)
    X = (Z - mean) / sd
    notes = list(V.notes)
    if kind == "binary":
        coef, score, penalty, n_cases = _fit_binary(X, y, groups, trait, folds, random_state)
        score_name = "auc"
    else:
        if len(y) < MIN_ROWS:
            raise CardiolatentError(f"trait {trait!r}: only {len(y)} participant-visits have it (and the "
                                    f"covariates); a direction needs at least {MIN_ROWS}")
        if covariates:
            y = _residualise(y, C)
            notes.append(f"{col} residualised on {', '.join(covariates)} (OLS with intercept)")
        if np.std(y) == 0:
            raise CardiolatentError(f"trait {trait!r} is constant over the {len(y)} participant-visits used")
        coef, score, penalty, extra = _fit_continuous(X, y, groups, folds, random_state)
        notes += extra
        n_cases = None
        score_name = "r2"
    summ = DirectionSummary(name=col, kind="trait", trait_kind=kind, seed=seed, n_latents=len(names),
                            n_rows=int(len(y)), n_cases=n_cases, n_selected=int(np.count_nonzero(coef)),
                            score=score, score_name=score_name, penalty=penalty, covariates=covariates,
                            notes=notes)
    return Direction(table=_table(names, mean, sd, coef), excluded=excluded, summary=summ)


def _folds(groups: np.ndarray, folds: int) -> int:
    return int(min(folds, len(np.unique(groups))))


def _fit_continuous(X, y, groups, folds, random_state):
    """LassoCV on standardised latents; out-of-fold R^2 with the penalty chosen inside each fold.

    Latents of one seed are strongly correlated (they span far fewer dimensions than there are),
    which slows coordinate descent at the smallest penalties; those fits may stop before full
    convergence (a note says so) without changing the chosen penalty's fit. The folds of each
    LassoCV run on every core (threads; each fold's fit is the same as run alone, so the direction
    does not depend on the number of cores).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        coef, r2, alpha, notes = _fit_continuous_quiet(X, y, groups, folds, random_state)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("some lasso fits at small penalties stopped before full convergence (20,000 iterations)")
    return coef, r2, alpha, notes


def _fit_continuous_quiet(X, y, groups, folds, random_state):
    k = _folds(groups, folds)
    yc = y - y.mean()
    alpha_max = np.max(np.abs(X.T @ yc)) / len(yc)
    if alpha_max <= 1e-10 * np.std(y):
        raise CardiolatentError("no latent is selected at any penalty: the trait is not linearly related "
                                "to these latents")
    cv = list(GroupKFold(k, shuffle=True, random_state=random_state).split(X, groups=groups))
    model = LassoCV(cv=cv, max_iter=20000, selection="random", random_state=random_state, n_jobs=-1).fit(X, y)
    coef = model.coef_.copy()
    notes = []
    if not np.any(coef):
        grid = np.logspace(np.log10(alpha_max), np.log10(alpha_max * 1e-3), 100)
        alphas, path, _ = lasso_path(X, yc, alphas=grid, max_iter=20000)
        nz = np.flatnonzero(np.any(path != 0, axis=0))
        if len(nz) == 0:
            raise CardiolatentError("no latent is selected at any penalty: the trait is not linearly related "
                                    "to these latents")
        coef = path[:, nz[0]].copy()
        notes.append(f"the cross-validated penalty selects no latent; the direction uses the largest penalty "
                     f"that selects one (alpha {alphas[nz[0]]:.4g})")
    pred = np.empty_like(y)
    outer = GroupKFold(k, shuffle=True, random_state=random_state + 1)
    for tr, te in outer.split(X, groups=groups):
        inner = list(GroupKFold(_folds(groups[tr], folds), shuffle=True, random_state=random_state)
                     .split(X[tr], groups=groups[tr]))
        fold = LassoCV(cv=inner, max_iter=20000, selection="random", random_state=random_state, n_jobs=-1)
        pred[te] = fold.fit(X[tr], y[tr]).predict(X[te])
    r2 = float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
    return coef, r2, float(model.alpha_), notes


#: inverse penalties tried for the L1 logistic regression
CS = np.logspace(-3, 1, 20)


def _l1_logistic(c: float, random_state: int) -> LogisticRegression:
    """L1-penalised logistic regression (liblinear), spelled for the installed scikit-learn."""
    params = inspect.signature(LogisticRegression).parameters
    if params["penalty"].default == "deprecated":     # scikit-learn >= 1.8: l1_ratio
        return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", max_iter=5000, random_state=random_state)
    return LogisticRegression(C=c, penalty="l1", solver="liblinear", max_iter=5000, random_state=random_state)


def _fit_binary(X, y, groups, trait, folds, random_state):
    """L1 logistic regression on standardised latents; out-of-fold AUC with C chosen inside each fold."""
    if not np.isin(y, (0.0, 1.0)).all():
        raise CardiolatentError(f"trait {trait!r} is binary but holds values other than 0 and 1")
    n_cases, n_controls = int(y.sum()), int(len(y) - y.sum())
    if min(n_cases, n_controls) < MIN_CASES:
        raise CardiolatentError(f"trait {trait!r}: {n_cases} cases and {n_controls} controls among the "
                                f"participant-visits with latents; a direction needs at least {MIN_CASES} of each")
    k = _folds(groups, folds)

    def fit(Xf, yf, gf):
        cv = list(StratifiedGroupKFold(_folds(gf, folds), shuffle=True, random_state=random_state)
                  .split(Xf, yf, groups=gf))
        auc = [np.mean([roc_auc_score(yf[te], _l1_logistic(c, random_state).fit(Xf[tr], yf[tr])
                                      .decision_function(Xf[te])) for tr, te in cv]) for c in CS]
        c = CS[int(np.argmax(auc))]
        return _l1_logistic(c, random_state).fit(Xf, yf), c

    model, c_best = fit(X, y, groups)
    coef = model.coef_[0].copy()
    if not np.any(coef):
        raise CardiolatentError(f"no latent is selected for {trait!r} at the cross-validated penalty: the case "
                                "status is not predictable from these latents")
    prob = np.empty_like(y)
    outer = StratifiedGroupKFold(k, shuffle=True, random_state=random_state + 1)
    for tr, te in outer.split(X, y, groups=groups):
        prob[te] = fit(X[tr], y[tr], groups[tr])[0].decision_function(X[te])
    return coef, float(roc_auc_score(y, prob)), float(1.0 / c_best), n_cases
