"""The independent reference for WaveFlow's insights: FFmpeg's `ebur128` filter (libavfilter's own BS.1770 meter,
true peak by resampling to 192 kHz), through the PyAV that decodes audio here anyway."""

from __future__ import annotations

import math
from fractions import Fraction

import av
import av.filter
import numpy as np

LAYOUTS = {1: "mono", 2: "stereo"}


class Ebur128:
    """Feed (frames, channels) float32 blocks with `add`; `finish()` once, then read the figures."""

    def __init__(self, channels: int, rate: int) -> None:
        self._layout = LAYOUTS[channels]
        self._rate = rate
        self._graph = av.filter.Graph()
        source = self._graph.add_abuffer(format="flt", sample_rate=rate, layout=self._layout)
        meter = self._graph.add("ebur128", "metadata=1:peak=true")
        sink = self._graph.add("abuffersink")
        source.link_to(meter)
        meter.link_to(sink)
        self._graph.configure()
        self._frames = 0
        self._latest: dict[str, str] = {}

    def add(self, block: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, np.float32).reshape(1, -1), format="flt",
                                           layout=self._layout)
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._frames
        self._frames += len(block)
        self._graph.push(frame)
        self._drain()

    def finish(self) -> None:
        self._graph.push(None)
        self._drain()

    @property
    def integrated_lufs(self) -> float:
        return float(self._latest["lavfi.r128.I"])

    @property
    def true_peak_dbtp(self) -> float:
        return 20 * math.log10(float(self._latest["lavfi.r128.true_peak"]))

    def _drain(self) -> None:
        # The filter passes the audio through; each frame it emits carries the figures so far.
        while True:
            try:
                frame = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            if "lavfi.r128.I" in frame.metadata:
                self._latest = dict(frame.metadata)


def measured(samples: np.ndarray, rate: int, block_frames: int = 65536) -> Ebur128:
    meter = Ebur128(samples.shape[1], rate)
    for start in range(0, len(samples), block_frames):
        meter.add(samples[start:start + block_frames])
    meter.finish()
    return meter
