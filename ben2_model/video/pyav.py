"""PyAV, imported on first use: the rest of the package works without it."""

from __future__ import annotations

from typing import Any


def import_av() -> Any:
    """The ``av`` module, or an ImportError that says what to install."""
    try:
        import av
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("Video files need PyAV, which is not installed: pip install av") from error
    return av
