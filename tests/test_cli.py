"""The command line: help texts, commands on the synthetic cohort, one clear error per bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from cardiolatent.cli import COMMANDS, main


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help_with_defaults(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: cardiolatent" in out
    if command not in ("fields",):
        assert "default:" in out


def test_covariates_and_outcomes_commands(small_cohort, tmp_path, capsys):
    out = tmp_path / "cov.tsv"
    assert main(["covariates", "--ukb", str(small_cohort.main), "--out", str(out)]) == 0
    cov = pd.read_csv(out, sep="\t")
    truth = pd.read_csv(small_cohort.truth / "participants.tsv", sep="\t")
    assert len(cov) == (truth["instance"] == 2).sum()
    both = tmp_path / "cov23.parquet"
    assert main(["covariates", "--ukb", str(small_cohort.main), "--instance", "2", "3", "--out", str(both)]) == 0
    assert len(pd.read_parquet(both)) == len(truth)
    oc = tmp_path / "oc.tsv"
    assert main(["outcomes", "--ukb", str(small_cohort.main), "--outcomes", "AF,MI", "--out", str(oc)]) == 0
    table = pd.read_csv(oc, sep="\t")
    assert set(table["outcome"]) == {"AF", "MI"} and len(table) == 2 * (truth["instance"] == 2).sum()
    assert main(["outcomes", "--ukb", str(small_cohort.main), "--outcomes", "paper_diseases", "--out", str(oc)]) == 0
    assert set(pd.read_csv(oc, sep="\t")["outcome"]) == {"AF", "T2D", "HF", "MI", "CHD", "ANGINA", "MVD", "AVD"}
    capsys.readouterr()
    assert main(["outcomes", "--ukb", str(small_cohort.main), "--outcomes", "XYZ"]) == 2
    assert "unknown outcome" in capsys.readouterr().err


def test_fields_command(capsys):
    assert main(["fields", "blood pressure"]) == 0
    out = capsys.readouterr().out
    assert "4080" in out and "4079" in out


BAD = {
    "empty": ("", "empty"),
    "semicolons": ("eid;31-0.0;53-2.0\n1;0;2015-01-01\n2;1;2016-01-01\n", "delimit|one column|not a table"),
    "unknown_naming": ("id,sex,age\n1,0,50\n2,1,60\n", "naming"),
    "duplicates": ("eid,31-0.0,53-2.0\n1,0,2015-01-01\n1,1,2016-01-01\n", "duplicate"),
    "missing_field": ("eid,31-0.0\n1,0\n2,1\n", "53"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_one_clear_error(case, tmp_path, capsys):
    text, pattern = BAD[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(text)
    assert main(["covariates", "--ukb", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert path.name in err
    assert pd.Series([err]).str.contains(pattern, case=False, regex=True).all(), err


def test_binary_file_is_not_a_table(tmp_path, capsys):
    path = tmp_path / "image.csv"
    path.write_bytes(bytes(range(256)) * 10)
    assert main(["covariates", "--ukb", str(path)]) == 2
    err = capsys.readouterr().err
    assert "image.csv" in err and "table" in err.lower()


def test_missing_file(capsys, tmp_path):
    assert main(["covariates", "--ukb", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err


@pytest.mark.parametrize("command, new, old, dest, value", [
    ("ensemble", ["--standardise"], ["--standardize"], "standardise", True),
    ("assoc", ["--no-standardise"], ["--no-standardize"], "standardise", False),
    ("cox", ["--outcomes", "MI"], ["--outcome", "MI"], "outcomes", "MI"),
    ("export", ["--outcomes", "AF"], ["--binary-traits", "AF"], "binary_traits", "AF"),
    ("export", ["--max-followup", "5"], ["--t2e-max-years", "5"], "max_followup", "5"),
])
def test_one_vocabulary_old_spellings_hidden(command, new, old, dest, value, capsys):
    """One spelling per idea across commands; the old spelling still parses, and is not in --help."""
    from cardiolatent.cli import build_parser

    parser = build_parser(only=command)
    required = {"icc": ["--between", "seeds", "--out", "x.tsv"], "ensemble": ["--latents", "x", "--out", "o"],
                "export": ["--format", "plink2", "--out", "o"]}.get(command, [])
    for spelling in (new, old):
        args = parser.parse_args([command, *required, *spelling])
        assert getattr(args, dest) == value
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    shown = capsys.readouterr().out
    assert new[0] in shown and old[0] + " " not in shown and old[0] + "\n" not in shown


def test_shared_defaults_agree():
    """--max-followup is 10 years wherever it appears; --workers defaults to every core."""
    import os

    from cardiolatent.cli import build_parser

    for command in ("cox", "export", "outcomes"):
        args = build_parser(only=command).parse_args([command] + {"export": ["--format", "bolt", "--out", "o"]}
                                                     .get(command, []))
        assert args.max_followup == "10", command
    from cardiolatent.commands._common import workers

    for command in ("encode", "train", "synth"):
        extra = {"train": ["--out", "o"], "synth": ["--out", "o"], "encode": ["--out", "o.parquet"]}[command]
        args = build_parser(only=command).parse_args([command, *extra])
        assert args.workers is None and workers(args) == (os.cpu_count() or 1), command


def _run_with(monkeypatch, exc, argv=("fields",)):
    from cardiolatent.commands import fields

    def boom(args):
        raise exc

    monkeypatch.setattr(fields, "run", boom)
    from cardiolatent.cli import main

    return main(list(argv))


def test_unexpected_error_is_one_line_with_a_pointer_to_debug(monkeypatch, capsys):
    rc = _run_with(monkeypatch, RuntimeError("something odd"))
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "RuntimeError: something odd" in err and "--debug" in err
    with pytest.raises(RuntimeError):  # --debug shows the real traceback, before or after the command
        _run_with(monkeypatch, RuntimeError("x"), argv=("fields", "--debug"))
    with pytest.raises(RuntimeError):
        _run_with(monkeypatch, RuntimeError("x"), argv=("--debug", "fields"))


def test_ctrl_c_full_disk_and_memory_are_one_line(monkeypatch, capsys):
    import errno

    assert _run_with(monkeypatch, KeyboardInterrupt()) == 130
    assert "interrupted; run the same command again to resume" in capsys.readouterr().err
    rc = _run_with(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "/data/out/pheno.txt"))
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == "cardiolatent fields: error: No space left on device: /data/out/pheno.txt"
    assert _run_with(monkeypatch, MemoryError()) == 2
    assert "out of memory" in capsys.readouterr().err


def test_icc_between_seeds_standardises_by_default(capsys):
    """Each seed's latent scale is arbitrary: z-scores unless --no-standardise (old flags still parse)."""
    from cardiolatent.cli import build_parser

    p = build_parser(only="icc")
    base = ["icc", "--between", "seeds", "--out", "x.tsv"]
    assert p.parse_args(base).standardise is True
    assert p.parse_args(base + ["--no-standardise"]).standardise is False
    assert p.parse_args(base + ["--standardize"]).standardise is True
    with pytest.raises(SystemExit):
        p.parse_args(["icc", "--help"])
    shown = capsys.readouterr().out
    assert "--no-standardise" in shown and "--standardize" not in shown


def test_output_piped_into_a_reader_that_stops_is_not_an_error():
    """``cardiolatent fields | head -1``: no 'Broken pipe' message, like any Unix tool. The reading
    end is closed before the command writes (it is still importing), so every write fails."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "cardiolatent", "fields"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141
    assert "Broken pipe" not in err and "Traceback" not in err and "error" not in err, err
