"""Node contract tests: schemas, execute on tensors, error paths — without ComfyUI.

The pack is imported the way ComfyUI imports it (a package with relative imports), against the
stand-in in ``tests/nodes/comfy_stub`` (ComfyUI 0.8 signatures). The real ComfyUI runs in
``test_comfyui_e2e.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import os
import subprocess
import sys
import warnings
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file

from .pack import PACK_NAME, REPO_DIR, load_nodes
from ben2_model.weights.seeded import TINY_CONFIG, seeded_model

nodes = load_nodes()
import comfy.model_management as mm  # noqa: E402  (the stand-in, on sys.path through pyproject.toml)
import comfy.utils  # noqa: E402
import folder_paths  # noqa: E402
from comfy_api.latest import ComfyExtension  # noqa: E402

ben2 = sys.modules[f"{PACK_NAME}.ben2_model"]
# The matting ops, from their modules (the same objects the nodes use).
ops = SimpleNamespace(
    confidence_trimap=importlib.import_module(f"{PACK_NAME}.ben2_model.matting.trimap").confidence_trimap,
    refine_edges=importlib.import_module(f"{PACK_NAME}.ben2_model.matting.refine").refine_edges,
    estimate_foreground=importlib.import_module(f"{PACK_NAME}.ben2_model.matting.foreground").estimate_foreground,
    composite=importlib.import_module(f"{PACK_NAME}.ben2_model.matting.composite").composite,
)
loader = sys.modules[f"{PACK_NAME}.nodes.loader"]
model_module = sys.modules[f"{PACK_NAME}.nodes.model"]

NODE_IDS = {
    "BEN2ModelLoader",
    "BEN2SegmentForeground",
    "BEN2ConfidenceTrimap",
    "BEN2RefineEdges",
    "BEN2CompositeBackground",
}


@pytest.fixture(scope="module")
def tiny_state_dict() -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in seeded_model(**TINY_CONFIG).state_dict().items()}


@pytest.fixture
def comfy_env(tmp_path):
    """A fresh stand-in ComfyUI: model folders under tmp_path, no recorded calls, fp32 intermediates."""
    folder_paths.reset(str(tmp_path))
    loader.register_model_folder()
    mm.LOAD_CALLS.clear()
    comfy.utils.UPDATES.clear()
    mm.interrupt_current_processing(False)
    mm.INTERMEDIATE_DTYPE = torch.float32
    yield tmp_path
    mm.INTERMEDIATE_DTYPE = torch.float32
    mm.interrupt_current_processing(False)


def write_checkpoint(state_dict, path) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file(state_dict, str(path), metadata={"input_size": str(TINY_CONFIG["input_size"])})
    return str(path)


@pytest.fixture
def tiny_model(comfy_env, tiny_state_dict):
    """Load BEN2's output for a tiny seeded checkpoint in models/ben2."""
    write_checkpoint(tiny_state_dict, comfy_env / "models" / "ben2" / "tiny.safetensors")
    return nodes.BEN2ModelLoader.execute("tiny.safetensors", "auto", "auto")[0]


@pytest.fixture
def cheap_model(comfy_env, cheap_network):
    return model_module.BEN2BackgroundRemovalModel(cheap_network, torch.device("cpu"), torch.device("cpu"), "cheap")


def images(batch=2, height=40, width=48, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, height, width, 3, generator=generator)


# --- registration and schemas ---------------------------------------------------------------------


def test_entrypoint_registers_the_five_nodes_and_the_model_folder(comfy_env):
    pack = sys.modules[PACK_NAME]
    folder_paths.folder_names_and_paths.pop("ben2", None)
    extension = asyncio.run(pack.comfy_entrypoint())
    assert isinstance(extension, ComfyExtension)
    node_list = asyncio.run(extension.get_node_list())
    ids = [node.GET_SCHEMA().node_id for node in node_list]
    assert NODE_IDS <= set(ids) and len(ids) == len(set(ids))
    paths, extensions = folder_paths.folder_names_and_paths["ben2"]
    assert paths == [os.path.join(folder_paths.models_dir, "ben2")]
    assert {".safetensors", ".pth"} <= extensions
    assert pack.WEB_DIRECTORY == "./web"


def test_extra_model_paths_entry_stays_first(comfy_env):
    # extra_model_paths.yaml entries are added before the pack loads; ours is appended after them.
    folder_paths.folder_names_and_paths.pop("ben2", None)
    folder_paths.add_model_folder_path("ben2", "/elsewhere/ben2")
    loader.register_model_folder()
    paths, extensions = folder_paths.folder_names_and_paths["ben2"]
    assert paths[0] == "/elsewhere/ben2" and paths[1].endswith(os.path.join("models", "ben2"))
    assert ".safetensors" in extensions


