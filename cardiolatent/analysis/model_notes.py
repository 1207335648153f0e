"""What a scan's models say, for the summary and the console: statuses that are not ``ok`` (with
what each means), numpy's runtime warnings met during the fits, and too few events per parameter."""

from __future__ import annotations

import warnings

import pandas as pd

#: what a model status means, for the notes
STATUS_MEANING = {
    "separation": "an estimate ran off to infinity (the latent or a covariate splits cases from controls)",
    "covariate_separation": "a covariate splits cases from controls",
    "no_convergence": "the fit did not converge",
    "singular": "a covariate is collinear or constant on the rows used",
    "constant": "the latent is constant",
    "constant_predictor": "the latent is constant",
    "too_few": "too few rows",
    "too_few_cases": "too few cases",
    "too_few_events": "too few events",
    "zero_events": "no event",
    "no_rows": "no row with every value",
}


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    """Models whose status is not ``ok``, counted by status."""
    if "status" not in table.columns or not len(table):
        return {}
    st = table["status"].astype(str)
    return {k: int(v) for k, v in st[st != "ok"].value_counts().items()}


def model_notes(label: str, table: pd.DataFrame, caught=(), *, n_events: int | None = None,
                n_params: int = 1, unit: str = "cases") -> list[str]:
    """Notes for the summary and the console: models not ok (by status, with what it means),
    numpy's numerical warnings met during the fit, and fewer than 10 events (or cases) per
    parameter, where estimates are unstable."""
    notes = []
    for st, n in status_counts(table).items():
        notes.append(f"{label}: {n} model(s) with status {st}: {STATUS_MEANING.get(st, st)}")
    msgs = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})
    if msgs:
        notes.append(f"{label}: numerical trouble during the fits ({'; '.join(msgs)}); the models it touched "
                     "are flagged by their status")
    if n_events is not None and n_events < 10 * n_params:
        notes.append(f"{label}: {n_events} {unit} for {n_params} parameter(s) per model, fewer than 10 per "
                     "parameter: estimates are unstable (underpowered)")
    return notes


def gather_chunks(results: list, n_models: int) -> list[tuple[pd.DataFrame, list]]:
    """The per-chunk results of a chunked scan (``results[chunk][model] = (table, [(category, message)])``)
    as one ``(table, caught warnings)`` per model: tables concatenated in chunk order, warnings rebuilt
    as :class:`warnings.WarningMessage` records for :func:`model_notes`."""
    out = []
    for k in range(n_models):
        res = pd.concat([r[k][0] for r in results], ignore_index=True)
        caught = [warnings.WarningMessage(msg, cat, "", 0) for r in results for cat, msg in r[k][1]]
        out.append((res, caught))
    return out
