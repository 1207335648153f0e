"""``cardiolatent manipulate`` end to end on the small cohort (its zips, main data, and latents
encoded by the demo model of seed 1701): every file of issue 15 section 2, the result contract
(load, plot, print), batching, and bad requests as one line."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cardiolatent.cli import main
from cardiolatent.interpret import ManipulationResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(small_cohort, tmp_path_factory):
    from cardiolatent.encode.run import encode_inputs
    from cardiolatent.images.readers import discover_inputs
    from cardiolatent.model.pipeline import demo_weight_files, load_model

    out = tmp_path_factory.mktemp("manip") / "latents.parquet"
    model = load_model([f for f in demo_weight_files() if f.stem.endswith("_S1701")][0])
    encode_inputs(discover_inputs([small_cohort.bulk]), [model], out, workers=1, progress=False)
    return ["--latents", str(out), "--ukb", str(small_cohort.main), "--images", str(small_cohort.bulk)]


@pytest.fixture(scope="module")
def run_lvedv(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    args = ["manipulate", "--trait", "lvedv", *inputs, "--out", str(out), "--inversion-steps", "4",
            "--decoding-steps", "4", "--n-participants", "2", "--nifti", "--quiet"]
    assert main(args) == 0
    return out / "lvedv", args


def test_writes_every_file(run_lvedv):
    folder, _ = run_lvedv
    names = {p.name for p in folder.iterdir()}
    assert {"manipulation.json", "direction.tsv", "table.tsv", "excluded.tsv", "summary.json"} <= names
    parts = [p for p in folder.iterdir() if p.is_dir()]
    assert len(parts) == 2
    for part in parts:
        assert {p.name for p in part.iterdir()} == {"decoded.npy", "input.npy", "grid.png", "grid.pdf", "cine.gif",
                                                    "decoded.nii.gz"}
        dec = np.load(part / "decoded.npy")
        assert dec.shape == (5, 10, 32, 32) and dec.dtype == np.float32 and np.abs(dec).max() <= 1.0
        gif = Image.open(part / "cine.gif")
        assert gif.n_frames == 10 and gif.size[0] > 5 * 32 * 4      # all magnitudes side by side, the cine playing
        assert (part / "grid.pdf").read_bytes()[:4] == b"%PDF"
    rec = json.loads((folder / "manipulation.json").read_text())
    assert rec["name"] == "lvedv" and rec["kind"] == "trait" and rec["seed"] == 1701
    assert rec["magnitudes"] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert (rec["inversion_steps"], rec["decoding_steps"]) == (4, 4)
    assert len(rec["weights_fingerprint"]) == 16 and rec["score_name"] == "r2"
    d = rec["direction"]
    assert len(d["mean"]) == len(d["sd"]) == len(d["beta"]) == 128
    assert np.linalg.norm(d["beta"]) == pytest.approx(1.0)
    table = pd.read_csv(folder / "table.tsv", sep="\t")
    assert len(table) == 10 and table["psnr_db"].notna().sum() == 2


def test_result_contract_round_trip_and_figure(run_lvedv):
    folder, _ = run_lvedv
    res = ManipulationResult.load(folder)
    assert len(res.manipulations) == 2 and res.summary.name == "lvedv"
    assert res.direction is not None and res.direction.beta.shape == (128,)
    lines = res.summary_lines()
    assert "lvedv" in lines[0] and "2 participant-visits x 5 magnitudes" in lines[0]
    fig = res.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    grid = [ax for ax in fig.axes if ax.images]
    assert len(grid) == 20                                  # 5 magnitudes x (ED, ES, 2 differences)
    diff = grid[2].images[0]
    lo, hi = diff.get_clim()
    assert lo == -hi and diff.get_cmap().name == "RdBu_r"  # diverging, symmetric about 0
    assert grid[0].get_ylabel() == "m = -1"
    matplotlib.pyplot.close(fig)


def test_rerun_replaces_and_named_participants_and_latent(inputs, run_lvedv, tmp_path):
    folder, args = run_lvedv
    eid, inst = next(iter(ManipulationResult.load(folder).manipulations))
    out = tmp_path / "named"
    base = ["manipulate", *inputs, "--out", str(out), "--inversion-steps", "3", "--decoding-steps", "3", "--quiet"]
    assert main([*base, "--trait", "lvedv", "--participants", f"{eid}_{inst},999"]) == 0
    res = ManipulationResult.load(out / "lvedv")
    assert list(res.manipulations) == [(eid, inst)]
    assert res.excluded.to_dict("records") == [{"eid": 999, "instance": 2, "reason": "no image"}]
    # a second run into the same folder replaces it as a unit (no stale participant folder)
    assert main([*base, "--trait", "lvedv", "--participants", str(eid), "--magnitudes", "0,2"]) == 0
    res = ManipulationResult.load(out / "lvedv")
    assert list(res.summary.magnitudes) == [0.0, 2.0] and res.excluded.empty
    # one latent as the direction
    assert main([*base, "--latent", "S1701_Z5", "--participants", str(eid)]) == 0
    rec = json.loads((out / "S1701_Z5" / "manipulation.json").read_text())
    assert rec["kind"] == "latent" and np.count_nonzero(rec["direction"]["beta"]) == 1


@pytest.mark.parametrize("extra, message", [
    (["--trait", "lvedv", "--magnitudes", "a,b"], "--magnitudes must be comma-separated numbers"),
    (["--trait", "lvedv", "--seed", "7"], "no demo model of that seed"),
    (["--latent", "S42_Z3"], "seed 42 is not in the latents"),
    (["--latent", "Z3"], "is not a latent column"),
    (["--trait", "lvedv", "--participants", "abc"], "is not an eid or EID_INSTANCE"),
    (["--trait", "lvedv", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--trait", "no_such_trait"], "no_such_trait"),
])
def test_bad_requests_are_one_line(inputs, tmp_path, capsys, extra, message):
    code = main(["manipulate", *inputs, "--out", str(tmp_path / "o"), "--inversion-steps", "2",
                 "--decoding-steps", "2", "--quiet", *extra])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
