"""stabilize_alpha: the stability target on synthetic clips, no smearing of motion, exact behaviour at cuts,
chunking / dtype invariance and input validation."""

from __future__ import annotations

import pytest
import torch

from ben2_model import stabilize_alpha
from ben2_model.matting.temporal import StreamingStabilizer
from ben2_model.bench.temporal import dtssd, evaluate
from ben2_model.bench.synthetic_clips import make_clip


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Small per-frame tensors: intra-op threads only add overhead (and stall badly on a busy machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clips():
    # Seeds 11-12: not among those the defaults were tuned on (0-9). Small clips keep the test fast.
    return [make_clip(seed, frames=24, height=96, width=128) for seed in (11, 12)]


def test_synthetic_clip_is_honest(clips):
    clip = clips[0]
    assert clip.frames.shape == (24, 96, 128, 3) and clip.alpha.shape == clip.coarse.shape == (24, 96, 128)
    # Exact compositing (up to 8-bit quantisation and the stated sensor noise).
    clean = clip.alpha[..., None] * clip.foreground + (1 - clip.alpha[..., None]) * clip.background
    assert (clip.frames - clean).abs().mean() < 0.02
    # Both moving and still parts: the body moves in the middle third, some strands sway throughout.
    moving_per_frame = clip.moving.flatten(1).sum(dim=1)
    assert moving_per_frame[1:].min() > 0, "some hair moves in every frame"
    assert moving_per_frame[10:14].float().mean() > 3 * moving_per_frame[2:6].float().mean()
    # The coarse alpha's errors are independent per frame: they flicker where the truth is still.
    still = ~clip.moving[1:]
    assert ((clip.coarse[1:] - clip.coarse[:-1]).abs()[still] > 2 / 255).float().mean() > 0.005
    # Same seed, same clip.
    again = make_clip(11, frames=24, height=96, width=128)
    assert torch.equal(again.coarse, clip.coarse) and torch.equal(again.frames, clip.frames)


@pytest.fixture(scope="module")
def scores(clips):
    return evaluate(clips, None), evaluate(clips, {})


def test_stability_target(scores):
    """The issue's target: dtSSD -30 % or better with per-frame alpha MSE no more than +5 %."""
    raw, stable = scores
    assert stable["dtssd"] <= 0.70 * raw["dtssd"], (raw, stable)
    assert stable["mse"] <= 1.05 * raw["mse"], (raw, stable)
    # Moving pixels must not get worse either (no smearing).
    assert stable["mse_moving"] <= 1.05 * raw["mse_moving"], (raw, stable)


def test_ground_truth_in_is_barely_touched(scores):
    """Given a perfect matte, the filter must not smear the moving hair and body: its own damage (``smear``,
    the MSE of stabilize_alpha(ground truth)) stays a small fraction of a network's error (measured ~2 %;
    bound 6 %)."""
    raw, stable = scores
    assert raw["smear"] == 0.0
    assert 0.0 < stable["smear"] < 0.06 * raw["mse"]


def test_still_picture_averages_independent_noise():
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(1, 40, 48, 3, generator=generator).expand(20, -1, -1, -1).contiguous()
    truth = torch.zeros(40, 48)
    truth[10:30, 12:36] = 1.0
    noisy = (truth + 0.1 * torch.randn(20, 40, 48, generator=generator)).clamp(0, 1)
    out = stabilize_alpha(noisy, frames, strength=0.85)
    raw_flicker = (noisy[1:] - noisy[:-1]).std()
    out_flicker = (out[1:] - out[:-1]).std()
    assert out_flicker < 0.35 * raw_flicker
    assert ((out - truth) ** 2).mean() < 0.5 * ((noisy - truth) ** 2).mean()


def test_scene_cut_is_a_hard_boundary():
    """Across a cut nothing leaks: the second shot gives exactly what it gives on its own."""
    generator = torch.Generator().manual_seed(1)
    shot_a = torch.rand(1, 32, 32, 3, generator=generator).expand(6, -1, -1, -1)
    shot_b = torch.rand(1, 32, 32, 3, generator=generator).expand(5, -1, -1, -1)
    frames = torch.cat([shot_a, shot_b]).contiguous()
    alpha = torch.rand(11, 32, 32, generator=generator)
    together = stabilize_alpha(alpha, frames)
    assert torch.allclose(together[6:], stabilize_alpha(alpha[6:], frames[6:].contiguous()), atol=1e-6)
    assert torch.allclose(together[:6], stabilize_alpha(alpha[:6], frames[:6].contiguous()), atol=1e-6)


def test_off_single_frame_chunks_and_dtype(clips):
    clip = clips[1]
    alpha, frames = clip.coarse[:8], clip.frames[:8]
    assert torch.equal(stabilize_alpha(alpha, frames, strength=0.0), alpha)
    assert torch.equal(stabilize_alpha(alpha[:1], frames[:1]), alpha[:1])
    reference = stabilize_alpha(alpha, frames)
    assert not torch.equal(reference, alpha)
    assert torch.allclose(stabilize_alpha(alpha, frames, chunk_size=3), reference, atol=1e-6)
    half = stabilize_alpha(alpha.half(), frames.half())
    assert half.dtype == torch.float16 and half.shape == alpha.shape
    assert (half.float() - reference).abs().mean() < 2e-3
    assert dtssd(clip.alpha, clip.alpha) == 0.0
    assert dtssd(clip.alpha + 0.1, clip.alpha) < 1e-6  # a constant offset does not flicker


@pytest.mark.parametrize(
    "alpha, frames, kwargs, message",
    [
        (torch.zeros(4, 8, 8), torch.zeros(4, 8, 8), {}, r"frames must be \[T,H,W,3\]"),
        (torch.zeros(4, 8, 8, 1), torch.zeros(4, 8, 8, 3), {}, r"alpha must be \[T,H,W\]"),
        (torch.zeros(4, 8, 8), torch.zeros(3, 8, 8, 3), {}, "one mask per frame"),
        (torch.zeros(0, 8, 8), torch.zeros(0, 8, 8, 3), {}, "empty batch"),
        (torch.zeros(4, 8, 8), torch.zeros(4, 8, 8, 3), {"strength": 1.0}, "strength must be in"),
        (torch.zeros(4, 8, 8), torch.zeros(4, 8, 8, 3), {"motion_threshold": 0.0}, "motion_threshold"),
        (torch.zeros(4, 8, 8), torch.zeros(4, 8, 8, 3), {"chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_input(alpha, frames, kwargs, message):
    with pytest.raises(ValueError, match=message):
        stabilize_alpha(alpha, frames, **kwargs)


def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="floating point"):
        stabilize_alpha(torch.zeros(2, 8, 8, dtype=torch.uint8), torch.zeros(2, 8, 8, 3))


def test_progress_and_cancel(clips):
    clip = clips[0]
    alpha, frames = clip.coarse[:10], clip.frames[:10]
    calls: list[tuple[int, int]] = []
    stabilize_alpha(alpha, frames, chunk_size=4, on_chunk=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 20), (8, 20), (10, 20), (14, 20), (18, 20), (20, 20)]  # forward pass, then backward

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        stabilize_alpha(alpha, frames, chunk_size=4, on_chunk=cancel)


def test_frames_on_another_device_and_dtype(clips):
    """Frames in fp16 (ComfyUI's --fp16-intermediates) while alpha is float32, an explicit device: the same
    result, but for the odd pixel where fp16 rounding tips a block-matching decision."""
    clip = clips[0]
    alpha, frames = clip.coarse[:6], clip.frames[:6]
    reference = stabilize_alpha(alpha, frames)
    difference = (stabilize_alpha(alpha, frames.half(), device="cpu") - reference).abs()
    assert difference.mean() < 1e-4 and difference.max() < 0.05


def test_streaming_stabilizer_matches_the_whole_clip_filter() -> None:
    generator = torch.Generator().manual_seed(0)
    count, height, width = 24, 16, 24
    # A still textured picture (8-bit values, as decoded) with a square moving across it.
    still = torch.randint(0, 256, (1, height, width, 3), generator=generator).float().div(255)
    frames = still.repeat(count, 1, 1, 1)
    for index in range(count):
        frames[index, 4:10, index % 12 : index % 12 + 6] = 230 / 255
    alpha = torch.rand(count, height, width, generator=generator) * 0.2 + 0.4  # flicker to remove
    options = dict(search=1)  # a cheaper alignment: this test is about the windows, not the filter
    whole = stabilize_alpha(alpha, frames, **options)
    correction = (whole - alpha).abs().max()
    assert correction > 0.1  # the filter does change this clip

    def streamed(context: int, block: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        stabilizer = StreamingStabilizer(context=context, block=block, **options)
        ready = [stabilizer.push(frames[i : i + 3], alpha[i : i + 3]) for i in range(0, count, 3)]
        ready.append(stabilizer.flush())
        ready = [item for item in ready if item is not None]
        assert stabilizer.flush() is None  # nothing left after the end
        return torch.cat([f for f, _ in ready]), torch.cat([a for _, a in ready]), len(ready)

    # The clip fits in one window: exactly the whole-clip result.
    out_frames, out_alpha, windows = streamed(context=8, block=32)
    assert windows == 1 and torch.equal(out_frames, frames) and torch.equal(out_alpha, whole)
    # Several windows: every frame once and in order; alpha off by a fraction ~strength**context of
    # the correction (0.85**8 = 0.27), the price of bounded memory.
    out_frames, out_alpha, windows = streamed(context=8, block=6)
    assert windows == 3 and torch.equal(out_frames, frames)
    assert (out_alpha - whole).abs().max() < 0.3 * correction
