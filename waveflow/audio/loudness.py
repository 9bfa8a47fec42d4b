"""Integrated loudness (ITU-R BS.1770-4, EBU R128 gating) of a stream of float frames, by FFmpeg's `ebur128` filter
that PyAV already bundles: no library of its own to keep building on each new CPython."""

from __future__ import annotations

import math
from fractions import Fraction

import av
import av.filter
import numpy as np

ABSOLUTE_GATE_LUFS = -70.0
LAYOUTS = {1: "mono", 2: "stereo"}


class LoudnessMeter:
    """Feed blocks of (frames, channels) float32 samples in order with `add`; `integrated()` once at the end."""

    def __init__(self, channels: int, rate: int) -> None:
        if channels not in LAYOUTS:
            raise ValueError(f"loudness of {channels} channels: only mono and stereo are weighted here")
        self._layout = LAYOUTS[channels]
        self._rate = rate
        self._graph = av.filter.Graph()
        source = self._graph.add_abuffer(format="flt", sample_rate=rate, layout=self._layout)
        meter = self._graph.add("ebur128", "metadata=1")
        sink = self._graph.add("abuffersink")
        source.link_to(meter)
        meter.link_to(sink)
        self._graph.configure()
        self._frames = 0
        self._latest = ABSOLUTE_GATE_LUFS

    def add(self, block: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, np.float32).reshape(1, -1), format="flt",
                                           layout=self._layout)
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._frames
        self._frames += len(block)
        self._graph.push(frame)
        self._drain()

    def integrated(self) -> float:
        """LUFS; -inf when every 400 ms block is below the -70 LUFS absolute gate (silence)."""
        self._graph.push(None)
        self._drain()
        return self._latest if self._latest > ABSOLUTE_GATE_LUFS else -math.inf

    def _drain(self) -> None:
        # The filter passes the audio through; each frame it emits carries the integrated loudness so far.
        while True:
            try:
                frame = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            measured = frame.metadata.get("lavfi.r128.I")
            if measured is not None:
                self._latest = float(measured)
