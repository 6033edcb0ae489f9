"""Foreground estimation: exact BEN2 blur fusion, multilevel estimation."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ben2_model import estimate_foreground
from ben2_model.matting.foreground import multilevel_foreground


pytestmark = pytest.mark.usefixtures("single_thread")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def slow_blur(x: np.ndarray, k: int) -> np.ndarray:
    """cv2.blur(x, (k, k)) for [H,W,C]: BORDER_REFLECT_101, window [i - k//2, i - k//2 + k - 1]."""
    before, after = k // 2, k - 1 - k // 2
    padded = x
    for axis in (0, 1):
        widths = [(0, 0)] * x.ndim
        widths[axis] = (before, after)
        padded = np.pad(padded, widths, mode="edge" if x.shape[axis] == 1 else "reflect")
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = padded[i : i + k, j : j + k].mean(axis=(0, 1))
    return out


def slow_refine_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """BEN2's refine_foreground written out: two blur-fusion passes, windows 90 then 6."""
    a = alpha[:, :, None]

    def step(fg, bg, k):
        blurred_a = slow_blur(a, k)
        blurred_f = slow_blur(fg * a, k) / (blurred_a + 1e-5)
        blurred_b = slow_blur(bg * (1 - a), k) / ((1 - blurred_a) + 1e-5)
        fg = blurred_f + a * (image - a * blurred_f - (1 - a) * blurred_b)
        return np.clip(fg, 0, 1), blurred_b

    fg, blurred_b = step(image, image, 90)
    return step(fg, blurred_b, 6)[0]


@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (17, 23), (40, 9)])
def test_blur_fusion_equals_reference_formula_in_float64(shape):
    rng = np.random.default_rng(shape[0])
    image = rng.random((*shape, 3))
    alpha = np.clip(rng.random(shape) * 1.4 - 0.2, 0, 1)  # includes exact 0 and 1
    ours = estimate_foreground(torch.from_numpy(image)[None], torch.from_numpy(alpha)[None])[0]
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), slow_refine_foreground(image, alpha), rtol=0, atol=1e-12)


