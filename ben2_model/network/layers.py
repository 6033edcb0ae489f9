"""Building blocks that keep BEN2 finite in reduced precision, each with a fast and a plain branch.

BEN2 can run with fp16 or bf16 weights. Matrix products (linear layers, convolutions, attention)
then run in that precision, but everything that accumulates over many values stays in float32:

* residual streams (the Swin token stream, the decoder token stream) are float32 tensors;
* LayerNorm, InstanceNorm and softmax statistics are computed in float32;
* fp16 matmul/conv outputs are clamped to the fp16 range (``reference.saturate``), so a rare
  overflow saturates instead of becoming ``inf`` and then ``NaN`` after a normalisation.

In float32 every block computes what its ``torch.nn`` namesake computes. The subclasses keep
``torch.nn``'s parameter names, so the state-dict layout is the official one.

Every module with a fast kernel is a ``FastPath``: its ``fast`` flag (set for the whole network
by ``BEN2.kernels``) picks the ``kernels`` function or its plain twin in ``reference``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import kernels, reference

# Bytes of the largest temporary a fast path builds where it works a piece at a time (Swin
# blocks, the decoder's token updates). It bounds the temporaries, not the results, and keeps
# them under the size from which glibc maps every allocation afresh (32 MiB), so their memory is
# reused from one piece and one block to the next instead of being faulted in again (measured:
# 400K page faults fewer per fp32 forward in Swin stage 2 alone).
WORKSPACE_BYTES = 16 << 20


class FastPath:
    """Mixin for modules with two branches: ``fast`` (``kernels``) or plain (``reference``).

    ``BEN2.kernels = "reference"`` sets ``fast = False`` on every such module of the network;
    ``"graph"`` also sets ``graph = True`` (the plain branch, with the exact algebra a traced
    graph profits from where a module has it).
    """

    fast: bool = True
    graph: bool = False


class Linear(FastPath, nn.Linear):
    """``nn.Linear`` that casts its input to the weight dtype. ``[..., in] -> [..., out]``."""

    def forward(self, x: torch.Tensor, *, gelu: bool = False) -> torch.Tensor:
        """With ``gelu``, exact GELU is applied to the output (fused on the CPU's fast path)."""
        fn = kernels.linear if self.fast else reference.linear
        return fn(x, self.weight, self.bias, gelu=gelu)


class Conv2d(FastPath, nn.Conv2d):
    """``nn.Conv2d`` that casts its input to the weight dtype. ``[B,Cin,H,W] -> [B,Cout,H',W']``.

    On the fast path spatial kernels run in channels-last layout (the output is channels-last
    too; every op after it accepts either layout).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            return reference.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        x, weight = x.to(self.weight.dtype), self.weight
        if self.kernel_size != (1, 1):
            x, weight = kernels.channels_last(x), kernels.channels_last(weight)
        return reference.saturate(self._conv_forward(x, weight, self.bias))


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` computed in float32 whatever the input and weight dtypes; returns float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(
            x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps
        )


class ConvNormAct(FastPath, nn.Sequential):
    """Conv3×3 → InstanceNorm2d → GELU (the reference's ``make_cbr``). ``[B,Cin,H,W] -> [B,Cout,H,W]``.

    Only the convolution has weights, so the state-dict keys are ``<name>.0.weight``/``.0.bias``.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(Conv2d(in_dim, out_dim, kernel_size=3, padding=1))

    def forward(
        self,
        x: torch.Tensor,
        *,
        upsample_2x: bool = False,
        out_dtype: torch.dtype = torch.float32,
        add: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """With ``upsample_2x`` the block is applied to the nearest-neighbour ×2 upsampled input:
        ``[B,Cin,H,W] -> [B,Cout,2H,2W]``. ``add`` (a skip connection of the output's shape) is
        added in float32, and the result is in ``out_dtype`` (a reduced precision when only a
        convolution reads it)."""
        conv = self[0]
        if not self.fast:
            if not upsample_2x:
                y = conv(x)
            elif self.graph:  # whole map, no loop: the same algebra as the fast path's strips
                y = kernels.conv3x3_of_nearest_2x(x, conv.weight, conv.bias, rows=None)
            else:
                y = reference.conv3x3_of_nearest_2x(x, conv.weight, conv.bias)
            return reference.instance_norm_gelu(y, out_dtype=out_dtype, add=add)
        # the fast path never builds the 4× larger input, and normalises in place
        y = kernels.conv3x3_of_nearest_2x(x, conv.weight, conv.bias) if upsample_2x else conv(x)
        return kernels.instance_norm_gelu_(y, out_dtype=out_dtype, add=add)
