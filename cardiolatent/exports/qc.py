"""Sample QC for a GWAS export: filters applied in a fixed order, each participant counted once.

A participant is counted under the *first* filter they fail, so ``written + sum(excluded) ==
participants in the latents table`` (:data:`FILTERS` lists the order). :class:`QCTracker` remembers
each row's first failing filter; :func:`apply_sample_qc` runs the filters after
``latents_missing`` (which :func:`cardiolatent.exports.phenotypes.prepare_export` applies first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports import samples as smp
from cardiolatent.exports.covariates import drop_all_missing_covariates

__all__ = ["FILTERS", "SampleQC", "QCTracker", "QCOutcome", "apply_sample_qc"]

#: sample-QC filters in the order applied: (reason code, meaning)
FILTERS: tuple[tuple[str, str], ...] = (
    ("latents_missing", "no value for any chosen latent (long tables: a seed missing at the imaging visit)"),
    ("withdrawn", "listed in the withdrawals file"),
    ("not_in_main_data", "eid not in the main data file"),
    ("no_visit_date", "no date of attending (field 53) at the latents' imaging visit"),
    ("imaging_qc", "the visit's images failed QC (the encoder's QC table)"),
    ("not_in_genotypes", "not in the genotype sample list (.fam/.psam/.sample)"),
    ("genetic_ethnic_grouping", "genetic ethnic grouping (22006) not 1 (Caucasian) or missing"),
    ("sex_mismatch", "reported sex (31) differs from genetic sex (22001)"),
    ("missing_covariate", "a covariate is missing"),
    ("related", "removed for relatedness (removal list, or kinship above the threshold)"),
)


@dataclass
class SampleQC:
    """Sample-QC options (each None/False = off). Files are paths; see :mod:`cardiolatent.exports.samples`.

    ``samples``: genotype sample list (path or :class:`~cardiolatent.exports.samples.SampleList`);
    ``withdrawals``: eids to drop; ``imaging_qc``: the encoder's QC table (path or DataFrame);
    ``white_british``: keep 22006 == 1; ``sex_mismatch``: drop 31 != 22001;
    ``king``: kinship table (path or DataFrame ``id1, id2, kinship``) with ``kinship_threshold``
    (default 0.0884: second-degree relatives or closer); ``remove_related``: eids to remove.
    """

    samples: Any = None
    withdrawals: Any = None
    imaging_qc: Any = None
    white_british: bool = False
    sex_mismatch: bool = False
    king: Any = None
    kinship_threshold: float = 0.0884
    remove_related: Any = None


class QCTracker:
    """Applies filters in order; remembers each row's first failing filter."""

    def __init__(self, keys: pd.DataFrame):
        self.keys = keys
        self.alive = np.ones(len(keys), bool)
        self.reason = np.full(len(keys), None, dtype=object)
        self.detail = np.full(len(keys), "", dtype=object)
        self.counts: list[dict] = []

    def apply(self, reason: str, fail: np.ndarray, detail: np.ndarray | str | None = None, *,
              active: bool = True) -> None:
        fail = np.asarray(fail, bool) & self.alive if active else np.zeros(len(self.alive), bool)
        self.reason[fail] = reason
        if detail is not None:
            d = np.asarray(detail, dtype=object) if not isinstance(detail, str) else np.full(len(fail), detail, object)
            self.detail[fail] = d[fail]
        self.alive &= ~fail
        desc = dict(FILTERS)[reason]
        self.counts.append({"reason": reason, "description": desc, "applied": bool(active),
                            "excluded": int(fail.sum()), "remaining": int(self.alive.sum())})

    def skip(self, reason: str) -> None:
        """Count a filter that is switched off (nobody excluded)."""
        self.apply(reason, np.zeros(len(self.alive), bool), active=False)


@dataclass
class QCOutcome:
    """What sample QC found besides the tracker: the sample list read, kinship counts, covariates kept."""

    sample_list: Any = None
    kin_info: dict = field(default_factory=dict)
    covariates_kept: list[str] = field(default_factory=list)


def _read_path_or_frame(obj, reader):
    if obj is None:
        return None
    if isinstance(obj, pd.DataFrame):
        return obj
    return reader(obj)


def _withdrawn(T: QCTracker, eids, qc: SampleQC) -> None:
    if qc.withdrawals is None:
        return T.skip("withdrawn")
    T.apply("withdrawn", np.isin(eids, smp.read_id_list(qc.withdrawals, "withdrawals file")))


def _imaging_qc(T: QCTracker, keys, eids, qc: SampleQC) -> None:
    if qc.imaging_qc is None:
        return T.skip("imaging_qc")
    q = _read_path_or_frame(qc.imaging_qc, smp.read_imaging_qc)
    inst = keys["instance"].to_numpy(np.int64)
    any_visit = set(q.loc[q["instance"].isna(), "eid"].astype(np.int64).tolist())
    by_visit = set(zip(q.loc[q["instance"].notna(), "eid"].astype(np.int64).tolist(),
                       q.loc[q["instance"].notna(), "instance"].astype(np.int64).tolist()))
    fail = np.array([(e in any_visit) or ((e, i) in by_visit) for e, i in zip(eids.tolist(), inst.tolist())],
                    dtype=bool)
    why = q.groupby("eid")["reason"].first().reindex(eids).fillna("").astype(str).to_numpy(object)
    T.apply("imaging_qc", fail, why)


