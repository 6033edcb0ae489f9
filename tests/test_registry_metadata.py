"""pyproject.toml against the Comfy Registry's specification (docs.comfy.org/registry/specifications),
with its rules written out, as comfy-cli's ``extract_node_configuration`` reads the same fields."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parent.parent
PROJECT_URL = "https://github.com/comfyui-ben2/ComfyUI-BEN2"


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def test_name_follows_the_registry_rules(pyproject):
    name = pyproject["project"]["name"]
    assert len(name) < 100
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", name), "letters, digits, - _ . only; starts with a letter"
    assert not re.search(r"[._-]{2}", name), "no consecutive special characters"
    assert name[-1] not in "._-"


def test_version_is_semantic_x_y_z(pyproject):
    assert re.fullmatch(r"\d+\.\d+\.\d+", pyproject["project"]["version"])


def test_licence_is_a_file_or_text_table(pyproject):
    licence = pyproject["project"]["license"]
    assert isinstance(licence, dict) and set(licence) <= {"file", "text"} and licence
    if "file" in licence:
        text = (REPO / licence["file"]).read_text(encoding="utf-8")
        assert "MIT License" in text  # BEN2 and this pack are MIT


def test_urls_and_comfy_fields(pyproject):
    urls = pyproject["project"]["urls"]
    assert urls["Repository"] == PROJECT_URL
    assert all(u.startswith(PROJECT_URL) for u in urls.values())
    comfy = pyproject["tool"]["comfy"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", comfy["PublisherId"]), "publisher ids are lowercase"
    assert comfy["DisplayName"].strip()
    assert re.fullmatch(r"(>=|==|~=|>|<=|<)?\d+\.\d+\.\d+(,\s*(<|<=)\d+\.\d+\.\d+)?", comfy["requires-comfyui"])
    assert isinstance(comfy["includes"], list)


def test_icon_is_an_image_in_this_repository_referenced_by_url(pyproject):
    from PIL import Image

    icon = pyproject["tool"]["comfy"]["Icon"]
    prefix = "https://raw.githubusercontent.com/comfyui-ben2/ComfyUI-BEN2/main/"
    assert icon.startswith(prefix)
    with Image.open(REPO / icon[len(prefix):]) as image:
        assert image.format == "PNG" and image.width == image.height and 128 <= image.width <= 400


def test_the_weights_are_listed_as_the_loader_downloads_them(pyproject):
    from ben2_model.weights.hub import HUB_FILENAME, HUB_REPO

    (model,) = pyproject["tool"]["comfy"]["Models"]
    assert model["model_url"] == f"https://huggingface.co/{HUB_REPO}/resolve/main/{HUB_FILENAME}"
    assert model["location"] == f"/ben2/{HUB_FILENAME}"  # models/ben2, Load BEN2's folder


def test_requirements_leave_torch_to_comfyui(pyproject):
    declared = pyproject["project"]["dependencies"]
    requirements = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert sorted(declared) == sorted(requirements)
    assert not any(re.match(r"(torch|torchvision|torchaudio)\b", d) for d in declared + requirements)
