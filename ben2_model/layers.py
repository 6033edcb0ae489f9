"""Building blocks that keep BEN2 finite in reduced precision.

BEN2 can run with fp16 or bf16 weights. Matrix products (linear layers, convolutions, attention)
then run in that precision, but everything that accumulates over many values stays in float32:

* residual streams (the Swin token stream, the decoder token stream) are float32 tensors;
* LayerNorm, InstanceNorm and softmax statistics are computed in float32;
* fp16 matmul/conv outputs are clamped to the fp16 range, so a rare overflow saturates instead of
  becoming ``inf`` and then ``NaN`` after a normalisation (which min-max normalisation would then
  smear over the whole mask).

In float32 every block computes exactly what its ``torch.nn`` namesake computes. The subclasses keep
``torch.nn``'s parameter names, so the state-dict layout is the official one.
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


class Linear(nn.Linear):
    """``nn.Linear`` that casts its input to the weight dtype. ``[..., in] -> [..., out]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return saturate(F.linear(x.to(self.weight.dtype), self.weight, self.bias))


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


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` computed in float32 whatever the input and weight dtypes; returns float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(
            x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps
        )


def instance_norm_gelu_(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """InstanceNorm2d (no affine, no running stats) then exact GELU, in place where possible.

    Args:
        x: ``[B,C,H,W]``, any float dtype. Overwritten when it is float32.
    Returns:
        ``[B,C,H,W]`` float32.

    Statistics are taken in float32 (the variance of a 1024² fp16 map is not representable in
    fp16). Working in place keeps the 1024² head of the decoder at one feature map of memory.
    """
    x = x.float()
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    x.sub_(mean).mul_(torch.rsqrt(var.add_(eps)))
    return F.gelu(x) if x.requires_grad else torch._C._nn.gelu_(x)


class ConvNormAct(nn.Sequential):
    """Conv3×3 → InstanceNorm2d → GELU (the reference's ``make_cbr``). ``[B,Cin,H,W] -> [B,Cout,H,W]``.

    Only the convolution has weights, so the state-dict keys are ``<name>.0.weight``/``.0.bias``.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(Conv2d(in_dim, out_dim, kernel_size=3, padding=1))

    def forward(self, x: torch.Tensor, *, upsample_2x: bool = False) -> torch.Tensor:
        """With ``upsample_2x`` the block is applied to ``nearest_upsample_2x(x)`` without building
        that 4× larger input: ``[B,Cin,H,W] -> [B,Cout,2H,2W]``. A 3×3 convolution of a
        nearest-neighbour ×2 image is, for each of the four output phases, a 2×2 convolution of
        the small image with summed taps: 2.25× fewer multiply-adds."""
        conv = self[0]
        if upsample_2x:
            return instance_norm_gelu_(conv3x3_of_nearest_2x(x, conv.weight, conv.bias))
        return instance_norm_gelu_(conv(x))


def conv3x3_of_nearest_2x(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``conv2d(nearest_2x(x), weight, bias, padding=1)`` computed at the low resolution.

    Args:
        x: ``[B,Cin,H,W]``.
        weight: ``[Cout,Cin,3,3]``; bias: ``[Cout]`` or None.
    Returns:
        ``[B,Cout,2H,2W]`` (channels-last) in the weight dtype.

    Output row ``2i`` sees upsampled rows ``2i-1, 2i, 2i+1`` = source rows ``i-1, i, i``; output row
    ``2i+1`` sees source rows ``i, i, i+1``. So phase 0 uses taps ``(w0, w1+w2)`` on rows
    ``(i-1, i)`` and phase 1 uses ``(w0+w1, w2)`` on rows ``(i, i+1)``; the same holds for columns.
    Both column phases of a row phase ``py`` come from one 2×2 convolution (2·Cout outputs) of the
    zero-padded input's rows ``py .. py+H``; phase ``(py, px)`` is its output cropped at column ``px``.
    """
    b, _, h, w = x.shape
    cout = weight.shape[0]
    padded = channels_last(F.pad(x.to(weight.dtype), (1, 1, 1, 1)))
    # taps per phase along one axis: [phase, 2 taps, 3 original taps]
    fold = weight.new_tensor([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])
    kernels = torch.einsum("yak,xbl,oikl->yxoiab", fold, fold, weight).reshape(2, 2 * cout, -1, 2, 2)
    bias2 = None if bias is None else bias.repeat(2)
    out = torch.empty(
        b, cout, 2 * h, 2 * w, dtype=padded.dtype, device=x.device, memory_format=torch.channels_last
    )
    # one output row parity at a time keeps the temporary at 2·Cout channels (a row slice of a
    # channels-last tensor is still contiguous, so the convolution reads it without a copy)
    for py in range(2):
        both = saturate(F.conv2d(padded[:, :, py : py + h + 1], channels_last(kernels[py]), bias2))
        for px in range(2):
            out[:, :, py::2, px::2] = both[:, px * cout : (px + 1) * cout, :, px : px + w]
    return out
