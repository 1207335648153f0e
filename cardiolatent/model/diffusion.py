"""Gaussian diffusion pieces of the DiffAE: linear schedule, q_sample, spaced DDIM, DDIM inversion.

Independent of the network class: every function takes ``eps_fn(x_t, t, z) -> eps``, any
callable (a :class:`~cardiolatent.model.network.DiffAENetwork` instance works), where ``t`` is
an (N,) int64 tensor of ORIGINAL 1000-step indices (a 10-step schedule shows the model
``t`` in {0, 100, ..., 900}) and ``z`` the semantic latent (N, latent_dim). An ``eps_fn``
result with a ``.pred`` attribute (the original model's return type) is accepted too.

Arithmetic follows the original implementation (phizaz/diffae as used by ImLatent), so that
float32 results agree with it to rounding:

- schedule arrays are float64 numpy; a per-step coefficient is taken from the float64 array
  and cast to float32 before it touches a tensor (``_extract_into_tensor`` semantics), and
  derived quantities (``sqrt(alpha_bar_prev)``, ``sqrt(1 - alpha_bar_next)``, ...) are then
  computed in float32, as the original did;
- spaced schedules re-derive betas from the kept cumulative products
  (``beta'_i = 1 - abar_{t_i} / abar_{t_{i-1}}``) and recompute every array from them;
- one DDIM step: ``x0 = sqrt(1/abar) x_t - sqrt(1/abar - 1) eps``, clipped to [-1, 1]
  (``clip_denoised``); ``eps`` is then re-derived from ``x_t`` and the clipped ``x0``:
  ``eps = (sqrt(1/abar) x_t - x0) / sqrt(1/abar - 1)``; then
  sampling: ``x_prev = x0 sqrt(abar_prev) + sqrt(1 - abar_prev - sigma^2) eps (+ sigma noise)``,
  inversion: ``x_next = x0 sqrt(abar_next) + sqrt(1 - abar_next) eps`` with
  ``abar_next = 0`` after the last step (so the final x_T equals the re-derived eps).
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

import numpy as np
import torch

EpsFn = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]

#: length of the original diffusion process
NUM_TIMESTEPS = 1000


def spaced_timesteps(T: int, steps: int) -> list[int]:
    """Original timesteps kept by a ``steps``-step DDIM schedule over ``T`` steps (sorted).

    The original's "ddimN" rule: the smallest integer stride ``s`` with
    ``len(range(0, T, s)) == steps``; e.g. T=1000: 20 steps -> {0, 50, ..., 950},
    10 steps -> {0, 100, ..., 900}.
    """
    T = int(T)
    steps = int(steps)
    if steps < 1 or steps > T:
        raise ValueError(f"cannot use {steps} DDIM steps with a {T}-step diffusion (use 1..{T})")
    for stride in range(1, T + 1):
        if len(range(0, T, stride)) == steps:
            return list(range(0, T, stride))
    raise ValueError(f"cannot create exactly {steps} steps out of {T} with an integer stride")


def _f32(value) -> torch.Tensor:
    """A float64 schedule value cast to a float32 0-d tensor (``_extract_into_tensor`` semantics)."""
    return torch.tensor(float(value), dtype=torch.float64).to(torch.float32)


class DiffusionSchedule:
    """A beta schedule and the quantities derived from it, all float64 numpy arrays.

    ``timestep_map[i]`` is the original timestep that index ``i`` of this schedule stands for
    (the identity for the full schedule); the model is always shown the original timestep.
    """

    def __init__(self, betas, timestep_map=None):
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0:
            raise ValueError("betas must be a non-empty 1-D array")
        if not ((betas > 0).all() and (betas <= 1).all()):
            raise ValueError("betas must lie in (0, 1]")
        self.betas = betas
        self.num_timesteps = int(betas.shape[0])
        if timestep_map is None:
            timestep_map = np.arange(self.num_timesteps)
        self.timestep_map = np.asarray(timestep_map, dtype=np.int64)
        if self.timestep_map.shape != betas.shape:
            raise ValueError("timestep_map must have one entry per beta")

        alphas = 1.0 - betas
        self.alphas = alphas
        self.alphas_cumprod = np.cumprod(alphas, axis=0)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.alphas_cumprod_next = np.append(self.alphas_cumprod[1:], 0.0)
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.log_one_minus_alphas_cumprod = np.log(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)

    # ------------------------------------------------------------------ helpers
    def extract(self, arr: np.ndarray, t, ndim: int) -> torch.Tensor:
        """``arr[t]`` (float64) cast to float32, shaped (N, 1, ..., 1) with ``ndim`` axes.

        ``t`` indexes THIS schedule (an int, or an (N,) integer tensor/array).
        """
        idx = torch.as_tensor(np.asarray(t), dtype=torch.long).reshape(-1)
        res = torch.from_numpy(np.asarray(arr, dtype=np.float64))[idx].to(torch.float32)
        return res.reshape(-1, *([1] * (ndim - 1)))

    def spaced(self, steps: int) -> "DiffusionSchedule":
        """The ``steps``-step respaced schedule (stride rule of :func:`spaced_timesteps`)."""
        keep = spaced_timesteps(self.num_timesteps, steps)
        keep_set = set(keep)
        new_betas = []
        mapping = []
        last = 1.0
        for i, abar in enumerate(self.alphas_cumprod):
            if i in keep_set:
                new_betas.append(1.0 - abar / last)
                last = abar
                mapping.append(int(self.timestep_map[i]))
        return DiffusionSchedule(np.array(new_betas, dtype=np.float64), timestep_map=mapping)

    def model_timesteps(self, i: int, n: int, device=None) -> torch.Tensor:
        """(n,) int64 tensor of the original timestep for schedule index ``i``."""
        return torch.full((n,), int(self.timestep_map[i]), dtype=torch.int64, device=device)

    # ------------------------------------------------------------- forward process
    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor | None = None, *, generator=None) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x_0): ``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

        ``t``: (N,) indices of this schedule (original timesteps for the full schedule).
        Coefficients are float64 values cast to float32.
        """
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        if noise.shape != x0.shape:
            raise ValueError(f"noise shape {tuple(noise.shape)} differs from x0 shape {tuple(x0.shape)}")
        t = torch.as_tensor(t, dtype=torch.long).reshape(-1)
        a = self.extract(self.sqrt_alphas_cumprod, t.cpu(), x0.ndim).to(x0.device)
        b = self.extract(self.sqrt_one_minus_alphas_cumprod, t.cpu(), x0.ndim).to(x0.device)
        return a * x0 + b * noise


