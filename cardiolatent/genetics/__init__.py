"""After the GWAS: SNP heritability and genetic correlation of the latents (BOLT-REML on individual-level
data, LD score regression on summary statistics) and polygenic scores (layer 8: may import every layer
below, including :mod:`cardiolatent.gwas`)."""
