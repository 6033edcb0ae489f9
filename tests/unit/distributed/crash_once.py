"""A Ray chunk worker whose process dies on its first chunk, once per flag file (shipped to the
actors by value, so the workers need not import the tests)."""

from __future__ import annotations

import os
from pathlib import Path

from ben2_model.distributed.ray import ChunkWorker


class CrashOnceWorker(ChunkWorker):
    """Like ``ChunkWorker``, but the first ``run`` anywhere writes the chunk's first file (alone, so
    its bytes may differ from the batched result) and then kills its process (``os._exit``) in the
    middle of the chunk; the flag file says whether that happened already."""

    flag: str = ""

    def run(self, chunk):
        try:
            descriptor = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().run(chunk)
        os.write(descriptor, str(os.getpid()).encode())
        os.close(descriptor)
        super().run(chunk[:1])
        os._exit(1)  # no cleanup, no exception: like the OOM killer


def crash_once_worker(flag: Path) -> type:
    return type("CrashOnceWorkerWithFlag", (CrashOnceWorker,), {"flag": str(flag)})
