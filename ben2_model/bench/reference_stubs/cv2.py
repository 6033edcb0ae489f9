"""Stand-in for OpenCV (the official module uses it for video only)."""
