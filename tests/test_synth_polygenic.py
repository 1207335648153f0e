"""Issue 18 part 1: the synthetic cohort's polygenic background and its planted SNP heritability.

Model (``cardiolatent/synth/genotypes.py`` and ``cohort.py`` docstrings): every non-planted
polymorphic variant ``j`` gets ``b_j ~ N(0, h2_bg / M_c)`` on its standardised genotype, so each
true parameter is ``covariates + planted + background + noise`` with ``var(noise) = (1 - h2) sigma^2``
and ``h2 = sum(planted r2) + h2_bg`` on the residual scale (after intercept, sex, BSA, age, SBP).

What is checked here, each against something computed independently in the test:
- off (``None``, 0, a mapping of zeros) = every table exactly as without the parameter; on, only
  the true parameters with a background (and what is drawn from them) change;
- ``truth/heritability.tsv``: columns, ``h2 = h2_planted_variants + h2_background``, the effects
  table reproduces the background values, and the traits carry the background with slope 1;
- realised background variance / sigma^2 against its closed-form mean and SD given the genotypes
  (n = 20,000: ``E = h2 tr(R_C) / M_c``, ``SD = sqrt(2) h2 ||R_C||_F / M_c``, ``R_C`` the sample
  correlation of the causal variants' standardised genotypes);
- recoverability: a REML on the GRM of all ~6,000 variants (computed here with numpy, FaST-LMM
  style through the GRM's eigendecomposition) gives a 95% CI covering the planted h2 of each of
  the five traits (n = 1,500, seed 20208, variant_r2 0.15, background 0.1); Haseman-Elston
  regression agrees with it;
- the planted variants still reach P < 5e-8 in a GWAS of the true traits at the built-in size
  (1,800, seed 20208, variant_r2 0.15) with the recommended background (our OLS scan of the
  ``export --format plink2`` folder, then ``gwas-results``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from _synth_helpers import true_traits_as_latents
from cardiolatent.cli import main as cli
from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.scan import linear_scan
from cardiolatent.synth.build import make_cohort, simulate_tables
from cardiolatent.synth.cohort import EXTENSION_TRUTH, GENETIC_TRAITS, TRAIT_MODELS, polygenic_h2_by_trait
from cardiolatent.synth.genotypes import DEFAULT_CAUSAL

#: the background recommended for the built-in cohort: totals 0.40 (lvedv_ml, lav_ml: two planted
#: variants of 0.15) and 0.25 (the other three)
RECOMMENDED_H2 = 0.10
TRAITS = list(GENETIC_TRAITS.values())
HERITABILITY_COLUMNS = ["trait_column", "h2", "h2_planted_variants", "h2_background", "h2_realised",
                        "h2_planted_realised", "h2_background_realised", "n_planted_variants",
                        "n_causal_background", "sigma", "genetic_variance", "residual_variance", "unit"]
TABLES = ("main_raw", "main", "participants", "outcomes", "hazards", "variants", "trait_effects")


# ----------------------------------------------------------------------------- helpers (independent)


def _standardised(counts: np.ndarray) -> np.ndarray:
    """(n, k) A1 counts (-1 missing) -> (x - 2p) / sqrt(2p(1-p)) with p over called genotypes, missing 0."""
    x = counts.astype(np.float64)
    called = counts >= 0
    p = np.where(called, x, 0).sum(0) / (2.0 * called.sum(0))
    sd = np.sqrt(2 * p * (1 - p))
    z = np.where(called, (x - 2 * p) / np.where(sd > 0, sd, 1), 0.0)
    return z[:, sd > 0] if z.ndim == 2 else z


def _covariates(part: pd.DataFrame) -> np.ndarray:
    """The planted model's covariates (intercept, male, BSA, age, SBP; true values at instance 2)."""
    return np.column_stack([np.ones(len(part)), part["sex"], part["true_bsa"], part["age_exact"],
                            part["true_sbp"]]).astype(np.float64)


def _model_residual(part: pd.DataFrame, col: str) -> np.ndarray:
    """True parameter minus the planted covariate terms (trait units)."""
    m = TRAIT_MODELS[col]
    fixed = (m["intercept"] + m["sex"] * part["sex"] + m["bsa"] * (part["true_bsa"] - 1.9)
             + m["age10"] * (part["age_exact"] - 65) / 10 + m["sbp10"] * (part["true_sbp"] - 135) / 10)
    return (part[col] - fixed).to_numpy(float)


