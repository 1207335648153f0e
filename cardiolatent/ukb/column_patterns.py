"""Regular expressions of the UK Biobank main-data column naming styles (shared by
:mod:`cardiolatent.ukb.naming`, which parses and writes column names, and
:mod:`cardiolatent.ukb.registry`, which accepts a column name wherever a field is named).

Groups: field, instance, array (instance and array are optional in the ``rap`` style only).
"""

from __future__ import annotations

import re

PATTERNS = {
    "ukbconv_csv": re.compile(r"^(\d+)-(\d+)\.(\d+)$"),
    "ukbconv_r": re.compile(r"^f\.(\d+)\.(\d+)\.(\d+)$"),
    "r_mangled": re.compile(r"^X(\d+)\.(\d+)\.(\d+)$"),
    "phesant": re.compile(r"^x(\d+)_(\d+)_(\d+)$"),
    "rap": re.compile(r"^(?:participant\.)?p(\d+)(?:_i(\d+))?(?:_a(\d+))?$"),
}


def match_column(name: str) -> tuple[str, int, int | None, int | None] | None:
    """``(style, field, instance, array)`` of a column name in any style, or None.

    ``instance`` / ``array`` are None where the name leaves them out (RAP ``p31``, ``p4080_i2``).
    """
    name = str(name).strip()
    for style, pat in PATTERNS.items():
        m = pat.match(name)
        if m is not None:
            inst = None if m.group(2) is None else int(m.group(2))
            arr = None if m.group(3) is None else int(m.group(3))
            return style, int(m.group(1)), inst, arr
    return None
