"""BEN2's pre- and post-processing around the network, in the host's tensor layout.

The reference resizes the 8-bit image to the network size with Pillow's LANCZOS filter (aspect
ratio not kept), normalises with the ImageNet statistics in float32, and maps the mask back with a
bilinear upsampling followed by a per-image min-max normalisation. Pillow's LANCZOS works on
8-bit data with fixed-point weights, which no float resize reproduces, so the resize runs through
Pillow itself; ComfyUI images made from 8-bit files round-trip exactly through ``round(x·255)``.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checks import check_image
from .network.model import BEN2, IMAGENET_MEAN, IMAGENET_STD

ChunkCallback = Callable[[int, int], None]


# --------------------------------------------------------------------------- input checks


# Smallest image side BEN2 segments: the network sees every image resized to its input size, so a
# tiny image "works" arithmetically, but a 1x1 or 2x2 frame is never a real picture (it is a wrong
# link, e.g. a latent preview) and its min-max normalised mask is meaningless.
MIN_SEGMENT_SIDE = 8


def check_image_batch(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Validate a host-layout image batch ``[B,H,W,C]`` (C = 1, 3 or 4) for the network; return it as RGB.

    NaN/inf are refused, values outside 0..1 are clamped by the 8-bit conversion
    (``ben2_model.checks``' policy, without a full-size copy). (The nodes also refuse sides below ``MIN_SEGMENT_SIDE``.)

    Returns ``[B,H,W,3]`` on the same device, float; raises ``ValueError``/``TypeError`` naming the
    problem otherwise.
    """
    if isinstance(images, torch.Tensor) and images.dim() == 3 and images.shape[-1] in (1, 3, 4):
        raise ValueError(
            f"{name} has shape {list(images.shape)}: expected a batch [B,H,W,C]; add a batch "
            f"dimension with images.unsqueeze(0)"
        )
    images = check_image(images, name, channels="1|3|4", clamp=False)
    _, h, w, c = images.shape
    if c == 1:
        images = images.expand(-1, -1, -1, 3)
    elif c == 4:
        images = images[..., :3]  # the alpha channel is ignored, as the reference does
    return images


# --------------------------------------------------------------------------- network input


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[B,H,W,3]`` float 0..1 → ``uint8`` numpy, rounding (exact for images made from 8-bit files)."""
    return images.float().mul(255).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()


def resize_for_network(pixels: np.ndarray, size: int) -> np.ndarray:
    """Pillow LANCZOS resize of an ``[H,W,3]`` uint8 image to ``[size,size,3]`` (aspect not kept)."""
    return np.asarray(Image.fromarray(pixels, "RGB").resize((size, size), Image.LANCZOS))


def normalise(resized: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``[b,S,S,3]`` uint8 → ImageNet-normalised ``[b,3,S,S]`` (float32 arithmetic, then ``dtype``)."""
    x = torch.from_numpy(np.require(resized, requirements=["C", "W"])).to(device).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std).to(dtype)


def default_batch_size(model: BEN2) -> int:
    """Images per forward when the caller does not say: 1 on CPU (no gain from batching there),
    4 on an accelerator."""
    return 1 if model.device.type == "cpu" else 4


def masks_at_network_size(
    model: BEN2,
    pixels: Sequence[np.ndarray],
    *,
    batch_size: int | None = None,
    on_chunk: ChunkCallback | None = None,
) -> Iterator[torch.Tensor]:
    """Run the network over 8-bit RGB images of any sizes, chunk by chunk.

    Args:
        pixels: ``[H_i,W_i,3]`` uint8 arrays.
    Yields:
        ``[b,1,S,S]`` float32 masks on the model's device, one tensor per chunk.
    """
    size = model.input_size
    step = batch_size or default_batch_size(model)
    if step < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    total = len(pixels)
    for start in range(0, total, step):
        chunk = pixels[start : start + step]
        resized = np.stack([resize_for_network(p, size) for p in chunk])
        with torch.inference_mode():
            mask = model(normalise(resized, model.device, model.dtype))
        yield mask
        if on_chunk is not None:
            on_chunk(min(start + step, total), total)


# --------------------------------------------------------------------------- post-processing


def min_max_normalise(alpha: torch.Tensor) -> torch.Tensor:
    """Per-image ``(a - min) / (max - min)`` over ``[b,H,W]``; an image whose mask is constant (no
    contrast to stretch) is returned unchanged instead of becoming NaN."""
    flat = alpha.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1)
    span = high - low
    flat_images = span <= 0
    return torch.where(flat_images, alpha, (alpha - low) / torch.where(flat_images, 1.0, span))


