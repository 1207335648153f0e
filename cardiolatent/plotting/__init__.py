"""The plotting layer: figures from results (objects or saved files), never a statistic recomputed.

Every function takes a result (or what a command wrote) and returns a matplotlib figure in the house
style (:mod:`cardiolatent.plotting.style`); :func:`save_figure` writes it as PNG (300 dpi) and PDF.
``result.plot()`` on any result object comes here (:func:`plot_result`).
"""

from cardiolatent.plotting.genetics import genetic_correlation, heritability
from cardiolatent.plotting.gwas import manhattan, manhattan_latent, qq
from cardiolatent.plotting.prs import prs_auc, prs_cumulative_hazard, prs_forest, prs_prevalence
from cardiolatent.plotting.manipulation import manipulation_grid, phase_frames, result_grid, write_cine_gif
from cardiolatent.plotting.reproducibility import cross_seed_heatmap, icc_distributions
from cardiolatent.plotting.survival import forest, survival_curves, tertile_forest
from cardiolatent.plotting.volcano import volcano
from cardiolatent.plotting.style import OKABE_ITO, figure, save_figure, style

#: figure of each result class (by class name), for ``Result.plot()``
FIGURES = {
    "ManipulationResult": result_grid,
    "CrossSeedResult": cross_seed_heatmap,
    "ReproducibilityResult": icc_distributions,
    "CoxResult": forest,
    "AssocResult": volcano,
    "GwasSummary": manhattan,
    "HeritabilityResult": heritability,
    "PrsResult": prs_auc,
}


def plot_result(result, *args, **kwargs):
    """The figure of ``result`` (what ``result.plot()`` returns)."""
    fn = FIGURES.get(type(result).__name__)
    if fn is None:
        raise NotImplementedError(f"{type(result).__name__} has no figure yet")
    return fn(result, *args, **kwargs)


__all__ = ["FIGURES", "OKABE_ITO", "cross_seed_heatmap", "figure", "forest", "genetic_correlation", "heritability",
           "icc_distributions", "manhattan",
           "manhattan_latent", "manipulation_grid", "phase_frames", "plot_result", "prs_auc",
           "prs_cumulative_hazard", "prs_forest", "prs_prevalence", "qq", "result_grid", "save_figure",
           "style", "survival_curves", "tertile_forest", "volcano", "write_cine_gif"]
