"""Options and helpers shared by several commands: one spelling and one default for each.

Vocabulary (old spellings keep working as hidden aliases):

- ``--standardise`` (z-score; hidden alias ``--standardize``), ``--no-standardise``;
- ``--outcomes`` names outcomes from the definitions file in ``assoc`` (tested as binary traits),
  ``cox`` (incident events; hidden alias ``--outcome``) and ``export`` (binary phenotypes; hidden
  alias ``--binary-traits``); ``export --t2e`` names outcomes for REGENIE's time-to-event model;
- ``--max-followup YEARS``: 10 (the paper) everywhere; ``none`` = up to the administrative date;
  zero or negative is refused;
- ``--workers N``: processes for image work; default every core of the machine;
- ``--latents``, ``--ukb``, ``--visits prefer2|both``, ``--latent-columns``, ``--out``, ``--quiet``.

Nothing here imports pandas, numpy or torch at module level: ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

#: the paper's follow-up cap (years after the imaging visit)
MAX_FOLLOWUP_YEARS = 10.0


def add_ukb_argument(p) -> None:
    p.add_argument("--ukb", default=None,
                   help="UK Biobank main data file (ukbconv csv/r, R-mangled, PHESANT or RAP naming); "
                        "default: the built-in synthetic cohort")
    add_fields_argument(p)
    p.add_argument("--no-cache", dest="no_cache", action="store_true",
                   help="read the main data file directly, without using or filling the column cache")


#: ``--fields`` help, shared by every command that reads the main data and by ``fields``
FIELDS_HELP = ("field registry or data dictionary layered over the packaged registry; repeat for several "
               "(later ones win per field). Accepted, told apart by the header: cardiolatent's TSV (field, name, "
               "type, unit, coding, na_codes, instances, arrays, description), UK Biobank's Showcase "
               "Data_Dictionary_Showcase.tsv/.csv, the RAP 'dx extract_dataset --ddd' *.data_dictionary.csv, and "
               "a codings file (Codings.tsv or *.codings.csv: 'Do not know'/'Prefer not to answer' codes become "
               "missing). The environment variable CARDIOLATENT_FIELDS (paths separated by "
               f"'{os.pathsep}') names files layered before these")


def add_fields_argument(p) -> None:
    """``--fields FILE`` (repeatable; ``args.fields_file`` is a list or None)."""
    p.add_argument("--fields", dest="fields_file", action="append", default=None, metavar="FILE",
                   help=FIELDS_HELP)


def main_read_options(args) -> dict:
    """Keyword arguments for :func:`cardiolatent.ukb.read.read_main` from the shared options."""
    return {"cache": not getattr(args, "no_cache", False)}


def add_images_argument(p) -> None:
    p.add_argument("--images", nargs="+", default=None,
                   help="folders (searched recursively for bulk zips, .nii(.gz), .h5, .npy), files, or "
                        "text files listing paths; default: the built-in synthetic cohort's zips")


def image_paths(args) -> list[str]:
    """The ``--images`` the user gave, or the default synthetic cohort's bulk folder (built on first use)."""
    if args.images:
        return list(args.images)
    from cardiolatent.synth.default import default_cohort

    paths = default_cohort(images=True, progress=not getattr(args, "quiet", False))
    if not getattr(args, "quiet", False):
        print(f"no --images given: using the built-in synthetic cohort at {paths.root}")
    return [str(paths.bulk)]


def registry_from_args(args):
    """The packaged registry, then ``CARDIOLATENT_FIELDS``' files, then each ``--fields`` file.

    ``args.fields_file`` may be None, one path, or a list of paths (``--fields`` repeated).
    """
    from cardiolatent.ukb.registry import FieldRegistry

    files = getattr(args, "fields_file", None) or []
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    return FieldRegistry.configured(list(files))


def ukb_path(args) -> Path:
    """The main data file the user gave, or the default synthetic cohort's (built on first use)."""
    if args.ukb:
        return Path(args.ukb)
    from cardiolatent.synth.default import default_cohort

    paths = default_cohort(progress=not getattr(args, "quiet", False))
    print(f"no --ukb given: using the built-in synthetic cohort at {paths.root}")
    return paths.main


