"""The three timm.layers helpers the official BEN2 module imports (inference only: DropPath is
the identity in eval mode)."""
import collections.abc
from itertools import repeat

import torch


class DropPath(torch.nn.Module):
    def __init__(self, drop_prob=0.0, scale_by_keep=True):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return x


def to_2tuple(x):
    if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
        return tuple(x)
    return tuple(repeat(x, 2))


trunc_normal_ = torch.nn.init.trunc_normal_
