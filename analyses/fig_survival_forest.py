"""Hazard ratios per SD of the latents for incident AF and MI (forest plot, the 20 smallest P per outcome)."""

from _figure import Figure, run
from cardiolatent.plotting import forest


def main():
    f = Figure(__doc__)
    f.save(forest(f.result("cox"), top=20), "fig_survival_forest")


if __name__ == "__main__":
    run(main)
