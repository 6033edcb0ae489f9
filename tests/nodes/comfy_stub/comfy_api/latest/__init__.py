"""Stand-in for ``comfy_api.latest``: ``io`` and ``ComfyExtension``."""

from abc import ABC, abstractmethod

from . import io

IO = io


class ComfyExtension(ABC):
    async def on_load(self) -> None:
        """Called when the extension is loaded."""

    @abstractmethod
    async def get_node_list(self) -> list:
        """The node classes of the extension."""


__all__ = ["ComfyExtension", "io", "IO"]
