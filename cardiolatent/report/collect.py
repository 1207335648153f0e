"""Gather the report's sections from a results folder: tables as formatted cells, figures as data URIs.

:func:`collect` walks the folder with :func:`cardiolatent.plotting.batch.find_results`, loads each
result with :meth:`cardiolatent.results.Result.load`, draws its figures in memory
(:data:`cardiolatent.plotting.batch.FAMILY_FIGURES`, PNG at 150 dpi) and sorts what it found into
the report's sections (:data:`SECTIONS`). A section with nothing to show carries ``empty``: the
command that would fill it. Nothing here writes a file.

Shapes handed to the template (plain dicts, so the template needs no pandas):

- table: ``{"caption", "columns": [str], "rows": [[str]], "note"}``;
- figure: ``{"title", "uri", "source"}`` (``uri`` is ``data:image/png;base64,...`` or a GIF);
- note: ``{"source", "text", "level"}`` (``level``: ``note`` or ``warning``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import table_stem
from cardiolatent.plotting.batch import FAMILY_FIGURES, find_results
from cardiolatent.plotting.style import style
from cardiolatent.results import Result

#: section id -> heading (the order of the report)
SECTIONS = {
    "run": "What was run",
    "flow": "Participant flow",
    "reproducibility": "Reproducibility",
    "associations": "Associations",
    "survival": "Survival",
    "gwas": "GWAS",
    "heritability": "Heritability",
    "prs": "Polygenic scores",
    "manipulation": "Manipulation",
    "notes": "Notes and warnings",
    "truth": "Planted truth",
}
#: result class -> the section its tables and figures go to
SECTION_OF = {
    "ReproducibilityResult": "reproducibility", "CrossSeedResult": "reproducibility",
    "AssocResult": "associations", "CoxResult": "survival", "GwasSummary": "gwas", "ExportResult": "gwas",
    "ManipulationResult": "manipulation", "HeritabilityResult": "heritability", "PrsResult": "prs",
}
#: what fills an empty section
FILL = {
    "reproducibility": "cardiolatent icc --between visits --out DIR/icc_visits.tsv; cardiolatent icc --between "
                       "seeds --out DIR/icc_seeds.tsv; cardiolatent ensemble --out DIR/ensemble",
    "associations": "cardiolatent assoc --out DIR/assoc_traits.tsv (cardiac traits; --traits AF,MI for diseases)",
    "survival": "cardiolatent cox --outcomes AF,MI --groups <latent> --out DIR/cox.tsv",
    "gwas": "cardiolatent export --format plink2 --out DIR/gwas_export, run the tool, then cardiolatent "
            "gwas-results --out DIR/gwas",
    "heritability": "cardiolatent heritability --rg pairs --out DIR/h2.tsv",
    "prs": "cardiolatent prs --gwas DIR/gwas --out DIR/prs",
    "manipulation": "cardiolatent manipulate --trait lvedv --out DIR/manipulation/lvedv",
    "flow": "any analysis command writing into DIR",
    "run": "any analysis command writing into DIR",
}
#: summary keys not listed as parameters (bulky or shown elsewhere)
BULKY = {"files", "inputs", "icc", "meff", "chromosomes", "notes", "warnings", "outputs", "phenotypes", "filters",
         "traits_tested", "latents_per_seed", "per_seed", "consensus", "ensemble", "outcomes", "seed_order"}
#: words of figure names spelled out in captions
FIGURE_WORDS = {"km": "Kaplan-Meier", "na": "Nelson-Aalen", "qq": "QQ", "icc": "ICC"}
TOP_N = 15
DPI = 150


@dataclass
class Loaded:
    """One saved result: its path, label (relative to the folder), summary record and the object."""

    path: Path
    label: str
    record: dict
    result: Result | None
    kind: str
    error: str | None = None


@dataclass
class Section:
    id: str
    title: str
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    text: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    empty: str | None = None

    @property
    def filled(self) -> bool:
        return bool(self.tables or self.figures or self.text or self.notes)


@dataclass
class Report:
    """Everything the template shows: ``sections`` (id -> :class:`Section`), ``notes``, run info."""

    root: Path
    sections: dict
    notes: list
    results: list
    created: str
    version: str = __version__


# ----------------------------------------------------------------------------------------- formatting
def fmt(v, col: str = "") -> str:
    """A cell as text: p-values in scientific notation, other floats to 3 significant digits."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int,)) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return f"{int(v):,}"
    if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f"):
        v = float(v)
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if col == "p" or col.startswith(("p_", "q_")) or col.endswith("_p") or (v != 0 and abs(v) < 1e-3):
            return f"{v:.2e}"
        if abs(v) >= 1e5:
            return f"{v:.3g}"
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {fmt(x)}" for k, x in v.items())
    return str(v)


