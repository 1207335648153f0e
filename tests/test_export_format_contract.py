"""The contract every registered GWAS tool format passes unchanged (``cardiolatent.exports.formats.FORMATS``).

A new format is one module in ``cardiolatent/exports/formats/`` and one line in the registry; this
file then checks it with no edit: the export folder and its files, header rules, the missing code
and binary coding, the run script (valid bash, executable, naming the result files it writes), that
``gwas-results`` recognises those result files and reads a small result file of the tool through the
format's column map, and that the export round-trips as a result (saved as a unit, loaded back).
The tables are built here (no cohort needed), so the contract runs in a second.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiolatent.errors import CardiolatentError
from cardiolatent.exports.formats import FORMATS
from cardiolatent.exports.phenotypes import FILTERS, TRANSFORMS, ExportTables
from cardiolatent.exports.result import ExportResult, export_result
from cardiolatent.gwas import readers as R

N = 40


def small_tables(spec, *, binary: bool = True) -> ExportTables:
    """Forty written participants: two phenotypes (two missing values), a binary trait, covariates,
    time-to-event pairs where the format takes them, three participants excluded."""
    rng = np.random.default_rng(5)
    eid = np.arange(1_000_001, 1_000_001 + N, dtype=np.int64)
    ids = pd.DataFrame({"eid": eid, "instance": 2, "FID": eid.astype(str), "IID": eid.astype(str)})
    pheno = pd.DataFrame({"Z0": rng.normal(size=N), "Z1": rng.normal(size=N) * 1e-7 + 1 / 3})
    pheno.loc[[0, 5], "Z0"] = np.nan
    bins = pd.DataFrame({"AF": np.where(np.arange(N) % 4 == 0, 1.0, 0.0)}) if binary else pd.DataFrame(index=range(N))
    if binary:
        bins.loc[3, "AF"] = np.nan
    t2e = pd.DataFrame(index=range(N))
    if spec.t2e:
        t2e["AF_time"] = rng.uniform(0.1, 9.0, size=N)
        t2e["AF_event"] = (np.arange(N) % 5 == 0).astype(float)
    covar = pd.DataFrame({"age": rng.integers(45, 80, size=N).astype(float), "genetic_sex": np.arange(N) % 2 * 1.0})
    excluded = pd.DataFrame({"eid": np.array([7, 8, 9], np.int64), "instance": pd.array([2, 3, pd.NA], "Int64"),
                             "reason": ["withdrawn", "related", "latents_missing"], "detail": ["", "kinship", "x"]})
    counts = [{"reason": r, "description": d, "applied": True, "excluded": 0, "remaining": N} for r, d in FILTERS]
    info = {"n_participants_input": N + 3, "transform": "int", "transform_description": TRANSFORMS["int"],
            "phenotypes_dropped": [], "phenotype_names": {"Z0": "Z0", "Z1": "Z1"},
            "covariates_requested": ["age", "genetic_sex"], "categorical_coding": "dummies",
            "categorical_columns": [], "min_level_count": 10, "binary_traits": {}, "t2e": {}, "kinship": {},
            "sample_list": None}
    return ExportTables(ids, pheno, bins, t2e, covar, [], excluded, counts, ["a note"], info)


def lines_of(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert b"\r" not in raw, f"{path.name}: CR line endings"
    assert raw.endswith(b"\n")
    return [ln.split("\t") for ln in raw.decode().split("\n")[:-1]]


@pytest.fixture(params=list(FORMATS))
def saved(request, tmp_path):
    spec = FORMATS[request.param]
    tables = small_tables(spec)
    res = export_result(tables, spec.name, {"argv": ["export"]})
    out = tmp_path / "export"
    res.save(out)
    return spec, tables, res, out


def test_every_registered_format_declares_the_whole_contract():
    for name, spec in FORMATS.items():
        assert spec.name == name and spec.script.startswith("run_") and spec.script.endswith(".sh")
        assert callable(spec.render) and callable(spec.result_files) and callable(spec.example_result)
        assert spec.results is not None, f"{name}: gwas-results cannot read its results"
        assert {"chrom", "pos", "id"} <= set(spec.results.columns)
        assert {"p", "mlog10p"} & set(spec.results.columns)
        assert spec.results.suffixes


def test_files_written_as_a_unit(saved):
    spec, tables, res, out = saved
    man = json.loads((out / "manifest.json").read_text())
    expected = {"pheno.txt", "pheno_binary.txt", "covar.txt", "keep.txt", "excluded.tsv", spec.script,
                "manifest.json"} | ({"pheno_t2e.txt"} if spec.t2e else set())
    assert set(man["files"].values()) == expected
    assert {p.name for p in out.iterdir()} == expected | {"summary.json"}
    assert man["cardiolatent_version"] and man["format"] == spec.name and man["tool"] == spec.tool
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "temporary folder left behind"
    # a re-run without binary traits leaves no stale pheno_binary.txt
    export_result(small_tables(spec, binary=False), spec.name).save(out)
    assert not (out / "pheno_binary.txt").exists() and (out / "pheno.txt").exists()


def test_header_rules_and_same_width(saved):
    spec, tables, res, out = saved
    for name in ("pheno.txt", "pheno_binary.txt", "covar.txt") + (("pheno_t2e.txt",) if spec.t2e else ()):
        rows = lines_of(out / name)
        head = rows[0]
        assert head[:2] == (["#FID", "IID"] if spec.hash_header else ["FID", "IID"]), name
        assert sum(h.count("#") for h in head) == (1 if spec.hash_header else 0), name
        assert len(rows) == N + 1 and {len(r) for r in rows} == {len(head)}, name
        assert [r[:2] for r in rows[1:]] == [[str(e), str(e)] for e in tables.ids["eid"]]
    keep = lines_of(out / "keep.txt")
    assert keep == [[str(e), str(e)] for e in tables.ids["eid"]]


def test_missing_code_and_binary_coding(saved):
    spec, tables, res, out = saved
    rows = lines_of(out / "pheno.txt")
    z0 = [r[2] for r in rows[1:]]
    assert z0[0] == z0[5] == spec.missing == res.summary.file_format["missing"]
    assert all(float(v) == x for v, x in zip(z0, tables.pheno["Z0"]) if v != spec.missing)
    z1 = [float(r[3]) for r in rows[1:]]
    assert z1 == tables.pheno["Z1"].tolist()  # lossless numbers
    af = [r[2] for r in lines_of(out / "pheno_binary.txt")[1:]]
    assert af[3] == spec.missing
    assert af[0] == spec.case and af[1] == spec.control
    assert set(af) == {spec.case, spec.control, spec.missing}


def test_run_script_is_valid_bash_and_names_its_result_files(saved):
    spec, tables, res, out = saved
    script = out / spec.script
    assert script.stat().st_mode & 0o100
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    for pheno, name in spec.result_files(tables, res.written):
        assert pheno in name
        prefix = name[: name.index(pheno)].rstrip("._")
        assert f"$OUT/{prefix}" in text, (spec.name, prefix)


def _rows(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"chrom": "1", "pos": np.arange(1, n + 1) * 1000, "id": [f"rs{i}" for i in range(n)],
                         "effect_allele": "A", "other_allele": "G", "eaf": rng.uniform(0.05, 0.95, n).round(6),
                         "n": 1000.0, "beta": rng.normal(0, 0.1, n), "se": rng.uniform(0.01, 0.05, n),
                         "p": 10.0 ** -rng.uniform(0.1, 12, n)})


def test_gwas_results_recognises_and_reads_the_tools_result_files(saved, tmp_path):
    spec, tables, res, out = saved
    rows = _rows()
    results = tmp_path / "results"
    results.mkdir()
    names = spec.result_files(tables, res.written)
    for pheno, name in names:
        prefix = name[: name.index(pheno)].rstrip("._")
        (results / f"{prefix}.log").write_text("log\n")
        text = spec.example_result(rows)
        if name.endswith(".gz"):
            import gzip

            (results / name).write_bytes(gzip.compress(text.encode()))
        else:
            (results / name).write_text(text)
        for side, stext in (spec.sidecar_files(rows, prefix) if spec.sidecar_files else {}).items():
            (results / side).write_text(stext)
    files = R.discover_results([results])
    assert sorted((f.latent, f.path.name) for f in files) == sorted(names)
    assert {f.format for f in files} == {spec.name}
    got = R.read_result(files[0])
    assert got["id"].tolist() == rows["id"].tolist() and got["pos"].tolist() == rows["pos"].tolist()
    assert got["effect_allele"].tolist() == rows["effect_allele"].tolist()
    np.testing.assert_allclose(got["beta"], rows["beta"], rtol=1e-12)
    np.testing.assert_allclose(got["se"], rows["se"], rtol=1e-9)
    np.testing.assert_allclose(got["mlog10p"], -np.log10(rows["p"]), rtol=1e-9)
    if "eaf" in spec.results.columns or spec.results.freq_sidecars:
        np.testing.assert_allclose(got["eaf"], rows["eaf"], rtol=1e-12)
    if ("eaf" in spec.results.columns or spec.results.freq_sidecars) and "n" in spec.results.columns:
        kept = R.read_result(files[0], min_mac=2 * 1000 * 0.3)
        maf = np.minimum(rows["eaf"], 1 - rows["eaf"])
        assert kept["id"].tolist() == rows.loc[2 * 1000 * maf >= 600, "id"].tolist()
    else:  # no minor allele count from this tool's results: a clear error naming the parameter
        with pytest.raises(CardiolatentError, match="min_mac needs"):
            R.read_result(files[0], min_mac=20)


def test_export_round_trips_as_a_result(saved):
    spec, tables, res, out = saved
    back = ExportResult.load(out)
    pd.testing.assert_frame_equal(back.table, res.table, check_dtype=False)
    assert back.excluded["eid"].tolist() == [9, 8, 7]  # excluded.tsv: by reason, then eid
    assert back.excluded["reason"].tolist() == ["latents_missing", "related", "withdrawn"]
    assert back.summary == res.summary
    assert back.summary_lines()[:1] == [f"{N + 3:,} participants in the latents table; {N:,} written for "
                                        f"{spec.tool}"]


def test_a_users_folder_is_refused(tmp_path):
    spec = FORMATS["regenie"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    with pytest.raises(CardiolatentError, match="not an earlier cardiolatent output"):
        export_result(small_tables(spec), "regenie").save(mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_an_export_written_before_results_is_replaced(tmp_path):
    """A folder with only the old manifest.json (no cardiolatent_version) is our own earlier output."""
    spec = FORMATS["plink2"]
    out = tmp_path / "old"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"format": "plink2", "filters": [],
                                                   "versions": {"cardiolatent": "0.3.0"}}))
    (out / "stale.txt").write_text("x\n")
    export_result(small_tables(spec), "plink2").save(out)
    assert not (out / "stale.txt").exists() and (out / "pheno.txt").exists()
