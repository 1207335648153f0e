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

On a cluster: ``chunk_map`` (for example :func:`cardiolatent.scale.dask.chunk_mapper` of a Dask
client) fits contiguous chunks of latents on the workers, the traits and design matrices sent
once; the table is identical to the one-process scan (see :func:`_latent_chunks` for how the
chunks are laid out so that every number is computed exactly as in one process; the OLS scan
runs the same chunks in one process too). The Westfall-Young
permutations, M_eff and the significance columns run in this process.

Significance columns: ``p_bonferroni`` (P times the number of tests), ``q_bh``
(Benjamini-Hochberg), ``significant_meff`` (the paper's ``P < alpha / (traits x M_eff)`` with
M_eff of the latents by Li & Ji), and ``p_maxT`` (Westfall-Young max-T over the whole scan)
when ``permutations > 0``.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pandas as pd

from cardiolatent.analysis.design import (
    NOT_IN_MAIN_DATA,
    Design,
    design_matrix,
    expand_names,
    participant_variables,
)
from cardiolatent.analysis.model_notes import gather_chunks, model_notes, status_counts
from cardiolatent.errors import CardiolatentError
from cardiolatent.latents import read_latents
from cardiolatent.results import Result, Summary
from cardiolatent.stats.logistic import logistic_scan
from cardiolatent.stats.independent_tests import meff as _meff
from cardiolatent.stats.multitest import benjamini_hochberg, bonferroni, westfall_young_maxT
from cardiolatent.stats.ols import ols_scan
from cardiolatent.stats.transforms import column_sd as _column_sd
from cardiolatent.stats.transforms import inverse_normal as _inverse_normal
from cardiolatent.stats.transforms import standardise as _standardise
from cardiolatent.ukb.covariates import as_wide

RESULT_COLUMNS = ("latent", "trait", "beta", "se", "t", "p", "n", "n_cases", "status")


@dataclass
class AssocSummary(Summary):
    """Counts, the model, skipped traits with reasons, M_eff and the thresholds, notes."""

    n_rows: int = 0
    n_latents: int = 0
    n_traits_tested: int = 0
    traits_tested: list = field(default_factory=list)
    traits_skipped: list = field(default_factory=list)
    covariates: list = field(default_factory=list)
    direction: str = "latent"
    model: str = ""
    standardised: bool = True
    inverse_normal: bool = False
    m_eff: float = 1.0
    alpha: float = 0.05
    threshold_meff: float = 0.05
    permutations: int = 0
    n_excluded_rows: int = 0
    excluded_reasons: dict = field(default_factory=dict)
    rows_without_visit_date: int = 0
    status: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


@dataclass
class AssocResult(Result):
    """``table``: one row per latent x trait; ``excluded``: ``eid, instance, reason`` rows not in
    any model (a repeat visit, no visit date); ``summary``: counts, notes, skipped traits, M_eff."""

    kind: ClassVar[str] = "assoc"
    summary_type: ClassVar[type] = AssocSummary

    def summary_lines(self) -> list[str]:
        s = self.summary
        lines = [f"{s.n_rows:,} participant rows, {s.n_latents} latents x {s.n_traits_tested} traits; "
                 f"M_eff {s.m_eff:.1f}, threshold P < {s.threshold_meff:.3g}"]
        lines += [f"  not tested: {sk['trait']}: {sk['reason']}" for sk in s.traits_skipped]
        lines += [f"  excluded rows: {n} {reason}" for reason, n in s.excluded_reasons.items()]
        lines += [f"  note: {note}" for note in s.notes]
        return lines


@dataclass
class _Model:
    """One model specification: the traits (columns of the trait matrix) tested with one covariate
    set. The main scan and the max-T permutations both use exactly these."""

    traits: list[int]
    covariates: tuple[str, ...]
    design: Design


