"""Load BEN2 (``BEN2ModelLoader``): a checkpoint from ``models/ben2`` -> a ``BACKGROUND_REMOVAL`` model."""

from __future__ import annotations

import json
import logging
import os
import struct
import warnings

import torch

import comfy.model_management as model_management
import comfy.utils
import folder_paths
from comfy_api.latest import io

from ..ben2_model import CheckpointError, WeightsDownloadError, download_weights, load_model
from ..ben2_model.weights.detect import is_ben2_state_dict
from ..ben2_model.weights.dtypes import DTYPE_CHOICES, auto_dtype, slow_dtype_warning, to_torch_dtype
from ..ben2_model.weights.hub import HUB_FILENAME as HUB_FILE
from ..ben2_model.weights.hub import HUB_REPO
from . import host
from .model import BEN2BackgroundRemovalModel

MODEL_FOLDER = "ben2"
CORE_FOLDER = "background_removal"  # core's folder (ComfyUI >= 0.19); BEN2 files there are listed too
EXTENSIONS = {".safetensors", ".pth", ".onnx"}  # .onnx: run by onnxruntime (ben2 export)
DOWNLOAD_ENTRY = f"download {HUB_FILE} from {HUB_REPO}"
CORE_PREFIX = f"{CORE_FOLDER}/"

DEVICES = ["auto", "GPU", "CPU"]
PRECISIONS = list(DTYPE_CHOICES)


def register_model_folder() -> None:
    """Add ``models/ben2`` to ComfyUI's model folders (``extra_model_paths.yaml`` entries named
    ``ben2`` keep working: they were added before us and stay first)."""
    default_dir = os.path.join(folder_paths.models_dir, MODEL_FOLDER)
    paths, extensions = folder_paths.folder_names_and_paths.get(MODEL_FOLDER, ([], set()))
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, set(extensions) | EXTENSIONS)
    folder_paths.add_model_folder_path(MODEL_FOLDER, default_dir)


def download_dir() -> str:
    """Where the download entry saves ``model.safetensors``: ``models/ben2``."""
    return os.path.join(folder_paths.models_dir, MODEL_FOLDER)


def checkpoint_options() -> list[str]:
    """The loader's list: files of ``models/ben2``, BEN2 files of core's folder, the download entry."""
    names = sorted(folder_paths.get_filename_list(MODEL_FOLDER))
    if CORE_FOLDER in folder_paths.folder_names_and_paths:
        for name in sorted(folder_paths.get_filename_list(CORE_FOLDER)):
            path = folder_paths.get_full_path(CORE_FOLDER, name)
            if path is not None and looks_like_ben2(path):
                names.append(CORE_PREFIX + name)
    return names + [DOWNLOAD_ENTRY]


def looks_like_ben2(path: str) -> bool:
    """Whether a checkpoint in core's folder is BEN2, from the safetensors header's keys (no
    weights read; ``is_ben2_state_dict`` decides, so core's BiRefNet files are left out).

    ``.pth`` files cannot be peeked at without unpickling them, so only ``.safetensors`` are listed.
    """
    if not path.endswith(".safetensors"):
        return False
    try:
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > 64 * 1024 * 1024:
                return False
            header = json.loads(handle.read(header_size))
    except (OSError, ValueError, struct.error):
        return False
    return isinstance(header, dict) and is_ben2_state_dict(key for key in header if key != "__metadata__")


def resolve_checkpoint(ckpt_name: str) -> str:
    """The file behind a list entry; the download entry fetches it first (with a progress bar)."""
    if ckpt_name == DOWNLOAD_ENTRY:
        return _download()
    if ckpt_name.startswith(CORE_PREFIX) and folder_paths.get_full_path(MODEL_FOLDER, ckpt_name) is None:
        path = folder_paths.get_full_path(CORE_FOLDER, ckpt_name[len(CORE_PREFIX):])
    else:
        path = folder_paths.get_full_path(MODEL_FOLDER, ckpt_name)
    if path is None:
        raise FileNotFoundError(
            f"Load BEN2: '{ckpt_name}' is not in {folder_paths.get_folder_paths(MODEL_FOLDER)}. "
            "Press 'r' to refresh the list, or pick the download entry."
        )
    return path


def _download() -> str:
    destination = download_dir()
    existing = os.path.join(destination, HUB_FILE)
    if os.path.isfile(existing):  # fetched before: no network needed (and none asked for)
        return existing
    bar = comfy.utils.ProgressBar(1)

    def progress(done: int, total: int | None) -> None:
        if total:
            bar.update_absolute(done, total)
        host.throw_if_cancelled()

    try:
        return os.fspath(download_weights(destination, progress=progress))
    except WeightsDownloadError as error:
        where = "" if destination in str(error) else f" Put it in {destination}."
        raise WeightsDownloadError(
            f"Load BEN2: {error}.{where} Then press 'r' in ComfyUI to refresh the list and pick {HUB_FILE}."
        ) from error


