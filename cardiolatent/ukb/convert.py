"""A whole main-data file (or chosen fields) into a parquet column store, in one streaming pass.

:func:`convert_main` fills the column cache of :mod:`cardiolatent.ukb.cache` (or writes a store
folder that :func:`cardiolatent.ukb.read.read_main` takes as main data); ``cardiolatent
convert-main`` is its command line.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError, FieldValueError, NotATableError
from cardiolatent.io_utils import atomic_dir
from cardiolatent.ukb import cache as _cache
from cardiolatent.ukb.read import (
    _csv_options,
    _first_ragged_line,
    _Header,
    _input_header,
    _pandas_read,
    _plan_columns,
    _select,
    _style_and_id,
)
from cardiolatent.ukb.registry import FieldRegistry

__all__ = ["convert_main", "PART_COLUMNS"]

#: columns per part file of a column store (a part's footer stays small; a read opens few parts)
PART_COLUMNS = _cache.PART_COLUMNS
#: bytes of raw text buffered before a row group is written (bounds memory on any width)
_ROW_GROUP_BYTES = 256 << 20


class _CountingFile:
    """A binary file that counts the bytes read (for the progress bar)."""

    def __init__(self, fh, bar) -> None:
        self._fh, self._bar = fh, bar
        self.closed = False

    def read(self, n=-1):
        data = self._fh.read(n)
        if self._bar is not None:
            self._bar.update(len(data))
        return data

    def readable(self):
        return True

    def seekable(self):
        return False

    def close(self):
        self.closed = True
        self._fh.close()


def _text_batches(header: _Header, names: Sequence[str], bar) -> Iterable[pa.Table]:
    """The columns ``names`` of a delimited file as string tables of consecutive rows."""
    if header.sep != r"\s+" and not header.leading_blank and len(set(header.columns)) == len(header.columns):
        opts = _csv_options(header, names)
        fh = _CountingFile(open(header.path, "rb"), bar)
        stream = pa.PythonFile(fh, mode="r")
        if header.compression:
            stream = pa.CompressedInputStream(stream, header.compression)
        try:
            try:
                reader = pacsv.open_csv(stream, **opts)
                for batch in reader:
                    yield pa.Table.from_batches([batch])
                return
            except pa.ArrowInvalid as exc:
                msg = str(exc)
                if not ("Expected" in msg and "columns" in msg):
                    raise
                line, width = _first_ragged_line(header)
                if not line:
                    raise
                raise FieldValueError(f"{header.path.name}: line {line} has {width} fields where the header has "
                                      f"{len(header.columns)}; the file is damaged (rows are shifted)") from None
        except pa.ArrowInvalid as exc:
            raise NotATableError(f"{header.path.name} cannot be converted by the pyarrow CSV reader ({exc}); "
                                 "read it with read_main instead") from None
        finally:
            stream.close()
    table = _pandas_read(header, names, None)
    if bar is not None:
        bar.update(max(0, bar.total - bar.n) if bar.total else 0)
    yield table


def _write_parts(folder: Path, batches: Iterable[pa.Table], names: Sequence[str]) -> tuple[dict[str, list[str]], int]:
    """Stream tables of ``names`` into part files of at most PART_COLUMNS columns in ``folder``
    (temporary names, renamed at the end). Returns ({part file: columns}, number of rows)."""
    groups = [list(names[i:i + PART_COLUMNS]) for i in range(0, len(names), PART_COLUMNS)]
    schema = [pa.schema([(n, pa.string()) for n in g]) for g in groups]
    parts = [f"part-{_uuid_hex()}.parquet" for _ in groups]
    tmps = [folder / f".{p}.tmp" for p in parts]
    writers = [pq.ParquetWriter(t, s, compression="zstd") for t, s in zip(tmps, schema)]
    buffered: list[pa.Table] = []
    size = 0
    n_rows = 0

    def flush() -> None:
        nonlocal buffered, size
        if buffered:
            t = pa.concat_tables(buffered)
            for w, g in zip(writers, groups):
                w.write_table(t.select(g), row_group_size=max(1, t.num_rows))
        buffered, size = [], 0

    try:
        for t in batches:
            buffered.append(t)
            size += t.nbytes
            n_rows += t.num_rows
            if size >= _ROW_GROUP_BYTES:
                flush()
        flush()
        for w in writers:
            w.close()
        writers = []
        for t, p in zip(tmps, parts):
            os.replace(t, folder / p)
    except BaseException:
        for w in writers:
            with contextlib.suppress(Exception):
                w.close()
        for t in tmps:
            with contextlib.suppress(OSError):
                os.unlink(t)
        raise
    return dict(zip(parts, groups)), n_rows


def _uuid_hex() -> str:
    return uuid.uuid4().hex[:16]


def convert_main(
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    fields: Iterable[int | str] | int | str | None = None,
    *,
    registry: FieldRegistry | None = None,
    style: str | None = None,
    progress: bool = False,
) -> Path:
    """Convert a delimited main-data file into a parquet column store (see :mod:`cardiolatent.ukb.cache`).

    ``out=None`` fills the column cache of ``path`` (the columns already there are skipped), so
    that ``read_main(path, ...)`` reads them from it; ``out=DIR`` writes a column store to ``DIR``
    (replaced atomically) that ``read_main(DIR, ...)`` takes as main data. ``fields``: registry
    names or field ids to convert (default: every field column). One streaming pass over the file
    (memory bounded by a few hundred MB of text, whatever the width); a tqdm progress bar over
    the bytes read when ``progress``. Returns the store folder.
    """
    path = Path(path)
    reg = registry if registry is not None else FieldRegistry.default()
    header, _ = _input_header(path)
    if header.kind != "text":
        raise NotATableError(f"{path} is already parquet; read_main reads it directly")
    style, id_col = _style_and_id(header, style, path)
    cols = _select(_plan_columns(header.columns, style, id_col, reg), header, style, reg, fields, None, None, False)
    names = list(dict.fromkeys([id_col] + [c.name for c in cols]))
    stamp = _cache.source_stamp(path)

    bar = None
    if progress:
        bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"converting {path.name}")
    try:
        if out is not None:
            out = Path(out)
            with atomic_dir(out, marker=_cache.MANIFEST) as tmp:
                parts, n_rows = _write_parts(tmp, _text_batches(header, names, bar), names)
                manifest = _cache.new_manifest(stamp, names, n_rows)
                manifest["parts"] = parts
                manifest["cardiolatent_version"] = __version__
                manifest["style"] = style
                _cache.write_manifest(tmp, manifest)
            return out
        if header.sep == r"\s+":
            raise CardiolatentError(f"{path.name} is whitespace-separated: read_main does not cache such files; "
                                    "write a column store with --out DIR and read that instead")
        _cache.lookup(path, header.columns)  # removes a store of an older version of the file
        folder = _cache.entry_dir(path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CardiolatentError(f"cannot create the column cache {folder}: {exc.strerror or exc}; "
                                    "use --out DIR instead") from None
        with _cache.locked(folder):
            store = _cache.lookup(path, header.columns)
            _cache.tidy(folder, store.manifest if store is not None else None)
            have = set(store.stored()) if store is not None else set()
            todo = [n for n in names if n not in have]
            if todo:
                parts, n_rows = _write_parts(folder, _text_batches(header, todo, bar), todo)
                if store is not None and store.n_rows == n_rows:
                    manifest = {**store.manifest, "parts": {**store.manifest["parts"], **parts}}
                else:
                    manifest = _cache.new_manifest(stamp, header.columns, n_rows)
                    manifest["parts"] = parts
                if _cache.source_stamp(path) != stamp:
                    raise CardiolatentError(f"{path} changed while it was converted; run convert-main again")
                _cache.write_manifest(folder, manifest)
        return folder
    finally:
        if bar is not None:
            bar.close()
