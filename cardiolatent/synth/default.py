"""The built-in synthetic cohort that commands use when the user gives no data.

It is built on first use into a cache folder (``$CARDIOLATENT_HOME``, else
``$XDG_CACHE_HOME/cardiolatent``, else ``~/.cache/cardiolatent``) and reused afterwards: tables
and genotypes first, the bulk zips when a command needs images. Its latents under the demo models
(:func:`cardiolatent.demo.default_latents`) live one layer up, since they need encoding.
``cardiolatent cache`` lists the folder; ``cardiolatent cache --clear`` empties it.

Why this cohort (issue 17): the built-in cohort must give every README story a real answer
within a first run's budget (synthesis plus encoding in a 15-minute demo on 2 cores, under 3 GB).

- **N = 1,800 participants, seed 20208**: 172 of them have the repeat imaging visit (>= 150 for
  test-retest ICC); the seven planted variants reach P < 5e-8 through ``export --format plink2``
  + plink2 + ``gwas-results`` with the true traits as latents (P 1e-34 to 1e-70, n = 1,748 after
  the export's exclusions, at :data:`DEFAULT_VARIANT_R2`); through the demo models' latents 2 of 7
  do (LV ejection fraction, RV end-diastolic volume; see :data:`DEFAULT_VARIANT_R2`). N is bounded
  by the disk budget:
  2,000 participants (2,191 zips) would take 2.9 GB of zips alone.
- **Incidence scale 3** (:func:`cardiolatent.synth.cohort.simulate_cohort`): every outcome's
  baseline hazard times 3, planted hazard ratios unchanged, so the Cox models have enough
  incident events within 10 years (AF 148, MI 62; >= 50 each). Prevalence at imaging is not
  scaled, so the paper's diseases have 25 (aortic valve disease) to 88 (AF) cases in the
  case window [imaging year - 5, + 1]: far below the paper's 200, hence ``--min-cases 20`` for
  the built-in cohort's disease associations.
- **4-chamber series only** (``series="4ch"``): the encoders read only that series, whose frames
  are the same as in the full three-series zip; 1.32 MB per visit instead of 4.0 MB, so the
  1,972 zips take 2.6 GB and render in a third of the time.

A size other than 1,800 comes from the environment variable ``CARDIOLATENT_BUILTIN_N`` (an
integer >= 20; the test suite sets 200 so that no test builds the full cohort with images);
each size has its own folder ``synth_n{N}_seed{seed}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import cache_root
from cardiolatent.synth.build import TABLES_VERSION, CohortPaths, make_cohort, make_target_cohort
from cardiolatent.synth.cohort import polygenic_h2_by_trait

#: participants in the built-in cohort (with or without images)
DEFAULT_N = 1800
#: the same cohort is used when images are needed (one built-in cohort since issue 17)
DEFAULT_N_IMAGES = DEFAULT_N
DEFAULT_SEED = 20208
#: series in the built-in cohort's zips (the 4-chamber series the encoders read)
DEFAULT_SERIES = "4ch"
#: factor on the baseline hazards of the built-in cohort's outcomes
DEFAULT_INCIDENCE_SCALE = 3.0
#: fraction of its trait's residual variance that each planted variant explains in the built-in cohort
#: (make_cohort's default: 0.06). Real cardiac MRI loci explain well under 1 %; the planted ones are
#: large so that a GWAS of the *latents* of 1,800 people can find them: the demo models' best single
#: latent carries only about 0.2 of the variance of LV or RV end-diastolic volume left after age, sex and
#: body size (|r| about 0.44-0.48; LV wall thickness 0.14, LA volume 0.23; measured before the polygenic
#: background was added, with which the LA volume figure is 0.17)
DEFAULT_VARIANT_R2 = 0.15
#: the polygenic background of the built-in cohort (issue 18): h2 of many small effects over every other
#: variant, on each genetic true parameter's residual variance; with the planted variants the SNP
#: heritability is 0.40 (LV EDV, LA volume: two planted variants each) or 0.25 (LVEF, LV wall
#: thickness, RV EDV), inside the 0.1-0.4 the heritability checks ask for (``truth/heritability.tsv``)
DEFAULT_POLYGENIC_H2 = 0.10
#: the smallest case count at which the built-in cohort's disease associations are tested (the
#: paper: 200; the built-in cohort has 25 to 88 cases per disease in the case window)
DEFAULT_MIN_CASES = 20
#: environment variable setting the built-in cohort's size
N_ENV = "CARDIOLATENT_BUILTIN_N"


def cache_dir() -> Path:
    """The cache folder (:func:`cardiolatent.io_utils.cache_root`)."""
    return cache_root()


def builtin_n() -> int:
    """The built-in cohort's size: ``$CARDIOLATENT_BUILTIN_N`` when set, else :data:`DEFAULT_N`."""
    value = os.environ.get(N_ENV, "").strip()
    if not value:
        return DEFAULT_N
    try:
        n = int(value)
    except ValueError:
        raise CardiolatentError(f"{N_ENV} must be a whole number of participants (got {value!r})") from None
    if n < 20:
        raise CardiolatentError(f"{N_ENV} must be at least 20 participants (got {n})")
    return n


