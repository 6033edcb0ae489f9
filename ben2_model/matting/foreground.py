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

from ..checks import check_choice, check_image, check_mask, compute_dtype
from .filters import box_filter

__all__ = ["METHODS", "blur_fusion_foreground", "estimate_foreground", "multilevel_foreground"]

METHODS = ("blur_fusion", "multilevel")


def _check_image_alpha(image: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    """``(image [B,H,W,3], alpha [B,H,W])`` checked (``ben2_model.checks``: finite, clamped to 0..1)."""
    image = check_image(image, "image")
    return image, check_mask(alpha, "alpha", like=image)


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
    image, alpha = _check_image_alpha(image, alpha)
    dtype = image.dtype
    work = compute_dtype(dtype)
    img = image.to(work).permute(0, 3, 1, 2)
    a = alpha.to(work).unsqueeze(1)
    fg, blurred_b = _blur_fusion_pass(img, img, img, a, radii[0])
    fg, _ = _blur_fusion_pass(img, fg, blurred_b, a, radii[1])
    return fg.permute(0, 2, 3, 1).to(dtype)


def _level_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """Geometric pyramid from 1×1 to h×w (Germer et al.'s schedule)."""
    n_levels = max(1, math.ceil(math.log2(max(h, w))))
    return [(max(1, round(h ** (i / n_levels))), max(1, round(w ** (i / n_levels)))) for i in range(n_levels + 1)]


def _edge_weights(alpha: Tensor, regularization: float, gradient_weight: float) -> tuple[Tensor, Tensor, Tensor]:
    """Smoothness weights between 4-neighbours, ``ε + g·|a_p - a_q|``, for ``alpha [B,1,h,w]``.

    Returns ``(vertical [B,1,h-1,w], horizontal [B,1,h,w-1], per-pixel sum [B,1,h,w])``; pixels on
    the border simply have fewer neighbours.
    """
    vertical = (alpha[..., 1:, :] - alpha[..., :-1, :]).abs_().mul_(gradient_weight).add_(regularization)
    horizontal = (alpha[..., :, 1:] - alpha[..., :, :-1]).abs_().mul_(gradient_weight).add_(regularization)
    total = torch.zeros_like(alpha)
    total[..., 1:, :] += vertical
    total[..., :-1, :] += vertical
    total[..., :, 1:] += horizontal
    total[..., :, :-1] += horizontal
    return vertical, horizontal, total


def _neighbour_sum(values: Tensor, vertical: Tensor, horizontal: Tensor) -> Tensor:
    """``Σ_q w_pq · values_q`` over the 4-neighbours q of every pixel p (``values [B,C,h,w]``)."""
    out = torch.zeros_like(values)
    out[..., 1:, :] += vertical * values[..., :-1, :]
    out[..., :-1, :] += vertical * values[..., 1:, :]
    out[..., :, 1:] += horizontal * values[..., :, :-1]
    out[..., :, :-1] += horizontal * values[..., :, 1:]
    return out


def _bilinear_rows(small: Tensor, y0: int, y1: int, size: tuple[int, int]) -> Tensor:
    """Rows ``y0:y1`` of ``F.interpolate(small, size, mode="bilinear", align_corners=False)``
    without enlarging the whole tensor (``small [B,C,h,w]`` -> ``[B,C,y1-y0,W]``)."""
    h_small = small.shape[-2]
    y = (torch.arange(y0, y1, device=small.device, dtype=torch.float32) + 0.5) * (h_small / size[0]) - 0.5
    y = y.clamp_(min=0)
    top = y.floor().long().clamp_(max=h_small - 1)
    bottom = (top + 1).clamp_(max=h_small - 1)
    frac = (y - top).to(small.dtype).view(1, 1, -1, 1)
    rows = small.index_select(2, top)
    rows = rows.add_(small.index_select(2, bottom).sub_(rows).mul_(frac))
    return F.interpolate(rows, size=(y1 - y0, size[1]), mode="bilinear", align_corners=False)


def _final_solve(
    image: Tensor,
    alpha: Tensor,
    fg_bg: Tensor,
    regularization: float,
    gradient_weight: float,
    out: Tensor,
    *,
    background: bool = False,
) -> Tensor:
    """Full-size foreground from a smaller estimate: one per-pixel solve of the multilevel problem
    with the bilinearly enlarged ``F``/``B`` standing in for the neighbours.

    Works in strips of rows, so besides ``out`` only a strip's worth of temporaries is allocated.
    With ``background=True`` it solves for ``B`` instead (the same problem, layers swapped).

    Shapes: image ``[B,3,H,W]``, alpha ``[B,1,H,W]``, fg_bg ``[B,6,h,w]`` (F then B),
    out ``[B,3,H,W]`` (any strides, e.g. a permuted ``[B,H,W,3]``), filled and returned.
    """
    h, w = image.shape[-2:]
    step = max(8, (1 << 19) // max(1, w))
    for y0 in range(0, h, step):
        y1 = min(h, y0 + step)
        e0, e1 = max(0, y0 - 1), min(h, y1 + 1)  # one more row each side for the edge weights
        a_ext = alpha[..., e0:e1, :]
        if background:
            a_ext = 1 - a_ext
        weight = _edge_weights(a_ext, regularization, gradient_weight)[2][..., y0 - e0 : y1 - e0, :]
        weight = weight.add_(regularization)
        a = a_ext[..., y0 - e0 : y1 - e0, :]
        prior = _bilinear_rows(fg_bg, y0, y1, (h, w))
        own, other = (prior[:, 3:], prior[:, :3]) if background else (prior[:, :3], prior[:, 3:])
        a01 = a * (1 - a)
        a11 = (1 - a).square_().add_(weight)
        inv_det = (a * a + weight).mul_(a11).sub_(a01 * a01).reciprocal_()
        # F = inv_det·(a11·(a·I + W·F₀) - a01·((1-a)·I + W·B₀)), with the one-plane factors first
        coef_image = (a11 * a).sub_(a01 * (1 - a)).mul_(inv_det)
        coef_own = (a11 * weight).mul_(inv_det)
        coef_other = (a01 * weight).mul_(inv_det).neg_()
        result = (coef_image * image[..., y0:y1, :]).addcmul_(coef_own, own).addcmul_(coef_other, other)
        out[..., y0:y1, :] = result.clamp_(0, 1)
    return out


def _level_system(
    a: Tensor, regularization: float, gradient_weight: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The per-pixel 2×2 system of one level (or strip of rows) for ``a [B,1,h,w]``:
    ``(vertical, horizontal, 1-a, a(1-a), a²+W, (1-a)²+W, 1/det)``."""
    vertical, horizontal, weight_sum = _edge_weights(a, regularization, gradient_weight)
    weight_sum.add_(regularization)
    one_minus_a = 1 - a
    a01 = a * one_minus_a
    a00 = (a * a).add_(weight_sum)
    a11 = (one_minus_a * one_minus_a).add_(weight_sum)
    inv_det = (a00 * a11).sub_(a01 * a01).reciprocal_()
    return vertical, horizontal, one_minus_a, a01, a00, a11, inv_det


def _sweep_level(
    img: Tensor, a: Tensor, fb: Tensor, iterations: int, regularization: float, gradient_weight: float
) -> None:
    """``iterations`` red-black Gauss-Seidel sweeps of one pyramid level, updating ``fb`` in place.

    Per level the 2×2 system ``[a²+W, a(1-a); a(1-a), (1-a)²+W] (F, B) = (a I + ΣwF, (1-a) I + ΣwB)``
    only changes in its right-hand side; the current estimate joins as one more neighbour of weight ε,
    so the system stays solvable where a pixel has no neighbours (the 1×1 level). The colour channels
    are independent systems and are updated one at a time.

    Large levels are swept in strips of rows (one row of context each side): a half-sweep updates
    the pixels of one colour from their own value and their neighbours of the other colour only, so
    strip by strip gives exactly the whole-level result, with strip-sized temporaries instead of
    about a dozen level-size planes (the system is recomputed per strip and half-sweep).

    Shapes: img ``[B,3,h,w]``, a ``[B,1,h,w]``, fb ``[B,6,h,w]`` (F then B).
    """
    lh, lw = a.shape[-2:]
    step = max(8, (1 << 18) // max(1, lw))
    whole = _level_system(a, regularization, gradient_weight) if lh <= step else None
    xx = torch.arange(lw, device=img.device).view(1, -1)
    for _ in range(iterations):
        for parity in (0, 1):  # red-black Gauss-Seidel: each half sees the other's update
            for y0 in range(0, lh, step):
                y1 = min(lh, y0 + step)
                e0, e1 = max(0, y0 - 1), min(lh, y1 + 1)
                a_ext = a[..., e0:e1, :]
                system = whole if whole is not None else _level_system(a_ext, regularization, gradient_weight)
                vertical, horizontal, one_minus_a, a01, a00, a11, inv_det = system
                yy = torch.arange(e0, e1, device=img.device).view(-1, 1)
                colour = ((yy + xx) % 2 == parity).view(1, 1, e1 - e0, lw)[..., y0 - e0 : y1 - e0, :]
                for c in range(3):
                    f, b = fb[:, c : c + 1, e0:e1], fb[:, 3 + c : 4 + c, e0:e1]
                    image_c = img[:, c : c + 1, e0:e1]
                    b0 = _neighbour_sum(f, vertical, horizontal).add_(f, alpha=regularization)
                    b0.addcmul_(a_ext, image_c)
                    b1 = _neighbour_sum(b, vertical, horizontal).add_(b, alpha=regularization)
                    b1.addcmul_(one_minus_a, image_c)
                    new_f = (a11 * b0).sub_(a01 * b1).mul_(inv_det).clamp_(0, 1)
                    new_b = b1.mul_(a00).sub_(b0.mul_(a01)).mul_(inv_det).clamp_(0, 1)
                    del b0, b1
                    rows = slice(y0 - e0, y1 - e0)
                    f, b = f[..., rows, :], b[..., rows, :]
                    f.copy_(torch.where(colour, new_f[..., rows, :], f))
                    b.copy_(torch.where(colour, new_b[..., rows, :], b))
                    del new_f, new_b


def _multilevel(
    img_full: Tensor,
    a_full: Tensor,
    *,
    regularization: float,
    gradient_weight: float,
    small_size: int,
    small_iterations: int,
    big_iterations: int,
    max_side: int | None,
    return_background: bool,
) -> tuple[Tensor, Tensor | None]:
    """The multilevel solve on ``img_full [B,3,H,W]`` and ``a_full [B,1,H,W]`` (in 0..1, float).

    Returns ``(F [B,H,W,3], B [B,H,W,3] or None)``; F is a permuted view of a fresh ``[B,H,W,3]``.
    """
    bsz = img_full.shape[0]
    h, w = a_full.shape[-2:]
    levels = _level_sizes(h, w)
    if max_side is not None and max(h, w) > max_side:
        levels = [size for size in levels if max(size) <= max_side]
    # The pyramid's inputs, each sampled from the next larger level (reading the full image once).
    # Nearest sampling, not area averaging: every coarse pixel stays a real (I, alpha) pair that
    # obeys I = aF + (1-a)B; averaging mixes colours and alphas of different pixels, which biases
    # F (benchmark F error 5.0 with averaging vs 4.5 with sampling, same alpha).
    inputs = []
    larger = None
    for size in reversed(levels):
        if larger is None and size == (h, w):
            inputs.append((img_full, a_full))  # the full-size level reads the inputs themselves
            continue
        if larger is None:  # sample image and alpha separately: no full-size 4-channel copy
            larger = torch.cat([F.interpolate(t, size=size, mode="nearest") for t in (img_full, a_full)], dim=1)
        elif tuple(larger.shape[-2:]) != size:
            larger = F.interpolate(larger, size=size, mode="nearest")
        inputs.append((larger[:, :3], larger[:, 3:]))
    del larger
    inputs.reverse()
    fb = None
    for (lh, lw), (img, a) in zip(levels, inputs):
        if fb is None:
            fb = img.mean(dim=(2, 3), keepdim=True).repeat(1, 2, lh, lw)
        else:
            fb = F.interpolate(fb, size=(lh, lw), mode="nearest")
        iterations = small_iterations if min(lh, lw) <= small_size else big_iterations
        _sweep_level(img, a, fb, iterations, regularization, gradient_weight)
    inputs.clear()
    del img, a
    dtype = img_full.dtype
    fg = torch.empty(bsz, h, w, 3, dtype=dtype, device=img_full.device)
    bg = None
    if fb.shape[-2:] != (h, w):
        _final_solve(img_full, a_full, fb, regularization, gradient_weight, fg.permute(0, 3, 1, 2))
        if return_background:
            bg = torch.empty_like(fg)
            _final_solve(
                img_full, a_full, fb, regularization, gradient_weight, bg.permute(0, 3, 1, 2), background=True
            )
    else:
        fg.permute(0, 3, 1, 2).copy_(fb[:, :3])
        if return_background:
            bg = torch.empty_like(fg)
            bg.permute(0, 3, 1, 2).copy_(fb[:, 3:])
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
    max_side: int | None = None,
    return_background: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Multi-level foreground (and background) estimation, Germer et al. 2020.

    From 1×1 up to full size, each level starts from the enlarged previous ``F``/``B`` and runs a few
    red-black Gauss-Seidel sweeps of the per-pixel problem
    ``min |a F + (1-a) B - I|² + Σ_neighbours (ε + |∇a|)(|F - F_n|² + |B - B_n|²)``.
    Image and alpha are sampled (nearest) per level, as in the paper.
    With ``max_side``, the pyramid stops at that size and the full-size colours come from one
    per-pixel solve with the enlarged estimate as the smoothness prior (much cheaper on 4K images,
    and done in strips of rows: besides the output only a few full-size planes are allocated).

    Args:
        image: ``[B,H,W,3]`` in 0..1.
        alpha: ``[B,H,W]`` in 0..1.

    Returns:
        ``[B,H,W,3]`` foreground (and the background too with ``return_background=True``), dtype of ``image``.
    """
    image, alpha = _check_image_alpha(image, alpha)
    dtype = image.dtype
    work = compute_dtype(dtype)
    fg, bg = _multilevel(
        image.to(work).permute(0, 3, 1, 2),
        alpha.to(work).unsqueeze(1).clamp(0, 1),
        regularization=regularization,
        gradient_weight=gradient_weight,
        small_size=small_size,
        small_iterations=small_iterations,
        big_iterations=big_iterations,
        max_side=max_side,
        return_background=return_background,
    )
    if return_background:
        return fg.to(dtype), bg.to(dtype)
    return fg.to(dtype)


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
    check_choice(method, "method", METHODS)
    if method == "blur_fusion":
        return blur_fusion_foreground(image, alpha)
    return multilevel_foreground(image, alpha)
