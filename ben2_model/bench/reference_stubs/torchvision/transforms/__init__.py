"""Stand-in for torchvision.transforms: constructible (the official module builds its transforms at
import), unusable (the benchmark calls forward() only)."""


class _Unused:
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError("torchvision stub: transforms are not available in the benchmark venv")


ToTensor = Normalize = Compose = Resize = ToPILImage = ConvertImageDtype = _Unused
