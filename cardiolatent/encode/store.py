"""The resumable part store of an encoding run: ``{out_path}.parts/``.

Each finished chunk of inputs is committed as two files: its QC rows
(``part-XXXXX.qc.parquet``), then its latents (``part-XXXXX.parquet``), each written to a temporary
file and renamed, so a chunk is either fully there or absent whatever the moment of a crash
(kill -9 included). ``manifest.json`` describes the run (see :func:`run_manifest`); a store opened
with a different manifest is refused unless started afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Sequence

import pandas as pd

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.images.readers import InputItem
from cardiolatent.io_utils import atomic_path, write_text_atomic

from .encoders import encoder_fingerprint

#: format version of the parts folder / manifest
PARTS_FORMAT = 1


def parts_dir_for(out_path: str | os.PathLike) -> Path:
    """``{out_path}.parts``: the folder of committed chunks of an unfinished run."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".parts")


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def items_hash(items: Sequence[InputItem]) -> str:
    """sha256 of the input list: eid, instance, path, kind, key and file size of every input."""
    h = hashlib.sha256()
    for it in items:
        h.update(f"{it.eid}\t{it.instance}\t{it.path}\t{it.kind}\t{it.key}\t{_file_size(it.path)}\n".encode())
    return h.hexdigest()


def _fn_name(fn) -> str | None:
    if fn is None:
        return None
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def run_manifest(items, encoders, *, batch_size, chunk_size, dev, dtype, n_frames, prepare_fn, resample_fn,
                 out_path, shard: dict | None = None) -> dict:
    """What identifies a run: inputs, encoders (seed, shape, latent size, weights hash), batch and
    chunk size, device, dtype, frame count, preparation functions, torch and cardiolatent versions;
    for a shard (``encode --shard``) also ``shard``: its index, count, block and the fingerprint of
    the full input list (:meth:`cardiolatent.encode.shards.ShardPlan.manifest_entry`)."""
    import torch

    manifest = {
        "format": PARTS_FORMAT,
        "output": Path(out_path).name,
        "n_inputs": len(items),
        "inputs_sha256": items_hash(items),
        "encoders": [{"seed": int(e.seed), "input_shape": [int(s) for s in e.input_shape],
                      "latent_dim": int(e.latent_dim), "class": f"{type(e).__module__}.{type(e).__qualname__}",
                      "weights": encoder_fingerprint(e)} for e in encoders],
        "batch_size": int(batch_size),
        "chunk_size": int(chunk_size),
        "device": dev.type,
        "dtype": None if dtype is None else str(dtype),
        "n_frames": n_frames,
        "prepare_fn": _fn_name(prepare_fn),
        "resample_fn": _fn_name(resample_fn),
        "torch": torch.__version__,
        "cardiolatent": __version__,
    }
    if shard is not None:
        manifest["shard"] = dict(shard)
    return manifest


def _describe_difference(old: dict, new: dict) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(keys) or "unknown"


class PartStore:
    """The parts folder of one run. :meth:`open` creates or validates it and returns the chunk
    numbers already committed; :meth:`commit` adds a chunk; :meth:`read` gives every chunk back."""

    def __init__(self, out_path: str | os.PathLike):
        self.dir = parts_dir_for(out_path)

    def _part(self, k: int, qc: bool = False) -> Path:
        return self.dir / (f"part-{k:05d}.qc.parquet" if qc else f"part-{k:05d}.parquet")

    def open(self, manifest: dict, resume: bool) -> set[int]:
        """Create / validate the parts folder; return the chunk numbers already committed."""
        parts = self.dir
        mfile = parts / "manifest.json"
        if parts.exists() and not resume:
            shutil.rmtree(parts)
        if parts.exists():
            if mfile.exists():
                try:
                    old = json.loads(mfile.read_text())
                except (OSError, ValueError):
                    old = None
                if old is not None and old != manifest:
                    raise CardiolatentError(
                        f"{parts} holds an unfinished run with different settings "
                        f"({_describe_difference(old, manifest)} differ); rerun with the same inputs and "
                        "options to resume it, choose another output, or start afresh (resume=False / --no-resume)")
                if old is None:
                    shutil.rmtree(parts)
            else:
                shutil.rmtree(parts)      # killed before the manifest was written: nothing committed
        parts.mkdir(parents=True, exist_ok=True)
        for p in parts.iterdir():         # temporary files of writes cut short
            if p.name.startswith("."):
                with contextlib.suppress(OSError):
                    p.unlink()
        if not mfile.exists():
            write_text_atomic(mfile, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        done = set()
        for p in parts.glob("part-*.parquet"):
            stem = p.name[len("part-"):-len(".parquet")]
            if stem.isdigit() and (parts / f"part-{stem}.qc.parquet").exists():
                done.add(int(stem))
        return done

    def commit(self, k: int, qc: pd.DataFrame, latents: pd.DataFrame, carry: Sequence[int] = ()) -> None:
        """Write chunk ``k``: its QC rows, the positions (in the run's input order) of the inputs
        of a batch still open at the commit (encoded with the next chunk), then its latents (the
        latents file marks the chunk done)."""
        with atomic_path(self._part(k, qc=True), suffix=".parquet") as tmp:
            qc.to_parquet(tmp, index=False)
        write_text_atomic(self.dir / f"part-{k:05d}.carry.json", json.dumps([int(i) for i in carry]) + "\n")
        with atomic_path(self._part(k), suffix=".parquet") as tmp:
            latents.to_parquet(tmp, index=False)

    def carry(self, k: int) -> list[int]:
        """Positions of the inputs chunk ``k`` left in an open batch ([] for parts written before
        batches ran across chunks)."""
        f = self.dir / f"part-{k:05d}.carry.json"
        try:
            return [int(i) for i in json.loads(f.read_text())]
        except (OSError, ValueError):
            return []

    def read(self, n_chunks: int) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
        """(latents of chunks 0..n-1, QC rows of chunks 0..n-1)."""
        lat = [pd.read_parquet(self._part(k)) for k in range(n_chunks)]
        qc = [pd.read_parquet(self._part(k, qc=True)) for k in range(n_chunks)]
        return lat, qc

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
