"""Test-retest and cross-seed ICC: distribution over latents per ICC form, between visits and between seeds."""

from _figure import Figure, run
from cardiolatent.plotting import icc_distributions


def main():
    f = Figure(__doc__)
    f.save(icc_distributions([f.result("icc_visits"), f.result("icc_seeds")]), "figs_icc_distributions")


if __name__ == "__main__":
    run(main)
