"""Build the synthetic cohort folder: main data, bulk cine zips, genotypes and truth.

:func:`make_cohort` is what ``cardiolatent synth`` runs. The folder layout is documented in
``docs/design.md``. Everything is deterministic for a given ``seed``: tables and genotypes come
from one random stream each, and every participant's images from a stream derived from
``(seed, eid, instance)``, so images can be written in parallel, in any order, and an
interrupted run resumes by skipping the zips already written (zips are written atomically).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import atomic_path, write_table_atomic, write_text_atomic
from cardiolatent.synth.cohort import GENETIC_TRAITS, polygenic_h2_by_trait, polygenic_rng, simulate_cohort
from cardiolatent.synth.dicom import read_bulk_zip, write_bulk_zip, write_h5, write_nifti
from cardiolatent.synth.genotypes import DEFAULT_CAUSAL, genotype_population, simulate_genotypes
from cardiolatent.synth.phantom import draw_acquisition, draw_person, render_cine
from cardiolatent.ukb.read import write_main

#: the three long-axis series written into every bulk zip
VIEWS = ("4Ch", "2Ch", "3Ch")
#: ``series`` choices of :func:`make_cohort`: the views written into each bulk zip. "4ch" keeps
#: only the 4-chamber series (what the encoders read; a third of the size and the rendering
#: time); its frames are byte-identical to the 4-chamber frames of the "all" zip of the same visit
SERIES = {"all": VIEWS, "4ch": ("4Ch",)}
#: true-parameter columns handed to the phantom renderer
IMAGE_PARAMS = ("lvedv_ml", "lvef_pct", "lvwt_mm", "lav_ml", "rvedv_ml", "heart_rate_bpm")
MAIN_NAME = {"ukbconv_csv": "ukb_main.csv", "rap": "ukb_main_rap.csv"}

#: fraction of its trait's residual variance that each planted variant explains (``variant_r2`` of
#: :func:`make_cohort`; the built-in cohort uses a larger one, :data:`cardiolatent.synth.default.DEFAULT_VARIANT_R2`)
VARIANT_R2 = 0.06


@dataclass
class CohortPaths:
    """Where :func:`make_cohort` put each part (all under ``root``)."""

    root: Path

    @property
    def main(self) -> Path:
        info = self.info()
        return self.root / info.get("main_file", "ukb_main.csv")

    @property
    def bulk(self) -> Path:
        return self.root / "bulk" / "20208"

    @property
    def bulk_manifest(self) -> Path:
        return self.root / "bulk" / "manifest.tsv"

    @property
    def genotypes(self) -> Path:
        """PLINK 1 fileset prefix (``.bed/.bim/.fam``)."""
        return self.root / "genotypes" / "synth"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    def info(self) -> dict:
        p = self.root / "cohort.json"
        return json.loads(p.read_text()) if p.exists() else {}


def _image_rng(seed: int, eid: int, instance: int) -> np.random.Generator:
    """The visit-level stream of one imaging visit (acquisition nuisance, noise)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 20208, int(eid), int(instance)]))


#: key of the person-level image stream (not an instance number, so never equal to a visit's key)
_PERSON_KEY = 99


