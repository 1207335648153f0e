"""Polygenic scores of the latents: clumping-and-thresholding weights, scoring, discovery / target split.

Weights (:func:`prs_weights`)
-----------------------------
From a discovery GWAS of the latents (a ``cardiolatent gwas-results`` folder, or the tools' raw
per-latent results files read by :mod:`cardiolatent.gwas.readers`), per latent:

1. every variant with ``P < max(thresholds)`` is read (with the same TEST / MAC / INFO filters as
   ``gwas-results``);
2. they are clumped once: distance clumping (:func:`cardiolatent.gwas.clump.distance_clump`, the
   strongest variant takes every variant within +-``window_kb``; default 250 kb, as
   ``gwas-results``) or PLINK 1.9 ``--clump`` against an LD reference
   (:func:`cardiolatent.gwas.clump.ld_clump` with ``--clump-p1 = --clump-p2 = max(thresholds)``);
3. the score at threshold ``t`` holds the index variants with ``P < t``; weight = the GWAS
   ``beta`` of the effect allele (the latent's units per allele).

This is PRSice's clumping and thresholding (clump once, threshold the index variants). For
distance clumping the index variants with ``P < t`` are exactly those that clumping at ``t``
alone gives (a weaker variant can never remove a stronger one), so the score at the
``gwas-results`` threshold holds exactly the rows of its ``leads.tsv`` (tested).

One score per latent and threshold, named ``<latent>_p<t>`` (``Z0_p5e-08``). They are written
in PLINK 2 ``--score`` format (:meth:`PrsWeights.save`: ``score.txt`` with columns ``ID A1`` and
one weight column per score; weight 0 where a score lacks the variant), run as::

    plink2 --bfile GENO --score score.txt 1 2 header-read cols=+scoresums \
        --score-col-nums 3-<2 + n_scores> --out scores

A variant has one effect allele in ``score.txt``: when latents' GWAS rows name different effect
alleles for the same variant, the later ones' betas change sign (a score with the other allele
differs by a constant, ``2 * beta``, the same for every person).

Scoring (:func:`score_bed`)
---------------------------
Our own scorer over a PLINK 1 ``.bed`` mirrors ``plink2 --score FILE 1 2 header-read
cols=+scoresums [no-mean-imputation]`` (PLINK v2.00a3.5, checked against it in
tests/test_prs.py):

- a line's allele is the *named* allele: its dosage is the ALT count (``.bim`` column 5) when it is
  ALT and ``2 - ALT count`` when it is REF (``.bim`` column 6); lines whose ID is not in the
  ``.bim`` or whose allele is neither of the variant's are skipped and counted (plink2 skips them
  with a warning);
- a missing call contributes ``2 * f`` per unit weight (mean imputation), ``f`` the named
  allele's frequency among the scored samples (the founders among them, as plink2 computes
  frequencies after ``--keep``) with a call; with ``mean_impute=False`` (plink2's
  ``no-mean-imputation``) it contributes 0;
- ``<score>_SUM`` is the weighted dosage sum; ``<score>_AVG`` is the sum divided by ``DENOM``:
  ``2 x`` the variants used (every variant of the file, whatever a score's weight on it) with mean
  imputation, else ``ALLELE_CT`` (the person's non-missing allele count);
  ``NAMED_ALLELE_DOSAGE_SUM`` sums the named alleles' dosages over non-missing calls.

Only diploid autosomes are scored (chromosomes X, Y, XY, MT need plink2's sex-aware coding: such
lines are an error). Memory: one block of ``chunk_variants`` variants x samples float64 at a
time; time is one BLAS matrix product per block (``n x b`` by ``b x k``).

Split (:func:`split_cohort`)
----------------------------
Discovery / target halves that keep relatives on one side: pairs from a KING / PLINK 2 kinship
table (kinship above a threshold) or a plain list of related pairs are joined into families
(connected components); families, in a random order fixed by ``seed``, fill the target set
until it reaches ``target_fraction``. The synthetic cohort has no relatives (its ``.fam`` has no
parents and its genotypes are drawn independently per person), so without a table the split is
a seeded random split of individuals. :meth:`CohortSplit.write` writes the eid lists, PLINK keep
files and ``.fam`` subsets, for ``cardiolatent export --samples discovery.fam`` (only
participants listed there are exported) and ``plink2 --keep target.keep``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.samples import read_king, read_sample_list
from cardiolatent.gwas.bedfile import BedFile
from cardiolatent.gwas.clump import LDReference, distance_clump, ld_clump
from cardiolatent.gwas.coords import codes_of, genome_keys
from cardiolatent.gwas.readers import chrom_codes, discover_results, iter_chunks
from cardiolatent.io_utils import atomic_dir, read_table, write_table_atomic, write_text_atomic

__all__ = [
    "DEFAULT_THRESHOLDS",
    "PrsWeights",
    "CohortSplit",
    "prs_weights",
    "clump_and_threshold",
    "read_discovery_variants",
    "read_score_file",
    "score_bed",
    "plink2_score",
    "read_sscore",
    "split_cohort",
    "score_name",
    "keep_rows",
    "related_pairs",
]

#: P thresholds of the scores (PRSice-style defaults)
DEFAULT_THRESHOLDS = (5e-8, 1e-6, 1e-4, 1e-2)
#: columns of the long weights table
WEIGHT_COLUMNS = ["score", "latent", "p_threshold", "id", "chrom", "pos", "effect_allele", "other_allele",
                  "beta", "se", "mlog10p", "eaf", "n_clumped"]
_MARKER = "prs_weights.json"
_SPLIT_MARKER = "split.json"


def score_name(latent: str, p: float) -> str:
    """``<latent>_p<threshold>`` (``Z0_p5e-08``): the score column of a latent at a P threshold."""
    return f"{latent}_p{p:g}"


def _check_thresholds(thresholds) -> tuple[float, ...]:
    ts = tuple(sorted({float(t) for t in (thresholds if np.ndim(thresholds) else [thresholds])}))
    if not ts:
        raise CardiolatentError("thresholds: give at least one P threshold")
    bad = [t for t in ts if not 0 < t <= 1]
    if bad:
        raise CardiolatentError(f"thresholds must be P values in (0, 1], not {bad[0]}")
    return ts


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------

@dataclass
class PrsWeights:
    """Clumping-and-thresholding weights of one or more latents.

    ``table``: long, one row per (score, variant): :data:`WEIGHT_COLUMNS` (``beta`` in the latent's
    units per effect allele, ``mlog10p`` the discovery ``-log10 P``). ``scores``: one row per score:
    ``score, latent, p_threshold, n_variants``. ``info``: how they were made (source, clumping,
    filters, notes).
    """

    table: pd.DataFrame
    scores: pd.DataFrame
    info: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return self.scores["score"].astype(str).tolist()

    def plink2_table(self) -> pd.DataFrame:
        """The PLINK 2 ``--score`` table: ``ID``, ``A1`` (effect allele) and one weight column per score
        (0 where a score lacks the variant), one row per variant in genome order. A variant whose rows
        name different effect alleles takes the first one's (in score order); the other rows' betas
        change sign. Raises when two rows of a variant share no allele pair."""
        t = self.table
        names = self.names
        if t.empty:
            return pd.DataFrame({"ID": pd.Series(dtype=object), "A1": pd.Series(dtype=object),
                                 **{n: pd.Series(dtype=np.float64) for n in names}})
        first = t.drop_duplicates("id", keep="first").set_index("id")
        ea = first["effect_allele"].reindex(t["id"]).to_numpy(dtype=object)
        oa = first["other_allele"].reindex(t["id"]).to_numpy(dtype=object)
        same = t["effect_allele"].to_numpy(dtype=object) == ea
        flip = (t["effect_allele"].to_numpy(dtype=object) == oa) & (t["other_allele"].to_numpy(dtype=object) == ea)
        bad = ~(same | flip)
        if bad.any():
            r = t[bad].iloc[0]
            raise CardiolatentError(f"variant {r['id']}: score {r['score']} names alleles {r['effect_allele']}/"
                                    f"{r['other_allele']}, another score {first.loc[r['id'], 'effect_allele']}/"
                                    f"{first.loc[r['id'], 'other_allele']} (the same ID for different variants?)")
        w = np.where(flip & ~same, -1.0, 1.0) * t["beta"].to_numpy(dtype=np.float64)
        wide = (pd.DataFrame({"id": t["id"].to_numpy(), "score": t["score"].to_numpy(), "w": w})
                .pivot_table(index="id", columns="score", values="w", aggfunc="sum", fill_value=0.0))
        wide = wide.reindex(columns=names, fill_value=0.0)
        key = genome_keys(codes_of(first["chrom"]), first["pos"].to_numpy(dtype=np.int64))
        order = first.index[np.argsort(key, kind="stable")]
        wide = wide.reindex(order)
        cols = {"ID": order.to_numpy(dtype=object), "A1": first.loc[order, "effect_allele"].to_numpy(dtype=object)}
        cols.update({n: wide[n].to_numpy(dtype=np.float64) for n in names})
        return pd.DataFrame(cols)

    def plink2_command(self, bfile: str = "GENO", out: str = "scores", score_file: str = "score.txt") -> str:
        """The plink2 command line that scores ``score_file`` (what :func:`score_bed` mirrors)."""
        k = len(self.scores)
        cols = "3" if k == 1 else f"3-{2 + k}"
        return (f"plink2 --bfile {bfile} --score {score_file} 1 2 header-read cols=+scoresums "
                f"--score-col-nums {cols} --out {out}")

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write the folder ``out`` as a unit: ``weights.tsv`` (long table), ``scores.tsv``,
        ``score.txt`` (PLINK 2 ``--score`` file), ``score_command.txt`` and ``prs_weights.json``."""
        out = Path(out)
        files = {"weights": out / "weights.tsv", "scores": out / "scores.tsv", "score_file": out / "score.txt",
                 "command": out / "score_command.txt", "info": out / _MARKER}
        with atomic_dir(out, marker=_MARKER) as tmp:
            write_table_atomic(self.table[WEIGHT_COLUMNS], tmp / "weights.tsv", index=False, float_format="%.12g")
            write_table_atomic(self.scores, tmp / "scores.tsv", index=False, float_format="%.12g")
            write_table_atomic(self.plink2_table(), tmp / "score.txt", index=False, float_format="%.12g")
            write_text_atomic(tmp / "score_command.txt", self.plink2_command() + "\n")
            write_text_atomic(tmp / _MARKER, json.dumps({"kind": "prs-weights", **self.info}, indent=2,
                                                        default=str) + "\n")
        return files

    @classmethod
    def load(cls, out: str | os.PathLike) -> "PrsWeights":
        """Read a folder written by :meth:`save`."""
        out = Path(out)
        if not (out / _MARKER).is_file():
            raise CardiolatentError(f"{out} is not a saved PRS weights folder (no {_MARKER})")
        info = json.loads((out / _MARKER).read_text())
        info.pop("kind", None)
        table = read_table(out / "weights.tsv", what="PRS weights table",
                           dtype={"chrom": str, "id": str, "effect_allele": str, "other_allele": str, "score": str,
                                  "latent": str}, keep_default_na=False, na_values=[""])
        scores = read_table(out / "scores.tsv", what="PRS scores table", dtype={"score": str, "latent": str})
        return cls(table=table, scores=scores, info=info)


