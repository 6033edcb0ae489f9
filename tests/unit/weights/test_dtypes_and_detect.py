"""One owner per fact: dtype names and the ``auto`` rule; BEN2 detection by key."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch

from ben2_model import load_model
from ben2_model.weights.detect import ANCHOR_KEYS, is_ben2_state_dict, missing_anchor_keys
from ben2_model.weights import dtypes
from ben2_model.weights.dtypes import DTYPE_CHOICES, auto_dtype, dtype_name, resolve_dtype, slow_dtype_warning, to_torch_dtype


@pytest.mark.parametrize(
    "spelling,name",
    [("fp32", "fp32"), ("float32", "fp32"), (torch.float32, "fp32"), ("HALF", "fp16"), (torch.float16, "fp16"),
     ("bfloat16", "bf16"), ("torch.bfloat16", "bf16"), ("auto", "auto")],
)
def test_dtype_names(spelling, name):
    assert dtype_name(spelling) == name
    if name != "auto":
        assert to_torch_dtype(spelling) == getattr(torch, {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}[name])


@pytest.mark.parametrize("bad", ["int8", "fp8", torch.int64, ""])
def test_unknown_dtypes_name_the_choices(bad):
    with pytest.raises(ValueError, match="fp32, fp16 or bf16"):
        resolve_dtype(bad)


def test_auto_rule_per_device():
    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda"), torch.device("mps")
    assert resolve_dtype(None, cuda) == torch.float32  # no dtype given: float32 everywhere
    assert resolve_dtype("auto", cpu) == auto_dtype(cpu) == torch.float32
    assert resolve_dtype("auto", cuda) == torch.float16 and auto_dtype(mps) == torch.float32
    # a host's judgement of the device (ComfyUI's model management) decides off the CPU
    no, yes = (lambda device: False), (lambda device: True)
    assert auto_dtype(cuda, fp16_ok=no, bf16_ok=yes) == torch.bfloat16
    assert auto_dtype(cuda, fp16_ok=no, bf16_ok=no) == torch.float32
    assert auto_dtype(mps, fp16_ok=yes, bf16_ok=no) == torch.float16
    assert auto_dtype(cpu, fp16_ok=yes, bf16_ok=yes) == torch.float32
    assert DTYPE_CHOICES == ("auto", "fp32", "fp16", "bf16")


def test_dtype_module_does_not_import_torch():
    code = "import sys, ben2_model.weights.dtypes; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_detection_by_key(tiny_model):
    state = tiny_model.state_dict()
    assert is_ben2_state_dict(state) and is_ben2_state_dict(list(state))
    assert is_ben2_state_dict({f"module.{k}": v for k, v in state.items()})  # training wrapper
    assert not is_ben2_state_dict({"bb.layers.0.blocks.0.attn.qkv.weight": 0})  # core's BiRefNet
    without = {k: v for k, v in state.items() if k != ANCHOR_KEYS[2]}
    assert missing_anchor_keys(without) == [ANCHOR_KEYS[2]] and not is_ben2_state_dict(without)


AVX2 = {"fpu", "sse2", "avx", "avx2", "fma"}  # an x86 CPU without bf16 arithmetic


def test_bf16_warning_only_where_the_cpu_emulates_it():
    warning = slow_dtype_warning(torch.bfloat16, "cpu", AVX2)
    assert "emulated" in warning and "choose fp32" in warning
    for native in ("avx512_bf16", "amx_bf16"):
        assert slow_dtype_warning(torch.bfloat16, "cpu", AVX2 | {native}) is None
    assert slow_dtype_warning(torch.float32, "cpu", AVX2) is None
    assert slow_dtype_warning(torch.bfloat16, "cuda", AVX2) is None  # a GPU decides for itself
    assert slow_dtype_warning(torch.bfloat16, "cpu", {"fp", "asimd", "bf16"}) is None  # not x86: no claim


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2\n\n")
    assert dtypes.cpu_flags(str(cpuinfo)) == {"fpu", "sse2", "avx2"}
    assert dtypes.cpu_flags(str(tmp_path / "absent")) is None


def test_load_model_warns_once_for_emulated_bf16(tiny_model, monkeypatch):
    state = tiny_model.state_dict()
    monkeypatch.setattr(dtypes, "cpu_flags", lambda: set(AVX2))
    with pytest.warns(UserWarning, match="bf16 on this CPU is emulated") as caught:
        load_model(state, dtype="bf16")
    assert len([w for w in caught if "emulated" in str(w.message)]) == 1
    monkeypatch.setattr(dtypes, "cpu_flags", lambda: AVX2 | {"avx512_bf16"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert next(load_model(state, dtype="bf16").parameters()).dtype == torch.bfloat16
