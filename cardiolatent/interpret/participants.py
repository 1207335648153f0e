"""Latent manipulation of many participants: their images -> latents -> x_T -> decoded edits.

:func:`manipulate_participants` is what ``cardiolatent manipulate`` runs: it picks participants
(given, or those nearest the middle of the direction), reads and prepares their cines with the
published recipe, and moves them all along one direction in batches
(:func:`manipulate_batch`: one encoding and one DDIM inversion per participant, then every
(participant, magnitude) decoding, ``batch_size`` at a time). Participants whose image cannot be
used are listed in the result's ``excluded`` table with the QC reason, never silently dropped.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.pipeline import prepare_input
from cardiolatent.images.readers import discover_inputs, qc_reason
from cardiolatent.interpret.direction import Direction, _seed_block
from cardiolatent.interpret.manipulate import manipulate_batch
from cardiolatent.interpret.result import ManipulationResult, ManipulationSummary

#: magnitudes of the command's default (m in z_norm' = z_norm + m sqrt(D) beta)
DEFAULT_MAGNITUDES = (-1.0, -0.5, 0.0, 0.5, 1.0)


def weights_fingerprint(path) -> str:
    """First 16 hex digits of the sha256 of a weights file ("" for no file)."""
    if not path or not Path(path).is_file():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def middle_participants(latents, direction: Direction, n: int = 3) -> pd.DataFrame:
    """``eid, instance, position`` of every participant-visit with the direction's latents, nearest
    the median position along the direction first (for a trait direction the position is the
    trait as the latents predict it, up to scale)."""
    L, _, names = _seed_block(latents, direction.summary.seed)
    Z = L.table[names].to_numpy(np.float64)
    ok = np.isfinite(Z).all(axis=1)
    pos = direction.project(Z[ok])
    keys = L.keys.loc[ok, ["eid", "instance"]].reset_index(drop=True)
    keys["position"] = pos
    order = np.argsort(np.abs(pos - np.median(pos)), kind="stable")
    return keys.iloc[order].reset_index(drop=True)


def parse_participants(spec: str | Sequence) -> list[tuple[int, int | None]]:
    """``"1000123,1000456_3"`` (or a list of such, or of eids, or of (eid, instance) pairs) ->
    [(eid, None), (eid, 3)]: an eid alone means its imaging visit 2 (else 3); ``EID_INSTANCE``
    names the visit."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for raw in items:
        if isinstance(raw, tuple):
            out.append((int(raw[0]), None if raw[1] is None else int(raw[1])))
            continue
        s = str(raw).strip()
        if not s:
            continue
        eid, _, inst = s.partition("_")
        try:
            out.append((int(eid), int(inst) if inst else None))
        except ValueError:
            raise CardiolatentError(f"--participants: {s!r} is not an eid or EID_INSTANCE (e.g. 1000123 or "
                                    "1000123_3)") from None
    if not out:
        raise CardiolatentError("--participants names no participant")
    return out


def _index(items: Iterable) -> dict[tuple[int, int], object]:
    """Image inputs by (eid, instance), the first of each."""
    by_key: dict[tuple[int, int], object] = {}
    for it in items:
        by_key.setdefault((int(it.eid), int(it.instance)), it)
    return by_key


def _prepare_one(by_key: dict, eid: int, inst: int | None, shape) -> tuple[tuple[int, int], np.ndarray | None, str]:
    """((eid, instance), prepared cine or None, exclusion reason or "") of one wanted participant-visit."""
    if inst is None:
        inst = next((i for i in (2, 3) if (eid, i) in by_key),
                    min((k[1] for k in by_key if k[0] == eid), default=2))
    item = by_key.get((eid, inst))
    if item is None:
        return (eid, inst), None, "no image"
    try:
        return (eid, inst), prepare_input(item, [tuple(shape)])[tuple(shape)], ""
    except Exception as exc:  # noqa: BLE001 - one bad image is an exclusion, not a stop
        reason, detail = qc_reason(exc)
        return (eid, inst), None, f"{reason}: {detail}"