def write_output(df, out: str | None, *, index: bool = False) -> None:
    """Write a table (TSV/CSV/parquet by extension) atomically, or print it when ``out`` is None."""
    from cardiolatent.io_utils import write_table_atomic

    if out is None:
        print(df.to_string(index=index, max_rows=30))
        return
    write_table_atomic(df, out, index=index)
    print(f"wrote {len(df):,} rows to {out}")


def add_latents_argument(p, *, with_ukb: bool = True, required: bool = False) -> None:
    default = ("" if required else "; default: the built-in synthetic cohort encoded by the five demo models"
               + (" (then --ukb defaults to that cohort's main data)" if with_ukb else ""))
    p.add_argument("--latents", default=None, required=required,
                   help="latents table (.parquet/.tsv/.csv): long encoder output (eid, instance, seed, Z0..) "
                        "or wide (eid, [instance,] latent columns; without instance every row is visit 2)"
                        + default)


def add_standardise_argument(p, help: str, *, default: bool = False) -> None:
    """``--standardise`` (hidden old spelling ``--standardize``); with ``default=True`` the option
    shown is ``--no-standardise`` and the other two are kept, hidden, as no-ops."""
    if default:
        p.add_argument("--no-standardise", dest="standardise", action="store_false", help=help)
        p.set_defaults(standardise=True)
        for flag in ("--standardise", "--standardize"):
            p.add_argument(flag, dest="standardise", action="store_true", help=argparse.SUPPRESS)
        return
    p.add_argument("--standardise", dest="standardise", action="store_true", help=help)
    p.add_argument("--standardize", dest="standardise", action="store_true", help=argparse.SUPPRESS)


def add_max_followup_argument(p) -> None:
    p.add_argument("--max-followup", default=str(MAX_FOLLOWUP_YEARS).rstrip("0").rstrip("."),
                   help="years of follow-up after the imaging visit (the paper: 10), or 'none' to follow up to "
                        "the administrative date")


def max_followup(args) -> float | None:
    """The ``--max-followup`` cap in years; None for ``none``; zero, negative or non-numbers refused."""
    from cardiolatent.errors import CardiolatentError

    v = args.max_followup
    if v is None or str(v).strip().lower() in ("none", "no", "inf"):
        return None
    try:
        years = float(v)
    except ValueError:
        raise CardiolatentError(f"--max-followup must be a number of years or 'none', not {v!r}") from None
    if not years > 0 or years != years:
        raise CardiolatentError(f"--max-followup must be a positive number of years (or 'none' for no cap), "
                                f"not {v}")
    return years


def add_workers_argument(p, what: str) -> None:
    p.add_argument("--workers", type=int, default=None,
                   help=f"processes {what}; 0 = no extra process (default: every core of this machine, "
                        f"{os.cpu_count() or 1})")


def workers(args) -> int:
    """``--workers``, or every core when not given; 0 = work in this process; negative is refused."""
    from cardiolatent.errors import CardiolatentError

    if args.workers is None:
        return os.cpu_count() or 1
    if args.workers < 0:
        raise CardiolatentError(f"--workers must be 0 or more, not {args.workers}")
    return int(args.workers)


def latents_path(args) -> str:
    """The ``--latents`` the user gave, or the demo-model latents of the default synthetic cohort.

    In the second case a missing ``--ukb`` is set to the same cohort's main data, so that the
    participants match.
    """
    if args.latents:
        return args.latents
    from cardiolatent.demo import default_latents

    paths, lat = default_latents(progress=not getattr(args, "quiet", False))
    print(f"no --latents given: using the demo models' latents of the built-in synthetic cohort ({lat})")
    if hasattr(args, "ukb") and not args.ukb:
        args.ukb = str(paths.main)
    args.latents = str(lat)
    return args.latents


