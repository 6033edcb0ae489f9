"""Confidence Trimap (``BEN2ConfidenceTrimap``) and Refine Edges (``BEN2RefineEdges``)."""

from __future__ import annotations

import torch

from comfy_api.latest import io

from ..ben2_model.matting.refine import refine_edges
from ..ben2_model.matting.temporal import stabilize_alpha
from ..ben2_model.matting.trimap import confidence_trimap
from . import host
from .inputs import invert_mask_input, mask_shaping_inputs, shape_output_mask, temporal_stability_input
from .preview import compare_preview_ui, trimap_preview_ui
from .validation import check_image, check_mask, match_batches

# Frames per chunk on the compute device: the filters are cheap, memory stays bounded.
TRIMAP_CHUNK = 8
REFINE_CHUNK = 2
# The before/after preview only ever shows the first few frames of a batch.
MAX_COMPARED = 4

class BEN2ConfidenceTrimap(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="BEN2ConfidenceTrimap",
            **host.search_aliases("trimap", "unknown region", "matting"),
            **host.intermediate_output(),
            display_name="Confidence Trimap (BEN2)",
            category=host.CATEGORY,
            description=(
                "Marks where a mask is unsure: 1 = surely foreground, 0 = surely background, 0.5 = unknown "
                "(alpha between the thresholds, widened by a band). Feed it to Refine Edges, or use "
                "'unknown' to inpaint or blur just the edges."
            ),
            inputs=[
                io.Mask.Input("mask", tooltip="Alpha mask, 1 = foreground (e.g. from Segment Foreground)."),
                io.Image.Input("image", optional=True, tooltip="Optional: the image under the mask, only for the preview overlay."),
                io.Float.Input(
                    "low", default=0.05, min=0.0, max=1.0, step=0.01,
                    tooltip="Alpha at or below this is sure background.",
                ),
                io.Float.Input(
                    "high", default=0.95, min=0.0, max=1.0, step=0.01,
                    tooltip="Alpha at or above this is sure foreground (must be above low).",
                ),
                io.Float.Input(
                    "band", default=6.0, min=0.0, max=128.0, step=0.5,
                    tooltip="Extra width of the unknown band in pixels at 1024-px scale (scaled with the image): "
                    "the network sees every image at 1024 px, so its edges can be off by a few of those pixels.",
                ),
                invert_mask_input(),
            ],
            outputs=[
                io.Mask.Output("trimap", tooltip="Trimap: 0 background, 0.5 unknown, 1 foreground."),
                io.Mask.Output("unknown", tooltip="1 inside the unknown band, 0 elsewhere."),
            ],
        )

    @classmethod
    @host.names_the_node
    def execute(
        cls,
        mask: torch.Tensor,
        image: torch.Tensor | None = None,
        low: float = 0.05,
        high: float = 0.95,
        band: float = 6.0,
        invert_mask: bool = False,
    ) -> io.NodeOutput:
        mask = check_mask(mask)
        if not low < high:
            raise ValueError(f"low ({low}) must be below high ({high}).")
        if image is not None:
            image, mask = match_batches(check_image(image), mask)
        (trimap,) = host.map_chunks(
            lambda m: (confidence_trimap(1.0 - m if invert_mask else m, low=low, high=high, band=band),),
            (mask,),
            chunk_size=TRIMAP_CHUNK,
            device=host.compute_device(),
        )
        unknown = (trimap == 0.5).to(torch.float32)
        return io.NodeOutput(
            host.to_intermediate(trimap),
            host.to_intermediate(unknown),
            ui=trimap_preview_ui(trimap, image),
        )


class BEN2RefineEdges(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="BEN2RefineEdges",
            **host.search_aliases("refine mask", "hair matting", "decontaminate", "edge refinement"),
            **host.intermediate_output(),
            display_name="Refine Edges (BEN2)",
            category=host.CATEGORY,
            description=(
                "Refines a coarse mask at full resolution inside the unknown band of a trimap (hair, fur, "
                "motion blur) and decontaminates the edge colours. Outputs the refined mask, the foreground "
                "colours and an RGBA image."
            ),
            inputs=[
                io.Image.Input("image", tooltip="The original image (full resolution)."),
                io.Mask.Input("mask", tooltip="Coarse alpha, 1 = foreground (e.g. from Segment Foreground)."),
                io.Mask.Input(
                    "trimap", optional=True,
                    tooltip="Optional trimap (0 / 0.5 / 1) from Confidence Trimap; without it one is made with the defaults.",
                ),
                io.Combo.Input(
                    "mode", options=["fast", "quality"], default="fast",
                    tooltip="Both modes refine alpha the same way (a colour guided filter in the unknown band) and "
                    "estimate edge colours by multi-level foreground estimation. fast: the colour pyramid stops at "
                    "1024 px, then one full-size pass. quality: it goes on to 2048 px: cleaner colours on big "
                    "images, slower.",
                ),
                invert_mask_input(),
                temporal_stability_input("refined mask"),
                *mask_shaping_inputs(),
            ],
            outputs=[
                io.Mask.Output("mask", tooltip="Refined alpha, 1 = foreground."),
                io.Image.Output("foreground", tooltip="Decontaminated foreground colours (RGB)."),
                io.Image.Output("rgba", tooltip="Foreground with the refined alpha (4 channels), for transparent PNGs."),
            ],
        )

    @classmethod
    @host.names_the_node
    def execute(
        cls,
        image: torch.Tensor,
        mask: torch.Tensor,
        trimap: torch.Tensor | None = None,
        mode: str = "fast",
        invert_mask: bool = False,
        temporal_stability: bool = False,
        mask_grow: float = 0.0,
        mask_blur: float = 0.0,
    ) -> io.NodeOutput:
        image, mask = match_batches(check_image(image), check_mask(mask))
        if invert_mask:
            mask = 1.0 - mask
        if trimap is not None:
            _, trimap = match_batches(image, check_mask(trimap, "trimap"), mask_name="trimap")

        def refine(img: torch.Tensor, coarse: torch.Tensor, tri: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
            return refine_edges(img, coarse, trimap=tri, mode=mode)

        alpha, foreground = host.map_chunks(
            refine, (image, mask, trimap), chunk_size=REFINE_CHUNK, device=host.compute_device()
        )
        if temporal_stability:
            alpha = stabilize_alpha(alpha, image, device=host.compute_device(),
                                    on_chunk=host.chunk_progress(2 * alpha.shape[0]))
        alpha = shape_output_mask(alpha, mask_grow, mask_blur)
        rgba = torch.cat([foreground, alpha.unsqueeze(-1)], dim=-1)
        shown = min(rgba.shape[0], MAX_COMPARED)
        before = torch.cat(
            [image[:shown].to(rgba.device, torch.float32), mask[:shown].to(rgba.device, torch.float32).unsqueeze(-1)], dim=-1
        )
        return io.NodeOutput(
            host.to_intermediate(alpha),
            host.to_intermediate(foreground),
            host.to_intermediate(rgba),
            ui=compare_preview_ui(before, rgba[:shown]),
        )
