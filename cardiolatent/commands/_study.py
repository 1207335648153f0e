"""The study as a list of steps run into one folder; a step is reused while its inputs are unchanged.

Each :class:`Step` is a ``cardiolatent`` command line (run in this process through
:func:`cardiolatent.cli.main`, so that what the record says ran is what ran) or a Python action (the
built-in cohort, the GWAS engine). Its **fingerprint** hashes its command line (with the folder and
the cache written as ``<DIR>`` / ``<CACHE>``), the fingerprints of the steps it reads and the
study's inputs (``inputs_digest``: the latents file's bytes, the cohort's ``cohort.json`` and the
cardiolatent version). A step runs when its output is missing, its fingerprint differs from the
one recorded when it last finished (``DIR/.steps.json``), or ``force`` is set; otherwise it is
reused. A failed step stops the run (later steps read its output) and is recorded as failed; its
partial output is never left as if finished (each command writes atomically).

Used by ``cardiolatent demo`` (every step, then the figures and the report) and by the built-in
results of ``cardiolatent figures`` (:mod:`cardiolatent.commands._builtin_results`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cardiolatent import __version__
from cardiolatent.errors import CardiolatentError
from cardiolatent.io_utils import cache_root, file_digest, write_text_atomic

#: latents sent to the GWAS (one seed's 128) and plink2's variant filter (minor allele count)
GWAS_LATENTS = "S1701_Z.*"
GWAS_MIN_MAC = 20
GWAS_FILTERS = f"--mac {GWAS_MIN_MAC}"
#: latents whose SNP heritability the study estimates (BOLT-REML takes a few seconds per latent)
H2_LATENTS = "S1701_Z([0-9]|1[0-5])"
#: the record of finished steps inside the folder
STATE = ".steps.json"
#: (path, size, mtime) -> sha256 of the latents files already read
_DIGESTS: dict = {}


@dataclass
class Step:
    """One step: ``output`` (relative to the folder) marks it finished.

    ``argv``: a cardiolatent command line (without the program name), or ``action``: a function of
    the :class:`Study` returning a list of notes; ``command`` is then the text shown for it.
    """

    name: str
    title: str
    output: str
    argv: list[str] | None = None
    action: Callable[["Study"], list[str]] | None = None
    command: str | None = None
    deps: tuple[str, ...] = ()
    #: the action decides itself whether its (cached) output is current: it runs every time and
    #: returns ``(notes, built)``; ``built`` False records the step as reused
    cached: bool = False

    def text(self) -> str:
        """The command line as a user would type it."""
        if self.argv is not None:
            return "cardiolatent " + shlex.join(self.argv)
        return self.command or self.name


@dataclass
class Study:
    """The folder ``root``, its steps, the cohort and latents they use, and what ran."""

    root: Path
    steps: list[Step]
    cohort: object = None          # CohortPaths of the synthetic cohort (or None)
    latents: Path | None = None
    source_latents: Path | None = None   # where a step found the latents it copied (demo)
    quiet: bool = False
    state: dict = field(default_factory=dict)
    record: list[dict] = field(default_factory=list)
    versions: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ fingerprints
    def _portable(self, text: str) -> str:
        return text.replace(str(self.root.resolve()), "<DIR>").replace(str(self.root), "<DIR>").replace(
            str(cache_root()), "<CACHE>")

    def inputs_digest(self) -> str:
        """The study's inputs: the latents' bytes, the cohort's description, the cardiolatent version."""
        h = hashlib.sha256(__version__.encode())
        if self.latents is not None and Path(self.latents).exists():
            st = Path(self.latents).stat()
            key = (str(self.latents), st.st_size, st.st_mtime_ns)
            if key not in _DIGESTS:
                _DIGESTS[key] = file_digest(Path(self.latents))
            h.update(_DIGESTS[key].encode())
        if self.cohort is not None and (Path(self.cohort.root) / "cohort.json").exists():
            h.update((Path(self.cohort.root) / "cohort.json").read_bytes())
        return h.hexdigest()

    def fingerprint(self, step: Step, memo: dict | None = None) -> str:
        memo = {} if memo is None else memo
        if step.name not in memo:
            by_name = {s.name: s for s in self.steps}
            parts = [step.name, self._portable(step.text()), self.inputs_digest() if not step.deps else "",
                     *[self.fingerprint(by_name[d], memo) for d in step.deps if d in by_name]]
            memo[step.name] = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
        return memo[step.name]

    def done(self, step: Step) -> bool:
        """Finished with the current inputs (output there, fingerprint as recorded)."""
        if step.cached:
            return (self.root / step.output).exists()
        rec = self.state.get(step.name, {})
        return (self.root / step.output).exists() and rec.get("fingerprint") == self.fingerprint(step)

    # ------------------------------------------------------------------ running
    def load_state(self) -> None:
        try:
            self.state = json.loads((self.root / STATE).read_text())
        except (OSError, ValueError):
            self.state = {}

    def save_state(self) -> None:
        write_text_atomic(self.root / STATE, json.dumps(self.state, indent=1) + "\n")

    def run(self, *, only: list[str] | None = None, force: bool = False,
            on_record: Callable[["Study"], None] | None = None) -> None:
        """Run (or reuse) the steps in order; ``only``: just these steps (their inputs must be finished)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.load_state()
        names = [s.name for s in self.steps]
        chosen = names if only is None else only
        by_name = {s.name: s for s in self.steps}
        for name in chosen:
            for d in by_name[name].deps:
                if d not in chosen and not self.done(by_name[d]):
                    raise CardiolatentError(f"--steps {','.join(chosen)}: step {name} reads the output of step {d}, "
                                            f"which is not finished in {self.root}; add {d} to --steps (or run "
                                            f"without --steps)")
        todo = [s for s in self.steps if s.name in chosen]
        for i, step in enumerate(todo, 1):
            head = f"[{i}/{len(todo)}] {step.title}"
            if not force and not step.cached and self.done(step):
                rec = self.state[step.name]
                self._say(f"{head}: reused ({rec.get('seconds', 0):.0f} s when it ran) -> {step.output}")
                self.record.append(self._entry(step, rec.get("seconds", 0.0), "reused", rec.get("notes", []),
                                               rec.get("peak_rss_mb")))
                if on_record:
                    on_record(self)
                continue
            self._say(f"{head} ...")
            t0 = time.perf_counter()
            notes, failure, built = [], None, True
            try:
                notes = self._execute(step)
                if step.cached:
                    notes, built = notes
            except CardiolatentError as exc:
                failure = str(exc.args[0] if exc.args else exc)
            seconds = time.perf_counter() - t0
            if failure is None and not (self.root / step.output).exists():
                failure = f"step {step.name} finished without writing {step.output}"
            if failure is not None:
                self.state.pop(step.name, None)
                self.save_state()
                self.record.append(self._entry(step, seconds, "failed", [failure], peak_rss_mb()))
                if on_record:
                    on_record(self)
                raise CardiolatentError(f"step {step.name} failed: {failure}")
            self.state[step.name] = {"fingerprint": self.fingerprint(step), "seconds": round(seconds, 1),
                                     "notes": notes, "peak_rss_mb": peak_rss_mb(),
                                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            self.save_state()
            self.record.append(self._entry(step, seconds, "done" if built else "reused", notes, peak_rss_mb()))
            self._say(f"    {'done' if built else 'reused'} in {seconds:.0f} s -> {step.output}")
            for n in notes:
                self._say(f"    note: {n}")
            if on_record:
                on_record(self)

    def _execute(self, step: Step) -> list[str]:
        if step.action is not None:
            got = step.action(self)
            return got if step.cached else list(got or [])
        from cardiolatent.cli import main

        rc = main(step.argv)
        if rc:
            raise CardiolatentError(f"'{step.text()}' exited with status {rc} (its message is above)")
        return []

    def _entry(self, step: Step, seconds: float, status: str, notes: list[str], peak) -> dict:
        e = {"name": step.name, "command": step.text(), "seconds": round(float(seconds), 1), "status": status,
             "outputs": [step.output], "notes": list(notes)}
        if peak is not None:
            e["peak_rss_mb"] = peak
        return e

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(line, flush=True)

    def run_json(self) -> dict:
        """``run.json`` as :mod:`cardiolatent.report` reads it: every step in order, as run now or (not
        run now) as it finished before, with ``status`` done | reused | failed."""
        now = {e["name"]: e for e in self.record}
        steps = []
        for s in self.steps:
            if s.name in now:
                steps.append(now[s.name])
            elif s.name in self.state and self.done(s):
                rec = self.state[s.name]
                steps.append(self._entry(s, rec.get("seconds", 0.0), "reused", rec.get("notes", []),
                                         rec.get("peak_rss_mb")))
        if not self.versions:
            self.versions = versions()
        return {"steps": steps, "versions": self.versions}


def peak_rss_mb() -> int:
    """Peak resident memory so far of this process and of its finished children (the larger), MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(round(max(own, kids) / 1024))


