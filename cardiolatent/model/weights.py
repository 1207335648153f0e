"""Finding, reading, loading and saving DiffAE network weights.

Accepted layouts (a file, or a folder holding one of them):

- ``*.safetensors`` (preferred; sharded ``*-0000k-of-0000n.safetensors`` are merged);
- ``pytorch_model.bin`` or any plain state dict saved with ``torch.save`` (``.pt``/``.pth``/``.bin``);
- Lightning checkpoints (``.ckpt``/``.pt``) holding ``{"state_dict": {...}}`` with ``net.``,
  ``ema_net.`` and ``x_T`` entries.

Pickle-based files are always read with ``torch.load(..., weights_only=True)``; files that
need arbitrary unpickling are refused (:class:`~cardiolatent.errors.UnsafeWeightsError`).

The network prefix is found at run time from the key ending in ``encoder.out.3.weight``
(``ema_net.`` preferred over ``net.``), ``x_T`` is ignored, and the weights load strictly.
Files written by :func:`save_weights` carry their :class:`ModelConfig` in the safetensors
metadata (``cardiolatent_config``), so :func:`config_from_file` can rebuild the network.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .. import __version__
from ..errors import UnsafeWeightsError, WeightsError
from ..io_utils import atomic_path
from .config import PRESETS, ModelConfig
from .network import DiffAENetwork

ANCHOR = "encoder.out.3.weight"
_ENC_ANCHOR = "out.3.weight"  # a bare encoder state dict
_SHARD = re.compile(r"-\d+-of-\d+\.safetensors$")
_PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
CONFIG_KEY = "cardiolatent_config"


# ---------------------------------------------------------------------------- locating files
def find_weights_file(path: str | os.PathLike) -> list[Path]:
    """The weight file(s) to read for ``path`` (a file, or a folder searched recursively).

    Preference inside a folder: ``*.safetensors`` (``model.safetensors`` first; all shards of
    a sharded export), then ``pytorch_model.bin``, then ``*.ckpt``, ``*.pt``/``*.pth``, ``*.bin``.
    Returns a list because sharded exports are several files.
    """
    p = Path(path)
    if not p.exists():
        raise WeightsError(f"{p}: no such file or folder (expected model weights)")
    if p.is_file():
        return [p]
    files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
    # files nearer the top of the folder win over deeper ones of the same kind
    files.sort(key=lambda f: (len(f.relative_to(p).parts), str(f)))

    def pick(cands: list[Path], kind: str, preferred: tuple[str, ...] = ()) -> list[Path] | None:
        if not cands:
            return None
        depth = len(cands[0].relative_to(p).parts)
        top = [f for f in cands if len(f.relative_to(p).parts) == depth]
        for name in preferred:
            hit = [f for f in top if f.name == name]
            if hit:
                return hit[:1]
        shards = [f for f in top if _SHARD.search(f.name)]
        if shards and len(shards) == len(top):
            return shards
        if len(top) == 1:
            return top
        listing = ", ".join(str(f.relative_to(p)) for f in top[:8])
        raise WeightsError(
            f"{p}: the folder holds several {kind} files ({listing}); pass the one to use")

    safet = [f for f in files if f.name.endswith(".safetensors")]
    got = pick(safet, "safetensors", ("model.safetensors",))
    if got:
        return got
    hf_bin = [f for f in files if f.name == "pytorch_model.bin"]
    if hf_bin:
        return hf_bin[:1]
    for suffixes, kind in (((".ckpt",), ".ckpt"), ((".pt", ".pth"), ".pt"), ((".bin",), ".bin")):
        got = pick([f for f in files if f.suffix in suffixes], kind)
        if got:
            return got
    raise WeightsError(
        f"{p}: no weights found in the folder (looked for *.safetensors, pytorch_model.bin, "
        f"*.ckpt, *.pt, *.pth, *.bin)")


# ---------------------------------------------------------------------------- reading
def _read_safetensors(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(file), framework="pt", device="cpu") as fh:
            meta = dict(fh.metadata() or {})
            for key in fh.keys():
                tensors[key] = fh.get_tensor(key)
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"{file}: not a readable safetensors file ({exc})") from exc
    return tensors, meta


def _unsafe_message(file: Path, exc: BaseException) -> str:
    found = re.search(r"GLOBAL ([\w.<>]+)", str(exc))
    what = f"for example a {found.group(1)} object" if found else "Python objects other than tensors"
    msg = (f"{file.name}: this file needs arbitrary unpickling ({what}), which cardiolatent "
           f"refuses for safety: unpickling can run any code. ")
    msg += ("If you trust the file, re-save just its tensors, e.g. "
            "torch.save(torch.load(f, weights_only=False)['state_dict'], 'weights.pt'), "
            "or export them to .safetensors, and pass that file instead.")
    return msg


def _read_pickle(file: Path) -> Any:
    try:
        return torch.load(str(file), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc).lower():
            raise UnsafeWeightsError(_unsafe_message(file, exc)) from exc
        raise WeightsError(f"{file}: not a readable PyTorch weights file ({exc})") from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        text = str(exc)
        if "weights only" in text.lower() or "weights_only" in text.lower():
            raise UnsafeWeightsError(_unsafe_message(file, exc)) from exc
        raise WeightsError(f"{file}: not a readable PyTorch weights file ({text.splitlines()[0] if text else type(exc).__name__})") from exc


def _has_anchor(d: Mapping) -> bool:
    return any(isinstance(k, str) and (k.endswith(ANCHOR) or k.endswith(_ENC_ANCHOR)) for k in d)


def _extract_tensors(obj: Any, file: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    meta: dict[str, Any] = {}
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{file}: holds a {type(obj).__name__}, not a dictionary of weights")
    sd: Any = None
    if isinstance(obj.get("state_dict"), Mapping):  # Lightning checkpoint
        sd = obj["state_dict"]
        meta["layout"] = "lightning"
        for k in ("epoch", "global_step"):
            if isinstance(obj.get(k), (int, float, str)):
                meta[k] = obj[k]
    elif any(torch.is_tensor(v) for v in obj.values()) and _has_anchor(obj):
        sd = obj
        meta["layout"] = "state_dict"
    else:  # a container such as {"model": {...}, "optimizer": {...}}
        for key, val in obj.items():
            if isinstance(val, Mapping) and _has_anchor(val):
                sd = val
                meta["layout"] = f"nested:{key}"
                break
        if sd is None and any(torch.is_tensor(v) for v in obj.values()):
            sd = obj
            meta["layout"] = "state_dict"
    if sd is None:
        raise WeightsError(f"{file}: no tensors of a network found (top-level keys: "
                           f"{', '.join(map(str, list(obj)[:8]))})")
    tensors = {str(k): v for k, v in sd.items() if torch.is_tensor(v)}
    if not tensors:
        raise WeightsError(f"{file}: the state dict holds no tensors")
    return tensors, meta


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read every tensor of a weights file or folder: ``(state_dict, metadata)``.

    ``metadata`` holds the safetensors metadata (strings) or, for pickles, the layout found;
    ``source_file`` names the file(s) read. Keys keep their original prefix.
    """
    files = find_weights_file(path)
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for file in files:
        if file.name.endswith(".safetensors"):
            t, m = _read_safetensors(file)
        else:
            t, m = _extract_tensors(_read_pickle(file), file)
        overlap = set(t) & set(tensors)
        if overlap:
            raise WeightsError(f"{file}: key {sorted(overlap)[0]} also occurs in another shard")
        tensors.update(t)
        for k, v in m.items():
            meta.setdefault(k, v)
    meta["source_file"] = ", ".join(str(f) for f in files)
    return tensors, meta


