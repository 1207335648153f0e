"""Sharded encoding without a shared scheduler (SLURM job arrays, Research Analysis Platform jobs).

``encode --shard I/N`` encodes shard I (1-based, 1..N) of the inputs into its own output;
``encode --merge`` assembles the N outputs into the table a one-machine run writes, bit for bit.

The split. Every shard lists the FULL inputs, sorts and de-duplicates them exactly as a
one-machine run does (by eid, instance, path, key; the first of each (eid, instance) kept) and
takes one contiguous block of that list: shard I holds positions ``floor((I-1) n / N)`` to
``floor(I n / N) - 1`` of the ``n`` unique inputs (blocks differ in size by at most one; a shard
may be empty when N > n). Discovery's and de-duplication's QC rows go to shard 1 only. The
split depends only on the input list, never on timing or on which machine runs what.

Each shard output ``X.parquet`` (any table suffix ``encode`` writes) comes with

- ``X.qc.tsv``: the inputs of the shard excluded, with the reason (as a one-machine run's);
- ``X.shard_tail.parquet``: the tail latents (below);
- ``X.shard.json``: written last, it marks the shard complete: shard index and count, the
  fingerprint of the full input list (sha256 of eid, instance, kind, key, file name and size of
  every unique input, and of discovery's excluded entries) and of the settings (each encoder's
  seed, input shape, latent size, class and weights hash; batch size, device type, dtype, frame
  count, preparation and resampling functions, torch and cardiolatent versions; not the chunk
  size or the worker count, which change no latent), the shard's block (first and last key),
  counts, the sha256 of each file above, and the batch-composition check.

Why bit-identical. A one-machine run forms batches of ``batch_size`` over its readable inputs
in order; only its last batch holds fewer (``r = R mod batch_size`` of the ``R`` readable
inputs). Convolutions may pick another algorithm for another batch size, so an input's latents
can depend (in the last bits) on the size of its batch; they do not depend on which other inputs
share it (measured: the demo models on a CPU give identical bits for shifted batches, 1 vs 8
inputs per batch differ by about 6e-7). A shard therefore encodes every input in a batch of
exactly ``batch_size`` (its last, partial batch is padded by repeating its own inputs; the
padding's latents are dropped), and also encodes its last ``s`` readable inputs as one batch of
``s`` for every ``s`` in 1..batch_size-1 (the tail table: at most ``batch_size (batch_size-1)/2``
extra encodings per shard). The merge knows ``R`` from all shards, and takes the last ``r``
inputs' latents from the tail encoded at size ``r``. Each shard checks the premise: it encodes
its last ``batch_size`` readable inputs again in reverse order and compares the bits with its own
latents (``composition_invariant`` in ``X.shard.json``); when that fails on some hardware, the
merge still assembles the table but says that it may differ from a one-machine run in the last
bits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.pipeline import prepare_job
from cardiolatent.images.readers import QC_COLUMNS, InputItem
from cardiolatent.io_utils import atomic_path, file_digest, output_lock, write_text_atomic

from .batches import encode_batch
from .tables import (_table_suffix, final_latents, qc_frame, qc_path_for, read_latents_table, sort_qc,
                     write_latents_table, write_qc_table)

#: format version of ``X.shard.json``
SHARD_FORMAT = 1
#: manifest keys that change no latent (left out of the settings fingerprint)
_NOT_SETTINGS = ("output", "n_inputs", "inputs_sha256", "chunk_size", "shard")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 1 <= I <= N; anything else -> one-line CardiolatentError."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise CardiolatentError(f"--shard must be I/N (shard I of N, 1-based, e.g. 1/8), not {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise CardiolatentError(f"--shard {text}: I must be between 1 and N (shards are numbered 1..N), N at least 1")
    return i, n


def shard_bounds(n_inputs: int, index: int, count: int) -> tuple[int, int]:
    """[start, stop) of shard ``index`` (1-based) of ``count`` over ``n_inputs`` sorted inputs (contiguous blocks)."""
    return (index - 1) * n_inputs // count, index * n_inputs // count


def _stem(out_path: Path) -> str:
    return out_path.name[: -len(_table_suffix(out_path))]


def shard_summary_path(out_path: str | os.PathLike) -> Path:
    """``X.shard.json`` next to the shard's table ``X.<suffix>``."""
    out_path = Path(out_path)
    return out_path.with_name(_stem(out_path) + ".shard.json")


