"""The ``cardiolatent`` command line: a thin dispatcher over :mod:`cardiolatent.commands`.

Each command lives in its own module under ``cardiolatent/commands/`` and exposes

- ``HELP``: one line shown by ``cardiolatent --help``;
- ``add_arguments(parser)``: its options (with defaults and units in the help texts);
- ``run(args) -> int``: the work, returning the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cardiolatent import __version__

#: command name -> module under cardiolatent.commands (order = order in --help)
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "synth": "synth",
    "fields": "fields",
    "covariates": "covariates",
    "outcomes": "outcomes",
    "train": "train",
    "encode": "encode",
    "ensemble": "ensemble",
    "icc": "icc",
    "assoc": "assoc",
    "cox": "cox",
    "export": "export",
    "gwas-results": "gwas_results",
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none (None) or a flag's False."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardiolatent",
        description="Deep-learned cardiac MRI phenotypes (3D DiffAE latents) for UK Biobank "
        "statistical genetics. Every command runs on the built-in synthetic cohort by default.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cardiolatent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(f"cardiolatent.commands.{modname}")
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=_HelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from cardiolatent.errors import CardiolatentError

    try:
        return int(args._run(args) or 0)
    except (CardiolatentError, FileNotFoundError) as exc:
        # Bad input: one line naming the file, field or participant; no traceback.
        msg = exc.args[0] if exc.args and isinstance(exc, CardiolatentError) else str(exc)
        print(f"cardiolatent {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
