"""The heritability result: SNP heritability per phenotype and genetic correlations between phenotypes,
from BOLT-REML (individual-level data) or LD score regression (summary statistics), in one result.

Two tables share one contract whatever the method, so one result (and one command) holds the rows of
both methods side by side:

- ``table`` (the h2 table, saved as ``X.tsv``): one row per phenotype and method, columns
  :data:`H2_COLUMNS` (``phenotype, method, h2, se, n, status``) then the method's extras (BOLT-REML:
  ``sigma2, sigma2_se, m, n_covariates, seconds, warnings, run``; LDSC: ``intercept, intercept_se,
  ratio, ratio_se, mean_chisq, lambda_gc, m``). ``h2`` is the SNP heritability (a fraction of the
  phenotype's variance after the covariates, 0-1), ``se`` its standard error, ``n`` the number of
  individuals analysed, ``status`` ``"ok"`` or the reason there is no (trustworthy) estimate.
- ``rg`` (saved as ``X.rg.tsv``): one row per pair of phenotypes and method, columns
  :data:`RG_COLUMNS` (``phenotype1, phenotype2, method, rg, se, p, status``) then extras (``gcov,
  gcov_se`` on the scale of phenotypes standardised after the covariates, ``resid_corr``, ...). ``p``
  is the two-sided Wald P of rg = 0.

The tools' full logs are kept beside the result (``X.bolt.log``). Files of ``h2.tsv``: ``h2.tsv``,
``h2.rg.tsv``, ``h2.excluded.tsv``, ``h2.summary.json`` (+ ``h2.<name>.log``), replaced as a unit.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable

import numpy as np
import pandas as pd
from scipy.stats import norm

from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import check_table_output, read_table, table_stem
from cardiolatent.results import Result, Summary, empty_excluded, read_record

#: the columns every h2 table starts with (then the method's extras)
H2_COLUMNS = ["phenotype", "method", "h2", "se", "n", "status"]
#: the columns every rg table starts with (then the method's extras)
RG_COLUMNS = ["phenotype1", "phenotype2", "method", "rg", "se", "p", "status"]
#: the methods a heritability result may hold
METHODS = ("bolt-reml", "ldsc")


@dataclass
class HeritabilitySummary(Summary):
    """What ``X.summary.json`` of a heritability result holds (besides version, class and file list)."""

    methods: list = field(default_factory=list)      # "bolt-reml" and/or "ldsc"
    phenotypes: list = field(default_factory=list)   # in the order asked for
    n: int = 0                                       # most individuals analysed in any row
    genotypes: str = ""                              # PLINK prefix (BOLT-REML) / LD score source (LDSC)
    source: str = ""                                 # the export folder / summary statistics read
    tools: dict = field(default_factory=dict)        # tool -> version, e.g. {"BOLT-LMM": "2.4"}
    joint: str = "none"                              # genetic correlations: none, pairs, all
    covariates: list = field(default_factory=list)   # covariate columns of the model
    settings: dict = field(default_factory=dict)     # threads, refine, options passed to the tool
    runs: list = field(default_factory=list)         # one dict per tool run: label, phenotypes, status, seconds
    n_ok: int = 0                                    # h2 rows with status ok
    n_failed: int = 0                                # h2 rows without
    logs: list = field(default_factory=list)         # file parts of the tools' logs, e.g. "bolt.log"
    notes: list = field(default_factory=list)


def wald_p(estimate, se) -> np.ndarray:
    """Two-sided P of ``estimate / se`` against N(0, 1) (NaN where the SE is missing or not positive)."""
    est = np.asarray(estimate, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, np.abs(est) / se, np.nan)
    return 2.0 * norm.sf(z)


def _ordered(df: pd.DataFrame | None, first: list[str], what: str) -> pd.DataFrame:
    """``df`` with the contract columns first (missing ones are an error), extras after, in their order."""
    if df is None:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("phenotype", "phenotype1", "phenotype2", "method",
                                                                 "status") else np.float64) for c in first})
    missing = [c for c in first if c not in df.columns]
    if missing:
        raise CardiolatentError(f"{what} table lacks the column(s) {', '.join(missing)} "
                                f"(a heritability {what} table starts with {', '.join(first)})")
    bad = sorted(set(df["method"].astype(str)) - set(METHODS))
    if bad:
        raise CardiolatentError(f"{what} table: unknown method(s) {', '.join(bad)} (known: {', '.join(METHODS)})")
    return _text_columns(df[first + [c for c in df.columns if c not in first]].reset_index(drop=True).copy())


def _concat(frames: Iterable[pd.DataFrame], first: list[str], what: str) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f.columns)]
    if not frames:
        return _ordered(None, first, what)
    nonempty = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(nonempty, ignore_index=True, sort=False)
    return _ordered(out, first, what)


@dataclass
class HeritabilityResult(Result):
    """SNP heritability (``table``) and genetic correlations (``rg``) of phenotypes, by one method or
    several (module docstring). ``excluded``: ``eid, instance, reason`` (+ ``phenotype``) of the
    participants of the input who were not analysed; ``logs``: log part name (e.g. ``"bolt.log"``) ->
    the tool's full text output, saved as ``X.<part>``.
    """

    rg: pd.DataFrame = None
    logs: dict = field(default_factory=dict)

    kind: ClassVar[str] = "heritability"
    layout: ClassVar[str] = "file"
    summary_type: ClassVar[type] = HeritabilitySummary

    def __post_init__(self) -> None:
        self.table = _ordered(self.table, H2_COLUMNS, "h2")
        self.rg = _ordered(self.rg, RG_COLUMNS, "rg")
        if self.excluded is None:
            self.excluded = empty_excluded()
        for name in self.logs:
            if "/" in name or "\\" in name or not name.endswith(".log"):
                raise CardiolatentError(f"log part name {name!r} must be a plain file name ending in .log")

    # ------------------------------------------------------------------ building
    @classmethod
    def from_tables(cls, h2: pd.DataFrame, rg: pd.DataFrame | None = None, *, summary: HeritabilitySummary
                    | None = None, excluded: pd.DataFrame | None = None, logs: dict | None = None
                    ) -> "HeritabilityResult":
        """A result from an h2 table (and an rg table) in the contract (module docstring): what the
        LDSC route returns; ``summary`` defaults to one filled from the tables."""
        res = cls(table=h2, excluded=excluded if excluded is not None else empty_excluded(),
                  summary=summary or HeritabilitySummary(), rg=rg, logs=dict(logs or {}))
        res._fill_counts()
        return res

    @classmethod
    def combine(cls, results: Iterable["HeritabilityResult"]) -> "HeritabilityResult":
        """One result holding the rows of several (e.g. BOLT-REML and LDSC on the same phenotypes):
        tables stacked, summaries merged (lists joined without repeats, dicts updated), logs kept."""
        results = list(results)
        if not results:
            raise CardiolatentError("combine needs at least one heritability result")
        summ = HeritabilitySummary()
        for r in results:
            for f in dataclasses.fields(HeritabilitySummary):
                mine, theirs = getattr(summ, f.name), getattr(r.summary, f.name, None)
                if isinstance(mine, list):
                    mine.extend(x for x in (theirs or []) if x not in mine)
                elif isinstance(mine, dict):
                    mine.update(theirs or {})
                elif theirs not in (None, "", 0) and mine in ("", 0, "none"):
                    setattr(summ, f.name, theirs)
        logs: dict = {}
        for r in results:
            for k, v in r.logs.items():
                if k in logs and logs[k] != v:
                    raise CardiolatentError(f"two results carry different logs named {k!r}")
                logs[k] = v
        exc = pd.concat([r.excluded for r in results], ignore_index=True).drop_duplicates(ignore_index=True)
        out = cls(table=_concat([r.table for r in results], H2_COLUMNS, "h2"), excluded=exc, summary=summ,
                  rg=_concat([r.rg for r in results], RG_COLUMNS, "rg"), logs=logs)
        out._fill_counts()
        return out

    def _fill_counts(self) -> None:
        s = self.summary
        t = self.table
        if not s.methods:
            s.methods = list(dict.fromkeys(t["method"].astype(str)))
        if not s.phenotypes:
            s.phenotypes = list(dict.fromkeys(t["phenotype"].astype(str)))
        n = pd.to_numeric(t["n"], errors="coerce")
        s.n = int(n.max()) if n.notna().any() else 0
        ok = (t["status"].astype(str) == "ok")
        s.n_ok, s.n_failed = int(ok.sum()), int((~ok).sum())
        s.logs = sorted(self.logs)

    # ------------------------------------------------------------------ contract
    def extra_tables(self) -> dict[str, pd.DataFrame]:
        return {"rg.tsv": self.rg}

    def extra_texts(self) -> dict[str, str]:
        """BOLT's logs, saved as ``<stem>.<name>`` beside the tables."""
        return dict(self.logs)

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write the tables, the logs and the summary as a unit (:meth:`cardiolatent.results.Result.save`:
        every file to a temporary sibling, all renamed into place only when all are written, the summary
        last; files an earlier save of ``out`` listed and this one does not write are removed)."""
        check_table_output(Path(out))
        self._fill_counts()
        return super().save(out)

    @classmethod
    def load(cls, out: str | os.PathLike) -> "HeritabilityResult":
        """Read a saved heritability result back (tables, summary and logs)."""
        out = Path(out)
        stem = table_stem(out)
        rec = read_record(out.with_name(f"{stem}.summary.json"),
                          f"{out} is not a saved cardiolatent result (no {stem}.summary.json)")
        text = {"keep_default_na": False, "na_values": [""]}  # a phenotype named NA stays "NA"
        table = _text_columns(read_table(out, what="heritability table", **text))
        excluded = read_table(out.with_name(f"{stem}.excluded.tsv"), what="exclusions table")
        rg_path = out.with_name(f"{stem}.rg.tsv")
        rg = _text_columns(read_table(rg_path, what="genetic correlation table", **text)) if rg_path.exists() else None
        logs = {}
        for f in rec.get("files", []):
            if isinstance(f, str) and f.startswith(stem + ".") and f.endswith(".log") and "/" not in f:
                p = out.with_name(f)
                if p.exists():
                    logs[f[len(stem) + 1:]] = p.read_text(encoding="utf-8")
        summary = HeritabilitySummary.from_dict({k: v for k, v in rec.items()
                                                 if k not in ("cardiolatent_version", "result", "files")})
        return cls(table=table, excluded=excluded, summary=summary, rg=rg, logs=logs)

    # ------------------------------------------------------------------ printing
    def summary_lines(self) -> list[str]:
        """What ``cardiolatent heritability`` prints: one line per phenotype and method, the pairs."""
        s = self.summary
        tools = ", ".join(f"{k} {v}" for k, v in s.tools.items())
        lines = [f"SNP heritability of {len(s.phenotypes)} phenotype(s) by {', '.join(s.methods) or '-'}"
                 + (f" ({tools})" if tools else "") + (f"; n up to {s.n:,}" if s.n else "")]
        for r in self.table.itertuples():
            est = (f"h2 {r.h2:.3f} (SE {r.se:.3f}, 95% CI {r.h2 - 1.96 * r.se:.3f} to {r.h2 + 1.96 * r.se:.3f})"
                   if _finite(r.h2) and _finite(r.se) else "h2 -")
            n = f", n {int(r.n):,}" if _finite(r.n) else ""
            lines.append(f"  {r.phenotype} [{r.method}]: {est}{n}" + ("" if r.status == "ok" else f"; {r.status}"))
        if len(self.rg):
            lines.append(f"genetic correlations ({len(self.rg)} pair(s)):")
            for r in self.rg.itertuples():
                est = (f"rg {r.rg:.3f} (SE {r.se:.3f}, P {r.p:.2g})" if _finite(r.rg) and _finite(r.se)
                       else "rg -")
                lines.append(f"  {r.phenotype1} ~ {r.phenotype2} [{r.method}]: {est}"
                             + ("" if r.status == "ok" else f"; {r.status}"))
        if len(self.excluded):
            counts = self.excluded["reason"].value_counts()
            lines.append("not analysed: " + ", ".join(f"{n:,} {k}" for k, n in counts.items()))
        lines += [f"note: {n}" for n in s.notes]
        if s.logs:
            lines.append(f"tool logs kept: {', '.join(s.logs)}")
        return lines


#: text columns of the two tables (read back as text, empty as "")
_TEXT = ("phenotype", "phenotype1", "phenotype2", "method", "status", "warnings", "run")


def _text_columns(df: pd.DataFrame) -> pd.DataFrame:
    for c in _TEXT:
        if c in df.columns:
            df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    return df


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


__all__ = ["H2_COLUMNS", "RG_COLUMNS", "METHODS", "HeritabilityResult", "HeritabilitySummary", "wald_p"]
