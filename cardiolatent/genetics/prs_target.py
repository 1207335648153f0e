"""Who is scored and from when: the target participants of a polygenic-score analysis.

The paper scored UK Biobank participants outside its discovery GWAS and unrelated to it (KING
kinship < 0.0625) and followed them from the baseline assessment. :func:`target_samples` applies
the first two rules to a target ``.fam``: participants of the discovery sample are left out
(``in_discovery_gwas``), then those related to anyone in it above a kinship threshold
(``related_to_discovery``), each counted with its reason. :func:`follow_from_instance` decides
where follow-up starts: the baseline assessment (instance 0) or the first imaging visit
(instance 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.samples import read_id_list, read_sample_list
from cardiolatent.genetics.prs import keep_rows, related_pairs
from cardiolatent.ukb.covariates import as_wide, column_name

__all__ = ["TargetSamples", "target_samples", "read_discovery_ids", "follow_from_instance", "FOLLOW_FROM",
           "DISCOVERY_KINSHIP"]

#: kinship above which a target participant counts as related to the discovery sample (the paper kept
#: target participants with KING kinship < 0.0625 to everyone in its discovery GWAS)
DISCOVERY_KINSHIP = 0.0625
#: ``--follow-from`` choices
FOLLOW_FROM = ("auto", "baseline", "imaging")
_SAMPLE_SUFFIXES = (".fam", ".psam", ".sample")


def read_discovery_ids(source) -> np.ndarray:
    """Sorted unique eids of the discovery sample: ids (a sequence), or a file: a ``.fam`` / ``.psam`` /
    ``.sample`` of the discovery genotypes, or any list with the eid (or ``FID IID``, the IID used) first
    on each line: a keep file, a withdrawals-style list, the exported phenotype file (``FID IID ...``)."""
    if source is None:
        return np.zeros(0, np.int64)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise CardiolatentError(f"--discovery-samples {path} does not exist")
        if path.suffix.lower() in _SAMPLE_SUFFIXES:
            eid = read_sample_list(path).eid
            return np.unique(eid[eid >= 0])
        return read_id_list(path, what="discovery sample list")
    try:
        return np.unique(np.asarray(list(source), dtype=np.int64))
    except (TypeError, ValueError) as exc:
        raise CardiolatentError(f"the discovery samples must be eids (integers): {exc}") from None


@dataclass
class TargetSamples:
    """The target participants to score: ``iids`` (the ``.fam`` IIDs kept, in file order) and
    ``excluded`` (``eid, reason``: ``in_discovery_gwas`` / ``related_to_discovery``); ``info``: counts."""

    iids: list
    excluded: pd.DataFrame
    info: dict = field(default_factory=dict)

    @property
    def keep(self) -> list | None:
        """What the scorers' ``keep`` takes: None when nobody was left out (score the whole file)."""
        return None if self.info.get("everyone") else self.iids


def target_samples(fam: pd.DataFrame, *, keep=None, discovery=None, related=None,
                   kinship_threshold: float = DISCOVERY_KINSHIP) -> TargetSamples:
    """The target participants of ``fam`` (a ``.fam`` table with ``iid``) to score.

    ``keep``: ids or a keep file / ``.fam`` (as the scorers take it); default everyone. ``discovery``:
    the discovery sample (see :func:`read_discovery_ids`); its participants are left out. ``related``:
    a kinship table (KING / PLINK 2 ``.kin0``, UK Biobank's relatedness file) or a DataFrame of pairs;
    target participants with kinship above ``kinship_threshold`` to anyone of the discovery sample are
    left out (needs ``discovery``). An error when nobody is left.
    """
    rows = keep_rows(fam, keep)
    iids = fam["iid"].iloc[rows].astype(str).tolist()
    eid = pd.to_numeric(pd.Series(iids), errors="coerce")
    if related is not None and discovery is None:
        raise CardiolatentError("--kinship needs --discovery-samples (whom the target must be unrelated to)")
    disc = read_discovery_ids(discovery)
    reason = pd.Series(pd.NA, index=range(len(iids)), dtype="string")
    known = eid.notna().to_numpy()
    e = eid.fillna(-1).astype(np.int64).to_numpy()
    in_disc = known & np.isin(e, disc)
    reason[in_disc] = "in_discovery_gwas"
    n_pairs = 0
    if related is not None:
        pairs = related_pairs(related, kinship_threshold)
        n_pairs = int(len(pairs))
        a, b = pairs["id1"].to_numpy(), pairs["id2"].to_numpy()
        kin = np.concatenate([b[np.isin(a, disc)], a[np.isin(b, disc)]])
        rel = known & ~in_disc & np.isin(e, kin)
        reason[rel] = "related_to_discovery"
    out = reason.isna().to_numpy()
    if not out.any():
        raise CardiolatentError(f"every one of the {len(iids):,} target participants is in the discovery sample "
                                "or related to it: nobody is left to score")
    excluded = pd.DataFrame({"eid": e[~out], "reason": reason[~out].astype(str).to_numpy()})
    info = {"n_target_file": int(len(fam)), "n_kept": int(len(iids)), "n_scored": int(out.sum()),
            "in_discovery_gwas": int(in_disc.sum()), "related_to_discovery": int((reason == "related_to_discovery").sum()),
            "discovery_n": int(disc.size), "kinship_threshold": float(kinship_threshold) if related is not None else None,
            "kinship_pairs": n_pairs, "everyone": bool(keep is None and out.all())}
    return TargetSamples([iids[i] for i in np.flatnonzero(out)], excluded, info)


def follow_from_instance(main: Any, eids: Sequence[int], follow_from: str = "auto") -> tuple[int, str]:
    """``(instance, why)``: where follow-up of the target starts. ``baseline``: the baseline assessment
    (instance 0, field 53-0.0); ``imaging``: the first imaging visit (instance 2, 53-2.0); ``auto``: the
    imaging visit when every one of ``eids`` has a date there (a target of imaged participants, as the
    built-in target cohort), else the baseline assessment (UK Biobank participants outside the imaging
    study have only that)."""
    if follow_from not in FOLLOW_FROM:
        raise CardiolatentError(f"--follow-from must be one of {', '.join(FOLLOW_FROM)}, not {follow_from!r}")
    if follow_from == "baseline":
        return 0, "the baseline assessment (instance 0), as asked"
    if follow_from == "imaging":
        return 2, "the first imaging visit (instance 2), as asked"
    wide = as_wide(main)
    col = column_name(53, 2, 0)
    if col in wide.columns:
        d = pd.to_datetime(wide[col], errors="coerce").reindex(np.asarray(eids, dtype=np.int64))
        if len(d) and d.notna().all():
            return 2, "the first imaging visit (instance 2): every target participant has one"
        n_img = int(d.notna().sum())
    else:
        n_img = 0
    return 0, (f"the baseline assessment (instance 0): {len(eids) - n_img:,} of {len(eids):,} target participants "
               "have no imaging visit")
