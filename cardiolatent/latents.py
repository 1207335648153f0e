"""The latents object: what every analysis, export and plot takes first.

A :class:`Latents` holds latents of many participants, one row per participant-visit and one
column per latent, and what was decided on the way in:

==============  =================================================================================
``keys``        ``eid``, ``instance`` (int64) of each row; rows sorted by (eid, instance)
``values``      (n_rows, n_latents) array; float32 when every input column was float32 (the
                encoder's output), else float64. :meth:`Latents.as_float64` for statistics
``columns``     latent column names, e.g. ``S1701_Z3`` (seed 1701's latent 3), ``E_Z0``, ``PC1``
``seeds``       seeds whose columns are here (from ``S{seed}_Z{k}`` names), in the paper's order
``visits``      the visit rule applied: ``prefer2`` or ``both`` (below)
``excluded``    ``eid, instance, reason, seeds``: input rows left out, with the reason
``source``      where the latents came from (file name), for messages
==============  =================================================================================

:func:`read_latents` builds one from a file (parquet, TSV, CSV), a DataFrame or another
:class:`Latents`, in either form the package meets:

- **long** (the encoder's output): ``eid, instance, seed, Z0 .. Z127``, one row per participant,
  visit and seed. Made wide: one column ``S{seed}_Z{k}`` per seed and latent. A participant-visit
  lacking a seed (``missing_seeds``) or with missing values for one (``nan_latents``) is excluded.
- **wide**: ``eid`` [, ``instance``] and numeric latent columns (``S{seed}_Z{k}``, ``E_Z{k}``,
  anything numeric). Used as it is.

One rule for a table **without** ``instance``: every row is the participant's first imaging visit
(instance 2); a participant may then appear once. One visit rule for every command:

- ``visits="prefer2"`` (default, the paper's): one row per participant, visit 2; visit 3 only for
  participants with no visit-2 row. A visit-3 row not used is listed in ``excluded`` as
  ``repeat_visit_not_used`` (the participant is still analysed, at visit 2);
- ``visits="both"``: one row per participant-visit (test-retest ICC, per-visit analyses).

Imaging instances are 2 and 3; anything else is an error naming the table, with one exception: a
wide table whose rows are all at instance 0 (values measured or fixed at the baseline assessment,
such as polygenic scores of people outside the imaging study), which the analyses then follow from
the baseline visit (field 53-0.0).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import read_table, table_suffix

#: the paper's seed order (the consensus looks at "later" seeds in this order)
PAPER_SEEDS: tuple[int, ...] = (1701, 1993, 42, 1994, 2023)
VISIT_RULES = ("prefer2", "both")
EXCLUDED_COLUMNS = ["eid", "instance", "reason", "seeds"]

_ZCOL = re.compile(r"^Z(\d+)$")
_SCOL = re.compile(r"^S(\d+)_Z(\d+)$")
_ID_COLS = ("eid", "instance")
_BATCH_ROWS = 16_384  # rows per parquet record batch when reading long latents


def default_seed_order(seeds) -> tuple[int, ...]:
    """The paper's order for its seeds, followed by any other seeds in ascending order."""
    present = {int(s) for s in seeds}
    return tuple(s for s in PAPER_SEEDS if s in present) + tuple(sorted(present - set(PAPER_SEEDS)))


def seed_of(column: str) -> tuple[int, int] | None:
    """``(seed, k)`` of an ``S{seed}_Z{k}`` column name, else None."""
    m = _SCOL.match(column) if isinstance(column, str) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def _empty_excluded() -> pd.DataFrame:
    return pd.DataFrame({"eid": pd.Series(dtype=np.int64), "instance": pd.Series(dtype=np.int64),
                         "reason": pd.Series(dtype=object), "seeds": pd.Series(dtype=object)})


