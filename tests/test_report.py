"""``cardiolatent report``: one self-contained HTML page from a results folder the real commands wrote.

The results are made by the commands themselves (icc, ensemble, export, cox with --groups, assoc) on
random latents of the small synthetic cohort (no GWAS or manipulation: too slow here); the built-in
cohort's full results (GWAS with plink2 and the manipulation's cines included) are reported in a
slow-marked test. The HTML is parsed with the standard library's parser; a headless Chromium (Debian's
package, installed by .ci/run) opens the page and reports that every image decoded and that no
request left the file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from _latents_helpers import shared_signal_latents
from cardiolatent.cli import main as cli
from cardiolatent.commands._builtin_results import builtin_results
from cardiolatent.demo import default_latents
from cardiolatent.report.collect import SECTIONS
from cardiolatent.report.render import SCRIPT, script_hash

CHROMIUM = shutil.which("chromium")


def _run(argv):
    rc = cli(argv)
    assert rc == 0, argv
    return rc


class _Page(HTMLParser):
    """Sections (id -> filled, headings, tables, images, 'met' cells) and every src/href of a page."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.current = None
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.h2: list[str] = []
        self._in_h2 = False
        self._in_td = False
        self.csp = None
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href", "action", "data", "poster", "srcset"):
            if k in a:
                self.links.append((tag, k, a[k]))
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = a.get("content")
        if tag == "section":
            self.current = a["id"]
            self.sections[self.current] = {"filled": a.get("data-filled"), "tables": 0, "images": [], "cells": [],
                                           "empty": False}
        elif self.current and tag == "table":
            self.sections[self.current]["tables"] += 1
        elif self.current and tag == "img":
            self.sections[self.current]["images"].append(a.get("src", ""))
        elif self.current and tag == "p" and "empty" in (a.get("class") or ""):
            self.sections[self.current]["empty"] = True
        elif tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        elif tag == "td":
            self._in_td = True
            if self.current:
                self.sections[self.current]["cells"].append("")
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None
        elif tag == "h2":
            self._in_h2 = False
        elif tag == "td":
            self._in_td = False
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data
        if self._in_td and self.current:
            self.sections[self.current]["cells"][-1] += data
        if self._in_script:
            self.scripts[-1] += data


