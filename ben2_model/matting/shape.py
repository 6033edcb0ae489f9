"""Mask shaping: grow or shrink a mask by a disk, soften its edge with a Gaussian.

Grey-scale morphology, so soft edges stay soft: growing by ``r`` is the maximum of the mask over
a disk of radius ``r`` around each pixel, shrinking is ``1 - grow(1 - mask)``. The disk is the
chamfer disk of ``confidence_trimap``'s band (``trimap.disk_half_widths``), so a grow and a band
of the same radius cover the same pixels. Pixels outside the image are ignored (a subject that
touches the frame does not shrink from the frame).

Each fast path has its plain twin here (``dilate_reference``, ``blur_reference``) and is tested
equal to it (``tests/unit/matting/test_shape.py``). The dilation is this module's own running
maximum: ``kornia.morphology.dilation`` unfolds every disk offset (``H*W*k²`` memory) and was
slower; the blur is ``kornia.filters.gaussian_blur2d``, faster than a plain convolution on the CPU
and equal to it. Figures in README ("Mask shaping").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .trimap import disk_half_widths

__all__ = ["blur_mask", "blur_reference", "dilate_reference", "gaussian_kernel", "grow_mask", "shape_mask"]


def _check(mask: Tensor, name: str, value: float, what: str) -> None:
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.ndim != 3:
        raise ValueError(f"mask must have shape [B,H,W], got {tuple(mask.shape)}; squeeze a channel axis")
    if not mask.is_floating_point():
        raise TypeError(f"mask must be a floating-point tensor in 0..1, got {mask.dtype}; divide by 255 first")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of pixels{what}, got {value}")


def _dilate_disk(mask: Tensor, radius: float) -> Tensor:
    """Grey-scale dilation of ``mask [B,H,W]`` (float32, values >= 0) by the chamfer disk of ``radius``.

    Algebra: ``out(y, x) = max_{|dy| <= R} max_{|dx| <= w[|dy|]} mask(y + dy, x + dx)`` with the
    disk's half-widths ``w``. The inner maximum of half-width ``h + 1`` is the 3-wide maximum of the
    one of half-width ``h``, so all rows' maxima come from ``w[0]`` 3-tap max-pools, and the outer
    maximum is one shifted ``max`` per disk row: O(R) passes instead of the O(R²) of a max over
    every disk offset. Zero stands for outside the image (masks are >= 0, so it never wins).
    """
    widths = disk_half_widths(radius)
    height = mask.shape[-2]
    rows = mask.unsqueeze(1)  # [B,1,H,W]: max_pool2d wants a channel axis
    out = rows.clone()
    half_width = 0
    # the disk's rows get narrower with |dy|: walk the half-widths up while walking dy down
    for dy in range(len(widths) - 1, -1, -1):
        while half_width < widths[dy]:
            rows = F.max_pool2d(rows, kernel_size=(1, 3), stride=1, padding=(0, 1))
            half_width += 1
        if dy == 0:
            torch.maximum(out, rows, out=out)
        elif dy < height:
            torch.maximum(out[:, :, dy:], rows[:, :, :-dy], out=out[:, :, dy:])
            torch.maximum(out[:, :, :-dy], rows[:, :, dy:], out=out[:, :, :-dy])
    return out.squeeze(1)


def dilate_reference(mask: Tensor, radius: float) -> Tensor:
    """Plain twin of the fast dilation: the maximum over every offset of the chamfer disk, each
    offset one shifted slice. O(R²) passes. ``[B,H,W]`` (values >= 0) -> ``[B,H,W]`` float32."""
    widths = disk_half_widths(radius)
    reach, half = len(widths) - 1, widths[0]
    height, width = mask.shape[-2:]
    padded = F.pad(mask.float(), (half, half, reach, reach))  # zero = outside the image
    out = torch.zeros_like(mask, dtype=torch.float32)
    for dy in range(-reach, reach + 1):
        for dx in range(-widths[abs(dy)], widths[abs(dy)] + 1):
            window = padded[:, reach + dy : reach + dy + height, half + dx : half + dx + width]
            out = torch.maximum(out, window)
    return out


def grow_mask(mask: Tensor, pixels: float) -> Tensor:
    """Grow (``pixels > 0``) or shrink (``pixels < 0``) a mask by a disk of ``|pixels|`` pixels.

    Args:
        mask: ``[B,H,W]`` float in 0..1 (any float dtype and device).
        pixels: disk radius in pixels of this image; ``|pixels| < 1`` changes nothing.

    Returns:
        ``[B,H,W]`` of ``mask``'s dtype, in 0..1.
    """
    _check(mask, "pixels", pixels, "")
    if abs(pixels) < 1.0:
        return mask.clamp(0.0, 1.0)
    work = mask.float().clamp(0.0, 1.0)
    if pixels > 0:
        out = _dilate_disk(work, pixels)
    else:
        out = 1.0 - _dilate_disk(1.0 - work, -pixels)
    return out.to(mask.dtype)


def gaussian_kernel(radius: float, *, device: torch.device | None = None) -> Tensor:
    """1-d Gaussian ``[2 * ceil(radius) + 1]`` (float32) of sigma ``radius / 3``, summing to 1.

    The kernel reaches ``radius`` pixels (3 sigma, 99.7% of the weight): the edge goes soft over
    about ``radius`` pixels on each side.
    """
    reach = math.ceil(radius)
    sigma = radius / 3.0
    offsets = torch.arange(-reach, reach + 1, device=device, dtype=torch.float32)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def blur_mask(mask: Tensor, pixels: float) -> Tensor:
    """Soften a mask with a Gaussian that reaches ``pixels`` pixels (sigma ``pixels / 3``).

    ``kornia.filters.gaussian_blur2d`` with ``gaussian_kernel(pixels)``'s size and sigma, border
    repeating the edge pixel (a subject that touches the frame stays opaque there). It equals the
    separable convolution of ``blur_reference`` and is several times faster on the CPU (README,
    "Mask shaping"); on CUDA it is that convolution.

    Args:
        mask: ``[B,H,W]`` float in 0..1 (any float dtype and device).
        pixels: reach of the blur in pixels of this image (``>= 0``; below 0.5 changes nothing).

    Returns:
        ``[B,H,W]`` of ``mask``'s dtype, in 0..1 (a weighted mean of values in 0..1).
    """
    _check_blur(mask, pixels)
    if pixels < 0.5:
        return mask.clamp(0.0, 1.0)
    from kornia.filters import gaussian_blur2d  # imported on first use: importing kornia takes seconds

    size = 2 * math.ceil(pixels) + 1
    sigma = pixels / 3.0
    x = mask.float().clamp(0.0, 1.0).unsqueeze(1)  # [B,1,H,W]
    out = gaussian_blur2d(x, (size, size), (sigma, sigma), border_type="replicate", separable=True)
    return out.squeeze(1).clamp_(0.0, 1.0).to(mask.dtype)


def blur_reference(mask: Tensor, pixels: float) -> Tensor:
    """Plain twin of ``blur_mask``: replicate-pad, then a horizontal and a vertical ``conv2d`` with
    ``gaussian_kernel(pixels)``. ``[B,H,W]`` -> ``[B,H,W]`` of ``mask``'s dtype."""
    _check_blur(mask, pixels)
    if pixels < 0.5:
        return mask.clamp(0.0, 1.0)
    kernel = gaussian_kernel(pixels, device=mask.device)
    reach = kernel.numel() // 2
    x = mask.float().clamp(0.0, 1.0).unsqueeze(1)
    x = F.conv2d(F.pad(x, (reach, reach, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, reach, reach), mode="replicate"), kernel.view(1, 1, -1, 1))
    return x.squeeze(1).clamp_(0.0, 1.0).to(mask.dtype)