def _instance2(cohort, eids) -> pd.DataFrame:
    p = cohort.participants
    return p[p["instance"] == 2].set_index("eid").loc[eids]


def _reml(y: np.ndarray, X: np.ndarray, d: np.ndarray, U: np.ndarray):
    """REML h2 of ``y`` with fixed effects ``X`` and covariance ``s2 (h2 A + (1 - h2) I)``, A = U diag(d) U'.

    Returns (h2, se, negative profile log-likelihood function). The SE is from the curvature of the
    profile REML log-likelihood at the estimate (observed information).
    """
    ys, Xs = U.T @ y, U.T @ X
    n, p = Xs.shape

    def negll(h):
        w = 1.0 / (h * d + 1 - h)
        XtW = Xs.T * w
        XtWX = XtW @ Xs
        r = ys - Xs @ np.linalg.solve(XtWX, XtW @ ys)
        s2 = (r * w) @ r / (n - p)
        return 0.5 * ((n - p) * np.log(s2) + np.sum(np.log(h * d + 1 - h)) + np.linalg.slogdet(XtWX)[1])

    h = minimize_scalar(negll, bounds=(0.0, 0.999), method="bounded", options={"xatol": 1e-7}).x
    eps = 1e-3
    hh = min(max(h, eps), 0.999 - eps)
    curvature = (negll(hh + eps) - 2 * negll(hh) + negll(hh - eps)) / eps**2
    return h, 1 / np.sqrt(curvature), negll


def _haseman_elston(y: np.ndarray, X: np.ndarray, A: np.ndarray) -> tuple[float, float]:
    """HE regression of residualised, standardised y_i y_j on A_ij (i < j); SE ~ sqrt(2 / sum A_ij^2)."""
    Q, _ = np.linalg.qr(X)
    r = y - Q @ (Q.T @ y)
    r = r / r.std()
    iu = np.triu_indices(len(y), 1)
    a = A[iu]
    return float(a @ np.outer(r, r)[iu] / (a @ a)), float(np.sqrt(2 / (a @ a)))


# ----------------------------------------------------------------------------- off = unchanged


@pytest.fixture(scope="module")
def small():
    """n = 400, seed 31: without the parameter, with it off three ways, and with lvef_pct's alone."""
    kw = {"variant_r2": 0.15}
    return {"none": simulate_tables(400, 31, **kw),
            "zero": simulate_tables(400, 31, polygenic_h2=0, **kw),
            "mapping_zero": simulate_tables(400, 31, polygenic_h2={"lvedv_ml": 0.0, "lav": 0.0}, **kw),
            "lvef": simulate_tables(400, 31, polygenic_h2={"lvef_pct": 0.2}, **kw)}


def test_off_gives_exactly_the_tables_of_a_cohort_without_it(small):
    g0, c0 = small["none"]
    for key in ("zero", "mapping_zero"):
        g, c = small[key]
        assert np.array_equal(g.packed, g0.packed)
        for name in TABLES:
            pd.testing.assert_frame_equal(getattr(c, name), getattr(c0, name), check_exact=True)
        pd.testing.assert_frame_equal(c.heritability, c0.heritability, check_exact=True)
        assert c.background_effects is None
    h = c0.heritability
    assert list(h.columns) == HERITABILITY_COLUMNS and list(h["trait_column"]) == TRAITS
    assert (h["h2_background"] == 0).all() and (h["n_causal_background"] == 0).all()
    assert (h["h2_background_realised"] == 0).all()
    assert np.allclose(h["h2"], h["h2_planted_variants"])


def test_on_changes_only_the_traits_with_a_background(small):
    g0, c0 = small["none"]
    g1, c1 = small["lvef"]
    assert np.array_equal(g1.packed, g0.packed)                     # genotypes: their own stream
    p0, p1 = c0.participants, c1.participants
    changed = {c for c in p0.columns if not p0[c].equals(p1[c])}
    # lvef_pct, and what is computed from it (LV end-systolic volume; issue 14's derived truth)
    assert "lvef_pct" in changed and changed <= {"lvef_pct", "lvesv_ml", *EXTENSION_TRUTH}, changed
    for col in ("lvedv_ml", "lav_ml", "rvedv_ml", "lvwt_mm", "heart_rate_bpm", "age_exact", "true_sbp", "pc1"):
        assert p0[col].equals(p1[col]), col
    pd.testing.assert_frame_equal(c1.variants, c0.variants, check_exact=True)
    h = c1.heritability.set_index("trait_column")
    assert h.loc["lvef_pct", "h2_background"] == 0.2 and h.drop("lvef_pct")["h2_background"].eq(0).all()
    assert set(c1.background_effects["trait_column"]) == {"lvef_pct"}


