"""GWAS results back in: streamed readers of REGENIE / PLINK 2 / BOLT-LMM summary statistics
(:mod:`cardiolatent.gwas.readers`) and their summaries (:mod:`cardiolatent.gwas.summary`): genomic
inflation per latent, lead variants by distance or PLINK 1.9 LD clumping, loci merged across
latents, and thinned Manhattan / QQ plot data. ``-log10 P`` is the primary quantity throughout, so
P values below the double-precision range (P < 1e-308) keep their order and size."""
