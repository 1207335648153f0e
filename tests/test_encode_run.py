"""The encoding engine (encode/run.py): batching, QC, resumability, determinism."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cardiolatent.encode import run as encode_run
from cardiolatent.encode.run import EXIT_AFTER_CHUNKS_ENV, encode_inputs, parts_dir_for, qc_path_for
from cardiolatent.errors import CardiolatentError
from cardiolatent.images.readers import InputItem, discover_inputs
from cardiolatent.synth.dicom import write_bulk_zip, write_h5, write_nifti
from cardiolatent.synth.phantom import render_cine

PARAMS = dict(lvedv_ml=150.0, lvef_pct=60.0, lvwt_mm=9.0, lav_ml=70.0, rvedv_ml=160.0, heart_rate_bpm=65.0)
HERE = Path(__file__).resolve().parent


class TinyEncoder(torch.nn.Module):
    """Stand-in encoder: fixed-seed Conv3d + pooling + linear -> ``latent_dim`` latents."""

    def __init__(self, seed: int, input_shape=(16, 32, 32), latent_dim: int = 8, delay: float = 0.0):
        super().__init__()
        self.seed, self.input_shape, self.latent_dim, self.delay = seed, tuple(input_shape), latent_dim, delay
        self.conv = torch.nn.Conv3d(1, 4, 3, padding=1)
        self.lin = torch.nn.Linear(4 * 8, latent_dim)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.float32 and tuple(x.shape[1:]) == (1,) + self.input_shape
        if self.delay:
            time.sleep(self.delay)
        h = torch.relu(self.conv(x))
        return self.lin(torch.nn.functional.adaptive_avg_pool3d(h, 2).flatten(1))


def fast_prepare(frames):
    """Cheap stand-in for the published recipe: subsample to (50, 32, 32), min-max to [-1, 1]."""
    x = np.asarray(frames, np.float32)
    r, c = x.shape[1] // 32, x.shape[2] // 32
    x = x[:, : 32 * r: r, : 32 * c: c]
    if float(x.std(axis=0).max()) == 0.0:
        from cardiolatent.errors import PreparationError

        raise PreparationError("cannot find the heart: the frames do not change over time (empty mask)")
    x = (x - x.min()) / (x.max() - x.min() + np.float32(1e-6))
    return (x - 0.5) / 0.5


def fast_resample(volume, shape):
    t = np.linspace(0, volume.shape[0] - 1, shape[0]).round().astype(int)
    h = np.linspace(0, volume.shape[1] - 1, shape[1]).round().astype(int)
    w = np.linspace(0, volume.shape[2] - 1, shape[2]).round().astype(int)
    return volume[t][:, h][:, :, w]


def _cine(seed, view="4Ch", frames=50):
    return render_cine(PARAMS, view=view, rng=np.random.default_rng(seed), frames=frames, shape=(140, 132))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Zips (good and bad), NIfTI, npy and HDF5 inputs: 9 good participant-instances, 5 bad ones."""
    root = tmp_path_factory.mktemp("enc_inputs")
    z = root / "bulk"
    z.mkdir()
    for k, (eid, inst) in enumerate([(1000001, 2), (1000002, 2), (1000002, 3), (1000003, 2)]):
        write_bulk_zip(z / f"{eid}_20208_{inst}_0.zip", eid, inst, {"4Ch": _cine(k)}, study_date="2016-01-02")
    write_bulk_zip(z / "1000010_20208_2_0.zip", 1000010, 2, {"2Ch": _cine(10, "2Ch")}, study_date="2016-01-02")
    write_bulk_zip(z / "1000011_20208_2_0.zip", 1000011, 2, {"4Ch": _cine(11, frames=49)}, study_date="2016-01-02")
    (z / "1000012_20208_2_0.zip").write_bytes(b"PK\x03\x04 truncated")
    o = root / "other"
    o.mkdir()
    write_nifti(o / "1000004_20208_2_0_LAX_4Ch.nii.gz", _cine(4))
    np.save(o / "1000005_2.npy", _cine(5).pixels)
    np.save(o / "1000013_2.npy", np.full((50, 140, 132), 7, np.uint16))          # no motion: empty mask
    np.save(o / "1000001_2_copy.npy", _cine(0).pixels)                           # duplicate of a zip
    for eid in (1000006, 1000007, 1000008):
        write_h5(o / "F20208_LAX_4Ch.h5", eid, 2, _cine(eid))
    return root


