"""`cardiolatent encode --shard I/N` and `--merge`: shards encoded apart, merged into the one-machine table.

Inputs: 14 participants' zips of the small cohort plus one broken zip (so one input is excluded and the
readable inputs, 14, are not a multiple of the batch size 4: the one-machine run's last batch holds 2,
which the merge must take from the shards' tail latents). Two of the demo models (seeds 1701, 1993)
keep each encoding to seconds; chunk size 2 makes every shard commit several parts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from _cli_helpers import one_line_cli_error

from cardiolatent.cli import main
from cardiolatent.encode.run import EXIT_AFTER_CHUNKS_ENV, parts_dir_for
from cardiolatent.encode.shards import parse_shard, shard_bounds
from cardiolatent.errors import CardiolatentError
from cardiolatent.model.pipeline import demo_weight_files

N_INPUTS = 14
SETTINGS = ["--batch-size", "4", "--chunk-size", "2", "--workers", "0", "--quiet"]


def _weights() -> list[str]:
    return [str(p) for p in demo_weight_files()[:2]]


def _encode(images, out, *extra) -> None:
    assert main(["encode", "--images", str(images), "--weights", *_weights(), *SETTINGS, *extra,
                 "--out", str(out)]) == 0


@pytest.fixture(scope="module")
def runs(small_cohort, tmp_path_factory):
    """A one-machine run and three shards of the same list of inputs (one of them broken)."""
    root = tmp_path_factory.mktemp("shards")
    zips = sorted(small_cohort.bulk.rglob("*_20208_*.zip"))[:N_INPUTS]
    bad = root / "bad" / "1000000_20208_2_0.zip"   # sorts first: shard 1 holds it
    bad.parent.mkdir()
    bad.write_bytes(b"not a zip")
    listing = root / "inputs.txt"
    listing.write_text("".join(f"{p}\n" for p in zips + [bad]))
    _encode(listing, root / "single.parquet")
    for i in (1, 2, 3):
        _encode(listing, root / f"shard_{i}.parquet", "--shard", f"{i}/3")
    return root, listing


def _shards(root, order=(1, 2, 3)) -> list[str]:
    return [str(root / f"shard_{i}.parquet") for i in order]


def test_shard_syntax_and_split():
    assert parse_shard("1/3") == (1, 3) and parse_shard(" 3 / 3 ") == (3, 3) and parse_shard("1/1") == (1, 1)
    for bad in ("0/3", "4/3", "abc", "3", "1/0", "-1/3", "1/3/5", ""):
        with pytest.raises(CardiolatentError, match="--shard"):
            parse_shard(bad)
    # contiguous blocks: every position in exactly one shard, sizes differing by at most one, in order
    for n in (0, 1, 2, 7, 15, 100, 71021):
        for count in (1, 2, 3, 8, 16, 101):
            blocks = [shard_bounds(n, i, count) for i in range(1, count + 1)]
            assert blocks[0][0] == 0 and blocks[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
            sizes = [hi - lo for lo, hi in blocks]
            assert min(sizes) >= 0 and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("bad", ["0/3", "4/3", "abc"])
def test_bad_shard_option_is_one_line(bad, tmp_path, capsys):
    one_line_cli_error(capsys, ["encode", "--images", str(tmp_path), "--shard", bad, "--out", str(tmp_path / "x.parquet"),
                             "--quiet"], "--shard", bad)
    assert not (tmp_path / "x.parquet").exists()


def test_shards_plus_merge_equal_one_machine_run(runs, capsys):
    root, _ = runs
    single = pd.read_parquet(root / "single.parquet")
    assert single[["eid", "instance"]].drop_duplicates().shape[0] == N_INPUTS

    summaries = [json.loads((root / f"shard_{i}.shard.json").read_text()) for i in (1, 2, 3)]
    assert [(s["shard"], s["of"]) for s in summaries] == [(1, 3), (2, 3), (3, 3)]
    assert len({s["full_inputs_sha256"] for s in summaries}) == 1
    assert len({json.dumps(s["settings"], sort_keys=True) for s in summaries}) == 1
    assert [s["block"] for s in summaries] == [[0, 5], [5, 10], [10, 15]]   # 15 inputs, the broken one in shard 1
    assert [s["n_encoded"] for s in summaries] == [4, 5, 5]
    assert all(s["composition_invariant"] is True for s in summaries)
    assert not any(root.glob("*.parts"))                                      # finished shards leave no parts

    out = root / "merged.parquet"
    assert main(["encode", "--merge", *_shards(root, (3, 1, 2)), "--out", str(out)]) == 0   # any order
    assert "from 3 shards" in capsys.readouterr().out
    merged = pd.read_parquet(out)
    pd.testing.assert_frame_equal(merged, single, check_exact=True)
    # a glob such as shard_* also lists each shard's .qc.tsv, .shard.json, .shard_tail.parquet: they stand for it
    everything = sorted((str(p) for p in root.glob("shard_*")), reverse=True)
    assert len(everything) == 12
    assert main(["encode", "--merge", *everything, "--out", str(out)]) == 0
    assert "from 3 shards" in capsys.readouterr().out
    merged = pd.read_parquet(out)
    pd.testing.assert_frame_equal(merged, single, check_exact=True)
    assert (root / "merged.qc.tsv").read_bytes() == (root / "single.qc.tsv").read_bytes()
    assert merged[["eid", "instance", "seed"]].duplicated().sum() == 0


@pytest.mark.slow
def test_settings_that_change_no_latent_may_differ(runs, tmp_path):
    """Chunk size and worker count are not part of the settings: such a shard merges all the same."""
    root, listing = runs
    _encode(listing, tmp_path / "shard_2.parquet", "--shard", "2/3", "--chunk-size", "3", "--workers", "1")
    out = tmp_path / "merged.tsv"
    assert main(["encode", "--merge", str(root / "shard_1.parquet"), str(tmp_path / "shard_2.parquet"),
                 str(root / "shard_3.parquet"), "--out", str(out)]) == 0
    single = pd.read_parquet(root / "single.parquet")
    merged = pd.read_csv(out, sep="\t")
    pd.testing.assert_frame_equal(merged.astype(single.dtypes.to_dict()), single, check_exact=True)


def test_merge_refuses_missing_and_duplicated_shards(runs, tmp_path, capsys):
    root, _ = runs
    out = tmp_path / "m.parquet"
    one_line_cli_error(capsys, ["encode", "--merge", *_shards(root, (1, 3)), "--out", str(out)],
                    "shard 2 of 3 missing")
    one_line_cli_error(capsys, ["encode", "--merge", *_shards(root, (1, 2, 2, 3)), "--out", str(out)],
                    "shard 2/3 given twice", "shard_2.parquet")
    copy = tmp_path / "again"   # the same shard downloaded twice into two folders
    copy.mkdir()
    for f in root.glob("shard_2.*"):
        shutil.copy(f, copy / f.name)
    one_line_cli_error(capsys, ["encode", "--merge", *_shards(root), str(copy / "shard_2.parquet"), "--out", str(out)],
                    "given twice", str(copy / "shard_2.parquet"))
    one_line_cli_error(capsys, ["encode", "--merge", str(root / "single.parquet"), "--out", str(out)],
                    "single.parquet", "not a finished shard")
    one_line_cli_error(capsys, ["encode", "--merge", *_shards(root), "--shard", "1/3", "--out", str(out)], "--shard")
    assert not out.exists()


def test_merge_refuses_other_settings_inputs_count_or_changed_files(runs, tmp_path, capsys):
    root, listing = runs
    out = tmp_path / "m.parquet"
    s1, s2, s3 = _shards(root)

    other = tmp_path / "other"
    other.mkdir()
    _encode(listing, other / "bs2.parquet", "--shard", "2/3", "--batch-size", "2")
    one_line_cli_error(capsys, ["encode", "--merge", s1, str(other / "bs2.parquet"), s3, "--out", str(out)],
                    "bs2.parquet", "different settings", "batch_size")

    _encode(listing, other / "of20.parquet", "--shard", "2/20")   # one input: the broken zip
    one_line_cli_error(capsys, ["encode", "--merge", s1, s2, s3, str(other / "of20.parquet"), "--out", str(out)],
                    "of20.parquet", "of 20")

    fewer = tmp_path / "fewer.txt"   # one input left out of the list: another input list
    fewer.write_text("".join(listing.read_text().splitlines(keepends=True)[1:]))
    _encode(fewer, other / "fewer.parquet", "--shard", "3/3")
    one_line_cli_error(capsys, ["encode", "--merge", s1, s2, str(other / "fewer.parquet"), "--out", str(out)],
                    "fewer.parquet", "different input list")

    changed = tmp_path / "changed"   # a shard table altered after it was written
    shutil.copytree(root, changed, ignore=shutil.ignore_patterns("single*", "merged*"))
    lat = pd.read_parquet(changed / "shard_3.parquet")
    lat.loc[0, "Z0"] += 1
    lat.to_parquet(changed / "shard_3.parquet", index=False)
    one_line_cli_error(capsys, ["encode", "--merge", *_shards(changed), "--out", str(out)],
                    "shard_3.parquet", "changed since")
    assert not out.exists()


@pytest.mark.slow
def test_a_shard_killed_mid_run_resumes_to_the_same_table(runs, tmp_path):
    """A shard is an ordinary resumable run: killed after one committed part, the same command ends
    with the same table (and its parts folder knows which shard it holds)."""
    root, listing = runs
    out = tmp_path / "shard_2.parquet"
    argv = ["encode", "--images", str(listing), "--weights", *_weights(), *SETTINGS, "--shard", "2/3",
            "--out", str(out)]
    env = dict(os.environ, **{EXIT_AFTER_CHUNKS_ENV: "1"})
    proc = subprocess.run([sys.executable, "-m", "cardiolatent", *argv], env=env, capture_output=True, text=True)
    assert proc.returncode == 75 and not out.exists(), proc.stderr
    manifest = json.loads((parts_dir_for(out) / "manifest.json").read_text())
    assert manifest["shard"]["index"] == 2 and manifest["shard"]["count"] == 3
    assert main(argv) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(root / "shard_2.parquet"), check_exact=True)
    assert (tmp_path / "shard_2.shard_tail.parquet").read_bytes() == (root / "shard_2.shard_tail.parquet").read_bytes()
