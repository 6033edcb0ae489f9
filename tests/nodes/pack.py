"""Import the repository as a ComfyUI pack, the way ComfyUI does, against this stand-in.

ComfyUI imports ``custom_nodes/<pack>/__init__.py`` as a package under a name of its own, so the
pack's relative imports (``from .nodes import``, ``from ..ben2_model import``) resolve inside it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

# The stand-in's top-level modules (comfy, comfy_api, folder_paths) are on sys.path through
# pyproject.toml's pytest ``pythonpath``, as ComfyUI puts its own on it.
REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACK_NAME = "comfyui_ben2_pack"


def load_pack() -> ModuleType:
    """The pack's root module, with ``comfy_api``, ``comfy`` and ``folder_paths`` from this stub."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, os.path.join(REPO_DIR, "__init__.py"), submodule_search_locations=[REPO_DIR]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


def load_nodes() -> ModuleType:
    """The pack's ``nodes`` package (imports the nodes, as ``comfy_entrypoint`` does)."""
    load_pack()
    return importlib.import_module(f"{PACK_NAME}.nodes")
