"""ONNX export and onnxruntime inference of the tiny network against the PyTorch model."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from ben2_model import CheckpointError, export_onnx, load_model, predict_alpha, remove_background
from ben2_model.network.model import IMAGENET_MEAN, IMAGENET_STD
from ben2_model.onnx import FORMAT, FORMAT_KEY
from ben2_model.onnx.runtime import OnnxBEN2, OnnxRuntimeMissingError, choose_providers
from ben2_model.weights.checkpoint import CheckpointNotFoundError
from ben2_model.weights.seeded import TINY_CONFIG, seeded_model

SIZE = TINY_CONFIG["input_size"]


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    """Two ImageNet-normalised inputs ``[2,3,S,S]`` (smooth noise, so the masks are not flat)."""
    generator = torch.Generator().manual_seed(3)
    coarse = torch.rand(2, 3, SIZE // 32, SIZE // 32, generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear")
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


@pytest.fixture(scope="module")
def torch_masks(tiny_model, inputs) -> torch.Tensor:
    with torch.inference_mode():
        return tiny_model(inputs)


@pytest.fixture(scope="module")
def session_model(tiny_onnx) -> OnnxBEN2:
    return load_model(tiny_onnx)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """A host-layout batch ``[2,H,W,3]`` of another size than the network's."""
    generator = torch.Generator().manual_seed(5)
    coarse = torch.rand(2, 3, 12, 16, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(150, 200), mode="bilinear").permute(0, 2, 3, 1)


def _edited(source, target, edit) -> None:
    graph = onnx.load(str(source))
    edit(graph)
    onnx.save(graph, str(target))


# --------------------------------------------------------------------------- the exported graph


def test_graph_signature_has_a_dynamic_batch(tiny_onnx):
    graph = onnx.load(str(tiny_onnx))
    (x,), (y,) = graph.graph.input, graph.graph.output

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert dims(x)[1:] == [3, SIZE, SIZE] and dims(y)[1:] == [1, SIZE, SIZE]
    assert isinstance(dims(x)[0], str) and dims(x)[0] == dims(y)[0]  # symbolic, shared
    assert x.type.tensor_type.elem_type == y.type.tensor_type.elem_type == TensorProto.FLOAT
    assert not list(tiny_onnx.parent.glob("*.data"))  # one self-contained file


def test_metadata_is_recorded(tiny_onnx, tiny_model):
    metadata = {p.key: p.value for p in onnx.load(str(tiny_onnx)).metadata_props}
    assert metadata[FORMAT_KEY] == FORMAT
    assert metadata["ben2.input_size"] == str(SIZE)
    assert json.loads(metadata["ben2.mean"]) == list(IMAGENET_MEAN)
    assert json.loads(metadata["ben2.std"]) == list(IMAGENET_STD)
    assert metadata["ben2.dtype"] == "fp32"
    assert metadata["ben2.pack_version"][0].isdigit()
    assert json.loads(metadata["ben2.config"])["embed_dim"] == TINY_CONFIG["embed_dim"]
    assert tiny_model.kernels == "fast"  # exported on the reference path, then restored


def test_source_checkpoint_hash_is_recorded(tiny_checkpoint, tmp_path, monkeypatch):
    import hashlib

    import ben2_model.onnx.export as export_module

    model = load_model(tiny_checkpoint)
    assert model.checkpoint_path == str(tiny_checkpoint)
    captured = {}
    # the hash is written before the (slow) trace result is saved: stop at the trace
    monkeypatch.setattr(export_module, "_trace", lambda network, opset: captured.setdefault("program", _FakeProgram()))
    export_module.export_onnx(model, tmp_path / "hashed.onnx")
    expected = hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert captured["program"].model.metadata_props["ben2.source_sha256"] == expected


class _FakeProgram:
    class model:  # noqa: N801 - mimics ONNXProgram.model
        metadata_props: dict = {}
        producer_name = producer_version = ""

    def save(self, path):
        open(path, "wb").close()


# --------------------------------------------------------------------------- parity with PyTorch


def test_onnxruntime_matches_torch_fp32(session_model, inputs, torch_masks):
    out = session_model(inputs)
    assert out.dtype == torch.float32 and out.shape == (2, 1, SIZE, SIZE)
    assert (out - torch_masks).abs().max().item() <= 1e-4


def test_a_batch_of_two_equals_two_singles(session_model, inputs):
    both = session_model(inputs)
    singles = torch.cat([session_model(inputs[i : i + 1]) for i in range(2)])
    assert (both - singles).abs().max().item() <= 1e-6


def test_fp16_graph_is_finite_and_close(tmp_path, inputs):
    """fp16 weights; on a network with one block in the deeper stages (the export's cost is its
    trace: this halves it), keeping the shifted-window block of stage 0 with its attention mask."""
    network = seeded_model(**dict(TINY_CONFIG, depths=(2, 1, 1, 1)))
    with torch.inference_mode():
        expected = network(inputs)
    model = load_model(export_onnx(network, tmp_path / "tiny_fp16.onnx", dtype="fp16"))
    assert model.metadata["ben2.dtype"] == "fp16"
    assert network.dtype == torch.float32  # the caller's model is left as it was
    out = model(inputs)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert 0 < (out - expected).abs().max().item() <= 0.06  # fp16 arithmetic, not a float32 graph


