"""Reading, validating and instantiating BEN2 checkpoints.

The state dict is checked against the layout its own shapes imply *before* any module is built,
so a wrong file fails with one message that names the file, what was expected and the first
offending keys, never with a stack trace from deep inside ``load_state_dict``.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch

from ..network.model import BEN2, check_kernels
from .detect import missing_anchor_keys, strip_wrapper_prefix
from .dtypes import resolve_dtype, slow_dtype_warning

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
ONNX_SUFFIXES = (".onnx",)
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
_MAX_LISTED = 5

StateDict = Mapping[str, torch.Tensor]

if TYPE_CHECKING:
    from ..onnx.runtime import OnnxBEN2


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as BEN2 weights (wrong model, corrupt, unsafe, ...)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" (and {more} more)" if more > 0 else "")


# --------------------------------------------------------------------------- reading files


def read_state_dict(
    path: str | os.PathLike, *, dtype: torch.dtype | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a ``.safetensors`` or pickled (``.pth``/``.pt``) checkpoint safely.

    Returns ``(state_dict, metadata)``; ``metadata`` holds string hints such as ``input_size``.
    Pickles are read with ``weights_only=True``: a file that would run code when unpickled is
    refused, never executed. With ``dtype``, floating-point tensors are converted to it; a
    safetensors file is converted tensor by tensor as it is read, so a bf16 load never holds the
    whole float32 checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"BEN2 checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"BEN2 checkpoint path is not a file: {path}")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return _read_safetensors(path, dtype)
    if suffix in PICKLE_SUFFIXES:
        state, metadata = _read_pickle(path)
        if dtype is not None:
            state = {key: _converted(value, dtype) for key, value in state.items()}
        return state, metadata
    raise CheckpointError(
        f"unknown checkpoint extension {path.suffix!r} for {path}: "
        f"use a .safetensors file (preferred) or a .pth/.pt file (.onnx graphs go through load_model)"
    )


def _converted(value, dtype: torch.dtype | None):
    if dtype is None or not isinstance(value, torch.Tensor):
        return value
    # integer buffers are copied too: a tensor still viewing the memory-mapped file would keep
    # the whole float32 file resident
    return value.to(dtype) if value.is_floating_point() else value.clone()


def _read_safetensors(path: Path, dtype: torch.dtype | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: _converted(handle.get_tensor(key), dtype) for key in handle.keys()}
    except Exception as exc:  # SafetensorError, OSError, ...: all mean an unreadable file
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({exc}); it may be truncated or corrupt: "
            f"download it again"
        ) from exc
    return state, metadata


def _read_pickle(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if "weights_only" in message or "Unsupported global" in message or "GLOBAL" in message:
            raise CheckpointError(
                f"refused to load {path}: it contains Python objects that would run code when "
                f"unpickled (only plain tensors are accepted). Use the official model.safetensors "
                f"or BEN2_Base.pth from PramaLLC/BEN2"
            ) from exc
        raise CheckpointError(f"{path} is not a readable .pth file ({exc}); it may be corrupt") from exc
    except Exception as exc:  # the unpickler raises many types on damaged data
        raise CheckpointError(
            f"{path} is not a readable .pth file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            f"it may be truncated or corrupt: download it again"
        ) from exc
    metadata: dict[str, str] = {}
    if isinstance(obj, Mapping) and "model_state_dict" in obj:
        if "input_size" in obj:
            metadata["input_size"] = str(obj["input_size"])
        obj = obj["model_state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path} does not hold a state dict (found {type(obj).__name__}); expected a mapping of "
            f"tensor names to tensors or the official {{'model_state_dict': ...}} wrapper"
        )
    return dict(obj), metadata


# --------------------------------------------------------------------------- validation


def infer_config(state: StateDict, *, source: str = "state dict") -> dict[str, Any]:
    """The ``BEN2`` constructor arguments implied by a state dict's shapes (not ``input_size``)."""
    missing_anchors = missing_anchor_keys(state)
    if missing_anchors:
        found = sorted(state)[:_MAX_LISTED]
        raise CheckpointError(
            f"{source} is not a BEN2 checkpoint: it lacks {_listing(missing_anchors)}; its first keys "
            f"are {_listing(found) or '(none)'}. Use model.safetensors or BEN2_Base.pth from PramaLLC/BEN2"
        )
    embed_dim = state["backbone.patch_embed.proj.weight"].shape[0]
    decoder_dim = state["output1.0.weight"].shape[0]
    stage_depths: dict[int, int] = {}
    heads: dict[int, int] = {}
    window = None
    block_key = re.compile(r"backbone\.layers\.(\d+)\.blocks\.(\d+)\.attn\.relative_position_bias_table$")
    for key, value in state.items():
        match = block_key.match(key)
        if not match:
            continue
        stage, block = int(match.group(1)), int(match.group(2))
        stage_depths[stage] = max(stage_depths.get(stage, 0), block + 1)
        heads.setdefault(stage, value.shape[1] if value.dim() == 2 else -1)
        if window is None and value.dim() == 2:
            side = math.isqrt(value.shape[0])
            window = (side + 1) // 2
    if not stage_depths or sorted(stage_depths) != list(range(len(stage_depths))) or window is None:
        raise CheckpointError(f"{source}: cannot read the Swin stages from its keys (backbone.layers.*)")
    n = len(stage_depths)
    return dict(
        embed_dim=embed_dim,
        depths=tuple(stage_depths[i] for i in range(n)),
        num_heads=tuple(heads[i] for i in range(n)),
        window_size=window,
        decoder_dim=decoder_dim,
    )