@pytest.fixture(scope="module")
def npy_inputs(tmp_path_factory):
    """10 small npy cines for the resume tests (fast to read)."""
    root = tmp_path_factory.mktemp("npy")
    rng = np.random.default_rng(0)
    base = rng.integers(0, 800, size=(1, 64, 64))
    for k in range(10):
        wave = (np.sin(np.linspace(0, 2 * np.pi, 50))[:, None, None] * (100 + 10 * k)).astype(int)
        frames = base + wave * (np.arange(64)[None, :, None] > 20) + rng.integers(0, 50, size=(50, 64, 64))
        np.save(root / f"{2000000 + k}_2.npy", np.clip(frames, 0, 4000).astype(np.uint16))
    return root


def _encoders(delay=0.0):
    return [TinyEncoder(3, delay=delay), TinyEncoder(1, delay=delay), TinyEncoder(2, (8, 16, 16), delay=delay)]


def _check_table(df, d=8):
    assert list(df.columns) == ["eid", "instance", "seed"] + [f"Z{k}" for k in range(d)]
    assert [str(t) for t in df.dtypes[:3]] == ["int64"] * 3
    assert all(str(t) == "float32" for t in df.dtypes[3:])
    keys = list(zip(df["eid"], df["instance"], df["seed"]))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert np.isfinite(df.iloc[:, 3:].to_numpy()).all()


@pytest.fixture(scope="module")
def baseline(cohort, tmp_path_factory):
    """Every input kind through the published recipe (real prepare + resample), in this process."""
    out = tmp_path_factory.mktemp("enc_out") / "latents.parquet"
    items = discover_inputs([cohort])
    res = encode_inputs(items, _encoders(), out, batch_size=3, workers=0, progress=False, chunk_size=4)
    return items, res


def test_all_inputs_encoded_and_qc(baseline):
    items, res = baseline
    df = res.latents
    _check_table(df)
    good = {(1000001, 2), (1000002, 2), (1000002, 3), (1000003, 2), (1000004, 2), (1000005, 2),
            (1000006, 2), (1000007, 2), (1000008, 2)}
    assert set(zip(df["eid"], df["instance"])) == good
    assert sorted(set(df["seed"])) == [1, 2, 3] and len(df) == 3 * len(good)
    qc = res.qc
    assert list(qc.columns) == ["eid", "instance", "path", "reason", "detail"]
    reasons = dict(zip(qc["eid"].astype(int), qc["reason"]))
    assert reasons == {1000001: "duplicate_input", 1000010: "no_4ch_series", 1000011: "wrong_frame_count",
                       1000012: "not_a_zip", 1000013: "empty_mask"}
    assert qc.loc[qc["reason"] == "wrong_frame_count", "detail"].tolist() == ["49"]
    assert "CINE_segmented_LAX_2Ch" in qc.loc[qc["reason"] == "no_4ch_series", "detail"].iloc[0]
    # files: latents table, QC next to it, no parts left behind
    assert res.path.exists() and res.qc_path == res.path.with_name("latents.qc.tsv")
    pd.testing.assert_frame_equal(pd.read_parquet(res.path), df)
    back = pd.read_csv(res.qc_path, sep="\t")
    assert back["reason"].tolist() == qc["reason"].tolist()
    assert not parts_dir_for(res.path).exists()
    assert res.timing["n_encoded"] == 9 and res.timing["n_excluded"] == 5
    assert res.timing["decode_prepare_mean"] > 0


