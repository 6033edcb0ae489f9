"""Parity with the official BEN2 code on the full network (seeded weights, CPU, fp32).

Goldens in tests/fixtures were produced by the official implementation (see their README in
shared/ben2). These are the only tests that run the full-size network (~25 s a forward).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from ben2_model import load_model, predict_alpha, remove_background
from ben2_model.pipeline import normalise, resize_for_network

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
GOLDEN = np.load(FIXTURES / "golden_forward_chelsea.npz")
CHELSEA = Image.open(FIXTURES / "chelsea.png")


def _level_differences(ours: np.ndarray, golden: np.ndarray) -> tuple[float, int]:
    diff = np.abs(ours.astype(int) - golden.astype(int))
    return float((diff <= 1).mean()), int(diff.max())


def test_preprocessing_is_exact():
    resized = resize_for_network(np.asarray(CHELSEA.convert("RGB")), 1024)
    assert np.array_equal(resized, GOLDEN["resized_rgb"])
    x = normalise(resized[None], torch.device("cpu"), torch.float32)
    assert torch.equal(x, torch.from_numpy(GOLDEN["input"]))


@pytest.mark.parametrize("kernels", ["fast", "reference"])
def test_forward_matches_the_golden_mask(full_model, kernels):
    full_model.kernels = kernels
    try:
        with torch.inference_mode():
            mask = full_model(torch.from_numpy(GOLDEN["input"]))
    finally:
        full_model.kernels = "fast"
    assert (mask - torch.from_numpy(GOLDEN["mask"])).abs().max().item() <= 1e-4


def test_predict_alpha_matches_the_golden_png(full_model):
    image = torch.from_numpy(np.asarray(CHELSEA.convert("RGB")).copy()).float().div(255)[None]
    alpha = predict_alpha(full_model, image)
    ours = (alpha[0].numpy() * 255).astype(np.uint8)
    golden = np.asarray(Image.open(FIXTURES / "golden_inference_chelsea.png"))[..., 3]
    within_one, worst = _level_differences(ours, golden)
    assert within_one >= 0.99 and worst <= 3


@pytest.mark.parametrize(
    "refine,golden_name",
    [(False, "golden_inference_chelsea.png"), (True, "golden_inference_refined_chelsea.png")],
)
def test_remove_background_matches_the_golden_png(full_model, refine, golden_name):
    ours = np.asarray(remove_background(full_model, CHELSEA, refine_foreground=refine))
    golden = np.asarray(Image.open(FIXTURES / golden_name))
    assert ours.shape == golden.shape == (300, 451, 4)
    for channel in range(4):
        within_one, worst = _level_differences(ours[..., channel], golden[..., channel])
        assert within_one >= 0.99 and worst <= 3, (channel, within_one, worst)


def test_both_file_formats_load_the_same_weights(full_model, tmp_path):
    state = full_model.state_dict()
    save_file(state, str(tmp_path / "model.safetensors"))
    torch.save({"model_state_dict": state}, tmp_path / "BEN2_Base.pth")
    for name in ("model.safetensors", "BEN2_Base.pth"):
        loaded = load_model(tmp_path / name)
        assert loaded.config == full_model.config
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())