def table(df: pd.DataFrame, caption: str, columns=None, *, note: str = "", limit: int | None = None) -> dict:
    """A DataFrame as a template table (``columns``: those shown, when present)."""
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    shown = df if limit is None else df.head(limit)
    if len(shown):
        shown = shown[[c for c in shown.columns if not all(fmt(v, c) == "" for v in shown[c])]]
    if limit is not None and len(df) > limit:
        note = (note + " " if note else "") + f"First {limit:,} of {len(df):,} rows."
    rows = [[fmt(v, c) for c, v in zip(shown.columns, r)] for r in shown.itertuples(index=False)]
    return {"caption": caption, "columns": [str(c) for c in shown.columns], "rows": rows, "note": note}


def rows_table(rows: list[dict], caption: str, *, note: str = "") -> dict:
    return table(pd.DataFrame(rows), caption, note=note) if rows else {"caption": caption, "columns": [],
                                                                        "rows": [], "note": note}


def png_uri(fig) -> tuple[str, float]:
    """The figure as a PNG data URI (``DPI``) and its width in mm (closes the figure)."""
    buf = io.BytesIO()
    with style():  # the house style's savefig settings (tight bounding box), as save_figure uses
        fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    data = buf.getvalue()
    width_mm = int.from_bytes(data[16:20], "big") / DPI * 25.4  # the PNG header's width, in pixels
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii"), width_mm


