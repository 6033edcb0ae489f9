"""``ben2 remove``: cut out image files and folders of images, mirroring folders under OUTDIR.

Plans every input -> output pair first (so missing inputs and existing outputs are reported before the
network loads), then reads, predicts in batches, refines/composites and writes each picture through a
temporary file. A bad input is reported and skipped; the exit code says whether anything failed.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from .common import (
    EXIT_INPUT_FAILED,
    EXIT_OK,
    IMAGE_EXTENSIONS,
    JPEG_QUALITY,
    OUTPUT_FORMATS,
    UsageError,
    describe_error,
    load_network,
    make_progress,
    partial_path,
    report,
)


# --------------------------------------------------------------------------------------------
# remove: planning


@dataclass(frozen=True)
class ImageJob:
    """One input image and the file its result goes to."""

    source: Path
    target: Path


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _scan_folder(folder: Path, outdir: Path) -> Iterator[Path]:
    """Image files under ``folder``, sorted, skipping hidden entries and ``outdir`` itself."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        if _is_inside(path, outdir):  # `ben2 remove . -o out` must not eat its own results
            continue
        yield path


def plan_jobs(
    inputs: Sequence[str], outdir: Path, suffix: str, overwrite: bool
) -> tuple[list[ImageJob], list[str]]:
    """Pair inputs with output paths.

    Returns ``(jobs, problems)``: the work to do, and one message per input that will not be done
    (missing, no images in a folder, two inputs for one output, output = input, output exists and
    ``overwrite`` is off).
    """
    jobs: list[ImageJob] = []
    problems: list[str] = []
    claimed: dict[Path, Path] = {}
    for text in inputs:
        given = Path(text)
        if given.is_dir():
            found = _scan_folder(given, outdir)
            pairs = [(path, outdir / path.relative_to(given).with_suffix(suffix)) for path in found]
            if not pairs:
                kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
                problems.append(f"skipped {given}: no image files ({kinds}) in this folder")
        elif given.is_file():
            pairs = [(given, outdir / given.with_suffix(suffix).name)]
        else:
            problems.append(f"skipped {given}: no such file or folder")
            continue
        for source, target in pairs:
            key = target.resolve()
            if key in claimed:
                problems.append(f"skipped {source}: {claimed[key]} already writes {target}")
                continue
            if key == source.resolve():
                problems.append(f"skipped {source}: the output would replace the input; choose another -o")
                continue
            claimed[key] = source
            if target.exists() and not overwrite:
                problems.append(f"skipped {source}: {target} exists (use --overwrite to replace it)")
                continue
            jobs.append(ImageJob(source, target))
    return jobs, problems


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------------
# remove: image work


def read_image(path: Path) -> Any:
    """The picture at ``path`` as an RGB PIL image, upright per its EXIF orientation."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        upright = ImageOps.exif_transpose(opened)
        return upright.convert("RGB")


def image_to_tensor(image: Any, device: Any) -> Any:
    """PIL RGB/L -> float ``[1,H,W,C]`` in 0..1 on ``device``."""
    import numpy as np
    import torch

    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array)[None].to(device)


def tensor_to_image(values: Any) -> Any:
    """float ``[H,W]`` or ``[H,W,C]`` in 0..1 -> PIL image (L, RGB or RGBA)."""
    from PIL import Image

    array = (values.detach().float().clamp(0, 1) * 255).round().to("cpu").byte().numpy()
    return Image.fromarray(array)


@dataclass(frozen=True)
class RenderOptions:
    """How a network alpha becomes the output picture."""

    refine: str
    mask_only: bool
    background_color: tuple[float, float, float] | None
    background_image: Any  # float [1,h,w,3] tensor or None
    fit: str
    device: Any


def render(image: Any, rgba: Any, options: RenderOptions) -> Any:
    """The output picture for one input.

    ``image``: the RGB PIL input; ``rgba``: ``remove_background``'s RGBA result for it.
    Returns a PIL image: L (mask only), RGB (composited) or RGBA (cut-out).
    """
    plain = options.refine == "none" and options.background_color is None and options.background_image is None
    if plain:
        return rgba.getchannel("A") if options.mask_only else rgba

    from ..matting.composite import composite
    from ..matting.refine import refine_edges

    image_t = image_to_tensor(image, options.device)  # [1,H,W,3]
    alpha_t = image_to_tensor(rgba.getchannel("A"), options.device)[..., 0]  # [1,H,W]
    foreground = image_t
    if options.refine != "none":
        alpha_t, foreground = refine_edges(image_t, alpha_t, mode=options.refine)
    if options.mask_only:
        return tensor_to_image(alpha_t[0])
    if options.background_image is not None:
        return tensor_to_image(composite(foreground, alpha_t, options.background_image, fit=options.fit)[0])
    if options.background_color is not None:
        return tensor_to_image(composite(foreground, alpha_t, options.background_color)[0])
    return tensor_to_image(torch_cat_alpha(foreground[0], alpha_t[0]))


def torch_cat_alpha(rgb: Any, alpha: Any) -> Any:
    """``[H,W,3]`` + ``[H,W]`` -> ``[H,W,4]``."""
    import torch

    return torch.cat([rgb, alpha[..., None].to(rgb.dtype)], dim=-1)


def save_atomically(picture: Any, target: Path, format_name: str) -> None:
    """Write ``picture`` to ``target`` through a temporary file, so no half-written output remains."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(target)
    try:
        if format_name == "jpg":
            picture.convert("RGB").save(temporary, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        elif format_name == "webp":
            picture.save(temporary, format="WEBP", quality=JPEG_QUALITY)
        else:
            picture.save(temporary, format="PNG")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# remove: the command


def validate_remove(args: argparse.Namespace) -> None:
    """Option combinations argparse cannot check; ``UsageError`` on a bad one."""
    if args.format == "jpg" and args.background is None and not args.mask_only:
        raise UsageError("--format jpg has no alpha channel: add --background COLOR|IMAGE, or use png/webp")
    if args.mask_only and args.background is not None:
        raise UsageError("--mask-only writes the matte, so --background has nothing to do: drop one of them")
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"-o {outdir}: exists and is not a folder; -o takes the folder for the results")


