"""Temporal alpha stabilisation: remove per-frame matte flicker without smearing what moves.

A segmentation network sees every frame on its own, so its small independent errors (a boundary that
shifts by half a pixel, a strand kept in one frame and dropped in the next) flicker in video.
``stabilize_alpha`` averages alpha over time with a motion-compensated, motion-gated recursive filter,
run forwards and backwards (zero lag):

    state_t = alpha_t + k_t * (aligned(state_{t-1}) - alpha_t),    k_t = strength * gate(change_t)

The filter state (alpha and the picture it was averaged from) is first aligned to frame ``t`` by local
block matching (integer shifts up to ``search`` px, chosen per pixel on window-averaged colour
difference). ``change_t`` is what is left between frame ``t`` and the aligned state picture, taken both
window-averaged and per pixel (so a thin moving strand counts) and slightly dilated. Where the
picture moved in a way the alignment cannot follow, the gate closes at once and the pixel keeps its own
per-frame alpha; where it is still, or moved rigidly by a few pixels, alpha is averaged over about
``(1+k)/(1-k)`` frames. Because the state picture is filtered with the same gains, slow drift (a
fraction of a pixel per frame) accumulates into a visible change instead of being missed.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

__all__ = ["StreamingStabilizer", "stabilize_alpha"]


def _check_inputs(alpha: torch.Tensor, frames: torch.Tensor) -> None:
    if not isinstance(alpha, torch.Tensor) or not isinstance(frames, torch.Tensor):
        raise TypeError("alpha and frames must be torch.Tensors ([T,H,W] and [T,H,W,3])")
    if alpha.ndim != 3:
        raise ValueError(f"alpha must be [T,H,W] (a MASK batch, one frame per item), got shape {tuple(alpha.shape)}")
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4):
        raise ValueError(f"frames must be [T,H,W,3] (an IMAGE batch), got shape {tuple(frames.shape)}")
    if tuple(frames.shape[:3]) != tuple(alpha.shape):
        raise ValueError(
            f"frames {tuple(frames.shape[:3])} and alpha {tuple(alpha.shape)} differ: pass one mask per frame, "
            "at the frame size"
        )
    if alpha.shape[0] == 0:
        raise ValueError("empty batch: pass at least one frame")
    if not alpha.is_floating_point() or not frames.is_floating_point():
        raise TypeError("alpha and frames must be floating point (0..1)")


def _box_mean(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)^2`` window of ``[H,W]`` or ``[N,H,W]`` (edges replicated)."""
    if radius <= 0:
        return image
    planes = image.reshape(-1, 1, *image.shape[-2:])
    planes = F.pad(planes, (radius, radius, radius, radius), mode="replicate")
    return F.avg_pool2d(planes, 2 * radius + 1, stride=1).reshape(image.shape)


