"""Shared checks of the result contract."""

from __future__ import annotations

import pytest

import cardiolatent.results as results_mod


def assert_killed_save_leaves_folder_whole(save, folder, monkeypatch) -> None:
    """``save()`` killed at its second table write (a KeyboardInterrupt) leaves every file in ``folder``
    as it was, and no temporary file."""
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    calls = []
    real = results_mod._write

    def dies_on_second(df, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(df, path)

    monkeypatch.setattr(results_mod, "_write", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        save()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # whole, no temporary left
