"""The genome-wide threshold for lead variants: a P value, the paper's, or one divided by M_eff.

M_eff may come from the ``summary.json`` that ``cardiolatent icc`` writes: its ``meff`` entry holds,
for all latents (``all``) and per seed, the effective number of tests by Li & Ji (``meff_li_ji``,
as :meth:`cardiolatent.stats.independent_tests.MeffResult.as_dict` names it; ``li_ji`` is accepted too) and by
Nyholt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cardiolatent.errors import CardiolatentError

__all__ = ["PAPER_P", "genome_wide_threshold", "meff_from_summary"]

#: the paper's genome-wide threshold (5e-8 / ~22 effective latents)
PAPER_P = 2.3e-9
#: keys of the Li & Ji M_eff, in the order tried
_LI_JI_KEYS = ("meff_li_ji", "li_ji")


def meff_from_summary(path: str | os.PathLike) -> float:
    """Li & Ji's M_eff over all latents from a ``cardiolatent icc`` summary.json
    (``meff.all.meff_li_ji``; also ``meff.all.li_ji``, or a ``meff`` entry that is a number)."""
    path = Path(path)
    try:
        js = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CardiolatentError(f"meff: {path} is not a readable JSON file ({exc})") from exc
    node = js.get("meff", js.get("summary", {}).get("meff") if isinstance(js.get("summary"), dict) else None) \
        if isinstance(js, dict) else None
    if isinstance(node, dict):
        node = node.get("all", node)
    value = node
    if isinstance(node, dict):
        value = next((node[k] for k in _LI_JI_KEYS if k in node), None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CardiolatentError(f"meff: no M_eff in {path} (expected meff.all.meff_li_ji, as written by "
                                "'cardiolatent icc')")
    return float(value)


def genome_wide_threshold(p_threshold: float | str = 5e-8, meff: float | str | os.PathLike | None = None
                          ) -> tuple[float, str]:
    """The P threshold for leads and a sentence saying where it came from.

    ``p_threshold``: a number in (0, 1) or ``"paper"`` (2.3e-9, which already divides 5e-8 by the
    paper's M_eff). ``meff``: a number, or the path of a ``cardiolatent icc`` summary.json: the
    threshold becomes ``p_threshold / M_eff``.
    """
    raw = str(p_threshold).strip().lower()
    if raw == "paper":
        base, how = PAPER_P, "the paper's 2.3e-9 (5e-8 / ~22 effective latents)"
        if meff is not None:
            raise CardiolatentError("p_threshold='paper' already divides 5e-8 by the paper's M_eff; drop meff "
                                    "or give p_threshold 5e-8")
    else:
        try:
            base = float(raw)
        except ValueError:
            raise CardiolatentError(f"p_threshold must be a number or 'paper', not {p_threshold!r}") from None
        how = f"P < {base:g}"
    if not 0 < base < 1:
        raise CardiolatentError(f"p_threshold must be between 0 and 1, not {base}")
    if meff is None:
        return base, how
    try:
        value, where = float(meff), ""
    except (TypeError, ValueError):
        if not Path(meff).exists():
            raise CardiolatentError(f"meff: not a number and no such file: {meff}") from None
        value, where = meff_from_summary(meff), f" (Li & Ji, from {meff})"
    if not value >= 1:
        raise CardiolatentError(f"meff must be at least 1, not {value}")
    return base / value, f"{base:g} / M_eff {value:.4g}{where} = {base / value:.3g}"
