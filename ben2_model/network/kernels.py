"""Fast paths of ``BEN2(kernels="fast")``: same results as their twins in ``reference``, less work.

Each function has the name and signature of its plain twin in ``reference`` (the specification);
its docstring states the algebra that makes the two equal, and ``tests/unit/network/test_kernels.py``
checks every pair in float32, float16 and bfloat16.

Devices. Two kinds of kernel live here:

* exact algebra in public torch ops, used on every device: ``channel_stats`` /
  ``instance_norm_gelu_`` (chunked float32 statistics, in place), ``conv3x3_of_nearest_2x`` (the
  3×3 convolution of a nearest-×2 image at the low resolution), ``shallow_features`` (strided 4×4
  convolutions instead of a full-size map and two resizes), ``upsampled_output`` (the head's
  last two layers from low-resolution phase maps and tap planes: the full-size map is never
  built), ``WindowLayout``
  (Swin windows by one gather instead of pad, roll and partition copies);
* CPU-only kernels, which call their reference twin on any other device: ``linear`` (oneDNN inner
  products with fused GELU) and ``attention`` (bf16 by blocks of queries where that beats the
  fused kernel). These and the in-place GELU use private torch API (``torch.ops.mkldnn``,
  ``torch._C._nn.gelu_``, ``aten._softmax.out``), so ``torch.compile`` uses the reference path
  instead and ONNX export the graph path (``kernels="graph"``: the reference path plus
  ``shallow_features`` and the whole-map ``conv3x3_of_nearest_2x``).

So whatever runs on CUDA or MPS is either a reference function or exact algebra tested against
one on the CPU in all three dtypes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import reference
from .reference import saturate


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """NHWC memory layout: oneDNN and cuDNN run 3×3 convolutions 1.2-1.6× faster on it."""
    return x.contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- CPU-only kernels


def _onednn_linear_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


_ONEDNN_LINEAR = [None]  # decided at the first CPU call: [True] / [False]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, gelu: bool = False) -> torch.Tensor:
    """``reference.linear``: ``F.linear`` then, with ``gelu``, exact GELU. ``[..., in] -> [..., out]``.

    On the CPU, float32 and bfloat16 products go to oneDNN's inner product (the kernel behind
    torch's compiled CPU graphs): about 1.4× the throughput of the default GEMM for the Swin
    shapes, with the bias and the GELU applied while the output tile is still in cache. Other
    devices, fp16, autograd and torch builds without oneDNN take the reference computation (GELU
    in place when no gradient is needed).
    """
    x = x.to(weight.dtype)
    if x.device.type != "cpu" or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)):
        return reference.linear(x, weight, bias, gelu=gelu)
    if weight.dtype in (torch.float32, torch.bfloat16) and _ONEDNN_LINEAR[0] is not False:
        try:
            if _ONEDNN_LINEAR[0] is None:
                _ONEDNN_LINEAR[0] = _onednn_linear_available()
            if _ONEDNN_LINEAR[0]:
                if gelu:
                    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "none")
                return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        except RuntimeError:  # an old or unusual oneDNN build: use the portable path from now on
            _ONEDNN_LINEAR[0] = False
    y = saturate(F.linear(x, weight, bias))
    return torch._C._nn.gelu_(y) if gelu else y


_AMX = [None]  # decided at the first call: [True] / [False]


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX bf16 tiles (Intel Xeon 4th generation and later); decided once."""
    if _AMX[0] is None:
        try:  # private torch API (the cpuinfo library): absent on some builds
            _AMX[0] = bool(torch._C._cpu._get_cpu_capability().get("amx_bf16", False))
        except (AttributeError, RuntimeError):
            _AMX[0] = False
    return _AMX[0]


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """``reference.attention``: ``softmax(q·kᵀ/√d)·v``. ``q [N,heads,Lq,d]``, ``k``/``v`` ``[N,heads,Lk,d]``.

    torch's fused kernel is used except for bfloat16 on a CPU without AMX, where it is slower than
    plain bf16 GEMMs: there each block of ``chunk`` queries takes one GEMM into a reused logits
    buffer, a softmax (accumulated in float32) into a reused buffer, and one GEMM into the output:
    the rows of a softmax are independent, so blocks of queries give the same rows. For the
    decoder's 16384 × 5376 attention this is 1.5× the fused kernel on an AVX-512 EPYC; with AMX
    the fused kernel is 1.5× faster than these blocks (70 against 105 ms), so it is used there.
    The error against float32 is close to the fused kernel's own.
    """
    if q.device.type != "cpu" or q.dtype != torch.bfloat16 or q.requires_grad or cpu_has_amx():
        return reference.attention(q, k, v)
    return chunked_attention(q, k, v, chunk)


