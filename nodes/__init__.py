"""The pack's ComfyUI nodes (V3 schema API). Thin adapters over ``ben2_model``.

Imported only inside ComfyUI (or with the test stand-in ``tests/comfy_stub``): it needs
``comfy_api.latest``, ``comfy`` and ``folder_paths``.
"""

from __future__ import annotations

from typing_extensions import override

from comfy_api.latest import ComfyExtension, io

from .composite import BEN2CompositeBackground
from .loader import BEN2ModelLoader, register_model_folder
from .matting import BEN2ConfidenceTrimap, BEN2RefineEdges
from .segment import BEN2SegmentForeground
from .video import BEN2SaveAlphaVideo

# Every node the pack registers. The ids in the schemas are stored in users' workflows: never change them.
NODES: list[type[io.ComfyNode]] = [
    BEN2ModelLoader,
    BEN2SegmentForeground,
    BEN2ConfidenceTrimap,
    BEN2RefineEdges,
    BEN2CompositeBackground,
    BEN2SaveAlphaVideo,
]


class BEN2Extension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> BEN2Extension:
    register_model_folder()
    return BEN2Extension()
