"""The training loop: loss goes down, checkpoints resume exactly, weights carry their config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cardiolatent.model.config import PRESETS
from cardiolatent.train.loop import TrainConfig, batch_indices, train

#: a tiny configuration of the same architecture, so a training step takes milliseconds
TINY = PRESETS["mini"].replace(input_shape=(4, 32, 32), attention_resolutions=(4,), name="tiny")


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    T, H, W = TINY.input_shape
    yy, xx = np.mgrid[0:H, 0:W]
    vols = []
    for _ in range(n):
        r = rng.uniform(4, 10)
        cy, cx = rng.uniform(10, 22, 2)
        frames = [((yy - cy) ** 2 + (xx - cx) ** 2 < (r * (1 + 0.2 * np.sin(2 * np.pi * t / T))) ** 2)
                  for t in range(T)]
        vols.append(np.stack(frames).astype(np.float32) * 2 - 1)
    return np.stack(vols)


def test_batch_indices_is_a_seeded_permutation_per_epoch():
    n, b = 10, 3
    epoch0 = torch.cat([batch_indices(s, n, b, 5) for s in range(3)])
    assert len(set(epoch0.tolist())) == 9
    assert torch.equal(batch_indices(4, n, b, 5), batch_indices(4, n, b, 5))
    assert not torch.equal(batch_indices(0, n, b, 5), batch_indices(3, n, b, 5))


def test_resume_continues_exactly(tmp_path):
    data = _data()
    cfg = TrainConfig(seed=3, steps=6, batch_size=4, checkpoint_every=3, log_every=1, threads=1)
    full = train(data, TINY, tmp_path / "full", cfg, progress=False)
    # interrupted after 3 steps, then resumed to 6
    part_cfg = TrainConfig(**{**cfg.__dict__, "steps": 3})
    train(data, TINY, tmp_path / "part", part_cfg, progress=False)
    resumed = train(data, TINY, tmp_path / "part", cfg, progress=False)
    from safetensors.torch import load_file

    a, b = load_file(full), load_file(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log = pd.read_csv(tmp_path / "part" / "loss.tsv", sep="\t")
    assert list(log["step"]) == [1, 2, 3, 4, 5, 6]


def test_loss_decreases_and_weights_load_without_arguments(tmp_path):
    from cardiolatent.model.weights import config_from_file

    data = _data(24)
    cfg = TrainConfig(seed=1, steps=40, batch_size=4, lr=1e-3, log_every=10, checkpoint_every=40, threads=1)
    path = train(data, TINY, tmp_path, cfg, progress=False)
    log = pd.read_csv(tmp_path / "loss.tsv", sep="\t")
    assert log["loss"].iloc[-2:].mean() < log["loss"].iloc[:2].mean()
    conf = config_from_file(path)
    assert conf.seed == 1 and tuple(conf.input_shape) == TINY.input_shape


def test_learning_rate_schedule_and_ema_warmup_closed_forms():
    import math

    from cardiolatent.train.loop import TrainConfig, ema_decay_at, learning_rate

    cfg = TrainConfig(steps=100, lr=1e-3, lr_schedule="cosine", warmup_steps=10)
    assert learning_rate(0, cfg) == pytest.approx(1e-3 * 0.1 * 0.5 * (1 + math.cos(0.0)), rel=1e-12)
    assert learning_rate(50, cfg) == pytest.approx(1e-3 * 0.5, rel=1e-12)
    assert learning_rate(100, cfg) == pytest.approx(0.0, abs=1e-15)
    assert learning_rate(40, TrainConfig(lr=3e-4)) == 3e-4
    plain = TrainConfig(ema_decay=0.998)
    warm = TrainConfig(ema_decay=0.998, ema_warmup=True)
    assert ema_decay_at(0, plain) == 0.998
    assert ema_decay_at(0, warm) == pytest.approx(0.1) and ema_decay_at(90, warm) == pytest.approx(91 / 100)
    assert ema_decay_at(10 ** 6, warm) == 0.998
    # weight left on the initial weights after 400 steps: plain 0.998^400, warm-up ~0
    left_plain = np.prod([ema_decay_at(s, plain) for s in range(400)])
    left_warm = np.prod([ema_decay_at(s, warm) for s in range(400)])
    assert left_plain == pytest.approx(0.998 ** 400) and left_warm < 1e-15


def test_snapshots_hold_the_ema_weights_at_every_checkpoint(tmp_path):
    from safetensors.torch import load_file

    from cardiolatent.model.pipeline import load_model
    from cardiolatent.train.loop import snapshot_path

    data = _data()
    cfg = TrainConfig(seed=2, steps=6, batch_size=4, checkpoint_every=2, log_every=1, threads=1, keep_snapshots=True)
    final = train(data, TINY, tmp_path / "a", cfg, progress=False)
    snaps = sorted((tmp_path / "a" / "snapshots").glob("*.safetensors"))
    assert [p.name for p in snaps] == [snapshot_path(tmp_path / "a", s).name for s in (2, 4, 6)]
    last, fin = load_file(snaps[-1]), load_file(final)
    assert last.keys() == fin.keys() and all(torch.equal(last[k], fin[k]) for k in fin)
    first = load_file(snaps[0])
    assert any(not torch.equal(first[k], fin[k]) for k in fin)  # the weights moved between snapshots
    assert load_model(snaps[0]).config.seed == 2  # a snapshot loads without arguments
    # the flag changes nothing else: same final weights without it, and resuming across it is allowed
    plain = train(data, TINY, tmp_path / "b", TrainConfig(**{**cfg.__dict__, "keep_snapshots": False}),
                  progress=False)
    assert all(torch.equal(load_file(plain)[k], fin[k]) for k in fin)
    assert not (tmp_path / "b" / "snapshots").exists()


def test_freeze_encoder_keeps_the_encoder_bit_for_bit_and_trains_the_decoder(tmp_path):
    """Decoder-only fine-tuning: every encoder tensor of the written file equals the starting one
    exactly (so the latents are unchanged), the denoiser's tensors moved, and it resumes exactly."""
    from safetensors.torch import load_file

    from cardiolatent.errors import CardiolatentError

    data = _data()
    start = train(data, TINY, tmp_path / "start", TrainConfig(seed=4, steps=4, batch_size=4, threads=1),
                  progress=False)
    cfg = TrainConfig(seed=4, steps=6, batch_size=4, checkpoint_every=3, log_every=1, threads=1, lr=1e-3,
                      freeze_encoder=True)
    tuned = train(data, TINY, tmp_path / "tuned", cfg, init_weights=start, progress=False)
    a, b = load_file(start), load_file(tuned)
    enc = [k for k in a if ".encoder." in f".{k}" or k.startswith("encoder.")]
    assert enc and all(torch.equal(a[k], b[k]) for k in enc)
    assert any(not torch.equal(a[k], b[k]) for k in a if k not in enc)
    part = train(data, TINY, tmp_path / "part", TrainConfig(**{**cfg.__dict__, "steps": 3}), init_weights=start,
                 progress=False)
    resumed = train(data, TINY, tmp_path / "part", cfg, init_weights=start, progress=False)
    assert part.exists() and all(torch.equal(load_file(resumed)[k], b[k]) for k in b)
    with pytest.raises(CardiolatentError, match="--init"):
        train(data, TINY, tmp_path / "none", cfg, progress=False)