def choose_devices(device: str) -> tuple[torch.device, torch.device]:
    """``(load_device, offload_device)`` for the loader's device option."""
    if device == "CPU":
        cpu = torch.device("cpu")
        return cpu, cpu
    load_device = model_management.get_torch_device()
    if device == "GPU" and load_device.type == "cpu":
        raise ValueError(
            "Load BEN2: device is GPU but ComfyUI has no GPU (it runs with --cpu or found none). "
            "Choose device 'auto' or 'CPU'."
        )
    return load_device, model_management.unet_offload_device()


def choose_dtype(precision: str, load_device: torch.device) -> torch.dtype:
    """The weights' dtype: ``auto`` = fp16 on GPUs that run it well (as the official code does on
    CUDA), else bf16 where supported, else fp32 (always fp32 on the CPU: exact and not slower),
    as ComfyUI's model management judges the device."""
    if precision == "auto":
        return auto_dtype(
            load_device, fp16_ok=model_management.should_use_fp16, bf16_ok=model_management.should_use_bf16
        )
    if precision == "fp16" and load_device.type == "cpu":
        raise ValueError("Load BEN2: fp16 on the CPU is extremely slow; choose fp32 (or auto) for the CPU.")
    dtype = to_torch_dtype(precision)
    slow = slow_dtype_warning(dtype, load_device)
    if slow:  # a warning, not an error: the same workflow runs well on a CPU with native bf16
        logging.warning("Load BEN2: %s", slow)
    return dtype


class BEN2ModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="BEN2ModelLoader",
            **host.search_aliases("ben2", "background removal model", "rembg"),
            display_name="Load BEN2",
            category=host.CATEGORY,
            description=(
                "Loads a BEN2 (Background Erase Network) checkpoint as a background-removal model. "
                "Files come from models/ben2 (and BEN2 files in models/background_removal); the last "
                "entry downloads model.safetensors from PramaLLC/BEN2. The output also works with core "
                "'Remove Background'."
            ),
            inputs=[
                io.Combo.Input(
                    "ckpt_name",
                    options=checkpoint_options(),
                    tooltip=(
                        "BEN2 checkpoint (.safetensors or .pth) or ONNX graph (.onnx, needs onnxruntime) from models/ben2. "
                        f"'{DOWNLOAD_ENTRY}' fetches the official weights into models/ben2 once."
                    ),
                ),
                io.Combo.Input(
                    "device",
                    options=DEVICES,
                    default="auto",
                    tooltip="auto: ComfyUI's GPU (the CPU under --cpu), with its memory management. CPU: always on the CPU.",
                ),
                io.Combo.Input(
                    "precision",
                    options=PRECISIONS,
                    default="auto",
                    tooltip="Weight precision. auto: fp16 on GPUs that support it (like the reference), fp32 on the CPU. "
                    "fp32 is exact; fp16/bf16 are faster and change alpha by a few levels.",
                ),
                io.Boolean.Input(
                    "compile",
                    default=False,
                    optional=True,
                    tooltip="Run BEN2 under torch.compile. Pays off only for long video batches: the first "
                    "run (and each new batch size or device) compiles for minutes, later runs are faster. "
                    "If compiling fails BEN2 runs as usual after one warning in the console.",
                ),
            ],
            outputs=[host.BackgroundRemoval.Output("ben2_model", tooltip="The BEN2 model (BACKGROUND_REMOVAL)")],
        )

    @classmethod
    @host.names_the_node
    def execute(
        cls, ckpt_name: str, device: str = "auto", precision: str = "auto", compile: bool = False
    ) -> io.NodeOutput:
        load_device, offload_device = choose_devices(device)
        path = resolve_checkpoint(ckpt_name)
        try:
            if path.lower().endswith(".onnx"):
                # onnxruntime holds the graph on its provider's device for good (precision and
                # compilation were fixed at export): ComfyUI's offloading does not apply
                network = load_model(path, device=load_device)
            else:
                dtype = choose_dtype(precision, load_device)
                with warnings.catch_warnings():  # the weights are read on the CPU, not run there:
                    warnings.filterwarnings("ignore", message="bf16 on this CPU")  # choose_dtype judged
                    network = load_model(path, device=torch.device("cpu"), dtype=dtype, compile=bool(compile))
        except CheckpointError as error:
            raise CheckpointError(f"Load BEN2: '{ckpt_name}' is not a usable BEN2 checkpoint: {error}") from error
        return io.NodeOutput(BEN2BackgroundRemovalModel(network, load_device, offload_device, ckpt_name))
