"""The shipped example workflows fit the nodes' schemas (widgets, links, types) — without ComfyUI.

ComfyUI lists ``example_workflows/*.json`` in its templates browser; a widget value that no longer
matches a schema would load as a broken graph. The end-to-end test also runs the cut-out one.
"""

from __future__ import annotations

import glob
import json
import os
import sys

import pytest

from .pack import PACK_NAME, REPO_DIR, load_nodes

nodes = load_nodes()
import folder_paths  # noqa: E402  (the stub)

WORKFLOWS = sorted(
    path
    for path in glob.glob(os.path.join(REPO_DIR, "example_workflows", "*.json"))
    if not os.path.basename(path).startswith("video_")  # the video nodes' own workflows are tested with them
)
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory):
    folder_paths.reset(str(tmp_path_factory.mktemp("comfy")))
    sys.modules[f"{PACK_NAME}.nodes.loader"].register_model_folder()
    return {node.GET_SCHEMA().node_id: node.GET_SCHEMA() for node in nodes.NODES}


def test_the_three_required_workflows_ship():
    names = {os.path.basename(p) for p in WORKFLOWS}
    assert {"ben2_cutout_transparent_png.json", "ben2_composite_on_generated_background.json",
            "ben2_video_frames_batch.json"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=os.path.basename)
def test_workflow_matches_the_schemas(path, schemas):
    with open(path) as handle:
        workflow = json.load(handle)
    by_id = {node["id"]: node for node in workflow["nodes"]}
    assert len(by_id) == len(workflow["nodes"])
    for link_id, source, source_slot, target, target_slot, link_type in workflow["links"]:
        output = by_id[source]["outputs"][source_slot]
        put = by_id[target]["inputs"][target_slot]
        assert link_id in output["links"] and put["link"] == link_id
        assert output["type"] == link_type and put["type"] in (link_type, "*"), (path, link_id)

    ours = [node for node in workflow["nodes"] if node["type"].startswith("BEN2")]
    assert ours, "an example workflow without BEN2 nodes"
    for node in ours:
        schema = schemas[node["type"]]
        widgets = [i for i in schema.inputs if i.io_type in WIDGET_TYPES]
        assert len(node["widgets_values"]) == len(widgets), (node["type"], node["widgets_values"])
        for put, value in zip(widgets, node["widgets_values"]):
            if put.io_type == "COMBO":
                assert value in put.options, (node["type"], put.id, value)
            elif put.io_type in ("INT", "FLOAT"):
                assert put.min <= value <= put.max
            elif put.io_type == "BOOLEAN":
                assert isinstance(value, bool)
        linked = {i["name"] for i in node["inputs"] if i.get("link") is not None}
        required_sockets = {i.id for i in schema.inputs if i.io_type not in WIDGET_TYPES and not i.optional}
        assert required_sockets <= linked, (node["type"], required_sockets - linked)
        for put in node["inputs"]:
            declared = next(i for i in schema.inputs if i.id == put["name"])
            assert put["type"] == declared.io_type
        assert [o["type"] for o in node["outputs"]] == [o.io_type for o in schema.outputs]


# The web extension (web/ben2.js) grows these nodes to fit their preview; saved smaller, they
# would grow over their neighbours when the workflow opens.
PREVIEW_NODE_TYPES = {"BEN2SegmentForeground", "BEN2ConfidenceTrimap", "BEN2RefineEdges", "BEN2CompositeBackground"}
PREVIEW_NODE_SIZE = (340, 520)
TITLE_HEIGHT = 30  # LiteGraph draws the title bar above ``pos``
MIN_GAP = 20


def node_box(node: dict) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a saved node on the canvas, its title bar included."""
    (x, y), (width, height) = node["pos"], node["size"]
    return x, y - TITLE_HEIGHT, x + width, y + height


@pytest.mark.parametrize("path", WORKFLOWS, ids=os.path.basename)
def test_workflow_nodes_fit_their_previews_and_do_not_overlap(path):
    with open(path) as handle:
        workflow = json.load(handle)
    for node in workflow["nodes"]:
        if node["type"] in PREVIEW_NODE_TYPES:
            assert node["size"][0] >= PREVIEW_NODE_SIZE[0] and node["size"][1] >= PREVIEW_NODE_SIZE[1], (
                f"{node['type']} (node {node['id']}) is saved at {node['size']}; give it at least "
                f"{list(PREVIEW_NODE_SIZE)} so its preview fits"
            )
    boxes = {node["id"]: node_box(node) for node in workflow["nodes"]}
    ids = sorted(boxes)
    for index, first in enumerate(ids):
        for second in ids[index + 1:]:
            a, b = boxes[first], boxes[second]
            apart = (a[2] + MIN_GAP <= b[0] or b[2] + MIN_GAP <= a[0]
                     or a[3] + MIN_GAP <= b[1] or b[3] + MIN_GAP <= a[1])
            assert apart, f"nodes {first} and {second} overlap (or are closer than {MIN_GAP} px): {a} vs {b}"