# ---------------------------------------------------------------------------- prefixes
def find_prefix(keys) -> str:
    """The prefix in front of the network's keys (``"ema_net."``, ``"net."``, ``"model."``, ``""``).

    Located from the key ending in ``encoder.out.3.weight``; when several networks are
    present, an EMA copy (``ema_net.``) is preferred. For a bare encoder state dict (keys
    like ``out.3.weight``, ``input_blocks.0.0.weight``) the prefix is what precedes
    ``out.3.weight`` and :func:`strip_prefix` reports it as encoder-only. ``x_T`` is ignored.
    """
    keys = [k for k in keys if k.rsplit(".", 1)[-1] != "x_T" and k != "x_T"]
    cands = sorted({k[: -len(ANCHOR)] for k in keys if k.endswith(ANCHOR)
                    and (len(k) == len(ANCHOR) or k[-len(ANCHOR) - 1] == ".")})
    if not cands:
        enc = sorted({k[: -len(_ENC_ANCHOR)] for k in keys if k.endswith(_ENC_ANCHOR)
                      and (len(k) == len(_ENC_ANCHOR) or k[-len(_ENC_ANCHOR) - 1] == ".")})
        if len(enc) >= 1:
            return min(enc, key=len)
        shown = ", ".join(keys[:5])
        raise WeightsError(f"no DiffAE network found: no key ends in '{ANCHOR}' (first keys: {shown})")
    if len(cands) == 1:
        return cands[0]
    ema = [c for c in cands if c.rstrip(".").rsplit(".", 1)[-1].startswith("ema")]
    pool = ema or cands
    return min(pool, key=lambda c: (len(c), c))


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str | None = None
                 ) -> tuple[dict[str, torch.Tensor], bool, str]:
    """Keys of one network without their prefix: ``(state_dict, encoder_only, prefix)``.

    ``encoder_only`` is True when every key is under ``encoder.`` (that prefix is then removed
    too, so the result loads into ``net.encoder``) or when the file is a bare encoder.
    """
    if prefix is None:
        prefix = find_prefix(state.keys())
    sub = {k[len(prefix):]: v for k, v in state.items()
           if k.startswith(prefix) and k[len(prefix):] != "x_T"}
    if not sub:
        raise WeightsError(f"no keys under the prefix {prefix!r}")
    if ANCHOR in sub:
        if all(k.startswith("encoder.") for k in sub):
            return {k[len("encoder."):]: v for k, v in sub.items()}, True, prefix + "encoder."
        return sub, False, prefix
    return sub, True, prefix  # bare encoder


