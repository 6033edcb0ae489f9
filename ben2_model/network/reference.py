"""The plain torch computations BEN2 is defined by: the specification of every fast kernel.

``BEN2(kernels="reference")`` runs the whole network through these functions (and the plain
branches of the modules in ``backbone``, ``decoder`` and ``model``). They use public torch API
only, so the reference path runs on every device, compiles with ``torch.compile`` and exports with
``torch.onnx.export``. Each function here has a fast twin in ``kernels`` with the same name and
signature, and a test checking the two agree in float32, float16 and bfloat16.

The dtype policy (see ``layers``) is part of the specification: products run in the weight dtype,
statistics in float32, and fp16 outputs saturate at the fp16 range instead of overflowing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FP16_MAX = 65504.0


def saturate(x: torch.Tensor) -> torch.Tensor:
    """Clamp an fp16 tensor in place to the finite fp16 range (``±inf`` → ``±65504``); others pass.

    A rare fp16 overflow in a product then saturates instead of becoming ``inf`` and, after a
    normalisation, ``NaN``.
    """
    if x.dtype == torch.float16:
        x.clamp_(-FP16_MAX, FP16_MAX)
    return x


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, gelu: bool = False) -> torch.Tensor:
    """``F.linear`` in the weight dtype, then (with ``gelu``) exact GELU. ``[..., in] -> [..., out]``."""
    y = saturate(F.linear(x.to(weight.dtype), weight, bias))
    return F.gelu(y) if gelu else y


def conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """``F.conv2d`` in the weight dtype. ``[B,Cin,H,W] -> [B,Cout,H',W']``."""
    return saturate(F.conv2d(x.to(weight.dtype), weight, bias, stride=stride, padding=padding))


def conv3x3_few_outputs(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 3×3 convolution with padding 1 (the 128 → 1 output layer). ``[B,Cin,H,W] -> [B,Cout,H,W]``."""
    return conv2d(x, weight, bias, padding=1)


def instance_norm_gelu(
    x: torch.Tensor, eps: float = 1e-5, out_dtype: torch.dtype = torch.float32, add: torch.Tensor | None = None
) -> torch.Tensor:
    """InstanceNorm2d (no affine, no running statistics) in float32, exact GELU, then ``+ add``.

    ``[B,C,H,W] -> [B,C,H,W]`` in ``out_dtype``: each channel of each image becomes
    ``(x - mean) / sqrt(var + eps)`` with the biased variance over ``H·W``; ``add`` (``[B,C,H,W]``,
    a skip connection) is added in float32 before the cast.
    """
    y = F.gelu(F.instance_norm(x.float(), eps=eps))
    return (y if add is None else y + add.float()).to(out_dtype)


def conv3x3_of_nearest_2x(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 3×3 convolution (padding 1) of the nearest-neighbour ×2 upsampled input.

    ``[B,Cin,H,W] -> [B,Cout,2H,2W]`` in the weight dtype.
    """
    return conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), weight, bias, padding=1)


def upsampled_output(
    x: torch.Tensor,
    up_weight: torch.Tensor,
    up_bias: torch.Tensor | None,
    out_weight: torch.Tensor,
    out_bias: torch.Tensor | None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """The head's last two layers: the nearest-×2 3×3 convolution, InstanceNorm and GELU (the map
    kept in the weight dtype), then the few-output 3×3 convolution.

    ``[B,Cin,H,W] -> [B,Cout,2H,2W]`` in the output weight dtype.
    """
    full = instance_norm_gelu(conv3x3_of_nearest_2x(x, up_weight, up_bias), eps, out_dtype=up_weight.dtype)
    return conv3x3_few_outputs(full, out_weight, out_bias)


def shallow_features(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The full-size 3×3 convolution (padding 1), bilinearly resized to 1/4 and 1/2.

    ``[B,3,S,S] -> ([B,D,S/4,S/4], [B,D,S/2,S/2])``, float32.
    """
    full = conv2d(x, weight, bias, padding=1).float()
    size = x.shape[-1]
    return bilinear(full, (size // 4, size // 4)), bilinear(full, (size // 2, size // 2))


def bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize, ``align_corners=False`` (as the network was trained): ``[B,C,h,w] -> [B,C,*size]``."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q·kᵀ/√d)·v``: ``q [N,heads,Lq,d]``, ``k``/``v`` ``[N,heads,Lk,d]`` -> ``[N,heads,Lq,d]``."""
    return F.scaled_dot_product_attention(q, k, v)