@pytest.mark.parametrize("node", nodes.NODES, ids=lambda n: n.__name__)
def test_schema_is_documented(node, comfy_env):
    schema = node.GET_SCHEMA()
    if schema.node_id in NODE_IDS:
        assert schema.category == "image/background removal"
    assert schema.category.startswith("image/")
    assert schema.display_name and len(schema.description) > 40
    for put in schema.inputs + schema.outputs:
        assert put.tooltip, f"{schema.node_id}.{put.id} has no tooltip"


def test_node_ids_and_io_types_are_stable(comfy_env):
    schemas = {node.GET_SCHEMA().node_id: node.GET_SCHEMA() for node in nodes.NODES}
    assert NODE_IDS <= set(schemas)

    def types(items):
        return [(item.id, item.io_type) for item in items]

    assert types(schemas["BEN2ModelLoader"].outputs) == [("ben2_model", "BACKGROUND_REMOVAL")]
    assert types(schemas["BEN2SegmentForeground"].outputs) == [("mask", "MASK"), ("foreground", "IMAGE"), ("rgba", "IMAGE")]
    assert schemas["BEN2SegmentForeground"].inputs[0].io_type == "BACKGROUND_REMOVAL"
    assert types(schemas["BEN2ConfidenceTrimap"].outputs) == [("trimap", "MASK"), ("unknown", "MASK")]
    assert types(schemas["BEN2RefineEdges"].outputs) == [("mask", "MASK"), ("foreground", "IMAGE"), ("rgba", "IMAGE")]
    assert types(schemas["BEN2CompositeBackground"].outputs) == [("image", "IMAGE")]
    optional = {i.id for i in schemas["BEN2CompositeBackground"].inputs if i.optional}
    assert optional == {"background"}


PREVIEW_NODE_IDS = {"BEN2SegmentForeground", "BEN2ConfidenceTrimap", "BEN2RefineEdges", "BEN2CompositeBackground"}


def test_preview_nodes_ask_newer_comfyui_to_resend_cached_previews(comfy_env, monkeypatch):
    # ComfyUI 0.25's Schema has has_intermediate_output (a cached node's preview is re-sent only with it);
    # 0.8's (the stub's) has not, and an unknown keyword would make io.Schema(...) raise a TypeError.
    io = sys.modules["comfy_api.latest.io"]
    host = sys.modules[f"{PACK_NAME}.nodes.host"]
    assert "has_intermediate_output" not in io.Schema.__dataclass_fields__
    assert host.intermediate_output() == {}
    for node in nodes.NODES:
        assert not hasattr(node.GET_SCHEMA(), "has_intermediate_output")

    @dataclasses.dataclass
    class NewerSchema(io.Schema):
        has_intermediate_output: bool = False

    monkeypatch.setattr(io, "Schema", NewerSchema)
    assert host.intermediate_output() == {"has_intermediate_output": True}
    flagged = {
        schema.node_id
        for schema in (node.GET_SCHEMA() for node in nodes.NODES)
        if isinstance(schema, NewerSchema) and schema.has_intermediate_output
    }
    assert flagged == PREVIEW_NODE_IDS  # the loader shows no preview and stays unflagged


