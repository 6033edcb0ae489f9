"""The full-size network exported and run in onnxruntime against the official golden mask.

About 90 s on a 2-core CPU (a minute of export, a forward pass): outside the default run, which
stays within CI's budget; run it with ``python -m pytest -m onnx_full tests/unit/onnx``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ben2_model import export_onnx, load_model

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.mark.slow
@pytest.mark.onnx_full
def test_full_graph_matches_the_golden_mask(full_model, tmp_path):
    golden = np.load(FIXTURES / "golden_forward_chelsea.npz")
    path = export_onnx(full_model, tmp_path / "ben2.onnx")
    assert path.stat().st_size < 2**31 and not list(tmp_path.glob("*.data"))  # one file
    graph = load_model(path)
    mask = graph(torch.from_numpy(golden["input"]))
    assert (mask - torch.from_numpy(golden["mask"])).abs().max().item() <= 1e-4
