"""The DiffAE network against the fixtures of the original implementation, and the weights loader."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from cardiolatent.errors import CardiolatentError, UnsafeWeightsError, WeightsError
from cardiolatent.model import PRESETS, DiffAENetwork, ModelConfig
from cardiolatent.model.network import timestep_embedding
from cardiolatent.model.weights import (
    config_from_file,
    find_prefix,
    guess_config,
    load_into,
    read_state_dict,
    save_weights,
)

FIX = Path(__file__).parent / "fixtures" / "published"
TOL = 1e-5


def _arr(name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(FIX / name))


def _published_rows() -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    with open(FIX / "published_keys.tsv") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        assert header == ["key", "shape", "dtype"]
        for line in fh:
            key, shape, dtype = line.rstrip("\n").split("\t")
            assert dtype == "float32"
            rows.append((key, tuple(int(s) for s in shape.split(","))))
    return rows


@pytest.fixture(scope="module")
def mini_net() -> DiffAENetwork:
    net = DiffAENetwork(PRESETS["mini"]).eval()
    load_into(net, FIX / "mini_network.safetensors")
    return net


@pytest.fixture(scope="module")
def mini_state() -> dict[str, torch.Tensor]:
    return load_file(str(FIX / "mini_network.safetensors"))


# ---------------------------------------------------------------------------- architecture
def test_published_keys_shapes_and_counts():
    with torch.device("meta"):
        net = DiffAENetwork(PRESETS["published"])
    mine = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    rows = _published_rows()
    assert rows[0] == ("x_T", (4, 1, 50, 128, 128))
    ref_net = [(k[len("net."):], s) for k, s in rows if k.startswith("net.")]
    ref_ema = [(k[len("ema_net."):], s) for k, s in rows if k.startswith("ema_net.")]
    assert len(ref_net) == len(ref_ema) == 608
    assert mine == ref_net  # same keys, same shapes, same order
    assert mine == ref_ema
    assert sum(k.startswith("encoder.") for k, _ in mine) == 106
    assert net.num_parameters() == 20_837_473
    assert net.num_parameters("encoder") == 4_276_032
    assert net.num_parameters("unet") == 16_561_441
    attn = sorted(name for name, m in net.named_modules() if type(m).__name__ == "AttentionBlock")
    assert attn == sorted(["input_blocks.10.1", "input_blocks.11.1", "middle_block.1",
                           "output_blocks.3.1", "output_blocks.4.1", "output_blocks.5.1",
                           "encoder.input_blocks.10.1", "encoder.input_blocks.11.1",
                           "encoder.middle_block.1"])


def test_mini_keys_and_counts(mini_state):
    with torch.device("meta"):
        net = DiffAENetwork(PRESETS["mini"])
    ref = {k[len("ema_net."):]: tuple(v.shape) for k, v in mini_state.items() if k.startswith("ema_net.")}
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == ref
    assert net.num_parameters() == 1_262_665
    assert net.num_parameters("encoder") == 263_936


def test_timestep_embedding_layout():
    e = timestep_embedding(torch.tensor([0, 500]), 8)
    assert e.shape == (2, 8)
    assert torch.equal(e[0], torch.tensor([1.0] * 4 + [0.0] * 4))  # cos first, then sin
    freqs = torch.exp(-np.log(10000.0) * torch.arange(4, dtype=torch.float32) / 4)
    assert torch.allclose(e[1, :4], torch.cos(500 * freqs)) and torch.allclose(e[1, 4:], torch.sin(500 * freqs))


def test_demo_preset_is_small(tmp_path):
    cfg = PRESETS["demo"].replace(seed=1701)
    net = DiffAENetwork(cfg)
    assert cfg.latent_dim == 128 and cfg.input_shape == (10, 32, 32)
    path = save_weights(net, tmp_path / "demo_S1701.safetensors", cfg, dtype=torch.float16)
    assert path.stat().st_size <= 5_000_000  # one network, stored as float16
    x = torch.zeros(1, 1, *cfg.input_shape)
    with torch.no_grad():
        assert net.eval().encode(x).shape == (1, 128)


@pytest.mark.parametrize("preset", ["published", "mini", "demo"])
def test_encoder_last_stage_is_as_wide_as_the_latent(preset):
    """z = W pool(h) + b, so z spans at most as many dimensions as h has channels."""
    cfg = PRESETS[preset]
    assert cfg.base_channels * cfg.enc_channel_mult[-1] >= cfg.latent_dim


def test_demo_latents_are_full_rank():
    """Random inputs through a randomly initialised demo encoder give latents of rank 128
    (an encoder whose last stage had 24 channels gave rank 24)."""
    torch.manual_seed(0)
    cfg = PRESETS["demo"]
    net = DiffAENetwork(cfg).eval()
    x = torch.rand(200, 1, *cfg.input_shape) * 2 - 1
    with torch.no_grad():
        z = torch.cat([net.encode(x[i:i + 50]) for i in range(0, 200, 50)]).double()
    s = torch.linalg.svdvals(z - z.mean(0))
    assert int((s > s[0] * 1e-6).sum()) == cfg.latent_dim


def test_float16_weights_load_back_as_float32(tmp_path):
    torch.manual_seed(1)
    cfg = PRESETS["mini"]
    net = DiffAENetwork(cfg).eval()
    path = save_weights(net, tmp_path / "w16.safetensors", cfg, dtype=torch.float16)
    stored = load_file(path)
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    net2 = DiffAENetwork(cfg_from := config_from_file(path)).eval()
    assert cfg_from == cfg
    load_into(net2, path)
    for k, v in net2.state_dict().items():
        assert v.dtype == torch.float32
        assert torch.equal(v, net.state_dict()[k].to(torch.float16).to(torch.float32)), k


# ---------------------------------------------------------------------------- numerics
def test_published_encoder_reproduces_latent():
    with torch.device("meta"):
        net = DiffAENetwork(PRESETS["published"])
    net = net.to_empty(device="cpu").eval()
    info = load_into(net, FIX / "published_encoder.safetensors")
    assert info["encoder_only"] and info["prefix"] == "ema_net.encoder."
    with torch.no_grad():
        z = net.encode(_arr("published_input.npy"))
    ref = _arr("published_latent.npy")
    assert z.shape == (1, 128)
    assert (z - ref).abs().max().item() < TOL


def test_mini_latent_and_eps(mini_net):
    x = _arr("mini_input.npy")
    ref_z = _arr("mini_latent.npy")
    with torch.no_grad():
        z = mini_net.encode(x)
        eps = mini_net(_arr("mini_xt.npy"), torch.tensor([500]), ref_z)
    assert (z - ref_z).abs().max().item() < TOL
    assert (eps - _arr("mini_eps.npy")).abs().max().item() < TOL


def test_sdpa_matches_math(mini_net):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 8, 32, 32, generator=gen)
    z = torch.randn(2, 16, generator=gen)
    t = torch.tensor([10, 900])
    with torch.no_grad():
        out = {}
        for impl in ("math", "sdpa"):
            mini_net.set_attention_impl(impl)
            out[impl] = (mini_net.encode(x), mini_net(x, t, z))
    mini_net.set_attention_impl("sdpa")
    for a, b in zip(out["math"], out["sdpa"]):
        assert (a - b).abs().max().item() < TOL


# ---------------------------------------------------------------------------- loading
def test_prefix_detection(mini_state):
    keys = list(mini_state)
    assert find_prefix(keys) == "ema_net."
    assert find_prefix([k for k in keys if not k.startswith("ema_net.")]) == "net."
    assert find_prefix(["x_T", "model.encoder.out.3.weight", "model.out.2.weight"]) == "model."
    assert find_prefix(["encoder.out.3.weight"]) == ""
    with pytest.raises(WeightsError):
        find_prefix(["x_T", "foo.weight"])


def test_lightning_ckpt_bin_and_folder(tmp_path, mini_state, mini_net):
    x = _arr("mini_input.npy")
    with torch.no_grad():
        ref = mini_net.encode(x)

    def check(path, **kw):
        net = DiffAENetwork(PRESETS["mini"]).eval()
        info = load_into(net, path, **kw)
        with torch.no_grad():
            assert torch.equal(net.encode(x), ref)
        return info

    # Lightning checkpoint: {"state_dict": {x_T, net.*, ema_net.*}, ...}; prefers ema_net.
    lightning = dict(mini_state)
    lightning = {k: (v + 1.0 if k.startswith("net.") else v) for k, v in lightning.items()}  # net. differs
    ckpt = tmp_path / "epoch=10.ckpt"
    torch.save({"state_dict": lightning, "epoch": 10, "global_step": 1234}, ckpt)
    info = check(ckpt)
    assert info["prefix"] == "ema_net." and not info["encoder_only"]
    assert info["metadata"]["layout"] == "lightning" and info["metadata"]["global_step"] == 1234

    # pytorch_model.bin with another prefix, inside a folder
    folder = tmp_path / "hf_export"
    folder.mkdir()
    bin_sd = {"model." + k[len("ema_net."):]: v for k, v in mini_state.items() if k.startswith("ema_net.")}
    torch.save(bin_sd, folder / "pytorch_model.bin")
    (folder / "config.json").write_text("{}")
    assert check(folder)["prefix"] == "model."
    assert check(folder / "pytorch_model.bin")["prefix"] == "model."

    # a folder with safetensors and a ckpt: safetensors preferred
    both = tmp_path / "both"
    both.mkdir()
    save_file({k[len("ema_net."):]: v.contiguous() for k, v in mini_state.items()
               if k.startswith("ema_net.")}, str(both / "model.safetensors"))
    torch.save({"state_dict": lightning}, both / "last.ckpt")
    tensors, meta = read_state_dict(both)
    assert meta["source_file"].endswith("model.safetensors")
    assert check(both)["prefix"] == ""

    # plain state dict of the encoder only (bare keys), loaded into net.encoder
    enc = {k[len("ema_net.encoder."):]: v for k, v in mini_state.items() if k.startswith("ema_net.encoder.")}
    torch.save(enc, tmp_path / "encoder.pt")
    assert check(tmp_path / "encoder.pt")["encoder_only"]

    # guess the preset from shapes
    assert guess_config(lightning).name == "mini"


def test_mismatch_gives_one_clear_error(tmp_path, mini_state):
    sd = {k[len("ema_net."):]: v for k, v in mini_state.items() if k.startswith("ema_net.")}
    del sd["out.2.bias"]
    del sd["middle_block.1.qkv.weight"]
    sd["extra.layer.weight"] = torch.zeros(3)
    sd["out.0.weight"] = torch.zeros(5)
    path = tmp_path / "broken.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    net = DiffAENetwork(PRESETS["mini"])
    with pytest.raises(WeightsError) as err:
        load_into(net, path)
    msg = str(err.value)
    assert "broken.safetensors" in msg
    assert "2 missing keys" in msg and "out.2.bias" in msg and "middle_block.1.qkv.weight" in msg
    assert "1 unexpected keys" in msg and "extra.layer.weight" in msg
    assert "1 shape differences" in msg and "out.0.weight: file (5) vs model (8)" in msg
    # published weights into the mini network: shape differences are listed
    with pytest.raises(WeightsError, match=r"shape differences .*file \(32,1,3,3,3\) vs model \(8,1,3,3,3\)"):
        load_into(net, FIX / "published_encoder.safetensors")


class _Arbitrary:
    def __init__(self):
        self.value = 3


def test_arbitrary_pickle_is_refused(tmp_path, mini_state):
    path = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": {"net.encoder.out.3.weight": torch.zeros(1)}, "hparams": _Arbitrary()}, path)
    net = DiffAENetwork(PRESETS["mini"])
    with pytest.raises(UnsafeWeightsError) as err:
        load_into(net, path)
    assert isinstance(err.value, CardiolatentError)
    msg = str(err.value)
    assert "unsafe.ckpt" in msg and "arbitrary unpickling" in msg and "refuses for safety" in msg
    assert "_Arbitrary" in msg
    # a corrupt file is a WeightsError too, not a crash
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(WeightsError, match="junk.pt"):
        read_state_dict(bad)
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(WeightsError, match="no weights found"):
        read_state_dict(empty)
    with pytest.raises(WeightsError, match="no such file"):
        read_state_dict(tmp_path / "missing.safetensors")


def test_save_weights_round_trip(tmp_path):
    cfg = ModelConfig.from_dict(PRESETS["mini"].replace(seed=1701, name="roundtrip").to_dict())
    assert cfg == PRESETS["mini"].replace(seed=1701, name="roundtrip")
    net = DiffAENetwork(cfg)
    assert torch.equal(DiffAENetwork(cfg).encoder.out[3].weight, net.encoder.out[3].weight)  # seeded build
    path = tmp_path / "w" / "demo_S1701.safetensors"
    save_weights(net, path, cfg, extra={"seed": 1701, "note": "test"})
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left
    got = config_from_file(path)
    assert got == cfg and got.seed == 1701 and got.input_shape == (8, 32, 32)
    assert config_from_file(path.parent) == cfg
    assert config_from_file(FIX / "mini_network.safetensors") is None
    net2 = DiffAENetwork(got.replace(seed=0))
    info = load_into(net2, path)
    assert info["metadata"]["note"] == "test" and info["metadata"]["seed"] == "1701"
    for (k1, v1), (k2, v2) in zip(net.state_dict().items(), net2.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    meta = read_state_dict(path)[1]
    assert meta["format"] == "pt" and re.match(r"\d+\.\d+", meta["cardiolatent_version"])
