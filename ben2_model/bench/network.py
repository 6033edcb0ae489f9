"""Speed and memory of the BEN2 forward pass: ``python -m ben2_model.bench.network``.

Every configuration runs in its own process (so peak RSS belongs to it alone), loads its weights
from a checkpoint file as a user would (seeded weights saved as safetensors unless ``--model``
names a checkpoint), warms up, and then the configurations take turns: each timed round runs
every one of them once, so a machine whose speed drifts affects them alike. Pass
``--reference path/to/modeling_ben2.py`` (the official PramaLLC/BEN2 module; it needs einops in
the interpreter given by ``--reference-python``, and ``reference_stubs/`` stands in for the
timm, torchvision and opencv helpers it imports, as in ``bench.onnx``) to time the
reference side by side on the same input; ``--reference-compile`` adds it under ``torch.compile``
(the strongest peer a PyTorch user has), ``--compile`` adds ours compiled, ``--kernels fast
reference`` times our plain reference path beside the fast kernels. Prints the load average at the
start and the end (and warns when the machine is busy: a loaded machine slows the configurations
unequally), a host speed probe before every round and at the end (on a shared or virtual host,
other tenants change the speed of the CPU without showing in the load average; the probe times
the product the network spends its time in, and the benchmark warns when it moved), each
configuration's speed against the reference round by round, per-stage times (eager rows), peak
memory, the warm-up (compile) time and how far each mask is from our float32 result.

Examples::

    python -m ben2_model.bench.network                       # ours, fp32 and bf16, batch 1, CPU
    python -m ben2_model.bench.network --reference ../BEN2/src/ben2/modeling_ben2.py
    python -m ben2_model.bench.network --reference modeling_ben2.py --reference-compile --compile
    python -m ben2_model.bench.network --kernels fast reference --dtypes fp32
    python -m ben2_model.bench.network --device cuda --dtypes fp16 bf16 --batch 8
    python -m ben2_model.bench.network --tiny --runs 1      # plumbing check with the tiny network
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
    "insmask_head", "upsample1", "upsample2", "output", "upsample2+output",
)
# our fast path runs upsample2 and output as one kernel call (kernels.upsampled_output), not modules
FUSED_HEAD = STAGES[-1]


# --------------------------------------------------------------------------- worker (one config)


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _input_batch(batch: int, size: int):
    """A deterministic natural-looking batch: smooth gradients, a disc and fine stripes."""
    import torch

    from ..network.model import IMAGENET_MEAN, IMAGENET_STD

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
    if hasattr(model, "kernels"):  # ours
        from ..network import kernels

        upsampled_output = kernels.upsampled_output

        def timed(*args, **kwargs):
            sync()
            start = time.perf_counter()
            out = upsampled_output(*args, **kwargs)
            sync()
            totals[FUSED_HEAD] = totals.get(FUSED_HEAD, 0.0) + time.perf_counter() - start
            return out

        kernels.upsampled_output = timed
    return totals


def _build(args):
    """The model under test, its weights read from ``args.model`` (a checkpoint file)."""
    import torch

    if args.impl.startswith("reference"):
        import importlib.util

        spec = importlib.util.spec_from_file_location("ben2_reference", args.reference)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # torch.compile re-imports the module of the code it traces
        spec.loader.exec_module(module)
        torch.set_num_threads(args.threads)  # the reference module sets global state on import
        model = module.BEN_Base()
        model.load_state_dict(_load_state(args.model), strict=True)
        model = model.eval().to(args.device)
        if args.compiled:
            # dynamo on torch 2.13 cannot trace through the forward's own @torch.inference_mode
            # ("Cannot set version_counter for inference tensor"): compile the undecorated forward
            # (its @autocast is for CUDA only, so it is put back there) and run it under no_grad
            import functools
            import inspect

            forward = functools.partial(inspect.unwrap(type(model).forward), model)
            if torch.device(args.device).type == "cuda":
                forward = torch.autocast(device_type="cuda", dtype=torch.float16)(forward)
            model = torch.compile(forward)
        return model
    from ..weights.checkpoint import load_model

    return load_model(args.model, device=args.device, dtype=args.dtype, kernels=args.worker_kernels, compile=args.compiled)


def _load_state(path):
    from ..weights.checkpoint import read_state_dict

    return read_state_dict(path)[0]


def _emit(payload: dict) -> None:
    print(json.dumps(payload), flush=True)


def run_worker(args) -> None:
    """Build one configuration, warm it up, then time one forward per ``run`` line on stdin.

    Protocol (one JSON line per answer): ``ready`` after the warm-up; ``run`` -> the forward's
    time and per-stage times; ``finish`` -> peak memory (the mask is saved to ``--mask-out``).
    """
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    build_start = time.perf_counter()
    model = _build(args)
    build_s = time.perf_counter() - build_start
    rss_after_build = _peak_rss_mib()
    x = _input_batch(args.batch, args.size).to(device)
    if args.impl.startswith("reference") and device.type == "cuda":
        x = x.half()  # the reference's CUDA path feeds fp16 to its autocast forward
    # hooks inside a compiled graph would break it into pieces: compiled rows have no stages
    totals = {} if args.compiled else _stage_timer(model, device)
    mask = None

    def forward() -> float:
        nonlocal mask
        totals.clear()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        mask = model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    # compiled graphs run under no_grad (see _build: inductor and inference_mode do not mix here)
    with torch.no_grad() if args.compiled else torch.inference_mode():
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        warmup_s = [forward() for _ in range(args.warmup)]
        _emit({"ready": True, "warmup_s": warmup_s})
        for line in sys.stdin:
            command = line.strip()
            if command == "run":
                _emit({"time": forward(), "stages": dict(totals)})
            elif command == "finish":
                break
    if args.mask_out and mask is not None:
        import numpy as np

        np.save(args.mask_out, mask.float().cpu().numpy())
    _emit({
        "build_s": build_s,
        "rss_after_build_mib": rss_after_build,
        "peak_rss_mib": _peak_rss_mib(),
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
    })


# --------------------------------------------------------------------------- parent (table)


class _Worker:
    """One configuration in its own process, driven line by line."""

    def __init__(self, args, config: "_Config", weights: str, mask_path: str) -> None:
        impl, dtype = config.impl, config.dtype
        python = args.reference_python if impl == "reference" else sys.executable
        cmd = [
            python, "-m", "ben2_model.bench.network", "--worker", "--impl", impl, "--dtype", dtype,
            "--batch", str(args.batch), "--warmup", str(args.warmup), "--threads", str(args.threads),
            "--device", args.device, "--mask-out", mask_path, "--model", weights, "--size", str(args.size),
            "--worker-kernels", config.kernels,
        ] + (["--compiled"] if config.compiled else [])
        if args.reference:
            cmd += ["--reference", args.reference]
        root = str(Path(__file__).resolve().parents[1])
        # the official module's timm/torchvision/cv2 imports resolve to bench/reference_stubs
        stubs = [args.reference_stubs] if impl == "reference" and args.reference_stubs else []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [*stubs, root, os.environ.get("PYTHONPATH")])))
        self.result = {"impl": config.label, "dtype": dtype, "kernels": config.kernels, "compiled": config.compiled,
                       "times": [], "stage_runs": []}
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.result["warmup_s"] = self._read()["warmup_s"]  # ready

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.kill()
            raise SystemExit(f"{self.result['impl']} {self.result['dtype']} failed:\n{self.process.stderr.read()[-3000:]}")
        return json.loads(line)

    def run(self) -> None:
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        answer = self._read()
        self.result["times"].append(answer["time"])
        self.result["stage_runs"].append(answer["stages"])

    def finish(self) -> dict:
        self.process.stdin.write("finish\n")
        self.process.stdin.flush()
        self.result.update(self._read())
        self.process.wait()
        times = self.result["times"]
        self.result["median_s"] = statistics.median(times)
        # per-stage times of the run closest to the median
        closest = min(range(len(times)), key=lambda i: abs(times[i] - self.result["median_s"]))
        self.result["stages"] = self.result.pop("stage_runs")[closest]
        self.result["stages_run_s"] = times[closest]  # the rest is that run's time minus its stages
        return self.result


def _write_weights(args, directory: str) -> str:
    """The checkpoint every worker loads: ``--model`` or seeded weights saved as safetensors."""
    if args.model:
        return args.model
    from safetensors.torch import save_file

    from ..network.model import BEN2
    from ..weights.seeded import TINY_CONFIG, seeded_state_dict

    config = dict(TINY_CONFIG, input_size=args.size) if args.tiny else {"input_size": args.size}
    state = seeded_state_dict(BEN2(**config).state_dict())
    path = os.path.join(directory, "seeded.safetensors")
    save_file({k: v.contiguous() for k, v in state.items()}, path, metadata={"input_size": str(args.size)})
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ben2_model.bench.network", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "fp16", "bf16"],
                        help="our precisions to time (default: fp32 bf16)")
    parser.add_argument("--batch", type=int, default=1, help="images per forward (default 1)")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed rounds (default 3); each round runs every configuration once, in turn")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forwards per configuration first (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps (default cpu)")
    parser.add_argument("--model", help="checkpoint to time instead of seeded weights")
    parser.add_argument("--reference", help="path to the official modeling_ben2.py to time side by side")
    parser.add_argument("--reference-python", default=sys.executable,
                        help="interpreter with einops for --reference")
    parser.add_argument("--reference-stubs", default=str(Path(__file__).with_name("reference_stubs")),
                        help="folder prepended to the reference worker's PYTHONPATH, with stand-ins for the "
                             "timm, torchvision and cv2 helpers the official module imports (default: "
                             "reference_stubs/; '' for the real packages)")
    parser.add_argument("--reference-compile", action="store_true",
                        help="also time the reference under torch.compile (needs --reference)")
    parser.add_argument("--compile", action="store_true", help="also time ours under torch.compile (each dtype)")
    parser.add_argument("--kernels", nargs="+", default=["fast"], choices=["fast", "reference"],
                        help="our kernels paths to time (default: fast)")
    parser.add_argument("--tiny", action="store_true", help="the tiny test network at 512² (plumbing checks)")
    parser.add_argument("--json", help="also write all results to this JSON file")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--mask-out", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-kernels", default="fast", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = 512 if args.tiny else 1024
    if args.reference and args.tiny:
        parser.error("--tiny cannot be timed against --reference (the reference is full size only)")
    if args.reference_compile and not args.reference:
        parser.error("--reference-compile needs --reference")

    if args.worker:
        run_worker(args)
        return 0

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        weights = _write_weights(args, tmp)
        plan = _plan(args)
        load_start = _load_average()
        _warn_if_busy(load_start)
        workers = []
        try:
            for config in plan:
                print(f"building and warming up {config.label} {config.dtype} (batch {args.batch}, {args.device}, "
                      f"{args.threads} threads) ...", file=sys.stderr, flush=True)
                workers.append(_Worker(args, config, weights, os.path.join(tmp, f"{config.label}-{config.dtype}.npy")))
            # Interleaved rounds: a machine that slows down or speeds up affects every configuration alike.
            probes = []
            for round_index in range(args.runs):
                print(f"round {round_index + 1}/{args.runs} ...", file=sys.stderr, flush=True)
                probes.append(host_speed(args.threads, args.device))
                for worker in workers:
                    worker.run()
            probes.append(host_speed(args.threads, args.device))
            results = [worker.finish() for worker in workers]
            load_end = _load_average()
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    worker.process.kill()
        base = next((r for r in results if r["impl"] == "ours" and r["dtype"] == "fp32"), None)
        base_mask = np.load(os.path.join(tmp, "ours-fp32.npy")) if base else None
        for r in results:
            m = np.load(os.path.join(tmp, f"{r['impl']}-{r['dtype']}.npy"))
            r["max_abs_vs_ours_fp32"] = float(np.abs(m - base_mask).max()) if base_mask is not None else None
            r["mean_abs_vs_ours_fp32"] = float(np.abs(m - base_mask).mean()) if base_mask is not None else None
            if r["impl"] == "reference" and args.device != "cpu":
                r["dtype"] = "fp16-autocast"
    _print_table(results, args)
    print(f"\nload average (1, 5, 15 min): at start {_format_load(load_start)}, at the end {_format_load(load_end)}")
    _warn_if_busy(load_end)
    _print_probes(probes)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


class _Config:
    """One row of the table: which implementation, dtype, kernels path, compiled or not."""

    def __init__(self, impl: str, dtype: str, kernels: str = "fast", compiled: bool = False) -> None:
        self.impl, self.dtype, self.kernels, self.compiled = impl, dtype, kernels, compiled
        self.label = impl + ("" if kernels == "fast" or impl == "reference" else "-refkern") + ("+compile" if compiled else "")


def _plan(args) -> list[_Config]:
    plan = []
    if args.reference:
        plan.append(_Config("reference", "fp32"))
        if args.reference_compile:
            plan.append(_Config("reference", "fp32", compiled=True))
    for kernels in args.kernels:
        plan += [_Config("ours", d, kernels) for d in args.dtypes]
    if args.compile:  # compiled runs go through the reference kernels (the fast ones do not lower)
        plan += [_Config("ours", d, "fast", compiled=True) for d in args.dtypes]
    return plan


def _load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:  # not on every platform
        return None


def _format_load(load) -> str:
    return "unknown" if load is None else ", ".join(f"{x:.2f}" for x in load)


def _warn_if_busy(load) -> None:
    cores = os.cpu_count() or 1
    if load is not None and load[0] > 0.25 * cores:
        print(f"WARNING: the machine is busy (load {load[0]:.2f} on {cores} cores): configurations slow down "
              "unequally under load, so ratios are not the idle ones; rerun on an idle machine.",
              file=sys.stderr, flush=True)


def host_speed(threads: int, device: str = "cpu", repeats: int = 7) -> dict[str, float] | None:
    """This CPU's speed now, in GFLOP/s, for a ``[4096,512] × [512,2048]`` product (the Swin MLP's
    shape, through the same oneDNN kernel ``kernels.linear`` uses) in float32 and bfloat16, the
    median of ``repeats`` after two untimed calls (about 0.4 s in all). bfloat16 only where the
    CPU has it in hardware (emulated, one probe would take many seconds). None for other devices.

    The load average only counts this machine's own processes: on a virtual machine the host's
    other tenants can halve its speed (bfloat16 matrix units, shared between cores, swing most)
    while the load stays near 0. Probing before every round shows which figures came from which
    speed."""
    if device != "cpu":
        return None
    import torch

    from ..network import kernels
    from ..weights.dtypes import slow_dtype_warning

    dtypes = {"fp32": torch.float32}
    if slow_dtype_warning(torch.bfloat16, "cpu") is None:
        dtypes["bf16"] = torch.bfloat16
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    speeds = {}
    try:
        with torch.inference_mode():
            for name, dtype in dtypes.items():
                generator = torch.Generator().manual_seed(0)
                x = torch.randn(4096, 512, generator=generator).to(dtype)
                weight = torch.randn(2048, 512, generator=generator).to(dtype)
                for _ in range(2):  # oneDNN builds its kernel, the thread pool wakes up
                    kernels.linear(x, weight, None)
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    kernels.linear(x, weight, None)
                    times.append(time.perf_counter() - start)
                speeds[name] = 2 * 4096 * 512 * 2048 / statistics.median(times) / 1e9
    finally:
        torch.set_num_threads(previous)
    return speeds


PROBE_DRIFT = 1.25  # fastest / slowest probe above this: the run mixed host speeds


def _print_probes(probes: list[dict | None]) -> None:
    """The probes taken before each round and at the end, and a warning when they differ."""
    if not probes or probes[0] is None:
        return
    print("\nhost speed probe (GFLOP/s of a Swin-MLP-sized product; before each round, then at the end):")
    for name in probes[0]:
        values = [p[name] for p in probes]
        print(f"  {name}: " + ", ".join(f"{v:.0f}" for v in values))
        if max(values) > PROBE_DRIFT * min(values):
            print(f"WARNING: the host's {name} speed moved {max(values) / min(values):.2f}x during the run (other "
                  "tenants of a shared host, invisible to the load average): the figures mix host speeds; compare "
                  "rounds taken at similar probe speeds, or rerun.", file=sys.stderr, flush=True)


def _round_ratios(result: dict, ref: dict) -> list[float]:
    """Speed against the reference within each round (the two ran seconds apart)."""
    return [r / t for r, t in zip(ref["times"], result["times"])]


def _print_table(results: list[dict], args) -> None:
    ref = next((r for r in results if r["impl"] == "reference"), None)
    print(f"\nBEN2 forward, batch {args.batch} at {args.size}², device {args.device}, {args.threads} threads, "
          f"median of {args.runs} interleaved rounds after {args.warmup} warm-up")
    header = f"{'impl':<18}{'dtype':<15}{'s/batch':>9}{'img/s':>8}{'vs ref':>8}{'peak RSS':>10}{'GPU peak':>10}{'max|Δ|':>10}{'mean|Δ|':>10}"
    print(header)
    print("-" * len(header))
    for r in results:
        speed = f"{ref['median_s'] / r['median_s']:.2f}x" if ref else "-"
        gpu = f"{r['cuda_peak_mib']:.0f}M" if r["cuda_peak_mib"] is not None else "-"
        dmax = f"{r['max_abs_vs_ours_fp32']:.2e}" if r["max_abs_vs_ours_fp32"] is not None else "-"
        dmean = f"{r['mean_abs_vs_ours_fp32']:.2e}" if r["mean_abs_vs_ours_fp32"] is not None else "-"
        print(f"{r['impl']:<18}{r['dtype']:<15}{r['median_s']:>9.2f}{args.batch / r['median_s']:>8.2f}{speed:>8}"
              f"{r['peak_rss_mib']:>9.0f}M{gpu:>10}{dmax:>10}{dmean:>10}")
    warm = [r for r in results if r.get("warmup_s")]
    if warm:
        print("\nwarm-up (s; includes compiling): " + "; ".join(
            f"{r['impl']} {r['dtype']}: " + ", ".join(f"{t:.1f}" for t in r["warmup_s"]) for r in warm))
    print("\nall runs (s): " + "; ".join(f"{r['impl']} {r['dtype']}: " + ", ".join(f"{t:.2f}" for t in r["times"])
                                        for r in results))
    if ref:
        print("speed vs ref, round by round: " + "; ".join(
            f"{r['impl']} {r['dtype']}: " + ", ".join(f"{x:.2f}x" for x in _round_ratios(r, ref))
            for r in results if r is not ref))
    print("\nper-stage seconds (the run closest to the median; Δ is vs our fp32 mask):")
    names = [s for s in STAGES if any(s in r["stages"] for r in results)]
    print(f"{'stage':<22}" + "".join(f"{r['impl'][:4] + ' ' + r['dtype'][:9]:>16}" for r in results))
    for name in names:
        print(f"{name:<22}" + "".join(f"{r['stages'].get(name, 0.0):>16.3f}" for r in results))
    print(f"{'(rest: glue, resizes)':<22}" + "".join(
        f"{r['stages_run_s'] - sum(r['stages'].values()):>16.3f}" for r in results))


if __name__ == "__main__":
    raise SystemExit(main())