def shard_tail_path(out_path: str | os.PathLike) -> Path:
    """``X.shard_tail.parquet`` next to the shard's table ``X.<suffix>``."""
    out_path = Path(out_path)
    return out_path.with_name(_stem(out_path) + ".shard_tail.parquet")


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def inputs_fingerprint(uniq: Sequence[InputItem], pre_qc: Sequence[dict]) -> str:
    """sha256 of the full unique input list (eid, instance, kind, key, file name, file size) and of
    the entries excluded before encoding (eid, instance, file name, reason). File names, not whole
    paths: the same files mounted at another place on another machine give the same fingerprint."""
    h = hashlib.sha256()
    for it in uniq:
        h.update(f"{it.eid}\t{it.instance}\t{it.kind}\t{it.key}\t{Path(it.path).name}\t{_size(it.path)}\n".encode())
    h.update(b"--excluded--\n")
    for r in pre_qc:
        h.update(f"{r.get('eid')}\t{r.get('instance')}\t{Path(str(r.get('path'))).name}\t{r.get('reason')}\n".encode())
    return h.hexdigest()


def settings_of(manifest: dict) -> dict:
    """The part of a run manifest that determines the latents (no chunk size, no output name)."""
    return {k: v for k, v in manifest.items() if k not in _NOT_SETTINGS}


@dataclass
class ShardPlan:
    """Shard ``index`` of ``count``: the block ``[start, stop)`` of the ``n_total`` unique inputs."""

    index: int
    count: int
    start: int
    stop: int
    n_total: int
    inputs_sha256: str

    @classmethod
    def make(cls, shard: tuple[int, int], uniq: Sequence[InputItem], pre_qc: Sequence[dict]) -> "ShardPlan":
        i, n = shard
        if n < 1 or not 1 <= i <= n:
            raise CardiolatentError(f"shard {i}/{n}: I must be between 1 and N")
        start, stop = shard_bounds(len(uniq), i, n)
        return cls(i, n, start, stop, len(uniq), inputs_fingerprint(uniq, pre_qc))

    def manifest_entry(self) -> dict:
        return {"index": self.index, "count": self.count, "start": self.start, "stop": self.stop,
                "n_total": self.n_total, "full_inputs_sha256": self.inputs_sha256}


def _cycled(seq: list, n: int) -> list:
    """``seq`` repeated to length ``n`` (``seq`` non-empty)."""
    return [seq[j % len(seq)] for j in range(n)]


def encode_padded(pending: list[tuple[InputItem, dict]], encoders, seeds, *, dev, dtype, batch_size: int):
    """Encode a partial batch padded to ``batch_size`` with repeats of its own inputs; rows
    ``(eid, instance, {seed: z})`` of the real inputs only (the padding's latents are dropped)."""
    samples = _cycled([s for _, s in pending], batch_size)
    z = encode_batch(encoders, samples, dev, dtype)
    return [(it.eid, it.instance, {s: z[s][j] for s in seeds}) for j, (it, _) in enumerate(pending)]


def _latents_rows(keys, z: dict[int, np.ndarray], seeds, d: int, extra: dict | None = None) -> pd.DataFrame:
    recs = []
    for j, (eid, inst) in enumerate(keys):
        for s in seeds:
            recs.append((eid, inst, s, z[s][j]))
    df = pd.DataFrame({"eid": np.asarray([r[0] for r in recs], np.int64),
                       "instance": np.asarray([r[1] for r in recs], np.int64),
                       "seed": np.asarray([r[2] for r in recs], np.int64)})
    for k, v in (extra or {}).items():
        df[k] = np.int64(v)
    zz = np.stack([r[3] for r in recs]).astype(np.float32) if recs else np.zeros((0, d), np.float32)
    return pd.concat([df, pd.DataFrame(zz, columns=[f"Z{k}" for k in range(d)])], axis=1)