def _parse(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def results(small_cohort, tmp_path_factory):
    """icc (visits, seeds), ensemble, a PLINK 2 export, cox for AF and MI with tertile groups and an
    association scan of cardiac traits, on random latents (with a shared signal) of the small cohort."""
    work = tmp_path_factory.mktemp("reportres")
    truth = pd.read_csv(small_cohort.root / "truth" / "participants.tsv", sep="\t")
    rng = np.random.default_rng(5)
    lat = shared_signal_latents(truth, rng)
    lat_path = work / "latents.parquet"
    lat.to_parquet(lat_path, index=False)
    res = work / "results"
    common = ["--latents", str(lat_path), "--quiet"]
    _run(["icc", *common, "--between", "visits", "--out", str(res / "icc_visits.tsv")])
    _run(["icc", *common, "--between", "seeds", "--out", str(res / "icc_seeds.tsv")])
    _run(["ensemble", *common, "--out", str(res / "ensemble")])
    _run(["export", *common, "--ukb", str(small_cohort.main), "--format", "plink2", "--out", str(res / "export")])
    _run(["cox", *common, "--ukb", str(small_cohort.main), "--outcomes", "AF,MI", "--groups", "S1701_Z0",
          "--out", str(res / "cox.tsv")])
    _run(["assoc", *common, "--ukb", str(small_cohort.main), "--traits", "lvedv,lvef", "--out",
          str(res / "assoc.tsv")])
    (res / "run.json").write_text(json.dumps({
        "steps": [{"name": "icc", "command": "cardiolatent icc --between visits", "seconds": 1.5,
                   "status": "done", "notes": ["a step note from run.json"]}],
        "versions": {"cardiolatent": "0.1.0", "python": "3"}}))
    return {"root": res, "latents": lat_path, "cohort": small_cohort.root}


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    _run(["report", "--results", str(results["root"]), "--out", str(out), "--truth", str(results["cohort"]),
          "--quiet"])
    return out


def test_every_section_is_present_and_filled_from_the_folder(report):
    page = _parse(report)
    assert list(page.sections) == list(SECTIONS)
    assert [h.strip() for h in page.h2] == list(SECTIONS.values())
    s = page.sections
    for sid in ("run", "flow", "reproducibility", "associations", "survival", "notes", "truth"):
        assert s[sid]["filled"] == "yes", sid
        assert s[sid]["tables"] or sid == "notes", sid
    # figures of the families the folder holds: ICC violins + heat maps, volcano, forest + curves
    assert len(s["reproducibility"]["images"]) >= 3
    assert len(s["associations"]["images"]) >= 1
    assert len(s["survival"]["images"]) >= 3
    # sections without inputs say what command fills them
    for sid, cmd in (("gwas", "cardiolatent gwas-results"), ("manipulation", "cardiolatent manipulate"),
                     ("heritability", "cardiolatent heritability")):
        assert s[sid]["empty"], sid
    text = report.read_text(encoding="utf-8")
    assert "cardiolatent gwas-results" in text and "cardiolatent manipulate" in text
    # the export is listed in the GWAS section though no GWAS was run
    assert s["gwas"]["tables"] == 1
    # run.json: its steps, versions and notes
    assert "cardiolatent icc --between visits" in text and "a step note from run.json" in text
    # participant flow: one row per Cox outcome and the exclusion reasons
    cells = s["flow"]["cells"]
    assert "outcome AF" in cells and "outcome MI" in cells
    assert any("repeat_visit_not_used" in c for c in cells)


def test_images_are_data_uris_and_nothing_else_is_requested(report):
    page = _parse(report)
    imgs = [src for sec in page.sections.values() for src in sec["images"]]
    assert imgs and all(src.startswith("data:image/png;base64,") for src in imgs)
    for tag, attr, value in page.links:
        assert value.startswith(("data:", "#")), (tag, attr, value[:80])
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"url\(\s*['\"]?(?!data:)", text), "a CSS url() to something other than data:"
    assert "@import" not in text
    # the CSP allows the one inline script by its hash, and nothing to load
    assert "default-src 'none'" in page.csp and "img-src data:" in page.csp
    assert page.scripts == [SCRIPT] and script_hash() in page.csp


def test_truth_section_marks_the_planted_items(report):
    page = _parse(report)
    cells = page.sections["truth"]["cells"]
    marks = [c for c in cells if c in ("met", "not met")]
    # hazards of AF and MI (their planted terms), the consensus ICC, and R^2 of five true parameters
    assert len(marks) >= 5 + 1 + 5
    text = report.read_text(encoding="utf-8")
    for phrase in ("Planted hazard ratios", "Test-retest ICC of the consensus latents",
                   "Latents against the true parameters", "lvedv_ml", "lav_ml"):
        assert phrase in text
    # no GWAS in the folder: the planted variants line says what would fill it
    assert "no gwas-results folder here" in text
    # the planted AF terms are listed with the planted HRs of truth/hazards.tsv
    assert "age_exact" in cells and "lav_ml" in cells


def test_without_truth_the_section_says_how_to_get_it(results, tmp_path):
    out = tmp_path / "r.html"
    _run(["report", "--results", str(results["root"]), "--out", str(out), "--quiet"])
    page = _parse(out)
    assert page.sections["truth"]["empty"] and page.sections["truth"]["filled"] == "no"
    assert "--truth COHORT_DIR" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("out_folder", "is an existing folder"),
    ("no_results", "no saved cardiolatent result"),
    ("bad_truth", "no truth/ folder"),
])
def test_bad_requests_are_one_line(results, tmp_path, capsys, case, message):
    args = {"missing": ["--results", str(tmp_path / "nope"), "--out", str(tmp_path / "r.html")],
            "out_folder": ["--results", str(results["root"]), "--out", str(tmp_path)],
            "no_results": ["--results", str(tmp_path), "--out", str(tmp_path / "r.html")],
            "bad_truth": ["--results", str(results["root"]), "--out", str(tmp_path / "r.html"), "--truth",
                          str(tmp_path)]}[case]
    capsys.readouterr()
    assert cli(["report", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "r.html").exists()


def test_a_malformed_run_json_is_a_warning_not_a_failure(results, tmp_path):
    root = tmp_path / "res"
    shutil.copytree(results["root"], root)
    (root / "run.json").write_text(json.dumps({"steps": "not a list"}))
    out = tmp_path / "r.html"
    _run(["report", "--results", str(root), "--out", str(out), "--quiet"])
    assert "run.json not read" in out.read_text(encoding="utf-8")


def _chromium(args, timeout=120):
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                           "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", *args], capture_output=True, text=True, timeout=timeout)


