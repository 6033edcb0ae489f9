"""ComfyUI-BEN2: BEN2 background removal nodes for ComfyUI.

ComfyUI loads this file as the pack's entry point. The nodes (and torch, ComfyUI's own modules)
are imported only when ComfyUI calls ``comfy_entrypoint``, so importing this package outside
ComfyUI (packaging tools, test collectors) has no side effects and needs nothing.
"""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    """ComfyUI's V3 entry point: returns the pack's ``ComfyExtension``."""
    from .nodes import comfy_entrypoint as nodes_entrypoint

    return await nodes_entrypoint()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
