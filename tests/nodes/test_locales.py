"""Node translations: locales/<lang>/nodeDefs.json for every node, input and output, in every language."""

from __future__ import annotations

import re
import sys

import pytest

from .node_defs import LANGUAGES, english_node_defs, read
from .pack import PACK_NAME, load_nodes


@pytest.fixture(scope="module")
def schemas_in_english(tmp_path_factory):
    import folder_paths

    nodes = load_nodes()
    folder_paths.reset(str(tmp_path_factory.mktemp("comfy")))
    sys.modules[f"{PACK_NAME}.nodes.loader"].register_model_folder()
    return english_node_defs(nodes.NODES)


def test_english_node_defs_are_the_schemas(schemas_in_english):
    assert read("en") == schemas_in_english, "a schema changed: run `python -m tests.nodes.node_defs` and update the translations"


def _shape(defs: dict) -> dict:
    """Every key path of a nodeDefs dict (the texts left out)."""
    return {
        node: {
            "keys": sorted(entry),
            "inputs": {i: sorted(v) for i, v in entry["inputs"].items()},
            "outputs": {o: sorted(v) for o, v in entry["outputs"].items()},
        }
        for node, entry in defs.items()
    }


def _texts(defs: dict):
    for node, entry in defs.items():
        yield f"{node}.display_name", entry["display_name"]
        yield f"{node}.description", entry["description"]
        for group in ("inputs", "outputs"):
            for key, item in entry[group].items():
                for field, text in item.items():
                    yield f"{node}.{group}.{key}.{field}", text


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_node_input_and_output_is_translated(language):
    english, translated = read("en"), read(language)
    assert _shape(translated) == _shape(english)
    english_texts = dict(_texts(english))
    for path, text in _texts(translated):
        assert isinstance(text, str) and text.strip(), f"{language}: {path} is empty"
        if path.endswith((".tooltip", ".description")):
            assert text != english_texts[path], f"{language}: {path} is still English"
        # the node's own name and the pack's name stay recognisable in every language
        if path.endswith("display_name"):
            assert "BEN2" in text, f"{language}: {path} lost 'BEN2'"
        # numbers in the English text (thresholds, sizes) survive the translation
        for number in re.findall(r"\d+(?:\.\d+)?", english_texts[path]):
            assert number in text, f"{language}: {path} lost {number!r}"
