"""Options and helpers shared by several commands (data inputs, output paths)."""

from __future__ import annotations

from pathlib import Path


def add_ukb_argument(p) -> None:
    p.add_argument("--ukb", default=None,
                   help="UK Biobank main data file (ukbconv csv/r, R-mangled, PHESANT or RAP naming); "
                        "default: the built-in synthetic cohort")
    p.add_argument("--fields", dest="fields_file", default=None,
                   help="extra field registry TSV (field, name, type, unit, coding, na_codes, ...) "
                        "overriding or extending the packaged one")


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
    print(f"no --images given: using the built-in synthetic cohort at {paths.root}")
    return [str(paths.bulk)]


def registry_from_args(args):
    from cardiolatent.ukb.registry import FieldRegistry

    reg = FieldRegistry.default()
    if getattr(args, "fields_file", None):
        reg = reg.extend(args.fields_file)
    return reg


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