def tail_and_check(parts_dir: Path, uniq: Sequence[InputItem], latents: pd.DataFrame, encoders, seeds, *, dev, dtype,
                   batch_size: int, shapes, n_frames, prepare_fn, resample_fn) -> tuple[pd.DataFrame, bool | None]:
    """The shard's tail table and its batch-composition check (see the module docstring).

    Tail: for every ``s`` in 1..batch_size-1, the shard's last ``min(s, R)`` readable inputs
    encoded as one batch of ``s`` (repeated when fewer): columns ``eid, instance, seed,
    batch_size, Z0..``. Check: the last ``min(batch_size, R)`` readable inputs encoded again in
    reverse order (one batch of ``batch_size``) give the same bits as in ``latents`` (True),
    do not (False), or there is nothing to check (None: no readable input).

    Both are kept in ``parts_dir`` (``tail.parquet``, ``check.json``) so that a resumed shard does
    not redo them; the inputs are prepared again (deterministic), at most ``batch_size`` of them.
    """
    d = len([c for c in latents.columns if str(c).startswith("Z")])
    tail_file, check_file = parts_dir / "tail.parquet", parts_dir / "check.json"
    if tail_file.exists() and check_file.exists():
        return pd.read_parquet(tail_file), json.loads(check_file.read_text())["composition_invariant"]
    keys = list(dict.fromkeys(zip(latents["eid"].tolist(), latents["instance"].tolist())))
    by_key = {(it.eid, it.instance): it for it in uniq}
    last = keys[-batch_size:]
    prepared = {}
    for k in last:
        _, out, err, _ = prepare_job((0, by_key[k], shapes, n_frames, prepare_fn, resample_fn))
        if err is not None:
            raise CardiolatentError(f"{by_key[k].qc_path}: readable during the run, unreadable now ({err[0]}); "
                                    "rerun the shard")
        prepared[k] = out
    tails = []
    for s in range(1, batch_size):
        ks = last[-s:] if last else []
        if not ks:
            break
        z = encode_batch(encoders, _cycled([prepared[k] for k in ks], s), dev, dtype)
        tails.append(_latents_rows(ks, z, seeds, d, {"batch_size": s}))
    tail = (pd.concat(tails, ignore_index=True) if tails
            else _latents_rows([], {}, seeds, d, {"batch_size": 0}).iloc[:0])
    if last:
        rev = last[::-1]
        z = encode_batch(encoders, _cycled([prepared[k] for k in rev], batch_size), dev, dtype)
        mine = latents.set_index(["eid", "instance", "seed"])
        zc = [f"Z{j}" for j in range(d)]
        invariant = all(np.array_equal(z[s][j].view(np.uint32), mine.loc[(k[0], k[1], s), zc].to_numpy(np.float32)
                                       .view(np.uint32))
                        for j, k in enumerate(rev) for s in seeds)
    else:
        invariant = None
    with atomic_path(tail_file, suffix=".parquet") as tmp:
        tail.to_parquet(tmp, index=False)
    write_text_atomic(check_file, json.dumps({"composition_invariant": invariant}) + "\n")
    return tail, invariant