def _same_recipe(info: dict) -> bool:
    """Whether a current-version cohort was made with the built-in series, incidence scale, planted
    variant r2 and polygenic background (a cohort.json without them, as written by hand, is taken as
    made by the recipe)."""
    try:
        h2 = polygenic_h2_by_trait(info.get("polygenic_h2", DEFAULT_POLYGENIC_H2))
    except CardiolatentError:
        return False
    return (info.get("series", DEFAULT_SERIES) == DEFAULT_SERIES
            and float(info.get("incidence_scale", DEFAULT_INCIDENCE_SCALE)) == DEFAULT_INCIDENCE_SCALE
            and float(info.get("variant_r2", DEFAULT_VARIANT_R2)) == DEFAULT_VARIANT_R2
            and h2 == polygenic_h2_by_trait(DEFAULT_POLYGENIC_H2))


def default_cohort(n: int | None = None, seed: int = DEFAULT_SEED, *, images: bool = False,
                   progress: bool = True):
    """Return the paths of the default synthetic cohort, building it if needed.

    Parameters
    ----------
    n, seed : size and seed of the cohort (each combination has its own folder); default
        :func:`builtin_n` (1,800 participants unless ``$CARDIOLATENT_BUILTIN_N`` says otherwise).
    images : whether bulk cine zips are needed (a cohort built without them is completed).

    The cohort is built with :data:`DEFAULT_SERIES` zips and :data:`DEFAULT_INCIDENCE_SCALE`.
    """
    if n is None:
        n = builtin_n()

    root = cache_dir() / f"synth_n{n}_seed{seed}"
    info_file = root / "cohort.json"
    if info_file.exists():
        info = json.loads(info_file.read_text())
        current = info.get("tables_version", 1) >= TABLES_VERSION and _same_recipe(info)
        if current and (info.get("images") or not images):
            return CohortPaths(root)
        if not current:
            # built by an older cardiolatent: its main data lacks fields commands now expect
            images = images or bool(info.get("images"))
            if progress:
                print(f"the built-in cohort at {root} was built by an older cardiolatent; rebuilding it")
    return make_cohort(root, n=n, seed=seed, images=images, progress=progress, series=DEFAULT_SERIES,
                       incidence_scale=DEFAULT_INCIDENCE_SCALE, variant_r2=DEFAULT_VARIANT_R2,
                       polygenic_h2=DEFAULT_POLYGENIC_H2)


#: participants of the built-in *target* cohort of polygenic scores (tables and genotypes, no images;
#: about 10 s to build). The paper scored UK Biobank participants outside its imaging GWAS (hundreds of
#: thousands); 20,000 gives the built-in scores about 1,500 incident AF events in 10 years.
DEFAULT_TARGET_N = 20_000
#: seed of the built-in target cohort
DEFAULT_TARGET_SEED = 1


def builtin_target_n() -> int:
    """The built-in target cohort's size: :data:`DEFAULT_TARGET_N` for the default built-in cohort, in
    proportion for another ``$CARDIOLATENT_BUILTIN_N`` (at least 2,000; the tests' 200 gives 2,222)."""
    return max(2_000, int(round(DEFAULT_TARGET_N * builtin_n() / DEFAULT_N)))


def default_target_cohort(n: int | None = None, seed: int = DEFAULT_TARGET_SEED, *, progress: bool = True):
    """The built-in target cohort of polygenic scores: ``n`` (default :func:`builtin_target_n`) new people
    from the built-in cohort's population (same variants, LD, planted effects and polygenic background,
    hazards; :func:`cardiolatent.synth.build.simulate_target_tables`), built into the cache on first use
    beside the built-in cohort. Returns its :class:`~cardiolatent.synth.build.CohortPaths`."""
    discovery_n = builtin_n()
    n = builtin_target_n() if n is None else int(n)
    root = cache_dir() / f"synth_n{discovery_n}_seed{DEFAULT_SEED}_target_n{n}_seed{seed}"
    info_file = root / "cohort.json"
    want = {"tables_version": TABLES_VERSION, "target_of": {"n": discovery_n, "seed": DEFAULT_SEED},
            "incidence_scale": DEFAULT_INCIDENCE_SCALE, "variant_r2": DEFAULT_VARIANT_R2,
            "polygenic_h2": polygenic_h2_by_trait(DEFAULT_POLYGENIC_H2)}
    if info_file.exists():
        try:
            info = json.loads(info_file.read_text())
        except (OSError, ValueError):
            info = {}
        if all(info.get(k) == v for k, v in want.items()):
            return CohortPaths(root)
    if progress:
        print(f"building the built-in target cohort ({n:,} participants, no images) in {root}")
    return make_target_cohort(root, n, seed, discovery_n=discovery_n, discovery_seed=DEFAULT_SEED,
                              incidence_scale=DEFAULT_INCIDENCE_SCALE, variant_r2=DEFAULT_VARIANT_R2,
                              polygenic_h2=DEFAULT_POLYGENIC_H2)
