"""Shared fixtures: seeded BEN2 models and checkpoint files (no network, no ../shared needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ben2_model.weights.seeded import TINY_CONFIG, seeded_model


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny seeded BEN2 (fp32, CPU, eval)."""
    torch.manual_seed(0)
    return seeded_model(**TINY_CONFIG)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model) -> Path:
    """The tiny seeded weights as a .safetensors file that ``load_model`` reads like the real one."""
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("ckpt") / "tiny_ben2.safetensors"
    save_file(tiny_model.state_dict(), str(path), metadata={"input_size": str(TINY_CONFIG["input_size"])})
    return path


@pytest.fixture(scope="session")
def full_model():
    """The full-size BEN2 with the reference fixtures' seeded weights (fp32, CPU, eval)."""
    return seeded_model()


@pytest.fixture(scope="module")
def single_thread():
    """Run a test module single-threaded (and restore the setting): the matting ops are
    memory-bound, and on a shared 2-core runner two spinning threads are many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class CheapBEN2(torch.nn.Module):
    """BEN2's interface (``input_size``; ``[B,3,S,S]`` -> ``[B,1,S,S]`` in 0..1) at a tiny cost.

    Plumbing tests (nodes, long batches) run it through the real ``predict_alpha``, whose pre- and
    post-processing they are about; the seeded network runs in its own tests.
    """

    input_size = 512

    @property
    def device(self) -> torch.device:  # read-only, as BEN2's
        return self.mix.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.mix.weight.dtype

    def __init__(self):
        super().__init__()
        self.mix = torch.nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.mix.weight.copy_(torch.tensor([0.3, -0.4, 0.2]).view(1, 3, 1, 1))
            self.mix.bias.fill_(0.1)
        self.requires_grad_(False)  # as load_model returns it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mix(x))


@pytest.fixture
def cheap_network() -> CheapBEN2:
    return CheapBEN2()


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    """The tiny seeded BEN2 (the ``tiny_model`` weights) as an fp32 ONNX graph (dynamic batch, our
    metadata). An export takes ~30 s: the ONNX tests and the node tests share this one. (The
    model is built here: tests/nodes has a function-scoped ``tiny_model`` of its own.)"""
    from ben2_model import export_onnx

    return export_onnx(seeded_model(**TINY_CONFIG), tmp_path_factory.mktemp("onnx") / "tiny_ben2.onnx")
