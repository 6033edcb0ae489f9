"""``ben2 export``: write a BEN2 checkpoint as an ONNX graph (``ben2_model.export_onnx``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import EXIT_OK, ModelLoadError, UsageError, describe_error, report


def run_export(args: argparse.Namespace) -> int:
    """Load ``args.model`` (fp32, CPU), export it to ``args.output``; exit code."""
    source = Path(args.model)
    target = Path(args.output)
    if target.suffix.lower() != ".onnx":
        raise UsageError(f"-o {target}: the output must end in .onnx")
    if source.suffix.lower() == ".onnx":
        raise UsageError(f"{source} is already an ONNX graph: give the .safetensors or .pth checkpoint")
    if target.exists() and not args.overwrite:
        raise UsageError(f"{target} exists: pass --overwrite to replace it")
    if not source.is_file():
        what = "is a folder, not a checkpoint file" if source.is_dir() else "does not exist"
        raise ModelLoadError(f"model file {source} {what}")

    from .. import export_onnx, load_model

    try:
        # fp32 on the CPU: export_onnx makes the fp16 copy itself when asked
        model = load_model(source, device="cpu", dtype="fp32")
    except Exception as error:  # any failure here means "this file is not a usable BEN2"
        raise ModelLoadError(f"cannot load model {source}: {describe_error(error)}") from error
    if not args.quiet:
        report(f"exporting {source} ({args.dtype}, {model.input_size}x{model.input_size}); this takes a few minutes")
    start = time.perf_counter()
    export_onnx(model, target, dtype=args.dtype, opset=args.opset, source=source)
    if not args.quiet:
        size = target.stat().st_size + sum(p.stat().st_size for p in target.parent.glob(target.name + ".data"))
        report(f"wrote {target} ({size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s")
    return EXIT_OK
