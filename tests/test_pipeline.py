"""The user-facing API: cardiolatent.load_model / prepare and DiffAE methods on the published fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import cardiolatent
from cardiolatent.errors import CardiolatentError

FIX = Path(__file__).parent / "fixtures" / "published"


def test_load_published_encoder_only_and_encode():
    model = cardiolatent.load_model(FIX / "published_encoder.safetensors")
    assert model.encoder_only and model.config.name == "published" and model.latent_dim == 128
    x = np.load(FIX / "published_input.npy")
    z = model.encode(x)
    np.testing.assert_allclose(z.numpy(), np.load(FIX / "published_latent.npy"), atol=1e-5, rtol=0)
    with pytest.raises(CardiolatentError, match="semantic encoder"):
        model.decode(torch.zeros(1, 1, 50, 128, 128), z)


def test_mini_model_eps_invert_decode():
    model = cardiolatent.load_model(FIX / "mini_network.safetensors", config="mini")
    x = np.load(FIX / "mini_input.npy")
    z = model.encode(x)
    np.testing.assert_allclose(z.numpy(), np.load(FIX / "mini_latent.npy"), atol=1e-5, rtol=0)
    eps = model.eps(np.load(FIX / "mini_xt.npy"), 500, np.load(FIX / "mini_latent.npy"))
    np.testing.assert_allclose(eps.numpy(), np.load(FIX / "mini_eps.npy"), atol=1e-5, rtol=0)
    x_T = model.invert(x, np.load(FIX / "mini_latent.npy"), steps=10)
    np.testing.assert_allclose(x_T.numpy(), np.load(FIX / "mini_xT.npy"), atol=2e-4, rtol=0)
    dec = model.decode(np.load(FIX / "mini_xT.npy"), np.load(FIX / "mini_latent.npy"), steps=10)
    np.testing.assert_allclose(dec.numpy(), np.load(FIX / "mini_decoded.npy"), atol=2e-4, rtol=0)


def test_wrong_input_shape_is_a_clear_error():
    model = cardiolatent.load_model(FIX / "mini_network.safetensors", config="mini")
    with pytest.raises(CardiolatentError, match=r"\(8, 32, 32\)"):
        model.encode(np.zeros((1, 1, 8, 16, 16), np.float32))


def test_prepare_shortcut_matches_fixture():
    out = cardiolatent.prepare(np.load(FIX / "prep_raw.npy"))
    assert out.shape == (50, 128, 128) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.load(FIX / "prep_expected.npy"), atol=1e-6, rtol=0)
    with pytest.raises(CardiolatentError, match="50"):
        cardiolatent.prepare(np.load(FIX / "prep_raw.npy")[:49])


def test_full_float32_switches_tf32_off_and_restores_it():
    import torch

    from cardiolatent.model.precision import full_float32

    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = True, True
    try:
        with full_float32():
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        with pytest.raises(RuntimeError), full_float32():
            raise RuntimeError("boom")
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
