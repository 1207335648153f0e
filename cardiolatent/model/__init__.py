"""The 3D DiffAE network (semantic encoder + conditional UNet), its configuration and weights."""

from .config import PRESETS, ModelConfig
from .network import DiffAENetwork

__all__ = ["ModelConfig", "PRESETS", "DiffAENetwork"]
