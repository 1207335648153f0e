"""`cardiolatent encode --cluster local:N` (issue 19, part 1): shards encoded by the workers of a
LocalCluster(processes=True, one thread each) and merged give exactly the single-process table, also
when a worker dies mid-shard; bad cluster options are one-line errors; the GPU claim gives each
worker process of a job its own GPU.

Inputs as tests/test_encode_shards.py: 10 participants' zips of the small cohort plus one broken zip
(so the readable inputs, 10, are not a multiple of the batch size 4), two demo models (seeds 1701,
1993), chunk size 2 (every shard commits several parts).
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
from _cli_helpers import one_line_cli_error

pytest.importorskip("distributed", reason="the optional extra cardiolatent[dask] (dask, distributed) is not installed")

import cardiolatent.encode.distributed as ed  # noqa: E402
from cardiolatent.cli import main  # noqa: E402
from cardiolatent.errors import CardiolatentError  # noqa: E402
from cardiolatent.model.pipeline import demo_weight_files  # noqa: E402

N_INPUTS = 10
SETTINGS = ["--batch-size", "4", "--chunk-size", "2", "--workers", "0", "--quiet"]


def _argv(listing, out, *extra) -> list[str]:
    return ["encode", "--images", str(listing), "--weights", *[str(p) for p in demo_weight_files()[:2]], *SETTINGS,
            *extra, "--out", str(out)]


@pytest.fixture(scope="module")
def single(small_cohort, tmp_path_factory):
    """The input list and the single-process run's table (the reference)."""
    root = tmp_path_factory.mktemp("encode_dask")
    zips = sorted(small_cohort.bulk.rglob("*_20208_*.zip"))[:N_INPUTS]
    bad = root / "bad" / "1000000_20208_2_0.zip"
    bad.parent.mkdir()
    bad.write_bytes(b"not a zip")
    listing = root / "inputs.txt"
    listing.write_text("".join(f"{p}\n" for p in zips + [bad]))
    assert main(_argv(listing, root / "single.parquet")) == 0
    return root, listing


def _check_same_as_single(root, out) -> None:
    ref = pd.read_parquet(root / "single.parquet")
    got = pd.read_parquet(out)
    assert ref[["eid", "instance"]].drop_duplicates().shape[0] == N_INPUTS
    pd.testing.assert_frame_equal(got, ref, check_exact=True)   # bit for bit: float32 compared exactly
    assert out.with_name(out.name.replace(".parquet", ".qc.tsv")).read_bytes() == \
        (root / "single.qc.tsv").read_bytes()
    assert not ed.shards_dir_for(out).exists()                   # the shards are removed after the merge


@pytest.mark.slow
def test_local_cluster_equals_single_process_run(single, tmp_path, capsys, monkeypatch):
    root, listing = single
    seen = []
    real = ed.encode_on_cluster

    def spy(client, spec, *a, **kw):
        res = real(client, spec, *a, **kw)
        seen.append((len(client.scheduler_info()["workers"]), res))
        return res

    monkeypatch.setattr(ed, "encode_on_cluster", spy)
    out = tmp_path / "cluster.parquet"
    assert main(_argv(listing, out, "--cluster", "local:2")) == 0
    assert "4 shards on 2 workers" in capsys.readouterr().out
    _check_same_as_single(root, out)
    (n_workers, res), = seen
    assert n_workers == 2 and res.timing["n_shards"] == 4 and res.timing["n_resumed"] == 0
    assert [s["shard"] for s in res.shards] == [1, 2, 3, 4] and {s["device"] for s in res.shards} == {"cpu"}
    assert len({s["pid"] for s in res.shards}) == 2               # both worker processes encoded shards
    assert sum(s["n_inputs"] for s in res.shards) == N_INPUTS + 1  # every input in one shard (the broken one too)


@pytest.mark.slow
def test_a_worker_killed_mid_run_ends_with_the_same_table(single, tmp_path, monkeypatch):
    """The first shard task kills its own worker process right after committing one part; Dask
    reschedules the shard, which resumes from its committed part; the table is the same."""
    root, listing = single
    marker = tmp_path / "killed"
    monkeypatch.setenv(ed.KILL_WORKER_ONCE_ENV, str(marker))   # inherited by the worker processes
    seen = []
    real = ed.encode_on_cluster
    monkeypatch.setattr(ed, "encode_on_cluster", lambda *a, **kw: seen.append(real(*a, **kw)) or seen[-1])
    out = tmp_path / "cluster.parquet"
    assert main(_argv(listing, out, "--cluster", "local:2", "--shards", "3")) == 0
    assert marker.exists()
    _check_same_as_single(root, out)
    res, = seen
    assert res.timing["n_shards"] == 3
    # the shard whose worker died was finished by a later attempt that took its first part from the store
    assert res.timing["n_resumed"] >= 2
    assert len({s["pid"] for s in res.shards}) >= 2


