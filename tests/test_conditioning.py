"""Standardised conditioning (cardiolatent.model.conditioning): the rebuilt network keeps the
encoder bit for bit, starts as the old network conditioned on the average latent, and round-trips
through a weights file; the published layout is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardiolatent.errors import CardiolatentError
from cardiolatent.model.conditioning import encoder_latents, standardise_conditioning
from cardiolatent.model.config import PRESETS, ModelConfig
from cardiolatent.model.network import DiffAENetwork
from cardiolatent.model.pipeline import load_model
from cardiolatent.model.weights import save_weights

TINY = PRESETS["mini"].replace(input_shape=(4, 32, 32), attention_resolutions=(4,), name="tiny", seed=5)


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    net = DiffAENetwork(TINY).eval()
    with torch.no_grad():  # a conditioning that matters: perturb the zero-initialised layers
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    vols = np.clip(np.random.default_rng(1).normal(0, 0.5, (24, *TINY.input_shape)), -1, 1).astype(np.float32)
    return net, standardise_conditioning(net, vols).eval(), vols


def test_encoder_kept_and_conditioning_standardised(pair):
    net, new, vols = pair
    old, fresh = net.state_dict(), new.state_dict()
    assert set(fresh) - set(old) == {"cond_mean", "cond_sd"}
    assert all(torch.equal(old[k], fresh[k]) for k in old if k.startswith("encoder."))
    z = encoder_latents(net, vols)
    np.testing.assert_allclose(fresh["cond_mean"].numpy(), z.mean(0).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fresh["cond_sd"].numpy(), z.std(0).numpy(), rtol=1e-5)
    # every conditioning layer starts at W = 0, b = W_old E[SiLU(z)] + b_old
    silu = torch.nn.functional.silu(z).mean(0)
    for name, mod in new.named_modules():
        if name.endswith("cond_emb_layers"):
            assert torch.count_nonzero(mod[1].weight) == 0
            w, b = old[f"{name}.1.weight"].double(), old[f"{name}.1.bias"].double()
            np.testing.assert_allclose(mod[1].bias.detach().double().numpy(), (w @ silu + b).numpy(), rtol=1e-5, atol=1e-7)


def test_starts_as_the_old_network_at_the_average_latent(pair):
    net, new, vols = pair
    x = torch.as_tensor(vols[:4, None])
    xt = torch.as_tensor(np.random.default_rng(2).normal(size=x.shape).astype(np.float32))
    t = torch.full((4,), 600)
    with torch.no_grad():
        z = net.encode(x)
        zbar = encoder_latents(net, vols).mean(0).float().expand(4, -1)
        # the new network ignores z at the start: any z gives the old network's output at ~E[z]
        a, b = new(xt, t, z), new(xt, t, torch.zeros_like(z))
        assert torch.equal(a, b)
        # and the old network at the average latent differs only by SiLU's curvature over the spread
        ref = net(xt, t, zbar)
    assert float((a - ref).abs().max()) < 0.05 * float(ref.abs().mean())


def test_round_trip_through_a_file_and_published_layout_unchanged(pair, tmp_path):
    _, new, vols = pair
    path = save_weights(new, tmp_path / "w.safetensors")
    back = load_model(path)
    assert back.config.cond_standardise
    x = torch.as_tensor(vols[:2, None])
    with torch.no_grad():
        assert torch.equal(back.net(x, torch.tensor([10, 900]), back.encode(x)),
                           new(x, torch.tensor([10, 900]), new.encode(x)))
    assert "cond_standardise" not in PRESETS["published"].to_dict()
    assert ModelConfig.from_json(new.config.to_json()).cond_standardise
    assert not any(k.startswith("cond_") for k in DiffAENetwork(PRESETS["mini"]).state_dict())
    with pytest.raises(CardiolatentError, match="already"):
        standardise_conditioning(new, vols)
