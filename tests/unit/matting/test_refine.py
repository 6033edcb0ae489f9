"""refine_edges: only the unknown band changes, better edges on a synthetic composite, robustness."""

import pytest
import torch
import torch.nn.functional as F

from ben2_model import composite, confidence_trimap, refine_edges


pytestmark = pytest.mark.usefixtures("single_thread")


def _soft_edge_scene(h=96, w=128, seed=0):
    """Orange foreground disc over a textured blue background; the true alpha is a sharp disc and
    the coarse alpha a blurred, slightly shifted version of it (what a 1024-px network gives)."""
    g = torch.Generator().manual_seed(seed)
    rows, cols = torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32)
    yy, xx = torch.meshgrid(rows, cols, indexing="ij")
    dist = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2).sqrt()
    truth = (h / 3 - dist + 0.5).clamp(0, 1)
    fg = torch.tensor([0.9, 0.5, 0.1]).expand(h, w, 3)
    bg = torch.tensor([0.1, 0.2, 0.8]) + 0.05 * torch.rand(h, w, 3, generator=g)
    image = truth[..., None] * fg + (1 - truth[..., None]) * bg
    kernel = torch.ones(1, 1, 7, 7) / 49
    coarse = F.conv2d(F.pad(truth[None, None], (3, 3, 3, 3), mode="replicate"), kernel)[0, 0]
    coarse = torch.roll(coarse, shifts=1, dims=1)
    return image[None], coarse[None], truth[None]


@pytest.mark.parametrize("mode", ["fast", "quality"])
def test_confident_pixels_unchanged_and_edges_improve(mode):
    image, coarse, truth = _soft_edge_scene()
    trimap = confidence_trimap(coarse)
    alpha, fg = refine_edges(image, coarse, mode=mode)
    confident = trimap != 0.5
    assert torch.equal(alpha[confident], coarse[confident])  # bit-identical
    band = ~confident
    err_coarse = (coarse - truth).abs()[band].mean()
    err_refined = (alpha - truth).abs()[band].mean()
    assert err_refined < 0.6 * err_coarse, (float(err_refined), float(err_coarse))
    assert fg.shape == image.shape and fg.min() >= 0 and fg.max() <= 1
    assert alpha.min() >= 0 and alpha.max() <= 1


def test_explicit_trimap_controls_what_changes():
    image, coarse, _ = _soft_edge_scene()
    trimap = torch.ones_like(coarse)
    trimap[:, 40:50, 60:70] = 0.5
    alpha, _ = refine_edges(image, coarse, trimap=trimap)
    outside = trimap != 0.5
    assert torch.equal(alpha[outside], coarse[outside])
    assert not torch.equal(alpha[~outside], coarse[~outside])


def test_batch_equals_singles():
    scenes = [_soft_edge_scene(seed=s) for s in range(3)]
    image = torch.cat([s[0] for s in scenes])
    coarse = torch.cat([s[1] for s in scenes])
    alpha, fg = refine_edges(image, coarse)
    for i in range(3):
        a1, f1 = refine_edges(image[i : i + 1], coarse[i : i + 1])
        assert torch.allclose(alpha[i : i + 1], a1, atol=1e-5)
        assert torch.allclose(fg[i : i + 1], f1, atol=1e-5)


def test_half_precision_input():
    image, coarse, _ = _soft_edge_scene()
    alpha, fg = refine_edges(image.half(), coarse.half())
    assert alpha.dtype == torch.float16 and fg.dtype == torch.float16
    ref_alpha, ref_fg = refine_edges(image, coarse)
    assert (alpha.float() - ref_alpha).abs().max() < 0.02
    # colours where the refined alpha is tiny are ill-conditioned (F/alpha); compare where it shows
    visible = ref_alpha > 0.1
    assert (fg.float() - ref_fg).abs()[visible].max() < 0.02
    assert (fg.float() - ref_fg).abs().mean() < 0.005
    confident = confidence_trimap(coarse.half()) != 0.5
    assert torch.equal(alpha[confident], coarse.half()[confident])


@pytest.mark.parametrize("size", [(1, 1), (1, 9), (7, 1), (37, 53), (1031, 61)])
@pytest.mark.parametrize("mode", ["fast", "quality"])
def test_odd_and_tiny_sizes(size, mode):
    h, w = size
    image = torch.rand(1, h, w, 3)
    coarse = torch.rand(1, h, w)
    alpha, fg = refine_edges(image, coarse, mode=mode)
    assert alpha.shape == (1, h, w) and fg.shape == (1, h, w, 3)
    assert torch.isfinite(alpha).all() and torch.isfinite(fg).all()