def _in_genotypes(T: QCTracker, eids, qc: SampleQC):
    if qc.samples is None:
        T.skip("not_in_genotypes")
        return None
    sample_list = qc.samples if isinstance(qc.samples, smp.SampleList) else smp.read_sample_list(qc.samples)
    if not np.isin(eids, sample_list.eid).any():
        raise CardiolatentError(
            f"none of the {len(eids)} participants of the latents table is in {sample_list.path} "
            f"({sample_list.n} samples, IIDs e.g. {', '.join(map(str, sample_list.iid[:3]))}): the genotype "
            "files must use the eids of this application (pass the .fam/.psam/.sample of those files)")
    T.apply("not_in_genotypes", ~np.isin(eids, sample_list.eid), f"not in {sample_list.path.name}")
    return sample_list


def _ancestry_and_sex(T: QCTracker, V, qc: SampleQC) -> None:
    if qc.white_british:
        g = V.table["genetic_ethnic_grouping"].to_numpy(np.float64)
        T.apply("genetic_ethnic_grouping", ~(g == 1),
                np.where(np.isnan(g), "22006 missing", "22006 = " + pd.Series(g).astype(str).to_numpy()))
    else:
        T.skip("genetic_ethnic_grouping")
    if qc.sex_mismatch:
        s, gs = V.table["sex"].to_numpy(np.float64), V.table["genetic_sex"].to_numpy(np.float64)
        T.apply("sex_mismatch", ~np.isnan(s) & ~np.isnan(gs) & (s != gs))
    else:
        T.skip("sex_mismatch")


def _missing_covariate(T: QCTracker, V, cov_names: list[str], notes: list[str]) -> list[str]:
    cov_kept = drop_all_missing_covariates(V, cov_names, T.alive, notes)
    if cov_kept:
        cm = np.isnan(V.table[cov_kept].to_numpy(np.float64))
        which = np.array([",".join(np.array(cov_kept)[row]) for row in cm], dtype=object)
        T.apply("missing_covariate", cm.any(axis=1), which)
    else:
        T.apply("missing_covariate", np.zeros(len(T.alive), bool))
    return cov_kept


def _related(T: QCTracker, eids, qc: SampleQC) -> dict:
    active = qc.remove_related is not None or qc.king is not None
    fail = np.zeros(len(eids), bool)
    detail = np.full(len(eids), "", dtype=object)
    kin_info: dict = {}
    if qc.remove_related is not None:
        rm = smp.read_id_list(qc.remove_related, "relatedness removal list")
        hit = np.isin(eids, rm) & T.alive
        fail |= hit
        detail[hit] = "in the removal list"
    if qc.king is not None:
        pairs = _read_path_or_frame(qc.king, smp.read_king)
        cand = eids[T.alive & ~fail]
        rm2 = smp.related_to_remove(pairs, cand, qc.kinship_threshold)
        hit = np.isin(eids, rm2) & T.alive & ~fail
        fail |= hit
        detail[hit] = f"kinship > {qc.kinship_threshold:g} with another participant"
        n_pairs = int(((pairs["kinship"] > qc.kinship_threshold) & pairs["id1"].isin(cand)
                       & pairs["id2"].isin(cand)).sum())
        kin_info = {"pairs_in_table": int(len(pairs)), "pairs_above_threshold_among_candidates": n_pairs,
                    "threshold": float(qc.kinship_threshold)}
    T.apply("related", fail, detail, active=active)
    return kin_info


def apply_sample_qc(T: QCTracker, keys: pd.DataFrame, wide: pd.DataFrame, V, qc: SampleQC,
                    cov_names: list[str], notes: list[str]) -> QCOutcome:
    """Every filter of :data:`FILTERS` after ``latents_missing``, in order, on tracker ``T``.

    ``keys``: ``eid, instance`` of the rows; ``wide``: the main data (index eid); ``V``: the
    participant variables of the rows (covariates, 22006, sex, genetic sex). Covariates missing for
    everyone left are dropped (noted) before the ``missing_covariate`` filter.
    """
    eids = keys["eid"].to_numpy(np.int64)
    _withdrawn(T, eids, qc)
    T.apply("not_in_main_data", ~np.isin(eids, wide.index.to_numpy()))
    has_visit = V.has_visit if V.has_visit is not None else np.ones(len(eids), bool)
    T.apply("no_visit_date", ~has_visit, "no field 53 at instance " + keys["instance"].astype(str).to_numpy())
    _imaging_qc(T, keys, eids, qc)
    sample_list = _in_genotypes(T, eids, qc)
    _ancestry_and_sex(T, V, qc)
    cov_kept = _missing_covariate(T, V, cov_names, notes)
    kin_info = _related(T, eids, qc)
    return QCOutcome(sample_list=sample_list, kin_info=kin_info, covariates_kept=cov_kept)
