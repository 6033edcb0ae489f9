"""Video files through PyAV: probe, read frames in chunks, write alpha video (WebM VP9, MOV ProRes 4444, MP4).

PyAV (``pip install av``) is optional: it is imported on first use, so the rest of the package works
without it. Everything streams: reading yields one chunk of frames at a time and writing encodes each
chunk as it arrives, so memory is bounded by one chunk whatever the length of the clip.

Containers and codecs:

* ``.webm``: VP9 (``libvpx-vp9``) in ``yuva420p``: the alpha plane travels as a second VP9 stream
  (Matroska BlockAdditional, ``alpha_mode=1``); browsers show it transparent. Audio: Opus.
* ``.mov``: ProRes 4444 (``prores_ks``) in ``yuva444p10le``, the usual choice for editing software.
  Audio: PCM 16-bit.
* ``.mp4``: H.264 without alpha: the frames are composited on a solid ``background`` colour. Audio: AAC.
"""

from .reading import VideoInfo, iter_video_frames, iter_video_rgba, probe_video
from .writing import AlphaVideoWriter

__all__ = [
    "AlphaVideoWriter",
    "VideoInfo",
    "iter_video_frames",
    "iter_video_rgba",
    "probe_video",
]
