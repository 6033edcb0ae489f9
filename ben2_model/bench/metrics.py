"""Alpha-matting and foreground-colour error metrics (numpy, float64 where it matters).

Alpha metrics after Rhemann et al. 2009 (alphamatting.com), in the form the Deep Image Matting
evaluation made common:

* SAD  = Σ|a - gt| / 1000
* MSE  = mean (a - gt)²
* Grad = Σ (|∇a| - |∇gt|)² / 1000, first-order Gaussian derivative filters, σ = 1.4
* Conn = Σ |φ(a) - φ(gt)| / 1000, connectivity with threshold step 0.1 and θ = 0.15

each over a region: the trimap's unknown band (``unk``) or the whole image (``all``).
Foreground metrics: ``fg_mse`` = Σ gt·mean_c(F - F_gt)² / Σ gt (F is undefined where gt = 0) and
``comp_mse`` = the error of the composite on pure green and pure magenta (the halo a user sees).
Predictions are quantised to 8 bits first, as the product ships 8-bit files.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["NEW_BACKGROUNDS", "connected_components_largest", "evaluate", "gradient_magnitude", "quantize8"]

NEW_BACKGROUNDS = {"green": (0.0, 1.0, 0.0), "magenta": (1.0, 0.0, 1.0)}


def quantize8(x: np.ndarray) -> np.ndarray:
    """Round to the nearest of the 256 levels of an 8-bit file (float32 result in 0..1)."""
    return np.round(np.clip(x, 0, 1) * 255).astype(np.float32) / 255


def _gaussian_derivative_kernels(sigma: float = 1.4, tail: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """1-D Gaussian and its derivative, cut where the Gaussian falls below ``tail`` of its peak
    scale, normalised so that the 2-D derivative kernel has unit L2 norm."""
    half = int(math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * tail))))
    x = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    deriv = -x * gauss / sigma**2
    norm = math.sqrt(float(np.sum(np.outer(gauss, deriv) ** 2)))
    return gauss / math.sqrt(norm), deriv / math.sqrt(norm)


_GAUSS, _DERIV = _gaussian_derivative_kernels()


def gradient_magnitude(a: np.ndarray) -> np.ndarray:
    """|∇a| of an ``[H,W]`` map with σ = 1.4 Gaussian derivatives (edge pixels replicated), float64."""
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))[None, None]
    half = len(_GAUSS) // 2
    t = F.pad(t, (half, half, half, half), mode="replicate")
    g = torch.from_numpy(_GAUSS)
    d = torch.from_numpy(_DERIV)
    gx = F.conv2d(F.conv2d(t, d.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    gy = F.conv2d(F.conv2d(t, g.view(1, 1, 1, -1)), d.view(1, 1, -1, 1))
    return torch.sqrt(gx**2 + gy**2)[0, 0].numpy()


def connected_components_largest(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a boolean ``[H,W]`` mask (all False if the mask is empty).

    Labels horizontal runs, links runs that touch in the next row, and merges the links by
    min-label hooking with pointer jumping, all vectorised.
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros_like(mask)
    left = np.zeros_like(mask)
    left[:, 1:] = mask[:, :-1]
    starts = mask & ~left
    run_id = np.cumsum(starts.ravel()).reshape(mask.shape) - 1  # valid where mask
    n_runs = int(starts.sum())
    touching = mask[:-1] & mask[1:]
    u = run_id[:-1][touching]
    v = run_id[1:][touching]
    labels = np.arange(n_runs)
    if u.size:
        edges = np.unique(np.stack([u, v], axis=1), axis=0)
        u, v = edges[:, 0], edges[:, 1]
        while True:
            lu, lv = labels[u], labels[v]
            low = np.minimum(lu, lv)
            if np.array_equal(lu, lv):
                break
            np.minimum.at(labels, lu, low)
            np.minimum.at(labels, lv, low)
            while True:  # point every run at its root
                jumped = labels[labels]
                if np.array_equal(jumped, labels):
                    break
                labels = jumped
    pixel_label = labels[run_id[mask]]
    sizes = np.bincount(pixel_label, minlength=n_runs)
    out = np.zeros(mask.shape, dtype=bool)
    out[mask] = pixel_label == int(np.argmax(sizes))
    return out


def connectivity_phi(pred: np.ndarray, gt: np.ndarray, step: float = 0.1, theta: float = 0.15):
    """Connectivity degrees ``(φ(pred), φ(gt))`` of Rhemann et al.: how far each pixel's alpha rises
    above the level at which it falls out of the largest component shared by both mattes."""
    level = np.full(pred.shape, -1.0)
    for t in np.arange(step, 1 + step / 2, step):
        omega = connected_components_largest((pred >= t) & (gt >= t))
        newly_out = (level == -1) & ~omega
        level[newly_out] = t - step
    level[level == -1] = 1
    dp, dg = pred - level, gt - level
    return 1 - dp * (dp >= theta), 1 - dg * (dg >= theta)


def evaluate(alpha, foreground, gt_alpha, gt_foreground, trimap, *, quantize: bool = True) -> dict[str, float]:
    """All metrics of one prediction.

    Args:
        alpha, gt_alpha: ``[H,W]`` in 0..1; foreground, gt_foreground: ``[H,W,3]`` in 0..1;
        trimap: ``[H,W]`` with 0 / 0.5 / 1 (0.5 = the unknown band). numpy arrays or tensors.

    Returns:
        ``{"unk/sad", "unk/mse", "unk/grad", "unk/conn", "unk/fg_mse", "unk/comp_mse", "all/..."}``
        (raw values; the MSE columns are usually shown ×1e3).
    """
    alpha, foreground, gt_alpha, gt_foreground, trimap = (
        x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        for x in (alpha, foreground, gt_alpha, gt_foreground, trimap)
    )
    a = quantize8(alpha) if quantize else np.clip(alpha, 0, 1).astype(np.float32)
    fg = quantize8(foreground) if quantize else np.clip(foreground, 0, 1).astype(np.float32)
    gt = gt_alpha.astype(np.float32)
    gt_fg = gt_foreground.astype(np.float32)

    err = a - gt
    grad_err = (gradient_magnitude(a) - gradient_magnitude(gt)) ** 2
    phi_pred, phi_gt = connectivity_phi(a.astype(np.float64), gt.astype(np.float64))
    conn_err = np.abs(phi_pred - phi_gt)
    fg_sq = np.mean((fg - gt_fg) ** 2, axis=2)
    comp = np.zeros(gt.shape, np.float32)
    for colour in NEW_BACKGROUNDS.values():
        c = np.asarray(colour, np.float32)
        ours = a[..., None] * fg + (1 - a[..., None]) * c
        truth = gt[..., None] * gt_fg + (1 - gt[..., None]) * c
        comp += np.mean((ours - truth) ** 2, axis=2)
    comp /= len(NEW_BACKGROUNDS)

    out: dict[str, float] = {}
    for name, region in (("unk", trimap == 0.5), ("all", np.ones(gt.shape, bool))):
        if not region.any():
            continue
        weight = gt[region]
        out[f"{name}/sad"] = float(np.abs(err[region]).sum() / 1000)
        out[f"{name}/mse"] = float((err[region] ** 2).mean())
        out[f"{name}/grad"] = float(grad_err[region].sum() / 1000)
        out[f"{name}/conn"] = float(conn_err[region].sum() / 1000)
        out[f"{name}/fg_mse"] = float((weight * fg_sq[region]).sum() / max(float(weight.sum()), 1e-9))
        out[f"{name}/comp_mse"] = float(comp[region].mean())
    return out
