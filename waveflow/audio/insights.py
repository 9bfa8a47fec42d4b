"""What a musician needs to know about a stem, measured while its samples stream past once: integrated loudness
(ITU-R BS.1770-4 with EBU R128 gating), true peak (BS.1770-4 Annex 2: 4x oversampling), clipping, silence at the
edges and DC offset.

Feed blocks of (frames, channels) samples in order to an `InsightMeter`: int16 (decoder blocks, full scale 32768) or
float32 (-1..1). A file read in parallel segments gives each segment its own meter started at the segment's first
frame; `insights_of` joins their parts into the figures one meter over the whole stream would give (the
filters start afresh at each segment start, which moves the loudness by far less than its 0.1 LU tolerance).
"""

from __future__ import annotations

import functools
import itertools
import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction

import av
import av.filter
import numpy as np
from threadpoolctl import threadpool_limits

from waveflow.contract import AudioInsights

SILENCE_THRESHOLD_DBFS = -60.0
LOUDNESS_FROM_RATE = 8000
"""Below it the loudness is not measured (None): BS.1770's shelf sits at 1.7 kHz, past what such a rate can hold, and
its filter designed there diverges."""
"""A sample louder than this is sound: a stem with none is silent, and its edges are silence up to the first and
from the last one. -60 dBFS is well above the noise of a dithered 16-bit export (about -90) and below any music."""
CLIPPED_AT = 32767
"""An int16 sample at ±32767 or -32768 is at full scale: clipped, or about to be (float input: |x| ≥ 32767/32768)."""
FIRST_CLIPS_KEPT = 5
SOUND_SEARCH_FRAMES = 4096
TRUE_PEAK_STRETCH = 2048
GATING_BLOCK_SUBBLOCKS = 4
"""A 400 ms gating block is four 100 ms sub-blocks; blocks overlap by three (75 %)."""
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LOUDNESS_OFFSET = -0.691
SURROUND_WEIGHT = 1.41
# BS.1770-4 Annex 2: the 48-tap interpolation filter as four phases of 12 taps. Phase 0 is the original sample
# instant; phases 1-3 the points a quarter, a half and three quarters of a sample later.
TRUE_PEAK_PHASES = np.array([
    [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625,
     0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
    [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250,
     0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
    [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000, -0.2003173828125, 0.7797851562500,
     0.4650878906250, -0.1665039062500, 0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875],
    [-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750, -0.1022949218750, 0.9721679687500,
     0.1373291015625, -0.0594482421875, 0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750],
])
TRUE_PEAK_PHASES_32 = TRUE_PEAK_PHASES.astype(np.float32)
TRUE_PEAK_HISTORY = TRUE_PEAK_PHASES.shape[1] - 1
TRUE_PEAK_RUN_OUTPUTS = TRUE_PEAK_HISTORY
"""Consecutive sample positions interpolated by one row of the matrix product: 11, so that the 11 windows across a
boundary are one row (8 to 32 measured within 20% of each other, 12 fastest)."""


def _run_matrix() -> np.ndarray:
    """Column `phase * TRUE_PEAK_RUN_OUTPUTS + j` holds the taps that interpolate position j of a row of samples."""
    matrix = np.zeros((TRUE_PEAK_RUN_OUTPUTS + TRUE_PEAK_HISTORY, 4 * TRUE_PEAK_RUN_OUTPUTS), dtype=np.float32)
    for phase, taps in enumerate(TRUE_PEAK_PHASES_32):
        for position in range(TRUE_PEAK_RUN_OUTPUTS):
            matrix[position:position + len(taps), phase * TRUE_PEAK_RUN_OUTPUTS + position] = taps[::-1]
    return matrix


TRUE_PEAK_RUN_MATRIX = _run_matrix()
TRUE_PEAK_GAIN_BOUND = float(np.abs(TRUE_PEAK_PHASES).sum(axis=1).max())
"""No interpolated point exceeds the largest sample of its 12 by more than this factor (the phases' largest sum of
absolute taps): a block whose samples all lie below the true peak so far ÷ this cannot raise it, and is skipped."""


def k_weighting(rate: int) -> list[list[float]]:
    """BS.1770's pre-filter (a high shelf) and RLB high-pass as second-order sections (b0 b1 b2 a0 a1 a2), designed
    for `rate` from their analogue prototypes (the 48 kHz coefficients of the standard come out exactly)."""
    shelf_k = math.tan(math.pi * 1681.974450955533 / rate)
    shelf_q = 0.7071752369554196
    high_gain = 10 ** (3.999843853973347 / 20)
    band_gain = high_gain ** 0.4996667741545416
    shelf_a0 = 1 + shelf_k / shelf_q + shelf_k ** 2
    shelf = [(high_gain + band_gain * shelf_k / shelf_q + shelf_k ** 2) / shelf_a0,
             2 * (shelf_k ** 2 - high_gain) / shelf_a0,
             (high_gain - band_gain * shelf_k / shelf_q + shelf_k ** 2) / shelf_a0,
             1.0, 2 * (shelf_k ** 2 - 1) / shelf_a0, (1 - shelf_k / shelf_q + shelf_k ** 2) / shelf_a0]
    pass_k = math.tan(math.pi * 38.13547087602444 / rate)
    pass_q = 0.5003270373238773
    pass_a0 = 1 + pass_k / pass_q + pass_k ** 2
    high_pass = [1.0, -2.0, 1.0, 1.0, 2 * (pass_k ** 2 - 1) / pass_a0, (1 - pass_k / pass_q + pass_k ** 2) / pass_a0]
    return [shelf, high_pass]


class KWeighting:
    """The K-weighting filters run by FFmpeg's `biquad` filter through PyAV (already loaded to decode), block by
    block with its state carried on: SciPy's sosfilt would cost 80 MB of resident memory per process to import.
    One filter graph per pair of channels (and a mono one for an odd last channel): PyAV builds frames of mono and
    stereo layouts reliably, and of eight or more channels not at all."""

    def __init__(self, channels: int, rate: int) -> None:
        self._channels = channels
        self._graphs = [_FilterPair(rate, min(2, channels - first)) for first in range(0, channels, 2)]

    def filtered(self, samples: np.ndarray) -> np.ndarray:
        """The weighted (channels, frames) block; the filters' output comes out as the input goes in."""
        weighted = [pair.filtered(samples[first:first + 2]) for first, pair in zip(range(0, self._channels, 2),
                                                                                 self._graphs, strict=True)]
        return weighted[0] if len(weighted) == 1 else np.concatenate(weighted, axis=0)


class _FilterPair:
    def __init__(self, rate: int, channels: int) -> None:
        self._rate = rate
        self._layout = "stereo" if channels == 2 else "mono"
        self._graph = av.filter.Graph()
        previous = self._graph.add_abuffer(format="fltp", sample_rate=rate, layout=self._layout)
        for b0, b1, b2, a0, a1, a2 in k_weighting(rate):
            section = self._graph.add("biquad", f"b0={b0!r}:b1={b1!r}:b2={b2!r}:a0={a0!r}:a1={a1!r}:a2={a2!r}:"
                                                "precision=f32")
            previous.link_to(section)
            previous = section
        sink = self._graph.add("abuffersink")
        previous.link_to(sink)
        self._graph.configure()
        self._frames = 0

    def filtered(self, samples: np.ndarray) -> np.ndarray:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=self._layout)
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._frames
        self._frames += samples.shape[1]
        self._graph.push(frame)
        weighted = [self._graph.pull().to_ndarray()]
        total = weighted[0].shape[1]
        while total < samples.shape[1]:
            weighted.append(self._graph.pull().to_ndarray())
            total += weighted[-1].shape[1]
        return weighted[0] if len(weighted) == 1 else np.concatenate(weighted, axis=1)


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770's weights: 1.0 for each channel, except that six channels are 5.1 in WAV order (L R C LFE Ls Rs),
    whose LFE is left out and whose surrounds weigh 1.41."""
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, SURROUND_WEIGHT, SURROUND_WEIGHT])
    return np.ones(channels)


@dataclass
class InsightPart:
    """What one meter saw of a stretch of the stream that starts at `start` (mergeable with its neighbours')."""

    start: int
    rate: int
    channels: int
    frames: int = 0
    first_subblock: int = 0
    subblock_energy: list[np.ndarray] = field(default_factory=list)
    """K-weighted sums of squares per 100 ms sub-block (rows) and channel, from `first_subblock` on; the first and
    last rows may hold part of a sub-block, whose other part a neighbouring segment holds."""
    true_peak: np.ndarray | None = None
    sample_peak: np.ndarray | None = None
    clipped_samples: np.ndarray | None = None
    clipped_runs: np.ndarray | None = None
    first_clipped: np.ndarray | None = None
    """Per channel: whether the part's first frame is at full scale (a run that may go on from the part before)."""
    last_clipped: np.ndarray | None = None
    first_clips: list[int] = field(default_factory=list)
    """Frames where the first clipped runs start (any channel), at most FIRST_CLIPS_KEPT."""
    sums: np.ndarray | None = None
    first_sound: int | None = None
    last_sound: int | None = None
    head: np.ndarray | None = None
    """A part that starts after frame 0: its first TRUE_PEAK_HISTORY samples per channel, which with the part
    before's `tail` make the interpolation windows across their boundary (neither meter sees both sides)."""
    tail: np.ndarray | None = None


@functools.cache
def _one_blas_thread() -> None:
    """For the whole process, which is a decoding process in the worker: BLAS's threads would only contend with the
    segments' and with each other over the true peak's small matrix products. Once: finding the library takes ms."""
    threadpool_limits(limits=1, user_api="blas")


class InsightMeter:
    def __init__(self, channels: int, rate: int, *, start: int = 0) -> None:
        _one_blas_thread()
        self._rate = rate
        self._weighting = KWeighting(channels, rate) if rate >= LOUDNESS_FROM_RATE else None
        self._silence = 10 ** (SILENCE_THRESHOLD_DBFS / 20)
        self.part = InsightPart(start=start, rate=rate, channels=channels, first_subblock=_subblock_of(start, rate),
                                true_peak=np.zeros(channels), sample_peak=np.zeros(channels),
                                clipped_samples=np.zeros(channels, dtype=np.int64),
                                clipped_runs=np.zeros(channels, dtype=np.int64),
                                first_clipped=np.zeros(channels, dtype=bool),
                                last_clipped=np.zeros(channels, dtype=bool),
                                sums=np.zeros(channels),
                                # The stream starts after silence; a segment further in starts after samples its
                                # meter never sees: insights_of joins its head to the part before's tail.
                                tail=None if start else np.zeros((channels, TRUE_PEAK_HISTORY), np.float32))

    def add(self, block: np.ndarray) -> None:
        if not len(block):
            return
        part = self.part
        position = part.start + part.frames
        # Channel-major: every reduction below runs along contiguous memory.
        samples = block.T.astype(np.float32, order="C")
        if block.dtype == np.int16:
            samples *= 1 / 32768
        peaks = np.maximum(samples.max(axis=1), -samples.min(axis=1))
        np.maximum(part.sample_peak, peaks, out=part.sample_peak)
        part.sums += samples.sum(axis=1, dtype=np.float64)
        self._count_clips(samples, peaks, position)
        self._find_sound(samples, peaks, position)
        self._true_peak(samples)
        if self._weighting is not None:
            self._loudness(self._weighting.filtered(samples), position)
        part.frames += len(block)

    def _count_clips(self, samples: np.ndarray, peaks: np.ndarray, position: int) -> None:
        part = self.part
        if peaks.max() < CLIPPED_AT / 32768:
            part.last_clipped[:] = False
            return
        clipped = np.abs(samples) >= CLIPPED_AT / 32768
        if part.frames == 0:
            part.first_clipped = clipped[:, 0].copy()
        starts = clipped.copy()
        starts[:, 1:] &= ~clipped[:, :-1]
        starts[:, 0] &= ~part.last_clipped
        part.clipped_samples += clipped.sum(axis=1)
        part.clipped_runs += starts.sum(axis=1)
        part.last_clipped = clipped[:, -1].copy()
        if len(part.first_clips) < FIRST_CLIPS_KEPT:
            frames = np.flatnonzero(starts.any(axis=0))[:FIRST_CLIPS_KEPT - len(part.first_clips)]
            part.first_clips.extend(int(frame) + position for frame in frames)

    def _find_sound(self, samples: np.ndarray, peaks: np.ndarray, position: int) -> None:
        if peaks.max() <= self._silence:
            return
        if self.part.first_sound is None:
            self.part.first_sound = position + _first_loud(samples, self._silence)
        tail = samples.shape[1]
        while True:  # the last sound is nearly always in the block's last stretch: look there first
            stretch = samples[:, max(0, tail - SOUND_SEARCH_FRAMES):tail]
            loud = np.flatnonzero((np.abs(stretch) > self._silence).any(axis=0))
            if len(loud):
                self.part.last_sound = position + tail - stretch.shape[1] + int(loud[-1])
                return
            tail -= stretch.shape[1]

    def _true_peak(self, samples: np.ndarray) -> None:
        """The windows within the block, skipping stretches that cannot lift the true peak so far, and the windows
        across the block before's end (as insights_of does across a segment's start)."""
        part = self.part
        head = samples[:, :TRUE_PEAK_HISTORY]
        if part.start and part.frames < TRUE_PEAK_HISTORY:
            first = samples[:, :TRUE_PEAK_HISTORY - part.frames]
            part.head = first.copy() if part.head is None else np.concatenate([part.head, first], axis=1)
        if part.tail is not None:
            np.maximum(part.true_peak, _peaks_across(part.tail, head), out=part.true_peak)
            head = np.concatenate([part.tail, head], axis=1)
        # A block shorter than a window is all in `head`, after the tail before it.
        part.tail = (head if samples.shape[1] <= TRUE_PEAK_HISTORY else samples)[:, -TRUE_PEAK_HISTORY:].copy()
        windows = samples.shape[1] - TRUE_PEAK_HISTORY
        for channel, column in enumerate(samples if windows > 0 else ()):
            loudest = _stretch_bounds(column)
            worth = np.flatnonzero(loudest * TRUE_PEAK_GAIN_BOUND > part.true_peak[channel])
            for first, last in _runs(worth):
                begin = first * TRUE_PEAK_STRETCH
                end = min(windows, (last + 1) * TRUE_PEAK_STRETCH)
                part.true_peak[channel] = max(part.true_peak[channel],
                                              _interpolated_peak(column[begin:end + TRUE_PEAK_HISTORY]))

    def _loudness(self, weighted: np.ndarray, position: int) -> None:
        """The K-weighted block's energy per 100 ms sub-block."""
        first = _subblock_of(position, self._rate)
        last = _subblock_of(position + weighted.shape[1] - 1, self._rate)
        bounds = [max(0, _subblock_start(index, self._rate) - position) for index in range(first, last + 1)]
        energy = np.add.reduceat(np.square(weighted), bounds, axis=1).T
        subblocks = self.part.subblock_energy
        if subblocks and len(subblocks) + self.part.first_subblock - 1 == first:
            subblocks[-1] = subblocks[-1] + energy[0]
            energy = energy[1:]
        subblocks.extend(energy)


class MeterBeside:
    """An InsightMeter fed on a thread of its own, one block behind the caller: a single-pass decode leaves the other
    cores idle, and numpy and FFmpeg release the GIL while they measure. `beside=False` feeds it inline, for a short
    file, where handing blocks over costs more than it saves. Use as a context manager."""

    def __init__(self, meter: InsightMeter, *, beside: bool = True) -> None:
        self._meter = meter
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="insights") if beside else None
        self._pending: Future[None] | None = None

    def __enter__(self) -> MeterBeside:
        return self

    def __exit__(self, *_: object) -> None:
        if self._thread is not None:
            self._thread.shutdown(cancel_futures=True)

    def add(self, block: np.ndarray) -> None:
        if self._thread is None:
            self._meter.add(block)
            return
        copy = block.copy()  # decoders read the next block into the same buffer
        self._wait()
        self._pending = self._thread.submit(self._meter.add, copy)

    def part(self) -> InsightPart:
        self._wait()
        return self._meter.part

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None



def _first_loud(samples: np.ndarray, threshold: float) -> int:
    return int(np.flatnonzero((np.abs(samples) > threshold).any(axis=0))[0])


def _stretch_bounds(column: np.ndarray) -> np.ndarray:
    """For each stretch of TRUE_PEAK_STRETCH windows, a bound on its samples: the loudest of its own stretch of
    samples and of the next (a window reaches TRUE_PEAK_HISTORY samples past its start)."""
    count = -(-len(column) // TRUE_PEAK_STRETCH)
    padded = np.zeros(count * TRUE_PEAK_STRETCH, dtype=column.dtype)
    padded[:len(column)] = np.abs(column)
    maxima = padded.reshape(count, TRUE_PEAK_STRETCH).max(axis=1)
    return np.maximum(maxima, np.append(maxima[1:], 0.0))


def _peaks_across(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Per channel, the largest interpolated value of the windows that start in `tail` and end in `head`: those
    across a boundary between blocks or segments."""
    return np.array([_interpolated_peak(row) for row in np.concatenate([tail, head], axis=1)])


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive indices as (first, last) pairs."""
    if not len(indices):
        return []
    breaks = np.flatnonzero(np.diff(indices) > 1)
    firsts = np.concatenate([indices[:1], indices[breaks + 1]])
    lasts = np.concatenate([indices[breaks], indices[-1:]])
    return list(zip(firsts.tolist(), lasts.tolist(), strict=True))


def _interpolated_peak(window: np.ndarray) -> float:
    """The largest |value| of the four phases over every full 12-sample window of `window`: runs of
    TRUE_PEAK_RUN_OUTPUTS windows as rows of one matrix product (BLAS does in one call what would be 96 numpy passes
    over the block, about three times faster), the last few by shifted sums."""
    runs = max(0, len(window) - TRUE_PEAK_HISTORY) // TRUE_PEAK_RUN_OUTPUTS
    peak = 0.0
    if runs:
        rows = np.lib.stride_tricks.as_strided(
            window, shape=(runs, TRUE_PEAK_RUN_OUTPUTS + TRUE_PEAK_HISTORY),
            strides=(TRUE_PEAK_RUN_OUTPUTS * window.strides[0], window.strides[0]), writeable=False)
        interpolated = np.ascontiguousarray(rows) @ TRUE_PEAK_RUN_MATRIX
        peak = max(float(interpolated.max()), float(-interpolated.min()))
    rest = window[runs * TRUE_PEAK_RUN_OUTPUTS:]
    for taps in TRUE_PEAK_PHASES_32 if len(rest) > TRUE_PEAK_HISTORY else ():
        total = taps[-1] * rest[:len(rest) - TRUE_PEAK_HISTORY]
        for offset, tap in enumerate(taps[-2::-1], start=1):
            total += tap * rest[offset:offset + len(total)]
        peak = max(peak, float(total.max()), float(-total.min()))
    return peak


def _subblock_of(frame: int, rate: int) -> int:
    return frame * 10 // rate


def _subblock_start(index: int, rate: int) -> int:
    return -(-index * rate // 10)


def insights_of(parts: list[InsightPart]) -> AudioInsights:
    """The figures of consecutive parts (in order), as one meter over all of them would give."""
    first = parts[0]
    rate, frames = first.rate, sum(part.frames for part in parts)
    energy = _joined_energy(parts)
    true_peak = np.max([part.true_peak for part in parts], axis=0)
    sample_peak = np.max([part.sample_peak for part in parts], axis=0)
    runs = sum(part.clipped_runs for part in parts)
    first_clips = list(first.first_clips)
    # The stream's last samples before `after`; a part shorter than a window passes on what came before it.
    carried = first.tail
    for before, after in itertools.pairwise(parts):
        continued = before.last_clipped & after.first_clipped
        runs = runs - continued
        starts_anew = (after.first_clipped & ~before.last_clipped).any()
        first_clips += [frame for frame in after.first_clips if frame != after.start or starts_anew]
        if carried is not None and after.head is not None:
            np.maximum(true_peak, _peaks_across(carried, after.head), out=true_peak)
            carried = after.tail if after.frames > TRUE_PEAK_HISTORY else \
                np.concatenate([carried, after.head], axis=1)[:, -TRUE_PEAK_HISTORY:]
    sounds = [part for part in parts if part.first_sound is not None]
    return AudioInsights(
        integrated_lufs=_integrated_loudness(energy[:frames * 10 // rate], channel_weights(first.channels), rate),
        # Phase 0 of the interpolator is not the sample itself: a true peak never reads below the sample peak.
        true_peak_dbtp=_decibels(float(max(true_peak.max(), sample_peak.max()))),
        sample_peak_dbfs=_decibels(float(sample_peak.max())),
        clipped_samples=int(sum(part.clipped_samples for part in parts).sum()),
        clipped_runs=int(runs.sum()),
        first_clips_seconds=[round(frame / rate, 4) for frame in sorted(first_clips)[:FIRST_CLIPS_KEPT]],
        silent=not sounds,
        leading_silence_seconds=round((sounds[0].first_sound if sounds else frames) / rate, 3),
        trailing_silence_seconds=round((frames - 1 - sounds[-1].last_sound) / rate if sounds else 0.0, 3),
        dc_offset=[round(float(total) / max(frames, 1), 6) for total in sum(part.sums for part in parts)],
    )


def _joined_energy(parts: list[InsightPart]) -> np.ndarray:
    """Sub-block energies of all parts by absolute index; a sub-block split between two parts is summed."""
    rows: dict[int, np.ndarray] = {}
    for part in parts:
        for offset, energy in enumerate(part.subblock_energy):
            index = part.first_subblock + offset
            rows[index] = rows[index] + energy if index in rows else energy
    if not rows:
        return np.zeros((0, parts[0].channels))
    return np.array([rows[index] for index in sorted(rows)])


def _integrated_loudness(energy: np.ndarray, weights: np.ndarray, rate: int) -> float | None:
    """BS.1770-4 over complete sub-blocks: mean squares over 400 ms blocks every 100 ms, gated at -70 LUFS, then
    at 10 LU under the loudness of what passed."""
    if len(energy) < GATING_BLOCK_SUBBLOCKS:
        return None
    window = np.ones(GATING_BLOCK_SUBBLOCKS)
    block_energy = np.stack([np.convolve(energy[:, channel], window, mode="valid")
                             for channel in range(energy.shape[1])], axis=1)
    block_frames = np.convolve(_subblock_lengths(len(energy), rate), window, mode="valid")
    powers = (block_energy / block_frames[:, np.newaxis]) @ weights
    with np.errstate(divide="ignore"):
        loudness = LOUDNESS_OFFSET + 10 * np.log10(powers)
    above = powers[loudness > ABSOLUTE_GATE_LUFS]
    if not len(above):
        return None
    relative_gate = LOUDNESS_OFFSET + 10 * math.log10(above.mean()) + RELATIVE_GATE_LU
    gated = powers[(loudness > ABSOLUTE_GATE_LUFS) & (loudness > relative_gate)]
    return round(LOUDNESS_OFFSET + 10 * math.log10(gated.mean()), 2)


def _subblock_lengths(count: int, rate: int) -> np.ndarray:
    return np.array([_subblock_start(index + 1, rate) - _subblock_start(index, rate) for index in range(count)],
                    dtype=np.float64)


def _decibels(amplitude: float) -> float | None:
    return round(20 * math.log10(amplitude), 2) if amplitude > 0 else None