def plink2_version() -> str | None:
    """``plink2 --version``'s text, or None when plink2 is not on PATH."""
    exe = shutil.which("plink2")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "unknown"


def versions() -> dict:
    """Versions of cardiolatent, Python, the main libraries and plink2."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"cardiolatent": __version__, "python": platform.python_version()}
    for lib in ("numpy", "pandas", "scipy", "statsmodels", "lifelines", "torch", "matplotlib"):
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            pass
    out["plink2"] = plink2_version() or "not installed (own OLS scan used)"
    return out


# ---------------------------------------------------------------------------------------------------
# the GWAS of the latents: plink2 when installed, else the project's own OLS scan
# ---------------------------------------------------------------------------------------------------


def gwas_action(export: str, results: str):
    """The GWAS step: ``export``'s run_plink2.sh on the cohort's genotypes, or our own scan without plink2."""

    def act(study: Study) -> list[str]:
        exp = study.root / export
        out = study.root / results
        geno = Path(study.cohort.genotypes)
        # each engine writes a fresh folder beside the results, which then replaces them as a unit
        tmp = out.with_name(out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        if shutil.which("plink2"):
            env = dict(os.environ, GENO=str(geno), FILTERS=GWAS_FILTERS, THREADS=str(os.cpu_count() or 2),
                       OUT=str(tmp))
            r = subprocess.run(["bash", str(exp / "run_plink2.sh")], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                sys.stderr.write(r.stderr[-2000:])
                raise CardiolatentError(f"plink2 failed on {exp / 'run_plink2.sh'} (exit {r.returncode}; its "
                                        "message is above)")
            notes = [f"GWAS by plink2 ({plink2_version()}) on {geno.name}.bed with {GWAS_FILTERS}"]
        else:
            from cardiolatent.gwas.scan import linear_scan

            linear_scan(exp, geno, tmp, min_mac=GWAS_MIN_MAC, progress=not study.quiet)
            notes = ["GWAS by cardiolatent's own OLS scan over the genotype dosages (plink2 is not installed; the "
                     "scan fits the same model as plink2 --glm and writes plink2's file format). Install plink2 "
                     "(Debian/Ubuntu: apt-get install plink2) to run the real tool."]
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        return notes

    return act


def gwas_command(export: str, results: str) -> str:
    """What the GWAS step runs, as text."""
    if shutil.which("plink2"):
        return (f"GENO=<cohort>/genotypes FILTERS='{GWAS_FILTERS}' OUT={results} bash {export}/run_plink2.sh")
    return (f"cardiolatent.gwas.scan.linear_scan('{export}', '<cohort>/genotypes', '{results}', "
            f"min_mac={GWAS_MIN_MAC})  # plink2 not installed")


# ---------------------------------------------------------------------------------------------------
# the analyses of the study (the README's commands, with the built-in cohort's settings)
# ---------------------------------------------------------------------------------------------------


def analysis_steps(root: Path, latents: str, ukb: str, *, min_cases: int, gwas: bool = True,
                   latents_step: str | None = None, genotypes: str | None = None) -> list[Step]:
    """ICC (visits, seeds), ensemble, associations (traits, diseases), Cox, manipulation, the GWAS
    (export, plink2 or own scan, gwas-results) and, with ``genotypes`` (a PLINK 1 prefix), the SNP
    heritability of :data:`H2_LATENTS` (BOLT-REML and LD score regression; LDSC alone without
    BOLT-LMM) of ``latents`` with main data ``ukb``, into ``root``.

    ``latents_step``: the step that makes ``latents`` (a dependency of every analysis), if any.
    """
    lat = ["--latents", latents]
    main = ["--ukb", ukb]
    q = ["--quiet"]
    dep = (latents_step,) if latents_step else ()

    def out(name):
        return ["--out", str(root / name)]

    steps = [
        Step("icc_visits", "ICC between visits (test-retest)", "icc_visits.tsv",
             ["icc", "--between", "visits", *lat, *q, *out("icc_visits.tsv")], deps=dep),
        Step("icc_seeds", "ICC between model seeds", "icc_seeds.tsv",
             ["icc", "--between", "seeds", *lat, *q, *out("icc_seeds.tsv")], deps=dep),
        Step("ensemble", "seed ensemble and consensus latents", "ensemble",
             ["ensemble", *lat, *q, *out("ensemble")], deps=dep),
        Step("assoc_traits", "associations with the cardiac phenotypes", "assoc_traits.tsv",
             ["assoc", "--traits", "cardiac_idps", "--covariates", "paper_traits", *lat, *main, *q,
              *out("assoc_traits.tsv")], deps=dep),
        Step("assoc_diseases", "associations with the paper's diseases", "assoc_diseases.tsv",
             ["assoc", "--outcomes", "paper_diseases", "--covariates", "paper_disease", "--min-cases",
              str(min_cases), *lat, *main, *q, *out("assoc_diseases.tsv")], deps=dep),
        Step("cox", "Cox models for incident AF and MI, tertile curves", "cox.tsv",
             ["cox", "--outcomes", "AF,MI", "--covariates", "age,sex", "--groups", "S1701_Z3", *lat, *main, *q,
              *out("cox.tsv")], deps=dep),
    ]
    if gwas:
        steps += [
            Step("export", "export the latents for the GWAS (plink2 format)", "gwas_export",
                 ["export", "--format", "plink2", "--latent-columns", GWAS_LATENTS, *lat, *main, *q,
                  *out("gwas_export")], deps=dep),
            Step("gwas", "GWAS of the latents", "gwas_export/results",
                 action=gwas_action("gwas_export", "gwas_export/results"),
                 command=gwas_command("gwas_export", "gwas_export/results"), deps=("export",)),
            Step("gwas_results", "GWAS results back in (Manhattan, QQ, leads, loci)", "gwas",
                 ["gwas-results", "--results", str(root / "gwas_export" / "results"), *q, *out("gwas")],
                 deps=("gwas",)),
        ]
    if genotypes is not None:
        method = "both" if shutil.which("bolt") else "ldsc"
        steps.append(Step("heritability", f"SNP heritability of 16 latents ({method.replace('both', 'BOLT-REML and LDSC')})",
                          "h2.tsv", ["heritability", "--latent-columns", H2_LATENTS, "--method", method, "--rg",
                                     "none", *lat, *main, "--genotypes", genotypes, *q, *out("h2.tsv")], deps=dep))
    steps.append(Step("manipulation", "latent manipulation along LV end-diastolic volume (2 participants)",
                      "manipulation", ["manipulate", "--trait", "lvedv", "--n-participants", "2", *lat, *main, *q,
                                       *out("manipulation")], deps=dep))
    return steps
