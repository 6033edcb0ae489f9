"""Matting around the network's alpha, all on ``[B,H,W]`` masks and ``[B,H,W,3]`` images.

* ``trimap`` -- ``confidence_trimap``: sure background / unknown band / sure foreground;
* ``filters`` -- box and guided filters (cumulative sums);
* ``foreground`` -- ``estimate_foreground``: edge colours without the old background;
* ``refine`` -- ``refine_edges``: confidence-guided refinement of the unknown band;
* ``composite`` -- ``composite`` over a colour or a background image;
* ``temporal`` -- ``stabilize_alpha`` for frame sequences.
"""