class Latents:
    """Latents of many participants (see the module docstring for the fields).

    Rows are participant-visits (``keys``), columns are latents (``columns``). Build one with
    :func:`read_latents`; analyses take it as their first argument. ``table`` gives the familiar
    DataFrame (``eid, instance`` and the latent columns).
    """

    def __init__(self, keys: pd.DataFrame, values: np.ndarray, columns: Sequence[str], *,
                 seeds: Sequence[int] | None = None, visits: str = "prefer2",
                 excluded: pd.DataFrame | None = None, source: str = "the latents table",
                 counts: dict | None = None):
        keys = pd.DataFrame({c: np.asarray(keys[c], dtype=np.int64) for c in _ID_COLS})
        values = np.asarray(values)
        if values.ndim != 2 or values.shape != (len(keys), len(columns)):
            raise CardiolatentError(f"{source}: values of shape {values.shape} do not match {len(keys)} rows x "
                                    f"{len(columns)} columns")
        if values.dtype not in (np.float32, np.float64):
            values = values.astype(np.float64)
        self.keys = keys
        self.values = values
        self.columns = list(columns)
        if seeds is None:
            seeds = default_seed_order({s[0] for c in self.columns if (s := seed_of(c))})
        self.seeds = tuple(int(s) for s in seeds)
        self.visits = visits
        ex = _empty_excluded() if excluded is None else excluded.reset_index(drop=True)
        if "seeds" not in ex.columns:
            ex = ex.assign(seeds="")
        self.excluded = ex
        self.source = source
        self.counts = dict(counts or {})
        self._table: pd.DataFrame | None = None

    # ---------------------------------------------------------------- views
    @property
    def n_rows(self) -> int:
        return len(self.keys)

    @property
    def n_latents(self) -> int:
        return len(self.columns)

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        seeds = f"seeds {', '.join(map(str, self.seeds))}" if self.seeds else "no seed columns"
        return (f"Latents: {self.n_rows:,} rows (participant-visits, visits={self.visits}) x "
                f"{self.n_latents} latents ({self.values.dtype}); {seeds}; "
                f"{len(self.excluded):,} input rows excluded")

    @property
    def table(self) -> pd.DataFrame:
        """``eid, instance`` and one column per latent (a DataFrame built once, values as stored)."""
        if self._table is None:
            data = {"eid": self.keys["eid"].to_numpy(), "instance": self.keys["instance"].to_numpy()}
            data.update({c: self.values[:, j] for j, c in enumerate(self.columns)})
            self._table = pd.DataFrame(data)
        return self._table

    def as_float64(self) -> np.ndarray:
        """(n_rows, n_latents) float64 copy of the values, for statistics."""
        return self.values.astype(np.float64)

    def seed_columns(self, seeds: Sequence[int] | None = None) -> dict[int, list[tuple[int, str]]]:
        """``{seed: [(k, "S{seed}_Z{k}"), ...]}`` (k ascending), in ``seeds`` order (default :attr:`seeds`)."""
        return seed_columns(self.columns, seeds, self.source, preferred=self.seeds)

    # ---------------------------------------------------------------- subsets
    def select(self, columns: Sequence[str] | str | None) -> "Latents":
        """The latents ``columns`` (names or regular expressions, full match; comma list allowed)."""
        if columns is None:
            return self
        chosen = select_columns(self.columns, columns, self.source)
        idx = [self.columns.index(c) for c in chosen]
        kept = {sk[0] for c in chosen if (sk := seed_of(c))}
        seeds = tuple(s for s in self.seeds if s in kept)
        return Latents(self.keys, self.values[:, idx], chosen, seeds=seeds, visits=self.visits,
                       excluded=self.excluded, source=self.source, counts=self.counts)

    def rows(self, mask: np.ndarray) -> "Latents":
        """The rows where boolean ``mask`` is true (excluded rows kept as they are)."""
        mask = np.asarray(mask, bool)
        return Latents(self.keys[mask].reset_index(drop=True), self.values[mask], self.columns, seeds=self.seeds,
                       visits=self.visits, excluded=self.excluded, source=self.source, counts=self.counts)


