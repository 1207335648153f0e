"""assoc and cox on a Dask cluster (issue 19, part 2): chunks of latents fitted on the workers of a
LocalCluster(processes=True) give exactly the one-process tables; the SLURM job script from a
cluster.toml (built, never submitted); bad cluster options and a missing dask are one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed", reason="the optional extra cardiolatent[dask] (dask, distributed) is not installed")
pytest.importorskip("dask_jobqueue", reason="the optional extra cardiolatent[dask] (dask-jobqueue) is not installed")

import cardiolatent.scale.dask as sd  # noqa: E402
from _latents_helpers import random_long_latents  # noqa: E402
from cardiolatent.cli import main  # noqa: E402
from cardiolatent.errors import CardiolatentError  # noqa: E402


@pytest.fixture(scope="module")
def inputs(gwas_cohort, tmp_path_factory):
    """2,000 participants; 3 seeds x 50 latents (150: several OLS, Cox and logistic chunks), some
    carrying the planted LV volume so that models are not all null."""
    d = tmp_path_factory.mktemp("dask_scans")
    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(19)
    lat = random_long_latents(truth, rng, seeds=(1701, 1993, 42), k=50)
    lv = truth["lvedv_ml"].to_numpy(float)
    lv = np.tile((lv - np.nanmean(lv)) / np.nanstd(lv), 3)
    for j in range(0, 50, 7):
        lat[f"Z{j}"] = (lat[f"Z{j}"].to_numpy(float) + 0.5 * j / 50 * lv).astype(np.float32)
    lat.to_parquet(d / "lat.parquet")
    return dict(dir=d, ukb=str(gwas_cohort.main), lat=str(d / "lat.parquet"))


@pytest.fixture
def spy(monkeypatch):
    """Records each map_chunks call: the number of chunks and of workers that held the results."""
    calls = []
    real = sd.map_chunks

    def recording(fn, chunks, client, *, shared=None):
        out = real(fn, chunks, client, shared=shared)
        calls.append({"chunks": len(chunks), "workers": len(client.scheduler_info()["workers"])})
        return out

    monkeypatch.setattr(sd, "map_chunks", recording)
    return calls


def _run(inputs, argv, out):
    argv = argv + ["--latents", inputs["lat"], "--ukb", inputs["ukb"], "--out", str(out), "--quiet"]
    assert main(argv) == 0
    return pd.read_parquet(out), json.loads(out.with_name(out.name.replace(".parquet", ".summary.json")).read_text())


SCANS = {
    "assoc_ols": ["assoc", "--traits", "bmi,AF,lvedv", "--covariates", "age,sex,centre"],
    "assoc_logistic": ["assoc", "--outcomes", "AF,MI", "--covariates", "age,sex", "--direction", "outcome",
                       "--min-cases", "5"],
    "cox": ["cox", "--outcomes", "AF,MI", "--covariates", "age,sex"],
}


def test_scans_on_a_local_cluster_equal_the_one_process_scans_exactly(inputs, spy):
    d = inputs["dir"]
    for name, argv in SCANS.items():
        one, s_one = _run(inputs, argv, d / f"{name}.one.parquet")
        assert not spy, f"{name}: the one-process scan used the cluster"
        dist, s_dist = _run(inputs, argv + ["--cluster", "local:2"], d / f"{name}.dask.parquet")
        assert spy and spy[-1]["workers"] == 2, (name, spy)
        # the latents really were split (150 latents: OLS chunks of 32, Cox of 32, logistic of 128)
        assert spy[-1]["chunks"] == {"assoc_ols": 5, "assoc_logistic": 2, "cox": 5}[name], (name, spy)
        spy.clear()
        assert len(one) >= 150 and (one["status"] == "ok").mean() > 0.9, name
        pd.testing.assert_frame_equal(dist, one, check_exact=True)  # same rows, same bits
        s_one.pop("files"), s_dist.pop("files")  # named after --out
        assert s_dist == s_one, name  # counts, notes, thresholds


def test_slurm_job_script_from_cluster_toml(tmp_path):
    toml = tmp_path / "cluster.toml"
    toml.write_text('cores = 8\nmemory = "32GB"\nwalltime = "02:00:00"\ngpus = 2\nqueue = "gpu"\n'
                    'account = "cardio"\njobs = 3\n')
    spec = sd.parse_cluster("slurm", None, str(toml))
    assert spec.kind == "slurm" and spec.config["jobs"] == 3
    cluster = sd.slurm_cluster(spec.config)  # built, never scaled: nothing is submitted
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    sbatch = {line.strip() for line in script.splitlines() if line.startswith("#SBATCH")}
    for directive in ("#SBATCH --cpus-per-task=8", "#SBATCH -t 02:00:00", "#SBATCH -p gpu", "#SBATCH -A cardio",
                      "#SBATCH --gres=gpu:2"):
        assert directive in sbatch, (directive, sorted(sbatch))
    mem = [s for s in sbatch if s.startswith("#SBATCH --mem=")]
    assert mem == ["#SBATCH --mem=30G"], sbatch  # 32 GB = 29.8 GiB, rounded up by dask-jobqueue
    assert "--nworkers 2" in script and "--nthreads 4" in script  # one worker per GPU, 8 cores shared

    toml.write_text('cores = 4\nmemory = "8GB"\n')
    cluster = sd.slurm_cluster(sd.parse_cluster("slurm", None, str(toml)).config)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "--gres" not in script and "#SBATCH --cpus-per-task=4" in script
    assert "--nthreads 4" in script and "--nworkers" not in script  # one worker process, 4 threads


BAD = {
    "local_zero": (["--cluster", "local:0"], "--cluster local:N needs N >= 1 worker processes, not 'local:0'"),
    "local_word": (["--cluster", "local:many"], "--cluster must be local:N or slurm"),
    "slurm_without_config": (["--cluster", "slurm"], "--cluster slurm needs --cluster-config cluster.toml"),
    "unknown_key": (["--cluster", "slurm", "--cluster-config", "{dir}/bad.toml"],
                    "--cluster-config {dir}/bad.toml: unknown key(s) gpu_count; known: cores, memory"),
    "missing_config": (["--cluster", "slurm", "--cluster-config", "{dir}/none.toml"],
                       "--cluster-config {dir}/none.toml: no such file"),
    "config_alone": (["--cluster-config", "{dir}/bad.toml"], "--cluster-config is used with --cluster slurm"),
    "both": (["--cluster", "local:2", "--scheduler", "tcp://h:8786"], "give either --cluster or --scheduler"),
    "scheduler_no_port": (["--scheduler", "myhost"], "--scheduler must be an address like tcp://HOST:PORT"),
}


@pytest.mark.parametrize("command", ["assoc", "cox"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_cluster_options_are_one_line_errors_before_any_work(case, command, tmp_path, capsys, monkeypatch):
    (tmp_path / "bad.toml").write_text('cores = 4\nmemory = "8GB"\ngpu_count = 1\n')
    import cardiolatent.commands._common as common

    monkeypatch.setattr(common, "analysis_inputs", lambda *a, **k: pytest.fail("inputs read before the check"))
    opts, expect = BAD[case]
    argv = [command] + (["--traits", "bmi"] if command == "assoc" else []) + [o.format(dir=tmp_path) for o in opts]
    assert main(argv + ["--latents", str(tmp_path / "absent.parquet"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert expect.format(dir=tmp_path) in err, err


@pytest.mark.parametrize("opts", [["--cluster", "local:2"], ["--scheduler", "tcp://127.0.0.1:8786"]])
@pytest.mark.parametrize("command", ["assoc", "cox"])
def test_without_dask_the_options_say_how_to_install_it(command, opts, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sd, "HAVE_DASK", False)
    argv = [command] + (["--traits", "bmi"] if command == "assoc" else []) + opts
    assert main(argv + ["--latents", str(tmp_path / "absent.parquet"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"error: {sd.INSTALL_MESSAGE}"] or err.endswith(sd.INSTALL_MESSAGE), err
    assert len(err.splitlines()) == 1, err
    with pytest.raises(CardiolatentError, match=r"pip install 'cardiolatent\[dask\]'"):
        sd.require_dask()


def test_map_chunks_sends_shared_once_and_keeps_order():
    """map_chunks on a real 2-process cluster: results in the chunks' order, the shared object
    reaching every chunk; a CardiolatentError raised on a worker comes back as itself."""
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    with sd.connect(sd.ClusterSpec("local", workers=2), quiet=True) as client:
        chunks = [np.arange(k, k + 3) for k in range(0, 30, 3)]
        out = sd.map_chunks(_weighted_sum, chunks, client, shared={"w": np.array([1.0, 10.0, 100.0])})
        assert out == [float(c @ [1.0, 10.0, 100.0]) for c in chunks]
        with pytest.raises(CardiolatentError, match="chunk 3 refused"):
            sd.map_chunks(_refuse, [1, 2, 3], client, shared=None)


def _weighted_sum(chunk, shared):
    return float(chunk @ shared["w"])


def _refuse(chunk, shared):
    if chunk == 3:
        raise CardiolatentError("chunk 3 refused")
    return chunk