def test_blur_fusion_reproduces_the_reference_refined_png():
    """The golden RGBA from the official inference(refine_foreground=True): RGB = uint8(F*255)."""
    image = np.asarray(Image.open(FIXTURES / "chelsea.png").convert("RGB"), dtype=np.float64) / 255
    golden = np.asarray(Image.open(FIXTURES / "golden_inference_refined_chelsea.png"))
    alpha = golden[..., 3].astype(np.float64) / 255
    image_t, alpha_t = torch.from_numpy(image)[None], torch.from_numpy(alpha)[None]
    fg = estimate_foreground(image_t, alpha_t, method="blur_fusion")
    rgb = (fg[0].numpy() * 255).astype(np.uint8)
    diff = np.abs(rgb.astype(int) - golden[..., :3].astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.001


def test_batch_equals_singles_and_half_precision():
    image = torch.rand(3, 33, 47, 3)
    alpha = torch.rand(3, 33, 47)
    for method in ("blur_fusion", "multilevel"):
        batch = estimate_foreground(image, alpha, method=method)
        for i in range(3):
            single = estimate_foreground(image[i : i + 1], alpha[i : i + 1], method=method)
            assert torch.allclose(batch[i : i + 1], single, atol=1e-6), method
        half = estimate_foreground(image.half(), alpha.half(), method=method)
        assert half.dtype == torch.float16
        assert (half.float() - batch).abs().max() < 0.02, method


def _synthetic_composite(h=64, w=80):
    """Smooth red-ish foreground over a smooth blue-ish background with a soft vertical edge."""
    y = torch.linspace(0, 1, h).view(h, 1, 1)
    x = torch.linspace(0, 1, w).view(1, w, 1)
    ones = torch.ones(h, w, 1)
    fg = torch.cat([0.8 + 0.1 * y.expand(h, w, 1), 0.2 + 0.2 * x.expand(h, w, 1), 0.1 * ones], -1)
    bg = torch.cat([0.1 * ones, 0.3 + 0.2 * y.expand(h, w, 1), 0.9 - 0.2 * x.expand(h, w, 1)], -1)
    alpha = ((x[..., 0] - 0.5) * 8 + 0.5).clamp(0, 1).expand(h, w)
    image = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    return image[None], alpha[None].contiguous(), fg[None]


@pytest.mark.parametrize("method", ["blur_fusion", "multilevel"])
def test_foreground_removes_the_old_background(method):
    image, alpha, fg_true = _synthetic_composite()
    fg = estimate_foreground(image, alpha, method=method)
    edge = (alpha > 0.1) & (alpha < 0.9)
    err_ours = (fg - fg_true).abs()[edge].mean()
    err_image = (image - fg_true).abs()[edge].mean()
    assert err_ours < 0.5 * err_image, (method, float(err_ours), float(err_image))
    assert fg.min() >= 0 and fg.max() <= 1


def test_multilevel_satisfies_the_composite_and_returns_background():
    image, alpha, _ = _synthetic_composite(31, 45)
    fg, bg = multilevel_foreground(image, alpha, return_background=True)
    recomposed = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    assert (recomposed - image).abs().mean() < 0.01


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_empty_and_full_masks(fill):
    image = torch.rand(1, 20, 30, 3)
    alpha = torch.full((1, 20, 30), fill)
    for method in ("blur_fusion", "multilevel"):
        fg = estimate_foreground(image, alpha, method=method)
        assert torch.isfinite(fg).all()
        if fill == 1.0:  # fully opaque: the colours are the image
            assert (fg - image).abs().max() < 1e-3, method


def test_bad_arguments():
    image, alpha = torch.rand(1, 8, 8, 3), torch.rand(1, 8, 8)
    with pytest.raises(ValueError, match="method"):
        estimate_foreground(image, alpha, method="closed_form")
    with pytest.raises(ValueError, match=r"\[B,H,W,3\]"):
        estimate_foreground(image.permute(0, 3, 1, 2), alpha)
    with pytest.raises(ValueError, match="alpha"):
        estimate_foreground(image, alpha[:, :4])
    with pytest.raises(TypeError, match="floating"):
        estimate_foreground((image * 255).to(torch.uint8), alpha)


@pytest.mark.parametrize("size", [(7, 5), (600, 9), (2000, 3), (1, 1)])
def test_bilinear_rows_match_a_whole_enlargement(size):
    from ben2_model.matting.foreground import _bilinear_rows
    import torch.nn.functional as F

    small = torch.rand(2, 6, 5, 4)
    whole = F.interpolate(small, size=size, mode="bilinear", align_corners=False)
    for y0, y1 in ((0, size[0]), (0, 1), (size[0] // 3, size[0])):
        if y1 > y0:
            assert torch.allclose(_bilinear_rows(small, y0, y1, size), whole[..., y0:y1, :], atol=1e-6)


def test_strip_final_solve_equals_the_whole_image_formula():
    """The full-size solve runs in strips of rows; the strips must not show (edge weights need the
    rows above and below each strip)."""
    import torch.nn.functional as F

    from ben2_model.matting.foreground import _edge_weights, _final_solve

    g = torch.Generator().manual_seed(3)
    h, w = 300, 2000  # 2000 px wide -> strips of 262 rows: two strip borders
    image = torch.rand(1, 3, h, w, generator=g)
    alpha = torch.rand(1, 1, h, w, generator=g)
    fg_bg = torch.rand(1, 6, 40, 70, generator=g)
    reg, gw = 1e-5, 1.0
    out = _final_solve(image, alpha, fg_bg, reg, gw, torch.empty(1, 3, h, w))
    prior = F.interpolate(fg_bg, size=(h, w), mode="bilinear", align_corners=False)
    weight = _edge_weights(alpha, reg, gw)[2] + reg
    a = alpha
    # solve the 2x2 system [a²+W, a(1-a); a(1-a), (1-a)²+W] (F, B) = (aI + W F0, (1-a)I + W B0)
    m00, m01, m11 = a * a + weight, a * (1 - a), (1 - a) ** 2 + weight
    r0, r1 = a * image + weight * prior[:, :3], (1 - a) * image + weight * prior[:, 3:]
    expected = ((m11 * r0 - m01 * r1) / (m00 * m11 - m01 * m01)).clamp(0, 1)
    assert torch.allclose(out, expected, atol=1e-4)
    # the background variant solves the same system for B
    out_b = _final_solve(image, alpha, fg_bg, reg, gw, torch.empty(1, 3, h, w), background=True)
    expected_b = ((m00 * r1 - m01 * r0) / (m00 * m11 - m01 * m01)).clamp(0, 1)
    assert torch.allclose(out_b, expected_b, atol=1e-4)


def test_strip_sweeps_equal_whole_level_sweeps():
    """_sweep_level sweeps large levels in strips of rows; a red-black half-sweep only reads the
    other colour, so the result is bit for bit the whole-level one (reference written out here)."""
    from ben2_model.matting.foreground import _edge_weights, _neighbour_sum, _sweep_level

    g = torch.Generator().manual_seed(3)
    h, w, reg, gw = 70, 8192, 1e-5, 1.0  # 32 rows a strip at this width: three strips
    img = torch.rand(1, 3, h, w, generator=g)
    a = torch.rand(1, 1, h, w, generator=g)
    fb = torch.rand(1, 6, h, w, generator=g)
    expected = fb.clone()
    vertical, horizontal, weight_sum = _edge_weights(a, reg, gw)
    weight_sum.add_(reg)
    a01, a00, a11 = a * (1 - a), (a * a).add_(weight_sum), ((1 - a) * (1 - a)).add_(weight_sum)
    inv_det = (a00 * a11).sub_(a01 * a01).reciprocal_()
    red = ((torch.arange(h).view(-1, 1) + torch.arange(w).view(1, -1)) % 2 == 0).view(1, 1, h, w)
    for _ in range(2):
        for colour in (red, ~red):
            for c in range(3):
                f, b = expected[:, c : c + 1], expected[:, 3 + c : 4 + c]
                b0 = _neighbour_sum(f, vertical, horizontal).add_(f, alpha=reg).addcmul_(a, img[:, c : c + 1])
                b1 = _neighbour_sum(b, vertical, horizontal).add_(b, alpha=reg).addcmul_(1 - a, img[:, c : c + 1])
                new_f = (a11 * b0).sub_(a01 * b1).mul_(inv_det).clamp_(0, 1)
                new_b = b1.mul_(a00).sub_(b0.mul_(a01)).mul_(inv_det).clamp_(0, 1)
                f.copy_(torch.where(colour, new_f, f))
                b.copy_(torch.where(colour, new_b, b))
    _sweep_level(img, a, fb, 2, reg, gw)
    assert torch.equal(fb, expected)
