"""``kernels="reference"``: the plain path, the switch between paths, and ``torch.compile`` of it."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ben2_model import BEN2, load_model
from ben2_model.network.layers import FastPath
from ben2_model.weights.seeded import TINY_CONFIG

X = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))


class _OpRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(str(func.name()).split(".")[0])  # without the overload
        return func(*args, **(kwargs or {}))


def _flags(model) -> set[bool]:
    return {module.fast for module in model.modules() if isinstance(module, FastPath)}


def test_kernels_is_validated_and_settable(tiny_model):
    with pytest.raises(ValueError, match="'fast', 'reference'.*'onnx'"):
        BEN2(**TINY_CONFIG, kernels="onnx")
    with pytest.raises(ValueError, match="'fast', 'reference'"):
        tiny_model.kernels = "plain"
    assert tiny_model.kernels == "fast" and _flags(tiny_model) == {True}
    with pytest.raises(ValueError, match="'fast', 'reference'"):
        load_model(tiny_model.state_dict(), kernels="slow")
    assert load_model(tiny_model.state_dict(), kernels="reference").kernels == "reference"
    assert "kernels" not in tiny_model.state_dict() and len(_flags(tiny_model)) == 1


def test_switching_to_reference_and_back(tiny_model):
    """The ONNX exporter's contract: switch an existing model to the plain path, use it, switch back."""
    with torch.inference_mode():
        fast = tiny_model(X)
        tiny_model.kernels = "reference"
        try:
            assert _flags(tiny_model) == {False}
            with _OpRecorder() as recorder:
                plain = tiny_model(X)
        finally:
            tiny_model.kernels = "fast"
        assert _flags(tiny_model) == {True}
        again = tiny_model(X)
    assert torch.equal(again, fast)
    assert (plain - fast).abs().max().item() <= 1e-5
    private = {name for name in recorder.names if name.startswith("mkldnn::") or "_softmax" in name}
    assert not private, private
    # the plain Swin (shifted windows by roll) and the head's upsampled convolution really ran
    expected = {"aten::roll", "aten::upsample_nearest2d", "aten::scaled_dot_product_attention", "aten::instance_norm"}
    assert expected <= recorder.names


def test_fast_path_pieces_do_not_change_the_result(tiny_model, monkeypatch):
    """Swin blocks and the decoder's token updates work ``WORKSPACE_BYTES`` at a time: many small
    pieces give what one piece gives (every step is per token or per map)."""
    from ben2_model.network import backbone, decoder

    with torch.inference_mode():
        whole = tiny_model(X)
        for module in (backbone, decoder):
            monkeypatch.setattr(module, "WORKSPACE_BYTES", 4096)  # a few tokens, one map per piece
        pieces = tiny_model(X)
    assert (pieces - whole).abs().max().item() <= 1e-6


def test_graph_path_is_the_reference_path_with_the_head_algebra(tiny_model):
    """``kernels="graph"`` (what ONNX export traces): no private op, no full-size nearest upsample
    (the ×2 convolutions run at the low resolution through depth-to-space), the same masks."""
    with torch.inference_mode():
        tiny_model.kernels = "reference"
        try:
            plain = tiny_model(X)
            tiny_model.kernels = "graph"
            assert _flags(tiny_model) == {False}
            with _OpRecorder() as recorder:
                graph = tiny_model(X)
        finally:
            tiny_model.kernels = "fast"
    assert (graph - plain).abs().max().item() <= 1e-5
    private = {name for name in recorder.names if name.startswith("mkldnn::") or "_softmax" in name}
    assert not private, private
    assert "aten::pixel_shuffle" in recorder.names
    assert "aten::upsample_nearest2d" not in recorder.names
    assert {"aten::roll", "aten::scaled_dot_product_attention", "aten::instance_norm"} <= recorder.names


def test_reference_path_uses_no_private_gelu(tiny_model, monkeypatch):
    def private(*args, **kwargs):
        raise AssertionError("torch._C._nn.gelu_ called on the reference path")

    monkeypatch.setattr(torch._C._nn, "gelu_", private)
    model = load_model(tiny_model.state_dict(), kernels="reference")
    with torch.inference_mode():
        assert torch.isfinite(model(X)).all()