def run_remove(args: argparse.Namespace) -> int:
    """``ben2 remove``: returns the exit code."""
    validate_remove(args)
    outdir = Path(args.output)
    jobs, problems = plan_jobs(args.inputs, outdir, OUTPUT_FORMATS[args.format], args.overwrite)
    for problem in problems:
        report(problem)
    failed = len(problems)
    if not jobs:
        if not args.quiet:
            report(f"nothing to do: 0 written, {failed} skipped")
        return EXIT_INPUT_FAILED if failed else EXIT_OK

    backdrop = None  # read before the network loads, so a bad file fails at once
    if args.background is not None and args.background.image_path is not None:
        try:
            backdrop = read_image(args.background.image_path)
        except (OSError, ValueError, SyntaxError) as error:
            path = args.background.image_path
            raise UsageError(f"--background {path}: cannot read image ({describe_error(error)})") from None

    model = load_network(args)
    device = model.device
    options = RenderOptions(
        refine=args.refine,
        mask_only=args.mask_only,
        background_color=args.background.color if args.background is not None else None,
        background_image=None if backdrop is None else image_to_tensor(backdrop, device),
        fit=args.fit,
        device=device,
    )

    from PIL import Image

    from .. import remove_background

    written = 0
    progress = make_progress(len(jobs), "image", args.quiet)
    try:
        for chunk in batched(jobs, args.batch_size):
            readable: list[tuple[ImageJob, Any]] = []
            for job in chunk:
                try:
                    readable.append((job, read_image(job.source)))
                except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
                    # Pillow raises any of these for a damaged, truncated or absurdly large file.
                    report(f"skipped {job.source}: cannot read image ({describe_error(error)})")
                    failed += 1
                    progress.update(1)
            if not readable:
                continue
            try:
                results = remove_background(model, [image for _, image in readable], batch_size=len(readable))
            except (RuntimeError, ValueError) as error:  # e.g. out of memory: these fail, the rest may fit
                hint = " (try a smaller --batch-size)" if "out of memory" in str(error).lower() else ""
                for job, _ in readable:
                    report(f"failed {job.source}: {describe_error(error)}{hint}")
                failed += len(readable)
                progress.update(len(readable))
                continue
            for (job, image), rgba in zip(readable, results):
                try:
                    save_atomically(render(image, rgba, options), job.target, args.format)
                    written += 1
                except OSError as error:
                    report(f"failed {job.source}: cannot write {job.target} ({describe_error(error)})")
                    failed += 1
                progress.update(1)
    finally:
        progress.close()
    if not args.quiet:
        report(f"{written} written to {outdir}, {failed} failed or skipped")
    return EXIT_INPUT_FAILED if failed else EXIT_OK