def _model_specs(V, tnames: list[str], covs: list[str], min_level_count: int) -> list[_Model]:
    """Group traits by covariate set: a trait that is also a covariate is tested without itself."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for j, t in enumerate(tnames):
        base = t.split("=")[0]
        groups.setdefault(tuple(c for c in covs if c != base), []).append(j)
    return [_Model(idx, cset, design_matrix(V, list(cset), min_level_count=min_level_count))
            for cset, idx in groups.items()]


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
    chunk_map: Callable | None = None,
    chunk_parts: int = 16,
) -> AssocResult:
    """Latents against traits with covariates; see the module docstring.

    Parameters
    ----------
    latents : a :class:`~cardiolatent.latents.Latents`, a latents file or DataFrame (long encoder
        output or wide).
    main : :class:`cardiolatent.ukb.read.MainData` (or its canonical wide table).
    traits, covariates : names (comma lists allowed; covariate presets ``paper_traits``,
        ``paper_disease``, ``gwas``, ``none``; see :mod:`cardiolatent.analysis.design`).
    standardise : z-score the latents and the continuous traits (the paper), so ``beta`` is in SD
        of the latent per SD of the trait (per case status for binary traits).
    inverse_normal : rank-based inverse normal transform of the latents instead (and of
        continuous traits), applied before standardising.
    permutations : Westfall-Young max-T replicates over the whole scan (``direction="latent"``),
        each trait with exactly the covariates of its main model.
    chunk_map : ``chunk_map(fn, chunks, shared) -> [fn(chunk, shared) for chunk in chunks]``, run
        elsewhere (a Dask cluster: :func:`cardiolatent.scale.dask.chunk_mapper`); None = here.
        The latents are cut into about ``chunk_parts`` contiguous chunks; the result is identical.
    """
    if direction not in ("latent", "outcome"):
        raise CardiolatentError(f"direction must be 'latent' (latent ~ trait) or 'outcome' "
                                f"(disease ~ latent), not {direction!r}")
    if not 0 < alpha < 1:
        raise CardiolatentError(f"alpha must be between 0 and 1, not {alpha}")
    if meff is not None and not meff > 0:
        raise CardiolatentError(f"meff must be a positive number of independent latents, not {meff}")
    if permutations < 0 or min_cases < 1 or not 0 <= min_nonmissing <= 1:
        raise CardiolatentError(f"permutations must be >= 0 ({permutations}), min_cases >= 1 ({min_cases}) and "
                                f"min_nonmissing in [0, 1] ({min_nonmissing})")
    L = read_latents(latents, visits=visits, columns=latent_columns)
    traits = expand_names(traits)
    covs = expand_names(covariates)
    if not traits:
        raise CardiolatentError("no traits given")
    V = participant_variables(main, L.keys, list(dict.fromkeys(traits + covs)), definitions=definitions,
                              case_window=case_window)
    # outcome names come back under their definition key (af -> AF), field ids under the field's name
    traits = [V.column(t) for t in traits]
    covs = [V.column(c) for c in covs]
    Y, y_sd = _latent_matrix(L, standardise=standardise, inverse_normal=inverse_normal,
                             scale_after=direction == "latent" and not permutations)
    tnames, X, tkinds, skipped = _trait_columns(V, traits, min_cases=min_cases, min_nonmissing=min_nonmissing,
                                                min_level_count=min_level_count)
    _transform_traits(X, tkinds, standardise=standardise, inverse_normal=inverse_normal)
    if direction == "outcome":
        bad = [t for t, k in zip(tnames, tkinds) if k != "binary"]
        if bad:
            raise CardiolatentError(f"direction 'outcome' (logistic disease ~ latent) needs binary traits; "
                                    f"not binary: {', '.join(bad)}")
    models = _model_specs(V, tnames, covs, min_level_count)
    table, notes = _scan(models, Y, X, tnames, tkinds, covs, L.columns, direction, list(V.notes),
                         chunk_map=chunk_map, chunk_parts=chunk_parts)
    if y_sd is not None and len(table):  # the scan ran on the latents as stored (see _latent_matrix)
        sd = table["latent"].map(dict(zip(L.columns, y_sd))).to_numpy(float)
        table["beta"] = table["beta"].to_numpy(float) / sd
        table["se"] = table["se"].to_numpy(float) / sd
    _mark_constant_latents(table, L, notes)
    if len(table):
        for trait, part in table.groupby("trait", sort=False):
            notes += model_notes(str(trait), part.assign(status=part["status"].replace({"constant": "ok"})))
    m_eff = meff
    if m_eff is None:
        m_eff = _meff(L.values) if L.n_latents > 1 else 1.0
    _add_significance(table, alpha=alpha, n_traits=len(tnames), m_eff=m_eff)
    if permutations and direction == "latent" and len(tnames):
        table["p_maxT"] = _maxT(models, Y, X, tnames, tkinds, table, L.columns, permutations, seed)
    excluded = L.excluded[["eid", "instance", "reason"]].copy()
    if V.no_visit:
        nv = L.keys[~V.has_visit].copy()
        absent = ~nv["eid"].isin(as_wide(main).index)
        nv["reason"] = np.where(absent, NOT_IN_MAIN_DATA, "no_visit_date")
        excluded = pd.concat([excluded, nv], ignore_index=True)
    summary = AssocSummary(
        n_rows=int(L.n_rows), n_latents=L.n_latents, n_traits_tested=len(tnames), traits_tested=tnames,
        traits_skipped=skipped, covariates=covs, direction=direction,
        model=("latent ~ trait + covariates (OLS)" if direction == "latent"
               else "disease ~ latent + covariates (logistic)"),
        standardised=bool(standardise), inverse_normal=bool(inverse_normal), m_eff=float(m_eff), alpha=alpha,
        threshold_meff=alpha / (max(len(tnames), 1) * m_eff),
        permutations=int(permutations if direction == "latent" else 0),
        n_excluded_rows=int(len(excluded)),
        excluded_reasons=excluded["reason"].value_counts().to_dict() if len(excluded) else {},
        rows_without_visit_date=int(V.no_visit), status=status_counts(table), notes=notes)
    return AssocResult(table, excluded, summary)


def _mark_constant_latents(table: pd.DataFrame, L, notes: list[str]) -> None:
    """A latent with one value over its rows gets status ``constant`` (not ``too_few``), noted."""
    x = L.values
    with np.errstate(over="ignore", invalid="ignore"):
        finite = bool(np.isfinite(x.sum(axis=0, dtype=np.float64)).all())  # cheap test first
    if finite:
        lo, hi = x.min(axis=0), x.max(axis=0)
    else:
        lo = np.where(np.isfinite(x), x, np.inf).min(axis=0)
        hi = np.where(np.isfinite(x), x, -np.inf).max(axis=0)
    const = [c for c, a, b in zip(L.columns, lo, hi) if a == b]
    if const and len(table):
        table.loc[table["latent"].isin(const), "status"] = "constant"
        notes.append(f"{len(const)} latent(s) constant over the rows, not tested: {', '.join(const[:8])}"
                     + (" ..." if len(const) > 8 else ""))


def _latent_matrix(L, *, standardise: bool, inverse_normal: bool, scale_after: bool = False):
    """``(Y, sd)``: (n, m) float64 responses, the latents inverse-normal transformed and
    standardised as asked, and None.

    ``scale_after`` (the OLS scan without permutations), for complete latents without a constant
    column: ``(the latents as stored, their SDs)``. OLS with an intercept of ``(y - mean) / sd`` on
    ``x`` gives ``beta / sd`` and ``se / sd`` of ``y`` on ``x`` (t, P, n unchanged), so the scan
    runs on the stored values (float32 converted by chunk of rows) and the caller divides ``beta``
    and ``se`` by the SDs :func:`cardiolatent.stats.transforms.standardise` would have used: no
    (rows x latents) float64 copy."""
    if scale_after and standardise and not inverse_normal:
        sd = _column_sd(L.values)
        if sd is not None and np.isfinite(sd).all():
            return L.values, sd
    if not inverse_normal:
        return (_standardise(L.values) if standardise else L.as_float64()), None  # converts by blocks
    Y = _inverse_normal(L.values)
    return (_standardise(Y) if standardise else Y), None


def _transform_traits(X: np.ndarray, kinds: list[str], *, standardise: bool, inverse_normal: bool) -> None:
    """Continuous trait columns transformed in place (binary ones stay 0/1)."""
    for j, k in enumerate(kinds):
        if k == "continuous":
            if inverse_normal:
                X[:, j] = _inverse_normal(X[:, [j]])[:, 0]
            if standardise:
                X[:, j] = _standardise(X[:, [j]])[:, 0]


def _fit_model(Y, X, C, latent_names, x_names, binary, direction: str) -> pd.DataFrame:
    """One model specification's fits (every latent of ``Y`` x every trait of ``X``)."""
    if direction == "latent":
        return ols_scan(Y, X, C, y_names=latent_names, x_names=x_names, binary_x=binary)
    res = logistic_scan(X, Y, C, d_names=x_names, z_names=latent_names,
                        chunk_latents=_LOGISTIC_BATCH)
    return res.rename(columns={"outcome": "trait", "z": "t"})