def seed_columns(columns: Sequence[str], seeds: Sequence[int] | None, source: str,
                 preferred: Sequence[int] = ()) -> dict[int, list[tuple[int, str]]]:
    """The ``S{seed}_Z{k}`` names among ``columns`` by seed (k ascending), in ``seeds`` order, else
    ``preferred``'s, else the paper's; a seed asked for and absent, or listed twice, is an error."""
    found: dict[int, list[tuple[int, str]]] = {}
    for c in columns:
        sk = seed_of(c)
        if sk:
            found.setdefault(sk[0], []).append((sk[1], c))
    if not found:
        raise CardiolatentError(f"{source} has no latent columns named S{{seed}}_Z{{k}}")
    if seeds is None:
        order = tuple(s for s in preferred if s in found) or default_seed_order(found)
    else:
        order = tuple(int(s) for s in seeds)
        missing = [s for s in order if s not in found]
        if missing:
            raise CardiolatentError(f"seed(s) {', '.join(map(str, missing))} not in {source} (it has "
                                    f"{', '.join(map(str, sorted(found)))})")
        if len(set(order)) != len(order):
            raise CardiolatentError(f"seeds listed twice: {list(order)}")
    return {s: sorted(found[s]) for s in order}


def select_columns(cands: Sequence[str], columns: Sequence[str] | str | None, source: str) -> list[str]:
    """Latent columns chosen by names or regular expressions (full match), in the order asked."""
    cands = list(cands)
    if columns is None:
        return cands
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    chosen: list[str] = []
    for spec in columns:
        if spec in cands:
            hits = [spec]
        else:
            try:
                rx = re.compile(spec)
            except re.error as exc:
                raise CardiolatentError(f"latent column pattern {spec!r} is not a valid regular expression: {exc}")
            hits = [c for c in cands if rx.fullmatch(c)]
        if not hits:
            raise CardiolatentError(f"no latent column of {source} matches {spec!r} "
                                    f"(columns are e.g. {', '.join(cands[:4])})")
        chosen += [h for h in hits if h not in chosen]
    return chosen


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def read_latents(source: Any, *, visits: str = "prefer2", seeds: Sequence[int] | None = None,
                 columns: Sequence[str] | str | None = None) -> Latents:
    """Latents from a file (parquet, TSV, CSV), a DataFrame (long or wide) or a :class:`Latents`.

    ``visits``: ``prefer2`` or ``both`` (module docstring). ``seeds``: seeds to keep, in this order
    (default every seed present, in the paper's order). ``columns``: names or regular expressions
    (full match) of the latent columns to keep, e.g. ``"S1701_Z.*"``; default all.

    A long parquet file is read with pyarrow straight into one float matrix (no DataFrame of the
    latents on the way); every other input goes through :func:`cardiolatent.io_utils.read_table`.
    """
    if visits not in VISIT_RULES:
        raise CardiolatentError(f"visits must be 'prefer2' or 'both', not {visits!r}")
    if isinstance(source, Latents):
        lat = source
        if seeds is not None:
            cols = lat.seed_columns(seeds)
            lat = lat.select([c for s in cols for _, c in cols[s]])
        return lat.select(columns)
    if isinstance(source, pd.DataFrame):
        df, label = source, "the latents table"
    else:
        label = str(source)
        long = _read_long_parquet(source, label)
        if long is not None:
            ids, Z, zcols = long
            return _from_long_arrays(ids, Z, zcols, visits, seeds, label).select(columns)
        df = read_table(source, what="latents table")
    if "eid" not in df.columns:
        raise CardiolatentError(f"{label} has no 'eid' column (columns: {', '.join(map(str, df.columns[:6]))} ...)")
    lat = _from_long(df, visits, seeds, label) if "seed" in df.columns else _from_wide(df, visits, seeds, label)
    return lat.select(columns)


