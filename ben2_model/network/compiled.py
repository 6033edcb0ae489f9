"""``torch.compile`` for BEN2 that never crashes: compiled when it works, eager when it does not.

The compiled forward is the reference path (the fast path's private CPU ops do not lower in
inductor). Compiling takes minutes at the first call of each new input shape, then each forward
is faster: it pays for long runs at one batch size (video), not for a few images.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch


def compile_forward(model: torch.nn.Module, *, eager_kernels: str | None = None, **options: Any) -> torch.nn.Module:
    """Run ``model.forward`` under ``torch.compile``; on failure fall back to eager, warning once.

    Args:
        model: a ``BEN2``. It stays that module (``config``, ``dtype``, ``device``, ``input_size``,
            ``state_dict`` ... work as before): only its ``forward`` is replaced, by an instance
            attribute that ``del model.forward`` removes again.
        eager_kernels: the kernels of the eager fallback (default: the model's current ones).
        options: passed to ``torch.compile`` (default ``dynamic=False``: dynamic shapes do not
            lower for every op of the network).
    Returns:
        ``model``, now computing with ``kernels="reference"`` while compiled.

    A batch smaller than the largest one compiled so far is zero-padded to it (images do not
    interact), so the short last chunk of a video does not compile again. If compiling or running
    the compiled graph raises and the eager forward succeeds on the same input, a
    ``RuntimeWarning`` says so once and the model stays eager (``eager_kernels``) from then on; an
    error that eager raises too is the caller's and propagates.

    A graph that runs but computes something else is caught too: the first result of every newly
    compiled batch size is checked against the eager forward on the same input, and every result
    must be finite; a mismatch (beyond ``MISMATCH_TOLERANCE`` for the dtype) warns once and the
    model stays eager, returning the eager result. (torch 2.13's inductor turned one fused bf16
    kernel of BEN2's head into garbage on an AMX Xeon: NaN masks without this check.)
    """
    eager_kernels = eager_kernels or model.kernels
    eager_forward = type(model).forward.__get__(model)
    try:  # e.g. a Python version this torch cannot compile for
        compiled = torch.compile(eager_forward, **{"dynamic": False, **options})
    except Exception as error:
        _warn_eager(error, eager_kernels)
        model.kernels = eager_kernels
        return model
    model.kernels = "reference"
    largest_batch = [0]

    def run_eagerly(x: torch.Tensor) -> torch.Tensor:
        model.kernels = eager_kernels
        try:
            return eager_forward(x)
        finally:
            model.kernels = "reference"

    def forward(x: torch.Tensor) -> torch.Tensor:
        model.check_input(x)  # a bad input is the caller's error, not a compile failure
        b = x.shape[0]
        new_graph = b > largest_batch[0]
        try:
            if b < largest_batch[0]:
                padded = torch.cat((x, x.new_zeros(largest_batch[0] - b, *x.shape[1:])))
                out = compiled(padded)[:b]
            else:
                out = compiled(x)
                largest_batch[0] = b
        except Exception as error:  # inductor/dynamo raise many types; eager decides below
            out = run_eagerly(x)  # an error eager raises too is the caller's
            _warn_eager(error, eager_kernels)
            return stay_eager(out)
        if new_graph or not torch.isfinite(out).all():
            expected = run_eagerly(x)
            difference = (out.float() - expected.float()).abs().max().nan_to_num(float("inf")).item()
            if difference > MISMATCH_TOLERANCE[model.dtype]:
                _warn_eager(f"the compiled graph's mask differs from eager by {difference:.3g}", eager_kernels)
                return stay_eager(expected)
        return out

    def stay_eager(out: torch.Tensor) -> torch.Tensor:
        model.kernels = eager_kernels
        del model.forward
        return out

    model.forward = forward
    return model


# max |compiled - eager| of a mask (probabilities) beyond which a compiled graph is wrong: the
# reference path and the fast kernels agree to about 1e-5 in float32 and 0.03 in reduced precision
MISMATCH_TOLERANCE = {torch.float32: 1e-3, torch.float16: 0.1, torch.bfloat16: 0.1}


def _warn_eager(error: Exception | str, eager_kernels: str) -> None:
    if isinstance(error, str):
        reason = error
    else:
        reason = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:300]}"
    warnings.warn(
        f"BEN2: torch.compile failed ({reason}); running eagerly (kernels={eager_kernels!r}) from now on",
        RuntimeWarning,
        stacklevel=3,
    )
