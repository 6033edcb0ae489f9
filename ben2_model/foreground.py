"""Foreground colour estimation ("colour decontamination"): remove the old background from edge pixels.

Given ``I = a·F + (1-a)·B``, recover ``F`` where ``0 < a < 1`` so that the cut-out can be put on a new
background without a halo of the old one.

* ``blur_fusion``: BEN2's ``refine_foreground`` (Forte & Pitié's fast blur-fusion estimator, two passes
  with box windows of 90 then 6 pixels), reproduced exactly in float64 and batched on any device.
* ``multilevel``: the multi-level foreground estimation of Germer et al. 2020, coarse-to-fine with
  red-black Gauss-Seidel sweeps of the local 2×2 least-squares problem.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .filters import area_resize, box_filter

__all__ = ["blur_fusion_foreground", "estimate_foreground", "multilevel_foreground"]


def _check_image_alpha(image: Tensor, alpha: Tensor) -> None:
    for name, t in (("image", image), ("alpha", alpha)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor in 0..1, got {t.dtype}; divide by 255 first")
    if image.ndim != 4 or image.shape[-1] != 3:
        raise ValueError(f"image must have shape [B,H,W,3], got {tuple(image.shape)}")
    if alpha.ndim != 3:
        raise ValueError(f"alpha must have shape [B,H,W], got {tuple(alpha.shape)}; squeeze a channel axis")
    if alpha.shape != image.shape[:3]:
        raise ValueError(f"alpha {tuple(alpha.shape)} must match the image's [B,H,W] {tuple(image.shape[:3])}")
    if image.shape[0] == 0:
        raise ValueError("empty batch: image has B = 0")


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    # half precision cannot hold the window sums; compute in float32 and convert back
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _blur_fusion_pass(image: Tensor, fg: Tensor, bg: Tensor, alpha: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """One blur-fusion step on ``[B,3,H,W]`` colours and ``[B,1,H,W]`` alpha; returns ``(F, blurred_B)``."""
    blurred_alpha = box_filter(alpha, k)
    blurred_f = box_filter(fg * alpha, k) / (blurred_alpha + 1e-5)
    blurred_b = box_filter(bg * (1 - alpha), k) / ((1 - blurred_alpha) + 1e-5)
    fg = blurred_f + alpha * (image - alpha * blurred_f - (1 - alpha) * blurred_b)
    return fg.clamp_(0, 1), blurred_b


def blur_fusion_foreground(image: Tensor, alpha: Tensor, *, radii: tuple[int, int] = (90, 6)) -> Tensor:
    """BEN2's ``refine_foreground`` foreground estimate, batched.

    Pass 1 uses ``F = B = image`` and a box window of ``radii[0]`` px; pass 2 uses pass 1's ``F`` and
    blurred ``B`` with ``radii[1]`` px. The box is ``cv2.blur(x, (k, k))`` (BORDER_REFLECT_101, even
    windows anchored at ``k//2``), so float64 inputs give the reference's numbers.

    Args:
        image: ``[B,H,W,3]`` in 0..1.
        alpha: ``[B,H,W]`` in 0..1.

    Returns:
        ``[B,H,W,3]`` foreground colours in 0..1, same dtype as ``image``.
    """
    _check_image_alpha(image, alpha)
    dtype = image.dtype
    work = _work_dtype(dtype)
    img = image.to(work).permute(0, 3, 1, 2)
    a = alpha.to(work).unsqueeze(1)
    fg, blurred_b = _blur_fusion_pass(img, img, img, a, radii[0])
    fg, _ = _blur_fusion_pass(img, fg, blurred_b, a, radii[1])
    return fg.permute(0, 2, 3, 1).to(dtype)


def _level_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """Geometric pyramid from 1×1 to h×w (Germer et al.'s schedule)."""
    n_levels = max(1, math.ceil(math.log2(max(h, w))))
    return [(max(1, round(h ** (i / n_levels))), max(1, round(w ** (i / n_levels)))) for i in range(n_levels + 1)]


def _neighbour_sums(alpha: Tensor, fg: Tensor, bg: Tensor, regularization: float, gradient_weight: float):
    """For every pixel: sum of the 4-neighbour weights and the weighted sums of their F and B.

    alpha ``[B,1,h,w]``, fg/bg ``[B,3,h,w]``; neighbours outside the image carry no weight.
    """
    h, w = alpha.shape[-2:]
    a_pad = F.pad(alpha, (1, 1, 1, 1), mode="replicate")
    f_pad = F.pad(fg, (1, 1, 1, 1), mode="replicate")
    b_pad = F.pad(bg, (1, 1, 1, 1), mode="replicate")
    weight_sum = torch.zeros_like(alpha)
    f_sum = torch.zeros_like(fg)
    b_sum = torch.zeros_like(bg)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        a_n = a_pad[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        wgt = regularization + gradient_weight * (alpha - a_n).abs()
        # zero weight for the replicated (outside) neighbours
        if dy == -1:
            wgt[..., 0, :] = 0
        elif dy == 1:
            wgt[..., h - 1, :] = 0
        elif dx == -1:
            wgt[..., :, 0] = 0
        else:
            wgt[..., :, w - 1] = 0
        weight_sum += wgt
        f_sum += wgt * f_pad[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        b_sum += wgt * b_pad[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return weight_sum, f_sum, b_sum


def _solve_fb(image: Tensor, alpha: Tensor, weight_sum: Tensor, f_sum: Tensor, b_sum: Tensor) -> tuple[Tensor, Tensor]:
    """Per-pixel 2×2 least squares: composite constraint + smoothness towards the neighbours."""
    a = alpha
    a00 = a * a + weight_sum
    a01 = a * (1 - a)
    a11 = (1 - a) * (1 - a) + weight_sum
    det = a00 * a11 - a01 * a01
    b0 = a * image + f_sum
    b1 = (1 - a) * image + b_sum
    fg = ((a11 * b0 - a01 * b1) / det).clamp_(0, 1)
    bg = ((a00 * b1 - a01 * b0) / det).clamp_(0, 1)
    return fg, bg


def multilevel_foreground(
    image: Tensor,
    alpha: Tensor,
    *,
    regularization: float = 1e-5,
    gradient_weight: float = 1.0,
    small_size: int = 32,
    small_iterations: int = 10,
    big_iterations: int = 2,
    return_background: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Multi-level foreground (and background) estimation, Germer et al. 2020.

    From 1×1 up to full size, each level starts from the enlarged previous ``F``/``B`` and runs a few
    red-black Gauss-Seidel sweeps of the per-pixel problem
    ``min |a F + (1-a) B - I|² + Σ_neighbours (ε + |∇a|)(|F - F_n|² + |B - B_n|²)``.
    Image and alpha are shrunk by area averaging (thin strands keep their mass at coarse levels).

    Args:
        image: ``[B,H,W,3]`` in 0..1.
        alpha: ``[B,H,W]`` in 0..1.

    Returns:
        ``[B,H,W,3]`` foreground (and the background too with ``return_background=True``), dtype of ``image``.
    """
    _check_image_alpha(image, alpha)
    dtype = image.dtype
    work = _work_dtype(dtype)
    img_full = image.to(work).permute(0, 3, 1, 2)
    a_full = alpha.to(work).unsqueeze(1).clamp(0, 1)
    h, w = a_full.shape[-2:]
    fg = bg = None
    for lh, lw in _level_sizes(h, w):
        img = area_resize(img_full, (lh, lw))
        a = area_resize(a_full, (lh, lw))
        if fg is None:
            fg = img.mean(dim=(2, 3), keepdim=True).expand(-1, -1, lh, lw).clone()
            bg = fg.clone()
        else:
            fg = F.interpolate(fg, size=(lh, lw), mode="nearest")
            bg = F.interpolate(bg, size=(lh, lw), mode="nearest")
        iterations = small_iterations if min(lh, lw) <= small_size else big_iterations
        yy = torch.arange(lh, device=img.device).view(-1, 1)
        xx = torch.arange(lw, device=img.device).view(1, -1)
        red = ((yy + xx) % 2 == 0).view(1, 1, lh, lw)
        for _ in range(iterations):
            for colour in (red, ~red):
                weight_sum, f_sum, b_sum = _neighbour_sums(a, fg, bg, regularization, gradient_weight)
                new_f, new_b = _solve_fb(img, a, weight_sum, f_sum, b_sum)
                fg = torch.where(colour, new_f, fg)
                bg = torch.where(colour, new_b, bg)
    fg = fg.permute(0, 2, 3, 1).to(dtype)
    if return_background:
        return fg, bg.permute(0, 2, 3, 1).to(dtype)
    return fg


def estimate_foreground(image: Tensor, alpha: Tensor, *, method: str = "blur_fusion") -> Tensor:
    """Foreground colours with the old background removed.

    Args:
        image: ``[B,H,W,3]`` float in 0..1 (any device; fp16/bf16 are computed in float32).
        alpha: ``[B,H,W]`` float in 0..1.
        method: ``"blur_fusion"`` (BEN2's ``refine_foreground``, exact in float64) or ``"multilevel"``
            (Germer et al. 2020; cleaner colours, more compute).

    Returns:
        ``[B,H,W,3]`` in 0..1, dtype of ``image``.
    """
    if method == "blur_fusion":
        return blur_fusion_foreground(image, alpha)
    if method == "multilevel":
        return multilevel_foreground(image, alpha)
    raise ValueError(f"method must be 'blur_fusion' or 'multilevel', got {method!r}")