@pytest.mark.parametrize("argv_extra, words", [
    (["--cluster", "local:0"], ["--cluster local:N", "local:0"]),
    (["--cluster", "lokal:2"], ["--cluster must be local:N or slurm", "lokal:2"]),
    (["--cluster", "slurm"], ["--cluster slurm needs --cluster-config"]),
    (["--scheduler", "localhost:8786"], ["--scheduler", "tcp://HOST:PORT"]),
    (["--cluster", "local:2", "--scheduler", "tcp://h:8786"], ["either --cluster or --scheduler"]),
    (["--cluster", "local:2", "--shard", "1/2"], ["--shard", "--cluster/--scheduler"]),
    (["--shards", "4"], ["--shards K is used with --cluster"]),
    (["--cluster", "local:2", "--shards", "0"], ["--shards must be at least 1"]),
    (["--cluster", "local:2", "--dtype", "bf16"], ["--dtype bf16 needs --device cuda"]),
])
def test_bad_cluster_options_are_one_line(argv_extra, words, tmp_path, capsys):
    out = tmp_path / "x.parquet"
    one_line_cli_error(capsys, ["encode", "--images", str(tmp_path), *argv_extra, "--out", str(out), "--quiet"], *words)
    assert not out.exists() and not ed.shards_dir_for(out).exists()


def test_bad_cluster_config_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "cluster.toml"
    cfg.write_text('cores = 8\nmemory = "32GB"\ngpu = 1\n')     # gpus misspelt
    one_line_cli_error(capsys, ["encode", "--images", str(tmp_path), "--cluster", "slurm", "--cluster-config", str(cfg),
                             "--out", str(tmp_path / "x.parquet")], str(cfg), "unknown key", "gpu")


def test_merge_with_cluster_is_refused(tmp_path, capsys):
    one_line_cli_error(capsys, ["encode", "--merge", str(tmp_path / "a.parquet"), "--cluster", "local:2",
                             "--out", str(tmp_path / "x.parquet")], "--merge")


def test_shard_count():
    assert ed.plan_shard_count(1000, 2) == 4 and ed.plan_shard_count(1000, 3, 10) == 10
    assert ed.plan_shard_count(3, 4) == 3 and ed.plan_shard_count(0, 2) == 1   # never more shards than inputs


def test_each_worker_process_claims_its_own_gpu(tmp_path, monkeypatch):
    """Two worker processes of a job with CUDA_VISIBLE_DEVICES=2,5 get GPU 2 and GPU 5 (each then
    sees only its own as cuda:0); a third shares. Simulated in one process: a lock file opened
    again conflicts with the one held, as it does across processes."""
    claims = []
    for _ in range(3):
        monkeypatch.setattr(ed, "_GPU_LOCK", {})               # a new worker process
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
        claims.append((ed.claim_gpu(tmp_path), os.environ["CUDA_VISIBLE_DEVICES"], ed._GPU_LOCK.get("fd")))
    assert [c[:2] for c in claims[:2]] == [("cuda:0", "2"), ("cuda:0", "5")]
    assert claims[2][0] == "cuda:0" and claims[2][1] in ("2", "5") and claims[2][2] is None
    assert ed.claim_gpu(tmp_path) == "cuda:0"                  # a process keeps its GPU
    for c in claims[:2]:
        os.close(c[2])                                         # the processes end: the GPUs are free again
    monkeypatch.setattr(ed, "_GPU_LOCK", {})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert ed.claim_gpu(tmp_path) == "cuda:0" and os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    os.close(ed._GPU_LOCK["fd"])
    monkeypatch.setattr(ed, "_GPU_LOCK", {})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    with pytest.raises(CardiolatentError, match="sees no GPU"):
        ed.claim_gpu(tmp_path)


def test_slurm_job_script_for_encode(tmp_path):
    """encode's SLURM jobs (built, never submitted): one worker process per GPU, --gres, and worker
    processes that may start reading processes (not daemonic)."""
    pytest.importorskip("dask_jobqueue")
    import cardiolatent.scale.dask as sd

    cfg = {"cores": 16, "memory": "64GB", "gpus": 4, "walltime": "01:00:00", "queue": "gpu", "account": "grp"}
    cluster = sd.slurm_cluster(cfg, job_script_prologue=[sd.NO_DAEMON_PROLOGUE])
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH --gres=gpu:4", "#SBATCH -p gpu", "#SBATCH -A grp", "#SBATCH -t 01:00:00",
                 "#SBATCH --cpus-per-task=16", sd.NO_DAEMON_PROLOGUE, "--nworkers 4"):
        assert line in script, (line, script)
    assert script.index(sd.NO_DAEMON_PROLOGUE) < script.index("distributed.cli.dask_worker")
