"""The published input recipe for the cardiac DiffAE (UK Biobank field 20208, 4-chamber cine).

Steps, each reproducing what the original scripts did (see
``tests/fixtures/published/README.md``, ``prep_*`` files):

1. :func:`heart_mask` - per-pixel temporal variance, threshold ``> 0.5 * mean``, binary
   closing (10x10 square), binary opening (5x5 square), median filter (5x5), keep the
   largest 4-connected component.
2. :func:`crop_window` / :func:`crop` - a 128x128 window centred on the mask's bounding-box
   centre ``(min + max) // 2``, clamped/shifted to stay inside the image, zero padding when
   the image is smaller than the window. No resizing.
3. :func:`normalise` - min-max over the whole volume with float32 eps in the denominator,
   then ``(x - 0.5) / 0.5``, giving float32 in [-1, 1].

:func:`prepare` runs the whole recipe; :func:`resample` maps a prepared volume to the smaller
input shape of a reduced preset.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from cardiolatent.errors import PreparationError
from cardiolatent.model.resample import resample_volume

#: frames per cine series the published model expects
FRAMES_REQUIRED = 50
#: side of the square crop window
CROP_SIZE = 128

_F32_EPS = np.finfo(np.float32).eps


def _as_frames(frames) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim != 3:
        raise PreparationError(
            f"expected a cine series of shape (frames, rows, columns), got an array of shape {arr.shape}"
        )
    if arr.shape[0] < 2:
        raise PreparationError(
            f"a cine series needs at least 2 frames to find the moving heart, found {arr.shape[0]}"
        )
    return arr


def heart_mask(frames, *, empty: str = "error") -> np.ndarray:
    """Heart mask of a cine series ``frames`` (T, H, W) -> bool (H, W).

    Same result as ``create_masks_DSH5.py --mode 0`` of the original work:

    - variance over time per pixel (``np.var``: float64 for integer input, the input's
      float type otherwise, as numpy does);
    - ``variance > 0.5 * mean(variance)``;
    - ``scipy.ndimage.binary_closing`` with a 10x10 square of ones, then ``binary_opening``
      with a 5x5 square (scipy's default origin and ``border_value=0``);
    - ``scipy.ndimage.median_filter`` of size 5 (mode ``reflect``);
    - the largest connected component with scipy's default (4-)connectivity; components
      tied for largest are all kept, as in the original.

    The original ran these on a (1, T, 1, H, W) array with structuring elements of shape
    (1, 1, 1, k, k); singleton axes make that identical to the 2D operations used here.
    The square closing, opening and 5x5 median of a 0/1 image are computed as exact integer
    window counts (:func:`_box_count`), bit-identical to the scipy calls above (checked in
    ``tests/test_prepare_fast.py``) and several times faster.

    ``empty``: what to do when no pixel survives (e.g. a series without temporal variance).
    ``"error"`` (default) raises :class:`PreparationError`. ``"full"`` reproduces the
    original script, whose labelling then selects the background and so returns an
    all-True mask (which leads to a centre crop).
    """
    if empty not in ("error", "full"):
        raise ValueError(f"empty must be 'error' or 'full', not {empty!r}")
    arr = _as_frames(frames)
    variance = np.var(arr, axis=0)
    above = variance > variance.mean() * 0.5
    closed = _erode_square(_dilate_square(above, 10), 10)
    opened = _dilate_square(_erode_square(closed, 5), 5)
    smoothed = _median5_binary(opened)
    labels, n_labels = ndimage.label(smoothed)
    if n_labels == 0:
        if empty == "full":
            return np.ones(arr.shape[1:], dtype=bool)
        if not np.any(variance > 0):
            why = "the frames do not change over time (zero temporal variance)"
        else:
            why = "no region with enough temporal variance survived the mask clean-up"
        raise PreparationError(
            f"cannot find the heart in a series of shape {arr.shape}: {why}; "
            "is this really a cine series?"
        )
    sizes = ndimage.sum(smoothed, labels, range(n_labels + 1))
    keep = sizes == sizes.max()
    return keep[labels]


def _box_count(x: np.ndarray, k: int, before: int, mode: str = "constant") -> np.ndarray:
    """Number of nonzero pixels of the 2D image ``x`` (H, W) in the k x k window whose rows run
    from ``i - before`` to ``i - before + k - 1`` (columns alike): int32 (H, W).

    Outside the image counts as 0 (``mode="constant"``) or mirrors it (``"symmetric"``, which is
    scipy.ndimage's ``reflect``). Two cumulative sums: exact, whatever the window size.
    """
    after = k - 1 - before
    xp = np.pad((x != 0).astype(np.int32), ((before, after), (before, after)), mode=mode)
    c = np.zeros((xp.shape[0] + 1, xp.shape[1]), dtype=np.int32)
    np.cumsum(xp, axis=0, out=c[1:])
    rows = c[k:] - c[:-k]
    c = np.zeros((rows.shape[0], rows.shape[1] + 1), dtype=np.int32)
    np.cumsum(rows, axis=1, out=c[:, 1:])
    return c[:, k:] - c[:, :-k]


def _erode_square(x: np.ndarray, k: int) -> np.ndarray:
    """``scipy.ndimage.binary_erosion(x, np.ones((k, k)))`` (default origin, border 0): bool (H, W)."""
    return _box_count(x, k, k // 2) == k * k


def _dilate_square(x: np.ndarray, k: int) -> np.ndarray:
    """``scipy.ndimage.binary_dilation(x, np.ones((k, k)))`` (default origin, border 0): bool (H, W)."""
    return _box_count(x, k, k - 1 - k // 2) > 0


def _median5_binary(x: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size=5)`` (mode ``reflect``) of a 0/1 image: float64 (H, W)
    0/1; the median of 25 zeros and ones is 1 exactly when at least 13 are ones."""
    return (_box_count(x, 5, 2, mode="symmetric") >= 13).astype(np.float64)


def _window_size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    rows, cols = size
    return int(rows), int(cols)


def pad_widths(shape: Sequence[int], size=CROP_SIZE) -> tuple[tuple[int, int], tuple[int, int]]:
    """Zero padding ((top, bottom), (left, right)) applied before cropping an image of ``shape`` (H, W).

    A dimension smaller than the window is padded by ``(size - dim) // 2`` on each side, as
    the original did. When the difference is odd the original ended one pixel short and
    failed its shape check (that image was skipped); here the extra pixel goes to the end
    (bottom/right) so that such images can still be used.
    """
    wanted = _window_size(size)
    out = []
    for dim, want in zip(tuple(shape)[-2:], wanted):
        deficit = max(want - int(dim), 0)
        out.append((deficit // 2, deficit - deficit // 2))
    return out[0], out[1]


def crop_window(mask, size=CROP_SIZE) -> tuple[int, int, int, int]:
    """Crop window (r0, r1, c0, c1), half-open (use ``[r0:r1, c0:c1]``), for a heart ``mask`` (H, W).

    As in ``create_cropped_DSH5.py`` (defaults: 128x128, not exact, not only_ROI): the centre is
    ``(min + max) // 2`` of the mask's bounding box per axis; a centre closer than half the
    window to the start is moved to half the window; a window running past the end is shifted
    back so it ends at the image edge.

    Coordinates refer to the image after :func:`pad_widths` padding (the raw image when it is
    at least ``size`` in both dimensions). The original computes the centre from the mask
    indices of the *unpadded* image while clamping against the padded one; that quirk is
    kept, and it is harmless: a padded dimension is exactly ``size`` long, so its window
    always covers all of it.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise PreparationError(f"a heart mask must be 2D (rows, columns), got shape {mask.shape}")
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise PreparationError("the heart mask is empty: no crop window can be placed")
    want = _window_size(size)
    (pt, pb), (pl, pr) = pad_widths(mask.shape, size)
    padded = (mask.shape[0] + pt + pb, mask.shape[1] + pl + pr)
    window = []
    for idx, want_n, dim in ((rows, want[0], padded[0]), (cols, want[1], padded[1])):
        half = want_n // 2
        mid = (int(idx.min()) + int(idx.max())) // 2
        if mid - half < 0:
            mid = half
        if mid - half + want_n > dim:
            mid -= (mid - half + want_n) - dim
        window.extend((mid - half, mid - half + want_n))
    return tuple(window)  # type: ignore[return-value]


def crop(frames, mask, size=CROP_SIZE) -> np.ndarray:
    """Crop a series ``frames`` (T, H, W) to ``size`` x ``size`` around the heart ``mask`` (H, W).

    Zero-pads dimensions smaller than the window first (see :func:`pad_widths`); keeps the
    input dtype.
    """
    arr = _as_frames(frames)
    mask = np.asarray(mask)
    if mask.shape != arr.shape[1:]:
        raise PreparationError(f"mask shape {mask.shape} does not match the frame shape {arr.shape[1:]}")
    (pt, pb), (pl, pr) = pad_widths(arr.shape[1:], size)
    if pt or pb or pl or pr:
        arr = np.pad(arr, ((0, 0), (pt, pb), (pl, pr)), mode="constant")
    r0, r1, c0, c1 = crop_window(mask, size)
    return arr[:, r0:r1, c0:c1]


def normalise(vol) -> np.ndarray:
    """Min-max over the whole volume to [0, 1), then ``(x - 0.5) / 0.5``; float32 throughout.

    ``x <- (x - min) / (max - min + eps_f32)`` then ``x <- (x - 0.5) / 0.5``, as ImLatent's
    ``ZScoreNorm(mean 0.5, std 0.5, prenorm "minmaxvol")``. The minimum maps to -1; the
    maximum maps to 1, or just below it when the range is small enough for the eps to
    matter in float32 (e.g. inputs already in [0, 1]). A constant volume maps to -1.
    """
    x = np.asarray(vol).astype(np.float32)
    vmin = x.min()
    vmax = x.max()
    denom = (vmax - vmin) + np.float32(_F32_EPS)
    x = (x - vmin) / denom
    half = np.float32(0.5)
    return ((x - half) / half).astype(np.float32, copy=False)


def prepare(frames, *, frames_required: int | None = FRAMES_REQUIRED, size=CROP_SIZE) -> np.ndarray:
    """The whole published recipe: ``frames`` (T, H, W) -> (T, size, size) float32 in [-1, 1].

    ``frames`` are the magnitude images in temporal order, any numeric dtype (UK Biobank DICOMs
    give uint16). Raises :class:`PreparationError` for a frame count other than
    ``frames_required`` (``None`` accepts any count) and when no heart region can be found.
    """
    arr = np.asarray(frames)
    if arr.ndim != 3:
        raise PreparationError(
            f"expected a cine series of shape (frames, rows, columns), got an array of shape {arr.shape}"
        )
    if frames_required is not None and arr.shape[0] != frames_required:
        raise PreparationError(
            f"the model needs cine series with exactly {frames_required} frames; this one has {arr.shape[0]}"
        )
    mask = heart_mask(arr)
    return normalise(crop(arr, mask, size))


def resample(volume, shape: Sequence[int]):
    """Resample a prepared volume (T, H, W) to ``shape`` for a smaller preset: the preparation
    pipeline's name for :func:`cardiolatent.model.resample.resample_volume` (method there)."""
    return resample_volume(volume, shape)
