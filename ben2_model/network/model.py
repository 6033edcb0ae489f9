"""BEN2, the whole network: Swin backbone over five views, MVANet-style decoder, full-size head.

``BEN2(kernels=...)`` picks how it computes:

* ``"fast"`` (default) uses the kernels of ``kernels`` where they apply (on the CPU most of them;
  on other devices only exact algebra, see there);
* ``"reference"`` is the plain torch computation of ``reference`` and the modules' plain
  branches, which is what ``torch.compile`` sees;
* ``"graph"`` is the reference path with the head's exact algebra (shallow features by strided
  convolutions, the nearest-×2 convolutions at the low resolution, whole maps, no loops), which
  is what ONNX export traces: 2.25× fewer multiply-adds where the graph spends them at full size.

All give the same function (max-abs about 1e-5 in float32).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from . import kernels as fast_kernels
from . import reference
from .backbone import SwinBackbone
from .decoder import MCLM, MCRM, image_to_patches, patches_to_image
from .layers import Conv2d, ConvNormAct, FastPath

KERNELS = ("fast", "reference", "graph")


def check_kernels(name: str) -> str:
    """``name`` if it is one of ``KERNELS``, else ``ValueError`` naming the choices."""
    if name not in KERNELS:
        raise ValueError(f"BEN2 kernels must be one of {', '.join(map(repr, KERNELS))}, got {name!r}")
    return name

# ImageNet statistics the network was trained with (inputs are normalised with them)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


_bilinear = reference.bilinear

# The fast path runs a CPU batch image by image (see BEN2.forward); a switch for benchmarks.
CPU_IMAGE_BY_IMAGE = True


class InstanceMaskHead(FastPath, nn.Sequential):
    """Conv → IN → GELU → Conv → IN → GELU → Conv at 1/4 resolution (keys ``insmask_head.{0,3,6}``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(
            Conv2d(dim, hidden, 3, padding=1),
            nn.Identity(),  # the norms and activations have no weights: they keep the key numbering
            nn.Identity(),
            Conv2d(hidden, hidden, 3, padding=1),
            nn.Identity(),
            nn.Identity(),
            Conv2d(hidden, dim, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the intermediate maps only feed convolutions: keep them in the weight dtype
        dtype = self[3].weight.dtype
        norm_act = fast_kernels.instance_norm_gelu_ if self.fast else reference.instance_norm_gelu
        x = norm_act(self[0](x), out_dtype=dtype)
        x = norm_act(self[3](x), out_dtype=dtype)
        return self[6](x)


class BEN2(nn.Module):
    """BEN2 (Background Erase Network) base model.

    Args:
        embed_dim: Swin embedding width (stage widths are ``embed_dim · 2^i``).
        depths: Swin blocks per stage.
        num_heads: attention heads per stage.
        window_size: Swin window side, in tokens.
        decoder_dim: decoder width.
        input_size: side of the square input the network is run at (the published model: 1024).
            Any multiple of 128 works structurally; it must be at least 512 for the pooling ratios.
        kernels: ``"fast"``, ``"reference"`` or ``"graph"`` (see the module docstring); settable
            later as ``model.kernels``.

    ``forward`` takes ``[B,3,S,S]`` ImageNet-normalised images (``S = input_size``) and returns the
    foreground probability ``[B,1,S,S]`` (float32). The whole batch goes through the backbone and the
    decoder in one pass, except on the fast path on a CPU, which takes it one image at a time.

    There are no stochastic layers (the reference's dropouts and drop-path are inactive at
    inference), so ``train()`` and ``eval()`` compute the same function; ``load_model`` returns the
    model in eval mode with gradients disabled.
    """

    def __init__(
        self,
        embed_dim: int = 128,
        depths: Sequence[int] = (2, 2, 18, 2),
        num_heads: Sequence[int] = (4, 8, 16, 32),
        window_size: int = 12,
        decoder_dim: int = 128,
        input_size: int = 1024,
        kernels: str = "fast",
    ) -> None:
        super().__init__()
        if input_size % 128 or input_size < 512:
            raise ValueError(f"input_size must be a multiple of 128 and at least 512, got {input_size}")
        if decoder_dim % 4:
            raise ValueError(f"decoder_dim must be a multiple of 4 (sine encodings), got {decoder_dim}")
        self.config = dict(
            embed_dim=embed_dim,
            depths=tuple(depths),
            num_heads=tuple(num_heads),
            window_size=window_size,
            decoder_dim=decoder_dim,
            input_size=input_size,
        )
        self.input_size = input_size
        d = decoder_dim
        self.backbone = SwinBackbone(embed_dim, depths, num_heads, window_size)
        widths = self.backbone.num_features
        # side outputs of the training recipe: in the checkpoint, unused by forward
        for k in range(5, 0, -1):
            self.add_module(f"sideout{k}", nn.Sequential(Conv2d(d, 1, 3, padding=1)))
        # e5..e1 from the deepest to the shallowest backbone map
        self.output5 = ConvNormAct(widths[3], d)
        self.output4 = ConvNormAct(widths[2], d)
        self.output3 = ConvNormAct(widths[1], d)
        self.output2 = ConvNormAct(widths[0], d)
        self.output1 = ConvNormAct(embed_dim, d)
        self.multifieldcrossatt = MCLM(d, 1, (1, 4, 8))
        self.conv1 = ConvNormAct(d, d)
        self.conv2 = ConvNormAct(d, d)
        self.conv3 = ConvNormAct(d, d)
        self.conv4 = ConvNormAct(d, d)
        self.dec_blk1 = MCRM(d, 1, (2, 4, 8))
        self.dec_blk2 = MCRM(d, 1, (2, 4, 8))
        self.dec_blk3 = MCRM(d, 1, (2, 4, 8))
        self.dec_blk4 = MCRM(d, 1, (2, 4, 8))
        self.insmask_head = InstanceMaskHead(d, 3 * d)
        self.shallow = nn.Sequential(Conv2d(3, d, 3, padding=1))
        self.upsample1 = ConvNormAct(d, d)
        self.upsample2 = ConvNormAct(d, d)
        self.output = nn.Sequential(Conv2d(d, 1, 3, padding=1))
        self.kernels = kernels

    @property
    def kernels(self) -> str:
        """``"fast"``, ``"reference"`` or ``"graph"``: which computation ``forward`` runs (settable)."""
        return self._kernels

    @kernels.setter
    def kernels(self, value: str) -> None:
        check_kernels(value)
        # a plain attribute (not a module, parameter or buffer): nn.Module stores it as is
        object.__setattr__(self, "_kernels", value)
        for module in self.modules():
            if isinstance(module, FastPath):
                module.fast = value == "fast"
                module.graph = value == "graph"

    @property
    def dtype(self) -> torch.dtype:
        return self.output[0].weight.dtype

    @property
    def device(self) -> torch.device:
        return self.output[0].weight.device

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``[B,3,S,S]`` with ``S`` a multiple of 128."""
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3] or x.shape[2] % 128:
            raise ValueError(
                f"BEN2.forward expects [B,3,S,S] with S a multiple of 128 (S={self.input_size} for this "
                f"model), got {list(x.shape)}; use ben2_model.predict_alpha for images of any size"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B,3,S,S]`` ImageNet-normalised -> ``[B,1,S,S]`` float32 foreground probability."""
        self.check_input(x)
        if x.shape[0] > 1 and self.kernels == "fast" and x.device.type == "cpu" and CPU_IMAGE_BY_IMAGE:
            # Every product is already large at batch 1, so a CPU gains nothing from batching,
            # and a batch's larger maps cost time (batch 4 in one pass: 22.0 s per image against
            # 19.2 s at batch 1) and memory (3.8 GiB against 1.7). The fast path therefore takes
            # a CPU batch one image at a time; the result is the same (images never interact).
            return torch.cat([self._forward_batch(image[None]) for image in x])
        return self._forward_batch(x)

    def _forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` on the whole batch at once."""
        b = x.shape[0]
        fast = self.kernels == "fast"
        x = x.to(self.dtype)
        shallow = self.shallow[0]
        algebra = self.kernels in ("fast", "graph")
        shallow_features = fast_kernels.shallow_features if algebra else reference.shallow_features
        # each step is a method so that its temporaries are gone before the next one starts
        e5 = self._decode(self._encode(x), b)

        # head: stitched locals + global at 1/4 scale, then two ×2 steps with shallow features
        quarter = patches_to_image(e5[:, :4])
        quarter = quarter + _bilinear(e5[:, 4], quarter.shape[-2:])
        del e5
        quarter = self.insmask_head(quarter).float()
        # the shallow features are computed only where they join: not held (160 MiB in fp32 at
        # 1024²) through the backbone, the decoder and the instance-mask head
        shallow_256, shallow_512 = shallow_features(x, shallow.weight, shallow.bias)
        del x
        quarter.add_(shallow_256)
        del shallow_256
        # in the weight dtype: only the next convolution reads it
        half = self.upsample1(quarter, upsample_2x=True, out_dtype=self.dtype, add=shallow_512)
        del quarter, shallow_512
        up, head = self.upsample2[0], self.output[0]
        if fast:  # from low-resolution phase maps: the full-size map is never built
            logits = fast_kernels.upsampled_output(half, up.weight, up.bias, head.weight, head.bias)
            return torch.sigmoid(logits.float())
        # the full-size map only feeds the output convolution: keep it in the weight dtype
        full = self.upsample2(half, upsample_2x=True, out_dtype=self.dtype)
        del half
        return torch.sigmoid(reference.conv3x3_few_outputs(full, head.weight, head.bias).float())

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Backbone over the five views of every image: ``[B,3,S,S]`` -> five maps ``[B·5,C_i,h_i,w_i]``."""
        size = x.shape[-1]
        # image-major: TL, TR, BL, BR quadrants, then the half-size whole image
        views = torch.cat((image_to_patches(x), _bilinear(x, (size // 2, size // 2))[:, None]), 1)
        return self.backbone(views.flatten(0, 1))

    def _decode(self, features: list[torch.Tensor], b: int) -> torch.Tensor:
        """MCLM on the deepest map, then four MCRM refinements up to 1/4 of the view size.

        ``features`` (emptied as it is consumed) -> ``[B,5,D,S/8,S/8]``.
        """

        def decoder_views(layer: ConvNormAct, fmap: torch.Tensor) -> torch.Tensor:
            return layer(fmap).unflatten(0, (b, 5))  # [B,5,D,h,w]

        e5 = self.multifieldcrossatt(decoder_views(self.output5, features.pop()))
        lateral = (self.output4, self.output3, self.output2, self.output1)
        skips = [decoder_views(layer, features.pop()) for layer in lateral]  # e4, e3, e2, e1
        steps = (
            (self.dec_blk4, self.conv4),
            (self.dec_blk3, self.conv3),
            (self.dec_blk2, self.conv2),
            (self.dec_blk1, self.conv1),
        )
        for block, conv in steps:
            skip = skips.pop(0)  # each skip is released once used
            upsampled = _bilinear(e5.flatten(0, 1), skip.shape[-2:]).unflatten(0, (b, 5))
            refined, _ = block(skip.add_(upsampled))
            del skip, upsampled
            e5 = conv(refined.flatten(0, 1)).unflatten(0, (b, 5))
            del refined
        return e5
