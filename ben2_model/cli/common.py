"""What the ``ben2`` commands share: exit codes, messages, option types, model loading, progress.

Nothing here imports torch, the network or PyAV at module import: they load when a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..matting.color import parse_color
from ..weights.dtypes import resolve_dtype
from ..weights.hub import HUB_FILENAME, HUB_REPO

EXIT_OK = 0
EXIT_INPUT_FAILED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_INTERRUPTED = 130

PROGRAM = "ben2"

# Extensions picked up when scanning folders (files named explicitly are tried whatever they end in).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
OUTPUT_FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
RAY_LOCAL = "local"  # what a bare --ray stands for: start a Ray runtime on this machine
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


def non_negative_float(text: str) -> float:
    """argparse type for amounts that must be >= 0 (fractions allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


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


def load_network(args: argparse.Namespace) -> Any:
    """The BEN2 model for ``--model/--device/--dtype/--compile``; ``ModelLoadError`` with one line on failure.

    ``--dtype auto`` is ``weights.dtypes.auto_dtype``: fp16 on CUDA, fp32 elsewhere. A ``.onnx``
    ``--model`` runs in onnxruntime (its precision was fixed at export; ``--dtype`` does not apply).
    """
    from .. import load_model

    if args.model is not None and Path(args.model).suffix.lower() == ".onnx":
        # onnxruntime picks its own execution provider (and falls back to the CPU): the device
        # name goes through as given, whatever this PyTorch build supports
        options = dict(device=args.device, compile=getattr(args, "compile", False))
    else:
        device = resolve_device(args.device)
        dtype = resolve_dtype(args.dtype, device)
        options = dict(device=device, dtype=dtype, compile=getattr(args, "compile", False))

    if args.model is not None:
        path = Path(args.model)
        if not path.is_file():
            what = "is a folder, not a checkpoint file" if path.is_dir() else "does not exist"
            raise ModelLoadError(f"model file {path} {what}")
        try:
            return load_model(path, **options)
        except Exception as error:  # any failure here means "this file is not a usable BEN2"
            raise ModelLoadError(f"cannot load model {path}: {describe_error(error)}") from error
    try:
        return load_model(**options)
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
