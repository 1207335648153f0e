"""``cardiolatent cache``: what cardiolatent keeps in its cache folder; ``--clear`` removes it."""

from __future__ import annotations

HELP = "list cardiolatent's cache folder (built-in cohort, demo latents, results, read cache); --clear empties it"
DESCRIPTION = (
    "List the cache folder ($CARDIOLATENT_HOME, else $XDG_CACHE_HOME/cardiolatent, else "
    "~/.cache/cardiolatent): each built-in synthetic cohort with its demo latents and built-in results, "
    "and the main-data column stores of the read cache, with their sizes and what made them. "
    "--clear removes only what cardiolatent made there (a user's own files are kept) and prints what "
    "was removed and the space freed; the built-in cohort is built again on next use."
)


def add_arguments(p) -> None:
    p.add_argument("--clear", action="store_true",
                   help="remove what cardiolatent made in the cache folder, never other files (default: only list it)")


def _print_entry(entry, parent, human_bytes, indent: str = "  ") -> None:
    name = entry.path.relative_to(parent).as_posix() + ("/" if entry.path.is_dir() else "")
    print(f"{indent}{name:<40} {human_bytes(entry.bytes):>8}  {entry.what}")
    for child in entry.children:
        _print_entry(child, entry.path, human_bytes, indent + "  ")


def run(args) -> int:
    from cardiolatent.synth.cache import cache_entries, clear_cache, human_bytes
    from cardiolatent.synth.default import cache_dir

    root = cache_dir()
    entries = cache_entries(root)
    if not args.clear:
        total = sum(e.bytes for e in entries)
        print(f"cache folder: {root} ({human_bytes(total)})" if root.is_dir()
              else f"cache folder: {root} (does not exist yet: built on first use)")
        for entry in entries:
            _print_entry(entry, root, human_bytes)
        if any(e.ours for e in entries):
            print("cardiolatent cache --clear removes what cardiolatent made here")
        return 0
    removed = clear_cache(root)
    for path, freed in removed:
        print(f"removed {path} ({human_bytes(freed)})")
    for entry in cache_entries(root):
        print(f"kept {entry.path} (not made by cardiolatent)")
    freed = sum(f for _, f in removed)
    print(f"freed {human_bytes(freed)} in {root}" if removed else f"nothing of cardiolatent's in {root}")
    return 0
