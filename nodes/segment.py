"""Segment Foreground (``BEN2SegmentForeground``): model + IMAGE batch -> mask, foreground, RGBA."""

from __future__ import annotations

import torch

from comfy_api.latest import io

from ..ben2_model.matting.foreground import estimate_foreground
from ..ben2_model.matting.temporal import stabilize_alpha
from . import host
from .inputs import mask_shaping_inputs, shape_output_mask, temporal_stability_input
from .model import segment
from .preview import rgba_preview_ui
from .validation import check_image

# Frames per chunk for colour decontamination (cheap filters; bounded device memory).
DECONTAMINATE_CHUNK = 4


def decontaminated_foreground(image: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Foreground colours ``[B,H,W,3]`` (blur fusion) for ``image [B,H,W,3]`` and ``alpha [B,H,W]``,
    computed on ComfyUI's device a few frames at a time."""
    (foreground,) = host.map_chunks(
        lambda img, a: (estimate_foreground(img, a, method="blur_fusion"),),
        (image, alpha),
        chunk_size=DECONTAMINATE_CHUNK,
        device=host.compute_device(),
    )
    return foreground


class BEN2SegmentForeground(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="BEN2SegmentForeground",
            **host.search_aliases("remove background", "rembg", "cutout", "matting", "alpha mask"),
            **host.intermediate_output(),
            display_name="Segment Foreground (BEN2)",
            category=host.CATEGORY,
            description=(
                "Separates the subject from the background of every image in a batch. Outputs the "
                "foreground mask (1 = subject), the foreground colours and an RGBA image for transparent "
                "PNGs. Works with any background-removal model; BEN2 gets its batched path."
            ),
            inputs=[
                host.BackgroundRemoval.Input("ben2_model", tooltip="The model from 'Load BEN2' (core background-removal models work too)."),
                io.Image.Input("image", tooltip="Image or batch of frames to cut out."),
                io.Int.Input(
                    "batch_size",
                    default=1,
                    min=1,
                    max=64,
                    tooltip="Images per forward pass. Long batches run in chunks of this size, so memory "
                    "stays bounded for hundreds of frames; raise it on a big GPU for speed.",
                ),
                io.Boolean.Input(
                    "normalize",
                    default=True,
                    tooltip="Stretch each mask to the full 0..1 range (min-max), as the BEN2 reference does. "
                    "Turn off to keep the network's raw confidence (a faint subject stays faint).",
                ),
                io.Boolean.Input(
                    "decontaminate",
                    default=False,
                    tooltip="Colour decontamination: re-estimate the foreground colours at soft edges so hair "
                    "and fur no longer carry the old background's colour (foreground and rgba outputs).",
                ),
                temporal_stability_input("mask"),
                *mask_shaping_inputs(),
            ],
            outputs=[
                io.Mask.Output("mask", tooltip="Foreground alpha, 1 = subject (like core Remove Background)."),
                io.Image.Output("foreground", tooltip="RGB foreground: the input, or decontaminated colours when asked."),
                io.Image.Output("rgba", tooltip="RGBA image (4 channels): save it as a transparent PNG."),
            ],
        )

    @classmethod
    @host.names_the_node
    def execute(
        cls,
        ben2_model,
        image: torch.Tensor,
        batch_size: int = 1,
        normalize: bool = True,
        decontaminate: bool = False,
        temporal_stability: bool = False,
        mask_grow: float = 0.0,
        mask_blur: float = 0.0,
    ) -> io.NodeOutput:
        image = check_image(image)
        alpha = segment(ben2_model, image, batch_size=batch_size, normalize=normalize)
        if temporal_stability:
            alpha = stabilize_alpha(alpha, image, device=host.compute_device(),
                                    on_chunk=host.chunk_progress(2 * alpha.shape[0]))
        if decontaminate:
            foreground = decontaminated_foreground(image, alpha)
        else:
            # clamped like every other output (an HDR or blended input may hold values outside 0..1)
            foreground = image.to(device=alpha.device, dtype=torch.float32).clamp(0.0, 1.0)
        # after the colours: they are estimated from the network's own alpha
        alpha = shape_output_mask(alpha, mask_grow, mask_blur)
        rgba = torch.cat([foreground, alpha.unsqueeze(-1)], dim=-1)
        return io.NodeOutput(
            host.to_intermediate(alpha),
            host.to_intermediate(foreground),
            host.to_intermediate(rgba),
            ui=rgba_preview_ui(rgba),
        )
