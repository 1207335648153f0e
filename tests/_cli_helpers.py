"""Shared checks on the command line's error contract."""

from __future__ import annotations

from cardiolatent.cli import main


def one_line_cli_error(capsys, argv, *words) -> str:
    """Run ``cardiolatent argv``: exit status 2 and one stderr line with ``error:`` and every word."""
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "error:" in err and all(w in err for w in words), err
    return err
