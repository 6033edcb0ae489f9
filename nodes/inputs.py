"""Inputs that several nodes share, defined once (same id, default and tooltip everywhere), and
the mask shaping they ask for."""

from __future__ import annotations

import torch

from comfy_api.latest import io

from ..ben2_model.matting.shape import shape_mask
from . import host

SHAPE_CHUNK = 8  # frames per chunk on the compute device

INVERT_TOOLTIP = (
    "Turn on when the mask means 1 = background, e.g. the MASK of core 'Load Image' or 'Split Image "
    "with Alpha' (they give 1 - alpha). BEN2 masks are 1 = foreground: leave it off for them."
)


def invert_mask_input() -> io.Boolean.Input:
    return io.Boolean.Input("invert_mask", default=False, tooltip=INVERT_TOOLTIP)


def temporal_stability_input(what: str) -> io.Boolean.Input:
    """The video option of the nodes that output a mask; ``what`` names it ("mask", "refined mask")."""
    return io.Boolean.Input(
        "temporal_stability",
        default=False,
        optional=True,  # prompts saved before this option existed still validate
        tooltip=f"For video frames (in order): steadies the {what} over time where the picture is still or "
        "moves a little, so edges stop flickering; what moves faster keeps its own per-frame mask. Leave "
        "off for unrelated images.",
    )


def mask_shaping_inputs() -> list[io.Float.Input]:
    """``mask_grow`` and ``mask_blur``: optional, advanced, defaults that change nothing."""
    return [
        io.Float.Input(
            "mask_grow", default=0.0, min=-256.0, max=256.0, step=1.0, optional=True,
            tooltip="Grow the output mask by this many pixels (at 1024-px scale; negative shrinks): e.g. to "
            "keep a halo for an inpainting pass, or to trim a fringe. 0 = unchanged. For hair and fur "
            "edges Refine Edges is the better tool.",
            **host.advanced(io.Float.Input),
        ),
        io.Float.Input(
            "mask_blur", default=0.0, min=0.0, max=256.0, step=0.5, optional=True,
            tooltip="Soften the output mask's edge over this many pixels (at 1024-px scale), after the grow. "
            "0 = unchanged.",
            **host.advanced(io.Float.Input),
        ),
    ]


def shape_output_mask(alpha: torch.Tensor, grow: float, blur: float) -> torch.Tensor:
    """``alpha [B,H,W]`` grown and blurred on ComfyUI's device (``ben2_model.matting.shape``),
    a few frames at a time; ``alpha`` itself when both are 0."""
    if grow == 0 and blur == 0:
        return alpha
    (shaped,) = host.map_chunks(
        lambda a: (shape_mask(a, grow=grow, blur=blur),), (alpha,), chunk_size=SHAPE_CHUNK, device=host.compute_device()
    )
    return shaped
