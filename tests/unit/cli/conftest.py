"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> Path:
    """A tiny BEN2 with seeded weights, saved the way a user's checkpoint file is."""
    return tiny_checkpoint
