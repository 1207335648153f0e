"""Loci across latents: lead variants of all latents merged by distance (greedy or single linkage)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolatent.errors import CardiolatentError
from cardiolatent.gwas.coords import codes_of as _codes_of
from cardiolatent.gwas.coords import genome_keys as _keys

__all__ = ["merge_loci"]


def merge_loci(leads: pd.DataFrame, window_kb: float = 250.0,
               method: str = "greedy") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge lead variants of all latents into loci.

    Parameters
    ----------
    leads : rows with ``latent``, ``chrom``, ``pos``, ``mlog10p`` (and ``id``).
    window_kb : ``greedy``: the strongest unassigned lead takes every unassigned lead within
        +-``window_kb`` (inclusive); ``linkage``: leads on a chromosome are chained while
        consecutive ones are at most ``window_kb`` apart.

    Returns
    -------
    (leads, loci): the leads with a ``locus`` column (``L1``, ``L2``, ... in genome order), and one
    row per locus: ``locus, chrom, start, end`` (range of its leads), ``lead_id, lead_pos,
    lead_latent, lead_mlog10p`` (its strongest lead), ``n_latents``, ``n_leads`` and ``latents``
    (comma-separated, strongest first).
    """
    loci_cols = ["locus", "chrom", "start", "end", "lead_id", "lead_pos", "lead_latent", "lead_mlog10p",
                 "n_latents", "n_leads", "latents"]
    if leads.empty:
        out = leads.copy()
        out["locus"] = pd.Series(dtype=object)
        return out, pd.DataFrame(columns=loci_cols)
    if method not in ("greedy", "linkage"):
        raise CardiolatentError(f"locus merging method must be greedy or linkage, not {method!r}")
    codes = _codes_of(leads["chrom"])
    pos = leads["pos"].to_numpy(dtype=np.int64)
    key = _keys(codes, pos)
    m = leads["mlog10p"].to_numpy(dtype=np.float64)
    w = int(round(window_kb * 1000))
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    group = np.full(key.size, -1, dtype=np.int64)
    if method == "greedy":
        alive = np.ones(key.size, dtype=bool)
        g = 0
        for i in np.lexsort((pos[order], codes[order], -m[order])):
            if not alive[i]:
                continue
            lo = np.searchsorted(key_s, key_s[i] - w, side="left")
            hi = np.searchsorted(key_s, key_s[i] + w, side="right")
            sel = lo + np.flatnonzero(alive[lo:hi])
            group[order[sel]] = g
            alive[lo:hi] = False
            g += 1
    else:
        c_s = codes[order]
        brk = np.concatenate([[True], (np.diff(key_s) > w) | (c_s[1:] != c_s[:-1])])
        group[order] = np.cumsum(brk) - 1
    out = leads.copy()
    out["_g"] = group
    out["_code"] = codes
    rows = []
    for g, d in out.groupby("_g", sort=False):
        d = d.sort_values(["mlog10p", "_code", "pos"], ascending=[False, True, True], kind="stable")
        top = d.iloc[0]
        lat_order = d.drop_duplicates("latent")["latent"].astype(str).tolist()
        rows.append({"_g": g, "_code": int(top["_code"]), "chrom": top["chrom"], "start": int(d["pos"].min()),
                     "end": int(d["pos"].max()), "lead_id": top.get("id"), "lead_pos": int(top["pos"]),
                     "lead_latent": top["latent"], "lead_mlog10p": float(top["mlog10p"]),
                     "n_latents": len(lat_order), "n_leads": int(len(d)), "latents": ",".join(lat_order)})
    loci = pd.DataFrame(rows).sort_values(["_code", "start", "lead_pos"], kind="stable").reset_index(drop=True)
    loci["locus"] = [f"L{i + 1}" for i in range(len(loci))]
    name = dict(zip(loci["_g"], loci["locus"]))
    out["locus"] = out["_g"].map(name)
    out = out.drop(columns=["_g", "_code"])
    return out, loci[loci_cols]
