"""Architecture settings of the 3D DiffAE network (semantic encoder + conditional UNet).

``ModelConfig`` holds every value that changes module shapes or the forward computation.
It round-trips through JSON (``to_dict`` / ``from_dict``) so that weight files we write carry
their own configuration in the safetensors metadata.

Presets:

- ``published``: the released UK Biobank models (input 50x128x128, 20,837,473 parameters).
- ``mini``: the small configuration of the reference fixtures (input 8x32x32, base 8, latent 16).
- ``demo``: a CPU-trainable network of the same architecture for the shipped demo weights.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from cardiolatent.errors import CardiolatentError


def _tuple_int(values) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class ModelConfig:
    """Settings of one DiffAE network.

    ``input_shape`` is (T, H, W): frames are the depth axis of Conv3d and are never resampled;
    down/upsampling act on H and W only. ``attention_resolutions`` are in-plane sizes (H) at
    which attention blocks are placed (``H`` is used as the reference size, as ``image_size``
    in the original code).
    """

    input_shape: tuple[int, int, int] = (50, 128, 128)
    in_channels: int = 1
    base_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 1, 2, 3, 4)
    enc_channel_mult: tuple[int, ...] = (1, 1, 2, 3, 4, 4)
    num_res_blocks: int = 2
    enc_num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16,)
    latent_dim: int = 128
    embed_channels: int = 128
    time_embed_in: int = 32
    dropout: float = 0.1
    group_norm_limit: int = 32
    num_heads: int = 1
    seed: int | None = None
    name: str = "custom"
    #: the denoiser sees the latents standardised, (z - cond_mean) / cond_sd, with the per-latent
    #: mean and SD stored as two buffers of the network (not in the published layout; see
    #: :func:`cardiolatent.model.conditioning.standardise_conditioning`)
    cond_standardise: bool = False

    def __post_init__(self):
        # normalise sequences (JSON gives lists) and validate
        object.__setattr__(self, "input_shape", _tuple_int(self.input_shape))
        object.__setattr__(self, "channel_mult", _tuple_int(self.channel_mult))
        object.__setattr__(self, "enc_channel_mult", _tuple_int(self.enc_channel_mult))
        object.__setattr__(self, "attention_resolutions", _tuple_int(self.attention_resolutions))
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (T, H, W), got {self.input_shape}")
        t, h, w = self.input_shape
        for mult_name in ("channel_mult", "enc_channel_mult"):
            mult = getattr(self, mult_name)
            if not mult:
                raise ValueError(f"{mult_name} must not be empty")
            factor = 2 ** (len(mult) - 1)
            if h % factor or w % factor:
                raise ValueError(
                    f"in-plane size {h}x{w} is not divisible by {factor} "
                    f"({len(mult) - 1} downsamplings from {mult_name}={mult})")
        if self.num_heads < 1:
            raise ValueError("num_heads must be >= 1")

    # ------------------------------------------------------------------ derived values
    @property
    def image_size(self) -> int:
        """In-plane reference size used to place attention blocks (H)."""
        return self.input_shape[1]

    @property
    def frames(self) -> int:
        return self.input_shape[0]

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not d["cond_standardise"]:
            del d["cond_standardise"]  # configurations written before the option stay byte for byte
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model configuration keys: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, ModelConfig] = {
    "published": ModelConfig(
        input_shape=(50, 128, 128), base_channels=32,
        channel_mult=(1, 1, 2, 3, 4), enc_channel_mult=(1, 1, 2, 3, 4, 4),
        num_res_blocks=2, enc_num_res_blocks=2, attention_resolutions=(16,),
        latent_dim=128, embed_channels=128, time_embed_in=32, dropout=0.1,
        group_norm_limit=32, num_heads=1, name="published",
    ),
    "mini": ModelConfig(
        input_shape=(8, 32, 32), base_channels=8,
        channel_mult=(1, 1, 2, 3, 4), enc_channel_mult=(1, 1, 2, 3, 4, 4),
        num_res_blocks=2, enc_num_res_blocks=2, attention_resolutions=(16,),
        latent_dim=16, embed_channels=16, time_embed_in=8, dropout=0.1,
        group_norm_limit=8, num_heads=1, name="mini",
    ),
    "demo": ModelConfig(
        # 2,271,113 parameters (4.6 MB stored as float16), trainable on 2 CPU cores: the prepared
        # 50x128x128 cine average-pooled by 5 in time and 4 in-plane to 10x32x32; attention at
        # 8x8 in-plane (640 tokens). The encoder's last stage has 132 channels (>= the 128
        # latents, as the published 128): z = W pool(h) + b spans at most that many dimensions.
        input_shape=(10, 32, 32), base_channels=12,
        channel_mult=(1, 1, 2, 2, 2), enc_channel_mult=(1, 1, 2, 2, 4, 11),
        num_res_blocks=1, enc_num_res_blocks=1, attention_resolutions=(8,),
        latent_dim=128, embed_channels=128, time_embed_in=12, dropout=0.1,
        group_norm_limit=12, num_heads=1, name="demo",
    ),
}


def get_preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise CardiolatentError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}") from None
