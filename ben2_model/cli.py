"""The ``ben2`` command line: ``ben2 remove`` for images and folders, ``ben2 video`` for clips.

Run as ``ben2 ...`` (console script) or ``python -m ben2_model ...``.

Exit codes (stable, for scripts):

* 0 -- everything asked for was written;
* 1 -- some inputs were not written (unreadable, missing, output already exists, write failed);
  the others were, and each problem was reported on stderr;
* 2 -- usage error (bad option or value); nothing was done;
* 3 -- the model could not be loaded (missing file, not a BEN2 checkpoint, weights not
  downloadable); nothing was done;
* 130 -- interrupted (Ctrl-C); finished outputs stay, no half-written file is left behind.

Modules: this one parses arguments and holds what both commands share (messages, model loading,
progress bar); ``cli_remove`` and ``cli_video`` run the commands. Nothing here imports torch, the
network or PyAV before a command runs (importing the ``ben2_model`` package itself loads torch).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .hub import HUB_FILENAME, HUB_REPO

EXIT_OK = 0
EXIT_INPUT_FAILED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_INTERRUPTED = 130

PROGRAM = "ben2"

# Extensions picked up when scanning folders (files named explicitly are tried whatever they end in).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
OUTPUT_FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
JPEG_QUALITY = 95

EXIT_CODES_HELP = """\
exit codes:
  0    everything was written
  1    some inputs failed or were skipped (each one is reported on stderr)
  2    usage error (bad option or value)
  3    the model could not be loaded (missing file, not a BEN2 checkpoint, offline)
  130  interrupted
"""


class UsageError(Exception):
    """A bad option value found after parsing: exit code 2, one line on stderr."""


class ModelLoadError(Exception):
    """The network could not be loaded: exit code 3, one line on stderr."""


# --------------------------------------------------------------------------------------------
# messages


def report(message: str) -> None:
    """One line on stderr, prefixed with the program name (never a traceback for user errors).

    Goes through ``tqdm.write`` when tqdm is there, so a progress bar on screen is redrawn below
    the message instead of being torn apart by it.
    """
    line = f"{PROGRAM}: {message}"
    try:
        from tqdm import tqdm
    except ImportError:
        print(line, file=sys.stderr, flush=True)
        return
    tqdm.write(line, file=sys.stderr)


def describe_error(error: BaseException) -> str:
    """A one-line description of an exception, without the traceback."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(error, OSError) and error.strerror and not first:
        first = error.strerror
    return first or type(error).__name__


# --------------------------------------------------------------------------------------------
# option values


def parse_color(text: str) -> tuple[float, float, float]:
    """A colour as an RGB tuple of floats in 0..1.

    Accepts ``#00ff00``, ``#0f0``, names Pillow knows (``white``, ``green``, ...) and ``0,255,0``.
    Raises ``ValueError`` naming the accepted forms otherwise.
    """
    from PIL import ImageColor

    value = text.strip()
    if "," in value:
        parts = [part.strip() for part in value.split(",")]
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            raise ValueError(f"{text!r} is not a colour: write R,G,B with three integers 0-255, e.g. 0,255,0")
        channels = [int(part) for part in parts]
        if any(channel > 255 for channel in channels):
            raise ValueError(f"{text!r} is not a colour: each of R,G,B must be in 0-255")
    else:
        try:
            channels = list(ImageColor.getrgb(value))[:3]
        except ValueError:
            raise ValueError(
                f"{text!r} is not a colour: use #rrggbb, a name such as white, or R,G,B like 0,255,0"
            ) from None
    return (channels[0] / 255.0, channels[1] / 255.0, channels[2] / 255.0)


@dataclass(frozen=True)
class Background:
    """What ``--background`` asked for: a colour (RGB floats 0..1) or an image file."""

    color: tuple[float, float, float] | None = None
    image_path: Path | None = None