def test_root_package_imports_without_comfyui_or_torch():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('pack', {os.path.join(REPO_DIR, '__init__.py')!r}, "
        f"submodule_search_locations=[{REPO_DIR!r}])\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "assert callable(module.comfy_entrypoint)\n"
        "print(sorted(m for m in ('torch', 'comfy', 'comfy_api', 'folder_paths') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- Load BEN2 --------------------------------------------------------------------------------------


def test_loader_lists_ben2_files_core_folder_ben2_files_and_the_download_entry(comfy_env, tiny_state_dict):
    models = comfy_env / "models"
    write_checkpoint(tiny_state_dict, models / "ben2" / "sub" / "a.safetensors")
    (models / "ben2" / "b.pth").write_bytes(b"not really")
    (models / "ben2" / "notes.txt").write_text("ignored")
    write_checkpoint(tiny_state_dict, models / "background_removal" / "ben2_core.safetensors")
    write_checkpoint({"bb.layers.1.blocks.0.attn.relative_position_index": torch.zeros(4)},
                     models / "background_removal" / "birefnet.safetensors")
    (models / "background_removal" / "broken.safetensors").write_bytes(b"\xff" * 4)
    options = nodes.BEN2ModelLoader.GET_SCHEMA().inputs[0].options
    assert options == ["b.pth", "sub/a.safetensors", "background_removal/ben2_core.safetensors", loader.DOWNLOAD_ENTRY]
    model = nodes.BEN2ModelLoader.execute("background_removal/ben2_core.safetensors", "CPU", "fp32")[0]
    assert model_module.is_ben2(model)


def test_loader_without_core_folder(comfy_env, tiny_state_dict):
    folder_paths.folder_names_and_paths.pop("background_removal")  # ComfyUI 0.8
    assert loader.checkpoint_options() == [loader.DOWNLOAD_ENTRY]


def test_loaded_model_is_a_background_removal_model_under_model_management(tiny_model):
    assert model_module.is_ben2(tiny_model)
    assert callable(tiny_model.encode_image)
    assert tiny_model.patcher.model is tiny_model.model and tiny_model.model.network is tiny_model.network
    assert tiny_model.load_device == torch.device("cpu") and tiny_model.dtype == torch.float32
    assert not tiny_model.network.training
    assert tiny_model.memory_required(4) == 4 * tiny_model.memory_required(1) > 0


def test_loader_precision(comfy_env, tiny_state_dict):
    write_checkpoint(tiny_state_dict, comfy_env / "models" / "ben2" / "tiny.safetensors")
    model = nodes.BEN2ModelLoader.execute("tiny.safetensors", "CPU", "bf16")[0]
    assert model.dtype == torch.bfloat16
    assert {p.dtype for p in model.network.parameters()} == {torch.bfloat16}
    with pytest.raises(ValueError, match="fp16 on the CPU"):
        nodes.BEN2ModelLoader.execute("tiny.safetensors", "CPU", "fp16")


def test_loader_warns_in_the_log_for_bf16_on_a_cpu_that_emulates_it(comfy_env, tiny_state_dict, monkeypatch, caplog):
    dtypes = sys.modules[f"{PACK_NAME}.ben2_model.weights.dtypes"]
    write_checkpoint(tiny_state_dict, comfy_env / "models" / "ben2" / "tiny.safetensors")
    monkeypatch.setattr(dtypes, "cpu_flags", lambda: {"sse2", "avx", "avx2"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library's own warning is the node's to judge, not repeated
        with caplog.at_level(logging.WARNING):
            model = nodes.BEN2ModelLoader.execute("tiny.safetensors", "CPU", "bf16")[0]
    assert model.dtype == torch.bfloat16  # a warning, not a refusal: the workflow still runs
    assert [r.getMessage() for r in caplog.records if "emulated" in r.getMessage()] == [
        "Load BEN2: " + dtypes.slow_dtype_warning(torch.bfloat16, "cpu")
    ]
    assert loader.choose_dtype("bf16", torch.device("cuda")) == torch.bfloat16  # no judgement off the CPU


def test_loader_compile_option_falls_back_to_eager_with_one_warning(comfy_env, tiny_state_dict, monkeypatch):
    schema_inputs = {put.id: put for put in nodes.BEN2ModelLoader.GET_SCHEMA().inputs}
    assert schema_inputs["compile"].default is False and "video" in schema_inputs["compile"].tooltip
    write_checkpoint(tiny_state_dict, comfy_env / "models" / "ben2" / "tiny.safetensors")
    eager = nodes.BEN2ModelLoader.execute("tiny.safetensors", "CPU", "fp32")[0]
    assert eager.network.kernels == "fast" and "forward" not in vars(eager.network)

    def broken_backend(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda fn, **options: broken_backend)
    model = nodes.BEN2ModelLoader.execute("tiny.safetensors", "CPU", "fp32", True)[0]
    assert model.network.kernels == "reference" and "forward" in vars(model.network)
    image = torch.rand(2, 96, 80, 3, generator=torch.Generator().manual_seed(0))
    with pytest.warns(RuntimeWarning, match="torch.compile failed.*no C\\+\\+ compiler") as caught:
        mask = model.encode_image(image)
    assert len([w for w in caught if "torch.compile" in str(w.message)]) == 1
    assert model.network.kernels == "fast" and "forward" not in vars(model.network)  # eager from now on
    assert torch.allclose(mask, eager.encode_image(image), atol=1e-5)


def test_loader_gpu_on_a_cpu_only_comfyui_says_what_to_choose(comfy_env, tiny_state_dict):
    write_checkpoint(tiny_state_dict, comfy_env / "models" / "ben2" / "tiny.safetensors")
    with pytest.raises(ValueError, match="no GPU.*'auto' or 'CPU'"):
        nodes.BEN2ModelLoader.execute("tiny.safetensors", "GPU", "auto")


def test_loader_rejects_a_non_ben2_checkpoint_with_the_checkpoint_error(comfy_env):
    write_checkpoint({"first_stage_model.weight": torch.zeros(3, 3)}, comfy_env / "models" / "ben2" / "sd.safetensors")
    with pytest.raises(ben2.CheckpointError, match="sd.safetensors") as caught:
        nodes.BEN2ModelLoader.execute("sd.safetensors", "auto", "auto")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value.__cause__, ben2.CheckpointError)


def test_loader_missing_file(comfy_env):
    with pytest.raises(FileNotFoundError, match="gone.safetensors"):
        nodes.BEN2ModelLoader.execute("gone.safetensors", "auto", "auto")


def test_download_entry_offline_says_what_to_do(comfy_env, monkeypatch):
    def offline(dest_dir, *, progress=None):
        raise ben2.WeightsDownloadError("Could not download model.safetensors from PramaLLC/BEN2: no network")

    monkeypatch.setattr(loader, "download_weights", offline)
    with pytest.raises(ben2.WeightsDownloadError) as caught:
        nodes.BEN2ModelLoader.execute(loader.DOWNLOAD_ENTRY, "auto", "auto")
    message = str(caught.value)
    assert "no network" in message and "refresh" in message
    assert os.path.join(folder_paths.models_dir, "ben2") in message


def test_download_entry_offline_real_hub_client(comfy_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the real client, refused before any socket is opened
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(ben2.WeightsDownloadError, match="by hand"):
        nodes.BEN2ModelLoader.execute(loader.DOWNLOAD_ENTRY, "auto", "auto")


def test_download_entry_uses_a_file_fetched_before_without_network(comfy_env, monkeypatch, tiny_state_dict):
    write_checkpoint(tiny_state_dict, comfy_env / "models" / "ben2" / "model.safetensors")
    monkeypatch.setattr(loader, "download_weights", lambda *a, **k: pytest.fail("no download needed"))
    assert model_module.is_ben2(nodes.BEN2ModelLoader.execute(loader.DOWNLOAD_ENTRY, "auto", "auto")[0])


def test_download_entry_fetches_into_models_ben2_with_progress(comfy_env, monkeypatch, tiny_state_dict):
    seen = {}

    def fake_download(dest_dir, *, progress=None):
        seen["dest"] = dest_dir
        for done in (0, 50, 100):
            progress(done, 100)
        return write_checkpoint(tiny_state_dict, os.path.join(dest_dir, "model.safetensors"))

    monkeypatch.setattr(loader, "download_weights", fake_download)
    model = nodes.BEN2ModelLoader.execute(loader.DOWNLOAD_ENTRY, "auto", "auto")[0]
    assert seen["dest"] == os.path.join(folder_paths.models_dir, "ben2")
    assert model_module.is_ben2(model)
    assert comfy.utils.UPDATES[-1] == (100, 100)
    assert "model.safetensors" in loader.checkpoint_options()


# --- Segment Foreground ----------------------------------------------------------------------------


def test_segment_with_the_seeded_network(tiny_model):
    batch = images(1)
    result = nodes.BEN2SegmentForeground.execute(tiny_model, batch, 1, True, False)
    mask, foreground, rgba = result.args
    assert mask.shape == (1, 40, 48) and mask.dtype == torch.float32
    assert float(mask.amin()) == pytest.approx(0.0, abs=1e-6) and float(mask.amax()) == pytest.approx(1.0, abs=1e-6)
    assert float(mask.std()) > 0.01  # an image-dependent mask, not a constant
    torch.testing.assert_close(rgba[..., 3], mask)
    assert mm.LOAD_CALLS[-1][0] == [tiny_model.patcher]


def test_segment_outputs_match_predict_alpha(cheap_model):
    batch = images(3)
    result = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 2, True, False)
    mask, foreground, rgba = result.args
    expected = ben2.predict_alpha(cheap_model.network, batch, batch_size=1, normalize=True)
    assert mask.shape == (3, 40, 48) and mask.dtype == torch.float32
    torch.testing.assert_close(mask, expected, atol=1e-5, rtol=0)
    assert float(mask.amin()) == pytest.approx(0.0, abs=1e-6) and float(mask.amax()) == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(foreground, batch)
    assert rgba.shape == (3, 40, 48, 4)
    torch.testing.assert_close(rgba[..., 3], mask)
    assert len(mm.LOAD_CALLS) == 1 and mm.LOAD_CALLS[0][0] == [cheap_model.patcher]
    assert comfy.utils.UPDATES[-1] == (3, 3)
    assert len(result.ui["ben2_rgba"]) == 3


def test_segment_without_normalize_keeps_raw_confidence(cheap_model):
    batch = images(1)
    raw = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, False, False)[0]
    expected = ben2.predict_alpha(cheap_model.network, batch, normalize=False)
    torch.testing.assert_close(raw, expected, atol=1e-5, rtol=0)
    assert float(raw.amax() - raw.amin()) < 0.999


def test_segment_decontaminate_changes_only_colours(cheap_model):
    batch = images(2)
    plain = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, True, False)
    clean = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, True, True)
    torch.testing.assert_close(clean[0], plain[0])
    expected = ops.estimate_foreground(batch, plain[0], method="blur_fusion")
    torch.testing.assert_close(clean[1], expected, atol=1e-5, rtol=0)
    assert not torch.allclose(clean[1], batch)