def add_analysis_arguments(p) -> None:
    """Options shared by the analysis commands (assoc, cox): latents, main data, definitions."""
    add_latents_argument(p)
    add_ukb_argument(p)
    p.add_argument("--latent-columns", default=None,
                   help="comma-separated latent columns or regular expressions (e.g. 'S1701_Z.*'); default all")
    p.add_argument("--visits", choices=["prefer2", "both"], default="prefer2",
                   help="prefer2: visit 2, visit 3 only without visit 2; both: every visit as its own row")
    p.add_argument("--definitions", default=None, help="outcome definitions TOML (default: packaged)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def analysis_inputs(args, names):
    """(main data with the fields ``names`` need, outcome definitions) for an analysis command."""
    from cardiolatent.analysis.design import fields_needed
    from cardiolatent.ukb.outcomes import load_definitions
    from cardiolatent.ukb.read import read_main

    latents_path(args)  # resolves the default latents first: they decide the default --ukb
    reg = registry_from_args(args)
    defs = load_definitions(args.definitions) if args.definitions else load_definitions()
    main = read_main(ukb_path(args), fields_needed(names, reg, defs), registry=reg, missing_ok=True,
                     **main_read_options(args))
    return main, defs


def save_and_report(res, args) -> None:
    """The commands' ending: print the summary, save the result to ``--out`` (or print the table)."""
    quiet = getattr(args, "quiet", False)
    if not quiet:
        res.print_summary()
    if not args.out:
        write_output(res.table, None)
        return
    paths = res.save(args.out)
    if not quiet:
        print(f"wrote {len(res.table):,} rows to {args.out}; beside it: "
              f"{', '.join(p.name for k, p in paths.items() if k != 'table')}")


def check_out_file(out) -> None:
    """``--out`` for a table result, checked before any work: a table extension, not a folder."""
    if out:
        from cardiolatent.io_utils import check_table_output

        check_table_output(out, "--out")


def check_out_folder(out, marker: str = "summary.json") -> None:
    """``--out`` for a folder result, checked before any work (new, empty or an earlier output)."""
    from cardiolatent.io_utils import check_output_folder

    check_output_folder(out, marker)


# ------------------------------------------------------------------------------------ Dask clusters
#: said in every --cluster help
CLUSTER_NEEDS = ("Workers of --scheduler or SLURM need cardiolatent installed (the same version) and see the same "
                 "files. Needs: pip install 'cardiolatent[dask]'")


def add_cluster_arguments(p, *, what: str, where: str = "") -> None:
    """``--cluster local:N | slurm``, ``--scheduler tcp://HOST:PORT``, ``--cluster-config FILE``
    (assoc, cox, encode): ``what`` the workers do, ``where`` when it pays (one sentence each)."""
    g = p.add_argument_group("cluster (Dask)", f"{what}. " + (f"{where}. " if where else "") + CLUSTER_NEEDS + ".")
    g.add_argument("--cluster", default=None, metavar="local:N|slurm",
                   help="local:N = N worker processes on this machine; slurm = jobs submitted with "
                        "dask-jobqueue (needs --cluster-config)")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="a running Dask scheduler whose workers do the work")
    g.add_argument("--cluster-config", default=None, metavar="TOML",
                   help="cluster.toml for --cluster slurm: cores, memory (per job), walltime, gpus (per job), "
                        "processes, queue, account, jobs")


def cluster_from_args(args):
    """The parsed cluster request (None: this process); checked before any work, with the one-line
    install message when dask is missing."""
    if args.cluster is None and args.scheduler is None and args.cluster_config is None:
        return None
    from cardiolatent.scale.dask import parse_cluster

    return parse_cluster(args.cluster, args.scheduler, args.cluster_config)


def cluster_context(spec, quiet: bool, **kwargs):
    """A context manager giving a Dask client for ``spec`` (closed on exit), or None without one."""
    import contextlib

    if spec is None:
        return contextlib.nullcontext(None)
    from cardiolatent.scale.dask import connect

    return connect(spec, quiet=quiet, **kwargs)


def chunk_map_for(client):
    """The analysis functions' ``chunk_map`` on ``client`` (None: in this process)."""
    if client is None:
        return None
    from cardiolatent.scale.dask import chunk_mapper

    return chunk_mapper(client)
