"""``cardiolatent demo``: the study end to end into one folder, steps fingerprinted and resumable.

The step runner (:class:`cardiolatent.commands._study.Study`) is tested with cheap steps (Python
actions and a real ``cardiolatent icc`` command line); the whole demo runs once on the reduced
built-in cohort (200 participants, tests/conftest.py) in a slow-marked test that reads the report it
made, reruns it (every step reused), redoes one step with ``--steps ... --force`` and redoes the GWAS
with plink2 hidden (the project's own OLS scan, labelled in run.json and the report).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from _latents_helpers import shared_signal_latents
from cardiolatent.cli import main as cli
from cardiolatent.commands import _study
from cardiolatent.commands._study import Step, Study
from cardiolatent.errors import CardiolatentError
from cardiolatent.genetics.prs_result import PrsResult
from cardiolatent.report import build_report
from cardiolatent.report.collect import SECTIONS


def _writer(name, log, text=lambda: "x"):
    def act(study):
        log.append(name)
        (study.root / name).write_text(text())
        return [f"{name} ran"]
    return act


def _toy(tmp_path, log, *, b_text="B"):
    latents = tmp_path / "lat.bin"
    if not latents.exists():
        latents.write_bytes(b"first")
    steps = [Step("a", "step a", "a", action=_writer("a", log), command="make a"),
             Step("b", "step b", "b", action=_writer("b", log), command=f"make b from a ({b_text})", deps=("a",)),
             Step("c", "step c", "c", action=_writer("c", log), command="make c", deps=("b",))]
    return Study(tmp_path / "out", steps, latents=latents, quiet=True)


def test_steps_are_reused_while_their_inputs_are_unchanged(tmp_path):
    log = []
    _toy(tmp_path, log).run()
    assert log == ["a", "b", "c"]
    again = _toy(tmp_path, log)
    again.run()
    assert log == ["a", "b", "c"]                                  # nothing ran again
    assert [e["status"] for e in again.run_json()["steps"]] == ["reused"] * 3
    # a changed command line redoes that step and the steps after it, not the ones before
    _toy(tmp_path, log, b_text="other").run()
    assert log[3:] == ["b", "c"]
    # changed input bytes redo everything; --force redoes everything too
    (tmp_path / "lat.bin").write_bytes(b"second")
    _toy(tmp_path, log, b_text="other").run()
    assert log[5:] == ["a", "b", "c"]
    _toy(tmp_path, log, b_text="other").run(force=True)
    assert log[8:] == ["a", "b", "c"]
    # a deleted output is made again
    (tmp_path / "out" / "c").unlink()
    _toy(tmp_path, log, b_text="other").run()
    assert log[11:] == ["c"]


def test_a_subset_needs_its_inputs_finished(tmp_path):
    log = []
    with pytest.raises(CardiolatentError, match="step b reads the output of step a"):
        _toy(tmp_path, log).run(only=["b", "c"])
    assert log == []
    _toy(tmp_path, log).run(only=["a", "b"])
    assert log == ["a", "b"] and not (tmp_path / "out" / "c").exists()
    _toy(tmp_path, log).run(only=["c"])
    assert log == ["a", "b", "c"]


def test_a_failed_step_stops_the_run_and_is_recorded(tmp_path):
    log = []
    study = _toy(tmp_path, log)

    def fail(_):
        raise CardiolatentError("no genotypes at /nowhere")
    study.steps[1].action = fail
    with pytest.raises(CardiolatentError, match="step b failed: no genotypes at /nowhere"):
        study.run()
    assert log == ["a"]
    entries = {e["name"]: e for e in study.run_json()["steps"]}
    assert entries["b"]["status"] == "failed" and entries["b"]["notes"] == ["no genotypes at /nowhere"]
    assert "c" not in entries
    state = json.loads((tmp_path / "out" / _study.STATE).read_text())
    assert set(state) == {"a"}                          # the failed step is not recorded as finished


def test_command_line_steps_run_the_real_command(small_cohort, tmp_path):
    truth = pd.read_csv(small_cohort.truth / "participants.tsv", sep="\t")
    lat = tmp_path / "latents.parquet"
    shared_signal_latents(truth, np.random.default_rng(1)).to_parquet(lat)
    root = tmp_path / "out"
    ok = Step("icc", "ICC", "icc.tsv", ["icc", "--between", "visits", "--latents", str(lat), "--quiet",
                                        "--out", str(root / "icc.tsv")])
    study = Study(root, [ok], latents=lat, quiet=True)
    study.run()
    assert (root / "icc.tsv").exists() and (root / "icc.summary.json").exists()
    assert study.run_json()["steps"][0]["command"].startswith("cardiolatent icc --between visits")
    bad = Step("icc2", "ICC", "icc2.tsv", ["icc", "--between", "visits", "--latents", str(tmp_path / "none.parquet"),
                                           "--quiet", "--out", str(root / "icc2.tsv")])
    with pytest.raises(CardiolatentError, match="step icc2 failed: 'cardiolatent icc --between visits"):
        Study(root, [bad], latents=lat, quiet=True).run()


@pytest.mark.parametrize("case, message", [
    ("steps", "--steps nope: unknown step nope; the steps are synth, encode"),
    ("file", "is a file; give a folder"),
    ("other", "is a folder of something else"),
])
def test_bad_demo_requests_are_one_line(tmp_path, capsys, case, message):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--quiet"]
    if case == "steps":
        argv += ["--steps", "nope"]
    elif case == "file":
        out.write_text("x")
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("x")
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    if case == "other":
        assert (out / "thesis.tex").read_text() == "x"   # nothing of the user's touched


# ------------------------------------------------------------------------------------------------
# the whole demo on the reduced built-in cohort
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_whole_demo(tmp_path, capsys, monkeypatch):
    """The whole demo at N = 200, then its checks in turn. One test, not a module fixture shared by several:
    with -n 2, each worker that ran one of them built the whole demo again (262 s and 238 s of setup)."""
    demo = tmp_path / "demo" / "run"
    assert cli(["demo", "--out", str(demo), "--quiet"]) == 0
    _the_demo_fills_every_section_of_its_report(demo)
    _the_planted_truth_is_marked(demo)
    _a_rerun_reuses_every_step_and_steps_redo_one(demo, capsys)
    _without_plink2_the_gwas_is_our_own_scan_and_says_so(demo, tmp_path, monkeypatch)


def _cohort():
    from cardiolatent.synth import default as synth_default

    return synth_default.default_cohort(images=True, progress=False)


def _table(section, caption):
    t = next(t for t in section.tables if t["caption"].startswith(caption))
    return pd.DataFrame(t["rows"], columns=t["columns"])


def _the_demo_fills_every_section_of_its_report(demo):
    assert (demo / "report.html").stat().st_size > 100_000
    run = json.loads((demo / "run.json").read_text())
    names = [s["name"] for s in run["steps"]]
    assert names == ["synth", "encode", "latents", "icc_visits", "icc_seeds", "ensemble", "assoc_traits",
                     "assoc_diseases", "cox", "export", "gwas", "gwas_results", "heritability", "manipulation",
                     "true_parameters", "heritability_truth", "prs", "figures", "report"]
    assert all(s["status"] in ("done", "reused") and s["seconds"] >= 0 for s in run["steps"])
    assert run["versions"]["cardiolatent"] and run["versions"]["python"]
    rep, html = build_report(demo, truth=_cohort().root, latents=demo / "latents.parquet")
    for sid in SECTIONS:
        assert rep.sections[sid].filled, sid
    h2 = pd.read_csv(demo / "h2.tsv", sep="\t")
    assert len(h2) == 16 * h2["method"].nunique() and set(h2["method"]) <= {"bolt-reml", "ldsc"}
    assert "cardiolatent cox --outcomes AF,MI" in html           # what was run, from run.json
    assert len(list((demo / "figures").glob("*.png"))) >= 10
    assert any("prs_auc" in p.name for p in (demo / "figures").rglob("*.png"))
    prs = PrsResult.load(demo / "prs")
    assert prs.summary.target.get("built_in") and prs.summary.n_target == 2222  # in proportion to N = 200
    assert set(prs.table["outcome"]) == {"AF", "MI"} and len(prs.summary.latents) == 128


def _the_planted_truth_is_marked(demo):
    cohort = _cohort()
    rep, _ = build_report(demo, truth=cohort.root, latents=demo / "latents.parquet")
    truth = rep.sections["truth"]
    planted = pd.read_csv(cohort.truth / "variants.tsv", sep="\t")
    v = _table(truth, "Planted variants found")
    assert list(v["variant"]) == list(planted["id"])
    p = pd.to_numeric(v["best P"], errors="coerce").fillna(1.0)         # "> 0.001" when not among the kept rows
    thr = pd.to_numeric(v["threshold"])
    assert list(v["result"]) == ["met" if a else "not met" for a in p < thr]
    h = _table(truth, "Planted hazard ratios")
    assert set(h["outcome"]) == {"AF", "MI"}
    # every planted term is reported, and marked met exactly when its direction is right and its CI covers
    # (at N = 200, about 15 AF and 9 MI events, a direction may come out wrong by chance: the recovery
    # itself is checked on large cohorts in tests/test_synth_cohort.py and test_synth_fields.py)
    assert len(h) == 7 and set(h["direction"]) <= {"right", "wrong"}
    assert list(h["result"]) == ["met" if d == "right" and c == "yes" else "not met"
                                 for d, c in zip(h["direction"], h["covers"])]
    assert _table(truth, "Test-retest ICC")["result"].eq("met").all()
    # the planted SNP heritability of each true parameter, by each method the demo ran
    h2 = _table(truth, "Planted SNP heritability")
    planted = pd.read_csv(cohort.truth / "heritability.tsv", sep="\t").set_index("trait_column")["h2"]
    assert set(h2["parameter"]) == set(planted.index)
    assert np.allclose(pd.to_numeric(h2["planted h2"]), planted.loc[h2["parameter"]].to_numpy(), atol=0.005)
    lo_hi = h2["95% CI"].str.split(" - ", expand=True).astype(float)
    covered = (lo_hi[0] <= planted.loc[h2["parameter"]].to_numpy()) & (planted.loc[h2["parameter"]].to_numpy() <= lo_hi[1])
    assert list(h2["covers"]) == ["yes" if c else "no" for c in covered]
    # the LA volume -> AF path through a polygenic score is reported (at N = 200 it need not be met)
    la = _table(truth, "The planted LA volume -> AF path")
    assert len(la) == 1 and la["outcome"].iloc[0] == "AF" and la["met"].iloc[0] in ("met", "not met")


def _a_rerun_reuses_every_step_and_steps_redo_one(demo, capsys):
    capsys.readouterr()
    before = (demo / "report.html").stat().st_mtime_ns
    assert cli(["demo", "--out", str(demo)]) == 0
    out = capsys.readouterr().out
    assert out.count(": reused") >= 16 and "report: " in out and "cardiolatent encode --images" in out
    assert (demo / "report.html").stat().st_mtime_ns == before
    assert cli(["demo", "--out", str(demo), "--steps", "report", "--force", "--quiet"]) == 0
    run = {s["name"]: s["status"] for s in json.loads((demo / "run.json").read_text())["steps"]}
    assert run["report"] == "done" and run["cox"] == "reused"
    assert (demo / "report.html").stat().st_mtime_ns != before


def _without_plink2_the_gwas_is_our_own_scan_and_says_so(demo, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(demo, copy)
    which = shutil.which
    monkeypatch.setattr(_study.shutil, "which", lambda name, *a, **k: None if name == "plink2" else which(name, *a, **k))
    assert cli(["demo", "--out", str(copy), "--steps", "gwas,gwas_results,prs,report", "--quiet"]) == 0
    run = {s["name"]: s for s in json.loads((copy / "run.json").read_text())["steps"]}
    assert run["gwas"]["status"] == "done" and "own OLS scan" in run["gwas"]["notes"][0]
    assert "apt-get install plink2" in run["gwas"]["notes"][0]
    html = (copy / "report.html").read_text()
    assert "own OLS scan" in html
    # same leads as plink2's run of the same export
    a = pd.read_csv(demo / "gwas" / "leads.tsv", sep="\t")
    b = pd.read_csv(copy / "gwas" / "leads.tsv", sep="\t")
    assert len(a) == len(b)
