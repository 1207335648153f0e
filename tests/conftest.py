"""Shared fixtures: synthetic cohorts built once per test run (shared between xdist workers)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per xdist worker: two workers on two cores, no OpenMP oversubscription.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _main_cache_in_tmp(tmp_path_factory):
    """read_main's column cache goes to a temporary folder, never the user's ~/.cache (also for
    commands run in subprocesses: they inherit the environment)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARDIOLATENT_MAIN_CACHE", str(tmp_path_factory.mktemp("main_cache")))
        yield


@pytest.fixture(scope="session", autouse=True)
def _builtin_cohort_small():
    """The built-in cohort has 200 participants in tests (the default, 1,800 with images, is too big
    for CI; tests/test_synth_default.py builds that one's tables in a slow test). Commands run in
    subprocesses inherit it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARDIOLATENT_BUILTIN_N", "200")
        yield


#: the cohorts tests use (seed, n, images)
SMALL = dict(n=120, seed=7, images=True)
GWAS = dict(n=2000, seed=11, images=False)


def _shared_root(tmp_path_factory) -> Path:
    # The parent of the per-worker basetemp is common to all xdist workers of one run.
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / "cohorts"


def _build(tmp_path_factory, name: str, spec: dict):
    from cardiolatent.synth.build import CohortPaths, make_cohort

    root = _shared_root(tmp_path_factory)
    root.mkdir(parents=True, exist_ok=True)
    out = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "cohort.json").exists():
            make_cohort(out, n=spec["n"], seed=spec["seed"], images=spec["images"], workers=1, progress=False)
    return CohortPaths(out)


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory):
    """120 participants with bulk DICOM zips (about 12 with a repeat visit)."""
    return _build(tmp_path_factory, "small", SMALL)


@pytest.fixture(scope="session")
def gwas_cohort(tmp_path_factory):
    """2,000 participants without images: enough power for the planted variants."""
    return _build(tmp_path_factory, "gwas", GWAS)
