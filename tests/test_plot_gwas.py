"""Manhattan and QQ figures through their matplotlib objects, from folders the real ``gwas-results``
writes: REGENIE step-2 files of three latents written here (planted peaks, one at -log10 P = 400,
one locus shared by two latents), read back by :func:`cardiolatent.gwas.summary.gwas_results`."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from scipy import stats

from _plot_helpers import assert_figure_files
from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.inflation import qq_points
from cardiolatent.gwas.summary import GwasSummary, gwas_results
from cardiolatent.plotting import gwas as G
from cardiolatent.plotting.style import save_figure

REGENIE_COLS = ["CHROM", "GENPOS", "ID", "ALLELE0", "ALLELE1", "A1FREQ", "INFO", "N", "TEST", "BETA", "SE",
                "CHISQ", "LOG10P", "EXTRA"]
#: (latent, chromosome, peak position, peak -log10 P)
PEAKS = [("A", "1", 20_000_000, 400.0), ("A", "2", 30_000_000, 12.0), ("B", "2", 30_000_000, 9.0),
         ("B", "3", 10_000_000, 30.0)]
CHROM_LEN = {"1": 60_000_000, "2": 50_000_000, "3": 40_000_000}


def _variants(rng) -> pd.DataFrame:
    rows = []
    for c, length in CHROM_LEN.items():
        pos = set(rng.choice(np.arange(1000, length), 2500, replace=False).tolist())
        for _, pc, pp, _ in PEAKS:  # dense around the peaks: one locus each
            if pc == c:
                pos |= set(range(pp - 40_000, pp + 40_001, 2000))
        rows.append(pd.DataFrame({"chrom": c, "pos": sorted(pos)}))
    return pd.concat(rows, ignore_index=True)


def _write_regenie(v: pd.DataFrame, mlog: np.ndarray, path, eaf=0.3) -> None:
    d = pd.DataFrame({"CHROM": v["chrom"], "GENPOS": v["pos"], "ID": [f"rs{c}_{p}" for c, p in zip(v.chrom, v.pos)],
                      "ALLELE0": "A", "ALLELE1": "G", "A1FREQ": eaf, "INFO": 1.0, "N": 5000, "TEST": "ADD",
                      "BETA": 0.01, "SE": 0.01, "CHISQ": 1.0, "LOG10P": [repr(float(m)) for m in mlog],
                      "EXTRA": "NA"})[REGENIE_COLS]
    path.write_text(d.to_csv(sep=" ", index=False, lineterminator="\n"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot_gwas")
    rng = np.random.default_rng(3)
    v = _variants(rng)
    res = root / "res"
    res.mkdir()
    for lat in ("A", "B", "C"):
        m = -np.log10(rng.uniform(size=len(v)))
        for pl, pc, pp, top in PEAKS:
            if pl == lat:
                d = np.abs(v["pos"].to_numpy() - pp)
                near = (v["chrom"].to_numpy() == pc) & (d <= 40_000)
                m[near] = np.maximum(m[near], top * np.exp(-d[near] / 8000.0))
        _write_regenie(v, m, res / f"step2_{lat}.regenie")
    return root


@pytest.fixture(scope="module")
def folder(inputs):
    """A saved gwas-results folder (default threshold 5e-8, a small background quota)."""
    out = inputs / "gwas"
    gwas_results([str(inputs / "res")], manhattan_background=1500).save(out)
    return out


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _points(ax, gid="manhattan-points"):
    lines = [ln for ln in ax.lines if ln.get_gid() == gid]
    return lines, sum(len(ln.get_xdata()) for ln in lines)


def _expected_drawn(man: pd.DataFrame, summ: dict, thin_p=1e-2) -> int:
    """Rows drawn after the documented thinning, counted with pandas: every P <= thin_p, and one per
    (chromosome, genome/2000-wide bin, 0.02-high bin, colour) of the rest."""
    chroms = pd.DataFrame(summ["chromosomes"])
    end = float((chroms["offset"] + chroms["length"]).max())
    m = man["mlog10p"].astype(np.float64)
    low = man[m < -np.log10(thin_p)].copy()
    sig = low["mlog10p"].astype(np.float64) > summ["threshold"]["mlog10p"]
    parity = low["chrom"].astype(str).map({c: i % 2 for i, c in enumerate(chroms["chrom"].astype(str))})
    low["cls"] = np.where(sig, 2, parity)
    low["cx"] = np.floor(low["cum_pos"].astype(np.float64) / (end / 2000)).astype(np.int64)
    low["cy"] = np.floor(low["mlog10p"].astype(np.float64) / 0.02).astype(np.int64)
    low["chrom"] = low["chrom"].astype(str)
    return int((m >= -np.log10(thin_p)).sum()) + len(low.drop_duplicates(["chrom", "cx", "cy", "cls"]))


def _axes_fraction(ax, y):
    return ax.transAxes.inverted().transform(ax.transData.transform((ax.get_xlim()[0], y)))[1]



def test_manhattan_points_lines_ticks_and_labels(folder, tmp_path):
    man = pd.read_parquet(folder / "manhattan.parquet")
    summ = json.loads((folder / "summary.json").read_text())
    loci = pd.read_csv(folder / "loci.tsv", sep="\t", dtype={"chrom": str})
    assert len(loci) == 3 and sorted(loci["chrom"]) == ["1", "2", "3"]  # the planted peaks, A and B share chr2
    fig = G.manhattan(folder)
    ax = fig.axes[0]
    assert fig.get_figwidth() == pytest.approx(183 / 25.4)
    lines, n = _points(ax)
    assert n == _expected_drawn(man, summ) < len(man)  # thinning did something, and exactly the stated thing
    assert all(ln.get_rasterized() for ln in lines)
    # significant points (P < the summary's threshold) in vermillion, the others in the two blues
    t = summ["threshold"]["mlog10p"]
    for ln in lines:
        ys = np.asarray(ln.get_ydata())
        if ln.get_color() == G.SIGNIFICANT:
            assert (ys > t).all()
        else:
            assert ln.get_color() in G.SHADES and (ys <= t).all()
    assert {ln.get_color() for ln in lines} == {G.SIGNIFICANT, *G.SHADES}
    # the -log10 P = 400 point: drawn, finite, inside the axes (broken scale above 30)
    ys = np.concatenate([np.asarray(ln.get_ydata()) for ln in lines])
    xs = np.concatenate([np.asarray(ln.get_xdata()) for ln in lines])
    i = int(np.argmax(ys))
    assert ys[i] == pytest.approx(400.0)
    disp = ax.transData.transform((xs[i], ys[i]))
    assert np.isfinite(disp).all() and ax.get_window_extent().contains(*disp)
    assert ax.get_ylim()[1] > 400
    # threshold lines at -log10 5e-8 and the paper's 2.3e-9, where the documented scale puts them:
    # linear below the break at 30, y -> 30 (1 + log10(y / 30) / 2) above
    thr = sorted(ln.get_ydata()[0] for ln in ax.lines if ln.get_gid() == "threshold")
    assert thr == pytest.approx([-np.log10(5e-8), -np.log10(2.3e-9)])
    top = ax.get_ylim()[1]
    t_top = 30 * (1 + np.log10(top / 30) / 2)
    for v in thr:
        assert _axes_fraction(ax, v) == pytest.approx(v / t_top, abs=1e-9)
    assert _axes_fraction(ax, 300) == pytest.approx(30 * (1 + np.log10(10) / 2) / t_top, abs=1e-9)
    labels = [tl.get_text() for tl in ax.get_yticklabels()]
    assert "30" in labels and "100" in labels  # honest tick labels above the break
    # chromosome labels at the summary's centres
    ch = pd.DataFrame(summ["chromosomes"])
    assert [tl.get_text() for tl in ax.get_xticklabels()] == ["1", "2", "3"]
    np.testing.assert_allclose(ax.get_xticks(), ch["center"])
    # locus labels: the lead variant ids of loci.tsv, none overlapping
    texts = [t for t in ax.texts if t.get_gid() == "locus-label"]
    assert sorted(t.get_text() for t in texts) == sorted(loci["lead_id"])
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in texts]
    assert not any(a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1:])
    assert len([ln for ln in ax.lines if ln.get_gid() == "locus-leader"]) == 3
    assert_figure_files(save_figure(fig, tmp_path / "manhattan"))


def test_manhattan_gene_names_from_a_user_file(folder, tmp_path):
    genes = tmp_path / "genes.bed"
    genes.write_text("track name=genes\nchr1\t19990000\t20010000\tGENEA\nchr1\t25000000\t26000000\tFAR1\n"
                     "chr2\t30100000\t30200000\tNEARB\nchr2\t10000000\t10100000\tFAR2\n")
    fig = G.manhattan(folder, genes=genes)
    texts = sorted(t.get_text() for t in fig.axes[0].texts if t.get_gid() == "locus-label")
    loci = pd.read_csv(folder / "loci.tsv", sep="\t", dtype={"chrom": str})
    chr3_id = loci.loc[loci["chrom"] == "3", "lead_id"].item()  # no gene on chromosome 3: the id stays
    assert texts == sorted(["GENEA", "NEARB", chr3_id])
    bad = tmp_path / "bad.tsv"
    bad.write_text("chrom\tstart\n1\t5\n")
    with pytest.raises(CardiolatentError, match="bad.tsv"):
        G.manhattan(folder, genes=bad)


def test_manhattan_of_one_latent_and_a_subset(folder):
    res = GwasSummary.load(folder)
    man, summ = res.manhattan, json.loads((folder / "summary.json").read_text())
    fig = G.manhattan_latent(folder, "B")
    ax = fig.axes[0]
    assert _points(ax)[1] == _expected_drawn(man[man["latent"] == "B"], summ)
    assert ax.get_title(loc="left") == "B"
    leads_b = res.leads[res.leads["latent"] == "B"]
    assert sorted(t.get_text() for t in ax.texts if t.get_gid() == "locus-label") == sorted(leads_b["id"])
    assert ax.get_yscale() == "linear"  # B's strongest -log10 P is 30 (< 40): no break
    fig2 = G.manhattan(folder, latents=["A", "C"], label=False, thin_p=1.0)  # nothing thinned
    assert _points(fig2.axes[0])[1] == int(man["latent"].isin(["A", "C"]).sum())
    assert not [t for t in fig2.axes[0].texts if t.get_gid() == "locus-label"]
    with pytest.raises(CardiolatentError, match="no latent Z9"):
        G.manhattan(folder, latents=["Z9"])


def test_meff_threshold_replaces_the_paper_line(inputs, tmp_path):
    out = tmp_path / "meff"
    gwas_results([str(inputs / "res")], meff=10, manhattan_background=500).save(out)
    ax = G.manhattan(out, label=False).axes[0]
    thr = sorted(ln.get_ydata()[0] for ln in ax.lines if ln.get_gid() == "threshold")
    assert thr == pytest.approx([-np.log10(5e-8), -np.log10(5e-9)])
    assert any("5\\times10^{-9}" in t.get_text() for t in ax.texts if t.get_gid() == "threshold-label")


def test_qq_series_band_diagonal_and_lambda(folder, tmp_path):
    res = GwasSummary.load(folder)
    lam = res.table.set_index("latent")["lambda_gc"]
    fig = G.qq(folder)
    ax = fig.axes[0]
    pts = [ln for ln in ax.lines if ln.get_gid() == "qq-points"]
    assert [len(ln.get_xdata()) for ln in pts] == [int((res.qq["latent"] == c).sum()) for c in ("A", "B", "C")]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for c in ("A", "B", "C"):
        assert any(s.startswith(c) and f"{lam[c]:.3f}" in s and "lambda" in s for s in legend), legend
    assert "95% band" in legend and "expected" in legend
    diag = next(ln for ln in ax.lines if ln.get_gid() == "qq-diagonal")
    np.testing.assert_allclose(diag.get_xdata(), diag.get_ydata())
    band = next(c for c in ax.collections if isinstance(c, PolyCollection) and c.get_gid() == "qq-band")
    verts = band.get_paths()[0].vertices
    a = res.qq[res.qq["latent"] == "A"]  # all three latents have the same number of variants: A's band
    assert verts[:, 1].min() == pytest.approx(a["ci_low"].min())
    assert verts[:, 1].max() == pytest.approx(a["ci_high"].max())
    obs = np.concatenate([np.asarray(ln.get_ydata()) for ln in pts])
    assert obs.max() == pytest.approx(400.0) and ax.get_ylim()[1] > 400  # on the broken axis
    assert_figure_files(save_figure(fig, tmp_path / "qq"))
    # many latents: one pooled series, lambda median and range in the legend
    ax = G.qq(folder, max_series=2).axes[0]
    pts = [ln for ln in ax.lines if ln.get_gid() == "qq-points"]
    assert len(pts) == 1 and len(pts[0].get_xdata()) == len(res.qq)
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "3 latents" in legend and f"median {np.median(lam):.3f}" in legend


def test_qq_by_allele_frequency(folder, inputs):
    with pytest.raises(CardiolatentError, match="maf_bin"):
        G.qq(folder, by_maf=True)
    # a QQ table stratified by MAF bin, as gwas-results' own qq_points would make it per bin
    res = GwasSummary.load(folder)
    rng = np.random.default_rng(0)
    parts = []
    for b, n in (("<0.05", 3000), (">=0.05", 9000)):
        q = qq_points(-np.log10(rng.uniform(size=n)), n_points=200)
        parts.append(q.assign(latent="A", maf_bin=b))
    res.qq = pd.concat(parts, ignore_index=True)[["latent", "rank", "expected", "observed", "ci_low", "ci_high",
                                                 "maf_bin"]]
    ax = G.qq(res, by_maf=True).axes[0]
    pts = [ln for ln in ax.lines if ln.get_gid() == "qq-points"]
    assert [len(ln.get_xdata()) for ln in pts] == [len(p) for p in parts]
    assert [ln.get_label() for ln in pts] == ["MAF <0.05", "MAF >=0.05"]


def test_gwas_figures_and_errors(folder, inputs, tmp_path):
    figs = G.gwas_figures(folder)
    assert set(figs) == {"manhattan", "qq"}
    figs = G.gwas_figures(folder, per_latent=True)
    assert set(figs) == {"manhattan", "qq", "manhattan_A", "manhattan_B", "manhattan_C", "qq_A", "qq_B", "qq_C"}
    # a result with no variants
    empty = tmp_path / "empty_in"
    empty.mkdir()
    (empty / "step2_E.regenie").write_text(" ".join(REGENIE_COLS) + "\n")
    out = tmp_path / "empty"
    gwas_results([str(empty)]).save(out)
    for fn in (G.manhattan, G.qq, G.gwas_figures):
        with pytest.raises(CardiolatentError, match="no variants"):
            fn(out)
    with pytest.raises(CardiolatentError, match="not a saved"):
        G.manhattan(tmp_path / "nothing_here")
    with pytest.raises(CardiolatentError, match="thin_p"):
        G.manhattan(folder, thin_p=0)


def test_qq_by_maf_from_gwas_results_qq_maf_bins(tmp_path):
    """gwas-results --qq-maf-bins' own stratified qq.parquet: one series per bin holding that bin's rows
    (pooled over latents), the legend naming each bin with its lambda GC and count from summary.json,
    the variants without a frequency in the legend title; the plain QQ draws only the 'all' rows."""
    rng = np.random.default_rng(8)
    v = pd.DataFrame({"chrom": np.repeat(["1", "2"], 3000), "pos": np.tile(np.arange(1, 3001) * 5000, 2)})
    src = tmp_path / "res"
    src.mkdir()
    for lat, infl in (("A", 1.0), ("B", 1.15)):
        eaf = np.round(rng.uniform(0.001, 0.999, len(v)), 4)
        eaf[:25] = np.nan  # written as NA: no frequency
        common = np.minimum(eaf, 1 - eaf) > 0.05
        z = rng.standard_normal(len(v)) * np.where(common, infl, 1.0)  # B: common variants inflated
        _write_regenie(v, -np.log10(2 * stats.norm.sf(np.abs(z))), src / f"step2_{lat}.regenie",
                       eaf=np.where(np.isnan(eaf), "NA", eaf.astype(str)))
    out = tmp_path / "gwas"
    gwas_results([str(src)], qq_maf_bins="0.01,0.05,0.1,0.25,0.5", qq_n_points=300).save(out)
    res = GwasSummary.load(out)
    info = json.loads((out / "summary.json").read_text())["qq"]
    labels = info["maf_bins"]["labels"]
    bins = res.qq["maf_bin"].astype(str)

    fig = G.qq(out, by_maf=True)
    ax = fig.axes[0]
    pts = [ln for ln in ax.lines if ln.get_gid() == "qq-points"]
    assert [len(ln.get_xdata()) for ln in pts] == [int((bins == b).sum()) for b in labels]
    assert all(ln.get_rasterized() for ln in pts)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for b in labels:
        lam = np.median([info["maf_lambda_gc"][x][b] for x in ("A", "B")])
        n = int(np.median([info["maf_counts"][x][b] for x in ("A", "B")]))
        shown = b.replace("-", "\u2013")  # 0.01-0.05 is shown as 0.01–0.05
        assert f"MAF {shown}: $\\lambda_{{\\mathrm{{GC}}}}$ {lam:.3f}, n = {n:,}" in legend, legend
    title = ax.get_legend().get_title().get_text()
    assert "medians over 2 latents" in title and "50 variant(s) without MAF" in title
    # the band: the bin with the most variants of the latent with the most variants (A and B tie: A)
    big = max(labels, key=lambda b: info["maf_counts"]["A"][b])
    a_big = res.qq[(res.qq["latent"] == "A") & (bins == big)]
    verts = next(c for c in ax.collections if isinstance(c, PolyCollection)).get_paths()[0].vertices
    assert verts[:, 1].max() == pytest.approx(a_big["ci_high"].max())
    assert verts[:, 0].max() == pytest.approx(a_big["expected"].max())
    assert_figure_files(save_figure(fig, tmp_path / "qq_maf"))
    # one latent: its own lambda GC and count per bin, and its missing count
    ax = G.qq(out, latents=["B"], by_maf=True).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for b in labels:
        assert f"{info['maf_lambda_gc']['B'][b]:.3f}, n = {info['maf_counts']['B'][b]:,}" in " ".join(legend)
    assert ax.get_legend().get_title().get_text() == "25 variant(s) without MAF not shown"
    # without by_maf: only the unstratified rows, one series per latent
    ax = G.qq(out).axes[0]
    pts = [ln for ln in ax.lines if ln.get_gid() == "qq-points"]
    assert [len(ln.get_xdata()) for ln in pts] == [int(((bins == "all") & (res.qq["latent"] == x)).sum())
                                                   for x in ("A", "B")]
    assert {"qq_maf", "qq_maf_A", "qq_maf_B"} <= set(G.gwas_figures(out, per_latent=True))
