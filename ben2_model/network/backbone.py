"""The Swin Transformer backbone of BEN2, as the published checkpoint expects it.

It differs from the classification Swin (timm) in ways that change the numbers:

* the window is never shrunk to the feature map: token grids are zero-padded up to a multiple of
  the window *after* ``norm1``, and the padded tokens are not masked (they act as keys and values
  equal to the qkv bias);
* every odd block is a shifted block, at every stage, with the usual region mask (value -100)
  built on the padded grid;
* the backbone returns five maps: the patch embedding (after its LayerNorm) and each stage's
  output through ``norm{i}``, taken *before* that stage's patch merging.

Tokens travel as channels-last maps ``[N,H,W,C]`` in float32 (see ``layers``). ``SwinBlock`` reads
as timm's: its plain branch (``kernels="reference"``) pads, rolls, partitions into windows, attends
with ``F.scaled_dot_product_attention`` and reverses; the fast branch moves the same tokens with
one gather each way (``kernels.WindowLayout``) and works a few maps at a time (see
``WORKSPACE_BYTES``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .kernels import WindowLayout
from .layers import WORKSPACE_BYTES, Conv2d, FastPath, LayerNorm, Linear

REGION_MASK_VALUE = -100.0


def relative_position_index(window: int) -> torch.Tensor:
    """Index into the ``(2w-1)²`` bias table for every (query, key) pair of a window. ``[w², w²]``."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    coords = coords.flatten(1)  # [2, w²]
    delta = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return delta[..., 0] * (2 * window - 1) + delta[..., 1]


def shifted_window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """Additive attention mask of a shifted block on a padded ``height × width`` grid.

    Returns ``[nW, w², w²]`` float32: 0 between tokens of the same region, -100 otherwise.
    """
    region = torch.zeros(height, width)
    bounds = ((0, -window), (-window, -shift), (-shift, None))
    label = 0
    for h0, h1 in bounds:
        for w0, w1 in bounds:
            region[slice(h0, h1), slice(w0, w1)] = label
            label += 1
    labels = window_partition(region[None, :, :, None], window).flatten(1)  # [nW, w²]
    different = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(different.shape).masked_fill_(different, REGION_MASK_VALUE)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """``[N,H,W,C] -> [N·nW, w, w, C]`` with windows in row-major order per image."""
    n, h, w, c = x.shape
    x = x.view(n, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """The inverse of ``window_partition``: ``[N·nW, w, w, C] -> [N,H,W,C]``."""
    c = windows.shape[-1]
    x = windows.view(-1, height // window, width // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, c)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside square windows, with a learned relative position bias."""

    def __init__(self, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        self.window = window
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads)
        )
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = Linear(dim, 3 * dim)
        self.proj = Linear(dim, dim)

    def position_bias(self) -> torch.Tensor:
        """``[heads, w², w²]`` bias added to the attention logits."""
        n = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, self.num_heads).permute(2, 0, 1)

    def forward(self, windows: torch.Tensor, mask: torch.Tensor, n: int) -> torch.Tensor:
        """``proj(attend(qkv(windows)))``: ``[N·nW, w², C] -> [N·nW, w², C]`` (``mask`` as in ``attend``)."""
        qkv = self.qkv(windows)
        return self.proj(self.attend(qkv.view(-1, qkv.shape[-1]), mask, n)).view(windows.shape)

    def attend(self, qkv_windows: torch.Tensor, mask: torch.Tensor, n: int) -> torch.Tensor:
        """Attention within windows, from projected tokens.

        Args:
            qkv_windows: ``[N·nW·w², 3C]`` projected queries, keys and values, window by window.
            mask: ``[heads, w², w²]`` or ``[nW, heads, w², w²]`` additive logits bias.
            n: number of images N.
        Returns:
            ``[N·nW·w², C]`` attention output before ``proj``, in the same slot order.
        """
        tokens = self.window * self.window
        three_c = qkv_windows.shape[-1]
        head_dim = three_c // (3 * self.num_heads)
        qkv = qkv_windows.view(-1, tokens, 3, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [N·nW, heads, w², hd]
        windows = q.shape[0]
        if mask.dim() == 4:
            # One mask per window: fold windows into the head axis so the [nW·heads] mask
            # broadcasts over images without copies and the attention stays a 4-D call.
            nw = windows // n
            q, k, v = (t.reshape(n, nw * self.num_heads, tokens, head_dim) for t in (q, k, v))
            mask = mask.reshape(nw * self.num_heads, tokens, tokens)
        # a 4-D mask lets torch pick its fused CPU kernel (a 3-D one falls back to the slow path)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[None].to(q.dtype))
        out = out.reshape(windows, self.num_heads, tokens, head_dim).transpose(1, 2)
        return out.reshape(-1, three_c // 3)


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))``: ``[..., C] -> [..., C]`` in the weight dtype."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = Linear(dim, hidden)
        self.fc2 = Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x, gelu=True))


