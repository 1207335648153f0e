"""The README's Python snippets run as written.

Every ```python block of README.md is executed in order, in one namespace, in a folder holding
the files the snippets name: ``ukb12345.csv`` (the small synthetic cohort's main data),
``1234567_20208_2_0.zip`` (one of its bulk zips), ``synth/truth/acquisition.tsv`` (its nuisance
truth) and ``latents.parquet`` (two seeds' latents of
that cohort, a stand-in built from its truth).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.slow
def test_readme_python_snippets_run_as_written(small_cohort, tmp_path, monkeypatch):
    blocks = python_blocks()
    assert len(blocks) >= 3
    shutil.copy(small_cohort.main, tmp_path / "ukb12345.csv")
    zips = sorted(Path(small_cohort.bulk).glob("*_20208_2_0.zip"))
    shutil.copy(zips[0], tmp_path / "1234567_20208_2_0.zip")
    (tmp_path / "synth" / "truth").mkdir(parents=True)
    shutil.copy(small_cohort.truth / "acquisition.tsv", tmp_path / "synth" / "truth" / "acquisition.tsv")
    truth = pd.read_csv(small_cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(0)
    parts = []
    for seed in (1701, 1993):
        d = truth[["eid", "instance"]].assign(seed=seed)
        for k in range(4):
            d[f"Z{k}"] = (truth["lvedv_ml"] * (k + 1) + rng.normal(0, 10, len(truth))).astype(np.float32)
        parts.append(d)
    pd.concat(parts, ignore_index=True).to_parquet(tmp_path / "latents.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md python block {i + 1}", "exec"), ns)  # noqa: S102 - our own README
    # what the snippets promise
    assert ns["z"].shape == (1, ns["model"].config.latent_dim)
    assert float(ns["x_hat"].min()) >= -1 and float(ns["x_hat"].max()) <= 1
    assert (tmp_path / "icc_seeds.summary.json").exists() and (tmp_path / "icc_seeds.excluded.tsv").exists()