def test_bad_values_are_refused_in_one_line(tmp_path):
    cases = [(1.5, "must be in \\[0, 1\\)"), (-0.1, "must be in"), ("abc", "must be a number"),
             ({"lvedv_mm": 0.1}, "unknown trait 'lvedv_mm'"), (float("nan"), "must be in")]
    for value, msg in cases:
        with pytest.raises(CardiolatentError, match=msg) as e:
            polygenic_h2_by_trait(value)
        assert "\n" not in str(e.value) and "polygenic_h2" in str(e.value)
    # total with the planted variants: lvedv_ml has two of variant_r2 = 0.3 each -> 0.6 + 0.45 >= 1
    with pytest.raises(CardiolatentError, match="lvedv_ml .* total h2 must stay below 1"):
        make_cohort(tmp_path / "c", n=30, seed=1, images=False, progress=False, variant_r2=0.3,
                    polygenic_h2=0.45)
    assert not (tmp_path / "c").exists()


def test_command_line_option(tmp_path, capsys):
    out = tmp_path / "cohort"
    assert cli(["synth", "--n", "40", "--seed", "3", "--no-images", "--variant-r2", "0.15", "--out", str(out),
                "--polygenic-h2", "lvedv_ml=0.05,lav=0.1", "--quiet"]) == 0
    info = json.loads((out / "cohort.json").read_text())
    assert info["polygenic_h2"] == {"lvedv_ml": 0.05, "lvwt_mm": 0.0, "lav_ml": 0.1, "lvef_pct": 0.0, "rvedv_ml": 0.0}
    h = pd.read_csv(out / "truth" / "heritability.tsv", sep="\t").set_index("trait_column")
    assert h.loc["lvedv_ml", "h2"] == pytest.approx(0.35) and h.loc["lav_ml", "h2"] == pytest.approx(0.4)
    assert h.loc["lvef_pct", "h2"] == pytest.approx(0.15)
    eff = pd.read_csv(out / "truth" / "polygenic_effects.tsv", sep="\t")
    assert set(eff["trait_column"]) == {"lvedv_ml", "lav_ml"}
    # rebuilt without the background: the effects file goes, heritability.tsv stays (background 0)
    assert cli(["synth", "--n", "40", "--seed", "3", "--no-images", "--variant-r2", "0.15", "--out", str(out),
                "--quiet"]) == 0
    assert not (out / "truth" / "polygenic_effects.tsv").exists()
    assert pd.read_csv(out / "truth" / "heritability.tsv", sep="\t")["h2_background"].eq(0).all()
    capsys.readouterr()
    for bad, msg in (("0.9", "--polygenic-h2 for lvedv_ml (0.9) plus its 2 planted variants' r2 (0.3) is 1.2"),
                     ("x", "--polygenic-h2 must be a number in [0, 1), not 'x'"),
                     ("lvedv_ml=0.1,foo=0.2", "--polygenic-h2: unknown trait 'foo'"),
                     ("lvedv_ml:0.1", "--polygenic-h2 must be a number")):
        assert cli(["synth", "--n", "40", "--no-images", "--variant-r2", "0.15", "--out", str(tmp_path / "bad"),
                    "--polygenic-h2", bad, "--quiet"]) != 0
        err = capsys.readouterr().err.strip()
        assert msg in err and "\n" not in err, err


# ----------------------------------------------------------------------------- on: the truth table


@pytest.fixture(scope="module")
def big():
    """n = 20,000, seed 7, variant_r2 0.15, background 0.1 for every trait."""
    return simulate_tables(20_000, 7, variant_r2=0.15, polygenic_h2=RECOMMENDED_H2)


