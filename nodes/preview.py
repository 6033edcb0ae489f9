"""Preview PNGs for the pack's front-end extension (``web/ben2.js``).

The nodes return ``io.NodeOutput(..., ui=<dict from here>)``. Each helper writes a few small PNGs
into ComfyUI's temp folder, the way core Preview Image does (``type: "temp"``, empty subfolder,
files removed when the server exits), and returns the ui dict that the page receives in the
``executed`` message.

The keys are our own (``ben2_*``), never core's ``images``: with ``images`` the default frontend
would draw its own preview (no checkerboard, alpha lost against the node colour) under ours, and
the queue sidebar would list every preview as an output. Only our extension reads these keys.

Previews are cheap on purpose, so big batches do not slow a graph down: at most
``MAX_PREVIEW_IMAGES`` images of a batch, downscaled on the tensor's own device to at most
``MAX_PREVIEW_SIDE`` pixels (``MAX_COMPARE_SIDE`` for the zoomable before/after), PNG compress
level 1. Every value of the returned dict is a list, as ComfyUI's executor merges ui outputs
list by list.

Nothing here imports ComfyUI at module import (``folder_paths`` is imported lazily), so the module
is testable on its own with an explicit ``directory``.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MAX_PREVIEW_IMAGES = 4
MAX_PREVIEW_SIDE = 768
# Before/after is zoomed in on to judge hair, so it keeps more pixels.
MAX_COMPARE_SIDE = 1024
PNG_COMPRESS_LEVEL = 1

UI_RGBA = "ben2_rgba"
UI_TRIMAP = "ben2_trimap"
UI_TRIMAP_IMAGE = "ben2_trimap_image"
UI_BEFORE = "ben2_before"
UI_AFTER = "ben2_after"
UI_BATCH_SIZE = "ben2_batch_size"

SavedFile = dict[str, str]


def rgba_preview_ui(rgba: torch.Tensor, *, directory: str | os.PathLike | None = None) -> dict[str, list[Any]]:
    """Write transparent PNG previews of an RGBA batch.

    Args:
        rgba: ``[B,H,W,4]`` float in 0..1 (any device / float dtype), straight (not premultiplied)
            alpha; ``[B,H,W,3]`` is accepted too and shown opaque (e.g. a composite).
        directory: folder for the files; ``None`` = ComfyUI's temp folder.

    Returns:
        ``{"ben2_rgba": [file, ...], "ben2_batch_size": [B]}`` with
        ``file = {"filename", "subfolder": "", "type": "temp"}``.
    """
    _check_images(rgba, "rgba", channels=(3, 4))
    mode = "RGBA" if rgba.shape[-1] == 4 else "RGB"
    files = _write_batch(rgba, "rgba", mode, MAX_PREVIEW_SIDE, _resolve_directory(directory))
    return {UI_RGBA: files, UI_BATCH_SIZE: [int(rgba.shape[0])]}


def trimap_preview_ui(
    trimap: torch.Tensor,
    image: torch.Tensor | None = None,
    *,
    directory: str | os.PathLike | None = None,
) -> dict[str, list[Any]]:
    """Write a trimap (greyscale) and, when given, the image under it, for the overlay preview.

    The page colours the trimap itself, so the overlay opacity and colours change without a re-run.

    Args:
        trimap: ``[B,H,W]`` float, 0 = background, 0.5 = unknown, 1 = foreground.
        image: ``[B,H,W,3]`` (or ``[B,H,W,4]``, alpha dropped) float 0..1, or ``None``; a
            different size than the trimap is fine (both are drawn at the preview size).
        directory: folder for the files; ``None`` = ComfyUI's temp folder.

    Returns:
        ``{"ben2_trimap": [file, ...], "ben2_trimap_image": [file, ...] or [], "ben2_batch_size": [B]}``.
    """
    _check_masks(trimap, "trimap")
    folder = _resolve_directory(directory)
    # Nearest keeps the three classes exact when a large trimap is downscaled.
    trimap_files = _write_batch(trimap.unsqueeze(-1), "trimap", "L", MAX_PREVIEW_SIDE, folder, nearest=True)
    image_files: list[SavedFile] = []
    if image is not None:
        _check_images(image, "image", channels=(3, 4))
        image_files = _write_batch(image[..., :3], "trimap_image", "RGB", MAX_PREVIEW_SIDE, folder)
    return {UI_TRIMAP: trimap_files, UI_TRIMAP_IMAGE: image_files, UI_BATCH_SIZE: [int(trimap.shape[0])]}


def compare_preview_ui(
    before_rgba: torch.Tensor,
    after_rgba: torch.Tensor,
    *,
    directory: str | os.PathLike | None = None,
) -> dict[str, list[Any]]:
    """Write before/after RGBA pairs for the compare slider (Refine Edges).

    The page shows ``after`` as the node's normal preview, so a node calls this instead of
    :func:`rgba_preview_ui`, not in addition to it.

    Args:
        before_rgba: ``[B,H,W,4]`` float 0..1, the coarse cut-out.
        after_rgba: ``[B,H,W,4]`` float 0..1, the refined cut-out (same shape as ``before_rgba``).
        directory: folder for the files; ``None`` = ComfyUI's temp folder.

    Returns:
        ``{"ben2_before": [file, ...], "ben2_after": [file, ...], "ben2_batch_size": [B]}``.
    """
    _check_images(before_rgba, "before_rgba", channels=(4,))
    _check_images(after_rgba, "after_rgba", channels=(4,))
    if before_rgba.shape != after_rgba.shape:
        raise ValueError(
            f"compare preview: before_rgba {tuple(before_rgba.shape)} and after_rgba {tuple(after_rgba.shape)} "
            "must have the same shape; pass the coarse and refined cut-outs of the same batch"
        )
    folder = _resolve_directory(directory)
    before = _write_batch(before_rgba, "before", "RGBA", MAX_COMPARE_SIDE, folder)
    after = _write_batch(after_rgba, "after", "RGBA", MAX_COMPARE_SIDE, folder)
    return {UI_BEFORE: before, UI_AFTER: after, UI_BATCH_SIZE: [int(before_rgba.shape[0])]}


def _resolve_directory(directory: str | os.PathLike | None) -> str:
    if directory is not None:
        return os.fspath(directory)
    import folder_paths  # ComfyUI's module; imported here so this file loads without ComfyUI

    return folder_paths.get_temp_directory()


def _check_images(images: Any, name: str, *, channels: tuple[int, ...]) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"preview: {name} must be a torch.Tensor [B,H,W,C], got {type(images).__name__}")
    if images.ndim != 4 or images.shape[-1] not in channels:
        raise ValueError(
            f"preview: {name} must be [B,H,W,C] with C in {channels}, got shape {tuple(images.shape)}"
        )
    _check_not_empty(images, name)


def _check_masks(masks: Any, name: str) -> None:
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"preview: {name} must be a torch.Tensor [B,H,W], got {type(masks).__name__}")
    if masks.ndim != 3:
        raise ValueError(f"preview: {name} must be [B,H,W], got shape {tuple(masks.shape)}")
    _check_not_empty(masks, name)


def _check_not_empty(tensor: torch.Tensor, name: str) -> None:
    if tensor.numel() == 0:
        raise ValueError(f"preview: {name} is empty (shape {tuple(tensor.shape)}); pass at least one 1x1 image")


def preview_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """``(height, width)`` scaled down (never up) so the longer side is at most ``max_side``."""
    longest = max(height, width)
    if longest <= max_side:
        return height, width
    scale = max_side / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def _to_preview_uint8(images: torch.Tensor, max_side: int, nearest: bool) -> np.ndarray:
    """``[N,H,W,C]`` float -> ``[N,h,w,C]`` uint8 numpy, downscaled on the tensor's device first."""
    images = images.detach()
    if not images.is_floating_point() or images.dtype in (torch.float16, torch.bfloat16):
        images = images.float()  # interpolate and rounding want full precision on every device
    height, width = images.shape[1], images.shape[2]
    target = preview_size(height, width, max_side)
    if target != (height, width):
        nchw = images.permute(0, 3, 1, 2)
        if nearest:
            nchw = F.interpolate(nchw, size=target, mode="nearest-exact")
        else:
            nchw = F.interpolate(nchw, size=target, mode="bilinear", antialias=True, align_corners=False)
        images = nchw.permute(0, 2, 3, 1)
    images = torch.nan_to_num(images, nan=0.0).clamp(0.0, 1.0)
    return (images * 255.0).round().to(torch.uint8).cpu().numpy()


def _write_batch(
    images: torch.Tensor, kind: str, pil_mode: str, max_side: int, folder: str, *, nearest: bool = False
) -> list[SavedFile]:
    """Write the first ``MAX_PREVIEW_IMAGES`` of ``[B,H,W,C]`` as PNGs; returns their ui entries."""
    os.makedirs(folder, exist_ok=True)
    pixels = _to_preview_uint8(images[:MAX_PREVIEW_IMAGES], max_side, nearest)
    # A random token per call, like core's "_temp_xxxxx" prefix, so concurrent nodes never collide
    # and the browser never shows a cached older file under the same name.
    token = secrets.token_hex(5)
    files: list[SavedFile] = []
    for index, frame in enumerate(pixels):
        filename = f"ben2_{kind}_{token}_{index:05}_.png"
        array = frame[..., 0] if pil_mode == "L" else frame  # [h,w] -> L, [h,w,3] -> RGB, [h,w,4] -> RGBA
        Image.fromarray(array).save(os.path.join(folder, filename), compress_level=PNG_COMPRESS_LEVEL)
        files.append({"filename": filename, "subfolder": "", "type": "temp"})
    return files
