"""``ben2 remove --ray`` and ``BEN2Predictor`` on a local Ray runtime (2 CPUs, tiny network).

One Ray runtime serves the whole module (starting one costs seconds); the CLI joins the runtime this
process is connected to. The local run's files are the reference: the Ray runs must write the same bytes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")

from ben2_model.cli.remove import ImageJob, plan_jobs  # noqa: E402

from ..cli.runner import FIXTURES, run_in_process  # noqa: E402

SIZES = {
    "cat.png": (90, 60),
    "a/astronaut.jpg": (45, 64),
    "a/b/cat2.webp": (64, 64),
    "a/cat3.png": (70, 50),
    "dog.png": (40, 40),
}


@pytest.fixture(scope="module")
def ray_runtime():
    import logging

    # pytest names these modules after the checkout's folder (``main.tests.unit...`` when the
    # repository, a package itself, sits in ``main/``); the workers get that folder's parent on
    # their path so a class defined in the tests unpickles there under the same name.
    repo = Path(__file__).resolve().parents[3]
    paths = [str(repo.parent), str(repo), os.environ.get("PYTHONPATH", "")]
    ray.init(
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}},
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        object_store_memory=80 * 1024**2,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Five pictures in nested folders and one broken file."""
    root = tmp_path_factory.mktemp("photos")
    for index, (name, size) in enumerate(SIZES.items()):
        source = Image.open(FIXTURES / ("chelsea.png" if index % 2 == 0 else "astronaut.png")).convert("RGB")
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        source.resize(size, Image.BILINEAR).save(root / name, quality=95)
    (root / "a" / "broken.png").write_bytes(b"not a PNG at all")
    return root


@pytest.fixture(scope="module")
def local_run(photos: Path, checkpoint: Path, tmp_path_factory):
    """``files(threads)``: the plain local run's files (relative path -> bytes) with that many
    torch threads, the reference for every Ray run whose workers use as many.

    Run as a user runs it, in a fresh interpreter like the workers': state other tests leave in
    this process (thread counts, kernel switches) must not decide the comparison. The thread
    count must match: float32 sums split over another number of threads can round differently
    (oneDNN on an AMX Xeon does), and the files are compared byte for byte."""
    import subprocess

    runs: dict[int, dict[str, bytes]] = {}

    def files(threads: int) -> dict[str, bytes]:
        if threads not in runs:
            out = tmp_path_factory.mktemp(f"local{threads}")
            repo = Path(__file__).resolve().parents[3]
            command = [sys.executable, "-m", "ben2_model", "remove", str(photos), "-o", str(out),
                       "--model", str(checkpoint), "--batch-size", "2", "-q"]
            env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS=str(threads))
            done = subprocess.run(command, capture_output=True, text=True, cwd=repo, env=env, timeout=600)
            assert done.returncode == 1 and "broken.png: cannot read image" in done.stderr, done.stderr
            runs[threads] = files_under(out)
        return runs[threads]

    return files


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too: a partial would show up here)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_ray_run_writes_the_local_files_and_reports_the_broken_one(
    ray_runtime, photos: Path, checkpoint: Path, local_run, tmp_path: Path
) -> None:
    local_files = local_run(1)  # two workers on the 2-CPU runtime: one thread each
    assert sorted(local_files) == sorted(str(Path(name).with_suffix(".png").as_posix()) for name in SIZES)
    out = tmp_path / "ray"
    code, err = run_in_process(
        "remove", photos, "-o", out, "--model", checkpoint, "--batch-size", "2", "--ray", "--workers", "2"
    )
    assert code == 1, err  # the broken file: same exit code as the local run
    broken = [line for line in err.splitlines() if "broken.png" in line]
    assert len(broken) == 1 and "cannot read image" in broken[0], err
    assert "5 written" in err and "1 failed or skipped" in err, err
    assert files_under(out) == local_files  # byte for byte, and nothing else (no partial)


