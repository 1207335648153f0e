"""Cross-seed reproducibility: |r| of each latent with its best match in the other seeds, consensus marked."""

from _figure import Figure, run
from cardiolatent.plotting import cross_seed_heatmap


def main():
    f = Figure(__doc__)
    f.save(cross_seed_heatmap(f.result("ensemble")), "figs_cross_seed_heatmap")


if __name__ == "__main__":
    run(main)