def _read_long_parquet(source: Any, label: str):
    """``(ids DataFrame, Zt (d, rows) matrix, Z names)`` of a long latents parquet file whose ``Z``
    columns are all floating point (float32 stays float32), or None for anything else (read the
    usual way). Latent by latent, so each column is one contiguous copy."""
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    if path is None or (table_suffix(path) or "") != ".parquet" or not path.is_file():
        return None
    try:
        schema = pq.read_schema(path)
    except Exception:  # noqa: BLE001 - not readable here: read_table gives the message
        return None
    names = list(schema.names)
    if not {"eid", "instance", "seed"} <= set(names):
        return None
    zcols = sorted((c for c in names if _ZCOL.match(c)), key=lambda c: int(_ZCOL.match(c).group(1)))
    if not zcols or not all(pa.types.is_floating(schema.field(c).type) for c in zcols):
        return None
    f32 = all(schema.field(c).type == pa.float32() for c in zcols)
    need = ["eid", "instance", "seed"]
    try:
        pf = pq.ParquetFile(path)
        Zt = np.empty((len(zcols), pf.metadata.num_rows), dtype=np.float32 if f32 else np.float64)
        idparts: dict[str, list] = {c: [] for c in need}
        at = 0
        # record batches of a few MB: arrow reuses their memory (one whole-table read costs a
        # second copy of the latents)
        for batch in pf.iter_batches(batch_size=_BATCH_ROWS, columns=need + zcols):
            m = batch.num_rows
            for k, c in enumerate(zcols):
                Zt[k, at:at + m] = batch.column(c).to_numpy(zero_copy_only=False)  # nulls -> NaN
            for c in need:
                idparts[c].append(batch.column(c).to_numpy(zero_copy_only=False))
            at += m
    except Exception as exc:  # noqa: BLE001 - pyarrow errors: say which file
        raise CardiolatentError(f"cannot read latents table {path}: {exc}") from exc
    if at != Zt.shape[1]:
        raise CardiolatentError(f"cannot read latents table {path}: {at} rows read, {Zt.shape[1]} expected")
    ids = pd.DataFrame({c: (np.concatenate(idparts[c]) if idparts[c] else np.zeros(0, np.int64)) for c in need})
    return ids, Zt, zcols


def _check_ids(df: pd.DataFrame, cols: Sequence[str], label: str, *, baseline_ok: bool = False) -> pd.DataFrame:
    """Whole-number ``eid`` / ``instance`` (/ ``seed``) columns; instances 2 and 3 (the imaging visits),
    or, with ``baseline_ok`` (a wide table of per-participant values such as polygenic scores), all rows
    at the baseline visit (instance 0), where follow-up then starts."""
    df = df.copy()
    for c in cols:
        if pd.api.types.is_integer_dtype(df[c].dtype) and not isinstance(df[c].dtype, pd.api.extensions.ExtensionDtype):
            df[c] = df[c].astype(np.int64)  # whole numbers, never missing
            continue
        if df[c].isna().any():
            raise CardiolatentError(f"{label} has missing values in column {c!r}")
        num = pd.to_numeric(df[c], errors="coerce")
        if num.isna().any() or (num != np.floor(num)).any():
            bad = df.loc[num.isna() | (num != np.floor(num)), c].iloc[0]
            raise CardiolatentError(f"{label}: column {c!r} must hold whole numbers; found {bad!r}")
        df[c] = num.astype(np.int64)
    if "instance" in cols:
        present = set(int(i) for i in np.unique(df["instance"].to_numpy()))
        if baseline_ok and 0 in present:
            if present != {0}:
                raise CardiolatentError(f"{label} has rows at the baseline visit (instance 0) and at imaging visits "
                                        f"(instance(s) {sorted(present - {0})}); a table holds one or the other")
            return df
        bad = sorted(present - {2, 3})
        if bad:
            raise CardiolatentError(f"{label} has instance(s) {bad}; imaging instances are 2 and 3"
                                    + (" (or 0 for every row: values at the baseline visit, such as polygenic "
                                       "scores)" if baseline_ok else ""))
    return df


def latent_z_columns(df: pd.DataFrame) -> list[str]:
    """``Z{k}`` columns of a long latents table, sorted by k."""
    cols = [c for c in df.columns if isinstance(c, str) and _ZCOL.match(c)]
    return sorted(cols, key=lambda c: int(_ZCOL.match(c).group(1)))


