"""``ben2 remove``: cut out image files and folders of images, mirroring folders under OUTDIR.

Plans every input -> output pair first (so missing inputs and existing outputs are reported before the
network loads), then reads, predicts in batches, refines/composites and writes each picture through a
temporary file. A bad input is reported and skipped; the exit code says whether anything failed.

One function, ``process_chunk``, turns a chunk of jobs into files with a loaded model; the local loop
and the Ray workers (``--ray``, ``ben2_model.distributed.ray``) both call it on the same chunks, so
their files are identical by construction.
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from .common import (
    EXIT_INPUT_FAILED,
    EXIT_OK,
    IMAGE_EXTENSIONS,
    OUTPUT_FORMATS,
    UsageError,
    describe_error,
    load_network,
    make_progress,
    report,
)
from .outputs import save_atomically, sweep_partials  # noqa: F401  (sweep_partials: part of this command's API)


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


# --------------------------------------------------------------------------------------------
# remove: one chunk of jobs


@dataclass(frozen=True)
class RemoveSettings:
    """Everything a worker needs to turn jobs into files: plain values, picklable (Ray ships it).

    ``background_pixels``: the ``--background`` image as uint8 ``[h,w,3]`` numpy (read once on the
    driver, so workers need no access to it), or None.
    """

    format: str
    refine: str
    mask_only: bool
    background_color: tuple[float, float, float] | None
    background_pixels: Any
    fit: str
    batch_size: int
    model: str | None
    device: str
    dtype: str
    compile: bool

    def model_args(self) -> argparse.Namespace:
        """The options ``common.load_network`` reads."""
        return argparse.Namespace(model=self.model, device=self.device, dtype=self.dtype, compile=self.compile)


@dataclass(frozen=True)
class FileResult:
    """What became of one job: ``status`` is ``written``, ``skipped`` (unreadable input) or
    ``failed`` (network or write error); ``message`` is the line to report (None when written)."""

    source: Path
    target: Path
    status: str
    message: str | None = None


def settings_from_args(args: argparse.Namespace) -> RemoveSettings:
    """``RemoveSettings`` for parsed ``ben2 remove`` options; reads the ``--background`` image now, so
    a bad file fails before the network loads (``UsageError``)."""
    import numpy as np

    pixels = None
    if args.background is not None and args.background.image_path is not None:
        try:
            pixels = np.asarray(read_image(args.background.image_path), dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as error:
            path = args.background.image_path
            raise UsageError(f"--background {path}: cannot read image ({describe_error(error)})") from None
    return RemoveSettings(
        format=args.format,
        refine=args.refine,
        mask_only=args.mask_only,
        background_color=args.background.color if args.background is not None else None,
        background_pixels=pixels,
        fit=args.fit,
        batch_size=args.batch_size,
        model=None if args.model is None else str(args.model),
        device=args.device,
        dtype=args.dtype,
        compile=getattr(args, "compile", False),
    )


def render_options(settings: RemoveSettings, device: Any) -> RenderOptions:
    """The ``RenderOptions`` of ``settings`` on the model's ``device``."""
    backdrop = None
    if settings.background_pixels is not None:
        from PIL import Image

        backdrop = image_to_tensor(Image.fromarray(settings.background_pixels, "RGB"), device)
    return RenderOptions(
        refine=settings.refine,
        mask_only=settings.mask_only,
        background_color=settings.background_color,
        background_image=backdrop,
        fit=settings.fit,
        device=device,
    )


def process_chunk(
    model: Any, chunk: Sequence[ImageJob], settings: RemoveSettings, options: RenderOptions
) -> list[FileResult]:
    """Read, predict (one network call for the chunk), render and write each job of ``chunk``.

    Never raises for a bad file: each job gets a ``FileResult`` (in ``chunk`` order).
    """
    from PIL import Image

    from .. import remove_background

    results: dict[int, FileResult] = {}
    readable: list[tuple[int, ImageJob, Any]] = []
    for index, job in enumerate(chunk):
        try:
            readable.append((index, job, read_image(job.source)))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            # Pillow raises any of these for a damaged, truncated or absurdly large file.
            message = f"skipped {job.source}: cannot read image ({describe_error(error)})"
            results[index] = FileResult(job.source, job.target, "skipped", message)
    if readable:
        try:
            cutouts = remove_background(model, [image for _, _, image in readable], batch_size=len(readable))
        except (RuntimeError, ValueError) as error:  # e.g. out of memory: these fail, the rest may fit
            hint = " (try a smaller --batch-size)" if "out of memory" in str(error).lower() else ""
            for index, job, _ in readable:
                message = f"failed {job.source}: {describe_error(error)}{hint}"
                results[index] = FileResult(job.source, job.target, "failed", message)
        else:
            for (index, job, image), rgba in zip(readable, cutouts):
                try:
                    save_atomically(render(image, rgba, options), job.target, settings.format)
                    results[index] = FileResult(job.source, job.target, "written")
                except OSError as error:
                    message = f"failed {job.source}: cannot write {job.target} ({describe_error(error)})"
                    results[index] = FileResult(job.source, job.target, "failed", message)
    return [results[index] for index in range(len(chunk))]


def local_chunks(
    chunks: Sequence[Sequence[ImageJob]], settings: RemoveSettings
) -> Iterator[list[FileResult]]:
    """``process_chunk`` over ``chunks`` in this process, one result list per chunk. The network loads
    now, before the first result is asked for (``ModelLoadError``)."""
    model = load_network(settings.model_args())
    options = render_options(settings, model.device)
    return (process_chunk(model, chunk, settings, options) for chunk in chunks)


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
    if getattr(args, "ray", None) is None:
        for option in ("workers", "gpus_per_worker"):
            if getattr(args, option, None) is not None:
                raise UsageError(f"--{option.replace('_', '-')} is for --ray runs: add --ray, or drop it")


def run_remove(args: argparse.Namespace) -> int:
    """``ben2 remove``: returns the exit code."""
    validate_remove(args)
    on_ray = getattr(args, "ray", None) is not None
    if on_ray:
        from .ray import require_ray

        require_ray()  # before any work: without Ray, say what to install
    outdir = Path(args.output)
    jobs, problems = plan_jobs(args.inputs, outdir, OUTPUT_FORMATS[args.format], args.overwrite)
    for problem in problems:
        report(problem)
    failed = len(problems)
    if not jobs:
        if not args.quiet:
            report(f"nothing to do: 0 written, {failed} skipped")
        return EXIT_INPUT_FAILED if failed else EXIT_OK

    settings = settings_from_args(args)  # reads --background before the network loads
    sweep_partials(job.target for job in jobs)  # left by an earlier run that was killed
    chunks = list(batched(jobs, settings.batch_size))
    if on_ray:
        from .ray import ray_chunks

        results = ray_chunks(args, chunks, settings)
    else:
        results = local_chunks(chunks, settings)

    written = 0
    with contextlib.closing(results):  # a Ray run stops its workers however the loop ends
        progress = make_progress(len(jobs), "image", args.quiet)
        try:
            for chunk_results in results:
                for result in chunk_results:
                    if result.status == "written":
                        written += 1
                    else:
                        report(result.message or f"failed {result.source}")
                        failed += 1
                progress.update(len(chunk_results))
        finally:
            progress.close()
    if not args.quiet:
        report(f"{written} written to {outdir}, {failed} failed or skipped")
    return EXIT_INPUT_FAILED if failed else EXIT_OK
