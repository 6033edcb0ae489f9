"""The ``ben2`` command line: ``ben2 remove`` for images and folders, ``ben2 video`` for clips,
``ben2 export`` to write a checkpoint as an ONNX graph.

Run as ``ben2 ...`` (console script) or ``python -m ben2_model ...``.

Exit codes (stable, for scripts):

* 0 -- everything asked for was written;
* 1 -- some inputs were not written (unreadable, missing, output already exists, write failed);
  the others were, and each problem was reported on stderr;
* 2 -- usage error (bad option or value); nothing was done;
* 3 -- the model could not be loaded (missing file, not a BEN2 checkpoint, weights not
  downloadable); nothing was done;
* 130 -- interrupted (Ctrl-C); finished outputs stay, no half-written file is left behind.

Modules: this one parses arguments and dispatches; ``common`` holds what the commands share
(messages, option types, model loading, progress); ``remove``, ``video`` and ``export`` run the
commands.
Nothing here imports torch, the network or PyAV before a command runs.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Sequence

from ..weights.dtypes import DTYPE_CHOICES
from ..weights.hub import HUB_FILENAME, HUB_REPO
from .common import (
    EXIT_CODES_HELP,
    EXIT_INPUT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_USAGE,
    IMAGE_EXTENSIONS,
    OUTPUT_FORMATS,
    PROGRAM,
    ModelLoadError,
    RAY_LOCAL,
    UsageError,
    background_argument,
    non_negative_float,
    parse_color,
    positive_int,
    report,
)

# --------------------------------------------------------------------------------------------
# argument parser


def _add_run_options(parser: argparse.ArgumentParser, items: str) -> None:
    """--batch-size (``items`` per network call) and --quiet, the same for every command."""
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=4,
        metavar="N",
        help=f"{items} per network call; lower it if memory runs out (default: 4)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary line")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network and refinement")
    group.add_argument(
        "--model",
        metavar="PATH",
        help=f"BEN2 checkpoint (.safetensors or .pth), or an ONNX graph (.onnx, run by onnxruntime). Default: {HUB_FILENAME} from the Hugging Face "
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
        choices=DTYPE_CHOICES,
        default="auto",
        help="network precision; auto is fp16 on cuda and fp32 elsewhere (default: auto)",
    )
    group.add_argument(
        "--compile",
        action="store_true",
        help="run the network under torch.compile: the first batch compiles for minutes, later "
        "ones run faster, so it pays for long videos and large folders; if compiling fails the "
        "network runs as usual after one warning",
    )
    group.add_argument(
        "--refine",
        choices=("none", "fast", "quality"),
        default="none",
        help="edge refinement after the network: none keeps its alpha; fast is a guided filter on "
        "uncertain edges with colour decontamination; quality is slower and finer on hair and fur "
        "(default: none)",
    )


def _add_ray_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "Ray (needs: pip install \"comfyui-ben2[ray]\")",
        _wrap(
            "Spread the files over Ray workers. Inputs are listed here and read and written by the "
            "workers, so every worker must see the same paths (and --model PATH; the default model "
            "downloads on each node). The files written are the same as without --ray."
        ),
    )
    group.add_argument(
        "--ray",
        nargs="?",
        const=RAY_LOCAL,
        metavar="ADDRESS",
        help="run on Ray: alone, a local Ray runtime with this machine's CPUs and GPUs; with an "
        "ADDRESS, join a running cluster (auto, or ray://host:port). Put it after the inputs, or "
        "write --ray=ADDRESS",
    )
    group.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="Ray workers, each with its own copy of the network (default: one per GPU, or one per "
        "2 CPUs without GPUs)",
    )
    group.add_argument(
        "--gpus-per-worker",
        type=non_negative_float,
        metavar="G",
        help="GPUs each Ray worker reserves; fractions share a GPU (default: 1 where the cluster "
        "has GPUs, else 0)",
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
    """The ``ben2`` argument parser (commands ``remove``, ``video`` and ``export``)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="BEN2 background removal for images, folders and videos.",
        epilog="examples:\n"
        "  ben2 remove photo.jpg -o out/\n"
        "  ben2 remove photos/ -o cutouts/ --background white --format jpg\n"
        "  ben2 remove photos/ -o cutouts/ --ray --workers 2\n"
        "  ben2 video clip.mp4 -o clip.webm\n"
        "  ben2 export model.safetensors -o ben2.onnx\n\n"
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
    _add_run_options(remove, "images")
    _add_ray_options(remove)
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
    _add_run_options(video, "frames")
    video.set_defaults(run=_run_video, command_parser=video)

    export = commands.add_parser(
        "export",
        help="write a checkpoint as an ONNX graph",
        description=_wrap(
            "Export a BEN2 checkpoint as an ONNX graph for onnxruntime and other ONNX runtimes "
            "(needs onnx and onnxscript; running it needs onnxruntime). The graph takes "
            "ImageNet-normalised [N,3,S,S] float32 images (N dynamic, S=1024 for the published "
            "weights) and returns [N,1,S,S] foreground probabilities; 'ben2 remove --model OUT.onnx' "
            "runs it. Exporting the full network takes a few minutes."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=formatter,
    )
    export.add_argument("model", metavar="MODEL", help="BEN2 checkpoint (.safetensors or .pth)")
    export.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="the graph to write")
    export.add_argument(
        "--dtype",
        choices=("fp32", "fp16"),
        default="fp32",
        help="weight precision of the graph; its input and output stay float32 (default: fp32)",
    )
    export.add_argument("--opset", type=positive_int, metavar="N", help="ONNX opset (default: the exporter's)")
    export.add_argument("--overwrite", action="store_true", help="replace OUT.onnx if it exists")
    export.add_argument("-q", "--quiet", action="store_true", help="no messages")
    export.set_defaults(run=_run_export, command_parser=export)
    return parser


def _run_remove(args: argparse.Namespace) -> int:
    from .remove import run_remove

    return run_remove(args)


def _run_video(args: argparse.Namespace) -> int:
    from .video import run_video

    return run_video(args)


def _run_export(args: argparse.Namespace) -> int:
    from .export import run_export

    return run_export(args)


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