class LinearSchedule(DiffusionSchedule):
    """The linear beta schedule of Ho et al.: betas from ``beta_start`` to ``beta_end`` over T steps.

    As the original, the end points are scaled by ``1000 / T`` (no change for T = 1000) and
    the betas are ``np.linspace(..., dtype=float64)``.
    """

    def __init__(self, T: int = NUM_TIMESTEPS, beta_start: float = 1e-4, beta_end: float = 0.02):
        scale = 1000 / T
        betas = np.linspace(scale * beta_start, scale * beta_end, T, dtype=np.float64)
        super().__init__(betas)
        self.T = int(T)


_DEFAULT: LinearSchedule | None = None


def default_schedule() -> LinearSchedule:
    """The published schedule (linear, T = 1000), built once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = LinearSchedule()
    return _DEFAULT


def q_sample(x0: torch.Tensor, t, noise: torch.Tensor | None = None, *, schedule: DiffusionSchedule | None = None,
             generator=None) -> torch.Tensor:
    """:meth:`DiffusionSchedule.q_sample` on the default (published) schedule."""
    return (schedule or default_schedule()).q_sample(x0, t, noise, generator=generator)


# ----------------------------------------------------------------------- DDIM
def _call_eps(eps_fn: EpsFn, x: torch.Tensor, t: torch.Tensor, z) -> torch.Tensor:
    out = eps_fn(x, t, z)
    pred = getattr(out, "pred", None)
    if pred is not None:
        out = pred
    if out.shape != x.shape:
        raise ValueError(f"eps_fn returned shape {tuple(out.shape)} for an input of shape {tuple(x.shape)}")
    return out


def _x0_and_eps(sched: DiffusionSchedule, eps_fn: EpsFn, x: torch.Tensor, i: int, z, clip_denoised: bool):
    """Model call at schedule index ``i``; returns (pred_x0, re-derived eps)."""
    t_model = sched.model_timesteps(i, x.shape[0], device=x.device)
    eps = _call_eps(eps_fn, x, t_model, z)
    recip = sched.extract(sched.sqrt_recip_alphas_cumprod, i, x.ndim).to(x.device)
    recipm1 = sched.extract(sched.sqrt_recipm1_alphas_cumprod, i, x.ndim).to(x.device)
    pred_x0 = recip * x - recipm1 * eps
    if clip_denoised:
        pred_x0 = pred_x0.clamp(-1, 1)
    eps = (recip * x - pred_x0) / recipm1
    return pred_x0, eps


def _resolve(steps: int | None, schedule: DiffusionSchedule | None) -> DiffusionSchedule:
    base = schedule or default_schedule()
    if steps is None or int(steps) == base.num_timesteps:
        return base
    return base.spaced(int(steps))


def _progress(enabled: bool, label: str, k: int, n: int) -> None:
    if enabled:
        end = "\n" if k == n else ""
        print(f"\r{label}: step {k}/{n}", end=end, file=sys.stderr, flush=True)


@torch.no_grad()
def ddim_sample(eps_fn: EpsFn, x_T: torch.Tensor, z, steps: int | None = 20, *, clip_denoised: bool = True,
                eta: float = 0.0, progress: bool = False, schedule: DiffusionSchedule | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Decode: DDIM from ``x_T`` conditioned on ``z`` with ``steps`` spaced steps.

    Returns x_0 in the model's [-1, 1] space (map to [0, 1] with ``(x + 1) / 2``).
    ``eta = 0`` (the published setting) is deterministic; ``eta > 0`` adds noise drawn from
    ``generator`` at every step except the last. ``schedule`` is the full (unspaced) schedule,
    the published linear one by default.
    """
    sched = _resolve(steps, schedule)
    x = x_T
    n = sched.num_timesteps
    for k, i in enumerate(reversed(range(n)), start=1):
        pred_x0, eps = _x0_and_eps(sched, eps_fn, x, i, z, clip_denoised)
        abar = sched.extract(sched.alphas_cumprod, i, x.ndim).to(x.device)
        abar_prev = sched.extract(sched.alphas_cumprod_prev, i, x.ndim).to(x.device)
        if eta:
            sigma = eta * torch.sqrt((1 - abar_prev) / (1 - abar)) * torch.sqrt(1 - abar / abar_prev)
            x = pred_x0 * torch.sqrt(abar_prev) + torch.sqrt(1 - abar_prev - sigma ** 2) * eps
            if i != 0:
                noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                x = x + sigma * noise
        else:
            x = pred_x0 * torch.sqrt(abar_prev) + torch.sqrt(1 - abar_prev) * eps
        _progress(progress, "decode", k, n)
    return x


