import torch


class FrozenBatchNorm2d(torch.nn.Module):
    """Name-only stand-in: timm imports it, BEN2 never builds one."""
