"""BEN2's MVANet-style decoder blocks, batched over images.

The network looks at every image as five views: four local 512² quadrants (top-left, top-right,
bottom-left, bottom-right) and one global half-size view. Decoder tensors carry them as
``[B, 5, C, h, w]`` (views 0..3 local, view 4 global); the reference loops over images here,
we process the whole batch at once.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import kernels, reference
from .layers import WORKSPACE_BYTES, Conv2d, FastPath, LayerNorm, Linear


def patches_to_image(patches: torch.Tensor) -> torch.Tensor:
    """Stitch the 2×2 quadrants back together: ``[B,4,C,h,w] -> [B,C,2h,2w]``.

    Four block copies into an image of the patches' layout (channels-last in, channels-last out):
    a permuting reshape would walk the channels-last input with a large stride.
    """
    b, _, c, h, w = patches.shape
    layout = torch.channels_last if patches.stride(2) == 1 else torch.contiguous_format
    image = torch.empty(b, c, 2 * h, 2 * w, dtype=patches.dtype, device=patches.device, memory_format=layout)
    for index, (rows, cols) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        image[:, :, rows * h : (rows + 1) * h, cols * w : (cols + 1) * w] = patches[:, index]
    return image


def image_to_patches(image: torch.Tensor) -> torch.Tensor:
    """Split into 2×2 quadrants (TL, TR, BL, BR): ``[B,C,2h,2w] -> [B,4,C,h,w]``."""
    b, c, hh, ww = image.shape
    x = image.view(b, c, 2, hh // 2, 2, ww // 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, 4, c, hh // 2, ww // 2)


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``[..., C, h, w] -> [..., h·w, C]`` (row-major tokens)."""
    return x.flatten(-2).transpose(-1, -2)