def read_discovery_variants(results: Sequence[str | os.PathLike] | str | os.PathLike, p_max: float, *,
                            latents: Sequence[str] | None = None, format: str | None = None,
                            name_regex: str | None = None, test: str | None = "ADD",
                            min_mac: float | None = None, min_info: float | None = None,
                            chunk_bytes: int = 2 << 20) -> dict[str, pd.DataFrame]:
    """Every variant with ``P < p_max`` of each latent's GWAS results files.

    ``results``: files, globs or folders (:func:`cardiolatent.gwas.readers.discover_results`);
    ``latents``: keep only these latent names. Returns latent -> DataFrame with the columns of
    :meth:`cardiolatent.gwas.readers.Chunk.details` (``chrom, pos, id, effect_allele,
    other_allele, eaf, info, n, beta, se, mlog10p``), files read in blocks, only the selected rows
    materialised.
    """
    if isinstance(results, (str, os.PathLike)):
        results = [results]
    files = discover_results(list(results), name_regex=name_regex, format=format)
    if not files:
        raise CardiolatentError(f"no GWAS results files in {' '.join(map(str, results))}")
    floor = float(-np.log10(p_max))
    want = None if latents is None else {str(x) for x in latents}
    parts: dict[str, list[pd.DataFrame]] = {}
    for rf in files:
        lat = str(rf.latent)
        if want is not None and lat not in want:
            continue
        parts.setdefault(lat, [])
        for ch in iter_chunks(rf, chunk_bytes=chunk_bytes, test=test, min_mac=min_mac, min_info=min_info):
            sel = ch.mlog10p > floor
            if sel.any():
                parts[lat].append(ch.details(sel))
    if want is not None:
        absent = sorted(want - set(parts))
        if absent:
            raise CardiolatentError(f"latent {absent[0]!r} has no results file among {len(files)} file(s) "
                                    f"(latents: {', '.join(sorted({str(f.latent) for f in files})[:8])})")
    empty = pd.DataFrame(columns=["chrom", "pos", "id", "effect_allele", "other_allele", "eaf", "info", "n",
                                  "beta", "se", "mlog10p"])
    return {k: (pd.concat(v, ignore_index=True) if v else empty.copy()) for k, v in parts.items()}


