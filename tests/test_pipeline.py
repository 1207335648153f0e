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


def test_readme_snippet_works_with_the_demo_weights(tmp_path):
    """The README's Python snippet, with a demo model (input 50x64x64): encode / invert take the
    prepared 50x128x128 volume and resample it themselves, exactly as an explicit resample would."""
    from cardiolatent.images.prepare import resample
    from cardiolatent.images.readers import read_bulk_zip
    from cardiolatent.model.pipeline import demo_weight_files
    from cardiolatent.synth.dicom import write_bulk_zip
    from cardiolatent.synth.phantom import render_cine

    params = dict(lvedv_ml=150.0, lvef_pct=60.0, lvwt_mm=9.0, lav_ml=70.0, rvedv_ml=160.0, heart_rate_bpm=65.0)
    cine = render_cine(params, view="4Ch", rng=np.random.default_rng(7), shape=(150, 140))
    write_bulk_zip(tmp_path / "1234567_20208_2_0.zip", 1234567, 2, {"4Ch": cine}, study_date="2016-01-02")

    # --- the snippet (README "From Python"), demo weights instead of released ones ---
    model = cardiolatent.load_model(demo_weight_files()[3])   # the demo model of seed 1994
    frames, info = read_bulk_zip(tmp_path / "1234567_20208_2_0.zip")
    x = cardiolatent.prepare(frames)            # (50, H, W) cine -> (50, 128, 128) float32 in [-1, 1]
    z = model.encode(x[None, None])             # (1, 128)
    x_T = model.invert(x[None, None], z, steps=2)
    x_hat = model.decode(x_T, z, steps=2)       # in [-1, 1]
    # ---

    assert model.seed == 1994 and model.input_shape != x.shape
    assert z.shape == (1, model.latent_dim) and z.dtype == torch.float32
    explicit = resample(x, model.input_shape)
    assert torch.equal(z, model.encode(explicit[None, None]))
    assert torch.equal(z, model.encode(x))                  # (T, H, W) is one volume too
    assert torch.equal(x_T, model.invert(explicit[None, None], z, steps=2))
    assert tuple(x_hat.shape) == (1, 1) + tuple(model.input_shape)
    with pytest.raises(CardiolatentError, match=r"\(50, 100, 100\)"):
        model.encode(np.zeros((1, 1, 50, 100, 100), np.float32))
