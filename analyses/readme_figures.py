"""The README's figures (docs/figures/*.png) from the built-in synthetic cohort: run
`cardiolatent figures` (which computes the cohort's results once and prints their folder), then

    python analyses/readme_figures.py --results <that folder> --out docs/figures
"""

from _figure import Figure, run
from cardiolatent.plotting import icc_distributions, result_grid, save_figure, survival_curves, volcano
from cardiolatent.results import Result


def main():
    f = Figure(__doc__)
    figs = {
        "volcano_traits": volcano(f.result("assoc_traits"), kind="continuous"),
        "icc_distributions": icc_distributions([f.result("icc_visits"), f.result("icc_seeds")]),
        "km_af": survival_curves(f.result("cox"), outcome="AF"),
        "manipulation_lvedv": result_grid(Result.load(f.result("manipulation"))),
    }
    for name, fig in figs.items():
        path = save_figure(fig, f.out / name, formats=("png",), close=True)["png"]
        print(f"wrote {path}")


if __name__ == "__main__":
    run(main)
