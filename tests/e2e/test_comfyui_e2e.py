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


# --- live bad-input sweep -----------------------------------------------------------------------------
#
# Every case is queued through /prompt against our nodes and must end in one of three ways:
#   error:      an execution error of our node whose message starts with "<display name>: "
#   validation: ComfyUI's own prompt validation refuses a widget value (range or list) of that node
#   ok:         success, with every probed output in 0..1 and finite (see _range_probe)
# Bad tensors come from core nodes: a widget value of NaN passes ComfyUI's range check (NaN < min is
# false), so ImageBlend(blend_factor=NaN) gives a NaN image and SolidMask(value=NaN) a NaN mask;
# a value linked from a core Float primitive skips the range check, so SolidMask makes masks of 4,
# -3 or 9.2e18, and two ImageCompositeMasked of that huge mask overflow float32 to +inf.

DISPLAY_NAMES = {
    "BEN2ModelLoader": "Load BEN2",
    "BEN2SegmentForeground": "Segment Foreground (BEN2)",
    "BEN2ConfidenceTrimap": "Confidence Trimap (BEN2)",
    "BEN2RefineEdges": "Refine Edges (BEN2)",
    "BEN2CompositeBackground": "Composite Background (BEN2)",
    "BEN2SaveAlphaVideo": "Save Alpha Video (BEN2)",
}
HUGE = 9.2e18  # just under the core Float primitive's max (sys.maxsize): finite in float32, its square too
SWEEP_SIDE = 64


