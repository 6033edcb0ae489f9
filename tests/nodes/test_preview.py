"""nodes/preview.py: preview PNGs for the web extension, tested without ComfyUI."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

PREVIEW_PATH = Path(__file__).resolve().parents[2] / "nodes" / "preview.py"


def _load_preview_module() -> types.ModuleType:
    # By path: the nodes package may import ComfyUI in its __init__, preview.py must not need it.
    spec = importlib.util.spec_from_file_location("ben2_nodes_preview_under_test", PREVIEW_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


preview = _load_preview_module()


def _open(directory: Path, entry: dict) -> Image.Image:
    assert entry["subfolder"] == "" and entry["type"] == "temp"
    return Image.open(directory / entry["filename"])


def test_rgba_preview_keeps_alpha_and_values(tmp_path: Path) -> None:
    rgba = torch.zeros(2, 6, 8, 4)
    rgba[0, :, :4] = torch.tensor([1.0, 0.5, 0.0, 1.0])
    rgba[0, :, 4:] = torch.tensor([0.0, 0.0, 1.0, 0.25])
    rgba[1] = 0.5
    ui = preview.rgba_preview_ui(rgba, directory=tmp_path)
    assert set(ui) == {"ben2_rgba", "ben2_batch_size"}
    assert ui["ben2_batch_size"] == [2]
    assert len(ui["ben2_rgba"]) == 2
    first = _open(tmp_path, ui["ben2_rgba"][0])
    assert first.mode == "RGBA" and first.size == (8, 6)
    pixels = np.asarray(first)
    assert tuple(pixels[0, 0]) == (255, 128, 0, 255)
    assert tuple(pixels[5, 7]) == (0, 0, 255, 64)
    assert tuple(np.asarray(_open(tmp_path, ui["ben2_rgba"][1]))[3, 3]) == (128, 128, 128, 128)


def test_ui_values_are_lists_and_never_core_images_key(tmp_path: Path) -> None:
    """ComfyUI merges ui dicts list by list; 'images' would make the default frontend draw its own preview."""
    image = torch.rand(1, 4, 4, 4)
    for ui in (
        preview.rgba_preview_ui(image, directory=tmp_path),
        preview.trimap_preview_ui(torch.zeros(1, 4, 4), image[..., :3], directory=tmp_path),
        preview.compare_preview_ui(image, image, directory=tmp_path),
    ):
        assert "images" not in ui
        assert all(isinstance(value, list) for value in ui.values()), ui


def test_rgb_input_is_previewed_opaque(tmp_path: Path) -> None:
    ui = preview.rgba_preview_ui(torch.full((1, 3, 3, 3), 0.2), directory=tmp_path)
    assert _open(tmp_path, ui["ben2_rgba"][0]).mode == "RGB"


def test_big_batches_are_capped_and_downscaled(tmp_path: Path) -> None:
    count = preview.MAX_PREVIEW_IMAGES + 2
    big = preview.MAX_PREVIEW_SIDE * 2
    rgba = torch.linspace(0, 1, big).view(1, big, 1, 1).expand(count, big, big // 2, 4)
    ui = preview.rgba_preview_ui(rgba, directory=tmp_path)
    assert len(ui["ben2_rgba"]) == preview.MAX_PREVIEW_IMAGES
    assert ui["ben2_batch_size"] == [count]
    assert _open(tmp_path, ui["ben2_rgba"][0]).size == (preview.MAX_PREVIEW_SIDE // 2, preview.MAX_PREVIEW_SIDE)
    assert len(list(tmp_path.iterdir())) == preview.MAX_PREVIEW_IMAGES


def test_preview_size_never_upscales() -> None:
    assert preview.preview_size(100, 50, 768) == (100, 50)
    assert preview.preview_size(2000, 1000, 500) == (500, 250)
    assert preview.preview_size(1, 10_000, 100) == (1, 100)


def test_trimap_preview_keeps_three_exact_levels_when_downscaled(tmp_path: Path) -> None:
    side = preview.MAX_PREVIEW_SIDE * 2
    trimap = torch.zeros(1, side, side)
    trimap[:, :, side // 3 :] = 0.5
    trimap[:, :, 2 * side // 3 :] = 1.0
    image = torch.full((1, side, side, 3), 0.3)
    ui = preview.trimap_preview_ui(trimap, image, directory=tmp_path)
    grey = _open(tmp_path, ui["ben2_trimap"][0])
    assert grey.mode == "L" and grey.size == (preview.MAX_PREVIEW_SIDE, preview.MAX_PREVIEW_SIDE)
    assert set(np.unique(np.asarray(grey)).tolist()) == {0, 128, 255}
    under = _open(tmp_path, ui["ben2_trimap_image"][0])
    assert under.mode == "RGB" and under.size == grey.size


def test_trimap_preview_without_image(tmp_path: Path) -> None:
    ui = preview.trimap_preview_ui(torch.ones(3, 5, 5) * 0.5, None, directory=tmp_path)
    assert ui["ben2_trimap_image"] == []
    assert len(ui["ben2_trimap"]) == 3
    assert np.asarray(_open(tmp_path, ui["ben2_trimap"][2])).max() == 128


def test_compare_preview_pairs_and_larger_cap(tmp_path: Path) -> None:
    side = preview.MAX_COMPARE_SIDE + 64
    before = torch.zeros(2, side, side // 2, 4)
    after = torch.ones(2, side, side // 2, 4)
    ui = preview.compare_preview_ui(before, after, directory=tmp_path)
    assert len(ui["ben2_before"]) == len(ui["ben2_after"]) == 2
    expected = preview.preview_size(side, side // 2, preview.MAX_COMPARE_SIDE)
    assert expected[0] == preview.MAX_COMPARE_SIDE
    assert _open(tmp_path, ui["ben2_before"][0]).size == (expected[1], expected[0])
    assert np.asarray(_open(tmp_path, ui["ben2_after"][1])).min() == 255
    assert np.asarray(_open(tmp_path, ui["ben2_before"][1])).max() == 0
    assert preview.MAX_COMPARE_SIDE >= preview.MAX_PREVIEW_SIDE


def test_filenames_are_unique_across_calls(tmp_path: Path) -> None:
    rgba = torch.rand(1, 4, 4, 4)
    names = {preview.rgba_preview_ui(rgba, directory=tmp_path)["ben2_rgba"][0]["filename"] for _ in range(20)}
    assert len(names) == 20


def test_half_precision_nan_and_out_of_range_values(tmp_path: Path) -> None:
    rgba = torch.tensor([[[[float("nan"), 2.0, -1.0, 0.5]]]], dtype=torch.float16)
    ui = preview.rgba_preview_ui(rgba, directory=tmp_path)
    assert tuple(np.asarray(_open(tmp_path, ui["ben2_rgba"][0]))[0, 0]) == (0, 255, 0, 128)
    bf16 = preview.rgba_preview_ui(torch.ones(1, 2, 2, 4, dtype=torch.bfloat16), directory=tmp_path)
    assert np.asarray(_open(tmp_path, bf16["ben2_rgba"][0])).min() == 255


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda d: preview.rgba_preview_ui(torch.rand(4, 4, 4), directory=d), ValueError, r"\[B,H,W,C\]"),
        (lambda d: preview.rgba_preview_ui(torch.rand(1, 4, 4, 2), directory=d), ValueError, "C in"),
        (lambda d: preview.rgba_preview_ui(np.zeros((1, 4, 4, 4)), directory=d), TypeError, "torch.Tensor"),
        (lambda d: preview.rgba_preview_ui(torch.rand(0, 4, 4, 4), directory=d), ValueError, "empty"),
        (lambda d: preview.trimap_preview_ui(torch.rand(1, 4, 4, 1), directory=d), ValueError, r"\[B,H,W\]"),
        (
            lambda d: preview.compare_preview_ui(torch.rand(1, 4, 4, 4), torch.rand(1, 5, 4, 4), directory=d),
            ValueError,
            "same shape",
        ),
    ],
)
def test_bad_input_raises_clear_errors(tmp_path: Path, call, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == [], "nothing is written on bad input"


def test_default_directory_is_comfyui_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a directory the helpers ask ComfyUI's folder_paths (imported lazily) for the temp folder."""
    stub = types.ModuleType("folder_paths")
    stub.get_temp_directory = lambda: str(tmp_path / "temp")
    monkeypatch.setitem(sys.modules, "folder_paths", stub)
    ui = preview.rgba_preview_ui(torch.rand(1, 3, 3, 4))
    assert (tmp_path / "temp" / ui["ben2_rgba"][0]["filename"]).is_file()


def test_module_imports_without_comfyui() -> None:
    assert "folder_paths" not in preview.__dict__
    source = PREVIEW_PATH.read_text(encoding="utf-8")
    top_level_imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not any("folder_paths" in line or "comfy" in line for line in top_level_imports), top_level_imports
