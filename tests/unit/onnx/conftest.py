"""Shared ONNX graphs of the tiny network: each export takes ~30 s, so every test reuses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ben2_model import export_onnx


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_model) -> Path:
    """The tiny seeded BEN2 exported in fp32 (dynamic batch, our metadata)."""
    return export_onnx(tiny_model, tmp_path_factory.mktemp("onnx") / "tiny_ben2.onnx")


@pytest.fixture(scope="session")
def tiny_onnx_fp16(tmp_path_factory, tiny_model) -> Path:
    """The tiny seeded BEN2 exported with fp16 weights."""
    return export_onnx(tiny_model, tmp_path_factory.mktemp("onnx16") / "tiny_ben2_fp16.onnx", dtype="fp16")