# --- compile -----------------------------------------------------------------------------------


def test_compile_falls_back_to_eager_with_one_warning(tiny_checkpoint, tiny_model, monkeypatch):
    calls = []

    def fake_compile(fn, **options):
        def compiled(x):
            calls.append(x.shape[0])
            if len(calls) == 3:
                raise RuntimeError("inductor: cannot lower\nlong traceback")
            return fn(x)

        assert options == {"dynamic": False}
        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = load_model(tiny_checkpoint, compile=True)
    assert model.kernels == "reference" and isinstance(model, BEN2)
    assert (model.config, model.dtype, model.device, model.input_size) == (
        tiny_model.config, tiny_model.dtype, tiny_model.device, tiny_model.input_size)
    pair = torch.cat((X, X.flip(-1)))
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning while compiling works
        with pytest.raises(ValueError, match=r"\[B,3,S,S\]"):
            model(torch.zeros(1, 3, 500, 500))  # the caller's error: no fallback
        both = model(pair)
        single = model(X)  # padded to the compiled batch of two: no second compile
    assert calls == [2, 2]
    assert (single - both[:1]).abs().max().item() <= 1e-5
    with torch.inference_mode(), pytest.warns(RuntimeWarning, match="torch.compile failed.*cannot lower") as caught:
        eager = model(X)
    assert len(caught) == 1 and "long traceback" not in str(caught[0].message)
    assert model.kernels == "fast" and "forward" not in vars(model)  # eager from now on
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (model(X) - eager).abs().max().item() == 0 and calls == [2, 2, 2]  # the failed call was padded too


@pytest.mark.parametrize("wrong", ["nan", "finite"])
def test_a_compiled_graph_that_computes_something_else_is_caught(tiny_checkpoint, monkeypatch, wrong):
    """A miscompiled graph (seen: NaN masks from inductor in bf16) is checked against eager at
    its first call, and every result must be finite: the caller gets the eager mask and a warning."""
    calls = []

    def fake_compile(fn, **options):
        def compiled(x):
            calls.append(x.shape[0])
            out = fn(x)
            if wrong == "nan" and len(calls) == 2:  # a later call of a checked graph goes bad
                return out.clone().fill_(float("nan"))
            return out.clone().fill_(0.5) if wrong == "finite" else out

        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = load_model(tiny_checkpoint, compile=True)
    eager = load_model(tiny_checkpoint)
    with torch.inference_mode():
        if wrong == "nan":
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                first = model(X)  # checked against eager: it agrees
            assert (first - eager(X)).abs().max().item() <= 1e-5
        with pytest.warns(RuntimeWarning, match="differs from eager by (nan|inf|0\\.[0-9])"):
            out = model(X)
        assert torch.isfinite(out).all() and (out - eager(X)).abs().max().item() == 0
    assert model.kernels == "fast" and "forward" not in vars(model)  # eager from now on
    assert calls == ([1, 1] if wrong == "nan" else [1])


def test_compile_that_cannot_start_leaves_an_eager_model(tiny_model, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **options: (_ for _ in ()).throw(RuntimeError("no dynamo")))
    with pytest.warns(RuntimeWarning, match="no dynamo"):
        model = load_model(tiny_model.state_dict(), kernels="reference", compile=True)
    assert model.kernels == "reference" and "forward" not in vars(model)


@pytest.mark.compile  # inductor compiles the tiny network for about 9 minutes on an idle 2-core CPU: past CI's budget
def test_torch_compile_of_the_reference_path_matches_eager(tiny_checkpoint, tiny_model):
    """Real inductor on the CPU: the reference path lowers (the fast path's private ops do not)."""
    from torch._dynamo.utils import counters

    counters.clear()
    model = load_model(tiny_checkpoint, compile=True)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to eager would warn
        compiled = model(X)
        eager = tiny_model(X)
    assert counters["stats"]["unique_graphs"] >= 1 and "forward" in vars(model)
    assert (compiled - eager).abs().max().item() <= 1e-4