def validate_state_dict(state: StateDict, config: Mapping[str, Any], *, source: str = "state dict") -> None:
    """Check keys, shapes and dtypes against the layout ``BEN2(**config)`` has; raise on mismatch."""
    with torch.device("meta"):
        expected = BEN2(**config).state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    misshaped = [
        f"{key} {list(state[key].shape)} (expected {list(shape.shape)})"
        for key, shape in expected.items()
        if key in state and state[key].shape != shape.shape
    ]
    wrong_kind = [
        f"{key} {state[key].dtype}"
        for key, ref in expected.items()
        if key in state and state[key].is_floating_point() != ref.is_floating_point()
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
    if misshaped:
        problems.append(f"{len(misshaped)} keys with the wrong shape: {_listing(misshaped)}")
    if wrong_kind:
        problems.append(f"{len(wrong_kind)} keys with the wrong dtype: {_listing(wrong_kind)}")
    if problems:
        arch = ", ".join(f"{k}={v}" for k, v in config.items())
        raise CheckpointError(
            f"{source} does not match the BEN2 layout its shapes imply ({arch}; {len(expected)} keys): "
            + "; ".join(problems)
        )
    bad_values = [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad_values:
        raise CheckpointError(f"{source} holds NaN or infinite weights in {_listing(bad_values)}: the file is corrupt")


# --------------------------------------------------------------------------- public entry point


def load_model(
    source: str | os.PathLike | StateDict | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    kernels: str = "fast",
    compile: bool = False,
) -> BEN2 | OnnxBEN2:
    """Build a BEN2 from a checkpoint, validated first, in eval mode without gradients.

    Args:
        source: a ``.safetensors`` file (plain state dict), a ``.pth``/``.pt`` file (the official
            ``{"model_state_dict": ...}`` wrapper or a plain state dict), a state dict, or ``None``
            for the published ``model.safetensors`` from the huggingface_hub cache (downloaded once).
            A ``.onnx`` graph (``export_onnx``, or the publisher's ``BEN2_Base.onnx``) returns an
            onnxruntime-backed ``ben2_model.onnx.runtime.OnnxBEN2`` that the pipeline runs the same
            way; ``dtype`` and ``kernels`` do not apply to it (the graph fixed them at export).
        device: where to put the model (default CPU); for ``.onnx`` also ``"auto"``, ``"dml"``,
            ``"coreml"`` (execution providers, falling back to the CPU).
        dtype: ``fp32`` (default), ``fp16``, ``bf16`` (names or ``torch.dtype``) or ``auto``
            (``weights.dtypes.auto_dtype``: fp16 on CUDA, fp32 elsewhere).
        kernels: ``"fast"`` (default), ``"reference"`` (the plain torch computation) or
            ``"graph"`` (what ONNX export traces; see ``ben2_model.network``); ``model.kernels``
            can be changed later.
        compile: run the forward under ``torch.compile`` (reference path; see
            ``network.compiled.compile_forward``). The first call of each input shape compiles
            for minutes; it pays for long runs such as video. If compiling fails, or the first
            result of a compiled graph disagrees with the eager forward (or any result is not
            finite), the model runs eagerly with ``kernels``, after one warning.

    The architecture (embed dim, depths, heads, window, decoder width) is inferred from the shapes,
    so reduced test configurations load the same way; the working resolution comes from the
    safetensors metadata key ``input_size`` (default 1024).

    Raises:
        CheckpointError: wrong model, missing/unexpected/mis-shaped keys, corrupt or unsafe file.
        CheckpointNotFoundError: the file does not exist.
        OnnxRuntimeMissingError: a ``.onnx`` source without onnxruntime installed.
        WeightsDownloadError: ``source=None`` and the weights are neither cached nor downloadable.
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in ONNX_SUFFIXES:
        if compile:
            raise ValueError(f"compile=True applies to PyTorch checkpoints, not to the ONNX graph {source}")
        from ..onnx.runtime import load_onnx_model

        return load_onnx_model(source, device=device)
    target_dtype = resolve_dtype(dtype, device)
    check_kernels(kernels)  # before any file is read
    slow = slow_dtype_warning(target_dtype, device)
    if slow:
        warnings.warn(slow, stacklevel=2)
    metadata: dict[str, str] = {}
    if source is None:
        from .hub import download_weights

        source = download_weights(None, progress=_console_progress())
    if isinstance(source, Mapping):
        name = "the given state dict"
        state = dict(source)
        if "model_state_dict" in state and isinstance(state["model_state_dict"], Mapping):
            state = dict(state["model_state_dict"])
    elif isinstance(source, (str, os.PathLike)):
        name = str(source)
        # bf16 keeps float32's range, so converting while reading cannot hide an overflow from
        # the finiteness check below; fp16 is converted after it
        state, metadata = read_state_dict(source, dtype=target_dtype if target_dtype != torch.float16 else None)
    else:
        raise TypeError(f"load_model expects a file path or a state dict, got {type(source).__name__}")

    state = strip_wrapper_prefix(state)
    config = infer_config(state, source=name)
    try:
        input_size = int(metadata.get("input_size", 1024))
    except ValueError:
        raise CheckpointError(f"{name}: metadata input_size={metadata['input_size']!r} is not an integer") from None
    config["input_size"] = input_size
    validate_state_dict(state, config, source=name)

    with torch.device("meta"):
        model = BEN2(**config, kernels=kernels)
    model.load_state_dict(state, strict=True, assign=True)
    model = model.to(device=device or "cpu")
    model = model.to(dtype=target_dtype)  # floating-point tensors only; the int64 index buffers stay
    model.requires_grad_(False)
    model.eval()
    if isinstance(source, (str, os.PathLike)):
        model.checkpoint_path = os.fspath(source)  # export_onnx records the file's sha256
    if compile:
        from ..network.compiled import compile_forward

        compile_forward(model, eager_kernels=kernels)
    return model


def _console_progress():
    """A progress callback drawing a tqdm bar on stderr for hub downloads (None without tqdm)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    bar = None

    def report(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="B", unit_scale=True, desc="BEN2 weights")
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    return report
