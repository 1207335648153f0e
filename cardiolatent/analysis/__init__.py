"""Analyses built on the latents: reproducibility (ICC between visits and seeds), associations."""
