"""Fetching the published BEN2 weights from the Hugging Face hub."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

HUB_REPO = "PramaLLC/BEN2"
HUB_FILENAME = "model.safetensors"
HUB_FILE_URL = f"https://huggingface.co/{HUB_REPO}/blob/main/{HUB_FILENAME}"

ProgressCallback = Callable[[int, "int | None"], None]


class WeightsDownloadError(RuntimeError):
    """The weights could not be fetched (offline, hub unreachable, disk full, ...)."""


def _manual_instructions(destination: str) -> str:
    return (
        f"Download {HUB_FILENAME} by hand from the Hugging Face repo {HUB_REPO} "
        f"({HUB_FILE_URL}) and put it in {destination}"
    )


def _progress_tqdm(progress: ProgressCallback):
    """A tqdm class that forwards byte counts to ``progress(done, total)`` and prints nothing."""
    from tqdm.auto import tqdm

    class _Forwarding(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._done = 0

        def update(self, n=1):
            self._done += int(n or 0)
            progress(self._done, int(self.total) if self.total else None)

    return _Forwarding


def download_weights(
    dest_dir: str | Path | None = None, *, progress: ProgressCallback | None = None
) -> Path:
    """Fetch ``model.safetensors`` from ``PramaLLC/BEN2``; return the local path.

    Args:
        dest_dir: folder to put the file in. ``None`` uses the huggingface_hub cache (a second call
            then finds the file there without downloading).
        progress: called as ``progress(bytes_done, bytes_total_or_None)`` while downloading.

    The hub client writes to a temporary ``.incomplete`` file and renames it only when the transfer
    is complete, so an interrupted download never looks like a usable checkpoint. With ``dest_dir``
    it also keeps its bookkeeping (lock files, a ``.gitignore``, the partial file) in
    ``dest_dir/.cache``; that folder is removed afterwards, success or failure, unless it was
    there before, so a models folder holds only models.

    Raises:
        WeightsDownloadError: offline, hub unreachable or any other failure; the message says which
            file to get from which repo and where to put it.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a declared dependency
        raise WeightsDownloadError(
            f"huggingface_hub is not installed (pip install huggingface_hub). {_manual_instructions(str(dest_dir or 'your models folder'))}"
        ) from exc

    kwargs = {}
    bookkeeping = None
    if dest_dir is not None:
        Path(dest_dir).mkdir(parents=True, exist_ok=True)
        kwargs["local_dir"] = str(dest_dir)
        if not (Path(dest_dir) / ".cache").exists():
            bookkeeping = Path(dest_dir) / ".cache"
    if progress is not None:
        kwargs["tqdm_class"] = _progress_tqdm(progress)
    try:
        path = hf_hub_download(HUB_REPO, HUB_FILENAME, **kwargs)
    except Exception as exc:  # network stacks raise many types; all mean "not downloaded"
        where = str(dest_dir) if dest_dir is not None else "a folder of your choice (then pass its path)"
        reason = str(exc).strip().splitlines()[0].rstrip(". ") if str(exc).strip() else type(exc).__name__
        raise WeightsDownloadError(
            f"Could not download {HUB_FILENAME} from {HUB_REPO}: {reason}. "
            f"{_manual_instructions(where)}"
        ) from exc
    finally:
        if bookkeeping is not None:
            shutil.rmtree(bookkeeping, ignore_errors=True)
    return Path(path)
