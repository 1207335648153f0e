"""The tabular part of the synthetic cohort, with planted truth.

:func:`simulate_cohort` draws participants, covariates, true cardiac parameters, disease
events and deaths, writes them into a UK Biobank-like main data table (canonical wide form,
see ``docs/design.md``) and returns truth tables the package's computations are checked
against. Everything is a deterministic function of the numpy Generator's state (and of the
genotypes passed in); the work is vectorised over participants.

Conventions (the package follows the same ones)
-----------------------------------------------
- Birth date = the 15th of birth month 52 of birth year 34 (UK Biobank gives no day);
  ``age_exact = (visit date - birth date).days / 365.25`` and 21003 = ``floor(age_exact)``.
- BSA (Du Bois) = ``0.20247 * weight_kg**0.425 * (height_cm / 100)**0.725``.
- Blood pressure = mean of the automated readings (4080 / 4079, arrays 0-1) present when
  any automated reading is present, else of the manual readings (93 / 94); ``bp_source``
  is ``automated``, ``manual`` or ``none``.
- Outcome dates = the earliest *real* written date over the outcome's sources: first
  occurrence field, algorithmic field (MI: 42000), hospital ICD-10 41270/41280 and ICD-9
  41271/41281 (code prefixes in :data:`OUTCOME_SOURCES`). Placeholder dates
  (:data:`PLACEHOLDER_DATES`) never count. Ties on the date go to first occurrence, then
  algorithmic, then ICD-10, then ICD-9.
- Follow-up starts at the imaging visit (53-2.0). ``end_date`` = the earliest of the
  incident event, death (40000) and the administrative end date. Prevalent cases (event on
  or before the visit) have ``censor_reason = "prevalent"``, ``event = 0``, no follow-up:
  ``end_date`` NaT and ``time_years`` NaN (so they cannot enter a survival model). Events written after the administrative end date (a few are, to test
  censoring) count for ``event_date`` but are never incident events or cross-sectional cases.

Main data
---------
``main_raw`` holds what is written to disk: negative codes (-1, -3) in 21000, 20116, 1558,
1747, 2040 and placeholder dates in first-occurrence and hospital date cells.
``main = clean_main(main_raw)`` is what a reader should return after cleaning.

Issue 14 additions (from an independent stream, :func:`extension_rng`; nothing that existed
before changed): cardiac IDPs at instances 2 and 3 under their real field ids (Bai et al.
24100-24123, wall thickness 24124-24140, global strains 24157/24174/24181; Siemens inline
22420-22427), measured from the true parameters (:data:`IDP_FIELDS`, :data:`INLINE_NOISE`)
with missingness :data:`IDP_MISSING`; new true parameters (:data:`DERIVED_MODELS`,
:data:`EXTENSION_TRUTH`); blood biochemistry at instance 0 (:data:`BIOCHEM_FIELDS`); and the
outcomes :data:`EXTENSION_OUTCOMES` (CHD, ANGINA, MVD, AVD) with planted hazards.

Issue 18 addition (off by default; then nothing changes): a **polygenic background**
(``simulate_cohort(..., polygenic_h2=...)``, the model in :mod:`cardiolatent.synth.genotypes`,
drawn from its own stream :func:`polygenic_rng`). Each true parameter of :data:`GENETIC_TRAITS`
is ``covariate terms + g_planted + g_background + noise`` with::

    var(g_planted)    = sum of its planted variants' r2 * sigma^2   (each variant: variant_r2)
    E var(g_background) = polygenic_h2 * sigma^2                      (every non-planted variant)
    var(noise)        = (1 - h2) * sigma^2,   h2 = sum r2 + polygenic_h2 < 1

so ``sigma^2`` (:data:`TRAIT_MODELS`) stays the residual variance after the intercept, sex, BSA,
age and SBP terms, and ``h2`` is the SNP heritability **on that residual scale**: the quantity a
REML (BOLT-REML, GCTA) or LD score regression estimates with those covariates fitted. The truth is
:attr:`SynthCohort.heritability` (``truth/heritability.tsv``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from cardiolatent.errors import CardiolatentError
from cardiolatent.synth.genotypes import polygenic_background

__all__ = [
    "SynthCohort",
    "simulate_cohort",
    "clean_main",
    "du_bois_bsa",
    "PLACEHOLDER_DATES",
    "NA_CODES",
    "FIELD_KIND",
    "OUTCOME_SOURCES",
    "TRAIT_MODELS",
    "HAZARD_TERMS",
    "IMAGING_CENTRES",
    "GENETIC_TRAITS",
    "polygenic_h2_by_trait",
    "polygenic_rng",
]

DAYS_PER_YEAR = 365.25
EID_RANGE = (1_000_000, 6_026_000)
#: Dates UK Biobank uses for unknown / invalid dates; never real event dates.
PLACEHOLDER_DATES = ("1900-01-01", "1901-01-01", "1902-02-02", "1903-03-03", "2037-07-07")
#: Negative codes that mean "missing" per field (as in ``cardiolatent/data/fields.tsv``).
NA_CODES: dict[int, tuple[int, ...]] = {21000: (-1, -3), 20116: (-3,), 1558: (-3,), 1747: (-1, -3), 2040: (-1, -3)}

#: Imaging centres (field 54 at instances 2/3) and the date each started imaging.
IMAGING_CENTRES: dict[int, tuple[str, str]] = {
    11025: ("Cheadle", "2014-05-01"),
    11027: ("Newcastle", "2016-06-01"),
    11026: ("Reading", "2018-06-01"),
    11028: ("Bristol", "2020-01-01"),
}
BASELINE_CENTRES = (10003, 11001, 11002, 11003, 11004, 11005, 11006, 11007, 11008, 11009, 11010,
                    11011, 11012, 11013, 11014, 11016, 11017, 11018, 11020, 11021, 11022, 11023)

_CAT, _INT, _FLOAT, _DATE, _STR = "categorical", "integer", "continuous", "date", "icd"
#: Registry type of every field written (decides the canonical dtype).
FIELD_KIND: dict[int, str] = {
    31: _CAT, 22001: _CAT, 34: _INT, 52: _CAT, 21003: _INT, 53: _DATE, 54: _CAT,
    50: _FLOAT, 21002: _FLOAT, 21001: _FLOAT, 48: _FLOAT,
    4080: _INT, 4079: _INT, 93: _INT, 94: _INT,
    22000: _CAT, 22006: _CAT, 21000: _CAT, 22009: _FLOAT,
    20116: _CAT, 1558: _CAT, 1747: _CAT, 2040: _CAT,
    40000: _DATE, 42000: _DATE, 42001: _CAT,
    131350: _DATE, 131298: _DATE, 131354: _DATE, 131286: _DATE, 130708: _DATE,
    41270: _STR, 41280: _DATE, 41271: _STR, 41281: _DATE,
}

#: Sources written per outcome: first-occurrence field, algorithmic field, ICD prefixes used
#: to *match* (as in ``cardiolatent/data/outcomes.toml``) and the codes *written*.
OUTCOME_SOURCES: dict[str, dict[str, Any]] = {
    "AF": {"first_occurrence": 131350, "algorithmic": None, "icd10": ("I48",), "icd9": ("4273",),
           "write10": ("I480", "I481", "I489", "I484"), "write9": ("4273",)},
    "MI": {"first_occurrence": 131298, "algorithmic": 42000, "icd10": ("I21", "I22", "I23"),
           "icd9": ("410", "412"), "write10": ("I210", "I211", "I214", "I219"), "write9": ("4109", "4100")},
    "HF": {"first_occurrence": 131354, "algorithmic": None, "icd10": ("I50",), "icd9": ("428",),
           "write10": ("I500", "I501", "I509"), "write9": ("4280", "4289")},
    "HTN": {"first_occurrence": 131286, "algorithmic": None, "icd10": ("I10", "I11", "I12", "I13", "I15"),
            "icd9": ("401", "402", "403", "404", "405"), "write10": ("I10",), "write9": ("4019",)},
    "T2D": {"first_occurrence": 130708, "algorithmic": None, "icd10": ("E11",), "icd9": ("250",),
            "write10": ("E119", "E112", "E114"), "write9": ("2500", "2509")},
    # issue 14: the rest of the paper's diseases, drawn from the extension stream (see
    # :data:`EXTENSION_OUTCOMES`). The written codes match no other outcome's prefixes (CHD never
    # I21-I23, which are MI's; MVD/AVD never the shared I08/396).
    "CHD": {"first_occurrence": 131306, "algorithmic": None, "icd10": ("I24", "I25"), "icd9": ("411", "414"),
            "write10": ("I251", "I259", "I252", "I248"), "write9": ("4149", "4140")},
    "ANGINA": {"first_occurrence": 131296, "algorithmic": None, "icd10": ("I20",), "icd9": ("413",),
               "write10": ("I200", "I209", "I208"), "write9": ("4139",)},
    "MVD": {"first_occurrence": 131322, "algorithmic": None, "icd10": ("I34", "I05", "I08"),
            "icd9": ("394", "396", "4240"), "write10": ("I340", "I341", "I348", "I051"), "write9": ("4240",)},
    "AVD": {"first_occurrence": 131324, "algorithmic": None, "icd10": ("I35", "I06", "I08"),
            "icd9": ("395", "396", "4241"), "write10": ("I350", "I351", "I352", "I060"), "write9": ("4241",)},
}
#: outcomes drawn as before issue 14 (from the cohort's Generator, in this order)
ORIGINAL_OUTCOMES = ("AF", "MI", "HF", "HTN", "T2D")
#: outcomes added by issue 14, drawn from the independent extension stream after the others
EXTENSION_OUTCOMES = ("CHD", "ANGINA", "MVD", "AVD")
# Unrelated hospital codes (match none of the outcome prefixes, nor I*/E1*/ICD-9 390-459, 250).
_OTHER_ICD10 = ("K359", "S7200", "J189", "N390", "K802", "M179", "C509", "H251", "K573", "Z864",
                "J449", "K210", "M545", "N179", "L031", "D649", "Z961", "K590", "R101", "G473",
                "M170", "K409", "C61", "N40", "H269", "S5250", "K429", "Z532", "R55", "A099")
_OTHER_ICD9 = ("5409", "8208", "5990", "5741", "7152", "3669", "5500", "6262", "8921", "7245")

#: Planted linear models of the true cardiac parameters (instance 2):
#: value = intercept + sex*male + bsa*(BSA - 1.9) + age10*(age - 65)/10 + sbp10*(SBP - 135)/10
#: + genetic part + noise; ``sigma`` = total residual SD (genetic + noise), trait units.
TRAIT_MODELS: dict[str, dict[str, float]] = {
    "lvedv_ml": {"intercept": 135.0, "sex": 22.0, "bsa": 70.0, "age10": -5.0, "sbp10": 1.0, "sigma": 21.0},
    "lvef_pct": {"intercept": 61.0, "sex": -2.5, "bsa": 0.0, "age10": 0.8, "sbp10": -0.3, "sigma": 5.8},
    "lvwt_mm": {"intercept": 7.7, "sex": 1.3, "bsa": 1.5, "age10": 0.25, "sbp10": 0.35, "sigma": 1.0},
    "lav_ml": {"intercept": 68.0, "sex": 5.0, "bsa": 30.0, "age10": 4.0, "sbp10": 3.0, "sigma": 17.0},
    "rvedv_ml": {"intercept": 135.0, "sex": 30.0, "bsa": 75.0, "age10": -6.0, "sbp10": 0.0, "sigma": 21.0},
    "heart_rate_bpm": {"intercept": 68.0, "sex": -2.0, "bsa": 0.0, "age10": -1.0, "sbp10": 0.8, "sigma": 10.0},
}
_TRAIT_CENTRES = {"bsa": 1.9, "age10": 65.0, "sbp10": 135.0}
_TRAIT_UNITS = {"lvedv_ml": "mL", "lvef_pct": "%", "lvwt_mm": "mm", "lav_ml": "mL", "rvedv_ml": "mL",
                "heart_rate_bpm": "bpm"}
#: genotypes.causal trait name -> participants column
GENETIC_TRAITS = {"lvedv": "lvedv_ml", "lvwt": "lvwt_mm", "lav": "lav_ml", "lvef": "lvef_pct", "rvedv": "rvedv_ml"}
_TRAIT_CLIP = {"lvedv_ml": (50, 400), "lvef_pct": (20, 80), "lvwt_mm": (4, 20), "lav_ml": (15, 250),
               "rvedv_ml": (50, 400), "heart_rate_bpm": (35, 130)}
_RV_LV_NOISE_CORR = 0.6
_RETEST_NOISE = 0.2  # instance-3 noise SD as a fraction of sigma (test-retest ICC ~ 0.96)

#: Planted Cox terms: outcome -> [(participants column at instance 2, HR per unit)]. The unit is
#: 10 years for ``age_exact`` (centre 65), male vs female for ``sex``, and one cohort SD
#: (centre = cohort mean) for everything else; see ``SynthCohort.hazards``.
HAZARD_TERMS: dict[str, list[tuple[str, float]]] = {
    "AF": [("age_exact", 1.8), ("sex", 1.5), ("lav_ml", 1.6)],
    "MI": [("age_exact", 1.5), ("sex", 2.0), ("lvef_pct", 0.8), ("lvwt_mm", 1.3)],
    "HF": [("age_exact", 1.8), ("sex", 1.5), ("lvef_pct", 0.6), ("lvwt_mm", 1.25), ("lvedv_ml", 1.3)],
    "HTN": [("age_exact", 1.4), ("sex", 1.3), ("true_sbp", 1.5)],
    "T2D": [("age_exact", 1.5), ("sex", 1.4), ("true_bmi", 1.8)],
    # issue 14: coronary disease with age, sex and blood pressure; mitral valve disorders with
    # LA volume; aortic valve disorders with LV mass
    "CHD": [("age_exact", 1.6), ("sex", 1.9), ("true_sbp", 1.35)],
    "ANGINA": [("age_exact", 1.5), ("sex", 1.6), ("true_sbp", 1.3)],
    "MVD": [("age_exact", 1.7), ("lav_ml", 1.8)],
    "AVD": [("age_exact", 2.0), ("sex", 1.4), ("lvm_g", 1.7)],
}
#: Target 10-year cumulative incidence after imaging and prevalence at imaging.
_INCIDENCE_10Y = {"AF": 0.06, "MI": 0.03, "HF": 0.03, "HTN": 0.10, "T2D": 0.03,
                  "CHD": 0.05, "ANGINA": 0.03, "MVD": 0.025, "AVD": 0.025}
_PREVALENCE = {"AF": 0.03, "MI": 0.02, "HF": 0.01, "HTN": 0.25, "T2D": 0.05,
               "CHD": 0.04, "ANGINA": 0.03, "MVD": 0.01, "AVD": 0.01}
_DEATH_RATE = 0.01  # per year at age 65, female
_DEATH_LOG_HR = {"age10": np.log(2.2), "male": np.log(1.5)}
_AFTER_ADMIN_WRITTEN = 0.15  # fraction of post-admin events (within 3 years) still written
_HOSPITAL_WIDTH = 20
_ICD9_END = "1995-12-31"


@dataclass
class SynthCohort:
    """Synthetic cohort tables (see module docstring for the conventions).

    Attributes
    ----------
    main : canonical wide main data after cleaning; index ``eid`` (int64, random order),
        columns ``"{field}-{instance}.{array}"`` sorted by (field, instance, array).
    main_raw : the same before cleaning (negative codes, placeholder dates): what is written.
    participants : one row per imaged (eid, instance), sorted by (eid, instance). Covariates
        as the package should compute them from ``main``: ``eid, instance, visit`` (= instance),
        ``visit_date, imaging_year, age`` (21003), ``age_exact`` (birth = 15th of the month),
        ``sex, genetic_sex, height, weight, bmi`` (21001), ``bsa`` (Du Bois on the written
        height/weight), ``sbp, dbp, bp_source, waist, centre, genotyping_batch,
        genetic_grouping, pc1..pc20``; true (unwritten) covariates ``true_height, true_weight,
        true_bmi, true_bsa, true_sbp``; true cardiac parameters ``lvedv_ml, lvesv_ml,
        lvef_pct, lvwt_mm, lav_ml, rvedv_ml, heart_rate_bpm``; then the issue-14 truth
        :data:`EXTENSION_TRUTH` (``lvm_g`` g, ``rvef_pct`` %, ``lamin_ml`` mL, ``ramax_ml`` mL,
        ``ao_asc_max_area_mm2`` mm2, ``ao_asc_distensibility`` 10^-3 mmHg^-1, strains %, ...).
    outcomes : one row per (eid, outcome) at instance 2 (AF, MI, HF, HTN, T2D, then CHD,
        ANGINA, MVD, AVD), sorted by eid then outcome: ``eid, outcome, event_date, source`` (``first_occurrence:<field>``,
        ``algorithmic:42000``, ``icd10:<code>``, ``icd9:<code>``), ``visit_date,
        prevalent, incident, case_window, end_date, time_years, event, censor_reason``
        (``event``, ``death``, ``administrative``, ``prevalent``) and ``death_date`` (40000,
        NaT if alive at the admin date).
    hazards : planted Cox terms: ``outcome, term, unit, center, scale, hr, log_hr,
        baseline_hazard_per_year`` (x = (participants[term] - center) / scale, instance 2).
    variants : planted variants (``genotypes.causal``) plus ``trait_column``, ``sigma``
        (trait residual SD), ``beta`` (trait units per effect allele) and ``unit``.
    trait_effects : planted linear-model coefficients: ``trait, term, center, per, unit, beta``.
    heritability : one row per genetic true parameter (:data:`GENETIC_TRAITS`), see
        :func:`_heritability_table`: ``trait_column, h2`` (planted SNP heritability on the
        residual scale, expected value) ``= h2_planted_variants + h2_background``, the realised
        fractions in this sample and the counts of causal variants.
    background_effects : the polygenic background's per-allele effects, one row per (trait
        column with a background, causal variant): ``trait_column, id, chrom, pos, effect_allele,
        other_allele, eaf, b_std`` (trait SD per genotype SD), ``beta_sd`` (trait SD per effect
        allele), ``beta`` (trait units per effect allele); ``None`` when the background is off.
    """

    main: pd.DataFrame
    main_raw: pd.DataFrame
    participants: pd.DataFrame
    outcomes: pd.DataFrame
    hazards: pd.DataFrame
    variants: pd.DataFrame
    trait_effects: pd.DataFrame
    heritability: pd.DataFrame | None = None
    background_effects: pd.DataFrame | None = None


# ----------------------------------------------------------------------------- small helpers


def _day(date: str | pd.Timestamp) -> int:
    """Days since 1970-01-01 of a date."""
    return int(pd.Timestamp(date).value // 86_400_000_000_000)


_PLACEHOLDER_DAYS = np.array([_day(d) for d in PLACEHOLDER_DATES], dtype=np.float64)


def _to_datetime(days: np.ndarray) -> np.ndarray:
    """Float days since epoch (NaN = missing) -> datetime64[ns] array (NaT)."""
    days = np.asarray(days, dtype=np.float64)
    out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(days)
    out[ok] = days[ok].astype(np.int64).astype("datetime64[D]").astype("datetime64[ns]")
    return out


def _year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year (float, NaN for missing) of float days since epoch."""
    d = np.asarray(days, dtype=np.float64)
    out = np.full(d.shape, np.nan)
    ok = ~np.isnan(d)
    out[ok] = d[ok].astype(np.int64).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    return out


