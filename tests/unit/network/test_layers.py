"""The fast building blocks equal the plain torch computations they replace."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ben2_model.network import layers
from ben2_model.network.decoder import attention
from ben2_model.network.layers import (
    channel_stats,
    conv3x3_few_outputs,
    conv3x3_of_nearest_2x,
    instance_norm_gelu_,
    linear,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("channels_last", [False, True])
def test_channel_stats_match_var_mean(channels_last):
    x = torch.randn(2, 5, 37, 23, generator=_gen(0)) * 4 + 3
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    mean, var = channel_stats(x, rows=8)  # 37 rows: the last chunk is partial
    ref_var, ref_mean = torch.var_mean(x.double(), dim=(2, 3), keepdim=True, correction=0)
    assert mean.dtype == var.dtype == torch.float32 and mean.shape == (2, 5, 1, 1)
    assert torch.allclose(mean.double(), ref_mean, rtol=0, atol=1e-6)
    assert torch.allclose(var.double(), ref_var, rtol=1e-6, atol=0)


def test_instance_norm_gelu_matches_torch_in_place_and_into_another_dtype():
    x = torch.randn(2, 6, 40, 30, generator=_gen(1)) * 3 + 1
    expected = F.gelu(F.instance_norm(x))
    inplace = x.clone()
    out = instance_norm_gelu_(inplace)
    assert out.data_ptr() == inplace.data_ptr()  # float32 works in place
    assert torch.allclose(out, expected, atol=2e-6)
    bf16 = x.bfloat16()
    half = instance_norm_gelu_(bf16, out_dtype=torch.bfloat16, rows=7)
    assert half.dtype == torch.bfloat16 and half.data_ptr() == bf16.data_ptr()  # in place too
    assert (half.float() - expected).abs().max().item() < 0.05
    source = x.clone()
    converted = instance_norm_gelu_(source, out_dtype=torch.bfloat16, rows=7)
    assert converted.dtype == torch.bfloat16 and torch.equal(source, x)  # another dtype: x is kept
    assert (converted.float() - expected).abs().max().item() < 0.02


@pytest.mark.parametrize("size,rows", [((7, 9), 32), ((7, 9), 3), ((33, 5), 8), ((1, 1), 4)])
def test_nearest_upsampled_conv_in_strips_equals_the_direct_computation(size, rows):
    g = _gen(2)
    x = torch.randn(2, 5, *size, generator=g)
    w = torch.randn(4, 5, 3, 3, generator=g)
    b = torch.randn(4, generator=g)
    direct = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, b, padding=1)
    assert torch.allclose(conv3x3_of_nearest_2x(x, w, b, rows=rows), direct, atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_few_output_conv_equals_conv2d(bias):
    g = _gen(3)
    x = torch.randn(2, 16, 9, 7, generator=g)
    w = torch.randn(3, 16, 3, 3, generator=g)
    b = torch.randn(3, generator=g) if bias else None
    assert torch.allclose(conv3x3_few_outputs(x, w, b), F.conv2d(x, w, b, padding=1), atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gelu", [False, True])
def test_linear_matches_f_linear(dtype, gelu):
    g = _gen(4)
    x, w, b = torch.randn(3, 10, 32, generator=g), torch.randn(24, 32, generator=g), torch.randn(24, generator=g)
    expected = F.linear(x, w, b)
    expected = F.gelu(expected) if gelu else expected
    out = linear(x.to(dtype), w.to(dtype), b.to(dtype), gelu=gelu)
    assert out.dtype == dtype and out.shape == (3, 10, 24)
    tol = 1e-4 if dtype == torch.float32 else 0.25
    assert (out.float() - expected).abs().max().item() < tol


def test_linear_falls_back_when_onednn_is_unavailable(monkeypatch):
    g = _gen(5)
    x, w, b = torch.randn(6, 8, generator=g), torch.randn(4, 8, generator=g), torch.randn(4, generator=g)
    monkeypatch.setattr(layers, "_ONEDNN_LINEAR", [False])
    assert torch.allclose(linear(x, w, b, gelu=True), F.gelu(F.linear(x, w, b)), atol=1e-6)
    # a oneDNN build that rejects the call: the portable path takes over for good
    monkeypatch.setattr(layers, "_ONEDNN_LINEAR", [None])
    monkeypatch.setattr(layers, "_onednn_linear_available", lambda: (_ for _ in ()).throw(RuntimeError("no")))
    assert torch.allclose(linear(x, w, None), F.linear(x, w), atol=1e-6)
    assert layers._ONEDNN_LINEAR == [False]


def test_linear_keeps_autograd_working():
    w = torch.randn(4, 8, requires_grad=True)
    y = linear(torch.randn(3, 8), w, None, gelu=True)
    y.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


@pytest.mark.parametrize("q_len,chunk", [(100, 64), (300, 2048)])
def test_bf16_cpu_attention_matches_the_fused_kernel(q_len, chunk):
    g = _gen(6)
    q = torch.randn(2, 3, q_len, 16, generator=g)
    k = torch.randn(2, 3, 37, 16, generator=g)
    v = torch.randn(2, 3, 37, 16, generator=g)
    exact = F.scaled_dot_product_attention(q, k, v)
    fused_bf16 = F.scaled_dot_product_attention(q.bfloat16(), k.bfloat16(), v.bfloat16()).float()
    ours = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), chunk=chunk)
    assert ours.dtype == torch.bfloat16 and ours.shape == q.shape
    # within a small multiple of the fused kernel's own bf16 error
    assert (ours.float() - exact).abs().max() <= 3 * (fused_bf16 - exact).abs().max() + 1e-3
    assert torch.equal(attention(q, k, v), exact)  # float32 takes the fused kernel


def test_shallow_features_equal_bilinear_resizes_of_the_full_size_convolution(tiny_model):
    x = torch.randn(2, 3, 64, 64, generator=_gen(7))
    with torch.inference_mode():
        quarter, half = tiny_model._shallow_features(x)
        full = tiny_model.shallow(x)
    assert torch.allclose(quarter, F.interpolate(full, size=(16, 16), mode="bilinear"), atol=1e-5)
    assert torch.allclose(half, F.interpolate(full, size=(32, 32), mode="bilinear"), atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
def test_patch_stitching_round_trips_in_both_layouts(channels_last):
    from ben2_model.network.decoder import image_to_patches, patches_to_image

    maps = torch.randn(2 * 5, 3, 8, 6, generator=_gen(8))
    if channels_last:
        maps = maps.contiguous(memory_format=torch.channels_last)
    patches = maps.unflatten(0, (2, 5))[:, :4]  # how the decoder holds its four local views
    expected = patches.reshape(2, 2, 2, 3, 8, 6).permute(0, 3, 1, 4, 2, 5).reshape(2, 3, 16, 12)
    stitched = patches_to_image(patches)
    assert torch.equal(stitched, expected)
    assert stitched.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert torch.equal(image_to_patches(stitched), patches)
