"""Fig. 2A: volcano plot of latent-disease associations (effect size vs -log10 P, coloured by disease)."""

from _figure import Figure, run
from cardiolatent.plotting import volcano


def main():
    f = Figure(__doc__)
    f.save(volcano(f.result("assoc_diseases"), kind="binary"), "fig2a_volcano_diseases")


if __name__ == "__main__":
    run(main)
