"""Everything the nodes need from ComfyUI's runtime, in one place, for ComfyUI 0.8 and current.

ComfyUI itself is imported here (not in ``ben2_model``); the differences between versions are
resolved once: the ``BACKGROUND_REMOVAL`` io type (core since 0.19, a custom type of the same
name before), ``CoreModelPatcher`` (newer) vs ``ModelPatcher``, ``intermediate_dtype`` (newer),
the colour widget and the ``advanced`` input flag (0.25, not 0.8).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import torch

import comfy.model_management as model_management
import comfy.model_patcher
import comfy.utils
from comfy_api.latest import io

CATEGORY = "image/background removal"

# Links only compare the type name, so a custom type named like core's connects to core's
# Remove Background on versions that have it, and still works on versions that do not.
BackgroundRemoval = getattr(io, "BackgroundRemoval", None) or io.Custom("BACKGROUND_REMOVAL")

# Newer ComfyUI points CoreModelPatcher at its dynamic-VRAM patcher when that is available.
ModelPatcher = getattr(comfy.model_patcher, "CoreModelPatcher", comfy.model_patcher.ModelPatcher)


def _schema_has(field_name: str) -> bool:
    """Whether the installed ``io.Schema`` dataclass has ``field_name`` (fields differ between versions)."""
    return field_name in getattr(io.Schema, "__dataclass_fields__", {})


def search_aliases(*aliases: str) -> dict[str, list[str]]:
    """``io.Schema`` keyword for the node search's aliases, on versions whose Schema has it (0.8 has not)."""
    return {"search_aliases": list(aliases)} if _schema_has("search_aliases") else {}


def intermediate_output() -> dict[str, bool]:
    """``io.Schema`` keyword for a node that shows a preview but is not an output node.

    Newer ComfyUI (0.25) re-sends the preview of a node whose result was cached (it did not run
    again) only when its Schema sets ``has_intermediate_output``; otherwise that preview goes
    missing. Unlike ``is_output_node`` the flag does not make the node run on its own. Empty on
    versions without the field (0.8), whose Schema would reject the keyword.
    """
    return {"has_intermediate_output": True} if _schema_has("has_intermediate_output") else {}


def advanced(input_class: type) -> dict[str, bool]:
    """Keyword that files an input of ``input_class`` (e.g. ``io.Float.Input``) under the node's
    advanced inputs, on versions whose inputs take ``advanced`` (0.25); empty where they do not (0.8)."""
    return {"advanced": True} if "advanced" in inspect.signature(input_class.__init__).parameters else {}


def color_input(id: str, *, default: str, tooltip: str, **options: Any) -> Any:
    """A colour input: the front-end's colour picker (``io.Color``, type COLOR) where the V3 API has
    it (0.25), a text field (``io.String``) where it has not (0.8).

    Either way ``execute`` receives text (the picker sends ``#rrggbb``), and validation does not
    check a COLOR value's type, so prompts saved with a typed string still validate and run.
    """
    color = getattr(io, "Color", None)
    if color is not None:
        return color.Input(id, default=default, tooltip=tooltip, **options)
    return io.String.Input(id, default=default, tooltip=tooltip, **options)


# What a node's checks and the library raise for bad input (and download or file problems);
# anything else is a bug and keeps its own traceback and message.
_USER_ERRORS = (ValueError, TypeError, OSError, RuntimeError)