@pytest.mark.parametrize("fill", [0.0, 1.0])
@pytest.mark.parametrize("mode", ["fast", "quality"])
def test_empty_and_full_masks_come_back_unchanged(fill, mode):
    image = torch.rand(2, 40, 30, 3)
    coarse = torch.full((2, 40, 30), fill)
    alpha, fg = refine_edges(image, coarse, mode=mode)
    assert torch.equal(alpha, coarse)
    assert torch.isfinite(fg).all()
    if fill == 1.0:
        assert (fg - image).abs().max() < 1e-3


def test_8k_input_trimap_and_composite():
    """One 7680x4320 frame: the band scales to 45 px and the ops keep shape and values.

    (Full refinement at 8K takes tens of seconds on a shared 2-core CPU, too slow for the suite;
    refine_edges at odd sizes up to 1031 px is covered above.)
    """
    h, w = 4320, 7680
    coarse = torch.zeros(1, h, w)
    coarse[:, 1000:3300, 2000:5600] = 1.0
    coarse[:, 995:1005, 2000:5600] = 0.5  # one unsure strip along the top edge
    trimap = confidence_trimap(coarse)
    assert trimap.shape == (1, h, w)
    assert trimap[0, 1000, 3000] == 0.5 and trimap[0, 1004 + 45, 3000] == 0.5
    assert trimap[0, 1004 + 46, 3000] == 1 and trimap[0, 0, 0] == 0
    # away from the strip the trimap is the (confident) coarse alpha itself
    assert torch.equal(trimap[:, :940], coarse[:, :940])
    assert torch.equal(trimap[:, 1060:], coarse[:, 1060:])
    image = torch.rand(1, 1, 1, 3).expand(1, h, w, 3)
    out = composite(image, trimap, (0.0, 1.0, 0.0))
    assert out.shape == (1, h, w, 3)
    assert torch.equal(out[0, 2000, 3000], image[0, 0, 0])
    assert out[0, 0, 0].tolist() == [0.0, 1.0, 0.0]
    assert torch.allclose(out[0, 1000, 3000], 0.5 * image[0, 0, 0] + torch.tensor([0.0, 0.5, 0.0]))


def test_bad_arguments():
    image, coarse = torch.rand(1, 8, 8, 3), torch.rand(1, 8, 8)
    with pytest.raises(ValueError, match="mode"):
        refine_edges(image, coarse, mode="best")
    with pytest.raises(ValueError, match="alpha"):
        refine_edges(image, coarse[:, :4])
    with pytest.raises(ValueError, match="trimap"):
        refine_edges(image, coarse, trimap=torch.rand(1, 4, 4))
    with pytest.raises(ValueError, match="empty"):
        refine_edges(image[:0], coarse[:0])
    with pytest.raises(TypeError, match="floating"):
        refine_edges(image, (coarse * 255).to(torch.uint8))


def test_quality_runs_the_colour_pyramid_further_than_fast():
    """Up to 1024 px both modes run the whole colour pyramid (same result); above it, "fast" stops
    at 1024 px and "quality" goes on to 2048 px, so the colours differ but the alpha does not."""
    image, coarse, _ = _soft_edge_scene(96, 128)
    fast, quality = (refine_edges(image, coarse, mode=m) for m in ("fast", "quality"))
    assert torch.equal(fast[0], quality[0]) and torch.equal(fast[1], quality[1])
    big = F.interpolate(image.permute(0, 3, 1, 2), size=(96, 1400), mode="bilinear").permute(0, 2, 3, 1)
    big_coarse = F.interpolate(coarse[:, None], size=(96, 1400), mode="bilinear")[:, 0]
    fast, quality = (refine_edges(big.contiguous(), big_coarse, mode=m) for m in ("fast", "quality"))
    assert torch.equal(fast[0], quality[0])
    assert not torch.equal(fast[1], quality[1])


def test_colours_come_from_the_plain_guided_alpha_not_the_output():
    """The colours are estimated with the one-round guided-filter alpha (radius radii[0]); extra
    sharpening rounds change the returned alpha but not the colours."""
    image, coarse, _ = _soft_edge_scene()
    a1, f1 = refine_edges(image, coarse, iterations=1, radii=(32.0,))
    a2, f2 = refine_edges(image, coarse, iterations=3, radii=(32.0,))
    assert not torch.equal(a1, a2)
    assert torch.equal(f1, f2)


