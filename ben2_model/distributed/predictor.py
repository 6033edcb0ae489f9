"""``BEN2Predictor``: BEN2 as a callable class for ``ray.data.Dataset.map_batches``.

Ray Data builds one instance per actor (so the network loads once per actor) and calls it on batches:
dicts of column name -> numpy array. Nothing here imports Ray; the class is also a plain batch function.

    ds = ray.data.read_images("s3://bucket/photos/", mode="RGB")           # column "image", uint8 [H,W,3]
    ds = ds.map_batches(BEN2Predictor, fn_constructor_kwargs={"model": "BEN2_Base.safetensors"},
                        concurrency=2, num_gpus=1, batch_size=8)              # adds column "alpha" [H,W]
"""

from __future__ import annotations

from typing import Any, Mapping

OUTPUTS = ("alpha", "rgba")


class BEN2Predictor:
    """Foreground alpha (or RGBA cut-out) for a column of images, BEN2 loaded once per instance.

    Args:
        model: checkpoint path (must exist on every node that runs an actor), ``None`` for the hub
            default (downloaded into each node's Hugging Face cache), or a loaded ``BEN2``.
        device, dtype: as for ``load_model`` (``"auto"``: cuda if Ray gave the actor a GPU).
        column: the input column: images in the host layout, ``[B,H,W,C]`` float 0..1 (C = 1, 3 or
            4, alpha ignored), or uint8 0..255 (as ``ray.data.read_images`` makes them); images of
            different sizes come as an object array (or list) of ``[H,W,C]`` arrays.
        output: ``"alpha"`` adds column ``alpha``, float32 ``[B,H,W]`` in 0..1 (1 = foreground);
            ``"rgba"`` adds column ``rgba``, float32 ``[B,H,W,4]`` (the image with that alpha).
        refine: ``"none"``, ``"fast"`` or ``"quality"``: ``refine_edges`` on the alpha (and, for
            ``rgba``, decontaminated colours).
        batch_size: images per network call inside a batch (``None``: 1 on CPU, 4 on a GPU).

    Returns (per call): the input batch with the output column added (and ``column`` kept).
    """

    def __init__(
        self,
        model: Any = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        column: str = "image",
        output: str = "alpha",
        refine: str = "none",
        batch_size: int | None = None,
    ) -> None:
        if output not in OUTPUTS:
            raise ValueError(f"BEN2Predictor output={output!r}: choose one of {', '.join(OUTPUTS)}")
        from ..matting.refine import MODES

        if refine != "none" and refine not in MODES:
            raise ValueError(f"BEN2Predictor refine={refine!r}: choose none, {', '.join(MODES)}")
        import torch

        from ..weights.checkpoint import load_model
        from ..weights.dtypes import resolve_dtype

        if isinstance(model, torch.nn.Module):
            self.model = model
        else:
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            target = torch.device(device)
            options = dict(device=target, dtype=resolve_dtype(dtype, target))
            self.model = load_model(**options) if model is None else load_model(model, **options)
        self.device = self.model.device
        self.column, self.output, self.refine, self.batch_size = column, output, refine, batch_size

    def _one_batch(self, images: Any) -> Any:
        """uint8 or float ``[b,H,W,C]`` numpy -> float32 ``[b,H,W]`` alpha or ``[b,H,W,4]`` RGBA numpy."""
        import numpy as np
        import torch

        from ..pipeline import predict_alpha

        array = np.asarray(images)
        pixels = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        pixels = pixels.float().div_(255) if array.dtype == np.uint8 else pixels.float()
        if pixels.shape[-1] == 1:
            pixels = pixels.expand(-1, -1, -1, 3)
        pixels = pixels[..., :3]
        with torch.inference_mode():
            alpha = predict_alpha(self.model, pixels, batch_size=self.batch_size)
            foreground = pixels
            if self.refine != "none":
                from ..matting.refine import refine_edges

                alpha, foreground = refine_edges(pixels, alpha, mode=self.refine)
            if self.output == "alpha":
                result = alpha
            else:
                result = torch.cat([foreground.clamp(0, 1), alpha[..., None]], dim=-1)
        return result.float().cpu().numpy()

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        import numpy as np

        if self.column not in batch:
            raise ValueError(
                f"BEN2Predictor: the batch has no column {self.column!r} (it has {', '.join(batch)}); "
                f"pass column=... to the constructor"
            )
        images = batch[self.column]
        if isinstance(images, np.ndarray) and images.dtype != object and images.ndim == 4:
            out: Any = self._one_batch(images)
        elif isinstance(images, np.ndarray) and images.dtype != object and images.ndim == 3:
            raise ValueError(
                f"BEN2Predictor: column {self.column!r} has shape {list(images.shape)}: expected images "
                f"[B,H,W,C]; grey images need a channel axis [B,H,W,1]"
            )
        else:  # images of different sizes: one network call each
            results = [self._one_batch(np.asarray(image)[None])[0] for image in images]
            out = np.empty(len(results), dtype=object)
            for index, result in enumerate(results):  # element-wise: equal shapes must not broadcast
                out[index] = result
        return {**batch, self.output: out}
