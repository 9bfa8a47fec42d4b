"""One streaming pass over an audio file: stream facts, the Celery worker's peaks, two waveform levels and the
stem's insights (loudness, true peak, clipping, silence, DC offset)."""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from waveflow.audio.buckets import BoundedPixels, FixedWidthBuckets, ProportionalBuckets
from waveflow.audio.decode import BLOCK_FRAMES, MPEG_FRAME_FRAMES, open_audio, open_segment
from waveflow.audio.formats import AudioFormat, check_declared_length, detect_format
from waveflow.audio.insights import InsightMeter, MeterBeside, insights_of
from waveflow.audio.waveform import DatWriter, normalised_peaks
from waveflow.contract import AudioInsights
from waveflow.errors import AudioTooLongError, DamagedAudioError, WaveFlowError
from waveflow.resources import available_cpus

Progress = Callable[[int, int], None]
"""Called after each block with (frames decoded so far, sample rate)."""

LOSSY_LENGTH_TOLERANCE = 0.02
LOSSY_LENGTH_SLACK_FRAMES = 8192
# Formats whose seeks land on the exact sample: their segments decode to the same samples as one pass.
SEGMENTABLE = {AudioFormat.WAV, AudioFormat.AIFF, AudioFormat.FLAC, AudioFormat.MP3}
# MP3 through libsndfile (mpg123) seeks right by the decoder's behaviour, not by the format: its state after a seek
# (bit reservoir, overlap-add, synthesis filter) is rebuilt from the frames before the target, and a wrong sample
# would pass every length check. So the samples around every boundary between MP3 segments are decoded twice: the
# OVERLAP_FRAMES on each side by the segment before (which reads on past its end, with no seek) and by the segment
# after (which starts that far early, after its seek). Any difference, and the file is analysed in one pass.
CHECKED_BY_OVERLAP = {AudioFormat.MP3}
OVERLAP_FRAMES = 4 * MPEG_FRAME_FRAMES
SEGMENTED_MP3_FROM_RATE = 32_000
"""Only stereo MP3s at MPEG-1 rates (32, 44.1 and 48 kHz) are decoded in segments: after a seek mpg123 gave every
stereo sample as the one pass did (18 encodings, 25 seek points each), but mono ones off by one step here and there
far past the seek (by thousands in a VBR file), as were MPEG-2 rates (24 kHz and below): more than the overlaps
could be trusted to show."""
PROGRESS_EVERY_SECONDS = 0.5
# Threads hand the GIL over between numpy calls: larger blocks mean fewer hand-overs (measured: 3-4x the one-pass
# block halves a 2-thread WAV analysis). The blocks of all segments together stay within a memory budget, which
# keeps a 2-core analysis under 64 MB peak RSS.
SEGMENT_BLOCK_FRAMES = 4 * BLOCK_FRAMES
SEGMENT_BLOCKS_BUDGET_BYTES = 12 * 1024 * 1024
SEGMENTED_FROM_BYTES = 8 * 1024 * 1024
"""Below this (47 s of CD-quality WAV), files are analysed in one pass unless segments are asked for: the threads
and the second open cost more than they save on a short stem."""
WORKING_BYTES_PER_SAMPLE = 16
"""The int16 block (float32 first for float and lossy files), the int32 mono mix and its temporaries, rounded up."""


@dataclass(frozen=True)
class AudioAnalysis:
    format: AudioFormat
    sample_rate: int
    channels: int
    frames: int
    peaks: list[float]
    samples_per_pixel: int
    pixel_min: np.ndarray
    pixel_max: np.ndarray
    detail_samples_per_pixel: int
    detail_length: int
    insights: AudioInsights | None
    """None when not asked for."""

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def mono_mix(block: np.ndarray) -> np.ndarray:
    """audiowaveform's mono: the integer mean of the channels, truncated toward zero, as int32."""
    channels = block.shape[1]
    if channels == 1:
        return block[:, 0].astype(np.int32)
    total = np.add(block[:, 0], block[:, 1], dtype=np.int32)
    for channel in range(2, channels):
        total += block[:, channel]
    if channels == 2:
        total -= total >> 31  # makes the arithmetic shift round toward zero, not down
        total >>= 1
        return total
    return np.trunc(total / channels).astype(np.int32)


