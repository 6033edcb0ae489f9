"""The object that travels on a ``BACKGROUND_REMOVAL`` link when it is BEN2.

It has core's ``encode_image(image) -> MASK`` so core "Remove Background" accepts it, and it hands
the network to ComfyUI's model management (a ModelPatcher): the weights sit on the offload device
until a node needs them, ``load_models_gpu`` moves them to the GPU (unloading other models when
memory is short), and "Unload models" / "Free memory" in the UI frees them.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

import comfy.model_management as model_management

from ..ben2_model import predict_alpha
from . import host

# Activation memory of one 1024x1024 image through BEN2 in fp32, measured on the CPU (peak RSS
# minus the weights, rounded up). Scaled by batch, dtype and input area for load_models_gpu.
_ACTIVATION_BYTES_1024_FP32 = 2.5 * 1024**3


class ManagedNetwork(torch.nn.Module):
    """The module handed to ComfyUI's ModelPatcher: BEN2 under ``network``.

    The patcher writes bookkeeping attributes onto its module (``device``, ``model_lowvram``, ...);
    BEN2's own ``device`` is a read-only property, so the patcher gets this plain container.
    """

    def __init__(self, network: torch.nn.Module, device: torch.device):
        super().__init__()
        self.network = network
        self.device = device


class BEN2BackgroundRemovalModel:
    """BEN2 wrapped for ComfyUI: a ``BACKGROUND_REMOVAL`` model.

    Attributes:
        network: the ``ben2_model.BEN2`` network (eval mode, in ``dtype``), or an ONNX-backed
            ``OnnxBEN2`` (``managed`` False: onnxruntime keeps it on its own device).
        model: the module ComfyUI's ``patcher`` manages (holds ``network``).
        patcher: ComfyUI's ModelPatcher that owns the weights' placement.
        load_device: where inference runs; ``offload_device``: where the weights wait.
        dtype: the weights' dtype; ``name``: the checkpoint's name, for messages.
    """

    def __init__(self, network: torch.nn.Module, load_device: torch.device, offload_device: torch.device, name: str):
        self.network = network.to(offload_device).eval()
        self.model = ManagedNetwork(self.network, offload_device)
        self.load_device = load_device
        self.offload_device = offload_device
        self.dtype = network.dtype
        # an ONNX graph (ben2_model.onnx.runtime.OnnxBEN2) has no torch weights: onnxruntime owns
        # its memory, so the patcher manages an empty module and nothing is moved or offloaded
        self.managed = any(True for _ in network.parameters())
        self.name = name
        self.image_size = int(getattr(network, "input_size", 1024))
        self.patcher = host.ModelPatcher(self.model, load_device=load_device, offload_device=offload_device)

    def __repr__(self) -> str:
        return f"BEN2BackgroundRemovalModel({self.name!r}, {self.dtype}, load_device={self.load_device})"

    def get_sd(self) -> dict[str, torch.Tensor]:
        """The network's state dict (as core's background-removal model offers)."""
        return self.network.state_dict()

    def memory_required(self, batch_size: int) -> int:
        """Bytes of activations ``batch_size`` images need on the load device (a safe estimate)."""
        area = (self.image_size / 1024) ** 2
        element = torch.empty((), dtype=self.dtype).element_size()
        return int(_ACTIVATION_BYTES_1024_FP32 * area * batch_size * element / 4)

    def predict(
        self,
        images: torch.Tensor,
        *,
        batch_size: int = 1,
        normalize: bool = True,
        on_chunk: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Alpha of an image batch, chunk by chunk.

        Args:
            images: ``[B,H,W,3]`` float in 0..1 on any device (fp16 accepted).
            batch_size: images per forward pass.
            normalize: the reference's per-image min-max stretch of the mask.
            on_chunk: ``on_chunk(done, total)`` after each chunk; raising stops the work.

        Returns:
            ``[B,H,W]`` float32 on ``images``' device, 1 = foreground.
        """
        if self.managed:
            model_management.load_models_gpu([self.patcher], memory_required=self.memory_required(batch_size))
        # The patcher has moved the weights (to the GPU, or left them in place on the CPU);
        # predict_alpha follows the network's own parameters' device and dtype.
        with torch.no_grad():
            return predict_alpha(self.network, images, batch_size=batch_size, normalize=normalize, on_chunk=on_chunk)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """Core's background-removal interface: IMAGE ``[B,H,W,C]`` -> MASK ``[B,H,W]`` (1 = foreground).

        The output is on ComfyUI's intermediate device and dtype, like core's models.
        """
        alpha = self.predict(image[..., :3], batch_size=1, normalize=True, on_chunk=host.chunk_progress(image.shape[0]))
        return host.to_intermediate(alpha)


def is_ben2(model: Any) -> bool:
    """True when a ``BACKGROUND_REMOVAL`` object is ours (else it is core's, e.g. BiRefNet)."""
    return isinstance(model, BEN2BackgroundRemovalModel)


def segment(
    model: Any,
    images: torch.Tensor,
    *,
    batch_size: int,
    normalize: bool,
) -> torch.Tensor:
    """Alpha ``[B,H,W]`` (float32, intermediate device) from any ``BACKGROUND_REMOVAL`` model.

    BEN2 takes its own batched path; other models (core BiRefNet) are called through their
    ``encode_image`` one chunk at a time, so the progress bar and Cancel work for them too.
    ``normalize`` applies to BEN2 only (it is the BEN2 reference's post-processing).

    Args:
        model: a ``BACKGROUND_REMOVAL`` object.
        images: ``[B,H,W,3]`` float in 0..1.
    """
    total = images.shape[0]
    on_chunk = host.chunk_progress(total)
    host.throw_if_cancelled()
    if is_ben2(model):
        alpha = model.predict(images, batch_size=batch_size, normalize=normalize, on_chunk=on_chunk)
        return alpha.to(device=host.intermediate_device(), dtype=torch.float32)
    if not callable(getattr(model, "encode_image", None)):
        raise TypeError(
            f"model must be a BACKGROUND_REMOVAL model with encode_image(); got {type(model).__name__}. "
            "Connect 'Load BEN2' (or core 'Load Background Removal Model')."
        )
    pieces = []
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        mask = model.encode_image(images[start:stop])
        pieces.append(mask.to(device=host.intermediate_device(), dtype=torch.float32).reshape(stop - start, *images.shape[1:3]))
        on_chunk(stop, total)
    return torch.cat(pieces, dim=0)
