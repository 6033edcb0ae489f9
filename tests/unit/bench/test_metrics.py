"""Matting metrics: components, connectivity, perfect and known predictions."""

import numpy as np
import pytest

from ben2_model.bench.metrics import connected_components_largest, evaluate, gradient_magnitude, quantize8


pytestmark = pytest.mark.usefixtures("single_thread")


def slow_largest_component(mask: np.ndarray) -> np.ndarray:
    """Flood fill with an explicit stack (4-connectivity)."""
    h, w = mask.shape
    label = np.zeros((h, w), int)
    best, best_size, current = 0, 0, 0
    for i in range(h):
        for j in range(w):
            if mask[i, j] and not label[i, j]:
                current += 1
                stack, size = [(i, j)], 0
                label[i, j] = current
                while stack:
                    y, x = stack.pop()
                    size += 1
                    for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not label[ny, nx]:
                            label[ny, nx] = current
                            stack.append((ny, nx))
                if size > best_size:
                    best, best_size = current, size
    return label == best if best else np.zeros_like(mask)


@pytest.mark.parametrize("density", [0.0, 0.3, 0.5, 0.6, 0.9])
def test_largest_component_matches_flood_fill(density):
    rng = np.random.default_rng(int(density * 10))
    for _ in range(5):
        mask = rng.random((23, 31)) < density
        ours = connected_components_largest(mask)
        expected = slow_largest_component(mask)
        # ties between equally large components may pick either one: compare sizes, and the mask when unique
        assert ours.sum() == expected.sum()
        assert (ours & ~mask).sum() == 0


def test_largest_component_spiral_needs_many_merges():
    mask = np.zeros((21, 21), bool)
    mask[::2, :] = True
    mask[1::4, -1] = True
    mask[3::4, 0] = True  # a serpentine: one component through every row
    assert connected_components_largest(mask).sum() == mask.sum()


def test_perfect_prediction_scores_zero():
    rng = np.random.default_rng(1)
    gt = quantize8(rng.random((30, 40)))
    fg = quantize8(rng.random((30, 40, 3)))
    trimap = np.full((30, 40), 0.5)
    scores = evaluate(gt, fg, gt, fg, trimap)
    for key in ("unk/sad", "unk/mse", "unk/grad", "unk/conn", "unk/fg_mse", "unk/comp_mse", "all/sad"):
        assert scores[key] == pytest.approx(0, abs=1e-9), key


def test_known_errors():
    gt = np.zeros((10, 10), np.float32)
    gt[:, 5:] = 1
    fg = np.full((10, 10, 3), 0.5, np.float32)
    pred = gt.copy()
    pred[:, 5] = 0.6  # error 0.4 on 10 pixels
    trimap = np.zeros((10, 10))
    trimap[:, 4:7] = 0.5
    scores = evaluate(pred, fg, gt, fg, trimap)
    err = abs(quantize8(np.float32(0.6)) - 1.0)
    assert scores["all/sad"] == pytest.approx(10 * err / 1000, rel=1e-5)
    assert scores["unk/mse"] == pytest.approx(10 * err**2 / 30, rel=1e-5)
    assert scores["all/mse"] == pytest.approx(10 * err**2 / 100, rel=1e-5)
    # composite error on green and magenta: (a - gt)(F - C) per channel
    comp = np.mean([np.mean((err * (0.5 - np.array(c))) ** 2) for c in ((0, 1, 0), (1, 0, 1))])
    assert scores["unk/comp_mse"] == pytest.approx(10 * comp / 30, rel=1e-3)
    assert scores["unk/grad"] > 0 and scores["unk/conn"] >= 0


def test_gradient_magnitude_of_a_ramp_is_flat_inside():
    ramp = np.tile(np.linspace(0, 1, 40), (30, 1))
    g = gradient_magnitude(ramp)
    inner = g[5:-5, 5:-5]
    assert inner.std() < 1e-9 and inner.mean() > 0
    assert gradient_magnitude(np.full((9, 9), 0.3)).max() < 1e-12
