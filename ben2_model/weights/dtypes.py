"""Network precision: the names users write and the ``auto`` rule, for the library, CLI and nodes.

Importing this module does not import torch (the CLI builds its parser from ``DTYPE_CHOICES``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

DTYPE_CHOICES = ("auto", "fp32", "fp16", "bf16")
# every spelling accepted -> canonical name
_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
}


def dtype_name(dtype: "torch.dtype | str") -> str:
    """The canonical name (``auto``, ``fp32``, ``fp16``, ``bf16``) of a dtype or its spelling.

    Raises ``ValueError`` naming the choices for anything else.
    """
    name = str(dtype).lower().removeprefix("torch.")
    if name == "auto":
        return name
    if name not in _ALIASES:
        raise ValueError(f"unsupported dtype {dtype!r}: use fp32, fp16 or bf16 (or auto)")
    return _ALIASES[name]


def to_torch_dtype(name: str) -> "torch.dtype":
    """``fp32``/``fp16``/``bf16`` (or any accepted spelling) -> ``torch.dtype``."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype_name(name)]


def auto_dtype(
    device: "torch.device",
    *,
    fp16_ok: Callable[["torch.device"], bool] | None = None,
    bf16_ok: Callable[["torch.device"], bool] | None = None,
) -> "torch.dtype":
    """What ``auto`` means on ``device``.

    fp32 on the CPU (exact, and not slower there). Elsewhere, with ``fp16_ok``/``bf16_ok`` given
    (ComfyUI passes its model management's judgement): fp16 when ``fp16_ok(device)``, else bf16
    when ``bf16_ok(device)``, else fp32. Without them: fp16 on CUDA (as the official code runs
    it), fp32 on every other device.
    """
    import torch

    if device.type == "cpu":
        return torch.float32
    if fp16_ok is None and bf16_ok is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if fp16_ok is not None and fp16_ok(device):
        return torch.float16
    if bf16_ok is not None and bf16_ok(device):
        return torch.bfloat16
    return torch.float32


def resolve_dtype(dtype: "torch.dtype | str | None", device: "torch.device | str | None" = None) -> "torch.dtype":
    """``torch.dtype`` for a dtype, a name or ``auto`` on ``device`` (``None``: float32)."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        dtype_name(dtype)  # only the three supported dtypes
        return dtype
    name = dtype_name(dtype)
    if name == "auto":
        return auto_dtype(torch.device(device or "cpu"))
    return to_torch_dtype(name)
