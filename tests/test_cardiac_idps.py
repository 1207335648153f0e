"""Issue 14's acceptance: the cardiac imaging-derived phenotypes are traits every command knows.

``cardiolatent assoc --traits cardiac_idps --covariates paper_traits`` on the built-in cohort
(here the 120-participant test cohort stands in for it, encoded by the five demo models as the
default latents are) tests the latents against the Bai et al. phenotypes written under their
real field ids, and finds the planted relation: the latent most correlated with the *true* LV
end-diastolic volume is significant for the measured LV EDV phenotype (field 24100).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def _cmd(module, argv):
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return module.run(p.parse_args(argv))


def test_assoc_cardiac_idps_finds_the_planted_lv_edv_relation(small_cohort, monkeypatch, tmp_path):
    import cardiolatent.synth.default as default
    from cardiolatent.commands import assoc as cmd
    from cardiolatent.ukb.presets import trait_presets
    from cardiolatent.ukb.registry import FieldRegistry

    monkeypatch.setattr(default, "default_cohort", lambda **kw: small_cohort)
    out = tmp_path / "idps.tsv"
    assert _cmd(cmd, ["--traits", "cardiac_idps", "--covariates", "paper_traits", "--out", str(out), "--quiet"]) == 0
    res = pd.read_csv(out, sep="\t")

    reg = FieldRegistry.default()
    lvedv = reg.name(24100)
    preset = trait_presets()["cardiac_idps"]
    assert len(preset) >= 20
    assert lvedv in preset or "24100" in preset
    # every phenotype of the preset that the cohort carries was tested against every latent
    assert lvedv in set(res["trait"])
    assert res["trait"].nunique() >= 20

    # the latent most correlated with the true LV EDV, from the truth table (visit 2 rows)
    (lat_file,) = small_cohort.root.glob("latents_demo_*.parquet")
    lat = pd.read_parquet(lat_file)
    lat = lat[lat["instance"] == 2]
    truth = pd.read_csv(small_cohort.truth / "participants.tsv", sep="\t")
    truth = truth[truth["instance"] == 2].set_index("eid")["lvedv_ml"]
    best, best_r = None, 0.0
    zcols = [c for c in lat.columns if c.startswith("Z")]
    for seed, g in lat.groupby("seed"):
        x = truth.reindex(g["eid"]).to_numpy()
        ok = np.isfinite(x)
        for c in zcols:
            r = abs(np.corrcoef(x[ok], g[c].to_numpy()[ok])[0, 1])
            if r > best_r:
                best, best_r = f"S{seed}_{c}", r
    assert best_r > 0.5, best_r
    row = res[(res["trait"] == lvedv) & (res["latent"] == best)]
    assert len(row) == 1
    assert row["status"].iloc[0] == "ok"
    assert bool(row["significant_meff"].iloc[0]), row.T
