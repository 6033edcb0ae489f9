"""Writing alpha video: WebM VP9, MOV ProRes 4444 (alpha kept) or MP4 H.264 (on a colour), with audio,
one chunk of frames at a time."""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from .pyav import import_av

# container name -> (PyAV format name, video encoders to try in order, pixel format, audio encoders)
_CONTAINERS: dict[str, tuple[str, tuple[str, ...], str, tuple[str, ...]]] = {
    "webm": ("webm", ("libvpx-vp9",), "yuva420p", ("libopus", "opus", "libvorbis")),
    "mov": ("mov", ("prores_ks",), "yuva444p10le", ("pcm_s16le",)),
    "mp4": ("mp4", ("libx264", "h264", "libopenh264", "mpeg4"), "yuv420p", ("aac",)),
}

# Encoder settings: near-visually-lossless, because a matte is usually re-composited downstream.
_VIDEO_OPTIONS: dict[str, dict[str, str]] = {
    # Constant quality (b=0 + crf); row-mt and cpu-used keep encoding at a usable speed on CPU.
    "libvpx-vp9": {"crf": "18", "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"},
    "prores_ks": {"profile": "4444", "vendor": "apl0"},
    "libx264": {"crf": "17", "preset": "medium"},
}

# Sample rates the encoder accepts; others are resampled (PyAV does it inside ``encode``).
_OPUS_RATES = (48000, 24000, 16000, 12000, 8000)


def _pick_codec(av: Any, candidates: tuple[str, ...], kind: str, container: str) -> str:
    for name in candidates:
        if name in av.codecs_available:
            try:
                av.Codec(name, "w")
            except Exception:  # listed but without an encoder in this build
                continue
            return name
    raise RuntimeError(
        f"this PyAV build has no {kind} encoder for .{container} (tried {', '.join(candidates)}); "
        "install the official wheel (pip install --force-reinstall av) or pick another container"
    )


def _as_fraction(fps: float | int | Fraction) -> Fraction:
    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)):
        raise TypeError(f"fps must be a number or fractions.Fraction, got {type(fps).__name__}")
    if not math.isfinite(float(fps)) or fps <= 0:
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")
    # 29.97 -> 2997/100, 23.976... -> 24000/1001 style rationals stay exact enough for container time bases.
    return Fraction(fps).limit_denominator(100_000)


