"""``ben2 export`` and ``ben2 remove --model x.onnx`` (in-process: the export itself is tested in
test_onnx.py, so ``export`` here checks the command's plumbing around a stand-in)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ben2_model
from tests.unit.cli.runner import FIXTURES, run_in_process


def test_remove_runs_an_onnx_model_like_the_checkpoint(tmp_path: Path, tiny_onnx, tiny_checkpoint) -> None:
    source = tmp_path / "in"
    source.mkdir()
    Image.open(FIXTURES / "chelsea.png").convert("RGB").resize((90, 60)).save(source / "cat.png")
    results = {}
    for name, model in (("onnx", tiny_onnx), ("torch", tiny_checkpoint)):
        code, err = run_in_process("remove", source, "-o", tmp_path / name, "--model", model, "--mask-only", "-q")
        assert code == 0, err
        results[name] = np.asarray(Image.open(tmp_path / name / "cat.png"), np.int16)
    assert results["onnx"].shape == (60, 90)
    assert np.abs(results["onnx"] - results["torch"]).max() <= 1


def test_export_command_passes_its_options(tmp_path: Path, tiny_onnx, tiny_checkpoint, monkeypatch) -> None:
    calls = []

    def fake_export(model, path, *, dtype, opset, source):
        calls.append((type(model).__name__, dtype, opset, source))
        shutil.copy(tiny_onnx, path)
        return path

    monkeypatch.setattr(ben2_model, "export_onnx", fake_export)
    out = tmp_path / "ben2.onnx"
    code, err = run_in_process("export", tiny_checkpoint, "-o", out, "--dtype", "fp16", "--opset", "18")
    assert code == 0, err
    assert calls == [("BEN2", "fp16", 18, tiny_checkpoint)] and out.is_file() and "wrote" in err

    code, err = run_in_process("export", tiny_checkpoint, "-o", out)
    assert code == 2 and "--overwrite" in err  # never replaced silently
    code, err = run_in_process("export", tiny_checkpoint, "-o", tmp_path / "x.pth")
    assert code == 2 and ".onnx" in err
    code, err = run_in_process("export", tmp_path / "missing.safetensors", "-o", tmp_path / "y.onnx")
    assert code == 3 and "does not exist" in err
    assert len(calls) == 1


@pytest.mark.parametrize("damage", [b"not a graph at all"])
def test_remove_with_a_broken_graph_exits_3(tmp_path: Path, damage) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(damage)
    (tmp_path / "in").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "in" / "a.png")
    code, err = run_in_process("remove", tmp_path / "in", "-o", tmp_path / "out", "--model", broken)
    assert code == 3 and "broken.onnx" in err and "not a readable ONNX graph" in err
