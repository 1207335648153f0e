"""``cardiolatent cache``: lists the cache folder; ``--clear`` removes only what cardiolatent made.

The cache is built by the real producers in a private ``CARDIOLATENT_HOME``: a cohort by
``make_cohort``, the read cache by ``read_main``; the demo latents and results stand in as files
under their real names. A user's files (beside the cohorts, inside a cohort folder, inside
``main/``) must survive ``--clear``.
"""

from __future__ import annotations

import argparse
import re

import pytest

from cardiolatent.commands import cache as cache_cmd
from cardiolatent.synth.build import make_cohort
from cardiolatent.synth.cache import cache_entries, folder_bytes, human_bytes
from cardiolatent.ukb.read import read_main


def _run(*argv: str) -> int:
    p = argparse.ArgumentParser(prog="cardiolatent cache")
    cache_cmd.add_arguments(p)
    return cache_cmd.run(p.parse_args(list(argv)))


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A cache folder holding two cohorts (one half-built), demo latents, results, the read cache
    and a user's files."""
    h = tmp_path / "home"
    monkeypatch.setenv("CARDIOLATENT_HOME", str(h))
    monkeypatch.delenv("CARDIOLATENT_MAIN_CACHE", raising=False)      # the read cache goes to home/main
    paths = make_cohort(h / "synth_n200_seed20208", n=20, seed=1, images=False, progress=False)
    (paths.root / "latents_demo_0123456789ab.parquet").write_bytes(b"x" * 3000)
    (paths.root / "latents_demo_0123456789ab.qc.tsv").write_text("eid\tinstance\treason\n")
    res = paths.root / "results_latents_demo_0123456789ab"
    res.mkdir()
    (res / "icc_visits.tsv").write_text("latent\ticc\n")
    read_main(paths.main, fields=[31, 53])                              # fills home/main
    half = h / "synth_n50_seed2"
    half.mkdir()
    (half / ".building.json").write_text('{"generator": "cardiolatent synth", "seed": 2, "n": 50}')
    (half / "bulk").mkdir()
    (half / "bulk" / "a.zip").write_bytes(b"z" * 100)
    (h / "notes.txt").write_text("mine")
    (h / "synth_n99_seed9").mkdir()                                     # a user's folder named like a cohort
    (h / "synth_n99_seed9" / "data.csv").write_text("a,b\n")
    (paths.root / "my_analysis.R").write_text("# mine\n")               # a user's file inside a cohort
    (h / "main" / "README").write_text("mine too\n")
    (h / ".builtin.lock").write_text("")                                # io_utils.wait_lock's files
    (paths.root / ".results_latents_demo_0123456789ab.lock").write_text("")
    return h


def test_listing_names_every_entry_with_its_size_and_maker(home, capsys):
    assert _run() == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"cache folder: {home} (")
    entries = {e.path.name: e for e in cache_entries(home)}
    assert entries["synth_n200_seed20208"].kind == "cohort"
    assert entries["synth_n50_seed2"].kind == "cohort"
    assert entries["main"].kind == "main_store"
    assert entries["notes.txt"].kind == entries["synth_n99_seed9"].kind == "other"
    line = next(s for s in out.splitlines() if "synth_n200_seed20208/" in s)
    assert "the built-in cohort" in line and "20 participants, seed 1, tables only" in line
    assert human_bytes(folder_bytes(home / "synth_n200_seed20208")) in line
    assert re.search(r"synth_n50_seed2/ .* half-built", out)
    assert re.search(r"latents_demo_0123456789ab\.parquet .* demo latents", out)
    assert re.search(r"results_latents_demo_0123456789ab/ .* built-in results", out)
    assert re.search(r"main/ .* column stores .* 1 main-data file", out)
    assert re.search(r"notes\.txt .* not made by cardiolatent", out)
    assert re.search(r"synth_n99_seed9/ .* not made by cardiolatent", out)
    assert ".builtin.lock" not in out and ".builtin.lock" not in entries


def test_clear_removes_only_what_cardiolatent_made(home, capsys):
    cohort, store = home / "synth_n200_seed20208", home / "main"
    ours = (folder_bytes(cohort) - len("# mine\n")) + folder_bytes(home / "synth_n50_seed2") \
        + (folder_bytes(store) - len("mine too\n"))
    assert _run("--clear") == 0
    out = capsys.readouterr().out
    assert f"removed {cohort} (" in out and f"removed {home / 'synth_n50_seed2'} (" in out
    assert f"removed {store} (" in out
    assert f"freed {human_bytes(ours)} in {home}" in out
    # a user's files are all there; the cohort folder is kept only for the user's file in it
    assert (home / "notes.txt").read_text() == "mine"
    assert (home / "synth_n99_seed9" / "data.csv").exists()
    assert sorted(p.name for p in cohort.iterdir()) == ["my_analysis.R"]
    assert sorted(p.name for p in store.iterdir()) == ["README"]
    assert not (home / "synth_n50_seed2").exists()
    assert not (home / ".builtin.lock").exists()                        # the lock files are cardiolatent's
    assert f"kept {cohort} (not made by cardiolatent)" in out
    # nothing of cardiolatent's is left
    assert _run("--clear") == 0
    assert f"nothing of cardiolatent's in {home}" in capsys.readouterr().out
    assert all(e.kind == "other" for e in cache_entries(home))


def test_a_missing_cache_folder_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CARDIOLATENT_HOME", str(tmp_path / "none"))
    assert _run() == 0
    assert "does not exist yet" in capsys.readouterr().out
    assert _run("--clear") == 0
    assert "nothing of cardiolatent's" in capsys.readouterr().out
    assert not (tmp_path / "none").exists()


def test_an_emptied_cache_folder_is_removed(tmp_path, monkeypatch, capsys):
    h = tmp_path / "home"
    monkeypatch.setenv("CARDIOLATENT_HOME", str(h))
    make_cohort(h / "synth_n20_seed4", n=20, seed=4, images=False, progress=False)
    assert _run("--clear") == 0
    assert "freed" in capsys.readouterr().out
    assert not h.exists()
