"""Bad input through the command line: one line naming the option, file or value, exit 2, and no
work done first (issue 13; the catch-all for the unexpected is tested in test_cli.py)."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

from _latents_helpers import random_long_latents
from cardiolatent.cli import main


@pytest.fixture(scope="module")
def inputs(gwas_cohort, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    truth = pd.read_csv(gwas_cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(0)
    lat = random_long_latents(truth, rng)
    lat.to_parquet(d / "lat.parquet")
    pd.DataFrame({"eid": truth["eid"], "score": "high"}).to_csv(d / "score.tsv", sep="\t", index=False)
    lat["eid"] = lat["eid"].astype(str)
    lat.iloc[3, 0] = "abc"
    lat.to_csv(d / "string_eid.csv", index=False)
    (d / "results").mkdir()
    (d / "a_folder.tsv").mkdir()
    (d / "a_file.txt").write_text("x")
    (d / "thesis").mkdir()
    (d / "thesis" / "chapter1.tex").write_text("precious")
    return dict(dir=d, ukb=str(gwas_cohort.main), lat=str(d / "lat.parquet"))


CASES = {
    "meff_zero": (["assoc", "--traits", "bmi", "--meff", "0"], "--meff must be a positive number"),
    "alpha_out_of_range": (["assoc", "--traits", "bmi", "--alpha", "1.5"], "--alpha must be between 0 and 1"),
    "no_traits": (["assoc"], "give --traits and/or --outcomes"),
    "permutations_negative": (["assoc", "--traits", "bmi", "--permutations", "-5"], "--permutations must be 0"),
    "min_cases_negative": (["assoc", "--traits", "bmi", "--min-cases", "-1"], "--min-cases must be at least 1"),
    "min_nonmissing_above_one": (["assoc", "--traits", "bmi", "--min-nonmissing", "2"],
                                 "--min-nonmissing is a fraction between 0 and 1"),
    "quantiles_one": (["cox", "--groups", "S1701_Z0", "--quantiles", "1"], "--quantiles must be 2 or more"),
    "batch_size_zero": (["encode", "--images", "{dir}", "--batch-size", "0", "--out", "{dir}/e.parquet"],
                        "--batch-size must be at least 1"),
    "synth_seed_negative": (["synth", "--n", "30", "--seed", "-1", "--out", "{dir}/s"], "--seed must be 0 or more"),
    "kinship_threshold": (["export", "--latents", "{dir}/lat.parquet", "--format", "plink2", "--kinship-threshold",
                           "7", "--out", "{dir}/x"], "--kinship-threshold is a kinship coefficient"),
    "score_not_numeric": (["cox", "--groups", "score", "--score", "{dir}/score.tsv"],
                          "column 'score' holds 'high' for eid"),
    "groups_unknown_latent": (["cox", "--groups", "S1701_Z999"], "groups 'S1701_Z999' is not a latent column"),
    "max_followup_negative": (["cox", "--max-followup", "-1"], "--max-followup must be a positive number"),
    "max_followup_zero": (["cox", "--max-followup", "0"], "--max-followup must be a positive number"),
    "max_followup_text": (["cox", "--max-followup", "ten"], "--max-followup must be a number of years or 'none'"),
    "admin_date_impossible": (["outcomes", "--admin-date", "2023-02-30"], "--admin-date 2023-02-30 is not a date"),
    "string_eid": (["icc", "--latents", "{dir}/string_eid.csv", "--between", "seeds", "--out", "{dir}/i.tsv"],
                   "column 'eid' must hold whole numbers; found 'abc'"),
    "device_tpu": (["encode", "--images", "{dir}", "--device", "tpu", "--out", "{dir}/e.parquet"],
                   "unknown device 'tpu'"),
    "device_cuda_without_cuda": (["encode", "--images", "{dir}", "--device", "cuda", "--out", "{dir}/e.parquet"],
                                 "CUDA is not available"),
    "train_device_tpu": (["train", "--images", "{dir}", "--device", "tpu", "--out", "{dir}/t"], "unknown device 'tpu'"),
    "train_augment_negative": (["train", "--images", "{dir}", "--augment-rotate", "-5", "--out", "{dir}/t"],
                               "augmentation rotate_deg must be a number >= 0"),
    "unknown_preset": (["encode", "--images", "{dir}", "--config", "nonsense", "--out", "{dir}/e.parquet"],
                       "unknown model preset 'nonsense'"),
    "window_negative": (["gwas-results", "--results", "{dir}/results", "--window-kb", "-1", "--out", "{dir}/g"],
                        "--window-kb must be a distance of 0 kb or more"),
    "synth_n_zero": (["synth", "--n", "0", "--out", "{dir}/s"], "--n must be at least 20"),
    "out_is_a_folder": (["assoc", "--traits", "bmi", "--out", "{dir}/a_folder.tsv"], "is an existing folder"),
    "out_without_extension": (["cox", "--out", "{dir}/cox"], "--out {dir}/cox needs a table extension"),
    "out_under_a_file": (["icc", "--latents", "{dir}/lat.parquet", "--between", "seeds", "--out",
                          "{dir}/a_file.txt/icc.tsv"], "a_file.txt is a file, not a folder"),
    "out_folder_of_the_user": (["ensemble", "--latents", "{dir}/lat.parquet", "--out", "{dir}/thesis"],
                               "exists and is not an earlier cardiolatent output"),
    "out_folder_is_a_file": (["export", "--latents", "{dir}/lat.parquet", "--format", "plink2", "--out",
                              "{dir}/a_file.txt"], "exists and is a file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_it(case, inputs, capsys):
    import torch

    argv, expect = CASES[case]
    if case == "device_cuda_without_cuda" and torch.cuda.is_available():
        argv = [a if a != "cuda" else "cuda:999" for a in argv]
        expect = "CUDA device(s) visible"
    argv = [a.format(**inputs) for a in argv]
    expect = expect.format(**inputs)
    command = argv[0]
    if command in ("assoc", "cox", "outcomes"):
        argv += ["--ukb", inputs["ukb"]]
    if command in ("assoc", "cox") and "--latents" not in argv:
        argv += ["--latents", inputs["lat"]]
    if command == "export":
        argv += ["--ukb", inputs["ukb"]]
    rc = main(argv + ["--quiet"] if command not in ("gwas-results",) else argv + ["--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "unexpected error" not in err, err
    assert err.startswith(f"cardiolatent {command}: error: ") and expect in err, err


def test_a_constant_latent_says_constant(inputs, tmp_path):
    """Not ``too_few``: the status says why, in assoc (OLS and logistic) as in cox."""
    lat = pd.read_parquet(inputs["lat"])
    lat["Z2"] = np.float32(1.5)
    src = tmp_path / "lat.parquet"
    lat.to_parquet(src)
    for extra, name in ((["--traits", "bmi"], "a.tsv"),
                        (["--outcomes", "HTN", "--direction", "outcome", "--min-cases", "5"], "b.tsv")):
        assert main(["assoc", "--latents", str(src), "--ukb", inputs["ukb"], *extra, "--out", str(tmp_path / name),
                     "--quiet"]) == 0
        t = pd.read_csv(tmp_path / name, sep="\t")
        assert set(t.loc[t["latent"].str.endswith("_Z2"), "status"]) == {"constant"}
        assert "constant" not in set(t.loc[~t["latent"].str.endswith("_Z2"), "status"])
    assert main(["cox", "--latents", str(src), "--ukb", inputs["ukb"], "--outcomes", "AF", "--out",
                 str(tmp_path / "c.tsv"), "--quiet"]) == 0
    c = pd.read_csv(tmp_path / "c.tsv", sep="\t")
    assert set(c.loc[c["latent"].str.endswith("_Z2"), "status"]) == {"constant"}


def test_separated_and_underpowered_models_are_said(inputs, tmp_path, capsys):
    """A latent that splits events from non-events gives status separation, and the console and the
    summary say so; no numpy warning reaches the user raw; few events per parameter are flagged."""
    import json
    import warnings

    from cardiolatent.analysis.survival import survival_data
    from cardiolatent.latents import read_latents
    from cardiolatent.ukb.read import read_main

    L = read_latents(inputs["lat"])
    from cardiolatent.analysis.design import fields_needed

    mdata = read_main(inputs["ukb"], fields_needed(["MI"]), missing_ok=True)
    S = survival_data(mdata, L.keys, "MI")
    lat = pd.read_parquet(inputs["lat"])
    ev = pd.Series(S.event, index=pd.MultiIndex.from_frame(L.keys))
    key = pd.MultiIndex.from_frame(lat[["eid", "instance"]])
    lat["Z1"] = (ev.reindex(key).fillna(0).to_numpy() * 50.0).astype(np.float32)  # events only at 50
    src = tmp_path / "lat.parquet"
    lat.to_parquet(src)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rc = main(["cox", "--latents", str(src), "--ukb", inputs["ukb"], "--outcomes", "MI", "--covariates", "age,sex",
                   "--out", str(tmp_path / "c.tsv")])
    out = capsys.readouterr()
    assert rc == 0 and "RuntimeWarning" not in out.err
    t = pd.read_csv(tmp_path / "c.tsv", sep="\t")
    assert set(t.loc[t["latent"].str.endswith("_Z1"), "status"]) == {"separation"}
    summ = json.loads((tmp_path / "c.summary.json").read_text())
    assert summ["outcomes"]["MI"]["status"] == {"separation": 2}
    assert any("status separation" in n for n in summ["notes"]) and "status separation" in out.out
    n_ev = summ["outcomes"]["MI"]["n_events"]
    assert (n_ev < 30) == any("underpowered" in n for n in summ["notes"])


def _main_copy(cohort_main, tmp_path, n=60) -> tuple[pd.DataFrame, str]:
    m = pd.read_csv(cohort_main, nrows=n, dtype=str)
    path = tmp_path / "main.csv"
    m.to_csv(path, index=False)
    return m, str(path)


@pytest.mark.parametrize("how, line", [("long", 6), ("short", 11)])
def test_a_row_with_the_wrong_number_of_fields_is_an_error_naming_the_line(gwas_cohort, tmp_path, capsys, how,
                                                                            line):
    m, path = _main_copy(gwas_cohort.main, tmp_path)
    lines = open(path).read().splitlines()
    lines[line - 1] = lines[line - 1] + ",surplus" if how == "long" else ",".join(lines[line - 1].split(",")[:-3])
    open(path, "w").write("\n".join(lines) + "\n")
    assert main(["covariates", "--ukb", path, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"cardiolatent covariates: error: main.csv: line {line} has "
                   f"{len(m.columns) + (1 if how == 'long' else -3)} fields where the header has {len(m.columns)}; "
                   "the file is damaged (rows are shifted)")


def test_impossible_body_measures_become_missing_with_a_count(gwas_cohort, tmp_path, capsys):
    """Not a BSA of 8e221: -170 cm and 1e308 cm are implausible, inf is not finite; each is counted."""
    m, path = _main_copy(gwas_cohort.main, tmp_path)
    m.loc[0, "50-2.0"], m.loc[1, "50-2.0"], m.loc[2, "21002-2.0"] = "-170", "1e308", "inf"
    m.to_csv(path, index=False)
    out = tmp_path / "cov.tsv"
    assert main(["covariates", "--ukb", path, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "cleaned values:" in said and "implausible_value 2" in said and "not_finite 1" in said
    cov = pd.read_csv(out, sep="\t").set_index("eid")
    eids = m["eid"].astype(int).tolist()
    assert cov.loc[eids[:2], "height"].isna().all() and np.isnan(cov.loc[eids[2], "weight"])
    assert cov.loc[eids[:3], "bsa"].isna().all()
    assert np.isfinite(cov["bsa"].dropna()).all() and cov["bsa"].dropna().between(0.5, 4).all()


def test_an_event_after_death_or_after_the_admin_date_is_flagged(gwas_cohort, tmp_path):
    m = pd.read_csv(gwas_cohort.main, dtype=str)
    gap = pd.to_datetime(m["131350-0.0"]) - pd.to_datetime(m["53-2.0"])
    m = m[(gap > pd.Timedelta(days=90)).to_numpy()].head(3).copy()  # AF recorded after the imaging visit
    ev = pd.to_datetime(m["131350-0.0"])
    m["40000-0.0"] = (ev - pd.Timedelta(days=30)).dt.strftime("%Y-%m-%d").to_numpy()  # died before the record
    m.iloc[1, m.columns.get_loc("40000-0.0")] = np.nan
    m.iloc[1, m.columns.get_loc("131350-0.0")] = "2024-06-01"  # after the end of the data (2023-10-31)
    hospital = [c for c in m.columns if c.split("-")[0] in ("41270", "41280", "41271", "41281")]
    m.iloc[1, [m.columns.get_loc(c) for c in hospital]] = np.nan  # the first-occurrence date is the only one
    path = tmp_path / "main.csv"
    m.to_csv(path, index=False)
    out = tmp_path / "o.tsv"
    assert main(["outcomes", "--ukb", str(path), "--outcomes", "AF", "--out", str(out), "--quiet"]) == 0
    t = pd.read_csv(out, sep="\t", keep_default_na=False).set_index("eid")
    eids = m["eid"].astype(int).tolist()
    flags = t.loc[eids, "date_flag"].tolist()
    assert flags == ["after_death", "after_admin_date", "after_death"]
    assert (t.loc[eids, "event"].astype(int) == 0).all()  # never an incident event


def test_p_of_zero_in_gwas_results_is_reported_not_a_lead(tmp_path, capsys):
    import json

    rng = np.random.default_rng(3)
    n = 400
    pos = np.sort(rng.choice(np.arange(10_000, 5_000_000), n, replace=False))
    p = rng.uniform(size=n)
    p[100], p[300] = 0.0, 1e-30  # underflowed, and a real hit 2.5 Mb away
    rows = ["#CHROM\tPOS\tID\tREF\tALT\tA1\tTEST\tOBS_CT\tBETA\tSE\tT_STAT\tP"]
    rows += [f"1\t{q}\trs{i}\tA\tG\tG\tADD\t1000\t0.1\t0.05\t2\t{pv:.6g}" for i, (q, pv) in enumerate(zip(pos, p))]
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "run.Z0.glm.linear").write_text("\n".join(rows) + "\n")
    out = tmp_path / "g"
    assert main(["gwas-results", "--results", str(tmp_path / "res"), "--out", str(out), "--quiet"]) == 0
    leads = pd.read_csv(out / "leads.tsv", sep="\t")
    assert leads["id"].tolist() == ["rs300"] and (leads["p"] > 0).all()
    notes = json.loads((out / "summary.json").read_text())["notes"]
    assert any("1 variant(s) with P written as 0" in x and "rs100" in x for x in notes)


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_killed_re_export_leaves_the_previous_export_whole(inputs, tmp_path, monkeypatch):
    import cardiolatent.exports.writers as writers

    out = tmp_path / "exp"
    base = ["export", "--latents", inputs["lat"], "--ukb", inputs["ukb"], "--format", "plink2", "--out", str(out),
            "--covariates", "age,sex", "--quiet"]
    assert main(base + ["--outcomes", "HTN"]) == 0
    before = _snapshot(out)
    assert "pheno_binary.txt" in before
    real, calls = writers.write_text_atomic, []

    def dies_late(path, text):  # the phenotype tables are written; the script is not
        calls.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(writers, "write_text_atomic", dies_late)
    assert main(base + ["--latent-columns", "S1701_Z0"]) == 130
    assert calls and _snapshot(out) == before  # the old folder, whole: no new pheno.txt beside the old files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # the killed run's temporary folder is gone
    monkeypatch.setattr(writers, "write_text_atomic", real)

    # a re-run with withdrawals and without the binary outcome: no stale file, the withdrawn are gone
    lat = pd.read_parquet(inputs["lat"])
    gone = lat["eid"].drop_duplicates().head(25)
    gone.to_csv(tmp_path / "w.csv", index=False, header=False)
    assert main(base + ["--withdrawals", str(tmp_path / "w.csv")]) == 0
    after = _snapshot(out)
    assert "pheno_binary.txt" not in after
    pheno = pd.read_csv(out / "pheno.txt", sep="\t")
    assert not pheno["IID"].isin(gone).any()
    ex = pd.read_csv(out / "excluded.tsv", sep="\t")
    assert set(gone) <= set(ex.loc[ex["reason"] == "withdrawn", "eid"])


def test_temporaries_of_a_killed_write_are_cleaned_up_on_the_next_run(inputs, tmp_path):
    """A run killed with SIGKILL leaves its temporaries; the next write of that output removes them
    (and leaves alone those of a run still going)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "a.tsv"
    code = ("import os, signal\n"
            "import cardiolatent.results as R\n"
            "real = R._write\n"
            "def die(df, path):\n"
            "    real(df, path)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "R._write = die\n"
            "from cardiolatent.cli import main\n"
            f"main(['assoc', '--latents', {inputs['lat']!r}, '--ukb', {inputs['ukb']!r}, '--traits', 'bmi', "
            f"'--covariates', 'age,sex', '--out', {str(out)!r}, '--quiet'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stderr[-2000:]
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert left and not out.exists()
    live = tmp_path / f".a.tsv.cltmp{os.getpid()}.live.tmp"  # this process is alive: not removed
    live.write_text("x")
    assert main(["assoc", "--latents", inputs["lat"], "--ukb", inputs["ukb"], "--traits", "bmi", "--covariates",
                 "age,sex", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [live.name]
    assert out.exists()


def _demo_file_with(tmp_path, name, *, meta_edit=None, tensor_edit=None):
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from cardiolatent.model.pipeline import demo_weight_files

    src = demo_weight_files()[0]
    with safe_open(str(src), "pt") as fh:
        meta = dict(fh.metadata())
    sd = load_file(str(src))
    if meta_edit:
        cfg = json.loads(meta["cardiolatent_config"])
        meta_edit(cfg)
        meta["cardiolatent_config"] = json.dumps(cfg)
    if tensor_edit:
        tensor_edit(sd)
    path = tmp_path / name
    save_file(sd, str(path), metadata=meta)
    return path


def test_weights_asking_for_a_wider_network_are_refused_before_it_is_built(tmp_path, monkeypatch, capsys):
    import cardiolatent.model.pipeline as pipe

    def wider(cfg):
        cfg["base_channels"] *= 400  # a 400x wider network than the tensors hold

    path = _demo_file_with(tmp_path, "S1701_wide.safetensors", meta_edit=wider)
    built = []
    real = pipe.DiffAENetwork

    def counting(cfg, **kw):
        import torch

        if torch.empty(0).device.type != "meta":
            built.append(cfg)
        return real(cfg, **kw)

    monkeypatch.setattr(pipe, "DiffAENetwork", counting)
    assert main(["encode", "--images", str(tmp_path), "--weights", str(path), "--out", str(tmp_path / "z.parquet"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the weights do not fit the network" in err and "shape differences" in err
    assert built == []  # refused from the shapes alone: no real network was allocated


def test_weights_holding_nan_are_refused(tmp_path, capsys):
    def poison(sd):
        k = next(k for k, v in sd.items() if v.is_floating_point() and k.endswith("weight"))
        sd[k] = sd[k].clone()
        sd[k].view(-1)[3] = float("nan")

    path = _demo_file_with(tmp_path, "S1701_nan.safetensors", tensor_edit=poison)
    assert main(["encode", "--images", str(tmp_path), "--weights", str(path), "--out", str(tmp_path / "z.parquet"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "NaN or infinite value(s); the weights are damaged and are refused" in err and str(path) in err


def test_discovery_exclusions_are_written_once_in_the_qc_table(small_cohort, tmp_path):
    import shutil

    src = tmp_path / "in"
    src.mkdir()
    for z in sorted(small_cohort.bulk.glob("*_20208_2_0.zip"))[:2]:
        shutil.copy(z, src / z.name)
    (src / "1000001_20208_2_0.zip").write_text("not a zip")        # read error
    (src / "scan.nii.gz").write_bytes(b"\x1f\x8b")  # found by discovery, name without eid: bad_name
    out = tmp_path / "lat.parquet"
    assert main(["encode", "--images", str(src), "--out", str(out), "--workers", "0", "--quiet"]) == 0
    qc = pd.read_csv(tmp_path / "lat.qc.tsv", sep="\t")
    assert not qc.duplicated(["path", "reason"]).any(), qc
    assert len(qc) == 2 and set(qc["reason"]) == {"not_a_zip", "bad_name"}


def test_an_hdf5_dataset_far_larger_than_a_cine_is_refused_before_reading(tmp_path):
    """The declared shape is checked first: a 5000-frame dataset (stored sparse, 2.6 GB if read) is
    a QC row, not 2.6 GB of memory."""
    import h5py

    from cardiolatent.images.readers import InputError, discover_inputs, read_frames

    path = tmp_path / "cines.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("1000001/20208/2_0/primary_LAX_4Ch_transverse_0", shape=(1, 5000, 1, 512, 512),
                         dtype="uint16", chunks=(1, 1, 1, 512, 512))  # nothing written: tiny on disk
        f.create_dataset("1000002/20208/2_0/primary_LAX_4Ch_transverse_0", data=np.zeros((1, 50, 1, 64, 64), "uint16"))
    assert path.stat().st_size < 1_000_000
    items = discover_inputs(path)
    big = next(it for it in items if it.eid == 1000001)
    with pytest.raises(InputError) as e:
        read_frames(big)
    assert e.value.reason == "too_large" and "refused before reading" in str(e.value)
    ok = next(it for it in items if it.eid == 1000002)
    assert read_frames(ok)[0].shape == (50, 64, 64)


def test_a_truncated_gz_is_one_line_naming_the_file(inputs, gwas_cohort, tmp_path, capsys):
    import gzip

    def truncated(src_bytes: bytes, name: str) -> str:
        path = tmp_path / name
        path.write_bytes(gzip.compress(src_bytes)[:4000])
        return str(path)

    main_gz = truncated(open(gwas_cohort.main, "rb").read(), "main.csv.gz")
    lat = pd.read_parquet(inputs["lat"])
    lat_gz = truncated(lat.to_csv(sep="\t", index=False).encode(), "lat.tsv.gz")
    (tmp_path / "res").mkdir()
    rows = "#CHROM\tPOS\tID\tREF\tALT\tA1\tTEST\tOBS_CT\tBETA\tSE\tT_STAT\tP\n" + "".join(
        f"1\t{1000 + i}\trs{i}\tA\tG\tG\tADD\t100\t0.1\t0.1\t1\t0.5\n" for i in range(3000))
    res_gz = truncated(rows.encode(), "res/run.Z0.glm.linear.gz")
    for argv, name in ((["covariates", "--ukb", main_gz], "main.csv.gz"),
                       (["icc", "--latents", lat_gz, "--between", "seeds", "--out", str(tmp_path / "i.tsv")],
                        "lat.tsv.gz"),
                       (["gwas-results", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "g")],
                        "run.Z0.glm.linear.gz")):
        assert main(argv + ["--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err and "unexpected" not in err, err


def _rewrite_zip(src, out, edit_dataset=None, extra=None, shuffle_seed=None):
    """Copy a bulk zip, editing each 4-chamber DICOM (``edit_dataset(i, ds)``) and shuffling the
    archive order of its members."""
    import io
    import zipfile

    import pydicom

    with zipfile.ZipFile(src) as zin:
        names = zin.namelist()
        blobs = {n: zin.read(n) for n in names}
    if shuffle_seed is not None:
        names = list(np.random.default_rng(shuffle_seed).permutation(names))
    with zipfile.ZipFile(out, "w") as zout:
        for i, n in enumerate(names):
            data = blobs[n]
            if edit_dataset is not None and n.endswith(".dcm"):
                ds = pydicom.dcmread(io.BytesIO(data))
                if "4Ch" in str(ds.get("SeriesDescription", "")):
                    edit_dataset(ds)
                    buf = io.BytesIO()
                    ds.save_as(buf)
                    data = buf.getvalue()
            zout.writestr(n, data)
        for n, data in (extra or {}).items():
            zout.writestr(n, data)


def test_frames_without_trigger_time_follow_instance_number_never_the_archive(small_cohort, tmp_path):
    from cardiolatent.images.readers import InputError, InputItem, read_bulk_zip, read_frames

    src = sorted(small_cohort.bulk.glob("*_20208_2_0.zip"))[0]
    ref, info = read_bulk_zip(src)
    assert info["frame_order"] == "trigger_time"

    def drop_trigger(ds):
        del ds.TriggerTime

    out = tmp_path / src.name
    _rewrite_zip(src, out, drop_trigger, shuffle_seed=1)
    frames, info2 = read_bulk_zip(out)
    assert info2["frame_order"] == "instance_number"
    np.testing.assert_array_equal(frames, ref)  # the same order in time from the frame numbers

    def drop_both(ds):
        del ds.TriggerTime
        if int(ds.InstanceNumber) % 7 == 0:
            del ds.InstanceNumber

    bad = tmp_path / "b" / src.name
    bad.parent.mkdir()
    _rewrite_zip(src, bad, drop_both, shuffle_seed=2)
    eid, inst = (int(x) for x in src.name.split("_")[::2][:2])
    with pytest.raises(InputError) as e:
        read_frames(InputItem(eid, inst, str(bad), "zip"))
    assert e.value.reason == "no_frame_order" and "order in time is unknown" in str(e.value)


def test_a_zip_bomb_is_refused_before_it_is_inflated(small_cohort, tmp_path):
    """A small zip whose series would inflate to gigabytes is a QC row, not gigabytes of memory."""
    import zipfile

    from cardiolatent.images.readers import InputError, InputItem, read_frames

    src = sorted(small_cohort.bulk.glob("*_20208_2_0.zip"))[0]
    eid, inst = (int(x) for x in src.name.split("_")[::2][:2])
    out = tmp_path / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        man = next(n for n in zin.namelist() if n.endswith(".csv"))
        rows = zin.read(man).decode()
        for n in zin.namelist():
            if n != man:
                zout.writestr(n, zin.read(n))
        zeros = b"\0" * (200 * 2**20)  # 200 MB of zeros: deflates to ~200 kB
        extra = [f"bomb{i:02d}.dcm" for i in range(8)]
        for n in extra:
            zout.writestr(n, zeros)
        rows += "".join(f"{n},{eid},1.2,AWP,localhost,20140506,163320,CINE_segmented_LAX_4Ch\n" for n in extra)
        zout.writestr(man, rows)
    assert out.stat().st_size < src.stat().st_size + 3 * 2**20  # 1.6 GB inflated in a few MB
    with pytest.raises(InputError) as e:
        read_frames(InputItem(eid, inst, str(out), "zip"))
    assert e.value.reason == "too_large" and "refused before reading" in str(e.value)


@pytest.mark.slow
def test_a_killed_encode_keeps_all_but_the_last_few_inputs(small_cohort, tmp_path):
    """The default parts of 32 inputs: a run killed after 3 committed parts resumes at input 96 (with
    the old 256-input parts a 218-input run killed at 200 restarted from 0), and the latents equal
    an uninterrupted run's bit for bit (batches run across parts)."""
    import os
    import subprocess
    import sys

    from cardiolatent.encode.run import CHUNK_SIZE, EXIT_AFTER_CHUNKS_ENV, parts_dir_for
    from cardiolatent.model.pipeline import demo_weight_files

    out = tmp_path / "lat.parquet"
    argv = ["encode", "--images", str(small_cohort.bulk), "--weights", str(demo_weight_files()[0]), "--out",
            str(out), "--workers", "0", "--quiet"]
    code = f"import sys; from cardiolatent.cli import main; sys.exit(main({argv!r}))"
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, EXIT_AFTER_CHUNKS_ENV: "3"},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 75, r.stderr[-2000:]
    parts = parts_dir_for(out)
    assert len(list(parts.glob("part-*.qc.parquet"))) == 3
    # the same command again (as the library call it makes, to read its counters): resumes at 96
    from cardiolatent.commands.encode import load_encoders
    from cardiolatent.encode.run import encode_inputs
    from cardiolatent.images.readers import discover_inputs

    items = discover_inputs([str(small_cohort.bulk)])
    res = encode_inputs(items, load_encoders([str(demo_weight_files()[0])]), out, batch_size=8, workers=0,
                        progress=False)
    assert res.timing["n_resumed"] == 3 * CHUNK_SIZE and CHUNK_SIZE == 32
    whole = encode_inputs(items, load_encoders([str(demo_weight_files()[0])]), tmp_path / "whole.parquet",
                          batch_size=8, workers=0, chunk_size=1000, progress=False)
    assert res.latents.equals(whole.latents)  # parts of 32, interrupted, = one part of everything
    n = len(pd.read_csv(small_cohort.bulk_manifest, sep="\t"))
    assert len(pd.read_parquet(out)) == n and not parts.exists()
    assert not (tmp_path / "lat.qc.tsv").exists() or len(pd.read_csv(tmp_path / "lat.qc.tsv", sep="\t")) == 0


def test_a_second_encode_into_the_same_output_is_refused_while_the_first_runs(small_cohort, tmp_path, capsys):
    """Two runs writing one output at once would mix their parts; the second is one line instead."""
    from cardiolatent.io_utils import output_lock

    out = tmp_path / "lat.parquet"
    with output_lock(out):  # as a first run holds it
        assert main(["encode", "--images", str(small_cohort.bulk), "--out", str(out), "--workers", "0",
                     "--quiet"]) == 2
    assert "another run is writing" in capsys.readouterr().err and not out.exists()
    assert not (tmp_path / ".lat.parquet.lock").exists()  # released with the first run


def test_a_forked_worker_does_not_keep_the_output_lock_of_a_killed_run(tmp_path):
    """The lock of a run ends with the run: a process forked while it was held (an encode reading
    worker) drops its inherited copy at start, so when the run is killed (no unlock) a new run is
    not refused while the worker is still alive."""
    import os
    import signal
    import subprocess
    import sys

    from cardiolatent.io_utils import output_lock

    out = tmp_path / "latents.parquet"
    script = (
        "import multiprocessing as mp, sys, time\n"
        "from cardiolatent.encode.workers import _worker_init\n"
        "from cardiolatent.io_utils import output_lock\n"
        "def worker():\n"
        "    _worker_init(None)\n"
        "    time.sleep(60)\n"
        f"with output_lock({str(out)!r}):\n"
        "    p = mp.get_context('fork').Process(target=worker, daemon=False)\n"
        "    p.start()\n"
        "    time.sleep(1.0)\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker_pid = int(run.stdout.readline())
    try:
        os.kill(run.pid, signal.SIGKILL)  # the run dies without unlocking; its worker lives on
        run.wait(30)
        os.kill(worker_pid, 0)  # still alive
        with output_lock(out):  # not refused
            pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker_pid, signal.SIGKILL)


def test_a_second_builder_of_the_builtin_cohort_waits_for_the_first(tmp_path):
    """wait_lock: a second process asking for the same lock waits (saying so once), then runs."""
    import subprocess
    import sys
    import time

    from cardiolatent.io_utils import wait_lock

    lock = tmp_path / ".builtin.lock"
    done = tmp_path / "second.done"
    script = (
        "import time, pathlib\n"
        "from cardiolatent.io_utils import wait_lock\n"
        f"with wait_lock({str(lock)!r}, 'waiting for another run'):\n"
        f"    pathlib.Path({str(done)!r}).write_text(str(time.time()))\n"
    )
    with wait_lock(lock):
        second = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
        time.sleep(3.0)
        assert second.poll() is None and not done.exists()      # blocked while the first holds it
        released = time.time()
    second.wait(60)
    assert second.returncode == 0 and float(done.read_text()) >= released
    assert second.stderr.read().strip() == "waiting for another run"
    assert lock.exists()                                        # kept: never a second lock file
