"""Throughput of ``ben2 remove --ray`` against the plain local run: ``python -m ben2_model.bench.ray``.

Writes ``--images`` synthetic pictures (the fixture cat at 640x480) and a seeded checkpoint, then runs
``ben2 remove`` on them in this process: locally, and on a local Ray runtime (started once, with this
machine's CPUs) with 1 and 2 workers. Each timing is a whole command (network load and, for Ray, the
workers' start included), so the overhead per image is what a user pays: (Ray time - local time) /
images. Prints images/s and the load average. Needs ``pip install "comfyui-ben2[ray]"``.

Examples::

    python -m ben2_model.bench.ray --tiny              # the tiny network: Ray's own costs show
    python -m ben2_model.bench.ray --images 4          # full size (~12 s an image on a 2-core CPU)
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "chelsea.png"


def _inputs(folder: Path, count: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    if FIXTURE.is_file():
        source = Image.open(FIXTURE).convert("RGB").resize((640, 480), Image.BILINEAR)
    else:  # installed without the tests: a gradient will do for timing
        import numpy as np

        ramp = np.linspace(0, 255, 640, dtype=np.uint8)
        source = Image.fromarray(np.stack([np.tile(ramp, (480, 1))] * 3, axis=-1))
    for index in range(count):
        source.rotate(index * 7).save(folder / f"img{index:03d}.png")
    return folder


def _checkpoint(path: Path, tiny: bool) -> Path:
    import torch
    from safetensors.torch import save_file

    from ..weights.seeded import TINY_CONFIG, seeded_model

    torch.manual_seed(0)
    config = TINY_CONFIG if tiny else {}
    model = seeded_model(**config)
    save_file(model.state_dict(), str(path), metadata={"input_size": str(config.get("input_size", 1024))})
    return path


def _timed(argv: list[str]) -> float:
    from ..cli.main import main

    start = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"ben2 {' '.join(argv)} exited with {code}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ben2_model.bench.ray",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tiny", action="store_true", help="the tiny test network instead of the full one")
    parser.add_argument("--images", type=int, default=None, help="pictures per run (default: 24 tiny, 4 full)")
    parser.add_argument("--batch-size", type=int, default=1, help="--batch-size of every run (default: 1)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray pool sizes (default: 1 2)")
    args = parser.parse_args(argv)
    count = args.images or (24 if args.tiny else 4)

    import logging

    import ray

    scratch = Path(tempfile.mkdtemp(prefix="ben2-bench-ray-"))
    try:
        photos = _inputs(scratch / "in", count)
        model = _checkpoint(scratch / "model.safetensors", args.tiny)
        common = ["--model", str(model), "--batch-size", str(args.batch_size), "-q", "--device", "cpu"]
        load_before = os.getloadavg()
        ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        local = _timed(["remove", str(photos), "-o", str(scratch / "local"), *common])
        rows = [("local (this process)", local)]
        for workers in args.workers:
            out = scratch / f"ray{workers}"
            rows.append((f"ray, {workers} worker(s)", _timed(["remove", str(photos), "-o", str(out), *common,
                                                              "--ray", "--workers", str(workers)])))
        ray.shutdown()
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    network = "tiny" if args.tiny else "full-size"
    print(f"ben2 remove, {count} images 640x480, {network} BEN2 (seeded), batch {args.batch_size}, "
          f"CPU ({cpus} CPUs for Ray, torch threads: local default, Ray workers their CPU share)")
    print(f"{'run':<24}{'seconds':>9}{'images/s':>10}{'overhead s/image':>18}")
    for name, seconds in rows:
        overhead = "" if name.startswith("local") else f"{(seconds - local) / count:+.2f}"
        print(f"{name:<24}{seconds:>9.2f}{count / seconds:>10.2f}{overhead:>18}")
    print("load average before: %.2f %.2f %.2f, after: %.2f %.2f %.2f" % (*load_before, *load_after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
