"""BEN2 (Background Erase Network) in pure PyTorch, with confidence-guided edge refinement.

Nothing here imports ComfyUI: the package works standalone and is what the ComfyUI nodes wrap.
Tensors use the host layout: images float ``[B,H,W,C]`` in 0..1, masks ``[B,H,W]`` (1 = foreground).

The public names are imported on first use, so ``import ben2_model`` (and ``ben2 --help``) stays
instant; ``from ben2_model import load_model`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# public name -> submodule that defines it
_EXPORTS = {
    "BEN2": "network.model",
    "BEN2Predictor": "distributed.predictor",
    "CheckpointError": "weights.checkpoint",
    "load_model": "weights.checkpoint",
    "WeightsDownloadError": "weights.hub",
    "download_weights": "weights.hub",
    "export_onnx": "onnx.export",
    "predict_alpha": "pipeline",
    "remove_background": "pipeline",
    "confidence_trimap": "matting.trimap",
    "refine_edges": "matting.refine",
    "estimate_foreground": "matting.foreground",
    "composite": "matting.composite",
    "stabilize_alpha": "matting.temporal",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ben2_model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs
    from .weights.checkpoint import CheckpointError, load_model
    from .matting.composite import composite
    from .matting.foreground import estimate_foreground
    from .weights.hub import WeightsDownloadError, download_weights
    from .onnx.export import export_onnx
    from .network.model import BEN2
    from .distributed.predictor import BEN2Predictor
    from .pipeline import predict_alpha, remove_background
    from .matting.refine import refine_edges
    from .matting.temporal import stabilize_alpha
    from .matting.trimap import confidence_trimap
