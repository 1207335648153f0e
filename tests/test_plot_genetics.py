"""Heritability figures, from results made by the real producer (our LD score regression on simulated
summary statistics whose planted h2 is known), checked through the matplotlib objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _plot_helpers import assert_figure_files
from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.ldsc import ldsc
from cardiolatent.genetics.ldscores import LDScores
from cardiolatent.genetics.result import HeritabilityResult
from cardiolatent.plotting import genetic_correlation, heritability, save_figure
from cardiolatent.plotting.genetics import heritability_figures

PLANTED = {"LAV": 0.4, "LVEDV": 0.25, "NOISE": 0.0}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    rng = np.random.default_rng(3)
    S, M, N = 20_000, 20_000, 10_000   # mean chi2 about 2 (the two-step cut-off at 30 biases larger ones)
    ld = rng.gamma(2.0, 2.0, S) + 1
    ids = [f"rs{i}" for i in range(S)]
    table = pd.DataFrame({"chrom": "1", "id": ids, "pos": np.arange(S) * 100 + 1, "l2": ld})
    lds = LDScores(table=table, m=M)
    sumstats = {}
    for name, h2 in PLANTED.items():
        z = rng.standard_normal(S) * np.sqrt(1 + N * h2 * ld / M)
        sumstats[name] = pd.DataFrame({"id": ids, "effect_allele": "A", "other_allele": "G", "z": z, "n": N})
    r = ldsc(sumstats, lds, rg=True, m="M")
    res = HeritabilityResult.from_tables(r.h2, r.rg)
    out = tmp_path_factory.mktemp("h2") / "h2.tsv"
    res.save(out)
    return res, out


def test_h2_figure_draws_every_estimate_with_its_interval(result):
    res, out = result
    fig = heritability(out)                                  # from the saved file
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["NOISE", "LVEDV", "LAV"]               # highest h2 at the top
    (line, caps, (bars,)) = ax.containers[0].lines
    drawn = [labels[int(round(y))] for y in line.get_ydata()]   # the phenotype of each point, by its row
    assert sorted(drawn) == sorted(PLANTED)
    h2 = res.table.set_index("phenotype").loc[drawn, "h2"].to_numpy()
    se = res.table.set_index("phenotype").loc[drawn, "se"].to_numpy()
    np.testing.assert_allclose(line.get_xdata(), h2)
    segs = bars.get_segments()
    np.testing.assert_allclose([s[1][0] - s[0][0] for s in segs], 2 * 1.96 * se)
    for p, seg in zip(drawn, segs):                           # the planted values are inside the drawn CIs
        assert seg[0][0] <= PLANTED[p] <= seg[1][0], p
    assert any(abs(l.get_xdata()[0]) < 1e-12 for l in ax.get_lines() if l.get_linestyle() == "--")
    assert_figure_files(save_figure(fig, out.parent / "h2fig"))


def test_rg_matrix_is_symmetric_with_unit_diagonal(result):
    res, out = result
    fig = genetic_correlation(res)
    im = [a for a in fig.axes[0].get_images() if a.get_gid() == "rg_matrix"][0]
    M = np.asarray(im.get_array())
    assert M.shape == (3, 3) and np.allclose(np.diag(M), 1) and np.allclose(M, M.T, equal_nan=True)
    assert set(heritability_figures(res)) == {"h2", "rg_ldsc"}


def test_a_result_without_correlations_has_no_rg_figure(result):
    res, _ = result
    bare = HeritabilityResult.from_tables(res.table)
    assert set(heritability_figures(bare)) == {"h2"}
    with pytest.raises(CardiolatentError, match="no genetic correlation in this result"):
        genetic_correlation(bare)


def test_the_report_shows_a_heritability_result(result):
    from cardiolatent.report import build_report

    res, out = result
    rep, html = build_report(out.parent)
    sec = rep.sections["heritability"]
    assert sec.filled and [t["caption"].split(": ", 1)[1] for t in sec.tables] == [
        "SNP heritability (95% CI = h2 +- 1.96 SE)", "genetic correlations"]
    assert len(sec.tables[0]["rows"]) == len(PLANTED) and len(sec.figures) == 2     # h2 and the rg matrix
