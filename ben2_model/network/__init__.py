"""The BEN2 network: a Swin backbone over four local 512² patches and one global 512² view, and an
MVANet-style decoder that fuses them into one soft alpha.

* ``model`` -- ``BEN2``, the whole network, and its input normalisation;
* ``backbone`` -- the Swin Transformer (window attention, shifted windows, patch merging);
* ``decoder`` -- MCLM and MCRM, the multi-view cross-attention blocks;
* ``layers`` -- dtype-safe building blocks (float32 norms and residuals) and the fast CPU kernels.
"""

from .model import BEN2, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["BEN2", "IMAGENET_MEAN", "IMAGENET_STD"]
