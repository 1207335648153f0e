"""Column names every GWAS tool accepts."""

from __future__ import annotations

import re
from typing import Sequence

from cardiolatent.errors import CardiolatentError

__all__ = ["safe_name", "unique_names"]


def safe_name(name: str) -> str:
    """A column name every tool accepts: ``[A-Za-z0-9_.]`` only (``centre=11025`` -> ``centre_11025``,
    ``genotyping_batch=-9`` -> ``genotyping_batch_m9``); never empty, never starting with ``#``."""
    s = str(name).strip()
    s = re.sub(r"=-", "_m", s)
    s = s.replace("=", "_")
    s = re.sub(r"(?<=[_A-Za-z])-(?=\d)", "m", s)
    s = re.sub(r"[^A-Za-z0-9_.]", "_", s)
    if not s:
        s = "x"
    if s.upper() in ("FID", "IID", "PAT", "MAT", "SEX"):
        s = s + "_"
    return s


def unique_names(names: Sequence[str], what: str) -> list[str]:
    """:func:`safe_name` of each name; an error when two names become the same."""
    out = [safe_name(n) for n in names]
    seen: dict[str, str] = {}
    for orig, new in zip(names, out):
        if new in seen and seen[new] != orig:
            raise CardiolatentError(f"{what} {seen[new]!r} and {orig!r} both become {new!r} in the files "
                                    "(only letters, digits, '_' and '.' are written): rename one")
        seen[new] = orig
    return out