def _from_long(latents: pd.DataFrame, visits: str, seeds, label: str) -> Latents:
    """Long (``eid, instance, seed, Z0..``) -> one row per participant-visit with ``S{seed}_Z{k}``."""
    need = ["eid", "instance", "seed"]
    missing = [c for c in need if c not in latents.columns]
    if missing:
        raise CardiolatentError(f"{label} lacks column(s) {', '.join(missing)} (expected eid, instance, seed, Z0..Z127)")
    zcols = latent_z_columns(latents)
    if not zcols:
        raise CardiolatentError(f"{label} has no latent columns Z0, Z1, ...")
    dtypes = {latents[c].dtype for c in zcols}
    dtype = np.float32 if dtypes == {np.dtype(np.float32)} else np.float64
    Zt = latents[zcols].to_numpy(dtype=dtype, na_value=np.nan).T  # (d, rows); no copy for one block
    return _from_long_arrays(latents[need], Zt, zcols, visits, seeds, label)


def _from_long_arrays(ids: pd.DataFrame, Zt: np.ndarray, zcols: list[str], visits: str, seeds,
                      label: str) -> Latents:
    """The long -> wide step on arrays: ``ids`` (``eid, instance, seed``), ``Zt`` (d, rows) float
    (latent-major: gathering rows of each latent is a contiguous read).

    Participant-visits with every seed's latents become one row (columns seed by seed, in the seed
    order, then Z0..); the others are listed in ``excluded`` with the reason (``missing_seeds`` or
    ``nan_latents``) and the seeds lacking. Rows sorted by (eid, instance).
    """
    need = ["eid", "instance", "seed"]
    ids = _check_ids(ids, need, label)
    eid, inst, sd = (ids[c].to_numpy() for c in need)
    present = np.unique(sd)
    if seeds is None:
        order = default_seed_order(present)
    else:
        order = tuple(int(s) for s in seeds)
        absent = [s for s in order if s not in set(present.tolist())]
        if absent:
            raise CardiolatentError(f"seed(s) {', '.join(map(str, absent))} not in {label} (it has "
                                    f"{', '.join(map(str, present.tolist()))})")
        keep = np.isin(sd, order)
        if not keep.all():
            eid, inst, sd, Zt = eid[keep], inst[keep], sd[keep], Zt[:, keep]
    if not order:
        raise CardiolatentError(f"{label} has no rows")
    S, d = len(order), len(zcols)
    # seed code = position in the seed order
    sorted_seeds = np.array(sorted(order), dtype=np.int64)
    code_of_sorted = np.array([order.index(s) for s in sorted_seeds.tolist()], dtype=np.int64)
    code = code_of_sorted[np.searchsorted(sorted_seeds, sd)]
    o = np.lexsort((code, inst, eid))
    e_s, i_s, c_s = eid[o], inst[o], code[o]
    same_key = (e_s[1:] == e_s[:-1]) & (i_s[1:] == i_s[:-1])
    dup = same_key & (c_s[1:] == c_s[:-1])
    if dup.any():
        mask = np.zeros(len(eid), bool)
        mask[o[1:][dup]] = True
        mask[o[:-1][dup]] = True
        ex = pd.DataFrame({"eid": eid, "instance": inst, "seed": sd})[mask].drop_duplicates().head(5)
        raise CardiolatentError(f"{label} has several rows for the same eid/instance/seed, e.g. "
                                + "; ".join(f"eid {r.eid} instance {r.instance} seed {r.seed}"
                                            for r in ex.itertuples()))
    newkey = np.r_[True, ~same_key] if len(o) else np.zeros(0, bool)
    key_of = np.cumsum(newkey) - 1        # key of each sorted row
    key_eid, key_inst = e_s[newkey], i_s[newkey]
    counts: dict = {}
    unused_eids = np.zeros(0, np.int64)
    use_key = np.ones(len(key_eid), bool)
    if visits == "prefer2":
        has2 = np.unique(key_eid[key_inst == 2])
        drop3 = (key_inst == 3) & np.isin(key_eid, has2)
        unused_eids = key_eid[drop3]
        counts["visit3_rows_not_used"] = int(drop3.sum())
        use_key = ~drop3
    with np.errstate(invalid="ignore", over="ignore"):
        any_nan = bool(np.isnan(Zt.sum()))
    nan_row = np.isnan(Zt).any(axis=0)[o] if any_nan else np.zeros(len(o), bool)
    K = len(key_eid)
    n_seen = np.bincount(key_of, minlength=K)
    n_ok = np.bincount(key_of, weights=~nan_row, minlength=K)
    complete = use_key & (n_ok == S)
    bad_keys = np.flatnonzero(use_key & ~complete)
    excl = []
    if len(bad_keys):
        ok_mat = np.zeros((K, S), bool)
        good = ~nan_row
        ok_mat[key_of[good], c_s[good]] = True
        for k in bad_keys:
            reason = "missing_seeds" if n_seen[k] < S else "nan_latents"
            lacking = [order[j] for j in range(S) if not ok_mat[k, j]]
            excl.append((key_eid[k], key_inst[k], reason, ",".join(map(str, lacking))))
    excluded = pd.DataFrame(excl, columns=EXCLUDED_COLUMNS).astype({"eid": np.int64, "instance": np.int64})
    if len(unused_eids):
        repeat = pd.DataFrame({"eid": unused_eids, "instance": np.int64(3), "reason": "repeat_visit_not_used",
                               "seeds": ""})
        excluded = pd.concat([excluded, repeat], ignore_index=True)
    # rows of complete keys are runs of S rows in (key, seed order) order: one gather per seed
    kc = int(complete.sum())
    rows = o[complete[key_of]].reshape(kc, S)
    vals = np.empty((kc, S * d), dtype=Zt.dtype if kc else np.float32)
    for j in range(S):
        vals[:, j * d:(j + 1) * d] = Zt[:, rows[:, j]].T
    cols = [f"S{s}_{z}" for s in order for z in zcols]
    keys = pd.DataFrame({"eid": key_eid[complete], "instance": key_inst[complete]})
    counts.update(rows=kc, participants=int(len(np.unique(keys["eid"].to_numpy()))),
                  visit3_rows_used=int((keys["instance"] == 3).sum()),
                  excluded=int((excluded["reason"] != "repeat_visit_not_used").sum()))
    return Latents(keys, vals, cols, seeds=order, visits=visits, excluded=excluded, source=label, counts=counts)