def test_loss_weights_closed_forms_and_conditioning_learning_rate_groups():
    from cardiolatent.model.diffusion import default_schedule
    from cardiolatent.model.network import DiffAENetwork
    from cardiolatent.train.loop import _param_groups, loss_weights

    sched = default_schedule()
    abar = np.asarray(sched.alphas_cumprod, dtype=np.float64)
    for kind, raw in (("uniform", np.ones_like(abar)), ("p2", 1 - abar), ("v", 1 / abar)):
        w = loss_weights(sched, kind).double().numpy()
        np.testing.assert_allclose(w, raw / raw.mean(), rtol=1e-6)   # 1 / (1 + SNR) = 1 - abar
    with pytest.raises(Exception, match="unknown loss weighting"):
        loss_weights(sched, "snr")
    net = DiffAENetwork(TINY)
    one = _param_groups(net, TrainConfig())
    two = _param_groups(net, TrainConfig(cond_lr_scale=10.0))
    assert len(one) == 1 and [g["lr_scale"] for g in two] == [1.0, 10.0]
    cond = {id(p) for n, p in net.named_parameters() if "cond_emb_layers" in n}
    assert {id(p) for p in two[1]["params"]} == cond and cond
    assert sum(len(g["params"]) for g in two) == len(list(net.parameters()))