def person_nuisance(seed: int, eid: int) -> dict:
    """Person-level nuisance of participant ``eid`` (the same for both imaging visits)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 20208, int(eid), _PERSON_KEY]))
    return draw_person(rng)


def bmi_ratios(participants: pd.DataFrame) -> np.ndarray:
    """Per row of ``participants``: true BMI at the visit over true BMI at the participant's first
    imaging visit (1 where BMI is missing)."""
    if "true_bmi" not in participants:
        return np.ones(len(participants))
    first = participants.sort_values("instance").groupby("eid")["true_bmi"].first()
    ratio = participants["true_bmi"].to_numpy(float) / participants["eid"].map(first).to_numpy(float)
    return np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)


def acquisition_table(participants: pd.DataFrame, seed: int, views: tuple[str, ...] = VIEWS) -> pd.DataFrame:
    """Every nuisance value of every cine (``truth/acquisition.tsv``), without rendering.

    One row per ``eid, instance, view``, in the order the images are drawn; the columns are
    those of :func:`cardiolatent.synth.phantom.acquisition_values` (person-level and visit-level
    values: see the phantom module's docstring). Only the rows of ``views`` (the series written)
    are kept; the values are drawn as for all three views, so a view's values never depend on
    which series are written.
    """
    rows = []
    ratios = bmi_ratios(participants)
    for row, ratio in zip(participants.itertuples(index=False), ratios):
        eid, instance = int(row.eid), int(row.instance)
        rng = _image_rng(seed, eid, instance)
        person = person_nuisance(seed, eid)
        for view in VIEWS:
            values = draw_acquisition(view, rng, person=person, bmi_ratio=float(ratio))
            if view in views:
                rows.append({"eid": eid, "instance": instance, "view": view, **values})
    return pd.DataFrame(rows)


def zip_name(eid: int, instance: int) -> str:
    """UK Biobank bulk file name for field 20208."""
    return f"{int(eid)}_20208_{int(instance)}_0.zip"


def _write_one_participant(job: tuple) -> tuple[int, int, str, int]:
    """Render the views of one (eid, instance) and write its bulk zip (and NIfTI/HDF5).

    The views are drawn in :data:`VIEWS` order from the visit's stream; with ``views`` a prefix
    of it (the 4-chamber series alone) the later ones are not drawn and the written ones are the
    same as in the full zip.
    """
    seed, eid, instance, params, study_date, sex, birth_year, bulk_dir, nifti_dir, ratio, views = job
    path = Path(bulk_dir) / zip_name(eid, instance)
    if path.exists():
        return eid, instance, str(path), path.stat().st_size
    rng = _image_rng(seed, eid, instance)
    person = person_nuisance(seed, eid)
    last = max(VIEWS.index(v) for v in views)
    cines = {view: render_cine(params, view=view, rng=rng, person=person, bmi_ratio=ratio)
             for view in VIEWS[:last + 1]}
    cines = {view: cines[view] for view in VIEWS if view in views}
    write_bulk_zip(path, eid, instance, cines, study_date=study_date, birth_year=birth_year, sex=sex)
    if nifti_dir is not None:
        write_nifti(Path(nifti_dir) / f"{eid}_20208_{instance}_0_LAX_4Ch.nii.gz", cines["4Ch"])
    return eid, instance, str(path), path.stat().st_size


def _image_jobs(seed, participants: pd.DataFrame, bulk_dir: Path, nifti_dir: Path | None,
                views: tuple[str, ...] = VIEWS):
    jobs = []
    for row, ratio in zip(participants.itertuples(index=False), bmi_ratios(participants)):
        params = {k: float(getattr(row, k)) for k in IMAGE_PARAMS if hasattr(row, k)}
        sex = None if pd.isna(row.sex) else int(row.sex)
        jobs.append(
            (seed, int(row.eid), int(row.instance), params, pd.Timestamp(row.visit_date).date(),
             sex, None, str(bulk_dir), None if nifti_dir is None else str(nifti_dir), float(ratio), tuple(views))
        )
    return jobs


def write_images(
    participants: pd.DataFrame,
    root: Path,
    seed: int,
    *,
    workers: int | None = None,
    nifti: bool = False,
    h5: bool = False,
    progress: bool = True,
    series: str = "all",
) -> pd.DataFrame:
    """Write one bulk zip per imaged (eid, instance); skip zips that already exist (resume).

    ``series``: a key of :data:`SERIES` (the views in each zip). Returns the bulk manifest:
    ``eid, instance, path`` (relative to ``root``), ``bytes``.
    """
    bulk_dir = root / "bulk" / "20208"
    bulk_dir.mkdir(parents=True, exist_ok=True)
    nifti_dir = None
    if nifti:
        nifti_dir = root / "nifti"
        nifti_dir.mkdir(parents=True, exist_ok=True)
    jobs = _image_jobs(seed, participants, bulk_dir, nifti_dir, _views(series))
    workers = workers or min(len(jobs), os.cpu_count() or 1) or 1
    results = []
    bar = tqdm(total=len(jobs), desc="cine zips", unit="zip", disable=not progress)
    if workers <= 1:
        for job in jobs:
            results.append(_write_one_participant(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_write_one_participant, jobs, chunksize=8):
                results.append(res)
                bar.update()
    bar.close()
    manifest = pd.DataFrame(results, columns=["eid", "instance", "path", "bytes"])
    manifest["path"] = [os.path.relpath(p, root) for p in manifest["path"]]
    if h5:
        _write_h5_all(participants, root, seed)
    return manifest


def _views(series: str) -> tuple[str, ...]:
    if series not in SERIES:
        raise CardiolatentError(f"series must be one of {sorted(SERIES)} (got {series!r})")
    return SERIES[series]


def _write_h5_all(participants: pd.DataFrame, root: Path, seed: int) -> None:
    """HDF5 in the original ImLatent layout, 4-chamber series only, read back from the zips."""
    target = root / "h5" / "F20208_LAX_4Ch.h5"
    with atomic_path(target, suffix=".h5") as tmp:
        tmp.unlink()
        for row in participants.itertuples(index=False):
            frames, info = read_bulk_zip(root / "bulk" / "20208" / zip_name(row.eid, row.instance))
            write_h5(tmp, int(row.eid), int(row.instance), frames, info)


def write_cohort_tables(root: Path, geno, cohort, naming: str) -> str:
    """Write a simulated cohort's main data (``naming`` style), ``genotypes/synth.{bed,bim,fam}`` and
    ``truth/`` participants, outcomes, hazards, variants and heritability tables (each atomically) into
    ``root``; returns the main data file's name."""
    main_file = MAIN_NAME[naming]
    write_main(cohort.main_raw, root / main_file, style=naming)
    sex = cohort.main["31-0.0"].reindex(geno.eids).to_numpy(dtype="float64", na_value=np.nan)
    (root / "genotypes").mkdir(exist_ok=True)
    geno.write_plink(root / "genotypes" / "synth", sex=sex)
    truth = root / "truth"
    for name, table in (("participants", cohort.participants), ("outcomes", cohort.outcomes),
                        ("hazards", cohort.hazards), ("variants", cohort.variants),
                        ("heritability", cohort.heritability)):
        write_table_atomic(table, truth / f"{name}.tsv", index=False)
    return main_file


def make_cohort(
    out: str | os.PathLike,
    n: int = 2000,
    seed: int = 20208,
    *,
    images: bool = True,
    naming: str = "ukbconv_csv",
    nifti: bool = False,
    h5: bool = False,
    workers: int | None = None,
    progress: bool = True,
    series: str = "all",
    incidence_scale: float = 1.0,
    variant_r2: float = VARIANT_R2,
    polygenic_h2=None,
) -> CohortPaths:
    """Write the synthetic cohort for ``n`` participants into folder ``out``; return its paths.

    Parameters
    ----------
    n : number of participants (all imaged at instance 2; about 10% also at instance 3).
    seed : random seed; the same seed gives byte-identical tables, genotypes and images.
    images : write the bulk DICOM zips (``False`` for large-N statistics work).
    naming : main data column naming, ``"ukbconv_csv"`` (``31-0.0``) or ``"rap"`` (``p31``).
    nifti, h5 : also write the 4-chamber series as NIfTI files / one HDF5 file.
    workers : processes for image writing (default: all cores).
    series : ``"all"`` (4-, 2- and 3-chamber series in every zip, ~4.1 MB per visit) or ``"4ch"``
        (the 4-chamber series only, ~1.3 MB: what the encoders read, with the same frames).
    incidence_scale : factor on the baseline hazards of every outcome's incident events (see
        :func:`cardiolatent.synth.cohort.simulate_cohort`; 1.0 = the calibrated incidences;
        planted hazard ratios unchanged). Recorded in ``cohort.json`` and ``truth/hazards.tsv``.
    variant_r2 : fraction of its trait's residual variance that each planted variant explains (recorded
        in ``cohort.json``; ``truth/variants.tsv`` column ``r2``).
    polygenic_h2 : the polygenic background (many small effects over every other variant):
        ``None`` / 0 (off, the default: every file but ``cohort.json`` and
        ``truth/heritability.tsv`` is byte-identical to a cohort made without it), one h2 for every
        genetic true parameter, or a mapping trait column -> h2 (see
        :func:`cardiolatent.synth.cohort.simulate_cohort`). Each trait's total SNP heritability
        (its planted variants' r2 + the background) must stay below 1. Recorded in ``cohort.json``
        (``polygenic_h2``: trait column -> value); the truth is ``truth/heritability.tsv`` (always
        written) and, when on, the per-variant effects ``truth/polygenic_effects.tsv``.
    """
    if n < 20:
        raise CardiolatentError(f"n must be at least 20 participants (got {n})")
    if naming not in MAIN_NAME:
        raise CardiolatentError(f"naming must be one of {sorted(MAIN_NAME)} (got {naming!r})")
    views = _views(series)
    if not (np.isfinite(incidence_scale) and incidence_scale > 0):
        raise CardiolatentError(f"incidence_scale must be a positive number (got {incidence_scale})")
    if not 0 < variant_r2 < 0.5:
        raise CardiolatentError(f"variant_r2 must be in (0, 0.5) (got {variant_r2})")
    h2_bg = check_polygenic_h2(polygenic_h2, variant_r2)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    _drop_images_of_another_cohort(root, n, seed, series, incidence_scale, variant_r2, h2_bg)
    # what is being built, so that an interrupted build is resumed only by the same cohort
    write_text_atomic(root / BUILDING, json.dumps({"generator": "cardiolatent synth", "seed": int(seed), "n": int(n),
                                                   "tables_version": TABLES_VERSION, "series": series,
                                                   "incidence_scale": float(incidence_scale),
                                                   "variant_r2": float(variant_r2),
                                                   "polygenic_h2": h2_bg}) + "\n")
    t0 = time.perf_counter()
    geno, cohort = simulate_tables(n, seed, incidence_scale=incidence_scale, variant_r2=variant_r2,
                                   polygenic_h2=h2_bg)

    main_file = write_cohort_tables(root, geno, cohort, naming)
    truth = root / "truth"
    effects_file = truth / "polygenic_effects.tsv"
    if cohort.background_effects is not None:
        write_table_atomic(cohort.background_effects, effects_file, index=False)
    else:
        effects_file.unlink(missing_ok=True)  # a rebuild without the background leaves no stale effects
    t_tables = time.perf_counter() - t0

    manifest = None
    if images:
        write_table_atomic(acquisition_table(cohort.participants, seed, views), truth / "acquisition.tsv",
                           index=False)
        manifest = write_images(cohort.participants, root, seed, workers=workers, nifti=nifti, h5=h5,
                                progress=progress, series=series)
        write_table_atomic(manifest, root / "bulk" / "manifest.tsv", index=False)

    info = {
        "generator": "cardiolatent synth",
        "version": __version__,
        "tables_version": TABLES_VERSION,
        "seed": int(seed),
        "n": int(n),
        "naming": naming,
        "main_file": main_file,
        "images": bool(images),
        "series": series,
        "incidence_scale": float(incidence_scale),
        "variant_r2": float(variant_r2),
        "polygenic_h2": h2_bg,
        "n_imaging_visits": int(len(cohort.participants)),
        "n_repeat_visits": int((cohort.participants["instance"] == 3).sum()),
        "n_variants": int(len(geno.variants)),
        "n_planted_variants": int(len(geno.causal)),
        "bulk_bytes": None if manifest is None else int(manifest["bytes"].sum()),
        "seconds_tables": round(t_tables, 2),
        "seconds_total": round(time.perf_counter() - t0, 2),
    }
    write_text_atomic(root / "cohort.json", json.dumps(info, indent=2) + "\n")
    (root / BUILDING).unlink(missing_ok=True)
    return CohortPaths(root)


#: content version of the synthetic tables: raised whenever the main data or truth gain columns
#: (2: the cardiac imaging-derived phenotypes, biochemistry and the paper's other diseases of
#: issue 14; 3: person-level vs visit-level image nuisance and ``truth/acquisition.tsv``, issue 20;
#: 4: issue 17's built-in cohort (see :mod:`cardiolatent.synth.default`), ``series`` and
#: ``incidence_scale`` in ``cohort.json``; 5: ``variant_r2`` in ``cohort.json``; 6: issue 18's
#: ``truth/heritability.tsv`` and ``polygenic_h2`` in ``cohort.json``), so that a cached default
#: cohort of an older version is rebuilt
TABLES_VERSION = 6



def drop_images(root: Path) -> None:
    """Remove what was drawn from images in cohort folder ``root`` (zips, NIfTI, HDF5, encoded
    demo latents and the built-in results computed from them), so that a rebuild draws them again
    instead of resuming from them."""
    for name in ("bulk", "nifti", "h5"):
        if (root / name).is_dir():
            shutil.rmtree(root / name)
    for f in [*root.glob("latents_demo_*"), *root.glob("results_latents_demo_*")]:
        if f.is_dir():
            shutil.rmtree(f)
        else:
            f.unlink()


#: written when a build starts and removed when it ends: what an interrupted build was building
BUILDING = ".building.json"


def _drop_images_of_another_cohort(root: Path, n: int, seed: int, series: str = "all",
                                   incidence_scale: float = 1.0, variant_r2: float = VARIANT_R2,
                                   polygenic_h2=None) -> None:
    """A folder finished (or left half-built) by another seed, size, series, incidence scale, planted
    variant r2, polygenic background or an older generator keeps none of its images and latents
    (resuming would mix its zips into the new cohort; results made from its tables would be stale)."""
    info_file = root / BUILDING if (root / BUILDING).exists() else root / "cohort.json"
    if not info_file.exists():
        return
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError):
        return
    if info.get("generator") != "cardiolatent synth":
        return
    try:
        old_h2 = polygenic_h2_by_trait(info.get("polygenic_h2"))
    except CardiolatentError:
        old_h2 = None
    if ((info.get("seed"), info.get("n"), info.get("tables_version", 1), info.get("series", "all"),
         float(info.get("incidence_scale", 1.0)), float(info.get("variant_r2", VARIANT_R2)), old_h2)
            != (int(seed), int(n), TABLES_VERSION, series, float(incidence_scale), float(variant_r2),
                polygenic_h2_by_trait(polygenic_h2))):
        drop_images(root)


