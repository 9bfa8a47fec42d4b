"""One streaming pass over an audio file: stream facts, the seed's peaks, and two waveform levels."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from waveflow.audio.buckets import BoundedPixels, FixedWidthBuckets, ProportionalBuckets
from waveflow.audio.decode import open_audio
from waveflow.audio.formats import AudioFormat, check_declared_length, detect_format
from waveflow.audio.waveform import DatWriter, normalised_peaks
from waveflow.errors import DamagedAudioError

Progress = Callable[[int, int], None]
"""Called after each block with (frames decoded so far, sample rate)."""

LOSSY_LENGTH_TOLERANCE = 0.02
LOSSY_LENGTH_SLACK_FRAMES = 8192


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

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def mono_mix(block: np.ndarray) -> np.ndarray:
    """audiowaveform's mono: the integer mean of the channels, truncated toward zero, as int32."""
    channels = block.shape[1]
    if channels == 1:
        return block[:, 0].astype(np.int32)
    wide = block.astype(np.int32)
    total = wide[:, 0].copy()
    for channel in range(1, channels):
        total += wide[:, channel]
    if channels == 2:
        return (total - (total >> 31)) >> 1
    return np.trunc(total / channels).astype(np.int32)


def analyse_file(path: Path, *, num_peaks: int, detail_samples_per_pixel: int, detail_output: BinaryIO,
                 progress: Progress | None = None) -> AudioAnalysis:
    audio_format = detect_format(path)
    check_declared_length(path, audio_format)
    with open_audio(path, audio_format) as decoded:
        info = decoded.info
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
            frames += len(mono)
            if progress is not None:
                progress(frames, info.sample_rate)
        for reducer in reducers:
            reducer.finish()
        detail.close()
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
    )


def _length_as_declared(frames: int, declared: int) -> bool:
    return declared > 0 and abs(frames - declared) <= max(LOSSY_LENGTH_SLACK_FRAMES, LOSSY_LENGTH_TOLERANCE * declared)


def _bucket_maxima_from_pixels(pixel_min: np.ndarray, pixel_max: np.ndarray, num_peaks: int) -> np.ndarray:
    """The seed's buckets when the stream's length was not known in advance: built from the pixels instead."""
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
