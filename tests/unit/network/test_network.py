"""The network itself: state-dict layout, batching, configuration, reduced precision."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

import ben2_model
from ben2_model import BEN2
from ben2_model.weights.seeded import TINY_CONFIG, seeded_state_dict

LAYOUT = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "state_dict_layout.json").read_text())


def test_published_layout_keys_shapes_dtypes_and_order():
    with torch.device("meta"):
        state = BEN2().state_dict()
    expected = [(e["key"], e["shape"], e["dtype"]) for e in LAYOUT["entries"]]
    found = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()]
    assert len(found) == LAYOUT["num_keys"] == 535
    assert found == expected


def test_seeded_weights_match_the_reference_checksums():
    model = BEN2()
    seeded = seeded_state_dict(model.state_dict())
    entries = {e["key"]: e for e in LAYOUT["entries"]}
    mismatched = []
    for key, tensor in seeded.items():
        raw = tensor.contiguous().numpy().astype(tensor.numpy().dtype.newbyteorder("<")).tobytes()
        if hashlib.sha256(raw).hexdigest() != entries[key]["sha256"]:
            mismatched.append(key)
    assert mismatched == []
    # the relative position index buffers we build are the reference's too (they are hashed above)
    model.load_state_dict(seeded, strict=True)


def test_no_argument_model_is_the_published_configuration():
    with torch.device("meta"):
        model = BEN2()
    assert model.config == dict(
        embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), window_size=12,
        decoder_dim=128, input_size=1024,
    )
    assert sum(p.numel() for p in model.parameters()) == LAYOUT["total_parameters"]


def test_batch_equals_single_images(tiny_model, monkeypatch):
    """Whole-batch passes (the reference path, other devices) and the CPU fast path's image-by-image
    schedule both give the single-image results."""
    from ben2_model.network import model as model_module

    torch.manual_seed(1)
    x = torch.randn(3, 3, 512, 512)
    with torch.inference_mode():
        singles = torch.cat([tiny_model(x[i : i + 1]) for i in range(3)])
        by_image = tiny_model(x)
        monkeypatch.setattr(model_module, "CPU_IMAGE_BY_IMAGE", False)
        batched = tiny_model(x)
    for out in (batched, by_image):
        assert out.shape == (3, 1, 512, 512)
        assert (out - singles).abs().max().item() <= 1e-5
    # the images really differ, so the comparison is meaningful
    assert (batched[0] - batched[1]).abs().max().item() > 1e-3


def test_cpu_fast_path_takes_a_batch_image_by_image(tiny_model):
    """On the CPU the fast path runs the backbone once per image (a batch costs more per image
    there); the reference path, which export and torch.compile trace, runs it once per batch."""
    calls = []
    hook = tiny_model.backbone.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    x = torch.randn(3, 3, 512, 512)
    try:
        with torch.inference_mode():
            tiny_model(x)
            fast_calls, calls[:] = list(calls), []
            tiny_model.kernels = "reference"
            tiny_model(x)
    finally:
        tiny_model.kernels = "fast"
        hook.remove()
    assert fast_calls == [5, 5, 5]  # five views of one image per call
    assert calls == [15]


def test_train_and_eval_compute_the_same(tiny_model):
    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        evaluated = tiny_model.eval()(x)
        trained = tiny_model.train()(x)
    tiny_model.eval()
    assert torch.equal(evaluated, trained)


def test_output_is_a_probability_map(tiny_model):
    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        y = tiny_model(x)
    assert y.dtype == torch.float32
    assert 0 <= y.min().item() and y.max().item() <= 1
    assert y.std().item() > 1e-3  # not a constant map


@pytest.mark.parametrize("shape", [(1, 3, 500, 500), (1, 4, 512, 512), (3, 512, 512), (1, 3, 512, 640)])
def test_forward_rejects_bad_shapes_with_a_clear_message(tiny_model, shape):
    with pytest.raises(ValueError, match=r"\[B,3,S,S\]"):
        tiny_model(torch.zeros(shape))


def test_constructor_checks_sizes():
    with pytest.raises(ValueError, match="input_size"):
        BEN2(**{**TINY_CONFIG, "input_size": 300})
    with pytest.raises(ValueError, match="decoder_dim"):
        BEN2(**{**TINY_CONFIG, "decoder_dim": 18})


def _blown_up_state(tiny_model):
    """Weights whose float32 residual stream exceeds the fp16 range (|x| ≈ 80000 after stage 1)."""
    state = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    for block in (0, 1):
        state[f"backbone.layers.0.blocks.{block}.mlp.fc2.bias"][3] = 40000.0
    return state


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_is_finite_and_close(tiny_model, dtype):
    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(4))
    low = ben2_model.load_model(tiny_model.state_dict(), dtype=dtype)
    assert low.dtype == dtype
    with torch.inference_mode():
        reference = tiny_model(x)
        y = low(x)
    assert y.dtype == torch.float32
    assert bool(torch.isfinite(y).all())
    assert (y - reference).abs().max().item() <= 0.06
    assert (y - reference).abs().mean().item() <= 0.01


def test_fp16_stays_finite_when_activations_exceed_the_fp16_range(tiny_model):
    state = _blown_up_state(tiny_model)
    full = ben2_model.load_model(state)
    seen = []
    hook = full.backbone.norm0.register_forward_hook(lambda m, i, o: seen.append(i[0].abs().max().item()))
    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        reference = full(x)
        hook.remove()
        half = ben2_model.load_model(state, dtype="fp16")(x)
    assert seen[0] > 65504  # the residual stream really leaves the fp16 range
    assert bool(torch.isfinite(half).all())
    assert (half - reference).abs().max().item() <= 0.06


def test_shifted_window_mask_matches_the_reference_construction():
    from ben2_model.network.backbone import shifted_window_mask

    mask = shifted_window_mask(24, 24, 12, 6)
    assert mask.shape == (4, 144, 144)
    assert set(mask.unique().tolist()) == {0.0, -100.0}
    assert mask[0].eq(0).all()  # the top-left window holds one region only
    # the bottom-right window mixes four regions: a token sees 36 of the 144 as its own
    assert (mask[3][0] == 0).sum().item() == 36