# ---------------------------------------------------------------------------- loading
def _shape(t) -> str:
    return "(" + ",".join(str(int(s)) for s in t) + ")"


def check_fit(target: torch.nn.Module, state: Mapping[str, torch.Tensor]
              ) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, shape differences) of ``state`` against ``target``."""
    want = target.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [f"{k}: file {_shape(state[k].shape)} vs model {_shape(v.shape)}"
              for k, v in want.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    return missing, unexpected, shapes


def _mismatch_message(file: str, what: str, missing, unexpected, shapes, n_first: int = 5) -> str:
    parts = [f"{file}: the weights do not fit the {what}:"]
    if missing:
        parts.append(f"{len(missing)} missing keys (first: {', '.join(missing[:n_first])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:n_first])})")
    if shapes:
        parts.append(f"{len(shapes)} shape differences (first: {'; '.join(shapes[:n_first])})")
    parts.append("Are these weights for another model configuration (preset)?")
    return " ".join(parts)


def check_finite(tensors: Mapping[str, torch.Tensor], file: str) -> None:
    """Refuse weights holding NaN or infinite values: a network built from them gives NaN latents."""
    for k, t in tensors.items():
        if torch.is_floating_point(t) and not bool(torch.isfinite(t).all()):
            n = int((~torch.isfinite(t)).sum())
            raise WeightsError(f"{file}: tensor {k} holds {n} NaN or infinite value(s); the weights are damaged "
                               "and are refused")


def load_into(net, path: str | os.PathLike, *, encoder_only: bool | None = None,
              state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
              dry_run: bool = False) -> dict[str, Any]:
    """Load a weights file/folder strictly into ``net`` (a :class:`DiffAENetwork`).

    Encoder-only files (all keys under ``encoder.``, or a bare encoder) load into
    ``net.encoder``; that is detected automatically unless ``encoder_only`` is given.
    Any mismatch raises one :class:`WeightsError` naming the file, the numbers of missing /
    unexpected keys with the first few of each, and the shape differences.
    Returns ``{"prefix", "encoder_only", "metadata"}``. ``dry_run``: check only (``net`` may then
    live on the ``meta`` device: its shapes are declared, no memory is used).
    """
    tensors, meta = state if state is not None else read_state_dict(path)
    file = meta.get("source_file", str(path))
    try:
        prefix = find_prefix(tensors.keys())
    except WeightsError as exc:
        raise WeightsError(f"{file}: {exc}") from None
    sub, enc_detected, used_prefix = strip_prefix(tensors, prefix)
    if encoder_only is None:
        encoder_only = enc_detected
    elif encoder_only and not enc_detected:
        sub = {k[len("encoder."):]: v for k, v in sub.items() if k.startswith("encoder.")}
        used_prefix = prefix + "encoder."
    elif not encoder_only and enc_detected:
        raise WeightsError(f"{file}: holds only the semantic encoder's weights "
                           f"({len(sub)} tensors), not the whole network")
    target = net.encoder if encoder_only else net
    what = "semantic encoder" if encoder_only else "network"
    name = getattr(getattr(net, "config", None), "name", None)
    if name:
        what += f" (configuration '{name}')"
    missing, unexpected, shapes = check_fit(target, sub)
    if missing or unexpected or shapes:
        raise WeightsError(_mismatch_message(file, what, missing, unexpected, shapes))
    if not dry_run:
        check_finite(sub, file)
        target.load_state_dict(sub, strict=True)
    return {"prefix": used_prefix, "encoder_only": bool(encoder_only), "metadata": meta}


# ---------------------------------------------------------------------------- saving / config
def save_weights(net, path: str | os.PathLike, config: ModelConfig | None = None, *,
                 extra: Mapping[str, Any] | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write ``net``'s state dict (no prefix) to ``path`` as safetensors, atomically.

    ``dtype``: store floating-point tensors in this dtype (e.g. ``torch.float16`` halves the
    file; loading casts them back to the network's dtype); default: as they are.

    Metadata: ``format: pt``, ``cardiolatent_config`` (JSON of ``config.to_dict()``),
    ``cardiolatent_version``, plus ``extra`` (non-string values are JSON-encoded).
    """
    config = config or getattr(net, "config", None)
    if config is None:
        raise ValueError("save_weights needs the network's ModelConfig")
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    meta = {"format": "pt", CONFIG_KEY: config.to_json(), "cardiolatent_version": __version__}
    for k, v in (extra or {}).items():
        meta[str(k)] = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def config_from_metadata(meta: Mapping[str, Any]) -> ModelConfig | None:
    text = meta.get(CONFIG_KEY)
    if not text:
        return None
    try:
        return ModelConfig.from_json(text)
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"{meta.get('source_file', 'weights file')}: bad {CONFIG_KEY} metadata ({exc})") from exc


def config_from_file(path: str | os.PathLike) -> ModelConfig | None:
    """The :class:`ModelConfig` stored by :func:`save_weights`, or None when the file has none."""
    files = find_weights_file(path)
    for file in files:
        if file.name.endswith(".safetensors"):
            try:
                with safe_open(str(file), framework="pt", device="cpu") as fh:
                    meta = dict(fh.metadata() or {})
            except Exception as exc:
                raise WeightsError(f"{file}: not a readable safetensors file ({exc})") from exc
            meta["source_file"] = str(file)
            cfg = config_from_metadata(meta)
            if cfg is not None:
                return cfg
    return None


def guess_config(state: Mapping[str, torch.Tensor], presets: Mapping[str, ModelConfig] | None = None
                 ) -> ModelConfig | None:
    """The preset whose network (or encoder) has exactly the keys and shapes of ``state``."""
    sub, enc_only, _ = strip_prefix(state)
    for cfg in (presets or PRESETS).values():
        with torch.device("meta"):
            net = DiffAENetwork(cfg.replace(seed=None))
        target = net.encoder if enc_only else net
        if not any(check_fit(target, sub)):
            return cfg
    return None