#: latents fitted together by :func:`logistic_scan` (its default): chunks of the logistic scan are
#: multiples of it, so that every Newton batch is the one-process scan's batch
_LOGISTIC_BATCH = inspect.signature(logistic_scan).parameters["chunk_latents"].default


def _fit_chunk(chunk, shared) -> list:
    """Worker side of a chunked scan: every model specification for the latents of ``chunk``
    (``(Y columns (n, w), their names)``); returns per model ``(table, [(warning class, message)])``."""
    Yc, names = chunk
    out = []
    for idx, C, x_names, binary in shared["models"]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            res = _fit_model(Yc, shared["X"][:, idx], C, names, x_names, binary, shared["direction"])
        out.append((res, [(w.category, str(w.message)) for w in caught]))
    return out


def _latent_chunks(Y, direction: str, parts: int) -> list[tuple[int, int]]:
    """Column ranges ``(start, stop)`` of the latents for a chunked scan, laid out from the number of
    latents only (never from the number of workers), so that the numbers are the one-process scan's:

    - OLS (``direction="latent"``): chunks of at least ``_OLS_MIN_CHUNK`` latents. OpenBLAS picks
      its matrix-product kernel by the matrix sizes (a small-matrix kernel sums in another order),
      so a chunk's ``x~'y`` can differ from the whole matrix's in the last bit; the one-process scan
      therefore fits the same chunks, one after the other (:func:`_scan`);
    - logistic: chunks are whole multiples of :func:`logistic_scan`'s batch of latents fitted
      together (a Newton batch's arithmetic depends on which models are in it), so each chunk
      runs exactly the one-process scan's batches;
    - latents with a missing value (possible in a wide table given as it is): one chunk. The
      scans then group latents by missingness pattern and use NaN-aware sums over all of them.
    """
    m = Y.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        complete = bool(np.isfinite(Y.sum(axis=0, dtype=np.float64)).all())
    if not complete:
        return [(0, m)]
    if direction == "latent":
        w = max(_OLS_MIN_CHUNK, math.ceil(m / max(int(parts), 1)))
    else:
        w = max(_LOGISTIC_BATCH, math.ceil(math.ceil(m / max(int(parts), 1)) / _LOGISTIC_BATCH) * _LOGISTIC_BATCH)
    bounds = list(range(0, m, w)) + [m]
    return list(zip(bounds[:-1], bounds[1:]))


