"""Long batches: 1000 frames of 256x256 through ``predict_alpha``, in chunks.

Host memory must be bounded by the outputs themselves: the peak RSS growth during the call is the
``[1000,256,256]`` float32 result (250 MiB) plus one chunk's working set, never per-frame copies of the
input (a float copy of the batch would be 750 MiB, 8-bit copies 188 MiB).

The network is the suite's cheap stand-in (BEN2's interface, one 1x1 convolution at 512 px): what is
measured is ``predict_alpha``'s chunking, resizing and output handling, and even the tiny seeded BEN2
would cost 0.4-1.3 s of CPU per frame (over 13 minutes here for 1000 frames).

The input is one frame expanded to 1000 (a stride-0 view, no memory of its own), so any full-batch
copy made inside ``predict_alpha`` shows up in the measurement instead of hiding behind the input.
"""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest
import torch

from ben2_model import predict_alpha

FRAMES = 1000
SIDE = 256
CHUNK = 2
MiB = 1 << 20

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from Linux /proc")


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident memory during a block: the kernel's high-water mark (reset on entry when the kernel
    allows it) and a 2 ms sampler as a fallback."""

    def __enter__(self) -> "PeakRSS":
        gc.collect()
        self.baseline = _rss()
        self.kernel_reset = _reset_high_water_mark()
        self.sampled = self.baseline
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.sampled = max(self.sampled, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        peak = self.sampled
        if self.kernel_reset:
            peak = max(peak, _high_water_mark())
        self.growth = peak - self.baseline


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _high_water_mark() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def test_thousand_frames_memory_is_the_output(cheap_network):
    generator = torch.Generator().manual_seed(0)
    frame = torch.rand(1, SIDE, SIDE, 3, generator=generator)
    frames = frame.expand(FRAMES, -1, -1, -1)
    output_bytes = FRAMES * SIDE * SIDE * 4

    # Warm-up on one chunk: one-time allocations (thread pools, allocator arenas) are not counted, and it
    # gives the chunk's working set: what the network needs for CHUNK frames beyond their output.
    predict_alpha(cheap_network, frames[:CHUNK], batch_size=CHUNK)
    with PeakRSS() as chunk_peak:
        predict_alpha(cheap_network, frames[:CHUNK], batch_size=CHUNK)
    working_set = max(chunk_peak.growth, 0)

    progress: list[tuple[int, int]] = []
    started = time.perf_counter()
    with PeakRSS() as peak:
        alpha = predict_alpha(cheap_network, frames, batch_size=CHUNK, on_chunk=lambda done, total: progress.append((done, total)))
    seconds = time.perf_counter() - started

    assert alpha.shape == (FRAMES, SIDE, SIDE) and alpha.dtype == torch.float32
    assert torch.equal(alpha[0], alpha[-1]) and torch.equal(alpha[0], alpha[FRAMES // 2])  # chunks agree
    assert progress == [(min(done, FRAMES), FRAMES) for done in range(CHUNK, FRAMES + CHUNK, CHUNK)]

    # The bound: the output, one chunk's working set (measured above) twice over for allocator slack
    # between chunks, and 64 MiB for Python/torch bookkeeping. Growth from per-frame copies kept around
    # (188 MiB of uint8, 750 MiB of float) would break it; the output alone must be most of the growth.
    bound = output_bytes + 2 * working_set + 64 * MiB
    report = (f"{FRAMES} frames in {seconds:.1f} s; RSS growth {peak.growth / MiB:.0f} MiB for "
              f"{output_bytes / MiB:.0f} MiB of output; one chunk's working set {working_set / MiB:.0f} MiB")
    print(report)
    assert peak.growth <= bound, report
    assert output_bytes >= 0.5 * peak.growth, report
