"""Move one participant's latents along a direction and decode the heart at each step.

The paper's latent manipulation (``shared/reference/model.md``): encode the prepared cine to ``z``,
DDIM-invert it to its stochastic code ``x_T`` (kept for every edit, so only the semantic part
changes), move ``z`` along a :class:`~cardiolatent.interpret.direction.Direction` by each
magnitude ``m`` and decode ``(x_T, z')``. ``m = 0`` is the participant's own reconstruction.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from cardiolatent.errors import CardiolatentError
from cardiolatent.interpret.direction import Direction

#: default DDIM steps (inversion, decoding) per model preset; the paper used 200 / 100
DEFAULT_STEPS = {"published": (200, 100)}
#: for the reduced presets (demo, mini): enough for ~36 dB reconstructions of the demo models
REDUCED_STEPS = (50, 50)


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
                      batch_size: int = 8) -> Manipulation:
    """Decode the prepared cine ``x`` moved along ``direction`` by each magnitude.

    ``model``: a :class:`cardiolatent.model.pipeline.DiffAE` of the seed the direction was fitted
    in (whole network). ``x``: a prepared cine (50, 128, 128) or a volume at the model's input
    shape. ``steps``: DDIM (inversion, decoding) steps, default :func:`default_steps`. Magnitudes
    are decoded in batches of ``batch_size``.
    """
    seed = direction.summary.seed
    if model.seed is not None and int(model.seed) != int(seed):
        raise CardiolatentError(f"the direction lives in the latents of seed {seed}, but the model is seed "
                                f"{model.seed}; use the model of seed {seed}")
    if model.latent_dim != len(direction.table):
        raise CardiolatentError(f"the model has {model.latent_dim} latents, the direction {len(direction.table)}")
    m = np.atleast_1d(np.asarray(magnitudes, dtype=np.float64))
    if m.ndim != 1 or len(m) == 0:
        raise CardiolatentError("give at least one magnitude")
    inv_steps, dec_steps = steps or default_steps(model)
    xb = model.fit_input(np.asarray(x, dtype=np.float32)[None, None] if np.ndim(x) == 3 else x)
    if xb.shape[0] != 1:
        raise CardiolatentError(f"manipulate one cine at a time (got a batch of {xb.shape[0]})")
    z = model.encode(xb)
    x_T = model.invert(xb, z, steps=inv_steps)
    z_np = z[0].double().cpu().numpy()
    moved = direction.move(z_np, m)
    out = []
    for i in range(0, len(m), batch_size):
        zz = torch.as_tensor(moved[i:i + batch_size], dtype=torch.float32)
        xt = x_T.expand(len(zz), *x_T.shape[1:])
        out.append(model.decode(xt, zz, steps=dec_steps)[:, 0].float().cpu().numpy())
    return Manipulation(magnitudes=m, decoded=np.concatenate(out).astype(np.float32),
                        input=xb[0, 0].float().cpu().numpy(), z=z_np, z_moved=moved,
                        position=direction.project(moved), steps=(int(inv_steps), int(dec_steps)))
