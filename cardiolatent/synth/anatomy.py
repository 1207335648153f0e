"""Model-independent measurement of the left ventricle in decoded images of phantom participants.

Latent manipulation moves a participant's latents along a direction (e.g. "LV end-diastolic
volume") and decodes them with the diffusion autoencoder; whether the decoded heart really
changed must be measured without the model. This module gives the pieces for that check (and
for its tests, ``tests/test_synth_anatomy.py``):

* :func:`render_visit` re-renders exactly the cine a synthetic cohort folder holds for one
  visit (same pixels as its bulk zip), now with the phantom's label map;
* :func:`label_fractions` carries that label map through the same crop and resampling as the
  image preparation, giving per-label fraction maps on the model's pixel grid;
* :func:`lv_blood_area` measures the LV blood pool in prepared or decoded cines with a plain
  intensity threshold inside the LV region of interest (a soft blood fraction per pixel).

Units: areas are in model pixels (pixels of the prepared / resampled grid, not mm^2);
intensities are those of prepared volumes, in [-1, 1].
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.prepare import CROP_SIZE, crop, heart_mask, resample
from cardiolatent.synth.build import IMAGE_PARAMS, VIEWS, _image_rng, bmi_ratios, person_nuisance
from cardiolatent.synth.phantom import LABELS, Cine, draw_acquisition, render_cine

#: region of interest: pixels whose LV cavity + myocardium fraction exceeds this (then dilated)
ROI_FRACTION = 0.05
#: pixels of the reference whose LV cavity fraction exceeds this give the blood intensity
BLOOD_FRACTION = 0.9
#: pixels of the reference whose LV myocardium fraction exceeds this give the tissue intensity
TISSUE_FRACTION = 0.5


# --------------------------------------------------------------------------------------------
# re-rendering a cohort's visit
# --------------------------------------------------------------------------------------------

def _cohort_info(root: Path) -> dict:
    """``cohort.json`` of a synthetic cohort folder, or :class:`CardiolatentError`."""
    info_file = root / "cohort.json"
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError):
        raise CardiolatentError(f"{root} is not a synthetic cohort folder (no readable cohort.json)") from None
    if info.get("generator") != "cardiolatent synth" or "seed" not in info:
        raise CardiolatentError(f"{root} is not a synthetic cohort folder ({info_file} was not written by "
                                "cardiolatent synth)")
    return info


def _visit_row(root: Path, eid: int, instance: int) -> tuple[dict, float]:
    """True image parameters and BMI ratio of visit ``(eid, instance)``, as the build used them."""
    path = root / "truth" / "participants.tsv"
    if not path.exists():
        raise CardiolatentError(f"{root} is not a synthetic cohort folder (no {path.relative_to(root)})")
    # round_trip: the exact floats the build handed to the renderer
    parts = pd.read_csv(path, sep="\t", float_precision="round_trip")
    ratios = bmi_ratios(parts)
    hit = np.flatnonzero((parts["eid"].to_numpy() == eid) & (parts["instance"].to_numpy() == instance))
    if hit.size == 0:
        if not (parts["eid"] == eid).any():
            raise CardiolatentError(f"participant eid {eid} is not in the synthetic cohort at {root}")
        have = sorted(parts.loc[parts["eid"] == eid, "instance"].astype(int))
        raise CardiolatentError(f"participant eid {eid} has no imaging visit {instance} in the synthetic "
                                f"cohort at {root} (visits: {have})")
    row = parts.iloc[int(hit[0])]
    params = {k: float(row[k]) for k in IMAGE_PARAMS if k in parts.columns}
    return params, float(ratios[int(hit[0])])


def render_visit(root: str | Path, eid: int, instance: int, view: str = "4Ch", *, labels: bool = True) -> Cine:
    """Re-render the cine series of view ``view`` that cohort folder ``root`` holds for
    participant ``eid``'s imaging visit ``instance`` (pixels identical to its bulk zip).

    The visit's image stream is drawn by the views in the order ``VIEWS``; the views before
    ``view`` are drawn (not rendered) with :func:`~cardiolatent.synth.phantom.draw_acquisition`,
    which consumes the stream as rendering does. ``labels`` adds the hard label map
    (``Cine.labels``, uint8 (frames, rows, cols), :data:`LABELS`); it draws nothing random.

    Raises :class:`CardiolatentError` for a folder that is not a synthetic cohort, an unknown
    eid or visit, or an unknown view.
    """
    root = Path(root)
    if view not in VIEWS:
        raise CardiolatentError(f"unknown view {view!r}; expected one of {VIEWS}")
    seed = int(_cohort_info(root)["seed"])
    eid, instance = int(eid), int(instance)
    params, ratio = _visit_row(root, eid, instance)
    rng = _image_rng(seed, eid, instance)
    person = person_nuisance(seed, eid)
    for before in VIEWS[:VIEWS.index(view)]:
        draw_acquisition(before, rng, person=person, bmi_ratio=ratio)
    return render_cine(params, view=view, rng=rng, person=person, bmi_ratio=ratio, labels=labels)


# --------------------------------------------------------------------------------------------
# labels on the model grid
# --------------------------------------------------------------------------------------------

def label_fractions(cine: Cine, shape: Sequence[int], *, size: int = CROP_SIZE) -> dict[str, np.ndarray]:
    """Per label of :data:`LABELS`: the fraction of each model pixel it covers, float32 (T', H', W').

    Aligned with ``resample(prepare(cine.pixels), shape)``: the crop window is found from
    ``cine.pixels`` (:func:`heart_mask`), each label indicator (0/1) is zero-padded and cropped
    like the pixels (padding counts as background), then averaged down by :func:`resample`
    (a box filter for integer factors). ``shape`` (T', H', W') is the model input shape, e.g.
    ``(10, 32, 32)``; ``(50, 128, 128)`` keeps the prepared grid. The maps lie in [0, 1] and
    sum to 1 over labels at every pixel.
    """
    if cine.labels is None:
        raise CardiolatentError("label_fractions needs a cine rendered with labels=True")
    lab = crop(cine.labels, heart_mask(cine.pixels), size)
    return {name: resample((lab == value).astype(np.float32), shape) for name, value in LABELS.items()}


# --------------------------------------------------------------------------------------------
# threshold segmentation of the LV blood pool
# --------------------------------------------------------------------------------------------

#: the chambers :func:`blood_area` measures: (cavity label, wall label or None)
CHAMBERS = {"lv": ("lv_cavity", "lv_myocardium"), "la": ("la", None), "rv": ("rv_cavity", "rv_myocardium"),
            "ra": ("ra", None)}
#: pixels mostly (> this fraction) inside another chamber's cavity are left out of a region
OTHER_FRACTION = 0.5


def chamber_roi(fractions: Mapping[str, np.ndarray], chamber: str = "lv", frame: int = 0) -> np.ndarray:
    """Region of interest of ``chamber`` (:data:`CHAMBERS`) at model frame ``frame``: bool (H', W'),
    pixels whose cavity + wall fraction exceeds :data:`ROI_FRACTION`, dilated by one pixel, less
    the pixels mostly inside another chamber's cavity (so a septum moving into the RV counts as LV
    growth, not as LV blood traded for RV blood)."""
    if chamber not in CHAMBERS:
        raise CardiolatentError(f"unknown chamber {chamber!r}; use one of {', '.join(CHAMBERS)}")
    cavity, wall = CHAMBERS[chamber]
    own = fractions[cavity][frame] + (fractions[wall][frame] if wall else 0.0)
    others = sum(fractions[c][frame] for name, (c, _) in CHAMBERS.items() if name != chamber)
    return ndimage.binary_dilation(own > ROI_FRACTION) & ~(others > OTHER_FRACTION)


def lv_roi(fractions: Mapping[str, np.ndarray], frame: int = 0) -> np.ndarray:
    """:func:`chamber_roi` of the LV."""
    return chamber_roi(fractions, "lv", frame)


def blood_tissue_levels(reference: np.ndarray, fractions: Mapping[str, np.ndarray], frame: int = 0,
                        chamber: str = "lv") -> tuple[float, float]:
    """(blood, tissue) intensities of cine ``reference`` (T', H', W') at model frame ``frame``:
    means over pixels with the chamber's cavity fraction > :data:`BLOOD_FRACTION` and LV
    myocardium fraction > :data:`TISSUE_FRACTION`."""
    img = np.asarray(reference, dtype=np.float64)[frame]
    levels = []
    for name, cut in ((CHAMBERS[chamber][0], BLOOD_FRACTION), ("lv_myocardium", TISSUE_FRACTION)):
        pick = fractions[name][frame] > cut
        if not pick.any():
            raise CardiolatentError(f"no model pixel of frame {frame} has a {name} fraction above {cut}: "
                                    "cannot set the intensity scale (grid too coarse for this heart?)")
        levels.append(float(img[pick].mean()))
    if levels[0] <= levels[1]:
        raise CardiolatentError(f"blood ({levels[0]:.3f}) is not brighter than myocardium ({levels[1]:.3f}) "
                                f"in frame {frame} of the reference cine")
    return levels[0], levels[1]


def _cines_and_levels(frames, fractions, frame: int, reference, chamber: str):
    """(cines as given, as a batch (M, T', H', W'), blood level, tissue level) for the area measures,
    the shapes checked against the label grid."""
    arr = np.asarray(frames, dtype=np.float64)
    if arr.ndim not in (3, 4):
        raise CardiolatentError(f"expected cines of shape (T, H, W) or (M, T, H, W), got {arr.shape}")
    batch = arr if arr.ndim == 4 else arr[None]
    if batch.shape[-2:] != fractions["lv_cavity"].shape[-2:]:
        raise CardiolatentError(f"cines of shape {batch.shape[1:]} do not match the label grid "
                                f"{fractions['lv_cavity'].shape}")
    ref = batch[0] if reference is None else np.asarray(reference, dtype=np.float64)
    blood, tissue = blood_tissue_levels(ref, fractions, frame, chamber)
    return arr, batch, blood, tissue


def lv_blood_area(frames, fractions: Mapping[str, np.ndarray], *, frame: int = 0, reference=None):
    """:func:`blood_area` of the LV."""
    return blood_area(frames, fractions, chamber="lv", frame=frame, reference=reference)


def blood_area(frames, fractions: Mapping[str, np.ndarray], *, chamber: str = "lv", frame: int = 0,
               reference=None):
    """Blood-pool area (model pixels) of ``chamber`` in one or more cines at model frame ``frame``.

    ``frames``: prepared or decoded cines, (T', H', W') or (M, T', H', W'), intensities in
    [-1, 1], on the grid of ``fractions`` (from :func:`label_fractions`). Inside the chamber's
    region of interest (:func:`chamber_roi`) each pixel counts as blood by ``clip((I - tissue) / (blood -
    tissue), 0, 1)``; ``blood`` and ``tissue`` come from ``reference`` (T', H', W'; default the
    first cine) by :func:`blood_tissue_levels`, so every cine is measured on the same scale.
    Returns a float (one cine) or float64 array (M,).
    """
    arr, batch, blood, tissue = _cines_and_levels(frames, fractions, frame, reference, chamber)
    roi = chamber_roi(fractions, chamber, frame)
    soft = np.clip((batch[:, frame][:, roi] - tissue) / (blood - tissue), 0.0, 1.0)
    area = soft.sum(axis=1)
    return float(area[0]) if arr.ndim == 3 else area


def lv_wall_area(frames, fractions: Mapping[str, np.ndarray], *, frame: int = 0, reference=None):
    """Myocardium-like area (model pixels) of the LV region in one or more cines at model frame
    ``frame``: inside :func:`chamber_roi` of the LV each pixel counts by how close it is to the
    myocardium level, ``clip(1 - |I - tissue| / (blood - tissue), 0, 1)`` (levels from ``reference``
    as in :func:`blood_area`). A thicker LV wall raises it; so would a blood pool darkening towards
    the myocardium level, which :func:`blood_area` tells apart. Returns a float or (M,) array."""
    arr, batch, blood, tissue = _cines_and_levels(frames, fractions, frame, reference, "lv")
    roi = chamber_roi(fractions, "lv", frame)
    area = np.clip(1.0 - np.abs(batch[:, frame][:, roi] - tissue) / (blood - tissue), 0.0, 1.0).sum(axis=1)
    return float(area[0]) if arr.ndim == 3 else area
