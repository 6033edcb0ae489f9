"""load_model: file formats, configuration inference, validation errors, unsafe pickles."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import ben2_model
from ben2_model import CheckpointError, load_model
from ben2_model.weights.checkpoint import CheckpointNotFoundError, infer_config
from ben2_model.weights.seeded import TINY_CONFIG

X = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))


def _same_output(model, reference) -> bool:
    with torch.inference_mode():
        return (model(X) - reference(X)).abs().max().item() <= 1e-6


def test_safetensors_file_loads_with_inferred_configuration(tiny_checkpoint, tiny_model):
    model = load_model(tiny_checkpoint)
    assert isinstance(model, ben2_model.BEN2)
    assert model.config == {**TINY_CONFIG, "depths": (2, 2, 2, 2), "num_heads": (1, 2, 2, 4)}
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert _same_output(model, tiny_model)


def test_official_pth_wrapper_and_plain_pth_load(tmp_path, tiny_model):
    wrapped = tmp_path / "BEN2_Base.pth"
    torch.save({"model_state_dict": tiny_model.state_dict(), "input_size": 512}, wrapped)
    plain = tmp_path / "plain.pt"
    torch.save(tiny_model.state_dict(), plain)
    assert _same_output(load_model(wrapped), tiny_model)
    model = load_model(plain)
    assert model.input_size == 1024  # no metadata: the published resolution
    assert model.config["embed_dim"] == TINY_CONFIG["embed_dim"]


def test_state_dict_and_wrapper_prefix(tiny_model):
    prefixed = {f"module.{k}": v for k, v in tiny_model.state_dict().items()}
    assert load_model(prefixed).config["decoder_dim"] == TINY_CONFIG["decoder_dim"]


def test_published_configuration_is_inferred_from_shapes():
    with torch.device("meta"):
        state = ben2_model.BEN2().state_dict()
    assert infer_config(state) == dict(
        embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), window_size=12, decoder_dim=128
    )


@pytest.mark.parametrize("dtype,expected", [("fp16", torch.float16), ("bf16", torch.bfloat16), (None, torch.float32)])
def test_dtype_argument(tiny_checkpoint, dtype, expected):
    model = load_model(tiny_checkpoint, dtype=dtype)
    assert model.dtype == expected
    # index buffers stay integers whatever the dtype
    assert model.backbone.layers[0].blocks[0].attn.relative_position_index.dtype == torch.int64


def test_unknown_dtype_is_refused(tiny_checkpoint):
    with pytest.raises(ValueError, match="fp32, fp16 or bf16"):
        load_model(tiny_checkpoint, dtype="int8")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="not found: .*nope.safetensors"):
        load_model(tmp_path / "nope.safetensors")


def test_unknown_extension(tmp_path):
    path = tmp_path / "weights.tflite"
    path.write_bytes(b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"unknown checkpoint extension '.tflite'.*weights.tflite"):
        load_model(path)


def test_truncated_safetensors(tmp_path, tiny_checkpoint):
    data = Path(tiny_checkpoint).read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.safetensors.*(truncated|corrupt)"):
        load_model(path)


def test_corrupt_pth(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_model(path)


def test_other_model_is_named_as_such(tmp_path):
    path = tmp_path / "birefnet.safetensors"
    save_file({"bb.layers.0.weight": torch.zeros(4, 4), "decoder.conv.weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert "birefnet.safetensors is not a BEN2 checkpoint" in message
    assert "bb.layers.0.weight" in message and "PramaLLC/BEN2" in message


def test_missing_unexpected_and_misshaped_keys_are_listed(tiny_model):
    state = dict(tiny_model.state_dict())
    del state["dec_blk3.norm2.bias"]
    state["extra.head.weight"] = torch.zeros(3)
    state["conv2.0.weight"] = torch.zeros(16, 16, 5, 5)
    with pytest.raises(CheckpointError) as info:
        load_model(state)
    message = str(info.value)
    assert "1 missing keys: dec_blk3.norm2.bias" in message
    assert "1 unexpected keys: extra.head.weight" in message
    assert "conv2.0.weight [16, 16, 5, 5] (expected [16, 16, 3, 3])" in message


def test_nan_weights_are_refused(tiny_model):
    state = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    state["output.0.bias"][0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or infinite weights in output.0.bias"):
        load_model(state)


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_malicious_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"model_state_dict": _RunsCode(marker)}, handle)
    # the payload is real: plain unpickling runs it
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_RunsCode(probe)))
    assert probe.exists()
    with pytest.raises(CheckpointError, match="refused to load .*evil.pth"):
        load_model(path)
    assert not marker.exists()


def test_malicious_torch_save_is_refused(tmp_path):
    marker = tmp_path / "pwned2"
    path = tmp_path / "evil2.pt"
    torch.save({"model_state_dict": {"w": _RunsCode(marker)}}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(path)
    assert not marker.exists()


def test_non_state_dict_pickle(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_model(path)


def test_wrong_source_type():
    with pytest.raises(TypeError, match="file path or a state dict"):
        load_model(42)