#: latents per chunk of the OLS scan at least (the one-process scan runs the same chunks)
_OLS_MIN_CHUNK = 32


def _serial_map(fn, chunks, shared) -> list:
    """``chunk_map`` in this process: the chunks one after the other."""
    return [fn(c, shared) for c in chunks]


def _scan_chunked(models: list[_Model], Y, X, tnames, tkinds, latent_names, direction, chunk_map, parts):
    """Per model: (table, caught warnings as records) from ``chunk_map`` over latent chunks."""
    spans = _latent_chunks(Y, direction, parts)
    shared = {"X": X, "direction": direction,
              "models": [(m.traits, m.design.matrix, [tnames[j] for j in m.traits],
                          [tkinds[j] == "binary" for j in m.traits]) for m in models]}
    chunks = [(np.ascontiguousarray(Y[:, a:b]), list(latent_names[a:b])) for a, b in spans]
    results = chunk_map(_fit_chunk, chunks, shared)
    return gather_chunks(results, len(models))


def _scan(models: list[_Model], Y, X, tnames, tkinds, covs, latent_names, direction, notes, *,
          chunk_map=None, chunk_parts: int = 16):
    """The main scan, one call per model specification (chunks of latents on ``chunk_map``);
    the table in (trait, latent) order."""
    parts = []
    if chunk_map is None and direction == "latent":
        chunk_map = _serial_map  # the same chunks as on a cluster (see _latent_chunks)
    fitted = (_scan_chunked(models, Y, X, tnames, tkinds, list(latent_names), direction, chunk_map, chunk_parts)
              if chunk_map is not None and models else None)
    for k, m in enumerate(models):
        idx = m.traits
        notes += [n for n in m.design.notes if n not in notes]
        if len(m.covariates) != len(covs):
            notes.append(f"{', '.join(tnames[j] for j in idx)}: tested without itself among the covariates")
        if fitted is not None:
            res, caught = fitted[k]
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)  # numpy's warnings become notes, never raw output
                res = _fit_model(Y, X[:, idx], m.design.matrix, latent_names, [tnames[j] for j in idx],
                                 [tkinds[j] == "binary" for j in idx], direction)
        if caught:
            notes += model_notes(", ".join(tnames[j] for j in idx), res.iloc[:0], caught)
        res["covariates"] = ",".join(m.design.names) if len(m.design.names) <= 6 else ",".join(m.covariates)
        parts.append(res)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(RESULT_COLUMNS))
    if len(table):
        order = {t: i for i, t in enumerate(tnames)}
        lorder = {c: i for i, c in enumerate(latent_names)}
        table = table.iloc[np.lexsort((table["latent"].map(lorder).to_numpy(),
                                       table["trait"].map(order).to_numpy()))].reset_index(drop=True)
    return table, notes


