"""Running BEN2 over many files or rows with Ray (optional: ``pip install "comfyui-ben2[ray]"``).

* ``predictor.BEN2Predictor``: a callable class for ``ray.data.Dataset.map_batches`` (imports no Ray
  itself, so it also works as a plain batch function).
* ``ray``: the worker pool behind ``ben2 remove --ray`` (imports Ray).

Importing this package imports neither.
"""

from __future__ import annotations

RAY_INSTALL_HINT = 'pip install "comfyui-ben2[ray]"'


def import_ray():
    """The ``ray`` module, or ``ImportError`` saying what to install."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"Ray is not installed: {RAY_INSTALL_HINT} (or pip install \"ray[data]>=2.50\")") from error
    return ray