def _background_values(geno, effects: pd.DataFrame) -> pd.DataFrame:
    """Background genetic values from the per-allele effects table: sum_j beta_j (x_j - 2 eaf_j),
    a missing call counting 0; one column per trait column (people in ``geno.eids`` order)."""
    beta = effects.pivot(index="id", columns="trait_column", values="beta")
    eaf = effects.drop_duplicates("id").set_index("id")["eaf"]
    ids = geno.variants["id"][geno.variants["id"].isin(beta.index)].to_numpy()
    B, p = beta.loc[ids].to_numpy(), eaf.loc[ids].to_numpy()
    counts = geno.counts(list(ids))
    out = np.zeros((geno.n, B.shape[1]))
    for lo in range(0, len(ids), 500):
        x = counts[:, lo:lo + 500].astype(np.float64)
        out += np.where(x >= 0, x - 2 * p[lo:lo + 500], 0.0) @ B[lo:lo + 500]
    return pd.DataFrame(out, columns=beta.columns)


def test_heritability_table_and_effects(big):
    geno, cohort = big
    h = cohort.heritability
    assert list(h.columns) == HERITABILITY_COLUMNS and list(h["trait_column"]) == TRAITS
    counts = {col: DEFAULT_CAUSAL[short] for short, col in GENETIC_TRAITS.items()}
    polymorphic = ((geno.variants["freq_a1"] > 0) & (geno.variants["freq_a1"] < 1)).sum()
    part = _instance2(cohort, geno.eids)
    background = _background_values(geno, cohort.background_effects)
    for r in h.itertuples():
        assert r.n_planted_variants == counts[r.trait_column]
        assert r.h2_planted_variants == pytest.approx(0.15 * counts[r.trait_column], rel=1e-12)
        assert r.h2_background == RECOMMENDED_H2 and r.h2 == pytest.approx(r.h2_planted_variants + RECOMMENDED_H2)
        assert r.n_causal_background == polymorphic - len(geno.causal)
        assert r.sigma == TRAIT_MODELS[r.trait_column]["sigma"]
        assert r.h2_realised == pytest.approx(r.genetic_variance / r.residual_variance, rel=1e-12)
        # the effects table reproduces the background values (its variance, as the table reports it)
        g_bg = background[r.trait_column].to_numpy()
        assert np.var(g_bg, ddof=1) / r.residual_variance == pytest.approx(r.h2_background_realised, rel=1e-9)
        # and the true parameter carries it with slope 1 (OLS with the planted dosages; clipping aside)
        v = cohort.variants[cohort.variants["trait_column"] == r.trait_column]
        planted = (geno.dosage(list(v["id"])) - 2 * v["eaf"].to_numpy()) @ v["beta"].to_numpy()
        y = _model_residual(part, r.trait_column)
        D = np.column_stack([np.ones(len(y)), g_bg, planted])
        coef, res, *_ = np.linalg.lstsq(D, y, rcond=None)
        se = np.sqrt(res[0] / (len(y) - 3) * np.diag(np.linalg.inv(D.T @ D)))
        assert abs(coef[1] - 1) < 4 * se[1] and abs(coef[2] - 1) < 4 * se[2], (r.trait_column, coef, se)
        # the noise has the planted variance (1 - h2) sigma^2 (chi-square SD ~ sqrt(2 / n))
        noise = y - g_bg - planted
        ratio = np.var(noise, ddof=1) / (r.sigma**2 * (1 - r.h2))
        assert abs(ratio - 1) < 4 * np.sqrt(2 / len(y)), (r.trait_column, ratio)


def test_realised_background_variance_matches_its_closed_form(big):
    """Given the genotypes, var(Z_C b) / sigma^2 = b' R_C b with b ~ N(0, h2 / M_c): mean
    h2 tr(R_C) / M_c, SD sqrt(2) h2 ||R_C||_F / M_c (R_C = Z_C'Z_C / (n - 1), columns of mean 0).
    ||R_C||_F^2 is summed within LD blocks exactly; between blocks (independent by construction) each
    squared sample correlation has expectation 1 / (n - 1). Tolerance: 4 SD. The total h2_realised
    is checked against h2 with 4 SD of sqrt(4 h2^2 (1 - h2) / n + SD_b^2) (delta method for
    var(g) / var(g + e) over people, plus the background's draw)."""
    geno, cohort = big
    n = geno.n
    causal = ((geno.variants["freq_a1"] > 0) & (geno.variants["freq_a1"] < 1)
              & ~geno.variants["id"].isin(geno.causal["id"])).to_numpy()
    trace, frob_within, sizes = 0.0, 0.0, []
    for _, idx in geno.variants.groupby("block").indices.items():
        idx = idx[causal[idx]]
        if not idx.size:
            continue
        z = _standardised(geno.counts(list(geno.variants["id"].to_numpy()[idx])))
        R = z.T @ z / (n - 1)
        trace += np.trace(R)
        frob_within += float((R**2).sum())
        sizes.append(idx.size)
    m_c = int(causal.sum())
    assert m_c == sum(sizes) and m_c > 5000
    frob = frob_within + (m_c**2 - float(np.sum(np.square(sizes)))) / (n - 1)
    for r in cohort.heritability.itertuples():
        realised_bg = r.h2_background_realised * r.residual_variance / r.sigma**2
        mean = r.h2_background * trace / m_c
        sd_b = np.sqrt(2) * r.h2_background * np.sqrt(frob) / m_c
        print(f"{r.trait_column}: background realised {realised_bg:.4f}, closed form {mean:.4f} +- {sd_b:.4f}; "
              f"total realised {r.h2_realised:.4f} vs h2 {r.h2:.2f}")
        assert abs(realised_bg - mean) < 4 * sd_b, (r.trait_column, realised_bg, mean, sd_b)
        assert 4 * sd_b < 0.2 * r.h2_background  # the check has teeth: a 20% scale error fails it
        sd_total = np.sqrt(4 * r.h2**2 * (1 - r.h2) / n + sd_b**2)
        assert abs(r.h2_realised - r.h2) < 4 * sd_total, (r.trait_column, r.h2_realised, r.h2, sd_total)