def mask_to_image_size(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[b,1,S,S] -> [b,H,W]`` bilinear (align_corners=False, no antialias), like the reference."""
    return F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)[:, 0]


def predict_alpha(
    model: BEN2,
    images: torch.Tensor,
    *,
    batch_size: int | None = None,
    normalize: bool = True,
    on_chunk: ChunkCallback | None = None,
) -> torch.Tensor:
    """Foreground alpha for an image batch, with the reference pre/post-processing.

    Args:
        model: a ``BEN2`` (from ``load_model``), on any device and dtype.
        images: ``[B,H,W,C]`` float in 0..1, C = 3 (RGB), 4 (alpha ignored) or 1 (grey).
        batch_size: images per forward pass; memory stays bounded by one chunk. ``None``: 1 on CPU,
            4 on an accelerator.
        normalize: per-image min-max normalisation of the mask, as the reference does. It makes
            every mask span 0..1, which turns a scene with no subject into a full mask; ``False``
            returns the network's probabilities.
        on_chunk: called as ``on_chunk(done, total)`` after each chunk; raise in it to stop.
    Returns:
        ``[B,H,W]`` float32 in 0..1 on ``images.device``.
    """
    rgb = check_image_batch(images)
    b, h, w, _ = rgb.shape
    out = torch.empty(b, h, w, dtype=torch.float32, device=images.device)
    step = batch_size or default_batch_size(model)
    done = 0
    # convert to 8 bit one chunk at a time, so host memory holds one chunk of uint8 copies
    for start in range(0, b, step):
        pixels = to_uint8(rgb[start : start + step])
        for mask in masks_at_network_size(model, list(pixels), batch_size=step):
            alpha = mask_to_image_size(mask, h, w)
            if normalize:
                alpha = min_max_normalise(alpha)
            out[done : done + alpha.shape[0]] = alpha.clamp_(0, 1).to(out.device)
            done += alpha.shape[0]
        if on_chunk is not None:
            on_chunk(done, b)
    return out


# --------------------------------------------------------------------------- reference-style RGBA


def _alpha_plain(mask: torch.Tensor, height: int, width: int) -> np.ndarray:
    """Reference non-refined alpha: bilinear, min-max, ×255, truncation. ``[1,1,S,S] -> [H,W]`` uint8."""
    alpha = min_max_normalise(mask_to_image_size(mask.float(), height, width))[0]
    return (alpha * 255).cpu().numpy().astype(np.uint8)


def _alpha_refined(mask: torch.Tensor, height: int, width: int) -> np.ndarray:
    """Reference refined-path alpha: ×255 truncated at network size, then Pillow's default
    (bicubic) resize. ``[1,1,S,S] -> [H,W]`` uint8."""
    small = (mask[0, 0].float() * 255).to(torch.uint8).cpu().numpy()
    return np.asarray(Image.fromarray(small, "L").resize((width, height), Image.BICUBIC))


def _rgba_from_mask(rgb: np.ndarray, mask: torch.Tensor, refine_foreground: bool) -> np.ndarray:
    """``[H,W,3]`` uint8 + ``[1,1,S,S]`` mask → ``[H,W,4]`` uint8 as the reference ``inference()``."""
    from .matting.foreground import estimate_foreground

    h, w, _ = rgb.shape
    if not refine_foreground:
        return np.dstack([rgb, _alpha_plain(mask, h, w)])
    alpha = _alpha_refined(mask, h, w)
    # blur fusion in float64 on image/255 and alpha/255, as the reference computes it
    image64 = torch.from_numpy(rgb / 255.0)[None]
    alpha64 = torch.from_numpy(alpha / 255.0)[None]
    fg = estimate_foreground(image64, alpha64, method="blur_fusion")[0]
    colours = (fg * 255.0).numpy().astype(np.uint8)
    return np.dstack([colours, alpha])


def _as_uint8_rgb(image) -> np.ndarray:
    """One image (PIL, numpy HWC/HW, or tensor HWC) → ``[H,W,3]`` uint8."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        array = image[..., None] if image.ndim == 2 else image
        if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or 0 in array.shape:
            raise ValueError(f"numpy image must be [H,W], [H,W,1], [H,W,3] or [H,W,4], got {list(image.shape)}")
        if array.dtype == np.uint8:
            # writable: a PIL image's array is read-only, and torch warns about wrapping one
            image = torch.from_numpy(np.require(array, requirements=["C", "W"])).float().div_(255)
        elif np.issubdtype(array.dtype, np.floating):
            image = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        else:
            raise TypeError(f"numpy image must be uint8 (0..255) or float (0..1), got {array.dtype}")
    if isinstance(image, torch.Tensor):
        return to_uint8(check_image_batch(image.unsqueeze(0), "image"))[0]
    raise TypeError(f"unsupported image type {type(image).__name__}: use a PIL image, numpy array or tensor")


def _like_input(rgba: np.ndarray, template):
    if isinstance(template, Image.Image):
        return Image.fromarray(rgba, "RGBA")
    if isinstance(template, torch.Tensor):
        return torch.from_numpy(rgba).to(template.device).float().div_(255)
    return rgba


def remove_background(
    model: BEN2,
    image,
    *,
    refine_foreground: bool = False,
    batch_size: int | None = None,
):
    """Cut out the foreground, like the reference ``inference()``.

    Args:
        model: a ``BEN2``.
        image: a PIL image, a numpy array (``[H,W,3]`` uint8 or float 0..1), a tensor ``[H,W,C]``
            (0..1), or a list of those (processed in batches of ``batch_size``). Any alpha channel
            of the input is ignored.
        refine_foreground: also estimate clean foreground colours (blur fusion, the reference's
            ``refine_foreground``); this path uses the reference's other alpha (truncated at network
            size, bicubic resize, no min-max).
    Returns:
        RGBA of the same kind: PIL ``RGBA`` image, ``[H,W,4]`` uint8 array or ``[H,W,4]`` float
        tensor; a list for a list. Unlike the reference, the input image is never modified.
    """
    single = not isinstance(image, (list, tuple))
    items = [image] if single else list(image)
    if not items:
        raise ValueError("remove_background got an empty list of images")
    pixels = [_as_uint8_rgb(item) for item in items]
    results = []
    index = 0
    for masks in masks_at_network_size(model, pixels, batch_size=batch_size):
        for mask in masks.split(1):
            rgba = _rgba_from_mask(pixels[index], mask, refine_foreground)
            results.append(_like_input(rgba, items[index]))
            index += 1
    return results[0] if single else results
