"""BEN2 (Background Erase Network) in pure PyTorch, with confidence-guided edge refinement.

Nothing here imports ComfyUI: the package works standalone and is what the ComfyUI nodes wrap.
Tensors use the host layout: images float ``[B,H,W,C]`` in 0..1, masks ``[B,H,W]`` (1 = foreground).
"""

from .network import BEN2
from .checkpoint import CheckpointError, load_model
from .hub import WeightsDownloadError, download_weights
from .pipeline import predict_alpha, remove_background
from .temporal import stabilize_alpha
from .trimap import confidence_trimap
from .refine import refine_edges
from .foreground import estimate_foreground
from .composite import composite

__all__ = [
    "BEN2",
    "CheckpointError",
    "WeightsDownloadError",
    "composite",
    "confidence_trimap",
    "download_weights",
    "estimate_foreground",
    "load_model",
    "predict_alpha",
    "refine_edges",
    "remove_background",
    "stabilize_alpha",
]
