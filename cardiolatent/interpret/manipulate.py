"""Move one participant's latents along a direction and decode the heart at each step.

The paper's latent manipulation (``shared/reference/model.md``): encode the prepared cine to ``z``,
DDIM-invert it to its stochastic code ``x_T`` (kept for every edit, so only the semantic part
changes), move ``z`` along a :class:`~cardiolatent.interpret.direction.Direction` by each
magnitude ``m`` and decode ``(x_T, z')``. ``m = 0`` is the participant's own reconstruction.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import torch
from tqdm.auto import tqdm

from cardiolatent.errors import CardiolatentError
from cardiolatent.interpret.direction import Direction

#: default DDIM steps (inversion, decoding) per model preset; the paper used 200 / 100
DEFAULT_STEPS = {"published": (200, 100)}
#: for the reduced presets (demo, mini): 36-38 dB reconstructions of the demo models (50 + 50: 33-35)
REDUCED_STEPS = (100, 100)
#: --dtype choices: fp32 (the model's own float32, TF32 off on CUDA) or bf16 (bfloat16 autocast)
DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def default_steps(model) -> tuple[int, int]:
    """(inversion, decoding) DDIM steps for ``model``'s preset."""
    return DEFAULT_STEPS.get(model.config.name, REDUCED_STEPS)


@dataclasses.dataclass
class Manipulation:
    """One participant moved along one direction.

    ``magnitudes`` (M,); ``decoded`` float32 (M, T, H, W) in [-1, 1] at the model's input shape;
    ``input`` float32 (T, H, W), the prepared cine at that shape; ``z`` (D,) its latents and
    ``z_moved`` (M, D) the edited ones (raw scale); ``position`` (M,) where each edit lies along the
    direction (``z_norm @ beta``); ``steps`` (inversion, decoding).
    """

    magnitudes: np.ndarray
    decoded: np.ndarray
    input: np.ndarray
    z: np.ndarray
    z_moved: np.ndarray
    position: np.ndarray
    steps: tuple[int, int]

    def reconstruction_psnr(self) -> float | None:
        """PSNR (dB, data range 2) of the ``m = 0`` decoding against the input; None without ``m = 0``."""
        zero = np.flatnonzero(self.magnitudes == 0)
        if len(zero) == 0:
            return None
        mse = float(np.mean((self.decoded[zero[0]].astype(np.float64) - self.input) ** 2))
        return float("inf") if mse == 0 else float(10 * np.log10(4.0 / mse))


def manipulate_volume(model, x, direction: Direction, magnitudes, *, steps: tuple[int, int] | None = None,
                      batch_size: int = 8, dtype: str = "fp32") -> Manipulation:
    """Decode the prepared cine ``x`` moved along ``direction`` by each magnitude.

    ``model``: a :class:`cardiolatent.model.pipeline.DiffAE` of the seed the direction was fitted
    in (whole network). ``x``: a prepared cine (50, 128, 128) or a volume at the model's input
    shape. ``steps``: DDIM (inversion, decoding) steps, default :func:`default_steps`. Magnitudes
    are decoded in batches of ``batch_size``.
    """
    xb = np.asarray(x, dtype=np.float32)
    if xb.ndim == 5 or (xb.ndim == 4 and xb.shape[0] != 1):
        raise CardiolatentError(f"manipulate one cine at a time (got a batch of {xb.shape[0]})")
    return manipulate_batch(model, xb.reshape(1, *xb.shape[-3:]), direction, magnitudes, steps=steps,
                            batch_size=batch_size, dtype=dtype)[0]


@contextlib.contextmanager
def _precision(model, dtype: str):
    """fp32 (the model's own float32, TF32 off), or bf16: bfloat16 autocast on the model's device."""
    if dtype not in DTYPES:
        raise CardiolatentError(f"unknown dtype {dtype!r}; use fp32 or bf16")
    if DTYPES[dtype] is None:
        yield
        return
    with torch.autocast(device_type=model.device.type, dtype=DTYPES[dtype]):
        yield


def manipulate_batch(model, volumes, direction: Direction, magnitudes, *, steps: tuple[int, int] | None = None,
                     batch_size: int = 8, dtype: str = "fp32", progress: bool = False) -> list[Manipulation]:
    """Move each cine of ``volumes`` (P, T, H, W) along ``direction`` by every magnitude.

    The same computation as :func:`cardiolatent.interpret.manipulate.manipulate_volume` for each
    cine, batched: encodings and inversions ``batch_size`` cines at a time, then the P x M
    decodings ``batch_size`` at a time. Returns one :class:`Manipulation` per cine, in order.
    """
    m = np.atleast_1d(np.asarray(magnitudes, dtype=np.float64))
    if m.ndim != 1 or len(m) == 0:
        raise CardiolatentError("give at least one magnitude")
    if batch_size < 1:
        raise CardiolatentError(f"the batch size must be at least 1, not {batch_size}")
    _check_model(model, direction)
    inv_steps, dec_steps = steps or default_steps(model)
    x = model.fit_input(np.asarray(volumes, dtype=np.float32))
    n = x.shape[0]
    total = -(-n // batch_size) + -(-(n * len(m)) // batch_size)
    bar = tqdm(total=total, desc="manipulate", unit="batch", disable=not progress)
    zs, codes = [], []
    with _precision(model, dtype):
        for i in range(0, n, batch_size):
            xb = x[i:i + batch_size]
            z = model.encode(xb)
            zs.append(z)
            codes.append(model.invert(xb, z, steps=inv_steps).float())
            bar.update()
        z_all, x_T = torch.cat(zs), torch.cat(codes)
        z_np = z_all.double().cpu().numpy()
        moved = np.stack([direction.move(z_np[p], m) for p in range(n)])          # (P, M, D)
        flat_z = torch.as_tensor(moved.reshape(n * len(m), -1), dtype=torch.float32)
        owner = np.repeat(np.arange(n), len(m))
        decoded = []
        for i in range(0, len(owner), batch_size):
            idx = owner[i:i + batch_size]
            decoded.append(model.decode(x_T[idx], flat_z[i:i + batch_size], steps=dec_steps)[:, 0].float().cpu().numpy())
            bar.update()
    bar.close()
    dec = np.concatenate(decoded).astype(np.float32).reshape(n, len(m), *x.shape[2:])
    inputs = x[:, 0].float().cpu().numpy()
    return [Manipulation(magnitudes=m.copy(), decoded=dec[p], input=inputs[p], z=z_np[p], z_moved=moved[p],
                         position=direction.project(moved[p]), steps=(int(inv_steps), int(dec_steps)))
            for p in range(n)]


def _check_model(model, direction: Direction) -> None:
    seed = direction.summary.seed
    if model.seed is not None and int(model.seed) != int(seed):
        raise CardiolatentError(f"the direction lives in the latents of seed {seed}, but the model is seed "
                                f"{model.seed}; use the model of seed {seed}")
    if model.latent_dim != len(direction.table):
        raise CardiolatentError(f"the model has {model.latent_dim} latents, the direction {len(direction.table)}")


__all__ = ["DEFAULT_STEPS", "DTYPES", "REDUCED_STEPS", "Manipulation", "default_steps", "manipulate_batch",
           "manipulate_volume"]