class SwinBlock(FastPath, nn.Module):
    """One (shifted-)window transformer block on a ``[N,H,W,C]`` float32 token map:
    ``x + attn(norm1(x))``, then ``+ mlp(norm2(·))``."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.window = window
        self.shift = shift
        self.norm1 = LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(
        self, x: torch.Tensor, region_mask: torch.Tensor | None, layout: WindowLayout | None = None
    ) -> torch.Tensor:
        """``[N,H,W,C] -> [N,H,W,C]``. ``region_mask``: ``[nW, w², w²]`` (shifted blocks);
        ``layout``: this block's ``WindowLayout`` (the fast path's token moves)."""
        # in the attention's dtype and dense (a permuted mask is copied by every attention call);
        # the region mask's 0 and -100 are exact in every dtype, so adding in it loses nothing
        # where the logits count
        mask = self.attn.position_bias().to(self.attn.qkv.weight.dtype)
        if self.shift:
            mask = region_mask.to(mask.dtype)[:, None] + mask[None]  # [nW, heads, w², w²]
        mask = mask.contiguous()
        if self.fast:
            return self._forward_grouped(x, layout, mask)
        x = x + self._shifted_window_attention(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))

    def _shifted_window_attention(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The plain attention branch on normalised tokens: ``[N,H,W,C] -> [N,H,W,C]``."""
        n, h, w, c = x.shape
        win = self.window
        hp, wp = -(-h // win) * win, -(-w // win) * win
        x = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))  # zero tokens: their qkv is the bias, unmasked
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = self.attn(window_partition(x, win).view(-1, win * win, c), mask, n)
        x = window_reverse(windows.view(-1, win, win, c), win, hp, wp)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        return x[:, :h, :w]

    def _forward_grouped(self, x: torch.Tensor, layout: WindowLayout, mask: torch.Tensor) -> torch.Tensor:
        """The fast path: attention a few maps at a time (its temporaries are several times the
        token map), the MLP a few thousand tokens at a time, added in place, so the block's
        working memory stays a small fraction of the stage's."""
        n, h, w, c = x.shape
        itemsize = self.attn.qkv.weight.element_size()
        maps_per_group = max(1, WORKSPACE_BYTES // (layout.slots_per_image * 3 * c * itemsize))
        out = torch.empty_like(x)
        for start in range(0, n, maps_per_group):
            group = slice(start, start + maps_per_group)
            torch.add(x[group], self._gathered_window_attention(x[group], layout, mask), out=out[group])
        flat = out.view(-1, c)
        for rows in flat.split(max(1, WORKSPACE_BYTES // (self.mlp.fc1.out_features * itemsize))):
            rows.add_(self.mlp(self.norm2(rows)))
        return out

    def _gathered_window_attention(self, x: torch.Tensor, layout: WindowLayout, mask: torch.Tensor) -> torch.Tensor:
        """``_shifted_window_attention(norm1(x))`` by index: ``[N,H,W,C] -> [N,H,W,C]``."""
        n, h, w, c = x.shape
        qkv_layer = self.attn.qkv
        # Project the real tokens plus one zero row, which every padded slot then shares: padded
        # tokens are zeros after norm1, so their projection is exactly the qkv bias.
        tokens = self.norm1(x).view(-1, c).to(qkv_layer.weight.dtype)
        qkv = qkv_layer(torch.cat((tokens, tokens.new_zeros(1, c))))
        del tokens
        windows = qkv.index_select(0, layout.batched(layout.gather, n, h * w, pad=n * h * w))
        del qkv
        out = self.attn.attend(windows, mask, n)  # [N·nW·w², C]
        del windows
        out = out.index_select(0, layout.batched(layout.scatter, n, layout.slots_per_image))
        return self.attn.proj(out).view(n, h, w, c)  # proj is per token: only real tokens need it


class PatchMerging(nn.Module):
    """2×2 neighbourhood → one token: ``[N,H,W,C] -> [N,H/2,W/2,2C]`` (float32 out, pre-norm)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = Linear(4 * dim, 2 * dim, bias=False)
        self.norm = LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % 2 or x.shape[2] % 2:
            x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))
        # order (row, col): (0,0), (1,0), (0,1), (1,1)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x)).float()


class SwinStage(FastPath, nn.Module):
    def __init__(
        self, dim: int, depth: int, num_heads: int, window: int, mlp_ratio: float, merge: bool
    ) -> None:
        super().__init__()
        self.window = window
        self.shift = window // 2
        self.blocks = nn.ModuleList(
            SwinBlock(dim, num_heads, window, 0 if i % 2 == 0 else self.shift, mlp_ratio)
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim) if merge else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N,H,W,C] -> [N,H,W,C]`` (the stage output before patch merging)."""
        win, (h, w) = self.window, x.shape[1:3]
        hp, wp = -(-h // win) * win, -(-w // win) * win
        dtype = self.blocks[0].attn.qkv.weight.dtype
        region_mask = shifted_window_mask(hp, wp, win, self.shift).to(x.device, dtype)
        layouts = {}
        if self.fast:  # the token moves of both block kinds, computed once per stage
            layouts = {shift: WindowLayout(h, w, win, shift, x.device) for shift in (0, self.shift)}
        for block in self.blocks:
            x = block(x, region_mask, layouts.get(block.shift))
        return x


class PatchEmbed(nn.Module):
    def __init__(self, embed_dim: int, patch_size: int = 4) -> None:
        super().__init__()
        self.proj = Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N,3,H,W] -> [N,H/4,W/4,C]`` float32."""
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class SwinBackbone(nn.Module):
    """Swin encoder returning five feature maps ``[N,C_i,H_i,W_i]`` (float32).

    The hyper-parameters have no defaults here: BEN2 (``model.py``) owns them.
    """

    def __init__(
        self,
        embed_dim: int,
        depths: Sequence[int],
        num_heads: Sequence[int],
        window_size: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {tuple(depths)} and num_heads {tuple(num_heads)} differ in length")
        self.patch_embed = PatchEmbed(embed_dim)
        self.num_features = [embed_dim * 2**i for i in range(len(depths))]
        self.layers = nn.ModuleList(
            SwinStage(
                self.num_features[i],
                depths[i],
                num_heads[i],
                window_size,
                mlp_ratio,
                merge=i < len(depths) - 1,
            )
            for i in range(len(depths))
        )
        for i, dim in enumerate(self.num_features):
            self.add_module(f"norm{i}", LayerNorm(dim))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(x)
        maps = [x]
        for i, stage in enumerate(self.layers):
            x = stage(x)
            maps.append(getattr(self, f"norm{i}")(x))
            if stage.downsample is not None:
                x = stage.downsample(x)
        return [m.permute(0, 3, 1, 2) for m in maps]
