"""Resampling a prepared volume to a model's input shape (pure tensor code, no image reading).

It lives here, below :mod:`cardiolatent.images`, because the model itself resamples prepared
50x128x128 volumes to a smaller preset's input shape (:meth:`cardiolatent.model.pipeline.DiffAE.encode`);
:func:`cardiolatent.images.prepare.resample` is the same function for the preparation pipeline.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cardiolatent.errors import PreparationError

#: shape (T, H, W) of a volume prepared with the published recipe
PREPARED_SHAPE = (50, 128, 128)


def resample_volume(volume, shape: Sequence[int]):
    """Resample a prepared volume (T, H, W) to ``shape`` (T', H', W') for a smaller preset.

    Deterministic and dtype-preserving (float32 for integer input); accepts numpy arrays
    (returns numpy) or torch tensors of shape (T, H, W) or (N, C, T, H, W) (returns torch).

    Method: PyTorch has no antialiased 3D interpolation, so where an axis shrinks by an
    integer factor the volume is first average-pooled by that factor (an exact box filter,
    which is what antialiasing would approximate); any remaining change of size is done with
    trilinear interpolation (``align_corners=False``). A constant volume stays constant (up
    to float rounding), and the value range never grows.
    """
    import torch
    import torch.nn.functional as F

    target = tuple(int(s) for s in shape)
    if len(target) != 3 or min(target) < 1:
        raise PreparationError(f"resample needs a target shape (frames, rows, columns), got {tuple(shape)}")
    is_numpy = not isinstance(volume, torch.Tensor)
    x = torch.as_tensor(np.asarray(volume)) if is_numpy else volume
    if x.ndim == 3:
        batched = False
        x = x[None, None]
    elif x.ndim == 5:
        batched = True
    else:
        raise PreparationError(f"resample expects (T, H, W) or (N, C, T, H, W), got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.to(torch.float32)
    src = tuple(x.shape[-3:])
    if src != target:
        factors = tuple(s // t if (s > t and s % t == 0) else 1 for s, t in zip(src, target))
        if any(f > 1 for f in factors):
            x = F.avg_pool3d(x, kernel_size=factors, stride=factors)
        if tuple(x.shape[-3:]) != target:
            x = F.interpolate(x, size=target, mode="trilinear", align_corners=False)
    if not batched:
        x = x[0, 0]
    if is_numpy:
        return x.contiguous().numpy()
    return x
