"""Run a BEN2 ONNX graph with onnxruntime behind the PyTorch model's interface.

``load_onnx_model(path, device=...)`` (what ``load_model("x.onnx")`` calls) checks the graph's
signature before anything runs and returns an ``OnnxBEN2``: a ``torch.nn.Module`` without
parameters whose ``forward`` feeds the session, with the ``input_size``, ``device`` and ``dtype``
that ``ben2_model.pipeline`` reads, so ``predict_alpha`` and ``remove_background`` take it as is.

Graphs from ``export_onnx`` carry their input size in ``metadata_props``. A graph without our
metadata (the publisher's ``BEN2_Base.onnx``) is read with the reference's conventions (ImageNet
normalisation) and its own static input size, which must be square and a multiple of 128
(BEN2's constraint; the published graph is 1024). A graph whose batch dimension is fixed to 1 is
run one image at a time.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from . import FORMAT_KEY, INPUT_SIZE_KEY, MEAN_KEY, STD_KEY

INSTALL_HINT = "pip install onnxruntime (or onnxruntime-gpu for CUDA)"
EXPECTED_SIGNATURE = "input [N,3,S,S] float -> output [N,1,S,S] float, S square and a multiple of 128 (1024 for BEN2)"

# accelerators tried, in order, for device="auto"; the CPU is always the last resort
_AUTO_PROVIDERS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
_DEVICE_PROVIDERS = {
    "cuda": "CUDAExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "mps": "CoreMLExecutionProvider",
}
_ELEMENT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OnnxRuntimeMissingError(ImportError):
    """onnxruntime is not installed (it is an optional dependency: ``pip install onnxruntime``)."""


def import_onnxruntime():
    """The ``onnxruntime`` module, or ``OnnxRuntimeMissingError`` saying what to install."""
    try:
        import onnxruntime
    except ImportError as error:
        raise OnnxRuntimeMissingError(
            f"running BEN2 .onnx graphs needs onnxruntime, which is not installed: {INSTALL_HINT}"
        ) from error
    return onnxruntime


def choose_providers(device: Any, available: Sequence[str]) -> tuple[list[Any], torch.device]:
    """Execution providers for ``device`` among ``available``, and the torch device outputs go to.

    ``device``: ``None``/``"cpu"`` (CPU), ``"cuda"``/``"cuda:1"``/a ``torch.device``, ``"dml"``
    (DirectML), ``"coreml"``/``"mps"`` (CoreML) or ``"auto"`` (CUDA, DirectML, CoreML, whichever
    is present). A provider that is not available falls back to the CPU with one warning.
    Inputs and outputs cross through host memory, so outputs land on CUDA only when the session
    runs there and torch has CUDA too; otherwise on the CPU.
    """
    name = "cpu" if device is None else str(device)
    kind, _, index_text = name.partition(":")
    kind = kind.lower()
    index = int(index_text) if index_text.isdigit() else 0
    if kind == "cpu":
        return ["CPUExecutionProvider"], torch.device("cpu")
    if kind == "auto":
        wanted = [p for p in _AUTO_PROVIDERS if p in available]
    elif kind in _DEVICE_PROVIDERS:
        wanted = [_DEVICE_PROVIDERS[kind]]
        if wanted[0] not in available:
            warnings.warn(
                f"onnxruntime has no {wanted[0]} here (available: {', '.join(available)}); BEN2 runs "
                f"on the CPU. For CUDA install onnxruntime-gpu, for DirectML onnxruntime-directml.",
                stacklevel=3,
            )
            wanted = []
    else:
        raise ValueError(f"unknown device {name!r} for an ONNX model: use cpu, cuda, dml, coreml or auto")
    providers: list[Any] = []
    out_device = torch.device("cpu")
    for provider in wanted[:1]:
        if provider == "CUDAExecutionProvider":
            providers.append((provider, {"device_id": index}))
            if torch.cuda.is_available():
                out_device = torch.device("cuda", index)
        else:
            providers.append(provider)
    return providers + ["CPUExecutionProvider"], out_device


def load_onnx_model(
    path: str | os.PathLike, *, device: Any = None, threads: int | None = None
) -> "OnnxBEN2":
    """Open a BEN2 ``.onnx`` graph for ``predict_alpha``/``remove_background``.

    Args:
        path: the graph (weights inside it, or in the external data file it names).
        device: see ``choose_providers`` (default CPU).
        threads: onnxruntime intra-op threads (default: its own choice, one per core).

    Raises:
        CheckpointNotFoundError: no such file.
        CheckpointError: unreadable/truncated/not ONNX, or a graph whose signature is not BEN2's
            (checked before anything runs).
        OnnxRuntimeMissingError: onnxruntime is not installed.
    """
    from ..weights.checkpoint import CheckpointError, CheckpointNotFoundError

    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"BEN2 ONNX graph not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"BEN2 ONNX path is not a file: {path}")
    ort = import_onnxruntime()
    providers, out_device = choose_providers(device, ort.get_available_providers())
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the CPU provider's notes on unfoldable nodes are noise
    # The CPU arena keeps every activation size it has ever seen: on the full network it holds
    # about 2 GiB more at peak for under 5 % more speed (README, ONNX). GPU providers keep theirs.
    options.enable_cpu_mem_arena = False
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as error:  # onnxruntime raises its own types for every kind of damage
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} is not a readable ONNX graph ({first}); it may be truncated or another kind of "
            f"file: export it again with 'ben2 export' or download it again"
        ) from error
    return OnnxBEN2(session, path, out_device)


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def read_signature(session, path: Path) -> dict[str, Any]:
    """Input size, batch limit, element types and metadata of a session; ``CheckpointError`` unless
    it is ``[N,3,S,S] -> [N,1,S,S]`` (``N`` dynamic or 1)."""
    from ..weights.checkpoint import CheckpointError

    inputs, outputs = session.get_inputs(), session.get_outputs()
    metadata = dict(session.get_modelmeta().custom_metadata_map or {})

    def refuse(problem: str) -> CheckpointError:
        found = ", ".join(f"{i.name} {list(i.shape)} {i.type}" for i in inputs)
        made = ", ".join(f"{o.name} {list(o.shape)} {o.type}" for o in outputs)
        return CheckpointError(
            f"{path} is not a BEN2 graph: {problem}. Expected {EXPECTED_SIGNATURE}; it has inputs "
            f"({found or 'none'}) and outputs ({made or 'none'})"
        )

    if len(inputs) != 1 or len(outputs) != 1:
        raise refuse("it must have exactly one input and one output")
    x, y = inputs[0], outputs[0]
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise refuse("input and output must be 4-D")
    if x.type not in _ELEMENT_TYPES or y.type not in _ELEMENT_TYPES:
        raise refuse("input and output must be float or float16")
    if x.shape[1] != 3 or y.shape[1] != 1:
        raise refuse("the input needs 3 channels and the output 1")
    if FORMAT_KEY in metadata:
        try:
            size = int(metadata[INPUT_SIZE_KEY])
        except (KeyError, ValueError):
            raise refuse(f"its metadata {INPUT_SIZE_KEY} is missing or not an integer") from None
    else:
        size = _static(x.shape[2])
        if size is None:
            raise refuse("without BEN2 metadata its input side must be a fixed number")
    for tensor in (x, y):
        for dim in tensor.shape[2:]:
            if _static(dim) is not None and dim != size:
                raise refuse(f"its spatial sides must all be {size}")
    if size % 128:
        raise refuse(f"its side {size} is not a multiple of 128")
    batches = [_static(t.shape[0]) for t in (x, y)]
    if any(b not in (None, 1) for b in batches) or batches[0] != batches[1]:
        raise refuse("its batch dimension must be dynamic or 1 in both input and output")
    return dict(
        size=size,
        single=batches[0] == 1,
        input_name=x.name,
        input_type=_ELEMENT_TYPES[x.type],
        metadata=metadata,
        ours=FORMAT_KEY in metadata,
    )


class OnnxBEN2(torch.nn.Module):
    """A BEN2 ONNX graph with ``BEN2``'s calling convention (no parameters; eval mode always).

    ``forward`` takes ``[B,3,S,S]`` ImageNet-normalised float and returns ``[B,1,S,S]`` float32
    on ``device``. Attributes: ``input_size`` (S), ``device``, ``dtype`` (float32: what the
    pipeline feeds), ``providers`` (the session's), ``path``, ``metadata`` (the graph's
    ``metadata_props``), ``exported_by_us`` (False for foreign graphs such as the publisher's).
    """

    def __init__(self, session, path: Path, device: torch.device):
        super().__init__()
        signature = read_signature(session, path)
        self.session = session
        self.path = path
        self.input_size = signature["size"]
        self.metadata = signature["metadata"]
        self.exported_by_us = signature["ours"]
        self.providers = list(session.get_providers())
        self._device = device
        self._input_name = signature["input_name"]
        self._input_type = signature["input_type"]
        self._single = signature["single"]
        self._check_normalisation()
        self.eval()

    def _check_normalisation(self) -> None:
        """Refuse a graph of ours that expects other input statistics than the pipeline feeds."""
        from ..network.model import IMAGENET_MEAN, IMAGENET_STD
        from ..weights.checkpoint import CheckpointError

        for key, expected in ((MEAN_KEY, IMAGENET_MEAN), (STD_KEY, IMAGENET_STD)):
            if key in self.metadata and not np.allclose(json.loads(self.metadata[key]), expected):
                raise CheckpointError(
                    f"{self.path}: metadata {key}={self.metadata[key]} differs from the ImageNet "
                    f"statistics {list(expected)} the BEN2 pipeline normalises with"
                )

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def __repr__(self) -> str:
        return f"OnnxBEN2({str(self.path)!r}, input_size={self.input_size}, providers={self.providers})"

    def train(self, mode: bool = True) -> "OnnxBEN2":
        return super().train(False)  # a graph has no training mode

    def _apply(self, fn, recurse=True):
        return self  # no tensors to move: .to()/.cuda()/.half() leave the session as it is

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B,3,S,S]`` ImageNet-normalised -> ``[B,1,S,S]`` float32 foreground probability."""
        s = self.input_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, s, s) or x.shape[0] == 0:
            raise ValueError(
                f"the BEN2 ONNX graph {self.path.name} expects [B,3,{s},{s}], got {list(x.shape)}; use "
                f"ben2_model.predict_alpha for images of any size"
            )
        batch = x.detach().to("cpu", torch.float32).numpy().astype(self._input_type, copy=False)
        chunks = [batch[i : i + 1] for i in range(len(batch))] if self._single else [batch]
        outputs = [self.session.run(None, {self._input_name: chunk})[0] for chunk in chunks]
        alpha = outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
        return torch.from_numpy(np.ascontiguousarray(alpha, dtype=np.float32)).to(self._device)
