"""The built-in synthetic cohort that commands use when the user gives no data.

It is built on first use into a cache folder (``$CARDIOLATENT_HOME`` or
``~/.cache/cardiolatent``) and reused afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_N = 500
#: size of the default cohort when images are needed (bulk zips are ~4 MB per visit)
DEFAULT_N_IMAGES = 200
DEFAULT_SEED = 20208


def cache_dir() -> Path:
    root = os.environ.get("CARDIOLATENT_HOME") or Path.home() / ".cache" / "cardiolatent"
    return Path(root)


def default_cohort(n: int | None = None, seed: int = DEFAULT_SEED, *, images: bool = False,
                   progress: bool = True):
    """Return the paths of the default synthetic cohort, building it if needed.

    Parameters
    ----------
    n, seed : size and seed of the cohort (each combination has its own folder); default
        500 participants, or 200 when images are needed.
    images : whether bulk cine zips are needed (a cohort built without them is completed).
    """
    from cardiolatent.synth.build import CohortPaths, make_cohort

    if n is None:
        n = DEFAULT_N_IMAGES if images else DEFAULT_N

    root = cache_dir() / f"synth_n{n}_seed{seed}"
    info_file = root / "cohort.json"
    if info_file.exists():
        info = json.loads(info_file.read_text())
        if info.get("images") or not images:
            return CohortPaths(root)
    return make_cohort(root, n=n, seed=seed, images=images, progress=progress)


def default_latents(*, progress: bool = True):
    """(cohort paths, latents file) of the default cohort with images, encoded by the five demo models.

    Encodes once (about half a minute on 2 cores, resumable) into ``latents_demo_<hash>.parquet``
    in the cohort's folder, so that the analysis commands run without any data of the user's.
    ``<hash>`` fingerprints the demo weight files, so new weights are never paired with latents
    of old ones.
    """
    import hashlib

    from cardiolatent.encode.run import encode_inputs
    from cardiolatent.images.readers import discover_inputs
    from cardiolatent.model.pipeline import demo_weight_files, load_model

    paths = default_cohort(images=True, progress=progress)
    files = demo_weight_files()
    digest = hashlib.sha256()
    for f in files:
        digest.update(Path(f).read_bytes())
    out = paths.root / f"latents_demo_{digest.hexdigest()[:12]}.parquet"
    if not out.exists():
        items = discover_inputs([paths.bulk])
        models = [load_model(f) for f in files]
        encode_inputs(items, models, out, workers=2, progress=progress, excluded=items.excluded)
    return paths, out