def _from_wide(df: pd.DataFrame, visits: str, seeds, label: str) -> Latents:
    """Wide (``eid`` [, ``instance``], latent columns) as it is, with the visit rule applied."""
    table = df.copy()
    if "instance" not in table.columns:
        table.insert(1, "instance", np.int64(2))  # the rule: no instance column = visit 2
    table = _check_ids(table, _ID_COLS, label, baseline_ok=True)
    dup = table.duplicated(list(_ID_COLS), keep=False)
    if dup.any():
        ex = table.loc[dup, "eid"].drop_duplicates().head(5).tolist()
        raise CardiolatentError(f"{label} has several rows for the same participant and visit, "
                                f"e.g. eid {', '.join(map(str, ex))}")
    excluded = _empty_excluded()
    if visits == "prefer2":
        has2 = set(table.loc[table["instance"] == 2, "eid"])
        drop = ((table["instance"] != 2) & table["eid"].isin(has2)).to_numpy()
        excluded = table.loc[drop, ["eid", "instance"]].assign(reason="repeat_visit_not_used", seeds="")
        table = table.loc[~drop]
    table = table.sort_values(list(_ID_COLS), kind="stable").reset_index(drop=True)
    numeric = [c for c in table.columns if c not in _ID_COLS
               and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
    if not numeric:
        raise CardiolatentError(f"{label} has no numeric latent columns")
    order = None
    if seeds is not None:
        cols = seed_columns(numeric, seeds, label)
        numeric = [c for s in cols for _, c in cols[s]]
        order = tuple(cols)
    dtypes = {table[c].dtype for c in numeric}
    dtype = np.float32 if dtypes == {np.dtype(np.float32)} else np.float64
    vals = np.column_stack([table[c].to_numpy(dtype) for c in numeric])
    counts = {"rows": int(len(table)), "participants": int(table["eid"].nunique()),
              "visit3_rows_used": int((table["instance"] == 3).sum()), "excluded": 0,
              "visit3_rows_not_used": int(len(excluded))}
    return Latents(table[list(_ID_COLS)], vals, numeric, seeds=order, visits=visits, excluded=excluded,
                   source=label, counts=counts)
