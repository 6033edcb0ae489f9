"""Is this state dict BEN2? Detection by key, as data (spandrel's ``detect`` idea).

Used by ``checkpoint`` (before anything is built) and by the ComfyUI loader, which picks BEN2
files out of core's ``background_removal`` folder from their safetensors header alone.
"""

from __future__ import annotations

from typing import Iterable, Mapping, TypeVar

# keys every BEN2 checkpoint has; a state dict without them is some other model
ANCHOR_KEYS = (
    "backbone.patch_embed.proj.weight",
    "multifieldcrossatt.attention.0.in_proj_weight",
    "dec_blk1.sal_conv.weight",
    "output1.0.weight",
    "insmask_head.0.weight",
)
# prefixes that training wrappers add to every key (DataParallel, Lightning, torch.compile)
WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")

V = TypeVar("V")


def strip_wrapper_prefix(state: Mapping[str, V]) -> dict[str, V]:
    """``state`` without a prefix that every one of its keys carries (see ``WRAPPER_PREFIXES``)."""
    for prefix in WRAPPER_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            return {key[len(prefix):]: value for key, value in state.items()}
    return dict(state)


def missing_anchor_keys(keys: Iterable[str]) -> list[str]:
    """The ``ANCHOR_KEYS`` absent from ``keys`` (after a wrapper prefix is stripped)."""
    present = strip_wrapper_prefix(dict.fromkeys(keys))
    return [key for key in ANCHOR_KEYS if key not in present]


def is_ben2_state_dict(keys: Iterable[str]) -> bool:
    """Whether a state dict with these keys (a mapping or its keys) is BEN2's."""
    return not missing_anchor_keys(keys)
