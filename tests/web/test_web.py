"""Runs the front-end unit tests (``node --test web/tests``) so the one CI command covers them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def test_web_unit_tests_pass_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the web/ unit tests (node --test web/tests) need Node.js >= 18")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"node {version} lacks the built-in test runner; web/ unit tests need Node.js >= 18")
    test_files = sorted(str(path) for path in (WEB_DIR / "tests").glob("*.test.mjs"))
    assert test_files, "no web/tests/*.test.mjs found"
    result = subprocess.run(
        [node, "--test", *test_files], cwd=WEB_DIR.parent, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"node --test failed:\n{result.stdout}\n{result.stderr}"
    assert "# fail 0" in result.stdout, result.stdout


def test_extension_files_parse_as_modules() -> None:
    """Every .js file ComfyUI will import from web/ must at least parse (a syntax error breaks the page)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot syntax-check web/*.js")
    files = sorted(WEB_DIR.rglob("*.js"))
    assert WEB_DIR / "ben2.js" in files
    for path in files:
        result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{path.name} does not parse:\n{result.stderr}"


def test_extension_hooks_only_our_node_types() -> None:
    """No global hooks that would run for every node of every graph (nodeCreated, getCustomWidgets...)."""
    source = (WEB_DIR / "ben2.js").read_text(encoding="utf-8")
    assert "beforeRegisterNodeDef" in source
    for costly_hook in ("nodeCreated(", "loadedGraphNode(", "getCustomWidgets(", "LGraphCanvas.prototype"):
        assert costly_hook not in source, f"web/ben2.js uses {costly_hook}, which runs for every node"