@dataclass(frozen=True)
class LengthLimit:
    """The longest audio worth decoding, and the setting that says so (named in the error)."""

    seconds: float
    setting: str = "MAX_AUDIO_SECONDS"
    error: type[WaveFlowError] = AudioTooLongError

    def check_declared(self, frames: int, sample_rate: int) -> None:
        """Before any long work: the length the header declares."""
        if frames > self.seconds * sample_rate:
            raise self.error(f"audio too long: its header declares {clock(frames / sample_rate)}, "
                             f"{clock(frames / sample_rate - self.seconds)} over the {clock(self.seconds)} limit "
                             f"({self.setting})")

    def check_decoded(self, frames: int, sample_rate: int, declared: int) -> None:
        """While decoding: a file that holds more than it declares stops at the limit, not at its end."""
        if frames > self.seconds * sample_rate:
            said = f"declares {clock(declared / sample_rate)}" if declared else "does not declare its length"
            raise self.error(f"audio too long: it decodes past the {clock(self.seconds)} limit ({self.setting}) "
                             f"although its header {said}")


def clock(seconds: float) -> str:
    """`1:02:03.4`: hours, minutes and seconds to a tenth."""
    tenths = round(seconds * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, tenths = divmod(rest, 600)
    return f"{hours}:{minutes:02d}:{tenths // 10:02d}.{tenths % 10}"


def analyse_file(path: Path, *, num_peaks: int, detail_samples_per_pixel: int, detail_output: BinaryIO,
                 progress: Progress | None = None, segments: int | None = None,
                 limit: LengthLimit | None = None, insights: bool = True) -> AudioAnalysis:
    """`segments`: how many parts of a WAV, AIFF, FLAC or stereo MP3 file (SEGMENTABLE) are decoded at once, on as
    many threads (default: the cores the container may use, for a file of SEGMENTED_FROM_BYTES or more); the result
    is byte for byte the one-pass result. `limit`: longer audio fails before it is decoded, or as soon as decoding
    passes it. `insights`: measure them (the bench turns them off to show what they cost)."""
    audio_format = detect_format(path)
    check_declared_length(path, audio_format)
    wanted_segments = segments or (available_cpus() if path.stat().st_size >= SEGMENTED_FROM_BYTES else 1)
    if wanted_segments > 1 and audio_format in SEGMENTABLE:
        analysis = _analyse_in_segments(path, audio_format, num_peaks, detail_samples_per_pixel, detail_output,
                                        progress, wanted_segments, limit, insights)
        if analysis is not None:
            return analysis
        _rewind(detail_output)
    return _analyse_in_one_pass(path, audio_format, num_peaks, detail_samples_per_pixel, detail_output, progress,
                                limit, insights)


def analyse_into(path: Path, detail_path: Path, *, num_peaks: int, detail_samples_per_pixel: int,
                 progress: Progress | None = None, limit: LengthLimit | None = None) -> AudioAnalysis:
    """`analyse_file` writing the `.dat` to `detail_path`: what a decoding process can be handed."""
    with detail_path.open("w+b") as detail:
        return analyse_file(path, num_peaks=num_peaks, detail_samples_per_pixel=detail_samples_per_pixel,
                            detail_output=detail, progress=progress, limit=limit)


def _rewind(output: BinaryIO) -> None:
    output.seek(0)
    with contextlib.suppress(OSError):  # a sink such as /dev/null cannot be truncated, and holds nothing
        output.truncate()


def _analyse_in_one_pass(path: Path, audio_format: AudioFormat, num_peaks: int, detail_samples_per_pixel: int,
                         detail_output: BinaryIO, progress: Progress | None,
                         limit: LengthLimit | None, insights: bool) -> AudioAnalysis:
    with open_audio(path, audio_format) as decoded, contextlib.ExitStack() as measuring:
        info = decoded.info
        meter = measuring.enter_context(MeterBeside(InsightMeter(info.channels, info.sample_rate),
                                                    beside=path.stat().st_size >= SEGMENTED_FROM_BYTES)) \
            if insights else None
        if limit is not None:
            limit.check_declared(info.declared_frames, info.sample_rate)
        absolute_maxima = np.zeros(num_peaks, dtype=np.int32)

        def keep_peaks(indices: np.ndarray, minima: np.ndarray, maxima: np.ndarray) -> None:
            absolute_maxima[indices] = np.maximum(np.abs(minima), np.abs(maxima))

        pixels = BoundedPixels(max(1, math.ceil(info.declared_frames / num_peaks)), max_pixels=2 * num_peaks)
        detail = DatWriter(detail_output, info.sample_rate, detail_samples_per_pixel)
        reducers = (
            ProportionalBuckets(num_peaks, info.declared_frames, keep_peaks),
            pixels,
            FixedWidthBuckets(detail_samples_per_pixel, detail.write),
        )
        frames = 0
        for block in decoded.blocks:
            mono = mono_mix(block)
            for reducer in reducers:
                reducer.add(mono, frames)
            if meter is not None:
                meter.add(block)
            frames += len(mono)
            if limit is not None:
                limit.check_decoded(frames, info.sample_rate, info.declared_frames)
            if progress is not None:
                progress(frames, info.sample_rate)
        for reducer in reducers:
            reducer.finish()
        detail.close()
        measured = insights_of([meter.part()]) if meter is not None else None
    check_decoded_length(audio_format, frames, info.declared_frames, info.sample_rate)
    pixel_min, pixel_max = pixels.pixels()
    if not _length_as_declared(frames, info.declared_frames):
        absolute_maxima = _bucket_maxima_from_pixels(pixel_min, pixel_max, num_peaks)
    return AudioAnalysis(
        format=audio_format,
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=frames,
        peaks=normalised_peaks(absolute_maxima),
        samples_per_pixel=pixels.samples_per_pixel,
        pixel_min=pixel_min,
        pixel_max=pixel_max,
        detail_samples_per_pixel=detail_samples_per_pixel,
        detail_length=detail.length,
        insights=measured,
    )


class _CollectedBuckets:
    """Buckets emitted by one segment; its first and last may be partial and are merged with the neighbours'."""

    def __init__(self) -> None:
        self.indices: list[np.ndarray] = []
        self.minima: list[np.ndarray] = []
        self.maxima: list[np.ndarray] = []

    def __call__(self, indices: np.ndarray, minima: np.ndarray, maxima: np.ndarray) -> None:
        self.indices.append(indices)
        self.minima.append(minima)
        self.maxima.append(maxima)


@dataclass(frozen=True)
class _SegmentedAnalysis:
    """What every segment of one file shares."""

    path: Path
    audio_format: AudioFormat
    num_peaks: int
    declared_frames: int
    samples_per_pixel: int
    detail: DatWriter
    detail_samples_per_pixel: int
    block_frames: int
    stop: threading.Event


@dataclass
class _Segment:
    start: int
    length: int
    peaks: _CollectedBuckets
    pixels: _CollectedBuckets
    insights: InsightMeter | None
    decoded: int = 0
    around_start: np.ndarray | None = None
    """CHECKED_BY_OVERLAP: the OVERLAP_FRAMES on each side of the start, decoded after the seek."""
    around_end: np.ndarray | None = None
    """CHECKED_BY_OVERLAP: the OVERLAP_FRAMES on each side of the end, decoded with no seek since the start."""


def segment_bounds(frames: int, segments: int, alignment: int) -> list[tuple[int, int]]:
    """(start, length) of up to `segments` consecutive parts of `frames`, each start a multiple of `alignment`."""
    per_segment = max(1, math.ceil(frames / segments / alignment)) * alignment
    return [(start, min(per_segment, frames - start)) for start in range(0, frames, per_segment)]


def segment_block_frames(segments: int, channels: int) -> int:
    """Frames per block of each segment: as large as the shared budget allows, between one and four one-pass blocks."""
    within_budget = SEGMENT_BLOCKS_BUDGET_BYTES // (segments * channels * WORKING_BYTES_PER_SAMPLE)
    return max(BLOCK_FRAMES, min(SEGMENT_BLOCK_FRAMES, within_budget)) // MPEG_FRAME_FRAMES * MPEG_FRAME_FRAMES


def _analyse_in_segments(path: Path, audio_format: AudioFormat, num_peaks: int, detail_samples_per_pixel: int,
                         detail_output: BinaryIO, progress: Progress | None,
                         wanted_segments: int, limit: LengthLimit | None, insights: bool) -> AudioAnalysis | None:
    """The one-pass result from segments decoded in parallel, or None when the file is not as its header says.

    Segment starts are multiples of the `.dat` pixel width (and of the MPEG frame), so each segment writes whole
    `.dat` pixels at their own place; the JSON pixels and the peak buckets at segment edges are partial and merged
    by min/max, which is exact. The file is not as declared when a segment decodes another number of frames than planned
    (the last one is asked for more): the one-pass analysis then gives the result or names the damage.
    """
    with open_audio(path, audio_format) as decoded:
        info = decoded.info
    if limit is not None:
        limit.check_declared(info.declared_frames, info.sample_rate)
    if audio_format is AudioFormat.MP3 and (info.channels != 2 or info.sample_rate < SEGMENTED_MP3_FROM_RATE):
        return None
    plan = segment_bounds(info.declared_frames, wanted_segments, math.lcm(detail_samples_per_pixel, MPEG_FRAME_FRAMES))
    if len(plan) < 2 or (audio_format in CHECKED_BY_OVERLAP and plan[1][0] < OVERLAP_FRAMES):
        return None
    samples_per_pixel = max(1, math.ceil(info.declared_frames / num_peaks))
    detail = DatWriter(detail_output, info.sample_rate, detail_samples_per_pixel)
    segments = [_Segment(start, length, _CollectedBuckets(), _CollectedBuckets(),
                         InsightMeter(info.channels, info.sample_rate, start=start) if insights else None)
                for start, length in plan]
    shared = _SegmentedAnalysis(path, audio_format, num_peaks, info.declared_frames, samples_per_pixel, detail,
                                detail_samples_per_pixel, segment_block_frames(len(plan), info.channels),
                                threading.Event())
    with ThreadPoolExecutor(len(segments)) as pool:
        futures = [pool.submit(_analyse_segment, shared, segment, beyond=index == len(segments) - 1)
                   for index, segment in enumerate(segments)]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=PROGRESS_EVERY_SECONDS, return_when=FIRST_EXCEPTION)
            if any(future.exception() for future in done):
                shared.stop.set()
            if progress is not None:
                progress(sum(segment.decoded for segment in segments), info.sample_rate)
    if not _all_as_planned(futures, segments) or (audio_format in CHECKED_BY_OVERLAP
                                                   and not _overlaps_agree(segments)):
        return None
    detail.close()
    frames = info.declared_frames
    absolute_maxima = _merged_absolute_maxima([s.peaks for s in segments], num_peaks)
    pixel_minima, pixel_maxima = _merged_pixels([s.pixels for s in segments], math.ceil(frames / samples_per_pixel))
    return AudioAnalysis(
        format=audio_format,
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=frames,
        peaks=normalised_peaks(absolute_maxima),
        samples_per_pixel=samples_per_pixel,
        pixel_min=pixel_minima.astype(np.int16),
        pixel_max=pixel_maxima.astype(np.int16),
        detail_samples_per_pixel=detail_samples_per_pixel,
        detail_length=detail.length,
        insights=insights_of([segment.insights.part for segment in segments if segment.insights]) if insights
        else None,
    )


