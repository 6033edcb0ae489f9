"""Running ``ben2`` from the tests: as a subprocess (exit code and stderr as a script sees them) or
in-process (cheaper: no second torch import)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"


def run_cli(
    *args: object, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """``python -m ben2_model ARGS`` from the repository root; never touches the network."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    environment["HF_HUB_OFFLINE"] = "1"
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ben2_model", *map(str, args)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _Terminal(io.StringIO):
    """A captured stderr that claims to be a terminal, so the progress bar is drawn."""

    def isatty(self) -> bool:
        return True


def run_in_process(*args: object, terminal: bool = False) -> tuple[int, str]:
    """``ben2 ARGS`` through ``ben2_model.cli.main.main`` in this process: ``(exit code, stderr)``.

    Cheaper than a subprocess (no second torch import); used for the variants of a path that a
    subprocess test already covers end to end. ``terminal``: stderr pretends to be a TTY.
    """
    from ben2_model.cli.main import main

    errors = _Terminal() if terminal else io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = main([str(arg) for arg in args])
    return code, errors.getvalue()


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr
