"""QQ plot of the latents' GWAS P values with the 95% band and lambda GC (one series per latent, pooled
beyond eight latents)."""

from _figure import Figure, run
from cardiolatent.plotting import qq


def main():
    f = Figure(__doc__)
    f.save(qq(f.result("gwas")), "fig3b_qq")


if __name__ == "__main__":
    run(main)
