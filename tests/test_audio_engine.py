"""The audio engine on generated signals of known content, for every format, and on damaged input."""

from __future__ import annotations

import io
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.audio_samples import SAMPLE_RATE, encode, encode_with_ffmpeg, sine
from waveflow.audio.analysis import AudioAnalysis, analyse_file
from waveflow.audio.waveform import DAT_HEADER, to_8_bit, waveform_document
from waveflow.errors import DamagedAudioError, NotAudioError

NUM_PEAKS = 500
DETAIL_SPP = 256


def analyse(path: Path, num_peaks: int = NUM_PEAKS) -> tuple[AudioAnalysis, bytes]:
    detail = io.BytesIO()
    result = analyse_file(path, num_peaks=num_peaks, detail_samples_per_pixel=DETAIL_SPP, detail_output=detail)
    return result, detail.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def reference_pixels(int16: np.ndarray, spp: int) -> tuple[np.ndarray, np.ndarray]:
    """audiowaveform's definition, written the plain way: truncated channel mean, min/max per pixel."""
    mono = np.trunc(int16.astype(np.int64).sum(axis=1) / int16.shape[1]).astype(np.int64)
    pixels = -(-len(mono) // spp)
    lows = np.array([mono[i * spp:(i + 1) * spp].min() for i in range(pixels)])
    highs = np.array([mono[i * spp:(i + 1) * spp].max() for i in range(pixels)])
    return lows, highs


def reference_peaks(int16: np.ndarray, num_peaks: int) -> list[float]:
    mono = np.trunc(int16.astype(np.int64).sum(axis=1) / int16.shape[1])
    buckets = np.arange(len(mono)) * num_peaks // len(mono)
    maxima = np.zeros(num_peaks)
    np.maximum.at(maxima, buckets, np.abs(mono))
    return np.round(maxima / maxima.max(), 4).tolist() if maxima.max() else [0.0] * num_peaks


def as_int16(path: Path) -> np.ndarray:
    """What audiowaveform reads: int16 through libsndfile, or float converted as `(short)(x * 32767)`."""
    info = soundfile.info(str(path))
    if info.subtype in {"FLOAT", "DOUBLE"}:
        floats = soundfile.read(str(path), dtype="float32", always_2d=True)[0]
        return np.clip(floats * np.float32(32767), -32768, 32767).astype(np.int16)
    return soundfile.read(str(path), dtype="int16", always_2d=True)[0]


LOSSLESS = [("wav", "WAV", "PCM_16"), ("wav", "WAV", "PCM_U8"), ("wav", "WAV", "PCM_24"), ("wav", "WAV", "PCM_32"),
            ("wav", "WAV", "FLOAT"), ("wav", "WAV", "DOUBLE"), ("wav", "WAVEX", "PCM_16"), ("aiff", "AIFF", "PCM_16"),
            ("aiff", "AIFF", "PCM_24"), ("flac", "FLAC", "PCM_16"), ("flac", "FLAC", "PCM_24")]


@pytest.mark.parametrize(("extension", "container", "subtype"), LOSSLESS)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_lossless_formats_match_audiowaveform_definitions_exactly(
        tmp_path: Path, extension: str, container: str, subtype: str, channels: int) -> None:
    frames = 3 * SAMPLE_RATE + 777
    rng = np.random.default_rng(7)
    samples = rng.uniform(-0.9, 0.9, (frames, channels)) * sine(frames / SAMPLE_RATE, channels=channels)[:frames]
    path = write(tmp_path, f"x.{extension}", encode(samples, format=container, subtype=subtype))

    result, detail = analyse(path)

    decoded = as_int16(path)
    assert result.frames == frames and result.channels == channels and result.sample_rate == SAMPLE_RATE
    assert result.duration == frames / SAMPLE_RATE
    assert result.samples_per_pixel == -(-frames // NUM_PEAKS)
    lows, highs = reference_pixels(decoded, result.samples_per_pixel)
    assert result.pixel_min.tolist() == lows.tolist() and result.pixel_max.tolist() == highs.tolist()
    assert result.peaks == reference_peaks(decoded, NUM_PEAKS)
    detail_lows, detail_highs = reference_pixels(decoded, DETAIL_SPP)
    header = DAT_HEADER.unpack(detail[:DAT_HEADER.size])
    assert header == (1, 1, SAMPLE_RATE, DETAIL_SPP, len(detail_lows))
    pairs = np.frombuffer(detail[DAT_HEADER.size:], dtype=np.int8)
    assert pairs[0::2].tolist() == to_8_bit(detail_lows).tolist()
    assert pairs[1::2].tolist() == to_8_bit(detail_highs).tolist()


def test_sine_of_known_amplitude(tmp_path: Path) -> None:
    samples = np.round(sine(2.0, frequency=441.0, amplitude=16000.0)).astype(np.int16)
    assert samples.max() == 16000
    path = write(tmp_path, "sine.wav", encode(samples))
    result, _ = analyse(path)
    assert result.frames == 2 * SAMPLE_RATE and result.duration == 2.0
    assert result.pixel_max.max() == 16000 and result.pixel_min.min() == -16000
    assert min(result.peaks) > 0.99


def test_silence_gives_zero_peaks(tmp_path: Path) -> None:
    path = write(tmp_path, "silence.flac", encode(np.zeros((SAMPLE_RATE, 2)), format="FLAC"))
    result, _ = analyse(path)
    assert result.peaks == [0.0] * NUM_PEAKS
    assert not result.pixel_min.any() and not result.pixel_max.any()


def test_full_scale_square_wave(tmp_path: Path) -> None:
    square = np.sign(sine(1.0, frequency=100.0, amplitude=1.0))
    path = write(tmp_path, "square.wav", encode(square, subtype="FLOAT"))
    result, _ = analyse(path)
    assert result.pixel_max.max() == 32767 and result.pixel_min.min() == -32767
    document = waveform_document(peaks=result.peaks, duration=result.duration, sample_rate=result.sample_rate,
                                 samples_per_pixel=result.samples_per_pixel, pixel_min=result.pixel_min,
                                 pixel_max=result.pixel_max, created_at="t", insights=result.insights)
    assert max(document["data"]) == 127 and min(document["data"]) == -127
    assert set(result.peaks) == {1.0}


@pytest.mark.parametrize("impulse_frame", [0, 12_345, 2 * SAMPLE_RATE + 99])
def test_impulse_lands_in_its_bucket_including_the_tail(tmp_path: Path, impulse_frame: int) -> None:
    frames = 2 * SAMPLE_RATE + 100
    samples = np.zeros((frames, 1), dtype=np.int16)
    samples[impulse_frame] = 20000
    path = write(tmp_path, "impulse.wav", encode(samples))
    result, detail = analyse(path)
    assert result.peaks.index(1.0) == impulse_frame * NUM_PEAKS // frames
    assert sum(result.peaks) == 1.0
    assert int(np.argmax(result.pixel_max)) == impulse_frame // result.samples_per_pixel
    assert len(result.pixel_max) == -(-frames // result.samples_per_pixel)
    pairs = np.frombuffer(detail[DAT_HEADER.size:], dtype=np.int8)
    assert int(np.argmax(pairs[1::2])) == impulse_frame // DETAIL_SPP


LOSSY = [
    ("mp3", lambda x: encode(x, format="MP3", subtype=None), SAMPLE_RATE),
    ("ogg", lambda x: encode(x, format="OGG", subtype="VORBIS"), SAMPLE_RATE),
    ("opus", lambda x: encode(x, format="OGG", subtype="OPUS", sample_rate=48000), 48000),
    ("m4a", lambda x: encode_with_ffmpeg(x, container="ipod", codec="aac"), SAMPLE_RATE),
    ("alac.m4a", lambda x: encode_with_ffmpeg(x, container="ipod", codec="alac"), SAMPLE_RATE),
    ("webm", lambda x: encode_with_ffmpeg(x, container="webm", codec="libopus", sample_rate=48000), 48000),
]
LOSSY_DURATION_TOLERANCE = 0.05
"""Seconds: encoder priming and padding (AAC adds 1024-2112 frames)."""
LOSSY_LEVEL_TOLERANCE = 0.05
"""Relative: the peak of a decoded sine against its amplitude."""


@pytest.mark.parametrize(("extension", "encoder", "rate"), LOSSY, ids=[item[0] for item in LOSSY])
def test_lossy_formats_within_tolerance(tmp_path: Path, extension: str, encoder: Callable[[np.ndarray], bytes],
                                        rate: int) -> None:
    path = write(tmp_path, f"tone.{extension}", encoder(sine(3.0, amplitude=0.5, sample_rate=rate)))
    result, _ = analyse(path)
    assert result.sample_rate == rate and result.channels == 2
    assert abs(result.duration - 3.0) <= LOSSY_DURATION_TOLERANCE
    assert abs(result.pixel_max.max() / 16383.5 - 1) <= LOSSY_LEVEL_TOLERANCE
    assert len(result.peaks) == NUM_PEAKS and max(result.peaks) == 1.0


def test_format_comes_from_bytes_not_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "really-flac.mp3", encode(sine(0.5), format="FLAC"))
    result, _ = analyse(path)
    assert result.format.value == "FLAC"


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


DAMAGED = [
    ("truncated.wav", lambda: _truncated(encode(sine(2.0))), DamagedAudioError, "truncated WAV"),
    ("truncated.flac", lambda: _truncated(encode(sine(2.0), format="FLAC")), DamagedAudioError, "FLAC"),
    ("truncated.mp3", lambda: _truncated(encode(sine(4.0), format="MP3", subtype=None)), DamagedAudioError,
     "truncated MP3 stream at"),
    ("lying-header.wav", lambda: _lying_wav(), DamagedAudioError, "header promises"),
    ("empty.wav", lambda: b"", NotAudioError, "not an audio file: it is empty (0 bytes)"),
    ("picture.wav", lambda: b"\x89PNG\r\n\x1a\n" + bytes(64), NotAudioError, "not an audio file: looks like PNG"),
    ("noise.wav", lambda: np.random.default_rng(3).bytes(4096), NotAudioError, "not an audio file"),
    ("header-only.wav", lambda: encode(sine(1.0))[:44], DamagedAudioError, "WAV"),
]


def _lying_wav() -> bytes:
    data = bytearray(encode(sine(1.0)))
    data[40:44] = (10**9).to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize(("name", "make", "error", "message"), DAMAGED, ids=[item[0] for item in DAMAGED])
def test_damaged_and_non_audio_input_gives_a_named_error(tmp_path: Path, name: str, make: Callable[[], bytes],
                                                          error: type[Exception], message: str) -> None:
    path = write(tmp_path, name, make())
    with pytest.raises(error) as raised:
        analyse(path)
    assert message in str(raised.value)


def _write_long_wav(path: Path, minutes: int) -> None:
    block = (sine(60.0, amplitude=0.3) * 32767).astype(np.int16)
    with soundfile.SoundFile(str(path), "w", SAMPLE_RATE, 2, "PCM_16", format="WAV") as output:
        for _ in range(minutes):
            output.write(block)


def test_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    """A 30-minute stereo file needs no more memory than a 3-minute one: nothing holds the whole file."""
    peaks = {}
    for minutes in (3, 30):
        path = tmp_path / f"{minutes}.wav"
        _write_long_wav(path, minutes)
        with open(os.devnull, "wb") as sink:
            tracemalloc.start()
            result = analyse_file(path, num_peaks=4000, detail_samples_per_pixel=DETAIL_SPP, detail_output=sink)
            peaks[minutes] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert result.frames == minutes * 60 * SAMPLE_RATE
        path.unlink()
    assert peaks[30] < 32 * 1024 * 1024
    assert peaks[30] < peaks[3] * 1.25 + 1024 * 1024


@pytest.mark.parametrize("seed", range(5))
def test_bounded_pixels_double_exactly_when_the_stream_is_longer_than_declared(seed: int) -> None:
    """A stream 50x longer than its header said: the pixels widen, stay exact, and stay few."""
    from waveflow.audio.buckets import BoundedPixels

    rng = np.random.default_rng(seed)
    mono = rng.integers(-32768, 32767, 50_000).astype(np.int32)
    pixels = BoundedPixels(samples_per_pixel=3, max_pixels=100)
    position = 0
    while position < len(mono):
        size = int(rng.integers(1, 3000))
        pixels.add(mono[position:position + size], position)
        position += size
    pixels.finish()
    lows, highs = pixels.pixels()
    spp = pixels.samples_per_pixel
    assert spp % 3 == 0 and len(lows) <= 100
    reference_lows, reference_highs = reference_pixels(mono[:, None].astype(np.int16), spp)
    assert lows.tolist() == reference_lows.tolist() and highs.tolist() == reference_highs.tolist()
