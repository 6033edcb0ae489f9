"""predict_alpha and remove_background on the tiny network: layouts, chunking, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ben2_model import predict_alpha, remove_background


def _images(b=2, h=37, w=53, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, h, w, c, generator=g)


def test_shape_range_and_device(tiny_model):
    alpha = predict_alpha(tiny_model, _images())
    assert alpha.shape == (2, 37, 53)
    assert alpha.dtype == torch.float32 and alpha.device.type == "cpu"
    # min-max normalisation: every image spans exactly 0..1
    assert torch.allclose(alpha.flatten(1).min(1).values, torch.zeros(2))
    assert torch.allclose(alpha.flatten(1).max(1).values, torch.ones(2))


def test_without_normalisation_returns_probabilities(tiny_model):
    images = _images()
    raw = predict_alpha(tiny_model, images, normalize=False)
    stretched = predict_alpha(tiny_model, images)
    assert 0 < raw.min().item() and raw.max().item() < 1
    assert not torch.allclose(raw, stretched)
    low = raw.flatten(1).min(1).values.view(-1, 1, 1)
    high = raw.flatten(1).max(1).values.view(-1, 1, 1)
    assert torch.allclose((raw - low) / (high - low), stretched, atol=1e-6)


def test_chunking_equals_one_pass_and_reports_progress(tiny_model):
    images = _images(b=5)
    calls = []
    chunked = predict_alpha(tiny_model, images, batch_size=2, on_chunk=lambda d, t: calls.append((d, t)))
    whole = predict_alpha(tiny_model, images, batch_size=5)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert (chunked - whole).abs().max().item() <= 1e-5


def test_exception_in_callback_stops_the_work(tiny_model):
    calls = []

    def cancel(done, total):
        calls.append(done)
        raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        predict_alpha(tiny_model, _images(b=4), batch_size=1, on_chunk=cancel)
    assert calls == [1]


def test_rgba_and_grey_inputs(tiny_model):
    rgb = _images(b=1)
    rgba = torch.cat([rgb, torch.zeros_like(rgb[..., :1])], -1)
    assert torch.equal(predict_alpha(tiny_model, rgba), predict_alpha(tiny_model, rgb))
    grey = rgb[..., :1]
    assert torch.equal(predict_alpha(tiny_model, grey), predict_alpha(tiny_model, grey.expand(-1, -1, -1, 3)))


def test_fp16_input_and_tiny_images(tiny_model):
    alpha = predict_alpha(tiny_model, _images(b=1).half())
    assert alpha.dtype == torch.float32 and bool(torch.isfinite(alpha).all())
    one = predict_alpha(tiny_model, _images(b=1, h=1, w=1))
    assert one.shape == (1, 1, 1) and bool(torch.isfinite(one).all())


def test_images_from_8bit_files_reproduce_the_pil_path(tiny_model):
    pixels = (np.arange(40 * 60 * 3) % 251).astype(np.uint8).reshape(40, 60, 3)
    tensor = torch.from_numpy(pixels).float().div(255)[None]
    alpha = predict_alpha(tiny_model, tensor)
    rgba = np.asarray(remove_background(tiny_model, Image.fromarray(pixels)))
    assert np.array_equal(rgba[..., :3], pixels)
    assert np.abs((alpha[0].numpy() * 255).astype(np.uint8).astype(int) - rgba[..., 3]).max() <= 1


@pytest.mark.parametrize(
    "bad,error,match",
    [
        (torch.zeros(0, 8, 8, 3), ValueError, "empty batch"),
        (torch.zeros(8, 8, 3), ValueError, "add a batch dimension"),
        (torch.zeros(1, 3, 8, 8), ValueError, "channels"),
        (torch.zeros(1, 8, 8, 3, dtype=torch.uint8), TypeError, "float"),
        (torch.full((1, 8, 8, 3), float("nan")), ValueError, "NaN"),
        ("image.png", TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_is_named(tiny_model, bad, error, match):
    with pytest.raises(error, match=match):
        predict_alpha(tiny_model, bad)


def test_remove_background_kinds_and_lists(tiny_model):
    pixels = (np.random.default_rng(0).random((30, 20, 3)) * 255).astype(np.uint8)
    pil = Image.fromarray(pixels)
    original = pil.copy()
    out = remove_background(tiny_model, pil)
    assert out.mode == "RGBA" and out.size == (20, 30)
    assert np.array_equal(np.asarray(pil), np.asarray(original))  # the input is not modified
    arr = remove_background(tiny_model, pixels)
    assert arr.shape == (30, 20, 4) and arr.dtype == np.uint8
    assert np.array_equal(arr, np.asarray(out))
    tensor = remove_background(tiny_model, torch.from_numpy(pixels).float() / 255)
    assert tensor.shape == (30, 20, 4) and tensor.dtype == torch.float32
    batch = remove_background(tiny_model, [pil, pixels, Image.fromarray(pixels[:10])], batch_size=2)
    assert [type(b).__name__ for b in batch] == ["Image", "ndarray", "Image"]
    # batched and single forwards differ by float rounding only: at most one 8-bit level
    assert np.abs(np.asarray(batch[0]).astype(int) - np.asarray(out)).max() <= 1
    refined = remove_background(tiny_model, pil, refine_foreground=True)
    assert refined.mode == "RGBA" and refined.size == (20, 30)


def test_remove_background_errors(tiny_model):
    with pytest.raises(ValueError, match="empty list"):
        remove_background(tiny_model, [])
    with pytest.raises(TypeError, match="unsupported image type"):
        remove_background(tiny_model, "cat.png")
    with pytest.raises(ValueError, match="numpy image"):
        remove_background(tiny_model, np.zeros((4, 4, 5), np.uint8))
