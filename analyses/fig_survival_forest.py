"""Hazard-ratio forest plots: per SD of the latents for incident AF and MI (the 20 smallest P per outcome), and,
with `cardiolatent cox --groups LATENT`, the low and high tertiles against the middle one (the paper's panel)."""

from _figure import Figure, run
from cardiolatent.plotting import forest, tertile_forest
from cardiolatent.results import Result


def main():
    f = Figure(__doc__)
    cox = Result.load(f.result("cox"))
    f.save(forest(cox, top=20), "fig_survival_forest")
    if cox.groups:
        f.save(tertile_forest(cox), "fig_survival_tertile_forest")


if __name__ == "__main__":
    run(main)
