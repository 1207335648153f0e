"""Numerical precision on GPU: float32 that is really float32.

PyTorch lets cuDNN run float32 convolutions in TF32 (10-bit mantissa) by default on Ampere and
newer GPUs; the published encoder's latent then differs from the original float32 result by
about 4e-4 (measured on an H100) instead of under 1e-5. The float32 methods of
:class:`cardiolatent.model.pipeline.DiffAE` (``encode``, ``eps``, ``invert``, ``decode``; the
``cardiolatent encode`` command calls ``encode``) switch TF32 off for their duration, so the
same input gives the same latents on CPU and GPU within the fixture bounds. bf16 / fp16 autocast
is the opt-in fast path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """Within the block, float32 convolutions and matrix products on CUDA use full float32 (no TF32).

    The previous settings are restored on exit, also after an exception. No effect on CPU work.
    """
    conv, mm = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = conv
        torch.backends.cuda.matmul.allow_tf32 = mm