def test_segment_accepts_fp16_and_rgba_images_and_honours_intermediate_dtype(cheap_model):
    batch = images(1)
    reference = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, True, False)[0]
    rgba_in = torch.cat([batch, torch.zeros_like(batch[..., :1])], dim=-1).half()
    mask = nodes.BEN2SegmentForeground.execute(cheap_model, rgba_in, 1, True, False)[0]
    assert mask.dtype == torch.float32 and mask.shape == (1, 40, 48)
    assert float((mask - reference).abs().max()) < 0.02  # fp16 pixels, same network
    mm.INTERMEDIATE_DTYPE = torch.float16
    outputs = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, True, False).args
    assert [o.dtype for o in outputs] == [torch.float16] * 3


def test_segment_cancel_stops_within_one_chunk(cheap_model, monkeypatch):
    forwards = []
    handle = cheap_model.network.register_forward_hook(lambda module, args, out: forwards.append(args[0].shape[0]))
    original = comfy.utils.ProgressBar.update_absolute

    def cancel_after_first_chunk(self, value, total=None, preview=None):
        original(self, value, total, preview)
        mm.interrupt_current_processing(True)  # the user presses Cancel now

    monkeypatch.setattr(comfy.utils.ProgressBar, "update_absolute", cancel_after_first_chunk)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            nodes.BEN2SegmentForeground.execute(cheap_model, images(6), 2, True, False)
    finally:
        handle.remove()
    assert sum(forwards) == 2  # one chunk of 2 ran, the other 4 frames never did


