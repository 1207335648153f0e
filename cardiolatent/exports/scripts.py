"""Run scripts beside the exported files (``run_regenie.sh``, ``run_plink2.sh``, ``run_plink1.sh``,
``run_bolt.sh``).

Each format's renderer lives in its module of :mod:`cardiolatent.exports.formats` (shared pieces in
:mod:`cardiolatent.exports.formats._script`); :func:`render_script` picks it from the registry.
"""

from __future__ import annotations

from cardiolatent.exports.formats import FORMATS, get_format

__all__ = ["render_script", "TOOLS"]

#: executables (environment variable, default), per format
TOOLS = {name: f.executable for name, f in FORMATS.items()}


def render_script(tables, written) -> str:
    """The text of the run script for ``written.fmt``."""
    return get_format(written.fmt).render(tables, written)