def _page_requests(netlog) -> list[str]:
    """URLs the page asked for, from Chromium's net log: requests with an initiator (the browser's own
    background requests, e.g. update checks, carry ``initiator: not an origin`` and are not the page's)."""
    log = json.loads(netlog.read_text(encoding="utf-8", errors="replace"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and e.get("params", {}).get("initiator", "not an origin") != "not an origin"]


def _load(path, tmp_path, name):
    netlog = tmp_path / f"{name}.netlog.json"
    res = _chromium(["--virtual-time-budget=10000", f"--log-net-log={netlog}", "--dump-dom",
                     path.resolve().as_uri()])
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout, _page_requests(netlog)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_page_in_a_real_browser(report, tmp_path):
    """Chromium loads the file: every image decodes, the headings are there, no request leaves the file."""
    # the check can see a request: a control page that asks for an image over http
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    _, seen = _load(control, tmp_path, "control")
    assert "http://127.0.0.1:9/x.png" in seen, seen
    dom, requests = _load(report, tmp_path, "report")
    body = re.search(r"<body([^>]*)>", dom).group(1)
    n_img = int(re.search(r'data-images="(\d+)"', body).group(1))
    assert n_img == len(re.findall(r"<img\b", report.read_text(encoding="utf-8"))) > 0
    assert re.search(r'data-broken-images="(\d+)"', body).group(1) == "0"
    for title in SECTIONS.values():
        assert f">{title}</h2>" in dom, title
    bad = sorted({u for u in requests if not u.startswith(("file:", "data:"))})
    assert not bad, bad


@pytest.mark.slow
def test_report_of_the_builtin_cohort_with_its_planted_truth(tmp_path):
    """Every kind of result (GWAS with plink2, manipulation cines): every section but heritability filled,
    the manipulation's cines embedded as animated GIFs, the planted variants each marked."""
    root = builtin_results(quiet=True)
    paths, _ = default_latents(progress=False)
    out = tmp_path / "report.html"
    _run(["report", "--results", str(root), "--out", str(out), "--truth", str(paths.root), "--quiet"])
    page = _parse(out)
    kinds = {sid: s["filled"] for sid, s in page.sections.items()}
    need = ["run", "flow", "reproducibility", "associations", "survival", "notes", "truth"]
    if (root / "gwas").exists():
        need.append("gwas")
    if (root / "manipulation").exists():
        need.append("manipulation")
        gifs = [s for s in page.sections["manipulation"]["images"] if s.startswith("data:image/gif;base64,")]
        assert len(gifs) == len(list((root / "manipulation").glob("*/*/cine.gif")))
    assert all(kinds[k] == "yes" for k in need), kinds
    assert kinds["heritability"] == "no"
    text = out.read_text(encoding="utf-8")
    planted = pd.read_csv(paths.root / "truth" / "variants.tsv", sep="\t")
    cells = page.sections["truth"]["cells"]
    if (root / "gwas").exists():
        assert "Planted variants found" in text
        for v in planted["id"]:
            assert v in cells
    # each planted term of AF and MI (the cox result's outcomes) has its row, marked
    hazards = pd.read_csv(paths.root / "truth" / "hazards.tsv", sep="\t")
    n_terms = int(hazards["outcome"].isin(["AF", "MI"]).sum())
    n_marks = sum(c in ("met", "not met") for c in cells)
    assert n_marks >= n_terms + (len(planted) if (root / "gwas").exists() else 0) + 1
    assert "right" in cells  # at least one planted hazard direction recovered
