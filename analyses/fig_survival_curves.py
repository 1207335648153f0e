"""Cumulative incidence (Kaplan-Meier) and cumulative hazard (Nelson-Aalen) by tertile of a latent, overall
and by sex, with the numbers at risk (needs `cardiolatent cox --groups LATENT`)."""

from _figure import Figure, run
from cardiolatent.plotting import survival_curves
from cardiolatent.results import Result


def main():
    f = Figure(__doc__)
    cox = Result.load(f.result("cox"))
    for outcome in cox.summary.outcomes:
        f.save(survival_curves(cox, outcome=outcome), f"fig_survival_km_{outcome}")
        f.save(survival_curves(cox, outcome=outcome, by="sex"), f"fig_survival_km_sex_{outcome}")
        f.save(survival_curves(cox, outcome=outcome, kind="nelson_aalen"), f"fig_survival_na_{outcome}")


if __name__ == "__main__":
    run(main)
