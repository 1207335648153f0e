"""Named lists of traits (``--traits cardiac_idps``) and outcomes (``--outcomes paper_diseases``).

Presets are data: ``cardiolatent/data/presets.toml`` (one table per preset, key ``names`` =
registry names, field ids or outcome keys, and ``description``). :func:`trait_presets` returns
them; :func:`cardiolatent.analysis.design.expand_names` expands them wherever a command takes a
list of names.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources

__all__ = ["trait_presets", "preset_descriptions"]


@functools.lru_cache(maxsize=1)
def _load() -> dict:
    text = resources.files("cardiolatent").joinpath("data/presets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def trait_presets() -> dict[str, tuple[str, ...]]:
    """Preset name -> the names it stands for, in order."""
    return {k: tuple(str(n) for n in v.get("names", ())) for k, v in _load().items()}


def preset_descriptions() -> dict[str, str]:
    """Preset name -> one-line description."""
    return {k: str(v.get("description", "")) for k, v in _load().items()}
