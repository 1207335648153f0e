"""``cardiolatent convert-main``: a main data file as a parquet column store (fast later reads)."""

from __future__ import annotations

import argparse

HELP = "convert a UK Biobank main data file to a parquet column store (the read cache, or a folder)"
DESCRIPTION = (
    "Read a main data file (csv/tab, optionally gzip; any naming style) once, in one streaming pass, and "
    "store its columns as parquet. Without --out the columns go to the read cache (cache_root()/main: "
    "$CARDIOLATENT_HOME, else $XDG_CACHE_HOME/cardiolatent, else ~/.cache/cardiolatent), where every "
    "later --ukb FILE finds them; with --out DIR a column store is written to DIR, and --ukb DIR reads it "
    "as the main data. The raw text is stored: typing and cleaning happen on every read, as from the file."
)


def add_arguments(p) -> None:
    p.add_argument("file", help="UK Biobank main data file (csv, tab; .gz accepted)")
    p.add_argument("--out", default=None,
                   help="write a column store to this folder (replaced atomically); default: fill the read cache")
    p.add_argument("--only", nargs="+", default=None,
                   help="field ids or registry names to convert (space- or comma-separated); default: every field")
    p.add_argument("--fields", dest="fields_file", action="append", default=None,
                   help="extra field registry (our TSV, or a UK Biobank Showcase / RAP data dictionary) to resolve "
                        "names and array fields; repeatable, layered over $CARDIOLATENT_FIELDS as in every command")
    p.add_argument("--registry", dest="fields_file", action="append", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from cardiolatent.commands._common import registry_from_args
    from cardiolatent.ukb.convert import convert_main

    reg = registry_from_args(args)
    fields = None
    if args.only:
        fields = [f.strip() for item in args.only for f in item.split(",") if f.strip()]
    folder = convert_main(args.file, args.out, fields, registry=reg, progress=not args.quiet)
    from cardiolatent.ukb.cache import ColumnStore

    store = ColumnStore(folder)
    n_cols = len(store.stored())
    if args.out:
        print(f"wrote {n_cols:,} columns x {store.n_rows:,} rows of {args.file} to the column store {folder}")
    else:
        print(f"the read cache of {args.file} holds {n_cols:,} columns x {store.n_rows:,} rows ({folder})")
    return 0
