"""End to end in a real ComfyUI: install the pack, start the server, queue workflows, check outputs.

Runs only when ``COMFYUI_DIR`` points at a ComfyUI checkout; the Python that runs it comes from
``COMFY_PYTHON``, ``COMFY_VENV`` (``$COMFY_VENV/bin/python``), ``$COMFYUI_DIR/.venv`` / ``venv``,
or a sibling ``venv-<version>`` of a ``v<version>`` checkout. Without them the test skips (CI).

What it does: links the repository into ``custom_nodes/`` (unless it is there already), writes a
seeded tiny BEN2 checkpoint into temporary model folders given to ComfyUI by an
``extra_model_paths.yaml`` (nothing is written into the checkout), starts the server on
127.0.0.1 with ``--cpu`` and temporary input/output/temp/user folders, checks ``/object_info``,
queues LoadImage -> Load BEN2 -> Segment -> Trimap -> Refine -> Composite -> SaveImage (plus core
Remove Background fed by Load BEN2 when the ComfyUI has it), checks the saved PNGs, checks that a
bad input fails the node with our message while the server keeps running, checks Cancel, unload
models, the offline download entry, the templates browser, runs the shipped cut-out and video
workflows (and validates the generated-background one), runs the full-size network once against
the reference's golden cut-out (marked slow), and stops the server by its PID.

    COMFYUI_DIR=/work/comfy/v0.25 python -m pytest -q tests/test_comfyui_e2e.py
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
from PIL import Image

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE_IMAGE = os.path.join(REPO_DIR, "tests", "fixtures", "chelsea.png")
NODE_IDS = ["BEN2ModelLoader", "BEN2SegmentForeground", "BEN2ConfidenceTrimap", "BEN2RefineEdges", "BEN2CompositeBackground"]
TINY_NAME = "ben2_e2e_tiny.safetensors"
CORE_FOLDER_NAME = "ben2_e2e_in_core_folder.safetensors"
START_TIMEOUT_S = 240
RUN_TIMEOUT_S = 300


def _comfy_python(comfy_dir: str) -> str | None:
    candidates = [os.environ.get("COMFY_PYTHON")]
    if os.environ.get("COMFY_VENV"):
        candidates.append(os.path.join(os.environ["COMFY_VENV"], "bin", "python"))
    candidates += [os.path.join(comfy_dir, name, "bin", "python") for name in (".venv", "venv")]
    base = os.path.basename(os.path.normpath(comfy_dir))
    if base.startswith("v"):
        candidates.append(os.path.join(os.path.dirname(os.path.normpath(comfy_dir)), f"venv-{base[1:]}", "bin", "python"))
    return next((c for c in candidates if c and os.path.isfile(c)), None)


COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
if not COMFYUI_DIR or not os.path.isfile(os.path.join(COMFYUI_DIR, "main.py")):
    pytest.skip("set COMFYUI_DIR to a ComfyUI checkout to run the end-to-end test", allow_module_level=True)
COMFY_PYTHON = _comfy_python(COMFYUI_DIR)
if COMFY_PYTHON is None:
    pytest.skip(f"no Python for {COMFYUI_DIR}: set COMFY_PYTHON or COMFY_VENV", allow_module_level=True)


# --- helpers ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running ComfyUI: JSON over HTTP plus its log."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: str):
        self.process, self.port, self.log_path = process, port, log_path

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, payload: dict):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
                return json.loads(body) if body.strip() else {}
        except urllib.error.HTTPError as error:
            raise AssertionError(f"POST {path} -> {error.code}: {error.read().decode(errors='replace')}") from error

    def run(self, prompt: dict, timeout_s: float = RUN_TIMEOUT_S) -> dict:
        """Queue an API-format prompt and wait for its history entry."""
        prompt_id = self.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"ComfyUI exited:\n{self.log()[-4000:]}"
            history = self.get(f"/history/{prompt_id}")
            entry = history.get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None and (
                entry["status"]["completed"] or entry["status"].get("status_str") == "error"
            ):
                return entry
            time.sleep(0.5)
        raise AssertionError(f"prompt {prompt_id} did not finish in {timeout_s}s:\n{self.log()[-4000:]}")


def _write_tiny_checkpoint(path: str) -> None:
    """The seeded tiny BEN2, written with the test environment's torch (the e2e venv reads it)."""
    from safetensors.torch import save_file

    from ben2_model.weights.seeded import TINY_CONFIG, seeded_model

    state = {k: v.contiguous() for k, v in seeded_model(**TINY_CONFIG).state_dict().items()}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file(state, path, metadata={"input_size": str(TINY_CONFIG["input_size"])})


