"""Reading video files: probe them, decode their frames a chunk at a time (RGB, or RGB + alpha)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator

import numpy as np
import torch

from .pyav import import_av


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` finds in a file: frame size, frame rate, frame count (None if the container
    does not say) and whether there is an audio stream."""

    width: int
    height: int
    fps: Fraction
    frame_count: int | None
    has_audio: bool


def _first_video_stream(container: Any, path: str | os.PathLike) -> Any:
    if not container.streams.video:
        raise ValueError(f"{os.fspath(path)!r} has no video stream: pass a video file (mp4, mov, webm, mkv, ...)")
    return container.streams.video[0]


def _stream_fps(stream: Any) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise ValueError("the video stream does not state a frame rate; re-mux the file with one set")
    return Fraction(rate)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate, frame count and audio presence of the first video stream of ``path``."""
    av = import_av()
    with av.open(os.fspath(path)) as container:
        stream = _first_video_stream(container, path)
        fps = _stream_fps(stream)
        frame_count: int | None = int(stream.frames) if stream.frames else None
        if frame_count is None:
            # Matroska/WebM rarely store a frame count: derive it from the duration (an estimate).
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = container.duration / 1_000_000 if container.duration else 0.0
            frame_count = int(round(seconds * fps)) or None
        return VideoInfo(
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=fps,
            frame_count=frame_count,
            has_audio=bool(container.streams.audio),
        )


def _check_chunk_size(chunk_size: int) -> None:
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")


def iter_video_frames(path: str | os.PathLike, chunk_size: int = 16) -> Iterator[torch.Tensor]:
    """Decode the first video stream of ``path`` in chunks.

    Yields:
        float32 tensors ``[b,H,W,3]`` in 0..1 with ``b <= chunk_size`` (only the last chunk is shorter).
    """
    _check_chunk_size(chunk_size)
    av = import_av()
    with av.open(os.fspath(path)) as container:
        stream = _first_video_stream(container, path)
        stream.thread_type = "AUTO"
        for chunk in _chunks((frame.to_ndarray(format="rgb24") for frame in container.decode(stream)), chunk_size):
            yield _stack_unit(chunk)


def iter_video_rgba(path: str | os.PathLike, chunk_size: int = 16) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Decode a video with its alpha channel (WebM VP9 alpha, ProRes 4444, ...) in chunks.

    VP9 keeps alpha in a side stream that only ``libvpx-vp9`` decodes, so that decoder is used for VP9.
    Videos without alpha give alpha = 1.

    Yields:
        ``(rgb [b,H,W,3], alpha [b,H,W])`` float32 in 0..1, ``b <= chunk_size``.
    """
    _check_chunk_size(chunk_size)
    av = import_av()
    with av.open(os.fspath(path)) as container:
        stream = _first_video_stream(container, path)
        if stream.codec_context.name == "vp9" and "libvpx-vp9" in av.codecs_available:
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            if stream.codec_context.extradata:
                decoder.extradata = stream.codec_context.extradata
            frames = (frame for packet in container.demux(stream) for frame in decoder.decode(packet))
        else:
            frames = container.decode(stream)
        for chunk in _chunks((frame.to_ndarray(format="rgba64le") for frame in frames), chunk_size):
            yield _split_rgba(chunk)


def _chunks(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    """Consecutive lists of ``size`` frames (the last one shorter), decoded as they are needed."""
    chunk: list[np.ndarray] = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stack_unit(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).float().div_(255.0)


def _split_rgba(frames: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    rgba = torch.from_numpy(np.stack(frames).astype(np.float32)).div_(65535.0)
    return rgba[..., :3].contiguous(), rgba[..., 3].contiguous()