def clump_and_threshold(variants: dict[str, pd.DataFrame], thresholds: Sequence[float] = DEFAULT_THRESHOLDS, *,
                        window_kb: float = 250.0, ld_ref: str | os.PathLike | None = None, clump_r2: float = 0.5,
                        clump_kb: float | None = None, ld_match: str = "id", plink: str | None = None,
                        plink_threads: int = 1) -> PrsWeights:
    """Clumping and thresholding of each latent's variants (see the module docstring).

    ``variants``: latent -> rows with ``id, chrom, pos, effect_allele, other_allele, beta, mlog10p``
    (and ``se``, ``eaf``), at least every row with ``P < max(thresholds)``. ``ld_ref``: PLINK 1
    fileset for LD clumping (``clump_r2``, ``clump_kb`` default ``window_kb``), else distance
    clumping +-``window_kb``. Rows without a beta or an effect allele are left out (counted in
    ``info["notes"]``). Scores are ordered by latent (as given), then threshold.
    """
    ts = _check_thresholds(thresholds)
    if not (np.isfinite(window_kb) and window_kb >= 0):
        raise CardiolatentError(f"window_kb must be 0 or more, not {window_kb}")
    p_max = ts[-1]
    floor = float(-np.log10(p_max))
    ref = LDReference(ld_ref) if ld_ref is not None else None
    rows, score_rows, notes, per_latent = [], [], [], {}
    for latent, v in variants.items():
        need = {"id", "chrom", "pos", "effect_allele", "beta", "mlog10p"} - set(v.columns)
        if need:
            raise CardiolatentError(f"latent {latent}: the variants table lacks column(s) {', '.join(sorted(need))}")
        v = v.copy()
        for c in ("other_allele", "se", "eaf"):
            if c not in v.columns:
                v[c] = np.nan
        beta = pd.to_numeric(v["beta"], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(beta) & v["effect_allele"].notna().to_numpy() & (v["mlog10p"].to_numpy(float) > floor)
        n_bad = int(((v["mlog10p"].to_numpy(float) > floor) & ~ok).sum())
        if n_bad:
            notes.append(f"latent {latent}: {n_bad} variant(s) with P < {p_max:g} but no beta or effect allele "
                         "left out")
        v = v[ok]
        if ref is None:
            leads = distance_clump(v, floor, window_kb)
        else:
            leads, inf = ld_clump(v, ref, p1=p_max, p2=p_max, r2=clump_r2,
                                  kb=window_kb if clump_kb is None else clump_kb, plink=plink, match=ld_match,
                                  threads=plink_threads)
            per_latent[latent] = inf
            if inf["n_index_missing_from_ref"]:
                notes.append(f"latent {latent}: {inf['n_index_missing_from_ref']} variant(s) with P < {p_max:g} "
                             "are not in the LD reference and cannot be in a score")
        m = leads["mlog10p"].to_numpy(dtype=np.float64) if len(leads) else np.zeros(0)
        for t in ts:
            name = score_name(latent, t)
            sel = leads[m > -np.log10(t)]
            score_rows.append({"score": name, "latent": str(latent), "p_threshold": t, "n_variants": int(len(sel))})
            if len(sel):
                part = sel.assign(score=name, latent=str(latent), p_threshold=t)
                if "n_clumped" not in part.columns:
                    part["n_clumped"] = np.nan
                rows.append(part[WEIGHT_COLUMNS])
            else:
                notes.append(f"score {name}: no variant with P < {t:g} (the score is 0 for everyone)")
    table = (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=WEIGHT_COLUMNS))
    table["chrom"] = table["chrom"].astype(str)
    table["id"] = table["id"].astype(str)
    scores = pd.DataFrame(score_rows, columns=["score", "latent", "p_threshold", "n_variants"])
    info = {"thresholds": list(ts),
            "clumping": ({"method": "ld", "ld_reference": str(ref.prefix), "clump_p1": p_max, "clump_p2": p_max,
                          "clump_r2": clump_r2, "clump_kb": window_kb if clump_kb is None else clump_kb,
                          "match": ld_match, "per_latent": per_latent}
                         if ref is not None else {"method": "distance", "window_kb": window_kb}),
            "notes": notes}
    return PrsWeights(table=table, scores=scores, info=info)