def test_encode_image_is_cores_interface(cheap_model):
    batch = images(2)
    mm.INTERMEDIATE_DTYPE = torch.float16
    mask = cheap_model.encode_image(batch)
    assert mask.shape == (2, 40, 48) and mask.dtype == torch.float16 and mask.device == mm.INTERMEDIATE_DEVICE
    expected = ben2.predict_alpha(cheap_model.network, batch, normalize=True)
    assert float((mask.float() - expected).abs().max()) < 1e-3


class CoreLikeModel:
    """Another BACKGROUND_REMOVAL model (like core's BiRefNet): only ``encode_image``."""

    def __init__(self):
        self.calls = []

    def encode_image(self, image):
        self.calls.append(image.shape[0])
        return image.mean(dim=-1)


def test_segment_uses_encode_image_of_other_background_removal_models(comfy_env):
    other = CoreLikeModel()
    batch = images(5)
    mask, foreground, rgba = nodes.BEN2SegmentForeground.execute(other, batch, 2, True, False).args
    assert other.calls == [2, 2, 1]
    torch.testing.assert_close(mask, batch.mean(dim=-1))
    assert comfy.utils.UPDATES[-1] == (5, 5)


def test_segment_rejects_something_that_is_not_a_model(comfy_env):
    with pytest.raises(TypeError, match="BACKGROUND_REMOVAL"):
        nodes.BEN2SegmentForeground.execute(object(), images(1), 1, True, False)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.rand(0, 32, 32, 3), "empty batch"),
        (torch.rand(1, 1, 1, 3), "1x1 pixels"),
        (torch.full((1, 32, 32, 3), float("nan")), "NaN"),
        (torch.rand(1, 32, 32), r"IMAGE \[B,H,W,3\]"),
    ],
)
def test_segment_rejects_bad_images_before_any_work(cheap_model, bad, message):
    with pytest.raises(ValueError, match=message):
        nodes.BEN2SegmentForeground.execute(cheap_model, bad, 1, True, False)
    assert mm.LOAD_CALLS == []


# --- Confidence Trimap ------------------------------------------------------------------------------


def soft_disc(batch=2, size=64) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    distance = ((x - size / 2) ** 2 + (y - size / 2) ** 2).sqrt()
    return (size / 4 - distance).div(3).sigmoid().expand(batch, -1, -1).contiguous()


def test_trimap_node(comfy_env):
    mask = soft_disc()
    trimap, unknown = nodes.BEN2ConfidenceTrimap.execute(mask, None, 0.05, 0.95, 6.0, False).args
    assert set(trimap.unique().tolist()) == {0.0, 0.5, 1.0}
    torch.testing.assert_close(unknown, (trimap == 0.5).float())
    torch.testing.assert_close(trimap, ops.confidence_trimap(mask, low=0.05, high=0.95, band=6.0))
    inverted = nodes.BEN2ConfidenceTrimap.execute(1 - mask, images(2, 64, 64), 0.05, 0.95, 6.0, True)
    torch.testing.assert_close(inverted[0], trimap)
    assert len(inverted.ui["ben2_trimap"]) == 2 and len(inverted.ui["ben2_trimap_image"]) == 2


def test_trimap_rejects_bad_thresholds_and_sizes(comfy_env):
    with pytest.raises(ValueError, match="low .* must be below high"):
        nodes.BEN2ConfidenceTrimap.execute(soft_disc(), None, 0.9, 0.1, 6.0, False)
    with pytest.raises(ValueError, match="same size"):
        nodes.BEN2ConfidenceTrimap.execute(soft_disc(size=64), images(2, 32, 32), 0.05, 0.95, 6.0, False)


# --- Refine Edges -----------------------------------------------------------------------------------