def du_bois_bsa(weight_kg: np.ndarray, height_cm: np.ndarray) -> np.ndarray:
    """Du Bois body surface area (m^2): ``0.20247 * w**0.425 * (h/100)**0.725``; NaN propagates."""
    return 0.20247 * np.asarray(weight_kg, float) ** 0.425 * (np.asarray(height_cm, float) / 100.0) ** 0.725


def _birth15(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Float days since epoch of the 15th of ``month`` (1-12) of ``year``."""
    m = ((year.astype(np.int64) - 1970) * 12 + month.astype(np.int64) - 1).astype("datetime64[M]")
    return (m.astype("datetime64[D]").astype(np.int64) + 14).astype(np.float64)


def _uniform_days(rng: np.random.Generator, lo: np.ndarray | float, hi: np.ndarray | float, size: int) -> np.ndarray:
    """Whole days uniform in [lo, hi] (float days; hi < lo gives lo)."""
    lo = np.broadcast_to(np.asarray(lo, float), (size,))
    hi = np.maximum(np.broadcast_to(np.asarray(hi, float), (size,)), lo)
    return np.floor(lo + rng.random(size) * (hi - lo + 1.0)).clip(max=hi)


def _choice_codes(rng: np.random.Generator, codes: tuple[str, ...], size: int) -> np.ndarray:
    return np.asarray(codes, dtype=object)[rng.integers(0, len(codes), size)]


def _missing(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    """Copy of float ``values`` with a random ``rate`` fraction set to NaN."""
    out = np.array(values, dtype=np.float64)
    out[rng.random(out.shape[0]) < rate] = np.nan
    return out


# ----------------------------------------------------------------------------- people


def _draw_eids(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unique 7-digit ids in [1000000, 6026000), random order."""
    return rng.choice(np.arange(*EID_RANGE, dtype=np.int64), size=n, replace=False)


def _simulate_people(n: int, rng: np.random.Generator, repeat_fraction: float, admin: int) -> dict[str, np.ndarray]:
    """Sex, birth, visit dates (float days) and centres for ``n`` participants."""
    p: dict[str, np.ndarray] = {}
    male = (rng.random(n) < 0.48).astype(np.int64)
    p["male"] = male
    img_lo, img_hi = _day("2014-05-01"), min(_day("2022-12-31"), admin - 365)
    visit2 = _uniform_days(rng, img_lo, img_hi, n)
    age_target = np.clip(rng.normal(64.0, 7.5, n), 45.5, 81.5)
    birth_true = np.floor(visit2 - age_target * DAYS_PER_YEAR)
    bdt = birth_true.astype(np.int64).astype("datetime64[D]")
    p["birth_year"] = bdt.astype("datetime64[Y]").astype(np.int64) + 1970
    p["birth_month"] = bdt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    p["birth15"] = _birth15(p["birth_year"], p["birth_month"])
    p["visit0"] = _uniform_days(rng, _day("2006-03-13"), _day("2010-10-01"), n)
    p["visit2"] = visit2
    # repeat imaging: >= 2 years after instance 2, from 2019 on, before mid-2023
    rep_hi = min(_day("2023-06-30"), admin - 30)
    rep_lo = np.maximum(visit2 + 2 * 365 + 1, _day("2019-06-01"))
    eligible = rep_lo <= rep_hi
    prob = min(1.0, repeat_fraction / max(eligible.mean(), 1e-9))
    repeat = eligible & (rng.random(n) < prob)
    p["visit3"] = np.where(repeat, _uniform_days(rng, rep_lo, rep_hi, n), np.nan)
    p["repeat"] = repeat
    # centres
    p["centre0"] = np.asarray(BASELINE_CENTRES)[rng.integers(0, len(BASELINE_CENTRES), n)].astype(float)
    p["centre2"] = _imaging_centre(rng, visit2)
    other = _imaging_centre(rng, np.where(repeat, p["visit3"], visit2))
    same = rng.random(n) < 0.9
    p["centre3"] = np.where(repeat, np.where(same, p["centre2"], other), np.nan)
    return p


def _imaging_centre(rng: np.random.Generator, visit: np.ndarray) -> np.ndarray:
    """Imaging centre code open on each visit date (uniform over the open centres)."""
    codes = np.array(list(IMAGING_CENTRES), dtype=float)
    opens = np.array([_day(v[1]) for v in IMAGING_CENTRES.values()], dtype=float)
    is_open = visit[:, None] >= opens[None, :]
    is_open[:, 0] = True
    cum = np.cumsum(is_open, axis=1)
    pick = np.floor(rng.random(len(visit)) * cum[:, -1]).astype(np.int64) + 1
    return codes[np.argmax(cum >= pick[:, None], axis=1)]


def _age_exact(visit: np.ndarray, birth15: np.ndarray) -> np.ndarray:
    return (visit - birth15) / DAYS_PER_YEAR


# ----------------------------------------------------------------------------- body measures


def _simulate_body(n: int, rng: np.random.Generator, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """True height/weight/BMI/SBP/DBP/waist per instance (0, 2, 3) and written values."""
    male = p["male"]
    b: dict[str, np.ndarray] = {}
    height = np.where(male == 1, rng.normal(175.5, 6.8, n), rng.normal(162.5, 6.2, n))
    bmi = np.exp(rng.normal(np.log(np.where(male == 1, 27.3, 26.3)), 0.16, n))
    z_bp, z_dbp = rng.standard_normal(n), rng.standard_normal(n)
    z_waist = rng.standard_normal(n)
    for inst in (0, 2, 3):
        visit = p[f"visit{inst}"]
        age = _age_exact(visit, p["birth15"])
        drift = (visit - p["visit2"]) / DAYS_PER_YEAR
        drift = np.nan_to_num(drift)
        h = height - 0.05 * np.clip(drift, 0, None) + rng.normal(0, 0.3, n)
        w_bmi = bmi * np.exp(-0.004 * drift + rng.normal(0, 0.03, n))
        w = w_bmi * (h / 100.0) ** 2
        sbp = 135 + 5.0 * (age - 65) / 10 + 4.0 * male + 0.8 * (w_bmi - 27) + 16.0 * z_bp + rng.normal(0, 6, n)
        dbp = 79 - 1.0 * (age - 65) / 10 + 2.5 * male + 0.5 * (w_bmi - 27) + 9.0 * z_dbp + rng.normal(0, 4, n)
        waist = np.where(male == 1, 96.0, 85.0) + 2.2 * (w_bmi - 27) + 5.0 * z_waist + rng.normal(0, 2, n)
        b[f"true_height{inst}"], b[f"true_weight{inst}"] = h, w
        b[f"true_bmi{inst}"], b[f"true_sbp{inst}"] = w / (h / 100.0) ** 2, sbp
        # written values (missing where the visit did not happen)
        absent = np.isnan(visit)
        hw = np.where(absent, np.nan, np.round(h, 1))
        ww = np.where(absent, np.nan, np.round(w, 1))
        b[f"height{inst}"] = _missing(rng, hw, 0.01)
        b[f"weight{inst}"] = _missing(rng, ww, 0.015)
        b[f"bmi{inst}"] = np.round(b[f"weight{inst}"] / (b[f"height{inst}"] / 100.0) ** 2, 4)
        b[f"waist{inst}"] = _missing(rng, np.where(absent, np.nan, np.round(waist)), 0.02)
        _simulate_bp(rng, b, inst, sbp, dbp, absent)
    return b


def _simulate_bp(rng: np.random.Generator, b: dict, inst: int, sbp: np.ndarray, dbp: np.ndarray,
                 absent: np.ndarray) -> None:
    """Two automated readings (4080/4079) or, for ~3%, two manual ones (93/94); ~1% none."""
    n = len(sbp)
    u = rng.random(n)
    manual = (u < 0.03) & ~absent
    none = (u >= 0.03) & (u < 0.04) | absent
    auto = ~manual & ~none
    for arr in (0, 1):
        s = np.round(sbp + rng.normal(0, 6, n) - 2.0 * arr)
        d = np.round(dbp + rng.normal(0, 4, n) - 1.0 * arr)
        drop = rng.random(n) < 0.01  # one reading missing
        b[f"sbp_auto{inst}_{arr}"] = np.where(auto & ~drop, s, np.nan)
        b[f"dbp_auto{inst}_{arr}"] = np.where(auto & ~drop, d, np.nan)
        b[f"sbp_man{inst}_{arr}"] = np.where(manual & ~drop, s, np.nan)
        b[f"dbp_man{inst}_{arr}"] = np.where(manual & ~drop, d, np.nan)
    sa = np.stack([b[f"sbp_auto{inst}_0"], b[f"sbp_auto{inst}_1"]], 1)
    da = np.stack([b[f"dbp_auto{inst}_0"], b[f"dbp_auto{inst}_1"]], 1)
    sm = np.stack([b[f"sbp_man{inst}_0"], b[f"sbp_man{inst}_1"]], 1)
    dm = np.stack([b[f"dbp_man{inst}_0"], b[f"dbp_man{inst}_1"]], 1)
    has_a = (~np.isnan(sa)).any(1) | (~np.isnan(da)).any(1)
    has_m = (~np.isnan(sm)).any(1) | (~np.isnan(dm)).any(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        b[f"sbp{inst}"] = np.where(has_a, np.nanmean(sa, 1), np.where(has_m, np.nanmean(sm, 1), np.nan))
        b[f"dbp{inst}"] = np.where(has_a, np.nanmean(da, 1), np.where(has_m, np.nanmean(dm, 1), np.nan))
    b[f"bp_source{inst}"] = np.where(has_a, "automated", np.where(has_m, "manual", "none")).astype(object)


# ----------------------------------------------------------------------------- genetics / misc


def _simulate_misc(n: int, rng: np.random.Generator, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Genetic sex, batch, grouping, PCs, ethnicity, smoking, alcohol, hair colour, risk taking."""
    g: dict[str, np.ndarray] = {}
    genotyped = rng.random(n) >= 0.005
    gsex = np.where(rng.random(n) < 0.002, 1 - p["male"], p["male"]).astype(float)
    g["genetic_sex"] = np.where(genotyped, gsex, np.nan)
    bileve = rng.random(n) < 0.10
    batch = np.where(bileve, -rng.integers(1, 12, n), rng.integers(1, 96, n)).astype(float)
    g["batch"] = np.where(genotyped, batch, np.nan)
    wb = genotyped & (rng.random(n) < 0.85)
    g["grouping"] = np.where(wb, 1.0, np.nan)
    # self-reported ethnic background (21000, coding 1001), raw incl. -1/-3
    other_codes = np.array([1001, 1002, 1003, 3001, 4001, 4002, 5, 6, 2001, -1, -3], dtype=float)
    other_p = np.array([0.40, 0.12, 0.16, 0.08, 0.05, 0.04, 0.03, 0.04, 0.02, 0.02, 0.04])
    eth = other_codes[rng.choice(len(other_codes), n, p=other_p)]
    g["ethnic"] = np.where(wb, 1001.0, eth)
    # genetic PCs: white British tight around a centroid; others spread by ancestry group
    k = np.arange(1, 21)
    scale = 10.0 / np.sqrt(k)
    shift = np.zeros((n, 20))
    group = np.select([np.isin(eth, [3001]), np.isin(eth, [4001, 4002]), np.isin(eth, [5])], [1, 2, 3], 0)
    centroids = rng.normal(0, 1, (4, 20)) * scale * 6
    centroids[0] *= 0.15
    shift[~wb] = centroids[group[~wb]]
    pcs = rng.standard_normal((n, 20)) * scale * np.where(wb, 0.25, 1.0)[:, None] + shift
    pcs[:, 0] += np.where(wb, -12.0, 0.0)
    g["pcs"] = np.where(genotyped[:, None], np.round(pcs, 4), np.nan)
    for inst in (0, 2, 3):
        absent = np.isnan(p[f"visit{inst}"])
        g[f"smoking{inst}"] = _codes(rng, n, [0, 1, 2, -3], [0.55, 0.34, 0.10, 0.01], absent)
        g[f"alcohol{inst}"] = _codes(rng, n, [1, 2, 3, 4, 5, 6, -3], [0.2, 0.25, 0.25, 0.1, 0.1, 0.098, 0.002], absent)
        g[f"risk{inst}"] = _codes(rng, n, [0, 1, -1, -3], [0.70, 0.27, 0.02, 0.01], absent)
    hair = _codes(rng, n, [1, 2, 3, 4, 5, 6, -1, -3], [0.11, 0.04, 0.40, 0.33, 0.06, 0.04, 0.01, 0.01],
                  np.zeros(n, bool))
    g["hair0"] = hair
    g["hair2"] = np.where(np.isnan(p["visit2"]), np.nan, hair)
    g["genotyped"] = genotyped
    return g


def _codes(rng: np.random.Generator, n: int, values: list[int], probs: list[float], absent: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float)[rng.choice(len(values), n, p=np.asarray(probs) / np.sum(probs))]
    return np.where(absent, np.nan, v)


# ----------------------------------------------------------------------------- cardiac truth


def _genetic_parts(genotypes: Any) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Per trait column: genetic part in trait units ((n,) array); and the variants table."""
    cols = ["id", "chrom", "pos", "effect_allele", "other_allele", "eaf", "trait", "beta_sd", "r2",
            "trait_column", "sigma", "beta", "unit"]
    if genotypes is None or len(genotypes.causal) == 0:
        return {}, pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    causal = genotypes.causal.copy().reset_index(drop=True)
    causal = causal[causal["trait"].isin(list(GENETIC_TRAITS))].reset_index(drop=True)
    causal["trait_column"] = causal["trait"].map(GENETIC_TRAITS)
    causal["sigma"] = causal["trait_column"].map(lambda c: TRAIT_MODELS[c]["sigma"])
    causal["beta"] = causal["beta_sd"].astype(float) * causal["sigma"]
    causal["unit"] = causal["trait_column"].map(lambda c: f"{_TRAIT_UNITS[c]} per effect allele")
    dos = np.asarray(genotypes.dosage(list(causal["id"])), dtype=np.float64)
    eaf = causal["eaf"].to_numpy(float)
    centred = np.where(np.isnan(dos), 0.0, dos - 2 * eaf)
    parts: dict[str, np.ndarray] = {}
    for col in causal["trait_column"].unique():
        sel = (causal["trait_column"] == col).to_numpy()
        parts[col] = centred[:, sel] @ causal.loc[sel, "beta"].to_numpy(float)
        h2 = float(np.sum(causal.loc[sel, "beta_sd"].to_numpy(float) ** 2 * 2 * eaf[sel] * (1 - eaf[sel])))
        parts[col + "__h2"] = np.array([min(h2, 0.95)])
    return parts, causal[cols]


def _simulate_cardiac(n: int, rng: np.random.Generator, p: dict, b: dict, genetic: dict) -> dict[str, np.ndarray]:
    """True cardiac parameters at instance 2 and 3 (key ``"{trait}{inst}"``)."""
    male = p["male"]
    bsa = du_bois_bsa(b["true_weight2"], b["true_height2"])
    age = _age_exact(p["visit2"], p["birth15"])
    x = {"sex": male, "bsa": bsa - 1.9, "age10": (age - 65) / 10, "sbp10": (b["true_sbp2"] - 135) / 10}
    out: dict[str, np.ndarray] = {"true_bsa2": bsa}
    z_lv = rng.standard_normal(n)
    gap = np.nan_to_num((p["visit3"] - p["visit2"]) / DAYS_PER_YEAR)
    for trait, m in TRAIT_MODELS.items():
        h2 = float(genetic.get(trait + "__h2", [0.0])[0])
        g = genetic.get(trait, np.zeros(n))
        z = z_lv if trait == "lvedv_ml" else rng.standard_normal(n)
        if trait == "rvedv_ml":
            z = _RV_LV_NOISE_CORR * z_lv + np.sqrt(1 - _RV_LV_NOISE_CORR**2) * z
        noise = m["sigma"] * np.sqrt(1 - h2) * z
        v2 = m["intercept"] + sum(m[k] * x[k] for k in x) + g + noise
        out[trait + "__residual2"] = g + noise  # genetic part + noise, instance 2, before clipping
        v3 = v2 + m["age10"] * gap / 10 + rng.normal(0, _RETEST_NOISE * m["sigma"], n)
        lo, hi = _TRAIT_CLIP[trait]
        out[trait + "2"] = np.clip(v2, lo, hi)
        out[trait + "3"] = np.where(p["repeat"], np.clip(v3, lo, hi), np.nan)
    for inst in (2, 3):
        out[f"lvesv_ml{inst}"] = out[f"lvedv_ml{inst}"] * (1 - out[f"lvef_pct{inst}"] / 100)
    return out


# ----------------------------------------------------------------------------- outcomes


def _hazard_design(part2: pd.DataFrame) -> pd.DataFrame:
    """Planted hazard terms with centre / scale from the instance-2 truth."""
    rows = []
    for outcome, terms in HAZARD_TERMS.items():
        for term, hr in terms:
            if term == "age_exact":
                center, scale, unit = 65.0, 10.0, "per 10 years (age_exact - 65) / 10"
            elif term == "sex":
                center, scale, unit = 0.0, 1.0, "male (1) vs female (0)"
            else:
                v = part2[term].to_numpy(float)
                center, scale = float(np.mean(v)), float(np.std(v, ddof=1))
                unit = f"per SD ({scale:.4g}) of {term}, centre {center:.4g}"
            rows.append({"outcome": outcome, "term": term, "unit": unit, "center": center, "scale": scale,
                         "hr": float(hr), "log_hr": float(np.log(hr))})
    return pd.DataFrame(rows)


def _linear_predictor(hz: pd.DataFrame, outcome: str, part2: pd.DataFrame) -> np.ndarray:
    lp = np.zeros(len(part2))
    for r in hz[hz["outcome"] == outcome].itertuples():
        lp += r.log_hr * (part2[r.term].to_numpy(float) - r.center) / r.scale
    return lp


def _calibrate(f, target: float) -> float:
    """Solve mean f(a) = target for a in log space (f increasing in a)."""
    return brentq(lambda a: f(a) - target, -30.0, 10.0)


@dataclass
class _Records:
    """Long table of written source records for all outcomes (float days; NaN = absent)."""

    person: list
    outcome: list
    kind: list  # "fo", "icd10", "icd9", "alg"
    code: list
    date: list

    def add(self, person, outcome, kind, code, date):
        self.person.append(np.asarray(person, np.int64))
        self.outcome.append(np.full(len(person), outcome, dtype=object))
        self.kind.append(np.full(len(person), kind, dtype=object))
        self.code.append(np.asarray(code, dtype=object))
        self.date.append(np.asarray(date, np.float64))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"person": np.concatenate(self.person), "outcome": np.concatenate(self.outcome),
                             "kind": np.concatenate(self.kind), "code": np.concatenate(self.code),
                             "date": np.concatenate(self.date)})


def _draw_event_dates(rng: np.random.Generator, outcome: str, lp: np.ndarray, p: dict, death: np.ndarray,
                      admin: int, incidence_scale: float = 1.0) -> tuple[np.ndarray, float]:
    """Event date (float days, NaN = none written) per person and the baseline hazard.

    Prevalent events (probability logistic in ``lp``) fall before the imaging visit (a share
    long before baseline); incident events follow h(t) = h0 exp(lp) after the visit and are
    written if before death and on/before ``admin`` (plus a few after ``admin``). ``h0`` is
    calibrated to :data:`_INCIDENCE_10Y` and then multiplied by ``incidence_scale`` (the same
    random draws: 1.0 gives exactly the unscaled dates).
    """
    n = len(lp)
    visit = p["visit2"]
    a = _calibrate(lambda a: float(np.mean(expit(a + lp))), _PREVALENCE[outcome])
    prevalent = rng.random(n) < expit(a + lp)
    long_before = rng.random(n) < 0.3
    lo_recent = np.maximum(visit - 6 * 365, p["birth15"] + 30 * 365)
    lo_old = np.maximum(_day("1988-01-01"), p["birth15"] + 25 * 365)
    hi_old = np.maximum(p["visit0"], lo_old)
    d_prev = np.where(long_before, _uniform_days(rng, lo_old, hi_old, n), _uniform_days(rng, lo_recent, visit, n))
    d_prev = np.where(rng.random(n) < 0.02, visit, np.minimum(d_prev, visit))
    log_h0 = _calibrate(lambda lh: float(np.mean(1 - np.exp(-10 * np.exp(lh + lp)))), _INCIDENCE_10Y[outcome])
    if incidence_scale != 1.0:
        log_h0 += float(np.log(incidence_scale))
    t = rng.exponential(1.0, n) / np.exp(log_h0 + lp)
    d_inc = visit + np.maximum(1.0, np.ceil(t * DAYS_PER_YEAR))
    occurs = d_inc <= death
    written_after = (d_inc > admin) & (d_inc <= admin + 3 * 365) & (rng.random(n) < _AFTER_ADMIN_WRITTEN)
    d_inc = np.where(occurs & ((d_inc <= admin) | written_after), d_inc, np.nan)
    return np.where(prevalent, d_prev, d_inc), float(np.exp(log_h0))


def _write_sources(rng: np.random.Generator, rec: _Records, outcome: str, date: np.ndarray,
                   limit: np.ndarray, fo_days: dict, alg: dict) -> None:
    """Scatter each case's date over the sources (first occurrence, hospital, algorithmic).

    Every case has at least one real source equal to its date and no real source before it.
    ``limit`` (per person) bounds later duplicate records (death or admin date).
    """
    spec = OUTCOME_SOURCES[outcome]
    n = len(date)
    cases = np.flatnonzero(~np.isnan(date))
    k = len(cases)
    d = date[cases]
    room = np.maximum(limit[cases] - d, 0.0)
    u = rng.random(k)
    pat_a, pat_b, pat_c = u < 0.70, (u >= 0.70) & (u < 0.80), (u >= 0.80) & (u < 0.88)
    pat_d, pat_e = (u >= 0.88) & (u < 0.94), u >= 0.94
    fo = np.full(k, np.nan)
    fo[pat_a | pat_e] = d[pat_a | pat_e]
    later = d + np.floor(30 + rng.random(k) * (np.minimum(room, 1000) - 30 + 1))
    fo[pat_c & (room >= 30)] = later[pat_c & (room >= 30)]
    ph = np.where(rng.random(k) < 0.5, _day("1901-01-01"), _day("2037-07-07"))
    fo[pat_d] = ph[pat_d]
    full = np.full(n, np.nan)
    full[cases] = fo
    fo_days[spec["first_occurrence"]] = full
    # hospital record at the event date (B, C, D) or later duplicate (some of A); E: placeholder
    hosp_at_d = pat_b | pat_c | pat_d
    if spec["algorithmic"] is not None:
        alg_only = pat_b & (rng.random(k) < 0.3)
        hosp_at_d &= ~alg_only
    dup = pat_a & (rng.random(k) < 0.55)
    delay = np.where(rng.random(k) < 0.5, 0.0, np.floor(rng.random(k) * (np.minimum(room, 1500) + 1)))
    h_date = np.where(hosp_at_d, d, np.where(dup, d + delay, np.where(pat_e, _day("1900-01-01"), np.nan)))
    has_h = ~np.isnan(h_date)
    real_when = np.where(pat_e, d, h_date)  # the ICD version follows the (real) date
    icd9 = real_when < _day(_ICD9_END)
    for kind, codes, sel in (("icd10", spec["write10"], has_h & ~icd9), ("icd9", spec["write9"], has_h & icd9)):
        rec.add(cases[sel], outcome, kind, _choice_codes(rng, codes, int(sel.sum())), h_date[sel])
    if spec["algorithmic"] is not None:
        written = (rng.random(k) < 0.75) | alg_only
        a = np.full(n, np.nan)
        a[cases[written]] = d[written]
        hosp_real = has_h & ~pat_e
        src = np.where(hosp_real, np.where(rng.random(k) < 0.6, 11.0, 12.0), 0.0)
        s = np.full(n, np.nan)
        s[cases[written]] = src[written]
        alg[spec["algorithmic"]] = a
        alg[spec["algorithmic"] + 1] = s


def _unrelated_records(rng: np.random.Generator, rec: _Records, p: dict, end: np.ndarray,
                       used10: np.ndarray) -> None:
    """Unrelated hospital codes: ICD-10 (1997 on, some 1900-01-01 dates), ICD-9 for a few (pre-1996)."""
    n = len(end)
    lam = 2.5 * np.exp(0.03 * (_age_exact(p["visit2"], p["birth15"]) - 64))
    cnt = rng.negative_binomial(1.5, 1.5 / (1.5 + lam))
    cnt = np.minimum(cnt, _HOSPITAL_WIDTH - used10)
    person = np.repeat(np.arange(n), cnt)
    lo = np.maximum(_day("1997-04-01"), p["birth15"][person] + 18 * 365)
    date = _uniform_days(rng, lo, end[person], len(person))
    date[rng.random(len(person)) < 0.01] = _day("1900-01-01")
    rec.add(person, "", "icd10", _choice_codes(rng, _OTHER_ICD10, len(person)), date)
    has9 = rng.random(n) < 0.06
    cnt9 = np.where(has9, rng.integers(1, 3, n), 0)
    person9 = np.repeat(np.arange(n), cnt9)
    lo9 = np.maximum(_day("1985-01-01"), p["birth15"][person9] + 18 * 365)
    date9 = _uniform_days(rng, lo9, np.full(len(person9), _day(_ICD9_END)), len(person9))
    rec.add(person9, "", "icd9", _choice_codes(rng, _OTHER_ICD9, len(person9)), date9)


def _records_to_wide(rng: np.random.Generator, recs: pd.DataFrame, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Place each person's records at array indices 0..k-1 in random order.

    Returns (codes (n, width) object with None, dates (n, width) float days with NaN).
    """
    person = recs["person"].to_numpy()
    order = np.lexsort((rng.random(len(person)), person))
    ps = person[order]
    idx = np.arange(len(ps)) - np.searchsorted(ps, ps, side="left")
    width = int(idx.max()) + 1 if len(idx) else 0
    codes = np.full((n, width), None, dtype=object)
    dates = np.full((n, width), np.nan)
    codes[ps, idx] = recs["code"].to_numpy()[order]
    dates[ps, idx] = recs["date"].to_numpy()[order]
    return codes, dates


def _truth_outcomes(recs: pd.DataFrame, fo_days: dict, alg: dict, eids: np.ndarray, visit: np.ndarray,
                    death: np.ndarray, admin: int) -> pd.DataFrame:
    """The outcome truth table from the written records (see module docstring)."""
    n = len(eids)
    parts = []
    rank = {"first_occurrence": 0, "algorithmic": 1, "icd10": 2, "icd9": 3}
    for outcome, spec in OUTCOME_SOURCES.items():
        f = spec["first_occurrence"]
        parts.append(pd.DataFrame({"person": np.arange(n), "outcome": outcome, "date": fo_days[f],
                                   "source": f"first_occurrence:{f}", "rank": 0}))
        if spec["algorithmic"] is not None:
            a = spec["algorithmic"]
            parts.append(pd.DataFrame({"person": np.arange(n), "outcome": outcome, "date": alg[a],
                                       "source": f"algorithmic:{a}", "rank": 1}))
    hosp = recs[recs["outcome"] != ""]
    parts.append(pd.DataFrame({"person": hosp["person"].to_numpy(), "outcome": hosp["outcome"].to_numpy(),
                               "date": hosp["date"].to_numpy(),
                               "source": (hosp["kind"].astype(str) + ":" + hosp["code"].astype(str)).to_numpy(),
                               "rank": np.where(hosp["kind"] == "icd10", 2, 3)}))
    long = pd.concat(parts, ignore_index=True)
    long = long[long["date"].notna() & ~long["date"].isin(_PLACEHOLDER_DAYS)]
    first = long.sort_values(["outcome", "person", "date", "rank"], kind="stable").drop_duplicates(
        ["outcome", "person"])
    assert set(rank.values()) >= set(first["rank"].unique())
    tables = []
    death_w = np.where(death <= admin, death, np.nan)
    stop = np.fmin(death_w, admin)
    vyear = _year_of(visit)
    for outcome in OUTCOME_SOURCES:
        sub = first[first["outcome"] == outcome]
        ev = np.full(n, np.nan)
        ev[sub["person"].to_numpy()] = sub["date"].to_numpy()
        src = np.full(n, None, dtype=object)
        src[sub["person"].to_numpy()] = sub["source"].to_numpy()
        has = ~np.isnan(ev)
        prevalent = has & (ev <= visit)
        incident = has & (ev > visit) & (ev <= stop)
        # prevalent cases have no follow-up: end date NaT and time NaN (they cannot enter a survival model)
        end = np.where(prevalent, np.nan, np.where(incident, ev, stop))
        eyear = _year_of(ev)
        window = has & (eyear >= vyear - 5) & (eyear <= vyear + 1) & (ev <= admin)
        reason = np.where(prevalent, "prevalent", np.where(incident, "event", np.where(
            ~np.isnan(death_w) & (death_w <= admin), "death", "administrative")))
        tables.append(pd.DataFrame({
            "eid": eids, "outcome": outcome, "event_date": _to_datetime(ev),
            "source": pd.array(src, dtype="string"), "visit_date": _to_datetime(visit),
            "prevalent": prevalent, "incident": incident, "case_window": window,
            "end_date": _to_datetime(end), "time_years": (end - visit) / DAYS_PER_YEAR,
            "event": incident.astype(np.int64), "censor_reason": pd.array(reason, dtype="string"),
            "death_date": _to_datetime(death_w),
        }))
    out = pd.concat(tables, ignore_index=True)
    order = {k: i for i, k in enumerate(OUTCOME_SOURCES)}
    out = out.assign(_o=out["outcome"].map(order)).sort_values(["eid", "_o"], kind="stable")
    out["outcome"] = out["outcome"].astype("string")
    return out.drop(columns="_o").reset_index(drop=True)


# ----------------------------------------------------------------------------- main table


def _column(field: int, values: np.ndarray) -> Any:
    """Values (float / object arrays) in the canonical dtype of ``field``."""
    kind = FIELD_KIND[field]
    if kind in (_CAT, _INT):
        return pd.array(np.asarray(values, dtype=np.float64), dtype="Int64")
    if kind == _FLOAT:
        return np.asarray(values, dtype=np.float64)
    if kind == _DATE:
        return _to_datetime(values)
    return pd.array(np.asarray(values, dtype=object), dtype="string")


def _assemble_main(eids: np.ndarray, cols: dict[tuple[int, int, int], np.ndarray]) -> pd.DataFrame:
    keys = sorted(cols)
    data = {f"{f}-{i}.{a}": _column(f, cols[(f, i, a)]) for (f, i, a) in keys}
    return pd.DataFrame(data, index=pd.Index(eids, dtype=np.int64, name="eid"))


def clean_main(raw: pd.DataFrame) -> pd.DataFrame:
    """Remove negative codes (:data:`NA_CODES`) and placeholder dates (:data:`PLACEHOLDER_DATES`).

    ``raw``: canonical wide frame; returns a cleaned copy with the same columns and dtypes.
    """
    out = raw.copy()
    ph = pd.to_datetime(list(PLACEHOLDER_DATES))
    for col in out.columns:
        field = int(str(col).split("-")[0])
        if field in NA_CODES:
            s = out[col]
            out[col] = s.mask(s.isin(NA_CODES[field]))
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            s = out[col]
            out[col] = s.mask(s.isin(ph))
    return out


def _main_columns(p: dict, b: dict, g: dict, death: np.ndarray, fo_days: dict, alg: dict,
                  codes10: np.ndarray, dates10: np.ndarray, codes9: np.ndarray, dates9: np.ndarray
                  ) -> dict[tuple[int, int, int], np.ndarray]:
    c: dict[tuple[int, int, int], np.ndarray] = {}
    c[(31, 0, 0)] = p["male"].astype(float)
    c[(22001, 0, 0)] = g["genetic_sex"]
    c[(34, 0, 0)] = p["birth_year"].astype(float)
    c[(52, 0, 0)] = p["birth_month"].astype(float)
    for inst in (0, 2, 3):
        visit = p[f"visit{inst}"]
        c[(53, inst, 0)] = visit
        c[(21003, inst, 0)] = np.floor(_age_exact(visit, p["birth15"]))
        c[(54, inst, 0)] = p[f"centre{inst}"]
        c[(50, inst, 0)] = b[f"height{inst}"]
        c[(21002, inst, 0)] = b[f"weight{inst}"]
        c[(21001, inst, 0)] = b[f"bmi{inst}"]
        c[(48, inst, 0)] = b[f"waist{inst}"]
        for arr in (0, 1):
            c[(4080, inst, arr)] = b[f"sbp_auto{inst}_{arr}"]
            c[(4079, inst, arr)] = b[f"dbp_auto{inst}_{arr}"]
            c[(93, inst, arr)] = b[f"sbp_man{inst}_{arr}"]
            c[(94, inst, arr)] = b[f"dbp_man{inst}_{arr}"]
        c[(20116, inst, 0)] = g[f"smoking{inst}"]
        c[(1558, inst, 0)] = g[f"alcohol{inst}"]
        c[(2040, inst, 0)] = g[f"risk{inst}"]
    c[(21000, 0, 0)] = g["ethnic"]
    c[(1747, 0, 0)] = g["hair0"]
    c[(1747, 2, 0)] = g["hair2"]
    c[(22000, 0, 0)] = g["batch"]
    c[(22006, 0, 0)] = g["grouping"]
    for k in range(1, 21):
        c[(22009, 0, k)] = g["pcs"][:, k - 1]
    c[(40000, 0, 0)] = death
    for f, v in fo_days.items():
        c[(f, 0, 0)] = v
    for f, v in alg.items():
        c[(f, 0, 0)] = v
    for j in range(codes10.shape[1]):
        c[(41270, 0, j)], c[(41280, 0, j)] = codes10[:, j], dates10[:, j]
    for j in range(codes9.shape[1]):
        c[(41271, 0, j)], c[(41281, 0, j)] = codes9[:, j], dates9[:, j]
    return c


# ----------------------------------------------------------------------------- participants


def _participants(eids: np.ndarray, p: dict, b: dict, g: dict, cardiac: dict,
                  extra: dict | None = None) -> pd.DataFrame:
    """Truth per imaged (eid, instance), covariates computed from the written values.

    ``extra``: the issue-14 truth (:data:`EXTENSION_TRUTH`), added after the other columns.
    """
    frames = []
    for inst in (2, 3):
        rows = np.flatnonzero(~np.isnan(p[f"visit{inst}"]))
        visit = p[f"visit{inst}"][rows]
        age_exact = _age_exact(visit, p["birth15"][rows])
        h, w = b[f"height{inst}"][rows], b[f"weight{inst}"][rows]
        df = pd.DataFrame({
            "eid": eids[rows], "instance": inst, "visit": inst,
            "visit_date": _to_datetime(visit), "imaging_year": _year_of(visit).astype(np.int64),
            "age": np.floor(age_exact).astype(np.int64), "age_exact": age_exact,
            "sex": p["male"][rows], "genetic_sex": pd.array(g["genetic_sex"][rows], dtype="Int64"),
            "height": h, "weight": w, "bmi": b[f"bmi{inst}"][rows], "bsa": du_bois_bsa(w, h),
            "sbp": b[f"sbp{inst}"][rows], "dbp": b[f"dbp{inst}"][rows],
            "bp_source": pd.array(b[f"bp_source{inst}"][rows], dtype="string"),
            "waist": b[f"waist{inst}"][rows], "centre": p[f"centre{inst}"][rows].astype(np.int64),
            "genotyping_batch": pd.array(g["batch"][rows], dtype="Int64"),
            "genetic_grouping": pd.array(g["grouping"][rows], dtype="Int64"),
        })
        for k in range(20):
            df[f"pc{k + 1}"] = g["pcs"][rows, k]
        df["true_height"] = b[f"true_height{inst}"][rows]
        df["true_weight"] = b[f"true_weight{inst}"][rows]
        df["true_bmi"] = b[f"true_bmi{inst}"][rows]
        df["true_bsa"] = du_bois_bsa(df["true_weight"].to_numpy(), df["true_height"].to_numpy())
        df["true_sbp"] = b[f"true_sbp{inst}"][rows]
        for trait in ("lvedv_ml", "lvesv_ml", "lvef_pct", "lvwt_mm", "lav_ml", "rvedv_ml", "heart_rate_bpm"):
            df[trait] = cardiac[f"{trait}{inst}"][rows]
        for col in EXTENSION_TRUTH if extra is not None else ():
            df[col] = extra[f"{col}{inst}"][rows]
        frames.append(df)
    return pd.concat(frames, ignore_index=True).sort_values(["eid", "instance"], kind="stable").reset_index(drop=True)


def _trait_effects() -> pd.DataFrame:
    rows = []
    per = {"intercept": 1.0, "sex": 1.0, "bsa": 1.0, "age10": 10.0, "sbp10": 10.0, "sigma": 1.0}
    covariate = {"intercept": "", "sex": "sex", "bsa": "true_bsa", "age10": "age_exact", "sbp10": "true_sbp",
                 "sigma": ""}
    for trait, m in TRAIT_MODELS.items():
        for term, beta in m.items():
            rows.append({"trait": trait, "term": term, "covariate": covariate[term],
                         "center": _TRAIT_CENTRES.get(term, 0.0), "per": per[term],
                         "unit": _TRAIT_UNITS[trait], "beta": beta})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- issue 18: polygenic background


def polygenic_h2_by_trait(value: Any) -> dict[str, float]:
    """The polygenic background's h2 per genetic true parameter, in :data:`GENETIC_TRAITS` order.

    ``value``: ``None`` or 0 (off), one number for every trait, or a mapping from trait column
    (``lvedv_ml``; the short name ``lvedv`` is accepted) to a number (traits not named: 0). Each
    value must be in [0, 1). Returns ``{trait_column: float}`` for all five traits.

    Raises
    ------
    CardiolatentError
        A value that is not a number in [0, 1) or an unknown trait (one line, naming
        ``polygenic_h2``).
    """
    columns = list(GENETIC_TRAITS.values())
    out = {c: 0.0 for c in columns}
    if value is None:
        return out
    if isinstance(value, dict) or hasattr(value, "items"):
        items = list(value.items())
    else:
        items = [(c, value) for c in columns]
    for key, v in items:
        col = GENETIC_TRAITS.get(str(key), str(key))
        if col not in out:
            raise CardiolatentError(f"polygenic_h2: unknown trait {key!r} (one of {', '.join(columns)})")
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise CardiolatentError(f"polygenic_h2 for {col} must be a number in [0, 1), not {v!r}") from None
        if not (np.isfinite(x) and 0.0 <= x < 1.0):
            raise CardiolatentError(f"polygenic_h2 for {col} must be in [0, 1), not {v!r}")
        out[col] = x
    return out


def polygenic_rng(rng: np.random.Generator) -> np.random.Generator:
    """The issue-18 stream (polygenic background): seeded from ``rng``'s current state (read, not
    advanced) and the tag 18, so that turning the background on consumes no draw of the cohort's
    streams."""
    return np.random.default_rng(np.random.SeedSequence([18, *_state_ints(rng.bit_generator.state)]))


def _planted_h2(variants: pd.DataFrame) -> dict[str, float]:
    """Sum of the planted variants' r2 per trait column (``beta_sd^2 2 p (1 - p)`` each)."""
    out = {c: 0.0 for c in GENETIC_TRAITS.values()}
    for col, sub in variants.groupby("trait_column", sort=False):
        p = sub["eaf"].to_numpy(float)
        out[str(col)] = float(np.sum(sub["beta_sd"].to_numpy(float) ** 2 * 2 * p * (1 - p)))
    return out


def _add_background(genetic: dict, variants: pd.DataFrame, genotypes: Any, h2_bg: dict[str, float],
                    rng: np.random.Generator) -> tuple[dict[str, np.ndarray], pd.DataFrame | None, int]:
    """Add the polygenic background to the genetic parts (in place); return its values and effects.

    ``genetic[col]`` becomes planted + background (trait units) and ``genetic[col + "__h2"]`` the
    total h2 (checked < 1). Returns ``{col: background values (n,), trait units}``, the effects
    table (:attr:`SynthCohort.background_effects`) and the number of causal variants ``M_c``.
    """
    if not all(hasattr(genotypes, a) for a in ("packed", "variants", "m", "n")):
        raise CardiolatentError("polygenic_h2 needs the cohort's genotypes (a Genotypes object with every variant)")
    planted = _planted_h2(variants)
    for col, h in h2_bg.items():
        if planted[col] + h >= 1.0:
            raise CardiolatentError(
                f"polygenic_h2 for {col} ({h:g}) plus its planted variants' r2 ({planted[col]:g}) is "
                f"{planted[col] + h:g}: the total h2 must stay below 1")
    bg = polygenic_background(genotypes, h2_bg, rng, exclude=list(genotypes.causal["id"]))
    n = genotypes.n
    values: dict[str, np.ndarray] = {}
    effects = []
    v = genotypes.variants
    p = v["freq_a1"].to_numpy(float)
    sd = np.sqrt(2 * p * (1 - p))
    for k, col in enumerate(bg.traits):
        sigma = TRAIT_MODELS[col]["sigma"]
        values[col] = sigma * bg.values[:, k]
        if h2_bg[col] <= 0:
            continue
        genetic[col] = genetic.get(col, np.zeros(n)) + values[col]
        genetic[col + "__h2"] = np.array([planted[col] + h2_bg[col]])
        sel = bg.causal
        b = bg.effects[sel, k]
        effects.append(pd.DataFrame({
            "trait_column": col, "id": v["id"].to_numpy()[sel], "chrom": v["chrom"].to_numpy()[sel],
            "pos": v["pos"].to_numpy()[sel], "effect_allele": v["a1"].to_numpy()[sel],
            "other_allele": v["a2"].to_numpy()[sel], "eaf": p[sel], "b_std": b,
            "beta_sd": b / sd[sel], "beta": sigma * b / sd[sel]}))
    table = pd.concat(effects, ignore_index=True) if effects else None
    return values, table, bg.n_causal


def _heritability_table(variants: pd.DataFrame, h2_bg: dict[str, float], n_causal_bg: int,
                        planted_values: dict[str, np.ndarray], bg_values: dict[str, np.ndarray],
                        cardiac: dict) -> pd.DataFrame:
    """``truth/heritability.tsv``: one row per genetic true parameter (instance 2, all participants).

    Columns: ``trait_column``; ``h2`` = ``h2_planted_variants + h2_background`` (the planted SNP
    heritability: the expected fraction of the residual variance ``sigma^2`` that is genetic);
    ``h2_planted_variants`` (sum of the planted variants' r2), ``h2_background`` (the polygenic
    background's h2, 0 when off); ``h2_realised`` = var(genetic part) / var(genetic part + noise) in
    this sample (before the traits are clipped to their plausible range), and its two parts
    ``h2_planted_realised``, ``h2_background_realised`` (each variance over the same denominator);
    ``n_planted_variants``, ``n_causal_background`` (variants with a background effect, 0 when off);
    ``sigma`` (model residual SD, trait units), ``genetic_variance`` and ``residual_variance`` (the
    sample variances, trait units^2), ``unit``.
    """
    planted = _planted_h2(variants)
    counts = variants["trait_column"].value_counts()
    rows = []
    for col in GENETIC_TRAITS.values():
        resid = cardiac[col + "__residual2"]
        n = len(resid)
        gp = planted_values.get(col, np.zeros(n))
        gb = bg_values.get(col, np.zeros(n)) if h2_bg[col] > 0 else np.zeros(n)
        g = gp + gb
        var_r = float(np.var(resid, ddof=1)) if n > 1 else float("nan")
        var_g = float(np.var(g, ddof=1)) if n > 1 else float("nan")
        rows.append({
            "trait_column": col, "h2": planted[col] + h2_bg[col], "h2_planted_variants": planted[col],
            "h2_background": h2_bg[col], "h2_realised": var_g / var_r,
            "h2_planted_realised": float(np.var(gp, ddof=1)) / var_r if n > 1 else float("nan"),
            "h2_background_realised": float(np.var(gb, ddof=1)) / var_r if n > 1 else float("nan"),
            "n_planted_variants": int(counts.get(col, 0)),
            "n_causal_background": int(n_causal_bg) if h2_bg[col] > 0 else 0,
            "sigma": TRAIT_MODELS[col]["sigma"], "genetic_variance": var_g, "residual_variance": var_r,
            "unit": f"{_TRAIT_UNITS[col]}^2",
        })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- issue 14 extension
#
# Everything below draws from one *extension stream*, a Generator seeded from the cohort
# Generator's state when :func:`simulate_cohort` is entered (read, never advanced), so every
# value, record and row that existed before issue 14 is unchanged: new main-data columns are
# added; new hospital records go into each person's array slots right after their existing
# records (cells that were empty; arrays stay gap-free; ICD-10 still at most 20 slots, so a few
# new records of people whose 20 slots are full are not written); new truth columns, hazard
# rows and outcome rows are added.

#: Planted models of the true cardiac parameters added by issue 14 (instance 2), trait units:
#: value = intercept + sum(beta * (existing truth - centre)) + sex*male + bsa*(BSA - 1.9)
#: + age10*(age - 65)/10 + sbp10*(SBP - 135)/10 + N(0, sigma); ``from`` names truth columns
#: that already existed. Instance 3 = the same model on the instance-3 inputs, the same
#: person-level noise, plus N(0, 0.2 sigma) (retest). Derived columns (not in this table):
#: ``lvsv_ml = lvedv_ml - lvesv_ml``; ``lvco_l_min = lvsv_ml * heart_rate_bpm / 1000``;
#: ``rvesv_ml = rvedv_ml * (1 - rvef_pct/100)``, ``rvsv_ml = rvedv_ml - rvesv_ml``;
#: ``lamin_ml = lav_ml * (1 - laef_pct/100)`` (``lav_ml`` is the LA maximum volume), ``lasv_ml``;
#: ``ramin_ml = ramax_ml * (1 - raef_pct/100)``, ``rasv_ml``; aortic minimum area =
#: ``max / (1 + distensibility * 1e-3 * PP)`` with pulse pressure ``PP = 0.42 * true_sbp`` mmHg
#: (distensibility = (max - min) / (min * PP), in 10^-3 mmHg^-1).
DERIVED_MODELS: dict[str, dict[str, Any]] = {
    "lvm_g": {"intercept": 84.0, "from": {"lvwt_mm": (9.0, 8.6), "lvedv_ml": (0.25, 150.0)}, "sex": 12.0,
              "bsa": 15.0, "age10": 0.0, "sbp10": 1.5, "sigma": 7.0, "clip": (30.0, 300.0), "unit": "g"},
    "rvef_pct": {"intercept": 57.0, "from": {"lvef_pct": (0.35, 61.0)}, "sex": -2.5, "bsa": 0.0, "age10": 0.8,
                 "sbp10": 0.0, "sigma": 4.5, "clip": (25.0, 80.0), "unit": "%"},
    "laef_pct": {"intercept": 60.0, "from": {"lav_ml": (-0.08, 70.0)}, "sex": 0.0, "bsa": 0.0, "age10": -1.5,
                 "sbp10": -0.3, "sigma": 6.0, "clip": (15.0, 85.0), "unit": "%"},
    "ramax_ml": {"intercept": 80.0, "from": {"rvedv_ml": (0.35, 155.0)}, "sex": 12.0, "bsa": 25.0, "age10": 2.0,
                 "sbp10": 0.0, "sigma": 16.0, "clip": (20.0, 250.0), "unit": "mL"},
    "raef_pct": {"intercept": 45.0, "from": {}, "sex": -1.0, "bsa": 0.0, "age10": -1.0, "sbp10": 0.0,
                 "sigma": 7.0, "clip": (10.0, 80.0), "unit": "%"},
    "ao_asc_max_area_mm2": {"intercept": 800.0, "from": {}, "sex": 110.0, "bsa": 180.0, "age10": 45.0,
                            "sbp10": 15.0, "sigma": 110.0, "clip": (300.0, 2000.0), "unit": "mm2"},
    "ao_asc_distensibility": {"intercept": 2.4, "from": {}, "sex": -0.1, "bsa": 0.0, "age10": -0.75,
                              "sbp10": -0.15, "sigma": 0.7, "clip": (0.2, 10.0), "unit": "10^-3 mmHg^-1"},
    "ao_desc_max_area_mm2": {"intercept": 480.0, "from": {}, "sex": 70.0, "bsa": 110.0, "age10": 35.0,
                             "sbp10": 10.0, "sigma": 70.0, "clip": (150.0, 1200.0), "unit": "mm2"},
    "ao_desc_distensibility": {"intercept": 3.0, "from": {}, "sex": -0.1, "bsa": 0.0, "age10": -0.8,
                               "sbp10": -0.2, "sigma": 0.8, "clip": (0.2, 12.0), "unit": "10^-3 mmHg^-1"},
    "ecc_global_pct": {"intercept": -21.5, "from": {"lvef_pct": (-0.35, 61.0)}, "sex": 0.8, "bsa": 0.0,
                       "age10": 0.0, "sbp10": 0.1, "sigma": 1.3, "clip": (-40.0, -5.0), "unit": "%"},
    "err_global_pct": {"intercept": 40.0, "from": {"lvef_pct": (1.2, 61.0)}, "sex": -2.0, "bsa": 0.0,
                       "age10": 0.0, "sbp10": 0.0, "sigma": 6.0, "clip": (5.0, 90.0), "unit": "%"},
    "ell_global_pct": {"intercept": -19.0, "from": {"lvef_pct": (-0.25, 61.0)}, "sex": 0.8, "bsa": 0.0,
                       "age10": 0.3, "sbp10": 0.1, "sigma": 1.3, "clip": (-35.0, -5.0), "unit": "%"},
}
_PP_FRACTION = 0.42
#: truth columns added by issue 14 to ``participants`` (and truth/participants.tsv), in order
EXTENSION_TRUTH = ("lvsv_ml", "lvco_l_min", "lvm_g", "rvesv_ml", "rvsv_ml", "rvef_pct", "lamin_ml", "lasv_ml",
                   "laef_pct", "ramax_ml", "ramin_ml", "rasv_ml", "raef_pct", "ao_asc_max_area_mm2",
                   "ao_asc_min_area_mm2", "ao_asc_distensibility", "ao_desc_max_area_mm2", "ao_desc_min_area_mm2",
                   "ao_desc_distensibility", "ecc_global_pct", "err_global_pct", "ell_global_pct")

#: Bai et al. IDP field -> (truth column it measures, relative measurement-noise SD). Volumes,
#: mass and areas are the truth times (1 + noise * z); the stroke volumes and EFs are computed
#: from the measured volumes (SV = max - min, EF = 100 SV / max); 24104 = measured SV x heart
#: rate / 1000 with 2% noise; distensibilities carry 8% noise; global strains additive noise
#: (:data:`STRAIN_NOISE`, % points); wall thickness per AHA segment = lvwt_mm x the segment's
#: share (:data:`LVWT_PATTERN`) x (1 + 6% noise), global (24140) = lvwt_mm x (1 + 3% noise).
IDP_FIELDS: dict[int, tuple[str, float]] = {
    24100: ("lvedv_ml", 0.03), 24101: ("lvesv_ml", 0.04), 24105: ("lvm_g", 0.04),
    24106: ("rvedv_ml", 0.035), 24107: ("rvesv_ml", 0.045),
    24110: ("lav_ml", 0.04), 24111: ("lamin_ml", 0.06),
    24114: ("ramax_ml", 0.045), 24115: ("ramin_ml", 0.065),
    24118: ("ao_asc_max_area_mm2", 0.03), 24119: ("ao_asc_min_area_mm2", 0.03), 24120: ("ao_asc_distensibility", 0.08),
    24121: ("ao_desc_max_area_mm2", 0.03), 24122: ("ao_desc_min_area_mm2", 0.03),
    24123: ("ao_desc_distensibility", 0.08),
    24140: ("lvwt_mm", 0.03),
}
STRAIN_NOISE = {24157: ("ecc_global_pct", 0.8), 24174: ("err_global_pct", 4.0), 24181: ("ell_global_pct", 0.8)}
#: AHA segments 1-16: share of the global wall thickness (septal segments thicker, apex thinner)
LVWT_PATTERN = np.array([1.05, 1.12, 1.10, 1.00, 0.95, 0.98, 1.03, 1.10, 1.08, 0.98, 0.93, 0.96,
                         0.92, 0.97, 0.90, 0.88])
LVWT_PATTERN = LVWT_PATTERN / LVWT_PATTERN.mean()
#: Siemens inline fields (22420-22427), a second, noisier measurement: volumes 8% noise (EDV and
#: ESV errors correlated 0.5), EF / SV from them, heart rate +- N(0, 5) bpm, cardiac output =
#: SV x HR / 1000, cardiac index = CO / scanner BSA (Du Bois on the true height/weight).
INLINE_NOISE = 0.08
#: Share of imaging visits without ... : Bai IDPs at all (SAX failed: LV, RV, wall thickness
#: missing); on top of that LA/RA (long-axis) and aorta missing; global strain missing; inline
#: fields missing (independent of the Bai ones). So LV/RV ~12%, LA/RA ~15.5%, aorta ~17%,
#: strain ~25%, inline 20% of imaging visits lack them.
IDP_MISSING = {"bai": 0.12, "lax": 0.04, "aorta": 0.06, "strain": 0.15, "inline": 0.20}
IDP_GROUP = {24100: "sax", 24101: "sax", 24102: "sax", 24103: "sax", 24104: "sax", 24105: "sax",
             24106: "sax", 24107: "sax", 24108: "sax", 24109: "sax", 24110: "lax", 24111: "lax", 24112: "lax",
             24113: "lax", 24114: "lax", 24115: "lax", 24116: "lax", 24117: "lax", 24118: "aorta",
             24119: "aorta", 24120: "aorta", 24121: "aorta", 24122: "aorta", 24123: "aorta",
             **{f: "sax" for f in range(24124, 24141)}, 24157: "strain", 24174: "strain", 24181: "strain"}

#: Blood biochemistry at instance 0 (baseline; age, BMI at instance 0). Documented models:
#: 30000 WBC = exp(log 6.8 + 0.02 (BMI - 27) + N(0, 0.25)) 10^9/L;
#: 30690 cholesterol = 5.75 - 0.25 male + 0.01 (age - 57) + N(0, 1.05) mmol/L;
#: 30760 HDL = 1.62 - 0.32 male - 0.03 (BMI - 27) + N(0, 0.33) mmol/L (>= 0.3);
#: 30780 LDL = 0.64 cholesterol - 0.05 + N(0, 0.3) mmol/L (>= 0.3);
#: 30870 triglycerides = exp(log 1.45 + 0.15 male + 0.035 (BMI - 27) - 0.35 (HDL - 1.45) + N(0, 0.38));
#: 30740 glucose = 4.9 + 0.02 (BMI - 27) + 2.5 T2D0 + 0.3 T2D10 + N(0, 0.55) mmol/L (>= 2.5);
#: 30750 HbA1c = 34.5 + 0.12 (age - 57) + 0.35 (BMI - 27) + 17 T2D0 + 4 T2D10 + N(0, 3.5) mmol/mol,
#: where T2D0 = the T2D event date is on or before the baseline visit (53-0.0) and T2D10 = within
#: 10 years after it. Missing: 4% of participants lack every biochemistry value (no sample),
#: plus 2% per field at random.
BIOCHEM_FIELDS = (30000, 30690, 30740, 30750, 30760, 30780, 30870)
BIOCHEM_MISSING = {"sample": 0.04, "field": 0.02}

FIELD_KIND.update({f: _FLOAT for f in range(24100, 24124)})
FIELD_KIND.update({f: _FLOAT for f in range(24124, 24141)})
FIELD_KIND.update({f: _FLOAT for f in (24157, 24174, 24181)})
FIELD_KIND.update({f: _FLOAT for f in range(22420, 22428)})
FIELD_KIND.update({f: _FLOAT for f in BIOCHEM_FIELDS})
FIELD_KIND.update({OUTCOME_SOURCES[o]["first_occurrence"]: _DATE for o in EXTENSION_OUTCOMES})


def _state_ints(obj: Any) -> list[int]:
    """Every integer in a bit generator's state (dicts, arrays), in a fixed order."""
    if isinstance(obj, dict):
        return [i for k in sorted(obj) for i in _state_ints(obj[k])]
    if isinstance(obj, (bool, np.bool_)):
        return [int(obj)]
    if isinstance(obj, (int, np.integer)):
        return [abs(int(obj))]
    if isinstance(obj, np.ndarray):
        return [abs(int(x)) for x in obj.ravel().tolist()]
    return []


def extension_rng(rng: np.random.Generator) -> np.random.Generator:
    """The issue-14 stream: seeded from ``rng``'s current state (read, not advanced) and the tag 14."""
    return np.random.default_rng(np.random.SeedSequence([14, *_state_ints(rng.bit_generator.state)]))


def _simulate_cardiac_extra(n: int, rx: np.random.Generator, p: dict, b: dict,
                            cardiac: dict) -> dict[str, np.ndarray]:
    """True values of :data:`EXTENSION_TRUTH` at instances 2 and 3 (key ``"{column}{inst}"``)."""
    male = p["male"]
    bsa = cardiac["true_bsa2"]
    age = _age_exact(p["visit2"], p["birth15"])
    gap = np.nan_to_num((p["visit3"] - p["visit2"]) / DAYS_PER_YEAR)
    x = {"sex": male, "bsa": bsa - 1.9, "age10": (age - 65) / 10, "sbp10": (b["true_sbp2"] - 135) / 10}
    out: dict[str, np.ndarray] = {}
    for col, m in DERIVED_MODELS.items():
        z = rx.standard_normal(n) * m["sigma"]
        retest = rx.normal(0, _RETEST_NOISE * m["sigma"], n)
        lo, hi = m["clip"]
        for inst in (2, 3):
            v = m["intercept"] + sum(m[k] * x[k] for k in x) + z
            for src, (beta, centre) in m["from"].items():
                v = v + beta * (np.nan_to_num(cardiac[f"{src}{inst}"], nan=centre) - centre)
            if inst == 3:
                v = v + m["age10"] * gap / 10 + retest
                v = np.where(p["repeat"], v, np.nan)
            out[f"{col}{inst}"] = np.clip(v, lo, hi)
    for inst in (2, 3):
        c = {k: cardiac[f"{k}{inst}"] for k in ("lvedv_ml", "lvesv_ml", "rvedv_ml", "lav_ml", "heart_rate_bpm")}
        out[f"lvsv_ml{inst}"] = c["lvedv_ml"] - c["lvesv_ml"]
        out[f"lvco_l_min{inst}"] = out[f"lvsv_ml{inst}"] * c["heart_rate_bpm"] / 1000
        out[f"rvesv_ml{inst}"] = c["rvedv_ml"] * (1 - out[f"rvef_pct{inst}"] / 100)
        out[f"rvsv_ml{inst}"] = c["rvedv_ml"] - out[f"rvesv_ml{inst}"]
        out[f"lamin_ml{inst}"] = c["lav_ml"] * (1 - out[f"laef_pct{inst}"] / 100)
        out[f"lasv_ml{inst}"] = c["lav_ml"] - out[f"lamin_ml{inst}"]
        out[f"ramin_ml{inst}"] = out[f"ramax_ml{inst}"] * (1 - out[f"raef_pct{inst}"] / 100)
        out[f"rasv_ml{inst}"] = out[f"ramax_ml{inst}"] - out[f"ramin_ml{inst}"]
        sbp = b["true_sbp2"] if inst == 2 else b["true_sbp3"]
        pp = _PP_FRACTION * sbp
        for site in ("asc", "desc"):
            mx, dist = out[f"ao_{site}_max_area_mm2{inst}"], out[f"ao_{site}_distensibility{inst}"]
            out[f"ao_{site}_min_area_mm2{inst}"] = mx / (1 + dist * 1e-3 * pp)
    return out


def _idp_columns(rx: np.random.Generator, p: dict, b: dict, cardiac: dict,
                 extra: dict) -> dict[tuple[int, int, int], np.ndarray]:
    """Measured cardiac IDPs (Bai et al. 24100-24181 subset, inline 22420-22427) at instances 2, 3."""
    n = len(p["male"])
    truth = {**cardiac, **extra}
    cols: dict[tuple[int, int, int], np.ndarray] = {}
    for inst in (2, 3):
        absent = np.isnan(p[f"visit{inst}"])
        u = rx.random((n, 5))
        no_bai = absent | (u[:, 0] < IDP_MISSING["bai"])
        miss = {"sax": no_bai, "lax": no_bai | (u[:, 1] < IDP_MISSING["lax"]),
                "aorta": no_bai | (u[:, 2] < IDP_MISSING["aorta"]),
                "strain": no_bai | (u[:, 3] < IDP_MISSING["strain"])}
        no_inline = absent | (u[:, 4] < IDP_MISSING["inline"])
        meas: dict[int, np.ndarray] = {}
        for f, (col, sd) in IDP_FIELDS.items():
            meas[f] = truth[f"{col}{inst}"] * (1 + sd * rx.standard_normal(n))
        for f, (col, sd) in STRAIN_NOISE.items():
            meas[f] = truth[f"{col}{inst}"] + sd * rx.standard_normal(n)
        for mx, mn, sv, ef in ((24100, 24101, 24102, 24103), (24106, 24107, 24108, 24109),
                               (24110, 24111, 24112, 24113), (24114, 24115, 24116, 24117)):
            meas[sv] = meas[mx] - meas[mn]
            meas[ef] = 100 * meas[sv] / meas[mx]
        meas[24104] = meas[24102] * truth[f"heart_rate_bpm{inst}"] / 1000 * (1 + 0.02 * rx.standard_normal(n))
        seg = truth[f"lvwt_mm{inst}"][:, None] * LVWT_PATTERN[None, :] * (1 + 0.06 * rx.standard_normal((n, 16)))
        for k in range(16):
            meas[24124 + k] = seg[:, k]
        for f, v in meas.items():
            cols[(f, inst, 0)] = np.where(miss[IDP_GROUP[f]], np.nan, np.round(v, 3))
        # Siemens inline: a second, noisier measurement
        z1 = rx.standard_normal(n)
        z2 = 0.5 * z1 + np.sqrt(1 - 0.5**2) * rx.standard_normal(n)
        edv = truth[f"lvedv_ml{inst}"] * (1 + INLINE_NOISE * z1)
        esv = truth[f"lvesv_ml{inst}"] * (1 + INLINE_NOISE * z2)
        hr = truth[f"heart_rate_bpm{inst}"] + rx.normal(0, 5.0, n)
        h, w = b[f"true_height{inst}"], b[f"true_weight{inst}"]
        bsa = np.round(du_bois_bsa(w, h), 2)
        co = (edv - esv) * hr / 1000
        inline = {22420: 100 * (edv - esv) / edv, 22421: edv, 22422: esv, 22423: edv - esv, 22424: co,
                  22425: co / bsa, 22426: np.round(hr), 22427: bsa}
        for f, v in inline.items():
            cols[(f, inst, 0)] = np.where(no_inline, np.nan, np.round(v, 2))
    return cols


def _biochem_columns(rx: np.random.Generator, p: dict, b: dict,
                     t2d_date: np.ndarray) -> dict[tuple[int, int, int], np.ndarray]:
    """Blood biochemistry at instance 0 (see :data:`BIOCHEM_FIELDS` for the planted models)."""
    n = len(p["male"])
    male = p["male"].astype(float)
    age = _age_exact(p["visit0"], p["birth15"])
    bmi = b["true_bmi0"]
    v0 = p["visit0"]
    t2d0 = (~np.isnan(t2d_date) & (t2d_date <= v0)).astype(float)
    t2d10 = (~np.isnan(t2d_date) & (t2d_date > v0) & (t2d_date <= v0 + 10 * DAYS_PER_YEAR)).astype(float)
    z = rx.standard_normal((n, 7))
    v: dict[int, np.ndarray] = {}
    v[30000] = np.exp(np.log(6.8) + 0.02 * (bmi - 27) + 0.25 * z[:, 0])
    v[30690] = np.clip(5.75 - 0.25 * male + 0.01 * (age - 57) + 1.05 * z[:, 1], 1.5, 12.0)
    v[30760] = np.clip(1.62 - 0.32 * male - 0.03 * (bmi - 27) + 0.33 * z[:, 2], 0.3, 4.0)
    v[30780] = np.clip(0.64 * v[30690] - 0.05 + 0.3 * z[:, 3], 0.3, 9.0)
    v[30870] = np.exp(np.log(1.45) + 0.15 * male + 0.035 * (bmi - 27) - 0.35 * (v[30760] - 1.45) + 0.38 * z[:, 4])
    v[30740] = np.clip(4.9 + 0.02 * (bmi - 27) + 2.5 * t2d0 + 0.3 * t2d10 + 0.55 * z[:, 5], 2.5, 30.0)
    v[30750] = np.clip(34.5 + 0.12 * (age - 57) + 0.35 * (bmi - 27) + 17 * t2d0 + 4 * t2d10 + 3.5 * z[:, 6],
                       15.0, 150.0)
    no_sample = rx.random(n) < BIOCHEM_MISSING["sample"]
    cols = {}
    for f in BIOCHEM_FIELDS:
        drop = no_sample | (rx.random(n) < BIOCHEM_MISSING["field"])
        cols[(f, 0, 0)] = np.where(drop, np.nan, np.round(v[f], 1 if f == 30750 else 3))
    return cols


def _records_after(rx: np.random.Generator, codes: np.ndarray, dates: np.ndarray, recs: pd.DataFrame,
                   cap: int | None = None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Place new records in each person's array slots right after their existing ones.

    ``codes`` / ``dates``: the existing (n, width) arrays, filled from index 0 without gaps; they
    keep every existing record where it is (only empty cells are filled) and are widened when a
    person's records need more slots. New records of a person go in random order; with ``cap``
    (ICD-10: the 20 slots the older records are held to) records that do not fit are not
    written. Returns the new arrays and the records written.
    """
    person = recs["person"].to_numpy()
    order = np.lexsort((rx.random(len(person)), person))
    ps = person[order]
    used = pd.notna(codes).sum(axis=1) if codes.shape[1] else np.zeros(codes.shape[0], np.int64)
    idx = used[ps] + np.arange(len(ps)) - np.searchsorted(ps, ps, side="left")
    keep = idx < cap if cap is not None else np.ones(len(ps), bool)
    width = max(codes.shape[1], int(idx[keep].max()) + 1 if keep.any() else 0)
    n = codes.shape[0]
    out_c = np.full((n, width), None, dtype=object)
    out_d = np.full((n, width), np.nan)
    out_c[:, :codes.shape[1]], out_d[:, :codes.shape[1]] = codes, dates
    out_c[ps[keep], idx[keep]] = recs["code"].to_numpy()[order][keep]
    out_d[ps[keep], idx[keep]] = recs["date"].to_numpy()[order][keep]
    return out_c, out_d, recs.iloc[order[keep]]


# ----------------------------------------------------------------------------- entry point


def simulate_cohort(
    n: int,
    rng: np.random.Generator,
    *,
    genotypes: Any = None,
    repeat_fraction: float = 0.10,
    admin_date: str = "2023-10-31",
    incidence_scale: float = 1.0,
    polygenic_h2: Any = None,
    background_rng: np.random.Generator | None = None,
) -> SynthCohort:
    """Simulate the tabular synthetic cohort.

    Parameters
    ----------
    n : number of participants (all imaged at instance 2).
    rng : numpy Generator; the result is a deterministic function of its state (and genotypes).
    genotypes : optional Genotypes-like object with ``eids`` ((n,) int64, used as the cohort's
        eids in that order), ``causal`` (DataFrame ``id, eaf, trait, beta_sd, ...``) and
        ``dosage(variant_ids) -> (n, k)`` effect-allele counts. ``None``: eids are drawn here
        and no genetic effects are planted.
    repeat_fraction : fraction of participants with a repeat imaging visit (instance 3).
    admin_date : administrative end of follow-up (events after it are mostly not written).
    incidence_scale : factor on every outcome's baseline hazard of incident events (1.0: the
        calibrated 10-year incidences of ``_INCIDENCE_10Y``; 3.0: three times the hazard). The
        planted hazard ratios, the prevalence at imaging and every other draw are unchanged;
        ``hazards.baseline_hazard_per_year`` holds the scaled hazard and, when the scale is not
        1, ``hazards.incidence_scale`` the factor (at 1.0 the tables are exactly the unscaled ones).
    polygenic_h2 : the polygenic background's h2 (fraction of each true parameter's residual
        variance ``sigma^2``): ``None`` / 0 (off: every table is exactly as without it), one number
        for every trait of :data:`GENETIC_TRAITS`, or a mapping trait column -> number (see
        :func:`polygenic_h2_by_trait`). Needs ``genotypes`` (a :class:`Genotypes`); the total h2
        (planted variants' r2 + background) of each trait must stay below 1. Drawn from
        :func:`polygenic_rng`; see the module docstring for the model.
    background_rng : the stream the polygenic background is drawn from instead of
        :func:`polygenic_rng` of ``rng``: a target cohort drawn from another cohort's population passes
        that cohort's, so that both share the background effects (:func:`cardiolatent.synth.build.simulate_target_tables`).

    Returns
    -------
    :class:`SynthCohort`.
    """
    if n < 1:
        raise ValueError(f"n must be positive (got {n})")
    if not (np.isfinite(incidence_scale) and incidence_scale > 0):
        raise ValueError(f"incidence_scale must be a positive number (got {incidence_scale})")
    # issue 14: an independent stream for everything added since (the Generator is not advanced)
    rx = extension_rng(rng)
    # issue 18: the polygenic background's own stream (read from the same state, not advanced)
    h2_bg = polygenic_h2_by_trait(polygenic_h2)
    background_on = any(v > 0 for v in h2_bg.values())
    if background_on and genotypes is None:
        raise CardiolatentError("polygenic_h2 needs genotypes (the background is drawn over their variants)")
    rp = (background_rng if background_rng is not None else polygenic_rng(rng)) if background_on else None
    admin = _day(admin_date)
    if genotypes is not None:
        eids = np.asarray(genotypes.eids, dtype=np.int64)
        if len(eids) != n:
            raise ValueError(f"genotypes hold {len(eids)} people but n = {n}")
    else:
        eids = _draw_eids(n, rng)
    p = _simulate_people(n, rng, repeat_fraction, admin)
    b = _simulate_body(n, rng, p)
    g = _simulate_misc(n, rng, p)
    genetic, variants = _genetic_parts(genotypes)
    planted_values = {k: v for k, v in genetic.items() if not k.endswith("__h2")}
    bg_values: dict[str, np.ndarray] = {}
    background_effects, n_causal_bg = None, 0
    if background_on:
        bg_values, background_effects, n_causal_bg = _add_background(genetic, variants, genotypes, h2_bg, rp)
    cardiac = _simulate_cardiac(n, rng, p, b, genetic)
    heritability = _heritability_table(variants, h2_bg, n_causal_bg, planted_values, bg_values, cardiac)
    extra = _simulate_cardiac_extra(n, rx, p, b, cardiac)
    participants = _participants(eids, p, b, g, cardiac, extra)

    # hazards use instance-2 truth in cohort row order
    part2 = pd.DataFrame({
        "age_exact": _age_exact(p["visit2"], p["birth15"]), "sex": p["male"].astype(float),
        "true_sbp": b["true_sbp2"], "true_bmi": b["true_bmi2"],
        **{t: cardiac[f"{t}2"] for t in ("lvedv_ml", "lvef_pct", "lvwt_mm", "lav_ml")},
        "lvm_g": extra["lvm_g2"],
    })
    hazards = _hazard_design(part2)
    lp_death = (_DEATH_LOG_HR["age10"] * (part2["age_exact"].to_numpy() - 65) / 10
                + _DEATH_LOG_HR["male"] * p["male"])
    death = p["visit2"] + np.maximum(1.0, np.ceil(rng.exponential(1.0, n) / (_DEATH_RATE * np.exp(lp_death))
                                                  * DAYS_PER_YEAR))
    death_written = np.where(death <= admin, death, np.nan)
    limit = np.fmin(death, admin).astype(float)

    rec = _Records([], [], [], [], [])
    fo_days: dict[int, np.ndarray] = {}
    alg: dict[int, np.ndarray] = {}
    h0 = {}
    event_dates: dict[str, np.ndarray] = {}
    for outcome in ORIGINAL_OUTCOMES:
        lp = _linear_predictor(hazards, outcome, part2)
        dates, h0[outcome] = _draw_event_dates(rng, outcome, lp, p, death, admin, incidence_scale)
        _write_sources(rng, rec, outcome, dates, limit, fo_days, alg)
        event_dates[outcome] = dates
    # issue 14: the other outcomes from the extension stream, into their own records
    rec_x = _Records([], [], [], [], [])
    for outcome in EXTENSION_OUTCOMES:
        lp = _linear_predictor(hazards, outcome, part2)
        dates, h0[outcome] = _draw_event_dates(rx, outcome, lp, p, death, admin, incidence_scale)
        _write_sources(rx, rec_x, outcome, dates, limit, fo_days, alg)
    hazards["baseline_hazard_per_year"] = hazards["outcome"].map(h0)
    if incidence_scale != 1.0:
        hazards["incidence_scale"] = float(incidence_scale)
    recs = rec.frame()
    used10 = np.bincount(recs.loc[recs["kind"] == "icd10", "person"].to_numpy(), minlength=n)
    _unrelated_records(rng, rec, p, limit, used10)
    recs = rec.frame()
    r10, r9 = recs[recs["kind"] == "icd10"], recs[recs["kind"] == "icd9"]
    codes10, dates10 = _records_to_wide(rng, r10, n)
    codes9, dates9 = _records_to_wide(rng, r9, n)
    # new records in array slots after the existing ones (existing columns stay as they were)
    recs_x = rec_x.frame()
    codes10, dates10, x10 = _records_after(rx, codes10, dates10, recs_x[recs_x["kind"] == "icd10"], _HOSPITAL_WIDTH)
    codes9, dates9, x9 = _records_after(rx, codes9, dates9, recs_x[recs_x["kind"] == "icd9"])

    cols = _main_columns(p, b, g, death_written, fo_days, alg, codes10, dates10, codes9, dates9)
    cols.update(_idp_columns(rx, p, b, cardiac, extra))
    cols.update(_biochem_columns(rx, p, b, event_dates["T2D"]))
    main_raw = _assemble_main(eids, cols)
    main = clean_main(main_raw)
    hosp = pd.concat([recs, x10, x9], ignore_index=True)
    outcomes = _truth_outcomes(hosp[hosp["kind"].isin(["icd10", "icd9"])], fo_days, alg, eids,
                               p["visit2"], death, admin)
    return SynthCohort(main=main, main_raw=main_raw, participants=participants, outcomes=outcomes,
                       hazards=hazards, variants=variants, trait_effects=_trait_effects(),
                       heritability=heritability, background_effects=background_effects)
