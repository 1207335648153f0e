"""The 3D DiffAE network (semantic encoder + conditional UNet), its configuration and weights.

Importing this package does not import torch (so that :mod:`.config` and :mod:`.resample` stay
cheap to import); :class:`DiffAENetwork` is loaded on first access.
"""

from .config import PRESETS, ModelConfig

__all__ = ["ModelConfig", "PRESETS", "DiffAENetwork"]


def __getattr__(name):  # lazy: the network module imports torch
    if name == "DiffAENetwork":
        from .network import DiffAENetwork

        return DiffAENetwork
    raise AttributeError(f"module 'cardiolatent.model' has no attribute {name!r}")