def _analyse_segment(shared: _SegmentedAnalysis, segment: _Segment, *, beyond: bool) -> None:
    """`beyond`: ask for up to an MPEG frame past the segment; getting any means the file is longer than declared."""
    wanted = segment.length
    if beyond:
        wanted = (wanted // MPEG_FRAME_FRAMES + 1) * MPEG_FRAME_FRAMES
    checked = shared.audio_format in CHECKED_BY_OVERLAP
    opened_at = segment.start - OVERLAP_FRAMES if checked and segment.start else segment.start
    read_to = segment.start + wanted + (OVERLAP_FRAMES if checked and not beyond else 0)
    windows = _Windows(opened_at, segment.start, segment.start + wanted)
    end = segment.start + segment.length
    if checked and segment.start:
        windows.keep("start", segment.start - OVERLAP_FRAMES, segment.start + OVERLAP_FRAMES)
    if checked and not beyond:
        windows.keep("end", end - OVERLAP_FRAMES, end + OVERLAP_FRAMES)
    with open_segment(shared.path, shared.audio_format, opened_at, read_to - opened_at,
                      shared.block_frames) as decoded:
        blocks = windows.fed(decoded.blocks)
        reducers = (
            ProportionalBuckets(shared.num_peaks, shared.declared_frames, segment.peaks),
            FixedWidthBuckets(shared.samples_per_pixel, segment.pixels),
            FixedWidthBuckets(shared.detail_samples_per_pixel, shared.detail.write_at),
        )
        for block in blocks:
            if shared.stop.is_set():
                return
            mono = mono_mix(block)
            for reducer in reducers:
                reducer.add(mono, segment.start + segment.decoded)
            if segment.insights is not None:
                segment.insights.add(block)
            segment.decoded += len(mono)
        for reducer in reducers:
            reducer.finish()
    if checked:
        segment.around_start, segment.around_end = windows.kept("start"), windows.kept("end")


class _Windows:
    """A segment's decoded stream by absolute frame: the part it analyses, and copies of the stretches it keeps."""

    def __init__(self, opened_at: int, fed_from: int, fed_to: int) -> None:
        self._opened_at, self._fed_from, self._fed_to = opened_at, fed_from, fed_to
        self._kept: dict[str, tuple[int, int, list[np.ndarray]]] = {}

    def keep(self, name: str, start: int, stop: int) -> None:
        self._kept[name] = (start, stop, [])

    def kept(self, name: str) -> np.ndarray | None:
        parts = self._kept[name][2] if name in self._kept else []
        return np.concatenate(parts) if parts else None

    def fed(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """The blocks' frames within the analysed part; a kept stretch is copied as it passes (blocks may be reused
        buffers)."""
        position = self._opened_at
        for block in blocks:
            end = position + len(block)
            for start, stop, parts in self._kept.values():
                if max(position, start) < min(end, stop):
                    parts.append(block[max(position, start) - position:min(end, stop) - position].copy())
            if max(position, self._fed_from) < min(end, self._fed_to):
                yield block[max(position, self._fed_from) - position:min(end, self._fed_to) - position]
            position = end


def _overlaps_agree(segments: list[_Segment]) -> bool:
    """Around each boundary, the samples the segment after decoded after its seek equal those the segment before
    decoded with none (both whole: a stream shorter than declared is no agreement)."""
    return all(before.around_end is not None and after.around_start is not None
               and len(before.around_end) == 2 * OVERLAP_FRAMES
               and np.array_equal(before.around_end, after.around_start)
               for before, after in itertools.pairwise(segments))


def _all_as_planned(futures: list[Future[None]], segments: list[_Segment]) -> bool:
    """False when a segment met damage or decoded another number of frames than planned."""
    for future in futures:
        error = future.exception()
        if error is not None and not isinstance(error, DamagedAudioError):
            raise error
    return all(future.exception() is None for future in futures) and all(s.decoded == s.length for s in segments)


def _merged_pixels(parts: list[_CollectedBuckets], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's min and max over the segments that hold part of it."""
    indices, minima, maxima = (np.concatenate([array for part in parts for array in getattr(part, name)])
                               for name in ("indices", "minima", "maxima"))
    merged_minima = np.full(count, np.iinfo(np.int32).max, dtype=np.int32)
    merged_maxima = np.full(count, np.iinfo(np.int32).min, dtype=np.int32)
    np.minimum.at(merged_minima, indices, minima)
    np.maximum.at(merged_maxima, indices, maxima)
    return merged_minima, merged_maxima


def _merged_absolute_maxima(parts: list[_CollectedBuckets], count: int) -> np.ndarray:
    """Each peak bucket's absolute maximum over the segments that hold part of it; 0 where no frame fell."""
    absolute_maxima = np.zeros(count, dtype=np.int32)
    for part in parts:
        for indices, minima, maxima in zip(part.indices, part.minima, part.maxima, strict=True):
            np.maximum.at(absolute_maxima, indices, np.maximum(np.abs(minima), np.abs(maxima)))
    return absolute_maxima


def _length_as_declared(frames: int, declared: int) -> bool:
    return declared > 0 and abs(frames - declared) <= max(LOSSY_LENGTH_SLACK_FRAMES, LOSSY_LENGTH_TOLERANCE * declared)


def _bucket_maxima_from_pixels(pixel_min: np.ndarray, pixel_max: np.ndarray, num_peaks: int) -> np.ndarray:
    """The Celery worker's buckets when the stream's length was not known in advance: built from the pixels instead."""
    absolute = np.maximum(np.abs(pixel_min.astype(np.int32)), np.abs(pixel_max.astype(np.int32)))
    maxima = np.zeros(num_peaks, dtype=np.int32)
    if len(absolute) >= num_peaks:
        np.maximum.at(maxima, np.arange(len(absolute)) * num_peaks // len(absolute), absolute)
    elif len(absolute):
        maxima[:] = absolute[np.arange(num_peaks) * len(absolute) // num_peaks]
    return maxima


def check_decoded_length(audio_format: AudioFormat, frames: int, declared: int, sample_rate: int) -> None:
    if frames == 0:
        raise DamagedAudioError(f"damaged {audio_format.value}: it holds no audio frames")
    if audio_format.lossy:
        if declared - frames > max(LOSSY_LENGTH_SLACK_FRAMES, LOSSY_LENGTH_TOLERANCE * declared):
            raise DamagedAudioError(_truncated(audio_format, frames, declared, sample_rate))
    elif frames != declared:
        raise DamagedAudioError(_truncated(audio_format, frames, declared, sample_rate))


def _truncated(audio_format: AudioFormat, frames: int, declared: int, sample_rate: int) -> str:
    return (f"truncated {audio_format.value} stream at {frames / sample_rate:.1f} s "
            f"(its header promises {declared / sample_rate:.1f} s)")