class _AudioFeed:
    """Hands out audio as float32 ``[C,n]`` numpy blocks at ``sample_rate``, from a waveform or a file."""

    def __init__(self, audio: Mapping[str, Any] | str | os.PathLike, av: Any) -> None:
        self._file = None
        if isinstance(audio, Mapping):
            if "waveform" not in audio or "sample_rate" not in audio:
                raise ValueError("audio must be {'waveform': Tensor[B,C,T], 'sample_rate': int} (ComfyUI AUDIO)")
            waveform = audio["waveform"]
            if not isinstance(waveform, torch.Tensor) or waveform.ndim not in (2, 3) or waveform.shape[-1] == 0:
                raise ValueError("audio['waveform'] must be a non-empty Tensor [B,C,T] or [C,T]")
            if waveform.ndim == 3:
                waveform = waveform[0]  # an AUDIO batch: the first item is the clip's sound track (as core does)
            self.sample_rate = int(audio["sample_rate"])
            self.channels = int(waveform.shape[0])
            self._blocks: Iterator[np.ndarray] = iter([waveform.detach().float().cpu().contiguous().numpy()])
        elif isinstance(audio, (str, os.PathLike)):
            self._file = av.open(os.fspath(audio))
            if not self._file.streams.audio:
                self._file.close()
                raise ValueError(f"{os.fspath(audio)!r} has no audio stream; pass audio=None to write video only")
            stream = self._file.streams.audio[0]
            self.sample_rate = int(stream.codec_context.sample_rate)
            self.channels = int(stream.codec_context.channels)
            self._blocks = self._decode(av, stream)
        else:
            raise TypeError(f"audio must be a ComfyUI AUDIO dict, a file path or None, got {type(audio).__name__}")
        if self.sample_rate <= 0 or self.channels <= 0:
            raise ValueError(f"audio needs a positive sample rate and channel count, got {self.sample_rate} Hz, "
                             f"{self.channels} channels")
        self._pending = np.zeros((self.channels, 0), np.float32)

    def _decode(self, av: Any, stream: Any) -> Iterator[np.ndarray]:
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=self.sample_rate)
        for frame in self._file.decode(stream):
            for converted in resampler.resample(frame):
                yield converted.to_ndarray().astype(np.float32, copy=False)

    def take(self, count: int) -> np.ndarray:
        """Up to ``count`` samples ``[C,n]`` (fewer when the source ends)."""
        while self._pending.shape[1] < count:
            block = next(self._blocks, None)
            if block is None:
                break
            self._pending = np.concatenate([self._pending, block.reshape(self.channels, -1)], axis=1)
        taken, self._pending = self._pending[:, :count], self._pending[:, count:]
        return np.ascontiguousarray(taken)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class AlphaVideoWriter:
    """Write RGB frames + alpha to a video file, chunk by chunk (a context manager).

    Args:
        path: output file; its extension picks the container unless ``container`` is given.
        width, height: frame size in pixels (every chunk must match).
        fps: frame rate (``fractions.Fraction`` for NTSC rates such as 30000/1001).
        container: ``"webm"`` (VP9 + alpha), ``"mov"`` (ProRes 4444 + alpha) or ``"mp4"`` (H.264, no alpha:
            frames composited on ``background``).
        background: RGB floats in 0..1 for mp4.
        audio: None, a ComfyUI AUDIO dict ``{"waveform": Tensor[B,C,T], "sample_rate": int}`` (item 0 of the
            batch is used) or a path to a file whose first audio stream is re-encoded. Audio is cut to the
            length of the video.

    ``write(frames [b,H,W,3], alpha [b,H,W])`` takes float tensors in 0..1 on any device; alpha may be None
    (opaque). Odd sizes are edge-padded to even for mp4 (H.264 4:2:0 needs even sizes).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float | int | Fraction,
        *,
        container: str | None = None,
        background: tuple[float, float, float] = (0.0, 0.0, 0.0),
        audio: Mapping[str, Any] | str | os.PathLike | None = None,
    ) -> None:
        av = import_av()
        self._av = av
        self.path = os.fspath(path)
        if container is None:
            container = os.path.splitext(self.path)[1].lstrip(".").lower()
        container = container.lower().lstrip(".")
        if container not in _CONTAINERS:
            raise ValueError(
                f"unsupported video container {container!r}: use a .webm (VP9 + alpha), .mov (ProRes 4444 + alpha) "
                "or .mp4 (H.264 on a background colour) file name, or pass container="
            )
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if len(tuple(background)) != 3 or not all(0.0 <= float(c) <= 1.0 for c in background):
            raise ValueError(f"background must be an RGB tuple of 3 floats in 0..1, got {background!r}")
        self.container_name = container
        self.width, self.height = width, height
        self.fps = _as_fraction(fps)
        self.background = tuple(float(c) for c in background)
        self.frames_written = 0
        format_name, video_codecs, pix_fmt, audio_codecs = _CONTAINERS[container]
        self.has_alpha = pix_fmt.startswith("yuva")
        self._pad_even = pix_fmt == "yuv420p"
        video_codec = _pick_codec(av, video_codecs, "video", container)
        audio_feed = _AudioFeed(audio, av) if audio is not None else None
        audio_codec = _pick_codec(av, audio_codecs, "audio", container) if audio_feed is not None else None

        self._output = av.open(self.path, mode="w", format=format_name)
        try:
            self._video = self._output.add_stream(video_codec, rate=self.fps, options=_VIDEO_OPTIONS.get(video_codec, {}))
            self._video.width = width + (width % 2 if self._pad_even else 0)
            self._video.height = height + (height % 2 if self._pad_even else 0)
            self._video.pix_fmt = pix_fmt
            # Frames carry pts in 1/fps; the stream's own time base changes when the muxer writes its header.
            self._frame_time_base = 1 / self.fps
            self._video.codec_context.time_base = self._frame_time_base
            self._audio = None
            self._audio_feed = audio_feed
            self._audio_samples = 0
            if audio_feed is not None:
                rate = audio_feed.sample_rate
                if audio_codec in ("libopus", "opus") and rate not in _OPUS_RATES:
                    rate = 48000
                layout = {1: "mono", 2: "stereo"}.get(audio_feed.channels, "stereo")
                self._audio = self._output.add_stream(audio_codec, rate=rate, layout=layout)
                self._audio_layout_in = {1: "mono", 2: "stereo"}.get(audio_feed.channels)
        except BaseException:
            self._output.close()
            if audio_feed is not None:
                audio_feed.close()
            raise
        self._closed = False

    # -- context manager -------------------------------------------------------------------------------
    def __enter__(self) -> "AlphaVideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(flush=exc_type is None)

    # -- writing -----------------------------------------------------------------------------------------
    def write(self, frames: torch.Tensor, alpha: torch.Tensor | None = None) -> None:
        """Encode one chunk: ``frames [b,H,W,3]`` and ``alpha [b,H,W]`` (or None: opaque), floats in 0..1."""
        if self._closed:
            raise ValueError("this AlphaVideoWriter is closed; open a new one to write another file")
        frames, alpha = self._check_chunk(frames, alpha)
        for index in range(frames.shape[0]):
            frame = self._to_av_frame(frames[index], None if alpha is None else alpha[index])
            frame.pts = self.frames_written
            frame.time_base = self._frame_time_base
            self._output.mux(self._video.encode(frame))
            self.frames_written += 1
        # Interleave audio with the video written so far, so the muxer never queues a whole clip.
        self._feed_audio(self._samples_for(self.frames_written))

    def _check_chunk(self, frames: Any, alpha: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[-1] not in (3, 4):
            shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
            raise ValueError(f"frames must be a Tensor [b,H,W,3] (IMAGE layout), got {shape}")
        if frames.shape[0] == 0:
            raise ValueError("frames is an empty batch: write at least one frame per call")
        if tuple(frames.shape[1:3]) != (self.height, self.width):
            raise ValueError(
                f"frame size {frames.shape[2]}x{frames.shape[1]} does not match the writer's "
                f"{self.width}x{self.height}; resize the frames or open the writer with their size"
            )
        if frames.shape[-1] == 4:  # RGBA input: its alpha unless one is given
            if alpha is None:
                alpha = frames[..., 3]
            frames = frames[..., :3]
        if alpha is not None:
            if not isinstance(alpha, torch.Tensor) or alpha.ndim not in (3, 4):
                raise ValueError("alpha must be a Tensor [b,H,W] (MASK layout, 1 = foreground) or None")
            if alpha.ndim == 4 and alpha.shape[-1] == 1:
                alpha = alpha[..., 0]
            if tuple(alpha.shape) != tuple(frames.shape[:3]):
                raise ValueError(
                    f"alpha shape {tuple(alpha.shape)} does not match frames {tuple(frames.shape[:3])}: "
                    "pass one mask per frame, same size"
                )
        return frames, alpha

    def _to_av_frame(self, rgb: torch.Tensor, alpha: torch.Tensor | None) -> Any:
        rgb = rgb.detach().float().clamp(0, 1)
        a = None if alpha is None else alpha.detach().to(rgb.device, torch.float32).clamp(0, 1)
        if not self.has_alpha:
            if a is not None:
                background = torch.tensor(self.background, dtype=rgb.dtype, device=rgb.device)
                rgb = rgb * a[..., None] + background * (1 - a[..., None])
            pixels = rgb.mul(255).round_().to(torch.uint8).cpu().numpy()
            if self._pad_even and (self.width % 2 or self.height % 2):
                pixels = np.pad(pixels, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
            return self._av.VideoFrame.from_ndarray(pixels, format="rgb24")
        if a is None:
            a = torch.ones_like(rgb[..., 0])
        rgba = torch.cat([rgb, a[..., None]], dim=-1)
        if self._video.pix_fmt.endswith("10le"):
            # 16-bit RGBA keeps the float precision through the conversion to 10-bit YUVA.
            pixels = rgba.mul(65535).round_().to(torch.int32).cpu().numpy().astype(np.uint16)
            return self._av.VideoFrame.from_ndarray(pixels, format="rgba64le")
        pixels = rgba.mul(255).round_().to(torch.uint8).cpu().numpy()
        return self._av.VideoFrame.from_ndarray(pixels, format="rgba")

    # -- audio ---------------------------------------------------------------------------------------------
    def _samples_for(self, frame_count: int) -> int:
        if self._audio_feed is None:
            return 0
        return math.ceil(frame_count * self._audio_feed.sample_rate / self.fps)

    def _feed_audio(self, until: int) -> None:
        if self._audio is None or self._audio_feed is None or until <= self._audio_samples:
            return
        block = self._audio_feed.take(until - self._audio_samples)
        if block.shape[1] == 0:
            return
        channels = block.shape[0]
        if self._audio_layout_in is None:  # more than two channels: fold into stereo by averaging halves
            block = np.stack([block[: (channels + 1) // 2].mean(0), block[channels // 2:].mean(0)])
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block, dtype=np.float32), format="fltp", layout=self._audio_layout_in or "stereo"
        )
        frame.sample_rate = self._audio_feed.sample_rate
        frame.pts = self._audio_samples
        frame.time_base = Fraction(1, self._audio_feed.sample_rate)
        self._output.mux(self._audio.encode(frame))
        self._audio_samples += block.shape[1]

    # -- closing -------------------------------------------------------------------------------------------
    def close(self, flush: bool = True) -> None:
        """Flush the encoders and finish the file (also done by ``with``)."""
        if self._closed:
            return
        self._closed = True
        try:
            if flush:
                self._output.mux(self._video.encode(None))
                if self._audio is not None:
                    self._feed_audio(self._samples_for(self.frames_written))
                    self._output.mux(self._audio.encode(None))
        finally:
            if self._audio_feed is not None:
                self._audio_feed.close()
            self._output.close()
