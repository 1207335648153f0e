"""SNP heritability and genetic correlation with BOLT-REML (the real tool: Debian's ``bolt``, BOLT-LMM
v2.4) on the files ``cardiolatent export --format bolt`` writes.

:func:`bolt_reml` runs one BOLT-REML per phenotype (``bolt --reml``: the SNP heritability h2g of each
phenotype, a fraction of its variance after the export's covariates) and, for genetic correlations, one
multi-trait REML per pair of phenotypes (``joint="pairs"``) or one over all of them (``joint="all"``:
several ``--phenoCol``). Every BOLT run's text output is parsed by :func:`parse_bolt_reml_log` into the
heritability contract (:mod:`cardiolatent.genetics.result`) and kept whole as the result's
``bolt.log``. A run that fails (a BOLT error, no estimate, a REML that did not converge) gives a
``status``, never an exception; so do phenotypes that cannot be analysed (constant, too few
participants with the phenotype, covariates and genotypes), which are not given to BOLT at all.

What BOLT is asked (the defaults of :func:`bolt_reml`):

- the genotypes (``--bfile``) of the export's sample list when it was a ``.fam``, else ``bfile``; all
  their variants form the genetic relationship matrix (BOLT's single variance component
  ``modelSnps``); LD scores and genetic maps are not used by REML;
- the export's covariates (``--qCovarCol`` for each written column, ``--covarCol`` for raw categorical
  ones with ``--covarMaxLevels`` as the export's script does); BOLT adds the intercept and leaves out
  participants with a missing covariate or phenotype (a multi-trait run: with any phenotype missing);
- ``--allowh2g01``: an h2g estimate at 0 (or 1) is reported, not a BOLT error (BOLT's check guards its
  association test, not REML). A genetic correlation with a phenotype whose h2g is at the boundary
  (< :data:`BOUNDARY_H2` in that run) is not identifiable: its status says so;
- ``--remlNoRefine`` only when ``refine=False`` (2-3x faster, SEs about 3% larger);
- ``--numThreads`` = ``threads`` (default 1: on a busy machine BOLT's threads wait on each other;
  measured here: 8 s with 1 thread, 74 s with 2 on 2 loaded cores for the same run).

BOLT's REML is stochastic (Monte Carlo trace estimates) with a fixed internal seed: the same inputs give
the same numbers.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.result import HeritabilityResult, HeritabilitySummary, wald_p
from cardiolatent.results import read_record

METHOD = "bolt-reml"
#: an h2g estimate below this (in a multi-trait run) makes the rg with that phenotype unidentifiable
BOUNDARY_H2 = 0.005
#: BOLT's own warning lines that say nothing about the estimate (left out of the ``warnings`` column)
_HARMLESS = ("Genetic map appears to be in cM units", "No genetic map provided",
             "Secant iteration for h2 estimation may not have converged")
JOINT_MODES = ("none", "pairs", "all")
INSTALL_HINT = "install BOLT-LMM (Debian: apt-get install bolt-lmm) or pass the path of the bolt executable"


# ---------------------------------------------------------------------- the log parser
@dataclass
class BoltRemlLog:
    """What one BOLT-REML run printed (:func:`parse_bolt_reml_log`). Indices are 0-based phenotype
    positions in the order of ``phenotypes`` (BOLT's ``--phenoCol`` order).

    ``h2g[vc][k] = (estimate, se)`` per genetic variance component name (``"modelSnps"`` by default);
    ``h2e[k]``; ``sigma2[k]``: the phenotype's variance after the covariates (phenotype units squared);
    ``gen_corr[(i, j)]``, ``resid_corr[(i, j)]`` (i < j): correlations with SE; ``vc[c][(i, j)]``: BOLT's
    raw (co)variance entries of component ``c`` (0 = environment/noise) on the scale of phenotypes
    standardised after the covariates; ``n``: individuals analysed; ``m``: SNPs in the model;
    ``n_covariates``: covariate vectors including the intercept; ``errors`` / ``warnings``: BOLT's lines;
    ``not_converged``: BOLT stopped its AI iterations without convergence; ``complete``: the final
    estimates were printed.
    """

    version: str = ""
    phenotypes: list = field(default_factory=list)
    n: int | None = None
    m: int | None = None
    n_covariates: int | None = None
    sigma2: dict = field(default_factory=dict)
    h2e: dict = field(default_factory=dict)
    h2g: dict = field(default_factory=dict)
    gen_corr: dict = field(default_factory=dict)
    resid_corr: dict = field(default_factory=dict)
    vc: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    not_converged: bool = False
    seconds: float | None = None
    complete: bool = False

    def h2(self, k: int) -> tuple[float, float]:
        """(h2, se) of phenotype ``k``: the genetic component's h2g; with several genetic components
        their sum (its SE is not printed by BOLT: NaN)."""
        comps = [v[k] for v in self.h2g.values() if k in v]
        if not comps:
            return (np.nan, np.nan)
        if len(comps) == 1:
            return comps[0]
        return (float(sum(c[0] for c in comps)), np.nan)


_NUM = r"(-?(?:nan|inf|[0-9.]+(?:[eE][-+]?[0-9]+)?))"
_RE = {
    "version": re.compile(r"BOLT-LMM, v(\S+)"),
    "pheno_col": re.compile(r"^\s*--phenoCol=(.+?)\s*\\?\s*$"),
    "n": re.compile(r"Number of individuals used in analysis: Nused = (\d+)"),
    "m": re.compile(r"Total post-QC SNPs: M = (\d+)"),
    "c": re.compile(r"Total covariate vectors: C = (\d+)"),
    "sigma2": re.compile(rf"^Phenotype (\d+) variance sigma2: {_NUM} \({_NUM}\)"),
    "vc_raw": re.compile(r"^Variance component (\d+): \[\d+,\d+\]"),
    "entry": re.compile(rf"^\s+entry \((\d+),(\d+)\): {_NUM} \({_NUM}\)"),
    "vc_final": re.compile(r'^Variance component (\d+):\s+(?:\(environment/noise\)|"(.*)")\s*$'),
    "h2": re.compile(rf"^\s+(h2g|h2e) \((\d+),(\d+)\): {_NUM} \({_NUM}\)"),
    "corr": re.compile(rf"^\s+(gen corr|resid corr) \((\d+),(\d+)\): {_NUM} \({_NUM}\)"),
    "seconds": re.compile(rf"Total elapsed time for analysis = {_NUM} sec"),
}


def _f(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return float("nan")


def parse_bolt_reml_log(text: str) -> BoltRemlLog:
    """Parse BOLT-LMM's text output of a ``--reml`` run (stdout and stderr together) into a
    :class:`BoltRemlLog`. Never raises on odd text: what is not found stays empty (``complete`` False).

    Read: the version banner, the echoed ``--phenoCol`` options (phenotype order), ``Nused``, ``M``,
    ``C``, the final ``Phenotype k variance sigma2`` lines, the raw ``Variance component c: [..]``
    entry blocks (the last ones printed), the final per-component ``h2g``/``h2e``/``gen corr``/
    ``resid corr`` lines, ``ERROR``/``WARNING`` lines (with their indented continuation lines) and
    BOLT's ``Stopping AI iteration, but optimization may not have converged``.
    """
    log = BoltRemlLog()
    lines = text.splitlines()
    in_echo = echo_next = False
    raw_vc: int | None = None
    final_vc: str | None = None
    final_idx: int | None = None
    last_msg: list | None = None
    for line in lines:
        if not log.version and (m := _RE["version"].search(line)):
            log.version = m.group(1)
        if line.startswith("Command line options:"):
            echo_next = True
            continue
        if echo_next and line.strip():
            echo_next, in_echo = False, line.rstrip().endswith("\\")
            continue
        if in_echo:
            if (m := _RE["pheno_col"].match(line)):
                log.phenotypes.append(m.group(1))
            in_echo = line.rstrip().endswith("\\")
            continue
        s = line.rstrip()
        if s.startswith("ERROR"):
            log.errors.append(s.split(":", 1)[1].strip() if ":" in s else s)
            last_msg = log.errors
            continue
        if s.startswith("WARNING"):
            log.warnings.append(s.split(":", 1)[1].strip() if ":" in s else s)
            last_msg = log.warnings
            continue
        if last_msg is not None and line.startswith("       ") and s.strip() and not s.strip().startswith(
                ("iter", "entry", "h2", "gen", "resid")):
            last_msg[-1] = f"{last_msg[-1]} {s.strip()}"
            continue
        last_msg = None
        if "Stopping AI iteration, but optimization may not have converged" in s:
            log.not_converged = True
            continue
        for key, attr in (("n", "n"), ("m", "m"), ("c", "n_covariates")):
            if (m := _RE[key].search(s)):
                setattr(log, attr, int(m.group(1)))
        if (m := _RE["seconds"].search(s)):
            log.seconds = _f(m.group(1))
        if (m := _RE["sigma2"].match(s)):
            log.sigma2[int(m.group(1)) - 1] = (_f(m.group(2)), _f(m.group(3)))
            continue
        if (m := _RE["vc_raw"].match(s)):
            raw_vc = int(m.group(1))
            log.vc[raw_vc] = {}
            final_vc = None
            continue
        if raw_vc is not None and (m := _RE["entry"].match(s)):
            i, j = int(m.group(1)) - 1, int(m.group(2)) - 1
            log.vc[raw_vc][(i, j)] = (_f(m.group(3)), _f(m.group(4)))
            continue
        if (m := _RE["vc_final"].match(s)):
            raw_vc = None
            final_idx = int(m.group(1))
            final_vc = "environment/noise" if final_idx == 0 else m.group(2)
            if final_idx > 0:
                log.h2g[final_vc] = {}
            continue
        if final_vc is not None and (m := _RE["h2"].match(s)):
            k = int(m.group(2)) - 1
            val = (_f(m.group(4)), _f(m.group(5)))
            if m.group(1) == "h2e":
                log.h2e[k] = val
            else:
                log.h2g[final_vc][k] = val
                log.complete = True
            continue
        if final_vc is not None and (m := _RE["corr"].match(s)):
            i, j = sorted((int(m.group(2)) - 1, int(m.group(3)) - 1))
            target = log.resid_corr if m.group(1) == "resid corr" else log.gen_corr
            if m.group(1) == "gen corr" and final_idx and final_idx > 1:
                continue  # a second genetic component's correlation: kept only in the log
            target[(i, j)] = (_f(m.group(4)), _f(m.group(5)))
            continue
        if raw_vc is not None and s and not s.startswith(" "):
            raw_vc = None
    return log


def run_status(log: BoltRemlLog, returncode: int | None) -> str:
    """``"ok"`` or why the run's estimates are missing or not to be trusted."""
    if returncode is None:
        return "BOLT did not finish (timed out)"
    if log.errors:
        return f"BOLT error: {log.errors[0]}"
    if returncode != 0:
        return f"BOLT exited with code {returncode} (see the log)"
    if not log.complete:
        return "BOLT printed no variance-component estimates (see the log)"
    if log.not_converged:
        return "REML may not have converged (BOLT stopped its AI iterations early; see the log)"
    return "ok"


# ---------------------------------------------------------------------- the export folder
@dataclass
class _Export:
    folder: Path
    pheno: Path
    covar: Path | None
    phenotypes: list
    covariates: list
    categorical: list
    bfile: str | None
    n_written: int


def _read_export(export_dir: str | os.PathLike) -> _Export:
    folder = Path(export_dir)
    if not folder.is_dir():
        raise CardiolatentError(f"export folder not found: {folder} (write it with 'cardiolatent export "
                                "--format bolt')")
    man = read_record(folder / "manifest.json", f"{folder} is not a folder written by 'cardiolatent export' "
                                                "(no manifest.json)")
    if man.get("format") != "bolt":
        raise CardiolatentError(f"{folder} was written for {man.get('format')!r}, not BOLT-LMM: write it with "
                                "'cardiolatent export --format bolt'")
    files = man.get("files") or {}
    pheno = folder / files.get("pheno", "pheno.txt")
    if not pheno.exists():
        raise CardiolatentError(f"phenotype file not found: {pheno}")
    covar = folder / files["covar"] if files.get("covar") else None
    if covar is not None and not covar.exists():
        raise CardiolatentError(f"covariate file not found: {covar}")
    cov = man.get("covariates") or {}
    sl = man.get("sample_list") or {}
    bfile = None
    if sl.get("kind") == "fam" and sl.get("path"):
        p = str(sl["path"])
        bfile = p[: -len(".fam")] if p.endswith(".fam") else p
    return _Export(folder=folder, pheno=pheno, covar=covar,
                   phenotypes=list((man.get("phenotypes") or {}).get("written") or []),
                   covariates=list(cov.get("columns") or []), categorical=list(cov.get("categorical_columns") or []),
                   bfile=bfile, n_written=int((man.get("participants") or {}).get("written") or 0))


def _as_list(x) -> list[str] | None:
    if x is None:
        return None
    if isinstance(x, str):
        return [p.strip() for p in x.split(",") if p.strip()]
    return [str(p) for p in x]


def find_bolt(bolt: str | os.PathLike | None = None) -> str:
    """The BOLT-LMM executable: ``bolt`` if given (a path or a name on PATH), else ``$BOLT``, else
    ``bolt`` on PATH. Missing: a :class:`CardiolatentError` with the install hint."""
    name = str(bolt) if bolt is not None else os.environ.get("BOLT") or "bolt"
    found = shutil.which(name)
    if found is None:
        raise CardiolatentError(f"BOLT-LMM executable {name!r} not found; {INSTALL_HINT}")
    return found


def _check_bfile(bfile: str) -> str:
    prefix = str(bfile)
    for suf in (".bed", ".bim", ".fam"):
        if prefix.endswith(suf) and Path(prefix).exists():
            prefix = prefix[: -len(suf)]
            break
    for suf in (".bed", ".bim", ".fam"):
        if not Path(prefix + suf).exists():
            raise CardiolatentError(f"genotype file not found: {prefix + suf} (bfile is a PLINK 1 prefix)")
    return prefix


# ---------------------------------------------------------------------- pre-checks
def _prechecks(ex: _Export, bfile: str, phenotypes: list[str], min_n: int) -> tuple[dict, dict, pd.DataFrame]:
    """Per phenotype: (n usable, status) and the excluded table (eid, instance, reason, phenotype)."""
    ph = pd.read_csv(ex.pheno, sep=r"\s+", dtype={"FID": str, "IID": str}, na_values=["NA", "-9"],
                     keep_default_na=False)
    for c in phenotypes:
        ph[c] = pd.to_numeric(ph[c], errors="coerce")
    fam = pd.read_csv(bfile + ".fam", sep=r"\s+", header=None, usecols=[0, 1], dtype=str)
    in_geno = pd.MultiIndex.from_frame(ph[["FID", "IID"]]).isin(pd.MultiIndex.from_frame(fam.iloc[:, :2]))
    cov_ok = np.ones(len(ph), dtype=bool)
    n_cov = 1
    design = np.ones((len(ph), 1))
    if ex.covar is not None and ex.covariates:
        cv = pd.read_csv(ex.covar, sep=r"\s+", dtype={"FID": str, "IID": str}, na_values=["NA", "-9"],
                         keep_default_na=False)
        missing = [c for c in ex.covariates if c not in cv.columns]
        if missing:
            raise CardiolatentError(f"{ex.covar} lacks the covariate column(s) {', '.join(missing)} named in "
                                    "manifest.json")
        for c in ex.covariates:
            if c not in ex.categorical:
                cv[c] = pd.to_numeric(cv[c], errors="coerce")
        cv = cv.set_index(["FID", "IID"])[ex.covariates]
        cv = cv.reindex(pd.MultiIndex.from_frame(ph[["FID", "IID"]]))
        cov_ok = cv.notna().all(axis=1).to_numpy()
        quant = cv[[c for c in ex.covariates if c not in ex.categorical]].to_numpy(dtype=np.float64)
        dummies = pd.get_dummies(cv[ex.categorical].astype(str), drop_first=True).to_numpy(np.float64) \
            if ex.categorical else np.empty((len(ph), 0))
        design = np.column_stack([design, quant, dummies])
        n_cov = design.shape[1]
    eid = pd.to_numeric(ph["IID"], errors="coerce").astype("Int64")
    rows = []
    for mask, reason in ((~in_geno, "not_in_genotypes"), (in_geno & ~cov_ok, "missing_covariate")):
        for e in eid[mask]:
            rows.append((e, reason, ""))
    usable = in_geno & cov_ok
    info, status = {}, {}
    need = max(int(min_n), n_cov + 2)
    cache: dict = {}
    for c in phenotypes:
        y = ph[c].to_numpy(dtype=np.float64)
        ok = usable & np.isfinite(y)
        for e in eid[usable & ~np.isfinite(y)]:
            rows.append((e, "missing_phenotype", c))
        n = int(ok.sum())
        info[c] = n
        if n == 0:
            status[c] = "no participant with this phenotype, the covariates and genotypes"
        elif np.nanstd(y[ok]) == 0:
            status[c] = f"constant phenotype ({y[ok][0]:g} in all {n:,} participants): h2 not defined"
        elif n < need:
            status[c] = (f"too few participants: {n:,} with the phenotype, covariates and genotypes (needs at least "
                         f"{need:,}: min_n {min_n} and more than the {n_cov} covariate vectors)")
        elif _explained(design, y, ok, usable, cache):
            status[c] = ("phenotype fully explained by the covariates (no variance left after them): h2 not "
                         "defined")
        else:
            status[c] = "ok"
    excluded = pd.DataFrame({"eid": pd.array([r[0] for r in rows], dtype="Int64"),
                             "instance": pd.array([pd.NA] * len(rows), dtype="Int64"),
                             "reason": [r[1] for r in rows], "phenotype": [r[2] for r in rows]})
    return info, status, excluded


def _explained(X: np.ndarray, y: np.ndarray, ok: np.ndarray, usable: np.ndarray, cache: dict,
               tol: float = 1e-10) -> bool:
    """True when the residual of ``y[ok]`` on ``X[ok]`` ((n, c) covariate design with intercept) has
    (relatively) no variance left: BOLT would run without end on NaNs (seen with v2.4 and --allowh2g01
    on a constant phenotype). The QR of ``X[usable]`` is computed once (``cache``) for the phenotypes
    without missing values."""
    if np.array_equal(ok, usable):
        if "q" not in cache:
            cache["q"] = np.linalg.qr(X[usable])[0]
        q = cache["q"]
        yc = y[ok] - y[ok].mean()
        r = yc - q @ (q.T @ yc)
    else:
        yc = y[ok] - y[ok].mean()
        beta, *_ = np.linalg.lstsq(X[ok], yc, rcond=None)
        r = yc - X[ok] @ beta
    return float(r @ r) <= tol * float(yc @ yc)


# ---------------------------------------------------------------------- running BOLT
def _command(exe: str, bfile: str, ex: _Export, phenos: list[str], *, threads: int, refine: bool,
             allow_boundary: bool, max_model_snps: int | None, covar_levels: int, extra_args: Sequence[str]
             ) -> list[str]:
    cmd = [exe, f"--bfile={bfile}", f"--phenoFile={ex.pheno}"] + [f"--phenoCol={p}" for p in phenos]
    if ex.covar is not None and ex.covariates:
        cmd.append(f"--covarFile={ex.covar}")
        cmd += [f"--covarCol={c}" if c in ex.categorical else f"--qCovarCol={c}" for c in ex.covariates]
        if ex.categorical and covar_levels + 1 > 10:
            cmd.append(f"--covarMaxLevels={covar_levels + 1}")
    cmd.append("--reml")
    if not refine:
        cmd.append("--remlNoRefine")
    if allow_boundary:
        cmd.append("--allowh2g01")
    if max_model_snps is not None:
        cmd.append(f"--maxModelSnps={int(max_model_snps)}")
    cmd.append(f"--numThreads={int(threads)}")
    return cmd + [str(a) for a in extra_args]


@dataclass
class _Run:
    label: str
    phenotypes: list
    command: list
    text: str = ""
    returncode: int | None = None
    seconds: float = 0.0
    log: BoltRemlLog | None = None
    status: str = ""


def _execute(run: _Run, timeout: float | None) -> None:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cardiolatent-bolt-") as tmp:
        try:
            p = subprocess.run(run.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", cwd=tmp, timeout=timeout)
            run.text, run.returncode = p.stdout, p.returncode
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or ""
            run.text = out.decode(errors="replace") if isinstance(out, bytes) else out
            run.returncode = None
    run.seconds = time.perf_counter() - t0
    run.log = parse_bolt_reml_log(run.text)
    run.status = run_status(run.log, run.returncode)


def _log_text(runs: list[_Run]) -> str:
    parts = []
    for r in runs:
        parts += [f"### BOLT-REML run {r.label}: {', '.join(r.phenotypes)}",
                  f"### command: {shlex.join(r.command)}",
                  f"### exit code: {r.returncode}; {r.seconds:.1f} s; status: {r.status}",
                  r.text.rstrip("\n"), ""]
    return "\n".join(parts) + "\n"


def _warnings(log: BoltRemlLog) -> str:
    return "; ".join(dict.fromkeys(w for w in log.warnings if not any(h in w for h in _HARMLESS)))


# ---------------------------------------------------------------------- the entry point
def bolt_reml(export_dir: str | os.PathLike, bfile: str | os.PathLike | None = None,
              phenotypes: Sequence[str] | str | None = None, *, joint: str = "none", threads: int = 1,
              refine: bool = True, allow_boundary: bool = True, max_model_snps: int | None = None,
              min_n: int = 50, extra_args: Sequence[str] = (), bolt: str | os.PathLike | None = None,
              timeout: float | None = None, progress: bool = True) -> HeritabilityResult:
    """SNP heritability (and genetic correlations) of exported phenotypes with BOLT-REML.

    Parameters
    ----------
    export_dir : folder written by ``cardiolatent export --format bolt`` (``pheno.txt``, ``covar.txt``,
        ``manifest.json``); its phenotypes are the quantitative ones of ``pheno.txt``.
    bfile : PLINK 1 genotype prefix (``.bed/.bim/.fam``); default: the export's ``--samples`` ``.fam``.
    phenotypes : names (or one comma-separated string) among the export's phenotypes; default all.
    joint : ``"none"``: one single-trait REML per phenotype (the h2 table); ``"pairs"``: also one
        two-trait REML per pair (the rg table); ``"all"``: also one multi-trait REML over every
        phenotype (rg of every pair from one model; time grows quickly with the number of traits).
        The h2 table always comes from the single-trait runs.
    threads : BOLT's ``--numThreads`` per run (runs are in series).
    refine : False adds ``--remlNoRefine`` (faster, slightly larger SEs).
    allow_boundary : pass ``--allowh2g01`` (an estimate at 0 is a result, not an error).
    max_model_snps : BOLT's ``--maxModelSnps`` (its default refuses more than 1,000,000 model SNPs).
    min_n : fewest participants (with phenotype, covariates and genotypes) to run a phenotype; also
        more than the covariate vectors are needed.
    extra_args : more BOLT options for every run (e.g. ``["--modelSnps=FILE"]``, ``["--remove=FILE"]``).
    bolt : the executable (default ``$BOLT`` or ``bolt`` on PATH).
    timeout : seconds per BOLT run (None: no limit); a run past it gets a status.
    progress : a tqdm bar over the BOLT runs.

    Returns
    -------
    :class:`~cardiolatent.genetics.result.HeritabilityResult` with ``method = "bolt-reml"``: ``table``
    ``phenotype, method, h2, se, n, status, sigma2, sigma2_se, m, n_covariates, seconds, warnings, run``
    (h2 and se as fractions of the variance after the covariates; sigma2 that variance in phenotype
    units squared); ``rg`` ``phenotype1, phenotype2, method, rg, se, p, status, gcov, gcov_se,
    resid_corr, resid_corr_se, h2_1, h2_2, n, seconds, run`` (gcov on the standardised scale; h2_1/h2_2
    the two h2g of that multi-trait run); ``excluded`` participants of ``pheno.txt`` not analysed
    (``not_in_genotypes``, ``missing_covariate``, ``missing_phenotype`` with the phenotype); ``logs``
    ``{"bolt.log": every run's command, exit code and full output}``.
    """
    if joint not in JOINT_MODES:
        raise CardiolatentError(f"joint must be one of {', '.join(JOINT_MODES)}, not {joint!r}")
    if int(threads) < 1:
        raise CardiolatentError(f"threads must be at least 1, not {threads}")
    exe = find_bolt(bolt)
    ex = _read_export(export_dir)
    if bfile is None and ex.bfile is None:
        raise CardiolatentError(f"{ex.folder}: the export was not given a .fam sample list; pass bfile (the PLINK 1 "
                                "genotype prefix)")
    geno = _check_bfile(str(bfile) if bfile is not None else ex.bfile)
    wanted = _as_list(phenotypes) or list(ex.phenotypes)
    if not wanted:
        raise CardiolatentError(f"{ex.pheno}: no quantitative phenotype written (nothing to analyse)")
    unknown = [p for p in wanted if p not in ex.phenotypes]
    if unknown:
        raise CardiolatentError(f"phenotype(s) {', '.join(unknown)} not in {ex.pheno} (it has: "
                                f"{', '.join(ex.phenotypes[:20])}{' ...' if len(ex.phenotypes) > 20 else ''})")
    wanted = list(dict.fromkeys(wanted))
    n_use, pre, excluded = _prechecks(ex, geno, wanted, min_n)
    levels = 0
    if ex.categorical and ex.covar is not None:
        cv = pd.read_csv(ex.covar, sep=r"\s+", usecols=ex.categorical, dtype=str)
        levels = int(cv.nunique().max())
    kw = dict(threads=threads, refine=refine, allow_boundary=allow_boundary, max_model_snps=max_model_snps,
              covar_levels=levels, extra_args=extra_args)
    good = [p for p in wanted if pre[p] == "ok"]
    runs = [_Run(f"h2:{p}", [p], _command(exe, geno, ex, [p], **kw)) for p in good]
    if joint == "pairs":
        runs += [_Run(f"rg:{a}+{b}", [a, b], _command(exe, geno, ex, [a, b], **kw))
                 for a, b in itertools.combinations(good, 2)]
    elif joint == "all" and len(good) >= 2:
        runs.append(_Run("rg:all", list(good), _command(exe, geno, ex, list(good), **kw)))
    bar = tqdm(runs, desc="BOLT-REML", unit="run", disable=not progress)
    for r in bar:
        bar.set_postfix_str(r.label[:40])
        _execute(r, timeout)
    h2 = _h2_table(wanted, pre, n_use, {r.phenotypes[0]: r for r in runs if r.label.startswith("h2:")})
    rg = _rg_table(wanted, pre, joint, [r for r in runs if r.label.startswith("rg:")])
    version = next((r.log.version for r in runs if r.log and r.log.version), "")
    notes = []
    if joint != "none" and len(good) < 2:
        notes.append("genetic correlations need at least two phenotypes that can be analysed")
    if any(r.returncode is None for r in runs):
        notes.append(f"some BOLT runs passed the time limit of {timeout} s")
    summary = HeritabilitySummary(
        methods=[METHOD], phenotypes=wanted, genotypes=geno, source=str(ex.folder),
        tools={"BOLT-LMM": version or "unknown"}, joint=joint, covariates=list(ex.covariates),
        settings={"threads": int(threads), "refine": bool(refine), "allow_boundary": bool(allow_boundary),
                  "max_model_snps": max_model_snps, "min_n": int(min_n), "extra_args": [str(a) for a in extra_args],
                  "executable": exe, "boundary_h2": BOUNDARY_H2},
        runs=[{"label": r.label, "phenotypes": r.phenotypes, "status": r.status, "exit_code": r.returncode,
               "seconds": round(r.seconds, 2)} for r in runs],
        notes=notes)
    return HeritabilityResult.from_tables(h2, rg, summary=summary, excluded=excluded,
                                          logs={"bolt.log": _log_text(runs)} if runs else {})


def _h2_table(wanted: list[str], pre: dict, n_use: dict, single: dict[str, _Run]) -> pd.DataFrame:
    rows = []
    for p in wanted:
        row = {"phenotype": p, "method": METHOD, "h2": np.nan, "se": np.nan, "n": n_use.get(p, 0),
               "status": pre[p], "sigma2": np.nan, "sigma2_se": np.nan, "m": np.nan, "n_covariates": np.nan,
               "seconds": np.nan, "warnings": "", "run": ""}
        r = single.get(p)
        if r is not None:
            lg = r.log
            est, se = lg.h2(0)
            s2 = lg.sigma2.get(0, (np.nan, np.nan))
            row.update(h2=est, se=se, n=lg.n if lg.n is not None else row["n"], status=r.status,
                       sigma2=s2[0], sigma2_se=s2[1], m=lg.m if lg.m is not None else np.nan,
                       n_covariates=lg.n_covariates if lg.n_covariates is not None else np.nan,
                       seconds=round(r.seconds, 2), warnings=_warnings(lg), run=r.label)
            for name, comp in (lg.h2g.items() if len(lg.h2g) > 1 else ()):
                row[f"h2_{name}"], row[f"h2_{name}_se"] = comp.get(0, (np.nan, np.nan))
        rows.append(row)
    df = pd.DataFrame(rows)
    df["n"] = df["n"].astype("Int64")
    for c in ("m", "n_covariates"):
        df[c] = pd.to_numeric(df[c]).astype("Int64")
    return df


def _rg_table(wanted: list[str], pre: dict, joint: str, runs: list[_Run]) -> pd.DataFrame | None:
    if joint == "none":
        return None
    ok = [p for p in wanted if pre[p] == "ok"]
    by_pair: dict[tuple[str, str], tuple[_Run, int, int]] = {}
    for r in runs:
        for i, j in itertools.combinations(range(len(r.phenotypes)), 2):
            by_pair[(r.phenotypes[i], r.phenotypes[j])] = (r, i, j)
    rows = []
    for a, b in itertools.combinations(wanted, 2):
        row = {"phenotype1": a, "phenotype2": b, "method": METHOD, "rg": np.nan, "se": np.nan, "p": np.nan,
               "status": "", "gcov": np.nan, "gcov_se": np.nan, "resid_corr": np.nan, "resid_corr_se": np.nan,
               "h2_1": np.nan, "h2_2": np.nan, "n": pd.NA, "seconds": np.nan, "run": ""}
        if a not in ok or b not in ok:
            bad = a if a not in ok else b
            row["status"] = f"{bad} not analysed: {pre[bad]}"
        elif (a, b) not in by_pair:
            row["status"] = "not run"
        else:
            r, i, j = by_pair[(a, b)]
            lg = r.log
            rg, se = lg.gen_corr.get((i, j), (np.nan, np.nan))
            gvc = min((c for c in lg.vc if c > 0), default=None)
            gc = lg.vc.get(gvc, {}).get((i, j), (np.nan, np.nan)) if gvc is not None else (np.nan, np.nan)
            rc = lg.resid_corr.get((i, j), (np.nan, np.nan))
            h1, h2 = lg.h2(i)[0], lg.h2(j)[0]
            status = r.status
            if status == "ok":
                low = [(n, h) for n, h in ((a, h1), (b, h2)) if np.isfinite(h) and h < BOUNDARY_H2]
                if low:
                    status = ("rg not identifiable: h2g of " + " and ".join(f"{n} is {h:.4f}" for n, h in low)
                              + " in this run (at the boundary)")
                elif not np.isfinite(rg):
                    status = "BOLT printed no genetic correlation (see the log)"
            row.update(rg=rg, se=se, gcov=gc[0], gcov_se=gc[1], resid_corr=rc[0], resid_corr_se=rc[1], h2_1=h1,
                       h2_2=h2, n=lg.n if lg.n is not None else pd.NA, seconds=round(r.seconds, 2), run=r.label,
                       status=status)
        rows.append(row)
    df = pd.DataFrame(rows, columns=["phenotype1", "phenotype2", "method", "rg", "se", "p", "status", "gcov",
                                     "gcov_se", "resid_corr", "resid_corr_se", "h2_1", "h2_2", "n", "seconds",
                                     "run"])
    df["p"] = wald_p(df["rg"].to_numpy(float), df["se"].to_numpy(float)) if len(df) else df["p"]
    df["n"] = df["n"].astype("Int64")
    return df


__all__ = ["BoltRemlLog", "BOUNDARY_H2", "INSTALL_HINT", "JOINT_MODES", "bolt_reml", "find_bolt",
           "parse_bolt_reml_log", "run_status"]
