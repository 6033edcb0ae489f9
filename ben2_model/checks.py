"""Input checks for the library's tensors and parameters: one place that says what a bad input is.

Every public function of the package checks its inputs here before any work, so a bad input ends in
one clear ``TypeError``/``ValueError`` that names the argument and the fix, never deep inside torch.
The nodes call the same checks with their input names and put the node's name in front.

Layouts are written as in kornia's ``KORNIA_CHECK_SHAPE``: ``"B,H,W,3"`` is a 4-d tensor whose
last size is 3, letters are any size, ``3|4`` allows either, so ``check_shape(x, "image", "B,H,W,3|4")``.

Value policy for images and masks (``unit_range``): NaN and infinity are refused (no value can
stand for them), values outside 0..1 are clamped to 0..1. Clamping, not refusing, because such
values are legitimate upstream (HDR/EXR loads, exposure or blend maths, a mask converted from an
image) and ComfyUI's own nodes read them as clamped (Save Image clips to 0..255); a matte's
alpha of 4 can only mean "opaque". It also keeps every output in 0..1.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import Tensor

__all__ = [
    "check_choice",
    "check_finite",
    "check_float",
    "check_image",
    "check_mask",
    "check_number",
    "check_shape",
    "check_same_size",
    "compute_dtype",
    "unit_range",
]

_HALF = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype to compute in for data of ``dtype``: float32 for fp16/bf16, else ``dtype`` itself.

    Half precision cannot hold window sums, recursions or 3x3 solves, so ops compute in float32
    and return ``.to(dtype)`` of the input; float32 and float64 compute as they are.
    """
    return torch.float32 if dtype in _HALF else dtype


def _layout_tokens(layout: str) -> list[tuple[str, tuple[int, ...] | None]]:
    tokens = []
    for token in layout.split(","):
        token = token.strip()
        sizes = tuple(int(s) for s in token.split("|")) if token[0].isdigit() else None
        tokens.append((token, sizes))
    return tokens


def check_shape(value: Any, name: str, layout: str, *, hint: str = "") -> Tensor:
    """Check that ``value`` is a tensor of ``layout`` (e.g. ``"B,H,W,3|4"``); return it.

    Raises:
        TypeError: not a tensor. ValueError: wrong number of dimensions or a fixed size differs;
        the message shows the expected layout, the shape found and ``hint`` (how to fix it).
    """
    tokens = _layout_tokens(layout)
    expected = "[" + ",".join(token for token, _ in tokens) + "]"
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {expected}, got {type(value).__name__}. {hint}".rstrip())
    ok = value.ndim == len(tokens) and all(
        sizes is None or size in sizes for size, (_, sizes) in zip(value.shape, tokens)
    )
    if not ok:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}. {hint}".rstrip())
    return value


def check_float(value: Tensor, name: str) -> Tensor:
    """Refuse integer and bool tensors (an 8-bit image passed as 0..255)."""
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor in 0..1, got {value.dtype}; "
            "convert it with .float() / 255 (8-bit data) or .float() (bool masks)"
        )
    return value


def _check_not_empty(value: Tensor, name: str) -> None:
    if value.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 images): pass at least one")
    if 0 in value.shape[1:3]:
        raise ValueError(f"{name} has an empty {value.shape[2]}x{value.shape[1]} (WxH) image size")


def check_finite(value: Tensor, name: str) -> tuple[float, float]:
    """Refuse NaN and infinity in ``value``; return its ``(min, max)``.

    One reduction (NaN propagates through min/max) per chunk of about 16 MiB of frames, or per
    frame when ``value`` is a strided view (an expanded batch: one frame repeated): reducing a
    strided chunk copies it, and 1000 such copies of 256² frames left the process 700 MiB to
    1.7 GB above its baseline (glibc keeps the freed blocks; tests/unit/test_long_batch.py).
    """
    if value.numel() == 0:
        return 0.0, 0.0
    frames = max(1, (4 << 20) // max(1, value[0].numel())) if value.is_contiguous() else 1
    lows, highs = zip(*(torch.aminmax(chunk) for chunk in value.split(frames)))
    low, high = float(torch.stack(lows).min()), float(torch.stack(highs).max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(
            f"{name} contains NaN or infinite values: the node or file that produced it is broken "
            "(e.g. an fp16 VAE decode that overflowed); fix it or run it in fp32"
        )
    return low, high


def unit_range(value: Tensor, name: str) -> Tensor:
    """Refuse NaN/inf; clamp values outside 0..1 (see the module's value policy).

    Returns:
        ``value`` itself when it is within 0..1 (no copy), else ``value.clamp(0, 1)``.
    """
    low, high = check_finite(value, name)
    if low < 0.0 or high > 1.0:
        return value.clamp(0.0, 1.0)
    return value


def check_image(
    value: Any, name: str = "image", *, channels: str = "3", hint: str = "", clamp: bool = True
) -> Tensor:
    """A float image batch ``[B,H,W,C]`` (``channels`` e.g. ``"3"`` or ``"1|3|4"``), not empty,
    finite, clamped to 0..1 (``clamp=False``: left to the caller, which clamps on the way, e.g.
    to 8 bit). Returns it (same dtype and device)."""
    image = check_shape(
        value, name, f"B,H,W,{channels}",
        hint=hint or f"IMAGE layout, {channels} channels last (permute a channel-first [B,C,H,W] tensor)",
    )
    check_float(image, name)
    _check_not_empty(image, name)
    if not clamp:
        check_finite(image, name)
        return image
    return unit_range(image, name)


def check_mask(value: Any, name: str = "alpha", *, like: Tensor | None = None, like_name: str = "image") -> Tensor:
    """A float mask batch ``[B,H,W]``, not empty, finite, clamped to 0..1; with ``like`` (an image
    ``[B,H,W,C]`` or mask) it must also have that batch and size. Returns it."""
    mask = check_shape(value, name, "B,H,W", hint="MASK layout: squeeze a channel axis ([B,1,H,W] or [B,H,W,1])")
    check_float(mask, name)
    _check_not_empty(mask, name)
    if like is not None and tuple(mask.shape) != tuple(like.shape[:3]):
        raise ValueError(
            f"{name} has shape {tuple(mask.shape)} but {like_name} is {tuple(like.shape[:3])} [B,H,W]: "
            f"pass one {name} per image (or frame), at the image size"
        )
    return unit_range(mask, name)


def check_same_size(a: Tensor, a_name: str, b: Tensor, b_name: str) -> None:
    """``a`` and ``b`` (``[B,H,W,...]``) must have the same height and width."""
    if tuple(a.shape[1:3]) != tuple(b.shape[1:3]):
        raise ValueError(
            f"{a_name} is {a.shape[2]}x{a.shape[1]} (WxH) but {b_name} is {b.shape[2]}x{b.shape[1]}: they must be "
            f"the same size; resize {a_name} to {b_name} (or use the {a_name} made from this {b_name})"
        )


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    integer: bool = False,
) -> float:
    """A finite real (``int`` with ``integer=True``) within ``[low, high]`` (``(low, high]`` with
    ``low_open``); returns it as ``float`` (or ``int``)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float) if not integer else int):
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and value > high
    if below or above:
        left = "" if low is None else (f"> {low}" if low_open else f">= {low}")
        right = "" if high is None else f"<= {high}"
        bounds = " and ".join(part for part in (left, right) if part)
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return int(value) if integer else float(value)


def check_choice(value: Any, name: str, options: Sequence[str]) -> str:
    """``value`` must be one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value
