"""Export a PyTorch BEN2 to ONNX: ``export_onnx(model, "ben2.onnx")``.

The network is traced on its graph path (``model.kernels = "graph"``: the plain reference path
plus the head's exact algebra in whole-map form; the fast path calls private mkldnn ops no
exporter knows and loops over strips) with ``torch.export`` and translated by torch's dynamo
exporter. The head's algebra makes the graph about 2 s (7 %) faster in onnxruntime on a 2-core CPU. The translated graph is saved without onnxscript's optimisation pass: that pass
takes most of the export time (about 4x on the tiny network) and onnxruntime applies the same
folding and fusions itself when it opens the graph.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tempfile
import warnings
from pathlib import Path

import torch

from . import (
    CONFIG_KEY,
    DTYPE_KEY,
    FORMAT,
    FORMAT_KEY,
    INPUT_NAME,
    INPUT_SIZE_KEY,
    MEAN_KEY,
    OUTPUT_NAME,
    SOURCE_SHA256_KEY,
    STD_KEY,
    VERSION_KEY,
)

EXPORT_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def pack_version() -> str:
    """This pack's version: the installed distribution's, else ``pyproject.toml``'s (a checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("comfyui-ben2")
    except PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text("utf-8"), re.MULTILINE)
    except OSError:
        match = None
    return match.group(1) if match else "unknown"


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_onnx(
    model: torch.nn.Module,
    path: str | os.PathLike,
    *,
    dtype: str = "fp32",
    opset: int | None = None,
    source: str | os.PathLike | None = None,
) -> Path:
    """Write ``model`` (a ``ben2_model.BEN2``) as an ONNX graph to ``path``.

    Args:
        model: the PyTorch BEN2 (any device and dtype; it is traced on the CPU copy it is given and
            left unchanged).
        path: the ``.onnx`` file to write (replaced atomically). Graphs under 2 GB are one file;
            larger ones keep their weights in ``<name>.data`` beside it (ONNX's protobuf limit).
        dtype: ``"fp32"`` or ``"fp16"`` weights. Either way the graph takes and returns float32:
            the fp16 graph casts its input to fp16 first and its output back (as ``BEN2.forward``).
        opset: ONNX opset (default: the exporter's own, currently 18).
        source: the checkpoint the weights came from, for the ``ben2.source_sha256`` metadata
            (default: ``model.checkpoint_path``, which ``load_model`` sets).

    The graph: input ``image`` ``[N,3,S,S]`` float32 ImageNet-normalised (``S = model.input_size``),
    output ``alpha`` ``[N,1,S,S]`` float32 in 0..1; ``N`` is dynamic. ``metadata_props`` hold the
    format marker, input size, normalisation, weight dtype, pack version, config and source hash.

    Returns the path written. Raises ``ValueError`` for an unknown ``dtype`` or a model that is not
    a BEN2, ``ImportError`` (saying what to install) without onnx/onnxscript.
    """
    from ..network.model import BEN2, IMAGENET_MEAN, IMAGENET_STD

    if not isinstance(model, BEN2):
        raise ValueError(f"export_onnx needs a ben2_model.BEN2 (from load_model), got {type(model).__name__}")
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"export dtype must be one of {', '.join(EXPORT_DTYPES)}, got {dtype!r}")
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"ONNX output path must end in .onnx, got {path}")
    source = source if source is not None else getattr(model, "checkpoint_path", None)
    try:  # torch's exporter needs both; say so before a long trace fails half-way
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError(f"exporting BEN2 to ONNX needs onnx and onnxscript: pip install onnx onnxscript ({error})") from error

    target = EXPORT_DTYPES[dtype]
    network = model
    if model.dtype != target or model.device.type != "cpu":
        network = copy.deepcopy(model).to(device="cpu", dtype=target)  # the caller's model stays as it is
    previous_kernels = network.kernels
    network.kernels = "graph"
    try:
        program = _trace(network, opset)
    finally:
        network.kernels = previous_kernels
    del network

    metadata = {
        FORMAT_KEY: FORMAT,
        INPUT_SIZE_KEY: str(model.input_size),
        MEAN_KEY: json.dumps(list(IMAGENET_MEAN)),
        STD_KEY: json.dumps(list(IMAGENET_STD)),
        DTYPE_KEY: dtype,
        VERSION_KEY: pack_version(),
        CONFIG_KEY: json.dumps(model.config),
    }
    if source is not None and Path(source).is_file():
        metadata[SOURCE_SHA256_KEY] = file_sha256(source)
    program.model.metadata_props.update(metadata)
    program.model.producer_name = "comfyui-ben2"
    program.model.producer_version = metadata[VERSION_KEY]

    path.parent.mkdir(parents=True, exist_ok=True)
    # write beside the target and rename: an interrupted export leaves no half-written graph
    handle, partial = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part.onnx", dir=path.parent)
    os.close(handle)
    try:
        program.save(partial)  # external data only above the 2 GB protobuf limit
        external = Path(partial + ".data")
        if external.exists():
            # the graph names its data file: save again under the final name instead of renaming
            os.unlink(partial)
            external.unlink()
            program.save(path)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(partial, 0o666 & ~umask)  # mkstemp's file is private; the graph is not
            os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return path


def _trace(network: torch.nn.Module, opset: int | None):
    """The dynamo exporter's ``ONNXProgram`` for ``network`` with a dynamic batch dimension."""
    size = network.input_size
    # two images: torch.export specialises a dimension traced at size 1 to the constant 1
    example = torch.zeros(2, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter, not the user's concern
        program = torch.onnx.export(
            network,
            (example,),
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            optimize=False,
            verbose=False,
        )
    return program
