"""`cardiolatent encode` with the shipped demo weights, then `ensemble`, on the synthetic cohort."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from cardiolatent.cli import main
from cardiolatent.model.pipeline import DEMO_SEEDS, demo_weight_files


def test_demo_weights_ship_with_their_config():
    from cardiolatent.model.weights import config_from_file

    files = demo_weight_files()
    assert len(files) == 5
    for f, seed in zip(files, DEMO_SEEDS):
        assert f.stat().st_size <= 5_000_000
        cfg = config_from_file(f)
        assert cfg.name == "demo" and cfg.seed == seed and cfg.latent_dim == 128


def test_encode_then_ensemble(small_cohort, tmp_path, capsys):
    out = tmp_path / "latents.parquet"
    # one broken input among the zips: it is excluded with a reason, the run goes on
    bad = tmp_path / "in" / "1000000_20208_2_0.zip"
    bad.parent.mkdir()
    bad.write_bytes(b"not a zip")
    assert main(["encode", "--images", str(small_cohort.bulk), str(bad.parent), "--out", str(out),
                 "--workers", "2", "--quiet"]) == 0
    lat = pd.read_parquet(out)
    manifest = pd.read_csv(small_cohort.bulk_manifest, sep="\t")
    assert len(lat) == 5 * len(manifest)
    assert list(lat.columns[:3]) == ["eid", "instance", "seed"] and lat.columns[-1] == "Z127"
    assert set(lat["seed"]) == set(DEMO_SEEDS)
    assert all(lat[f"Z{k}"].dtype == np.float32 for k in range(128))
    qc = pd.read_csv(tmp_path / "latents.qc.tsv", sep="\t")
    assert list(qc["eid"]) == [1000000] and qc["reason"].iloc[0] == "not_a_zip"

    # the same command again: bit-identical table (deterministic on CPU)
    again = tmp_path / "again.parquet"
    assert main(["encode", "--images", str(small_cohort.bulk), "--out", str(again), "--workers", "0",
                 "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(again), lat, check_exact=True)

    ens = tmp_path / "ens"
    assert main(["ensemble", "--latents", str(out), "--out", str(ens), "--quiet"]) == 0
    summary = json.loads((ens / "summary.json").read_text())
    assert summary
    wide = pd.read_parquet(ens / "ensemble_wide.parquet")
    assert len(wide) == manifest["eid"].nunique()  # visit 2 preferred, one row per participant

    # ... -> export: the real producers' files, not hand-written ones
    exp = tmp_path / "export"
    assert main(["export", "--latents", str(ens / "ensemble_wide.parquet"), "--ukb", str(small_cohort.main),
                 "--format", "plink2", "--covariates", "age,sex", "--out", str(exp), "--quiet"]) == 0
    pheno = pd.read_csv(exp / "pheno.txt", sep="\t")
    man = json.loads((exp / "manifest.json").read_text())
    assert list(pheno.columns[2:]) == [c for c in wide.columns if c.startswith("E_Z")]
    assert len(pheno) == man["participants"]["written"] > 0.9 * len(wide)
    excluded = pd.read_csv(exp / "excluded.tsv", sep="\t")
    assert len(pheno) + len(excluded) == len(wide)  # every participant written or excluded with a reason