def _add_significance(table: pd.DataFrame, *, alpha: float, n_traits: int, m_eff: float) -> None:
    if not len(table):
        for c in ("p_bonferroni", "q_bh", "significant_bonferroni", "significant_meff"):
            table[c] = pd.Series(dtype=float)
        return
    p = table["p"].to_numpy(float)
    table["p_bonferroni"] = bonferroni(p)
    table["q_bh"] = benjamini_hochberg(p)
    table["significant_bonferroni"] = table["p_bonferroni"] < alpha
    table["significant_meff"] = p < alpha / (max(n_traits, 1) * m_eff)


def _maxT(models: list[_Model], Y, X, tnames, tkinds, table, latent_names, permutations, seed) -> np.ndarray:
    """Westfall-Young max-T adjusted P for every (latent, trait) row of ``table``, one family.

    Every model specification is permuted with the same replicates (the same ``seed`` draws the same
    row permutations in each call), each trait with exactly its main model's covariates; a
    replicate's maximum is taken over the whole family.
    """
    null = np.zeros(int(permutations))
    for m in models:
        idx = m.traits
        _, nm = westfall_young_maxT(Y, X[:, idx], m.design.matrix, n_perm=permutations, seed=seed,
                                    y_names=list(latent_names), x_names=[tnames[j] for j in idx],
                                    binary_x=[tkinds[j] == "binary" for j in idx], return_null=True)
        null = np.maximum(null, nm)
    tobs = np.abs(table["t"].to_numpy(float))
    count = len(null) - np.searchsorted(np.sort(null), tobs, side="left")
    padj = (1.0 + count) / (len(null) + 1.0)
    padj[table["status"].to_numpy() != "ok"] = np.nan
    return padj
