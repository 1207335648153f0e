"""The torch device a command runs on, checked once with one clear error (encode, train, ...)."""

from __future__ import annotations

from typing import Any

from cardiolatent.errors import CardiolatentError


def resolve_device(device, *, allowed: tuple[str, ...] = ("cpu", "cuda", "mps")) -> Any:
    """``torch.device`` for ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); one clear
    error for an unknown name, a device type not in ``allowed``, or a device this machine lacks."""
    import torch  # the one lazy torch import of this module: it is imported by command modules

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise CardiolatentError(f"unknown device {device!r} (use 'cpu', 'cuda' or 'cuda:N')") from e
    if dev.type not in allowed:
        raise CardiolatentError(f"unsupported device {device!r} (use {', '.join(repr(a) for a in allowed)} "
                                "or 'cuda:N')")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CardiolatentError(
                f"device {device!r} asked for, but CUDA is not available in this PyTorch "
                f"(torch {torch.__version__}, built for CUDA: {torch.version.cuda or 'no'}); use device 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CardiolatentError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise CardiolatentError(f"device {device!r} asked for, but Apple MPS is not available; use 'cpu'")
    return dev