def write_shard_outputs(out_path: Path, qc_out: Path, plan: ShardPlan, manifest: dict, latents: pd.DataFrame,
                        tail: pd.DataFrame, invariant: bool | None, n_encode_excluded: int, n_pre_qc: int) -> Path:
    """Write ``X.shard_tail.parquet``, then ``X.shard.json`` (last: it marks the shard complete)."""
    tail_out = shard_tail_path(out_path)
    with atomic_path(tail_out, suffix=".parquet") as tmp:
        tail.to_parquet(tmp, index=False)
    keys = list(dict.fromkeys(zip(latents["eid"].tolist(), latents["instance"].tolist())))
    summary = {
        "cardiolatent_shard": SHARD_FORMAT,
        "shard": plan.index,
        "of": plan.count,
        "split": "contiguous blocks of the unique inputs sorted by (eid, instance, path, key)",
        "block": [plan.start, plan.stop],
        "n_total_inputs": plan.n_total,
        "full_inputs_sha256": plan.inputs_sha256,
        "settings": settings_of(manifest),
        "batch_size": int(manifest["batch_size"]),
        "seeds": [e["seed"] for e in manifest["encoders"]],
        "n_inputs": plan.stop - plan.start,
        "n_encoded": len(keys),
        "n_excluded_while_encoding": int(n_encode_excluded),
        "n_excluded_before_encoding": int(n_pre_qc),
        "composition_invariant": invariant,
        "files": {"latents": [out_path.name, file_digest(out_path)],
                  "qc": [qc_out.name, file_digest(qc_out)],
                  "tail": [tail_out.name, file_digest(tail_out)]},
    }
    path = shard_summary_path(out_path)
    write_text_atomic(path, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path


# ---------------------------------------------------------------------------------------------- merge


@dataclass
class MergeResult:
    """What :func:`merge_shards` wrote: ``latents`` (to ``path``), ``qc`` (to ``qc_path``), and
    ``notes`` (warnings worth printing, e.g. a failed batch-composition check), ``seconds`` (wall time)."""

    latents: pd.DataFrame
    qc: pd.DataFrame
    path: Path
    qc_path: Path
    n_shards: int
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _read_summary(path: Path) -> dict:
    sp = shard_summary_path(path)
    if not path.exists():
        raise CardiolatentError(f"{path}: no such shard output")
    try:
        s = json.loads(sp.read_text())
    except OSError:
        raise CardiolatentError(f"{path}: not a finished shard (no {sp.name}: written by 'encode --shard' when "
                                "the shard is complete; rerun that shard)") from None
    except ValueError:
        raise CardiolatentError(f"{sp}: not valid JSON; rerun that shard") from None
    if not isinstance(s, dict) or s.get("cardiolatent_shard") != SHARD_FORMAT:
        raise CardiolatentError(f"{sp}: not a cardiolatent shard summary (format {SHARD_FORMAT})")
    for part, (name, digest) in s["files"].items():
        f = path.with_name(name)
        if not f.exists() or file_digest(f) != digest:
            raise CardiolatentError(f"{f}: missing or changed since its shard was written ({sp.name}); rerun that shard")
    if s["files"]["latents"][0] != path.name:
        raise CardiolatentError(f"{path}: {sp.name} describes {s['files']['latents'][0]}, not this file")
    return s


def _read_qc(path: Path) -> list[dict]:
    df = pd.read_csv(path, sep="\t", dtype={"path": str, "reason": str, "detail": str},
                     keep_default_na=False, na_values={"eid": [""], "instance": [""]})
    if list(df.columns) != list(QC_COLUMNS):
        raise CardiolatentError(f"{path}: not an encode QC table (columns {', '.join(QC_COLUMNS)})")
    df = df.astype(object).where(df.notna(), None)
    for c in ("detail",):
        df[c] = [None if v == "" else v for v in df[c]]
    return [{k: (int(v) if k in ("eid", "instance") and v is not None else v) for k, v in r.items()}
            for r in df.to_dict("records")]


_AUX_SUFFIXES = (".shard.json", ".shard_tail.parquet", ".qc.tsv")


def _shard_tables(paths: Sequence[Path]) -> list[Path]:
    """The shard tables behind ``paths``: a shard's own files (``X.shard.json``,
    ``X.shard_tail.parquet``, ``X.qc.tsv``, as a glob like ``shard_*`` gives them) stand for its
    table and are dropped when that table is given too; a table given twice stays twice."""
    direct = [p for p in paths if not p.name.endswith(_AUX_SUFFIXES)]
    seen = {p.resolve() for p in direct}
    out = list(direct)
    for p in paths:
        suf = next((x for x in _AUX_SUFFIXES if p.name.endswith(x)), None)
        if suf is None:
            continue
        summary = p.with_name(p.name[: -len(suf)] + ".shard.json")
        try:
            table = p.with_name(json.loads(summary.read_text())["files"]["latents"][0])
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            raise CardiolatentError(f"{p}: not part of a finished shard (no readable {summary.name}); give each "
                                    "shard's latents table") from None
        if table.resolve() not in seen:
            seen.add(table.resolve())
            out.append(table)
    return out


def _describe(a: dict, b: dict) -> str:
    return ", ".join(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)) or "unknown"


