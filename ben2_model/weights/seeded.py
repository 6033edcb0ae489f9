"""Deterministic stand-in weights for BEN2, by the recipe the reference fixtures were made with.

The published checkpoint cannot be downloaded on every machine (CI has no hub access), so tests
and benchmarks use weights derived from each key's name: every floating-point entry is drawn from
``numpy.random.default_rng(crc32(key))`` and scaled in float64 before one rounding to float32:

* ``ndim >= 2``: ``z / sqrt(numel / shape[0])`` (fan-in scaling)
* 1-D keys ending in ``weight`` (LayerNorm): ``1 + 0.1 * z``
* every other 1-D entry (biases): ``0.1 * z``

Integer buffers (``relative_position_index``) keep the value the module built.
"""

from __future__ import annotations

import zlib
from typing import Mapping

import numpy as np
import torch

# A network small enough for plumbing tests (~0.1 s a forward on CPU) with every code path of the
# published one: shifted windows at every stage, padded token grids, all decoder blocks.
TINY_CONFIG = dict(
    embed_dim=16,
    depths=(2, 2, 2, 2),
    num_heads=(1, 2, 2, 4),
    window_size=4,
    decoder_dim=16,
    input_size=512,
)


def seeded_tensor(key: str, template: torch.Tensor) -> torch.Tensor:
    """The seeded value for one state-dict entry (same shape as ``template``, float32)."""
    if not template.is_floating_point():
        return template.clone()
    shape = tuple(template.shape)
    rng = np.random.default_rng(zlib.crc32(key.encode("utf-8")))
    z = rng.standard_normal(size=shape, dtype=np.float32).astype(np.float64)
    if template.ndim >= 2:
        values = z / np.sqrt(template.numel() / shape[0])
    elif key.endswith("weight"):
        values = 1.0 + 0.1 * z
    else:
        values = 0.1 * z
    return torch.from_numpy(values.astype(np.float32))


def seeded_state_dict(reference: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Seeded weights for every entry of ``reference`` (a model's ``state_dict()``)."""
    return {key: seeded_tensor(key, tensor) for key, tensor in reference.items()}


def seeded_model(**config) -> torch.nn.Module:
    """A ``BEN2`` with seeded weights, in eval mode, on the CPU."""
    from ..network.model import BEN2

    model = BEN2(**config)
    model.load_state_dict(seeded_state_dict(model.state_dict()), strict=True)
    model.requires_grad_(False)
    return model.eval()
