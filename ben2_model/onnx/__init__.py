"""BEN2 as an ONNX graph: ``export`` writes one from a PyTorch BEN2, ``runtime`` runs one.

The graph is the network alone: ImageNet-normalised ``[N,3,S,S]`` float32 in, foreground
probability ``[N,1,S,S]`` float32 out, ``N`` dynamic. Pre- and post-processing stay in
``ben2_model.pipeline``, which runs an ONNX-backed model exactly like the PyTorch one
(``load_model("x.onnx")``).

Nothing here imports onnxruntime or onnxscript at module import: ``runtime`` needs onnxruntime
(``pip install onnxruntime``), ``export`` needs torch's exporter (onnx + onnxscript).
"""

from __future__ import annotations

# metadata_props keys our exporter writes (a graph without them is a foreign one, e.g. the
# publisher's BEN2_Base.onnx, and is read with the reference's conventions)
FORMAT_KEY = "ben2.format"
FORMAT = "ben2-onnx/1"
INPUT_SIZE_KEY = "ben2.input_size"
MEAN_KEY = "ben2.mean"
STD_KEY = "ben2.std"
DTYPE_KEY = "ben2.dtype"
VERSION_KEY = "ben2.pack_version"
SOURCE_SHA256_KEY = "ben2.source_sha256"
CONFIG_KEY = "ben2.config"

INPUT_NAME = "image"
OUTPUT_NAME = "alpha"
