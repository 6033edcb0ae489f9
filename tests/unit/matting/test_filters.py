"""Box and guided filters against slow, obviously-correct numpy loops."""

import numpy as np
import pytest
import torch

from ben2_model.matting.filters import box_filter, fast_guided_filter, guided_filter, guided_filter_coefficients


pytestmark = pytest.mark.usefixtures("single_thread")


def slow_cv2_blur(x: np.ndarray, k: int) -> np.ndarray:
    """cv2.blur(x, (k, k)) on [H,W]: mean of x[i-k//2 .. i-k//2+k-1] with BORDER_REFLECT_101."""
    before, after = k // 2, k - 1 - k // 2
    padded = x
    for axis in (0, 1):
        widths = [(0, 0), (0, 0)]
        widths[axis] = (before, after)
        # numpy cannot reflect a length-1 axis; OpenCV repeats the single sample
        mode = "edge" if x.shape[axis] == 1 else "reflect"
        padded = np.pad(padded, widths, mode=mode)
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = padded[i : i + k, j : j + k].mean()
    return out


def slow_clipped_mean(x: np.ndarray, r: int) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = x[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].mean()
    return out


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (2, 3), (9, 14), (23, 17)])
@pytest.mark.parametrize("k", [1, 2, 3, 6, 7, 90])
def test_box_filter_matches_cv2_blur_semantics(shape, k):
    rng = np.random.default_rng(k * 100 + shape[0])
    x = rng.random(shape)
    ours = box_filter(torch.from_numpy(x)[None, None], k)[0, 0].numpy()
    np.testing.assert_allclose(ours, slow_cv2_blur(x, k), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (4, 9), (19, 11)])
@pytest.mark.parametrize("r", [1, 3, 12])
def test_box_filter_clip_border(shape, r):
    x = np.random.default_rng(r).random(shape)
    ours = box_filter(torch.from_numpy(x)[None, None], 2 * r + 1, border="clip")[0, 0].numpy()
    np.testing.assert_allclose(ours, slow_clipped_mean(x, r), rtol=0, atol=1e-12)


def test_box_filter_batch_equals_singles_and_float32_precision():
    x = torch.rand(3, 2, 41, 1300, dtype=torch.float64)
    batch = box_filter(x.float(), 90)
    for i in range(3):
        assert torch.equal(batch[i : i + 1], box_filter(x[i : i + 1].float(), 90))
    # running window sums keep float32 close to the float64 result on long rows
    assert (batch.double() - box_filter(x, 90)).abs().max() < 2e-6


def test_box_filter_half_precision_keeps_dtype():
    x = torch.rand(1, 3, 30, 40)
    out = box_filter(x.half(), 6)
    assert out.dtype == torch.float16
    assert (out.float() - box_filter(x, 6)).abs().max() < 2e-3


def test_box_filter_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[B,C,H,W\]"):
        box_filter(torch.rand(5, 5), 3)
    with pytest.raises(ValueError, match="odd"):
        box_filter(torch.rand(1, 1, 5, 5), 4, border="clip")
    with pytest.raises(TypeError, match="floating"):
        box_filter(torch.ones(1, 1, 5, 5, dtype=torch.uint8), 3)


def test_guided_filter_reproduces_a_signal_linear_in_the_guide():
    guide = torch.rand(2, 3, 40, 50, dtype=torch.float64)
    src = 0.3 * guide[:, :1] - 0.5 * guide[:, 1:2] + 0.2 * guide[:, 2:] + 0.4
    out = guided_filter(guide, src, 4, 1e-9)
    assert (out - src).abs().max() < 1e-5
    grey = guide.mean(1, keepdim=True)
    assert (guided_filter(grey, 2 * grey - 0.5, 3, 1e-9) - (2 * grey - 0.5)).abs().max() < 1e-5


def test_guided_filter_smooths_noise_when_the_guide_is_flat():
    guide = torch.full((1, 3, 32, 32), 0.5)
    src = torch.rand(1, 1, 32, 32)
    out = guided_filter(guide, src, 3, 1e-2)
    assert out.std() < 0.5 * src.std()


def test_fast_guided_filter_full_size_output():
    guide = torch.rand(1, 3, 300, 517)
    src = guide.mean(1, keepdim=True)
    mean_a, mean_b = fast_guided_filter(guide, src, 4, 1e-6, max_side=128)
    assert mean_a.shape == (1, 3, 300, 517) and mean_b.shape == (1, 1, 300, 517)
    out = (mean_a * guide).sum(1, keepdim=True) + mean_b
    assert (out - src).abs().mean() < 0.02


def _edge_scene(batch=2, height=70, width=66, seed=0):
    """A smooth colour guide and a noisy two-level matte that follows it (an edge to fit)."""
    generator = torch.Generator().manual_seed(seed)
    guide = torch.nn.functional.avg_pool2d(torch.rand(batch, 3, height, width, generator=generator), 5, 1, 2)
    matte = (guide.mean(1, keepdim=True) > 0.5).double() * 0.8 + 0.1 * torch.rand(batch, 1, height, width, generator=generator, dtype=torch.float64)
    return guide.double(), matte


@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_colour_guided_coefficients_fast_engine_equals_the_plain_formulas(eps):
    guide, matte = _edge_scene()
    plain = guided_filter_coefficients(guide, matte, 6, eps, engine="plain")
    fast = guided_filter_coefficients(guide, matte, 6, eps)
    for f, p in zip(fast, plain):  # float64: the same algebra, so equal to rounding
        torch.testing.assert_close(f, p, atol=1e-10, rtol=0)
    for dtype, atol in ((torch.float32, 1e-4), (torch.float16, 2e-3), (torch.bfloat16, 2e-2)):
        fast = guided_filter_coefficients(guide.to(dtype), matte.to(dtype), 6, eps)
        assert all(f.dtype == dtype for f in fast)
        for f, p in zip(fast, plain):
            assert float((f.double() - p).abs().max()) <= atol * max(1.0, float(p.abs().max())), dtype


def test_plain_engine_is_checked_and_grey_guides_have_one_path():
    guide, matte = _edge_scene(batch=1)
    grey = guide.mean(1, keepdim=True)
    for f, p in zip(guided_filter_coefficients(grey, matte, 4, 1e-3), guided_filter_coefficients(grey, matte, 4, 1e-3, engine="plain")):
        assert torch.equal(f, p)
    with pytest.raises(ValueError, match="engine must be one of"):
        guided_filter_coefficients(guide, matte, 4, 1e-3, engine="exact")
