"""Training augmentation (issue 20): seeded by (seed, step), resumable, each operation as documented."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cardiolatent.errors import CardiolatentError
from cardiolatent.train.augment import Augment, augment_batch
from cardiolatent.train.loop import TrainConfig, _resume_key, train

from test_train import TINY, _data

FULL = Augment(rotate_deg=6, shift_px=2, bias=0.35, gamma=0.2, noise=0.02)


def _batch(n=4, seed=0):
    return torch.from_numpy(_data(n, seed)).unsqueeze(1)   # (B, 1, T, H, W) in [-1, 1]


def test_no_augmentation_is_the_identity():
    x = _batch()
    y = augment_batch(x, Augment(), seed=1, step=0)
    assert torch.equal(x, y) and y is not x


def test_draws_depend_only_on_seed_and_step():
    x = _batch()
    a = augment_batch(x, FULL, seed=5, step=17)
    assert torch.equal(a, augment_batch(x.clone(), FULL, seed=5, step=17))
    assert not torch.equal(a, augment_batch(x, FULL, seed=5, step=18))
    assert not torch.equal(a, augment_batch(x, FULL, seed=6, step=17))
    assert a.shape == x.shape and a.dtype == torch.float32
    # renormalised as the preparation does: min -1, max (just below) 1, per volume
    assert torch.allclose(a.amin(dim=(1, 2, 3, 4)), torch.full((4,), -1.0))
    assert torch.allclose(a.amax(dim=(1, 2, 3, 4)), torch.ones(4), atol=1e-5)


def test_gamma_alone_is_a_power_of_the_image():
    x = torch.rand(3, 1, 2, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05
    x[:, :, 0, 0, 0], x[:, :, 0, 0, 1] = 0.0, 1.0                      # min 0 and max 1 in [0, 1]
    y = augment_batch(x * 2 - 1, Augment(gamma=0.3), seed=2, step=3)
    y01 = ((y + 1) / 2).double()
    mask = (x > 0.1) & (x < 0.9)
    for b in range(3):
        g = torch.log(y01[b][mask[b]]) / torch.log(x[b][mask[b]].double())
        assert float(g.std()) < 1e-4                                    # one exponent per volume
        assert np.exp(-0.3) - 1e-6 <= float(g.mean()) <= np.exp(0.3) + 1e-6


def test_bias_alone_is_a_linear_ramp():
    x = torch.full((2, 1, 2, 16, 16), 0.6)
    x[:, :, :, 0, 0] = -1.0                                          # one dark pixel keeps the minimum at 0
    y = augment_batch(x, Augment(bias=0.35), seed=4, step=0)
    for b in range(2):
        img = ((y[b, 0, 0] + 1) / 2).double().numpy()
        yy, xx = np.mgrid[0:16, 0:16]
        keep = ~((yy == 0) & (xx == 0))
        A = np.column_stack([np.ones(keep.sum()), xx[keep], yy[keep]])
        coef, res, *_ = np.linalg.lstsq(A, img[keep], rcond=None)
        assert np.abs(A @ coef - img[keep]).max() < 1e-5                # planar: a linear ramp
        assert np.abs(coef[1:]).max() > 1e-4                           # and not flat


def test_rotation_and_shift_move_the_heart_not_its_size():
    yy, xx = np.mgrid[0:32, 0:32]
    blob = ((yy - 14) ** 2 / 36 + (xx - 17) ** 2 / 9 < 1).astype(np.float32) * 2 - 1
    x = torch.from_numpy(np.broadcast_to(blob, (6, 1, 2, 32, 32)).copy())
    y = augment_batch(x, Augment(rotate_deg=20, shift_px=3), seed=8, step=1)
    area0 = float((x[0, 0, 0] > 0).sum())
    for b in range(6):
        img = y[b, 0, 0].numpy()
        assert abs(float((img > 0).sum()) - area0) / area0 < 0.15
        cy, cx = np.argwhere(img > 0).mean(0)
        assert np.hypot(cy - 14, cx - 17) < 3 * np.sqrt(2) + 1.0
    assert not torch.equal(y[0], y[1])


def test_bad_sizes_are_refused():
    with pytest.raises(CardiolatentError, match="rotate_deg must be a number >= 0"):
        Augment(rotate_deg=-1)
    with pytest.raises(CardiolatentError, match="target must be one of"):
        Augment(target="decoder")


def test_augmented_training_resumes_exactly_and_changes_the_run(tmp_path):
    data = _data()
    aug = dict(aug_rotate_deg=8, aug_shift_px=1.5, aug_bias=0.3, aug_gamma=0.15, aug_noise=0.02)
    cfg = TrainConfig(seed=3, steps=6, batch_size=4, checkpoint_every=3, log_every=1, threads=1, **aug)
    full = train(data, TINY, tmp_path / "full", cfg, progress=False)
    part_cfg = TrainConfig(**{**cfg.__dict__, "steps": 3})
    train(data, TINY, tmp_path / "part", part_cfg, progress=False)
    resumed = train(data, TINY, tmp_path / "part", cfg, progress=False)
    a, b = load_file(full), load_file(resumed)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    plain = load_file(train(data, TINY, tmp_path / "plain", TrainConfig(seed=3, steps=6, batch_size=4,
                                                                          threads=1), progress=False))
    assert any(not torch.equal(a[k], plain[k]) for k in a)
    # the settings travel with the run and the weights
    saved = json.loads((tmp_path / "full" / "train.json").read_text())["train"]
    assert saved["aug_rotate_deg"] == 8 and saved["aug_target"] == "encoder"
    # a resume with other augmentation settings is refused
    other = TrainConfig(**{**cfg.__dict__, "steps": 9, "aug_rotate_deg": 2})
    with pytest.raises(CardiolatentError, match="other settings"):
        train(data, TINY, tmp_path / "part", other, progress=False)


def test_runs_without_augmentation_keep_their_resume_key():
    """Checkpoints written before augmentation existed still resume: no aug_* keys without augmentation."""
    key = json.loads(_resume_key(TrainConfig()))
    assert not any(k.startswith("aug_") for k in key)
    assert "aug_bias" in json.loads(_resume_key(TrainConfig(aug_bias=0.2)))
