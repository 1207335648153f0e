"""The ``cardiolatent`` command line: a thin dispatcher over :mod:`cardiolatent.commands`.

Each command lives in its own module under ``cardiolatent/commands/`` and exposes

- ``HELP``: one line shown by ``cardiolatent --help``;
- ``add_arguments(parser)``: its options (with defaults and units in the help texts);
- ``run(args) -> int``: the work, returning the exit status.

Start-up cost: only the command that runs has its options built, and a command module imports
nothing heavy at module level or in ``add_arguments`` (pandas, numpy and torch are imported by
``run`` and the library it calls), so ``cardiolatent --help`` and every ``--help`` stay fast.
The one lazy import of torch is documented in :mod:`cardiolatent.model` (``model/__init__.py``).
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
    "convert-main": "convert_main",
    "train": "train",
    "encode": "encode",
    "ensemble": "ensemble",
    "icc": "icc",
    "assoc": "assoc",
    "cox": "cox",
    "export": "export",
    "gwas-results": "gwas_results",
    "heritability": "heritability",
    "prs": "prs",
    "manipulate": "manipulate",
    "figures": "figures",
    "report": "report",
    "cache": "cache",
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none (None) or the option is a flag."""

    def _get_help_string(self, action):
        if action.default is None or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return action.help
        return super()._get_help_string(action)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; options are added for ``only`` (default: all)."""
    parser = argparse.ArgumentParser(
        prog="cardiolatent",
        description="Deep-learned cardiac MRI phenotypes (3D DiffAE latents) for UK Biobank "
        "statistical genetics. Every command runs on the built-in synthetic cohort by default.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cardiolatent {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an unexpected error (for a bug report)")
    sub = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(f"cardiolatent.commands.{modname}")
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=_HelpFormatter,
        )
        if only is None or only == name:
            mod.add_arguments(p)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of an unexpected error (for a bug report)")
        p.set_defaults(_run=mod.run)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is one), else None."""
    for tok in argv:
        if tok in COMMANDS:
            return tok
        if not tok.startswith("-"):
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command_in(argv) or "")
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from cardiolatent.errors import CardiolatentError

    where = f"cardiolatent {args.command}"
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"{where}: interrupted; run the same command again to resume (finished work is kept)",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (``cardiolatent fields | head``): stop quietly, like
        # a Unix tool; stdout is pointed at /dev/null so the interpreter's final flush is silent too
        import os

        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), sys.stdout.fileno())
        return 141
    except (CardiolatentError, FileNotFoundError) as exc:
        # Bad input: one line naming the file, field or participant; no traceback.
        msg = exc.args[0] if exc.args and isinstance(exc, CardiolatentError) else str(exc)
        print(f"{where}: error: {msg}", file=sys.stderr)
        return 2
    except OSError as exc:  # the environment: a full disk, no permission, a vanished file
        if getattr(args, "debug", False):
            raise
        what = exc.strerror or str(exc)
        print(f"{where}: error: {what}" + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{where}: error: out of memory (try fewer --workers or a smaller --batch-size)", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, or an input not yet checked: still one line for the user
        if getattr(args, "debug", False):
            raise
        print(f"{where}: unexpected error: {type(exc).__name__}: {exc}. This is a bug in cardiolatent or an "
              "input it does not check yet; rerun with --debug for the traceback and report it", file=sys.stderr)
        return 1

if __name__ == "__main__":
    raise SystemExit(main())
