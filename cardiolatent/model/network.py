"""The 3D diffusion autoencoder network: a semantic encoder and a conditional denoising UNet.

This is an independent implementation of the architecture described in
``shared/reference/model.md``. Module names are chosen so that ``state_dict()`` keys and
shapes are exactly those of the released checkpoints (one network = 608 tensors for the
published preset), which lets the released weights load strictly.

Tensor layout: ``(N, C, T, H, W)``; the T frames are the depth axis of every Conv3d and are
never resampled. Resampling acts on H and W only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

ATTENTION_IMPLS = ("sdpa", "math")


# ---------------------------------------------------------------------------- primitives
class GroupNorm32(nn.GroupNorm):
    """GroupNorm evaluated in float32 whatever the input dtype; the result is cast back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


def group_norm(channels: int, limit: int) -> GroupNorm32:
    return GroupNorm32(min(limit, channels), channels, eps=1e-5)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: ``[cos(t f), sin(t f)]``.

    ``f_i = exp(-ln(max_period) * i / (dim // 2))`` for ``i = 0 .. dim//2 - 1``, computed in
    float32; an odd ``dim`` gets one trailing zero column.
    """
    half = dim // 2
    exponent = torch.arange(half, dtype=torch.float32, device=t.device) / half
    freqs = torch.exp(-math.log(max_period) * exponent)
    angles = t.reshape(-1, 1).float() * freqs.reshape(1, -1)
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(emb.shape[0], 1)], dim=1)
    return emb


class InPlaneDown(nn.Module):
    """Average pooling with kernel = stride = (1, 2, 2): halves H and W, keeps T."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool3d(x, kernel_size=(1, 2, 2), stride=(1, 2, 2))


class InPlaneUp(nn.Module):
    """Nearest-neighbour upsampling to (T, 2H, 2W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, h, w = x.shape[-3:]
        return F.interpolate(x, size=(t, 2 * h, 2 * w), mode="nearest")


def _zero_(module: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    return module


# ---------------------------------------------------------------------------- blocks
class ResBlock(nn.Module):
    """Residual block, optionally conditioned and optionally resampling in-plane.

    Unconditioned (semantic encoder): ``skip(x) + conv(SiLU(GN(x)))``; there are no
    ``out_layers``.

    Conditioned (UNet): ``h = conv(SiLU(GN(x)))``; then ``GN(h)``, time scale/shift
    ``h*(1+a)+b``, latent scale ``h*(1+c)``, SiLU, Dropout, conv; output ``skip(x) + h``.

    With ``up``/``down`` the resampling is applied to both paths after the first SiLU
    (before the first conv) and to ``x`` before the skip.
    """

    def __init__(self, channels: int, out_channels: int | None = None, *, gn_limit: int,
                 emb_channels: int | None = None, cond_channels: int | None = None,
                 dropout: float = 0.0, up: bool = False, down: bool = False):
        super().__init__()
        out_channels = out_channels or channels
        self.out_channels = out_channels
        self.conditioned = emb_channels is not None
        self.in_layers = nn.Sequential(
            group_norm(channels, gn_limit),
            nn.SiLU(),
            nn.Conv3d(channels, out_channels, 3, padding=1),
        )
        if up and down:
            raise ValueError("a ResBlock cannot both upsample and downsample")
        self.resample: nn.Module | None = InPlaneUp() if up else InPlaneDown() if down else None
        if self.conditioned:
            self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
            self.cond_emb_layers = nn.Sequential(
                nn.SiLU(), nn.Linear(cond_channels or emb_channels, out_channels))
            self.out_layers = nn.Sequential(
                group_norm(out_channels, gn_limit),
                nn.SiLU(),
                nn.Dropout(p=dropout),
                _zero_(nn.Conv3d(out_channels, out_channels, 3, padding=1)),
            )
        if out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv3d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        norm, act, conv = self.in_layers
        h = act(norm(x))
        if self.resample is not None:
            h = self.resample(h)
            x = self.resample(x)
        h = conv(h)
        if not self.conditioned:
            return self.skip_connection(x) + h

        o_norm, o_act, o_drop, o_conv = self.out_layers
        h = o_norm(h)
        extra = (1,) * (h.dim() - 2)
        if emb is not None:
            scale, shift = self.emb_layers(emb).to(h.dtype).chunk(2, dim=1)
            h = h * (1 + scale.reshape(*scale.shape, *extra)) + shift.reshape(*shift.shape, *extra)
        if cond is not None:
            c = self.cond_emb_layers(cond).to(h.dtype)
            h = h * (1 + c.reshape(*c.shape, *extra))
        h = o_conv(o_drop(o_act(h)))
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over all T*H*W positions, residual, 1x1 Conv1d projections.

    Channels of ``qkv`` are laid out per head as ``[q, k, v]`` (the original "legacy" order;
    with one head it coincides with the other order). q and k are each scaled by ch^-1/4.

    ``impl="sdpa"`` uses ``torch.nn.functional.scaled_dot_product_attention`` (memory-
    efficient fused kernels); ``impl="math"`` is the explicit formula with a float32 softmax.
    """

    def __init__(self, channels: int, *, gn_limit: int, num_heads: int = 1, impl: str = "sdpa"):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"{channels} channels do not split into {num_heads} heads")
        self.channels = channels
        self.num_heads = num_heads
        self.impl = impl
        self.norm = group_norm(channels, gn_limit)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = _zero_(nn.Conv1d(channels, channels, 1))

    def _attend(self, qkv: torch.Tensor) -> torch.Tensor:
        n, width, length = qkv.shape
        heads = self.num_heads
        ch = width // (3 * heads)
        q, k, v = qkv.reshape(n * heads, 3 * ch, length).split(ch, dim=1)  # each (n*heads, ch, L)
        if self.impl == "math":
            s = ch ** -0.25
            w = torch.einsum("bct,bcs->bts", q * s, k * s)
            w = torch.softmax(w.float(), dim=-1).to(w.dtype)
            a = torch.einsum("bts,bcs->bct", w, v)
        elif self.impl == "sdpa":
            def tok(z):  # (n*heads, ch, L) -> (n, heads, L, ch)
                return z.reshape(n, heads, ch, length).transpose(-1, -2).contiguous()
            a = F.scaled_dot_product_attention(tok(q), tok(k), tok(v), scale=ch ** -0.5)
            a = a.transpose(-1, -2).reshape(n * heads, ch, length)
        else:
            raise ValueError(f"unknown attention implementation {self.impl!r}; use one of {ATTENTION_IMPLS}")
        return a.reshape(n, heads * ch, length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, *spatial = x.shape
        flat = x.reshape(n, c, -1)
        h = self._attend(self.qkv(self.norm(flat)))
        h = self.proj_out(h)
        return (flat + h).reshape(n, c, *spatial)


class Stage(nn.Sequential):
    """A sequence of layers; ResBlocks receive the time embedding and the latent."""

    def forward(self, h: torch.Tensor, emb: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self:
            h = layer(h, emb, cond) if isinstance(layer, ResBlock) else layer(h)
        return h


class TimeEmbed(nn.Module):
    """Holds ``time_embed``: Linear -> SiLU -> Linear on the sinusoidal embedding of t."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.time_embed = nn.Sequential(
            nn.Linear(in_channels, out_channels), nn.SiLU(), nn.Linear(out_channels, out_channels))

    def forward(self, t_emb: torch.Tensor) -> torch.Tensor:
        return self.time_embed(t_emb)


# ---------------------------------------------------------------------------- encoder
class SemanticEncoder(nn.Module):
    """Image -> z_sem (no time conditioning). Ends with GN, SiLU, global average pool, 1x1 conv."""

    def __init__(self, config: ModelConfig, attention_impl: str = "sdpa"):
        super().__init__()
        cfg = config
        gn = cfg.group_norm_limit
        base = cfg.base_channels
        ch = cfg.enc_channel_mult[0] * base
        blocks = [Stage(nn.Conv3d(cfg.in_channels, ch, 3, padding=1))]
        resolution = cfg.image_size
        last = len(cfg.enc_channel_mult) - 1
        for level, mult in enumerate(cfg.enc_channel_mult):
            for _ in range(cfg.enc_num_res_blocks):
                out = mult * base
                layers = [ResBlock(ch, out, gn_limit=gn)]
                ch = out
                if resolution in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, gn_limit=gn, num_heads=cfg.num_heads, impl=attention_impl))
                blocks.append(Stage(*layers))
            if level != last:
                blocks.append(Stage(ResBlock(ch, ch, gn_limit=gn, down=True)))
                resolution //= 2
        self.input_blocks = nn.ModuleList(blocks)
        self.middle_block = Stage(
            ResBlock(ch, ch, gn_limit=gn),
            AttentionBlock(ch, gn_limit=gn, num_heads=cfg.num_heads, impl=attention_impl),
            ResBlock(ch, ch, gn_limit=gn),
        )
        self.out = nn.Sequential(
            group_norm(ch, gn),
            nn.SiLU(),
            nn.AdaptiveAvgPool3d((1, 1, 1)),
            nn.Conv3d(ch, cfg.latent_dim, 1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for block in self.input_blocks:
            h = block(h)
        h = self.middle_block(h)
        return self.out(h)


# ---------------------------------------------------------------------------- network
class DiffAENetwork(nn.Module):
    """Semantic encoder + conditional UNet (one ``net`` / ``ema_net`` of the original).

    - ``encode(x)``: x (N, 1, T, H, W) in [-1, 1] -> z_sem (N, latent_dim).
    - ``forward(x_t, t, cond)``: predicted noise, t (N,) original 1000-step indices,
      cond (N, latent_dim).
    """

    def __init__(self, config: ModelConfig, *, attention_impl: str = "sdpa"):
        super().__init__()
        if attention_impl not in ATTENTION_IMPLS:
            raise ValueError(f"unknown attention implementation {attention_impl!r}; use one of {ATTENTION_IMPLS}")
        self.config = config
        if config.seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(config.seed))
                self._build(config, attention_impl)
        else:
            self._build(config, attention_impl)

    def _build(self, cfg: ModelConfig, attention_impl: str) -> None:
        gn = cfg.group_norm_limit
        base = cfg.base_channels
        emb_ch = cfg.embed_channels
        kw = dict(gn_limit=gn, emb_channels=emb_ch, cond_channels=cfg.latent_dim, dropout=cfg.dropout)

        def attn(c):
            return AttentionBlock(c, gn_limit=gn, num_heads=cfg.num_heads, impl=attention_impl)

        self.time_embed = TimeEmbed(cfg.time_embed_in, emb_ch)

        ch = cfg.channel_mult[0] * base
        first_ch = ch
        blocks = [Stage(nn.Conv3d(cfg.in_channels, ch, 3, padding=1))]
        skip_channels = [ch]
        resolution = cfg.image_size
        last = len(cfg.channel_mult) - 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                out = mult * base
                layers = [ResBlock(ch, out, **kw)]
                ch = out
                if resolution in cfg.attention_resolutions:
                    layers.append(attn(ch))
                blocks.append(Stage(*layers))
                skip_channels.append(ch)
            if level != last:
                blocks.append(Stage(ResBlock(ch, ch, down=True, **kw)))
                skip_channels.append(ch)
                resolution //= 2
        self.input_blocks = nn.ModuleList(blocks)

        self.middle_block = Stage(ResBlock(ch, ch, **kw), attn(ch), ResBlock(ch, ch, **kw))

        out_blocks = []
        for level in reversed(range(len(cfg.channel_mult))):
            mult = cfg.channel_mult[level]
            for i in range(cfg.num_res_blocks + 1):
                skip = skip_channels.pop()
                out = mult * base
                layers = [ResBlock(ch + skip, out, **kw)]
                ch = out
                if resolution in cfg.attention_resolutions:
                    layers.append(attn(ch))
                if level and i == cfg.num_res_blocks:
                    layers.append(ResBlock(ch, ch, up=True, **kw))
                    resolution *= 2
                out_blocks.append(Stage(*layers))
        self.output_blocks = nn.ModuleList(out_blocks)

        self.out = nn.Sequential(
            group_norm(ch, gn),
            nn.SiLU(),
            _zero_(nn.Conv3d(first_ch, cfg.in_channels, 3, padding=1)),
        )
        self.encoder = SemanticEncoder(cfg, attention_impl)
        if cfg.cond_standardise:
            self.register_buffer("cond_mean", torch.zeros(cfg.latent_dim))
            self.register_buffer("cond_sd", torch.ones(cfg.latent_dim))

    # ------------------------------------------------------------------ helpers
    @property
    def attention_impl(self) -> str:
        for m in self.modules():
            if isinstance(m, AttentionBlock):
                return m.impl
        return "sdpa"

    def set_attention_impl(self, impl: str) -> "DiffAENetwork":
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"unknown attention implementation {impl!r}; use one of {ATTENTION_IMPLS}")
        for m in self.modules():
            if isinstance(m, AttentionBlock):
                m.impl = impl
        return self

    def num_parameters(self, part: str | None = None) -> int:
        """Number of parameters of the whole network, or of ``part`` ("encoder" / "unet")."""
        if part is None:
            params = self.parameters()
        elif part == "encoder":
            params = self.encoder.parameters()
        elif part in ("unet", "denoiser"):
            enc = {id(p) for p in self.encoder.parameters()}
            params = (p for p in self.parameters() if id(p) not in enc)
        else:
            raise ValueError(f"unknown part {part!r}: use None, 'encoder' or 'unet'")
        return sum(p.numel() for p in params)

    # ------------------------------------------------------------------ computation
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z_sem for x (N, C, T, H, W); uses only the encoder's weights."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """Noise prediction for x_t at original timesteps t, conditioned on z_sem ``cond``."""
        if not torch.is_tensor(t):
            t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t.to(x.device), self.config.time_embed_in))
        if cond is not None and self.config.cond_standardise:
            cond = (cond - self.cond_mean.to(cond.dtype)) / self.cond_sd.to(cond.dtype)
        h = x
        skips = []
        for block in self.input_blocks:
            h = block(h, emb, cond)
            skips.append(h)
        h = self.middle_block(h, emb, cond)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb, cond)
        return self.out(h)