def file_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# ----------------------------------------------------------------------------------------- loading
def _record(path: Path) -> dict:
    summ = path / "summary.json" if path.is_dir() else path.with_name(f"{table_stem(path)}.summary.json")
    try:
        return json.loads(summ.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _label(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) if path != root else path.name
    except ValueError:
        return str(path)


def load_results(root: Path) -> list[Loaded]:
    """Every saved result under ``root``, loaded (a result that cannot be read carries ``error``)."""
    out = []
    for p in find_results(root):
        rec = _record(p)
        kind = str(rec.get("result", "")).rpartition(".")[2] or "unknown"
        try:
            res = Result.load(p)
            kind = type(res).__name__
            err = None
        except CardiolatentError as exc:
            res, err = None, str(exc)
        out.append(Loaded(p, _label(p, root), rec, res, kind, err))
    return out


def _date(item: Loaded) -> str:
    created = item.record.get("created")
    if created:
        try:
            return dt.datetime.fromisoformat(str(created)).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            return str(created)
    summ = item.path / "summary.json" if item.path.is_dir() else None
    target = summ if summ is not None and summ.exists() else item.path
    try:
        t = dt.datetime.fromtimestamp(os.path.getmtime(target), tz=dt.timezone.utc)
    except OSError:
        return ""
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _params(rec: dict) -> str:
    parts = []
    for k, v in rec.items():
        if k in BULKY or k in ("cardiolatent_version", "result", "created"):
            continue
        text = fmt(v)
        if text in ("", "[]", "{}"):
            continue
        if len(text) > 90:
            text = text[:87] + "..."
        parts.append(f"{k}={text}")
    out = "; ".join(parts)
    return out if len(out) <= 700 else out[:697] + "..."


# ----------------------------------------------------------------------------------------- sections
def read_run_manifest(root: Path, notes: list) -> list[dict]:
    """Tables of ``root/run.json`` (see :mod:`cardiolatent.report`); a malformed file becomes a warning."""
    path = root / "run.json"
    if not root.is_dir() or not path.exists():
        return []
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        steps = rec["steps"]
        if not isinstance(steps, list) or not all(isinstance(s, dict) and "name" in s for s in steps):
            raise ValueError("'steps' must be a list of objects with a 'name'")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        notes.append({"source": "run.json", "text": f"run.json not read: {exc}", "level": "warning"})
        return []
    rows = [{"step": s.get("name"), "command": s.get("command", ""), "seconds": s.get("seconds"),
             "status": s.get("status", ""), "outputs": ", ".join(map(str, s.get("outputs", [])))} for s in steps]
    tables = [rows_table(rows, "Steps of the run (run.json)")]
    versions = rec.get("versions") or {}
    if isinstance(versions, dict) and versions:
        tables.append(rows_table([{"package": k, "version": fmt(v)} for k, v in versions.items()],
                                 "Versions (run.json)"))
    for s in steps:
        for n in s.get("notes", []) or []:
            notes.append({"source": f"run.json: {s.get('name')}", "text": str(n), "level": "note"})
    return tables


def run_section(items: list[Loaded], root: Path, notes: list) -> Section:
    sec = Section("run", SECTIONS["run"])
    sec.tables += read_run_manifest(root, notes)
    rows = []
    for it in items:
        rec = it.record
        version = rec.get("cardiolatent_version", "")
        rows.append({"result": it.label, "kind": it.kind, "version": "" if version == __version__ else version,
                     "date": _date(it), "weights": rec.get("weights_fingerprint", ""), "parameters": _params(rec)})
    if rows:
        same = all(it.record.get("cardiolatent_version", "") == __version__ for it in items)
        sec.tables.append(rows_table(rows, "Results in the folder, with the parameters their summaries record",
                                     note=f"Every result was written by cardiolatent {__version__} (this version)."
                                     if same else "version: the cardiolatent version that wrote the result, "
                                                  f"where it is not this one ({__version__}); weights: "
                                                  "fingerprint of the model weights used."))
        sec.tables[-1]["breakable"] = True  # tall rows: let print split it between pages
    return sec


def _reasons(df: pd.DataFrame | None) -> str:
    if df is None or df.empty or "reason" not in df:
        return ""
    return "; ".join(f"{k}: {v:,}" for k, v in df["reason"].value_counts().items())


def flow_rows(it: Loaded) -> list[dict]:
    """Counts and exclusion reasons of one result (one row, or one per Cox outcome)."""
    rec, res = it.record, it.result
    excl = getattr(res, "excluded", None)
    base = {"result": it.label, "kind": it.kind}
    if it.kind == "CoxResult":
        rows = []
        for o, d in (rec.get("outcomes") or {}).items():
            why = dict(d.get("excluded") or {})
            why.update(rec.get("latent_rows_excluded") or {})
            rows.append({**base, "step": f"outcome {o}", "in": d.get("n_rows"), "used": d.get("n_used"),
                         "events": d.get("n_events"), "excluded": fmt(why)})
        return rows
    if it.kind == "ExportResult":
        p = rec.get("participants") or {}
        why = {f["reason"]: f["excluded"] for f in rec.get("filters", []) if f.get("excluded")}
        why.update(rec.get("latents_rows_not_used") or {})
        return [{**base, "step": f"export ({rec.get('tool', rec.get('format', ''))})",
                 "in": p.get("in_latents_table"), "used": p.get("written"), "events": None, "excluded": fmt(why)}]
    if it.kind == "ReproducibilityResult":
        used = rec.get("n_participants_both_visits") if rec.get("between") == "visits" else rec.get(
            "n_participants_visit2", rec.get("n_participants"))
        return [{**base, "step": f"ICC between {rec.get('between', '')}",
                 "in": rec.get("n_participants_visit2"), "used": used, "events": None, "excluded": _reasons(excl)}]
    if it.kind == "CrossSeedResult":
        why = dict(rec.get("excluded_by_reason") or {})
        if rec.get("visit3_rows_not_used"):
            why["repeat_visit_not_used"] = rec["visit3_rows_not_used"]
        return [{**base, "step": "seed ensemble", "in": rec.get("participants"), "used": rec.get("rows"),
                 "events": None, "excluded": fmt(why)}]
    if it.kind == "AssocResult":
        used = int(res.table["n"].max()) if res is not None and "n" in res.table and len(res.table) else None
        skipped = "; ".join(f"{s.get('trait')} skipped ({s.get('reason')})" for s in rec.get("traits_skipped", []))
        return [{**base, "step": f"association ({rec.get('n_traits_tested', '')} traits)", "in": rec.get("n_rows"),
                 "used": used, "events": None, "excluded": "; ".join(x for x in (_reasons(excl), skipped) if x)}]
    if it.kind == "ManipulationResult":
        return [{**base, "step": f"manipulation {rec.get('name', '')}", "in": None,
                 "used": rec.get("n_participants"), "events": None, "excluded": _reasons(excl)}]
    if it.kind == "GwasSummary":
        c = rec.get("counts") or {}
        return [{**base, "step": "GWAS results", "in": None, "used": None, "events": None,
                 "excluded": f"{c.get('latents', '')} latents read; skipped files: {len(rec.get('skipped', []))}"}]
    return [{**base, "step": it.kind, "in": rec.get("n_rows"), "used": None, "events": None,
             "excluded": _reasons(excl)}]


def flow_section(items: list[Loaded]) -> Section:
    sec = Section("flow", SECTIONS["flow"])
    rows = [r for it in items if it.error is None for r in flow_rows(it)]
    if rows:
        sec.tables.append(rows_table(
            rows, "Participants at each step: rows in, rows used, and why the others were left out",
            note="in: rows (participant-visits) the step read; used: rows in its models (ICC between visits: "
                 "participants with both visits); events: incident events (Cox)."))
    return sec


def _figures(it: Loaded, notes: list) -> list[dict]:
    family = FAMILY_FIGURES.get(it.kind)
    if family is None or it.result is None:
        return []
    try:
        figs = family(it.result)
    except CardiolatentError as exc:
        notes.append({"source": it.label, "text": f"no figure: {exc}", "level": "note"})
        return []
    out = []
    for name, fig in figs.items():
        if isinstance(fig, str):
            notes.append({"source": it.label, "text": f"figure {name} not drawn: {fig}", "level": "note"})
            continue
        uri, width_mm = png_uri(fig)
        words = " ".join(FIGURE_WORDS.get(w, w) for w in name.split("_"))
        out.append({"title": f"{it.label}: {words}", "uri": uri, "width_mm": width_mm,
                    "source": it.label})
    plt.close("all")
    return out


def _repro_tables(it: Loaded) -> list[dict]:
    rec = it.record
    if it.kind == "ReproducibilityResult":
        rows = [{"form": f, **{k: v for k, v in d.items()}} for f, d in (rec.get("icc") or {}).items()]
        note = rec.get("report_form_description", "")
        return [rows_table(rows, f"{it.label}: ICC between {rec.get('between', '')} (summary over latents)",
                           note=f"Reported form: {rec.get('report_form', '')}: {note}" if note else "")]
    cons = rec.get("consensus") or {}
    rows = [{"seed": s, "latents selected": n, "latents per seed": (rec.get("latents_per_seed") or {}).get(str(s))}
            for s, n in (cons.get("selected_per_seed") or {}).items()]
    tabs = [rows_table(rows, f"{it.label}: consensus selection (|r| >= {cons.get('threshold', '')} with another "
                             f"seed)", note=f"{cons.get('n_selected', '')} latents selected of "
                                            f"{rec.get('n_columns', '')}.")]
    ens = rec.get("ensemble") or {}
    if ens:
        tabs.append(rows_table([{k: v for k, v in ens.items()}], f"{it.label}: seed ensemble"))
    return tabs


def _assoc_tables(it: Loaded) -> list[dict]:
    df = it.result.table.sort_values("p", kind="stable")
    thr = it.record.get("threshold_meff")
    note = f"M_eff threshold P < {fmt(thr)} (alpha {it.record.get('alpha', '')} / M_eff " \
           f"{fmt(it.record.get('m_eff'))})." if thr else ""
    return [table(df, f"{it.label}: top associations ({it.record.get('model', '')})",
                  ["latent", "trait", "beta", "se", "p", "q_bh", "significant_meff", "n", "n_cases", "status"],
                  note=note, limit=TOP_N)]


def _cox_tables(it: Loaded) -> list[dict]:
    df = it.result.table.sort_values("p", kind="stable")
    tabs = [table(df, f"{it.label}: top hazard ratios per SD of latent ({it.record.get('model', '')})",
                  ["latent", "outcome", "hr", "hr_ci_low", "hr_ci_high", "p", "n", "n_events", "c_index", "status"],
                  limit=TOP_N)]
    hr = (getattr(it.result, "groups", None) or {}).get("hazard_ratios")
    if hr is not None and len(hr):
        tabs.append(table(hr, f"{it.label}: hazard ratios by {it.record.get('quantiles', '')}-quantile group of "
                              f"{it.record.get('groups', '')}",
                          ["outcome", "group", "reference", "hr", "ci_low", "ci_high", "p", "n", "n_events",
                           "n_ref", "n_events_ref", "status"]))
    return tabs


def _h2_tables(it: Loaded) -> list[dict]:
    """The h2 table (with the 95% CI) and, when there is one, the genetic correlations."""
    df = it.result.table.copy()
    df["ci_low"], df["ci_high"] = df["h2"] - 1.96 * df["se"], df["h2"] + 1.96 * df["se"]
    df["n"] = pd.to_numeric(df["n"], errors="coerce").round().astype("Int64")   # LDSC's is a mean N
    tabs = [table(df.sort_values(["method", "h2"], ascending=[True, False], kind="stable"),
                  f"{it.label}: SNP heritability (95% CI = h2 +- 1.96 SE)",
                  ["phenotype", "method", "h2", "se", "ci_low", "ci_high", "n", "intercept", "ratio", "status"],
                  limit=TOP_N)]
    rg = getattr(it.result, "rg", None)
    if rg is not None and len(rg):
        tabs.append(table(rg, f"{it.label}: genetic correlations",
                          ["phenotype1", "phenotype2", "method", "rg", "se", "p", "status"], limit=TOP_N))
    return tabs


def _prs_tables(it: Loaded) -> list[dict]:
    """The strongest scores per outcome (Cox per SD), the tertile hazard ratios of the best evaluated score
    and the AUC models."""
    res, rec = it.result, it.record
    tgt = rec.get("target") or {}
    note = (f"{rec.get('n_target', 0):,} target participants ({'the built-in target cohort' if tgt.get('built_in') else tgt.get('main', '')}); "
            f"weights from {rec.get('discovery', '')}; scored by {rec.get('scorer', '')}; P thresholds "
            f"{', '.join(f'{t:g}' for t in rec.get('thresholds', []))} (evaluated: {rec.get('primary_threshold', 0):g}); "
            f"follow-up from {rec.get('follow_from_reason') or 'the first imaging visit'}.")
    chosen = rec.get("target_samples") or {}
    if chosen.get("discovery_n"):
        note += (f" Checked against the {chosen['discovery_n']:,} participants of the discovery sample: "
                 f"{chosen.get('in_discovery_gwas', 0):,} target participants in it and "
                 f"{chosen.get('related_to_discovery', 0):,} related to it left out"
                 + ("" if chosen.get("kinship_threshold") is not None else " (relatedness not checked)") + ".")
    tabs = [table(res.table.sort_values("p", kind="stable"),
                  f"{it.label}: hazard ratio per SD of polygenic score (Cox, {', '.join(rec.get('covariates', []))})",
                  ["score", "outcome", "hr", "hr_ci_low", "hr_ci_high", "p", "n_variants", "n", "n_events", "status"],
                  limit=TOP_N, note=note)]
    t = res.tertiles
    if len(t):
        ev = res.table[res.table["score"].isin(rec.get("evaluated", []))].sort_values("p", kind="stable")
        best = ev.drop_duplicates("outcome")[["outcome", "score"]].itertuples(index=False)
        rows = pd.concat([t[(t["outcome"] == o) & (t["score"] == sc) & (t["reference"] == "T1")] for o, sc in best]
                         or [t.iloc[:0]])
        tabs.append(table(rows, f"{it.label}: hazard ratio by tertile of the strongest evaluated score "
                                "(T1 low, T3 top; against T1)",
                          ["outcome", "score", "group", "reference", "hr", "ci_low", "ci_high", "p", "n", "n_events"]))
    if len(res.auc):
        tabs.append(table(res.auc, f"{it.label}: AUC for incident disease (5-fold out-of-fold; DeLong against "
                                   "the covariates alone)",
                          ["outcome", "model", "score", "n", "cases", "auc", "ci_low", "ci_high", "delong_diff",
                           "delong_p"]))
    return tabs


def _gwas_tables(it: Loaded) -> list[dict]:
    rec, res = it.record, it.result
    if it.kind == "ExportResult":
        p = rec.get("participants") or {}
        return [rows_table([{"format": rec.get("format"), "tool": rec.get("tool"), "written": p.get("written"),
                             "excluded": p.get("excluded"), "phenotypes": len((rec.get("phenotypes") or {})
                                                                            .get("written", []))}],
                           f"{it.label}: export for the GWAS tool")]
    lam = rec.get("lambda_gc") or {}
    thr = (rec.get("threshold") or {}).get("how", "")
    tabs = [rows_table([{"latents": (rec.get("counts") or {}).get("latents"), "lambda_gc median": lam.get("median"),
                         "min": lam.get("min"), "max": lam.get("max"), "leads": (rec.get("counts") or {}).get("leads"),
                         "loci": (rec.get("counts") or {}).get("loci"), "threshold": thr}],
                       f"{it.label}: genomic inflation and hits")]
    tabs.append(table(res.table.sort_values("lambda_gc", ascending=False, kind="stable"),
                      f"{it.label}: lambda_GC per latent (highest first)",
                      ["latent", "format", "n_variants", "lambda_gc", "max_mlog10p", "n_significant", "n_leads",
                       "status"], limit=10))
    tabs.append(table(res.leads, f"{it.label}: lead variants ({thr})",
                      ["latent", "locus", "chrom", "pos", "id", "effect_allele", "other_allele", "eaf", "beta", "se",
                       "p", "n"], limit=50,
                      note="" if len(res.leads) else "No variant passed the threshold."))
    tabs.append(table(res.loci, f"{it.label}: loci", ["locus", "chrom", "start", "end", "lead_id", "lead_latent",
                                                      "lead_mlog10p", "n_latents", "latents"], limit=50,
                      note="" if len(res.loci) else "No locus."))
    return tabs


def _manipulation(it: Loaded) -> tuple[list[dict], list[dict]]:
    rec = it.record
    tabs = [rows_table([{"direction": rec.get("name"), "kind": rec.get("kind"), "seed": rec.get("seed"),
                         "weights fingerprint": rec.get("weights_fingerprint"), "score": rec.get("score"),
                         "score name": rec.get("score_name"), "magnitudes": rec.get("magnitudes"),
                         "participants": rec.get("n_participants")}], f"{it.label}: manipulation")]
    cines = []
    if it.path.is_dir():
        for gif in sorted(it.path.glob("*/cine.gif")):
            cines.append({"title": f"{it.label}: participant {gif.parent.name.replace('_', ', visit ')} (cine, "
                                   "animated)", "uri": file_uri(gif, "image/gif"), "width_mm": None,
                          "source": it.label})
    return tabs, cines


def collect_notes(items: list[Loaded], notes: list) -> None:
    """Every ``notes``/``warnings`` list in the summaries (at any depth), and results that failed to load."""
    def walk(obj, source, key=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in ("notes", "warnings") and isinstance(v, list):
                    for t in v:
                        notes.append({"source": source, "text": str(t),
                                      "level": "warning" if k == "warnings" else "note"})
                else:
                    walk(v, source, k)
        elif isinstance(obj, list) and key not in ("inputs",):
            for v in obj:
                walk(v, source, key)

    for it in items:
        if it.error:
            notes.append({"source": it.label, "text": f"not read: {it.error}", "level": "warning"})
        walk(it.record, it.label)
        for s in it.record.get("traits_skipped", []) or []:
            notes.append({"source": it.label, "text": f"trait {s.get('trait')} not tested: {s.get('reason')}",
                          "level": "note"})


def collect(root: str | os.PathLike, *, progress=None) -> Report:
    """The report's sections from the results under ``root`` (a folder, or a TOML naming results)."""
    root = Path(root)
    if not root.exists():
        raise CardiolatentError(f"--results {root} does not exist")
    items = load_results(root)
    if not items and not (root.is_dir() and (root / "run.json").exists()):
        raise CardiolatentError(f"--results {root}: no saved cardiolatent result found (files X.tsv with "
                                f"X.summary.json, or folders with summary.json)")
    notes: list = []
    sections = {k: Section(k, v) for k, v in SECTIONS.items()}
    sections["run"] = run_section(items, root, notes)
    sections["flow"] = flow_section(items)
    for it in items:
        if progress:
            progress(it.label)
        where = SECTION_OF.get(it.kind)
        if where is None or it.result is None:
            continue
        sec = sections[where]
        if it.kind in ("ReproducibilityResult", "CrossSeedResult"):
            sec.tables += _repro_tables(it)
        elif it.kind == "AssocResult":
            sec.tables += _assoc_tables(it)
        elif it.kind == "CoxResult":
            sec.tables += _cox_tables(it)
        elif it.kind in ("GwasSummary", "ExportResult"):
            sec.tables += _gwas_tables(it)
        elif it.kind == "HeritabilityResult":
            sec.tables += _h2_tables(it)
        elif it.kind == "PrsResult":
            sec.tables += _prs_tables(it)
        elif it.kind == "ManipulationResult":
            tabs, cines = _manipulation(it)
            sec.tables += tabs
            sec.figures += cines
        figs = _figures(it, notes)
        if it.kind == "ManipulationResult":
            sec.figures = figs + sec.figures
        else:
            sec.figures += figs
    collect_notes(items, notes)
    sections["notes"].notes = notes
    if not notes:
        sections["notes"].empty = "No result carries a note or warning."
    if not sections["heritability"].filled:
        sections["heritability"].empty = (f"No heritability result in this folder; run: {FILL['heritability']}")
    if not any(it.kind == "GwasSummary" and it.result is not None for it in items):
        sections["gwas"].empty = f"No GWAS results in this folder; run: {FILL['gwas']}"
    for k, sec in sections.items():
        if k in FILL and not sec.filled and sec.empty is None:
            sec.empty = f"Nothing in this folder for this section; run: {FILL[k]}"
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Report(root=root, sections=sections, notes=notes, results=items, created=created)


__all__ = ["FILL", "Loaded", "Report", "SECTIONS", "Section", "collect", "fmt", "load_results", "table"]
