"""Save Alpha Video (``BEN2SaveAlphaVideo``): frames + mask (+ audio) -> WebM VP9 or MOV ProRes 4444 with alpha.

The frames are encoded a chunk at a time through ``ben2_model.video.AlphaVideoWriter`` (PyAV, a ComfyUI
dependency), so a long clip never needs a second full-size copy. The file goes to ComfyUI's output
folder and the node shows it like core Save Video does (a WebM preview; for MOV, whose ProRes browsers
cannot play, a small WebM preview is written to the temp folder).
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F

from comfy_api.latest import io

from ..ben2_model.video import AlphaVideoWriter
from . import host
from .validation import check_image, check_mask, match_batches

# Frames converted and encoded per step (bounds the float->integer copies).
ENCODE_CHUNK = 16
# Longest side of the WebM preview written next to a MOV.
PREVIEW_SIDE = 512
FORMATS = ["webm", "mov"]
Audio = getattr(io, "Audio", None) or io.Custom("AUDIO")


def _file_ui(filename: str, subfolder: str, folder_type: str) -> dict[str, list[Any]]:
    """The ui dict core SaveVideo/SaveWEBM return (``ui.PreviewVideo``), built by hand for every version."""
    return {"images": [{"filename": filename, "subfolder": subfolder, "type": folder_type}], "animated": [True]}


def _preview_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, PREVIEW_SIDE / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class BEN2SaveAlphaVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="BEN2SaveAlphaVideo",
            display_name="Save Alpha Video (BEN2)",
            category=host.CATEGORY,
            description=(
                "Saves frames with a transparency channel to a video in the output folder: WebM (VP9 with "
                "alpha, plays transparent in browsers) or MOV (ProRes 4444 with alpha, for editing software "
                "such as Premiere, Resolve, After Effects, Final Cut). Audio is muxed when connected."
            ),
            inputs=[
                io.Image.Input("images", tooltip="The frames (e.g. the foreground of Segment Foreground). RGBA frames "
                               "carry their own alpha when no mask is connected."),
                io.Mask.Input("mask", optional=True, tooltip="Alpha per frame, 1 = foreground (Segment Foreground's "
                              "mask). Not needed for RGBA frames."),
                Audio.Input("audio", optional=True, tooltip="Sound track to mux (e.g. the audio of Get Video "
                            "Components); cut to the length of the video."),
                io.Float.Input("fps", default=24.0, min=0.01, max=1000.0, step=0.01,
                               tooltip="Frame rate; connect the clip's fps from Get Video Components."),
                io.Combo.Input("format", options=FORMATS, default="webm",
                               tooltip="webm: VP9 + alpha (yuva420p), small, for the web. mov: ProRes 4444 + alpha "
                               "(yuva444p10le), large, for editing software."),
                io.String.Input("filename_prefix", default="video/BEN2",
                                tooltip="Prefix of the file in the output folder (may contain a subfolder)."),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    @host.names_the_node
    def execute(
        cls,
        images: torch.Tensor,
        mask: torch.Tensor | None = None,
        audio: dict | None = None,
        fps: float = 24.0,
        format: str = "webm",
        filename_prefix: str = "video/BEN2",
    ) -> io.NodeOutput:
        import folder_paths

        if not isinstance(filename_prefix, str) or any(ord(c) < 32 or ord(c) == 127 for c in filename_prefix):
            raise ValueError(
                f"Save Alpha Video (BEN2): filename_prefix {filename_prefix!r} contains control characters "
                "(NUL, newline, ...) that no file name can hold; type a plain prefix such as video/BEN2."
            )
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}.")
        rgba_input = isinstance(images, torch.Tensor) and images.ndim == 4 and images.shape[-1] == 4
        frames = check_image(images, "images")
        if mask is None:
            if not rgba_input:
                raise ValueError(
                    "connect a mask (Segment Foreground's 'mask'), or RGBA images "
                    "(its 'rgba' output); these RGB images carry no alpha."
                )
            mask = images[..., 3]
        frames, mask = match_batches(frames, check_mask(mask), image_name="images")
        count, height, width = mask.shape

        try:
            output_folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
                filename_prefix, folder_paths.get_output_directory(), width, height
            )
        except Exception as error:  # ComfyUI raises a bare Exception for a prefix outside the output folder
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0].strip("* ").removeprefix("ERROR: ")
            raise ValueError(
                f"filename_prefix {filename_prefix!r} cannot be used ({reason}); "
                "type a prefix inside the output folder, such as video/BEN2."
            ) from error
        file = f"{filename}_{counter:05}_.{format}"
        path = os.path.join(output_folder, file)
        preview_path = preview_file = None
        if format != "webm":
            preview_file = f"ben2_preview_{filename}_{counter:05}_.webm"
            preview_path = os.path.join(folder_paths.get_temp_directory(), preview_file)
            os.makedirs(os.path.dirname(preview_path), exist_ok=True)
        preview_width, preview_height = _preview_size(width, height)

        on_chunk = host.chunk_progress(count)
        writers: list[AlphaVideoWriter] = []
        try:
            writers.append(AlphaVideoWriter(path, width, height, fps, container=format, audio=audio))
            if preview_path is not None:
                writers.append(AlphaVideoWriter(preview_path, preview_width, preview_height, fps, container="webm"))
            for start in range(0, count, ENCODE_CHUNK):
                stop = min(start + ENCODE_CHUNK, count)
                chunk_frames = frames[start:stop].float()
                chunk_alpha = mask[start:stop].float()
                writers[0].write(chunk_frames, chunk_alpha)
                if len(writers) > 1:
                    small = F.interpolate(
                        torch.cat([chunk_frames, chunk_alpha[..., None]], dim=-1).permute(0, 3, 1, 2),
                        size=(preview_height, preview_width), mode="area",
                    ).permute(0, 2, 3, 1)
                    writers[1].write(small[..., :3], small[..., 3])
                on_chunk(stop, count)
            for writer in writers:
                writer.close()
        except BaseException:
            # Cancel or failure: no half-written file is left in the output folder.
            for writer in writers:
                writer.close(flush=False)
            for leftover in (path, preview_path):
                if leftover is not None and os.path.exists(leftover):
                    os.remove(leftover)
            raise
        if not os.path.isfile(path):  # never report a file the UI cannot show
            raise OSError(f"Save Alpha Video (BEN2): the encoder did not write {path}; check filename_prefix and disk space.")
        if preview_file is not None and os.path.isfile(preview_path):
            return io.NodeOutput(ui=_file_ui(preview_file, "", "temp"))
        return io.NodeOutput(ui=_file_ui(file, subfolder, "output"))
