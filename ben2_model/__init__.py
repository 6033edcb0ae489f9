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
    "BEN2": "network",
    "CheckpointError": "checkpoint",
    "load_model": "checkpoint",
    "WeightsDownloadError": "hub",
    "download_weights": "hub",
    "predict_alpha": "pipeline",
    "remove_background": "pipeline",
    "confidence_trimap": "trimap",
    "refine_edges": "refine",
    "estimate_foreground": "foreground",
    "composite": "composite",
    "stabilize_alpha": "temporal",
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
    from .checkpoint import CheckpointError, load_model
    from .composite import composite
    from .foreground import estimate_foreground
    from .hub import WeightsDownloadError, download_weights
    from .network import BEN2
    from .pipeline import predict_alpha, remove_background
    from .refine import refine_edges
    from .temporal import stabilize_alpha
    from .trimap import confidence_trimap
