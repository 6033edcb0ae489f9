"""Synthetic video-matting clips with exact ground truth, for measuring temporal stability.

A clip is a head-and-shoulders foreground with hair strands over a textured static background. The
body rests, moves, then rests again; some strands sway all the time, so fine structures move while the
body is still. Frames are composited exactly, ``I = a*F + (1-a)*B``, plus sensor noise.

Next to the ground truth, a *coarse* alpha per frame mimics a segmentation network: the true alpha is
warped by a small random smooth displacement, blurred, and re-sharpened with a sigmoid whose threshold
varies in space; a little smooth noise is added and the result is quantised to 8 bits. Part of the
threshold field is fixed for the whole clip (a network's consistent bias, which no temporal filter can
remove) and part is drawn anew for every frame (the independent per-frame error that makes mattes
flicker). Everything is seeded and pure torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["SyntheticClip", "make_clip"]


@dataclass
class SyntheticClip:
    """One clip. Shapes: ``frames [T,H,W,3]``, ``alpha``/``coarse`` ``[T,H,W]``, ``foreground [T,H,W,3]``,
    ``background [H,W,3]``; ``moving [T,H,W]`` is True where the true alpha changed since the previous
    frame (frame 0: False)."""

    frames: torch.Tensor
    alpha: torch.Tensor
    coarse: torch.Tensor
    foreground: torch.Tensor
    background: torch.Tensor
    moving: torch.Tensor


def _smooth_noise(generator: torch.Generator, count: int, height: int, width: int, scale: float) -> torch.Tensor:
    """Smooth random fields ``[count,H,W]`` with unit-ish std and features about ``scale`` px wide."""
    coarse_h, coarse_w = max(2, round(height / scale)), max(2, round(width / scale))
    field = torch.randn(count, 1, coarse_h + 2, coarse_w + 2, generator=generator)
    field = F.interpolate(field, size=(height + 2 * round(scale), width + 2 * round(scale)), mode="bicubic",
                          align_corners=False)
    pad = round(scale)
    field = field[:, 0, pad: pad + height, pad: pad + width]
    return field / field.std(dim=(1, 2), keepdim=True).clamp_min(1e-6)


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[N,1,H,W]`` with reflect padding."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    image = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    image = F.conv2d(image, kernel.view(1, 1, 1, -1))
    return F.conv2d(image, kernel.view(1, 1, -1, 1))


def _ellipse_alpha(xx: torch.Tensor, yy: torch.Tensor, cx: float, cy: float, rx: float, ry: float) -> torch.Tensor:
    """Anti-aliased ellipse coverage: signed distance approximated by the normalised radius."""
    radius = torch.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    return (0.5 - (radius - 1) * min(rx, ry)).clamp(0, 1)


def _segment_distance(px: torch.Tensor, py: torch.Tensor, ax: torch.Tensor, ay: torch.Tensor,
                      bx: torch.Tensor, by: torch.Tensor) -> torch.Tensor:
    """Distance from pixels ``[P]`` to segments ``[S]`` -> ``[S,P]``."""
    dx, dy = (bx - ax)[:, None], (by - ay)[:, None]
    length2 = (dx ** 2 + dy ** 2).clamp_min(1e-9)
    t = (((px[None] - ax[:, None]) * dx + (py[None] - ay[:, None]) * dy) / length2).clamp(0, 1)
    return torch.sqrt((px[None] - ax[:, None] - t * dx) ** 2 + (py[None] - ay[:, None] - t * dy) ** 2)


def _render_strands(points_x: torch.Tensor, points_y: torch.Tensor, widths: torch.Tensor, opacities: torch.Tensor,
                    height: int, width: int) -> torch.Tensor:
    """Coverage ``[H,W]`` of anti-aliased polylines ``points [S,K]`` (each drawn only in its bounding box)."""
    transparency = torch.ones(height, width)
    for index in range(points_x.shape[0]):
        margin = float(widths[index]) / 2 + 1.5
        x0 = max(0, int(points_x[index].min() - margin)); x1 = min(width, int(points_x[index].max() + margin) + 1)
        y0 = max(0, int(points_y[index].min() - margin)); y1 = min(height, int(points_y[index].max() + margin) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        py, px = torch.meshgrid(torch.arange(y0, y1, dtype=torch.float32) + 0.5,
                                torch.arange(x0, x1, dtype=torch.float32) + 0.5, indexing="ij")
        xs, ys = points_x[index], points_y[index]
        distance = _segment_distance(px.reshape(-1), py.reshape(-1), xs[:-1], ys[:-1], xs[1:], ys[1:]).amin(dim=0)
        coverage = (widths[index] / 2 + 0.5 - distance).clamp(0, 1) * opacities[index]
        transparency[y0:y1, x0:x1] *= (1 - coverage).view(y1 - y0, x1 - x0)
    return 1 - transparency


def make_clip(
    seed: int = 0,
    *,
    frames: int = 48,
    height: int = 192,
    width: int = 256,
    strands: int = 48,
    speed: float = 1.5,
    sensor_noise: float = 0.01,
    warp_px: float = 0.8,
    blur_px: float = 1.5,
    threshold_jitter: float = 0.12,
    consistent_fraction: float = 0.5,
) -> SyntheticClip:
    """Render one seeded clip (see the module docstring).

    Args:
        seed: everything random derives from it.
        frames, height, width: clip size ``T,H,W``.
        strands: number of hair strands.
        speed: body speed in px/frame during the middle third of the clip (the rest is still).
        sensor_noise: std of the Gaussian noise added to every frame (0..1 units).
        warp_px: amplitude of the coarse alpha's random smooth displacement.
        blur_px: Gaussian sigma of the coarse alpha's softness.
        threshold_jitter: std of the coarse alpha's sigmoid threshold field around 0.5.
        consistent_fraction: share of the threshold-field variance that is the same in every frame (a
            network's consistent bias); the rest is drawn independently per frame.
    """
    if frames < 2 or height < 32 or width < 32:
        raise ValueError(f"a clip needs frames >= 2 and a size of at least 32x32, got {frames}x{height}x{width}")
    if not 0.0 <= consistent_fraction <= 1.0:
        raise ValueError(f"consistent_fraction must be in 0..1, got {consistent_fraction}")
    gen = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=gen)

    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32) + 0.5,
                            torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij")
    size = min(height, width)

    # Background: smooth colour blobs + fine texture, static (a locked-off camera).
    base = _smooth_noise(gen, 3, height, width, size / 4).permute(1, 2, 0)
    detail = _smooth_noise(gen, 1, height, width, 3.0)[0, :, :, None]
    background = (uniform(0.3, 0.6, 3) + 0.15 * base + 0.06 * detail).clamp(0, 1)

    # Body: head + shoulders, a textured skin/cloth colour fixed to the body.
    head_rx, head_ry = 0.16 * size, 0.2 * size
    start_x = 0.38 * width
    move_start, move_end = frames // 3, 2 * frames // 3
    positions = [start_x + speed * min(max(t - move_start, 0), move_end - move_start) for t in range(frames)]
    skin = uniform(0.55, 0.85, 3)
    cloth = uniform(0.1, 0.5, 3)
    texture_field = _smooth_noise(gen, 1, height, width + int(abs(speed) * frames) + 8, 4.0)[0]

    # Hair strands: roots on the upper half of the head, curved outward; a third sway.
    root_angle = uniform(-math.pi * 0.95, -math.pi * 0.05, strands)
    strand_length = uniform(0.08, 0.22, strands) * size
    bend = uniform(-0.6, 0.6, strands)
    sway_amplitude = torch.where(torch.rand(strands, generator=gen) < 0.35, uniform(1.5, 4.0, strands),
                                 torch.zeros(strands))
    sway_phase = uniform(0, 2 * math.pi, strands)
    sway_period = uniform(10, 24, strands)
    strand_width = uniform(0.6, 1.6, strands)
    strand_opacity = uniform(0.6, 1.0, strands)
    hair_colour = uniform(0.05, 0.35, 3) * torch.tensor([1.0, 0.8, 0.6])
    segments = 6

    alpha_frames, fg_frames = [], []
    for t in range(frames):
        cx, cy = positions[t], 0.42 * height
        head = _ellipse_alpha(xx, yy, cx, cy, head_rx, head_ry)
        shoulders = _ellipse_alpha(xx, yy, cx, cy + 0.62 * size, 0.38 * size, 0.3 * size)
        body = torch.maximum(head, shoulders)
        shift = int(round(positions[t] - start_x))
        texture = texture_field[:, shift: shift + width]
        body_colour = torch.where((shoulders > head)[..., None], cloth, skin) * (1 + 0.08 * texture[..., None])

        # Strand polylines: root on the head outline, direction outward, quadratic bend, sway at the tip.
        roots_x = cx + head_rx * torch.cos(root_angle) * 0.92
        roots_y = cy + head_ry * torch.sin(root_angle) * 0.92
        out_x, out_y = torch.cos(root_angle), torch.sin(root_angle)
        sway = sway_amplitude * torch.sin(2 * math.pi * t / sway_period + sway_phase)
        s = torch.linspace(0, 1, segments + 1)[None]
        along = strand_length[:, None] * s
        sideways = (bend[:, None] * strand_length[:, None] * 0.3 + sway[:, None]) * s ** 2
        points_x = roots_x[:, None] + out_x[:, None] * along - out_y[:, None] * sideways
        points_y = roots_y[:, None] + out_y[:, None] * along + out_x[:, None] * sideways
        hair = _render_strands(points_x, points_y, strand_width, strand_opacity, height, width)

        alpha = hair + body * (1 - hair)
        colour = (hair[..., None] * hair_colour + (body * (1 - hair))[..., None] * body_colour)
        colour = colour / alpha.clamp_min(1e-6)[..., None]
        alpha_frames.append(alpha)
        fg_frames.append(torch.where(alpha[..., None] > 0, colour, torch.zeros(())).clamp(0, 1))

    alpha = torch.stack(alpha_frames)
    foreground = torch.stack(fg_frames)
    clean = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    noisy = clean + sensor_noise * torch.randn(clean.shape, generator=gen)
    images = (noisy.clamp(0, 1) * 255).round() / 255  # 8-bit frames, as decoded from a file

    coarse = _coarse_alpha(gen, alpha, warp_px, blur_px, threshold_jitter, consistent_fraction, size)
    moving = torch.zeros_like(alpha, dtype=torch.bool)
    moving[1:] = (alpha[1:] - alpha[:-1]).abs() > 1e-3
    return SyntheticClip(images, alpha, coarse, foreground, background, moving)


def _coarse_alpha(gen: torch.Generator, alpha: torch.Tensor, warp_px: float, blur_px: float,
                  threshold_jitter: float, consistent_fraction: float, size: int) -> torch.Tensor:
    """Network-like soft alpha ``[T,H,W]`` with consistent and independent per-frame errors."""
    count, height, width = alpha.shape
    field_scale = size / 6
    # Displacement: a consistent part and a per-frame part, both smooth in space.
    consistent_warp = _smooth_noise(gen, 2, height, width, field_scale)
    per_frame_warp = _smooth_noise(gen, 2 * count, height, width, field_scale).view(count, 2, height, width)
    mix_c, mix_f = math.sqrt(consistent_fraction), math.sqrt(1 - consistent_fraction)
    warp = warp_px * (mix_c * consistent_warp[None] + mix_f * per_frame_warp)
    base_y, base_x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    grid = torch.stack([base_x[None] + warp[:, 0] * 2 / width, base_y[None] + warp[:, 1] * 2 / height], dim=-1)
    warped = F.grid_sample(alpha[:, None], grid, mode="bilinear", padding_mode="border", align_corners=True)

    soft = _gaussian_blur(warped, blur_px)[:, 0]
    threshold = 0.5 + threshold_jitter * (
        mix_c * _smooth_noise(gen, 1, height, width, field_scale / 2)
        + mix_f * _smooth_noise(gen, count, height, width, field_scale / 2)
    )
    # Sharpening as a network's sigmoid head does: steep where the blurred alpha crosses the threshold.
    threshold = threshold.clamp(0.15, 0.85)
    coarse = torch.sigmoid((soft - threshold) * 10.0)
    # Rescale so that solid regions are exactly 0 and 1, as in real network output.
    low, high = torch.sigmoid(-threshold * 10.0), torch.sigmoid((1 - threshold) * 10.0)
    coarse = ((coarse - low) / (high - low)).clamp(0, 1)
    coarse = coarse + 0.01 * _smooth_noise(gen, count, height, width, 2.0) * (coarse * (1 - coarse) * 4)
    return (coarse.clamp(0, 1) * 255).round() / 255
