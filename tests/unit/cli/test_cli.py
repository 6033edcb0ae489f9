"""The ``ben2`` command line on a tiny seeded checkpoint.

The main paths run as a subprocess (``python -m ben2_model``), exit code and stderr as a script sees
them. Each subprocess imports torch (seconds on a busy machine), so variants of a path already covered
that way (other backgrounds, usage errors) run in-process through ``ben2_model.cli.main.main``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .runner import FIXTURES, assert_no_traceback, run_cli, run_in_process


def photo(name: str, size: tuple[int, int]) -> Image.Image:
    """A real photograph from the fixtures, shrunk (the network resizes to its input size anyway)."""
    return Image.open(FIXTURES / name).convert("RGB").resize(size, Image.BILINEAR)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# images and folders


def test_folder_recursive_with_corrupt_file_and_fast_refine(tmp_path: Path, checkpoint: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "sub" / "deeper").mkdir(parents=True)
    (photos / ".hidden").mkdir()
    sizes = {"cat.png": (90, 60), "sub/astronaut.jpg": (45, 64), "sub/deeper/cat2.webp": (64, 64)}
    photo("chelsea.png", sizes["cat.png"]).save(photos / "cat.png")
    photo("astronaut.png", sizes["sub/astronaut.jpg"]).save(photos / "sub" / "astronaut.jpg", quality=95)
    photo("chelsea.png", sizes["sub/deeper/cat2.webp"]).save(photos / "sub" / "deeper" / "cat2.webp")
    (photos / "sub" / "broken.jpg").write_bytes(b"this is not a JPEG at all")
    (photos / "notes.txt").write_text("not an image")
    photo("chelsea.png", (32, 32)).save(photos / ".hidden" / "skip.png")
    out = tmp_path / "out"

    result = run_cli(
        "remove", photos, "-o", out, "--model", checkpoint, "--refine", "fast", "--batch-size", "2"
    )

    assert result.returncode == 1, result.stderr  # one input failed, the rest was written
    assert_no_traceback(result)
    broken_lines = [line for line in result.stderr.splitlines() if "broken.jpg" in line]
    assert len(broken_lines) == 1 and "cannot read image" in broken_lines[0]
    written = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert written == ["cat.png", "sub/astronaut.png", "sub/deeper/cat2.png"]
    for name, size in sizes.items():
        image = Image.open(out / Path(name).with_suffix(".png"))
        assert image.mode == "RGBA" and image.size == size
        alpha = np.asarray(image.getchannel("A"))
        assert alpha.max() - alpha.min() > 20  # a real matte, not a constant

    # Plain run on the same cat (in-process): --refine fast must have changed the matte or the colours.
    plain = tmp_path / "plain"
    code, err = run_in_process(
        "remove", photos / "cat.png", "-o", plain, "--model", checkpoint,
        "-q", "--device", "cpu", "--dtype", "fp32",
    )
    assert (code, err) == (0, "")
    plain_rgba = pixels(plain / "cat.png")
    refined_rgba = pixels(out / "cat.png")
    np.testing.assert_array_equal(plain_rgba[..., :3], np.asarray(Image.open(photos / "cat.png"), np.float64))
    assert np.abs(plain_rgba - refined_rgba).max() > 0

    # Same command again: every output exists, so nothing is replaced, each is reported, exit code 1.
    (photos / "sub" / "broken.jpg").unlink()
    before = {path: path.read_bytes() for path in out.rglob("*.png")}
    result = run_cli("remove", photos, "-o", out, "--model", checkpoint)
    assert result.returncode == 1
    assert_no_traceback(result)
    assert sum("exists (use --overwrite" in line for line in result.stderr.splitlines()) == 3
    assert {path: path.read_bytes() for path in out.rglob("*.png")} == before


def test_backgrounds_mask_and_overwrite(tmp_path: Path, checkpoint: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    photo("chelsea.png", (72, 48)).save(source / "cat.png")
    image = pixels(source / "cat.png")

    matte = tmp_path / "matte"
    code, err = run_in_process(
        "remove", source, "-o", matte, "--model", checkpoint, "--mask-only", terminal=True
    )
    assert code == 0, err
    assert "100%" in err and "1/1" in err  # the progress bar, drawn only on a terminal
    mask = Image.open(matte / "cat.png")
    assert mask.mode == "L" and mask.size == (72, 48)
    alpha = np.asarray(mask, np.float64)[..., None] / 255.0

    refined = tmp_path / "refined"
    code, err = run_in_process(
        "remove", source, "-o", refined, "--model", checkpoint, "--mask-only", "--refine", "quality"
    )
    assert code == 0, err
    refined_alpha = np.asarray(Image.open(refined / "cat.png"), np.float64)
    assert refined_alpha.shape == (48, 72) and np.abs(refined_alpha - alpha[..., 0] * 255).max() > 0

    # A colour: JPEG output (4:4:4, quality 95), so only compression noise separates it from the formula.
    composites = tmp_path / "composites"
    code, err = run_in_process(
        "remove", source, "-o", composites, "--model", checkpoint,
        "--background", "#00ff00", "--format", "jpg",
    )
    assert code == 0, err
    on_green = Image.open(composites / "cat.jpg")
    assert on_green.format == "JPEG" and on_green.mode == "RGB" and on_green.size == (72, 48)
    expected = alpha * image + (1 - alpha) * np.array([0.0, 255.0, 0.0])
    error = np.abs(np.asarray(on_green, np.float64) - expected)
    assert error.mean() < 5 and np.percentile(error, 99) < 24  # a wrong colour would be off by ~100

    # An image of another size, one solid colour (any resampling gives the same pixels), replacing the
    # green result through --overwrite.
    backdrop = tmp_path / "backdrop.png"
    Image.new("RGB", (31, 17), (200, 30, 90)).save(backdrop)
    code, err = run_in_process(
        "remove", source, "-o", composites, "--model", checkpoint, "--background", backdrop,
        "--format", "jpg", "--overwrite",
    )
    assert code == 0, err
    on_image = np.asarray(Image.open(composites / "cat.jpg"), np.float64)
    expected = alpha * image + (1 - alpha) * np.array([200.0, 30.0, 90.0])
    error = np.abs(on_image - expected)
    assert error.mean() < 5 and np.percentile(error, 99) < 24  # a wrong colour would be off by ~100
    assert [path.name for path in composites.iterdir()] == ["cat.jpg"]  # no temporary file left behind


# ------------------------------------------------------------------------------------------------
# model loading failures: exit code 3, one clear line


def test_missing_and_foreign_checkpoints_exit_3(tmp_path: Path) -> None:
    photo("chelsea.png", (40, 30)).save(tmp_path / "cat.png")
    missing = tmp_path / "nowhere" / "ben2.safetensors"
    code, err = run_in_process("remove", tmp_path / "cat.png", "-o", tmp_path / "out", "--model", missing)
    assert code == 3
    assert str(missing) in err and "does not exist" in err
    assert not (tmp_path / "out").exists()  # nothing written when the model is unusable

    from safetensors.torch import save_file
    import torch

    foreign = tmp_path / "resnet.safetensors"
    save_file({"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(10)}, str(foreign))
    result = run_cli("remove", tmp_path / "cat.png", "-o", tmp_path / "out", "--model", foreign)
    assert result.returncode == 3
    assert_no_traceback(result)
    assert str(foreign) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_offline_without_model_fails_fast_naming_the_file(tmp_path: Path) -> None:
    photo("chelsea.png", (40, 30)).save(tmp_path / "cat.png")
    empty_home = tmp_path / "hf_home"
    empty_home.mkdir()
    result = run_cli(
        "remove", tmp_path / "cat.png", "-o", tmp_path / "out",
        env={"HF_HOME": str(empty_home), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(empty_home / "hub")},
        timeout=60,
    )
    assert result.returncode == 3
    assert_no_traceback(result)
    assert "model.safetensors" in result.stderr and "PramaLLC/BEN2" in result.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------
# usage errors and help (in-process: no network is loaded for them)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        ([], "COMMAND"),
        (["remove", "x.png"], "-o"),
        (["remove", "x.png", "-o", "out", "--batch-size", "0"], "--batch-size"),
        (["remove", "x.png", "-o", "out", "--background", "not-a-colour"], "not a colour"),
        (["remove", "x.png", "-o", "out", "--background", "0,300,0"], "0-255"),
        (["remove", "x.png", "-o", "out", "--format", "jpg"], "--background"),
        (["remove", "x.png", "-o", "out", "--mask-only", "--background", "white"], "--mask-only"),
        (["remove", "x.png", "-o", "out", "--refine", "best"], "--refine"),
        (["remove", "x.png", "-o", "out", "--device", "tpu"], "--device"),
        (["video", "clip.mp4", "-o", "clip.avi"], ".webm"),
        (["video", "clip.mp4", "-o", "clip.webm", "--background", "white"], ".mp4"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], fragment: str, capsys, tmp_path: Path, monkeypatch) -> None:
    from ben2_model.cli.main import EXIT_USAGE, main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert fragment in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_device_is_a_usage_error(tmp_path: Path, checkpoint: Path) -> None:
    photo("chelsea.png", (40, 30)).save(tmp_path / "cat.png")
    code, err = run_in_process("remove", tmp_path / "cat.png", "-o", tmp_path / "out", "--device", "cuda",
                               "--model", checkpoint)
    assert code == 2 and "CUDA is not available" in err and "--device cpu" in err
    assert not (tmp_path / "out").exists()


def test_output_that_is_a_file_is_a_usage_error(tmp_path: Path, capsys) -> None:
    from ben2_model.cli.main import main

    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["remove", str(tmp_path / "x.png"), "-o", str(tmp_path / "taken")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_every_option_has_help() -> None:
    from ben2_model.cli.main import build_parser

    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    assert set(commands) == {"remove", "video", "export"}
    for name, command in commands.items():
        text = command.format_help()
        assert "exit codes" in text
        for action in command._actions:
            assert action.help, f"ben2 {name}: {action.option_strings or action.dest} has no help"
            for flag in action.option_strings:
                assert flag in text


def test_help_exits_0_and_lists_the_options(capsys) -> None:
    from ben2_model.cli.main import main

    assert main(["remove", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--background", "--refine", "--model", "--device", "--dtype", "--batch-size", "--overwrite"):
        assert flag in text
    assert "exit codes" in text


def test_planning_mirrors_folders_and_refuses_collisions(tmp_path: Path) -> None:
    from ben2_model.cli.remove import plan_jobs

    photos = tmp_path / "photos"
    (photos / "a").mkdir(parents=True)
    for name in ("x.png", "a/y.jpg", "a/y.png", "notes.txt"):
        (photos / name).write_bytes(b"")
    (photos / "cutouts").mkdir()
    (photos / "cutouts" / "x.png").write_bytes(b"")  # a result of an earlier run inside the input folder

    # Results inside the input folder: the folder's earlier results are not inputs again.
    jobs, problems = plan_jobs([str(photos)], photos / "cutouts", ".png", overwrite=True)
    pairs = {
        job.source.relative_to(photos).as_posix(): job.target.relative_to(photos).as_posix() for job in jobs
    }
    assert pairs == {"x.png": "cutouts/x.png", "a/y.jpg": "cutouts/a/y.png"}
    # a/y.jpg and a/y.png both want cutouts/a/y.png: the second is reported, not silently dropped.
    assert len(problems) == 1 and "a/y.png" in problems[0] and "already writes" in problems[0]

    # Results into the input folder itself, same extension: never replace an input.
    jobs, problems = plan_jobs([str(photos / "x.png")], photos, ".png", overwrite=True)
    assert jobs == [] and "replace the input" in problems[0]

    # Missing paths and empty folders are reported, one line each.
    (tmp_path / "empty").mkdir()
    inputs = [str(tmp_path / "missing.png"), str(tmp_path / "empty")]
    jobs, problems = plan_jobs(inputs, tmp_path / "o", ".png", overwrite=False)
    assert jobs == [] and len(problems) == 2
    assert "no such file" in problems[0] and "no image files" in problems[1]
