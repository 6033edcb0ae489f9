"""``ben2 remove --ray``: connect to Ray (or start it here), size the worker pool, hand back the
chunk results to ``remove.run_remove``, which reports them exactly as for a local run.

Ray is imported only when ``--ray`` is given; without it, ``require_ray`` says what to install.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

from .common import RAY_LOCAL, UsageError, describe_error


def require_ray() -> Any:
    """The ``ray`` module; ``UsageError`` with the install command if it is missing."""
    from ..distributed import RAY_INSTALL_HINT

    try:
        import ray
    except ImportError:
        raise UsageError(
            f"--ray needs Ray, which is not installed: {RAY_INSTALL_HINT} (or pip install \"ray[data]>=2.50\")"
        ) from None
    return ray


def _check_address(address: str) -> None:
    if address in (RAY_LOCAL, "auto") or address.startswith("ray://") or ":" in address:
        return
    hint = " (it is a file or folder: put --ray after the inputs, or write --ray=ADDRESS)" if Path(address).exists() else ""
    raise UsageError(f"--ray {address}: not a Ray address; use auto, ray://HOST:PORT or HOST:PORT{hint}")


def connect(address: str) -> bool:
    """Join the cluster at ``address`` (``RAY_LOCAL``: start a runtime on this machine). A process
    already connected (a Python caller of ``main``) keeps its connection. Returns whether this call
    started the connection (and so must ``ray.shutdown()`` it)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    _check_address(address)
    options: dict[str, Any] = dict(logging_level=logging.WARNING, log_to_driver=True)
    try:
        if address == RAY_LOCAL:
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        start = "start one with 'ray start --head', or give --ray alone for a runtime on this machine"
        raise UsageError(f"--ray {address}: cannot reach the Ray cluster ({describe_error(error)}); {start}") from None
    return True


def pool_size(args: argparse.Namespace, chunk_count: int) -> tuple[int, float, float]:
    """``(workers, gpus_per_worker, cpus_per_worker)`` for the connected cluster.

    Defaults: one worker per GPU (each reserving 1 GPU and 1 CPU) where the cluster has GPUs, else
    one per 2 CPUs (each using its CPUs' threads); never more workers than chunks. ``UsageError``
    if the request cannot fit the cluster (Ray would wait for it forever).
    """
    import ray

    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    node_cpus = max((node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node.get("Alive")), default=cpus)
    g = args.gpus_per_worker if args.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
    if args.workers is not None:
        workers = args.workers
    elif g > 0:
        workers = max(1, int(gpus // g))
    else:
        workers = max(1, int(cpus // 2))
    workers = min(workers, max(1, chunk_count))
    if g * workers > gpus + 1e-9:
        raise UsageError(
            f"{workers} Ray workers x --gpus-per-worker {g:g} need {g * workers:g} GPUs, the cluster has "
            f"{gpus:g}: lower --workers or --gpus-per-worker (0 runs on the CPU)"
        )
    if g > 0:
        per_worker = 1.0
    else:
        per_worker = float(max(1, min(int(cpus // workers), int(node_cpus))))
    if per_worker * workers > cpus + 1e-9:
        raise UsageError(f"--workers {workers} needs {workers} CPUs, the Ray cluster has {cpus:g}: lower --workers")
    return workers, g, per_worker


class _RayResults:
    """The runner's results; ``close()`` stops the workers and shuts down a runtime started here."""

    def __init__(self, runner: Any, started: bool) -> None:
        self.runner, self.started = runner, started

    def __iter__(self) -> Iterator[Any]:
        return iter(self.runner)

    def close(self) -> None:
        try:
            self.runner.close()
        finally:
            if self.started:
                import ray

                ray.shutdown()


def ray_chunks(args: argparse.Namespace, chunks: Sequence[Any], settings: Any) -> _RayResults:
    """The results of ``chunks`` run by a pool of Ray workers (``remove.local_chunks``' Ray twin);
    workers have loaded the network when this returns (``ModelLoadError`` otherwise)."""
    started = connect(args.ray)
    try:
        from ..distributed.ray import RayChunkRunner

        workers, gpus, cpus = pool_size(args, len(chunks))
        runner = RayChunkRunner(chunks, settings, workers=workers, gpus_per_worker=gpus, cpus_per_worker=cpus)
    except BaseException:
        if started:
            import ray

            ray.shutdown()
        raise
    return _RayResults(runner, started)
