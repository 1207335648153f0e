"""UK Biobank main data: naming styles, field registry, readers, covariates and outcomes."""
