"""A pool of Ray actors that run ``ben2 remove``'s chunks: the work behind ``ben2 remove --ray``.

Each actor loads the network once and runs ``cli.remove.process_chunk`` on the chunks it is sent,
the very chunks (same files, same batches) the local loop would run, so the files are identical.
Actors are restarted when their process dies (``max_restarts=-1``) and the chunk they were on is
sent again (``max_task_retries``); outputs are written through a temporary file and renamed, so a
killed worker leaves at most a stale temporary, which ``sweep_partials`` removes at the end.

Imports Ray (``ImportError`` with the install command without it); the rest of the package never
imports this module.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from typing import Any, Iterator, Sequence

from . import import_ray

ray = import_ray()

from ..cli.common import ModelLoadError, describe_error  # noqa: E402 (after the friendly Ray check)
from ..cli.remove import (  # noqa: E402
    FileResult,
    ImageJob,
    RemoveSettings,
    process_chunk,
    render_options,
)
from ..cli.outputs import pid_alive as _alive  # noqa: E402
from ..cli.outputs import sweep_partials  # noqa: E402

# Chunks queued per actor: one running, one waiting, so an actor never idles between two chunks
# and a killed actor has little queued work to replay.
IN_FLIGHT_PER_WORKER = 2
# Tries of one chunk after its worker died (the first run included: 1 + retries).
TASK_RETRIES = 3


class ChunkWorker:
    """One network per actor process: ``run(chunk)`` -> ``process_chunk``'s results.

    The model loads in ``__init__`` (again after a restart); a load failure is kept and reported by
    ``ready()`` so the driver can exit with the model error instead of a Ray traceback.
    """

    def __init__(self, settings: RemoveSettings) -> None:
        self.settings = settings
        self.model = None
        self.options = None
        self.error: str | None = None
        try:
            import torch

            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
            torch.set_num_threads(max(1, int(cpus)))  # the CPUs Ray reserved for this actor, no more
            from ..cli.common import load_network

            self.model = load_network(settings.model_args())
            self.options = render_options(settings, self.model.device)
        except ModelLoadError as error:
            self.error = str(error)
        except Exception as error:  # e.g. --device cuda on a node without CUDA
            self.error = describe_error(error)

    def ready(self) -> str | None:
        """None once the model is loaded, else why it could not be."""
        return self.error

    def pid(self) -> tuple[str, int]:
        """``(host name, process id)`` of this actor."""
        import os
        import socket

        return socket.gethostname(), os.getpid()

    def run(self, chunk: Sequence[ImageJob]) -> list[FileResult]:
        if self.model is None:
            raise ModelLoadError(self.error or "the model is not loaded")
        return process_chunk(self.model, chunk, self.settings, self.options)


def _lost(chunk: Sequence[ImageJob], error: BaseException) -> list[FileResult]:
    """Results for a chunk Ray could not run (worker died every try, or an unexpected error)."""
    if isinstance(error, ray.exceptions.RayActorError):
        why = f"the Ray worker died on it {1 + TASK_RETRIES} times (out of memory? see the Ray logs)"
    else:
        cause = getattr(error, "cause", None) or error
        why = f"Ray worker error: {describe_error(cause)}"
    return [FileResult(job.source, job.target, "failed", f"failed {job.source}: {why}") for job in chunk]


class RayChunkRunner:
    """Start ``workers`` actors, wait until each has loaded the network, then iterate to get each
    chunk's results as they finish (any order). ``close()`` stops the actors and removes stale
    temporaries; always call it (``contextlib.closing``).

    Raises ``ModelLoadError`` if a worker cannot load the network.
    """

    def __init__(
        self,
        chunks: Sequence[Sequence[ImageJob]],
        settings: RemoveSettings,
        *,
        workers: int,
        gpus_per_worker: float = 0,
        cpus_per_worker: float = 1,
        worker_class: type = ChunkWorker,
    ) -> None:
        self.chunks = list(chunks)
        actor_class = ray.remote(worker_class).options(
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker,
            max_restarts=-1,
            max_task_retries=TASK_RETRIES,
        )
        self.actors: list[Any] = []
        self.ids: list[tuple[str, int]] = []  # (host, pid) of the actors as started
        try:
            # By value, not ray.put: a restarted actor must find its arguments again.
            count = max(1, min(workers, len(self.chunks)))
            self.actors = [actor_class.remote(settings) for _ in range(count)]
            for actor in self.actors:
                try:
                    problem = ray.get(actor.ready.remote())
                except ray.exceptions.RayError as error:
                    problem = f"a Ray worker died while loading the network ({describe_error(error)})"
                if problem is not None:
                    raise ModelLoadError(problem)
            self.ids = ray.get([actor.pid.remote() for actor in self.actors])
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[list[FileResult]]:
        queue = deque(self.chunks)
        pending: dict[Any, tuple[int, Sequence[ImageJob]]] = {}

        def send(worker: int) -> None:
            chunk = queue.popleft()
            pending[self.actors[worker].run.remote(chunk)] = (worker, chunk)

        for _ in range(IN_FLIGHT_PER_WORKER):
            for worker in range(len(self.actors)):
                if queue:
                    send(worker)
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                worker, chunk = pending.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayError as error:
                    results = _lost(chunk, error)
                if queue:
                    send(worker)
                yield results
        finally:
            for ref in pending:  # stopped early (Ctrl-C): drop queued chunks, not retry them
                try:
                    ray.cancel(ref)
                except Exception:  # already finished or not cancellable: the kill stops it
                    pass

    def close(self) -> None:
        """Stop the actors (a running chunk is abandoned) and sweep their temporaries."""
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
        here = socket.gethostname()
        deadline = time.monotonic() + 10
        for host, pid in self.ids:  # the sweep keeps a partial whose writer still runs: let it end first
            while host == here and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        sweep_partials(job.target for chunk in self.chunks for job in chunk)


def worker_pids(runner: RayChunkRunner) -> list[tuple[str, int]]:
    """``(host, pid)`` of ``runner``'s actors (for diagnostics)."""
    return ray.get([actor.pid.remote() for actor in runner.actors])


__all__ = ["ChunkWorker", "RayChunkRunner", "worker_pids"]

