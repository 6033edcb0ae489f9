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


# x86 CPU flags with bfloat16 arithmetic in hardware; without them oneDNN emulates bf16 and the
# network runs many times slower than in fp32 (measured: 380 s against 21 s on an AVX2-only EPYC)
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo``, or ``None`` where that file is not there."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        return None
    return None


def slow_dtype_warning(dtype: "torch.dtype", device: "torch.device | str | None", flags: set[str] | None = None) -> str | None:
    """A warning for bf16 on an x86 CPU that emulates it, else ``None``.

    ``flags`` defaults to this machine's ``cpu_flags()``; where they cannot be read (macOS,
    Windows) or the CPU is not x86 (no ``sse2`` flag), nothing is claimed. fp16 on the CPU is
    the nodes' business (they refuse it).
    """
    import torch

    if dtype != torch.bfloat16 or torch.device(device or "cpu").type != "cpu":
        return None
    flags = cpu_flags() if flags is None else flags
    if not flags or "sse2" not in flags or any(flag in flags for flag in _NATIVE_BF16_FLAGS):
        return None
    return (
        "bf16 on this CPU is emulated (it has no avx512_bf16 or amx_bf16), so BEN2 runs many times "
        "slower than in fp32; choose fp32 (or auto) for this machine."
    )


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
