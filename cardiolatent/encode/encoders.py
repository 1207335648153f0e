"""Encoders, device and precision for encoding: checks, fingerprints, deterministic torch settings.

Encoder interface: any object with ``seed`` (int), ``input_shape`` ((T, H, W)), ``latent_dim``
(int) and ``encode(x)`` taking a float32 tensor (N, 1, T, H, W) in [-1, 1] and returning
(N, latent_dim). torch is imported inside the functions that need it, so that reading the output
tables (:mod:`cardiolatent.encode.tables`) never loads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Any

from cardiolatent.errors import CardiolatentError
from cardiolatent.model.devices import resolve_device  # noqa: F401 - part of encode's surface


def check_encoders(encoders) -> list:
    """The encoders as a list sorted by seed; :class:`CardiolatentError` unless they all follow the
    encoder interface, have distinct seeds and the same latent size."""
    if not isinstance(encoders, (list, tuple)):
        encoders = [encoders]
    encoders = list(encoders)
    if not encoders:
        raise CardiolatentError("no encoder given")
    for e in encoders:
        missing = [a for a in ("seed", "input_shape", "latent_dim", "encode") if not hasattr(e, a)]
        if missing:
            raise CardiolatentError(f"{type(e).__name__} is not an encoder: it lacks {', '.join(missing)}")
        if len(tuple(e.input_shape)) != 3:
            raise CardiolatentError(f"encoder seed {e.seed}: input_shape must be (T, H, W), got {e.input_shape}")
    seeds = [int(e.seed) for e in encoders]
    if len(set(seeds)) != len(seeds):
        raise CardiolatentError(f"encoder seeds must be distinct, got {seeds}")
    dims = {int(e.latent_dim) for e in encoders}
    if len(dims) != 1:
        raise CardiolatentError(f"all encoders must have the same latent size, got {sorted(dims)}")
    return sorted(encoders, key=lambda e: int(e.seed))


def place_encoders(encoders, dev) -> None:
    """Put encoders that are torch modules (or wrap one) in eval mode on ``dev``."""
    for e in encoders:
        if hasattr(e, "eval"):
            e.eval()
        if hasattr(e, "to"):
            e.to(dev)


def resolve_dtype(dtype, dev) -> "Any":
    """None (float32) or the autocast dtype for ``"bf16"`` / ``"fp16"`` (CUDA only)."""
    import torch

    if dtype in (None, "fp32", "float32", torch.float32):
        return None
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, torch.bfloat16: torch.bfloat16,
             "fp16": torch.float16, "float16": torch.float16, torch.float16: torch.float16}
    if dtype not in table:
        raise CardiolatentError(f"dtype must be None/'fp32', 'bf16' or 'fp16', got {dtype!r}")
    if dev.type != "cuda":
        raise CardiolatentError(f"dtype {dtype!r} is only supported on CUDA; on {dev.type} encoding runs in float32")
    return table[dtype]


def encoder_fingerprint(enc) -> str:
    """Hash identifying an encoder's weights (``fingerprint`` attribute, else its state_dict)."""
    import torch

    fp = getattr(enc, "fingerprint", None)
    if isinstance(fp, str):
        return fp
    for obj in (enc, getattr(enc, "net", None), getattr(enc, "encoder", None), getattr(enc, "model", None)):
        sd_fn = getattr(obj, "state_dict", None)
        if callable(sd_fn):
            h = hashlib.sha256()
            for k, v in sorted(sd_fn().items()):
                h.update(k.encode())
                try:
                    t = v.detach().cpu().contiguous()
                    h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
                    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
                except Exception:  # noqa: BLE001 - non-tensor entries
                    h.update(repr(v).encode())
            return h.hexdigest()[:32]
    return f"{type(enc).__module__}.{type(enc).__qualname__}"


@contextlib.contextmanager
def deterministic_torch(dev):
    """Deterministic algorithms (warn only) and no cuDNN benchmarking for the duration; restored after."""
    import torch

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    prev_cudnn_det = torch.backends.cudnn.deterministic
    if dev.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        torch.backends.cudnn.deterministic = prev_cudnn_det
