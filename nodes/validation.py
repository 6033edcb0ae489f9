"""Input checks shared by the nodes: a clear message naming the problem and the fix, before any work.

A node that raises here fails alone; ComfyUI shows the message on the node and keeps running.
Pure torch, no ComfyUI import.
"""

from __future__ import annotations

from typing import Any

import torch

# BEN2 resizes every image to its input size, so tiny images "work" mathematically, but a 1x1
# or 2x2 frame is never a real picture and breaks the per-image normalisation and edge filters.
MIN_SIDE = 8


def check_image(image: Any, name: str = "image", *, min_side: int = MIN_SIDE) -> torch.Tensor:
    """Validate a ComfyUI IMAGE and return its RGB view ``[B,H,W,3]`` (an alpha channel is dropped).

    Args:
        image: ``[B,H,W,C]`` float tensor in 0..1 with ``C`` 3 or 4 (fp16 is accepted).
        name: the input's name, used in messages.
        min_side: smallest height/width accepted (1 for a background, which is fitted anyway).

    Returns:
        ``[B,H,W,3]``, same dtype and device (a view: long batches are converted chunk by chunk later).
    """
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be an IMAGE tensor [B,H,W,C]; got {type(image).__name__}. Connect an IMAGE output.")
    if image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise ValueError(
            f"{name} must be an IMAGE [B,H,W,3] (or 4 channels); got shape {tuple(image.shape)}. "
            "Connect an IMAGE output (not a MASK or latent)."
        )
    _check_batch_and_size(image.shape[0], image.shape[1], image.shape[2], name, min_side)
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a float IMAGE in 0..1; got dtype {image.dtype}.")
    image = image[..., :3]
    _check_finite(image, name)
    return image


def check_mask(mask: Any, name: str = "mask") -> torch.Tensor:
    """Validate a ComfyUI MASK and return it as ``[B,H,W]`` (same dtype and device).

    Args:
        mask: ``[B,H,W]`` (or ``[H,W]``) float tensor in 0..1.
        name: the input's name, used in messages.

    Returns:
        ``[B,H,W]``, same dtype and device.
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a MASK tensor [B,H,W]; got {type(mask).__name__}. Connect a MASK output.")
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim != 3:
        raise ValueError(
            f"{name} must be a MASK [B,H,W]; got shape {tuple(mask.shape)}. "
            "Connect a MASK output (convert an image with core 'Convert Image to Mask')."
        )
    _check_batch_and_size(mask.shape[0], mask.shape[1], mask.shape[2], name)
    if not mask.is_floating_point():
        raise TypeError(f"{name} must be a float MASK in 0..1; got dtype {mask.dtype}.")
    _check_finite(mask, name)
    return mask


def match_batches(
    image: torch.Tensor, mask: torch.Tensor, image_name: str = "image", mask_name: str = "mask"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check that an image ``[B,H,W,C]`` and a mask ``[N,H,W]`` go together; repeat a batch of 1.

    Returns:
        ``(image, mask)`` with the same batch size (1 is broadcast to N by expanding, no copy).
    """
    if tuple(image.shape[1:3]) != tuple(mask.shape[1:3]):
        raise ValueError(
            f"{mask_name} is {mask.shape[2]}x{mask.shape[1]} (WxH) but {image_name} is "
            f"{image.shape[2]}x{image.shape[1]}: they must be the same size. Resize the mask to the image "
            "(or use the mask made from this image)."
        )
    image_batch, mask_batch = image.shape[0], mask.shape[0]
    if image_batch == mask_batch:
        return image, mask
    if mask_batch == 1:
        return image, mask.expand(image_batch, -1, -1)
    if image_batch == 1:
        return image.expand(mask_batch, -1, -1, -1), mask
    raise ValueError(
        f"{image_name} has {image_batch} frames but {mask_name} has {mask_batch}: give one mask per frame, "
        "or a single mask (or image) for the whole batch."
    )


def _check_batch_and_size(batch: int, height: int, width: int, name: str, min_side: int = MIN_SIDE) -> None:
    if batch == 0:
        raise ValueError(f"{name} is an empty batch (0 frames): check the node that feeds it.")
    if height < min_side or width < min_side:
        raise ValueError(
            f"{name} is {width}x{height} pixels; BEN2 needs at least {min_side}x{min_side}. "
            "Feed a real image (upscale tiny ones first)."
        )


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(
            f"{name} contains NaN or infinite values: an upstream node produced invalid pixels "
            "(e.g. a VAE decode in fp16 that overflowed); fix that node or run it in fp32."
        )