def _install_pack() -> str | None:
    """Link the repository into custom_nodes/; returns the link to remove afterwards (None if it was there)."""
    custom_nodes = os.path.join(COMFYUI_DIR, "custom_nodes")
    for entry in os.listdir(custom_nodes):
        if os.path.realpath(os.path.join(custom_nodes, entry)) == os.path.realpath(REPO_DIR):
            return None
    link = os.path.join(custom_nodes, "ComfyUI-BEN2")
    if os.path.lexists(link):
        pytest.skip(f"{link} exists and is another copy of the pack; remove it to run this test")
    os.symlink(REPO_DIR, link)
    return link


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("comfy_e2e")


@pytest.fixture(scope="module")
def server(workdir):
    folders = {name: os.path.join(workdir, name) for name in ("input", "output", "temp", "user", "models")}
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
    _write_tiny_checkpoint(os.path.join(folders["models"], "ben2", TINY_NAME))
    os.makedirs(os.path.join(folders["models"], "background_removal"), exist_ok=True)
    shutil.copy(os.path.join(folders["models"], "ben2", TINY_NAME), os.path.join(folders["models"], "background_removal", CORE_FOLDER_NAME))
    shutil.copy(FIXTURE_IMAGE, os.path.join(folders["input"], "chelsea.png"))
    extra_paths = os.path.join(workdir, "extra_model_paths.yaml")
    with open(extra_paths, "w") as handle:
        handle.write(
            f"ben2_e2e:\n    base_path: {folders['models']}\n    ben2: ben2\n    background_removal: background_removal\n"
        )
    link = _install_pack()
    port = _free_port()
    log_path = os.path.join(workdir, "comfyui.log")
    command = [
        COMFY_PYTHON, os.path.join(COMFYUI_DIR, "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
        "--disable-auto-launch", "--disable-api-nodes",
        "--input-directory", folders["input"], "--output-directory", folders["output"],
        "--temp-directory", folders["temp"], "--user-directory", folders["user"],
        "--database-url", f"sqlite:///{os.path.join(workdir, 'comfy.db')}",
        "--extra-model-paths-config", extra_paths,
        *os.environ.get("COMFY_E2E_ARGS", "").split(),  # e.g. --fp16-intermediates
    ]
    with open(log_path, "w") as log:
        # no test may reach the network: the hub client fails at once instead of timing out
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        process = subprocess.Popen(
            command, cwd=COMFYUI_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    running = Server(process, port, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"ComfyUI exited while starting:\n{running.log()[-4000:]}"
            try:
                running.get("/system_stats")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"ComfyUI did not answer in {START_TIMEOUT_S}s:\n{running.log()[-4000:]}")
                time.sleep(1.0)
        running.folders = folders
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        if link is not None:
            os.unlink(link)


def _saved_png(server: Server, entry: dict, node: str) -> Image.Image:
    images = entry["outputs"][node]["images"]
    assert len(images) == 1, images
    info = images[0]
    path = os.path.join(server.folders["output"], info["subfolder"], info["filename"])
    assert os.path.isfile(path), path
    return Image.open(path)


# --- the tests ----------------------------------------------------------------------------------------


def test_pack_loads_and_registers_its_nodes(server):
    log = server.log()
    failed = [line for line in log.splitlines() if "IMPORT FAILED" in line]
    assert not failed, log[-4000:]
    assert "Error while calling comfy_entrypoint" not in log, log[-4000:]
    info = server.get("/object_info")
    for node_id in NODE_IDS:
        assert node_id in info, f"{node_id} missing from /object_info"
        assert info[node_id]["category"] == "image/background removal"
    loader = info["BEN2ModelLoader"]
    assert loader["output"] == ["BACKGROUND_REMOVAL"]
    options = loader["input"]["required"]["ckpt_name"]
    options = options[1]["options"] if options[0] == "COMBO" else options[0]
    assert TINY_NAME in options, options
    assert f"background_removal/{CORE_FOLDER_NAME}" in options, options
    assert options[-1].startswith("download")
    assert info["BEN2SegmentForeground"]["input"]["required"]["ben2_model"][0] == "BACKGROUND_REMOVAL"
    if any("search_aliases" in node for node in info.values()):  # newer ComfyUI: node search aliases
        assert "remove background" in info["BEN2SegmentForeground"]["search_aliases"]


def test_example_workflows_are_in_the_templates_browser(server):
    templates = server.get("/workflow_templates")
    pack = next((pack for pack in templates if "BEN2" in pack), None)
    assert pack is not None, templates
    shipped = {"ben2_cutout_transparent_png", "ben2_composite_on_generated_background", "ben2_video_frames_batch"}
    assert shipped <= set(templates[pack])
    for name in shipped:  # the browser shows <name>.jpg as the template's thumbnail
        url = f"http://127.0.0.1:{server.port}/api/workflow_templates/{pack}/{name}.jpg"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            assert Image.open(io.BytesIO(response.read())).size == (640, 400)


def _pipeline_prompt(with_core: bool) -> dict:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
        "2": {"class_type": "BEN2ModelLoader", "inputs": {"ckpt_name": TINY_NAME, "device": "auto", "precision": "auto"}},
        "3": {"class_type": "BEN2SegmentForeground",
              "inputs": {"ben2_model": ["2", 0], "image": ["1", 0], "batch_size": 1, "normalize": True, "decontaminate": True}},
        # narrow thresholds: the seeded network is unsure everywhere, the defaults would mark it all unknown
        "4": {"class_type": "BEN2ConfidenceTrimap",
              "inputs": {"mask": ["3", 0], "image": ["1", 0], "low": 0.45, "high": 0.55, "band": 0.0, "invert_mask": False}},
        "5": {"class_type": "BEN2RefineEdges",
              "inputs": {"image": ["1", 0], "mask": ["3", 0], "trimap": ["4", 0], "mode": "fast", "invert_mask": False}},
        "6": {"class_type": "BEN2CompositeBackground",
              "inputs": {"foreground": ["5", 1], "mask": ["5", 0], "color": "#00FF00", "fit": "cover", "invert_mask": False}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "ben2_e2e/composite"}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["5", 2], "filename_prefix": "ben2_e2e/rgba"}},
        "9": {"class_type": "MaskToImage", "inputs": {"mask": ["3", 0]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "ben2_e2e/mask"}},
        "11": {"class_type": "MaskToImage", "inputs": {"mask": ["4", 0]}},
        "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "ben2_e2e/trimap"}},
    }
    if with_core:
        prompt |= {
            "13": {"class_type": "RemoveBackground", "inputs": {"bg_removal_model": ["14", 0], "image": ["1", 0]}},
            "14": {"class_type": "BEN2ModelLoader",
                   "inputs": {"ckpt_name": f"background_removal/{CORE_FOLDER_NAME}", "device": "CPU", "precision": "fp32"}},
            "15": {"class_type": "MaskToImage", "inputs": {"mask": ["13", 0]}},
            "16": {"class_type": "SaveImage", "inputs": {"images": ["15", 0], "filename_prefix": "ben2_e2e/core_mask"}},
        }
    return prompt


