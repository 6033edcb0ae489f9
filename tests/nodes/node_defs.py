"""The English ``locales/en/nodeDefs.json``, built from the nodes' schemas (their one source).

ComfyUI's front-end reads ``locales/<lang>/nodeDefs.json`` of a custom node (served at ``/i18n``)
as ``{node_id: {display_name, description, inputs: {id: {name, tooltip}}, outputs: {"0": {name,
tooltip}}}}``. After changing a schema, rewrite the English file and update the translations:

    python -m tests.nodes.node_defs        # from the repository root
"""

from __future__ import annotations

import json
import os
import sys

LOCALES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "locales")
LANGUAGES = ("en", "zh", "ja", "ko", "ru", "fr", "es", "de")


def _entry(name: str, tooltip: str | None) -> dict[str, str]:
    return {"name": name, **({"tooltip": tooltip} if tooltip else {})}


def english_node_defs(node_classes) -> dict[str, dict]:
    defs = {}
    for node in node_classes:
        schema = node.GET_SCHEMA()
        defs[schema.node_id] = {
            "display_name": schema.display_name,
            "description": schema.description,
            "inputs": {i.id: _entry(i.display_name or i.id, i.tooltip) for i in schema.inputs},
            "outputs": {
                str(index): _entry(o.display_name or o.id, o.tooltip) for index, o in enumerate(schema.outputs)
            },
        }
    return defs


def read(language: str) -> dict:
    with open(os.path.join(LOCALES, language, "nodeDefs.json"), encoding="utf-8") as handle:
        return json.load(handle)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "comfy_stub"))
    import tempfile

    import folder_paths

    from tests.nodes.pack import PACK_NAME, load_nodes

    nodes = load_nodes()
    folder_paths.reset(tempfile.mkdtemp())
    sys.modules[f"{PACK_NAME}.nodes.loader"].register_model_folder()
    text = json.dumps(english_node_defs(nodes.NODES), ensure_ascii=False, indent=2) + "\n"
    with open(os.path.join(LOCALES, "en", "nodeDefs.json"), "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {os.path.join(LOCALES, 'en', 'nodeDefs.json')}")
