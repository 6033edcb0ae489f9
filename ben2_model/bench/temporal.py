"""``python -m ben2_model.bench.temporal``: temporal stability of mattes on synthetic clips.

For each seeded clip (``synthetic_clips.make_clip``: exact ground truth, network-like coarse alpha with
independent per-frame errors) it scores the coarse alpha as is and after ``stabilize_alpha``:

* dtSSD (x1e2): temporal coherence, the video-matting benchmarks' metric: per frame
  ``sqrt(mean(((a_t - a_{t-1}) - (g_t - g_{t-1}))^2))``, averaged over frames.
* MSE (x1e3): per-frame alpha error, and the same on the pixels that move (where the true alpha changes
  to or from the neighbouring frames) - stabilisation must not smear them.
* smear (x1e3): MSE of the output when the *ground truth* is the input: what the filter alone damages.
* ms/frame: stabilisation time.

The clips' seeds (100+) differ from those the defaults were tuned on (0-9).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

import torch

from .synthetic_clips import SyntheticClip, make_clip
from ..matting.temporal import stabilize_alpha

__all__ = ["dtssd", "evaluate", "main"]


def dtssd(alpha: torch.Tensor, truth: torch.Tensor) -> float:
    """dtSSD of ``alpha [T,H,W]`` against ``truth [T,H,W]`` (root mean square per frame pair, averaged)."""
    if alpha.shape != truth.shape or alpha.ndim != 3 or alpha.shape[0] < 2:
        raise ValueError("dtssd needs two [T,H,W] tensors of the same shape with T >= 2")
    error = (alpha[1:] - alpha[:-1]) - (truth[1:] - truth[:-1])
    return float(error.pow(2).mean(dim=(1, 2)).sqrt().mean())


def _moving_mask(clip: SyntheticClip) -> torch.Tensor:
    moving = clip.moving.clone()
    moving[:-1] |= clip.moving[1:]
    return moving


def evaluate(clips: Sequence[SyntheticClip], options: dict[str, Any] | None) -> dict[str, float]:
    """Mean metrics over ``clips`` for ``stabilize_alpha(**options)``; ``options=None`` scores the raw alpha."""
    rows = []
    for clip in clips:
        moving = _moving_mask(clip)
        if options is None:
            output, seconds, smeared = clip.coarse, 0.0, clip.alpha
        else:
            start = time.perf_counter()
            output = stabilize_alpha(clip.coarse, clip.frames, **options)
            seconds = time.perf_counter() - start
            smeared = stabilize_alpha(clip.alpha, clip.frames, **options)
        error = (output - clip.alpha) ** 2
        rows.append(torch.tensor([
            dtssd(output, clip.alpha) * 1e2,
            float(error.mean()) * 1e3,
            float(error[moving].mean()) * 1e3 if moving.any() else 0.0,
            float(((smeared - clip.alpha) ** 2).mean()) * 1e3,
            seconds * 1e3 / clip.alpha.shape[0],
        ], dtype=torch.float64))
    mean = torch.stack(rows).mean(dim=0).tolist()
    return dict(zip(("dtssd", "mse", "mse_moving", "smear", "ms_per_frame"), mean))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ben2_model.bench.temporal", description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=4, help="number of clips (default 4)")
    parser.add_argument("--frames", type=int, default=48, help="frames per clip (default 48)")
    parser.add_argument("--size", default="192x256", help="HxW of the clips (default 192x256)")
    parser.add_argument("--seed", type=int, default=100, help="seed of the first clip (default 100)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="device to stabilise on (cpu, cuda, ...)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    height, width = (int(value) for value in args.size.lower().split("x"))
    clips = [make_clip(args.seed + index, frames=args.frames, height=height, width=width) for index in range(args.clips)]
    device = torch.device(args.device)
    clips = [SyntheticClip(*(getattr(clip, name).to(device) for name in SyntheticClip.__dataclass_fields__))
             for clip in clips]

    variants = [
        ("per-frame alpha (off)", None),
        ("stabilize_alpha, search=0", {"search": 0}),
        ("stabilize_alpha (default)", {}),
    ]
    print(f"{args.clips} clips of {args.frames} frames {height}x{width}, seeds {args.seed}..{args.seed + args.clips - 1}, "
          f"device {device}")
    header = f"{'method':28s} {'dtSSD x1e2':>10s} {'MSE x1e3':>9s} {'MSE moving':>10s} {'smear x1e3':>10s} {'ms/frame':>9s}"
    print(header)
    print("-" * len(header))
    baseline = None
    for name, options in variants:
        result = evaluate(clips, options)
        baseline = baseline or result
        print(f"{name:28s} {result['dtssd']:10.3f} {result['mse']:9.3f} {result['mse_moving']:10.2f} "
              f"{result['smear']:10.4f} {result['ms_per_frame']:9.1f}")
        if result is not baseline:
            print(f"{'':28s} {100 * (result['dtssd'] / baseline['dtssd'] - 1):+9.1f}% "
                  f"{100 * (result['mse'] / baseline['mse'] - 1):+8.1f}% "
                  f"{100 * (result['mse_moving'] / baseline['mse_moving'] - 1):+9.1f}%")


if __name__ == "__main__":
    main()
