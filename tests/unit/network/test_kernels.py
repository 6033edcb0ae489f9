"""Every fast kernel equals its plain twin in ``reference`` (float32, float16, bfloat16)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ben2_model.network import kernels, reference
from ben2_model.network.backbone import SwinBlock, shifted_window_mask
from ben2_model.network.decoder import image_to_patches, patches_to_image
from ben2_model.network.layers import Conv2d

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# max |fast - reference| relative to the reference's largest value: float32 rounding, or a few
# ulps of the reduced precision (the two round in different orders)
TOLERANCE = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _assert_close(fast: torch.Tensor, plain: torch.Tensor, dtype: torch.dtype) -> None:
    assert fast.shape == plain.shape and fast.dtype == plain.dtype
    scale = plain.float().abs().max().clamp_min(1.0)
    error = ((fast.float() - plain.float()).abs().max() / scale).item()
    assert error <= TOLERANCE[dtype], (dtype, error)


def _conv_args(seed: int, cin: int, cout: int, size: tuple[int, int], dtype: torch.dtype, k: int = 3):
    g = _gen(seed)
    x = torch.randn(2, cin, *size, generator=g).to(dtype)
    w = (torch.randn(cout, cin, k, k, generator=g) / (cin * k * k) ** 0.5).to(dtype)
    return x, w, (0.1 * torch.randn(cout, generator=g)).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gelu", [False, True])
def test_linear(dtype, gelu):
    g = _gen(4)
    x, w, b = torch.randn(3, 10, 32, generator=g), torch.randn(24, 32, generator=g) / 6, torch.randn(24, generator=g)
    args = (x.to(dtype), w.to(dtype), b.to(dtype))
    _assert_close(kernels.linear(*args, gelu=gelu), reference.linear(*args, gelu=gelu), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "size,rows", [((7, 9), 32), ((7, 9), 3), ((33, 5), 8), ((1, 1), 4), ((7, 9), None), ((1, 1), None)]
)
def test_conv3x3_of_nearest_2x(dtype, size, rows):
    x, w, b = _conv_args(2, 5, 4, size, dtype)
    fast = kernels.conv3x3_of_nearest_2x(x, w, b, rows=rows)
    _assert_close(fast, reference.conv3x3_of_nearest_2x(x, w, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "size,channels,bias", [((7, 9), 32, True), ((7, 9), 3, False), ((13, 5), 4, True), ((1, 1), 1, True)]
)
def test_upsampled_output(dtype, size, channels, bias):
    """The head built a few channels at a time (one group, uneven groups, groups of one) equals
    the stored reference; an offset input checks the per-group InstanceNorm."""
    x, up_w, up_b = _conv_args(5, 6, 8, size, dtype)
    _, out_w, out_b = _conv_args(6, 8, 1, size, dtype)
    x = (x.float() + 4).to(dtype)
    if not bias:
        up_b = out_b = None
    fast = kernels.upsampled_output(x, up_w, up_b, out_w, out_b, channels=channels)
    assert fast.shape == (2, 1, 2 * size[0], 2 * size[1])
    _assert_close(fast, reference.upsampled_output(x, up_w, up_b, out_w, out_b), dtype)


def test_head_and_norm_statistics_use_no_float64_where_the_device_has_none(monkeypatch):
    """MPS has no float64: with its accumulation dtype the statistics stay in float32, and the
    head still matches the reference."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class DtypeRecorder(TorchDispatchMode):
        dtypes = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    self.dtypes.add(t.dtype)
            return out

    monkeypatch.setattr(kernels, "_accumulation_dtype", lambda device: torch.float32)
    x, up_w, up_b = _conv_args(5, 6, 8, (9, 7), torch.float32)
    _, out_w, out_b = _conv_args(6, 8, 1, (9, 7), torch.float32)
    with DtypeRecorder() as recorder:
        fast = kernels.upsampled_output(x + 4, up_w, up_b, out_w, out_b, channels=3)
        kernels.instance_norm_gelu_(x.clone())
    assert torch.float64 not in recorder.dtypes
    _assert_close(fast, reference.upsampled_output(x + 4, up_w, up_b, out_w, out_b), torch.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shallow_features(dtype):
    x, w, b = _conv_args(7, 3, 6, (64, 64), dtype)
    for fast, plain in zip(kernels.shallow_features(x, w, b), reference.shallow_features(x, w, b)):
        assert fast.dtype == torch.float32
        _assert_close(fast, plain, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out_dtype", [torch.float32, "same"])
@pytest.mark.parametrize("skip", [False, True])
def test_instance_norm_gelu(dtype, out_dtype, skip):
    out_dtype = dtype if out_dtype == "same" else out_dtype
    x = (torch.randn(2, 6, 40, 30, generator=_gen(1)) * 3 + 1).to(dtype)
    add = torch.randn(2, 6, 40, 30, generator=_gen(2)).to(dtype) if skip else None
    plain = reference.instance_norm_gelu(x, out_dtype=out_dtype, add=add)
    fast = kernels.instance_norm_gelu_(x.clone(), out_dtype=out_dtype, rows=7, add=add)  # 40 rows: a partial chunk
    _assert_close(fast, plain, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("q_len,chunk", [(100, 64), (300, 2048)])
def test_attention(dtype, q_len, chunk):
    g = _gen(6)
    q, k, v = (torch.randn(2, 3, n, 16, generator=g).to(dtype) for n in (q_len, 37, 37))
    plain = reference.attention(q, k, v)
    _assert_close(kernels.chunked_attention(q, k, v, chunk=chunk), plain, dtype)
    _assert_close(kernels.attention(q, k, v, chunk=chunk), plain, dtype)


@pytest.mark.parametrize("amx", [False, True])
def test_attention_blocks_bf16_only_without_amx(monkeypatch, amx):
    """bf16 on a CPU without AMX goes by query blocks; with AMX, and in other dtypes, fused."""
    calls = []
    monkeypatch.setattr(kernels, "_AMX", [amx])
    monkeypatch.setattr(kernels, "chunked_attention", lambda *args: calls.append(args[0].dtype))
    q = torch.randn(1, 1, 8, 4)
    kernels.attention(q, q, q)
    kernels.attention(q.bfloat16(), q.bfloat16(), q.bfloat16())
    assert calls == ([] if amx else [torch.bfloat16])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shift", [0, 2])
def test_window_gather_equals_pad_roll_partition(dtype, shift):
    """``WindowLayout`` (fast) and pad + roll + partition (plain) move the same tokens."""
    torch.manual_seed(9)
    block = SwinBlock(dim=8, num_heads=2, window=4, shift=shift, mlp_ratio=2.0)
    with torch.no_grad():
        for parameter in block.parameters():
            parameter.normal_(0, 0.3)
    block = block.to(dtype).requires_grad_(False)
    x = torch.randn(3, 6, 7, 8, generator=_gen(10))  # 6 × 7 tokens: padded to 8 × 8
    region_mask = shifted_window_mask(8, 8, 4, 2)
    layout = kernels.WindowLayout(6, 7, 4, shift, x.device)
    fast = block(x, region_mask, layout)
    block.fast = False
    _assert_close(fast, block(x, region_mask), dtype)


def test_window_layout_is_the_inverse_of_itself():
    layout = kernels.WindowLayout(6, 7, 4, 2, torch.device("cpu"))
    tokens = torch.arange(42)
    padded = torch.cat((tokens, torch.tensor([-1])))
    slots = padded[layout.gather]
    assert slots.numel() == 4 * 16 and (slots == -1).sum() == 64 - 42
    assert torch.equal(slots[layout.scatter], tokens)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_channels_last(dtype):
    conv = Conv2d(5, 4, kernel_size=3, padding=1).to(dtype).requires_grad_(False)
    x = torch.randn(2, 5, 9, 8, generator=_gen(11))
    fast = conv(x)
    conv.fast = False
    _assert_close(fast, conv(x), dtype)


def test_channel_stats_match_var_mean():
    x = (torch.randn(2, 5, 37, 23, generator=_gen(0)) * 4 + 3).contiguous(memory_format=torch.channels_last)
    mean, var = kernels.channel_stats(x, rows=8)  # 37 rows: the last chunk is partial
    ref_var, ref_mean = torch.var_mean(x.double(), dim=(2, 3), keepdim=True, correction=0)
    assert mean.dtype == var.dtype == torch.float32 and mean.shape == (2, 5, 1, 1)
    assert torch.allclose(mean.double(), ref_mean, rtol=0, atol=1e-6)
    assert torch.allclose(var.double(), ref_var, rtol=1e-6, atol=0)


def test_instance_norm_gelu_works_in_place():
    x = torch.randn(2, 6, 40, 30, generator=_gen(1))
    inplace = x.clone()
    assert kernels.instance_norm_gelu_(inplace).data_ptr() == inplace.data_ptr()
    bf16 = x.bfloat16()
    assert kernels.instance_norm_gelu_(bf16, out_dtype=torch.bfloat16, rows=7).data_ptr() == bf16.data_ptr()
    source = x.clone()
    kernels.instance_norm_gelu_(source, out_dtype=torch.bfloat16, rows=7)
    assert torch.equal(source, x)  # another output dtype: the input is kept


def test_cpu_only_kernels_call_their_reference_twin_on_other_devices(monkeypatch):
    """Off the CPU (the meta device stands in for CUDA and MPS) the private-API kernels are not used."""
    calls = []
    for name in ("linear", "attention"):
        original = getattr(reference, name)
        monkeypatch.setattr(reference, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    monkeypatch.setattr(kernels, "_AMX", [False])  # where bf16 attention would go by blocks on a CPU
    meta = torch.device("meta")
    x, w = torch.empty(4, 8, device=meta), torch.empty(3, 8, device=meta)
    assert kernels.linear(x, w, None, gelu=True).device == meta
    q = torch.empty(1, 1, 6, 4, device=meta, dtype=torch.bfloat16)
    kernels.attention(q, q, q)
    assert calls == ["linear", "attention"]


def test_linear_falls_back_when_onednn_is_unavailable(monkeypatch):
    g = _gen(5)
    x, w, b = torch.randn(6, 8, generator=g), torch.randn(4, 8, generator=g), torch.randn(4, generator=g)
    monkeypatch.setattr(kernels, "_ONEDNN_LINEAR", [False])
    assert torch.allclose(kernels.linear(x, w, b, gelu=True), F.gelu(F.linear(x, w, b)), atol=1e-6)
    # a oneDNN build that rejects the call: the portable path takes over for good
    monkeypatch.setattr(kernels, "_ONEDNN_LINEAR", [None])
    monkeypatch.setattr(kernels, "_onednn_linear_available", lambda: (_ for _ in ()).throw(RuntimeError("no")))
    assert torch.allclose(kernels.linear(x, w, None), F.linear(x, w), atol=1e-6)
    assert kernels._ONEDNN_LINEAR == [False]


def test_linear_keeps_autograd_working():
    w = torch.randn(4, 8, requires_grad=True)
    y = kernels.linear(torch.randn(3, 8), w, None, gelu=True)
    y.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


@pytest.mark.parametrize("channels_last", [False, True])
def test_patch_stitching_round_trips_in_both_layouts(channels_last):
    maps = torch.randn(2 * 5, 3, 8, 6, generator=_gen(8))
    if channels_last:
        maps = maps.contiguous(memory_format=torch.channels_last)
    patches = maps.unflatten(0, (2, 5))[:, :4]  # how the decoder holds its four local views
    expected = patches.reshape(2, 2, 2, 3, 8, 6).permute(0, 3, 1, 4, 2, 5).reshape(2, 3, 16, 12)
    stitched = patches_to_image(patches)
    assert torch.equal(stitched, expected)
    assert stitched.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert torch.equal(image_to_patches(stitched), patches)
