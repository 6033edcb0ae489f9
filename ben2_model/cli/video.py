"""``ben2 video``: remove the background of a video file, chunk by chunk, keeping its audio.

Decoding and encoding are ``ben2_model.video`` (PyAV); this module wires the command's options to it,
the network, the optional temporal stabilisation (streamed in windows) and the edge refinement, and
keeps the output file whole-or-absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from typing import Any


from ..matting.temporal import StreamingStabilizer
from .common import (
    EXIT_INPUT_FAILED,
    EXIT_OK,
    UsageError,
    describe_error,
    load_network,
    make_progress,
    parse_color,
    partial_path,
    report,
)

VIDEO_CONTAINERS = (".webm", ".mov", ".mp4")


def validate_video(args: argparse.Namespace) -> tuple[str, tuple[float, float, float]]:
    """The output container and background colour; ``UsageError`` on a bad combination."""
    suffix = Path(args.output).suffix.lower()
    if suffix not in VIDEO_CONTAINERS:
        raise UsageError(
            f"-o {args.output}: the output must end in .webm (VP9 + alpha), .mov (ProRes 4444 + alpha) "
            "or .mp4 (H.264 on --background)"
        )
    background = (0.0, 0.0, 0.0)
    if args.background is not None:
        if suffix != ".mp4":
            raise UsageError(
                f"--background is for .mp4 output only: {suffix} keeps the alpha channel; drop --background "
                "or write .mp4"
            )
        try:
            background = parse_color(args.background)
        except ValueError as error:
            raise UsageError(f"--background: {error}") from None
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise UsageError("-o names the input video itself; choose another output file")
    return suffix.lstrip("."), background


def run_video(args: argparse.Namespace) -> int:
    """``ben2 video``: returns the exit code."""
    container, background = validate_video(args)
    if importlib.util.find_spec("av") is None:  # video.py imports PyAV lazily: check before any work
        raise UsageError("the video command needs PyAV, which is not installed: pip install av")
    from .. import video

    source, target = Path(args.input), Path(args.output)
    if not source.is_file():
        report(f"skipped {source}: no such file")
        return EXIT_INPUT_FAILED
    if target.exists() and not args.overwrite:
        report(f"skipped {source}: {target} exists (use --overwrite to replace it)")
        return EXIT_INPUT_FAILED
    try:
        info = video.probe_video(source)
    except (OSError, ValueError) as error:  # PyAV's errors are OSError subclasses
        report(f"skipped {source}: cannot read video ({describe_error(error)})")
        return EXIT_INPUT_FAILED

    model = load_network(args)
    device = model.device
    audio = source if info.has_audio and not args.no_audio else None

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(target)
    progress = make_progress(info.frame_count, "frame", args.quiet)
    try:
        writer = video.AlphaVideoWriter(
            temporary, info.width, info.height, info.fps,
            container=container, background=background, audio=audio,
        )
        stabilizer = StreamingStabilizer(device=device) if args.stabilize else None
        with writer:
            for frames in video.iter_video_frames(source, chunk_size=args.batch_size):
                frames = frames.to(device)
                alpha = predict_chunk(model, frames)
                progress.update(frames.shape[0])
                if stabilizer is not None:
                    ready = stabilizer.push(frames, alpha)
                    if ready is None:
                        continue
                    frames, alpha = ready
                finish_chunk(frames.to(device), alpha.to(device), args.refine, writer)
            ready = stabilizer.flush() if stabilizer is not None else None
            if ready is not None:
                finish_chunk(ready[0].to(device), ready[1].to(device), args.refine, writer)
        frames_written = writer.frames_written
        if frames_written == 0:
            raise ValueError("no frame could be decoded")
        os.replace(temporary, target)
    except (OSError, ValueError, RuntimeError) as error:
        report(f"failed {source}: {describe_error(error)}")
        return EXIT_INPUT_FAILED
    finally:
        progress.close()
        Path(temporary).unlink(missing_ok=True)
    if not args.quiet:
        sound = "with audio" if audio is not None else "no audio"
        report(f"{frames_written} frames written to {target} ({sound})")
    return EXIT_OK


def predict_chunk(model: Any, frames: Any) -> Any:
    """Network alpha ``[b,H,W]`` for ``frames [b,H,W,3]`` (0..1, on the model's device)."""
    from .. import predict_alpha

    return predict_alpha(model, frames, batch_size=frames.shape[0])


def finish_chunk(frames: Any, alpha: Any, refine: str, writer: Any) -> None:
    """Refine ``alpha [b,H,W]`` against ``frames [b,H,W,3]`` if asked, then encode both."""
    foreground = frames
    if refine != "none":
        from ..matting.refine import refine_edges

        alpha, foreground = refine_edges(frames, alpha, mode=refine)
    writer.write(foreground, alpha)
