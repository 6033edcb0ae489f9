"""Inputs that several nodes share, defined once (same id, default and tooltip everywhere)."""

from __future__ import annotations

from comfy_api.latest import io

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
