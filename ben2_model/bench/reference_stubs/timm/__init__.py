"""Stand-in for timm: the official BEN2 module uses three helpers of timm.layers only."""
