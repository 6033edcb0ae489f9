"""Building blocks that keep BEN2 finite in reduced precision.

BEN2 can run with fp16 or bf16 weights. Matrix products (linear layers, convolutions, attention)
then run in that precision, but everything that accumulates over many values stays in float32:

* residual streams (the Swin token stream, the decoder token stream) are float32 tensors;
* LayerNorm, InstanceNorm and softmax statistics are computed in float32;
* fp16 matmul/conv outputs are clamped to the fp16 range, so a rare overflow saturates instead of
  becoming ``inf`` and then ``NaN`` after a normalisation (which min-max normalisation would then
  smear over the whole mask).

In float32 every block computes what its ``torch.nn`` namesake computes (up to float32 rounding: some
run faster kernels, listed below). The subclasses keep ``torch.nn``'s parameter names, so the
state-dict layout is the official one.

Fast paths, each checked against the plain torch computation in ``tests/test_layers.py``:

* ``linear``: oneDNN inner products on the CPU, GELU fused;
* ``channel_stats`` / ``instance_norm_gelu_``: chunked two-pass statistics (``var_mean`` is slow on
  channels-last maps), normalisation in place;
* ``conv3x3_of_nearest_2x``: a 3×3 convolution of a nearest-×2 image computed at the low resolution;
* ``conv3x3_few_outputs``: the 128 → 1 output convolution as one inner product plus nine shifted sums.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

FP16_MAX = 65504.0


def saturate(x: torch.Tensor) -> torch.Tensor:
    """Clamp an fp16 tensor in place to the finite fp16 range (``±inf`` → ``±65504``); others pass."""
    if x.dtype == torch.float16:
        x.clamp_(-FP16_MAX, FP16_MAX)
    return x


def _onednn_linear_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


_ONEDNN_LINEAR = [None]  # decided at the first CPU call: [True] / [False]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, gelu: bool = False) -> torch.Tensor:
    """``F.linear`` then, with ``gelu``, exact GELU. ``[..., in] -> [..., out]`` in the weight dtype.

    On the CPU, float32 and bfloat16 products go to oneDNN's inner product (the kernel behind
    torch's compiled CPU graphs): about 1.4× the throughput of the default GEMM for the Swin
    shapes, with the bias and the GELU applied while the output tile is still in cache. Other
    devices and dtypes, autograd, and torch builds without oneDNN use ``F.linear``.
    """
    x = x.to(weight.dtype)
    if (
        x.device.type == "cpu"
        and weight.dtype in (torch.float32, torch.bfloat16)
        and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        and _ONEDNN_LINEAR[0] is not False
    ):
        try:
            if _ONEDNN_LINEAR[0] is None:
                _ONEDNN_LINEAR[0] = _onednn_linear_available()
            if _ONEDNN_LINEAR[0]:
                if gelu:
                    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "none")
                return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        except RuntimeError:  # an old or unusual oneDNN build: use the portable path from now on
            _ONEDNN_LINEAR[0] = False
    y = saturate(F.linear(x, weight, bias))
    if gelu:
        y = F.gelu(y) if y.requires_grad else torch._C._nn.gelu_(y)
    return y


class Linear(nn.Linear):
    """``nn.Linear`` that casts its input to the weight dtype. ``[..., in] -> [..., out]``."""

    def forward(self, x: torch.Tensor, *, gelu: bool = False) -> torch.Tensor:
        """With ``gelu``, exact GELU is applied to the output (fused on the CPU)."""
        return linear(x, self.weight, self.bias, gelu=gelu)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """NHWC memory layout: oneDNN and cuDNN run 3×3 convolutions 1.2-1.6× faster on it."""
    return x.contiguous(memory_format=torch.channels_last)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that casts its input to the weight dtype. ``[B,Cin,H,W] -> [B,Cout,H',W']``.

    Spatial kernels run in channels-last layout (the output is channels-last too; every op after
    it accepts either layout).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = x.to(self.weight.dtype), self.weight
        if self.kernel_size != (1, 1):
            x, weight = channels_last(x), channels_last(weight)
        return saturate(self._conv_forward(x, weight, self.bias))


def conv3x3_few_outputs(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``conv2d(x, weight, bias, padding=1)`` for a 3×3 kernel with very few output channels.

    Args:
        x: ``[B,Cin,H,W]`` (cheapest when channels-last).
        weight: ``[Cout,Cin,3,3]``; bias: ``[Cout]`` or None.
    Returns:
        ``[B,Cout,H,W]`` in the weight dtype.

    Convolution libraries run a 128 → 1 channel 3×3 kernel at a few percent of their speed. Here
    one inner product gives every pixel's nine tap responses ``[B,H,W,9·Cout]`` (one read of
    ``x``), and the output is the sum of the nine shifted tap planes.
    """
    b, cin, h, w = x.shape
    cout = weight.shape[0]
    pixels = channels_last(x.to(weight.dtype)).permute(0, 2, 3, 1)  # [B,H,W,Cin], a view
    taps = linear(pixels, weight.permute(0, 2, 3, 1).reshape(cout * 9, cin), None)
    taps = F.pad(taps.view(b, h, w, cout, 9).permute(0, 3, 4, 1, 2).float(), (1, 1, 1, 1))  # [B,Cout,9,H+2,W+2]
    out = taps.new_zeros(b, cout, h, w) if bias is None else bias.float().view(1, cout, 1, 1).repeat(b, 1, h, w)
    for tap in range(9):
        dy, dx = divmod(tap, 3)
        out += taps[:, :, tap, dy : dy + h, dx : dx + w]
    return out.to(weight.dtype)


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` computed in float32 whatever the input and weight dtypes; returns float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(
            x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps
        )


def channel_stats(x: torch.Tensor, rows: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (biased) variance over the spatial axes, in float32.

    Args:
        x: ``[B,C,H,W]``, any float dtype and memory format.
        rows: rows per chunk; each chunk's sum is taken in float32, the chunk sums in float64
            (float32 on MPS).
    Returns:
        ``(mean, var)``, each ``[B,C,1,1]`` float32.

    Two passes (the variance is the mean square of ``x - mean``), so it is as accurate as
    ``torch.var_mean`` but about 15× faster on channels-last maps, where ``var_mean`` falls back
    to a slow path; the chunks keep the squared temporary to a few rows.
    """
    b, c, h, w = x.shape
    # float64 accumulators (tiny: [B,C]) except on MPS, which has no float64
    acc_dtype = torch.float32 if x.device.type == "mps" else torch.float64
    total = torch.zeros(b, c, 1, 1, dtype=acc_dtype, device=x.device)
    for chunk in x.split(rows, dim=2):
        total += chunk.sum(dim=(2, 3), keepdim=True, dtype=torch.float32)
    mean = (total / (h * w)).float()
    total.zero_()
    for centred in _centred_rows(x, mean, rows):
        total += centred.mul_(centred).sum(dim=(2, 3), keepdim=True)
    return mean, (total / (h * w)).float()


def _centred_rows(x: torch.Tensor, mean: torch.Tensor, rows: int):
    """Yield ``x - mean`` in float32, ``rows`` rows at a time, in one reused buffer (valid until
    the next item): ``[B,C,H,W]`` -> ``[B,C,rows,W]`` pieces, same memory format as ``x``."""
    buffer = torch.empty_like(x[:, :, :rows], dtype=torch.float32)
    for start in range(0, x.shape[2], rows):
        chunk = x[:, :, start : start + rows]
        yield torch.sub(chunk, mean, out=buffer[:, :, : chunk.shape[2]])


def instance_norm_gelu_(
    x: torch.Tensor, eps: float = 1e-5, out_dtype: torch.dtype = torch.float32, rows: int = 16
) -> torch.Tensor:
    """InstanceNorm2d (no affine, no running stats) then exact GELU.

    Args:
        x: ``[B,C,H,W]``, any float dtype. Overwritten when it already has ``out_dtype``.
        out_dtype: dtype of the result (a reduced precision when only a convolution reads it).
    Returns:
        ``[B,C,H,W]`` in ``out_dtype``, same memory format as ``x``.

    Statistics are taken in float32 (the variance of a 1024² fp16 map is not representable in
    fp16). Working in place, or chunk by chunk into the output, keeps the 1024² head of the
    decoder at one feature map of memory.
    """
    mean, var = channel_stats(x, rows)
    scale = torch.rsqrt(var.add_(eps))
    if x.requires_grad:  # autograd: plain out-of-place ops
        return F.gelu((x.float() - mean) * scale).to(out_dtype)
    if x.dtype == torch.float32 and out_dtype == torch.float32:
        x.sub_(mean).mul_(scale)
        return torch._C._nn.gelu_(x)
    # Reduced precision goes through a float32 buffer a few rows at a time. Each chunk is read
    # into the buffer before it is written, so the result can overwrite ``x`` when the dtypes
    # agree: no second map to allocate and fault in.
    out = x if x.dtype == out_dtype else torch.empty_like(x, dtype=out_dtype)
    for centred, dst in zip(_centred_rows(x, mean, rows), out.split(rows, dim=2)):
        dst.copy_(torch._C._nn.gelu_(centred.mul_(scale)))
    return out


class ConvNormAct(nn.Sequential):
    """Conv3×3 → InstanceNorm2d → GELU (the reference's ``make_cbr``). ``[B,Cin,H,W] -> [B,Cout,H,W]``.

    Only the convolution has weights, so the state-dict keys are ``<name>.0.weight``/``.0.bias``.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(Conv2d(in_dim, out_dim, kernel_size=3, padding=1))

    def forward(
        self, x: torch.Tensor, *, upsample_2x: bool = False, out_dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """With ``upsample_2x`` the block is applied to ``nearest_upsample_2x(x)`` without building
        that 4× larger input: ``[B,Cin,H,W] -> [B,Cout,2H,2W]``. A 3×3 convolution of a
        nearest-neighbour ×2 image is, for each of the four output phases, a 2×2 convolution of
        the small image with summed taps: 2.25× fewer multiply-adds. ``out_dtype`` as in
        ``instance_norm_gelu_``."""
        conv = self[0]
        y = conv3x3_of_nearest_2x(x, conv.weight, conv.bias) if upsample_2x else conv(x)
        return instance_norm_gelu_(y, out_dtype=out_dtype)


def conv3x3_of_nearest_2x(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, rows: int = 32
) -> torch.Tensor:
    """``conv2d(nearest_2x(x), weight, bias, padding=1)`` computed at the low resolution.

    Args:
        x: ``[B,Cin,H,W]``.
        weight: ``[Cout,Cin,3,3]``; bias: ``[Cout]`` or None.
        rows: source rows per strip (bounds the temporary to ``4·Cout × (rows+1) × (W+1)``).
    Returns:
        ``[B,Cout,2H,2W]`` (channels-last) in the weight dtype.

    Output row ``2i`` sees upsampled rows ``2i-1, 2i, 2i+1`` = source rows ``i-1, i, i``; output row
    ``2i+1`` sees source rows ``i, i, i+1``. So phase 0 uses taps ``(w0, w1+w2)`` on rows
    ``(i-1, i)`` and phase 1 uses ``(w0+w1, w2)`` on rows ``(i, i+1)``; the same holds for columns.
    All four phases come from one 2×2 convolution with ``4·Cout`` outputs of the zero-padded
    source: its output ``(j, k)`` covers padded rows ``j, j+1`` and columns ``k, k+1``, so phase
    ``(py, px)`` of source pixel ``(i, i')`` is output ``(i + py, i' + px)``. The work goes strip by
    strip of source rows, each strip with its one-row halo, so no padded copy of ``x`` is made.
    """
    b, _, h, w = x.shape
    cout = weight.shape[0]
    x = x.to(weight.dtype)
    # taps per phase along one axis: [phase, 2 taps, 3 original taps]
    fold = weight.new_tensor([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])
    kernels = torch.einsum("yak,xbl,oikl->yxoiab", fold, fold, weight).reshape(4 * cout, -1, 2, 2)
    kernels = channels_last(kernels)
    bias4 = None if bias is None else bias.repeat(4)
    out = torch.empty(b, cout, 2 * h, 2 * w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        lo, hi = max(r0 - 1, 0), min(r1 + 1, h)  # source rows r0-1 .. r1, zeros outside the image
        strip = F.pad(x[:, :, lo:hi], (1, 1, lo - (r0 - 1), (r1 + 1) - hi))
        phases = saturate(F.conv2d(channels_last(strip), kernels, bias4))  # [B,4·Cout,r1-r0+1,W+1]
        for k, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            out[:, :, 2 * r0 + py : 2 * r1 : 2, px::2] = phases[
                :, k * cout : (k + 1) * cout, py : py + r1 - r0, px : px + w
            ]
    return out
