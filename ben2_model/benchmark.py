"""Speed and memory of the BEN2 forward pass: ``python -m ben2_model.benchmark``.

Every configuration runs in a fresh process (so peak RSS belongs to it alone) on one input
batch at the network size, with seeded weights unless ``--model`` names a checkpoint. Pass
``--reference path/to/modeling_ben2.py`` (the official PramaLLC/BEN2 module; it needs timm,
einops, torchvision and opencv in the interpreter given by ``--reference-python``) to time the
reference side by side on the same input. Prints per-stage times, peak memory and how far each
mask is from the float32 result.

Examples::

    python -m ben2_model.benchmark                       # ours, fp32 and bf16, batch 1, CPU
    python -m ben2_model.benchmark --reference ../BEN2/src/ben2/modeling_ben2.py
    python -m ben2_model.benchmark --device cuda --dtypes fp16 bf16 --batch 8
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

STAGES = (
    "shallow", "backbone.patch_embed", "backbone.layers.0", "backbone.layers.1", "backbone.layers.2",
    "backbone.layers.3", "output5", "output4", "output3", "output2", "output1", "multifieldcrossatt",
    "dec_blk4", "conv4", "dec_blk3", "conv3", "dec_blk2", "conv2", "dec_blk1", "conv1",
    "insmask_head", "upsample1", "upsample2", "output",
)


# --------------------------------------------------------------------------- worker (one config)


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _input_batch(batch: int, size: int):
    """A deterministic natural-looking batch: smooth gradients, a disc and fine stripes."""
    import torch

    from .network import IMAGENET_MEAN, IMAGENET_STD

    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    disc = ((xs - 0.5) ** 2 + (ys - 0.55) ** 2 < 0.08).float()
    stripes = 0.5 + 0.5 * torch.sin(xs * 300) * torch.sin(ys * 7)
    rgb = torch.stack([0.2 + 0.6 * disc * stripes, ys * 0.8, 0.3 + 0.4 * xs * (1 - disc)])
    images = torch.stack([rgb.roll(17 * i, dims=2) for i in range(batch)])
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def _stage_timer(model, device):
    """Forward hooks accumulating wall time per named top-level stage."""
    import torch

    totals: dict[str, float] = {}
    starts: dict[str, float] = {}
    modules = dict(model.named_modules())

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for name in STAGES:
        module = modules.get(name)
        if module is None:
            continue

        def pre(_m, _args, _kwargs=None, name=name):
            sync()
            starts[name] = time.perf_counter()

        def post(_m, _args, _out, name=name):
            sync()
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - starts[name]

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)
    return totals


def _build(args):
    import torch

    from .seeded import seeded_state_dict

    if args.impl == "reference":
        import importlib.util

        spec = importlib.util.spec_from_file_location("ben2_reference", args.reference)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        torch.set_num_threads(args.threads)  # the reference module sets global state on import
        model = module.BEN_Base()
        state = seeded_state_dict(model.state_dict()) if args.model is None else _load_state(args.model)
        model.load_state_dict(state, strict=True)
        return model.eval().to(args.device), torch.float32
    from .checkpoint import load_model
    from .network import BEN2

    if args.model is not None:
        model = load_model(args.model, device=args.device, dtype=args.dtype)
    else:
        template = BEN2().state_dict()  # on the CPU: the integer index buffers need real values
        model = load_model(seeded_state_dict(template), device=args.device, dtype=args.dtype)
        del template
    return model, model.dtype


def _load_state(path):
    from .checkpoint import read_state_dict

    return read_state_dict(path)[0]


def run_worker(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    build_start = time.perf_counter()
    model, _ = _build(args)
    build_s = time.perf_counter() - build_start
    rss_after_build = _peak_rss_mib()
    x = _input_batch(args.batch, 1024).to(device)
    if args.impl == "reference" and device.type == "cuda":
        x = x.half()  # the reference's CUDA path feeds fp16 to its autocast forward
    totals = _stage_timer(model, device)
    times = []
    mask = None
    with torch.inference_mode():
        for run in range(args.warmup + args.runs):
            totals.clear()
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            mask = model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if run >= args.warmup:
                times.append(time.perf_counter() - start)
    result = {
        "impl": args.impl,
        "dtype": args.dtype if args.impl == "ours" else ("fp16-autocast" if device.type == "cuda" else "fp32"),
        "batch": args.batch,
        "device": args.device,
        "threads": args.threads,
        "build_s": build_s,
        "times": times,
        "median_s": statistics.median(times),
        "stages": dict(totals),
        "rss_after_build_mib": rss_after_build,
        "peak_rss_mib": _peak_rss_mib(),
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
    }
    if args.mask_out:
        import numpy as np

        np.save(args.mask_out, mask.float().cpu().numpy())
    return result


# --------------------------------------------------------------------------- parent (table)


def _spawn(args, impl: str, dtype: str, mask_path: str) -> dict:
    python = args.reference_python if impl == "reference" else sys.executable
    cmd = [
        python, "-m", "ben2_model.benchmark", "--worker", "--impl", impl, "--dtype", dtype,
        "--batch", str(args.batch), "--runs", str(args.runs), "--warmup", str(args.warmup),
        "--threads", str(args.threads), "--device", args.device, "--mask-out", mask_path,
    ]
    if args.reference:
        cmd += ["--reference", args.reference]
    if args.model:
        cmd += ["--model", args.model]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{impl} {dtype} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ben2_model.benchmark", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "fp16", "bf16"],
                        help="our precisions to time (default: fp32 bf16)")
    parser.add_argument("--batch", type=int, default=1, help="images per forward (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs after warm-up; the median is reported")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps (default cpu)")
    parser.add_argument("--model", help="checkpoint to time instead of seeded weights")
    parser.add_argument("--reference", help="path to the official modeling_ben2.py to time side by side")
    parser.add_argument("--reference-python", default=sys.executable,
                        help="interpreter with timm/einops/torchvision/opencv for --reference")
    parser.add_argument("--json", help="also write all results to this JSON file")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--mask-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(run_worker(args)))
        return 0

    import numpy as np

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        plan = ([("reference", "fp32")] if args.reference else []) + [("ours", d) for d in args.dtypes]
        for impl, dtype in plan:
            mask_path = os.path.join(tmp, f"{impl}-{dtype}.npy")
            print(f"running {impl} {dtype} (batch {args.batch}, {args.device}, {args.threads} threads) ...",
                  file=sys.stderr, flush=True)
            result = _spawn(args, impl, dtype, mask_path)
            result["mask"] = mask_path
            results.append(result)
        base = next((r for r in results if r["impl"] == "ours" and r["dtype"] == "fp32"), None)
        base_mask = np.load(base["mask"]) if base else None
        for r in results:
            m = np.load(r["mask"])
            r["max_abs_vs_ours_fp32"] = float(np.abs(m - base_mask).max()) if base_mask is not None else None
            r["mean_abs_vs_ours_fp32"] = float(np.abs(m - base_mask).mean()) if base_mask is not None else None
            del r["mask"]
    _print_table(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _print_table(results: list[dict], args) -> None:
    ref = next((r for r in results if r["impl"] == "reference"), None)
    print(f"\nBEN2 forward, batch {args.batch} at 1024², device {args.device}, {args.threads} threads, "
          f"median of {args.runs} after {args.warmup} warm-up")
    header = f"{'impl':<10}{'dtype':<15}{'s/batch':>9}{'img/s':>8}{'vs ref':>8}{'peak RSS':>10}{'GPU peak':>10}{'max|Δ|':>10}{'mean|Δ|':>10}"
    print(header)
    print("-" * len(header))
    for r in results:
        speed = f"{ref['median_s'] / r['median_s']:.2f}x" if ref else "-"
        gpu = f"{r['cuda_peak_mib']:.0f}M" if r["cuda_peak_mib"] is not None else "-"
        dmax = f"{r['max_abs_vs_ours_fp32']:.2e}" if r["max_abs_vs_ours_fp32"] is not None else "-"
        dmean = f"{r['mean_abs_vs_ours_fp32']:.2e}" if r["mean_abs_vs_ours_fp32"] is not None else "-"
        print(f"{r['impl']:<10}{r['dtype']:<15}{r['median_s']:>9.2f}{args.batch / r['median_s']:>8.2f}{speed:>8}"
              f"{r['peak_rss_mib']:>9.0f}M{gpu:>10}{dmax:>10}{dmean:>10}")
    print("\nper-stage seconds (last run; Δ is vs our fp32 mask):")
    names = [s for s in STAGES if any(s in r["stages"] for r in results)]
    print(f"{'stage':<22}" + "".join(f"{r['impl'][:4] + ' ' + r['dtype'][:9]:>16}" for r in results))
    for name in names:
        print(f"{name:<22}" + "".join(f"{r['stages'].get(name, 0.0):>16.3f}" for r in results))
    print(f"{'(rest: glue, resizes)':<22}" + "".join(
        f"{r['times'][-1] - sum(r['stages'].values()):>16.3f}" for r in results))


if __name__ == "__main__":
    raise SystemExit(main())
