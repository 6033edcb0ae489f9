"""Stand-in for ``comfy.model_patcher`` (0.8 has ``ModelPatcher`` only, no ``CoreModelPatcher``)."""

from __future__ import annotations

import torch


class ModelPatcher:
    def __init__(self, model: torch.nn.Module, load_device, offload_device, size=0, weight_inplace_update=False):
        self.model = model
        if not hasattr(model, "device") or model.device is None:
            model.device = offload_device
        self.load_device = load_device
        self.offload_device = offload_device
        self.size = size

    def model_size(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