def test_refine_node_changes_only_the_unknown_band(comfy_env):
    image, mask = images(2, 64, 64), soft_disc()
    trimap = ops.confidence_trimap(mask)
    result = nodes.BEN2RefineEdges.execute(image, mask, trimap, "fast", False)
    alpha, foreground, rgba = result.args
    expected_alpha, expected_fg = ops.refine_edges(image, mask, trimap=trimap, mode="fast")
    torch.testing.assert_close(alpha, expected_alpha, atol=1e-5, rtol=0)
    torch.testing.assert_close(foreground, expected_fg, atol=1e-5, rtol=0)
    sure = trimap != 0.5
    torch.testing.assert_close(alpha[sure], mask[sure])
    torch.testing.assert_close(rgba, torch.cat([foreground, alpha.unsqueeze(-1)], dim=-1))
    assert len(result.ui["ben2_before"]) == 2 and len(result.ui["ben2_after"]) == 2


def test_refine_node_broadcasts_one_mask_and_inverts(comfy_env):
    image, mask = images(3, 64, 64), soft_disc(batch=1)
    alpha = nodes.BEN2RefineEdges.execute(image, 1 - mask, None, "quality", True)[0]
    assert alpha.shape == (3, 64, 64)
    expected = ops.refine_edges(image, mask.expand(3, -1, -1), mode="quality")[0]
    torch.testing.assert_close(alpha, expected, atol=1e-5, rtol=0)


def test_refine_node_rejects_mismatched_inputs(comfy_env):
    with pytest.raises(ValueError, match="mask is 32x32 .* image is 64x64"):
        nodes.BEN2RefineEdges.execute(images(1, 64, 64), soft_disc(1, 32), None, "fast", False)
    with pytest.raises(ValueError, match="3 frames but mask has 2"):
        nodes.BEN2RefineEdges.execute(images(3, 64, 64), soft_disc(2, 64), None, "fast", False)
    with pytest.raises(ValueError, match="trimap"):
        nodes.BEN2RefineEdges.execute(images(1, 64, 64), soft_disc(1, 64), soft_disc(1, 48), "fast", False)


# --- Composite Background ---------------------------------------------------------------------------


def test_composite_over_a_colour(comfy_env):
    fg = images(2, 16, 16)
    mask = torch.zeros(2, 16, 16)
    mask[:, :8] = 1.0
    result = nodes.BEN2CompositeBackground.execute(fg, mask, None, "#00FF00", "cover", False)
    out = result[0]
    torch.testing.assert_close(out[:, :8], fg[:, :8])
    torch.testing.assert_close(out[:, 8:], torch.tensor([0.0, 1.0, 0.0]).expand(2, 8, 16, 3))
    inverted = nodes.BEN2CompositeBackground.execute(fg, 1 - mask, None, "0, 255, 0", "cover", True)[0]
    torch.testing.assert_close(inverted, out)
    assert len(result.ui["ben2_rgba"]) == 2


def test_composite_backgrounds_one_for_all_one_per_frame_many_for_one(comfy_env):
    fg, mask = images(3, 16, 16), soft_disc(3, 16)
    one = images(1, 32, 24, seed=1)
    out = nodes.BEN2CompositeBackground.execute(fg, mask, one, "#FFFFFF", "stretch", False)[0]
    torch.testing.assert_close(out, ops.composite(fg, mask, one, fit="stretch"))
    per_frame = images(3, 16, 16, seed=2)
    out = nodes.BEN2CompositeBackground.execute(fg, mask, per_frame, "#FFFFFF", "cover", False)[0]
    torch.testing.assert_close(out, ops.composite(fg, mask, per_frame, fit="cover"))
    many = images(4, 16, 16, seed=3)
    out = nodes.BEN2CompositeBackground.execute(fg[:1], mask[:1], many, "#FFFFFF", "cover", False)[0]
    assert out.shape == (4, 16, 16, 3)
    torch.testing.assert_close(out[3], ops.composite(fg[:1], mask[:1], many[3:], fit="cover")[0])


def test_composite_rejects_bad_inputs(comfy_env):
    fg, mask = images(3, 16, 16), soft_disc(3, 16)
    with pytest.raises(ValueError, match="2 images for 3 frames"):
        nodes.BEN2CompositeBackground.execute(fg, mask, images(2, 16, 16), "#FFFFFF", "cover", False)
    with pytest.raises(ValueError, match="#RRGGBB"):
        nodes.BEN2CompositeBackground.execute(fg, mask, None, "greenish", "cover", False)
    with pytest.raises(ValueError, match="same size"):
        nodes.BEN2CompositeBackground.execute(fg, soft_disc(3, 32), None, "#FFFFFF", "cover", False)


@pytest.mark.parametrize(("text", "rgb"), [("#FF8000", (1.0, 128 / 255, 0.0)), ("0f0", (0.0, 1.0, 0.0)), (" 0,0,255 ", (0.0, 0.0, 1.0))])
def test_parse_color(text, rgb):
    composite_module = sys.modules[f"{PACK_NAME}.nodes.composite"]
    assert composite_module.parse_color(text) == pytest.approx(rgb)