class Graph:
    """An API prompt built node by node: ``add`` returns the new node's id, ``out(id, slot)`` a link."""

    def __init__(self, case: str) -> None:
        self.case = case
        self.prompt: dict[str, dict] = {}
        self.probes: list[str] = []  # SaveImage nodes whose images must be all black

    def add(self, class_type: str, **inputs) -> str:
        node_id = str(len(self.prompt) + 1)
        self.prompt[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id

    # sources
    def photo(self, name: str = "chelsea.png") -> list:
        return [self.add("LoadImage", image=name), 0]

    def float_(self, value: float) -> list:  # linked: no range check on the consumer's widget
        return [self.add("PrimitiveFloat", value=value), 0]

    def solid_mask(self, value, side: int = SWEEP_SIDE, height: int | None = None) -> list:
        return [self.add("SolidMask", value=value, width=side, height=height or side), 0]

    def image_of(self, value, side: int = SWEEP_SIDE) -> list:
        """An RGB image whose every value is ``value`` (a number or a link)."""
        return [self.add("MaskToImage", mask=self.solid_mask(value, side)), 0]

    def nan_image(self, side: int = SWEEP_SIDE) -> list:
        grey = [self.add("EmptyImage", width=side, height=side, batch_size=1, color=0x808080), 0]
        return [self.add("ImageBlend", image1=grey, image2=grey, blend_factor=float("nan"), blend_mode="normal"), 0]

    def inf_image(self, side: int = SWEEP_SIDE) -> list:
        huge = self.solid_mask(self.float_(HUGE), side)
        black = [self.add("EmptyImage", width=side, height=side, batch_size=1, color=0), 0]
        square = [self.add("ImageCompositeMasked", destination=black, source=[self.add("MaskToImage", mask=huge), 0],
                           x=0, y=0, resize_source=False, mask=huge), 0]  # 8.5e37
        return [self.add("ImageCompositeMasked", destination=black, source=square, x=0, y=0,
                         resize_source=False, mask=huge), 0]  # 7.8e56 -> inf

    def batch(self, image: list, amount: int) -> list:
        return [self.add("RepeatImageBatch", image=image, amount=amount), 0]

    def mask_batch(self, mask: list, amount: int) -> list:
        repeated = self.batch([self.add("MaskToImage", mask=mask), 0], amount)
        return [self.add("ImageToMask", image=repeated, channel="red"), 0]

    def model(self, ckpt: str = TINY_NAME, **options) -> list:
        return [self.add("BEN2ModelLoader", ckpt_name=ckpt, device=options.get("device", "auto"),
                         precision=options.get("precision", "auto")), 0]

    # sinks
    def save(self, image: list, name: str) -> str:
        return self.add("SaveImage", images=image, filename_prefix=f"ben2_sweep/{self.case}/{name}")

    def save_mask(self, mask: list, name: str) -> str:
        return self.save([self.add("MaskToImage", mask=mask), 0], name)

    def _bad_values(self, mask: list) -> list:
        """1 where a MASK value is > 1, < 0 or NaN (every finite x has x > 0.5 or 1 - x > 0.49)."""
        inverted = [self.add("InvertMask", mask=mask), 0]
        above = [self.add("ThresholdMask", mask=mask, value=1.0), 0]
        below = [self.add("ThresholdMask", mask=inverted, value=1.0), 0]
        upper = [self.add("ThresholdMask", mask=mask, value=0.5), 0]
        lower = [self.add("ThresholdMask", mask=inverted, value=0.49), 0]
        finite = [self.add("MaskComposite", destination=upper, source=lower, x=0, y=0, operation="or"), 0]
        not_finite = [self.add("InvertMask", mask=finite), 0]
        bad = [self.add("MaskComposite", destination=above, source=below, x=0, y=0, operation="or"), 0]
        return [self.add("MaskComposite", destination=bad, source=not_finite, x=0, y=0, operation="or"), 0]

    def sink(self, node: str) -> str:
        """Save a node's first output (a MASK or IMAGE), so that the node is needed by an output."""
        kind = "MASK" if self.prompt[node]["class_type"] in ("BEN2SegmentForeground", "BEN2ConfidenceTrimap",
                                                              "BEN2RefineEdges") else "IMAGE"
        output = [node, 0]
        return self.save_mask(output, "sink") if kind == "MASK" else self.save(output, "sink")

    def probe(self, output: list, kind: str) -> None:
        """Save a black/white map of ``output``'s bad values (kind: MASK, IMAGE or RGBA)."""
        if kind == "MASK":
            bad = self._bad_values(output)
        else:
            channels = ["red", "green", "blue"] + (["alpha"] if kind == "RGBA" else [])
            bad = None
            for channel in channels:
                this = self._bad_values([self.add("ImageToMask", image=output, channel=channel), 0])
                bad = this if bad is None else [self.add("MaskComposite", destination=bad, source=this, x=0, y=0,
                                                         operation="or"), 0]
        self.probes.append(self.save_mask(bad, f"probe_{len(self.probes)}"))


def _probe_outputs(graph: Graph, node: str, kinds: list[str]) -> None:
    for slot, kind in enumerate(kinds):
        graph.probe([node, slot], kind)


def _segment(graph: Graph, image: list, **options) -> str:
    node = graph.add("BEN2SegmentForeground", ben2_model=graph.model(), image=image,
                     batch_size=options.get("batch_size", 1), normalize=True,
                     decontaminate=options.get("decontaminate", False))
    graph.sink(node)
    return node


def _trimap(graph: Graph, mask: list, image: list | None = None, low=0.45, high=0.55, band=2.0) -> str:
    inputs = {"mask": mask, "low": low, "high": high, "band": band, "invert_mask": False}
    if image is not None:
        inputs["image"] = image
    node = graph.add("BEN2ConfidenceTrimap", **inputs)
    graph.sink(node)
    return node


def _refine(graph: Graph, image: list, mask: list, trimap: list | None = None, mode: str = "fast") -> str:
    inputs = {"image": image, "mask": mask, "mode": mode, "invert_mask": False}
    if trimap is not None:
        inputs["trimap"] = trimap
    node = graph.add("BEN2RefineEdges", **inputs)
    graph.sink(node)
    return node


def _composite(graph: Graph, foreground: list, mask: list, background: list | None = None,
               color: str = "#00FF00", fit: str = "cover") -> str:
    inputs = {"foreground": foreground, "mask": mask, "color": color, "fit": fit, "invert_mask": False}
    if background is not None:
        inputs["background"] = background
    node = graph.add("BEN2CompositeBackground", **inputs)
    graph.sink(node)
    return node


def _video(graph: Graph, images: list, mask: list | None = None, fps=12.0, format: str = "webm",
           prefix: str = "ben2_sweep/video") -> str:
    inputs = {"images": images, "fps": fps, "format": format, "filename_prefix": prefix}
    if mask is not None:
        inputs["mask"] = mask
    return graph.add("BEN2SaveAlphaVideo", **inputs)


def _soft_mask(graph: Graph, side: int = SWEEP_SIDE) -> list:
    return graph.solid_mask(0.5, side)


# Each builder fills a Graph and returns (expectation, our node's id in the graph, detail):
# ("error", node, "text the message holds"), ("validation", node, "error type"), ("ok", None, None).

def _case_segment_nan(g):
    return "error", _segment(g, g.nan_image()), "NaN"


def _case_segment_inf(g):
    return "error", _segment(g, g.inf_image()), "infinite"


def _case_segment_image_of_4(g):
    node = _segment(g, g.image_of(g.float_(4.0)))
    _probe_outputs(g, node, ["MASK", "IMAGE", "RGBA"])
    return "ok", None, None


def _case_segment_negative_image_decontaminated(g):
    node = _segment(g, g.image_of(g.float_(-3.0)), decontaminate=True)
    _probe_outputs(g, node, ["MASK", "IMAGE", "RGBA"])
    return "ok", None, None


def _case_segment_bicubic_overshoot(g):  # bicubic upscaling of a photo overshoots 0..1 at edges
    scaled = [g.add("ImageScaleBy", image=g.photo(), upscale_method="bicubic", scale_by=0.5), 0]
    node = _segment(g, [g.add("ImageScaleBy", image=scaled, upscale_method="bicubic", scale_by=1.5), 0])
    _probe_outputs(g, node, ["MASK", "IMAGE", "RGBA"])
    return "ok", None, None


def _case_segment_4px_image(g):
    return "error", _segment(g, [g.add("EmptyImage", width=4, height=4, batch_size=1, color=0), 0]), "at least 8x8"


def _case_segment_batch_size_0(g):
    return "validation", _segment(g, g.photo(), batch_size=0), "value_smaller_than_min"


def _case_segment_16bit_png(g):
    node = _segment(g, g.photo("sweep_16bit.png"))
    _probe_outputs(g, node, ["MASK", "IMAGE", "RGBA"])
    return "ok", None, None


def _case_segment_palette_png_with_transparency(g):
    node = _segment(g, g.photo("sweep_palette.png"))
    _probe_outputs(g, node, ["MASK", "IMAGE", "RGBA"])
    return "ok", None, None


def _case_trimap_nan_mask(g):
    return "error", _trimap(g, g.solid_mask(float("nan"))), "NaN"


def _case_trimap_mask_of_4(g):
    node = _trimap(g, g.solid_mask(g.float_(4.0)))
    _probe_outputs(g, node, ["MASK", "MASK"])
    return "ok", None, None


def _case_trimap_mask_of_minus_3(g):
    node = _trimap(g, g.solid_mask(g.float_(-3.0)), image=g.image_of(0.3))
    _probe_outputs(g, node, ["MASK", "MASK"])
    return "ok", None, None


def _case_trimap_mask_widget_4(g):  # SolidMask's own widget range refuses 4 before anything runs
    _trimap(g, g.solid_mask(4.0))
    return "validation", "1", "value_bigger_than_max"


def _case_trimap_low_above_high(g):
    return "error", _trimap(g, _soft_mask(g), low=0.9, high=0.1), "must be below high"


def _case_trimap_band_nan(g):
    return "error", _trimap(g, _soft_mask(g), band=float("nan")), "band"


def _case_trimap_low_below_0(g):
    return "validation", _trimap(g, _soft_mask(g), low=-0.5), "value_smaller_than_min"


def _case_trimap_image_of_another_size(g):
    return "error", _trimap(g, _soft_mask(g), image=g.image_of(0.3, side=48)), "same size"


def _case_trimap_batch_mismatch(g):
    node = _trimap(g, g.mask_batch(_soft_mask(g), 2), image=g.batch(g.image_of(0.3), 3))
    return "error", node, "frames"


def _case_refine_trimap_of_another_size(g):
    photo = g.photo()
    trimap = g.solid_mask(0.5, 451, 299)
    return "error", _refine(g, photo, g.solid_mask(0.5, 451, 300), trimap=trimap), "trimap"


def _case_refine_mask_batch_mismatch(g):
    return "error", _refine(g, g.batch(g.image_of(0.3), 3), g.mask_batch(_soft_mask(g), 2)), "frames"


def _case_refine_mask_of_4(g):
    node = _refine(g, g.photo(), g.solid_mask(g.float_(4.0), 451, 300))
    _probe_outputs(g, node, ["MASK", "IMAGE", "RGBA"])
    return "ok", None, None


def _case_refine_huge_mask_quality(g):
    image = g.image_of(g.float_(-3.0))
    mask = g.solid_mask(g.float_(HUGE))
    node = _refine(g, image, mask, trimap=g.solid_mask(0.5), mode="quality")
    _probe_outputs(g, node, ["MASK", "IMAGE", "RGBA"])
    return "ok", None, None


def _case_refine_nan_image(g):
    return "error", _refine(g, g.nan_image(), _soft_mask(g)), "NaN"


def _case_refine_nan_trimap(g):
    return "error", _refine(g, g.image_of(0.3), _soft_mask(g), trimap=g.solid_mask(float("nan"))), "trimap"


def _case_refine_inf_mask(g):
    inf_mask = [g.add("ImageToMask", image=g.inf_image(), channel="red"), 0]
    return "error", _refine(g, g.image_of(0.3), inf_mask), "infinite"


def _case_composite_colour_greenish(g):
    return "error", _composite(g, g.image_of(0.3), _soft_mask(g), color="greenish"), "greenish"


def _case_composite_background_batch_mismatch(g):
    node = _composite(g, g.batch(g.image_of(0.3), 3), _soft_mask(g), background=g.batch(g.image_of(0.7), 2))
    return "error", node, "background has 2 images for 3 frames"


def _case_composite_nan_background(g):
    return "error", _composite(g, g.image_of(0.3), _soft_mask(g), background=g.nan_image(32)), "NaN"


def _case_composite_mask_of_4_and_image_of_minus_3(g):
    node = _composite(g, g.image_of(g.float_(-3.0)), g.solid_mask(g.float_(4.0)), background=g.image_of(0.5, 32))
    g.probe([node, 0], "IMAGE")
    return "ok", None, None


def _case_composite_1px_background(g):
    background = [g.add("EmptyImage", width=1, height=1, batch_size=1, color=0xFF0000), 0]
    node = _composite(g, g.image_of(g.float_(2.0)), g.solid_mask(g.float_(-1.0)), background=background, fit="contain")
    g.probe([node, 0], "IMAGE")
    return "ok", None, None


def _case_composite_bad_fit(g):
    return "validation", _composite(g, g.image_of(0.3), _soft_mask(g), fit="zoom"), "value_not_in_list"


def _case_video_fps_0(g):
    return "validation", _video(g, g.image_of(0.3), _soft_mask(g), fps=0.0), "value_smaller_than_min"


def _case_video_fps_nan(g):
    return "error", _video(g, g.image_of(0.3), _soft_mask(g), fps=float("nan")), "fps"


def _case_video_nul_in_prefix(g):
    return "error", _video(g, g.image_of(0.3), _soft_mask(g), prefix="ben2_sweep/a\x00b"), "control characters"


def _case_video_prefix_outside_output(g):
    return "error", _video(g, g.image_of(0.3), _soft_mask(g), prefix="../../ben2_sweep_escape"), "output folder"


def _case_video_bad_format(g):
    return "validation", _video(g, g.image_of(0.3), _soft_mask(g), format="gif"), "value_not_in_list"


def _case_video_rgb_without_mask(g):
    return "error", _video(g, g.image_of(0.3)), "connect a mask"


def _case_video_nan_mask(g):
    return "error", _video(g, g.image_of(0.3), g.solid_mask(float("nan"))), "NaN"


def _case_video_odd_size_out_of_range(g):  # 33x33 frames (VP9 4:2:0 wants even sizes), alpha of 4
    _video(g, g.image_of(g.float_(-3.0), 33), g.solid_mask(g.float_(4.0), 33), prefix="ben2_sweep/odd")
    return "ok", None, None


def _loader_case(ckpt: str, text: str, **options):
    def build(g):
        node = g.add("BEN2ModelLoader", ckpt_name=ckpt, device=options.get("device", "auto"),
                     precision=options.get("precision", "auto"))
        _segment_node = g.add("BEN2SegmentForeground", ben2_model=[node, 0], image=g.image_of(0.3),
                              batch_size=1, normalize=True, decontaminate=False)
        g.save_mask([_segment_node, 0], "sink")
        return "error", node, text
    return build


def _case_loader_not_in_list(g):
    g.add("BEN2ModelLoader", ckpt_name="no_such_file.safetensors", device="auto", precision="auto")
    node = g.add("BEN2SegmentForeground", ben2_model=["1", 0], image=g.image_of(0.3), batch_size=1,
                 normalize=True, decontaminate=False)
    g.save_mask([node, 0], "sink")
    return "validation", "1", "value_not_in_list"


SWEEP_CASES = {name[len("_case_"):]: build for name, build in globals().items() if name.startswith("_case_")}
SWEEP_CASES |= {
    "loader_non_ben2_safetensors": _loader_case("sweep_not_ben2.safetensors", "not a usable BEN2 checkpoint"),
    "loader_truncated_safetensors": _loader_case("sweep_truncated.safetensors", "not a usable BEN2 checkpoint"),
    "loader_empty_file": _loader_case("sweep_empty.safetensors", "not a usable BEN2 checkpoint"),
    "loader_garbage_pth": _loader_case("sweep_garbage.pth", "not a usable BEN2 checkpoint"),
    "loader_nan_weights": _loader_case("sweep_nan_weights.safetensors", "NaN"),
    "loader_fp16_on_cpu": _loader_case(TINY_NAME, "fp16 on the CPU", precision="fp16"),
    "loader_gpu_on_cpu_comfyui": _loader_case(TINY_NAME, "no GPU", device="GPU"),
}


@pytest.fixture(scope="module")
def sweep_files(server):
    """Crafted inputs in the server's folders: images and broken checkpoints."""
    from safetensors.numpy import save_file
    from safetensors.torch import load_file, save_file as save_torch

    photo = np.asarray(Image.open(FIXTURE_IMAGE).convert("L")).astype(np.uint16) * 257  # 16-bit grey
    Image.fromarray(photo).save(os.path.join(server.folders["input"], "sweep_16bit.png"))
    assert Image.open(os.path.join(server.folders["input"], "sweep_16bit.png")).mode.startswith("I")
    palette = Image.open(FIXTURE_IMAGE).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    palette.save(os.path.join(server.folders["input"], "sweep_palette.png"), transparency=0)

    ben2_dir = os.path.join(server.folders["models"], "ben2")
    tiny = os.path.join(ben2_dir, TINY_NAME)
    with open(tiny, "rb") as handle:
        data = handle.read()
    with open(os.path.join(ben2_dir, "sweep_truncated.safetensors"), "wb") as handle:
        handle.write(data[: len(data) // 2])
    open(os.path.join(ben2_dir, "sweep_empty.safetensors"), "wb").close()
    with open(os.path.join(ben2_dir, "sweep_garbage.pth"), "wb") as handle:
        handle.write(b"\x80\x04this is not a pickle" * 64)
    save_file({"model.diffusion_model.out.weight": np.zeros((4, 4), np.float32)},
              os.path.join(ben2_dir, "sweep_not_ben2.safetensors"))
    state = load_file(tiny)
    first = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    state[first] = state[first].clone().fill_(float("nan"))
    save_torch(state, os.path.join(ben2_dir, "sweep_nan_weights.safetensors"))
    return ben2_dir


def _queue_raw(server: Server, prompt: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/prompt",
        data=json.dumps({"prompt": prompt, "client_id": uuid.uuid4().hex}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait(server: Server, prompt_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"ComfyUI exited:\n{server.log()[-4000:]}"
        entry = server.get(f"/history/{prompt_id}").get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None and (
            entry["status"]["completed"] or entry["status"].get("status_str") == "error"
        ):
            return entry
        time.sleep(0.2)
    raise AssertionError(f"prompt {prompt_id} did not finish:\n{server.log()[-4000:]}")


@pytest.mark.parametrize("case", sorted(SWEEP_CASES))
def test_bad_input_sweep(server, sweep_files, case):
    graph = Graph(case)
    expect, node, detail = SWEEP_CASES[case](graph)
    status, body = _queue_raw(server, graph.prompt)
    if expect == "validation":
        assert status == 400, (status, body)
        errors = body.get("node_errors", {})
        assert node in errors, body
        kinds = [e["type"] for e in errors[node]["errors"]]
        assert detail in kinds, errors[node]
        print(f"{case}: ComfyUI validation refused {graph.prompt[node]['class_type']}: {errors[node]['errors'][0]['message']}")
    else:
        assert status == 200, (status, json.dumps(body)[:3000])
        entry = _wait(server, body["prompt_id"])
        messages = entry["status"]["messages"]
        errors = [m[1] for m in messages if m[0] == "execution_error"]
        if expect == "error":
            assert entry["status"]["status_str"] == "error", json.dumps(entry["status"])[:3000]
            assert errors, messages
            error = errors[0]
            class_type = graph.prompt[node]["class_type"]
            assert error["node_id"] == node and error["node_type"] == class_type, error
            message = error["exception_message"]
            name = DISPLAY_NAMES[class_type]
            assert message.startswith(f"{name}: ") and message.count(f"{name}:") == 1, message
            assert detail in message, message
            assert "Traceback" not in message and len(message) < 1500, message
            print(f"{case}: {message.strip()[:200]}")
        else:
            assert entry["status"]["status_str"] == "success", json.dumps(errors or messages)[:3000]
            for probe in graph.probes:
                bad = np.asarray(_saved_png(server, entry, probe).convert("L"))
                assert bad.max() == 0, f"{case}: {np.mean(bad > 0):.1%} of an output's values outside 0..1 or NaN (probe {probe})"
            for node_id, node in graph.prompt.items():  # a video written despite the odd input
                if node["class_type"] == "BEN2SaveAlphaVideo":
                    info = entry["outputs"][node_id]["images"][0]
                    path = os.path.join(server.folders[info["type"]], info["subfolder"], info["filename"])
                    assert os.path.getsize(path) > 100, info
            print(f"{case}: ok, {len(graph.probes)} outputs in 0..1")
    if expect != "ok":  # nothing after the failing node ran
        assert not glob.glob(os.path.join(server.folders["output"], "ben2_sweep", case, "sink*"))
    assert server.process.poll() is None


def test_checkpoint_deleted_after_queueing_fails_the_loader(server, sweep_files):
    """A file removed after the prompt was validated (it was in the list): the loader's own message.
    (Removed before queueing, ComfyUI's validation refuses it: loader_not_in_list above.)"""
    vanished = os.path.join(sweep_files, "sweep_vanished.safetensors")
    shutil.copy(os.path.join(sweep_files, TINY_NAME), vanished)
    busy = Graph("busy")  # keeps the worker busy while the second prompt waits in the queue
    frames = [busy.add("EmptyImage", width=512, height=512, batch_size=4, color=int.from_bytes(os.urandom(3), "big")), 0]
    _segment(busy, frames)
    status, first = _queue_raw(server, busy.prompt)
    assert status == 200, first
    graph = Graph("vanished")
    expect, node, detail = _loader_case("sweep_vanished.safetensors", "is not in")(graph)
    status, body = _queue_raw(server, graph.prompt)
    assert status == 200, body
    os.remove(vanished)
    assert _wait(server, first["prompt_id"])["status"]["status_str"] == "success"
    entry = _wait(server, body["prompt_id"])
    errors = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert errors and errors[0]["node_type"] == "BEN2ModelLoader", entry["status"]
    message = errors[0]["exception_message"]
    assert message.startswith("Load BEN2: 'sweep_vanished.safetensors' is not in") and "refresh" in message, message


def test_server_answers_after_the_sweep(server, sweep_files):
    """Runs after the sweep (pytest keeps file order): the server still works."""
    stats = server.get("/system_stats")
    assert "system" in stats and stats["devices"], stats
    assert "BEN2ModelLoader" in server.get("/object_info")
    entry = server.run({"1": {"class_type": "LoadImage", "inputs": {"image": "chelsea.png"}},
                        "2": {"class_type": "BEN2ModelLoader", "inputs": {"ckpt_name": TINY_NAME, "device": "auto",
                                                                          "precision": "auto"}},
                        "3": {"class_type": "BEN2SegmentForeground",
                              "inputs": {"ben2_model": ["2", 0], "image": ["1", 0], "batch_size": 1, "normalize": True,
                                         "decontaminate": False}},
                        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 2],
                                                                    "filename_prefix": "ben2_sweep/after"}}})
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]


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
