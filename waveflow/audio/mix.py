"""Streaming mixdown: many stems summed block by block into one file, its waveform and its insights.

Two passes, because the gain rule needs the mix's peak before the first sample can be written:

1. every stem is decoded at once, block by block, mapped to the mix's channels, resampled to the mix rate
   (soxr, streaming), summed and divided by the number of stems; the block goes to a float32 temp file while
   the peak is tracked;
2. the temp file is read back, scaled down to `TARGET_PEAK` if the peak was above it, rounded to 16-bit PCM
   and written as WAV or FLAC; the same pass builds the waveform (the Celery worker's peaks, audiowaveform
   pixels, `.dat`) and measures the written samples' insights (loudness, true peak, clipping, silence, DC).

Memory is one block per stem plus the resampler's state, whatever the stems' length.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

from waveflow.audio.analysis import LengthLimit, check_decoded_length, clock, mono_mix
from waveflow.audio.buckets import BoundedPixels, FixedWidthBuckets, ProportionalBuckets
from waveflow.audio.decode import BLOCK_FRAMES, DecodedAudio, open_audio
from waveflow.audio.formats import AudioFormat, check_declared_length, detect_format
from waveflow.audio.insights import InsightMeter, insights_of
from waveflow.audio.waveform import DatWriter, detail_bytes_bound, normalised_peaks
from waveflow.contract import AudioInsights
from waveflow.errors import DamagedAudioError, MixTooLongError, WaveFlowError
from waveflow.resources import available_cpus

MAX_STEMS = 32
"""Memory grows by about 2 MB per stem (two rounds of blocks in flight, the resampled copy, soxr's state)."""
TARGET_PEAK = 0.95
INT16_SCALE = 32767.0
RESAMPLE_QUALITY = "HQ"
FLOAT_SAMPLE_BYTES = 4
OUTPUT_SAMPLE_BYTES = 2

MixProgress = Callable[[str, float, list[float]], None]
"""Called after each block with the pass ("mixing" or "encoding"), the seconds of the mix done in that pass and
the seconds of each stem decoded."""


class ChannelMode(StrEnum):
    STEREO = "stereo"
    """Mono stems on both sides, stereo stems kept, 3+ channels folded to their mean on both sides; a mix of
    only mono stems stays mono."""
    MONO = "mono"
    """The old worker's way: every stem becomes the mean of its channels."""


class OutputFormat(StrEnum):
    WAV = "wav"
    FLAC = "flac"

    @property
    def content_type(self) -> str:
        return "audio/wav" if self is OutputFormat.WAV else "audio/flac"


@dataclass(frozen=True)
class MixOptions:
    sample_rate: int | None
    """None: the highest rate among the stems."""
    channel_mode: ChannelMode
    output_format: OutputFormat
    num_peaks: int
    detail_samples_per_pixel: int
    max_seconds: float | None = None
    """The longest mix (its longest stem); None: no limit."""
    max_input_seconds: float | None = None
    """The most audio all stems may hold together; None: no limit."""

    @property
    def stem_limit(self) -> LengthLimit | None:
        if self.max_seconds is None:
            return None
        return LengthLimit(self.max_seconds, "MIX_MAX_SECONDS", MixTooLongError)


@dataclass(frozen=True)
class MixedAudio:
    sample_rate: int
    channels: int
    frames: int
    peak: float
    """Of the written mix (after the gain), in 0..1 of full scale."""
    gain: float
    loudness_lufs: float | None
    """Integrated loudness of the written mix; None when it is all below the -70 LUFS gate (silence)."""
    peaks: list[float]
    samples_per_pixel: int
    pixel_min: np.ndarray
    pixel_max: np.ndarray
    stem_formats: list[AudioFormat]
    insights: AudioInsights

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class MixPlan:
    """What a mix will write, known from its stems' headers before anything is decoded."""

    sample_rate: int
    channels: int
    seconds: float
    """Its longest stem: as declared when every stem is lossless (they must decode to exactly that), else the mix
    length limit, since a lossy stem may decode longer than its header says."""

    def temp_bytes(self, detail_samples_per_pixel: int) -> int:
        """The float temp file, the 16-bit output (FLAC at worst a little over WAV) and the `.dat`, at most."""
        frames = math.ceil(self.seconds * self.sample_rate) + BLOCK_FRAMES
        samples = frames * self.channels
        output = math.ceil(samples * OUTPUT_SAMPLE_BYTES * 1.01) + 65536
        return samples * FLOAT_SAMPLE_BYTES + output + detail_bytes_bound(frames, detail_samples_per_pixel)


def plan_mix(stems: list[tuple[str, Path]], options: MixOptions, progress: MixProgress | None = None) -> MixPlan:
    """The stems' headers checked as the mix itself checks them; `progress` is unused (a plan makes none)."""
    with _opened(stems, options) as (streams, rate, channels):
        lengths = [stream.info.declared_frames / stream.info.sample_rate for stream in streams]
        if any(stream.format.lossy for stream in streams):
            if options.max_seconds is None:
                raise ValueError("a mix of lossy stems needs a length limit to plan its temp disk")
            return MixPlan(rate, channels, options.max_seconds)
        return MixPlan(rate, channels, max(lengths))


def mixed_channels(stem_channels: list[int], mode: ChannelMode) -> int:
    if mode is ChannelMode.MONO or all(channels == 1 for channels in stem_channels):
        return 1
    return 2


def mix_rate(stem_rates: list[int], requested: int | None) -> int:
    return requested or max(stem_rates)


def gain_for(peak: float) -> float:
    """The old worker's rule after the division by the number of stems: only a mix louder than 0.95 is scaled."""
    return TARGET_PEAK / peak if peak > TARGET_PEAK else 1.0


class MixStemError(WaveFlowError):
    """A stem that cannot be mixed; the message names the stem, the code is the engine's own."""

    def __init__(self, label: str, cause: WaveFlowError) -> None:
        super().__init__(f"stem {label}: {cause.message}")
        self.code = cause.code


class _StemStream:
    """One stem as consecutive (frames, 1 or 2) float32 chunks at the mix rate, read `size` frames at a time."""

    def __init__(self, label: str, audio_format: AudioFormat, decoded: DecodedAudio, rate: int,
                 channels: int, limit: LengthLimit | None) -> None:
        self.label = label
        self._limit = limit
        self.format = audio_format
        self.info = decoded.info
        self._blocks = decoded.blocks
        self._channels = 1 if decoded.info.channels != 2 or channels == 1 else 2
        self._resampler = None if decoded.info.sample_rate == rate else soxr.ResampleStream(
            decoded.info.sample_rate, rate, self._channels, dtype="float32", quality=RESAMPLE_QUALITY)
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0
        self.decoded_frames = 0
        self._exhausted = False

    @property
    def seconds_decoded(self) -> float:
        return self.decoded_frames / self.info.sample_rate

    def read(self, size: int) -> np.ndarray:
        """Up to `size` frames; fewer only at the end of the stem."""
        while self._pending_frames < size and not self._exhausted:
            self._pull()
        if not self._pending:
            return np.empty((0, self._channels), np.float32)
        joined = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        taken, rest = joined[:size], joined[size:]
        self._pending = [rest] if len(rest) else []
        self._pending_frames = len(rest)
        return taken

    def _pull(self) -> None:
        block = next(self._blocks, None)
        last = block is None
        if last:
            self._exhausted = True
            check_decoded_length(self.format, self.decoded_frames, self.info.declared_frames, self.info.sample_rate)
            if self._resampler is None:
                return
            mapped = np.empty((0, self._channels), np.float32)
        else:
            self.decoded_frames += len(block)
            if not self.format.lossy and self.decoded_frames > self.info.declared_frames:
                raise DamagedAudioError(f"damaged {self.format.value}: it holds more than the "
                                        f"{clock(self.info.declared_frames / self.info.sample_rate)} its header "
                                        "declares")
            if self._limit is not None:
                self._limit.check_decoded(self.decoded_frames, self.info.sample_rate, self.info.declared_frames)
            mapped = self._mapped(block)
        chunk = mapped if self._resampler is None else self._resampler.resample_chunk(mapped, last=last)
        if len(chunk):
            self._pending.append(chunk)
            self._pending_frames += len(chunk)

    def _mapped(self, block: np.ndarray) -> np.ndarray:
        """A copy (the decoder reuses its buffer) with the mix's channel layout; mono is broadcast later."""
        if block.shape[1] == self._channels:
            return np.array(block, dtype=np.float32, order="C")
        # Adding column views is far faster than a mean along axis 1 of an (n, channels) block.
        total = block[:, 0].astype(np.float32)
        for channel in range(1, block.shape[1]):
            total += block[:, channel]
        total /= block.shape[1]
        return total[:, None]


def mix_files(stems: list[tuple[str, Path]], options: MixOptions, *, float_temp: Path, output: Path,
              detail_output: BinaryIO, progress: MixProgress | None = None) -> MixedAudio:
    """Mixes `(label, path)` stems into `output`; `float_temp` holds the unscaled mix between the passes."""
    if not 1 <= len(stems) <= MAX_STEMS:
        raise ValueError(f"a mix takes 1 to {MAX_STEMS} stems, not {len(stems)}")
    with _opened(stems, options) as (streams, rate, channels):
        summed = _sum_to_float_file(streams, rate, channels, float_temp, progress, options.max_input_seconds)
        stem_seconds = [stream.seconds_decoded for stream in streams]
    return _encode(float_temp, summed.frames, rate, channels, gain_for(summed.peak), options, output, detail_output,
                   lambda seconds: progress("encoding", seconds, stem_seconds) if progress else None,
                   [stream.format for stream in streams])


def mix_into(stems: list[tuple[str, Path]], options: MixOptions, *, float_temp: Path, output: Path,
             detail_path: Path, progress: MixProgress | None = None) -> MixedAudio:
    """`mix_files` writing the `.dat` to `detail_path`: what a decoding process can be handed."""
    with detail_path.open("w+b") as detail:
        return mix_files(stems, options, float_temp=float_temp, output=output, detail_output=detail,
                         progress=progress)


@contextlib.contextmanager
def _opened(stems: list[tuple[str, Path]], options: MixOptions) -> Iterator[tuple[list[_StemStream], int, int]]:
    """Every stem checked and opened at once: (streams at the mix's rate and layout, mix rate, mix channels)."""
    formats = []
    for label, path in stems:
        with _named(label):
            audio_format = detect_format(path)
            check_declared_length(path, audio_format)
        formats.append(audio_format)
    with contextlib.ExitStack() as stack:
        decoded = []
        for (label, path), audio_format in zip(stems, formats, strict=True):
            with _named(label):
                decoded.append(stack.enter_context(open_audio(path, audio_format, as_float=True)))
                if options.stem_limit is not None:
                    options.stem_limit.check_declared(decoded[-1].info.declared_frames, decoded[-1].info.sample_rate)
        if options.max_input_seconds is not None:
            _check_input(sum(item.info.declared_frames / item.info.sample_rate for item in decoded),
                         options.max_input_seconds, "declare")
        rate = mix_rate([item.info.sample_rate for item in decoded], options.sample_rate)
        channels = mixed_channels([item.info.channels for item in decoded], options.channel_mode)
        yield ([_StemStream(label, audio_format, item, rate, channels, options.stem_limit)
                for (label, _), audio_format, item in zip(stems, formats, decoded, strict=True)], rate, channels)


def _check_input(seconds: float, max_seconds: float, verb: str) -> None:
    if seconds > max_seconds:
        raise MixTooLongError(f"mix input too long: the stems {verb} {clock(seconds)} of audio together, "
                              f"{clock(seconds - max_seconds)} over the {clock(max_seconds)} limit "
                              f"(MIX_MAX_INPUT_SECONDS)")


@contextlib.contextmanager
def _named(label: str) -> Iterator[None]:
    try:
        yield
    except MixStemError:
        raise
    except WaveFlowError as error:
        raise MixStemError(label, error) from None


@dataclass(frozen=True)
class _Summed:
    frames: int
    peak: float


def _sum_to_float_file(streams: list[_StemStream], rate: int, channels: int, float_temp: Path,
                       progress: MixProgress | None, max_input_seconds: float | None) -> _Summed:
    """Pass 1: the sum of the stems ÷ their number, as raw float32 frames, with its peak."""
    total = np.zeros((BLOCK_FRAMES, channels), np.float32)
    frames, peak = 0, 0.0

    def next_chunk(stream: _StemStream) -> np.ndarray:
        with _named(stream.label):
            return stream.read(BLOCK_FRAMES)

    # libsndfile, FFmpeg and soxr release the GIL: the stems decode side by side on every core, one round ahead
    # of the summing and writing of the previous round.
    with (float_temp.open("wb") as output,
          ThreadPoolExecutor(max_workers=min(len(streams), available_cpus()), thread_name_prefix="mix-decode")
          as decoders):
        upcoming = [decoders.submit(next_chunk, stream) for stream in streams]
        while True:
            chunks = [future.result() for future in upcoming]
            length = max(len(chunk) for chunk in chunks)
            if length == 0:
                break
            upcoming = [decoders.submit(next_chunk, stream) for stream in streams]
            total.fill(0.0)
            for chunk in chunks:
                total[:len(chunk)] += chunk
            block = total[:length]
            block /= len(streams)
            peak = max(peak, float(np.abs(block).max()))
            output.write(block.tobytes())
            frames += length
            if max_input_seconds is not None:
                _check_input(sum(stream.seconds_decoded for stream in streams), max_input_seconds, "decode to")
            if progress is not None:
                progress("mixing", frames / rate, [stream.seconds_decoded for stream in streams])
    return _Summed(frames, peak)


def _encode(float_temp: Path, frames: int, rate: int, channels: int, gain: float, options: MixOptions,
            output: Path, detail_output: BinaryIO, progress: Callable[[float], None],
            stem_formats: list[AudioFormat]) -> MixedAudio:
    """Pass 2: scale, round to 16-bit, write; the waveform and the insights from the same samples."""
    absolute_maxima = np.zeros(options.num_peaks, dtype=np.int32)

    def keep_peaks(indices: np.ndarray, minima: np.ndarray, maxima: np.ndarray) -> None:
        absolute_maxima[indices] = np.maximum(np.abs(minima), np.abs(maxima))

    pixels = BoundedPixels(max(1, math.ceil(frames / options.num_peaks)), max_pixels=2 * options.num_peaks)
    detail = DatWriter(detail_output, rate, options.detail_samples_per_pixel)
    reducers = (ProportionalBuckets(options.num_peaks, frames, keep_peaks), pixels,
                FixedWidthBuckets(options.detail_samples_per_pixel, detail.write))
    meter = InsightMeter(channels, rate)
    written_peak = 0
    done = 0
    with float_temp.open("rb") as source, soundfile.SoundFile(
            str(output), "w", rate, channels, "PCM_16", format=options.output_format.value.upper()) as encoded:
        while done < frames:
            length = min(BLOCK_FRAMES, frames - done)
            block = np.fromfile(source, dtype=np.float32, count=length * channels).reshape(length, channels)
            if gain != 1.0:
                block *= np.float32(gain)
            samples = np.rint(block * INT16_SCALE)
            np.clip(samples, -32768, 32767, out=samples)
            pcm = samples.astype(np.int16)
            encoded.write(pcm)
            written_peak = max(written_peak, int(np.abs(pcm.astype(np.int32)).max()))
            mono = mono_mix(pcm)
            for reducer in reducers:
                reducer.add(mono, done)
            meter.add(pcm)
            done += length
            progress(done / rate)
    for reducer in reducers:
        reducer.finish()
    detail.close()
    pixel_min, pixel_max = pixels.pixels()
    insights = insights_of([meter.part])
    return MixedAudio(sample_rate=rate, channels=channels, frames=frames, peak=round(written_peak / INT16_SCALE, 6),
                      gain=round(gain, 6), loudness_lufs=insights.integrated_lufs,
                      peaks=normalised_peaks(absolute_maxima), samples_per_pixel=pixels.samples_per_pixel,
                      pixel_min=pixel_min, pixel_max=pixel_max, stem_formats=stem_formats, insights=insights)
