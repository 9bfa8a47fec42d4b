"""Per-bucket min/max of a sample stream that arrives in blocks, as audiowaveform defines them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Emit = Callable[[np.ndarray, np.ndarray, np.ndarray], None]
"""Receives finished buckets: their indices, minima and maxima."""


class BucketReducer:
    """Reduces consecutive frames into buckets; subclasses say where buckets start.

    A bucket can span blocks: the open one is carried into the next block and emitted once complete.
    """

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._carry: tuple[int, int, int] | None = None  # (index, min, max) of the open bucket

    def bucket_of(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def starts_within(self, first: int, end: int) -> np.ndarray:
        """Frames in (first, end) where a new bucket starts, ascending."""
        raise NotImplementedError

    def add(self, mono: np.ndarray, first_frame: int) -> None:
        end = first_frame + len(mono)
        starts = self.starts_within(first_frame, end)
        offsets = np.concatenate(([0], starts - first_frame))
        minima = np.minimum.reduceat(mono, offsets)
        maxima = np.maximum.reduceat(mono, offsets)
        indices = self.bucket_of(offsets + first_frame)
        if self._carry is not None:
            index, low, high = self._carry
            if index == indices[0]:
                minima[0] = min(minima[0], low)
                maxima[0] = max(maxima[0], high)
            else:
                self._emit(np.array([index]), np.array([low]), np.array([high]))
        if len(offsets) > 1:
            self._emit(indices[:-1], minima[:-1], maxima[:-1])
        self._carry = (int(indices[-1]), int(minima[-1]), int(maxima[-1]))

    def finish(self) -> None:
        if self._carry is not None:
            index, low, high = self._carry
            self._emit(np.array([index]), np.array([low]), np.array([high]))
            self._carry = None


class FixedWidthBuckets(BucketReducer):
    """audiowaveform's pixels: `samples_per_pixel` frames each, the last one partial."""

    def __init__(self, samples_per_pixel: int, emit: Emit) -> None:
        super().__init__(emit)
        self.samples_per_pixel = samples_per_pixel

    def bucket_of(self, frames: np.ndarray) -> np.ndarray:
        return frames // self.samples_per_pixel

    def starts_within(self, first: int, end: int) -> np.ndarray:
        spp = self.samples_per_pixel
        return np.arange((first // spp + 1) * spp, end, spp, dtype=np.int64)


class ProportionalBuckets(BucketReducer):
    """`count` buckets over `total_frames`: frame f falls in bucket f * count // total_frames.

    Frames beyond `total_frames` (a lossy stream longer than its container said) fall in the last bucket.
    """

    def __init__(self, count: int, total_frames: int, emit: Emit) -> None:
        super().__init__(emit)
        self.count = count
        self.total_frames = max(total_frames, 1)

    def bucket_of(self, frames: np.ndarray) -> np.ndarray:
        return np.minimum(frames.astype(np.int64) * self.count // self.total_frames, self.count - 1)

    def starts_within(self, first: int, end: int) -> np.ndarray:
        first_bucket = int(self.bucket_of(np.array([first]))[0])
        last_bucket = int(self.bucket_of(np.array([end - 1]))[0])
        if last_bucket == first_bucket:
            return np.empty(0, dtype=np.int64)
        buckets = np.arange(first_bucket + 1, last_bucket + 1, dtype=np.int64)
        # ceil(i * N / count): ascending, and repeated where there are more buckets than frames.
        starts = -(-buckets * self.total_frames // self.count)
        starts = starts[(starts > first) & (starts < end)]
        return starts[np.concatenate(([True], starts[1:] != starts[:-1]))] if len(starts) else starts


class BoundedPixels(FixedWidthBuckets):
    """audiowaveform pixels kept in memory, whose width doubles whenever there are more than `max_pixels`.

    A stream whose container under-states its length (or states none, as browser recordings do) still ends
    with at most `max_pixels` pixels; a stream of the stated length never doubles, so its pixels stay exact.
    """

    def __init__(self, samples_per_pixel: int, max_pixels: int) -> None:
        super().__init__(samples_per_pixel, self._keep)
        self.max_pixels = max_pixels
        self._minima: list[np.ndarray] = []
        self._maxima: list[np.ndarray] = []
        self._count = 0

    def _keep(self, _indices: np.ndarray, minima: np.ndarray, maxima: np.ndarray) -> None:
        self._minima.append(minima.astype(np.int32))
        self._maxima.append(maxima.astype(np.int32))
        self._count += len(minima)

    def add(self, mono: np.ndarray, first_frame: int) -> None:
        super().add(mono, first_frame)
        while self._count > self.max_pixels:
            self._double()

    def finish(self) -> None:
        super().finish()
        while self._count > self.max_pixels:
            self._double()

    def pixels(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._minima:
            return np.empty(0, np.int16), np.empty(0, np.int16)
        return np.concatenate(self._minima).astype(np.int16), np.concatenate(self._maxima).astype(np.int16)

    def _double(self) -> None:
        minima, maxima = np.concatenate(self._minima), np.concatenate(self._maxima)
        if len(minima) % 2 and self._carry is not None:
            # The last finished pixel and the open one become the same, wider pixel.
            index, low, high = self._carry
            self._carry = (index, min(low, int(minima[-1])), max(high, int(maxima[-1])))
            minima, maxima = minima[:-1], maxima[:-1]
        elif len(minima) % 2:
            minima = np.append(minima, minima[-1])
            maxima = np.append(maxima, maxima[-1])
        self._minima = [np.minimum(minima[0::2], minima[1::2])]
        self._maxima = [np.maximum(maxima[0::2], maxima[1::2])]
        self._count = len(self._minima[0])
        self.samples_per_pixel *= 2
        if self._carry is not None:
            index, low, high = self._carry
            self._carry = (index // 2, low, high)