def test_matting_nodes_stop_on_cancel_between_chunks(comfy_env, monkeypatch):
    matting = sys.modules[f"{PACK_NAME}.nodes.matting"]
    calls = []
    real_refine = matting.refine_edges

    def counting_refine(image, alpha, **kwargs):
        calls.append(image.shape[0])
        return real_refine(image, alpha, **kwargs)

    monkeypatch.setattr(matting, "refine_edges", counting_refine)
    original = comfy.utils.ProgressBar.update_absolute

    def cancel_after_first_chunk(self, value, total=None, preview=None):
        original(self, value, total, preview)
        mm.interrupt_current_processing(True)

    monkeypatch.setattr(comfy.utils.ProgressBar, "update_absolute", cancel_after_first_chunk)
    with pytest.raises(mm.InterruptProcessingException):
        nodes.BEN2RefineEdges.execute(images(6, 32, 32), soft_disc(6, 32), None, "fast", False)
    assert calls == [matting.REFINE_CHUNK]


# --- bad input (issue 13): values outside 0..1 are clamped, every output stays in 0..1 ----------------


@pytest.mark.parametrize("decontaminate", [False, True])
def test_segment_outputs_stay_in_range_for_an_out_of_range_image(cheap_model, decontaminate):
    image = images(1, 32, 32) * 7 - 3  # HDR / blend maths upstream
    alpha, foreground, rgba = nodes.BEN2SegmentForeground.execute(cheap_model, image, 1, True, decontaminate).args
    for out in (alpha, foreground, rgba):
        assert bool(torch.isfinite(out).all()) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_out_of_range_mask_through_refine_and_composite_gives_in_range_outputs(comfy_env):
    image = images(1, 32, 32)
    mask = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(1)) * 7 - 3  # an EXR-made mask
    alpha, foreground, rgba = nodes.BEN2RefineEdges.execute(image, mask, None, "fast", False).args
    for out in (alpha, foreground, rgba):
        assert bool(torch.isfinite(out).all()) and 0 <= float(out.min()) and float(out.max()) <= 1
    out = nodes.BEN2CompositeBackground.execute(image, mask, None, "#FFFFFF", "cover", False)[0]
    assert out.shape == (1, 32, 32, 3) and 0 <= float(out.min()) and float(out.max()) <= 1


@pytest.mark.parametrize("fit", ["cover", "contain", "stretch", "center"])
def test_composite_accepts_a_1x1_background(comfy_env, fit):
    fg, mask = images(1, 16, 16), soft_disc(1, 16)
    out = nodes.BEN2CompositeBackground.execute(fg, mask, torch.full((1, 1, 1, 3), 0.25), "#FFFFFF", fit, False)[0]
    assert out.shape == (1, 16, 16, 3) and 0 <= float(out.min()) and float(out.max()) <= 1


# --- error messages: the node's name first ----------------------------------------------------------

