"""The built-in synthetic cohort that commands use when the user gives no data.

It is built on first use into a cache folder (``$CARDIOLATENT_HOME``, else
``$XDG_CACHE_HOME/cardiolatent``, else ``~/.cache/cardiolatent``) and reused afterwards. Its latents under the demo models
(:func:`cardiolatent.demo.default_latents`) live one layer up, since they need encoding.
"""

from __future__ import annotations

import json
from pathlib import Path

from cardiolatent.io_utils import cache_root
from cardiolatent.synth.build import TABLES_VERSION, CohortPaths, make_cohort

DEFAULT_N = 500
#: size of the default cohort when images are needed (bulk zips are ~4 MB per visit)
DEFAULT_N_IMAGES = 200
DEFAULT_SEED = 20208


def cache_dir() -> Path:
    """The cache folder (:func:`cardiolatent.io_utils.cache_root`)."""
    return cache_root()


def default_cohort(n: int | None = None, seed: int = DEFAULT_SEED, *, images: bool = False,
                   progress: bool = True):
    """Return the paths of the default synthetic cohort, building it if needed.

    Parameters
    ----------
    n, seed : size and seed of the cohort (each combination has its own folder); default
        500 participants, or 200 when images are needed.
    images : whether bulk cine zips are needed (a cohort built without them is completed).
    """
    if n is None:
        n = DEFAULT_N_IMAGES if images else DEFAULT_N

    root = cache_dir() / f"synth_n{n}_seed{seed}"
    info_file = root / "cohort.json"
    if info_file.exists():
        info = json.loads(info_file.read_text())
        current = info.get("tables_version", 1) >= TABLES_VERSION
        if current and (info.get("images") or not images):
            return CohortPaths(root)
        if not current:
            # built by an older cardiolatent: its main data lacks fields commands now expect
            images = images or bool(info.get("images"))
            if progress:
                print(f"the built-in cohort at {root} was built by an older cardiolatent; rebuilding it")
    return make_cohort(root, n=n, seed=seed, images=images, progress=progress)
