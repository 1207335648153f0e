"""The user-facing model: :class:`DiffAE` (encode / eps / invert / decode) and :func:`load_model`.

Network, noise schedule and samplers are separate pieces (:mod:`.network`, :mod:`.diffusion`);
this module joins them the way notebooks use them::

    model = cardiolatent.load_model("UKBBLatent_..._S1994/")      # any weights layout
    x = cardiolatent.prepare(frames)  # (50, H, W) cine -> (50, 128, 128) in [-1, 1]
    z = model.encode(x[None, None])   # -> (N, latent_dim)
    x_T = model.invert(x[None, None], z, steps=20)
    x_hat = model.decode(x_T, z, steps=20)                        # in [-1, 1]

``encode`` and ``invert`` take volumes at the model's input shape, or prepared 50x128x128
volumes, which they resample to a smaller preset's input shape first
(:func:`cardiolatent.model.resample.resample_volume`, as ``cardiolatent encode`` does).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from cardiolatent.errors import CardiolatentError

from .config import ModelConfig, get_preset
from .diffusion import ddim_invert, ddim_sample
from .network import DiffAENetwork
from .precision import full_float32
from .resample import PREPARED_SHAPE, resample_volume
from .weights import config_from_metadata, guess_config, load_into, read_state_dict


def _as_batch(x, device, dtype=torch.float32) -> torch.Tensor:
    """numpy/tensor (T,H,W), (N,T,H,W) or (N,1,T,H,W) -> tensor (N,1,T,H,W) (``device=None``: where it is)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim == 3:
        t = t[None, None]
    elif t.ndim == 4:
        t = t[:, None]
    if t.ndim != 5 or t.shape[1] != 1:
        raise CardiolatentError(f"expected volumes shaped (N, 1, T, H, W), got {tuple(t.shape)}")
    return t.to(device=device, dtype=dtype)


class DiffAE:
    """A loaded 3D DiffAE (EMA network), in eval mode.

    Attributes: ``config`` (:class:`ModelConfig`), ``seed`` (training seed if known),
    ``input_shape`` (T, H, W), ``latent_dim``, ``encoder_only`` (True when only the semantic
    encoder's weights were loaded: ``encode`` works, the diffusion methods do not), ``source``.
    """

    def __init__(self, net: DiffAENetwork, *, encoder_only: bool = False, source: str | None = None,
                 seed: int | None = None):
        self.net = net.eval()
        self.config: ModelConfig = net.config
        self.encoder_only = encoder_only
        self.source = source
        self.seed = seed if seed is not None else self.config.seed

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.config.input_shape)

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device) -> "DiffAE":
        self.net.to(device)
        return self

    def __repr__(self) -> str:
        what = "encoder only" if self.encoder_only else "full network"
        return (f"DiffAE(preset={self.config.name!r}, seed={self.seed}, input={self.input_shape}, "
                f"latents={self.latent_dim}, {what}, source={self.source!r})")

    @torch.no_grad()
    def encode(self, x) -> torch.Tensor:
        """Latents (N, latent_dim) float32 of prepared volumes x (N, 1, T, H, W) in [-1, 1].

        ``x`` is at the model's input shape, or a prepared 50x128x128 volume
        (:func:`cardiolatent.prepare`), which is first resampled to the input shape
        (:meth:`fit_input`); (T, H, W) and (N, T, H, W) are taken as one channel.
        """
        x = self.fit_input(x)
        with full_float32():
            return self.net.encode(x).float()

    def fit_input(self, x, *, strict: bool = True) -> torch.Tensor:
        """Volumes as a float32 batch (N, 1, T, H, W) at the model's input shape, on its device.

        A prepared 50x128x128 volume given to a model with a smaller input shape (the ``mini`` and
        ``demo`` presets) is resampled with :func:`~cardiolatent.model.resample.resample_volume`
        where it is (before moving to the model's device), exactly as ``cardiolatent encode``
        resamples. Any other shape that is not the input shape is an error (``strict=False``:
        passed on as it is, as :meth:`invert` always did).
        """
        x = _as_batch(x, None)
        shape = tuple(x.shape[2:])
        if shape != self.input_shape and shape == PREPARED_SHAPE:
            x = resample_volume(x, self.input_shape)
        if strict:
            self._check_shape(x)
        return x.to(self.device)

    def _check_shape(self, x: torch.Tensor) -> None:
        if tuple(x.shape[2:]) != self.input_shape:
            raise CardiolatentError(f"this model takes volumes of {self.input_shape} (T, H, W) or prepared "
                                    f"volumes of {PREPARED_SHAPE}, got {tuple(x.shape[2:])}; prepare with "
                                    "cardiolatent.prepare")

    def _need_full(self, what: str) -> None:
        if self.encoder_only:
            raise CardiolatentError(f"{what} needs the whole network, but only the semantic encoder's weights "
                                    f"were loaded from {self.source}")

    @torch.no_grad()
    def eps(self, x_t, t, z) -> torch.Tensor:
        """Noise prediction for x_t at original 1000-step indices t (N,) given latents z (N, D)."""
        self._need_full("eps")
        x_t = _as_batch(x_t, self.device)
        t = torch.as_tensor(t, dtype=torch.int64, device=self.device).reshape(-1)
        if t.numel() == 1 and x_t.shape[0] > 1:
            t = t.expand(x_t.shape[0])
        with full_float32():
            return self.net(x_t, t, torch.as_tensor(z, dtype=torch.float32, device=self.device))

    @torch.no_grad()
    def invert(self, x, z, steps: int = 20, *, progress: bool = False) -> torch.Tensor:
        """Deterministic DDIM inversion of x (N, 1, T, H, W) to the stochastic code x_T (a prepared
        50x128x128 volume is resampled to the input shape first, as in :meth:`encode`)."""
        self._need_full("invert")
        x = self.fit_input(x, strict=False)
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        with full_float32():
            return ddim_invert(self.net, x, z, steps, progress=progress)

    @torch.no_grad()
    def decode(self, x_T, z, steps: int = 20, *, progress: bool = False) -> torch.Tensor:
        """DDIM (eta 0) decoding of (x_T, z) to an image in [-1, 1] (map with (x+1)/2 for [0, 1])."""
        self._need_full("decode")
        x_T = _as_batch(x_T, self.device)
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        with full_float32():
            return ddim_sample(self.net, x_T, z, steps, progress=progress)


