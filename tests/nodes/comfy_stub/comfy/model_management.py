"""Stand-in for ``comfy.model_management``: a CPU-only ComfyUI, with Cancel and model loads recorded."""

from __future__ import annotations

import torch

# Set by tests: the device/dtype ComfyUI keeps IMAGE/MASK on between nodes.
INTERMEDIATE_DEVICE = torch.device("cpu")
INTERMEDIATE_DTYPE = torch.float32
# Every load_models_gpu call: (patchers, memory_required).
LOAD_CALLS: list[tuple[list, int]] = []

interrupt_processing = False


class InterruptProcessingException(Exception):
    pass


def get_torch_device() -> torch.device:
    return torch.device("cpu")


def unet_offload_device() -> torch.device:
    return torch.device("cpu")


def intermediate_device() -> torch.device:
    return INTERMEDIATE_DEVICE


def intermediate_dtype() -> torch.dtype:
    return INTERMEDIATE_DTYPE


def is_device_cpu(device) -> bool:
    return torch.device(device).type == "cpu"


def should_use_fp16(device=None, model_params=0, prioritize_performance=True, manual_cast=False) -> bool:
    return not is_device_cpu(device) if device is not None else False


def should_use_bf16(device=None, model_params=0, prioritize_performance=True, manual_cast=False) -> bool:
    return False


def load_models_gpu(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None, force_full_load=False):
    """Record the call and put each patcher's weights on its load device, as ComfyUI does
    (which also writes ``device`` and bookkeeping attributes onto the patcher's module)."""
    LOAD_CALLS.append((list(models), memory_required))
    for patcher in models:
        patcher.model.to(patcher.load_device)
        patcher.model.device = patcher.load_device
        patcher.model.model_loaded_weight_memory = patcher.model_size()


def interrupt_current_processing(value: bool = True) -> None:
    global interrupt_processing
    interrupt_processing = value


def processing_interrupted() -> bool:
    return interrupt_processing


def throw_exception_if_processing_interrupted() -> None:
    global interrupt_processing
    if interrupt_processing:
        interrupt_processing = False
        raise InterruptProcessingException()