# ----------------------------------------------------------------------------- recoverable


def test_reml_on_the_grm_recovers_the_planted_h2():
    """n = 1,500, seed 20208 (the built-in cohort's), variant_r2 0.15, background 0.1: REML on the
    GRM of all ~6,000 variants, covariates of the planted model; the Wald 95% CI covers the planted
    h2 of every trait, the likelihood-ratio test of the planted value is not rejected at 5%, and HE
    regression agrees with REML within 3 of HE's SEs."""
    geno, cohort = simulate_tables(1500, 20208, variant_r2=0.15, polygenic_h2=RECOMMENDED_H2)
    Z = _standardised(geno.counts())
    A = Z @ Z.T / Z.shape[1]
    d, U = np.linalg.eigh(A)
    part = _instance2(cohort, geno.eids)
    X = _covariates(part)
    h = cohort.heritability.set_index("trait_column")
    for col in TRAITS:
        y = part[col].to_numpy(float)
        est, se, negll = _reml(y, X, d, U)
        planted = h.loc[col, "h2"]
        assert 0.03 < se < 0.08, (col, se)                               # informative, not degenerate
        assert abs(est - planted) < 1.96 * se, (col, est, se, planted)
        assert 2 * (negll(planted) - negll(est)) < 3.841, col
        assert 2 * (negll(0.0) - negll(est)) > 10.83, col                   # h2 = 0 rejected at P < 0.001
        he, he_se = _haseman_elston(y, X, A)
        assert abs(he - est) < 3 * he_se, (col, he, est)


# ----------------------------------------------------------------------------- the GWAS still finds them


def test_planted_variants_reach_genome_wide_significance_with_the_background(tmp_path):
    """The built-in size and seed (1,800, 20208, variant_r2 0.15, incidence scale 3) with the
    recommended background: every planted variant is the lead of its trait at P < 5e-8."""
    paths = make_cohort(tmp_path / "builtin", n=1800, seed=20208, images=False, incidence_scale=3.0,
                        variant_r2=0.15, polygenic_h2=RECOMMENDED_H2, progress=False)
    variants = pd.read_csv(paths.truth / "variants.tsv", sep="\t")
    traits = true_traits_as_latents(paths, tmp_path / "lat.tsv")
    exp = tmp_path / "export"
    assert cli(["export", "--latents", str(tmp_path / "lat.tsv"), "--ukb", str(paths.main), "--format", "plink2",
                "--samples", str(paths.genotypes.with_suffix(".fam")), "--out", str(exp), "--quiet"]) == 0
    glm = linear_scan(exp, paths.genotypes, tmp_path / "glm", min_mac=20, progress=False)
    assert cli(["gwas-results", "--results", str(glm), "--out", str(tmp_path / "gwas"), "--quiet"]) == 0
    leads = pd.read_csv(tmp_path / "gwas" / "leads.tsv", sep="\t")
    for v in variants.itertuples():
        hit = leads[(leads["id"] == v.id) & (leads["latent"] == f"Z{traits.index(v.trait_column)}")]
        assert len(hit) == 1 and hit["p"].iloc[0] < 5e-8, (v.id, v.trait_column)