def load_model(path: str | os.PathLike, config: ModelConfig | str | dict | None = None, *,
               device: str = "cpu", attention_impl: str = "sdpa") -> DiffAE:
    """Load weights of any accepted layout into a :class:`DiffAE`.

    ``path``: a Lightning checkpoint, safetensors / ``pytorch_model.bin`` / plain state dict,
    or a folder holding one. The configuration comes from ``config`` (a :class:`ModelConfig`,
    a preset name such as ``"published"``, or a dict of overrides on the file's own
    configuration), else from the file's metadata (files cardiolatent writes), else the preset
    whose keys and shapes match the file exactly. An encoder-only file is enough for encoding.
    """
    state, meta = read_state_dict(path)
    file_cfg = config_from_metadata(meta)
    if isinstance(config, str):
        cfg = get_preset(config)
    elif isinstance(config, dict):
        base = file_cfg or guess_config(state)
        if base is None:
            raise CardiolatentError(f"{path}: no configuration in the file to apply overrides to; pass a preset")
        cfg = base.replace(**config)
    else:
        cfg = config or file_cfg or guess_config(state)
    if cfg is None:
        raise CardiolatentError(
            f"{path}: cannot tell the model configuration (no cardiolatent metadata and no preset with exactly "
            "these keys and shapes); pass config=ModelConfig(...) or a preset name")
    seed = cfg.seed
    # the configuration is checked against the file's tensor shapes on the meta device first (no
    # memory), so metadata asking for a far wider network than the tensors is refused before it is built
    with torch.device("meta"):
        probe = DiffAENetwork(cfg.replace(seed=None), attention_impl=attention_impl)
    probe.config = cfg
    load_into(probe, path, state=(state, meta), dry_run=True)
    del probe
    net = DiffAENetwork(cfg.replace(seed=None), attention_impl=attention_impl)
    net.config = cfg
    info = load_into(net, path, state=(state, meta))
    source = meta.get("source_file", str(path))
    return DiffAE(net, encoder_only=info["encoder_only"], source=str(source), seed=seed).to(device)


DEMO_SEEDS = (1701, 1993, 42, 1994, 2023)


def demo_weights_dir() -> Path:
    """Folder of the shipped demo weights (``demo_S{seed}.safetensors``)."""
    return Path(__file__).resolve().parent.parent / "data" / "weights"


def demo_weight_files() -> list[Path]:
    """The five shipped demo weight files, one per paper seed."""
    files = [demo_weights_dir() / f"demo_S{s}.safetensors" for s in DEMO_SEEDS]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise CardiolatentError(f"demo weights missing from the installation: {', '.join(missing)}")
    return files