def chunked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """``attention`` block by block of ``chunk`` queries, whatever the device and dtype (shapes as there)."""
    keys_t = (k * q.shape[-1] ** -0.5).transpose(-1, -2).contiguous()  # [.., d, Lk], laid out once
    *batch, length, _ = q.shape
    rows = min(chunk, length)
    size = math.prod(batch) * rows * k.shape[-2]
    logits_buffer, probs_buffer = q.new_empty(size), q.new_empty(size)
    pieces = []
    for start in range(0, length, rows):
        n = min(rows, length - start)
        # contiguous views of the reused buffers, sized for this block
        logits = logits_buffer[: size // rows * n].view(*batch, n, k.shape[-2])
        probs = probs_buffer[: size // rows * n].view(*batch, n, k.shape[-2])
        torch.matmul(q[..., start : start + n, :], keys_t, out=logits)
        torch.ops.aten._softmax.out(logits, -1, False, out=probs)
        pieces.append(torch.matmul(probs, v))
    return torch.cat(pieces, dim=-2)


# --------------------------------------------------------------------------- exact algebra, every device


def _accumulation_dtype(device: torch.device) -> torch.dtype:
    """float64 for sums of float32 partial sums; float32 on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def channel_stats(x: torch.Tensor, rows: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (biased) variance over the spatial axes, in float32.

    Args:
        x: ``[B,C,H,W]``, any float dtype and memory format.
        rows: rows per chunk; each chunk's sum is taken in float32, the chunk sums in float64
            (float32 on MPS, which has no float64).
    Returns:
        ``(mean, var)``, each ``[B,C,1,1]`` float32.

    Two passes (the variance is the mean square of ``x - mean``), so it is as accurate as
    ``torch.var_mean`` but about 15× faster on channels-last maps, where ``var_mean`` falls back
    to a slow path; the chunks keep the squared temporary to a few rows.
    """
    b, c, h, w = x.shape
    acc_dtype = _accumulation_dtype(x.device)
    total = torch.zeros(b, c, 1, 1, dtype=acc_dtype, device=x.device)
    for chunk in x.split(rows, dim=2):
        total += chunk.sum(dim=(2, 3), keepdim=True, dtype=torch.float32)
    mean = (total / (h * w)).float()
    total.zero_()
    for centred in _centred_rows(x, mean, rows):
        total += centred.mul_(centred).sum(dim=(2, 3), keepdim=True)
    return mean, (total / (h * w)).float()


def _centred_rows(x: torch.Tensor, mean: torch.Tensor, rows: int):
    """Yield ``x - mean`` in float32, ``rows`` rows at a time, in one reused buffer (valid until
    the next item): ``[B,C,H,W]`` -> ``[B,C,rows,W]`` pieces, same memory format as ``x``."""
    buffer = torch.empty_like(x[:, :, :rows], dtype=torch.float32)
    for start in range(0, x.shape[2], rows):
        chunk = x[:, :, start : start + rows]
        yield torch.sub(chunk, mean, out=buffer[:, :, : chunk.shape[2]])


def instance_norm_gelu_(
    x: torch.Tensor,
    eps: float = 1e-5,
    out_dtype: torch.dtype = torch.float32,
    rows: int = 16,
    add: torch.Tensor | None = None,
) -> torch.Tensor:
    """``reference.instance_norm_gelu``: InstanceNorm2d (no affine) in float32, exact GELU, then
    ``add`` (a skip connection) if given.

    Args:
        x: ``[B,C,H,W]``, any float dtype. Overwritten when it already has ``out_dtype``.
        out_dtype: dtype of the result (a reduced precision when only a convolution reads it).
        add: ``[B,C,H,W]``, any float dtype, added in float32 before the cast to ``out_dtype``.
    Returns:
        ``[B,C,H,W]`` in ``out_dtype``, same memory format as ``x``.

    The statistics come from ``channel_stats``; then ``gelu((x - mean) · rsqrt(var + eps))``
    elementwise. Working in place, or chunk by chunk into the output, keeps the 1024² head of
    the decoder at one feature map of memory.
    """
    if x.requires_grad:  # autograd: the plain out-of-place computation
        return reference.instance_norm_gelu(x, eps, out_dtype, add)
    mean, var = channel_stats(x, rows)
    scale = torch.rsqrt(var.add_(eps))
    if x.dtype == torch.float32 and out_dtype == torch.float32:
        x.sub_(mean).mul_(scale)
        torch._C._nn.gelu_(x)
        return x if add is None else x.add_(add)
    # Reduced precision goes through a float32 buffer a few rows at a time. Each chunk is read
    # into the buffer before it is written, so the result can overwrite ``x`` when the dtypes
    # agree: no second map to allocate and fault in.
    out = x if x.dtype == out_dtype else torch.empty_like(x, dtype=out_dtype)
    adds = [None] * out.shape[2] if add is None else add.split(rows, dim=2)
    for centred, dst, extra in zip(_centred_rows(x, mean, rows), out.split(rows, dim=2), adds):
        torch._C._nn.gelu_(centred.mul_(scale))
        dst.copy_(centred if extra is None else centred.add_(extra))
    return out


def conv3x3_of_nearest_2x(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, rows: int | None = 32
) -> torch.Tensor:
    """``reference.conv3x3_of_nearest_2x`` computed at the low resolution, 2.25× fewer multiply-adds.

    Args:
        x: ``[B,Cin,H,W]``.
        weight: ``[Cout,Cin,3,3]``; bias: ``[Cout]`` or None.
        rows: source rows per strip (bounds the temporary to ``4·Cout × (rows+1) × (W+1)``), or
            None for the whole map at once: no loop and no in-place write, which is what a traced
            graph (``kernels="graph"``, ONNX export) wants.
    Returns:
        ``[B,Cout,2H,2W]`` in the weight dtype (channels-last when computed in strips).

    Output row ``2i`` sees upsampled rows ``2i-1, 2i, 2i+1`` = source rows ``i-1, i, i``; output row
    ``2i+1`` sees source rows ``i, i, i+1``. So phase 0 uses taps ``(w0, w1+w2)`` on rows
    ``(i-1, i)`` and phase 1 uses ``(w0+w1, w2)`` on rows ``(i, i+1)``; the same holds for columns.
    All four phases come from one 2×2 convolution with ``4·Cout`` outputs of the zero-padded
    source: its output row ``j`` covers padded rows ``j, j+1``, so phase ``py`` of source row ``i``
    is its row ``i + py``.

    * In strips (eager): each strip of source rows is convolved with its one-row halo (no padded
      copy of ``x``) and each phase is written to its rows and columns of the output.
    * Whole map (graphs): with the sub-pixels ordered ``(1-py, 1-px)``, depth-to-space
      (``pixel_shuffle``) puts phase ``py`` of row ``i`` at row ``2(i + py) + 1 - py = (2i + py) + 1``,
      the output shifted by one, so one row and column are cropped on each side. (In eager strips
      the shuffle measured slower than the four strided writes.)
    """
    b, _, h, w = x.shape
    cout = weight.shape[0]
    x = x.to(weight.dtype)
    # taps per phase along one axis: [phase, 2 taps, 3 original taps]
    fold = weight.new_tensor([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])
    if rows is None:
        # [Cout, py, px, Cin, 2, 2], phases flipped to the (1-py, 1-px) sub-pixel order
        kernels = torch.einsum("yak,xbl,oikl->oyxiab", fold, fold, weight).flip(1, 2).reshape(4 * cout, -1, 2, 2)
        bias4 = None if bias is None else bias.repeat_interleave(4)
        phases = saturate(F.conv2d(F.pad(x, (1, 1, 1, 1)), kernels, bias4))  # [B,4·Cout,H+1,W+1]
        return F.pixel_shuffle(phases, 2)[:, :, 1 : 2 * h + 1, 1 : 2 * w + 1]
    # [py, px, Cout, Cin, 2, 2]: phase-major, each phase a block of Cout outputs
    kernels = torch.einsum("yak,xbl,oikl->yxoiab", fold, fold, weight).reshape(4 * cout, -1, 2, 2)
    kernels = channels_last(kernels)
    bias4 = None if bias is None else bias.repeat(4)
    out = torch.empty(b, cout, 2 * h, 2 * w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        lo, hi = max(r0 - 1, 0), min(r1 + 1, h)  # source rows r0-1 .. r1, zeros outside the image
        strip = F.pad(x[:, :, lo:hi], (1, 1, lo - (r0 - 1), (r1 + 1) - hi))
        phases = saturate(F.conv2d(channels_last(strip), kernels, bias4))  # [B,4·Cout,r1-r0+1,W+1]
        for k, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            out[:, :, 2 * r0 + py : 2 * r1 : 2, px::2] = phases[
                :, k * cout : (k + 1) * cout, py : py + r1 - r0, px : px + w
            ]
    return out


def upsampled_output(
    x: torch.Tensor,
    up_weight: torch.Tensor,
    up_bias: torch.Tensor | None,
    out_weight: torch.Tensor,
    out_bias: torch.Tensor | None,
    eps: float = 1e-5,
    channels: int = 32,
    rows: int = 16,
) -> torch.Tensor:
    """``reference.upsampled_output`` without the full-size map: ``[B,Cin,H,W] -> [B,Cout,2H,2W]``.

    Args:
        x: ``[B,Cin,H,W]`` (cheapest in the weight dtype, channels-last).
        up_weight: ``[C,Cin,3,3]`` (the nearest-×2 convolution); out_weight: ``[Cout,C,3,3]``.
        channels: up-convolution outputs handled at a time (bounds the stored part of the map).
        rows: source rows per strip.
    Returns:
        ``[B,Cout,2H,2W]`` in the output weight dtype.

    The full-size map ``F = conv3x3_of_nearest_2x(x)`` (``[B,128,2H,2W]``: 512 MiB in float32 at
    1024²) only feeds its InstanceNorm, GELU and the few-output 3×3 convolution, so it is never
    built. Three facts make that exact:

    * InstanceNorm is per channel and the output convolution sums over channels, so the map can
      be handled ``channels`` at a time, the output convolution's shares summed in float32;
    * ``F`` is four interleaved phase maps (``F[2i+py, 2j+px]`` is phase ``(py,px)`` at ``(i,j)``),
      each a 2×2 convolution at the low resolution (see ``conv3x3_of_nearest_2x``). They are
      stored row by row, the four phases of a row side by side, channels-last (``[B,H,4,W,C]``:
      a strip of rows is one pixels × channels matrix, what the next product wants), and each
      strip's statistics are taken while it is in cache and merged exactly (Chan et al. 1979,
      the pairwise update of mean and squared deviations);
    * the output convolution is ``O[Y,X] = b + Σ_t T_t[Y+dy_t-1, X+dx_t-1]`` with tap planes
      ``T_t = Σ_c w[c,t]·F[c]``, one product of the normalised map with the ``[C, 9·Cout]`` taps
      (summed over channel groups in float32). Neighbour ``Y' = 2I+qy+dy-1`` of output phase ``qy``
      is phase ``(qy+dy-1) mod 2`` of low-resolution row ``I + floor((qy+dy-1)/2)``, so each output
      phase is 9 shifted sums of phase tap planes (zero outside the image), interleaved once at
      the end.

    Every multiply-add of the stored computation is done once; the full-size map, its
    interleaving and its padded copies never exist.
    """
    b, _, h, w = x.shape
    cout, c_all = out_weight.shape[:2]
    dtype = up_weight.dtype
    x = channels_last(x.to(dtype))
    fold = up_weight.new_tensor([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])
    # [py, px, C, Cin, 2, 2]: phase-major 2×2 kernels (the algebra of conv3x3_of_nearest_2x)
    phase_kernels = torch.einsum("yak,xbl,oikl->yxoiab", fold, fold, up_weight)
    # [C, 9·Cout]: column (o, t) holds output channel o's tap t = 3·dy + dx
    taps_weight = out_weight.permute(1, 0, 2, 3).reshape(c_all, cout * 9)
    group_size = min(channels, c_all)
    stored = x.new_empty(b, h, 4, w, group_size)  # one group of phase maps, reused
    taps = x.new_zeros(cout * 9, b, h, 4, w, dtype=torch.float32)  # Σ over groups, per phase
    # the normalised strips: few rows, so that the elementwise passes stay in cache
    norm_rows = max(1, min(h, 2048 // max(1, w)))
    z_buffer = x.new_empty(b, norm_rows, 4, w, group_size, dtype=torch.float32)
    z_low = z_buffer if dtype == torch.float32 else torch.empty_like(z_buffer, dtype=dtype)
    for start in range(0, c_all, group_size):
        group = slice(start, min(start + group_size, c_all))
        n = group.stop - group.start
        phases = stored[..., :n]
        kernels = channels_last(phase_kernels[:, :, group].reshape(4 * n, -1, 2, 2))
        bias4 = None if up_bias is None else up_bias[group].repeat(4)
        mean, scale = _store_phases(x, kernels, bias4, phases, eps, rows)
        group_taps = taps_weight[group]
        for r0 in range(0, h, norm_rows):
            r1 = min(h, r0 + norm_rows)
            z = z_buffer[:, : r1 - r0, ..., :n]  # [B,r,4,W,n]: normalised and activated in float32
            torch._C._nn.gelu_(z.copy_(phases[:, r0:r1]).sub_(mean).mul_(scale))
            z = z_low[:, : r1 - r0, ..., :n].copy_(z)  # the map in the weight dtype, as stored
            strip_taps = torch.matmul(z.reshape(-1, n), group_taps).t()  # [9·Cout, B·r·4·W]
            taps[:, :, r0:r1].add_(strip_taps.view(cout * 9, b, r1 - r0, 4, w))
    return _shifted_tap_sum(taps, out_bias, h, w).to(out_weight.dtype)


def _store_phases(
    x: torch.Tensor, kernels: torch.Tensor, bias4: torch.Tensor | None, phases: torch.Tensor, eps: float, rows: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill ``phases`` ``[B,H,4,W,n]`` with the four phase maps of the nearest-×2 convolution of
    ``x`` ``[B,Cin,H,W]`` (phase-major ``kernels`` ``[4n,Cin,2,2]``) and return the InstanceNorm
    ``(mean, 1/sqrt(var + eps))`` of every image's ``n`` channels over all four phases, each
    ``[B,1,1,1,n]`` float32.

    Each strip of source rows is convolved with its one-row halo (the padded input of the 2×2
    convolutions, padded only at the image's top and bottom). Its statistics are merged into the
    running ones with Chan's update: counts ``n_a, n_b``, means ``m_a, m_b``, squared deviations
    ``M_a, M_b`` give ``M = M_a + M_b + (m_b - m_a)²·n_a·n_b/(n_a + n_b)``, in float64 (float32 on
    MPS).
    """
    b, _, h, w = x.shape
    n = phases.shape[-1]
    count, mean, squares = 0, None, None
    acc_dtype = _accumulation_dtype(x.device)
    buffer = x.new_empty(b, rows * 4 * w, n, dtype=torch.float32)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        lo, hi = max(r0 - 1, 0), min(r1 + 1, h)  # source rows r0-1 .. r1, zeros outside the image
        strip = x[:, :, lo:hi]
        if lo == r0 or hi == r1:  # a top or bottom strip: pad its missing halo row with zeros
            strip = channels_last(F.pad(strip, (0, 0, lo - (r0 - 1), (r1 + 1) - hi)))
        out = saturate(F.conv2d(strip, kernels, bias4, padding=(0, 1)))  # [B,4n,r+1,W+1]
        piece = phases[:, r0:r1]
        for k, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            piece[:, :, k].copy_(out[:, k * n : (k + 1) * n, py : py + r1 - r0, px : px + w].permute(0, 2, 3, 1))
        values = buffer[:, : piece[0].numel() // n].copy_(piece.reshape(b, -1, n))  # per image: InstanceNorm
        size = values.shape[1]
        piece_mean = values.sum(1, keepdim=True).to(acc_dtype) / size
        centred = values.sub_(piece_mean.float())
        piece_squares = centred.mul_(centred).sum(1, keepdim=True).to(acc_dtype)
        if squares is None:
            mean, squares = piece_mean, piece_squares
        else:
            delta = piece_mean - mean
            squares = squares + piece_squares + delta * delta * (count * size / (count + size))
            mean = mean + delta * (size / (count + size))
        count += size
    shape = (b, 1, 1, 1, n)  # broadcasts over [B,r,4,W,n]
    return mean.float().view(shape), torch.rsqrt((squares / count).float() + eps).view(shape)


def _shifted_tap_sum(taps: torch.Tensor, bias: torch.Tensor | None, h: int, w: int) -> torch.Tensor:
    """The output convolution from its tap planes: ``taps`` ``[9·Cout,B,H,4,W]`` float32 (tap
    ``t = 3·dy + dx`` of each phase ``2·py + px``) -> ``[B,Cout,2H,2W]`` float32 (see
    ``upsampled_output``)."""
    cout, b = taps.shape[0] // 9, taps.shape[1]
    taps = taps.view(cout, 9, b, h, 2, 2, w)
    out = taps.new_zeros(cout, b, 2, 2, h, w)  # output phases (qy, qx)
    for qy in range(2):
        for qx in range(2):
            for dy in range(3):
                py, sy = (qy + dy - 1) % 2, (qy + dy - 1) // 2  # source phase row, row shift
                for dx in range(3):
                    px, sx = (qx + dx - 1) % 2, (qx + dx - 1) // 2
                    src = taps[:, 3 * dy + dx, :, :, py, px]
                    out[:, :, qy, qx, max(0, -sy) : h - max(0, sy), max(0, -sx) : w - max(0, sx)] += src[
                        :, :, max(0, sy) : h + min(0, sy), max(0, sx) : w + min(0, sx)
                    ]
    if bias is not None:
        out += bias.float().view(cout, 1, 1, 1, 1, 1)
    # [Cout,B,qy,qx,H,W] -> [B,Cout,H,qy,W,qx] = [B,Cout,2H,2W]
    return out.permute(1, 0, 4, 2, 5, 3).reshape(b, cout, 2 * h, 2 * w)


def shallow_features(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``reference.shallow_features`` without the full-size map: ``[B,3,S,S] -> ([B,D,S/4,S/4], [B,D,S/2,S/2])``.

    Bilinear halving (align_corners=False) averages rows ``2i, 2i+1`` and columns alike, and
    quartering averages rows ``4i+1, 4i+2``. Both are 2×2 means of the 3×3 convolution, i.e. one
    4×4 convolution (the four shifted 3×3 kernels averaged) with stride 2, or stride 4 from
    offset 1. Float32 out, channels-last.
    """
    kernel = weight.new_zeros(weight.shape[0], weight.shape[1], 4, 4)
    for dy in range(2):
        for dx in range(2):
            kernel[:, :, dy : dy + 3, dx : dx + 3] += weight
    kernel = kernel / 4
    padded = channels_last(F.pad(x.to(weight.dtype), (1, 1, 1, 1)))
    half = saturate(F.conv2d(padded, kernel, bias, stride=2))
    quarter = saturate(F.conv2d(padded[:, :, 1:, 1:], kernel, bias, stride=4))
    return quarter.float(), half.float()


class WindowLayout:
    """Swin windows by index: where every token goes when a ``height × width`` map is zero-padded to
    whole windows, rolled by ``-shift`` and cut into windows (the reference branch of
    ``backbone.SwinBlock``), as two index vectors, so each direction is one gather.

    ``gather``: for each of the ``nW·w²`` window slots, the source token (row-major index) or
    ``height·width`` for a padded slot. ``scatter``: for each real token, its window slot (the
    inverse: roll back, crop). Exact: only copies.
    """

    def __init__(self, height: int, width: int, window: int, shift: int, device: torch.device) -> None:
        hp, wp = -(-height // window) * window, -(-width // window) * window
        rows = (torch.arange(hp, device=device) + shift) % hp  # source row of each rolled row
        cols = (torch.arange(wp, device=device) + shift) % wp
        inside = (rows[:, None] < height) & (cols[None, :] < width)
        source = torch.where(inside, rows[:, None] * width + cols[None, :], height * width)
        # window-major, row-major inside a window (as backbone.window_partition orders them)
        self.gather = source.view(hp // window, window, wp // window, window).transpose(1, 2).reshape(-1)
        slots = torch.empty_like(self.gather)
        slots[self.gather] = torch.arange(self.gather.numel(), device=device)
        self.scatter = slots[: height * width]  # the pad index (last) is dropped
        self.tokens_per_image = height * width
        self.slots_per_image = self.gather.numel()

    def batched(self, index: torch.Tensor, n: int, stride: int, pad: int | None = None) -> torch.Tensor:
        """``index`` repeated for ``n`` images laid end to end (``stride`` rows apart)."""
        offsets = torch.arange(n, device=index.device)[:, None] * stride
        out = index[None, :] + offsets
        if pad is not None:  # padded slots all point at one shared row after the batch
            out = torch.where(index[None, :] == self.tokens_per_image, pad, out)
        return out.reshape(-1)