def _check_blur(mask: Tensor, pixels: float) -> None:
    _check(mask, "pixels", pixels, " >= 0")
    if pixels < 0:
        raise ValueError(f"pixels must be a finite number of pixels >= 0, got {pixels}")


def shape_mask(mask: Tensor, *, grow: float = 0.0, blur: float = 0.0) -> Tensor:
    """Grow (or shrink) then blur a mask, with both amounts at the network's 1024-px scale.

    Amounts are scaled by ``max(H, W) / 1024`` like ``confidence_trimap``'s band, so a setting
    does the same to a 512-px preview and its 4K original.

    Args:
        mask: ``[B,H,W]`` float in 0..1 (any float dtype and device).
        grow: disk radius in pixels at 1024-px scale; negative shrinks; 0 leaves the mask as it is.
        blur: Gaussian reach in pixels at 1024-px scale (``>= 0``); 0 leaves the mask as it is.

    Returns:
        ``[B,H,W]`` of ``mask``'s dtype, in 0..1; a clamped copy of ``mask`` when both are 0.
    """
    _check(mask, "grow", grow, "")
    _check(mask, "blur", blur, " >= 0")
    if blur < 0:
        raise ValueError(f"blur must be a finite number of pixels >= 0, got {blur}")
    scale = max(mask.shape[-2:]) / 1024.0
    out = mask
    if grow != 0:
        out = grow_mask(out, grow * scale)
    if blur != 0:
        out = blur_mask(out, blur * scale)
    return out.clamp(0.0, 1.0) if out is mask else out
