"""The result of moving several participants along one direction: tables, decoded cines, figures.

:class:`ManipulationResult` follows the result contract (:mod:`cardiolatent.results`): ``.table``
(one row per participant-visit and magnitude), ``.excluded`` (participants without a usable image,
with the QC reason), ``.summary``, ``.save``, ``.load``, ``.print_summary`` and ``.plot``.

Saved as one folder ``DIR/{name}/`` (replaced as a unit)::

    manipulation.json      what was moved and how (trait or latent, seed, weights and their
                           fingerprint, magnitudes, steps, the CV score, the per-latent mean and SD
                           and the direction)
    direction.tsv          the direction: column, latent, mean, sd, coef, beta
    table.tsv              eid, instance, magnitude, position, psnr_db (m = 0 only)
    excluded.tsv           eid, instance, reason
    summary.json           the result record (contract)
    {eid}_{instance}/      decoded.npy (M, T, H, W) float32 in [-1, 1], input.npy (T, H, W),
                           grid.png, grid.pdf, cine.gif and, on request, decoded.nii.gz
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import ClassVar

import nibabel as nib
import numpy as np
import pandas as pd

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.interpret.direction import Direction, DirectionSummary
from cardiolatent.interpret.manipulate import Manipulation
from cardiolatent.io_utils import atomic_dir, read_table
from cardiolatent.results import Result, Summary, empty_excluded, jsonable, plotting_layer, read_record, write_table

TABLE_COLUMNS = ["eid", "instance", "magnitude", "position", "psnr_db"]


@dataclasses.dataclass
class ManipulationSummary(Summary):
    """What was moved, along what, with which model."""

    name: str = ""                   # the trait label or latent column (the folder's name)
    kind: str = "trait"              # "trait" or "latent"
    seed: int = 0                    # model seed the direction lives in
    weights: str = ""                # the weights file used
    weights_fingerprint: str = ""    # sha256 of that file (first 16 hex digits)
    preset: str = ""                 # model configuration name (demo, published, ...)
    magnitudes: list = dataclasses.field(default_factory=list)
    inversion_steps: int = 0         # DDIM steps, image -> x_T
    decoding_steps: int = 0          # DDIM steps, (x_T, z') -> image
    device: str = "cpu"
    dtype: str = "fp32"
    score: float | None = None       # the direction's out-of-fold R^2 or AUC
    score_name: str = ""
    n_participants: int = 0          # participant-visits manipulated
    n_excluded: int = 0
    seconds: float | None = None     # wall time of encoding, inversion and decoding
    notes: list = dataclasses.field(default_factory=list)


def _key(eid: int, instance: int) -> str:
    return f"{int(eid)}_{int(instance)}"


@dataclasses.dataclass
class ManipulationResult(Result):
    """Participants moved along one direction (module docstring).

    ``manipulations``: ``{(eid, instance): Manipulation}``; ``direction``: the
    :class:`~cardiolatent.interpret.direction.Direction` used.
    """

    manipulations: dict = dataclasses.field(default_factory=dict)
    direction: Direction | None = None
    nifti: bool = False

    kind: ClassVar[str] = "manipulation"
    layout: ClassVar[str] = "folder"
    table_name: ClassVar[str] = "table.tsv"
    summary_type: ClassVar[type] = ManipulationSummary

    @classmethod
    def build(cls, manipulations: dict, direction: Direction, summary: ManipulationSummary,
              excluded: pd.DataFrame | None = None, *, nifti: bool = False) -> "ManipulationResult":
        rows = []
        for (eid, inst), man in manipulations.items():
            psnr = man.reconstruction_psnr()
            for m, pos in zip(man.magnitudes, man.position):
                rows.append({"eid": int(eid), "instance": int(inst), "magnitude": float(m), "position": float(pos),
                             "psnr_db": psnr if m == 0 else np.nan})
        table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
        excluded = excluded if excluded is not None else empty_excluded()
        summary.n_participants = len(manipulations)
        summary.n_excluded = int(len(excluded))
        return cls(table=table, excluded=excluded.reset_index(drop=True), summary=summary,
                   manipulations=dict(manipulations), direction=direction, nifti=nifti)

    # ------------------------------------------------------------------ contract
    def summary_lines(self) -> list[str]:
        s = self.summary
        what = f"trait {s.name}" if s.kind == "trait" else f"latent {s.name}"
        score = "" if s.score is None else f" (direction out-of-fold {s.score_name.upper()} {s.score:.3f})"
        lines = [f"manipulation along {what}{score}, seed {s.seed}, {s.preset} weights {s.weights_fingerprint}: "
                 f"{s.n_participants} participant-visits x {len(s.magnitudes)} magnitudes "
                 f"({', '.join(f'{m:+g}' for m in s.magnitudes)}); DDIM {s.inversion_steps} inversion / "
                 f"{s.decoding_steps} decoding steps on {s.device} ({s.dtype})"
                 + (f" in {s.seconds:.1f} s" if s.seconds is not None else "")]
        psnr = self.table["psnr_db"].dropna()
        if len(psnr):
            lines.append(f"  m = 0 reconstruction PSNR: median {psnr.median():.1f} dB "
                         f"(range {psnr.min():.1f}-{psnr.max():.1f})")
        if len(self.excluded):
            counts = self.excluded["reason"].value_counts()
            lines.append("  excluded: " + ", ".join(f"{n} {r}" for r, n in counts.items()))
        lines += [f"  note: {n}" for n in s.notes]
        return lines

    def record(self) -> dict:
        """The ``manipulation.json`` record."""
        rec = {"cardiolatent_version": __version__, **self.summary.to_dict()}
        d = self.direction
        if d is not None:
            rec["direction"] = {"kind": d.summary.kind, "trait_kind": d.summary.trait_kind,
                                "n_rows": d.summary.n_rows, "n_selected": d.summary.n_selected,
                                "penalty": d.summary.penalty, "covariates": d.summary.covariates,
                                "columns": d.columns, "mean": d.mean, "sd": d.sd, "coef": d.table["coef"].to_numpy(),
                                "beta": d.beta}
        return jsonable(rec)

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write the folder (module docstring) as a unit; returns part -> path (participants' folders
        under their ``eid_instance`` keys)."""
        out = Path(out)
        paths = self.files(out)
        paths["manipulation"] = out / "manipulation.json"
        paths["direction"] = out / "direction.tsv"
        for eid, inst in self.manipulations:
            paths[_key(eid, inst)] = out / _key(eid, inst)
        rec = self.summary_record(paths)
        rec["files"] = sorted({p.name for p in paths.values()})
        with atomic_dir(out) as tmp:
            write_table(self.table, tmp / self.table_name)
            write_table(self.excluded, tmp / "excluded.tsv")
            if self.direction is not None:
                write_table(self.direction.table, tmp / "direction.tsv")
            (tmp / "manipulation.json").write_text(json.dumps(self.record(), indent=2) + "\n", encoding="utf-8")
            for (eid, inst), man in self.manipulations.items():
                self._save_participant(man, tmp / _key(eid, inst), f"{self.summary.name}, participant {eid} "
                                                                     f"(visit {inst})")
            (tmp / "summary.json").write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
        return paths

    def _save_participant(self, man: Manipulation, folder: Path, title: str) -> None:
        plots = plotting_layer()
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "decoded.npy", np.asarray(man.decoded, dtype=np.float32))
        np.save(folder / "input.npy", np.asarray(man.input, dtype=np.float32))
        plots.save_figure(plots.manipulation_grid(man, title=title), folder / "grid", close=True)
        plots.write_cine_gif(man, folder / "cine.gif")
        if self.nifti:
            # (x, y, frame, magnitude): NIfTI's first axes are in-plane
            vol = np.transpose(np.asarray(man.decoded, dtype=np.float32), (3, 2, 1, 0))
            nib.save(nib.Nifti1Image(vol, np.eye(4)), str(folder / "decoded.nii.gz"))

    @classmethod
    def load(cls, out: str | os.PathLike) -> "ManipulationResult":
        out = Path(out)
        rec = read_record(out / "summary.json", f"{out} is not a saved manipulation (no summary.json)")
        table = read_table(out / cls.table_name, what="manipulation table")
        excluded = read_table(out / "excluded.tsv", what="exclusions table")
        summary = cls.summary_type.from_dict(rec)
        direction = None
        if (out / "direction.tsv").exists():
            dtab = read_table(out / "direction.tsv", what="direction table")
            drec = json.loads((out / "manipulation.json").read_text(encoding="utf-8")).get("direction", {})
            dsum = DirectionSummary(name=summary.name, kind=drec.get("kind", summary.kind),
                                    trait_kind=drec.get("trait_kind", ""), seed=summary.seed,
                                    n_latents=len(dtab), n_rows=drec.get("n_rows") or 0,
                                    n_selected=drec.get("n_selected") or 0, score=summary.score,
                                    score_name=summary.score_name, penalty=drec.get("penalty"),
                                    covariates=drec.get("covariates") or [])
            direction = Direction(table=dtab, excluded=empty_excluded(), summary=dsum)
        mans = {}
        for (eid, inst), rows in table.groupby(["eid", "instance"], sort=False):
            folder = out / _key(eid, inst)
            if not (folder / "decoded.npy").exists():
                raise CardiolatentError(f"{folder}: decoded.npy is missing")
            dec = np.load(folder / "decoded.npy")
            inp = np.load(folder / "input.npy") if (folder / "input.npy").exists() else np.full(dec.shape[1:], np.nan)
            mags = rows["magnitude"].to_numpy(np.float64)
            d = 0 if direction is None else len(direction.table)  # latents are not saved: NaN on load
            mans[(int(eid), int(inst))] = Manipulation(
                magnitudes=mags, decoded=dec, input=inp, z=np.full(d, np.nan), z_moved=np.full((len(mags), d), np.nan),
                position=rows["position"].to_numpy(np.float64),
                steps=(int(summary.inversion_steps), int(summary.decoding_steps)))
        return cls(table=table, excluded=excluded, summary=summary, manipulations=mans, direction=direction)

    def participant(self, which=None) -> tuple[tuple[int, int], Manipulation]:
        """((eid, instance), its :class:`Manipulation`): ``which`` is an (eid, instance) pair, an eid
        (its first visit here) or None (the first participant-visit)."""
        if not self.manipulations:
            raise CardiolatentError("the manipulation holds no participant")
        if which is None:
            key = next(iter(self.manipulations))
        elif isinstance(which, tuple):
            key = (int(which[0]), int(which[1]))
        else:
            key = next((k for k in self.manipulations if k[0] == int(which)), None)
        if key not in self.manipulations:
            raise CardiolatentError(f"participant {which} is not in this manipulation")
        return key, self.manipulations[key]


__all__ = ["ManipulationResult", "ManipulationSummary"]
