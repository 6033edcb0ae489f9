"""``python -m ben2_model``: the ``ben2`` command line (see ``ben2_model.cli.main``)."""

from .cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