def test_full_pipeline_writes_the_expected_images(server):
    with_core = "RemoveBackground" in server.get("/object_info")
    entry = server.run(_pipeline_prompt(with_core))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
    source = np.asarray(Image.open(FIXTURE_IMAGE).convert("RGB"))
    height, width = source.shape[:2]

    composite = _saved_png(server, entry, "7")
    assert composite.mode == "RGB" and composite.size == (width, height)
    rgba = _saved_png(server, entry, "8")
    assert rgba.mode == "RGBA" and rgba.size == (width, height)
    alpha = np.asarray(rgba)[..., 3].astype(np.int32)
    assert alpha.std() > 5, "a constant alpha"

    mask = np.asarray(_saved_png(server, entry, "10").convert("L")).astype(np.int32)
    assert mask.min() == 0 and mask.max() == 255  # normalize=True spans the full range
    trimap = np.asarray(_saved_png(server, entry, "12").convert("L")).astype(np.int32)
    assert set(np.unique(trimap).tolist()) <= {0, 127, 128, 255}, np.unique(trimap)
    # Refine Edges changes alpha only in the trimap's unknown band
    sure = (trimap == 0) | (trimap == 255)
    assert sure.any()
    assert np.abs(alpha[sure] - mask[sure]).max() <= 1

    # composite = foreground * alpha + green * (1 - alpha), pixel by pixel (8-bit files: a few levels)
    pixels = np.asarray(composite).astype(np.float64)
    a = alpha[..., None] / 255.0
    expected = np.asarray(rgba)[..., :3] * a + np.array([0.0, 255.0, 0.0]) * (1 - a)
    assert np.abs(pixels - expected).max() <= 3

    if with_core:
        core_mask = np.asarray(_saved_png(server, entry, "16").convert("L")).astype(np.int32)
        # core Remove Background on the BEN2 model = our Segment Foreground mask (same network, same path)
        assert np.abs(core_mask - mask).max() <= 1