@torch.no_grad()
def ddim_invert(eps_fn: EpsFn, x0: torch.Tensor, z, steps: int | None = 20, *, clip_denoised: bool = True,
                progress: bool = False, schedule: DiffusionSchedule | None = None) -> torch.Tensor:
    """Stochastic code: deterministic DDIM inversion of ``x0`` ([-1, 1] space) conditioned on ``z``.

    Runs the schedule forwards (index 0 .. steps-1); returns x_T. At the last step
    ``abar_next`` is 0, so x_T is the eps re-derived at the final timestep, as in the original.
    """
    sched = _resolve(steps, schedule)
    x = x0
    n = sched.num_timesteps
    for i in range(n):
        pred_x0, eps = _x0_and_eps(sched, eps_fn, x, i, z, clip_denoised)
        abar_next = sched.extract(sched.alphas_cumprod_next, i, x.ndim).to(x.device)
        x = pred_x0 * torch.sqrt(abar_next) + torch.sqrt(1 - abar_next) * eps
        _progress(progress, "invert", i + 1, n)
    return x


# ----------------------------------------------------------------------- training
def training_loss(eps_fn: EpsFn, x0: torch.Tensor, z, generator: torch.Generator | None = None, *,
                  schedule: DiffusionSchedule | None = None, t: torch.Tensor | None = None,
                  noise: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """Epsilon-prediction MSE at uniformly drawn timesteps (the original's training objective).

    ``t`` ~ U{0, ..., T-1} per sample and ``noise`` ~ N(0, 1) are drawn from ``generator``
    unless given; x_t = q_sample(x0, t, noise); loss = mean over voxels of
    ``(noise - eps_fn(x_t, t, z))^2`` per sample, then the batch mean (``reduction="mean"``)
    or the (N,) per-sample values (``reduction="none"``). ``z`` is passed through as is: for
    the DiffAE it is the encoder output of ``x0`` (gradients flow into the encoder).
    """
    sched = schedule or default_schedule()
    n = x0.shape[0]
    if t is None:
        t = torch.randint(0, sched.num_timesteps, (n,), generator=generator, dtype=torch.int64)
    t = torch.as_tensor(t, dtype=torch.int64).reshape(-1)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device="cpu").to(x0.device)
    x_t = sched.q_sample(x0, t, noise)
    t_model = torch.as_tensor(sched.timestep_map, dtype=torch.int64)[t.cpu()].to(x0.device)
    pred = _call_eps(eps_fn, x_t, t_model, z)
    per_sample = ((noise - pred) ** 2).reshape(n, -1).mean(dim=1)
    if reduction == "none":
        return per_sample
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', not {reduction!r}")
    return per_sample.mean()
