"""Supplementary videos: each participant moved along a direction (LV end-diastolic volume), as the decoded
grid (PNG, PDF) and the cine of all magnitudes side by side (GIF)."""

from _figure import Figure, run
from cardiolatent.plotting import result_grid, write_cine_gif
from cardiolatent.results import Result


def main():
    f = Figure(__doc__)
    res = Result.load(f.result("manipulation"))
    for (eid, inst), man in res.manipulations.items():
        f.save(result_grid(res, (eid, inst)), f"figsv_{res.summary.name}_{eid}_{inst}")
        gif = write_cine_gif(man, f.out / f"figsv_{res.summary.name}_{eid}_{inst}.gif")
        print(f"wrote {gif}")


if __name__ == "__main__":
    run(main)
