"""ben2_model.checks: the one validation module (shapes, dtype, finite values, the 0..1 clamp policy)."""

from __future__ import annotations

import pytest
import torch

from ben2_model.checks import (
    check_choice, check_finite, check_image, check_mask, check_number, check_shape, compute_dtype, unit_range,
)
from ben2_model.matting.composite import composite
from ben2_model.matting.refine import refine_edges


def test_shape_layout_names_the_argument_and_the_layout():
    check_shape(torch.zeros(2, 4, 5, 3), "image", "B,H,W,3|4")
    with pytest.raises(ValueError, match=r"image must have shape \[B,H,W,3\|4\], got \(2, 4, 5, 2\)"):
        check_shape(torch.zeros(2, 4, 5, 2), "image", "B,H,W,3|4")
    with pytest.raises(TypeError, match="mask must be a torch.Tensor"):
        check_shape([1, 2], "mask", "B,H,W")


def test_finite_and_clamp_policy():
    x = torch.rand(40, 4, 4)
    assert unit_range(x, "x") is x  # in range: no copy
    y = x * 7 - 3
    clamped = unit_range(y, "y")
    assert float(clamped.min()) >= 0 and float(clamped.max()) <= 1
    for bad in (float("nan"), float("inf"), -float("inf")):
        z = x.clone()
        z[25, 1, 1] = bad  # past the first chunk of 16
        with pytest.raises(ValueError, match="z contains NaN or infinite"):
            check_finite(z, "z")
    assert check_finite(torch.rand(1, 8, 8, 3).expand(100, -1, -1, -1), "e")[1] <= 1


def test_image_mask_number_choice_messages():
    with pytest.raises(TypeError, match="floating-point"):
        check_image(torch.zeros(1, 4, 4, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="empty batch"):
        check_image(torch.zeros(0, 4, 4, 3))
    with pytest.raises(ValueError, match="one alpha per image"):
        check_mask(torch.rand(2, 4, 4), like=torch.rand(3, 4, 4, 3))
    with pytest.raises(ValueError, match="band must be a finite number"):
        check_number(float("nan"), "band", low=0.0)
    with pytest.raises(ValueError, match="fps must be > 0"):
        check_number(0.0, "fps", low=0.0, low_open=True)
    with pytest.raises(ValueError, match="mode must be one of 'fast', 'quality'"):
        check_choice("best", "mode", ("fast", "quality"))
    assert compute_dtype(torch.float16) == compute_dtype(torch.bfloat16) == torch.float32
    assert compute_dtype(torch.float64) == torch.float64


def test_out_of_range_mask_gives_in_range_outputs():
    """Issue 13's cases: a mask from -3..4 through refine_edges and composite stays in 0..1."""
    image = torch.rand(1, 32, 32, 3)
    mask = torch.rand(1, 32, 32) * 7 - 3
    alpha, fg = refine_edges(image, mask)
    assert 0 <= float(alpha.min()) and float(alpha.max()) <= 1 and 0 <= float(fg.min()) and float(fg.max()) <= 1
    out = composite(fg, mask, torch.rand(1, 1, 1, 3) * 9 - 3, fit="cover")  # a 1x1 background too
    assert out.shape == (1, 32, 32, 3) and 0 <= float(out.min()) and float(out.max()) <= 1
