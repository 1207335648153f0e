"""cardiolatent: statistical genetics with deep-learned cardiac MRI phenotypes.

Stages (one sub-package each), in the order data flows:

- :mod:`cardiolatent.ukb`     UK Biobank main-data readers, field registry, covariates, outcomes
- :mod:`cardiolatent.images`  bulk zip / NIfTI / HDF5 / array readers and the published preparation
- :mod:`cardiolatent.model`   the 3D DiffAE network, weights loading, diffusion samplers
- :mod:`cardiolatent.encode`  batched, resumable encoding and the cross-seed ensemble
- :mod:`cardiolatent.train`   training / fine-tuning
- :mod:`cardiolatent.synth`   the synthetic cohort with planted truth (default data for every command)

Top-level shortcuts: :func:`load_model` and :func:`prepare`. The command line
(``cardiolatent <command>``) is a thin layer over these functions.
"""

__version__ = "0.1.0"

__all__ = ["load_model", "prepare", "__version__"]


def __getattr__(name):  # lazy: importing cardiolatent stays cheap (no torch until needed)
    if name == "load_model":
        from cardiolatent.model.pipeline import load_model

        return load_model
    if name == "prepare":
        from cardiolatent.images.prepare import prepare

        return prepare
    raise AttributeError(f"module 'cardiolatent' has no attribute {name!r}")