def names_the_node(execute: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for a node's ``execute`` (under ``@classmethod``): every error it raises for bad
    input starts with the node's display name, the one owner of that prefix.

    ComfyUI shows only the message in its error dialog, and the library's messages (``band must be
    a finite number ...``) name the input and the fix but cannot know the node. A message that
    already starts with the name is left as it is. The exception keeps its type, so ComfyUI still
    recognises out-of-memory errors and Cancel (not an ``Exception`` of these kinds) passes through.
    """

    @functools.wraps(execute)
    def run(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return execute(cls, *args, **kwargs)
        except _USER_ERRORS as error:
            # define_schema(), not GET_SCHEMA(): ComfyUI 0.8 runs execute on a locked clone of the
            # class, where GET_SCHEMA's `cls.SCHEMA = ...` raises and would hide the real message.
            schema = cls.define_schema()
            name = schema.display_name or schema.node_id
            renamed = _prefixed(error, name)
            if renamed is error:
                raise
            raise renamed from error

    return run


def _prefixed(error: BaseException, name: str) -> BaseException:
    """``error`` with its message starting ``"<name>: "`` (the same object where its args allow)."""
    message = str(error)
    if message.startswith(name):
        return error
    text = f"{name}: {message}"
    if len(error.args) <= 1 and not (isinstance(error, OSError) and error.errno is not None):
        error.args = (text,)
        return error
    try:  # an OSError with errno/filename, or several args: a new one of the same type
        return type(error)(text)
    except Exception:  # a type that cannot be built from a message: keep the original
        return error


def intermediate_device() -> torch.device:
    """Where IMAGE/MASK outputs live between nodes (CPU unless ComfyUI runs ``--gpu-only``)."""
    return model_management.intermediate_device()


def intermediate_dtype() -> torch.dtype:
    """dtype of IMAGE/MASK outputs (fp16 under ``--fp16-intermediates`` on versions that have it)."""
    choose = getattr(model_management, "intermediate_dtype", None)
    return choose() if choose is not None else torch.float32


def to_intermediate(tensor: torch.Tensor) -> torch.Tensor:
    """A node output ``tensor`` moved to ComfyUI's intermediate device and dtype."""
    return tensor.to(device=intermediate_device(), dtype=intermediate_dtype())


def compute_device() -> torch.device:
    """The device ComfyUI computes on (its GPU, or the CPU under ``--cpu``)."""
    return model_management.get_torch_device()


def throw_if_cancelled() -> None:
    """Raise ComfyUI's interrupt exception when the user pressed Cancel."""
    model_management.throw_exception_if_processing_interrupted()


def chunk_progress(total: int) -> Callable[[int, int], None]:
    """An ``on_chunk(done, total)`` callback: advances the node's progress bar, stops on Cancel.

    Raising inside the callback is how a long batch stops within one chunk of a Cancel.
    """
    bar = comfy.utils.ProgressBar(total)

    def on_chunk(done: int, chunk_total: int) -> None:
        bar.update_absolute(done, chunk_total)
        throw_if_cancelled()

    return on_chunk


def map_chunks(
    function: Callable[..., tuple[torch.Tensor, ...]],
    tensors: tuple[torch.Tensor | None, ...],
    *,
    chunk_size: int,
    device: torch.device,
) -> tuple[torch.Tensor, ...]:
    """Run ``function`` over a batch a few frames at a time on ``device``.

    Memory on ``device`` stays bounded for long frame batches; results come back to the
    intermediate device (float32) and are concatenated. A progress bar ticks per chunk and Cancel stops it.

    Args:
        function: takes the chunk of every tensor of ``tensors`` (``None`` passed through) and
            returns a tuple of tensors whose first dimension is the chunk's batch.
        tensors: tensors of batch size ``B`` in dimension 0; a tensor of batch 1 is passed whole to
            every chunk (one background for N frames); ``None`` is passed through.
        chunk_size: frames per chunk (>= 1).
        device: where ``function`` runs.

    Returns:
        the concatenated outputs of ``function``, each ``[B, ...]`` float32 on the intermediate device.
    """
    batch = max(t.shape[0] for t in tensors if t is not None)
    on_chunk = chunk_progress(batch)
    throw_if_cancelled()
    pieces: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, batch, chunk_size):
        stop = min(start + chunk_size, batch)
        chunk = tuple(
            None if t is None else (t if t.shape[0] == 1 else t[start:stop]).to(device=device, dtype=torch.float32)
            for t in tensors
        )
        outputs = function(*chunk)
        pieces.append(tuple(o.to(device=intermediate_device(), dtype=torch.float32) for o in outputs))
        on_chunk(stop, batch)
    return tuple(torch.cat(parts, dim=0) for parts in zip(*pieces))