def test_bad_input_fails_the_node_and_the_server_keeps_running(server):
    # LoadImage's MASK of a file without alpha is 64x64: the wrong size for the 451x300 image.
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
        "2": {"class_type": "BEN2RefineEdges",
              "inputs": {"image": ["1", 0], "mask": ["1", 1], "mode": "fast", "invert_mask": True}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 1], "filename_prefix": "ben2_e2e/never"}},
    }
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "error"
    messages = json.dumps(entry["status"]["messages"])
    assert "BEN2RefineEdges" in messages and "same size" in messages, messages[:3000]
    assert not glob.glob(os.path.join(server.folders["output"], "ben2_e2e", "never*"))
    assert server.process.poll() is None
    assert "BEN2ModelLoader" in server.get("/object_info")


def test_cancel_stops_segment_foreground_inside_its_batch(server):
    frames = 24
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": frames}},
        "3": {"class_type": "BEN2ModelLoader", "inputs": {"ckpt_name": TINY_NAME, "device": "auto", "precision": "auto"}},
        "4": {"class_type": "BEN2SegmentForeground",
              "inputs": {"ben2_model": ["3", 0], "image": ["2", 0], "batch_size": 1, "normalize": False, "decontaminate": False}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 2], "filename_prefix": "ben2_e2e/cancelled"}},
    }
    prompt_id = server.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not server.get("/queue")["queue_running"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(3.0)  # the loader and the first frames run
    cancelled_at = time.monotonic()
    server.post("/interrupt", {})
    while prompt_id not in server.get("/history"):
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.2)
    stopped_after = time.monotonic() - cancelled_at
    status = server.get(f"/history/{prompt_id}")[prompt_id]["status"]
    interrupted = [m[1] for m in status["messages"] if m[0] == "execution_interrupted"]
    assert interrupted, status
    # ComfyUI itself only checks for Cancel between nodes: being stopped inside Segment Foreground
    # (not at the Save Image after it) means the node's per-chunk check did it.
    assert interrupted[0]["node_type"] == "BEN2SegmentForeground", interrupted
    assert not glob.glob(os.path.join(server.folders["output"], "ben2_e2e", "cancelled*"))
    print(f"cancel: stopped {stopped_after:.2f}s after /interrupt")


