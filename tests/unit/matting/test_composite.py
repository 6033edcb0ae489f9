"""composite: straight alpha, colours and images, fit modes, 1<->N batches."""

import pytest
import torch

from ben2_model import composite


pytestmark = pytest.mark.usefixtures("single_thread")


def test_colour_background_and_exact_ends():
    fg = torch.rand(2, 5, 7, 3)
    alpha = torch.tensor([0.0, 1.0, 0.25]).repeat(2, 5, 3)[..., :7]
    out = composite(fg, alpha, (0.0, 1.0, 0.0))
    assert out.shape == (2, 5, 7, 3)
    green = torch.tensor([0.0, 1.0, 0.0])
    assert torch.equal(out[alpha == 1], fg[alpha == 1])
    assert torch.equal(out[alpha == 0], green.expand_as(out[alpha == 0]))
    mid = alpha == 0.25
    assert torch.allclose(out[mid], 0.25 * fg[mid] + 0.75 * green)
    assert torch.allclose(composite(fg, alpha, torch.tensor([0.0, 1.0, 0.0])), out)


def test_image_background_same_size():
    fg, bg = torch.rand(3, 4, 6, 3), torch.rand(3, 4, 6, 3)
    alpha = torch.rand(3, 4, 6)
    expected = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    assert torch.allclose(composite(fg, alpha, bg), expected)


def test_one_to_many_broadcasting():
    fg, alpha = torch.rand(1, 4, 6, 3), torch.rand(1, 4, 6)
    bgs = torch.rand(5, 4, 6, 3)
    out = composite(fg, alpha, bgs)
    assert out.shape == (5, 4, 6, 3)
    assert torch.allclose(out[3], composite(fg, alpha, bgs[3:4])[0])
    many = composite(fg.expand(4, -1, -1, -1), torch.rand(4, 4, 6), bgs[:1])
    assert many.shape == (4, 4, 6, 3)
    with pytest.raises(ValueError, match="broadcast"):
        composite(torch.rand(2, 4, 6, 3), torch.rand(2, 4, 6), bgs)


def _marked_background(h, w):
    """A background whose pixel value encodes its position, to check where pixels land."""
    ys = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w) / h
    xs = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w) / w
    return torch.stack([ys, xs, torch.ones(h, w)], -1)[None]


def test_fit_modes_geometry():
    fg, alpha = torch.zeros(1, 10, 20, 3), torch.zeros(1, 10, 20)  # show the background only
    bg = _marked_background(10, 10)
    center = composite(fg, alpha, bg, fit="center")
    # 10x10 centred on a 10x20 canvas: columns 5..14 hold it, the rest is black
    assert torch.equal(center[0, :, 5:15], bg[0])
    assert center[0, :, :5].eq(0).all() and center[0, :, 15:].eq(0).all()
    contain = composite(fg, alpha, bg, fit="contain")
    assert torch.allclose(contain[0, :, 5:15], bg[0], atol=1e-6)
    cover = composite(fg, alpha, bg, fit="cover")  # scaled to 20x20, rows 5..14 shown
    assert cover[0, ..., 2].eq(1).all()  # no black anywhere
    assert cover[0, 0, 0, 0] > 0.2 and cover[0, -1, 0, 0] < 0.8  # top and bottom were cropped
    stretch = composite(fg, alpha, bg, fit="stretch")
    assert stretch.shape == (1, 10, 20, 3) and stretch[0, ..., 2].eq(1).all()
    assert stretch[0, 0, 0, 0] < 0.1 and stretch[0, -1, 0, 0] > 0.8  # full height kept
    big = _marked_background(40, 40)
    centre_crop = composite(fg, alpha, big, fit="center")
    assert torch.equal(centre_crop[0], big[0, 15:25, 10:30])


def test_dtype_device_follow_the_foreground_and_half_precision():
    fg, alpha, bg = torch.rand(1, 8, 9, 3).half(), torch.rand(1, 8, 9).half(), torch.rand(1, 16, 3, 3)
    for fit in ("stretch", "cover", "contain", "center"):
        out = composite(fg, alpha, bg, fit=fit)
        assert out.dtype == torch.float16 and out.shape == (1, 8, 9, 3)


def test_bad_arguments():
    fg, alpha = torch.rand(1, 4, 4, 3), torch.rand(1, 4, 4)
    with pytest.raises(ValueError, match="fit"):
        composite(fg, alpha, torch.rand(1, 5, 5, 3), fit="tile")
    with pytest.raises(ValueError, match="RGB colour"):
        composite(fg, alpha, (1.0, 0.0))
    with pytest.raises(ValueError, match=r"\[B,H,W\]"):
        composite(fg, alpha[:, None], (1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="size"):
        composite(fg, torch.rand(1, 5, 4), (1.0, 0.0, 0.0))