def merge_shards(paths: Sequence[str | os.PathLike], out_path: str | os.PathLike) -> MergeResult:
    """Check the outputs of ``encode --shard I/N`` (I = 1..N) and assemble the one-machine table.

    ``paths``: each shard's latents table (its other files, e.g. from a glob ``shard_*``, are
    taken as standing for it).

    Checks (each failure a one-line :class:`CardiolatentError` naming the file): every path is a
    finished shard whose files are unchanged; all shards have the same N, full-input fingerprint
    and settings; each shard 1..N is given exactly once; every input of the full list is in
    exactly one shard's block, encoded or excluded, and no participant-visit is encoded twice.
    Writes the latents (sorted by eid, instance, seed, as a one-machine run) and the QC table
    ``{stem}.qc.tsv`` atomically.
    """
    t0 = time.perf_counter()
    out_path = Path(out_path)
    qc_out = qc_path_for(out_path)
    paths = _shard_tables([Path(p) for p in paths])
    if not paths:
        raise CardiolatentError("--merge needs the shard outputs (one per shard)")
    for p in paths:
        if p.resolve() == out_path.resolve():
            raise CardiolatentError(f"{p}: --out must not be one of the shards being merged")
    summaries = [(p, _read_summary(p)) for p in paths]
    p0, s0 = summaries[0]
    by_index: dict[int, Path] = {}
    for p, s in summaries:
        if s["of"] != s0["of"]:
            raise CardiolatentError(f"{p}: shard {s['shard']} of {s['of']}, but {p0} is a shard of {s0['of']}")
        if s["full_inputs_sha256"] != s0["full_inputs_sha256"] or s["n_total_inputs"] != s0["n_total_inputs"]:
            raise CardiolatentError(f"{p}: encoded from a different input list than {p0} (full-list fingerprints "
                                    "differ); every shard must see the same inputs")
        if s["settings"] != s0["settings"]:
            raise CardiolatentError(f"{p}: encoded with different settings than {p0} "
                                    f"({_describe(s['settings'], s0['settings'])} differ)")
        if s["shard"] in by_index:
            raise CardiolatentError(f"{p}: shard {s['shard']}/{s['of']} given twice (also {by_index[s['shard']]})")
        by_index[s["shard"]] = p
    n = s0["of"]
    missing = [i for i in range(1, n + 1) if i not in by_index]
    if missing:
        raise CardiolatentError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of {n} "
                                f"missing from --merge (given: {', '.join(str(p) for p in paths)})")
    ordered = sorted(summaries, key=lambda ps: ps[1]["shard"])
    expect = 0
    for p, s in ordered:
        lo, hi = s["block"]
        if lo != expect or hi != (s["shard"]) * s["n_total_inputs"] // n:
            raise CardiolatentError(f"{p}: its block {lo}..{hi} does not follow the split of {s['n_total_inputs']} "
                                    f"inputs into {n}")
        expect = hi
    if expect != s0["n_total_inputs"]:
        raise CardiolatentError(f"{ordered[-1][0]}: the shards cover {expect} of {s0['n_total_inputs']} inputs")

    with output_lock(out_path):
        lat_parts, qc_rows, tails, seen, notes = [], [], [], {}, []
        for p, s in ordered:
            lat = read_latents_table(p)
            keys = list(dict.fromkeys(zip(lat["eid"].tolist(), lat["instance"].tolist())))
            if len(keys) != s["n_encoded"] or len(lat) != len(keys) * len(s["seeds"]):
                raise CardiolatentError(f"{p}: {len(lat)} rows, expected {s['n_encoded']} inputs x "
                                        f"{len(s['seeds'])} seeds")
            for k in keys:
                if k in seen:
                    raise CardiolatentError(f"{p}: eid {k[0]} instance {k[1]} is also encoded in {seen[k]}")
                seen[k] = p
            qc = _read_qc(qc_path_for(p))
            n_pre = s["n_excluded_before_encoding"]
            if len(qc) != n_pre + s["n_excluded_while_encoding"] or s["n_encoded"] + s["n_excluded_while_encoding"] \
                    != s["n_inputs"]:
                raise CardiolatentError(f"{p}: its encoded and excluded inputs do not add up to its {s['n_inputs']} "
                                        "inputs")
            if s["composition_invariant"] is False:
                notes.append(f"{p}: on that machine an input's latents depended on the other inputs of its batch; "
                             "the merged table may differ from a one-machine run in the last bits")
            lat_parts.append(lat)
            qc_rows.extend(qc)
            tails.append((p, pd.read_parquet(shard_tail_path(p))))
        d = len([c for c in lat_parts[0].columns if str(c).startswith("Z")]) if lat_parts else 0
        latents = final_latents(lat_parts, d)
        # the one-machine run's last batch held r = R mod batch_size inputs: their latents come from the tails
        b = int(s0["batch_size"])
        allkeys = list(dict.fromkeys(zip(latents["eid"].tolist(), latents["instance"].tolist())))
        r = len(allkeys) % b
        if r:
            zc = [f"Z{j}" for j in range(d)]
            idx = latents.set_index(["eid", "instance", "seed"]).index
            for k in allkeys[-r:]:
                p, tail = next((p, t) for p, t in tails if seen[k] == p)
                rows = tail[(tail["batch_size"] == r) & (tail["eid"] == k[0]) & (tail["instance"] == k[1])]
                if len(rows) != len(s0["seeds"]):
                    raise CardiolatentError(f"{shard_tail_path(p)}: no tail latents of eid {k[0]} instance {k[1]} "
                                            f"at batch size {r}; rerun that shard")
                pos = idx.get_indexer(pd.MultiIndex.from_arrays([rows["eid"], rows["instance"], rows["seed"]]))
                latents.loc[pos, zc] = rows[zc].to_numpy(np.float32)
            latents[zc] = latents[zc].astype(np.float32)
        qc = sort_qc(qc_frame(qc_rows))
        write_latents_table(latents, out_path)
        write_qc_table(qc, qc_out)
    return MergeResult(latents=latents, qc=qc, path=out_path, qc_path=qc_out, n_shards=n, notes=notes,
                       seconds=time.perf_counter() - t0)
