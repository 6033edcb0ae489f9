"""Output files of ``ben2 remove``: written through a temporary sibling and renamed, so an output
either exists complete or not at all; ``sweep_partials`` removes what killed writers left behind."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Iterable

from .common import JPEG_QUALITY, partial_path


def save_atomically(picture: Any, target: Path, format_name: str) -> None:
    """Write ``picture`` to ``target`` through a temporary file, so no half-written output remains."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(target)
    try:
        if format_name == "jpg":
            picture.convert("RGB").save(temporary, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        elif format_name == "webp":
            picture.save(temporary, format="WEBP", quality=JPEG_QUALITY)
        else:
            picture.save(temporary, format="PNG")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# A partial file older than this is stale where the writer's pid cannot be checked (Windows).
_STALE_PARTIAL_SECONDS = 600


def pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: someone else's live process
        return True
    return True


def sweep_partials(targets: Iterable[Path]) -> int:
    """Delete stale temporaries of ``save_atomically`` (``.NAME.PID.partEXT``, see ``partial_path``)
    next to ``targets``: left by a killed process, never by a finished one. A partial whose writer is
    still running on this machine is kept. Returns how many were removed."""
    removed = 0
    now = time.time()
    for target in set(targets):
        pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.part{re.escape(target.suffix)}$")
        try:
            candidates = list(target.parent.glob(f".{target.name}.*.part{target.suffix}"))
        except OSError:
            continue
        for candidate in candidates:
            match = pattern.match(candidate.name)
            if match is None or not candidate.is_file():
                continue
            try:
                stale = not pid_alive(int(match.group(1)))
                stale = stale or now - candidate.stat().st_mtime > _STALE_PARTIAL_SECONDS
                if stale:
                    candidate.unlink()
                    removed += 1
            except OSError:  # gone meanwhile, or not ours to delete: leave it
                continue
    return removed
