"""Intraclass correlations (Shrout & Fleiss 1979) for many variables at once.

Input: an array ``x`` of shape ``(n_subjects, k_raters, m_variables)`` (same unit as the variables;
ICCs are unitless). For every variable the two-way ANOVA without replication (subjects x raters)
gives the mean squares

- ``MSR`` between subjects (rows), ``df = n - 1``;
- ``MSC`` between raters (columns), ``df = k - 1``;
- ``MSE`` residual, ``df = (n - 1)(k - 1)``;
- ``MSW`` within subjects (raters + residual pooled), ``df = n (k - 1)``;

and from them the six Shrout-Fleiss forms (second column: the McGraw & Wong 1996 names that
pingouin 0.7 prints):

========  ===========  ================================================================
ICC1      ICC(1,1)     one-way random effects, single rater
ICC2      ICC(A,1)     two-way random effects, absolute agreement, single rater
ICC3      ICC(C,1)     two-way mixed effects, consistency, single rater
ICC1k     ICC(1,k)     one-way random effects, mean of the k raters
ICC2k     ICC(A,k)     two-way random effects, absolute agreement, mean of the k raters
ICC3k     ICC(C,k)     two-way mixed effects, consistency, mean of the k raters
========  ===========  ================================================================

F tests: ``F = MSR / MSW`` on ``(n - 1, n (k - 1))`` df for ICC1/ICC1k; ``F = MSR / MSE`` on
``(n - 1, (n - 1)(k - 1))`` df for the two-way forms. Confidence intervals: the exact F-based
intervals for ICC1/ICC3 (and their k forms), and the Satterthwaite approximation of McGraw &
Wong for ICC2/ICC2k (the intervals R's ``psych::ICC`` and pingouin report). Results equal
``pingouin.intraclass_corr`` to ~1e-13 relative (tests: 1e-10; pingouin's CI95 unrounded).

Missing values: listwise deletion *per variable*: a subject with a non-finite value for any rater
of a variable is left out of that variable only; ``n`` is reported per variable. Everything is
computed with masked sums over all variables at once (subjects are processed in blocks to bound
memory), never a Python loop over variables.

Calling: :func:`icc` (alias :func:`icc_table`) gives the tidy table. The module itself is callable
too: ``from cardiolatent.stats import icc; icc(x)``.

Degenerate variables never raise: fewer than two complete subjects, or all values equal, give NaN
with a ``reason``; a form whose ratio is 0/0 (e.g. no between-subject and no residual variance)
gives NaN with reason ``undefined``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import fdtrc, fdtri

from cardiolatent.errors import CardiolatentError

__all__ = ["icc", "icc_table", "mean_squares", "mean_squares_from_gram", "table_from_mean_squares",
           "icc_from_mean_squares", "normalise_forms", "reasons",
           "MeanSquares", "FORMS", "DESCRIPTIONS"]

#: the six Shrout-Fleiss forms, in the order reported
FORMS: tuple[str, ...] = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")

DESCRIPTIONS: dict[str, str] = {
    "ICC1": "ICC(1,1): one-way random effects, single rater",
    "ICC2": "ICC(2,1) = ICC(A,1): two-way random effects, absolute agreement, single rater",
    "ICC3": "ICC(3,1) = ICC(C,1): two-way mixed effects, consistency, single rater",
    "ICC1k": "ICC(1,k): one-way random effects, mean of k raters",
    "ICC2k": "ICC(2,k) = ICC(A,k): two-way random effects, absolute agreement, mean of k raters",
    "ICC3k": "ICC(3,k) = ICC(C,k): two-way mixed effects, consistency, mean of k raters",
}

_ALIASES: dict[str, str] = {}
for _f, _names in {
    "ICC1": ("ICC1", "ICC(1,1)", "ICC11"),
    "ICC2": ("ICC2", "ICC(2,1)", "ICC(A,1)", "ICC21", "ICCA1"),
    "ICC3": ("ICC3", "ICC(3,1)", "ICC(C,1)", "ICC31", "ICCC1"),
    "ICC1k": ("ICC1K", "ICC(1,K)"),
    "ICC2k": ("ICC2K", "ICC(2,K)", "ICC(A,K)"),
    "ICC3k": ("ICC3K", "ICC(3,K)", "ICC(C,K)"),
}.items():
    for _n in _names:
        _ALIASES[_n] = _f

#: reasons reported in the ``reason`` column
OK = "ok"
TOO_FEW = "fewer than 2 complete subjects"
CONSTANT = "zero variance (all values equal)"
UNDEFINED = "undefined (0/0: no between-subject and no residual variance)"

#: default memory for the temporaries of one block of subjects (bytes)
CHUNK_BYTES = 64 * 2**20


def normalise_forms(forms) -> tuple[str, ...]:
    """Canonical form names (``ICC1`` .. ``ICC3k``) from names like ``icc3``, ``ICC(3,1)``, ``ICC(C,1)``.

    ``None`` or ``"all"`` -> all six. Order as given; duplicates removed.
    """
    if forms is None or (isinstance(forms, str) and forms.lower() == "all"):
        return FORMS
    if isinstance(forms, str):
        forms = [forms]
    out: list[str] = []
    for f in forms:
        key = str(f).strip().upper().replace(" ", "")
        if key == "ALL":
            return FORMS
        if key not in _ALIASES:
            raise CardiolatentError(f"unknown ICC form {f!r}; use one of {', '.join(FORMS)} "
                                    f"(or ICC(1,1), ICC(A,1), ICC(C,1), ICC(1,k), ICC(A,k), ICC(C,k))")
        if _ALIASES[key] not in out:
            out.append(_ALIASES[key])
    if not out:
        raise CardiolatentError("no ICC form given")
    return tuple(out)


@dataclass
class MeanSquares:
    """Two-way ANOVA mean squares per variable (arrays of shape ``(m,)``).

    ``n``: complete subjects used per variable; ``k``: raters; ``constant``: all used values equal.
    """

    n: np.ndarray
    k: int
    msr: np.ndarray
    msc: np.ndarray
    mse: np.ndarray
    msw: np.ndarray
    constant: np.ndarray


def _as_3d(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise CardiolatentError(f"ICC input must have shape (subjects, raters, variables), not {x.shape}")
    if x.dtype.kind not in "fiub":
        raise CardiolatentError(f"ICC input must be numeric, not {x.dtype}")
    if x.shape[1] < 2:
        raise CardiolatentError(f"ICC needs at least 2 raters (got {x.shape[1]})")
    return x


def mean_squares(x, *, chunk_bytes: int = CHUNK_BYTES) -> MeanSquares:
    """Mean squares of the subjects x raters ANOVA for every variable of ``x`` ``(n, k, m)``.

    Subjects with any non-finite rating of a variable are dropped for that variable.
    Two passes over blocks of subjects (all variables at once, contiguous reads of ``x``; float32
    input is read as is and accumulated in float64): the first accumulates the masked rater sums and
    counts (hence rater and grand means) and the extremes (to recognise constant variables), the
    second the sums of squared deviations from those means: subject means, and residuals
    ``x_ij - xbar_i. - xbar_.j + xbar_..`` computed directly (not by subtracting sums of squares).
    A block whose sums are all finite has no missing value and skips the masking. Temporaries are
    about ``chunk_bytes`` whatever ``n``.
    """
    x = _as_3d(x)
    n_all, k, m = x.shape
    step = max(1, int(chunk_bytes // max(1, 8 * 2 * k * m)))  # ~2 float64 (block, k, m) arrays
    blocks = [(a, min(n_all, a + step)) for a in range(0, n_all, step)]
    nv = np.zeros(m, dtype=np.int64)
    colsum = np.zeros((k, m))
    hi = np.full(m, -np.inf)
    lo = np.full(m, np.inf)
    masked: set[int] = set()
    for a, b in blocks:
        xb = x[a:b]
        cs = xb.sum(axis=0, dtype=np.float64)  # (k, m)
        if np.isfinite(cs).all():  # no missing value in the block
            nv += b - a
            colsum += cs
            hi = np.maximum(hi, xb.max(axis=(0, 1)))
            lo = np.minimum(lo, xb.min(axis=(0, 1)))
            continue
        masked.add(a)
        v3 = np.isfinite(xb).all(axis=1)[:, None, :]
        nv += v3[:, 0, :].sum(axis=0)
        colsum += np.where(v3, xb, 0.0).sum(axis=0, dtype=np.float64)
        hi = np.maximum(hi, np.where(v3, xb, -np.inf).max(axis=(0, 1), initial=-np.inf))
        lo = np.minimum(lo, np.where(v3, xb, np.inf).min(axis=(0, 1), initial=np.inf))
    nvf = nv.astype(np.float64)
    ssr = np.zeros(m)
    sse = np.zeros(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        colmean = colsum / nvf                  # (k, m)
        grand = colmean.mean(axis=0)            # (m,)
        coldev = colmean - grand                # (k, m)
        buf = np.empty((min(step, n_all), k, m))
        for a, b in blocks:
            xb = x[a:b]
            r = buf[: b - a]
            rowdev = xb.sum(axis=1, dtype=np.float64) / k - grand  # (block, m)
            if a in masked:
                valid = np.isfinite(xb).all(axis=1)
                rowdev[~valid] = 0.0
            np.subtract(xb, rowdev[:, None, :], out=r)   # x - rowmean + grand
            r -= colmean                                   # x - rowmean - colmean + grand
            if a in masked:
                np.copyto(r, 0.0, where=~valid[:, None, :])
            ssr += np.einsum("ij,ij->j", rowdev, rowdev)
            sse += np.einsum("ijk,ijk->k", r, r)
        ssr *= k
        ssc = nvf * np.einsum("ij,ij->j", coldev, coldev)
    return _from_sums(nv, k, ssr, ssc, sse, (nv > 0) & (hi == lo))


def mean_squares_from_gram(C, colmean, n, constant=None) -> MeanSquares:
    """Mean squares of :func:`mean_squares` from each variable's rater cross-products: no pass over
    the ratings (for complete data whose centred cross-products are at hand, e.g. from one
    correlation matrix of all columns).

    ``C`` ``(m, k, k)``: cross-products ``sum_i (x_ia - xbar_.a)(x_ib - xbar_.b)`` of the centred
    raters of each variable over its ``n`` subjects; ``colmean`` ``(m, k)``: the rater means;
    ``n`` ``(m,)`` (or a scalar): complete subjects; ``constant`` ``(m,)``: every rating equal
    (default: no rater varies and the rater means are equal).

    With ``y`` the centred ratings, the subject deviations are ``ybar_i = (1/k) sum_a y_ia``, so
    ``SSR = k sum_i ybar_i^2 = 1'C1 / k`` and ``SSE = sum_ia (y_ia - ybar_i)^2 = tr(C) - 1'C1 / k``
    (the rater term is ``SSC = n sum_a (xbar_.a - xbar_..)^2``). Agrees with :func:`mean_squares`
    to rounding unless the raters agree to ~1e-8 relative (``SSE`` is then a small difference).
    """
    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 3 or C.shape[1] != C.shape[2]:
        raise CardiolatentError(f"rater cross-products must have shape (variables, k, k), not {C.shape}")
    m, k, _ = C.shape
    if k < 2:
        raise CardiolatentError(f"ICC needs at least 2 raters (got {k})")
    colmean = np.asarray(colmean, dtype=np.float64).reshape(m, k)
    nv = np.broadcast_to(np.asarray(n, dtype=np.int64), (m,)).copy()
    nvf = nv.astype(np.float64)
    tot = C.sum(axis=(1, 2))
    tr = np.trace(C, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ssr = tot / k
        sse = np.maximum(tr - tot / k, 0.0)
        grand = colmean.mean(axis=1)
        coldev = colmean - grand[:, None]
        ssc = nvf * np.einsum("ij,ij->i", coldev, coldev)
    if constant is None:
        constant = (nv > 0) & (np.abs(C).max(axis=(1, 2)) == 0) & (np.ptp(colmean, axis=1) == 0)
    return _from_sums(nv, k, ssr, ssc, sse, np.asarray(constant, bool))


def _from_sums(nv, k: int, ssr, ssc, sse, constant) -> MeanSquares:
    """Mean squares from the sums of squares (subjects, raters, error) of ``nv`` subjects x ``k`` raters."""
    nvf = np.asarray(nv, dtype=np.float64)
    dfr = nvf - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return MeanSquares(n=nv, k=k, msr=ssr / dfr, msc=ssc / (k - 1), mse=sse / (dfr * (k - 1)),
                           msw=(ssc + sse) / (nvf * (k - 1)), constant=constant)


def icc_from_mean_squares(ms: MeanSquares, forms=FORMS, alpha: float = 0.05) -> dict[str, dict[str, np.ndarray]]:
    """ICC, F, df1, df2, p and the ``1 - alpha`` CI of each form, as ``{form: {stat: array (m,)}}``.

    Rows with ``n < 2`` or constant values are NaN (see :func:`reasons`).
    """
    if not 0 < alpha < 1:
        raise CardiolatentError(f"alpha must be between 0 and 1, not {alpha}")
    forms = normalise_forms(forms)
    k = float(ms.k)
    n = ms.n.astype(np.float64)
    bad = (ms.n < 2) | ms.constant
    msr = np.where(bad, np.nan, ms.msr)
    msc = np.where(bad, np.nan, ms.msc)
    mse = np.where(bad, np.nan, ms.mse)
    msw = np.where(bad, np.nan, ms.msw)
    df1 = np.where(bad, np.nan, n - 1)
    df2_one = np.where(bad, np.nan, n * (k - 1))           # one-way: within-subject df
    df2_two = np.where(bad, np.nan, (n - 1) * (k - 1))     # two-way: residual df
    q = 1 - alpha / 2
    res: dict[str, dict[str, np.ndarray]] = {}
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        need1 = any(f in forms for f in ("ICC1", "ICC1k"))
        need3 = any(f in forms for f in ("ICC2", "ICC3", "ICC2k", "ICC3k"))
        if need1:
            f1 = msr / msw
            p1 = fdtrc(df1, df2_one, f1)
            f1_lo = f1 / fdtri(df1, df2_one, q)
            f1_hi = f1 * fdtri(df2_one, df1, q)
        if need3:
            f3 = msr / mse
            p3 = fdtrc(df1, df2_two, f3)
            f3_lo = f3 / fdtri(df1, df2_two, q)
            f3_hi = f3 * fdtri(df2_two, df1, q)
        if "ICC1" in forms:
            res["ICC1"] = dict(icc=(msr - msw) / (msr + (k - 1) * msw), f=f1, df1=df1, df2=df2_one, p=p1,
                               ci_low=(f1_lo - 1) / (f1_lo + k - 1), ci_high=(f1_hi - 1) / (f1_hi + k - 1))
        if "ICC1k" in forms:
            res["ICC1k"] = dict(icc=(msr - msw) / msr, f=f1, df1=df1, df2=df2_one, p=p1,
                                ci_low=1 - 1 / f1_lo, ci_high=1 - 1 / f1_hi)
        if "ICC3" in forms:
            res["ICC3"] = dict(icc=(msr - mse) / (msr + (k - 1) * mse), f=f3, df1=df1, df2=df2_two, p=p3,
                               ci_low=(f3_lo - 1) / (f3_lo + k - 1), ci_high=(f3_hi - 1) / (f3_hi + k - 1))
        if "ICC3k" in forms:
            res["ICC3k"] = dict(icc=(msr - mse) / msr, f=f3, df1=df1, df2=df2_two, p=p3,
                                ci_low=1 - 1 / f3_lo, ci_high=1 - 1 / f3_hi)
        if "ICC2" in forms or "ICC2k" in forms:
            icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
            # McGraw & Wong (1996) Satterthwaite df for the absolute-agreement interval
            fc = msc / mse
            a = n * (1 + (k - 1) * icc2) - k * icc2
            v = df2_two * (k * icc2 * fc + a) ** 2 / (df1 * k ** 2 * icc2 ** 2 * fc ** 2 + a ** 2)
            fu = fdtri(df1, v, q)
            fl = fdtri(v, df1, q)
            c = k * msc + (k * n - k - n) * mse
            lo2 = n * (msr - fu * mse) / (fu * c + n * msr)
            hi2 = n * (fl * msr - mse) / (c + n * fl * msr)
            if "ICC2" in forms:
                res["ICC2"] = dict(icc=icc2, f=f3, df1=df1, df2=df2_two, p=p3, ci_low=lo2, ci_high=hi2)
            if "ICC2k" in forms:
                res["ICC2k"] = dict(icc=(msr - mse) / (msr + (msc - mse) / n), f=f3, df1=df1, df2=df2_two,
                                    p=p3, ci_low=lo2 * k / (1 + lo2 * (k - 1)),
                                    ci_high=hi2 * k / (1 + hi2 * (k - 1)))
    return {f: res[f] for f in forms}


def reasons(ms: MeanSquares, icc_values: np.ndarray) -> np.ndarray:
    """Per-variable reason (object array (m,)): ``ok``, too few subjects, constant, or undefined."""
    r = np.full(ms.n.shape, OK, dtype=object)
    r[~np.isfinite(icc_values)] = UNDEFINED
    r[ms.constant] = CONSTANT
    r[ms.n < 2] = TOO_FEW
    return r


def icc(x, variables=None, forms=FORMS, alpha: float = 0.05, *, chunk_bytes: int = CHUNK_BYTES) -> pd.DataFrame:
    """All requested ICC forms for every variable of ``x`` as a tidy table.

    ``x``: array ``(n_subjects, k_raters, m_variables)`` (or ``(n, k)`` for one variable); non-finite
    values are missing (per-variable listwise deletion of subjects).
    ``variables``: names of the m variables (default ``0 .. m-1``).
    ``forms``: subset of :data:`FORMS` (aliases like ``ICC(3,1)`` accepted); ``alpha``: CI level
    ``1 - alpha``.

    Returns one row per (variable, form), variable-major: ``variable, type, description, icc, f,
    df1, df2, p, ci_low, ci_high, n, k, reason``. ``df1``/``df2`` are floats (NaN where undefined);
    ``n`` is the number of complete subjects used for the variable.
    """
    x = _as_3d(x)
    m = x.shape[2]
    if variables is None:
        variables = np.arange(m)
    variables = np.asarray(list(variables), dtype=object)
    if len(variables) != m:
        raise CardiolatentError(f"{len(variables)} variable names for {m} variables")
    forms = normalise_forms(forms)
    ms = mean_squares(x, chunk_bytes=chunk_bytes)
    return table_from_mean_squares(ms, variables, forms, alpha)


def table_from_mean_squares(ms: MeanSquares, variables, forms=FORMS, alpha: float = 0.05) -> pd.DataFrame:
    """The tidy table of :func:`icc` from mean squares (:func:`mean_squares` or
    :func:`mean_squares_from_gram`); ``variables``: names of the m variables."""
    m = len(ms.n)
    variables = np.asarray(list(variables), dtype=object)
    if len(variables) != m:
        raise CardiolatentError(f"{len(variables)} variable names for {m} variables")
    forms = normalise_forms(forms)
    res = icc_from_mean_squares(ms, forms, alpha)
    nf = len(forms)

    def stack(key):  # (m, forms) -> variable-major flat
        return np.stack([res[f][key] for f in forms], axis=1).ravel()

    why = np.stack([reasons(ms, res[f]["icc"]) for f in forms], axis=1).ravel()
    return pd.DataFrame({
        "variable": np.repeat(variables, nf),
        "type": np.tile(np.array(forms, dtype=object), m),
        "description": np.tile(np.array([DESCRIPTIONS[f] for f in forms], dtype=object), m),
        "icc": stack("icc"),
        "f": stack("f"),
        "df1": stack("df1"),
        "df2": stack("df2"),
        "p": stack("p"),
        "ci_low": stack("ci_low"),
        "ci_high": stack("ci_high"),
        "n": np.repeat(ms.n, nf),
        "k": np.int64(ms.k),
        "reason": why,
    })


#: the table function under a name that cannot be confused with this module
icc_table = icc
