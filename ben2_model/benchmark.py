"""``python -m ben2_model.benchmark``: the network benchmark under a short name.

The same program as ``python -m ben2_model.bench.network`` (that module owns it and documents
every option), e.g. ``python -m ben2_model.benchmark --device cuda --batch 8 --dtypes fp16 bf16
--reference modeling_ben2.py`` on a GPU.
"""

from __future__ import annotations

import sys

from .bench.network import main

if __name__ == "__main__":
    sys.exit(main())
