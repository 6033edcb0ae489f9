"""BEN2 weights: reading and validating checkpoints, the hub download, seeded stand-in weights.

* ``checkpoint`` -- ``load_model``: read a file, check it is a BEN2 state dict, then build;
* ``hub`` -- ``download_weights`` of the official file;
* ``seeded`` -- deterministic weights for tests and benchmarks (no download).
"""
