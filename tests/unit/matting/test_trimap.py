"""confidence_trimap: values, band geometry, scaling with the image size."""

import numpy as np
import pytest
import torch

from ben2_model import confidence_trimap


pytestmark = pytest.mark.usefixtures("single_thread")


def chamfer(dx: int, dy: int) -> float:
    """OpenCV's 5x5 chamfer distance (DIST_L2, mask 5): steps 1, 1.4 and 2.1969 (knight's move)."""
    x, y = max(abs(dx), abs(dy)), min(abs(dx), abs(dy))
    k = min(y, x - y)
    return (x - y - k) * 1.0 + (y - k) * 1.4 + k * 2.1969


def slow_trimap(alpha: np.ndarray, low=0.05, high=0.95, band=6.0) -> np.ndarray:
    h, w = alpha.shape
    radius = max(1.0, band * max(h, w) / 1024)
    seeds = np.argwhere((alpha > low) & (alpha < high))
    out = (alpha >= 0.5).astype(np.float32)
    for i in range(h):
        for j in range(w):
            if any(chamfer(j - sj, i - si) <= radius + 1e-9 for si, sj in seeds):
                out[i, j] = 0.5
    return out


def test_values_and_band_against_brute_force():
    rng = np.random.default_rng(0)
    alpha = np.zeros((40, 57), np.float32)
    alpha[:, 30:] = 1
    alpha[rng.integers(0, 40, 6), rng.integers(0, 57, 6)] = 0.5
    ours = confidence_trimap(torch.from_numpy(alpha)[None], band=200.0)[0].numpy()
    assert set(np.unique(ours)) <= {0.0, 0.5, 1.0}
    np.testing.assert_array_equal(ours, slow_trimap(alpha, band=200.0))


def test_band_radius_scales_with_the_longest_side():
    # one unsure pixel in a 2048-wide image: radius 6 * 2048/1024 = 12 px
    alpha = torch.zeros(1, 64, 2048)
    alpha[0, 32, 1000] = 0.5
    tri = confidence_trimap(alpha)[0]
    assert tri[32, 1012] == 0.5 and tri[32, 1013] == 0
    assert tri[20, 1000] == 0.5 and tri[19, 1000] == 0
    assert tri[32, 988] == 0.5 and tri[32, 987] == 0
    # at 1024 the same pixel gets 6 px
    small = confidence_trimap(alpha[:, :, :1024])[0]
    assert small[32, 1006] == 0.5 and small[32, 1007] == 0


def test_thresholds_are_strict_and_confident_regions_follow_one_half():
    alpha = torch.tensor([[[0.0, 0.05, 0.95, 1.0, 0.4, 0.6]]]).repeat(1, 1, 1)
    alpha = torch.nn.functional.pad(alpha, (0, 2000))  # far-away pixels stay confident
    tri = confidence_trimap(alpha, band=0.0)[0, 0]
    # 0.05 and 0.95 are confident (strict inequalities); 0.4 and 0.6 are unsure (+1 px band)
    assert tri[:3].tolist() == [0.0, 0.0, 1.0]
    assert tri[3:7].tolist() == [0.5] * 4
    assert tri[7:].eq(0).all()
    tri = confidence_trimap(torch.tensor([[[0.3, 0.7]]]), low=0.0, high=1.0)
    assert tri.eq(0.5).all()


@pytest.mark.parametrize("fill,expected", [(0.0, 0.0), (1.0, 1.0)])
def test_empty_and_full_masks(fill, expected):
    tri = confidence_trimap(torch.full((2, 31, 17), fill))
    assert tri.eq(expected).all()


def test_tiny_and_odd_sizes_batch_and_dtypes():
    assert confidence_trimap(torch.tensor([[[0.5]]])).tolist() == [[[0.5]]]
    assert confidence_trimap(torch.tensor([[[0.7]], [[1.0]]])).flatten().tolist() == [0.5, 1.0]
    alpha = torch.rand(3, 37, 53) ** 6
    batch = confidence_trimap(alpha)
    for i in range(3):
        assert torch.equal(batch[i], confidence_trimap(alpha[i : i + 1])[0])
    half = confidence_trimap(alpha.half())
    assert half.dtype == torch.float16
    assert torch.equal(half.float(), confidence_trimap(alpha.half().float()))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"\[B,H,W\]"):
        confidence_trimap(torch.rand(1, 1, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        confidence_trimap(torch.zeros(1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="low"):
        confidence_trimap(torch.rand(1, 8, 8), low=0.9, high=0.1)
    with pytest.raises(ValueError, match="band"):
        confidence_trimap(torch.rand(1, 8, 8), band=-1)
