"""Our ONNX graph in onnxruntime against PyTorch eager and the official graph: ``python -m ben2_model.bench.onnx``.

Exports the full-size network with seeded weights (``ben2_model.weights.seeded``) through
``export_onnx`` (timed), then runs each configuration in its own process (so its peak RSS is
its own): our graph in onnxruntime, our PyTorch eager fp32 (fast kernels) and, with
``--reference path/to/modeling_ben2.py``, the official PramaLLC/BEN2 network exported at batch 1
(static shapes, like the publisher's ``BEN2_Base.onnx``) and run in the same onnxruntime
settings. The official module imports einops (give ``--reference-python``, e.g. a venv made with
``--system-site-packages`` and ``pip install --no-deps einops``), and timm, torchvision and cv2
for a few helpers, ``inference()`` and video: ``reference_stubs/`` beside this file (prepended to
the reference worker's ``PYTHONPATH``; ``--reference-stubs`` names another folder) holds
stand-ins for those, so nothing that pulls torch is installed.

Each worker loads its model, runs ``--warmup`` untimed forwards (default 2), then ``--runs``
timed ones on the same deterministic image; the table gives the median, the peak RSS and how far
each mask is from our PyTorch fp32 mask. The load average is printed before and after: compare
runs only on a quiet machine.

Examples::

    python -m ben2_model.bench.onnx --threads 2
    python -m ben2_model.bench.onnx --reference ../BEN2/src/ben2/modeling_ben2.py --reference-python venv/bin/python
    python -m ben2_model.bench.onnx --tiny --runs 1          # plumbing check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


# --------------------------------------------------------------------------- workers


def _time_forward(forward, x, runs: int, warmup: int) -> list[float]:
    # warm-up: first-call allocations, onnxruntime's lazy initialisation; with the memory arena
    # on, onnxruntime's second run was still 1.5x its steady state, hence two by default
    for _ in range(warmup):
        forward(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        forward(x)
        times.append(time.perf_counter() - start)
    return times


def _worker(args) -> dict:
    import numpy as np
    import torch

    from .network import _input_batch

    torch.set_num_threads(args.threads)
    x = _input_batch(1, args.size)
    result: dict = {"impl": args.impl}
    if args.impl == "export":
        from .. import export_onnx, load_model

        model = load_model(args.weights, dtype="fp32")
        start = time.perf_counter()
        export_onnx(model, args.graph)
        result["export_s"] = time.perf_counter() - start
        result["peak_rss_mib"] = _peak_rss_mib()
        return result
    if args.impl == "export-official":
        return _export_official(args, result)
    if args.impl == "torch":
        from .. import load_model

        model = load_model(args.weights, dtype="fp32")

        def forward(batch):
            with torch.inference_mode():
                return model(batch).numpy()
    else:  # onnxruntime on a graph file
        from ..onnx.runtime import import_onnxruntime

        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = args.arena == "on"
        start = time.perf_counter()
        session = ort.InferenceSession(args.graph, options, providers=["CPUExecutionProvider"])
        result["session_s"] = time.perf_counter() - start
        name = session.get_inputs()[0].name

        def forward(batch):
            return session.run(None, {name: batch.numpy()})[0]

    times = _time_forward(forward, x, args.runs, args.warmup)
    np.save(args.mask_out, forward(x).astype(np.float32))
    result.update(times=times, median_s=statistics.median(times), peak_rss_mib=_peak_rss_mib())
    return result


def _export_official(args, result: dict) -> dict:
    """Build the official ``BEN_Base`` with our seeded weights and export it as a batch-1 graph."""
    import importlib.util
    import warnings

    import torch
    from safetensors.torch import load_file

    spec = importlib.util.spec_from_file_location("modeling_ben2", args.reference)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.BEN_Base().eval()
    model.load_state_dict(load_file(args.weights), strict=True)
    # the official forward is wrapped in inference_mode and CUDA autocast: trace the plain function
    forward = model.forward
    while hasattr(forward, "__wrapped__"):
        forward = forward.__wrapped__
    model.forward = forward.__get__(model)
    x = torch.zeros(1, 3, args.size, args.size)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the TorchScript exporter of torch 2.13 cannot trace its round(h / ratio) on shapes:
        # the dynamo exporter with static shapes (batch 1, as the publisher's graph) and no
        # onnxscript optimisation, as ours
        torch.onnx.export(model, (x,), args.graph, dynamo=True, optimize=False, external_data=False,
                          input_names=["input"], output_names=["output"])
    result["export_s"] = time.perf_counter() - start
    result["peak_rss_mib"] = _peak_rss_mib()
    return result


# --------------------------------------------------------------------------- driver


def _run(args, impl: str, python: str | None = None, env_extra: dict | None = None, **options) -> dict:
    fd, out = tempfile.mkstemp(suffix=".json", dir=args.workdir)
    os.close(fd)
    command = [python or sys.executable, "-m", "ben2_model.bench.onnx", "--worker", "--impl", impl,
               "--threads", str(args.threads), "--runs", str(args.runs), "--warmup", str(args.warmup),
               "--size", str(args.size),
               "--result-out", out]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*(env_extra or {}).get("prepend", []), root, env.get("PYTHONPATH")]))
    print(f"{impl} {options.get('label', '')} ... (load average {_load_average()})", file=sys.stderr, flush=True)
    subprocess.run(command, check=True, env=env)
    return json.loads(Path(out).read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ben2_model.bench.onnx", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="timed forwards per configuration (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forwards first (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads, torch and onnxruntime (default 2)")
    parser.add_argument("--graph", help="our exported graph to reuse instead of exporting (seeded weights!)")
    parser.add_argument("--reference", help="the official modeling_ben2.py: also time its graph")
    parser.add_argument("--reference-python", default=sys.executable, help="interpreter with einops")
    parser.add_argument("--reference-stubs", default=str(Path(__file__).with_name("reference_stubs")),
                        help="folder prepended to the reference worker's PYTHONPATH (default: reference_stubs/)")
    parser.add_argument("--reference-graph", help="the official graph to reuse instead of exporting it")
    parser.add_argument("--workdir", help="where graphs and masks go (default: a temporary folder)")
    parser.add_argument("--tiny", action="store_true", help="the tiny test network at 512² (plumbing check)")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--mask-out", help=argparse.SUPPRESS)
    parser.add_argument("--result-out", help=argparse.SUPPRESS)
    parser.add_argument("--label", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--arena", choices=("on", "off"), default="off", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        Path(args.result_out).write_text(json.dumps(_worker(args)))
        return 0
    if args.reference and args.tiny:
        parser.error("--tiny cannot be compared with --reference (the official network is full size only)")

    import numpy as np

    from ..weights.seeded import TINY_CONFIG, seeded_model

    with tempfile.TemporaryDirectory() as scratch:
        args.workdir = args.workdir or scratch
        os.makedirs(args.workdir, exist_ok=True)
        config = TINY_CONFIG if args.tiny else {}
        args.size = config.get("input_size", 1024)
        weights = os.path.join(args.workdir, "seeded.safetensors")
        if not os.path.exists(weights):
            from safetensors.torch import save_file

            model = seeded_model(**config)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights,
                      metadata={"input_size": str(args.size)})
            del model
        print(f"load average at start: {_load_average()}", file=sys.stderr, flush=True)
        results = []
        export = None
        graph = args.graph or os.path.join(args.workdir, "ours.onnx")
        if not args.graph:
            export = _run(args, "export", weights=weights, graph=graph)
        mask = lambda name: os.path.join(args.workdir, f"{name}.npy")  # noqa: E731
        # ours as load_model opens it (CPU arena off) and with the arena on; the official graph
        # as a plain InferenceSession runs it (arena on) and with the arena off: like for like
        results.append(dict(_run(args, "ort", graph=graph, mask_out=mask("ours-ort"), label="ours", arena="off"),
                            name="ours, onnxruntime"))
        results.append(dict(_run(args, "ort", graph=graph, mask_out=mask("ours-ort-arena"), label="ours",
                                 arena="on"), name="ours, arena on"))
        results.append(dict(_run(args, "torch", weights=weights, mask_out=mask("ours-torch")),
                            name="ours, PyTorch eager"))
        official_export = None
        if args.reference:
            official = args.reference_graph or os.path.join(args.workdir, "official.onnx")
            extra = {"prepend": [args.reference_stubs] if args.reference_stubs else []}
            if not args.reference_graph:
                official_export = _run(args, "export-official", python=args.reference_python, env_extra=extra,
                                       weights=weights, graph=official, reference=args.reference)
            results.append(dict(_run(args, "ort", graph=official, mask_out=mask("official-ort"), label="official",
                                     arena="on"), name="official graph, onnxruntime"))
            results.append(dict(_run(args, "ort", graph=official, mask_out=mask("official-ort-noarena"),
                                     label="official", arena="off"), name="official graph, arena off"))
        base = np.load(mask("ours-torch"))
        keys = ("ours-ort", "ours-ort-arena", "ours-torch", "official-ort", "official-ort-noarena")
        for r, key in zip(results, keys):
            r["max_abs"] = float(np.abs(np.load(mask(key)) - base).max())
        load_end = _load_average()

    print(f"\nBEN2 forward, 1 image at {args.size}², CPU, {args.threads} threads, median of {args.runs} "
          f"after {args.warmup} warm-up; load average at end {load_end}")
    if export:
        print(f"export_onnx: {export['export_s']:.0f} s (peak RSS {export['peak_rss_mib'] / 1024:.2f} GiB)")
    if official_export:
        print(f"official export (batch 1): {official_export['export_s']:.0f} s")
    official_result = next((r for r in results if r["name"].startswith("official")), None)
    header = f"{'configuration':<30}{'s/img':>8}{'peak RSS':>11}{'vs official':>13}{'RSS ratio':>11}{'max|Δ| vs torch':>17}"
    print(header)
    print("-" * len(header))
    for r in results:
        speed = f"{official_result['median_s'] / r['median_s']:.2f}x" if official_result else "-"
        ratio = f"{r['peak_rss_mib'] / official_result['peak_rss_mib']:.2f}" if official_result else "-"
        print(f"{r['name']:<30}{r['median_s']:>8.2f}{r['peak_rss_mib'] / 1024:>10.2f}G{speed:>13}{ratio:>11}"
              f"{r['max_abs']:>17.2e}")
    print("runs (s): " + "; ".join(f"{r['name']}: " + ", ".join(f"{t:.2f}" for t in r["times"]) for r in results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
