"""Train or fine-tune a 3D DiffAE on prepared cines.

The objective is the original's: epsilon-prediction MSE at a uniformly drawn diffusion step,
with the semantic encoder trained jointly through the conditioning (z = encoder(x0)). Adam,
gradient-norm clipping, an exponential moving average (EMA) of the weights, random horizontal
flips, optional acquisition augmentation (:mod:`cardiolatent.train.augment`; by default seen by
the encoder only), optional mixed precision on GPU. Everything random comes from one seeded
``torch.Generator`` whose state is saved in every checkpoint, so an interrupted run resumed
from its last checkpoint continues exactly as an uninterrupted one.

Checkpoints (``OUT/checkpoint.pt``) hold only tensors, numbers and strings, and are read back
with ``torch.load(..., weights_only=True)``. The final weights (EMA network) are written to
``OUT/model.safetensors`` with the configuration in the file's metadata.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from cardiolatent.errors import CardiolatentError
from cardiolatent.model.devices import resolve_device
from cardiolatent.io_utils import atomic_path, write_text_atomic
from cardiolatent.model.diffusion import default_schedule, training_loss
from cardiolatent.model.network import DiffAENetwork
from cardiolatent.model.conditioning import standardise_conditioning
from cardiolatent.model.weights import config_from_file, load_into, save_weights
from cardiolatent.train.augment import Augment, augment_batch


@dataclass
class TrainConfig:
    """Settings of one training run (defaults: the original's, except the EMA decay)."""

    seed: int = 1701
    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    flip_p: float = 0.5
    amp: bool = False  # bf16 autocast on CUDA only
    checkpoint_every: int = 200
    log_every: int = 20
    device: str = "cpu"
    threads: int | None = None
    lr_schedule: str = "constant"  # "constant" or "cosine" (decays to 0 at ``steps``)
    warmup_steps: int = 0          # linear warm-up from lr / warmup_steps
    ema_warmup: bool = False       # EMA decay min(ema_decay, (1 + step) / (10 + step)): no weight left on init
    weights_dtype: str = "float32"  # dtype of the tensors in model.safetensors ("float32" or "float16")
    keep_snapshots: bool = False   # also write the EMA weights at every checkpoint to snapshots/
    # acquisition augmentation (cardiolatent.train.augment; all 0: none)
    aug_rotate_deg: float = 0.0
    aug_shift_px: float = 0.0
    aug_bias: float = 0.0
    aug_gamma: float = 0.0
    aug_noise: float = 0.0
    aug_target: str = "encoder"    # "encoder": only the encoder sees the augmented volume; "both"
    # decoder-only fine-tuning: the encoder's weights stay exactly as loaded (so every latent it
    # gives is unchanged) and only the denoising network learns to use them
    freeze_encoder: bool = False
    # weighting of the per-sample loss over diffusion steps (:func:`loss_weights`): "uniform" (the
    # original's), "p2" or "v" (weight moved from the nearly clean steps to the noisy ones, where
    # only z tells the network what the image is; neither taught the demo decoders to use z)
    loss_weighting: str = "uniform"
    # learning-rate multiplier of the denoiser's latent-conditioning layers (``cond_emb_layers``):
    # a trained encoder's latents can vary between people by ~1 % of their size, so the weights
    # that turn them into feature gains must grow by orders of magnitude before the decoder uses them
    cond_lr_scale: float = 1.0
    # rebuild the starting network so its denoiser sees standardised latents
    # (cardiolatent.model.conditioning.standardise_conditioning; needs init weights)
    standardise_conditioning: bool = False

    @property
    def augment(self) -> Augment:
        """The run's :class:`cardiolatent.train.augment.Augment`."""
        return Augment(rotate_deg=self.aug_rotate_deg, shift_px=self.aug_shift_px, bias=self.aug_bias,
                       gamma=self.aug_gamma, noise=self.aug_noise, target=self.aug_target)


def ema_decay_at(step: int, cfg: "TrainConfig") -> float:
    """EMA decay used after 0-based step ``step``.

    Plain EMA keeps ``ema_decay ** steps`` of the initial (random) weights, e.g. 45% after 400
    steps at 0.998; with ``ema_warmup`` the decay grows as ``(1 + step) / (10 + step)`` up to
    ``ema_decay``, so short runs average trained weights only.
    """
    if cfg.ema_warmup:
        return min(cfg.ema_decay, (1.0 + step) / (10.0 + step))
    return cfg.ema_decay


def learning_rate(step: int, cfg: "TrainConfig") -> float:
    """Learning rate of 0-based step ``step``: linear warm-up, then constant or cosine decay to 0."""
    lr = cfg.lr
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        lr *= (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "cosine":
        lr *= 0.5 * (1.0 + math.cos(math.pi * min(step, cfg.steps) / max(cfg.steps, 1)))
    elif cfg.lr_schedule != "constant":
        raise CardiolatentError(f"unknown learning-rate schedule {cfg.lr_schedule!r}; use constant or cosine")
    return lr


def _ema_update(ema: torch.nn.Module, net: torch.nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * net for the trained parameters (frozen ones are left
    exactly as they are); buffers copied."""
    with torch.no_grad():
        pairs = [(pe, p.detach()) for pe, p in zip(ema.parameters(), net.parameters()) if p.requires_grad]
        if pairs:
            ema_p, net_p = [a for a, _ in pairs], [b for _, b in pairs]
            torch._foreach_mul_(ema_p, decay)
            torch._foreach_add_(ema_p, net_p, alpha=1.0 - decay)
        for be, b in zip(ema.buffers(), net.buffers()):
            be.copy_(b)


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """Volume indices of training step ``step`` (0-based): a seeded permutation per epoch.

    A pure function of its arguments, so a resumed run draws exactly the batches an
    uninterrupted one would. The last partial batch of an epoch is dropped.
    """
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise CardiolatentError(f"training needs at least batch_size={batch_size} volumes (got {n})")
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return perm[i * batch_size:(i + 1) * batch_size]


def train(data: np.ndarray | torch.Tensor, model_config, out: str | Path, cfg: TrainConfig, *,
          init_weights: str | Path | None = None, progress: bool = True) -> Path:
    """Train a DiffAE on ``data`` (N, T, H, W) float32 in [-1, 1] already at the model's input shape.

    Parameters
    ----------
    model_config : :class:`cardiolatent.model.config.ModelConfig` (its ``input_shape`` must
        equal ``data.shape[1:]``).
    out : folder for ``checkpoint.pt``, ``loss.tsv``, ``train.json`` and ``model.safetensors``.
    init_weights : released or earlier weights to fine-tune from (any layout
        :func:`cardiolatent.model.weights.load_into` accepts).

    Returns the path of the final ``model.safetensors`` (EMA weights).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = _training_tensor(data, model_config)
    device = _training_device(cfg)
    model_config = model_config.replace(seed=cfg.seed)
    if cfg.standardise_conditioning and not model_config.cond_standardise:
        model_config = model_config.replace(cond_standardise=True)
    net, ema, opt, gen = _initial_state(model_config, cfg, device, init_weights, data)
    sched = default_schedule()
    ckpt_path = out / "checkpoint.pt"
    step = _resume_checkpoint(ckpt_path, cfg, model_config, net, ema, opt, gen)
    write_text_atomic(out / "train.json", json.dumps({"train": asdict(cfg), "model": model_config.to_dict(),
                                                      "n_volumes": int(len(data))}, indent=2) + "\n")
    log_path = out / "loss.tsv"
    _start_loss_log(log_path, step)
    step = _run_steps(net, ema, opt, gen, sched, data, step, cfg, model_config, out, ckpt_path, log_path,
                      device, progress)
    final = out / "model.safetensors"
    _write_ema(ema, final, step, cfg, model_config)
    return final


def _training_tensor(data, model_config) -> torch.Tensor:
    """The training volumes as a float32 tensor, checked against the model's input shape."""
    data = torch.as_tensor(np.asarray(data, dtype=np.float32))
    if tuple(data.shape[1:]) != tuple(model_config.input_shape):
        raise CardiolatentError(f"training data volumes are {tuple(data.shape[1:])} but the model expects "
                                f"{tuple(model_config.input_shape)} (T, H, W)")
    return data


def _training_device(cfg: TrainConfig) -> torch.device:
    """Apply the thread setting and return the (checked) torch device of the run."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return check_device(cfg.device)


def check_device(name: str) -> torch.device:
    """The torch device ``name`` for training ('cpu', 'cuda', 'cuda:N'); one clear error otherwise."""
    return resolve_device(name, allowed=("cpu", "cuda"))


def _initial_state(model_config, cfg: TrainConfig, device: torch.device, init_weights, data=None):
    """Seeded network, its frozen EMA copy, the Adam optimiser and the run's generator."""
    torch.manual_seed(cfg.seed)  # initial weights
    net = DiffAENetwork(model_config)
    if init_weights is not None:
        start = config_from_file(init_weights)  # None for files without cardiolatent metadata
        if model_config.cond_standardise and not (start is not None and start.cond_standardise):
            plain = DiffAENetwork(model_config.replace(cond_standardise=False))
            load_into(plain, init_weights)
            net = standardise_conditioning(plain, data)
        else:
            load_into(net, init_weights)
    elif cfg.standardise_conditioning:
        raise CardiolatentError("standardising the conditioning needs weights to start from (--init)")
    if cfg.freeze_encoder:
        if init_weights is None:
            raise CardiolatentError("freezing the encoder needs weights to start from (--init)")
        for p in net.encoder.parameters():
            p.requires_grad_(False)
    net.to(device)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(_param_groups(net, cfg), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    return net, ema, opt, gen


def _param_groups(net, cfg: TrainConfig) -> list[dict]:
    """The trained parameters: one group, or two when the conditioning layers learn faster."""
    trained = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    if cfg.cond_lr_scale == 1.0:
        return [{"params": [p for _, p in trained], "lr_scale": 1.0}]
    cond = [p for n, p in trained if ".cond_emb_layers." in f".{n}"]
    rest = [p for n, p in trained if ".cond_emb_layers." not in f".{n}"]
    return [{"params": rest, "lr_scale": 1.0}, {"params": cond, "lr_scale": float(cfg.cond_lr_scale)}]


def _resume_checkpoint(ckpt_path: Path, cfg: TrainConfig, model_config, net, ema, opt, gen) -> int:
    """Load the state of ``ckpt_path`` when it exists (same settings only); return the step to start at."""
    if not ckpt_path.exists():
        return 0
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    if ck["train_config"] != _resume_key(cfg) or \
            ck["model_config"] != model_config.to_json():
        raise CardiolatentError(f"{ckpt_path} was written with other settings; use a new output folder "
                                "or the same arguments to resume")
    net.load_state_dict(ck["net"])
    ema.load_state_dict(ck["ema"])
    opt.load_state_dict(ck["opt"])
    gen.set_state(ck["generator"])
    torch.set_rng_state(ck["torch_rng"])  # dropout draws from the global generator
    return int(ck["step"])


def _start_loss_log(log_path: Path, step: int) -> None:
    """Start a fresh ``loss.tsv``, or cut a resumed one back to ``step``."""
    if step == 0 or not log_path.exists():
        log_path.write_text("step\tloss\tseconds\n")
    else:
        _truncate_log(log_path, step)


def _run_steps(net, ema, opt, gen, sched, data: torch.Tensor, step: int, cfg: TrainConfig, model_config,
               out: Path, ckpt_path: Path, log_path: Path, device: torch.device, progress: bool) -> int:
    """Train from ``step`` to ``cfg.steps``, logging and checkpointing on schedule; return the last step."""
    use_amp = cfg.amp and device.type == "cuda"
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train seed {cfg.seed}", unit="step", disable=not progress)
    t0 = time.perf_counter()
    running, logged = 0.0, 0
    net.train()
    if cfg.freeze_encoder:
        net.encoder.eval()  # the latents exactly as at inference
    while step < cfg.steps:
        loss = _batch_loss(net, data, step, cfg, gen, sched, device, use_amp)
        _optimiser_step(net, ema, opt, loss, step, cfg)
        step += 1
        running += float(loss.detach())
        logged += 1
        bar.update()
        if step % cfg.log_every == 0 or step == cfg.steps:
            with open(log_path, "a") as fh:
                fh.write(f"{step}\t{running / logged:.6f}\t{time.perf_counter() - t0:.1f}\n")
            bar.set_postfix(loss=f"{running / logged:.4f}")
            running, logged = 0.0, 0
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            _save_checkpoint(ckpt_path, net, ema, opt, gen, step, cfg, model_config)
            if cfg.keep_snapshots:
                _save_snapshot(out, ema, step, cfg, model_config)
    bar.close()
    return step


def _batch_loss(net, data: torch.Tensor, step: int, cfg: TrainConfig, gen, sched, device: torch.device,
                use_amp: bool) -> torch.Tensor:
    """Draw step ``step``'s batch, flips, diffusion steps and noise from ``gen``; return its loss."""
    idx = batch_indices(step, len(data), cfg.batch_size, cfg.seed)
    x0 = data[idx].unsqueeze(1)
    flip = torch.rand(len(idx), generator=gen) < cfg.flip_p
    x0 = torch.where(flip.view(-1, 1, 1, 1, 1), x0.flip(-1), x0).to(device)
    t = torch.randint(0, sched.num_timesteps, (len(idx),), generator=gen)
    noise = torch.randn(x0.shape, generator=gen).to(device)
    aug = cfg.augment
    x_enc = x0
    if aug.active:
        x_enc = augment_batch(x0, aug, seed=cfg.seed, step=step)
        if aug.target == "both":
            x0 = x_enc
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
        if cfg.freeze_encoder:
            with torch.no_grad():
                z = net.encoder(x_enc)
        else:
            z = net.encoder(x_enc)
        if cfg.loss_weighting == "uniform":
            return training_loss(net, x0, z, schedule=sched, t=t.to(device), noise=noise)
        per_sample = training_loss(net, x0, z, schedule=sched, t=t.to(device), noise=noise, reduction="none")
    w = loss_weights(sched, cfg.loss_weighting)[t].to(device=device, dtype=per_sample.dtype)
    return (w * per_sample).mean()


def loss_weights(sched, kind: str) -> torch.Tensor:
    """(num_timesteps,) weight of each diffusion step's loss, mean 1: ``uniform`` all 1, ``p2``
    proportional to 1 / (1 + SNR(t)) with SNR = abar / (1 - abar) (Choi et al. 2022, k = 1, gamma = 1),
    ``v`` proportional to 1 / abar = 1 + 1 / SNR(t), the loss of v-prediction (Salimans & Ho 2022):
    at the noisiest steps it is the error of the predicted clean image, which only z can lower."""
    abar = torch.as_tensor(np.asarray(sched.alphas_cumprod), dtype=torch.float64)
    if kind == "uniform":
        w = torch.ones_like(abar)
    elif kind == "p2":
        w = 1.0 / (1.0 + abar / (1.0 - abar))
    elif kind == "v":
        w = 1.0 / abar
    else:
        raise CardiolatentError(f"unknown loss weighting {kind!r}; use uniform, p2 or v")
    return (w / w.mean()).float()


def _optimiser_step(net, ema, opt, loss: torch.Tensor, step: int, cfg: TrainConfig) -> None:
    """Backpropagate ``loss``, take a clipped Adam step at the scheduled rate and update the EMA."""
    for group in opt.param_groups:
        group["lr"] = learning_rate(step, cfg) * group.get("lr_scale", 1.0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], cfg.grad_clip)
    opt.step()
    _ema_update(ema, net, ema_decay_at(step, cfg))


def _resume_key(cfg: TrainConfig) -> str:
    """The settings a resumed run must share with the checkpoint (``steps`` may grow)."""
    d = asdict(cfg)
    for k in ("steps", "checkpoint_every", "log_every", "device", "threads", "weights_dtype", "keep_snapshots"):
        if k == "steps" and cfg.lr_schedule == "cosine":
            continue  # the cosine schedule depends on the total number of steps
        d.pop(k)
    if cfg.lr_schedule == "constant" and cfg.warmup_steps == 0:
        d.pop("lr_schedule"), d.pop("warmup_steps")  # checkpoints written before these options resume
    if not cfg.ema_warmup:
        d.pop("ema_warmup")
    if not cfg.freeze_encoder:
        d.pop("freeze_encoder")
    if cfg.loss_weighting == "uniform":
        d.pop("loss_weighting")
    if cfg.cond_lr_scale == 1.0:
        d.pop("cond_lr_scale")
    if not cfg.standardise_conditioning:
        d.pop("standardise_conditioning")
    if not cfg.augment.active:   # checkpoints written before augmentation existed resume
        for k in ("aug_rotate_deg", "aug_shift_px", "aug_bias", "aug_gamma", "aug_noise", "aug_target"):
            d.pop(k)
    return json.dumps(d, sort_keys=True)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be written again)."""
    lines = path.read_text().splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if ln and int(ln.split("\t")[0]) <= step]
    path.write_text("\n".join(keep) + "\n")


def snapshot_path(out: str | Path, step: int) -> Path:
    """Where ``keep_snapshots`` writes the EMA weights of ``step``: ``OUT/snapshots/model_step{step:06d}.safetensors``."""
    return Path(out) / "snapshots" / f"model_step{step:06d}.safetensors"


def _write_ema(ema, path: Path, step: int, cfg: TrainConfig, model_config) -> None:
    """The EMA weights as a safetensors file carrying the model configuration, the step and the
    training settings (the final model.safetensors and every snapshot)."""
    device = next(ema.parameters()).device
    save_weights(ema.cpu().eval(), path, model_config, dtype=getattr(torch, cfg.weights_dtype),
                 extra={"trained_steps": str(step), "train_config": json.dumps(asdict(cfg), sort_keys=True)})
    ema.to(device)


def _save_snapshot(out: Path, ema, step: int, cfg: TrainConfig, model_config) -> None:
    """EMA weights at ``step``, for choosing a step afterwards on held-out data (early stopping)."""
    path = snapshot_path(out, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_ema(ema, path, step, cfg, model_config)


def _save_checkpoint(path: Path, net, ema, opt, gen, step: int, cfg: TrainConfig, model_config) -> None:
    state = {
        "net": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
        "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
        "train_config": _resume_key(cfg), "model_config": model_config.to_json(),
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


