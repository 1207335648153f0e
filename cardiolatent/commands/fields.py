"""``cardiolatent fields``: list or search the UK Biobank field registry."""

from __future__ import annotations

HELP = "list or search the field registry (field id, name, type, unit, missing-value codes)"
DESCRIPTION = (
    "List the UK Biobank fields cardiolatent knows: id, short name (usable wherever a command takes "
    "a field), type, unit, data-coding, negative codes read as missing, instances and array width. "
    "The registry is a data file; --fields (repeatable) layers your own TSV of the same columns, UK Biobank's "
    "Showcase data dictionary, a RAP data_dictionary.csv or a codings file over it, as does the environment "
    "variable CARDIOLATENT_FIELDS."
)


def add_arguments(p) -> None:
    p.add_argument("query", nargs="?", default=None,
                   help="show only fields whose id, name or description contains this text")
    from cardiolatent.commands._common import add_fields_argument

    add_fields_argument(p)
    p.add_argument("--out", default=None, help="write the registry as TSV instead of printing it")


def run(args) -> int:
    from cardiolatent.commands._common import registry_from_args, write_output

    reg = registry_from_args(args)
    df = reg.to_frame()
    if args.query:
        q = args.query.lower()
        hay = df["field"].astype(str) + " " + df["name"].astype(str) + " " + df["description"].astype(str).str.lower()
        df = df[hay.str.contains(q, regex=False)]
    if args.out:
        write_output(df, args.out)
    else:
        import pandas as pd

        with pd.option_context("display.max_colwidth", 50, "display.width", 200):
            print(df.drop(columns=["description"]).to_string(index=False))
    for note in reg.notes:
        print(f"note: {note}")
    return 0