def prs_weights(results: Sequence[str | os.PathLike] | str | os.PathLike,
                thresholds: Sequence[float] = DEFAULT_THRESHOLDS, *, latents: Sequence[str] | None = None,
                window_kb: float | None = None, ld_ref: str | os.PathLike | None = None, clump_r2: float | None = None,
                clump_kb: float | None = None, ld_match: str | None = None, plink: str | None = None,
                test: str | None = "ADD", min_mac: float | None = None, min_info: float | None = None,
                format: str | None = None, name_regex: str | None = None) -> PrsWeights:
    """Clumping-and-thresholding weights from a discovery GWAS (see the module docstring).

    ``results``: a ``cardiolatent gwas-results`` folder (its ``summary.json`` names the results files
    it read, and gives the defaults of the clumping settings and filters used there), or the tools'
    results files / folders / globs. ``thresholds``: P thresholds (one score per latent and
    threshold). Other parameters: as ``gwas-results`` (``window_kb`` 250, ``clump_r2`` 0.5,
    ``ld_match`` ``id``); a value given here overrides the folder's.
    """
    ts = _check_thresholds(thresholds)
    paths = [results] if isinstance(results, (str, os.PathLike)) else list(results)
    source = {"results": [str(p) for p in paths]}
    if len(paths) == 1 and Path(paths[0]).is_dir() and (Path(paths[0]) / "summary.json").is_file():
        folder = Path(paths[0])
        try:
            rec = json.loads((folder / "summary.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CardiolatentError(f"{folder / 'summary.json'}: not readable as JSON ({exc})") from exc
        if "inputs" in rec and "clumping" in rec:  # a gwas-results folder
            inputs = [Path(x["path"]) for x in rec["inputs"]]
            gone = [p for p in inputs if not p.exists()]
            if gone:
                raise CardiolatentError(f"{folder}: the results file {gone[0]} that gwas-results read is gone; "
                                        "pass the results files themselves")
            cl = rec.get("clumping") or {}
            filt = rec.get("filters") or {}
            if cl.get("method") == "ld":
                ld_ref = cl.get("ld_reference") if ld_ref is None else ld_ref
                clump_r2 = cl.get("clump_r2") if clump_r2 is None else clump_r2
                clump_kb = cl.get("clump_kb") if clump_kb is None else clump_kb
                ld_match = cl.get("match") if ld_match is None else ld_match
            elif window_kb is None:
                window_kb = cl.get("window_kb")
            test = filt.get("test", test)
            min_mac = filt.get("min_mac") if min_mac is None else min_mac
            min_info = filt.get("min_info") if min_info is None else min_info
            fmts = {x.get("format") for x in rec["inputs"]}
            format = format or (fmts.pop() if len(fmts) == 1 else None)
            latent_of = {str(Path(x["path"])): str(x["latent"]) for x in rec["inputs"]}
            source = {"gwas_results": str(folder), "results": [str(p) for p in inputs]}
            v = {}
            for p in inputs:  # the latent names gwas-results gave the files
                got = read_discovery_variants([p], ts[-1], format=format, test=test, min_mac=min_mac,
                                              min_info=min_info)
                for df in got.values():
                    v.setdefault(latent_of[str(p)], []).append(df)
            variants = {k: pd.concat(x, ignore_index=True) for k, x in v.items()}
            if latents is not None:
                absent = [x for x in latents if x not in variants]
                if absent:
                    raise CardiolatentError(f"{folder}: no latent {absent[0]!r} (latents: "
                                            f"{', '.join(list(variants)[:8])})")
                variants = {x: variants[x] for x in latents}
            paths = None
    if paths is not None:
        variants = read_discovery_variants(paths, ts[-1], latents=latents, format=format, name_regex=name_regex,
                                           test=test, min_mac=min_mac, min_info=min_info)
    w = clump_and_threshold(variants, ts, window_kb=250.0 if window_kb is None else float(window_kb), ld_ref=ld_ref,
                            clump_r2=0.5 if clump_r2 is None else float(clump_r2), clump_kb=clump_kb,
                            ld_match=ld_match or "id", plink=plink)
    w.info = {"source": source, **w.info, "filters": {"test": test, "min_mac": min_mac, "min_info": min_info},
              "weight": "GWAS beta of the effect allele (latent units per allele)"}
    return w


# --------------------------------------------------------------------------------------------
# score files
# --------------------------------------------------------------------------------------------

def _read_whitespace(path: Path, what: str, **kwargs) -> pd.DataFrame:
    """A whitespace-separated text table (``pandas.read_csv``), errors naming the file."""
    if not path.is_file():
        raise CardiolatentError(f"{what} not found: {path}")
    try:
        return pd.read_csv(path, sep=r"\s+", **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise CardiolatentError(f"{what} {path} is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise CardiolatentError(f"cannot read {what} {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc


def read_score_file(path: str | os.PathLike) -> pd.DataFrame:
    """A PLINK 2 ``--score`` file with a header (``ID A1 <score> ...``, whitespace separated) as a DataFrame
    ``ID, A1, <scores>`` (float64 weights). Raises naming the file for a missing column, a
    non-numeric weight or a repeated (ID, A1) line."""
    path = Path(path)
    df = _read_whitespace(path, "score file", dtype=str, keep_default_na=False)
    if df.shape[1] < 3:
        raise CardiolatentError(f"{path}: a score file needs columns ID, A1 and at least one weight column")
    df = df.rename(columns={df.columns[0]: "ID", df.columns[1]: "A1"})
    return _check_weights(df, str(path))


def _check_weights(df: pd.DataFrame, where: str) -> pd.DataFrame:
    if list(df.columns[:2]) != ["ID", "A1"] or df.shape[1] < 3:
        raise CardiolatentError(f"{where}: the weights need columns ID, A1 and one column per score")
    out = df.copy()
    for c in out.columns[2:]:
        v = pd.to_numeric(out[c], errors="coerce")
        bad = v.isna() & out[c].notna()
        if bad.any():
            raise CardiolatentError(f"{where}: column {c} holds {out[c][bad].iloc[0]!r} (variant "
                                    f"{out['ID'][bad].iloc[0]}), not a number")
        out[c] = v.astype(np.float64)
    out["ID"] = out["ID"].astype(str)
    out["A1"] = out["A1"].astype(str)
    dup = out.duplicated(["ID", "A1"], keep=False)
    if dup.any():
        raise CardiolatentError(f"{where}: variant {out['ID'][dup].iloc[0]} allele {out['A1'][dup].iloc[0]} is "
                                "listed more than once")
    return out


def _weights_frame(weights) -> pd.DataFrame:
    if isinstance(weights, PrsWeights):
        return weights.plink2_table()
    if isinstance(weights, pd.DataFrame):
        return _check_weights(weights, "weights")
    return read_score_file(weights)


# --------------------------------------------------------------------------------------------
# our own scorer
# --------------------------------------------------------------------------------------------

def keep_rows(fam: pd.DataFrame, keep) -> np.ndarray:
    """Rows of the .fam to score: all, or those whose IID is in ``keep`` (eids / IIDs, or a file:
    ``FID IID`` / one id per line / a .fam)."""
    if keep is None:
        return np.arange(len(fam))
    if isinstance(keep, (str, os.PathLike)):
        rows = [ln.split() for ln in Path(keep).read_text().splitlines() if ln.strip()] \
            if Path(keep).is_file() else None
        if rows is None:
            raise CardiolatentError(f"keep file not found: {keep}")
        if rows and (rows[0][0].startswith("#") or rows[0][0].upper() in ("FID", "IID")):
            rows = rows[1:]
        ids = {r[1] if len(r) >= 2 else r[0] for r in rows}
    else:
        ids = {str(x) for x in keep}
    sel = np.flatnonzero(fam["iid"].isin(ids).to_numpy())
    if sel.size == 0:
        raise CardiolatentError(f"none of the {len(ids)} samples to keep is in the .fam (IIDs e.g. "
                                f"{', '.join(fam['iid'].head(3))})")
    return sel


def score_bed(bfile: str | os.PathLike, weights, *, keep=None, mean_impute: bool = True,
              chunk_variants: int = 1024, threads: int | None = None) -> pd.DataFrame:
    """Score every (kept) sample of a PLINK 1 fileset, as ``plink2 --score ... cols=+scoresums``.

    Parameters
    ----------
    bfile : PLINK 1 fileset prefix (``.bed/.bim/.fam``, SNP-major).
    weights : :class:`PrsWeights`, a DataFrame ``ID, A1, <score columns>`` or a PLINK 2 score file
        with a header (:func:`read_score_file`).
    keep : samples to score (IIDs / eids, or a keep file / ``.fam``); default all. Allele
        frequencies for mean imputation are computed over these (founders), as plink2 after ``--keep``.
    mean_impute : missing calls contribute ``2 f`` (plink2's default); False: 0 (``no-mean-imputation``).
    chunk_variants : most variants per block (blocks are also kept under about 64 MB of float64 dosages).
    threads : BLAS threads for the products (None: the process setting).

    Returns
    -------
    DataFrame in the ``.sscore`` layout: ``FID, IID, ALLELE_CT, DENOM, NAMED_ALLELE_DOSAGE_SUM``,
    ``<score>_AVG`` for every score, then ``<score>_SUM``; one row per kept sample in ``.fam``
    order. ``attrs["n_used"]``, ``attrs["skipped"]`` (reason -> count) and ``attrs["frequency"]``
    (variant ID -> named-allele frequency) describe the run.
    """
    W = _weights_frame(weights)
    names = [str(c) for c in W.columns[2:]]
    bedfile = BedFile(bfile)
    pfx, fam, bim, n_all, m = bedfile.prefix, bedfile.fam, bedfile.bim, bedfile.n, bedfile.m
    rows = keep_rows(fam, keep)
    # variant matching
    dup_ids = bim["id"][bim["id"].duplicated(keep=False)]
    if W["ID"].isin(set(dup_ids)).any():
        raise CardiolatentError(f"variant {W['ID'][W['ID'].isin(set(dup_ids))].iloc[0]} appears more than once in "
                                f"{pfx}.bim (plink2 --score stops too; give unique IDs)")
    where = pd.Series(np.arange(m), index=bim["id"].to_numpy()).reindex(W["ID"].to_numpy())
    in_bim = where.notna().to_numpy()
    j = where.fillna(-1).to_numpy(dtype=np.int64)
    alt = np.where(in_bim, bim["a1"].to_numpy(dtype=object)[np.maximum(j, 0)], None)
    ref = np.where(in_bim, bim["a2"].to_numpy(dtype=object)[np.maximum(j, 0)], None)
    a = W["A1"].to_numpy(dtype=object)
    is_alt, is_ref = in_bim & (a == alt), in_bim & (a == ref) & (a != alt)
    use = is_alt | is_ref
    skipped = {"id_not_in_bim": int((~in_bim).sum()), "allele_mismatch": int((in_bim & ~use).sum())}
    code = chrom_codes(bim["chrom"])[np.maximum(j, 0)]
    non_auto = use & ~((code >= 1) & (code <= 22))
    if non_auto.any():
        raise CardiolatentError(f"variant {W['ID'][non_auto].iloc[0]} is not on an autosome; score chromosomes X, Y, "
                                "XY and MT with plink2 --score")
    if (W.loc[use, "ID"].duplicated()).any():
        raise CardiolatentError(f"variant {W.loc[use, 'ID'][W.loc[use, 'ID'].duplicated()].iloc[0]} is listed with "
                                "both of its alleles; give one line per variant")
    idx = np.flatnonzero(use)
    order = idx[np.argsort(j[idx], kind="stable")]  # read the .bed in file order
    vj, v_alt = j[order], is_alt[order]
    Wm = W[names].to_numpy(dtype=np.float64)[order]
    keys = set(zip(fam["fid"], fam["iid"]))
    founders = ~np.array([(f, d) in keys or (f, mo) in keys for f, d, mo in
                          zip(fam["fid"], fam["father"], fam["mother"])], dtype=bool)[rows]
    n, k = rows.size, len(names)
    all_rows = rows.size == n_all and bool(np.all(rows == np.arange(n_all)))
    all_founders = bool(founders.all())
    # named dosage d = c + s * (ALT count): s = +1, c = 0 for ALT; s = -1, c = 2 for REF. So the
    # scores are (ALT counts) @ (s * W) + c @ W, and the last column of the product (weight s)
    # gives the named-dosage sum; a missing call gets the ALT count that yields its contribution
    # (2 f_ALT with mean imputation, i.e. 2 f_named; else the count giving 0).
    sgn = np.where(v_alt, 1.0, -1.0)
    c0 = np.where(v_alt, 0.0, 2.0)
    Wa = np.hstack([Wm * sgn[:, None], sgn[:, None]])
    acc = np.zeros((n, k + 1))
    n_miss = np.zeros(n, dtype=np.int64)
    miss_dose = np.zeros(n)     # named dosage the fill values put into the last column
    freqs = np.full(order.size, np.nan)
    # blocks of at most ``chunk_variants`` and about 64 MB of float64 dosages, written into one reused
    # buffer (a fresh 400 MB array per block cost more in page faults than the product itself)
    step = max(1, min(int(chunk_variants), (64 << 20) // (8 * max(n_all, 1))))
    buf = np.empty((min(step, max(order.size, 1)), n_all))
    with threadpool_limits(limits=threads) if threads else contextlib.nullcontext():
        for s in range(0, order.size, step):
            sl = slice(s, s + step)
            g = bedfile.counts(vj[sl])  # (b, n_all) int8 ALT counts, -1 missing
            if not all_rows:
                g = g[:, rows]
            gf = g if all_founders else g[:, founders]
            miss_f = (gf < 0).sum(axis=1)
            cnt = gf.shape[1] - miss_f
            with np.errstate(invalid="ignore", divide="ignore"):
                f_alt = (gf.sum(axis=1, dtype=np.int64) + miss_f) / (2.0 * cnt)
            freqs[sl] = np.where(v_alt[sl], f_alt, 1.0 - f_alt)
            zero = np.where(v_alt[sl], 0.0, 2.0)  # the ALT count whose named dosage is 0
            fill = np.where(np.isfinite(f_alt), 2.0 * f_alt, zero) if mean_impute else zero
            D = buf[: g.shape[0], : g.shape[1]]
            np.copyto(D, g, casting="unsafe")
            vi, pi = np.nonzero(g < 0)
            if vi.size:
                D[vi, pi] = fill[vi]
                n_miss += np.bincount(pi, minlength=n)
                miss_dose += np.bincount(pi, weights=c0[sl][vi] + sgn[sl][vi] * fill[vi], minlength=n)
            acc += D.T @ Wa[sl]
    sums = acc[:, :k] + c0 @ Wm
    dosage_sum = acc[:, k] + c0.sum() - miss_dose
    allele_ct = 2 * (order.size - n_miss)
    denom = np.full(n, 2.0 * order.size) if mean_impute else allele_ct.astype(np.float64)
    out = pd.DataFrame({"FID": fam["fid"].to_numpy()[rows], "IID": fam["iid"].to_numpy()[rows],
                        "ALLELE_CT": allele_ct, "DENOM": denom, "NAMED_ALLELE_DOSAGE_SUM": dosage_sum})
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = sums / denom[:, None]
    out = pd.concat([out, pd.DataFrame(avg, columns=[f"{c}_AVG" for c in names]),
                     pd.DataFrame(sums, columns=[f"{c}_SUM" for c in names])], axis=1)
    out.attrs["n_used"] = int(order.size)
    out.attrs["skipped"] = skipped
    out.attrs["frequency"] = dict(zip(W["ID"].to_numpy()[order].tolist(), freqs.tolist()))
    return out


# --------------------------------------------------------------------------------------------
# the real plink2
# --------------------------------------------------------------------------------------------

def read_sscore(path: str | os.PathLike) -> pd.DataFrame:
    """A plink2 ``.sscore`` file (``#FID IID ...``) as a DataFrame (``#FID`` -> ``FID``; ids as str)."""
    df = read_table(path, what="plink2 .sscore file", dtype={"#FID": str, "#IID": str, "IID": str})
    return df.rename(columns={"#FID": "FID", "#IID": "IID"})


def plink2_score(bfile: str | os.PathLike, weights, out_prefix: str | os.PathLike | None = None, *, keep=None,
                 mean_impute: bool = True, plink2: str | None = None, threads: int = 1,
                 memory_mb: int = 2000) -> pd.DataFrame:
    """Score with the real ``plink2 --score`` (the command :meth:`PrsWeights.plink2_command` prints) and
    read its ``.sscore`` back (:func:`read_sscore`). ``keep``: a keep file (``FID IID``) or ids
    (written to a keep file with the FIDs of the ``.fam``). ``out_prefix``: where plink2 writes
    (default a temporary folder, removed). Raises with the end of plink2's log on failure."""
    exe = plink2 or shutil.which("plink2")
    if exe is None:
        raise CardiolatentError("plink2 is not on PATH (give plink2=PATH, or score with score_bed)")
    pfx = BedFile(bfile).prefix
    W = _weights_frame(weights)
    k = W.shape[1] - 2
    with tempfile.TemporaryDirectory(prefix="prs_") as tmp:
        tmp = Path(tmp)
        score = tmp / "score.txt"
        W.to_csv(score, sep="\t", index=False, float_format="%.17g", lineterminator="\n")
        prefix = Path(out_prefix) if out_prefix is not None else tmp / "scores"
        cmd = [exe, "--bfile", str(pfx), "--score", str(score), "1", "2", "header-read"]
        if not mean_impute:
            cmd.append("no-mean-imputation")
        cmd += ["cols=+scoresums", "--score-col-nums", "3" if k == 1 else f"3-{2 + k}",
                "--threads", str(int(threads)), "--memory", str(int(memory_mb)), "--out", str(prefix)]
        if keep is not None:
            if isinstance(keep, (str, os.PathLike)):
                kf = Path(keep)
            else:
                fam = pd.read_csv(pfx.with_name(pfx.name + ".fam"), sep=r"\s+", header=None, dtype=str,
                                  usecols=[0, 1], names=["fid", "iid"])
                sel = fam[fam["iid"].isin({str(x) for x in keep})]
                kf = tmp / "keep.txt"
                sel.to_csv(kf, sep="\t", header=False, index=False)
            cmd[3:3] = ["--keep", str(kf)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        log = prefix.with_name(prefix.name + ".log")
        if res.returncode != 0:
            text = log.read_text() if log.exists() else res.stdout + res.stderr
            raise CardiolatentError(f"plink2 --score failed (exit {res.returncode}):\n{text[-1500:]}")
        out = read_sscore(prefix.with_name(prefix.name + ".sscore"))
        out.attrs["log"] = log.read_text() if log.exists() else ""
    return out


# --------------------------------------------------------------------------------------------
# discovery / target split
# --------------------------------------------------------------------------------------------

@dataclass
class CohortSplit:
    """Participants split into ``discovery`` and ``target`` (sorted int64 eids); relatives on one side.

    ``families``: eid -> family number (connected components of the related pairs; a person without
    relatives is a family of one); ``info``: seed, fraction, counts, pairs used.
    """

    discovery: np.ndarray
    target: np.ndarray
    info: dict = field(default_factory=dict)
    families: pd.Series | None = None

    def write(self, out: str | os.PathLike, samples: str | os.PathLike | None = None) -> dict[str, Path]:
        """Write the folder ``out`` as a unit: ``discovery.eids`` / ``target.eids`` (one eid per line) and,
        with the genotype ``samples`` (``.fam``), ``discovery.keep`` / ``target.keep`` (``FID IID``, plink2
        ``--keep``) and ``discovery.fam`` / ``target.fam`` (the ``.fam`` lines: ``cardiolatent export
        --samples discovery.fam`` exports the discovery set only); ``split.json`` records the split."""
        out = Path(out)
        files: dict[str, Path] = {}
        fam_lines = None
        if samples is not None:
            sl = read_sample_list(samples)
            if sl.kind != "fam":
                raise CardiolatentError(f"{samples}: give the .fam of the genotypes (a {sl.kind} file was given)")
            fam_lines = [ln for ln in Path(samples).read_text().splitlines() if ln.strip()]
            fam_eid = sl.eid
        with atomic_dir(out, marker=_SPLIT_MARKER) as tmp:
            for side, eids in (("discovery", self.discovery), ("target", self.target)):
                write_text_atomic(tmp / f"{side}.eids", "".join(f"{e}\n" for e in eids.tolist()))
                files[f"{side}_eids"] = out / f"{side}.eids"
                if fam_lines is not None:
                    hit = np.isin(fam_eid, eids)
                    lines = [fam_lines[i] for i in np.flatnonzero(hit)]
                    write_text_atomic(tmp / f"{side}.fam", "".join(ln + "\n" for ln in lines))
                    write_text_atomic(tmp / f"{side}.keep", "".join(
                        "\t".join(ln.split()[:2]) + "\n" for ln in lines))
                    files[f"{side}_fam"] = out / f"{side}.fam"
                    files[f"{side}_keep"] = out / f"{side}.keep"
            write_text_atomic(tmp / _SPLIT_MARKER, json.dumps(self.info, indent=2, default=str) + "\n")
        files["info"] = out / _SPLIT_MARKER
        return files


def related_pairs(related, kinship_threshold: float | None) -> pd.DataFrame:
    """(id1, id2) int64 pairs from a DataFrame or a file (a kinship table read by
    :func:`cardiolatent.exports.samples.read_king`, or two id columns)."""
    if related is None:
        return pd.DataFrame({"id1": np.zeros(0, np.int64), "id2": np.zeros(0, np.int64)})
    if isinstance(related, (str, os.PathLike)):
        path = Path(related)
        if not path.is_file():
            raise CardiolatentError(f"relatedness table not found: {path}")
        head = path.read_text(errors="replace").splitlines()[:1]
        if head and "KINSHIP" in head[0].upper():
            df = read_king(path)
        else:
            df = _read_whitespace(path, "relatedness table", dtype=str)
    else:
        df = related.copy()
    cols = {str(c).lstrip("#").lower(): c for c in df.columns}
    pick = next(((cols[a], cols[b]) for a, b in (("id1", "id2"), ("eid1", "eid2"), ("iid1", "iid2"))
                 if a in cols and b in cols), None)
    if pick is None:
        pick = tuple(df.columns[:2]) if df.shape[1] >= 2 else None
    if pick is None:
        raise CardiolatentError("the relatedness table needs two id columns (eid1, eid2 / ID1, ID2 / IID1, IID2)")
    a = pd.to_numeric(df[pick[0]], errors="coerce")
    b = pd.to_numeric(df[pick[1]], errors="coerce")
    ok = a.notna() & b.notna()
    if kinship_threshold is not None and "kinship" in cols:
        ok &= pd.to_numeric(df[cols["kinship"]], errors="coerce") > kinship_threshold
    return pd.DataFrame({"id1": a[ok].astype(np.int64).to_numpy(), "id2": b[ok].astype(np.int64).to_numpy()})


def split_cohort(eids: Sequence[int] | np.ndarray, *, target_fraction: float = 0.5, seed: int = 0,
                 related=None, kinship_threshold: float | None = 0.0442) -> CohortSplit:
    """Split participants into discovery and target sets, keeping related pairs on the same side.

    Parameters
    ----------
    eids : the participants (duplicates ignored).
    target_fraction : share of participants in the target set (between 0 and 1, exclusive); the
        target set is filled family by family until it reaches ``round(fraction * n)`` (it may end a
        family short or over by at most the largest family's size minus one).
    seed : the random order of families (a split is fixed by its seed).
    related : related pairs: a DataFrame (``eid1, eid2`` / ``id1, id2`` [, ``kinship``]) or a file (a
        KING / PLINK 2 ``.kin0`` / UK Biobank relatedness table, or two id columns). Pairs with an id
        outside ``eids`` are ignored.
    kinship_threshold : with a kinship column, pairs above it are related (0.0442: third degree or
        closer); None uses every pair.
    """
    e = np.unique(np.asarray(eids, dtype=np.int64))
    if e.size < 2:
        raise CardiolatentError("split_cohort needs at least 2 participants")
    if not 0 < target_fraction < 1:
        raise CardiolatentError(f"target_fraction must be between 0 and 1, not {target_fraction}")
    pairs = related_pairs(related, kinship_threshold)
    pos = pd.Series(np.arange(e.size), index=e)
    inside = pairs["id1"].isin(pos.index) & pairs["id2"].isin(pos.index)
    parent = np.arange(e.size)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(pos[pairs.loc[inside, "id1"]].tolist(), pos[pairs.loc[inside, "id2"]].tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    root = np.array([find(i) for i in range(e.size)])
    fam_id = pd.factorize(root)[0]
    n_fam = int(fam_id.max()) + 1
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_fam)
    sizes = np.bincount(fam_id, minlength=n_fam)
    want = int(round(target_fraction * e.size))
    csum = np.cumsum(sizes[order])
    n_take = int(np.searchsorted(csum, want, side="left")) + 1
    if n_take > 1 and abs(csum[n_take - 2] - want) <= abs(csum[n_take - 1] - want):
        n_take -= 1
    n_take = min(n_take, n_fam - 1)
    is_target = np.isin(fam_id, order[:n_take])
    info = {"seed": int(seed), "target_fraction": float(target_fraction), "n": int(e.size),
            "n_discovery": int((~is_target).sum()), "n_target": int(is_target.sum()), "n_families": n_fam,
            "n_related_pairs_used": int(inside.sum()), "n_pairs_outside": int((~inside).sum()),
            "largest_family": int(sizes.max()), "kinship_threshold": kinship_threshold,
            "rule": "families (connected components of related pairs) shuffled by seed fill the target set"}
    return CohortSplit(discovery=e[~is_target], target=e[is_target], info=info,
                       families=pd.Series(fam_id, index=e, name="family"))
