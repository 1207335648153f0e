"""Training augmentation: acquisition nuisance the encoder should not encode.

A diffusion autoencoder's latent ``z`` carries whatever helps the decoder denoise, so acquisition
nuisance that survives the preparation (coil bias field, gamma/contrast, a few degrees of plane
orientation, the crop position, noise) ends up in ``z`` and changes between two scans of one
heart. :func:`augment_batch` draws a random acquisition for each volume of a batch; with
``target="encoder"`` (the default) only the encoder sees the augmented volume while the
network still denoises the original, so ``z`` gains nothing from carrying the augmented
nuisance and learns to ignore it (the stochastic code ``x_T`` keeps what the image needs). With
``target="both"`` the same augmented volume is encoded and denoised (plain data augmentation).

Every draw comes from a generator seeded by ``(seed, step)``, a pure function of its arguments,
so a run resumed from a checkpoint augments exactly as an uninterrupted one, and a run without
augmentation draws nothing (its batches, noise and loss curve are those of earlier versions).

Operations, on volumes ``(B, 1, T, H, W)`` in [-1, 1] as the preparation gives them, in order:
mapped to [0, 1]; gamma ``y ** g`` with ``log g ~ U(-gamma, gamma)``; a linear bias ramp
``1 + 0.5 * s * (x cos a + y sin a) / sqrt(2)`` (coordinates in [-1, 1], ``s ~ U(0, bias)``,
``a ~ U(0, 2 pi)``), as the phantom's coil bias; in-plane rotation ``~ U(-rotate_deg,
rotate_deg)`` and shift ``~ U(-shift_px, shift_px)`` pixels, the same for all frames (bilinear,
zero = air outside); Gaussian noise of SD ``~ U(0, noise)`` (in [0, 1] units); then min-max back
to [-1, 1], as the preparation's :func:`cardiolatent.images.prepare.normalise` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cardiolatent.errors import CardiolatentError

TARGETS = ("encoder", "both")


@dataclass(frozen=True)
class Augment:
    """Sizes of the training augmentation (all 0: none)."""

    rotate_deg: float = 0.0
    shift_px: float = 0.0
    bias: float = 0.0
    gamma: float = 0.0
    noise: float = 0.0
    target: str = "encoder"

    def __post_init__(self):
        for name in ("rotate_deg", "shift_px", "bias", "gamma", "noise"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise CardiolatentError(f"augmentation {name} must be a number >= 0 (got {v!r})")
        if self.target not in TARGETS:
            raise CardiolatentError(f"augmentation target must be one of {', '.join(TARGETS)} (got {self.target!r})")

    @property
    def active(self) -> bool:
        return any((self.rotate_deg, self.shift_px, self.bias, self.gamma, self.noise))


def _generator(seed: int, step: int) -> torch.Generator:
    # a stream of its own: never the run's main generator, so unaugmented runs are unchanged
    return torch.Generator().manual_seed((int(seed) * 1_000_033 + int(step) * 7_919 + 424_242) % (2**63 - 1))


def augment_batch(x: torch.Tensor, aug: Augment, *, seed: int, step: int) -> torch.Tensor:
    """Augmented copy of batch ``x`` (B, 1, T, H, W) in [-1, 1]; float32 in [-1, 1], same shape.

    Deterministic in ``(seed, step)`` and the batch; ``x`` is not modified.
    """
    if x.ndim != 5 or x.shape[1] != 1:
        raise CardiolatentError(f"augment_batch expects (batch, 1, frames, rows, cols), got {tuple(x.shape)}")
    if not aug.active:
        return x.clone()
    g = _generator(seed, step)   # draws on the CPU (the same on any device), the work on x's device
    b, _, t, h, w = x.shape
    dev = x.device
    u = torch.rand(b, 6, generator=g, dtype=torch.float64)
    noise_field = torch.randn(x.shape, generator=g, dtype=torch.float32).to(dev)
    u = u.to(dev)
    y = (x.detach().float() + 1.0) * 0.5
    if aug.gamma > 0:
        gam = torch.exp((2 * u[:, 0] - 1) * aug.gamma).float().view(b, 1, 1, 1, 1)
        y = y.clamp_min(0).pow(gam)
    if aug.bias > 0:
        s = (u[:, 1] * aug.bias).float().view(b, 1, 1, 1, 1)
        a = (u[:, 2] * 2 * math.pi).float()
        yy = torch.linspace(-1, 1, h, device=dev).view(1, 1, 1, h, 1)
        xx = torch.linspace(-1, 1, w, device=dev).view(1, 1, 1, 1, w)
        ramp = (xx * torch.cos(a).view(b, 1, 1, 1, 1) + yy * torch.sin(a).view(b, 1, 1, 1, 1)) / math.sqrt(2)
        y = y * (1.0 + 0.5 * s * ramp)
    if aug.rotate_deg > 0 or aug.shift_px > 0:
        ang = ((2 * u[:, 3] - 1) * math.radians(aug.rotate_deg)).float()
        dx = ((2 * u[:, 4] - 1) * aug.shift_px * 2.0 / w).float()
        dy = ((2 * u[:, 5] - 1) * aug.shift_px * 2.0 / h).float()
        cos, sin = torch.cos(ang), torch.sin(ang)
        theta = torch.stack([torch.stack([cos, -sin * h / w, dx], 1),
                             torch.stack([sin * w / h, cos, dy], 1)], 1)
        frames = y.view(b, t, h, w)
        grid = F.affine_grid(theta, [b, t, h, w], align_corners=False)
        y = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False).view(b, 1, t, h, w)
    if aug.noise > 0:
        sd = torch.rand(b, generator=g).to(dev).view(b, 1, 1, 1, 1) * aug.noise
        y = y + sd * noise_field
    lo = y.amin(dim=(1, 2, 3, 4), keepdim=True)
    hi = y.amax(dim=(1, 2, 3, 4), keepdim=True)
    y = (y - lo) / (hi - lo + torch.finfo(torch.float32).eps)
    return ((y - 0.5) / 0.5).to(dtype=x.dtype)
