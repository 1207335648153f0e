"""Diffusion schedule, q_sample, DDIM sampling and inversion against the original's fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cardiolatent.model.diffusion import (
    LinearSchedule,
    ddim_invert,
    ddim_sample,
    default_schedule,
    q_sample,
    spaced_timesteps,
    training_loss,
)

FIX = Path(__file__).parent / "fixtures" / "published"


def _load(name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(FIX / f"{name}.npy"))


# ------------------------------------------------------------------ schedule
def test_linear_schedule_closed_form():
    s = LinearSchedule()
    assert s.betas.dtype == np.float64 and s.betas.shape == (1000,)
    t = np.arange(1000)
    np.testing.assert_allclose(s.betas, 1e-4 + (0.02 - 1e-4) * t / 999, rtol=0, atol=1e-15)
    assert s.betas[0] == 1e-4 and s.betas[-1] == 0.02
    for k in (0, 1, 250, 500, 999):
        direct = np.prod([1.0 - (1e-4 + (0.02 - 1e-4) * i / 999) for i in range(k + 1)])
        assert s.alphas_cumprod[k] == pytest.approx(direct, rel=1e-12)
    assert s.alphas_cumprod_prev[0] == 1.0
    np.testing.assert_array_equal(s.alphas_cumprod_prev[1:], s.alphas_cumprod[:-1])
    np.testing.assert_allclose(s.sqrt_recip_alphas_cumprod, 1 / np.sqrt(s.alphas_cumprod), rtol=1e-14)
    np.testing.assert_allclose(s.sqrt_recipm1_alphas_cumprod, np.sqrt(1 / s.alphas_cumprod - 1), rtol=1e-14)
    # the value quoted in the fixture README: abar at t = 900 is 2.70e-4
    assert s.alphas_cumprod[900] == pytest.approx(2.70e-4, rel=2e-3)


@pytest.mark.parametrize("steps,stride", [(10, 100), (20, 50), (1000, 1)])
def test_spaced_schedule(steps, stride):
    assert spaced_timesteps(1000, steps) == list(range(0, 1000, stride))
    base = LinearSchedule()
    sp = base.spaced(steps)
    assert sp.num_timesteps == steps
    np.testing.assert_array_equal(sp.timestep_map, np.arange(0, 1000, stride))
    # respaced cumulative products equal the base ones at the kept timesteps
    np.testing.assert_allclose(sp.alphas_cumprod, base.alphas_cumprod[sp.timestep_map], rtol=1e-12)
    assert sp.betas[0] == pytest.approx(base.betas[0], rel=1e-12)
    np.testing.assert_allclose(
        sp.betas[1:], 1 - base.alphas_cumprod[sp.timestep_map[1:]] / base.alphas_cumprod[sp.timestep_map[:-1]],
        rtol=1e-12,
    )


def test_spaced_timesteps_rejects_impossible_counts():
    with pytest.raises(ValueError):
        spaced_timesteps(1000, 0)
    with pytest.raises(ValueError):
        spaced_timesteps(1000, 1001)


def test_q_sample_reproduces_fixture():
    x0 = _load("mini_input")
    noise = torch.randn((1, 1, 8, 32, 32), generator=torch.Generator().manual_seed(42))
    xt = q_sample(x0, torch.tensor([500]), noise)
    assert xt.dtype == torch.float32
    assert float((xt - _load("mini_xt")).abs().max()) <= 1e-6


# ----------------------------------------------------- DDIM with toy eps functions
def test_ddim_passes_original_timesteps_and_latent():
    seen = []

    def eps_fn(x, t, z):
        seen.append((t.dtype, t.tolist(), z))
        return torch.zeros_like(x)

    z = torch.ones(2, 3)
    x = torch.zeros(2, 1, 2, 4, 4)
    ddim_invert(eps_fn, x, z, 10)
    assert [s[1][0] for s in seen] == list(range(0, 1000, 100))
    assert all(s[0] == torch.int64 and len(s[1]) == 2 and s[2] is z for s in seen)
    seen.clear()
    ddim_sample(eps_fn, x, z, 20)
    assert [s[1][0] for s in seen] == list(range(950, -1, -50))


def test_ddim_with_exact_eps_is_lossless_without_clipping():
    # For data x0 whose x_T is known, a perfect eps-predictor makes DDIM exact (eta = 0).
    gen = torch.Generator().manual_seed(3)
    x0 = torch.rand((2, 1, 2, 4, 4), generator=gen) * 1.6 - 0.8
    noise = torch.randn(x0.shape, generator=gen)
    s = default_schedule()

    def oracle(x, t, z):  # eps consistent with x0 at any timestep
        a = torch.from_numpy(s.sqrt_alphas_cumprod[t.numpy()]).view(-1, 1, 1, 1, 1)
        b = torch.from_numpy(s.sqrt_one_minus_alphas_cumprod[t.numpy()]).view(-1, 1, 1, 1, 1)
        return ((x.double() - a * x0.double()) / b).float()

    x_T = q_sample(x0, torch.tensor([999, 999]), noise)
    out = ddim_sample(oracle, x_T, None, 20)
    assert float((out - x0).abs().max()) < 1e-4
    assert out.min() >= -1 and out.max() <= 1


def test_ddim_eta_noise_is_seeded():
    def eps_fn(x, t, z):
        return 0.1 * x

    x = torch.randn((1, 1, 2, 4, 4), generator=torch.Generator().manual_seed(0))
    a = ddim_sample(eps_fn, x, None, 10, eta=1.0, generator=torch.Generator().manual_seed(5))
    b = ddim_sample(eps_fn, x, None, 10, eta=1.0, generator=torch.Generator().manual_seed(5))
    c = ddim_sample(eps_fn, x, None, 10, eta=0.0)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_training_loss():
    x0 = torch.zeros((3, 1, 2, 4, 4))

    def zero_eps(x, t, z):
        assert t.dtype == torch.int64 and t.min() >= 0 and t.max() < 1000
        return torch.zeros_like(x)

    gen = torch.Generator().manual_seed(1)
    loss = training_loss(zero_eps, x0, None, gen)
    assert loss.ndim == 0 and 0.3 < float(loss) < 3.0  # E[noise^2] = 1
    again = training_loss(zero_eps, x0, None, torch.Generator().manual_seed(1))
    assert float(loss) == float(again)
    noise = torch.ones_like(x0)
    per = training_loss(zero_eps, x0, None, t=torch.tensor([0, 10, 999]), noise=noise, reduction="none")
    torch.testing.assert_close(per, torch.ones(3))

    def perfect(x, t, z):  # x0 = 0, so x_t = sqrt(1 - abar) * noise
        b = torch.from_numpy(default_schedule().sqrt_one_minus_alphas_cumprod[t.numpy()]).float()
        return x / b.view(-1, 1, 1, 1, 1)

    assert float(training_loss(perfect, x0, None, torch.Generator().manual_seed(2))) < 1e-10


# ------------------------------------------------- the mini network (original fixtures)
@pytest.fixture(scope="module")
def mini():
    return _mini_network()


def _mini_network():
    # These modules are part of the package; a missing one is a failure, not a skip.
    from cardiolatent.model.config import PRESETS
    from cardiolatent.model.network import DiffAENetwork
    from cardiolatent.model.weights import load_into

    torch.manual_seed(0)
    net = DiffAENetwork(PRESETS["mini"]).eval()
    load_into(net, FIX / "mini_network.safetensors")
    return net


@pytest.fixture(scope="module")
def mini_inverted(mini):
    """x_T from the stored mini_input and mini_latent (10 DDIM inversion steps), computed once."""
    return ddim_invert(mini, _load("mini_input"), _load("mini_latent"), 10)


def test_mini_inversion_reproduces_xT(mini_inverted):
    diff = (mini_inverted - _load("mini_xT")).abs()
    assert float(diff.max()) <= 2e-4, (float(diff.max()), float(diff.mean()))


def test_mini_decode_reproduces_decoded(mini):
    out = ddim_sample(mini, _load("mini_xT"), _load("mini_latent"), 10)
    diff = (out - _load("mini_decoded")).abs()
    assert out.min() >= -1 and out.max() <= 1
    assert float(diff.max()) <= 2e-4, (float(diff.max()), float(diff.mean()))


def test_mini_full_chain(mini, mini_inverted):
    # mini_input -> x_T (inversion) -> decode; errors of the inversion carry into the decode
    out = ddim_sample(mini, mini_inverted, _load("mini_latent"), 10)
    diff = (out - _load("mini_decoded")).abs()
    assert float(diff.max()) <= 2e-3 and float(diff.mean()) <= 2e-4, (float(diff.max()), float(diff.mean()))


_AVX2_ONLY = "ATEN_CPU_CAPABILITY"


def test_mini_ddim_arithmetic_is_exact_with_math_attention():
    # The fixtures were made with PyTorch's x86-64 AVX2 CPU kernels; its AVX-512 kernels sum in
    # another order (mini_xT moves by 1.3e-5 on an AVX-512 CPU), so the check runs in a child
    # process with the AVX2 kernels, whatever this CPU offers.
    code = "import sys; sys.path.insert(0, %r); import test_diffusion as t; t._exact_check()" % str(Path(__file__).parent)
    env = {**os.environ, _AVX2_ONLY: "avx2"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]


def _exact_check():
    # With the original's einsum/softmax attention the network reproduces the original bit for
    # bit, so any remaining difference would come from the DDIM arithmetic itself (applying the
    # coefficients in float64 instead of float32 already moves mini_xT by 1.5e-5).
    mini = _mini_network()
    mini.set_attention_impl("math")
    try:
        x_T = ddim_invert(mini, _load("mini_input"), _load("mini_latent"), 10)
        out = ddim_sample(mini, _load("mini_xT"), _load("mini_latent"), 10)
    finally:
        mini.set_attention_impl("sdpa")
    assert float((x_T - _load("mini_xT")).abs().max()) <= 1e-6
    assert float((out - _load("mini_decoded")).abs().max()) <= 1e-6
