"""Put a cut-out on a new background (straight, non-premultiplied alpha)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_choice, check_image, check_mask, check_same_size, compute_dtype

__all__ = ["FITS", "composite", "fit_background"]

FITS = ("stretch", "cover", "contain", "center")


def fit_background(background: Tensor, size: tuple[int, int], *, fit: str = "stretch") -> Tensor:
    """Fit ``background [N,h,w,3]`` to ``size = (H, W)``.

    * ``stretch``: resize to H×W (aspect ratio not kept);
    * ``cover``: scale to cover H×W keeping the aspect ratio, centre-crop the overflow;
    * ``contain``: scale to fit inside H×W keeping the aspect ratio, centred; the rest is black;
    * ``center``: no scaling; centre-crop or pad with black.

    Returns:
        ``[N,H,W,3]`` of ``background``'s dtype.
    """
    check_choice(fit, "fit", FITS)
    out_h, out_w = size
    n, h, w, c = background.shape
    if (h, w) == (out_h, out_w):
        return background
    bchw = background.permute(0, 3, 1, 2)
    dtype = bchw.dtype
    bchw = bchw.to(compute_dtype(dtype))

    def resize(t: Tensor, rh: int, rw: int) -> Tensor:
        if (rh, rw) == tuple(t.shape[-2:]):
            return t
        antialias = rh < t.shape[-2] or rw < t.shape[-1]
        return F.interpolate(t, size=(rh, rw), mode="bilinear", align_corners=False, antialias=antialias)

    if fit == "stretch":
        out = resize(bchw, out_h, out_w)
    else:
        if fit == "cover":
            scale = max(out_h / h, out_w / w)
        elif fit == "contain":
            scale = min(out_h / h, out_w / w)
        else:
            scale = 1.0
        rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
        scaled = resize(bchw, rh, rw)
        out = bchw.new_zeros((n, c, out_h, out_w))
        # overlap of the centred scaled image with the canvas, in both coordinate frames
        top, left = (out_h - rh) // 2, (out_w - rw) // 2
        y0, x0 = max(0, top), max(0, left)
        y1, x1 = min(out_h, top + rh), min(out_w, left + rw)
        out[:, :, y0:y1, x0:x1] = scaled[:, :, y0 - top : y1 - top, x0 - left : x1 - left]
    return out.to(dtype).permute(0, 2, 3, 1)


def composite(
    foreground: Tensor,
    alpha: Tensor,
    background: Tensor | Sequence[float],
    *,
    fit: str = "stretch",
) -> Tensor:
    """Composite ``alpha·F + (1 - alpha)·background``.

    Args:
        foreground: ``[B,H,W,3]`` float in 0..1 (straight colours, e.g. from ``estimate_foreground``).
        alpha: ``[B,H,W]`` float in 0..1. Image and alpha values outside 0..1 are clamped, NaN/inf
            refused (``ben2_model.checks.unit_range``), so the result is in 0..1.
        background: an image batch ``[B or 1,h,w,3]`` (any size; fitted with ``fit``) or an RGB colour
            ``(r, g, b)`` of floats in 0..1 (also a tensor of shape ``[3]``).
        fit: ``"stretch"``, ``"cover"``, ``"contain"`` or ``"center"`` for backgrounds of another size.

    Batches broadcast 1↔N: a single foreground/alpha goes on N backgrounds and vice versa.

    Returns:
        ``[N,H,W,3]`` with N the larger batch, dtype of ``foreground``.
    """
    foreground = check_image(foreground, "foreground")
    alpha = check_mask(alpha, "alpha")
    check_same_size(alpha, "alpha", foreground, "foreground")
    check_choice(fit, "fit", FITS)
    _, h, w, _ = foreground.shape
    n_fg, n_alpha = foreground.shape[0], alpha.shape[0]
    dtype, device = foreground.dtype, foreground.device

    if isinstance(background, Tensor) and background.ndim == 4:
        # any size (a 1x1 image is a colour): fitted to the foreground
        background = check_image(background, "background")
        bg = fit_background(background.to(device=device, dtype=dtype), (h, w), fit=fit)
    else:
        try:
            colour = torch.as_tensor(background, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError):
            colour = torch.empty(0)
        if colour.numel() != 3 or not bool(((colour >= 0) & (colour <= 1)).all()):
            raise ValueError(
                f"background must be an image batch [B,h,w,3] or an RGB colour of 3 floats in 0..1, got {background!r}"
            )
        bg = colour.to(device=device, dtype=dtype).view(1, 1, 1, 3)
    n_bg = bg.shape[0]
    batches = {n_fg, n_alpha, n_bg} - {1}
    if len(batches) > 1:
        raise ValueError(
            f"batch sizes do not broadcast: foreground {n_fg}, alpha {n_alpha}, background "
            f"{n_bg}; use equal sizes or 1"
        )
    a = alpha.to(device=device, dtype=dtype).unsqueeze(-1)
    # a·F + (1-a)·B (not B + a·(F-B)): exactly F where a = 1 and exactly B where a = 0
    return a * foreground + (1 - a) * bg