def _dilate(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Max over a ``(2r+1)^2`` window of ``[H,W]``."""
    if radius <= 0:
        return image
    return F.max_pool2d(image[None, None], 2 * radius + 1, stride=1, padding=radius)[0, 0]


def _align_state(
    frame: torch.Tensor,
    state_frame: torch.Tensor,
    state_alpha: torch.Tensor,
    search: int,
    radius: int,
    shift_penalty: float,
    still_level: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Motion-compensate the filter state to ``frame`` by local block matching.

    For every integer shift within ``search`` px, the window-averaged colour difference between ``frame``
    ``[H,W,C]`` and the shifted state picture is a matching cost; each pixel takes the state (picture
    ``[H,W,C]`` and alpha ``[H,W]``) from its cheapest shift. A small cost per pixel of shift makes flat
    areas keep shift 0, and pixels whose unshifted change is at most ``still_level`` are still: they keep
    shift 0 without a search (which is then run only on the box around the others). Returns the aligned
    picture, the aligned alpha and the remaining change ``[H,W]`` (the matching cost without the penalty).
    """
    height, width = state_alpha.shape
    still_change = _box_mean((frame - state_frame).abs().mean(dim=-1), radius)
    moved = still_change > still_level
    if search <= 0 or not bool(moved.any()):
        return state_frame, state_alpha, still_change
    # Search only the bounding box of the moved pixels, widened by the matching window.
    rows_moved = torch.nonzero(moved.any(dim=1)).flatten()
    cols_moved = torch.nonzero(moved.any(dim=0)).flatten()
    y0, y1 = max(0, int(rows_moved[0]) - radius), min(height, int(rows_moved[-1]) + radius + 1)
    x0, x1 = max(0, int(cols_moved[0]) - radius), min(width, int(cols_moved[-1]) + radius + 1)
    box_height, box_width = y1 - y0, x1 - x0
    # Edge-replicated padding of the whole state: a shifted view of the box is then a plain slice.
    stacked = torch.cat([state_frame, state_alpha[..., None]], dim=-1).permute(2, 0, 1)[None]
    padded = F.pad(stacked, (search, search, search, search), mode="replicate")[0]
    channels = state_frame.shape[-1]
    frame_planes = frame[y0:y1, x0:x1].permute(2, 0, 1)
    best_cost = best_change = best_offset = None
    padded_width = width + 2 * search
    for dy in range(-search, search + 1):
        # One row of shifts at a time: a single pooling call for 2*search+1 shifts, memory O(search*H*W).
        top = y0 + search - dy
        differences = torch.stack([
            (frame_planes - padded[:channels, top: top + box_height, x0 + search - dx: x0 + search - dx + box_width])
            .abs().mean(dim=0)
            for dx in range(-search, search + 1)
        ])
        changes = _box_mean(differences, radius)
        for column, dx in enumerate(range(-search, search + 1)):
            change = changes[column]
            cost = change + shift_penalty * (abs(dy) + abs(dx))
            offset = (search - dy) * padded_width + search - dx
            if best_cost is None:
                best_cost, best_change = cost, change
                best_offset = torch.full_like(cost, offset, dtype=torch.long)
            else:
                better = cost < best_cost
                best_cost = torch.where(better, cost, best_cost)
                best_change = torch.where(better, change, best_change)
                best_offset.masked_fill_(better, offset)
    # Still pixels keep shift 0 (also inside the box, so the result does not depend on its extent).
    moved_box = moved[y0:y1, x0:x1]
    zero_offset = search * padded_width + search
    offset_map = torch.full((height, width), zero_offset, dtype=torch.long, device=frame.device)
    offset_map[y0:y1, x0:x1] = torch.where(moved_box, best_offset, torch.full_like(best_offset, zero_offset))
    change_map = still_change.clone()
    change_map[y0:y1, x0:x1] = torch.where(moved_box, best_change, still_change[y0:y1, x0:x1])
    # One gather for the picture and alpha at the chosen shifts.
    rows = torch.arange(height, device=frame.device)[:, None] * padded_width
    cols = torch.arange(width, device=frame.device)[None, :]
    source = (offset_map + rows + cols).reshape(-1)
    aligned = padded.reshape(channels + 1, -1)[:, source].reshape(channels + 1, height, width)
    return aligned[:channels].permute(1, 2, 0), aligned[channels], change_map


def _recursive_pass(
    alpha: torch.Tensor,
    frames: torch.Tensor,
    order: range,
    out: torch.Tensor,
    combine: bool,
    *,
    strength: float,
    threshold: float,
    radius: int,
    dilation: int,
    search: int,
    shift_penalty: float,
    chunk_size: int,
    work_device: torch.device,
    work_dtype: torch.dtype,
    on_chunk: Callable[[int], None],
) -> None:
    """One direction of the gated recursion; writes (or averages into) ``out`` frame by frame."""
    state_alpha: torch.Tensor | None = None
    state_frame: torch.Tensor | None = None
    indices = list(order)
    for start in range(0, len(indices), chunk_size):
        chunk = indices[start: start + chunk_size]
        low, high = min(chunk), max(chunk) + 1
        # One chunk of frames on the working device at a time: memory stays bounded for any clip length.
        frames_chunk = frames[low:high].to(work_device, work_dtype)
        alpha_chunk = alpha[low:high].to(work_device, work_dtype)
        for index in chunk:
            frame, current = frames_chunk[index - low], alpha_chunk[index - low]
            if state_alpha is None or state_frame is None:
                state_alpha, state_frame = current.clone(), frame.clone()
            else:
                state_frame, state_alpha, change = _align_state(
                    frame, state_frame, state_alpha, search, radius, shift_penalty, 0.5 * threshold)
                # The window mean dilutes a thin moving strand; the pixel's own change does not.
                change = torch.maximum(change, (frame - state_frame).abs().mean(dim=-1))
                change = _dilate(change, dilation)
                # Smooth gate: 1 well below the threshold, 0 at twice the threshold and above.
                gate = (2.0 - change / threshold).clamp(0.0, 1.0)
                keep = strength * gate
                state_alpha = current + keep * (state_alpha - current)
                state_frame = frame + keep[..., None] * (state_frame - frame)
            result = state_alpha.to(out.device, out.dtype)
            if combine:
                out[index] = 0.5 * (out[index] + result)
            else:
                out[index] = result
        on_chunk(len(chunk))


def stabilize_alpha(
    alpha: torch.Tensor,
    frames: torch.Tensor,
    *,
    strength: float = 0.85,
    motion_threshold: float = 0.05,
    radius: int | None = None,
    dilation: int | None = None,
    search: int = 2,
    shift_penalty: float = 0.002,
    chunk_size: int = 32,
    device: torch.device | str | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Stabilise per-frame mattes over time where the picture is still or moves rigidly by a few pixels.

    Args:
        alpha: ``[T,H,W]`` per-frame alpha in 0..1 (MASK layout, 1 = foreground), frames in time order.
        frames: ``[T,H,W,3]`` the frames the mattes were computed from, 0..1 (IMAGE layout); any device.
        strength: how much of the past/future a still pixel keeps per frame, in 0..0.98 (0 = off). The
            default averages a still pixel over about 12 frames ((1+k)/(1-k)).
        motion_threshold: mean absolute colour change (0..1 units, after alignment) at which averaging
            starts to stop; it stops completely at twice this. Keep it above the noise of the footage
            (~0.01 for clean 8-bit video) and below real changes.
        radius: half-size of the matching window; default ``max(1, max(H, W) // 256)``.
        dilation: how far a detected change also stops averaging around it; default ``radius``.
        search: largest motion (px per frame) the alignment follows; costs ``(2*search+1)^2`` window
            comparisons per frame. 0 = no alignment (fastest: only still pixels are averaged).
        shift_penalty: matching-cost handicap per pixel of shift, so flat or still areas keep shift 0.
        chunk_size: frames moved to the working device at a time (bounds memory for long clips).
        device: where to compute (e.g. the GPU while ``alpha``/``frames`` stay on the CPU); default
            ``alpha.device``. Only one chunk and a few planes live there at a time.
        on_chunk: ``on_chunk(done, total)`` after each chunk (``total = 2*T``: a forward and a backward
            pass); an exception raised in it stops the work.

    Returns:
        ``[T,H,W]`` stabilised alpha, same dtype and device as ``alpha`` (computed in at least float32).
        Memory: the output plus a few ``[H,W]`` planes and one chunk of frames. A single frame, or
        ``strength=0``, comes back unchanged.
    """
    _check_inputs(alpha, frames)
    if not 0.0 <= float(strength) <= 0.98:
        raise ValueError(f"strength must be in 0..0.98 (0 = off), got {strength}")
    if not float(motion_threshold) > 0.0:
        raise ValueError(f"motion_threshold must be > 0, got {motion_threshold}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    count, height, width = alpha.shape
    if radius is None:
        radius = max(1, max(height, width) // 256)
    if dilation is None:
        dilation = radius
    if radius < 0 or dilation < 0 or search < 0:
        raise ValueError(f"radius, dilation and search must be >= 0, got {radius}, {dilation} and {search}")
    if strength == 0.0 or count == 1:
        return alpha.clone()

    # Work in float32 at least: half-precision recursions drift.
    work_dtype = torch.promote_types(alpha.dtype, torch.float32)
    frames = frames[..., :3]
    out = torch.empty_like(alpha)
    done = 0

    def progress(frames_done: int) -> None:
        nonlocal done
        done += frames_done
        if on_chunk is not None:
            on_chunk(done, 2 * count)

    work_device = alpha.device if device is None else torch.device(device)
    options = dict(strength=float(strength), threshold=float(motion_threshold), radius=int(radius),
                   dilation=int(dilation), search=int(search), shift_penalty=float(shift_penalty),
                   chunk_size=chunk_size, work_device=work_device, work_dtype=work_dtype, on_chunk=progress)
    with torch.no_grad():
        _recursive_pass(alpha, frames, range(count), out, combine=False, **options)
        _recursive_pass(alpha, frames, range(count - 1, -1, -1), out, combine=True, **options)
    return out


class StreamingStabilizer:
    """``stabilize_alpha`` over a clip that arrives in chunks, in bounded memory.

    The filter runs forwards and backwards, so a frame's result depends on frames on both sides, with
    weights falling off as ``strength ** distance``. Each frame is finished inside a window holding at
    least ``context`` frames before and after it (fewer only at the ends of the clip, exactly as for the
    whole clip); farther frames would move it by about ``strength ** context`` (0.85 ** 16 = 0.07) of
    an already small correction. Frames are finished ``block`` at a time, so every frame is filtered
    about ``(block + 2 * context) / block`` times; the buffer holds ``block + 2 * context`` frames
    (8-bit pixels and float alpha, on the CPU).
    """

    def __init__(self, *, context: int = 16, block: int = 32, device: Any = None, **options: Any) -> None:
        if context < 0 or block < 1:
            raise ValueError(f"context must be >= 0 and block >= 1, got {context} and {block}")
        self.context, self.block = context, block
        self.options = dict(options, device=device)
        self._pixels: list[Any] = []  # uint8 [H,W,3] per frame (the decoded 8-bit values, exactly)
        self._alpha: list[Any] = []  # float32 [H,W] per frame, the network's raw alpha
        self._finished = 0  # how many frames at the start of the buffer were already returned

    def push(self, frames: Any, alpha: Any) -> tuple[Any, Any] | None:
        """Add ``frames [b,H,W,3]`` (0..1) and their ``alpha [b,H,W]``.

        Returns ``(frames [n,H,W,3], stabilised alpha [n,H,W])`` for the next ``n = block`` frames once
        enough later frames have arrived, else None. Results are float32 on the CPU.
        """
        self._pixels.extend(frames.detach().mul(255).round().to("cpu", torch.uint8).unbind(0))
        self._alpha.extend(alpha.detach().to("cpu", torch.float32).unbind(0))
        if len(self._pixels) - self._finished < self.block + self.context:
            return None
        return self._finish(self.block)

    def flush(self) -> tuple[Any, Any] | None:
        """The frames still pending at the end of the clip (None if there are none)."""
        pending = len(self._pixels) - self._finished
        return self._finish(pending) if pending else None

    def _finish(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        frames = torch.stack(self._pixels).float().div_(255)
        alpha = stabilize_alpha(torch.stack(self._alpha), frames, **self.options)
        start, stop = self._finished, self._finished + count
        result = (frames[start:stop], alpha[start:stop])
        drop = max(0, stop - self.context)  # keep `context` finished frames to warm up the next window
        del self._pixels[:drop], self._alpha[:drop]
        self._finished = stop - drop
        return result
