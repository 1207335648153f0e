"""The published preparation recipe against the original scripts' output (prep_* fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cardiolatent.errors import CardiolatentError, PreparationError
from cardiolatent.images.prepare import (
    crop,
    crop_window,
    heart_mask,
    normalise,
    pad_widths,
    prepare,
    resample,
)

FIX = Path(__file__).parent / "fixtures" / "published"


@pytest.fixture(scope="module")
def raw():
    return np.load(FIX / "prep_raw.npy")


def test_heart_mask_reproduces_original_exactly(raw):
    expected = np.load(FIX / "prep_mask.npy")
    mask = heart_mask(raw)
    assert mask.dtype == bool and mask.shape == (200, 176)
    assert int(mask.sum()) == 2687
    np.testing.assert_array_equal(mask, expected)


def test_crop_window_matches_original(raw):
    mask = np.load(FIX / "prep_mask.npy")
    # bounding box rows 26-86, cols 98-152: row centre clamped to 64, column centre shifted to 112
    assert crop_window(mask) == (0, 128, 48, 176)
    np.testing.assert_array_equal(crop(raw, mask), raw[:, 0:128, 48:176])


def test_prepare_reproduces_original(raw):
    expected = np.load(FIX / "prep_expected.npy")
    out = prepare(raw)
    assert out.dtype == np.float32 and out.shape == (50, 128, 128)
    assert float(np.abs(out - expected).max()) <= 1e-6
    assert out.min() == -1.0 and out.max() <= 1.0


def test_crop_window_clamps_at_the_start():
    mask = np.zeros((200, 176), dtype=bool)
    mask[10:21, 5:16] = True  # centre (15, 10): both closer than 64 to the edge
    assert crop_window(mask) == (0, 128, 0, 128)


def test_padding_when_image_smaller_than_window():
    # 100 rows (< 128): padded by (128 - 100) // 2 = 14 on top and bottom; 200 columns untouched
    frames = np.arange(3 * 100 * 200, dtype=np.uint16).reshape(3, 100, 200) + 1
    mask = np.zeros((100, 200), dtype=bool)
    mask[40:61, 150:171] = True  # bbox rows 40-60, cols 150-170 -> column centre 160, 160 + 64 > 200
    assert pad_widths(mask.shape) == ((14, 14), (0, 0))
    # rows: the padded height is exactly 128, so the window covers all of it;
    # columns: centre 160 shifted back by 24 to 136 -> 72..200
    assert crop_window(mask) == (0, 128, 72, 200)
    out = crop(frames, mask)
    assert out.shape == (3, 128, 128) and out.dtype == np.uint16
    assert not out[:, :14].any() and not out[:, 114:].any()
    np.testing.assert_array_equal(out[:, 14:114], frames[:, :, 72:200])


def test_odd_padding_puts_extra_pixel_at_the_end():
    assert pad_widths((101, 90)) == ((13, 14), (19, 19))
    frames = np.ones((2, 101, 90), dtype=np.float32)
    mask = np.zeros((101, 90), dtype=bool)
    mask[50, 45] = True
    out = crop(frames, mask)
    assert out.shape == (2, 128, 128)
    assert out[:, 13:114, 19:109].all() and out.sum() == 2 * 101 * 90


def test_wrong_frame_count_is_a_clear_error(raw):
    with pytest.raises(PreparationError, match=r"exactly 50 frames; this one has 49") as err:
        prepare(raw[:49])
    assert isinstance(err.value, CardiolatentError)
    # frames_required=None accepts any count
    assert prepare(raw[:49], frames_required=None).shape == (49, 128, 128)


def test_no_temporal_variance_is_a_clear_error():
    still = np.full((50, 160, 160), 300, dtype=np.uint16)
    with pytest.raises(PreparationError, match="temporal variance"):
        prepare(still)
    # the original script's fallback: an all-True mask (centre crop)
    assert heart_mask(still, empty="full").all()


def test_bad_shape_is_a_clear_error():
    with pytest.raises(PreparationError, match="shape"):
        prepare(np.zeros((50, 128), dtype=np.uint16))


def test_normalise_formula():
    vol = np.array([[[8, 100], [2140, 1000]]], dtype=np.uint16)
    out = normalise(vol)
    x = vol.astype(np.float64)
    ref = ((x - 8) / (2132 + np.finfo(np.float32).eps) - 0.5) / 0.5
    assert out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-6
    assert out.min() == -1.0 and out.max() <= 1.0


def test_resample_shape_determinism_and_constants():
    rng = np.random.default_rng(0)
    vol = rng.uniform(-1, 1, size=(50, 128, 128)).astype(np.float32)
    a = resample(vol, (8, 32, 32))
    b = resample(vol, (8, 32, 32))
    assert a.shape == (8, 32, 32) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert a.min() >= -1 and a.max() <= 1

    const = np.full((50, 128, 128), 0.3, dtype=np.float32)
    np.testing.assert_allclose(resample(const, (8, 32, 32)), 0.3, rtol=0, atol=1e-6)
    np.testing.assert_allclose(resample(const, (64, 160, 160)), 0.3, rtol=0, atol=1e-6)

    # integer factors: an exact block average
    small = resample(vol, (25, 64, 64))
    ref = vol.reshape(25, 2, 64, 2, 64, 2).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(small, ref, rtol=0, atol=1e-6)

    # same shape: unchanged; torch in, torch out (batched)
    np.testing.assert_array_equal(resample(vol, vol.shape), vol)
    t = resample(torch.from_numpy(vol)[None, None], (8, 32, 32))
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == (1, 1, 8, 32, 32)
    np.testing.assert_array_equal(t[0, 0].numpy(), a)