def load_cines(items: Iterable, wanted: Sequence[tuple[int, int | None]], shape, *, limit: int | None = None,
               ) -> tuple[dict[tuple[int, int], np.ndarray], pd.DataFrame]:
    """Prepared cines at ``shape`` of the ``wanted`` (eid, instance-or-None) among image ``items``
    (at most ``limit`` of them, taken in order); and the exclusions (``eid, instance, reason``: no
    image, or the QC reason of a failed one)."""
    by_key = _index(items)
    cines, excluded = {}, []
    for eid, inst in wanted:
        if limit is not None and len(cines) >= limit:
            break
        key, cine, reason = _prepare_one(by_key, int(eid), inst, shape)
        if cine is None:
            excluded.append({"eid": key[0], "instance": key[1], "reason": reason})
        else:
            cines[key] = cine
    return cines, pd.DataFrame(excluded, columns=["eid", "instance", "reason"])


def manipulate_participants(model, direction: Direction, images, *, latents=None, participants=None, n: int = 3,
                            magnitudes=DEFAULT_MAGNITUDES, steps: tuple[int, int] | None = None,
                            batch_size: int = 8, dtype: str = "fp32", weights=None, nifti: bool = False,
                            progress: bool = True) -> ManipulationResult:
    """Move participants along ``direction`` and decode (module docstring).

    Parameters
    ----------
    model : :class:`cardiolatent.model.pipeline.DiffAE` of the direction's seed (whole network).
    images : image paths or folders (what ``--images`` takes).
    latents : needed when ``participants`` is None: the ``n`` participant-visits with images nearest
        the middle of the direction are used (the next ones stand in for any whose image fails).
    participants : ``"EID,EID_INSTANCE,..."``, or a list of eids / (eid, instance) pairs.
    steps : DDIM (inversion, decoding) steps; default by preset (:func:`default_steps`).
    weights : the weights file, recorded with its fingerprint.
    """
    items = discover_inputs(images)
    shape = tuple(model.input_shape)
    t0 = time.perf_counter()
    if participants is not None:
        cines, excluded = load_cines(items, parse_participants(participants), shape)
    else:
        if latents is None:
            raise CardiolatentError("name the participants, or give the latents to choose them from")
        have = {(int(it.eid), int(it.instance)) for it in items}
        ranked = [(int(e), int(i)) for e, i in middle_participants(latents, direction)[["eid", "instance"]].to_numpy()
                  if (int(e), int(i)) in have]
        cines, excluded = load_cines(items, ranked, shape, limit=n)
    if not cines:
        reasons = "; ".join(f"{r.eid}_{r.instance}: {r.reason}" for r in excluded.itertuples()) or "none found"
        raise CardiolatentError(f"no participant has a usable image ({reasons})")
    keys = list(cines)
    mans = manipulate_batch(model, np.stack([cines[k] for k in keys]), direction, magnitudes, steps=steps,
                            batch_size=batch_size, dtype=dtype, progress=progress)
    d = direction.summary
    inv, dec = mans[0].steps
    summ = ManipulationSummary(name=d.name, kind=d.kind, seed=int(d.seed), weights=str(weights or model.source or ""),
                               weights_fingerprint=weights_fingerprint(weights or model.source),
                               preset=model.config.name, magnitudes=[float(v) for v in mans[0].magnitudes],
                               inversion_steps=inv, decoding_steps=dec, device=str(model.device), dtype=dtype,
                               score=d.score, score_name=d.score_name, seconds=round(time.perf_counter() - t0, 2),
                               notes=list(d.notes))
    return ManipulationResult.build(dict(zip(keys, mans)), direction, summ, excluded, nifti=nifti)


__all__ = ["DEFAULT_MAGNITUDES", "load_cines", "manipulate_batch", "manipulate_participants",
           "middle_participants", "parse_participants", "weights_fingerprint"]