def test_latents_match_a_direct_computation(baseline):
    from cardiolatent.images.prepare import prepare, resample
    from cardiolatent.images.readers import read_frames

    items, res = baseline
    it = next(i for i in items if i.kind == "h5")
    frames, _ = read_frames(it)
    x = prepare(frames)
    for enc in _encoders():
        v = x if tuple(x.shape) == enc.input_shape else resample(x, enc.input_shape)
        with torch.no_grad():
            z = enc.encode(torch.from_numpy(np.asarray(v, np.float32))[None, None]).numpy()[0]
        row = res.latents[(res.latents["eid"] == it.eid) & (res.latents["seed"] == enc.seed)]
        np.testing.assert_allclose(row.iloc[0, 3:].to_numpy(np.float32), z, rtol=1e-5, atol=1e-6)


def test_same_arguments_bit_identical_any_worker_count(baseline, cohort, tmp_path):
    items, res = baseline
    out = tmp_path / "again.parquet"
    res2 = encode_inputs(discover_inputs([cohort]), _encoders(), out, batch_size=3, workers=2, progress=False,
                         chunk_size=4)
    assert res2.latents.equals(res.latents)
    assert out.read_bytes() == res.path.read_bytes()
    assert res2.qc.equals(res.qc)


def test_tsv_output_round_trips(npy_inputs, tmp_path):
    items = discover_inputs(npy_inputs)
    kw = dict(batch_size=4, workers=0, progress=False, prepare_fn=fast_prepare, resample_fn=fast_resample)
    a = encode_inputs(items, _encoders(), tmp_path / "z.parquet", **kw)
    b = encode_inputs(items, _encoders(), tmp_path / "z.tsv.gz", **kw)
    assert b.qc_path.name == "z.qc.tsv"
    back = encode_run.read_latents_table(tmp_path / "z.tsv.gz")
    pd.testing.assert_frame_equal(back, a.latents)       # float32 text is exact


def _run_args(inputs_dir, out, delay=0.0):
    return dict(items=discover_inputs(inputs_dir), encoders=_encoders(delay), out_path=out, batch_size=2,
                workers=1, progress=False, chunk_size=3, prepare_fn=fast_prepare, resample_fn=fast_resample)


