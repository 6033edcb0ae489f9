"""Confidence trimap: where is the network unsure?

BEN2's *confidence guided matting*: pixels whose alpha is neither clearly 0 nor clearly 1 are
"unknown", and so is a band around them, because the network sees every image squashed to 1024²
and its edges can be off by a few of those pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_mask, check_number

__all__ = ["DEFAULT_BAND", "DEFAULT_HIGH", "DEFAULT_LOW", "confidence_trimap", "disk_half_widths"]

# The defaults of confidence_trimap, read by the nodes' widgets too.
DEFAULT_LOW, DEFAULT_HIGH, DEFAULT_BAND = 0.05, 0.95, 6.0

# Weights of the 5×5 chamfer metric (horizontal step, diagonal step, knight's move) that
# OpenCV's distanceTransform(DIST_L2, 5) uses: the benchmark draws its band with it, and the
# resulting "disk" differs from the Euclidean one only on a few rim pixels.
_CHAMFER_STEP, _CHAMFER_DIAGONAL, _CHAMFER_KNIGHT = 1.0, 1.4, 2.1969


def _chamfer_norm(dx: int, dy: int) -> float:
    x, y = max(abs(dx), abs(dy)), min(abs(dx), abs(dy))
    knights = min(y, x - y)  # a knight's move is cheaper than a straight + a diagonal step
    return _CHAMFER_STEP * (x - y - knights) + _CHAMFER_DIAGONAL * (y - knights) + _CHAMFER_KNIGHT * knights


def disk_half_widths(radius: float) -> list[int]:
    """Half-widths ``w[|dy|]`` of the disk ``{(dx, dy): chamfer(dx, dy) <= radius}``, for |dy| = 0..R."""
    widths = []
    dy = 0
    while _chamfer_norm(0, dy) <= radius:
        dx = 0
        while _chamfer_norm(dx + 1, dy) <= radius:
            dx += 1
        widths.append(dx)
        dy += 1
    return widths


def _left_distance(seed: Tensor) -> Tensor:
    """Distance ``[B,H,W]`` (int32) from each pixel to the nearest seed at or left of it in its row."""
    w = seed.shape[-1]
    idx = torch.arange(w, device=seed.device, dtype=torch.int32).expand_as(seed)
    never = torch.tensor(-(2**30), device=seed.device, dtype=torch.int32)
    return idx - torch.where(seed, idx, never).cummax(dim=-1).values


def _row_distance(seed: Tensor, cap: int) -> Tensor:
    """Horizontal distance ``[B,H,W]`` from each pixel to the nearest seed in its row, capped at ``cap``."""
    left = _left_distance(seed)
    right = _left_distance(seed.flip(-1)).flip(-1)
    small = torch.uint8 if cap <= 255 else torch.int32
    return torch.minimum(left, right).clamp_(max=cap).to(small)


def _dilate_disk(seed: Tensor, radius: float) -> Tensor:
    """Binary dilation of ``seed [B,H,W]`` (bool) by the chamfer disk of ``radius`` pixels."""
    widths = disk_half_widths(radius)
    reach = len(widths) - 1
    h, w = seed.shape[-2:]
    rows = torch.nonzero(seed.any(dim=2).any(dim=0)).flatten()
    if rows.numel() == 0:
        return torch.zeros_like(seed)
    cols = torch.nonzero(seed.any(dim=1).any(dim=0)).flatten()
    # only the seeds' bounding box grown by the disk can change: work on that crop
    y0, y1 = max(0, int(rows[0]) - reach), min(h, int(rows[-1]) + reach + 1)
    x0, x1 = max(0, int(cols[0]) - widths[0]), min(w, int(cols[-1]) + widths[0] + 1)
    crop = seed[:, y0:y1, x0:x1]
    row_dist = _row_distance(crop, widths[0] + 1)
    ch = crop.shape[-2]
    near = row_dist <= widths[0]
    grown = near.clone()
    # a pixel is inside when some row dy away has a seed within that row's half-width
    for dy in range(1, min(reach, ch - 1) + 1):
        if widths[dy] != widths[dy - 1]:
            near = row_dist <= widths[dy]
        grown[:, dy:] |= near[:, : ch - dy]
        grown[:, : ch - dy] |= near[:, dy:]
    out = torch.zeros_like(seed)
    out[:, y0:y1, x0:x1] = grown
    return out


def confidence_trimap(
    alpha: Tensor, *, low: float = DEFAULT_LOW, high: float = DEFAULT_HIGH, band: float = DEFAULT_BAND
) -> Tensor:
    """Trimap of where a coarse alpha is unsure.

    unknown (0.5) = pixels with ``low < alpha < high``, dilated by a disk of
    ``max(1, band * max(H, W) / 1024)`` pixels (the band is given at the network's 1024-px scale);
    elsewhere 1 where ``alpha >= 0.5`` and 0 otherwise. The disk follows OpenCV's 5×5 chamfer
    distance, as the matting benchmark does.

    Args:
        alpha: ``[B,H,W]`` float in 0..1 (any float dtype and device; outside 0..1 clamped, NaN refused).
        low, high: confidence thresholds (``0 <= low < high <= 1``).
        band: dilation radius in pixels at 1024-px scale (``>= 0``; 0 still dilates by 1 px).

    Returns:
        ``[B,H,W]`` tensor of ``alpha``'s dtype with values 0, 0.5 and 1.
    """
    alpha = check_mask(alpha, "alpha")
    low = check_number(low, "low", low=0.0, high=1.0)
    high = check_number(high, "high", low=0.0, high=1.0)
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high}): alpha between them is the unsure band")
    band = check_number(band, "band", low=0.0)
    h, w = alpha.shape[-2:]
    # beyond 3·max(H, W) a disk already covers the whole image from any seed: same result, bounded work
    radius = min(max(1.0, band * max(h, w) / 1024.0), 3.0 * max(h, w))
    unsure = (alpha > low) & (alpha < high)
    unknown = _dilate_disk(unsure, radius)
    trimap = (alpha >= 0.5).to(alpha.dtype)
    return trimap.masked_fill_(unknown, 0.5)
