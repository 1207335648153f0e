"""cardiolatent: statistical genetics with deep-learned cardiac MRI phenotypes.

Stages (one sub-package each), in the order data flows:

- :mod:`cardiolatent.ukb`    UK Biobank main-data readers, field registry, covariates, outcomes
- :mod:`cardiolatent.synth`  the synthetic cohort with planted truth (default data for every command)

The command line (``cardiolatent <command>``) is a thin layer over these functions.
"""

__version__ = "0.1.0"
