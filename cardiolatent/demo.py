"""The built-in cohort's latents under the five demo models (what every command uses without data of
the user's, and what ``cardiolatent demo`` starts from).

:func:`default_latents` lives here, above ``synth`` and ``encode``, because it needs both. The demo's
steps themselves are command lines (:mod:`cardiolatent.commands._demo`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cardiolatent.encode.run import encode_inputs
from cardiolatent.images.readers import discover_inputs
from cardiolatent.io_utils import wait_lock
from cardiolatent.model.pipeline import demo_weight_files, load_model
from cardiolatent.synth import default as synth_default


def default_latents(*, progress: bool = True):
    """(cohort paths, latents file) of the default cohort with images, encoded by the five demo models.

    Encodes once (about 2 minutes for the 1,800-person cohort on 2 cores, resumable) into ``latents_demo_<hash>.parquet``
    in the cohort's folder, so that the analysis commands run without any data of the user's.
    ``<hash>`` fingerprints the demo weight files, so new weights are never paired with latents
    of old ones.
    """
    # two processes (two commands, two test workers) may both ask at once: one builds, the other waits
    with wait_lock(synth_default.cache_dir() / ".builtin.lock",
                   "waiting for another cardiolatent run that is building the built-in cohort"):
        paths = synth_default.default_cohort(images=True, progress=progress)
        out = default_latents_path(paths)
        if not out.exists():
            items = discover_inputs([paths.bulk])
            models = [load_model(f) for f in demo_weight_files()]
            encode_inputs(items, models, out, workers=2, progress=progress)
    return paths, out


def default_latents_path(paths) -> Path:
    """Where the cohort ``paths``' latents under the demo models are (or will be) kept:
    ``latents_demo_<hash>.parquet`` in its folder, ``<hash>`` fingerprinting the demo weight files."""
    digest = hashlib.sha256()
    for f in demo_weight_files():
        digest.update(Path(f).read_bytes())
    return paths.root / f"latents_demo_{digest.hexdigest()[:12]}.parquet"
