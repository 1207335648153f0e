"""What every script in analyses/ shares: where the results are, where the figure goes.

Each script is ``python analyses/<figure>.py [--config CONFIG.toml] [--results DIR] [--out DIR]``:

- ``--config`` (default ``analyses/config.toml``): the file names of the results, relative to the
  results folder (or absolute), and the output folder; copy it and point it at your own files;
- ``--results``: the results folder (overrides the config's ``results_dir``). ``cardiolatent
  figures`` prints the built-in cohort's results folder, so the scripts run on it out of the box;
- ``--out``: where the PNG and PDF go (overrides the config's ``out``).

A missing result is one line naming the config key, the file and the command that makes it.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from cardiolatent.errors import CardiolatentError
from cardiolatent.plotting import save_figure

HERE = Path(__file__).resolve().parent

#: the command that makes each result (for the message when it is missing)
MAKES = {
    "assoc_diseases": "cardiolatent assoc --outcomes paper_diseases --covariates paper_disease --out assoc_diseases.tsv",
    "assoc_traits": "cardiolatent assoc --traits cardiac_idps --covariates paper_traits --out assoc_traits.tsv",
    "gwas": "cardiolatent gwas-results --results <your GWAS output> --out gwas",
    "ensemble": "cardiolatent ensemble --latents latents.parquet --out ensemble",
    "icc_visits": "cardiolatent icc --between visits --out icc_visits.tsv",
    "icc_seeds": "cardiolatent icc --between seeds --out icc_seeds.tsv",
    "cox": "cardiolatent cox --outcomes AF,MI --covariates age,sex --groups S1701_Z3 --out cox.tsv",
    "manipulation": "cardiolatent manipulate --trait lvedv --out manipulation",
}


class Figure:
    """The parsed command line of one figure script: ``.result(key)`` and ``.save(fig, name)``."""

    def __init__(self, description: str, argv=None):
        ap = argparse.ArgumentParser(description=description)
        ap.add_argument("--config", default=str(HERE / "config.toml"),
                        help="TOML file naming the result files (default: analyses/config.toml)")
        ap.add_argument("--results", default=None, help="results folder (default: the config's results_dir)")
        ap.add_argument("--out", default=None, help="folder for the PNG and PDF (default: the config's out)")
        self.args = ap.parse_args(argv)
        cfg_path = Path(self.args.config)
        try:
            self.config = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            sys.exit(f"{sys.argv[0]}: --config {cfg_path}: {exc}")
        base = cfg_path.resolve().parent
        self.results = Path(self.args.results) if self.args.results else base / self.config.get("results_dir", "results")
        self.out = Path(self.args.out) if self.args.out else base / self.config.get("out", "figures")

    def result(self, key: str) -> Path:
        """The path of result ``key`` (config ``[results]`` table, relative to the results folder)."""
        name = self.config.get("results", {}).get(key)
        if name is None:
            sys.exit(f"{sys.argv[0]}: the config {self.args.config} names no '{key}' under [results]")
        path = Path(name) if Path(name).is_absolute() else self.results / name
        if not path.exists():
            sys.exit(f"{sys.argv[0]}: result '{key}' not found: {path} (make it with: {MAKES.get(key, 'cardiolatent')})")
        return path

    def resolve(self, name: str) -> Path:
        """A path from the config: absolute, or relative to the config file's folder."""
        p = Path(name).expanduser()
        return p if p.is_absolute() else Path(self.args.config).resolve().parent / p

    def save(self, fig, name: str) -> None:
        """Write ``fig`` as OUT/NAME.png and .pdf and say where."""
        paths = save_figure(fig, self.out / name, close=True)
        print(f"wrote {paths['png']} and {paths['pdf']}")


def run(main) -> None:
    """Run a script's ``main()``; a bad input ends with its one-line message, not a traceback."""
    try:
        main()
    except CardiolatentError as exc:
        sys.exit(f"{sys.argv[0]}: {exc}")
