"""Stand-in for torchvision: the official BEN2 module imports transforms, used by inference() only."""