def _peak_extra_bytes(fn) -> int:
    """Peak of the bytes allocated and not yet freed while ``fn`` runs (torch profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = getattr(getattr(prof.profiler, "kineto_results", None), "events", None)
    if events is None:
        pytest.skip("this torch profiler does not expose memory events")
    allocations = sorted((e.start_ns(), e.nbytes()) for e in events() if e.name() == "[memory]")
    current = peak = 0
    for _, nbytes in allocations:
        current += nbytes
        peak = max(peak, current)
    return peak


def _ellipse_scene(h, w):
    yy = torch.linspace(-1, 1, h).view(h, 1)
    xx = torch.linspace(-1, 1, w).view(1, w)
    coarse = ((0.6 - (yy**2 + (xx * 1.6) ** 2).sqrt()) * 40).clamp(0, 1)[None]
    image = (coarse[..., None] * torch.tensor([0.8, 0.5, 0.2]) + 0.1).contiguous()
    return image, coarse, confidence_trimap(coarse)


@pytest.mark.parametrize("mode, planes", [("fast", 8.5), ("quality", 9.5)])
def test_4k_peak_memory_in_full_size_planes(mode, planes):
    """refine_edges on a 3840x2160 frame allocates at most ~`planes` float32 planes of H·W at once
    (outputs included: alpha 1 + colours 3); measured 6.9 (fast) and 8.2 (quality)."""
    h, w = 2160, 3840
    image, coarse, trimap = _ellipse_scene(h, w)
    peak = _peak_extra_bytes(lambda: refine_edges(image, coarse, trimap=trimap, mode=mode))
    assert peak / (h * w * 4) < planes


@pytest.mark.parametrize("mode", ["fast", "quality"])
def test_3mp_peak_memory_in_full_size_planes(mode):
    """At 2048x1536 the guided-filter fit (1024 px, 13 window statistics) and quality's colour
    pyramid (up to full size) are large next to the image; peak measured 10.7 (fast) and 11.0
    (quality) planes of H·W float32, outputs included (23.3 / 26.9 with stacked statistics and
    whole-level sweeps)."""
    h, w = 2048, 1536
    image, coarse, trimap = _ellipse_scene(h, w)
    peak = _peak_extra_bytes(lambda: refine_edges(image, coarse, trimap=trimap, mode=mode))
    assert peak / (h * w * 4) < 12


def _lift_whole_image(alpha, unknown):
    """The strand lift written over the whole image at once (the specification of the strip loop)."""
    from ben2_model.matting import refine

    def local_mean(x):
        return F.avg_pool2d(x, refine.STRAND_WINDOW, stride=1, padding=refine.STRAND_WINDOW // 2,
                            count_include_pad=False)

    texture = (local_mean(alpha * alpha) - local_mean(alpha) ** 2).clamp(min=0).sqrt()
    exponent = 1 - (1 - refine.STRAND_EXPONENT) * (texture / refine.STRAND_STD).clamp(max=1)
    return torch.where(unknown, alpha**exponent, alpha)


def test_strand_lift_in_strips_equals_the_whole_image_formula():
    from ben2_model.matting.refine import _lift_strands_

    g = torch.Generator().manual_seed(3)
    h, w = 150, 8192  # about 64 rows per strip: several strips and a short last one
    alpha = torch.rand(1, 1, h, w, generator=g) ** 2
    unknown = torch.rand(1, 1, h, w, generator=g) > 0.3
    expected = _lift_whole_image(alpha, unknown)
    got = _lift_strands_(alpha.clone(), unknown)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_strand_lift_raises_textured_alpha_and_keeps_smooth_edges():
    """Hair-like texture (alternating strands and gaps) is raised to a ** STRAND_EXPONENT; a gentle
    ramp (a veil, 0.014 per px) barely moves; pixels outside the band never change."""
    from ben2_model.matting.refine import STRAND_EXPONENT, _lift_strands_

    h, w = 32, 64
    cols = torch.arange(w)
    strands = torch.where(cols % 2 == 0, 0.6, 0.1).expand(1, 1, h, w).clone()
    ramp = torch.linspace(0.05, 0.95, w).expand(1, 1, h, w).clone()
    band = torch.zeros(1, 1, h, w, dtype=torch.bool)
    band[..., 4:-4, 4:-4] = True
    lifted = _lift_strands_(strands.clone(), band)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    torch.testing.assert_close(lifted[inner], strands[inner] ** STRAND_EXPONENT)
    assert torch.equal(lifted[~band], strands[~band])
    smooth = _lift_strands_(ramp.clone(), band)
    assert (smooth - ramp).abs().max() < 0.02
    assert (smooth >= ramp).all()


def test_colours_use_the_lifted_alpha():
    """On a strand texture the lift changes the colours, never the returned alpha."""
    from ben2_model.matting import refine

    h, w = 64, 96
    cols = torch.arange(w, dtype=torch.float32)
    truth = torch.where(cols.long() % 3 == 0, 0.9, 0.0).expand(h, w)
    fg, bg = torch.tensor([0.9, 0.7, 0.2]), torch.tensor([0.1, 0.3, 0.8])
    image = (truth[..., None] * fg + (1 - truth[..., None]) * bg)[None].contiguous()
    coarse = torch.full((1, h, w), 0.3)
    a_lift, f_lift = refine_edges(image, coarse)
    saved = refine.STRAND_EXPONENT
    try:
        refine.STRAND_EXPONENT = 1.0
        a_plain, f_plain = refine_edges(image, coarse)
    finally:
        refine.STRAND_EXPONENT = saved
    assert torch.equal(a_lift, a_plain)
    assert not torch.equal(f_lift, f_plain)