def test_unload_models_then_run_again(server):
    """The UI's unload-models / free-memory action releases BEN2 through model management."""
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
        "2": {"class_type": "BEN2ModelLoader", "inputs": {"ckpt_name": TINY_NAME, "device": "auto", "precision": "auto"}},
        "3": {"class_type": "BEN2SegmentForeground",
              "inputs": {"ben2_model": ["2", 0], "image": ["1", 0], "batch_size": 1, "normalize": True, "decontaminate": False}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 2], "filename_prefix": "ben2_e2e/after_free"}},
    }
    first = server.run(prompt)
    assert first["status"]["status_str"] == "success"
    server.post("/free", {"unload_models": True, "free_memory": True})
    # ComfyUI's worker acts on /free after the next prompt it runs: give it a cheap one first.
    flush = server.run({
        "1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": f"ben2_e2e/flush_{uuid.uuid4().hex}"}},
    })
    assert flush["status"]["status_str"] == "success"
    log_before = len(server.log())
    prompt["4"]["inputs"]["filename_prefix"] = "ben2_e2e/after_free_again"  # a new output, so it runs again
    prompt["3"]["inputs"]["batch_size"] = 2
    second = server.run(prompt)
    assert second["status"]["status_str"] == "success", json.dumps(second["status"])[:3000]
    # the model was unloaded, so model management loads it again for the second run
    assert "Requested to load ManagedNetwork" in server.log()[log_before:], server.log()[log_before:][-3000:]
    a = np.asarray(_saved_png(server, first, "4"))
    b = np.asarray(_saved_png(server, second, "4"))
    assert np.array_equal(a, b)


def test_download_entry_offline_fails_the_loader_with_instructions(server):
    options = server.get("/object_info/BEN2ModelLoader")["BEN2ModelLoader"]["input"]["required"]["ckpt_name"]
    options = options[1]["options"] if options[0] == "COMBO" else options[0]
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
        "2": {"class_type": "BEN2ModelLoader", "inputs": {"ckpt_name": options[-1], "device": "auto", "precision": "auto"}},
        "3": {"class_type": "RemoveBackground" if "RemoveBackground" in server.get("/object_info") else "BEN2SegmentForeground",
              "inputs": {"image": ["1", 0]}},
        "4": {"class_type": "MaskToImage", "inputs": {"mask": ["3", 0]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "ben2_e2e/offline"}},
    }
    if prompt["3"]["class_type"] == "RemoveBackground":
        prompt["3"]["inputs"]["bg_removal_model"] = ["2", 0]
    else:
        prompt["3"]["inputs"] |= {"ben2_model": ["2", 0], "batch_size": 1, "normalize": True, "decontaminate": False}
    download_dir = os.path.join(COMFYUI_DIR, "models", "ben2")  # where the entry downloads to
    existed = os.path.exists(download_dir)
    try:
        entry = server.run(prompt)
    finally:
        if not existed and os.path.isdir(download_dir):
            shutil.rmtree(download_dir)  # the hub client's lock files; leave the checkout as it was
    assert entry["status"]["status_str"] == "error"
    errors = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert errors and errors[0]["node_type"] == "BEN2ModelLoader", entry["status"]
    message = errors[0]["exception_message"]
    assert "by hand" in message and "huggingface.co/PramaLLC/BEN2" in message and "refresh" in message, message
    assert download_dir in message
    assert server.process.poll() is None


def test_non_ben2_checkpoint_fails_the_loader_cleanly(server):
    from safetensors.numpy import save_file

    save_file({"model.diffusion_model.input_blocks.0.0.weight": np.zeros((4, 4), np.float32)},
              os.path.join(server.folders["models"], "ben2", "not_ben2.safetensors"))
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
        "2": {"class_type": "BEN2ModelLoader", "inputs": {"ckpt_name": "not_ben2.safetensors", "device": "auto", "precision": "auto"}},
        "3": {"class_type": "BEN2SegmentForeground",
              "inputs": {"ben2_model": ["2", 0], "image": ["1", 0], "batch_size": 1, "normalize": True, "decontaminate": False}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 2], "filename_prefix": "ben2_e2e/not_ben2"}},
    }
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "error"
    errors = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert errors and errors[0]["node_type"] == "BEN2ModelLoader", entry["status"]
    assert "not_ben2.safetensors" in errors[0]["exception_message"] and "BEN2" in errors[0]["exception_message"]
    assert errors[0]["exception_type"].endswith("CheckpointError")
    assert server.process.poll() is None


