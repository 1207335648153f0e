"""Training data: bulk zips (or any input) read, prepared and resampled once, cached as .npy.

The cache (``DIR/data.npy`` (N, T, H, W) float32 plus ``DIR/data_index.tsv`` with ``eid,
instance, path, split``) is reused when the same inputs are asked for again, so an interrupted
``cardiolatent train`` restarts without preparing the images a second time.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cardiolatent.errors import CardiolatentError
from cardiolatent.images.pipeline import prepare_job
from cardiolatent.io_utils import atomic_path, write_table_atomic, write_text_atomic


def split_participants(eids, holdout_fraction: float, seed: int) -> dict[int, str]:
    """Participant-level split: ``{eid: "train" | "holdout"}`` (all visits of a person together)."""
    uniq = np.unique(np.asarray(eids, dtype=np.int64))
    rng = np.random.default_rng(seed)
    n_hold = int(round(holdout_fraction * len(uniq)))
    hold = set(rng.choice(uniq, size=n_hold, replace=False).tolist()) if n_hold else set()
    return {int(e): ("holdout" if e in hold else "train") for e in uniq}


def _key(items, shape) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(f"{it.eid}|{it.instance}|{it.path}|{it.kind}|{it.key}\n".encode())
    h.update(repr(tuple(shape)).encode())
    return h.hexdigest()[:16]


def prepared_dataset(items, shape, out_dir: str | Path, *, workers: int = 2, progress: bool = True):
    """Prepare every input to ``shape`` (T, H, W); return ``(array (N,T,H,W), index DataFrame, qc DataFrame)``.

    Inputs that cannot be used are listed in ``qc`` (``eid, instance, path, reason, detail``),
    never silently dropped.
    """
    out_dir = Path(out_dir)
    key = _key(items, shape)
    meta_path = out_dir / "data.json"
    if meta_path.exists() and json.loads(meta_path.read_text()).get("key") == key:
        index = pd.read_csv(out_dir / "data_index.tsv", sep="\t")
        qc = pd.read_csv(out_dir / "data_qc.tsv", sep="\t")
        return np.load(out_dir / "data.npy", mmap_mode="r"), index, qc

    jobs = [(i, it, [tuple(shape)], 50, None, None) for i, it in enumerate(items)]
    vols, rows, qc = {}, [], []
    bar = tqdm(total=len(jobs), desc="preparing cines", unit="cine", disable=not progress)
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for idx, out, err, _ in pool.map(prepare_job, jobs, chunksize=4):
            it = items[idx]
            if err is None:
                vols[idx] = out[tuple(shape)]
            else:
                qc.append({"eid": it.eid, "instance": it.instance, "path": str(it.path), "reason": err[0],
                           "detail": err[1]})
            bar.update()
    bar.close()
    order = sorted(vols)
    if not order:
        raise CardiolatentError("none of the training inputs could be prepared; see the QC table")
    array = np.stack([vols[i] for i in order]).astype(np.float32)
    index = pd.DataFrame({"eid": [items[i].eid for i in order], "instance": [items[i].instance for i in order],
                          "path": [str(items[i].path) for i in order]})
    qc = pd.DataFrame(qc, columns=["eid", "instance", "path", "reason", "detail"])
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "data.npy", suffix=".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    write_table_atomic(index, out_dir / "data_index.tsv", index=False)
    write_table_atomic(qc, out_dir / "data_qc.tsv", index=False)
    write_text_atomic(meta_path, json.dumps({"key": key, "shape": list(shape), "n": len(order)}) + "\n")
    return array, index, qc
