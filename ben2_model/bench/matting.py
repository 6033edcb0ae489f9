"""Matting benchmark: ``python -m ben2_model.bench.matting DATA_DIR [--methods ...]``.

DATA_DIR holds one folder per image with ``image.png``, ``coarse.png`` (the network-like alpha),
``alpha.png`` and ``fg.png`` (ground truth); an ``index.json`` with ``{"images": [{"dir": ...}]}``
is optional. Every method gets ``(image [1,H,W,3], coarse [1,H,W], trimap [1,H,W])`` and returns
``(alpha, foreground)``; the table shows the mean over the images (MSE columns ×1e3, lower is better)
and the mean time per image of the method itself (trimap excluded).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..matting.filters import fast_guided_filter, guided_filter
from ..matting.foreground import blur_fusion_foreground, multilevel_foreground
from .metrics import evaluate
from ..matting.refine import refine_edges
from ..matting.trimap import confidence_trimap

Method = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


def _in_band(trimap: Tensor, refined: Tensor, coarse: Tensor) -> Tensor:
    return torch.where(trimap == 0.5, refined.clamp(0, 1), coarse)


def _grey(image: Tensor) -> Tensor:
    return image.mean(-1, keepdim=True).permute(0, 3, 1, 2)


def _guided_r8(image: Tensor, coarse: Tensor, trimap: Tensor) -> tuple[Tensor, Tensor]:
    refined = guided_filter(_grey(image), coarse[:, None], 8, 1e-4)[:, 0]
    alpha = _in_band(trimap, refined, coarse)
    return alpha, blur_fusion_foreground(image, alpha)


def _fast_guided_grey(image: Tensor, coarse: Tensor, trimap: Tensor) -> Tensor:
    guide = _grey(image)
    small = min(1024, max(image.shape[1:3]))
    mean_a, mean_b = fast_guided_filter(guide, coarse[:, None], round(32 * small / 1024), 1e-4)
    return _in_band(trimap, (mean_a * guide + mean_b)[:, 0], coarse)


def _fast_guided_colour(image: Tensor, coarse: Tensor, trimap: Tensor) -> Tensor:
    """The issue's baseline: colour fast guided filter, r = 32 px@1024, eps 1e-4, in the band."""
    guide = image.permute(0, 3, 1, 2)
    small = min(1024, max(image.shape[1:3]))
    mean_a, mean_b = fast_guided_filter(guide, coarse[:, None], round(32 * small / 1024), 1e-4)
    return _in_band(trimap, ((mean_a * guide).sum(1) + mean_b[:, 0]), coarse)


def _then(alpha_method: Callable[[Tensor, Tensor, Tensor], Tensor], colours: Callable[[Tensor, Tensor], Tensor]) -> Method:
    """A method: ``alpha_method`` for the alpha, then ``colours(image, alpha)`` for the foreground."""

    def method(image: Tensor, coarse: Tensor, trimap: Tensor) -> tuple[Tensor, Tensor]:
        alpha = alpha_method(image, coarse, trimap)
        return alpha, colours(image, alpha)

    return method


METHODS: dict[str, Method] = {
    "coarse": lambda image, coarse, trimap: (coarse, image),
    "coarse+blur_fusion": lambda image, coarse, trimap: (coarse, blur_fusion_foreground(image, coarse)),
    "guided_r8+blur_fusion": _guided_r8,
    "fgf_grey+blur_fusion": _then(_fast_guided_grey, blur_fusion_foreground),
    "fgf_grey+multilevel": _then(_fast_guided_grey, multilevel_foreground),
    "fgf_colour+blur_fusion": _then(_fast_guided_colour, blur_fusion_foreground),
    "fgf_colour+multilevel": _then(_fast_guided_colour, multilevel_foreground),
    "fast": lambda image, coarse, trimap: refine_edges(image, coarse, trimap=trimap, mode="fast"),
    "quality": lambda image, coarse, trimap: refine_edges(image, coarse, trimap=trimap, mode="quality"),
}
DEFAULT_METHODS = ["coarse", "coarse+blur_fusion", "guided_r8+blur_fusion", "fgf_colour+blur_fusion", "fast", "quality"]
COLUMNS = [
    ("unk/mse", "α MSE band", 1e3),
    ("all/sad", "SAD all", 1.0),
    ("unk/grad", "grad band", 1.0),
    ("unk/conn", "conn band", 1.0),
    ("unk/fg_mse", "F MSE band", 1e3),
    ("unk/comp_mse", "halo band", 1e3),
]


def _load(path: Path, mode: str) -> Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert(mode), dtype=np.float32) / 255.0)


def image_dirs(data_dir: Path) -> list[Path]:
    index = data_dir / "index.json"
    if index.exists():
        return [data_dir / entry["dir"] for entry in json.loads(index.read_text())["images"]]
    return sorted(p.parent for p in data_dir.glob("*/coarse.png"))


def run(data_dir: Path, methods: list[str], *, save_dir: Path | None = None, verbose: bool = False) -> dict:
    """Score ``methods`` on every image of ``data_dir``; returns ``{method: {metric: mean}}``."""
    dirs = image_dirs(data_dir)
    if not dirs:
        raise SystemExit(f"no images found in {data_dir} (expected <id>/coarse.png folders)")
    scores: dict[str, list[dict]] = {m: [] for m in methods}
    for d in dirs:
        image = _load(d / "image.png", "RGB")[None]
        coarse = _load(d / "coarse.png", "L")[None]
        gt_alpha = _load(d / "alpha.png", "L")
        gt_fg = _load(d / "fg.png", "RGB")
        trimap = confidence_trimap(coarse)
        for name in methods:
            start = time.perf_counter()
            with torch.inference_mode():
                alpha, fg = METHODS[name](image, coarse, trimap)
            elapsed = time.perf_counter() - start
            row = evaluate(alpha[0], fg[0], gt_alpha, gt_fg, trimap[0])
            row["seconds"] = elapsed
            row["megapixels"] = image.shape[1] * image.shape[2] / 1e6
            scores[name].append(row)
            if verbose:
                cells = "".join(f"{row[k] * s:9.3f}" for k, _, s in COLUMNS)
                print(f"{d.name:34s} {name:24s}{cells}{elapsed:8.2f}s")
            if save_dir is not None:
                out = save_dir / name / d.name
                out.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.round(alpha[0].clamp(0, 1).numpy() * 255).astype(np.uint8)).save(out / "alpha.png")
                Image.fromarray(np.round(fg[0].clamp(0, 1).numpy() * 255).astype(np.uint8)).save(out / "fg.png")
    return {m: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} for m, rows in scores.items()}


def format_table(means: dict) -> str:
    head = "| method | " + " | ".join(title for _, title, _ in COLUMNS) + " | s/image | s/MP |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for name, m in means.items():
        cells = [f"{m[k] * s:.1f}" if s != 1.0 else f"{m[k]:.2f}" for k, _, s in COLUMNS]
        timing = f"{m['seconds']:.3f} | {m['seconds'] / m['megapixels']:.3f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {timing} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=sorted(METHODS))
    parser.add_argument("--save", type=Path, default=None, help="write <method>/<image>/alpha.png, fg.png here")
    parser.add_argument("--verbose", action="store_true", help="print every image")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    means = run(args.data_dir, args.methods, save_dir=args.save, verbose=args.verbose)
    print("(α MSE, F MSE and halo ×1e3; SAD, gradient, connectivity ÷1e3 as usual; lower is better)")
    print(format_table(means))


if __name__ == "__main__":
    main()
