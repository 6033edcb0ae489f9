"""Composite Background (``BEN2CompositeBackground``): foreground + mask over an image or a colour."""

from __future__ import annotations

import torch

from comfy_api.latest import io

from ..ben2_model.matting.color import COLOR_FORMS, parse_color
from ..ben2_model.matting.composite import composite
from . import host
from .inputs import invert_mask_input
from .preview import rgba_preview_ui
from .validation import check_image, check_mask, match_batches

FITS = ["cover", "contain", "stretch", "center"]
COMPOSITE_CHUNK = 8

class BEN2CompositeBackground(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="BEN2CompositeBackground",
            **host.search_aliases("replace background", "background color", "green screen"),
            **host.intermediate_output(),
            display_name="Composite Background (BEN2)",
            category=host.CATEGORY,
            description=(
                "Places a cut-out subject over a new background: an image (one for all frames, one per "
                "frame, or many for one subject; fitted when its size differs) or a plain colour when no "
                "background is connected."
            ),
            inputs=[
                io.Image.Input("foreground", tooltip="Foreground colours (best: the decontaminated foreground of Segment Foreground or Refine Edges)."),
                io.Mask.Input("mask", tooltip="Alpha, 1 = foreground."),
                io.Image.Input(
                    "background", optional=True,
                    tooltip="New background: 1 image for every frame, or one per frame. Leave empty to use the colour.",
                ),
                host.color_input(
                    "color", default="#ffffff",
                    tooltip=f"Background colour when no background image is connected: {COLOR_FORMS}.",
                ),
                io.Combo.Input(
                    "fit", options=FITS, default="cover",
                    tooltip="A background of another size: cover (fill, crop the overflow), contain (fit inside, "
                    "black bars), stretch (distort to fill), center (no scaling).",
                ),
                invert_mask_input(),
            ],
            outputs=[io.Image.Output("image", tooltip="The composited RGB image batch.")],
        )

    @classmethod
    @host.names_the_node
    def execute(
        cls,
        foreground: torch.Tensor,
        mask: torch.Tensor,
        background: torch.Tensor | None = None,
        color: str = "#ffffff",
        fit: str = "cover",
        invert_mask: bool = False,
    ) -> io.NodeOutput:
        foreground, mask = match_batches(check_image(foreground, "foreground"), check_mask(mask), image_name="foreground")
        if invert_mask:
            mask = 1.0 - mask
        frames = foreground.shape[0]
        if background is None:
            try:
                fill = parse_color(color)
            except ValueError as error:
                raise ValueError(f"color {error}") from None
            (result,) = host.map_chunks(
                lambda fg, a: (composite(fg, a, fill, fit=fit),),
                (foreground, mask),
                chunk_size=COMPOSITE_CHUNK,
                device=host.compute_device(),
            )
        else:
            background = check_image(background, "background", min_side=1)  # any size: fitted
            backgrounds = background.shape[0]
            if frames == 1 and backgrounds > 1:  # one subject over several backgrounds
                foreground, mask = foreground.expand(backgrounds, -1, -1, -1), mask.expand(backgrounds, -1, -1)
                frames = backgrounds
            elif backgrounds not in (1, frames):
                raise ValueError(
                    f"background has {backgrounds} images for {frames} frames; "
                    "give 1 background for all frames, exactly one per frame, or one subject for many backgrounds."
                )
            (result,) = host.map_chunks(
                lambda fg, a, bg: (composite(fg, a, bg, fit=fit),),
                (foreground, mask, background),
                chunk_size=COMPOSITE_CHUNK,
                device=host.compute_device(),
            )
        shown = result[: min(frames, 4)]
        opaque = torch.cat([shown, torch.ones_like(shown[..., :1])], dim=-1)
        return io.NodeOutput(host.to_intermediate(result), ui=rgba_preview_ui(opaque))
