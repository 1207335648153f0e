"""The built-in cohort's cache: reused when current, rebuilt when an older cardiolatent built it."""

from __future__ import annotations

import json

import cardiolatent.synth.default as default
from cardiolatent.synth.build import TABLES_VERSION


def _fake_cache(tmp_path, monkeypatch, info: dict):
    monkeypatch.setenv("CARDIOLATENT_HOME", str(tmp_path))
    root = tmp_path / "synth_n10_seed3"
    root.mkdir()
    (root / "cohort.json").write_text(json.dumps(info))
    calls = []
    monkeypatch.setattr(default, "make_cohort", lambda root, **kw: calls.append((root, kw)) or root)
    return root, calls


def test_a_current_cohort_is_reused(tmp_path, monkeypatch):
    root, calls = _fake_cache(tmp_path, monkeypatch, {"images": False, "tables_version": TABLES_VERSION})
    default.default_cohort(n=10, seed=3, progress=False)
    assert calls == []


def test_a_cohort_of_an_older_version_is_rebuilt_with_its_images(tmp_path, monkeypatch, capsys):
    root, calls = _fake_cache(tmp_path, monkeypatch, {"images": True})  # no tables_version: version 1
    default.default_cohort(n=10, seed=3, progress=True)
    assert len(calls) == 1
    assert calls[0][0] == root and calls[0][1]["images"] is True
    assert "older cardiolatent" in capsys.readouterr().out


def test_the_cache_folder_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("CARDIOLATENT_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default.cache_dir() == tmp_path / "cardiolatent"