def draw_eids(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unique 7-digit participant ids in random order, like a UK Biobank application's."""
    return rng.choice(np.arange(1_000_000, 6_026_000, dtype=np.int64), size=n, replace=False)


def check_polygenic_h2(polygenic_h2, variant_r2: float = VARIANT_R2) -> dict[str, float]:
    """``polygenic_h2`` as ``{trait_column: h2}`` (see :func:`cardiolatent.synth.cohort.polygenic_h2_by_trait`),
    checked against the planted variants: each trait's total h2 (its number of planted variants in
    :data:`cardiolatent.synth.genotypes.DEFAULT_CAUSAL` times ``variant_r2``, plus the background)
    must stay below 1. Raises a one-line CardiolatentError naming ``polygenic_h2``."""
    h2 = polygenic_h2_by_trait(polygenic_h2)
    for short, col in GENETIC_TRAITS.items():
        planted = DEFAULT_CAUSAL.get(short, 0) * float(variant_r2)
        if h2[col] > 0 and planted + h2[col] >= 1.0:
            raise CardiolatentError(f"polygenic_h2 for {col} ({h2[col]:g}) plus its {DEFAULT_CAUSAL.get(short, 0)} "
                                    f"planted variants' r2 ({planted:g}) is {planted + h2[col]:g}: the total h2 "
                                    "must stay below 1")
    return h2


def simulate_tables(n: int, seed: int, *, incidence_scale: float = 1.0, variant_r2: float = VARIANT_R2,
                    polygenic_h2=None):
    """Genotypes and cohort tables of :func:`make_cohort`, in memory: ``(Genotypes, SynthCohort)``.

    The same ``(n, seed, incidence_scale, variant_r2, polygenic_h2)`` always gives the same result; images
    are not part of it. ``polygenic_h2`` (``None`` / 0: off, and then the result is exactly the one
    without it): see :func:`make_cohort`. The background is drawn from its own stream
    (:func:`cardiolatent.synth.cohort.polygenic_rng`), so the genotypes and every other draw are the
    same with and without it.
    """
    ss = np.random.SeedSequence(int(seed))
    rng_eid, rng_geno, rng_cohort = (np.random.default_rng(s) for s in ss.spawn(3))
    eids = draw_eids(n, rng_eid)
    geno = simulate_genotypes(eids, rng_geno, causal_r2=variant_r2)
    return geno, simulate_cohort(n, rng_cohort, genotypes=geno, incidence_scale=incidence_scale,
                                 polygenic_h2=polygenic_h2)


#: tag of the target cohort's random streams (so that a target of seed s never repeats cohort s)
TARGET_TAG = 7


def simulate_target_tables(n: int, seed: int, *, discovery_n: int, discovery_seed: int,
                           incidence_scale: float = 1.0, variant_r2: float = VARIANT_R2, polygenic_h2=None):
    """A target cohort for polygenic scores: ``n`` new people from the population of the cohort
    ``simulate_tables(discovery_n, discovery_seed, ...)``; returns ``(Genotypes, SynthCohort)``.

    Shared with the discovery cohort: the variants (ids, positions, alleles), allele frequencies,
    LD, the planted variants and their effects, the polygenic background's effects (the same
    draws), the trait models, hazards and incidence scale. New: the people (eids drawn outside the
    discovery cohort's), their genotypes, traits, visits and outcomes. It is a cohort of its own
    (every participant with a first imaging visit, the start of follow-up, as in
    :func:`make_cohort`), written without images by :func:`make_target_cohort`.
    """
    ss = np.random.SeedSequence(int(discovery_seed))
    rng_eid, rng_geno, rng_cohort = (np.random.default_rng(s) for s in ss.spawn(3))
    disc_eids = draw_eids(discovery_n, rng_eid)
    population = genotype_population(disc_eids, rng_geno, causal_r2=variant_r2)
    background_rng = polygenic_rng(rng_cohort)  # the discovery cohort's background stream, read first
    ts = np.random.SeedSequence([TARGET_TAG, int(seed)])
    t_eid, t_geno, t_cohort = (np.random.default_rng(s) for s in ts.spawn(3))
    pool = np.setdiff1d(np.arange(1_000_000, 6_026_000, dtype=np.int64), disc_eids, assume_unique=True)
    eids = t_eid.choice(pool, size=n, replace=False)
    geno = population.draw(eids, t_geno)
    return geno, simulate_cohort(n, t_cohort, genotypes=geno, incidence_scale=incidence_scale,
                                 polygenic_h2=polygenic_h2, background_rng=background_rng)


def make_target_cohort(out: str | os.PathLike, n: int, seed: int, *, discovery_n: int, discovery_seed: int,
                       incidence_scale: float = 1.0, variant_r2: float = VARIANT_R2, polygenic_h2=None,
                       naming: str = "ukbconv_csv") -> CohortPaths:
    """Write a target cohort (:func:`simulate_target_tables`) into folder ``out``: main data,
    ``genotypes/synth.{bed,bim,fam}``, ``truth/`` tables and ``cohort.json`` (with ``target_of``:
    the discovery cohort's n and seed). No images. Replaces a folder of another recipe."""
    if n < 20:
        raise CardiolatentError(f"the target cohort needs at least 20 participants (got {n})")
    if naming not in MAIN_NAME:
        raise CardiolatentError(f"naming must be one of {sorted(MAIN_NAME)} (got {naming!r})")
    h2_bg = check_polygenic_h2(polygenic_h2, variant_r2)
    root = Path(out)
    t0 = time.perf_counter()
    geno, cohort = simulate_target_tables(n, seed, discovery_n=discovery_n, discovery_seed=discovery_seed,
                                          incidence_scale=incidence_scale, variant_r2=variant_r2,
                                          polygenic_h2=h2_bg)
    root.mkdir(parents=True, exist_ok=True)
    main_file = write_cohort_tables(root, geno, cohort, naming)
    info = {"generator": "cardiolatent synth", "version": __version__, "tables_version": TABLES_VERSION,
            "seed": int(seed), "n": int(n), "naming": naming, "main_file": main_file, "images": False,
            "incidence_scale": float(incidence_scale), "variant_r2": float(variant_r2), "polygenic_h2": h2_bg,
            "target_of": {"n": int(discovery_n), "seed": int(discovery_seed)},
            "n_variants": int(len(geno.variants)), "n_planted_variants": int(len(geno.causal)),
            "seconds_total": round(time.perf_counter() - t0, 2)}
    write_text_atomic(root / "cohort.json", json.dumps(info, indent=2) + "\n")
    return CohortPaths(root)