def background_argument(text: str) -> Background:
    """argparse type for ``--background``: an existing image file, else a colour."""
    if Path(text).is_file():
        return Background(image_path=Path(text))
    try:
        return Background(color=parse_color(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}; or give the path of an existing image file") from None


def positive_int(text: str) -> int:
    """argparse type for counts that must be >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


# --------------------------------------------------------------------------------------------
# argument parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network and refinement")
    group.add_argument(
        "--model",
        metavar="PATH",
        help=f"BEN2 checkpoint (.safetensors or .pth). Default: {HUB_FILENAME} from the Hugging Face "
        f"repo {HUB_REPO}, downloaded once into the huggingface_hub cache (HF_HOME)",
    )
    group.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        default="auto",
        help="where the network runs; auto picks cuda, then mps, then cpu (default: auto)",
    )
    group.add_argument(
        "--dtype",
        choices=("auto", "fp32", "fp16", "bf16"),
        default="auto",
        help="network precision; auto is fp16 on cuda and fp32 elsewhere (default: auto)",
    )
    group.add_argument(
        "--refine",
        choices=("none", "fast", "quality"),
        default="none",
        help="edge refinement after the network: none keeps its alpha; fast is a guided filter on "
        "uncertain edges with colour decontamination; quality is slower and finer on hair and fur "
        "(default: none)",
    )


def _wrap(text: str) -> str:
    """A help paragraph wrapped for the terminal (the raw formatter keeps the exit-code table as is)."""
    return textwrap.fill(" ".join(text.split()), width=88)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("comfyui-ben2")
    except PackageNotFoundError:  # run from a checkout (python -m ben2_model) without installing
        return "(source checkout, not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The ``ben2`` argument parser (commands ``remove`` and ``video``)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="BEN2 background removal for images, folders and videos.",
        epilog="examples:\n"
        "  ben2 remove photo.jpg -o out/\n"
        "  ben2 remove photos/ -o cutouts/ --background white --format jpg\n"
        "  ben2 video clip.mp4 -o clip.webm\n\n"
        "run 'ben2 COMMAND --help' for the options of a command.\n\n" + EXIT_CODES_HELP,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    remove = commands.add_parser(
        "remove",
        help="cut out images and folders of images",
        description=_wrap(
            "Cut the foreground out of images. Folders are searched recursively for "
            + ", ".join(sorted(IMAGE_EXTENSIONS))
            + " files and their structure is mirrored under OUTDIR (photos/a/b.jpg -> OUTDIR/a/b.png; "
            "a file given directly goes to OUTDIR/<name>). Outputs are PNG with alpha unless "
            "--background or --format say otherwise. Existing outputs are never replaced without "
            "--overwrite: they are reported, skipped, and the exit code is 1. An unreadable input is "
            "reported and skipped; the others are still written."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=formatter,
    )
    remove.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    remove.add_argument(
        "-o", "--output", required=True, metavar="OUTDIR", help="folder for the results (created if missing)"
    )
    remove.add_argument(
        "--background",
        type=background_argument,
        metavar="COLOR|IMAGE",
        help="composite onto this instead of writing alpha: a colour (#00ff00, white, 0,255,0) "
        "or an image file (fitted per --fit)",
    )
    remove.add_argument(
        "--fit",
        choices=("cover", "contain", "stretch", "center"),
        default="cover",
        help="how a background image is fitted to each picture (default: cover)",
    )
    remove.add_argument(
        "--format",
        choices=tuple(OUTPUT_FORMATS),
        default="png",
        help="output format; png and webp keep alpha, jpg needs --background (default: png)",
    )
    remove.add_argument(
        "--mask-only",
        action="store_true",
        help="write the alpha matte as a greyscale image instead of the cut-out",
    )
    remove.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    _add_model_options(remove)
    remove.add_argument(
        "--batch-size",
        type=positive_int,
        default=4,
        metavar="N",
        help="images per network call; lower it if memory runs out (default: 4)",
    )
    remove.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary line")
    remove.set_defaults(run=_run_remove, command_parser=remove)

    video = commands.add_parser(
        "video",
        help="remove the background of a video",
        description=_wrap(
            "Remove the background of a video (needs PyAV: pip install av). The output "
            "container decides the result: .webm (VP9) and .mov (ProRes 4444) keep an alpha channel; "
            ".mp4 (H.264) has none, so its frames are composited on --background (default: black). "
            "The audio track is kept (re-encoded for the container) unless --no-audio. The output "
            "appears only when complete."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=formatter,
    )
    video.add_argument("input", metavar="INPUT", help="video file")
    video.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output video: OUT.webm, OUT.mov or OUT.mp4"
    )
    video.add_argument(
        "--background",
        metavar="COLOR",
        help="colour behind the foreground: #00ff00, white, 0,255,0 (mp4 only; default: black)",
    )
    video.add_argument("--no-audio", action="store_true", help="drop the audio track")
    video.add_argument(
        "--stabilize",
        action="store_true",
        help="reduce matte flicker where the picture is still (a motion-gated temporal filter over "
        "neighbouring frames; holds 64 frames in memory; slow on the CPU, meant for a GPU)",
    )
    video.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    _add_model_options(video)
    video.add_argument(
        "--batch-size",
        type=positive_int,
        default=4,
        metavar="N",
        help="frames per network call; lower it if memory runs out (default: 4)",
    )
    video.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary line")
    video.set_defaults(run=_run_video, command_parser=video)
    return parser


def _run_remove(args: argparse.Namespace) -> int:
    from .cli_remove import run_remove

    return run_remove(args)


def _run_video(args: argparse.Namespace) -> int:
    from .cli_video import run_video

    return run_video(args)


# --------------------------------------------------------------------------------------------
# model


def resolve_device(name: str) -> Any:
    """``torch.device`` for ``--device``; ``UsageError`` if the backend is not available."""
    import torch

    mps_available = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available to this PyTorch; use --device cpu or auto")
    if name == "mps" and not mps_available:
        raise UsageError("--device mps: Apple MPS is not available to this PyTorch; use --device cpu or auto")
    return torch.device(name)


def resolve_dtype(name: str, device: Any) -> Any:
    """``torch.dtype`` for ``--dtype`` (auto: fp16 on CUDA like the reference, fp32 elsewhere)."""
    import torch

    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def load_network(args: argparse.Namespace) -> Any:
    """The BEN2 model for ``--model/--device/--dtype``; ``ModelLoadError`` with one line on failure."""
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    from . import load_model

    if args.model is not None:
        path = Path(args.model)
        if not path.is_file():
            what = "is a folder, not a checkpoint file" if path.is_dir() else "does not exist"
            raise ModelLoadError(f"model file {path} {what}")
        try:
            return load_model(path, device=device, dtype=dtype)
        except Exception as error:  # any failure here means "this file is not a usable BEN2"
            raise ModelLoadError(f"cannot load model {path}: {describe_error(error)}") from error
    try:
        return load_model(device=device, dtype=dtype)
    except Exception as error:  # offline, hub unreachable, cache unwritable, corrupt download
        message = describe_error(error)
        hint = (
            f"download {HUB_FILENAME} from https://huggingface.co/{HUB_REPO} and pass --model PATH"
        )
        if HUB_REPO not in message or HUB_FILENAME not in message:
            message = f"{message} ({hint})"
        elif "--model" not in message:
            message = f"{message.rstrip('.')} (ben2 option: --model PATH)"
        raise ModelLoadError(f"cannot load the default model: {message}") from error


# --------------------------------------------------------------------------------------------
# progress


class _SilentProgress:
    """Stand-in for tqdm when it is missing or turned off."""

    def update(self, count: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def make_progress(total: int | None, unit: str, quiet: bool) -> Any:
    """A tqdm bar on stderr (``total`` None: unknown length); off when ``quiet`` or stderr is not a
    terminal, so logs and pipes stay clean."""
    if quiet or not sys.stderr.isatty():
        return _SilentProgress()
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with huggingface_hub, but the bar is a nicety
        return _SilentProgress()
    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)


# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# output files


def partial_path(target: Path) -> Path:
    """Hidden sibling of ``target`` to write into before renaming (created with the user's umask)."""
    return target.with_name(f".{target.name}.{os.getpid()}.part{target.suffix}")


# --------------------------------------------------------------------------------------------
# entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ben2`` command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help (0) or a usage error argparse already printed (2)
        code = exit_request.code
        return code if isinstance(code, int) else EXIT_USAGE
    try:
        return args.run(args)
    except UsageError as error:
        args.command_parser.print_usage(sys.stderr)  # same shape as argparse's own usage errors
        print(f"{args.command_parser.prog}: error: {error}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except ModelLoadError as error:
        report(f"error: {error}")
        return EXIT_MODEL
    except KeyboardInterrupt:
        report("interrupted")
        return EXIT_INTERRUPTED


__all__ = [
    "EXIT_INPUT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_MODEL",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "parse_color",
]