# Inputs ComfyUI's front end keeps in widgets_values: one value each, plus one more after a seed-like
# INT with control_after_generate, and the upload button of LoadImage at the end.
_WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "COLOR"}  # COLOR: the colour picker (0.25)


def _to_api_prompt(workflow: dict, object_info: dict, leftovers: dict | None = None) -> dict:
    """Convert a saved UI workflow into an API prompt the way the front end does (enough for ours).

    ``leftovers`` (if given) receives, per node id, the widget values no input consumed."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        info = object_info[node["type"]]
        linked = {i["name"]: links[i["link"]] for i in node["inputs"] if i.get("link") is not None}
        inputs = {name: [str(link[1]), link[2]] for name, link in linked.items()}
        values = list(node.get("widgets_values", []))
        for section in ("required", "optional"):
            for name, spec in info["input"].get(section, {}).items():
                kind = spec[0] if isinstance(spec[0], str) else "COMBO"
                if kind not in _WIDGET_TYPES or (len(spec) > 1 and spec[1].get("forceInput")) or not values:
                    continue
                value = values.pop(0)
                if name not in linked:
                    inputs[name] = value
                if len(spec) > 1 and spec[1].get("control_after_generate"):
                    values.pop(0)
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
        if leftovers is not None and values:
            leftovers[str(node["id"])] = values
    return prompt


def test_shipped_cutout_workflow_runs(server):
    with open(os.path.join(REPO_DIR, "example_workflows", "ben2_cutout_transparent_png.json")) as handle:
        workflow = json.load(handle)
    leftovers: dict = {}
    prompt = _to_api_prompt(workflow, server.get("/object_info"), leftovers)
    assert {prompt[n]["class_type"]: v for n, v in leftovers.items()} == {"LoadImage": ["image"]}
    for node in prompt.values():
        if node["class_type"] == "LoadImage":
            node["inputs"]["image"] = "chelsea.png"
        if node["class_type"] == "BEN2ModelLoader":
            assert node["inputs"]["ckpt_name"].startswith("download")  # ships with the download entry
            node["inputs"]["ckpt_name"] = TINY_NAME  # no network here
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
    saved = [node for node, output in entry["outputs"].items() if output.get("images") and output["images"][0]["type"] == "output"]
    assert len(saved) == 2
    for node in saved:
        image = _saved_png(server, entry, node)
        assert image.mode == "RGBA" and image.size == Image.open(FIXTURE_IMAGE).size


def _write_clip(path: str, frames: int = 6) -> None:
    """A short MPEG-4 clip cut from the fixture photo (a panning crop), written with PyAV."""
    av = pytest.importorskip("av")
    photo = np.asarray(Image.open(FIXTURE_IMAGE).convert("RGB"))
    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 256, 192, "yuv420p"
        for index in range(frames):
            crop = np.ascontiguousarray(photo[40:232, 20 + 8 * index : 276 + 8 * index])
            for packet in stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_shipped_video_frames_workflow_runs(server):
    _write_clip(os.path.join(server.folders["input"], "ben2_e2e_clip.mp4"))
    with open(os.path.join(REPO_DIR, "example_workflows", "ben2_video_frames_batch.json")) as handle:
        workflow = json.load(handle)
    leftovers: dict = {}
    prompt = _to_api_prompt(workflow, server.get("/object_info"), leftovers)
    assert {prompt[n]["class_type"]: v for n, v in leftovers.items()} == {"LoadVideo": ["image"]}
    for node in prompt.values():
        if node["class_type"] == "LoadVideo":
            node["inputs"]["file"] = "ben2_e2e_clip.mp4"
        if node["class_type"] == "BEN2ModelLoader":
            node["inputs"]["ckpt_name"] = TINY_NAME
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
    frames = [
        info
        for output in entry["outputs"].values()
        for info in output.get("images", [])
        if info["type"] == "output" and info["filename"].endswith(".png")
    ]
    assert len(frames) == 6  # one RGBA PNG per frame
    first = Image.open(os.path.join(server.folders["output"], frames[0]["subfolder"], frames[0]["filename"]))
    assert first.mode == "RGBA" and first.size == (256, 192)
    videos = glob.glob(os.path.join(server.folders["output"], "ben2", "greenscreen*"))
    assert len(videos) == 1 and os.path.getsize(videos[0]) > 1000, videos


def test_composite_workflow_validates_except_for_its_sd_checkpoint(server):
    """The generated-background workflow needs an SD checkpoint this machine lacks: ComfyUI's own
    prompt validation must find nothing else wrong (node types, input names, widget values)."""
    with open(os.path.join(REPO_DIR, "example_workflows", "ben2_composite_on_generated_background.json")) as handle:
        workflow = json.load(handle)
    info = server.get("/object_info")
    leftovers: dict = {}
    prompt = _to_api_prompt(workflow, info, leftovers)
    assert all(info[node["class_type"]] for node in prompt.values())
    # only the upload button of Load Image is left over: every other widget value found its input
    assert {prompt[n]["class_type"]: v for n, v in leftovers.items()} == {"LoadImage": ["image"]}
    for node in prompt.values():
        if node["class_type"] == "LoadImage":
            node["inputs"]["image"] = "chelsea.png"
        if node["class_type"] == "BEN2ModelLoader":
            node["inputs"]["ckpt_name"] = TINY_NAME
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/prompt",
        data=json.dumps({"prompt": prompt}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    errors = json.loads(caught.value.read())["node_errors"]
    assert {prompt[n]["class_type"] for n in errors} == {"CheckpointLoaderSimple"}, errors
    reasons = [e for n in errors.values() for e in n["errors"]]
    assert all(e["extra_info"]["input_name"] == "ckpt_name" for e in reasons), reasons


@pytest.mark.slow
def test_full_size_network_reproduces_the_reference_cutout(server):
    """The published architecture with the reference fixtures' seeded weights, through ComfyUI:
    Load Image -> Load BEN2 -> Segment Foreground -> Save Image gives the official BEN2 code's
    RGBA (golden_inference_chelsea.png: untouched RGB, alpha = truncated min-max mask)."""
    from safetensors.torch import save_file

    from ben2_model.weights.seeded import seeded_model

    name = "ben2_e2e_full_seeded.safetensors"
    path = os.path.join(server.folders["models"], "ben2", name)
    if not os.path.isfile(path):
        state = {k: v.contiguous() for k, v in seeded_model().state_dict().items()}
        save_file(state, path)
        del state
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
        "2": {"class_type": "BEN2ModelLoader", "inputs": {"ckpt_name": name, "device": "CPU", "precision": "fp32"}},
        "3": {"class_type": "BEN2SegmentForeground",
              "inputs": {"ben2_model": ["2", 0], "image": ["1", 0], "batch_size": 1, "normalize": True, "decontaminate": False}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 2], "filename_prefix": "ben2_e2e/full"}},
    }
    started = time.monotonic()
    entry = server.run(prompt, timeout_s=1200)
    print(f"full-size BEN2 through ComfyUI: {time.monotonic() - started:.1f}s")
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
    ours = np.asarray(_saved_png(server, entry, "4")).astype(np.int32)
    golden = np.asarray(Image.open(os.path.join(REPO_DIR, "tests", "fixtures", "golden_inference_chelsea.png"))).astype(np.int32)
    assert ours.shape == golden.shape == (300, 451, 4)
    assert np.array_equal(ours[..., :3], golden[..., :3])
    alpha_diff = np.abs(ours[..., 3] - golden[..., 3])
    print(f"alpha vs reference: max {alpha_diff.max()} levels, {np.mean(alpha_diff > 0):.4%} of pixels differ")
    assert alpha_diff.max() <= 1 and np.mean(alpha_diff > 0) < 0.05
