"""Box and guided filters on ``[B,C,H,W]`` tensors, built on cumulative sums (O(1) per pixel).

Every window sum is a difference of two prefix sums, so the cost does not grow with the radius:
a 90-pixel box costs the same as a 6-pixel one. Two border rules are offered:

* ``"reflect101"``: OpenCV's ``cv2.blur`` (reflection without repeating the edge pixel, ``dcb|abcd|cba``),
  window ``[x - k//2, x + k - 1 - k//2]``; this is what BEN2's ``refine_foreground`` uses.
* ``"clip"``: the mean over the part of the window inside the image (He et al.'s guided filter).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_float, check_shape, compute_dtype

ENGINES = ("fast", "plain")

__all__ = [
    "ENGINES",
    "area_resize",
    "box_filter",
    "fast_guided_filter",
    "guided_filter",
    "guided_filter_coefficients",
]


def _check_bchw(name: str, x: Tensor) -> None:
    # filters take any real signal (guided-filter coefficients are not in 0..1): shape and dtype only
    check_float(check_shape(x, name, "B,C,H,W", hint="planes first: permute an IMAGE [B,H,W,C] to [B,C,H,W]"), name)


def _reflect101_index(n: int, before: int, after: int, device: torch.device) -> Tensor:
    """Source indices for ``before`` + n + ``after`` samples with OpenCV's BORDER_REFLECT_101.

    Works for any pad size (the reflection repeats, as OpenCV and ``numpy.pad(mode="reflect")`` do).
    """
    idx = torch.arange(-before, n + after, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - idx, idx)


def _pad_reflect101(x: Tensor, dim: int, before: int, after: int) -> Tensor:
    n = x.shape[dim]
    if before < n and after < n:  # torch's "reflect" is REFLECT_101 and much faster than a gather
        pad = (before, after, 0, 0) if dim == x.ndim - 1 else (0, 0, before, after)
        return F.pad(x, pad, mode="reflect")
    return x.index_select(dim, _reflect101_index(n, before, after, x.device))


def _running_sum_(d: Tensor, dim: int) -> Tensor:
    """In-place cumulative sum along ``dim``.

    torch.cumsum along a non-last axis is several times slower on CPU than adding whole rows one
    after the other (each row add is vectorised over the row), so the CPU uses the row loop.
    """
    if dim == d.ndim - 1 or d.device.type != "cpu":
        return torch.cumsum(d, dim=dim, out=d) if d.is_contiguous() else d.copy_(torch.cumsum(d, dim=dim))
    for i in range(1, d.shape[dim]):
        d.select(dim, i).add_(d.select(dim, i - 1))
    return d


def _window_sums(padded: Tensor, dim: int, k: int) -> Tensor:
    """Sums of every k consecutive samples along ``dim`` (length L - k + 1).

    Accumulates the differences ``x[i+k] - x[i]`` from the first window instead of subtracting two
    prefix sums: the running value stays the size of one window, so float32 keeps its precision
    on 8K rows.
    """
    length = padded.shape[dim]
    first = padded.narrow(dim, 0, k).sum(dim, keepdim=True)
    if length == k:
        return first
    shape = list(padded.shape)
    shape[dim] = length - k + 1
    out = torch.empty(shape, dtype=first.dtype, device=padded.device)
    out.narrow(dim, 0, 1).copy_(first)
    del first
    # the differences straight into place (no separate differences tensor and concatenated copy)
    torch.sub(padded.narrow(dim, k, length - k), padded.narrow(dim, 0, length - k), out=out.narrow(dim, 1, length - k))
    return _running_sum_(out, dim)


def _box_1d_reflect101(x: Tensor, dim: int, k: int) -> Tensor:
    """Mean over a window of k samples along ``dim``, cv2 anchor and BORDER_REFLECT_101."""
    if k == 1:
        return x
    before = k // 2
    padded = _pad_reflect101(x, dim, before, k - 1 - before)
    return _window_sums(padded, dim, k).mul_(1.0 / k)


def _box_1d_clip(x: Tensor, dim: int, radius: int) -> Tensor:
    """Mean over ``[i - radius, i + radius]`` intersected with the tensor along ``dim``."""
    if radius <= 0:
        return x
    n = x.shape[dim]
    pad = (radius, radius, 0, 0) if dim == x.ndim - 1 else (0, 0, radius, radius)
    sums = _window_sums(F.pad(x, pad), dim, 2 * radius + 1)
    i = torch.arange(n, device=x.device)
    count = (torch.clamp(i + radius, max=n - 1) - torch.clamp(i - radius, min=0) + 1).to(x.dtype)
    shape = [1] * x.ndim
    shape[dim] = n
    return sums.div_(count.view(shape))


def box_filter(x: Tensor, kernel_size: int | tuple[int, int], *, border: str = "reflect101") -> Tensor:
    """Normalised box filter (moving mean).

    Args:
        x: ``[B,C,H,W]`` floating-point tensor.
        kernel_size: window size ``k`` or ``(k_h, k_w)``. With ``border="reflect101"`` it is the window
            width in pixels (even sizes allowed, anchored like ``cv2.blur``); with ``border="clip"`` it
            must be odd (``2*radius + 1``).
        border: ``"reflect101"`` (``cv2.blur``) or ``"clip"`` (mean over the in-image part of the window).

    Returns:
        ``[B,C,H,W]`` tensor of the same dtype. Half-precision inputs are accumulated in float32.
    """
    _check_bchw("x", x)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    dtype = x.dtype
    work = x.to(compute_dtype(dtype))
    if border == "reflect101":
        out = _box_1d_reflect101(_box_1d_reflect101(work, 3, kw), 2, kh)
    elif border == "clip":
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"border='clip' needs odd kernel sizes (2*radius+1), got {kernel_size}")
        out = _box_1d_clip(_box_1d_clip(work, 3, kw // 2), 2, kh // 2)
    else:
        raise ValueError(f"border must be 'reflect101' or 'clip', got {border!r}")
    return out.to(dtype)


def area_resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize ``[B,C,H,W]`` to ``size = (h, w)``: area averaging when shrinking (every source pixel
    contributes, so thin hair strands survive), bilinear when enlarging."""
    _check_bchw("x", x)
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    if size[0] <= h and size[1] <= w:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def guided_filter_coefficients(
    guide: Tensor, src: Tensor, radius: int, eps: float, *, engine: str = "fast"
) -> tuple[Tensor, Tensor]:
    """Local linear model ``src ≈ A·guide + b`` of He et al.'s guided filter, already box-averaged.

    K. He, J. Sun, X. Tang, "Guided Image Filtering", TPAMI 2013, eqs. (14)-(16) (colour guide)
    and (7)-(8) (grey guide).

    Args:
        guide: ``[B,1,H,W]`` (grey guide) or ``[B,3,H,W]`` (colour guide, 3×3 covariance per pixel).
        src: ``[B,1,H,W]`` the signal to filter (e.g. an alpha matte).
        radius: window radius in pixels (window ``2*radius+1``, clipped at the borders).
        eps: regulariser; larger = smoother, more like a plain blur.
        engine: ``"fast"`` (colour guide: statistics one plane at a time, the 3×3 solve by
            cofactors in strips, a few full-size planes at most) or ``"plain"``, the formulas as
            written: the 13 window statistics stacked and ``torch.linalg.solve`` per pixel, the
            oracle the fast path is tested against. Grey guides have one path.

    fp16/bf16 inputs are computed in float32 and returned in their dtype.

    Returns:
        ``(mean_A [B,Cg,H,W], mean_b [B,1,H,W])``; the filtered signal is ``(mean_A*guide).sum(1) + mean_b``.
    """
    _check_bchw("guide", guide)
    _check_bchw("src", src)
    if src.shape[1] != 1:
        raise ValueError(f"src must have one channel [B,1,H,W], got {tuple(src.shape)}")
    if guide.shape[0] != src.shape[0] or guide.shape[-2:] != src.shape[-2:]:
        raise ValueError(f"guide {tuple(guide.shape)} and src {tuple(src.shape)} must share batch and size")
    cg = guide.shape[1]
    if cg not in (1, 3):
        raise ValueError(f"guide must have 1 or 3 channels, got {cg}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    k = 2 * radius + 1
    out_dtype = guide.dtype
    # half precision cannot hold the covariances or the solve (eps 1e-5 vanishes beside them)
    work = compute_dtype(torch.promote_types(guide.dtype, src.dtype))
    guide, src = guide.to(work), src.to(work)

    def mean(t: Tensor) -> Tensor:
        return box_filter(t, k, border="clip")

    if cg == 1:
        stats = mean(torch.cat([guide, src, guide * guide, guide * src], dim=1))
        mi, mp, mii, mip = stats.unbind(1)
        a = (mip - mi * mp) / (mii - mi * mi + eps)
        b = mp - a * mi
        mean_a, mean_b = mean(torch.stack([a, b], dim=1)).split([1, 1], dim=1)
    elif engine == "plain":
        mean_a, mean_b = _plain_colour_guided_coefficients(guide, src, k, eps)
    else:
        coeffs = _colour_guided_coefficients(guide, src, radius, eps)
        mean_a, mean_b = coeffs[:, :3], coeffs[:, 3:]
    return mean_a.to(out_dtype), mean_b.to(out_dtype)


def _plain_colour_guided_coefficients(guide: Tensor, src: Tensor, k: int, eps: float) -> tuple[Tensor, Tensor]:
    """He et al. (14)-(16) as written: ``a = (Σ + εU)⁻¹ cov(I, p)``, ``b = mean(p) - a·mean(I)``,
    both averaged over the windows. Shapes: guide ``[B,3,H,W]``, src ``[B,1,H,W]``."""
    def mean(t: Tensor) -> Tensor:
        return box_filter(t, k, border="clip")

    b, _, h, w = guide.shape
    mean_i, mean_p = mean(guide), mean(src)
    outer = (guide.unsqueeze(1) * guide.unsqueeze(2)).reshape(b, 9, h, w)
    sigma = (mean(outer).reshape(b, 3, 3, h, w) - mean_i.unsqueeze(1) * mean_i.unsqueeze(2)).permute(0, 3, 4, 1, 2)
    cov_ip = (mean(guide * src) - mean_i * mean_p).permute(0, 2, 3, 1).unsqueeze(-1)
    eye = torch.eye(3, dtype=guide.dtype, device=guide.device)
    a = torch.linalg.solve(sigma + eps * eye, cov_ip).squeeze(-1).permute(0, 3, 1, 2)
    intercept = mean_p - (a * mean_i).sum(1, keepdim=True)
    return mean(a), mean(intercept)


def _colour_guided_coefficients(guide: Tensor, src: Tensor, radius: int, eps: float) -> Tensor:
    """``guided_filter_coefficients`` for a colour guide, as one ``[B,4,H,W]`` tensor (A then b).

    Memory: the 13 window statistics are box-filtered one plane at a time (no ``[B,13,H,W]`` stack,
    no stack of products), turned into covariances in place, and the 3×3 solve runs in strips of
    rows that overwrite four of the statistics with A and b; the final averaging fills the output
    one plane at a time. ``engine="plain"`` (``_plain_colour_guided_coefficients``) is the
    specification it is tested against (``tests/unit/matting/test_filters.py``).

    Shapes: guide ``[B,3,H,W]``, src ``[B,1,H,W]`` -> ``[B,4,H,W]``.
    """

    def mean(t: Tensor) -> Tensor:
        # box_filter's two passes, without keeping the input alive during the second one
        return _box_1d_clip(_box_1d_clip(t, 3, radius), 2, radius)

    def mean_of_product(x: Tensor, y: Tensor) -> Tensor:
        rows = _box_1d_clip(x * y, 3, radius)  # the product is freed before the vertical pass
        return _box_1d_clip(rows, 2, radius)

    def mean_of_popped(planes: list[Tensor]) -> Tensor:
        rows = _box_1d_clip(planes.pop(), 3, radius)  # the plane is freed before the vertical pass
        return _box_1d_clip(rows, 2, radius)

    r, g, bl = guide[:, 0:1], guide[:, 1:2], guide[:, 2:3]
    p = src
    mr, mg, mb, mp = mean(r), mean(g), mean(bl), mean(p)

    def centred(x: Tensor, y: Tensor, mx: Tensor, my: Tensor, diagonal: bool) -> Tensor:
        # mean(x·y) - mean(x)·mean(y) (+ eps on the covariance diagonal), in place
        s = mean_of_product(x, y)
        rows = max(8, (1 << 18) // max(1, s.shape[-1]))
        for y0 in range(0, s.shape[-2], rows):  # in strips: no plane-size product temporary
            strip = s[..., y0 : y0 + rows, :]
            strip.sub_(mx[..., y0 : y0 + rows, :] * my[..., y0 : y0 + rows, :])
            if diagonal:
                strip.add_(eps)
        return s

    # covariance of the guide (+ eps on the diagonal) and its covariance with the source
    crr = centred(r, r, mr, mr, True)
    crg = centred(r, g, mr, mg, False)
    crb = centred(r, bl, mr, mb, False)
    cgg = centred(g, g, mg, mg, True)
    cgb = centred(g, bl, mg, mb, False)
    cbb = centred(bl, bl, mb, mb, True)
    vr = centred(r, p, mr, mp, False)
    vg = centred(g, p, mg, mp, False)
    vb = centred(bl, p, mb, mp, False)
    h, w = guide.shape[-2:]
    step = max(8, (1 << 18) // max(1, w))
    for y0 in range(0, h, step):
        y1 = min(h, y0 + step)
        s_rr, s_rg, s_rb, s_gg, s_gb, s_bb, s_vr, s_vg, s_vb, s_mr, s_mg, s_mb, s_mp = (
            t[..., y0:y1, :] for t in (crr, crg, crb, cgg, cgb, cbb, vr, vg, vb, mr, mg, mb, mp)
        )
        # symmetric 3x3 inverse by cofactors (cheaper and batch-friendlier than torch.linalg)
        i_rr = s_gg * s_bb - s_gb * s_gb
        i_rg = s_rb * s_gb - s_rg * s_bb
        i_rb = s_rg * s_gb - s_rb * s_gg
        i_gg = s_rr * s_bb - s_rb * s_rb
        i_gb = s_rb * s_rg - s_rr * s_gb
        i_bb = s_rr * s_gg - s_rg * s_rg
        det = s_rr * i_rr + s_rg * i_rg + s_rb * i_rb
        ar = (i_rr * s_vr + i_rg * s_vg + i_rb * s_vb) / det
        ag = (i_rg * s_vr + i_gg * s_vg + i_gb * s_vb) / det
        ab = (i_rb * s_vr + i_gb * s_vg + i_bb * s_vb) / det
        b = s_mp - ar * s_mr - ag * s_mg - ab * s_mb
        # this strip of the covariances is no longer needed: they hold A and b from here on
        s_rr.copy_(ar)
        s_rg.copy_(ag)
        s_rb.copy_(ab)
        s_gg.copy_(b)
        # the strip views would keep their whole planes alive after the loop
        del s_rr, s_rg, s_rb, s_gg, s_gb, s_bb, s_vr, s_vg, s_vb, s_mr, s_mg, s_mb, s_mp
        del i_rr, i_rg, i_rb, i_gg, i_gb, i_bb, det, ar, ag, ab, b
    del cgb, cbb, vr, vg, vb, mr, mg, mb, mp
    planes = [cgg, crb, crg, crr]  # b, A_b, A_g, A_r: popped from the end
    del crr, crg, crb, cgg
    out = torch.empty(guide.shape[0], 4, h, w, dtype=planes[0].dtype, device=guide.device)
    for i in range(4):
        out[:, i : i + 1] = mean_of_popped(planes)
    return out


def guided_filter(guide: Tensor, src: Tensor, radius: int, eps: float) -> Tensor:
    """He et al.'s guided filter at full resolution.

    Args:
        guide: ``[B,1,H,W]`` or ``[B,3,H,W]``; src: ``[B,1,H,W]``.

    Returns:
        ``[B,1,H,W]`` filtered ``src``.
    """
    mean_a, mean_b = guided_filter_coefficients(guide, src, radius, eps)
    return (mean_a * guide).sum(1, keepdim=True) + mean_b


def fast_guided_filter(
    guide: Tensor, src: Tensor, radius: int, eps: float, *, max_side: int = 1024
) -> tuple[Tensor, Tensor]:
    """Fast guided filter (He & Sun 2015): coefficients at ≤ ``max_side`` px, applied at full size.

    Shrinking uses area averaging (not every-k-th-pixel subsampling, which breaks hair strands);
    the coefficients are enlarged bilinearly. ``radius`` is in pixels of the reduced image.

    Args:
        guide: ``[B,1,H,W]`` or ``[B,3,H,W]``; src: ``[B,1,H,W]``.

    Returns:
        ``(mean_A [B,Cg,H,W], mean_b [B,1,H,W])`` at full size; the filtered signal is
        ``(mean_A*guide).sum(1) + mean_b`` (evaluate it only where needed to save memory).
    """
    _check_bchw("guide", guide)
    h, w = guide.shape[-2:]
    scale = min(1.0, max_side / max(h, w))
    small = (max(1, round(h * scale)), max(1, round(w * scale)))
    mean_a, mean_b = guided_filter_coefficients(area_resize(guide, small), area_resize(src, small), radius, eps)
    if small != (h, w):
        mean_a = F.interpolate(mean_a, size=(h, w), mode="bilinear", align_corners=False)
        mean_b = F.interpolate(mean_b, size=(h, w), mode="bilinear", align_corners=False)
    return mean_a, mean_b