def test_a_killed_worker_is_replaced_and_its_files_redone(
    ray_runtime, photos: Path, checkpoint: Path, local_run, tmp_path: Path
) -> None:
    import cloudpickle

    from ben2_model.cli.remove import RemoveSettings, batched
    from ben2_model.distributed.ray import RayChunkRunner

    from . import crash_once

    cloudpickle.register_pickle_by_value(crash_once)  # the actors get the class, not an import
    out = tmp_path / "ray"
    jobs, _ = plan_jobs([str(photos)], out, ".png", overwrite=False)
    settings = RemoveSettings(
        format="png", refine="none", mask_only=False, background_color=None, background_pixels=None,
        fit="cover", batch_size=2, model=str(checkpoint), device="cpu", dtype="auto", compile=False,
    )
    flag = tmp_path / "crashed"
    worker = crash_once.crash_once_worker(flag)
    runner = RayChunkRunner(list(batched(jobs, 2)), settings, workers=2, worker_class=worker)
    try:
        results = [result for chunk in runner for result in chunk]
    finally:
        runner.close()

    assert flag.exists()  # a worker did die mid-chunk, after writing one file
    statuses = {result.source.name: result.status for result in results}
    assert statuses == {"cat.png": "written", "astronaut.jpg": "written", "cat2.webp": "written",
                        "cat3.png": "written", "dog.png": "written", "broken.png": "skipped"}
    assert files_under(out) == local_run(1)  # nothing lost, the dead worker's file redone, no partial


def test_interrupted_run_leaves_no_partial_and_the_next_one_resumes(
    ray_runtime, photos: Path, checkpoint: Path, local_run, tmp_path: Path, monkeypatch
) -> None:
    import ben2_model.cli.remove as remove

    local_files = local_run(2)  # one worker on the 2-CPU runtime: two threads

    class CtrlCAfterFirstChunk:
        def update(self, count: int = 1) -> None:
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

    out = tmp_path / "ray"
    argv = ("remove", photos, "-o", out, "--model", checkpoint, "--batch-size", "2", "--ray", "--workers", "1")
    with monkeypatch.context() as patch:
        patch.setattr(remove, "make_progress", lambda *args: CtrlCAfterFirstChunk())
        code, err = run_in_process(*argv)
    assert code == 130 and "interrupted" in err, err
    first = files_under(out)
    assert 0 < len(first) < len(local_files), first.keys()  # stopped part-way
    assert all(local_files[name] == data for name, data in first.items())  # finished files only

    code, err = run_in_process(*argv)
    assert code == 1, err  # the existing outputs are reported as skipped, as in a local run
    assert sum("exists (use --overwrite" in line for line in err.splitlines()) == len(first), err
    assert f"{len(local_files) - len(first)} written" in err, err
    assert files_under(out) == local_files


def test_ben2_predictor_in_ray_data_map_batches(ray_runtime, checkpoint: Path, tiny_model) -> None:
    import torch

    from ben2_model import BEN2Predictor, predict_alpha

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 40, 56, 3), dtype=np.uint8)
    dataset = ray.data.from_numpy(images).rename_columns({"data": "image"})
    rows = dataset.map_batches(
        BEN2Predictor, fn_constructor_kwargs={"model": str(checkpoint), "device": "cpu"},
        concurrency=1, batch_size=2, num_cpus=1,
    ).take_all()

    alpha = np.stack([row["alpha"] for row in rows])  # [3,40,56]
    expected = predict_alpha(tiny_model, torch.from_numpy(images).float() / 255).numpy()
    assert alpha.shape == (3, 40, 56) and alpha.dtype == np.float32
    np.testing.assert_allclose(alpha, expected, atol=1e-5)
    assert alpha.max() - alpha.min() > 0.5  # min-max normalised: a real matte, not a constant

    # RGBA of different sizes, as a plain call (no Ray): the object column path.
    predictor = BEN2Predictor(tiny_model, output="rgba")
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = images[0], images[1, :32, :20]
    rgba = predictor({"image": ragged})["rgba"]
    assert rgba[0].shape == (40, 56, 4) and rgba[1].shape == (32, 20, 4)
    np.testing.assert_allclose(rgba[0][..., 3], expected[0], atol=1e-5)
    np.testing.assert_allclose(rgba[0][..., :3], images[0] / 255, atol=1e-6)


def test_without_ray_the_option_says_what_to_install(tmp_path: Path, monkeypatch, photos: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, err = run_in_process("remove", photos / "cat.png", "-o", tmp_path / "out", "--ray")
    assert code == 2, err
    assert 'pip install "comfyui-ben2[ray]"' in err and "--ray needs Ray" in err, err
    assert not (tmp_path / "out").exists()  # nothing was done

    code, err = run_in_process("remove", photos / "cat.png", "-o", tmp_path / "out", "--workers", "2")
    assert code == 2 and "--workers is for --ray runs" in err, err

    with pytest.raises(ImportError, match=r'pip install "comfyui-ben2\[ray\]"'):
        from ben2_model.distributed import import_ray

        import_ray()
