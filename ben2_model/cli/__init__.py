"""The ``ben2`` command line: ``main`` parses and dispatches, ``common`` holds what the commands
share, ``remove`` and ``video`` run them. Imports only the standard library until a command runs."""

from .main import main

__all__ = ["main"]