BAD_CALLS = {
    "Load BEN2": lambda: nodes.BEN2ModelLoader.execute("gone.safetensors", "auto", "auto"),
    "Segment Foreground (BEN2)": lambda: nodes.BEN2SegmentForeground.execute(object(), images(1), 1, True, False),
    "Confidence Trimap (BEN2)": lambda: nodes.BEN2ConfidenceTrimap.execute(soft_disc(), None, 0.05, 0.95, float("nan"), False),
    "Refine Edges (BEN2)": lambda: nodes.BEN2RefineEdges.execute(images(1, 64, 64), soft_disc(1, 32), None, "fast", False),
    "Composite Background (BEN2)": lambda: nodes.BEN2CompositeBackground.execute(
        images(1, 16, 16), soft_disc(1, 16), None, "greenish", "cover", False
    ),
    "Save Alpha Video (BEN2)": lambda: nodes.BEN2SaveAlphaVideo.execute(images(2, 16, 16), None, None, -1.0),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_every_error_starts_with_the_nodes_display_name_once(comfy_env, name):
    assert any(n.GET_SCHEMA().display_name == name for n in nodes.NODES)  # a real node's name
    with pytest.raises((ValueError, TypeError, OSError)) as caught:
        BAD_CALLS[name]()
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and message.count(name) == 1, message
    assert len(message) > len(name) + 20  # the problem and the fix follow


def _locked_clone(node: type) -> type:
    """The class ComfyUI 0.8 runs ``execute`` on: a clone whose metaclass refuses every class attribute
    write (``comfy_api.internal.lock_class``), so e.g. ``GET_SCHEMA``'s ``cls.SCHEMA = ...`` raises."""

    class LockedMeta(type(node)):
        def __setattr__(cls, name, value):
            raise AttributeError(f"Cannot modify class attribute '{name}' on locked class '{cls.__name__}'")

    return LockedMeta(f"{node.__name__}Clone", (node,), {})


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_error_naming_works_on_comfyui_08s_locked_class(comfy_env, name, monkeypatch):
    node = next(n for n in nodes.NODES if n.GET_SCHEMA().display_name == name)
    locked = _locked_clone(node)
    module = sys.modules[node.__module__]
    monkeypatch.setattr(module, node.__name__, locked)  # BAD_CALLS looks the node up by name
    monkeypatch.setattr(nodes, node.__name__, locked)
    with pytest.raises((ValueError, TypeError, OSError)) as caught:
        BAD_CALLS[name]()
    assert str(caught.value).startswith(f"{name}: "), caught.value


def test_library_messages_gain_the_node_name_and_keep_their_type(comfy_env):
    with pytest.raises(ValueError) as caught:  # confidence_trimap's own check of band
        nodes.BEN2ConfidenceTrimap.execute(soft_disc(), None, 0.05, 0.95, float("inf"), False)
    assert str(caught.value).startswith("Confidence Trimap (BEN2): band must be")
    with pytest.raises(TypeError, match=r"^Segment Foreground \(BEN2\): .*BACKGROUND_REMOVAL"):
        nodes.BEN2SegmentForeground.execute(object(), images(1), 1, True, False)


def test_cancel_passes_through_the_error_naming_untouched(cheap_model):
    mm.interrupt_current_processing(True)
    with pytest.raises(mm.InterruptProcessingException) as caught:
        nodes.BEN2SegmentForeground.execute(cheap_model, images(3), 1, True, False)
    assert "Segment Foreground" not in str(caught.value)


# --- mask shaping on the nodes ----------------------------------------------------------------------


def test_segment_mask_grow_and_blur_shape_the_mask_and_the_rgba_alpha(cheap_model):
    from ben2_model.matting.shape import shape_mask

    batch = images(2, 64, 64)
    plain = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, True, False, False, 0.0, 0.0).args
    default = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, True, False).args
    assert all(torch.equal(a, b) for a, b in zip(plain, default))  # the defaults change nothing
    mask, foreground, rgba = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, True, False, False, 48.0, 16.0).args
    torch.testing.assert_close(mask, shape_mask(plain[0], grow=48.0, blur=16.0))
    assert float(mask.mean()) > float(plain[0].mean())
    torch.testing.assert_close(rgba[..., 3], mask)
    torch.testing.assert_close(foreground, plain[1])  # colours come from the network's alpha
    shrunk = nodes.BEN2SegmentForeground.execute(cheap_model, batch, 1, True, False, False, -48.0, 0.0)[0]
    assert float(shrunk.mean()) < float(plain[0].mean()) and 0 <= float(shrunk.min()) <= float(shrunk.max()) <= 1


def test_refine_shapes_the_refined_mask(comfy_env):
    from ben2_model.matting.shape import shape_mask

    image, mask = images(1, 64, 64), soft_disc(1)
    refined = nodes.BEN2RefineEdges.execute(image, mask, None, "fast", False).args
    alpha, _, rgba = nodes.BEN2RefineEdges.execute(image, mask, None, "fast", False, False, 0.0, 24.0).args
    torch.testing.assert_close(alpha, shape_mask(refined[0], blur=24.0))
    torch.testing.assert_close(rgba[..., 3], alpha)
    assert not torch.equal(alpha, refined[0])


def test_mask_shaping_inputs_are_optional_advanced_and_neutral_by_default(comfy_env):
    for node in (nodes.BEN2SegmentForeground, nodes.BEN2RefineEdges):
        by_id = {i.id: i for i in node.GET_SCHEMA().inputs}
        for name in ("mask_grow", "mask_blur"):
            put = by_id[name]
            assert put.optional and put.default == 0.0 and put.min <= 0.0 <= put.max
    with pytest.raises(ValueError, match=r"^Refine Edges \(BEN2\): .*blur"):
        nodes.BEN2RefineEdges.execute(images(1, 64, 64), soft_disc(1), None, "fast", False, False, 0.0, float("nan"))


# --- ONNX graphs --------------------------------------------------------------------------------------


def test_loader_lists_and_runs_an_onnx_graph_outside_model_management(comfy_env, tiny_onnx, tiny_state_dict):
    import shutil

    write_checkpoint(tiny_state_dict, comfy_env / "models" / "ben2" / "tiny.safetensors")
    shutil.copy(tiny_onnx, comfy_env / "models" / "ben2" / "tiny.onnx")
    assert loader.checkpoint_options()[:2] == ["tiny.onnx", "tiny.safetensors"]
    graph = nodes.BEN2ModelLoader.execute("tiny.onnx", "auto", "fp16")[0]  # precision: fixed by the graph
    assert model_module.is_ben2(graph) and not graph.managed and graph.dtype == torch.float32
    image = images(batch=2, height=64, width=80, seed=4)
    mm.LOAD_CALLS.clear()
    mask = graph.encode_image(image)
    assert mm.LOAD_CALLS == []  # onnxruntime owns the graph's memory: nothing for ComfyUI to move
    eager = nodes.BEN2ModelLoader.execute("tiny.safetensors", "CPU", "fp32")[0]
    assert eager.managed and (mask - eager.encode_image(image)).abs().max().item() <= 1e-4
