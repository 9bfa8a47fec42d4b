"""Waveform outputs: the Celery worker's JSON that is also an audiowaveform v2 document, and the binary `.dat`."""

from __future__ import annotations

import math
import struct
import threading
from typing import BinaryIO, Protocol

import numpy as np

from waveflow.audio.decode import MAX_SAMPLE_RATE
from waveflow.contract import AudioInsights

DAT_VERSION_MONO = 1
DAT_FLAG_8_BIT = 1
DAT_HEADER = struct.Struct("<iIiiI")


def to_8_bit(values: np.ndarray) -> np.ndarray:
    """audiowaveform's 8-bit data: the int16 value divided by 256, truncated toward zero."""
    wide = values.astype(np.int32)
    return ((wide + ((wide >> 31) & 255)) >> 8).astype(np.int8)


def normalised_peaks(absolute_maxima: np.ndarray) -> list[float]:
    """The Celery worker's peaks: each bucket's absolute maximum over the loudest bucket's, 4 decimals."""
    loudest = int(absolute_maxima.max(initial=0))
    if loudest == 0:
        return [0.0] * len(absolute_maxima)
    return np.round(absolute_maxima / loudest, 4).tolist()


class Waveform(Protocol):
    """What an analysis and a mixdown both end with: the figures of the waveform JSON."""

    peaks: list[float]
    duration: float
    sample_rate: int
    samples_per_pixel: int
    pixel_min: np.ndarray
    pixel_max: np.ndarray
    insights: AudioInsights


def waveform_document(*, peaks: list[float], duration: float, sample_rate: int, samples_per_pixel: int,
                      pixel_min: np.ndarray, pixel_max: np.ndarray, created_at: str,
                      insights: AudioInsights) -> dict[str, object]:
    data = np.empty(2 * len(pixel_min), dtype=np.int8)
    data[0::2] = to_8_bit(pixel_min)
    data[1::2] = to_8_bit(pixel_max)
    return {
        "peaks": peaks,
        "duration": duration,
        "sample_rate": sample_rate,
        "num_peaks": len(peaks),
        "created_at": created_at,
        "version": 2,
        "channels": 1,
        "samples_per_pixel": samples_per_pixel,
        "bits": 8,
        "length": len(pixel_min),
        "data": data.tolist(),
        "insights": insights.model_dump(mode="json"),
    }


def detail_bytes_bound(frames: int, samples_per_pixel: int) -> int:
    """The most bytes the `.dat` of `frames` frames can take: its header and two bytes a pixel."""
    return DAT_HEADER.size + 2 * (frames // samples_per_pixel + 1)


def analysis_temp_bytes(max_seconds: float, samples_per_pixel: int) -> int:
    """The temp disk an analysis writes (its `.dat`) for audio up to `max_seconds`, at any rate a file may have."""
    return detail_bytes_bound(math.ceil(max_seconds * MAX_SAMPLE_RATE), samples_per_pixel)


class DatWriter:
    """Streams an audiowaveform binary `.dat` (version 1, one channel, 8-bit) as pixels arrive."""

    def __init__(self, output: BinaryIO, sample_rate: int, samples_per_pixel: int) -> None:
        self._output = output
        self._sample_rate = sample_rate
        self._samples_per_pixel = samples_per_pixel
        self.length = 0
        self._lock = threading.Lock()
        output.write(self._header())

    def _header(self) -> bytes:
        return DAT_HEADER.pack(DAT_VERSION_MONO, DAT_FLAG_8_BIT, self._sample_rate, self._samples_per_pixel,
                               self.length)

    def write(self, _indices: np.ndarray, minima: np.ndarray, maxima: np.ndarray) -> None:
        self._output.write(_pairs(minima, maxima))
        self.length += len(minima)

    def write_at(self, indices: np.ndarray, minima: np.ndarray, maxima: np.ndarray) -> None:
        """Consecutive pixels from any thread, written at their own place in the file."""
        pairs = _pairs(minima, maxima)
        with self._lock:
            self._output.seek(DAT_HEADER.size + 2 * int(indices[0]))
            self._output.write(pairs)
            self.length = max(self.length, int(indices[-1]) + 1)

    def close(self) -> None:
        self._output.seek(0)
        self._output.write(self._header())
        self._output.seek(0, 2)


def _pairs(minima: np.ndarray, maxima: np.ndarray) -> bytes:
    pairs = np.empty(2 * len(minima), dtype=np.int8)
    pairs[0::2] = to_8_bit(minima)
    pairs[1::2] = to_8_bit(maxima)
    return pairs.tobytes()