def _subprocess(inputs_dir, out, delay, env_extra=None):
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_encode_run as t; "
            f"from cardiolatent.encode.run import encode_inputs; "
            f"encode_inputs(**t._run_args({str(inputs_dir)!r}, {str(out)!r}, {delay!r}))")
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def uninterrupted(npy_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "latents.parquet"
    return encode_inputs(**_run_args(npy_inputs, out))


def test_resume_after_abrupt_exit_is_identical(npy_inputs, uninterrupted, tmp_path):
    out = tmp_path / "latents.parquet"
    p = _subprocess(npy_inputs, out, 0.0, {EXIT_AFTER_CHUNKS_ENV: "2"})
    _, err = p.communicate(timeout=120)
    assert p.returncode == 75, err.decode()[-2000:]
    parts = parts_dir_for(out)
    assert sorted(q.name for q in parts.glob("part-*.parquet")) == [
        "part-00000.parquet", "part-00000.qc.parquet", "part-00001.parquet", "part-00001.qc.parquet"]
    assert not out.exists() and (parts / "manifest.json").exists()
    # different arguments: refuses to mix runs, and leaves the parts alone
    args = _run_args(npy_inputs, out)
    with pytest.raises(CardiolatentError, match="batch_size"):
        encode_inputs(**dict(args, batch_size=3))
    with pytest.raises(CardiolatentError, match="encoders"):
        encode_inputs(**dict(args, encoders=_encoders()[:2]))
    with pytest.raises(CardiolatentError, match="inputs_sha256"):
        encode_inputs(**dict(args, items=args["items"][:-1]))
    assert len(list(parts.glob("part-*.parquet"))) == 4
    # the same arguments: resumes (chunks 0 and 1 are not recomputed) and gives the same table
    res = encode_inputs(**args)
    assert res.timing["n_resumed"] == 6
    assert out.read_bytes() == uninterrupted.path.read_bytes()
    assert res.latents.equals(uninterrupted.latents)
    assert qc_path_for(out).read_bytes() == uninterrupted.qc_path.read_bytes()
    assert not parts.exists()
    # starting afresh over existing parts gives the same table too
    p = _subprocess(npy_inputs, out, 0.0, {EXIT_AFTER_CHUNKS_ENV: "1"})
    p.communicate(timeout=120)
    assert p.returncode == 75
    res = encode_inputs(**dict(args, resume=False))
    assert res.timing["n_resumed"] == 0 and out.read_bytes() == uninterrupted.path.read_bytes()


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if text.encode() in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def _wait_for_the_lock_to_be_free(out: Path, timeout: float = 30.0) -> None:
    """A killed run's output lock goes when the last process holding it (the run, a worker forked
    from it) has exited; on a loaded machine that can lag the kill. Wait for it, then go on."""
    import fcntl

    lock = out.with_name(f".{out.name}.lock")
    t0 = time.time()
    while lock.exists() and time.time() - t0 < timeout:
        with open(lock, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            fcntl.flock(fh, fcntl.LOCK_UN)
            return


def test_resume_after_sigkill_is_identical(npy_inputs, uninterrupted, tmp_path):
    out = tmp_path / "latents.parquet"
    p = _subprocess(npy_inputs, out, 0.25)
    first = parts_dir_for(out) / "part-00000.parquet"
    t0 = time.time()
    while not first.exists() and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    assert p.poll() is None, p.stderr.read().decode()[-2000:]
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL and not out.exists()
    if sys.platform.startswith("linux"):       # the reading worker died with its parent
        t0 = time.time()
        while _processes_mentioning(str(out)) and time.time() - t0 < 10:
            time.sleep(0.05)
        assert not _processes_mentioning(str(out))
    _wait_for_the_lock_to_be_free(out)
    res = encode_inputs(**_run_args(npy_inputs, out))
    assert res.timing["n_resumed"] >= 3
    assert out.read_bytes() == uninterrupted.path.read_bytes()
    assert res.latents.equals(uninterrupted.latents)


def test_device_dtype_and_encoder_errors(npy_inputs, tmp_path):
    items = discover_inputs(npy_inputs)
    kw = dict(workers=0, progress=False, prepare_fn=fast_prepare, resample_fn=fast_resample)
    if not torch.cuda.is_available():
        with pytest.raises(CardiolatentError, match="CUDA is not available"):
            encode_inputs(items, _encoders(), tmp_path / "x.parquet", device="cuda", **kw)
    with pytest.raises(CardiolatentError, match="only supported on CUDA"):
        encode_inputs(items, _encoders(), tmp_path / "x.parquet", dtype="bf16", **kw)
    with pytest.raises(CardiolatentError, match="distinct"):
        encode_inputs(items, [TinyEncoder(1), TinyEncoder(1)], tmp_path / "x.parquet", **kw)
    with pytest.raises(CardiolatentError, match="latent size"):
        encode_inputs(items, [TinyEncoder(1), TinyEncoder(2, latent_dim=4)], tmp_path / "x.parquet", **kw)
    with pytest.raises(CardiolatentError, match="not an encoder"):
        encode_inputs(items, [object()], tmp_path / "x.parquet", **kw)
    with pytest.raises(CardiolatentError, match=r"\.parquet"):
        encode_inputs(items, _encoders(), tmp_path / "x.xlsx", **kw)
    assert not list(tmp_path.iterdir())


def test_progress_bar_and_duplicates_given_directly(npy_inputs, tmp_path, capsys):
    items = list(discover_inputs(npy_inputs))
    dup = InputItem(items[0].eid, items[0].instance, str(tmp_path / "zzz.npy"), "npy")
    res = encode_inputs(items + [dup], TinyEncoder(5), tmp_path / "one.parquet", workers=0, progress=True,
                        prepare_fn=fast_prepare, resample_fn=fast_resample)
    err = capsys.readouterr().err
    assert "participant" in err and "per_s" in err
    assert res.qc["reason"].tolist() == ["duplicate_input"] and len(res.latents) == 10
    assert set(res.latents["seed"]) == {5}
