"""Benchmarks and their tools; never imported by the library.

* ``python -m ben2_model.bench.network`` -- network speed and memory beside the official code;
* ``python -m ben2_model.bench.matting`` -- Refine Edges and its baselines on a matting set;
* ``python -m ben2_model.bench.temporal`` -- flicker of video mattes on synthetic clips;
* ``metrics`` and ``synthetic_clips`` -- what those benchmarks score and run on.
"""