def tokens_to_map(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``[..., h·w, C] -> [..., C, h, w]``."""
    return x.transpose(-1, -2).unflatten(-1, (h, w))


def sine_position_encoding(h: int, w: int, dim: int, device: torch.device) -> torch.Tensor:
    """DETR-style normalised 2-D sine encoding, ``[h·w, dim]`` float32.

    Per axis, the cumulative coordinate ``k`` (1-based) becomes ``(k - 0.5) / (n + 1e-6) · 2π`` and is
    divided by ``10000^(2·floor(i/2)/(dim/2))``; sines and cosines alternate. The y features come first.
    Operations and their order follow the reference so float32 results match bit for bit.
    """
    feats = dim // 2
    ones = torch.ones(1, h, w, device=device)
    y = ones.cumsum(1)
    x = ones.cumsum(2)
    y = (y - 0.5) / (y[:, -1:, :] + 1e-6) * (2 * math.pi)
    x = (x - 0.5) / (x[:, :, -1:] + 1e-6) * (2 * math.pi)
    dim_t = 10000 ** (2 * (torch.arange(feats, dtype=torch.float32, device=device) // 2) / feats)

    def interleave(pos: torch.Tensor) -> torch.Tensor:
        pos = pos[..., None] / dim_t
        return torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=4).flatten(3)

    return torch.cat((interleave(y), interleave(x)), dim=3).view(h * w, dim)


class CrossAttention(FastPath, nn.Module):
    """Single-purpose stand-in for ``nn.MultiheadAttention`` (same parameter names), batch-first.

    ``query [N, Lq, E]``, ``key``/``value`` ``[N, Lk, E]`` → ``[N, Lq, E]`` in the weight dtype.
    The fast path's projections and attention are ``kernels.linear`` / ``kernels.attention``.
    """

    def __init__(self, dim: int, num_heads: int = 1) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = Linear(dim, dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        ops = kernels if self.fast else reference
        linear = ops.linear
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        q = linear(query, wq, bq)
        k = linear(key, wk, bk)
        v = linear(value, wv, bv)
        n, lq, e = q.shape
        heads, hd = self.num_heads, e // self.num_heads
        q, k, v = (t.view(n, -1, heads, hd).transpose(1, 2) for t in (q, k, v))
        out = ops.attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(n, lq, e))


def feed_forward(x: torch.Tensor, lin_a: Linear, lin_b: Linear, norm: LayerNorm) -> torch.Tensor:
    """The post-norm residual update of MCLM and MCRM: ``norm(x + lin_b(gelu(lin_a(x))))``.

    ``[..., C] -> [..., C]`` float32.
    """
    return norm(x + lin_b(lin_a(x, gelu=True)))


def attention_update(
    x: torch.Tensor,
    attended: torch.Tensor,
    norm_in: LayerNorm,
    lin_a: Linear,
    lin_b: Linear,
    norm_out: LayerNorm,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """What MCLM and MCRM do with their queries ``x`` after attention:
    ``feed_forward(norm_in(x + attended), lin_a, lin_b, norm_out)``. ``[..., L, C] -> [..., L, C]`` float32.

    With ``out`` (the fast path: a float32 tensor of ``x``'s shape, any strides) the update is
    written there, ``WORKSPACE_BYTES`` of hidden layer at a time: every step is per token, so the
    result is the same, and the hidden layer (twice the width) and the intermediate maps (32 MiB
    each for the 4 × 128² tokens of the last two blocks) are never whole.
    """
    if out is None:
        return feed_forward(norm_in(x + attended), lin_a, lin_b, norm_out)
    torch.add(x, attended, out=out)
    tokens_per_piece = max(1, WORKSPACE_BYTES // (lin_a.out_features * 4 * (out[..., 0, 0].numel())))
    for rows in out.split(tokens_per_piece, dim=-2):
        rows.copy_(feed_forward(norm_in(rows), lin_a, lin_b, norm_out))
    return out


class MCLM(FastPath, nn.Module):
    """Multi-view complementary localisation: the global view attends to pooled local views,
    then every local view attends to its quadrant of the refreshed global view.

    ``[B,5,C,h,w] -> [B,5,C,h,w]``; the pool ratios are relative to the local map size ``h``.
    """

    def __init__(self, dim: int, num_heads: int = 1, pool_ratios: Sequence[int] = (1, 4, 8)) -> None:
        super().__init__()
        self.attention = nn.ModuleList(CrossAttention(dim, num_heads) for _ in range(5))
        self.linear1 = Linear(dim, 2 * dim)
        self.linear2 = Linear(2 * dim, dim)
        self.linear3 = Linear(dim, 2 * dim)
        self.linear4 = Linear(2 * dim, dim)
        # The reference applies the same two norms to the global and the local branch.
        self.norm1 = LayerNorm(dim)
        self.norm2 = LayerNorm(dim)
        self.pool_ratios = tuple(pool_ratios)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        b, _, c, h, w = views.shape
        local, glb = views[:, :4], views[:, 4]
        stitched = patches_to_image(local)  # [B,C,2h,2w]

        pools, pool_pos = [], []
        for ratio in self.pool_ratios:
            size = (round(h / ratio), round(w / ratio))
            pools.append(map_to_tokens(F.adaptive_avg_pool2d(stitched, size)))
            pool_pos.append(sine_position_encoding(*size, c, views.device))
        pools = torch.cat(pools, 1)  # [B, L, C]
        pool_pos = torch.cat(pool_pos, 0)
        glb_pos = sine_position_encoding(h, w, c, views.device)

        g = map_to_tokens(glb).float()  # [B, h·w, C]
        g = g + self.attention[0](g + glb_pos, pools + pool_pos, pools)
        g = feed_forward(self.norm1(g), self.linear1, self.linear2, self.norm2)

        # quadrant i of the refreshed global map, as (h/2·w/2) tokens
        g_quadrants = map_to_tokens(image_to_patches(tokens_to_map(g, h, w)))  # [B,4,hw/4,C]
        l = map_to_tokens(local).float()  # [B,4,h·w,C]
        attended = torch.stack(
            [self.attention[i + 1](l[:, i], g_quadrants[:, i], g_quadrants[:, i]) for i in range(4)],
            dim=1,
        )
        l = attention_update(
            l, attended, self.norm1, self.linear3, self.linear4, self.norm2, out=torch.empty_like(l) if self.fast else None
        )
        return tokens_to_map(torch.cat((l, g[:, None]), 1), h, w)


class MCRM(FastPath, nn.Module):
    """Multi-view complementary refinement: local views, gated by a saliency map of the global
    view, attend to pooled copies of their global quadrant; the global view then takes the
    refined locals back in.

    ``[B,5,C,h,w] -> ([B,5,C,h,w], token attention map [B,1,2h,2w])``.
    """

    def __init__(self, dim: int, num_heads: int = 1, pool_ratios: Sequence[int] = (2, 4, 8)) -> None:
        super().__init__()
        self.attention = nn.ModuleList(CrossAttention(dim, num_heads) for _ in range(4))
        self.linear3 = Linear(dim, 2 * dim)
        self.linear4 = Linear(2 * dim, dim)
        self.norm1 = LayerNorm(dim)
        self.norm2 = LayerNorm(dim)
        self.sal_conv = Conv2d(dim, 1, 1)
        self.pool_ratios = tuple(pool_ratios)

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, c, h, w = views.shape
        local, glb = views[:, :4], views[:, 4]

        # saliency of the global view, nearest-upsampled to the stitched size, gates the locals
        saliency = torch.sigmoid(self.sal_conv(glb).float())
        saliency = saliency.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # [B,1,2h,2w]
        local = local * image_to_patches(saliency)

        glb_quadrants = image_to_patches(glb)  # [B,4,C,h/2,w/2]
        pools = torch.cat(
            [
                map_to_tokens(F.adaptive_avg_pool2d(glb_quadrants.flatten(0, 1), (round(h / r), round(w / r))))
                for r in self.pool_ratios
            ],
            dim=1,
        ).unflatten(0, (b, 4))  # [B,4,L,C]

        q = map_to_tokens(local).float()  # [B,4,h·w,C]
        attended = torch.stack(
            [self.attention[i](q[:, i], pools[:, i], pools[:, i]) for i in range(4)], dim=1
        )
        # the fast path writes the five views' tokens into one tensor: no concatenation, and the
        # maps come out channels-last, as the next convolution reads them
        views_out = torch.empty(b, 5, h * w, c, device=q.device) if self.fast else None
        refined = attention_update(
            q, attended, self.norm1, self.linear3, self.linear4, self.norm2,
            out=None if views_out is None else views_out[:, :4],
        )
        refined = tokens_to_map(refined, h, w)  # [B,4,C,h,w]

        # nearest downsampling by 2 of the stitched locals picks the even rows and columns
        if h % 2 == 0 and w % 2 == 0:  # the even rows and columns of each quadrant, stitched
            glb = glb + patches_to_image(refined[..., ::2, ::2])
        else:
            glb = glb + patches_to_image(refined)[:, :, ::2, ::2]
        if views_out is None:
            return torch.cat((refined, glb[:, None]), 1), saliency
        views_out[:, 4] = map_to_tokens(glb)
        return tokens_to_map(views_out, h, w), saliency
