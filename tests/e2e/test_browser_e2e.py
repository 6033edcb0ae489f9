"""Real-browser check of the web extension: a real ComfyUI with the pack, driven by headless Chromium.

Runs when ``COMFYUI_DIR`` points at a ComfyUI checkout and a Chromium is installed; skips with a
message otherwise (CI has neither). ``COMFY_PYTHON`` names the Python of ComfyUI's venv (default:
the interpreter running the tests); ``CHROMIUM`` the browser binary (default: ``chromium`` on PATH).
``BEN2_E2E_SCREENSHOTS`` keeps the screenshots in that folder (default: pytest's tmp_path).

Nothing is written into the ComfyUI checkout: the server runs with ``--base-directory`` in a temp
folder holding ``custom_nodes/ComfyUI-BEN2`` (a link to this repository), ``models/ben2`` (a tiny
seeded checkpoint) and ``input/``. Chromium is driven over the DevTools protocol with a small
websocket client below (standard library only).

Flow: open the page, load ``example_workflows/ben2_cutout_transparent_png.json`` (pointed at the
tiny checkpoint and a fixture image), add a Composite Background node, queue it from the page,
then check every preview widget drew the cut-out, switch backdrops / compare / zoom and check the
pixels change, save the workflow, reload the page and check the choices came back, and assert
that the console has no errors from the extension.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "example_workflows" / "ben2_cutout_transparent_png.json"
PACK_DIR_NAME = "ComfyUI-BEN2"
TINY_CHECKPOINT = "ben2_tiny_seeded.safetensors"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1600,1000",
]


# --------------------------------------------------------------------------------------------
# A minimal websocket client (RFC 6455: client frames masked, text frames, fragmentation, ping)
# and a DevTools protocol session on top of it.


class WebSocket:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        if not url.startswith("ws://"):
            raise ValueError(f"only ws:// URLs are supported, got {url}")
        host_port, _, path = url[len("ws://") :].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port or 80)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            response += chunk
        head, _, self.buffer = response.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")

    def _read_exact(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(max(65536, count - len(self.buffer)))
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(0x1, text.encode("utf-8"))

    def receive_text(self) -> str:
        message = b""
        while True:
            first, second = self._read_exact(2)
            opcode, final = first & 0x0F, bool(first & 0x80)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read_exact(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read_exact(8))
            mask = self._read_exact(4) if second & 0x80 else None
            payload = self._read_exact(length)
            if mask:
                payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
            if opcode == 0x9:  # ping
                self.send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if final:
                    return message.decode("utf-8")

    def close(self) -> None:
        try:
            self.send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class DevToolsPage:
    """One page target: send commands, collect console messages and exceptions as they arrive."""

    def __init__(self, ws_url: str) -> None:
        self.ws = WebSocket(ws_url)
        self.next_id = 0
        self.console: list[dict[str, Any]] = []
        self.exceptions: list[dict[str, Any]] = []
        self.log_entries: list[dict[str, Any]] = []
        self.responses: dict[int, dict[str, Any]] = {}
        # url substring -> function(body text) -> body text, applied to paused responses (Fetch domain)
        self.rewrites: dict[str, Any] = {}

    def _handle_event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])
            )
            frames = params.get("stackTrace", {}).get("callFrames", [])
            self.console.append({"type": params.get("type"), "text": text, "urls": [f.get("url", "") for f in frames]})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            frames = details.get("stackTrace", {}).get("callFrames", [])
            description = details.get("exception", {}).get("description") or details.get("text", "")
            urls = [frame.get("url", "") for frame in frames]
            self.exceptions.append({"text": description, "url": details.get("url", ""), "urls": urls})
        elif method == "Page.javascriptDialogOpening":
            # e.g. the frontend's "leave with unsaved changes?" on reload: accept, the test saved its state.
            self.send("Page.handleJavaScriptDialog", {"accept": True})
        elif method == "Fetch.requestPaused":
            self._rewrite_response(params)
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.log_entries.append(
                {"level": entry.get("level"), "text": entry.get("text", ""), "url": entry.get("url", "")}
            )

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 120.0) -> dict[str, Any]:
        self.next_id += 1
        request_id = self.next_id
        self.ws.send_text(json.dumps({"id": request_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if request_id in self.responses:
                message = self.responses.pop(request_id)
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            message = json.loads(self.ws.receive_text())
            if "id" in message:
                self.responses[message["id"]] = message
            else:
                self._handle_event(message)  # may send commands itself: answers land in self.responses
        raise TimeoutError(f"{method}: no answer in {timeout} s")

    def _rewrite_response(self, params: dict[str, Any]) -> None:
        request_id = params["requestId"]
        rewrite = next((f for part, f in self.rewrites.items() if part in params["request"]["url"]), None)
        if rewrite is None or "responseStatusCode" not in params:
            self.send("Fetch.continueRequest", {"requestId": request_id})
            return
        body = self.send("Fetch.getResponseBody", {"requestId": request_id})
        text = base64.b64decode(body["body"]).decode() if body.get("base64Encoded") else body["body"]
        self.send(
            "Fetch.fulfillRequest",
            {
                "requestId": request_id,
                "responseCode": params["responseStatusCode"],
                "responseHeaders": [
                    h for h in params.get("responseHeaders", []) if h["name"].lower() != "content-length"
                ],
                "body": base64.b64encode(rewrite(text).encode()).decode(),
            },
        )

    def evaluate(self, expression: str, timeout: float = 120.0) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True, "timeout": int(timeout * 1000)},
            timeout=timeout + 5,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(f"page script failed: {details.get('exception', {}).get('description') or details}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError as error:  # the page is navigating: its context is gone for a moment
                if "navigated" not in str(error) and "context" not in str(error):
                    raise
                value = None
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    def screenshot(self, path: Path, clip: dict[str, float] | None = None) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        data = self.send("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.ws.close()


# --------------------------------------------------------------------------------------------
# Processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http_json(url: str, data: dict | None = None, timeout: float = 10.0) -> Any:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _front_ends() -> list[tuple[str, str | None]]:
    """(label, static folder or None for the checkout's own front-end) for each front-end to test."""
    front_ends: list[tuple[str, str | None]] = [("bundled", None)]
    extra = os.environ.get("BEN2_E2E_FRONT_END_ROOT")
    if extra:
        front_ends.append(("front_end_root", extra))
    return front_ends


def _comfy_python() -> str:
    if os.environ.get("COMFY_PYTHON"):
        return os.environ["COMFY_PYTHON"]
    venv = os.environ.get("COMFY_VENV")
    return str(Path(venv) / "bin" / "python") if venv else sys.executable


@pytest.fixture(scope="module", params=_front_ends(), ids=[label for label, _ in _front_ends()])
def comfy_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    front_end_label, front_end_root = request.param
    comfy_dir = os.environ.get("COMFYUI_DIR")
    if not comfy_dir or not (Path(comfy_dir) / "main.py").is_file():
        pytest.skip("COMFYUI_DIR is not set to a ComfyUI checkout: the real-browser check needs a ComfyUI")
    if _find_chromium() is None:
        pytest.skip("no Chromium found (set CHROMIUM or install Debian's chromium): the real-browser check needs one")
    if not WORKFLOW.is_file():
        pytest.skip(f"{WORKFLOW.name} is missing: the browser check loads that example workflow")
    if front_end_root and not (Path(front_end_root) / "index.html").is_file():
        pytest.fail(f"BEN2_E2E_FRONT_END_ROOT={front_end_root} is not a front-end's static folder (no index.html)")
    python = _comfy_python()

    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / PACK_DIR_NAME).symlink_to(REPO, target_is_directory=True)
    for folder in ("input", "output", "temp", "user", "models/ben2"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "tests" / "fixtures" / "chelsea.png", base / "input" / "chelsea.png")
    _write_matte(REPO / "tests" / "fixtures" / "chelsea.png", base / "input" / "chelsea_matte.png")
    # A returning user: the page opens the default graph instead of the templates browser.
    (base / "user" / "default").mkdir(parents=True)
    (base / "user" / "default" / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    _write_tiny_checkpoint(base / "models" / "ben2" / TINY_CHECKPOINT)

    port = _free_port()
    log_path = base / "server.log"
    command = [
        python, str(Path(comfy_dir) / "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
        "--disable-auto-launch", "--disable-api-nodes", "--base-directory", str(base),
        "--input-directory", str(base / "input"), "--output-directory", str(base / "output"),
        "--temp-directory", str(base / "temp"), "--user-directory", str(base / "user"),
        "--database-url", f"sqlite:///{base / 'comfy.db'}",
    ]  # fmt: skip
    if front_end_root:
        command += ["--front-end-root", front_end_root]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=comfy_dir, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"ComfyUI exited ({server.returncode}):\n{log_path.read_text(errors='replace')[-4000:]}")
            try:
                _http_json(f"{url}/system_stats", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"ComfyUI did not start in 180 s:\n{log_path.read_text(errors='replace')[-4000:]}")
                time.sleep(0.5)
        yield {"url": url, "base": base, "log": log_path, "front_end": front_end_label}
    finally:
        _stop(server)


def _write_matte(source: Path, path: Path) -> None:
    """The fixture photo with a synthetic hair-like alpha (soft ellipse with a strand-like fringe), so
    the trimap overlay and the before/after show real structure (the tiny seeded network's own
    alpha is near 0.5 everywhere). LoadImage turns it into MASK = 1 - alpha."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(source).convert("RGB"))
    height, width = rgb.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    dx, dy = (x - width * 0.5) / (width * 0.36), (y - height * 0.55) / (height * 0.5)
    angle = np.arctan2(dy, dx)
    fringe = 1.0 + 0.05 * np.sin(37 * angle) + 0.03 * np.sin(91 * angle + 1.3)
    distance = (np.hypot(dx, dy) - fringe) * width * 0.36  # signed, in pixels
    alpha = np.clip(0.5 - distance / 6.0, 0.0, 1.0)
    Image.fromarray(np.dstack([rgb, (alpha * 255).round().astype(np.uint8)]), "RGBA").save(path)


def _write_tiny_checkpoint(path: Path) -> None:
    from safetensors.torch import save_file

    from ben2_model.weights.seeded import TINY_CONFIG, seeded_model

    save_file(seeded_model(**TINY_CONFIG).state_dict(), str(path), metadata={"input_size": "512"})


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, comfy_server):
    profile = tmp_path_factory.mktemp("chromium_profile")
    process = subprocess.Popen(
        [_find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Chromium did not open its DevTools port")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        pages = [t for t in _http_json(f"http://127.0.0.1:{port}/json/list") if t.get("type") == "page"]
        page = DevToolsPage(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Page"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        )
        yield page
        page.close()
    finally:
        _stop(process)


# --------------------------------------------------------------------------------------------
# Page scripts

APP = "window.comfyAPI.app.app"

OPEN_APP_READY = """(() => {
  const app = window.comfyAPI?.app?.app;
  return !!(app && app.vueAppReady && app.graph && app.canvas && window.comfyAPI?.api?.api?.clientId
    && document.querySelector('canvas'));
})()"""

PREVIEW_TYPES = ["BEN2SegmentForeground", "BEN2ConfidenceTrimap", "BEN2RefineEdges", "BEN2CompositeBackground"]


def _open_page(page: DevToolsPage, url: str | None = None) -> None:
    """Navigate (or reload when url is None) and wait for the new page's app, not the old one's."""
    page.evaluate("window.__ben2_old_page = true")
    if url is None:
        page.send("Page.reload")
    else:
        page.send("Page.navigate", {"url": url})
    page.wait_for(f"!window.__ben2_old_page && {OPEN_APP_READY}", 120, "the ComfyUI page")


def _open_workflow(page: DevToolsPage, workflow: dict) -> list[str]:
    """Load a workflow into the page; retried because the page's own start-up workflow (restored
    tab or default graph) can land just after ours and replace it."""
    token = os.urandom(8).hex()
    workflow = {**workflow, "extra": {**workflow.get("extra", {}), "ben2_e2e_token": token}}
    for _ in range(5):
        time.sleep(1.5)
        page.evaluate(_load_workflow_script(workflow))
        time.sleep(1.0)
        if page.evaluate(f"{APP}.graph.extra?.ben2_e2e_token") == token:
            return page.evaluate(f"{APP}.graph.nodes.map((n) => n.type)")
    raise AssertionError("the page did not keep the loaded workflow")


def _load_workflow_script(workflow: dict) -> str:
    return f"""(async () => {{
  const app = {APP};
  await app.loadGraphData({json.dumps(workflow)}, true, true, "ben2_e2e");
  app.canvas.ds.scale = 0.75; app.canvas.ds.offset = [90, 70];
  app.canvas.setDirty(true, true);
  return app.graph.nodes.map((n) => n.type);
}})()"""


EXTEND_GRAPH = f"""(() => {{
  const app = {APP};
  const LiteGraph = window.LiteGraph;
  const find = (type) => app.graph.nodes.find((n) => n.type === type);
  const widget = (node, name) => node.widgets.find((w) => w.name === name);
  const refine = find("BEN2RefineEdges");
  const trimap = find("BEN2ConfidenceTrimap");
  const node = LiteGraph.createNode("BEN2CompositeBackground");
  app.graph.add(node);
  refine.connect(refine.findOutputSlot("foreground"), node, node.findInputSlot("foreground"));
  refine.connect(refine.findOutputSlot("mask"), node, node.findInputSlot("mask"));
  // Composite is not an output node: something must consume its image for it to run.
  const sink = LiteGraph.createNode("PreviewImage");
  app.graph.add(sink);
  node.connect(0, sink, 0);
  // Trimap and Refine Edges get a matte with structure (LoadImage's MASK = 1 - alpha, so invert).
  const matte = LiteGraph.createNode("LoadImage");
  matte.title = "Load matte";
  app.graph.add(matte);
  widget(matte, "image").value = "chelsea_matte.png";
  matte.connect(matte.findOutputSlot("MASK"), trimap, trimap.findInputSlot("mask"));
  matte.connect(matte.findOutputSlot("MASK"), refine, refine.findInputSlot("mask"));
  widget(trimap, "invert_mask").value = true;
  widget(refine, "invert_mask").value = true;
  // A tidy grid so no preview hides another (nodes grow to fit their preview).
  const place = {{ LoadImage: [0, 0], BEN2ModelLoader: [0, 420], BEN2SegmentForeground: [380, 0],
    BEN2ConfidenceTrimap: [380, 560], BEN2RefineEdges: [780, 0], BEN2CompositeBackground: [780, 560] }};
  let sinkY = 0;
  for (const n of app.graph.nodes) {{
    if (n === matte) n.pos = [0, 600];
    else if (place[n.type]) n.pos = place[n.type];
    else {{ n.pos = [1180, sinkY]; n.size = [300, 250]; sinkY += 290; }}
  }}
  app.canvas.ds.scale = 0.72; app.canvas.ds.offset = [100, 110];
  app.canvas.setDirty(true, true);
  return node.inputs.filter((i) => i.link != null).length + trimap.inputs.filter((i) => i.link != null).length;
}})()"""


def _focus(page: DevToolsPage, node_type: str, scale: float = 1.5) -> dict[str, float]:
    """Zoom the graph onto one node (previews get real pixels) and return its screen rectangle."""
    rect = page.evaluate(
        f"""(async () => {{
  const app = {APP};
  const node = app.graph.nodes.find((n) => n.type === "{node_type}");
  const title = window.LiteGraph.NODE_TITLE_HEIGHT;
  app.canvas.ds.scale = {scale};
  app.canvas.ds.offset = [90 / {scale} - node.pos[0], (110 + title * {scale}) / {scale} - node.pos[1]];
  app.canvas.setDirty(true, true);
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const box = app.canvas.canvas.getBoundingClientRect();
  const [ox, oy] = app.canvas.ds.offset;
  return {{ x: box.x + (node.pos[0] + ox) * {scale}, y: box.y + (node.pos[1] - title + oy) * {scale},
    width: node.size[0] * {scale}, height: (node.size[1] + title) * {scale} }};
}})()"""
    )
    page.evaluate(_wait_drawn())
    time.sleep(0.3)  # the DOM widgets follow the canvas on its next frames
    page.evaluate(_wait_drawn())
    return rect


def _panel_state(node_type: str) -> str:
    return f"""(() => {{
  const node = {APP}.graph.nodes.find((n) => n.type === "{node_type}");
  const panel = node?.ben2Preview;
  if (!panel) return null;
  const canvas = panel.canvas;
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  const data = w && h ? ctx.getImageData(0, 0, w, h).data : [];
  let opaque = 0, sum = 0;
  for (let i = 0; i < data.length; i += 4) {{
    if (data[i + 3] > 0) opaque++;
    sum += data[i] + data[i + 1] + data[i + 2];
  }}
  const pressed = [...panel.toolbar.element.querySelectorAll('button[aria-pressed="true"]')]
    .map((b) => b.dataset.backdrop || b.dataset.action);
  const rect = panel.root.getBoundingClientRect();
  const box = canvas.getBoundingClientRect();
  const base = panel.baseImages()[panel.currentIndex()];
  return {{
    images: panel.baseImages().length, before: panel.images.before.length, overlays: panel.images.overlays.length,
    canvas: [w, h], opaque, sum, pressed, zoomText: panel.controls.zoomText.textContent, split: panel.split,
    properties: Object.fromEntries(Object.entries(node.properties).filter(([k]) => k.startsWith("ben2_"))),
    rect: {{ x: rect.x, y: rect.y, width: rect.width, height: rect.height }},
    canvasBox: {{ x: box.x, y: box.y, width: box.width, height: box.height }},
    imageSize: base ? [base.naturalWidth, base.naturalHeight] : null,
    captureWheel: canvas.dataset.captureWheel, focused: document.activeElement === canvas,
    widgetsValuesHaveNoPreview: !(JSON.stringify(node.serialize().widgets_values || []).includes("ben2_preview")),
  }};
}})()"""


def _click(node_type: str, selector: str) -> str:
    return f"""(() => {{
  const node = {APP}.graph.nodes.find((n) => n.type === "{node_type}");
  const element = node.ben2Preview.toolbar.element.querySelector('{selector}');
  element.click();
  return true;
}})()"""


def _wait_drawn() -> str:
    return "new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(true))))"


def _our_errors(page: DevToolsPage) -> list[str]:
    """Console errors, uncaught exceptions and failed loads that come from the extension: its URL in
    the stack, its log prefix or its name in the text (core's messages about BEN2 node ids are not ours)."""
    ours = (f"/extensions/{PACK_DIR_NAME}/", "[ComfyUI-BEN2]", "comfyui-ben2")
    found = []
    for entry in page.console:
        if entry["type"] in ("error", "assert") and any(
            marker in entry["text"] or any(marker in url for url in entry["urls"]) for marker in ours
        ):
            found.append(f"console.{entry['type']}: {entry['text']}")
    for entry in page.exceptions:
        places = [entry["text"], entry["url"], *entry["urls"]]
        if any(marker in place for marker in ours for place in places):
            found.append(f"exception: {entry['text']}")
    for entry in page.log_entries:
        if entry["level"] == "error" and any(marker in entry["url"] or marker in entry["text"] for marker in ours):
            found.append(f"log: {entry['text']} {entry['url']}")
    return found


def _screens_dir(tmp_path: Path, combination: str = "") -> Path:
    """BEN2_E2E_SCREENSHOTS (or a tmp folder) / <front-end>-<mode>: one folder per combination."""
    folder = Path(os.environ.get("BEN2_E2E_SCREENSHOTS") or tmp_path / "screens") / combination
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _set_settings(url: str, settings: dict[str, Any]) -> None:
    """Write front-end settings on the server before the page loads (POST /settings/<id>, JSON value)."""
    for key, value in settings.items():
        request = urllib.request.Request(
            f"{url}/settings/{key}", data=json.dumps(value).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, (key, response.status)


def _clip(rect: dict[str, float], margin: float = 12) -> dict[str, float]:
    return {
        "x": max(0.0, rect["x"] - margin),
        "y": max(0.0, rect["y"] - margin),
        "width": rect["width"] + 2 * margin,
        "height": rect["height"] + 2 * margin,
    }


# --------------------------------------------------------------------------------------------


def _without_ben2_nodes(object_info_text: str) -> str:
    info = json.loads(object_info_text)
    return json.dumps({name: spec for name, spec in info.items() if not name.startswith("BEN2")})


def test_page_without_the_backend_nodes_has_no_extension_errors(
    comfy_server, browser: DevToolsPage, tmp_path: Path
) -> None:
    """The extension loads but the server lists none of our nodes (the pack's Python failed to import):
    a workflow with our nodes opens with core's missing-node notice and nothing from us."""
    page = browser
    _set_settings(comfy_server["url"], {"Comfy.VueNodes.Enabled": False, "Comfy.Locale": "en"})
    page.rewrites = {"object_info": _without_ben2_nodes}
    page.send("Fetch.enable", {"patterns": [{"urlPattern": "*object_info*", "requestStage": "Response"}]})
    try:
        _open_page(page, comfy_server["url"])
        page.wait_for(f"{APP}.extensions?.some((e) => e.name === 'comfyui-ben2.previews')", 60, "our extension")
        assert page.evaluate("!window.LiteGraph.registered_node_types['BEN2SegmentForeground']")
        workflow = json.loads(WORKFLOW.read_text(encoding="utf-8"))
        types = _open_workflow(page, workflow)
        assert "BEN2SegmentForeground" in types
        previews = page.evaluate(f"{APP}.graph.nodes.filter((n) => n.ben2Preview).length")
        assert previews == 0
        page.evaluate(_wait_drawn())
        page.screenshot(_screens_dir(tmp_path, comfy_server["front_end"]) / "00_backend_missing.png")
    finally:
        page.send("Fetch.disable")
        page.rewrites = {}
    errors = _our_errors(page)
    assert not errors, "the extension logged errors without its backend:\n" + "\n".join(errors)


def _tiny_workflow() -> dict:
    workflow = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    for node in workflow["nodes"]:
        if node["type"] == "LoadImage":
            node["widgets_values"][0] = "chelsea.png"
        if node["type"] == "BEN2ModelLoader":
            node["widgets_values"][0] = TINY_CHECKPOINT
    return workflow


def _open_in_mode(page: DevToolsPage, comfy_server: dict, mode: str, locale: str = "en") -> str:
    """Open the page with Nodes 2.0 on or off and the given locale; returns the front-end version.
    Skips Nodes 2.0 on a front-end that has no such mode."""
    url = comfy_server["url"]
    object_info = _http_json(f"{url}/object_info", timeout=30)
    missing = [name for name in PREVIEW_TYPES + ["BEN2ModelLoader"] if name not in object_info]
    server_log = comfy_server["log"].read_text(errors="replace")[-4000:]
    assert not missing, f"ComfyUI did not register {missing}:\n{server_log}"
    _set_settings(url, {"Comfy.VueNodes.Enabled": mode == "nodes2", "Comfy.Locale": locale})
    _open_page(page, url)
    extension_loaded = page.wait_for(
        f"{APP}.extensions?.some((e) => e.name === 'comfyui-ben2.previews')", 60, "our extension to register"
    )
    assert extension_loaded
    version = page.evaluate("String(window.__COMFYUI_FRONTEND_VERSION__ ?? 'unknown')")
    vue_mode = page.evaluate("window.LiteGraph.vueNodesMode === true")
    if mode == "nodes2" and not vue_mode:
        pytest.skip(f"front-end {version} has no Modern Node Design (Nodes 2.0): Comfy.VueNodes.Enabled had no effect")
    assert vue_mode == (mode == "nodes2"), (version, mode, vue_mode)
    print(f"front-end {version} ({comfy_server['front_end']}), mode {mode}, locale {locale}")
    return version


def _graph_wheel_point(node_type: str | None = None) -> str:
    """A screen point where the wheel belongs to the graph: on a node's title bar (node_type), or
    an empty spot of the graph canvas (the topmost element there is the graph canvas itself)."""
    return f"""(() => {{
  const app = {APP};
  const box = app.canvas.canvas.getBoundingClientRect();
  const [ox, oy] = app.canvas.ds.offset, scale = app.canvas.ds.scale;
  const toScreen = (gx, gy) => ({{ x: box.x + (gx + ox) * scale, y: box.y + (gy + oy) * scale }});
  const nodeType = {json.dumps(node_type)};
  if (nodeType) {{
    const node = app.graph.nodes.find((n) => n.type === nodeType);
    return toScreen(node.pos[0] + 60, node.pos[1] - window.LiteGraph.NODE_TITLE_HEIGHT / 2);
  }}
  for (let y = box.y + box.height - 40; y > box.y + 60; y -= 37) {{
    for (let x = box.x + box.width / 2; x < box.x + box.width - 60; x += 41) {{
      if (document.elementFromPoint(x, y) === app.canvas.canvas) return {{ x, y }};
    }}
  }}
  return null;
}})()"""


def _wheel_zooms_graph(page: DevToolsPage, point: dict[str, float]) -> bool:
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", **point})
    before = page.evaluate(f"{APP}.canvas.ds.scale")
    page.send("Input.dispatchMouseEvent", {"type": "mouseWheel", **point, "deltaX": 0, "deltaY": -240})
    page.evaluate(_wait_drawn())
    return page.evaluate(f"{APP}.canvas.ds.scale") != before


@pytest.mark.parametrize("mode", ["classic", "nodes2"])
def test_previews_in_a_real_browser(comfy_server, browser: DevToolsPage, tmp_path: Path, mode: str) -> None:
    page = browser
    screens = _screens_dir(tmp_path, f"{comfy_server['front_end']}-{mode}")
    _open_in_mode(page, comfy_server, mode)
    types = _open_workflow(page, _tiny_workflow())
    assert {"BEN2SegmentForeground", "BEN2ConfidenceTrimap", "BEN2RefineEdges"} <= set(types)
    assert page.evaluate(EXTEND_GRAPH) == 4
    # A prompt of its own per mode: ComfyUI 0.8 serves an unchanged node from its cache without
    # re-sending the preview (0.25 re-sends it for has_intermediate_output nodes), so a second test
    # queueing the very same graph on the same server would wait for previews that never come.
    salt = {"classic": (1, 2.0), "nodes2": (2, 3.0)}[mode]
    page.evaluate(
        f"""(() => {{ const find = (t) => {APP}.graph.nodes.find((n) => n.type === t);
        find("BEN2SegmentForeground").widgets.find((w) => w.name === "batch_size").value = {salt[0]};
        find("BEN2ConfidenceTrimap").widgets.find((w) => w.name === "band").value = {salt[1]}; return true; }})()"""
    )
    if mode == "nodes2":  # the previews live inside the Vue node layer's node elements
        inside = page.evaluate(
            f"{APP}.graph.nodes.filter((n) => n.ben2Preview?.root.closest('[data-node-id]')).length"
        )
        assert inside == len(PREVIEW_TYPES), inside

    before_run = page.evaluate(_panel_state("BEN2SegmentForeground"))
    assert before_run["images"] == 0 and before_run["pressed"] == ["checker"], before_run
    assert before_run["widgetsValuesHaveNoPreview"]
    assert before_run["properties"]["ben2_backdrop"] == "checker"

    queued = page.evaluate(f"{APP}.queuePrompt(0, 1).then(() => true)")
    assert queued
    for node_type in PREVIEW_TYPES:
        page.wait_for(
            f"({{...{_panel_state(node_type)}}}).images > 0", 240, f"the {node_type} preview after the run"
        )
    page.evaluate(_wait_drawn())
    page.screenshot(screens / "01_graph_after_run.png")

    states = {node_type: page.evaluate(_panel_state(node_type)) for node_type in PREVIEW_TYPES}
    for node_type, state in states.items():
        assert state["canvas"][0] > 100 and state["canvas"][1] > 100, (node_type, state)
        assert state["opaque"] > 0.2 * state["canvas"][0] * state["canvas"][1], (node_type, state)
    assert states["BEN2ConfidenceTrimap"]["overlays"] == 1
    assert states["BEN2RefineEdges"]["before"] == 1

    # Backdrops: transparent pixels of the cut-out show the backdrop, so black and white differ.
    segment = "BEN2SegmentForeground"
    focus = _focus(page, segment)
    page.evaluate(_click(segment, 'button[data-backdrop="black"]'))
    page.evaluate(_wait_drawn())
    on_black = page.evaluate(_panel_state(segment))
    page.screenshot(screens / "02_segment_black.png", _clip(focus))
    page.evaluate(_click(segment, 'button[data-backdrop="white"]'))
    page.evaluate(_wait_drawn())
    on_white = page.evaluate(_panel_state(segment))
    assert on_black["pressed"] == ["black"] and on_white["pressed"] == ["white"]
    assert on_white["sum"] > on_black["sum"] * 1.05, (on_black["sum"], on_white["sum"])
    assert on_white["properties"]["ben2_backdrop"] == "white"
    page.screenshot(screens / "03_segment_white.png", _clip(focus))

    composite = "BEN2CompositeBackground"
    focus = _focus(page, composite)
    page.evaluate(
        f"""(() => {{ const node = {APP}.graph.nodes.find((n) => n.type === "{composite}");
        const input = node.ben2Preview.controls.colorInput; input.value = "#ff00ff";
        input.dispatchEvent(new Event("input")); return true; }})()"""
    )
    page.evaluate(_wait_drawn())
    composite_state = page.evaluate(_panel_state(composite))
    assert composite_state["properties"]["ben2_backdrop"] == "color"
    assert composite_state["properties"]["ben2_backdrop_color"] == "#ff00ff"
    page.screenshot(screens / "04_composite_colour.png", _clip(focus))

    # Trimap overlay opacity.
    trimap = "BEN2ConfidenceTrimap"
    focus = _focus(page, trimap)
    sums = []
    for opacity in ("0", "60"):
        page.evaluate(
            f"""(() => {{ const node = {APP}.graph.nodes.find((n) => n.type === "{trimap}");
            const input = node.ben2Preview.controls.opacityInput; input.value = "{opacity}";
            input.dispatchEvent(new Event("input")); return true; }})()"""
        )
        page.evaluate(_wait_drawn())
        state = page.evaluate(_panel_state(trimap))
        sums.append(state["sum"])
        page.screenshot(screens / f"05_trimap_opacity_{opacity}.png", _clip(focus))
    assert state["properties"]["ben2_trimap_opacity"] == 0.6
    assert sums[0] != sums[1], "the overlay opacity changes what is drawn"

    # Refine Edges: compare on; the wheel zooms 4x about a point on the matte's edge (the graph
    # does not zoom), the split follows the pointer, a drag pans, the toolbar zooms further.
    refine = "BEN2RefineEdges"
    focus = _focus(page, refine)
    plain = page.evaluate(_panel_state(refine))
    page.evaluate(_click(refine, 'button[data-action="compare"]'))
    canvas_box = plain["canvasBox"]
    image_w, image_h = plain["imageSize"]
    scale = min(canvas_box["width"] / image_w, canvas_box["height"] / image_h)
    left = canvas_box["x"] + (canvas_box["width"] - image_w * scale) / 2
    top = canvas_box["y"] + (canvas_box["height"] - image_h * scale) / 2
    edge = {"x": left + 0.855 * image_w * scale, "y": top + 0.55 * image_h * scale}  # on the ellipse's rim
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", **edge})
    graph_scale = page.evaluate(f"{APP}.canvas.ds.scale")
    page.send("Input.dispatchMouseEvent", {"type": "mouseWheel", **edge, "deltaX": 0, "deltaY": -925})
    page.evaluate(_wait_drawn())
    compared = page.evaluate(_panel_state(refine))
    assert "compare" in compared["pressed"], compared
    assert compared["properties"]["ben2_compare"] is True
    assert abs(compared["properties"]["ben2_zoom"] - 4) < 0.05, compared["properties"]
    assert page.evaluate(f"{APP}.canvas.ds.scale") == graph_scale, "the wheel must zoom the preview, not the graph"
    # The image point under the pointer stays put: 0.855 of the width, a quarter of it visible.
    assert 0.75 < compared["properties"]["ben2_center_x"] < 0.8, compared["properties"]
    assert 0.75 < compared["split"] < 0.95, compared["split"]
    assert "ben2_split" not in compared["properties"], "hovering must not change saved properties"
    assert compared["sum"] != plain["sum"]
    assert compared["captureWheel"] == "true" and compared["focused"], compared
    page.screenshot(screens / "06_refine_compare_zoom4_edge.png", _clip(focus))
    # Everywhere else the wheel still zooms the graph: a node's title bar and an empty spot.
    for where in (refine, None):
        point = page.evaluate(_graph_wheel_point(where))
        assert point, "no empty spot of the graph canvas on screen"
        assert _wheel_zooms_graph(page, point), f"the wheel over {where or 'the empty graph'} must zoom the graph"
    assert not page.evaluate(_panel_state(refine))["focused"], "leaving the preview gives the focus back"
    assert page.evaluate(_panel_state(refine))["properties"]["ben2_zoom"] == compared["properties"]["ben2_zoom"]
    focus = _focus(page, refine)

    page.send("Input.dispatchMouseEvent", {"type": "mousePressed", **edge, "button": "left", "clickCount": 1})
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": edge["x"] - 60, "y": edge["y"], "button": "left"})
    page.send(
        "Input.dispatchMouseEvent",
        {"type": "mouseReleased", "x": edge["x"] - 60, "y": edge["y"], "button": "left", "clickCount": 1},
    )
    panned = page.evaluate(_panel_state(refine))
    assert panned["properties"]["ben2_center_x"] > compared["properties"]["ben2_center_x"], "drag left = view right"
    page.evaluate(_click(refine, 'button[data-action="zoom-in"]'))
    page.evaluate(_wait_drawn())
    zoomed = page.evaluate(_panel_state(refine))
    assert zoomed["properties"]["ben2_zoom"] == 8 and zoomed["zoomText"] == "8×", zoomed["properties"]
    page.screenshot(screens / "07_refine_compare_zoom8.png", _clip(focus))
    page.evaluate(
        f"(() => {{ const ds = {APP}.canvas.ds; ds.scale = 0.72; ds.offset = [100, 110]; "
        f"{APP}.canvas.setDirty(true, true); return true; }})()"
    )
    time.sleep(0.3)
    page.evaluate(_wait_drawn())
    page.screenshot(screens / "08_graph_after_changes.png")

    # Persistence: the saved workflow carries the choices; a reload restores them.
    saved = page.evaluate(f"JSON.stringify({APP}.graph.serialize())")
    saved_nodes = {node["type"]: node for node in json.loads(saved)["nodes"]}
    assert saved_nodes[segment]["properties"]["ben2_backdrop"] == "white"
    assert saved_nodes[refine]["properties"]["ben2_compare"] is True
    _open_page(page)
    assert page.evaluate("window.LiteGraph.vueNodesMode === true") == (mode == "nodes2"), "mode kept on reload"
    _open_workflow(page, json.loads(saved))
    page.evaluate(_wait_drawn())
    restored = {node_type: page.evaluate(_panel_state(node_type)) for node_type in PREVIEW_TYPES}
    assert restored[segment]["pressed"] == ["white"]
    assert restored[composite]["pressed"] == ["color"]
    assert restored[composite]["properties"]["ben2_backdrop_color"] == "#ff00ff"
    assert "compare" in restored[refine]["pressed"] and restored[refine]["zoomText"] != "fit"
    assert restored[trimap]["properties"]["ben2_trimap_opacity"] == 0.6
    # Re-queue with Refine Edges changed (cached nodes re-send their previews only where the node
    # declares an intermediate output): the reopened graph shows the new before/after at once.
    page.evaluate(
        f"""(() => {{ const node = {APP}.graph.nodes.find((n) => n.type === "{refine}");
        const mode = node.widgets.find((w) => w.name === "mode"); mode.value = "quality"; return true; }})()"""
    )
    page.evaluate(f"{APP}.queuePrompt(0, 1).then(() => true)")
    page.wait_for(f"({{...{_panel_state(refine)}}}).images > 0", 240, "previews after re-queue")
    page.evaluate(_wait_drawn())
    page.screenshot(screens / "09_reloaded_workflow.png")

    errors = _our_errors(page)
    assert not errors, "the extension logged errors:\n" + "\n".join(errors)
    all_errors = [e for e in page.console if e["type"] == "error"] + page.exceptions
    print(f"screenshots in {screens}; page errors not from the extension: {len(all_errors)}")
    for entry in all_errors[:10]:
        print("  (not ours)", entry.get("text", "")[:200])


def _zh_node_titles() -> dict[str, str]:
    """Chinese display names from locales/zh/nodeDefs.json."""
    path = REPO / "locales" / "zh" / "nodeDefs.json"
    node_defs = json.loads(path.read_text(encoding="utf-8"))
    return {node_id: entry["display_name"] for node_id, entry in node_defs.items() if entry.get("display_name")}


@pytest.mark.parametrize("mode", ["classic", "nodes2"])
def test_toolbar_follows_the_chinese_locale(comfy_server, browser: DevToolsPage, tmp_path: Path, mode: str) -> None:
    """With Comfy.Locale = zh the toolbar (titles, labels, legend) reads locales/zh/main.json, and the
    node titles come from locales/zh/nodeDefs.json."""
    page = browser
    screens = _screens_dir(tmp_path, f"{comfy_server['front_end']}-{mode}")
    zh = json.loads((REPO / "locales" / "zh" / "main.json").read_text(encoding="utf-8"))["ben2"]["preview"]
    try:
        _open_in_mode(page, comfy_server, mode, locale="zh")
        _open_workflow(page, _tiny_workflow())
        page.evaluate(EXTEND_GRAPH)
        texts = page.evaluate(
            f"""(() => {{
  const panel = (type) => {APP}.graph.nodes.find((n) => n.type === type).ben2Preview;
  const segment = panel("BEN2SegmentForeground"), refine = panel("BEN2RefineEdges");
  const trimap = panel("BEN2ConfidenceTrimap");
  const legend = trimap.toolbar.element.querySelector('[data-role="legend"]');
  return {{
    black: segment.controls.backdropButtons.black.title, picker: segment.controls.colorInput.title,
    fit: segment.controls.zoomText.textContent, compare: refine.controls.compareButton.textContent,
    compareTitle: refine.controls.compareButton.title, opacity: trimap.controls.opacityInput.title,
    legend: [...legend.children].map((e) => e.textContent).filter(Boolean),
    titles: Object.fromEntries({APP}.graph.nodes.map((n) => [n.type, n.title])),
    locale: {APP}.extensionManager?.setting?.get?.("Comfy.Locale") ?? {APP}.ui.settings.getSettingValue("Comfy.Locale"),
  }};
}})()"""
        )
        page.evaluate(_wait_drawn())
        page.screenshot(screens / "10_locale_zh.png")
    finally:
        _set_settings(comfy_server["url"], {"Comfy.Locale": "en"})
    assert texts["locale"] == "zh", texts
    assert texts["black"] == zh["backdropBlack"] and texts["picker"] == zh["backdropPicker"], texts
    assert texts["fit"] == zh["zoomFit"] and texts["compare"] == zh["compare"], texts
    assert texts["compareTitle"] == zh["compareTitle"] and texts["opacity"] == zh["overlayOpacity"], texts
    assert texts["legend"] == [zh["legendBackground"], zh["legendUnknown"], zh["legendForeground"]], texts
    expected_titles = _zh_node_titles()
    shown = set(expected_titles) & set(texts["titles"])
    assert shown, ("none of the pack's nodes was on the page", texts["titles"])
    for node_id in shown:
        assert texts["titles"][node_id] == expected_titles[node_id], (node_id, texts["titles"])
    print("zh node titles checked:", sorted(shown))
    errors = _our_errors(page)
    assert not errors, "the extension logged errors:\n" + "\n".join(errors)
