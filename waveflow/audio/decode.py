"""Block decoders: every format becomes a stream of (frames, channels) blocks in bounded memory.

Blocks are int16 (audiowaveform's sample type) unless float32 is asked for, as the mixer does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from waveflow.audio.formats import AudioFormat
from waveflow.errors import DamagedAudioError

if TYPE_CHECKING:
    import av

# MP3 through libsndfile decodes right only in whole MPEG frames of 1152 samples: a read that starts or ends
# inside a frame shifts or drops samples (measured with the libsndfile that soundfile bundles).
MPEG_FRAME_FRAMES = 1152
BLOCK_FRAMES = MPEG_FRAME_FRAMES * 57
MAX_CHANNELS = 64
MAX_SAMPLE_RATE = 768_000
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}
_UNKNOWN_LENGTH = 2**62
"""libsndfile's frame count for a stream that does not declare its length is SF_COUNT_MAX (2**63 - 1)."""


@dataclass(frozen=True)
class StreamInfo:
    sample_rate: int
    channels: int
    declared_frames: int
    """What the container says; lossy containers may only estimate it; 0 when it does not say (a streamed FLAC)."""


class DecodedAudio:
    """An open audio file: its stream facts and an iterator of int16 blocks."""

    def __init__(self, info: StreamInfo, blocks: Iterator[np.ndarray]) -> None:
        self.info = info
        self.blocks = blocks


def float_to_int16(block: np.ndarray) -> np.ndarray:
    """audiowaveform's conversion for float input: `(short)(x * 32767)`, clipped to the int16 range."""
    scaled = np.multiply(block, 32767.0, dtype=np.float32)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    return scaled.astype(np.int16)


@contextlib.contextmanager
def open_audio(path: Path, audio_format: AudioFormat, *, as_float: bool = False) -> Iterator[DecodedAudio]:
    """`as_float`: float32 blocks in -1..1 (libsndfile's and FFmpeg's own scaling) instead of int16."""
    if audio_format.decoded_by_libsndfile:
        with _open_libsndfile(path, audio_format, as_float) as decoded:
            yield decoded
    else:
        with _open_ffmpeg(path, audio_format, as_float) as decoded:
            yield decoded


def _check_info(info: StreamInfo, audio_format: AudioFormat) -> StreamInfo:
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise DamagedAudioError(f"damaged {audio_format.value}: {info.channels} channels")
    if not 1 <= info.sample_rate <= MAX_SAMPLE_RATE:
        raise DamagedAudioError(f"damaged {audio_format.value}: sample rate {info.sample_rate} Hz")
    return info


@contextlib.contextmanager
def open_segment(path: Path, audio_format: AudioFormat, start: int, frames: int,
                 block_frames: int) -> Iterator[DecodedAudio]:
    """At most `frames` int16 frames from frame `start`; only for formats whose seeks are sample-exact."""
    with _open_libsndfile(path, audio_format, as_float=False, start=start, limit=frames,
                          block_frames=block_frames) as decoded:
        yield decoded


@contextlib.contextmanager
def _open_libsndfile(path: Path, audio_format: AudioFormat, as_float: bool, start: int = 0,
                     limit: int | None = None, block_frames: int = BLOCK_FRAMES) -> Iterator[DecodedAudio]:
    try:
        sound = soundfile.SoundFile(str(path))
        if start:
            sound.seek(start)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise DamagedAudioError(f"damaged {audio_format.value}: {error}") from None
    with sound:
        declared = sound.frames if 0 <= sound.frames < _UNKNOWN_LENGTH else 0
        info = _check_info(StreamInfo(sound.samplerate, sound.channels, declared), audio_format)
        read_float = as_float or audio_format.lossy or sound.subtype in _FLOAT_SUBTYPES
        yield DecodedAudio(info, _libsndfile_blocks(sound, audio_format, read_float, as_float, limit,
                                                          block_frames))


def _libsndfile_blocks(sound: soundfile.SoundFile, audio_format: AudioFormat, read_float: bool,
                       as_float: bool, limit: int | None, block_frames: int) -> Iterator[np.ndarray]:
    buffer = np.empty((block_frames, sound.channels), dtype=np.float32 if read_float else np.int16)
    remaining = limit
    while remaining is None or remaining > 0:
        wanted = block_frames if remaining is None else min(block_frames, remaining)
        try:
            block = sound.read(wanted, out=buffer[:wanted])
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise DamagedAudioError(f"damaged {audio_format.value} stream: {error}") from None
        if len(block) == 0:
            return
        if remaining is not None:
            remaining -= len(block)
        yield float_to_int16(block) if read_float and not as_float else block


@contextlib.contextmanager
def _open_ffmpeg(path: Path, audio_format: AudioFormat, as_float: bool) -> Iterator[DecodedAudio]:
    import av  # FFmpeg's libraries add ~20 MB to every process; only the formats libsndfile cannot read need them

    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError) as error:
        raise DamagedAudioError(f"damaged {audio_format.value}: {error}") from None
    with container:
        if not container.streams.audio:
            raise DamagedAudioError(f"damaged {audio_format.value}: the container holds no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context is None:
            raise DamagedAudioError(f"damaged {audio_format.value}: FFmpeg has no decoder for its audio stream")
        sample_rate = stream.codec_context.sample_rate or stream.rate or 0
        channels = stream.codec_context.channels or 0
        seconds = 0.0
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / av.time_base
        info = _check_info(StreamInfo(sample_rate, channels, round(seconds * sample_rate)), audio_format)
        yield DecodedAudio(info, _ffmpeg_blocks(container, stream, info, audio_format, as_float))


def _ffmpeg_blocks(container: av.container.InputContainer, stream: av.AudioStream, info: StreamInfo,
                   audio_format: AudioFormat, as_float: bool) -> Iterator[np.ndarray]:
    """Decoded frames converted to packed float at the stream's own rate, batched into large blocks."""
    import av

    convert = (lambda block: block) if as_float else float_to_int16
    resampler = av.AudioResampler(format="flt", layout=stream.layout.name, rate=info.sample_rate)
    pending: list[np.ndarray] = []
    pending_frames = 0
    try:
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                pending.append(converted.to_ndarray().reshape(-1, info.channels))
                pending_frames += converted.samples
            if pending_frames >= BLOCK_FRAMES:
                yield convert(np.concatenate(pending))
                pending, pending_frames = [], 0
        for converted in resampler.resample(None):
            pending.append(converted.to_ndarray().reshape(-1, info.channels))
    except av.FFmpegError as error:
        raise DamagedAudioError(f"damaged {audio_format.value} stream: {error}") from None
    if pending:
        yield convert(np.concatenate(pending))
