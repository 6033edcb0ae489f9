"""``ben2 video`` on tiny generated clips (made with PyAV here) and the tiny seeded network: the two
main paths as subprocesses, the variants in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from .runner import assert_no_traceback, run_cli, run_in_process  # noqa: E402

FRAMES, WIDTH, HEIGHT, FPS, RATE = 3, 48, 32, 12, 16000


def make_clip(path: Path, *, audio: bool) -> None:
    """An H.264 clip: a growing orange bar and a green square, plus an optional 440 Hz mono AAC track."""
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = output.add_stream("aac", rate=RATE, layout="mono") if audio else None
        for index in range(FRAMES):
            pixels = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
            pixels[:, : (index + 1) * WIDTH // FRAMES] = (200, 100, 50)
            pixels[HEIGHT // 4 : 3 * HEIGHT // 4, WIDTH // 4 : 3 * WIDTH // 4] = (20, 220, 20)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if sound is not None:
            samples = RATE * FRAMES // FPS
            wave = (0.3 * np.sin(np.arange(samples) / RATE * 2 * np.pi * 440)).astype(np.float32)[None]
            block = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            block.sample_rate, block.pts = RATE, 0
            output.mux(sound.encode(block))
            output.mux(sound.encode(None))


def decode(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """All frames as ``rgb [n,H,W,3]`` and ``alpha [n,H,W]`` (0..1), and the number of audio streams."""
    from ben2_model.video import iter_video_rgba

    chunks = list(iter_video_rgba(path, chunk_size=FRAMES))
    rgb = np.concatenate([c[0].numpy() for c in chunks])
    alpha = np.concatenate([c[1].numpy() for c in chunks])
    with av.open(str(path)) as container:
        audio_streams = len(container.streams.audio)
    return rgb, alpha, audio_streams


def test_video_to_webm_keeps_alpha_and_audio(tmp_path: Path, checkpoint: Path) -> None:
    clip = tmp_path / "clip.mp4"
    make_clip(clip, audio=True)
    out = tmp_path / "out" / "clip.webm"

    result = run_cli("video", clip, "-o", out, "--model", checkpoint, "--batch-size", "2")  # chunks 2 + 1

    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    rgb, alpha, audio_streams = decode(out)
    assert rgb.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert audio_streams == 1
    assert alpha.min() < 0.9 and alpha.max() - alpha.min() > 0.1  # a real matte travelled in the file
    assert not [p for p in out.parent.iterdir() if p.name != "clip.webm"]  # no partial file left

    # Same output again (in-process): refused without --overwrite, the file is untouched.
    before = out.read_bytes()
    code, err = run_in_process("video", clip, "-o", out, "--model", checkpoint)
    assert code == 1 and "--overwrite" in err
    assert out.read_bytes() == before


def test_video_to_mp4_on_colour_with_audio_and_without(tmp_path: Path, checkpoint: Path) -> None:
    clip = tmp_path / "clip.mp4"
    make_clip(clip, audio=True)
    out = tmp_path / "green.mp4"
    result = run_cli(
        "video", clip, "-o", out, "--model", checkpoint, "--background", "#00ff00", "--refine", "fast"
    )
    assert result.returncode == 0, result.stderr
    rgb, alpha, audio_streams = decode(out)
    assert rgb.shape[0] == FRAMES and audio_streams == 1
    assert np.all(alpha == 1.0)  # mp4 has no alpha: composited instead
    source, _, _ = decode(clip)
    # The matte is partial, so green must have been mixed in: more green, less red than the source.
    assert (rgb[..., 1] - source[..., 1]).mean() > 0.02
    assert (rgb[..., 0] - source[..., 0]).mean() < -0.02

    silent = tmp_path / "silent.mp4"
    make_clip(silent, audio=False)
    silent_out = tmp_path / "silent.webm"
    code, err = run_in_process(
        "video", silent, "-o", silent_out, "--model", checkpoint, "-q", "--dtype", "bf16", "--stabilize"
    )
    assert (code, err) == (0, "")
    _, silent_alpha, audio_streams = decode(silent_out)
    assert audio_streams == 0 and silent_alpha.shape == (FRAMES, HEIGHT, WIDTH)


def test_video_unreadable_input_exit_1(tmp_path: Path, checkpoint: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 50)
    code, err = run_in_process("video", broken, "-o", tmp_path / "out.webm", "--model", checkpoint)
    assert code == 1
    assert "broken.mp4" in err and "cannot read video" in err and "Traceback" not in err
    assert not (tmp_path / "out.webm").exists()
