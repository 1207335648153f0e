"""The manipulation grid through its matplotlib objects (fast: a hand-made Manipulation, no model)."""

import numpy as np

from _plot_helpers import assert_figure_files
from cardiolatent.interpret.manipulate import Manipulation
from cardiolatent.plotting import manipulation_grid, save_figure
from cardiolatent.plotting.manipulation import difference_limit, direction_label


def _manipulation(rng):
    mags = np.array([-1.0, 0.0, 1.0])
    t, h, w = 6, 16, 16
    base = rng.uniform(-0.5, 0.5, size=(t, h, w)).astype(np.float32)
    dec = np.stack([base + 0.01 * m for m in mags]).astype(np.float32)   # every pixel moves by 0.01 m
    dec[2, :, 0, 0] += 1.5                                              # one corner pixel moves a lot
    return Manipulation(magnitudes=mags, decoded=dec, input=base, z=np.zeros(4), z_moved=np.zeros((3, 4)),
                        position=mags, steps=(10, 10))


def test_difference_scale_is_robust_to_a_few_extreme_pixels(tmp_path):
    man = _manipulation(np.random.default_rng(0))
    fig = manipulation_grid(man, frames=(0, 3))
    grid = [ax for ax in fig.axes if ax.images]
    assert len(grid) == 12                                         # 3 magnitudes x (ED, ES, 2 differences)
    lo, hi = grid[2].images[0].get_clim()
    assert lo == -hi and grid[2].images[0].get_cmap().name == "RdBu_r"
    # the corner pixel (|diff| 1.51) does not set the scale: the heart-wide change (0.01) stays visible
    assert 0.0099 < hi < 0.02
    # the m = 0 row's differences are exactly 0; the m = +1 ED difference image holds the raw difference
    np.testing.assert_array_equal(grid[6].images[0].get_array(), np.zeros((16, 16), np.float32))
    np.testing.assert_allclose(grid[10].images[0].get_array(), man.decoded[2, 0] - man.decoded[1, 0])
    assert [grid[4 * i].get_ylabel() for i in range(3)] == ["m = -1", "m = 0", "m = +1"]
    cbar = [ax for ax in fig.axes if not ax.images][0]
    assert "difference" in cbar.get_ylabel()
    assert_figure_files(save_figure(fig, tmp_path / "grid", close=True))


def test_difference_limit_closed_form():
    d = np.concatenate([np.full(199, 0.1), [10.0]])
    assert difference_limit(d, 99.0) == np.percentile(np.abs(d), 99.0)
    assert difference_limit(np.zeros(5)) == 1e-6
    assert difference_limit(np.array([0.0, -0.2, 0.2]), 100) == 0.2


def test_a_registry_trait_is_titled_by_its_description():
    assert direction_label("lvedv") == "LV end diastolic volume (lvedv)"
    assert direction_label("S1701_Z3") == "S1701_Z3"            # a latent's own direction
    assert direction_label("no_such_trait") == "no_such_trait"
