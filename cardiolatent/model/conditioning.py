"""Standardised conditioning: let a trained decoder see its encoder's latents on a usable scale.

A small DiffAE's encoder can put each latent at a nearly constant value that differs between people
by ~1 % of its size (the shipped demo models: per-latent SD across people 0.003 around means of
~0.3). The denoiser's conditioning ``c = W SiLU(z) + b`` then barely changes from one person to the
next, so decoding ignores z and latent manipulation shows nothing. :func:`standardise_conditioning`
rebuilds the network with ``cond_standardise`` (the denoiser sees ``(z - mean) / sd`` per latent,
both stored as buffers) without touching the encoder, so every latent stays bit for bit:

- the per-latent mean and SD come from the latents of the training cines;
- each conditioning layer starts at ``W' = 0`` and ``b' = W E[SiLU(z)] + b``, so the rebuilt
  network starts as the old one conditioned on the average latent (the old decoder hardly used
  more), and decoder-only fine-tuning (``TrainConfig.freeze_encoder``) then learns to use z.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from cardiolatent.errors import CardiolatentError
from cardiolatent.model.network import DiffAENetwork


def encoder_latents(net: DiffAENetwork, volumes, *, batch_size: int = 64) -> torch.Tensor:
    """The encoder's latents (N, D) float64 of ``volumes`` (N, T, H, W) or (N, 1, T, H, W), in eval mode."""
    x = torch.as_tensor(np.asarray(volumes, dtype=np.float32))
    if x.dim() == 4:
        x = x[:, None]
    dev = next(net.parameters()).device
    was = net.encoder.training
    net.encoder.eval()
    with torch.no_grad():
        z = torch.cat([net.encoder(x[i:i + batch_size].to(dev)).double().cpu()
                       for i in range(0, len(x), batch_size)])
    net.encoder.train(was)
    return z


def standardise_conditioning(net: DiffAENetwork, volumes) -> DiffAENetwork:
    """A copy of ``net`` whose denoiser sees standardised latents (module docstring); the encoder
    and every other weight are copied unchanged. ``volumes``: the training cines (at least two)."""
    if net.config.cond_standardise:
        raise CardiolatentError("the network already standardises its conditioning")
    z = encoder_latents(net, volumes)
    if len(z) < 2:
        raise CardiolatentError("standardising the conditioning needs the latents of at least two cines")
    sd = z.std(dim=0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    silu_mean = torch.nn.functional.silu(z).mean(dim=0)
    dev = next(net.parameters()).device
    new = DiffAENetwork(net.config.replace(cond_standardise=True), attention_impl=net.attention_impl).to(dev)
    state = dict(net.state_dict())
    state["cond_mean"], state["cond_sd"] = z.mean(dim=0).float().to(dev), sd.float().to(dev)
    new.load_state_dict(state, strict=True)
    with torch.no_grad():
        for name, mod in new.named_modules():
            if name.endswith("cond_emb_layers"):
                lin = mod[1]
                lin.bias.copy_((lin.weight.double() @ silu_mean.to(dev) + lin.bias.double()).float())
                lin.weight.zero_()
    return new


__all__ = ["encoder_latents", "standardise_conditioning"]
