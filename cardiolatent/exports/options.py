"""Option values of an export that the command line lists without loading numpy or pandas."""

from __future__ import annotations

__all__ = ["CATEGORICAL_CODINGS", "TRANSFORMS"]

#: phenotype transforms: name -> description (for the manifest)
TRANSFORMS: dict[str, str] = {
    "int": "rank-based inverse normal transform, Phi^-1((rank - 3/8) / (n + 1/4)) (Blom), ties averaged, "
           "over the written participants with a value",
    "raw": "none (latent values as encoded)",
    "resid": "residuals of OLS of each latent on an intercept and the written covariates (dummy coded)",
    "resid-int": "residuals of OLS on an intercept and the written covariates (dummy coded), then the "
                 "rank-based inverse normal transform (Blom)",
}

#: categorical covariate codings
CATEGORICAL_CODINGS = ("dummies", "raw")
