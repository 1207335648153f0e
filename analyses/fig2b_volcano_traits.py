"""Fig. 2B: volcano plot of latent-trait associations (cardiac imaging phenotypes, coloured by chamber)."""

from _figure import Figure, run
from cardiolatent.plotting import volcano


def main():
    f = Figure(__doc__)
    f.save(volcano(f.result("assoc_traits"), kind="continuous"), "fig2b_volcano_traits")


if __name__ == "__main__":
    run(main)