def test_pipeline_runs_the_onnx_model(session_model, tiny_model, images):
    ours = predict_alpha(session_model, images, batch_size=2)
    expected = predict_alpha(tiny_model, images, batch_size=2)
    assert ours.shape == (2, 150, 200)
    assert (ours - expected).abs().max().item() <= 1e-4
    rgba = remove_background(session_model, images[0])
    assert rgba.shape == (150, 200, 4)


def test_to_and_eval_are_harmless(session_model, inputs, torch_masks):
    assert session_model.to("cpu", torch.float16) is session_model and session_model.dtype == torch.float32
    assert list(session_model.parameters()) == [] and not session_model.train().training


def test_wrong_input_shape_is_a_clear_error(session_model):
    with pytest.raises(ValueError, match=rf"expects \[B,3,{SIZE},{SIZE}\].*predict_alpha"):
        session_model(torch.zeros(1, 3, 256, 256))


# --------------------------------------------------------------------------- foreign graphs


def test_graph_without_metadata_is_accepted(tiny_onnx, tmp_path, inputs, torch_masks):
    """A graph like the publisher's: no metadata, batch fixed to 1 (run one image at a time); the
    side comes from the graph itself (the publisher's is 1024, this one 512)."""
    stripped = tmp_path / "BEN2_Base.onnx"

    def strip(graph):
        del graph.metadata_props[:]
        for value in (graph.graph.input[0], graph.graph.output[0]):
            value.type.tensor_type.shape.dim[0].dim_value = 1

    _edited(tiny_onnx, stripped, strip)
    model = load_model(stripped)
    assert model.input_size == SIZE and not model.exported_by_us
    assert (model(inputs) - torch_masks).abs().max().item() <= 1e-4


def _identity_graph(path, in_shape, out_shape, metadata=None):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=1)
    model = helper.make_model(helper.make_graph([node], "not_ben2", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    "in_shape,out_shape,problem",
    [
        (["N", 3, 320, 320], ["N", 1, 320, 320], "multiple of 128"),
        (["N", 3, "H", "W"], ["N", 1, "H", "W"], "fixed number"),
        (["N", 4, 512, 512], ["N", 1, 512, 512], "3 channels"),
        ([2, 3, 512, 512], [2, 1, 512, 512], "batch dimension"),
    ],
)
def test_graph_of_the_wrong_shape_is_refused_before_running(tmp_path, monkeypatch, in_shape, out_shape, problem):
    import onnxruntime

    path = tmp_path / "other.onnx"
    _identity_graph(path, in_shape, out_shape)
    runs = []
    monkeypatch.setattr(onnxruntime.InferenceSession, "run", lambda *a, **k: runs.append(a))
    with pytest.raises(CheckpointError, match=problem) as caught:
        load_model(path)
    assert str(path) in str(caught.value) and "[N,3,S,S]" in str(caught.value) and "[N,1,S,S]" in str(caught.value)
    assert runs == []


def test_metadata_size_must_match_the_graph(tmp_path):
    path = tmp_path / "lying.onnx"
    _identity_graph(path, ["N", 3, 512, 512], ["N", 1, 512, 512], {FORMAT_KEY: FORMAT, "ben2.input_size": "1024"})
    with pytest.raises(CheckpointError, match="must all be 1024"):
        load_model(path)


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_unreadable_file_is_one_clear_error(tiny_onnx, tmp_path, damage):
    path = tmp_path / "broken.onnx"
    data = tiny_onnx.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"PK\x03\x04 a zip, not a graph" * 50)
    with pytest.raises(CheckpointError, match="not a readable ONNX graph") as caught:
        load_model(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="not found"):
        load_model(tmp_path / "absent.onnx")


def test_without_onnxruntime_the_error_says_what_to_install(tiny_onnx, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(OnnxRuntimeMissingError, match="pip install onnxruntime"):
        load_model(tiny_onnx)


def test_compile_is_refused_for_graphs(tiny_onnx):
    with pytest.raises(ValueError, match="compile"):
        load_model(tiny_onnx, compile=True)


# --------------------------------------------------------------------------- providers


def test_providers_follow_the_device():
    cpu_only = ["CPUExecutionProvider"]
    assert choose_providers(None, cpu_only) == (cpu_only, torch.device("cpu"))
    assert choose_providers("auto", cpu_only)[0] == cpu_only
    with pytest.warns(UserWarning, match="onnxruntime-gpu"):
        assert choose_providers("cuda", cpu_only)[0] == cpu_only
    gpu = ["CUDAExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("cuda:1", gpu)[0] == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    assert choose_providers("auto", gpu)[0][0][0] == "CUDAExecutionProvider"
    assert choose_providers("dml", gpu)[0] == ["DmlExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(torch.device("cpu"), gpu)[0] == cpu_only
    with pytest.raises(ValueError, match="unknown device"):
        choose_providers("tpu", gpu)


def test_export_refuses_bad_arguments(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="fp32, fp16"):
        export_onnx(tiny_model, tmp_path / "x.onnx", dtype="bf16")
    with pytest.raises(ValueError, match=r"\.onnx"):
        export_onnx(tiny_model, tmp_path / "x.pth")
    with pytest.raises(ValueError, match="BEN2"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
